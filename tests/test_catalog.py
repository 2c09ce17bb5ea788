"""Generated from the catalog: every mistake an exercise plants is caught, and named, by the checks it lists.

The declarations live in each exercise module's ``MISTAKES``; adding a mistake
there adds its tests here.
"""

from importlib import import_module

import pytest

import autograder
from autograder.core.failure import CheckFailed, named_mistake
from autograder.core.mistakes import Planted

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


def test_a_shared_mistake_reads_the_same_wherever_it_is_planted_without_wording():
    from autograder.core import mistakes

    shared = {value.id: value for value in vars(mistakes).values() if isinstance(value, mistakes.Mistake)}
    for name, module in MODULES.items():
        for planted in module.MISTAKES:
            original = shared.get(planted.mistake.id)
            if original is not None and "{" not in original.words:
                assert planted.words == original.words, (name, planted.mistake.id)
