"""The built book as readers see it, in a real browser with the network blocked.

Debian's Chromium, driven by Playwright, loads every page of ``_build/html`` from a
local server and checks what a reader would notice: errors, missing math or images,
broken links, search, the download and launch buttons, and accessibility (axe-core,
from npm, run inside each page). Screenshots of every page, and of the first figure
and equation of each chapter, are kept in ``_build/screenshots`` with the
accessibility report ``accessibility.json``.

Needs ``apt-get install chromium`` and ``npm ci`` (for node_modules/axe-core).
"""

import json
import re
from collections import Counter
from urllib.parse import parse_qs, quote, unquote, urlsplit

from pathlib import Path

import nbformat
import pytest
import yaml
from playwright.sync_api import sync_playwright

from autograder import registry
from browser.site import CHROMIUM, CHROMIUM_ARGS, LocalServer, Visit, offline_context, visit
from conftest import ROOT


CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

REPOSITORY = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"]["branch"]
OWNER, NAME = urlsplit(REPOSITORY).path.strip("/").split("/")
LAUNCH = CONFIG["launch_buttons"]
# The branch to which the publishing workflow pushes the chapters as .ipynb, for Colab.
NOTEBOOKS_BRANCH = "notebooks"

# The graded exercises of each chapter (exercises/<a>/<a>.ipynb), as the registry lists them.
EXERCISES: dict[str, list[str]] = {}
for _assignment in registry.ASSIGNMENTS:
    EXERCISES.setdefault(_assignment.chapter, []).append(_assignment.name)
REFERENCE_PAGES = {"book/conventions", "book/glossary", "book/build_times", "book/grading_speed"}
BLOCKING_IMPACTS = {"serious", "critical"}

DOCS = [TOC["root"]] + [c["file"] for part in TOC["parts"] for c in part["chapters"]]


def is_notebook(doc: str) -> bool:
    """A MyST Markdown notebook (executed, with download and launch buttons), not a plain page."""
    head = (ROOT / f"{doc}.md").read_text().split("\n---", 1)[0]
    return "kernelspec:" in head


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def site(built_book) -> Path:
    return built_book / "html"


@pytest.fixture(scope="session")
def server(site):
    with LocalServer(site) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def visits(site, server, browser, built_book) -> dict:
    """Every HTML page of the site, visited once: path -> Visit."""
    assert AXE.exists(), f"{AXE} is missing: run `npm ci` at the root of the course"
    axe_source = AXE.read_text()
    screenshots = built_book / "screenshots"
    screenshots.mkdir(exist_ok=True)
    for old in screenshots.glob("*.png"):
        old.unlink()
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                   if not p.relative_to(site).parts[0].startswith("_"))
    log = []
    context = offline_context(browser, server.origin, log)
    try:
        result = {path: visit(context, server, site, path, log, axe_source, screenshots) for path in pages}
    finally:
        context.close()
    report = {path: {"violations": v.violations,
                     "by_impact": dict(Counter(x["impact"] for x in v.violations)),
                     "screenshots": [s.relative_to(built_book).as_posix() for s in v.screenshots]}
              for path, v in result.items()}
    (screenshots / "accessibility.json").write_text(json.dumps(report, indent=2) + "\n")
    return result


def page_of(doc: str) -> str:
    return f"{doc}.html"


# ---------------------------------------------------------------- every page

def test_the_site_has_every_page_of_the_toc(visits):
    missing = [page_of(doc) for doc in DOCS if page_of(doc) not in visits]
    assert not missing, f"pages of _toc.yml missing from the site: {missing}"
    assert {"index.html", "search.html", "genindex.html"} <= set(visits)


def test_every_page_loads_offline_without_errors(visits):
    problems = {path: v.console_errors + v.failed_requests + [f"needs the network: {u}" for u in v.blocked_requests]
                for path, v in visits.items()}
    problems = {path: p for path, p in problems.items() if p}
    assert not problems, "pages with console errors, failed or external requests:\n" + json.dumps(problems, indent=2)


def test_math_is_typeset_everywhere(visits):
    for path, v in visits.items():
        math = v.facts["math"]
        assert not math["unrendered"], f"{path}: math left untypeset by MathJax: {math['unrendered'][:5]}"
        assert not math["raw"], f"{path}: raw TeX delimiters {math['raw']} in the text"
        if math["nodes"]:
            assert math["containers"] >= math["nodes"], f"{path}: {math['nodes']} math nodes, " \
                f"{math['containers']} MathJax outputs"
    for doc in EXERCISES:
        assert visits[page_of(doc)].facts["math"]["containers"] > 0, f"{doc}: no MathJax output"


def test_equations_are_numbered_and_referenced(visits):
    math = visits["book/conventions.html"].facts["math"]
    # Sphinx numbers equations across the book: this page's continue from the chapters before it.
    numbers = [int(label.strip("()")) for label in math["numbered"]]
    assert len(numbers) >= 5 and numbers == list(range(numbers[0], numbers[0] + len(numbers))), math["numbered"]
    assert math["equationRefs"], "the conventions page refers to no equation"
    assert set(math["equationRefs"]) <= set(math["numbered"]), math["equationRefs"]


