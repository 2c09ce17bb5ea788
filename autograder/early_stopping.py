"""Checks for the early-stopping exercise.

PyTorch has no early stopping, so the contract is the course's, and
``EarlyStopping`` below is its reference:

* ``EarlyStopping(patience=5, min_delta=0.0, mode="min")``; ``mode`` is
  ``"min"`` for a metric to decrease (a loss) and ``"max"`` for one to increase
  (an accuracy); any other mode raises ``ValueError``.
* ``step(metric, model)`` is called once per epoch and returns a bool: True
  when training should stop. The epochs are counted from 0 by the calls.
* A step *improves* when the metric is not NaN and either it is the first
  such metric, or it beats the best so far by more than ``min_delta``:
  ``metric < best_score - min_delta`` in mode "min",
  ``metric > best_score + min_delta`` in mode "max". A tie does not improve,
  nor does NaN.
* An improving step records ``best_score`` (the metric, a float),
  ``best_epoch`` (its epoch) and a deep copy of ``model.state_dict()``, resets
  the count of steps without improvement to 0 and returns False. Any other step
  adds 1 to that count and returns True when the count exceeds ``patience``:
  ``patience`` steps in a row without improvement are tolerated, the next one
  stops. (The same convention as ``torch.optim.lr_scheduler.ReduceLROnPlateau``.)
* Before the first improvement ``best_score`` and ``best_epoch`` are None.
* ``restore(model)`` loads the saved copy into ``model``. ``step`` never
  changes the model.

The checks feed a scripted validation curve (a list of numbers) to the
student's class and to the reference, with a small ``nn.Linear`` whose weights
are set to a value that identifies the epoch before each step (in place, as an
optimizer does), so that the restored weights tell which epoch was saved.
The known mistakes are planted in the reference through keyword switches;
a student's class is named after a mistake when it behaves like the planted
one on the failing curve and on every probe curve.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn

from .core import integrity
from .core.calling import call_student
from .core.checks import Report, check, check_raises, fail_diagnosed
from .core.failure import CheckFailed, Failure
from .core.mistakes import Mistake, Planted, catch

NAME = "EarlyStopping"

# --- the mistakes ----------------------------------------------------------------------

STOPS_EARLY = Mistake(
    "early_stopping.stops_early",
    "training stops one step too early: the count of steps without improvement must exceed patience "
    "(count > patience), not reach it. patience=2 tolerates 2 such steps and stops at the 3rd.",
)
STOPS_LATE = Mistake(
    "early_stopping.stops_late",
    "training stops one step too late: stop as soon as the count of steps without improvement exceeds "
    "patience (count > patience).",
)
NO_RESET = Mistake(
    "early_stopping.no_reset", "the count of steps without improvement is not reset to 0 when the metric improves."
)
TIES_IMPROVE = Mistake(
    "early_stopping.ties_improve",
    "a metric equal to the best (or better by exactly min_delta) counts as an improvement. An improvement "
    "must be strictly better than best_score by more than min_delta.",
)
MIN_DELTA_IGNORED = Mistake(
    "early_stopping.min_delta_ignored",
    "min_delta is ignored. In mode \"min\" a step improves only when metric < best_score - min_delta (in mode "
    "\"max\": metric > best_score + min_delta).",
)
MIN_DELTA_SIGN = Mistake(
    "early_stopping.min_delta_sign",
    "min_delta is applied in the wrong direction for this mode. In mode \"min\" a step improves when "
    "metric < best_score - min_delta; in mode \"max\" when metric > best_score + min_delta.",
)
MODE_IGNORED = Mistake(
    "early_stopping.mode_ignored",
    "mode is ignored. With mode=\"max\" a larger metric is better (an accuracy); with mode=\"min\" a smaller "
    "one (a loss).",
)
NAN_IMPROVES = Mistake(
    "early_stopping.nan_improves",
    "NaN is treated as an improvement (or becomes the best score). NaN never improves: every comparison with "
    "NaN is False, so test `metric < best_score - min_delta`, not `not metric >= ...`, and do not take a NaN "
    "first value as the best.",
)
NAN_SKIPPED = Mistake(
    "early_stopping.nan_skipped",
    "a NaN metric is skipped. NaN is a step without improvement: it adds 1 to the count, like any other step "
    "that does not improve.",
)
COMPARED_WITH_PREVIOUS = Mistake(
    "early_stopping.compared_with_previous",
    "each metric is compared with the previous epoch's instead of with the best so far.",
)
BEST_STARTS_AT_ZERO = Mistake(
    "early_stopping.best_starts_at_zero",
    "best_score starts at 0, so in mode \"min\" no positive loss ever improves on it. Start with "
    "best_score = None and take the first metric that is not NaN as the best.",
)
EPOCHS_FROM_ONE = Mistake(
    "early_stopping.epochs_from_one",
    "best_epoch counts the epochs from 1. The calls of step count them from 0: the first call is epoch 0.",
)
RESTORES_LAST = Mistake(
    "early_stopping.restores_last",
    "restore loads the weights of the last step, not those of the best one. Save "
    "copy.deepcopy(model.state_dict()) only when the metric improves, and load that copy.",
)
SHARED_STATE = Mistake(
    "early_stopping.shared_state",
    "the saved state shares memory with the model (best = model.state_dict() without a copy), so training "
    "after the best epoch overwrote it. Save copy.deepcopy(model.state_dict()).",
)
BAD_MODE = Mistake("early_stopping.bad_mode", "any mode other than \"min\" or \"max\" must raise ValueError.")

# The keyword switches of the reference, one per planted mistake.
SWITCHES = (
    "stops_early", "stops_late", "no_reset", "ties_improve", "min_delta_ignored", "min_delta_sign", "mode_ignored",
    "nan_improves", "nan_first_best", "nan_skipped", "compared_with_previous", "best_starts_at_zero",
    "epochs_from_one", "restores_last", "shared_state", "any_mode",
)


class EarlyStopping:
    """The reference: stop when the metric has not improved for more than ``patience`` steps.

    See the module's docstring for the contract. Each keyword-only switch
    (``SWITCHES``) plants one known mistake, for naming a student's.
    """

    def __init__(self, patience=5, min_delta=0.0, mode="min", **switches):
        unknown = set(switches) - set(SWITCHES)
        if unknown:
            raise TypeError(f"unknown switches {sorted(unknown)}")
        self._planted = {name for name, on in switches.items() if on}
        if mode not in ("min", "max") and "any_mode" not in self._planted:
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.min_delta, self.mode = patience, min_delta, mode
        self.best_score = 0.0 if "best_starts_at_zero" in self._planted else None
        self.best_epoch = None
        self.bad_steps = 0  # consecutive steps without improvement
        self.epoch = -1
        self.previous = None
        self._best_state = None

    def improves(self, metric: float) -> bool:
        """Whether ``metric`` improves on the best score (or, with a mistake, what the mistake thinks)."""
        m = self._planted
        reference = self.previous if "compared_with_previous" in m else self.best_score
        if reference is None and "nan_first_best" in m:
            return True
        if math.isnan(metric):
            return "nan_improves" in m
        if reference is None or ("nan_improves" in m and math.isnan(reference)):
            return True
        delta = 0.0 if "min_delta_ignored" in m else self.min_delta
        if "min_delta_sign" in m:
            delta = -delta
        smaller_is_better = self.mode == "min" or "mode_ignored" in m
        if "ties_improve" in m:
            return metric <= reference - delta if smaller_is_better else metric >= reference + delta
        return metric < reference - delta if smaller_is_better else metric > reference + delta

    def step(self, metric, model) -> bool:
        m = self._planted
        metric = float(metric)
        self.epoch += 1
        if "nan_skipped" in m and math.isnan(metric):
            return False
        improved = self.improves(metric)
        self.previous = metric
        if "restores_last" in m:
            self._best_state = copy.deepcopy(model.state_dict())
        if improved:
            self.best_score = metric
            self.best_epoch = self.epoch + 1 if "epochs_from_one" in m else self.epoch
            if "shared_state" in m:
                self._best_state = model.state_dict()
            elif "restores_last" not in m:
                self._best_state = copy.deepcopy(model.state_dict())
            if "no_reset" not in m:
                self.bad_steps = 0
            return False
        self.bad_steps += 1
        if "stops_early" in m:
            return self.bad_steps >= self.patience
        if "stops_late" in m:
            return self.bad_steps > self.patience + 1
        return self.bad_steps > self.patience

    def restore(self, model) -> None:
        model.load_state_dict(self._best_state)


NAN = float("nan")
# The curves of the notebook's visible test cells that catch each mistake.
PATIENCE_2 = ([1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9, 0.6], dict(patience=2))
RESET = ([1.0, 1.1, 0.9, 1.0, 0.95, 0.8, 0.85, 0.9, 0.95, 0.5], dict(patience=2))
TIES = ([2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0], dict(patience=2))
MIN_DELTA = ([1.0, 0.9375, 0.875, 0.5], dict(patience=1, min_delta=0.125))
MAX_MODE = ([0.5, 0.625, 0.75, 0.6875, 0.625, 0.5625], dict(patience=1, mode="max"))
NANS = ([NAN, 1.0, 0.5, NAN, NAN, 0.25], dict(patience=1))
RESTORE = ([1.0, 0.5, 0.75, 0.875, 0.9375], dict(patience=2, restore=True))


def _planted(mistake, curve, *more, **switch) -> Planted:
    metrics, options = curve
    catches = (catch("check_early_stopping", metrics, **options),) + more
    return Planted(mistake, partial(EarlyStopping, **switch), catches)


MISTAKES = (
    _planted(STOPS_EARLY, PATIENCE_2, stops_early=True),
    _planted(STOPS_LATE, PATIENCE_2, stops_late=True),
    _planted(NO_RESET, RESET, no_reset=True),
    _planted(TIES_IMPROVE, TIES, ties_improve=True),
    _planted(MIN_DELTA_IGNORED, MIN_DELTA, min_delta_ignored=True),
    _planted(MIN_DELTA_SIGN, MIN_DELTA, min_delta_sign=True),
    _planted(MODE_IGNORED, MAX_MODE, mode_ignored=True),
    _planted(NAN_IMPROVES, NANS, nan_improves=True),
    _planted(NAN_IMPROVES, NANS, nan_first_best=True),
    _planted(NAN_SKIPPED, NANS, nan_skipped=True),
    _planted(COMPARED_WITH_PREVIOUS, PATIENCE_2, compared_with_previous=True),
    _planted(BEST_STARTS_AT_ZERO, PATIENCE_2, best_starts_at_zero=True),
    _planted(EPOCHS_FROM_ONE, PATIENCE_2, epochs_from_one=True),
    _planted(RESTORES_LAST, RESTORE, restores_last=True),
    _planted(SHARED_STATE, RESTORE, shared_state=True),
    Planted(BAD_MODE, partial(EarlyStopping, any_mode=True), (catch("check_early_stopping_rejects_mode", "mean"),)),
)


# --- running a class on a curve ------------------------------------------------------


AFTER_RESTORE = 999  # the weights' epoch when training goes on after a restore


def _model() -> nn.Linear:
    """A small model; its initial weights do not matter, since each step sets them."""
    with torch.random.fork_rng(devices=[]):  # leave the notebook's random sequence alone
        return nn.Linear(3, 2)


def _set_epoch(model: nn.Linear, epoch: int) -> None:
    """Give the model weights that identify ``epoch``, in place, as an optimizer step does."""
    with torch.no_grad():
        model.weight.fill_(epoch + 1.0)
        model.bias.fill_(-(epoch + 1.0))


def _epoch_of(model: nn.Linear):
    """The epoch whose weights the model holds, or a description of what it holds."""
    weight, bias = model.weight.detach(), model.bias.detach()
    value = weight.flatten()[0].item()
    if bool((weight == value).all()) and bool((bias == -value).all()) and value == int(value) and value >= 1:
        return int(value) - 1
    return "weights that belong to no epoch"


@dataclass
class _Trace:
    """What a training loop sees of an early-stopping object on one curve."""

    returns: list = field(default_factory=list)  # step's return value at each epoch, up to the stop
    best_score: object = None
    best_epoch: object = None
    restored: tuple | None = None  # the epochs whose weights two calls of restore() loaded
    changed_model: int | None = None  # the first epoch at which step changed the weights
    shares_memory: bool = False

    def key(self):
        """What a caller sees, comparable with ==: NaN scores compare equal to each other.

        The student's values are turned into plain numbers (or the name of what they are
        instead) first, so that comparing two keys runs none of the student's code.
        """
        returns = [r if isinstance(r, bool) else _not_a("bool", r) for r in self.returns]
        score = _plain_number(self.best_score)
        score = "NaN" if isinstance(score, float) and math.isnan(score) else score
        return returns, score, _plain_number(self.best_epoch), self.restored


def _number(value) -> float | None:
    """``value`` as a float, or None when it is not one number (a string, a list, a tensor of several)."""
    try:
        return float(value)
    except Exception:  # noqa: BLE001 - whatever a value's own __float__ raises, it is not a number
        return None


def _not_a(kind: str, value) -> str:
    return f"not a {kind}: {type(value).__name__}"


def _plain_number(value):
    """None, a float, or what ``value`` is instead of a number."""
    if value is None:
        return None
    number = _number(value)
    return _not_a("number", value) if number is None else number


def _run(cls, metrics, options, restore, where) -> _Trace:
    """Run a training loop over ``metrics`` that stops when ``step`` returns True."""
    trace = _Trace()
    model = _model()
    stopper = _student(lambda: cls(**options), where, "creating it")
    for epoch, metric in enumerate(metrics):
        _set_epoch(model, epoch)
        result = _student(lambda: stopper.step(metric, model), where, f"step at epoch {epoch}")
        trace.returns.append(result)
        if trace.changed_model is None and _epoch_of(model) != epoch:
            trace.changed_model = epoch
        if result is True:
            break
    trace.best_score = _student(lambda: stopper.best_score, where, "reading best_score")
    trace.best_epoch = _student(lambda: stopper.best_epoch, where, "reading best_epoch")
    if restore and trace.best_epoch is not None:  # restore needs a saved state
        trace.shares_memory = _shares_memory(stopper, model)
        _student(lambda: stopper.restore(model), where, "restore")
        first = _epoch_of(model)
        # Training goes on after a restore: the saved copy must not follow the model.
        _set_epoch(model, AFTER_RESTORE)
        _student(lambda: stopper.restore(model), where, "a second restore")
        trace.restored = (first, _epoch_of(model))
    return trace


def _student(action, where, what):
    """Run ``action``, which calls the student's class (``what`` says which part), and return its value."""
    called = call_student(action, (), where=f"{where} ({what})", copy=False)
    if isinstance(called.error, NotImplementedError):
        # The class, not "the function": say which part is still a stub.
        Failure(where, summary=f"{NAME} is not implemented yet ({what} raised NotImplementedError).").fail()
    return called.result()


