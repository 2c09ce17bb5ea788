"""Generated from the registry: every mistake a spec plants is caught, and named, by the checks it lists.

The declarations live in each spec's ``planted``; the registry
(``autograder.registry``) says which assignment grades each spec and what the
student's function is called. Adding a mistake to a spec adds its tests here.
"""

import functools
import re

import pytest

from autograder import registry
from autograder.core.failure import CheckFailed, named_mistake
from autograder.core.mistakes import Planted
from conftest import ROOT
from helpers import solution_namespace

# (assignment, package, spec) for every spec of the course, in the registry's order.
SPECS = [(a, name, spec) for a in registry.ASSIGNMENTS for name in a.packages
         for spec in registry.package(name).SPECS]
CASES = [
    pytest.param(name, planted, catch, id=f"{spec.name}-{planted.mistake.id}-{i}")
    for _, name, spec in SPECS for planted in spec.planted for i, catch in enumerate(planted.caught_by)
]


@pytest.mark.parametrize("package, planted, catch", CASES)
def test_a_planted_mistake_is_caught_and_named(package, planted, catch):
    check = getattr(registry.package(package), catch.check)
    with pytest.raises(CheckFailed) as raised:
        check(planted.function, *catch.args, **catch.kwargs)
    assert named_mistake(str(raised.value)) == planted.words, str(raised.value)


@pytest.mark.parametrize("assignment, package, spec", SPECS, ids=lambda v: getattr(v, "name", v))
def test_every_spec_declares_its_mistakes_with_the_checks_that_catch_them(assignment, package, spec):
    assert spec.name in assignment.functions, f"the registry does not say what {spec.name} is called"
    assert spec.planted, f"{spec.name} plants no mistake"
    for planted in spec.planted:
        assert isinstance(planted, Planted)
        assert planted.caught_by, f"{spec.name}: nothing must catch {planted.mistake.id}"
        for catch in planted.caught_by:
            assert callable(getattr(registry.package(package), catch.check, None)), f"{package} has no {catch.check}"


@pytest.mark.parametrize("package", registry.packages())
def test_a_package_s_mistakes_are_its_specs_planted_mistakes(package):
    module = registry.package(package)
    assert list(module.MISTAKES) == [p for spec in module.SPECS for p in spec.planted]


def test_every_function_the_registry_names_has_its_spec():
    for assignment in registry.ASSIGNMENTS:
        assert set(assignment.functions) == set(registry.specs(assignment)), assignment.name


# --- the catalog's words ------------------------------------------------------------

def _shared_mistakes() -> dict:
    from autograder.core import mistakes

    return {value.id: value for value in vars(mistakes).values() if isinstance(value, mistakes.Mistake)}


def _reads_as(template: str, words: str) -> bool:
    """Whether ``words`` are ``template`` with its placeholders filled in."""
    parts = re.split(r"\{[a-z_]+\}", template)
    return re.fullmatch(".+?".join(re.escape(part) for part in parts), words, re.DOTALL) is not None


@pytest.mark.parametrize("name", registry.packages())
def test_a_planted_mistake_with_a_shared_id_is_the_shared_mistake(name):
    """An exercise's own mistake has an id of its own; one with a shared id reads as the shared words."""
    shared = _shared_mistakes()
    for planted in registry.package(name).MISTAKES:
        original = shared.get(planted.mistake.id)
        if original is not None:
            template = getattr(original, "_template", original.words)
            assert _reads_as(template, planted.words), (name, planted.mistake.id, planted.words)


def test_no_two_mistakes_share_their_words():
    """Two ids for the same words would split one mistake in the class report."""
    ids_by_words = {}
    for mistake in [*_shared_mistakes().values(), *(p.mistake for _, _, spec in SPECS for p in spec.planted)]:
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
# student writes them, apart from the references the checks compare with): the function or
# class that the registry names for the spec the mistake is planted in.


@functools.cache
def _solutions(notebook: str) -> dict:
    return solution_namespace(ROOT / "solutions" / notebook / f"{notebook}.ipynb")


CHECK_CALLS = {}
for assignment, package, spec in SPECS:
    for planted in spec.planted:
        for catch in planted.caught_by:
            key = (package, spec.name, catch.check, repr(catch.args), repr(sorted(catch.kwargs.items())))
            CHECK_CALLS.setdefault(key, (assignment, package, spec, catch))


@pytest.mark.parametrize("assignment, package, spec, catch", [
    pytest.param(*value, id=f"{key[1]}-{key[2]}-{i}") for i, (key, value) in enumerate(CHECK_CALLS.items())
])
def test_each_check_that_catches_a_mistake_passes_a_correct_implementation(assignment, package, spec, catch):
    correct = _solutions(assignment.name)[assignment.functions[spec.name]]
    report = getattr(registry.package(package), catch.check)(correct, *catch.args, **catch.kwargs)
    assert report.devices, f"{catch.check} ran on no device"