def test_images_load_and_figures_have_alt_text(visits):
    not_loaded, no_alt = [], []
    for path, v in visits.items():
        for image in v.facts["images"]:
            if not (image["complete"] and image["width"] > 0 and image["height"] > 0):
                not_loaded.append(f"{path}: {image}")
            if image["output"]:
                # Without alt text, Sphinx writes the image's path as its alt.
                alt = (image["alt"] or "").strip()
                file_name = unquote(urlsplit(image["src"]).path.rsplit("/", 1)[-1])
                if not alt or alt.rsplit("/", 1)[-1] == file_name or re.search(r"\.(png|jpe?g|svg|gif)$", alt, re.I):
                    no_alt.append(f"{path}: {file_name}")
    assert not not_loaded, "images that did not load:\n" + "\n".join(not_loaded)
    assert not no_alt, "figures without alt text (give the cell that draws each one the metadata " \
        "`mystnb: {image: {alt: ...}}`):\n" + "\n".join(no_alt)


def test_figure_cells_are_folded_and_long_outputs_scroll(visits):
    for doc in EXERCISES:
        facts = visits[page_of(doc)].facts
        assert facts["foldedInputs"] == facts["hideInputCells"], f"{doc}: hide-input cells that are not folded"
        assert facts["scrollOutputs"] == facts["cells"], f"{doc}: cells whose long outputs do not scroll"