def _shares_memory(stopper, model) -> bool:
    """Whether a tensor held by ``stopper`` (one level into dicts and lists) is one of the model's."""
    pointers = {t.data_ptr() for t in model.state_dict().values()}
    found = []

    def visit(value, depth=0):
        if isinstance(value, torch.Tensor):
            found.append(value.data_ptr() in pointers)
        elif depth < 3 and isinstance(value, dict):
            for v in value.values():
                visit(v, depth + 1)
        elif depth < 3 and isinstance(value, (list, tuple)):
            for v in value:
                visit(v, depth + 1)

    visit(getattr(stopper, "__dict__", {}))
    return any(found)


# --- comparing -------------------------------------------------------------------------


def _describe(metrics, options) -> str:
    arguments = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return f"{NAME}({arguments}) on the metrics {list(metrics)}"


def _why(reference: EarlyStopping, metric: float) -> str:
    """Why the reference returned what it did at this step (its state after the step)."""
    if reference.best_epoch == reference.epoch:
        return "this step improves on the best so far, so the count of steps without improvement restarts at 0"
    best = "no best yet" if reference.best_score is None else (
        f"the best so far is {reference.best_score!r} at epoch {reference.best_epoch}")
    nan = "NaN never improves; " if math.isnan(metric) else ""
    return (f"{nan}{best}; this is step {reference.bad_steps} in a row without improvement, "
            f"and training stops when that count exceeds patience={reference.patience}")


