"""The solution notebooks read as plain JSON, for a GPU machine that has no nbformat.

The same rule as ``tests/helpers.py``'s ``solution_namespace``: run the imports
cell (grade_id ``<assignment>_imports``) and every code cell that is an answer,
in order; the test cells are the graded code cells that are no answer.
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder import cells

from .settings import ROOT


def notebook_path(assignment: str) -> Path:
    return ROOT / "solutions" / assignment / f"{assignment}.ipynb"


def code_cells(assignment: str) -> list[dict]:
    """The notebook's code cells, each with its source joined into one string."""
    notebook = json.loads(notebook_path(assignment).read_text(encoding="utf-8"))
    found = []
    for cell in notebook["cells"]:
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            found.append({**cell, "source": "".join(source) if isinstance(source, list) else source})
    return found


def _run(cell: dict, assignment: str, namespace: dict) -> None:
    name = f"{assignment}.ipynb:{cells.grade_id(cell) or ''}"
    exec(compile(cell["source"], name, "exec"), namespace)  # noqa: S102 - the course's own answers


def solution_namespace(assignment: str) -> dict:
    """The names the solution notebook defines: its imports cell and its answer cells, run in order."""
    namespace = {"__name__": "__main__"}
    for cell in code_cells(assignment):
        if cells.grade_id(cell) == f"{assignment}_imports" or cells.is_solution(cell):
            _run(cell, assignment, namespace)
    return namespace


def graded_cells(assignment: str) -> list[dict]:
    """The cells nbgrader grades by running them, in order."""
    return [cell for cell in code_cells(assignment) if cells.is_test(cell)]


def missing_dependency(error: BaseException) -> str | None:
    """The third-party module whose absence ``error`` reports, else None (a broken package is no skip)."""
    if isinstance(error, ModuleNotFoundError) and error.name and error.name.split(".")[0] != "autograder":
        return error.name
    return None
