"""Generated from the catalog: every mistake an exercise plants is caught, and named, by the checks it lists.

The declarations live in each exercise module's ``MISTAKES``; adding a mistake
there adds its tests here.
"""

import functools
import re
from importlib import import_module

import pytest

import autograder
from autograder.core.failure import CheckFailed, named_mistake
from autograder.core.mistakes import Planted
from conftest import ROOT
from helpers import solution_namespace

MODULES = {name: import_module(f"autograder.{name}") for name in autograder.EXERCISES}
CASES = [
    pytest.param(module, planted, catch, id=f"{name}-{planted.mistake.id}-{i}")
    for name, module in MODULES.items()
    for planted in module.MISTAKES
    for i, catch in enumerate(planted.caught_by)
]


@pytest.mark.parametrize("module, planted, catch", CASES)
def test_a_planted_mistake_is_caught_and_named(module, planted, catch):
    check = getattr(module, catch.check)
    with pytest.raises(CheckFailed) as raised:
        check(planted.function, *catch.args, **catch.kwargs)
    assert named_mistake(str(raised.value)) == planted.words, str(raised.value)


@pytest.mark.parametrize("name", MODULES)
def test_every_exercise_declares_its_mistakes_with_the_checks_that_catch_them(name):
    module = MODULES[name]
    assert module.MISTAKES, f"{name} declares no mistakes"
    for planted in module.MISTAKES:
        assert isinstance(planted, Planted)
        assert planted.caught_by, f"{name}: nothing must catch {planted.mistake.id}"
        for catch in planted.caught_by:
            assert callable(getattr(module, catch.check, None)), f"{name} has no check {catch.check}"


# --- the catalog's words ------------------------------------------------------------

def _shared_mistakes() -> dict:
    from autograder.core import mistakes

    return {value.id: value for value in vars(mistakes).values() if isinstance(value, mistakes.Mistake)}


def _reads_as(template: str, words: str) -> bool:
    """Whether ``words`` are ``template`` with its placeholders filled in."""
    parts = re.split(r"\{[a-z_]+\}", template)
    return re.fullmatch(".+?".join(re.escape(part) for part in parts), words, re.DOTALL) is not None


@pytest.mark.parametrize("name", MODULES)
def test_a_planted_mistake_with_a_shared_id_is_the_shared_mistake(name):
    """An exercise's own mistake has an id of its own; one with a shared id reads as the shared words."""
    shared = _shared_mistakes()
    for planted in MODULES[name].MISTAKES:
        original = shared.get(planted.mistake.id)
        if original is not None:
            template = getattr(original, "_template", original.words)
            assert _reads_as(template, planted.words), (name, planted.mistake.id, planted.words)


def test_no_two_mistakes_share_their_words():
    """Two ids for the same words would split one mistake in the class report."""
    ids_by_words = {}
    for mistake in [*_shared_mistakes().values(), *(p.mistake for m in MODULES.values() for p in m.MISTAKES)]:
        ids_by_words.setdefault(mistake.words, set()).add(mistake.id)
    assert {words: ids for words, ids in ids_by_words.items() if len(ids) > 1} == {}


def test_a_shared_mistake_used_as_it_is_keeps_its_words_and_an_exercise_may_give_its_formula():
    from autograder.core.mistakes import EPS_OUTSIDE_SQRT, NO_EPS, NO_SQRT

    assert EPS_OUTSIDE_SQRT.words == "epsilon is added outside the square root. Use (x - mean) / sqrt(var + eps)."
    assert NO_EPS.words == (
        "eps is left out. Add it to the variance inside the square root: (x - mean) / sqrt(var + eps).")
    assert NO_SQRT.words == ("the input is divided by the variance, not by the standard deviation: "
                             "take the square root, (x - mean) / sqrt(var + eps).")
    rms = EPS_OUTSIDE_SQRT(formula="x / sqrt(mean(x²) + eps)")
    assert rms.id == EPS_OUTSIDE_SQRT.id
    assert rms.words == "epsilon is added outside the square root. Use x / sqrt(mean(x²) + eps)."
    assert NO_EPS(statistic="mean square", formula="x / sqrt(mean(x²) + eps)").words == (
        "eps is left out. Add it to the mean square inside the square root: x / sqrt(mean(x²) + eps).")