def _explain(actual: _Trace, expected: _Trace, metrics, options, restore) -> list[str]:
    """The first difference between the student's trace and the reference's, in words."""
    missing = object()  # no step at this epoch: the loop had stopped
    for epoch, metric in enumerate(metrics):
        got = actual.returns[epoch] if epoch < len(actual.returns) else missing
        want = expected.returns[epoch] if epoch < len(expected.returns) else missing
        if got is missing and want is missing:
            break
        if got is missing:
            return [f"the loop stopped at epoch {epoch - 1}, but step should have returned False there."]
        if not isinstance(got, bool):
            return [f"step returned {got!r} (of type {type(got).__name__}) at epoch {epoch}; return True or False."]
        if want is missing:
            return [f"step returned {got} at epoch {epoch}, but training should have stopped at epoch {epoch - 1}."]
        if got != want:
            reference = EarlyStopping(**options)
            model = _model()
            for m in metrics[: epoch + 1]:
                reference.step(m, model)
            return [f"step({metric!r}) at epoch {epoch} returned {got}, expected {want}: {_why(reference, metric)}."]
    problems = []
    if actual.changed_model is not None:
        problems.append(f"step changed the model's weights at epoch {actual.changed_model}; "
                        "only restore may change the model.")
    for what, got, want in (("best_epoch", actual.best_epoch, expected.best_epoch),
                            ("best_score", actual.best_score, expected.best_score)):
        if not _same(got, want):
            problems.append(f"after the loop, {what} is {got!r}, expected {want!r}.")
    if restore and actual.restored is None and expected.restored is not None:
        # _run restores only once a best epoch was recorded.
        problems.append(f"restore(model) could not be checked: best_epoch is {actual.best_epoch!r} after the "
                        "loop. Record best_epoch, and save the model's state, at every step that improves.")
    elif restore and None not in (actual.restored, expected.restored) and actual.restored != expected.restored:
        best = expected.restored[0]
        first, second = actual.restored
        if first != best:
            problems.append(f"restore(model) loaded the weights of epoch {first}, expected those of "
                            f"epoch {best}, the best.")
        else:
            problems.append(f"after more training, a second restore(model) gave the weights of epoch {second}, "
                            f"not those of epoch {best}: the model must receive a copy of the saved state "
                            "(model.load_state_dict(saved) copies it).")
    return problems


