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

from dataclasses import dataclass, field
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
class Catch:
    """A call of a check that must catch a planted mistake: ``getattr(module, check)(planted, *args, **kwargs)``.

    ``check`` is the name of one of the exercise module's check functions.
    """

    check: str
    kwargs: dict
    args: tuple = ()


@dataclass(frozen=True)
class Planted:
    """A mistake planted in the reference: the wrong implementation, and the checks that catch it.

    ``function`` has the student's signature (a function, or a class for the
    exercises that ask for one); ``caught_by`` lists the check calls that must
    fail on it and name it.
    """

    mistake: Mistake
    function: Callable
    caught_by: tuple[Catch, ...] = ()

    @property
    def words(self) -> str:
        return self.mistake.words


def catch(check: str, *args, **kwargs) -> Catch:
    return Catch(check, kwargs, args)


def by_position(function: Callable, **switch) -> Callable:
    """``function`` with the keywords ``switch`` on, taking a check's arguments by position only.

    A student's function is called by position; a check that also passes keywords to what it
    tests (a module check, its constructor's arguments) fails such a planted function with a
    TypeError that names this wrapper, not the planted function's own keywords.
    """
    return _planted(function, switch)


def _planted(function: Callable, switch: dict) -> Callable:
    return lambda *args: function(*args, **switch)


def plant(function: Callable, mistake: Mistake, *catches: Catch, **switch) -> Planted:
    """``mistake``, planted by calling ``function`` with the keywords ``switch``, and the check calls that catch it."""
    if not switch:
        return Planted(mistake, function, catches)
    return Planted(mistake, lambda *args, **kwargs: function(*args, **kwargs, **switch), catches)


def diagnose(
    actual,
    expected,
    planted: Iterable[Planted],
    run: Callable[[Callable], object],
    agree: Callable[[object, object], bool],
) -> Mistake | None:
    """Name the first planted mistake whose result the student's result agrees with.

    ``run(function)`` gives a planted function's result on the same inputs (or
    raises, and then that mistake says nothing); ``agree(a, b)`` compares two
    results as the check does. A mistake that gives the right result on these
    inputs cannot be told apart from a correct answer and is skipped.
    """
    for candidate in planted:
        try:
            wrong = run(candidate.function)
        except Exception:  # noqa: BLE001 - a variant that cannot run on these inputs says nothing
            continue
        if agree(wrong, expected):
            continue
        if agree(actual, wrong):
            return candidate.mistake
    return None


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
BIASED_RUNNING_VAR = Mistake(
    "biased_running_var",
    "running_var is updated with the biased variance. PyTorch stores the unbiased variance "
    "(divided by n - 1) in running_var, while it normalizes with the biased one.",
)
FLIPPED_MOMENTUM = Mistake(
    "flipped_momentum",
    "the momentum convention is flipped. PyTorch computes "
    "running = (1 - momentum) * running + momentum * batch_statistic, "
    "so momentum=0.1 gives the new batch a weight of 0.1.",
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