def test_no_internal_link_is_broken(site, visits, server):
    ids = {path: set(v.facts["ids"]) for path, v in visits.items()}
    broken = []
    for path, v in visits.items():
        for link in v.facts["links"]:
            parts = urlsplit(link["href"])
            if f"{parts.scheme}://{parts.netloc}" != server.origin:
                continue
            target = unquote(parts.path).lstrip("/") or "index.html"
            if target.endswith("/"):
                target += "index.html"
            if not (site / target).is_file():
                broken.append(f"{path}: {link['text']!r} -> {target} (no such file)")
            elif parts.fragment and target in ids and unquote(parts.fragment) not in ids[target]:
                broken.append(f"{path}: {link['text']!r} -> {target}#{parts.fragment} (no such anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(broken)


def test_no_serious_accessibility_violation(visits, built_book):
    serious = {path: [f"{x['impact']}: {x['id']} ({x['help']}) x{x['count']}: {x['targets']}"
                      for x in v.violations if x["impact"] in BLOCKING_IMPACTS]
               for path, v in visits.items()}
    serious = {path: found for path, found in serious.items() if found}
    assert not serious, "serious or critical axe-core violations (report in " \
        f"{built_book / 'screenshots' / 'accessibility.json'}):\n" + json.dumps(serious, indent=2)


def test_screenshots_of_every_chapter_are_kept(visits, built_book):
    for doc in DOCS:
        shot = built_book / "screenshots" / f"{doc.replace('/', '__')}.png"
        assert shot.is_file() and shot.stat().st_size > 10_000, shot


# ---------------------------------------------------------------- navigation and search

def test_navigation_by_part_and_chapter(visits, server):
    facts = visits[page_of(TOC["root"])].facts
    assert facts["navCaptions"] == [part["caption"] for part in TOC["parts"]]
    chapters = [server.url(page_of(c["file"])) for part in TOC["parts"] for c in part["chapters"]]
    assert [link for link in facts["navLinks"] if link in chapters] == chapters


def test_search_finds_groupnorm_on_the_normalization_layers_page(browser, server, built_book):
    log = [Visit("search")]
    context = offline_context(browser, server.origin, log)
    try:
        page = context.new_page()
        page.goto(server.url(page_of(TOC["root"])))
        page.keyboard.press("Control+k")
        field = page.locator("#pst-search-dialog input[name=q]")
        field.fill("GroupNorm")
        field.press("Enter")
        page.wait_for_url("**/search.html?q=GroupNorm*")
        page.wait_for_selector("#search-results .search-summary", timeout=30_000)
        (built_book / "screenshots").mkdir(exist_ok=True)
        page.screenshot(path=built_book / "screenshots" / "search--GroupNorm.png")
        results = page.locator("#search-results ul.search li a")
        hrefs = [results.nth(i).get_attribute("href") for i in range(results.count())]
        target = "book/normalization/normalization_layers.html"
        assert any(h.split("?")[0].endswith(target) for h in hrefs), f"search results for GroupNorm: {hrefs}"
        page.locator(f"#search-results ul.search li a[href^='{target}']").first.click()
        page.wait_for_url(f"**/{target}*")
        assert urlsplit(page.url).path == f"/{target}"
        assert "GroupNorm" in page.locator("article").inner_text()
    finally:
        context.close()
    assert not (log[-1].console_errors or log[-1].failed_requests or log[-1].blocked_requests), log[-1]


# ---------------------------------------------------------------- buttons and exercise links

def hrefs_of(visits, doc) -> set[str]:
    return {link["href"] for link in visits[page_of(doc)].facts["links"]}


def test_every_page_links_to_its_source_edit_and_issues(visits):
    for doc in DOCS:
        hrefs = hrefs_of(visits, doc)
        assert REPOSITORY in hrefs, f"{doc}: no repository button"
        assert f"{REPOSITORY}/edit/{BRANCH}/{doc}.md" in hrefs, f"{doc}: no 'edit this page' button"
        assert any(h.startswith(f"{REPOSITORY}/issues/new?") for h in hrefs), f"{doc}: no 'open an issue' button"


@pytest.mark.parametrize("doc", [d for d in DOCS if d != TOC["root"] and d.startswith("book/") and is_notebook(d)])
def test_chapter_download_and_launch_buttons(doc, visits, site, server):
    hrefs = hrefs_of(visits, doc)
    # The chapter as an executed notebook.
    download = server.url(f"_sources/{doc}.ipynb")
    assert download in hrefs, f"{doc}: no .ipynb download button"
    notebook = nbformat.read(site / "_sources" / f"{doc}.ipynb", as_version=4)
    assert any(cell.get("outputs") for cell in notebook.cells), f"{doc}: the downloaded notebook has no outputs"
    # Binder and JupyterHub open the MyST notebook from the repository (jupytext reads it).
    binder = f"{LAUNCH['binderhub_url'].rstrip('/')}/v2/gh/{OWNER}/{NAME}/{BRANCH}?urlpath=tree/{doc}.md"
    assert binder in hrefs, f"{doc}: no Binder button {binder}"
    hub = LAUNCH["jupyterhub_url"].rstrip("/") + "/hub/user-redirect/git-pull?"
    hub_links = [h for h in hrefs if h.startswith(hub)]
    assert hub_links, f"{doc}: no JupyterHub button"
    query = parse_qs(urlsplit(hub_links[0]).query)
    assert query["repo"] == [REPOSITORY] and query["branch"] == [BRANCH], query
    assert query["urlpath"] == [f"tree/{NAME}/{doc}.md"], query
    # Colab opens only .ipynb: the chapter converted by the publishing workflow.
    colab = f"{LAUNCH['colab_url'].rstrip('/')}/github/{OWNER}/{NAME}/blob/{NOTEBOOKS_BRANCH}/{doc}.ipynb"
    assert colab in hrefs, f"{doc}: no Colab button {colab}"


@pytest.mark.parametrize("doc", sorted(EXERCISES))
def test_chapter_links_to_its_exercises_and_the_conventions(doc, visits, server):
    hrefs = set(visits[page_of(doc)].facts["articleLinks"])  # in the text, not the navigation
    for assignment in EXERCISES[doc]:
        path = f"exercises/{assignment}/{assignment}.ipynb"
        assert (ROOT / path).is_file(), f"{doc} links to {path}, which does not exist"
        github = f"{REPOSITORY}/blob/{BRANCH}/{path}"
        colab = f"{LAUNCH['colab_url'].rstrip('/')}/github/{OWNER}/{NAME}/blob/{BRANCH}/{path}"
        assert github in hrefs, f"{doc}: no link to its exercise {github}"
        assert colab in hrefs, f"{doc}: no Colab link to its exercise {colab}"
    conventions = server.url(page_of("book/conventions"))
    assert any(h.split("#")[0] == conventions for h in hrefs), f"{doc}: no link to the conventions page"


def test_every_chapter_has_its_exercises_listed():
    chapters = {d for d in DOCS if d != TOC["root"]} - REFERENCE_PAGES
    assert chapters == set(EXERCISES), "every chapter has an assignment in autograder/registry.py"


def test_exercise_link_schemes_follow_the_repository():
    schemes = CONFIG["sphinx"]["config"]["myst_url_schemes"]
    assert schemes["exercise"] == f"{REPOSITORY}/blob/{BRANCH}/exercises/{{{{path}}}}"
    assert schemes["exercise-colab"] == \
        f"{LAUNCH['colab_url'].rstrip('/')}/github/{OWNER}/{NAME}/blob/{BRANCH}/exercises/{{{{path}}}}"


def test_vendored_mathjax_is_used_and_licensed(site):
    mathjax = ROOT / "book" / "_static" / "mathjax"
    assert (mathjax / "LICENSE").is_file() and "Apache License" in (mathjax / "LICENSE").read_text()
    assert (mathjax / "NOTICE").is_file()
    assert (site / "_static" / "mathjax" / "tex-chtml-full.js").is_file()
    html = (site / "book" / "conventions.html").read_text()
    assert re.search(r'<script defer="defer" src="\.\./_static/mathjax/tex-chtml-full\.js\?v=\w+"></script>', html)
    assert "cdn.jsdelivr.net" not in html and quote("mathjax@") not in html