def _same(got, want) -> bool:
    if want is None or got is None:
        return got is None and want is None
    return _number(got) is not None and _number(got) == _number(want)


@check
def check_early_stopping(cls, metrics, *, restore=False, **options) -> Report:
    """Run ``cls(**options)`` on the scripted curve ``metrics`` and compare with the reference.

    Compares what ``step`` returns at each epoch until it returns True,
    ``best_score`` and ``best_epoch`` after the loop and, with ``restore=True``,
    the weights that ``restore(model)`` loads (twice: right away, and after the
    model was trained further).
    """
    metrics = list(metrics)
    where = _describe(metrics, options)
    expected = _run(EarlyStopping, metrics, options, restore, where)
    actual = _run(cls, metrics, options, restore, where)
    problems = _explain(actual, expected, metrics, options, restore)
    if problems:
        _fail_diagnosed(where, problems, cls, actual, expected, metrics, options, restore)
    stop = f"stopped at epoch {len(actual.returns) - 1}" if actual.returns[-1:] == [True] else "did not stop"
    return Report(f"{where}: {stop}, best_epoch={actual.best_epoch}", ["cpu"])


# Curves on which every planted mistake behaves differently from every other
# one: a student's class is named after a mistake only if it behaves like it on
# all of them, and on the curve that failed.
PROBES = (
    PATIENCE_2, RESET, TIES,
    ([1.0, 0.9375, 0.875, 0.9375, 0.875, 0.5], dict(patience=1, min_delta=0.125)),
    ([0.5, 0.5625, 0.625, 0.5625, 0.625, 0.75], dict(patience=1, mode="max", min_delta=0.125)),
    MAX_MODE,
    ([NAN, 1.0, 0.5, NAN, NAN, 0.25, NAN, NAN, NAN], dict(patience=1)),
    ([1.0, 0.5, 0.75, 0.625, 0.5625, 0.53125], dict(patience=2)),
    ([1.0, 0.5, 0.75, 0.875, 0.25], dict(patience=1)),
)


