"""Generated from the registry: every mistake a spec plants is caught, and named, by the checks it lists.

The declarations live in each spec's ``planted``; the registry
(``autograder.registry``) says which assignment grades each spec and what the
student's function is called. Adding a mistake to a spec adds its tests here.
"""

import functools
import inspect
import re

import pytest

from autograder import registry
from autograder.core import diagnosis, engine
from autograder.core.spec import Operation
from autograder.core.failure import CheckFailed, named_mistakes
from autograder.core.mistakes import Convention, Planted
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
    named = named_mistakes(str(raised.value))
    # A convention that is two planted mistakes at once is named after them.
    assert named[-1:] == [planted.words] and set(named[:-1]) <= _components(planted), str(raised.value)


def _components(planted: Planted) -> set:
    spec = next(spec for _, _, spec in SPECS if planted in spec.planted)
    return {m.words for m in diagnosis._components(planted, spec.planted)} if isinstance(
        planted.mistake, Convention) else set()


# --- mistakes that come together ------------------------------------------------------
# Every pair of mistakes planted in one spec that can combine (the same planted implementation,
# different switches, not declared exclusive) is generated here. It is distinguishable on a
# catch of either mistake where each mistake alone fails the check and the two together give
# other differences than either alone. On the first such catch, the check must name both, and
# nothing else but a convention that is exactly these two; or, where a planted mistake of its
# own is exactly these two (the statistics treated as constants: no path through the mean and
# none through the variance), that one.

PAIRS = [
    pytest.param(name, spec, a, b, id=f"{spec.name}-{a.mistake.id}+{b.mistake.id}")
    for _, name, spec in SPECS for a, b in diagnosis.pairs(spec.planted)
]
_OUTCOMES: dict = {}


def _outcome(package: str, key, function, catch) -> str | None:
    """The failure message of ``catch`` on ``function`` (None: it passed), on the CPU; computed once."""
    key = (package, key, repr(catch))
    if key not in _OUTCOMES:
        check = getattr(registry.package(package), catch.check)
        kwargs = dict(catch.kwargs)
        if "devices" in inspect.signature(check).parameters:
            kwargs.setdefault("devices", ["cpu"])  # the simulated GPU cannot tell mistakes apart
        try:
            check(function, *catch.args, **kwargs)
            _OUTCOMES[key] = None
        except CheckFailed as failed:
            _OUTCOMES[key] = str(failed)
    return _OUTCOMES[key]


def _key(planted: Planted) -> tuple:
    """What tells one planted mistake from another: two may share their words (two wrong axes)."""
    return planted.mistake.id, planted.words, repr(planted.recipe and planted.recipe.switch)


def _differences(message: str) -> list[str]:
    """What a failure says is wrong, without what it says the cause is."""
    return [line for line in message.splitlines() if not line.startswith(("Likely mistake: ", "Hint: "))]


def _told_apart(spec, catch, together, alone, message, messages) -> bool:
    """Whether ``catch`` tells the two mistakes together from each alone.

    For an operation, its results (output and state) are compared as the check compares
    them: where the two together agree with one alone, or one alone is right while the two
    together are wrong, they cannot be told apart on these results. Where they
    differ only in gradients, or for a module or a class, the differences the failures
    report must not be the same.
    """
    if isinstance(spec, Operation) and not catch.args and "devices" not in catch.kwargs:
        arguments = spec.make_arguments(**{k: v for k, v in catch.kwargs.items() if k != "gradients"})
        run = lambda function: engine._run_reference(function, arguments, "cpu", ())  # noqa: E731
        try:
            both, results = run(together), [run(one) for one in alone]
        except Exception:  # noqa: BLE001 - a mistake that cannot run on these inputs: nothing to compare
            return False
        same = lambda a, b: not engine._compare_results(a, b, spec.compared_as, spec.state, spec.outputs)  # noqa: E731
        if any(same(both, one) for one in results):
            return False
        right = run(spec.reference)
        if not same(both, right) and any(same(one, right) for one in results):
            return False  # one mistake alone is right here: diagnosis sets it aside, alone and combined
        if not catch.kwargs.get("gradients"):
            return True
    return all(_differences(message) != _differences(one) for one in messages)


def _switches(planted: Planted) -> set:
    return set(planted.recipe.switch) if planted.recipe is not None else set()


@pytest.mark.parametrize("package, spec, a, b", PAIRS)
def test_two_planted_mistakes_together_are_both_named(package, spec, a, b):
    together = diagnosis.combine((a, b))
    catches = list({repr(c): c for c in a.caught_by + b.caught_by}.values())
    for catch in catches:
        alone = [_outcome(package, _key(p), p.function, catch) for p in (a, b)]
        if None in alone:
            continue
        message = _outcome(package, ("pair", _key(a), _key(b)), together.function, catch)
        assert message is not None, f"{catch} passes {a.mistake.id} and {b.mistake.id} together"
        if not _told_apart(spec, catch, together.function, (a.function, b.function), message, alone):
            continue  # one mistake hides the other on these inputs
        break
    else:
        pytest.skip("no catch of either mistake tells the two together from each alone")
    named = set(named_mistakes(message))
    union = _switches(a) | _switches(b)
    same_as_pair = {p.words for p in spec.planted if _switches(p) == union}
    # A convention that is two planted mistakes is named with them; so is one that is exactly this pair.
    conventions = {p.words for p in spec.planted if isinstance(p.mistake, Convention) and _switches(p) == union}
    pair = {a.words, b.words}
    allowed = pair | conventions | _components(a) | _components(b)
    # Each mistake is named; a convention that is two mistakes may be named by those of them that show.
    shown = all(p.words in named or named & _components(p) for p in (a, b))
    if engine.UNDECIDED in message:
        # Another combination gives the same result on these inputs: the pair is not one that can be
        # told apart, and the failure names only what every such combination holds, never more.
        assert named <= allowed, message
        return
    assert (shown and named <= allowed) or (named and named <= same_as_pair), message


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
