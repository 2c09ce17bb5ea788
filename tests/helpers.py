"""Notebook helpers shared by the tests."""

import re
from pathlib import Path

import nbformat

from autograder import cells
from autograder.cells import grade_id

SOLUTION_REGION = re.compile(r"^[ \t]*### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION\n?", re.S | re.M)


def solution_code(source_notebook: Path) -> dict[str, str]:
    """grade_id -> the solution code of each solution cell, without its markers."""
    notebook = nbformat.read(source_notebook, as_version=4)
    solutions = {}
    for cell in notebook.cells:
        if cells.is_solution(cell):
            solutions[grade_id(cell)] = SOLUTION_REGION.sub(lambda m: m.group(1), cell.source)
    return solutions


def solution_namespace(source_notebook: Path) -> dict:
    """The names a solution notebook defines: its imports cell and its code solution cells, run in order.

    The solutions are the course's own answers, written apart from the checks' references.
    """
    assignment = Path(source_notebook).stem
    namespace = {"__name__": "__main__"}
    for cell in nbformat.read(source_notebook, as_version=4).cells:
        cell_id = grade_id(cell) or ""
        if cell.cell_type == "code" and (cell_id == f"{assignment}_imports" or cells.is_solution(cell)):
            exec(compile(cell.source, f"{Path(source_notebook).name}:{cell_id}", "exec"), namespace)  # noqa: S102
    return namespace


def solution_regions(source_notebook: Path) -> list[str]:
    """The code between BEGIN and END SOLUTION, which the student version must not contain."""
    notebook = nbformat.read(source_notebook, as_version=4)
    return [m.group(1) for cell in notebook.cells for m in SOLUTION_REGION.finditer(cell.source)]


def submission(release_notebook: Path, answers: dict[str, str]) -> nbformat.NotebookNode:
    """The released notebook with some solution cells answered, as a student hands it in."""
    notebook = nbformat.read(release_notebook, as_version=4)
    for cell in notebook.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return notebook


def printed(built: Path, chapter: str) -> str:
    """Everything an executed chapter of the book shows as output, in order (``chapter`` like "book/x/y").

    Read from the HTML page, which always carries the outputs: the executed
    notebook that myst-nb leaves in _build/jupyter_execute may have none when
    the outputs came from the execution cache.
    """
    page = chapter_page(built, chapter)
    return "".join(pre.get_text() for output in page.select("div.cell_output") for pre in output.select("pre"))


def chapter_page(built: Path, chapter: str):
    """The built HTML page of ``chapter`` (like "book/x/y"), parsed."""
    from bs4 import BeautifulSoup

    return BeautifulSoup((built / "html" / f"{chapter}.html").read_text(), "html.parser")


def glued(page) -> list[str]:
    """The values that glue pasted into a page's text, in order."""
    return [span.get_text() for span in page.select("span.pasted-text")]


def printed_differences(text: str, label: str) -> list[float]:
    """The numbers printed as 'max abs difference = X' on the lines of ``text`` that contain ``label``."""
    import re

    pattern = re.escape(label) + r".*max abs difference = ([0-9.]+e[+-]\d+)"
    values = [float(v) for v in re.findall(pattern, text)]
    assert values, f"no difference printed for {label!r}"
    return values


def question_points(source_notebook: Path) -> dict[str, float]:
    """grade_id -> points of the graded cells of the notebook's Questions section (hidden tests and written answers)."""
    notebook = nbformat.read(source_notebook, as_version=4)
    ids = [grade_id(cell) for cell in notebook.cells]
    start = ids.index(f"{Path(source_notebook).stem}_questions")
    return {grade_id(cell): cells.points(cell) for cell in notebook.cells[start:] if cells.is_grade(cell)}
