"""The catalog of mistakes students make, and the one ``diagnose`` that names them.

A ``Mistake`` is what a student reads: an id and the words. A mistake that
several operations share is worded once, here (epsilon outside the square
root, the unbiased variance, a flipped momentum, the wrong axes), with
``{placeholders}`` an exercise fills in. An exercise *plants* each mistake it
knows in its reference (``Planted``: the wrong function, and the calls of its
checks that must catch it); the tests that prove every planted mistake is
caught and named are generated from these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping


@dataclass(frozen=True)
class Mistake:
    """A known mistake: a stable id and the words a student reads.

    ``words`` may hold ``{placeholders}`` that each exercise fills in by calling the
    mistake; ``defaults`` fills them for the exercises that use the mistake as it is
    (``NO_EPS`` reads as batch normalization's unless an exercise gives its formula).
    """

    id: str
    words: str
    defaults: Mapping[str, str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if self.defaults:
            object.__setattr__(self, "_template", self.words)
            object.__setattr__(self, "words", self.words.format(**self.defaults))

    def __call__(self, **wording) -> "Mistake":
        """The same mistake, its placeholders filled in for one exercise."""
        template = getattr(self, "_template", self.words)
        return Mistake(self.id, template.format(**{**(self.defaults or {}), **wording}))


@dataclass(frozen=True)
class Convention(Mistake):
    """Another library's convention, which a student who follows that library writes.

    ``library`` names whose convention it is (``"CS231n"``, ``"Keras and Lightning"``);
    the words, which the exercise gives as for any mistake, say what the code does under that
    convention and what this exercise expects instead. A Convention renders as a mistake does
    ("Likely mistake: CS231n's convention: ..."), so the class report counts it with the others.
    """

    library: str = ""

    def __post_init__(self):
        super().__post_init__()
        if not self.library:
            raise ValueError(f"the convention {self.id} names no library")
        for attribute in ("words", "_template"):
            text = getattr(self, attribute, None)
            if text is not None and not text.startswith(f"{self.library}'s convention"):
                object.__setattr__(self, attribute, f"{self.library}'s convention: {text}")

    def __call__(self, **wording) -> "Convention":
        template = getattr(self, "_template", self.words)
        words = template.format(**{**(self.defaults or {}), **wording})
        return Convention(self.id, words, library=self.library)


@dataclass(frozen=True)
class Catch:
    """A call of a check that must catch a planted mistake: ``getattr(module, check)(planted, *args, **kwargs)``.

    ``check`` is the name of one of the exercise module's check functions.
    """

    check: str
    kwargs: dict
    args: tuple = ()


@dataclass(frozen=True)
class Recipe:
    """How a planted function is made, so that two planted mistakes can be turned on together.

    ``base`` is the planted implementation and ``switch`` the keywords (as sorted pairs)
    that plant the mistake; ``positional``: the function takes a check's arguments by
    position only (``by_position``); ``run_as`` turns what ``base`` gives into what a check
    runs (a planted class into a function of the check's arguments), or None.
    """

    base: Callable
    switch: tuple = ()
    positional: bool = False
    run_as: Callable | None = None

    def function(self, switch: Mapping) -> Callable:
        base = self.base
        if self.positional:
            made = _Positional(base, dict(switch))
        else:
            made = lambda *args, **kwargs: base(*args, **kwargs, **switch)  # noqa: E731
        return self.run_as(made) if self.run_as else made


@dataclass(frozen=True)
class Planted:
    """A mistake planted in the reference: the wrong implementation, and the checks that catch it.

    ``function`` has the student's signature (a function, or a class for the
    exercises that ask for one); ``caught_by`` lists the check calls that must
    fail on it and name it. ``recipe`` (set by ``plant``) says how ``function`` was
    made, so that diagnosis can turn this mistake on together with another one of the
    same base (``autograder.core.diagnosis``); ``excludes`` holds the ids of mistakes
    that cannot come together with this one, beyond those that set the same switch.
    """

    mistake: Mistake
    function: Callable
    caught_by: tuple[Catch, ...] = ()
    recipe: Recipe | None = field(default=None, compare=False)
    excludes: frozenset = frozenset()

    @property
    def words(self) -> str:
        return self.mistake.words

    def excluding(self, *ids: str) -> "Planted":
        """This planted mistake, declared unable to come together with the mistakes ``ids``."""
        return replace(self, excludes=self.excludes | frozenset(ids))

    def wrapped(self, wrap: Callable[[Callable], Callable]) -> "Planted":
        """This planted mistake run through ``wrap`` (a planted class made a function of a check's arguments)."""
        recipe = self.recipe and replace(self.recipe, run_as=_then(self.recipe.run_as, wrap))
        return replace(self, function=wrap(self.function), recipe=recipe)


def _then(first: Callable | None, second: Callable) -> Callable:
    return second if first is None else (lambda made: second(first(made)))


def catch(check: str, *args, **kwargs) -> Catch:
    return Catch(check, kwargs, args)


class _Positional:
    """``function`` with the keywords ``switch`` on, taking a check's arguments by position only."""

    def __init__(self, function: Callable, switch: dict):
        self.function, self.switch = function, switch

    def __call__(self, *args):
        return self.function(*args, **self.switch)


def by_position(function: Callable, **switch) -> Callable:
    """``function`` with the keywords ``switch`` on, taking a check's arguments by position only.

    A student's function is called by position; a check that also passes keywords to what it
    tests (a module check, its constructor's arguments) fails such a planted function with a
    TypeError that names this wrapper, not the planted function's own keywords.
    """
    return _Positional(function, switch)


def plant(function: Callable, mistake: Mistake, *catches: Catch, **switch) -> Planted:
    """``mistake``, planted by calling ``function`` with the keywords ``switch``, and the check calls that catch it.

    ``function`` may be ``by_position(base, **switch)``. Either way the planted mistake keeps
    its recipe, so that it combines with the other mistakes planted in the same base.
    """
    if isinstance(function, _Positional):
        merged = {**function.switch, **switch}
        recipe = Recipe(function.function, tuple(sorted(merged.items())), positional=True)
        return Planted(mistake, recipe.function(merged), catches, recipe)
    recipe = Recipe(function, tuple(sorted(switch.items())))
    if not switch:
        return Planted(mistake, function, catches, recipe)
    return Planted(mistake, recipe.function(switch), catches, recipe)


def diagnose(actual, expected, planted: Iterable[Planted], run: Callable[[Callable], object],
             agree: Callable[[object, object], bool]) -> Mistake | None:
    """The first mistake of ``autograder.core.diagnosis.diagnose``'s answer, or None (one mistake is all some checks name)."""
    from .diagnosis import diagnose as search

    found = search(actual, expected, planted, run, agree)
    return found.mistakes[0] if found.mistakes else None


# --- mistakes that several exercises share -----------------------------------------

# Batch normalization's formula; an exercise with another one (RMSNorm) gives its own.
_NORMALIZE = {"statistic": "variance", "root": "the standard deviation", "formula": "(x - mean) / sqrt(var + eps)"}
EPS_OUTSIDE_SQRT = Mistake(
    "eps_outside_sqrt", "epsilon is added outside the square root. Use {formula}.", defaults=_NORMALIZE
)
UNBIASED_VARIANCE = Mistake(
    "unbiased_variance",
    "the variance used to normalize is the unbiased one (divided by n - 1). {operation} normalizes "
    "with the biased variance (divided by n), e.g. {code}.",
)
NO_SQRT = Mistake(
    "no_sqrt",
    "the input is divided by the {statistic}, not by {root}: take the square root, {formula}.",
    defaults=_NORMALIZE,
)
NO_EPS = Mistake(
    "no_eps", "eps is left out. Add it to the {statistic} inside the square root: {formula}.", defaults=_NORMALIZE
)
# CS231n's assignment 2 (and Keras' BatchNormalization) write the running statistics their own way.
# The exercise mirrors torch.nn.functional.batch_norm, so a student who followed CS231n is told
# whose convention that is and which one the exercise uses; it is not accepted.
BIASED_RUNNING_VAR = Convention(
    "biased_running_var",
    "running_var is updated with the biased variance (divided by n), the one that normalizes. "
    "This exercise follows PyTorch, which stores the unbiased variance (divided by n - 1) in running_var "
    "while it normalizes with the biased one.",
    library="CS231n",
)
FLIPPED_MOMENTUM = Convention(
    "flipped_momentum",
    "momentum weighs the old value, running = momentum * running + (1 - momentum) * batch_statistic "
    "(as in Keras too). This exercise follows PyTorch: running = (1 - momentum) * running + momentum * "
    "batch_statistic, so momentum=0.1 gives the new batch a weight of 0.1.",
    library="CS231n",
)
BATCH_STATS_IN_EVAL = Mistake(
    "batch_stats_in_eval",
    "evaluation mode (training=False) normalizes with the batch statistics. "
    "In evaluation mode use running_mean and running_var, and leave them unchanged.",
)
WRONG_AXES = Mistake("wrong_axes", "the statistics are taken over {axes}. {rule}")
UNSTABLE_SOFTMAX = Mistake(
    "unstable_softmax",
    "the softmax is not numerically stable: {detail}. Subtract the maximum along the softmax axis "
    "before exp(); the result does not change, since softmax(x) = softmax(x - c).",
)
UNSCALED_SCORES = Mistake("unscaled_scores", "the scores are not divided by sqrt({size}){advice}.")
DETACHED = Mistake(
    "detached",
    "the {what} is cut off from autograd ({how}), so {consequence}. Compute it with torch operations "
    "and return the tensor.",
)
