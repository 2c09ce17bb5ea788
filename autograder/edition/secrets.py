"""What the student edition must never hold: the lines that only ``solutions/`` has.

Three kinds, read from each source notebook:

- the solution lines: what an answer cell holds between ``### BEGIN SOLUTION``
  and ``### END SOLUTION`` (the reference solution's code, the questions' answers);
- the hidden-test lines: what a test cell holds between
  ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``;
- the model answers: the solution region of an answer written in words (a
  markdown answer cell), its rubric included.

A line counts when it says something of its own (``return out`` or ``else:``
is in every program) and when the course does not show it anyway: a hidden
test that repeats a visible one is in the released notebooks, and a solution
line such as ``self.linear1 = nn.Linear(d_model, dim_feedforward)``, which
PyTorch's contract dictates, is in the package's implementations and in the
chapters, which the course publishes on purpose; so is a phrase of a hidden
test's hint that the package's catalog of mistakes words too. A model answer is
secret wherever else it appears. ``secret_lines`` returns the lines it leaves
out for that reason, so that they can be counted and read.

Lines are compared as their sequence of words (letters, digits, underscores):
a line of code is then found in an HTML page that highlights it token by
token, and a model answer in the page that renders its Markdown and its
mathematics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .. import cells

REGIONS = {
    "solution": re.compile(r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION", re.S | re.M),
    "hidden test": re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n(.*?)^[ \t]*### END HIDDEN TESTS", re.S | re.M),
}
# A shorter line is common code ("if bias is not None:") or words that any page may hold.
MIN_WORDS = 4
MIN_CHARACTERS = 24


@dataclass(frozen=True)
class Secret:
    """One line that only the source notebook holds."""

    kind: str          # "solution", "hidden test" or "model answer"
    notebook: str      # e.g. "batch_norm/batch_norm.ipynb"
    cell: str          # the cell's grade_id
    line: str          # the line as written, stripped
    words: str         # its words, as ``words`` gives them


def words(text: str) -> str:
    """The words of ``text``, one space between each and one at each end: what ``find`` compares."""
    return " " + " ".join(re.findall(r"\w+", text)) + " "


def secret_lines(solutions: Path, exercises: Path, published: str = "") -> tuple[list[Secret], list[Secret]]:
    """Every secret line of the notebooks under ``solutions``, and the solution lines the course shows anyway.

    ``published``: the text the course publishes on purpose besides the released
    notebooks (the package's implementations, the chapters). A solution line it
    holds is no secret, nor is a hidden test's line it holds; a model answer still is.
    """
    published = words(published)
    found, shown = [], []
    for path in sorted(Path(solutions).glob("*/*.ipynb")):
        relative = path.relative_to(solutions).as_posix()
        released = Path(exercises) / relative
        public = words(notebook_text(released)) if released.is_file() else " "
        for cell in nbformat.read(path, as_version=4).cells:
            for kind, region in REGIONS.items():
                if kind == "solution" and cell.cell_type == "markdown":
                    kind = "model answer"
                for match in region.finditer(cell.source):
                    for line in match.group(1).splitlines():
                        line, said = line.strip(), words(line)
                        if len(line) < MIN_CHARACTERS or len(said.split()) < MIN_WORDS or said in public:
                            continue
                        secret = Secret(kind, relative, cells.grade_id(cell) or "", line, said)
                        (shown if kind != "model answer" and said in published else found).append(secret)
    return found, shown


def notebook_text(path: Path) -> str:
    """Every cell's source of a notebook, one after the other."""
    return "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)


def find(secrets: list[Secret], text: str) -> list[Secret]:
    """The secrets that ``text`` holds."""
    text = words(text)
    return [secret for secret in secrets if secret.words in text]
