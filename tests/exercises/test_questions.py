"""The checks of the exercises' questions: what passes, and what a wrong or missing answer is told."""

import subprocess
import sys

import numpy as np
import pytest

from autograder.questions import check_choice, check_number

WHY = "Each head can attend to one offset."


def failure(check, *args, **options) -> str:
    with pytest.raises(AssertionError) as raised:
        check(*args, **options)
    return str(raised.value)


def test_a_right_number_passes_within_the_tolerance():
    check_number({"heads": 9}, "heads", 9, why=WHY)
    check_number({"weight": 0.52}, "weight", 0.537, atol=0.05, why=WHY)
    check_number({"weight": np.float32(1.3)}, "weight", 1.3, why=WHY)  # a NumPy scalar is a number too
    check_number({"output": [-1, 1.0]}, "output", (-1.0, 1.0), atol=1e-3, why=WHY)
    check_number({"output": np.array([-1.0, 1.0])}, "output", (-1.0, 1.0), why=WHY)


def test_a_wrong_number_fails_with_the_hint_and_without_the_answer():
    message = failure(check_number, {"heads": 3}, "heads", 9, why=WHY)
    assert message == f"heads = 3 is not right. {WHY}"
    assert "9" not in message
    message = failure(check_number, {"weight": 0.6}, "weight", 0.537, atol=0.05, why=WHY)
    assert "weight = 0.6 is not right" in message


def test_a_known_wrong_number_says_what_it_overlooks():
    wrong = {1.4: "that uses the biased variance."}
    message = failure(check_number, {"var": 1.4}, "var", 1.5667, wrong=wrong, why=WHY)
    assert message == f"var = 1.4 is not right: that uses the biased variance. {WHY}"
    # A wrong answer that is not in the catalogue gets the general hint alone.
    assert "biased" not in failure(check_number, {"var": 2.0}, "var", 1.5667, wrong=wrong, why=WHY)
    # Pairs work as well as a mapping, for tuples of numbers.
    message = failure(check_number, {"w": (0.99, 0.9)}, "w", (0.54, 0.54), atol=0.05,
                      wrong=[((0.99, 0.9), "that is plain SGD.")], why=WHY)
    assert "that is plain SGD." in message


@pytest.mark.parametrize("namespace", [{}, {"heads": None}, {"heads": ...}])
def test_a_missing_or_placeholder_answer_fails_with_what_to_do(namespace):
    message = failure(check_number, namespace, "heads", 9, why=WHY)
    assert "heads has no answer yet" in message and "answer cell" in message
    assert WHY not in message


@pytest.mark.parametrize("value", ["9", True, [9], {"heads": 9}, object()])
def test_an_answer_that_is_not_a_number_says_what_is_expected(value):
    assert "the answer is a number" in failure(check_number, {"heads": value}, "heads", 9, why=WHY)


@pytest.mark.parametrize("value", [1.0, [1.0], [1.0, 2.0, 3.0], "ab", [1.0, "x"]])
def test_a_tuple_answer_of_the_wrong_length_or_kind_says_how_many_numbers(value):
    message = failure(check_number, {"pair": value}, "pair", (1.0, 2.0), why=WHY)
    assert "the answer is 2 numbers, as a tuple or a list" in message


def test_a_choice_ignores_case_and_spaces():
    check_choice({"c": "  Layer_Norm "}, "c", "layer_norm", ["layer_norm", "instance_norm"], why=WHY)


def test_a_wrong_choice_fails_with_its_hint():
    choices = ["layer_norm", "instance_norm", "batch_norm"]
    message = failure(check_choice, {"c": "batch_norm"}, "c", "layer_norm", choices,
                      wrong={"batch_norm": "BatchNorm mixes the samples."}, why=WHY)
    assert message == f"c = 'batch_norm' is not right: BatchNorm mixes the samples. {WHY}"
    assert failure(check_choice, {"c": "instance_norm"}, "c", "layer_norm", choices, why=WHY) == (
        f"c = 'instance_norm' is not right. {WHY}"
    )


@pytest.mark.parametrize("value", ["group_norm", 3, ["layer_norm"]])
def test_an_answer_outside_the_choices_lists_them(value):
    message = failure(check_choice, {"c": value}, "c", "layer_norm", ["layer_norm", "instance_norm"], why=WHY)
    assert "is not one of the choices: set it to one of 'layer_norm', 'instance_norm'" in message
    assert WHY not in message


def test_a_pass_shows_the_report_the_grader_requires_and_nothing_on_stderr(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        shell.run_cell("from autograder.questions import check_number\nheads = 9")
        shown = shell.run_cell("check_number(globals(), 'heads', 9, why='')")
        assert shown.success
    finally:
        InteractiveShell.clear_instance()
    captured = capsys.readouterr()
    assert captured.out.strip() == "passed: heads = 9"  # the grader looks for this prefix (grading.REPORT_PREFIX)
    assert captured.err == ""


def test_importing_the_checks_does_not_import_torch():
    code = "import sys, autograder.questions; print('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


def test_numbers_computed_in_an_experiment_are_accepted():
    import torch

    check_number({"output": torch.tensor([-1.0, 1.0])}, "output", (-1.0, 1.0), why=WHY)
    check_number({"weight": torch.tensor(0.53)}, "weight", 0.537, atol=0.05, why=WHY)
    assert "the answer is a number" in failure(check_number, {"w": torch.ones(3)}, "w", 1.0, why=WHY)
