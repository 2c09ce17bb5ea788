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


def hidden_and_visible(passed_hidden: bool):
    metadata = {"nbgrader": {"grade": True, "grade_id": "t", "points": 1, "solution": False, "locked": True}}
    failure = [new_output("error", ename="CheckFailed", evalue="the output is None",
                          traceback=["Traceback", "----> 3 secret_check(f)", "CheckFailed: the output is None"])]
    hidden = new_code_cell('"""Check the secret."""\n### BEGIN HIDDEN TESTS\nsecret_check(f)\n### END HIDDEN TESTS',
                           metadata=metadata, outputs=[] if passed_hidden else failure)
    visible = new_code_cell("visible_check(f)", metadata={"nbgrader": dict(metadata["nbgrader"], grade_id="v")},
                            outputs=[new_output("error", ename="CheckFailed", evalue="x", traceback=["----> visible_check(f)"])])
    return new_notebook(cells=[hidden, visible])


def feedback(policy: str, passed_hidden: bool = False):
    notebook, _ = HideHiddenTests(policy=policy).preprocess(hidden_and_visible(passed_hidden), {})
    return notebook, nbformat.writes(notebook)


def test_policy_messages_shows_the_docstring_and_the_failure_but_no_code():
    notebook, text = feedback("messages")
    assert "secret_check" not in text and "HIDDEN TESTS" not in text
    assert notebook.cells[0].source == '"""Check the secret."""'
    assert notebook.cells[0].outputs[0].evalue == "the output is None"


def test_policy_none_shows_only_pass_or_fail():
    notebook, text = feedback("none")
    assert "secret_check" not in text and "Check the secret" not in text and "the output is None" not in text
    assert notebook.cells[0].outputs[0].text == "this hidden test failed\n"
    notebook, _ = feedback("none", passed_hidden=True)
    assert notebook.cells[0].outputs[0].text == "this hidden test passed\n"
    assert notebook.cells[1].outputs[0].traceback == ["----> visible_check(f)"]  # visible tests as they ran


def test_policy_full_shows_everything_for_after_the_deadline():
    notebook, text = feedback("full")
    assert "secret_check(f)" in notebook.cells[0].source
    assert notebook.cells[0].outputs[0].traceback[1] == "----> 3 secret_check(f)"


def test_an_unknown_policy_is_refused():
    import pytest
    from traitlets import TraitError

    with pytest.raises(TraitError):
        HideHiddenTests(policy="some")