def _fail_diagnosed(where, problems, cls, actual: _Trace, expected: _Trace, metrics, options, restore):
    if restore and actual.shares_memory:
        # Seen directly in the student's object: no need to compare behaviours.
        Failure(where, problems=tuple(problems), mistake=SHARED_STATE.words).fail()
    # A class's result is what a caller sees on the failing curve and on every probe.
    student = (actual.key(),) + tuple(_key(cls, m, o, restore) for m, o in PROBES)
    reference = (expected.key(),) + tuple(_key(EarlyStopping, m, o, restore) for m, o in PROBES)
    fail_diagnosed(
        where, student, reference, problems=problems, planted=MISTAKES, clue=None,
        run=lambda c: (_key(c, metrics, options, restore),) + tuple(_key(c, m, o, restore) for m, o in PROBES),
        agree=lambda a, b: all(x is not None and x == y for x, y in zip(a, b)),
    )


def _key(cls, metrics, options, restore):
    """What a caller sees of ``cls`` on one curve, or None if it fails to run."""
    try:
        return _run(cls, metrics, options, restore, "").key()
    except CheckFailed:
        return None


@check
def check_early_stopping_rejects_mode(cls, mode="mean") -> Report:
    """Check that a mode other than "min" or "max" raises ValueError."""
    return check_raises(cls, {"mode": mode}, ValueError, name=NAME, devices=["cpu"], like=None,
                        when='for a mode other than "min" or "max"', call=lambda cls, arguments: cls(**arguments),
                        mistake_if_returned=BAD_MODE)


# Trust this module and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
