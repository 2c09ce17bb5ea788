"""The student edition: what students receive, laid out, installable, and without a line of solutions/.

The book's site here is a stand-in of two pages, one of which shows a chapter's
code: the real site is scanned in tests/book/test_student_edition.py, which is
slow because it builds the book.
"""

import shutil
import zipfile

import pytest

from autograder.cli import main
from autograder.edition.build import ReleaseError, release, wheel_name, wheel_url
from autograder.edition.scan import readable, scan
from autograder.edition.secrets import find, secret_lines
from conftest import ROOT


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A built book's shape: index.html, a chapter page with highlighted code, its executed notebook."""
    site = tmp_path_factory.mktemp("site") / "html"
    (site / "_sources" / "book" / "normalization").mkdir(parents=True)
    (site / "index.html").write_text("<html><body><h1>The course</h1></body></html>")
    (site / "book" / "normalization").mkdir(parents=True)
    (site / "book" / "normalization" / "batch_norm.html").write_text(
        '<pre><span class="n">mean</span> <span class="o">=</span> <span class="n">x</span>'
        '<span class="o">.</span><span class="n">mean</span><span class="p">(</span>0<span class="p">)</span></pre>')
    shutil.copy(ROOT / "book" / "normalization" / "batch_norm.md", site / "_sources" / "book" / "normalization")
    (site / "_sources" / "book" / "normalization" / "batch_norm.ipynb").write_text('{"cells": []}')
    (site / "reports").mkdir()
    (site / "reports" / "failed-cell.log").write_text("a traceback of a failed build")
    return site


@pytest.fixture(scope="module")
def edition(site, tmp_path_factory):
    return release(ROOT, tmp_path_factory.mktemp("student") / "student", site, log=lambda *_: None)


def test_the_edition_holds_the_site_the_exercises_the_chapters_and_the_wheel(edition, site):
    folder = edition.folder
    assert (folder / "site" / "index.html").is_file() and not (folder / "site" / "reports").exists()
    assert (folder / "notebooks" / "book" / "normalization" / "batch_norm.ipynb").is_file()
    for notebook in (ROOT / "exercises").glob("*/*.ipynb"):
        assert (folder / "repository" / "exercises" / notebook.relative_to(ROOT / "exercises")).read_bytes() == \
            notebook.read_bytes()
    assert (folder / "repository" / "book" / "normalization" / "batch_norm.md").is_file()
    assert not (folder / "repository" / "solutions").exists() and not (folder / "repository" / "tests").exists()
    assert edition.wheel == folder / "dist" / wheel_name(ROOT)
    assert wheel_name(ROOT) in (folder / "repository" / "README.md").read_text()


def test_the_wheel_holds_the_package_and_the_implementations_the_checks_compare_with(edition):
    members = zipfile.ZipFile(edition.wheel).namelist()
    package = {p.relative_to(ROOT).as_posix() for p in (ROOT / "autograder").rglob("*.py")}
    assert package <= set(members)
    assert "autograder/batch_norm.py" in members and "autograder/normalization_layers/group_norm.py" in members
    assert not [m for m in members if m.endswith(".ipynb") or m.startswith(("solutions/", "tests/"))]


def test_no_file_of_the_edition_holds_a_solution_line_a_hidden_test_or_a_model_answer(edition):
    kinds = {secret.kind for secret in edition.secrets}
    assert kinds == {"solution", "hidden test", "model answer"}
    count, found = scan(edition.folder, edition.secrets)
    assert count > 100 and found == []
    # What is not looked for: solution lines that the package's implementations or the chapters show on purpose.
    assert {secret.kind for secret in edition.shown} <= {"solution", "hidden test"}
    assert len(edition.shown) < len(edition.secrets) / 10


def test_the_scan_finds_a_leak_in_a_page_a_notebook_or_the_wheel(tmp_path):
    secrets, _ = secret_lines(ROOT / "solutions", ROOT / "exercises")
    hidden = next(s for s in secrets if s.kind == "hidden test")
    model = next(s for s in secrets if s.kind == "model answer")
    solution = next(s for s in secrets if s.kind == "solution")
    # Highlighted as Sphinx would, token by token, with its entities escaped.
    (tmp_path / "page.html").write_text("<p>" + "".join(f"<span>{c}</span>" for c in
                                                          hidden.line.replace("<", "&lt;")) + "</p>")
    (tmp_path / "chapter.ipynb").write_text('{"cells": [{"source": ["x = 1\\n", ' + repr(model.line).replace("'", '"')
                                            + ']}]}')
    with zipfile.ZipFile(tmp_path / "course.whl", "w") as wheel:
        wheel.writestr("autograder/leak.py", solution.line + "\n")
    _, found = scan(tmp_path, secrets)
    assert {(name, secret) for name, secret in found} >= {("page.html", hidden), ("chapter.ipynb", model),
                                                          ("course.whl!autograder/leak.py", solution)}


def test_release_refuses_an_edition_that_holds_a_hidden_test(site, tmp_path, capsys):
    leaky = tmp_path / "html"
    shutil.copytree(site, leaky)
    (leaky / "leak.html").write_text((ROOT / "solutions" / "batch_norm" / "batch_norm.ipynb").read_text())
    assert main(["release", "--root", str(ROOT), "--site", str(leaky), "--output", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert "the student edition holds" in error and "site/leak.html: hidden test of batch_norm/batch_norm.ipynb" in error


def test_release_refuses_exercises_that_install_another_wheel(site, tmp_path, monkeypatch):
    course = tmp_path / "course"
    shutil.copytree(ROOT, course, ignore=shutil.ignore_patterns(".*", "_build", "grading", "node_modules", "tests"))
    (course / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text().replace(
        'version = "', 'version = "9', 1))
    with pytest.raises(ReleaseError, match=r"does not install .*/releases/download/v9.*autograder-9"):
        release(course, tmp_path / "out", site)
    assert wheel_url(ROOT).endswith(f"/releases/download/v{wheel_name(ROOT).split('-')[1]}/{wheel_name(ROOT)}")


def test_the_scan_finds_every_model_answer_in_the_page_that_would_render_it():
    """Markdown and mathematics rendered to HTML, as the book renders a page, still read as the answer's lines."""
    import nbformat
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    secrets, _ = secret_lines(ROOT / "solutions", ROOT / "exercises")
    markdown = MarkdownIt("commonmark").use(dollarmath_plugin)
    for notebook in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        answers = [s for s in secrets if s.kind == "model answer" and s.notebook == f"{notebook.parent.name}/{notebook.name}"]
        source = "\n\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "markdown")
        page = markdown.render(source).encode()
        found = {secret for _, text in readable("page.html", page) for secret in find(answers, text)}
        assert answers and found == set(answers), [s.line for s in answers if s not in found]
