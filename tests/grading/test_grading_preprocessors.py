"""The recorder's repairs: a test that did not run, or ran without the autograder's report, scores zero."""

import nbformat
from nbformat.v4 import new_output
from nbgrader.preprocessors import SaveAutoGrades
from nbgrader.utils import determine_grade

from autograder.grading.preprocessors import (
    DID_NOT_RUN, FailTestsWithoutReport, MarkUnfinishedTests, fail_tests_without_report, mark_unfinished_tests,
    set_stopped_reason,
)
from autograder.grading.record import PREPROCESSORS
from grading_cells import answer_cell, failed, notebook, passed, graded_cell


def errors(cell):
    return [(o.ename, o.evalue) for o in cell.outputs if o.output_type == "error"]


def test_nbgrader_gives_full_marks_to_a_test_that_never_ran_unless_it_is_repaired():
    nb = notebook(answer_cell(), graded_cell("t"))
    assert determine_grade(nb.cells[1]) == (2, 2)
    MarkUnfinishedTests()(nb, {})  # called as nbgrader calls it: the preprocessor must be enabled
    assert determine_grade(nb.cells[1]) == (0, 2)


def test_tests_that_did_not_run_show_why_the_notebook_stopped():
    nb = notebook(answer_cell(), passed("ran"), failed("failed_on_its_own", "wrong shape"), graded_cell("never_ran"))
    set_stopped_reason(nb, "the kernel died (a crash, os._exit() or the memory limit) before this test ran")
    nb, _ = MarkUnfinishedTests()(nb, {})
    assert errors(nb.cells[3]) == [
        ("GradingError", "the kernel died (a crash, os._exit() or the memory limit) before this test ran")]
    assert errors(nb.cells[2]) == [("AssertionError", "wrong shape")]  # its own failure, not the crash
    assert not errors(nb.cells[1]) and not errors(nb.cells[0])
    assert "autograder" not in nb.metadata  # the reason does not reach the autograded notebook


def test_without_a_reason_an_unfinished_test_did_not_run():
    nb = notebook(graded_cell("a"), graded_cell("b"))
    nb, _ = MarkUnfinishedTests()(nb, {})
    assert [errors(cell) for cell in nb.cells] == [[("GradingError", DID_NOT_RUN)]] * 2


def test_mark_unfinished_tests_counts_what_it_marked():
    nb = notebook(graded_cell("a"), passed("b"), failed("c"))
    assert mark_unfinished_tests(nb, "stopped") == 1
    assert mark_unfinished_tests(nb, "stopped") == 0  # a second pass changes nothing


def test_a_test_that_ran_without_the_report_fails():
    printed = graded_cell("printed", [new_output("stream", name="stdout", text=REPORT_TEXT)], execution_count=2)
    silent = graded_cell("silent", execution_count=2)
    nb = notebook(answer_cell(), passed("reported"), printed, silent, failed("failed", "wrong values"))
    nb, _ = FailTestsWithoutReport()(nb, {})
    assert not errors(nb.cells[1])
    for cell in (nb.cells[2], nb.cells[3]):  # printing the report's words is not the report
        [(ename, evalue)] = errors(cell)
        assert ename == "GradingError" and "without a report from the autograder" in evalue
        assert determine_grade(cell) == (0, 2)
    assert errors(nb.cells[4]) == [("AssertionError", "wrong values")]
    assert not errors(nb.cells[0])  # the student's answer is not a test
    assert fail_tests_without_report(nb) == 0


REPORT_TEXT = "passed: batch_norm(input: (8, 3) float32) on cpu\n"


def test_the_repairs_run_before_nbgrader_saves_the_grades():
    position = {preprocessor: i for i, preprocessor in enumerate(PREPROCESSORS)}
    assert position[MarkUnfinishedTests] < position[FailTestsWithoutReport] < position[SaveAutoGrades]


def test_a_repaired_notebook_is_still_a_valid_notebook():
    nb = notebook(answer_cell(), graded_cell("a", execution_count=None), graded_cell("b", execution_count=4))
    set_stopped_reason(nb, "stopped")
    nb, _ = MarkUnfinishedTests()(nb, {})
    nb, _ = FailTestsWithoutReport()(nb, {})
    nbformat.validate(nb)
    assert [determine_grade(cell) for cell in nb.cells[1:]] == [(0, 2), (0, 2)]
