"""The nbgrader preprocessors the course adds to stock nbgrader.

``HideHiddenTests`` runs in ``generate_feedback`` (through ``nbgrader_config.py``):
nbgrader's feedback HTML shows each test cell as it ran, hidden tests
included, so it shows of each hidden test only what its ``policy`` allows
(see ``FEEDBACK_POLICIES``).

``MarkUnfinishedTests`` and ``FailTestsWithoutReport`` run first in the
recorder's ``autograde`` (``autograder.grading.record``), on notebooks that
were executed elsewhere. nbgrader gives full marks to a test cell that shows
no error, so both repair what would otherwise pass unearned: a test that never
ran, and a test whose check was replaced so that it reports nothing.
"""

from __future__ import annotations

import nbformat
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from traitlets import Enum

from .. import cells

# The report the autograder displays for a test that passed (its core's ``Report``) starts so.
REPORT_PREFIX = "passed: "
DID_NOT_RUN = "this test did not run"
_METADATA = "autograder"  # the notebook's metadata that carries why it stopped early to the recorder


# What a student's feedback shows of each hidden test.
FEEDBACK_POLICIES = {
    "messages": "its docstring and, when it failed, its message (the last line of the traceback), never its code",
    "none": "only whether it passed or failed",
    "full": "everything, code included, as nbgrader shows it (for after the deadline)",
}


class HideHiddenTests(ClearHiddenTests):
    """Show of each hidden test only what ``policy`` allows; visible tests are shown as they ran.

    The code of a hidden test is between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``,
    and a traceback quotes the source that raised, so both go unless the policy is ``full``.
    """

    policy = Enum(list(FEEDBACK_POLICIES), default_value="messages",
                  help="What feedback shows of hidden tests: " + "; ".join(
                      f"{name}: {shown}" for name, shown in FEEDBACK_POLICIES.items())).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if self.policy == "full" or not self._remove_hidden_test_region(cell):
            return cell, resources
        failed = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        if self.policy == "none":
            cell.source = "# a hidden test"
            verdict = "this hidden test failed" if failed else "this hidden test passed"
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=verdict + "\n")]
        for output in failed:
            output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


def _test_cells(notebook):
    for cell in notebook.cells:
        if cell.cell_type == "code" and cells.is_grade(cell):
            yield cell


def _failed(cell) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def _fail(cell, message: str) -> None:
    cell.outputs = [nbformat.v4.new_output(
        "error", ename="GradingError", evalue=message, traceback=[f"GradingError: {message}"])]


def set_stopped_reason(notebook, reason: str) -> None:
    """Say why ``notebook`` stopped early, for ``MarkUnfinishedTests`` to show in each test that did not run."""
    notebook.metadata[_METADATA] = {"stopped": reason}


def mark_unfinished_tests(notebook, reason: str) -> int:
    """Give every test cell that did not finish an error output with ``reason``; return how many."""
    marked = 0
    for cell in _test_cells(notebook):
        if cell.get("execution_count") is None and not _failed(cell):
            _fail(cell, reason)
            marked += 1
    return marked


def fail_tests_without_report(notebook) -> int:
    """A test cell that passed must show the harness's report; otherwise its check was replaced. Return how many failed."""
    failed = 0
    for cell in _test_cells(notebook):
        if _failed(cell):
            continue
        reported = any(
            o.get("output_type") == "display_data"
            and str(o.get("data", {}).get("text/plain", "")).startswith(REPORT_PREFIX)
            for o in cell.get("outputs", [])
        )
        if not reported:
            _fail(cell, "the test cell ran without a report from the autograder: its check was replaced or bypassed")
            failed += 1
    return failed


class MarkUnfinishedTests(NbGraderPreprocessor):
    """Fail each test that did not run, with the reason ``set_stopped_reason`` left in the notebook."""

    def preprocess(self, nb, resources):
        reason = nb.metadata.pop(_METADATA, {}).get("stopped") or DID_NOT_RUN
        mark_unfinished_tests(nb, reason)
        return nb, resources


class FailTestsWithoutReport(NbGraderPreprocessor):
    """Fail each test that shows neither an error nor the autograder's report."""

    def preprocess(self, nb, resources):
        fail_tests_without_report(nb)
        return nb, resources
