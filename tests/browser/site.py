"""Serve the built book on 127.0.0.1 and visit its pages in Chromium, offline.

The browser is Debian's Chromium (/usr/bin/chromium) driven by Playwright; nothing
is downloaded. Every request that does not go to the local server is aborted and
recorded, so a page that needs the network fails the tests instead of waiting for it.
"""

from __future__ import annotations

import functools
import http.server
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = Path("/usr/bin/chromium")
# A fresh profile each run: Playwright's launch() gives Chromium a new temporary
# --user-data-dir and deletes it on close.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class LocalServer:
    """The static site in ``directory``, served on 127.0.0.1 at a free port."""

    def __init__(self, directory: Path):
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "LocalServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def url(self, path: str) -> str:
        return f"{self.origin}/{path}"


@dataclass
class Visit:
    """What one page did and contained once it had loaded and typeset its math."""

    path: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    violations: list[dict] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)


def offline_context(browser, origin: str, visit_log: list[Visit]):
    """A browser context that lets through only requests to ``origin``.

    Console errors, uncaught exceptions, failed requests, HTTP errors and blocked
    requests are recorded on the last Visit of ``visit_log``.
    """
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")

    def route(route):
        url = route.request.url
        if url.startswith(origin + "/") or url.startswith("data:") or url.startswith("blob:"):
            route.continue_()
        else:
            visit_log[-1].blocked_requests.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", route)

    def on_page(page):
        page.on("console", lambda m: m.type == "error" and visit_log[-1].console_errors.append(
            f"{m.text} ({m.location.get('url', '')})"))
        page.on("pageerror", lambda e: visit_log[-1].console_errors.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: urlsplit(r.url).netloc == urlsplit(origin).netloc
                and visit_log[-1].failed_requests.append(f"{r.url}: {r.failure}"))
        page.on("response", lambda r: r.status >= 400
                and visit_log[-1].failed_requests.append(f"{r.url}: HTTP {r.status}"))

    context.on("page", on_page)
    return context


# Runs in the page after it has loaded: waits for MathJax, makes lazy images load,
# and returns the facts the tests check.
COLLECT = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  for (const img of document.images) img.loading = "eager";
  await Promise.all([...document.images].map(img => img.decode().catch(() => null)));

  const article = document.querySelector("article") || document.body;
  const prose = article.cloneNode(true);
  prose.querySelectorAll("pre, code, .highlight, .cell_input, .cell_output, script").forEach(e => e.remove());
  const text = prose.textContent;

  const mathNodes = [...document.querySelectorAll(".math")];
  return {
    title: document.title,
    ids: [...document.querySelectorAll("[id]")].map(e => e.id),
    links: [...document.querySelectorAll("a[href]")].map(a => ({href: a.href, text: a.textContent.trim()})),
    articleLinks: [...article.querySelectorAll("a[href]")].map(a => a.href),
    math: {
      nodes: mathNodes.length,
      unrendered: mathNodes.filter(e => !e.querySelector("mjx-container")).map(e => e.textContent.slice(0, 80)),
      containers: document.querySelectorAll("mjx-container").length,
      raw: ["$$", "\\\\(", "\\\\[", "\\\\begin{"].filter(d => text.includes(d)),
      numbered: [...document.querySelectorAll("div.math[id^='equation-'] .eqno")].map(e => e.firstChild.textContent.trim()),
      equationRefs: [...document.querySelectorAll("a.reference[href*='#equation-']")].map(a => a.textContent.trim()),
    },
    images: [...document.images].map(img => ({
      src: img.currentSrc || img.src,
      alt: img.getAttribute("alt"),
      complete: img.complete,
      width: img.naturalWidth,
      height: img.naturalHeight,
      output: !!img.closest(".cell_output"),
    })),
    foldedInputs: document.querySelectorAll(".cell.tag_hide-input details.hide").length,
    hideInputCells: document.querySelectorAll(".cell.tag_hide-input").length,
    cells: document.querySelectorAll("div.cell").length,
    scrollOutputs: document.querySelectorAll(".cell.config_scroll_outputs, .cell.tag_scroll-output").length,
    navCaptions: [...document.querySelectorAll("nav.bd-links p.caption")].map(p => p.textContent.trim()),
    navLinks: [...document.querySelectorAll("nav.bd-links a.reference")].map(a => a.href),
  };
}
"""

AXE_RUN = """
async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map(n => n.target.join(" ")).slice(0, 5),
    count: v.nodes.length,
  }));
}
"""


def visit(context, server: LocalServer, site: Path, path: str, visit_log: list[Visit], axe_source: str,
          screenshot_dir: Path) -> Visit:
    """Load ``path``, collect its facts, run axe-core in it and take its screenshots."""
    record = Visit(path)
    visit_log.append(record)
    page = context.new_page()
    try:
        url = server.url(path)
        page.goto(url, wait_until="load")
        if 'http-equiv="Refresh"' in (site / path).read_text()[:500]:
            # A redirect page (index.html): check the page it leads to.
            page.wait_for_url(lambda current: current != url)
            page.wait_for_load_state("load")
            record.facts["redirected_to"] = page.url
        record.facts.update(page.evaluate(COLLECT))
        name = path.removesuffix(".html").replace("/", "__")
        shot = screenshot_dir / f"{name}.png"
        page.screenshot(path=shot)
        record.screenshots.append(shot)
        for suffix, selector in (("figure", ".cell_output img"), ("equation", "div.math")):
            element = page.locator(selector).first
            if element.count():
                shot = screenshot_dir / f"{name}--{suffix}.png"
                element.screenshot(path=shot)
                record.screenshots.append(shot)
        page.add_script_tag(content=axe_source)
        record.violations = page.evaluate(AXE_RUN)
    finally:
        page.close()
    return record