# --- every catch passes a correct implementation ---------------------------------------
# A check that a correct implementation cannot pass would catch every planted mistake, and
# prove nothing. The correct implementations are the solution notebooks' (written as a
# student writes them, apart from the references the checks compare with): for each check,
# the notebook and the name of the function or class it is called with.

NOTEBOOK = {"dropout": "regularization", "early_stopping": "regularization", "penalties": "regularization"}
CORRECT = {
    "check_softmax": "softmax",
    "check_softmax_rows_sum_to_one": "softmax",
    "check_scaled_dot_product_attention": "scaled_dot_product_attention",
    "check_attention_ignores_masked_keys": "scaled_dot_product_attention",
    "check_multihead_attention": "MultiheadAttention",
    "check_multihead_attention_permutation_equivariant": "MultiheadAttention",
    "check_batch_norm": "batch_norm",
    "check_batch_norm_backward": "batch_norm_backward",
    "check_batch_norm_backward_numeric": "batch_norm_backward",
    "check_fit_min_max": "fit_min_max",
    "check_min_max_rejects_bad_input": "fit_min_max",
    "check_min_max_transform": "min_max_transform",
    "check_min_max_inverse": "min_max_inverse",
    "check_fit_standard": "fit_standard",
    "check_standard_rejects_bad_input": "fit_standard",
    "check_standard_transform": "standard_transform",
    "check_standard_inverse": "standard_inverse",
    "check_layer_norm": "layer_norm",
    "check_group_norm": "group_norm",
    "check_instance_norm": "instance_norm",
    "check_rms_norm": "rms_norm",
    "check_sinusoidal_positional_encoding": "sinusoidal_positional_encoding",
    "check_transformer_encoder_layer": "TransformerEncoderLayer",
    "check_transformer_encoder_layer_eval": "TransformerEncoderLayer",
    "check_early_stopping": "EarlyStopping",
    "check_early_stopping_rejects_mode": "EarlyStopping",
    # The penalty checks take the kind ("l1" or "l2") first.
    "check_penalty": lambda kind, *args: f"{kind}_penalty",
    "check_penalty_of_model": lambda kind, *args: f"{kind}_penalty",
    "check_penalty_of_nothing": lambda kind, *args: f"{kind}_penalty",
}
CORRECT.update(dict.fromkeys(
    [f"check_dropout_{name}" for name in ("scale", "mean", "eval", "fraction", "p_zero_and_one", "rejects_p", "seed",
                                          "gradient", "inplace")], "dropout"))


@functools.cache
def _solutions(notebook: str) -> dict:
    return solution_namespace(ROOT / "solutions" / notebook / f"{notebook}.ipynb")


def _correct(name: str, catch):
    implementation = CORRECT[catch.check]
    if callable(implementation):
        implementation = implementation(*catch.args)
    return _solutions(NOTEBOOK.get(name, name))[implementation]


CHECK_CALLS = {}
for name, module in MODULES.items():
    for planted in module.MISTAKES:
        for catch in planted.caught_by:
            CHECK_CALLS.setdefault((name, catch.check, repr(catch.args), repr(sorted(catch.kwargs.items()))), catch)


@pytest.mark.parametrize("name, catch", [
    pytest.param(key[0], catch, id=f"{key[0]}-{key[1]}-{i}") for i, (key, catch) in enumerate(CHECK_CALLS.items())
])
def test_each_check_that_catches_a_mistake_passes_a_correct_implementation(name, catch):
    report = getattr(MODULES[name], catch.check)(_correct(name, catch), *catch.args, **catch.kwargs)
    assert report.devices, f"{catch.check} ran on no device"


def test_every_check_that_catches_a_mistake_has_a_correct_implementation():
    assert {catch.check for catch in CHECK_CALLS.values()} <= set(CORRECT)
