"""The student edition: everything students receive, and nothing that only the instructor may see.

``python -m autograder release`` (``make release``) lays it out in ``_build/student/``:

    repository/   the public repository: README.md, the chapters' sources (book/, _config.yml,
                  _toc.yml, requirements.txt: what the edit, Binder and JupyterHub buttons open)
                  and the exercises (exercises/: what the chapters' GitHub and Colab links open)
    site/         the book's HTML, for GitHub Pages (without the build's cell reports)
    notebooks/    the chapters as executed notebooks, for the branch `notebooks` (Colab opens them)
    dist/         the wheel of the package, for the release asset v<version> that the
                  exercises' setup cell installs

It then reads every file it wrote, the wheel's members included, for every
solution line, hidden-test line and model answer of ``solutions/``
(``secrets``), and fails if it finds one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml

from .scan import scan
from .secrets import Secret, secret_lines

PUBLIC_FILES = ("_config.yml", "_toc.yml", "requirements.txt")
IGNORED = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "*.pyc")


class ReleaseError(RuntimeError):
    """The edition could not be built, or it holds what students must not see."""


@dataclass
class Edition:
    folder: Path
    wheel: Path
    texts_read: int
    secrets: list[Secret]   # what was looked for
    shown: list[Secret]     # solution lines the course shows on purpose (package, chapters): not looked for


def version(root: Path) -> str:
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]


def wheel_name(root: Path) -> str:
    return f"autograder-{version(root)}-py3-none-any.whl"


def wheel_url(root: Path) -> str:
    """Where the exercises' setup cell installs the package from: the public repository's release asset."""
    repository = yaml.safe_load((root / "_config.yml").read_text())["repository"]["url"].rstrip("/")
    return f"{repository}/releases/download/v{version(root)}/{wheel_name(root)}"


def build_site(root: Path, log=print) -> Path:
    """Build the book as `make book` does, every cell executed (cached), and return its HTML folder."""
    log("building the book (jupyter-book build) ...")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    # The book's kernels start from PATH: this environment's first, as `make book` has it.
    environment = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    run = subprocess.run([str(jupyter_book), "build", ".", "--builder", "html", "-W", "-n", "--keep-going"],
                         cwd=root, capture_output=True, text=True, env=environment)
    if run.returncode != 0:
        raise ReleaseError(f"the book's build failed:\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
    return root / "_build" / "html"


def build_wheel(root: Path, dist: Path) -> Path:
    """The package's wheel, built from a copy of it so that the checkout gets no build output."""
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch, "autograder-source")
        source.mkdir()
        shutil.copy(root / "pyproject.toml", source)
        shutil.copytree(root / "autograder", source / "autograder", ignore=IGNORED)
        run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                              "--no-deps", "--no-build-isolation", "--wheel-dir", str(dist), str(source)],
                             capture_output=True, text=True)
    wheel = dist / wheel_name(root)
    if run.returncode != 0 or not wheel.is_file():
        raise ReleaseError(f"building the wheel failed:\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
    return wheel


def published_text(root: Path) -> str:
    """What the course publishes on purpose besides the exercises: the package's code and the chapters."""
    sources = [*sorted((root / "autograder").rglob("*.py")), *sorted((root / "book").rglob("*.md"))]
    return "\n".join(path.read_text() for path in sources)


def release(root: str | Path = ".", out: str | Path | None = None, site: str | Path | None = None,
            log=print) -> Edition:
    """Build the student edition of the course under ``root`` into ``out`` (default ``_build/student``).

    ``site``: an HTML build of the book to use (e.g. ``_build/html`` after ``make book``);
    without it, the book is built first.
    """
    root = Path(root).resolve()
    out = Path(out).resolve() if out else root / "_build" / "student"
    site = Path(site).resolve() if site else build_site(root, log)
    if not (site / "index.html").is_file():
        raise ReleaseError(f"{site} is not a built book (no index.html): run `make book`, or leave out --site")
    _check_setup_cells(root)
    if out.exists():
        shutil.rmtree(out)
    repository = out / "repository"
    shutil.copytree(root / "exercises", repository / "exercises", ignore=IGNORED)
    shutil.copytree(root / "book", repository / "book", ignore=IGNORED)
    for name in PUBLIC_FILES:
        shutil.copy(root / name, repository)
    (repository / "README.md").write_text(_readme(root))
    # The cell reports are tracebacks of a failed build; the rest is the site as published.
    shutil.copytree(site, out / "site", ignore=shutil.ignore_patterns("reports", ".buildinfo"))
    chapters = site / "_sources"
    for notebook in sorted(chapters.glob("book/**/*.ipynb")):
        target = out / "notebooks" / notebook.relative_to(chapters)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(notebook, target)
    wheel = build_wheel(root, out / "dist")
    log(f"student edition written to {out}: repository/, site/, notebooks/, dist/{wheel.name}")

    secrets, shown = secret_lines(root / "solutions", root / "exercises", published_text(root))
    count, found = scan(out, secrets)
    if found:
        listing = "\n".join(f"  {name}: {secret.kind} of {secret.notebook} ({secret.cell}): {secret.line}"
                            for name, secret in found[:40])
        raise ReleaseError(f"the student edition holds {len(found)} line(s) of solutions/:\n{listing}")
    log(f"checked: none of the {len(secrets)} solution, hidden-test and model-answer lines of solutions/ "
        f"is in the {count} texts of the edition")
    return Edition(out, wheel, count, secrets, shown)


def _check_setup_cells(root: Path) -> None:
    """Each exercise's setup cell installs this version's wheel from the release asset."""
    url = wheel_url(root)
    for notebook in sorted((root / "exercises").glob("*/*.ipynb")):
        if url not in notebook.read_text():
            raise ReleaseError(f"{notebook.relative_to(root)} does not install {url}: set AUTOGRADER in the setup "
                               "cell of its solution notebook, and run `python -m autograder generate`")


def _readme(root: Path) -> str:
    config = yaml.safe_load((root / "_config.yml").read_text())
    return f"""# {config["title"]}

The student edition of the course, version {version(root)}.

- `book/`: the chapters, as MyST Markdown notebooks; the book itself is published on this
  repository's GitHub Pages.
- `exercises/<assignment>/<assignment>.ipynb`: the exercises. Open one in Jupyter or Colab,
  replace every `YOUR CODE HERE` with your code, and run the tests below it. Its first cell
  installs the course's autograder, `{wheel_name(root)}`, from this repository's release
  v{version(root)}.
- `python -m autograder check exercises/<assignment>/<assignment>.ipynb` runs every visible test
  of a notebook and reports each one.
"""
