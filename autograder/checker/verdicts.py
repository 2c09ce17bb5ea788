"""The checker's verdicts: which cells are tests, and the executed notebook rebuilt around them.

This module imports neither torch nor the checks, so that the grader's own
process (``autograder.grading``) can read verdicts.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from .. import cells

VERDICTS = "verdicts.json"
STUB_CALL = '__import__("autograder.checker.stub", fromlist=["serve"]).serve({notebook!r}, {cell!r})'
NO_REQUEST = ("the kernel never asked the grader to run this test, so it did not run (the notebook stopped "
              "before it, or something in the submission replaced the call that asks for it)")


def finding_key(finding: dict) -> str:
    """What an instructor accepts of a flagged line (``checker.flags.Finding`` as a dict): the same line, for
    the same reason, in the same cell."""
    return f"{finding.get('cell')}|{finding.get('code')}|{finding.get('why')}"


def hand_to_checker(notebook, name: str) -> None:
    """Replace each test cell's source by the stub's request for it: the tests never enter the sandbox."""
    for cell in notebook.cells:
        if cells.is_test(cell):
            cell.source = STUB_CALL.format(notebook=name, cell=cells.grade_id(cell))
            cell.outputs = []


def read_verdicts(path: Path) -> dict:
    """The checker's outputs by notebook and test cell, and what the protocol cost ({} when none)."""
    try:
        verdicts = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return verdicts if isinstance(verdicts, dict) else {}


def rebuild(trusted, executed, verdicts: dict | None):
    """The notebook to grade: ``trusted``'s cells, the checker's outputs in its tests.

    ``trusted`` is the grader's sanitized notebook; ``executed`` (None when there is
    none) the sandbox's, which lends only the outputs of the cells that are not tests,
    matched by cell id. A test without a verdict gets no output and no execution
    count: the recorder fails it (``autograder.grading.preprocessors``).
    """
    notebook = nbformat.from_dict(json.loads(json.dumps(trusted)))  # a copy
    ran = {}
    if executed is not None:
        ran = {cell.get("id"): cell for cell in executed.cells if cell.get("cell_type") == "code"}
    verdicts = verdicts or {}
    count = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if cells.is_test(cell):
            outputs = verdicts.get(cells.grade_id(cell))
            if isinstance(outputs, list):
                count += 1
                cell.outputs = [nbformat.from_dict(output) for output in outputs]
                cell.execution_count = count
            else:
                cell.outputs, cell.execution_count = [], None
            continue
        source = ran.get(cell.get("id"))
        if source is not None and source.get("source") == cell.source:
            cell.outputs = source.get("outputs", [])
            count += 1
            cell.execution_count = count
    return notebook
