"""The student's ``check`` command: nbgrader's grading rule, restated without importing nbgrader."""

import copy

import nbformat.v4 as nbf
import pytest
from nbgrader import utils as nbgrader_utils
from nbgrader.utils import compute_checksum, determine_grade as nbgrader_determine_grade

from autograder import cells
from autograder.self_check import TestResult as Result, determine_grade, format_report, is_hidden


def grade_cell(outputs=(), *, points=2, source="check_batch_norm(batch_norm)", solution=False, cell_type="code"):
    make = nbf.new_code_cell if cell_type == "code" else nbf.new_markdown_cell
    cell = make(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": solution, "locked": not solution,
                                 "grade_id": "batch_norm_output", "points": points, "schema_version": 3}
    if cell_type == "code":
        cell.outputs = list(outputs)
    return cell


def answered(cell):
    cell = copy.deepcopy(cell)
    cell.metadata.nbgrader["checksum"] = compute_checksum(cell)
    cell.source += "\nanswer = 3"
    return cell


def unanswered(cell):
    cell = copy.deepcopy(cell)
    cell.metadata.nbgrader["checksum"] = compute_checksum(cell)
    return cell


CELLS = {
    "passed, nothing shown": grade_cell(),
    "passed, a report displayed": grade_cell([nbf.new_output("display_data", data={"text/plain": "passed: ..."})]),
    "raised": grade_cell([nbf.new_output("error", ename="AssertionError", evalue="off", traceback=[])]),
    "wrote to stderr": grade_cell([nbf.new_output("stream", name="stderr", text="UserWarning: ...")]),
    "stdout only": grade_cell([nbf.new_output("stream", name="stdout", text="hello")]),
    "partial credit": grade_cell([nbf.new_output("execute_result", data={"text/plain": "1.5"}, execution_count=1)]),
    "a value that is no number": grade_cell([nbf.new_output("execute_result", data={"text/plain": "'ok'"},
                                                            execution_count=1)]),
    "a negative value": grade_cell([nbf.new_output("execute_result", data={"text/plain": "-1"}, execution_count=1)]),
    "a list of one value": grade_cell([nbf.new_output("execute_result", data={"text/plain": ["0.5"]},
                                                      execution_count=1)]),
    "stderr after a value": grade_cell([
        nbf.new_output("execute_result", data={"text/plain": "1"}, execution_count=1),
        nbf.new_output("stream", name="stderr", text="late")]),
    "answer cell left as released": unanswered(grade_cell(solution=True)),
    "answer cell answered": answered(grade_cell(solution=True)),
    "manually graded markdown answer": answered(grade_cell(solution=True, cell_type="markdown", source="why?")),
    "markdown grade cell": grade_cell(cell_type="markdown", source="text"),
}


@pytest.mark.parametrize("case", CELLS)
def test_the_verdict_is_nbgraders(case):
    cell = CELLS[case]
    assert determine_grade(cell) == nbgrader_determine_grade(cell)


def test_the_verdicts_cover_pass_fail_and_partial_credit():
    assert determine_grade(CELLS["passed, a report displayed"]) == (2, 2)
    assert determine_grade(CELLS["raised"]) == (0, 2)
    assert determine_grade(CELLS["wrote to stderr"]) == (0, 2)
    assert determine_grade(CELLS["partial credit"]) == (1.5, 2)
    assert determine_grade(CELLS["answer cell left as released"]) == (0, 2)
    assert determine_grade(CELLS["answer cell answered"]) == (None, 2)


def _cell(**nbgrader):
    cell = nbf.new_code_cell("x = 1")
    cell.metadata["nbgrader"] = {"grade_id": "a_cell", "schema_version": 3, **nbgrader}
    return cell


ROLES = {
    **CELLS,
    "no nbgrader metadata": nbf.new_code_cell("x = 1"),
    "a locked cell": _cell(locked=True),
    "an autograded answer": _cell(solution=True),
    "a solution marked locked": _cell(solution=True, locked=True),
    "a test cell not marked locked": _cell(grade=True, points=1),
}


@pytest.mark.parametrize("case", ROLES)
def test_a_cell_s_role_and_checksum_are_read_as_nbgrader_reads_them(case):
    cell = ROLES[case]
    for reader in ("is_grade", "is_solution", "is_locked"):
        assert getattr(cells, reader)(cell) == bool(getattr(nbgrader_utils, reader)(cell)), reader
    if "nbgrader" in cell.metadata:
        assert cells.compute_checksum(cell) == compute_checksum(cell)
        assert cells.grade_id(cell) == cell.metadata.nbgrader["grade_id"]


def test_the_check_command_does_not_import_nbgrader():
    import subprocess
    import sys

    code = "import sys, autograder.self_check, autograder.cli; print('nbgrader' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_a_hidden_test_is_a_docstring_alone():
    assert is_hidden('"""Check that the output is right."""\n')
    assert not is_hidden('"""Check that the output is right."""\ncheck_batch_norm(batch_norm)\n')


def test_the_report_lists_failures_points_and_hidden_tests():
    results = [
        Result("batch_norm_seed_example", 1, 1, "passed: batch_norm(...) on cpu"),
        Result("batch_norm_eval", 0, 2, "AssertionError: batch_norm(...) on cpu:\nLikely mistake: x"),
        Result("batch_norm_shapes", 0, 3, "", hidden=True),
    ]
    report = format_report(results)
    assert report.splitlines()[0] == "PASS  batch_norm_seed_example  (1/1)"
    assert "FAIL  batch_norm_eval  (0/2)\n      AssertionError: batch_norm(...) on cpu:\n      Likely mistake: x" in report
    assert "1 passed, 1 failed: 1/3 points on the visible tests" in report
    assert report.endswith("1 hidden test(s) worth 3 points run when your work is graded: batch_norm_shapes")
