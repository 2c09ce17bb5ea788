"""Notebook cells as the grader sees them, for the fast tests of its parts."""

from nbformat.v4 import new_code_cell, new_notebook, new_output

REPORT = "passed: batch_norm(input: (8, 3) float32) on cpu"


def graded_cell(grade_id: str, outputs=(), execution_count=None, points=2):
    """A locked nbgrader test cell, as executed (``execution_count``) or not (None)."""
    return new_code_cell(
        f"check_{grade_id}(batch_norm)", execution_count=execution_count, outputs=list(outputs),
        metadata={"nbgrader": {"grade": True, "grade_id": grade_id, "points": points, "solution": False,
                               "locked": True, "schema_version": 3}},
    )


def passed(grade_id: str):
    """A test that ran and shows the autograder's report."""
    return graded_cell(grade_id, [new_output("display_data", data={"text/plain": REPORT})], execution_count=3)


def failed(grade_id: str, message: str = "the output differs"):
    return graded_cell(grade_id, [new_output("error", ename="AssertionError", evalue=message,
                                           traceback=[f"AssertionError: {message}"])], execution_count=3)


def answer_cell():
    return new_code_cell("def batch_norm(x): ...", execution_count=1, metadata={
        "nbgrader": {"grade": False, "grade_id": "answer", "solution": True, "locked": False, "schema_version": 3}})


def notebook(*cells):
    return new_notebook(cells=list(cells))
