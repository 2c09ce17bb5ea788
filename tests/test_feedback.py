import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from autograder.grading.preprocessors import HideHiddenTests


def test_hidden_tests_and_their_tracebacks_are_removed():
    metadata = {"nbgrader": {"grade": True, "grade_id": "t", "points": 1, "solution": False, "locked": True}}
    hidden = new_code_cell(
        '"""Check the secret."""\n### BEGIN HIDDEN TESTS\nsecret_check(f)\n### END HIDDEN TESTS',
        metadata=metadata,
        outputs=[new_output("error", ename="AssertionError", evalue="the output is None",
                            traceback=["Traceback", "----> 3 secret_check(f)", "AssertionError: the output is None"])],
    )
    visible = new_code_cell("visible_check(f)", metadata=dict(metadata, nbgrader=dict(metadata["nbgrader"], grade_id="v")),
                            outputs=[new_output("error", ename="AssertionError", evalue="x", traceback=["----> visible_check(f)"])])
    notebook, _ = HideHiddenTests().preprocess(new_notebook(cells=[hidden, visible]), {})
    text = nbformat.writes(notebook)
    assert "secret_check" not in text and "HIDDEN TESTS" not in text
    assert notebook.cells[0].source == '"""Check the secret."""'
    assert notebook.cells[0].outputs[0].traceback == ["AssertionError: the output is None"]
    # A visible test keeps its traceback.
    assert notebook.cells[1].outputs[0].traceback == ["----> visible_check(f)"]
