"""Diagnosis names every mistake of a wrong result: one planted mistake, several together, aspect by aspect."""

import pytest
import torch

from autograder.batch_norm import BATCH_NORM, EVAL_WITHOUT_AFFINE, check_batch_norm
from autograder.core import diagnosis
from autograder.core.devices import run_on_simulated_cuda
from autograder.core.failure import CheckFailed, named_mistakes
from autograder.core.mistakes import (
    BIASED_RUNNING_VAR, EPS_OUTSIDE_SQRT, FLIPPED_MOMENTUM, Convention, Mistake, by_position, plant,
)


def _planted(mistake):
    return next(p for p in BATCH_NORM.planted if p.mistake == mistake)


def _failure(function, **arguments) -> str:
    with pytest.raises(CheckFailed) as raised:
        check_batch_norm(function, devices=["cpu"], **arguments)
    return str(raised.value)


def test_two_mistakes_of_one_implementation_are_named_together():
    both = diagnosis.combine((_planted(EPS_OUTSIDE_SQRT), _planted(BIASED_RUNNING_VAR))).function
    message = _failure(both, shape=(6, 3, 2, 2), training=True, eps=0.5, scale=0.3, seed=7)
    assert named_mistakes(message) == [EPS_OUTSIDE_SQRT.words, BIASED_RUNNING_VAR.words]
    assert "Hint: " not in message


def test_an_aspect_that_no_mistake_explains_does_not_hide_the_one_that_one_explains():
    planted = _planted(FLIPPED_MOMENTUM).function

    def flipped_and_off_by_one(*args):
        return planted(*args) + 1.0  # an output bug the catalog does not know

    message = _failure(flipped_and_off_by_one, shape=(16, 5), training=True, momentum=0.3)
    assert named_mistakes(message) == [FLIPPED_MOMENTUM.words]
    assert "Hint: the output is off by a constant 1" in message


def test_mistakes_that_set_the_same_switch_or_are_declared_exclusive_never_combine():
    def base(x, *, a="right", b="right"):
        return x

    one, two, three = (plant(base, Mistake(f"m{i}", f"words {i}"), **switch)
                       for i, switch in enumerate(({"a": 1}, {"a": 2}, {"b": 1})))
    assert not diagnosis.can_combine((one, two))
    assert diagnosis.can_combine((one, three))
    assert not diagnosis.can_combine((one.excluding("m2"), three))
    positional = plant(by_position(base, b=2), Mistake("m3", "words 3"))
    assert not diagnosis.can_combine((one, positional))  # one by keyword, one by position


def test_a_convention_names_whose_convention_it_is_and_what_the_exercise_expects():
    assert isinstance(FLIPPED_MOMENTUM, Convention)
    assert FLIPPED_MOMENTUM.words.startswith("CS231n's convention: ")
    assert "This exercise follows PyTorch" in FLIPPED_MOMENTUM.words
    with pytest.raises(ValueError):
        Convention("x", "words", library="")


def test_a_mistake_that_is_right_on_these_inputs_is_never_named():
    # Without weight and bias, leaving them out in evaluation mode changes nothing.
    eval_plain = _planted(EVAL_WITHOUT_AFFINE).function
    check_batch_norm(eval_plain, training=False, affine=False, devices=["cpu"])


def test_the_simulated_gpu_names_a_cpu_tensor_kept_as_an_attribute():
    class Shift:
        def __init__(self):
            self.offset = torch.ones(4)  # made on the CPU in __init__, never moved

        def __call__(self, x):
            return x + self.offset

    class Scale:
        def __init__(self):
            self.scale = torch.tensor(2.0)  # a 0-dim CPU tensor mixes with cuda ones on a real GPU too

        def __call__(self, x):
            return x * self.scale

    run = run_on_simulated_cuda(Shift(), [torch.randn(3, 4)])
    assert run.problem and "kept as an attribute" in run.problem and run.inconclusive is None
    run = run_on_simulated_cuda(Scale(), [torch.randn(3, 4)])
    assert run.problem is None and run.inconclusive is None and run.result.device.type == "cuda"


def test_when_two_combinations_give_the_result_only_what_they_share_is_named():
    # Each of a, b and c alone shifts x; c and b together give the same result as a and b:
    # the result holds b for certain, and a or c, which these inputs cannot tell apart.
    def base(x, *, a=False, b=False, c=False):
        return x + (1 if a or c else 0) + (10 if b else 0) + (0.5 if c and not b else 0)

    planted = [plant(base, Mistake(name, f"words {name}"), **{name: True}) for name in "abc"]
    x = torch.zeros(3)
    found = diagnosis.diagnose(x + 11, x, planted, run=lambda f: f(x), agree=torch.equal)
    assert found.undecided and [m.id for m in found.mistakes] == ["b"]
    single = diagnosis.diagnose(x + 1.5, x, planted, run=lambda f: f(x), agree=torch.equal)
    assert not single.undecided and [m.id for m in single.mistakes] == ["c"]
