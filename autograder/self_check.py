"""Run a student's notebook and say, test by test, what nbgrader would say.

This is what a student runs to ask "am I done?": it executes the notebook as
it is, in its own folder, then grades each test cell with nbgrader's own rule
(an error or anything on stderr gives zero), so the verdict is the one the
grader will give on the visible tests.

The rule is restated here (``determine_grade``) rather than imported from
``nbgrader.utils``, whose import alone costs a student about 2.4 s on every
check; a test holds it to nbgrader's verdicts.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from . import cells


def determine_grade(cell) -> tuple[float | None, float]:
    """(points, max_points) of a grade cell by nbgrader's rule; None points: graded by hand.

    A test cell scores zero if it raised or wrote to stderr, the number it
    displays as its value if that is one (partial credit), and full points
    otherwise. An answer cell left as released scores zero.
    """
    max_points = cells.points(cell)
    if cells.is_solution(cell):
        unchanged = cells.released_checksum(cell) == cells.compute_checksum(cell)
        return (0, max_points) if unchanged else (None, max_points)
    if cell.cell_type != "code":
        return None, max_points
    for output in cell.outputs:
        if output.output_type == "error" or (output.output_type == "stream" and output.name == "stderr"):
            return 0, max_points
        if output.output_type == "execute_result":
            return _partial_grade(output.data.get("text/plain", ""), max_points), max_points
    return max_points, max_points


def _partial_grade(text, max_points: float) -> float:
    """The points a cell's value gives, as ``nbgrader.utils.get_partial_grade`` reads them."""
    if not text:
        raise KeyError("output ['data']['text/plain'] does not exist")
    if isinstance(text, list):
        if len(text) > 1:
            return max_points
        text = text[0]
    try:
        grade = float(text)
    except ValueError:
        return max_points
    if grade > max_points:
        raise ValueError("partial credit cannot be greater than maximum points for cell")
    return grade if grade >= 0 else max_points


@dataclass
class TestResult:
    grade_id: str
    points: float
    max_points: float
    message: str  # why it failed, or what ran when it passed
    hidden: bool = False  # the test's code is withheld until grading

    @property
    def passed(self) -> bool:
        return self.points == self.max_points


def is_hidden(source: str) -> bool:
    """True for a released test cell whose checks are all hidden: a docstring alone."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def check_notebook(path: str | os.PathLike, timeout: int = 180) -> list[TestResult]:
    """Execute the notebook at ``path`` and grade each of its test cells."""
    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        # Keep the kernel's own log (a warning about its local TCP port) off the
        # terminal: the report is the output. Cells' stderr is still captured.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        # Every output is in once the last cell is done; a graceful shutdown would then wait
        # seconds for a kernel that has loaded torch to tear itself down.
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    client.execute()
    results = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or not cells.is_grade(cell):
            continue
        points, max_points = determine_grade(cell)
        if points is None:  # an answer that the instructor grades by hand
            continue
        results.append(
            TestResult(
                cells.grade_id(cell), points, max_points, _message(cell),
                hidden=is_hidden(cell.source),
            )
        )
    return results


def _message(cell) -> str:
    for output in cell.outputs:
        if output.output_type == "error":
            return f"{output.ename}: {output.evalue}"
        if output.output_type == "stream" and output.name == "stderr":
            return "the cell wrote to stderr, which nbgrader grades as a failure:\n" + output.text
    texts = [o.data.get("text/plain", "") for o in cell.outputs if o.output_type == "display_data"]
    return "\n".join(texts)


def format_report(results: list[TestResult]) -> str:
    hidden = [r for r in results if r.hidden]
    results = [r for r in results if not r.hidden]
    lines = []
    for result in results:
        verdict = "PASS" if result.passed else "FAIL"
        lines.append(f"{verdict}  {result.grade_id}  ({result.points:g}/{result.max_points:g})")
        if not result.passed:
            lines += ["      " + line for line in result.message.splitlines()]
    scored = sum(r.points for r in results)
    total = sum(r.max_points for r in results)
    passed = sum(r.passed for r in results)
    lines.append(f"{passed} passed, {len(results) - passed} failed: {scored:g}/{total:g} points on the visible tests")
    if hidden:
        points = sum(r.max_points for r in hidden)
        lines.append(
            f"{len(hidden)} hidden test(s) worth {points:g} points run when your work is graded: "
            + ", ".join(r.grade_id for r in hidden)
        )
    return "\n".join(lines)
