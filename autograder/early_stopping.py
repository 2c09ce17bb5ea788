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
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .core import integrity
from .core.harness import Report, Variant, quiet

NAME = "EarlyStopping"

# Mistakes named in failure messages.
STOPS_EARLY = (
    "training stops one step too early: the count of steps without improvement must "
    "exceed patience (count > patience), not reach it. patience=2 tolerates 2 such "
    "steps and stops at the 3rd."
)
STOPS_LATE = (
    "training stops one step too late: stop as soon as the count of steps without "
    "improvement exceeds patience (count > patience)."
)
NO_RESET = (
    "the count of steps without improvement is not reset to 0 when the metric improves."
)
TIES_IMPROVE = (
    "a metric equal to the best (or better by exactly min_delta) counts as an improvement. "
    "An improvement must be strictly better than best_score by more than min_delta."
)
MIN_DELTA_IGNORED = (
    "min_delta is ignored. In mode \"min\" a step improves only when "
    "metric < best_score - min_delta (in mode \"max\": metric > best_score + min_delta)."
)
MIN_DELTA_SIGN = (
    "min_delta is applied in the wrong direction for this mode. In mode \"min\" a step improves when "
    "metric < best_score - min_delta; in mode \"max\" when metric > best_score + min_delta."
)
MODE_IGNORED = (
    "mode is ignored. With mode=\"max\" a larger metric is better (an accuracy); "
    "with mode=\"min\" a smaller one (a loss)."
)
NAN_IMPROVES = (
    "NaN is treated as an improvement (or becomes the best score). NaN never improves: "
    "every comparison with NaN is False, so test `metric < best_score - min_delta`, not `not metric >= ...`, "
    "and do not take a NaN first value as the best."
)
NAN_SKIPPED = (
    "a NaN metric is skipped. NaN is a step without improvement: it adds 1 to the count, "
    "like any other step that does not improve."
)
COMPARED_WITH_PREVIOUS = (
    "each metric is compared with the previous epoch's instead of with the best so far."
)
RESTORES_LAST = (
    "restore loads the weights of the last step, not those of the best one. Save "
    "copy.deepcopy(model.state_dict()) only when the metric improves, and load that copy."
)
SHARED_STATE = (
    "the saved state shares memory with the model (best = model.state_dict() without a copy), "
    "so training after the best epoch overwrote it. Save copy.deepcopy(model.state_dict())."
)
BAD_MODE = "any mode other than \"min\" or \"max\" must raise ValueError."


class EarlyStopping:
    """The reference: stop when the metric has not improved for more than ``patience`` steps.

    See the module's docstring for the contract. The keyword-only ``mistake``
    plants one known mistake, for naming a student's.
    """

    def __init__(self, patience=5, min_delta=0.0, mode="min", *, mistake=None):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.min_delta, self.mode = patience, min_delta, mode
        self.mistake = mistake
        self.best_score = None
        self.best_epoch = None
        self.bad_steps = 0  # consecutive steps without improvement
        self.epoch = -1
        self.previous = None
        self._best_state = None

    def improves(self, metric: float) -> bool:
        """Whether ``metric`` improves on the best score (or, with a mistake, what the mistake thinks)."""
        m = self.mistake
        reference = self.previous if m == "compared_with_previous" else self.best_score
        if reference is None and m == "nan_first_best":
            return True
        if math.isnan(metric):
            return m == "nan_improves"
        if reference is None or (m == "nan_improves" and math.isnan(reference)):
            return True
        delta = 0.0 if m == "min_delta_ignored" else self.min_delta
        if m == "min_delta_sign":
            delta = -delta
        smaller_is_better = self.mode == "min" or m == "mode_ignored"
        if m == "ties_improve":
            return metric <= reference - delta if smaller_is_better else metric >= reference + delta
        return metric < reference - delta if smaller_is_better else metric > reference + delta

    def step(self, metric, model) -> bool:
        metric = float(metric)
        self.epoch += 1
        if self.mistake == "nan_skipped" and math.isnan(metric):
            return False
        improved = self.improves(metric)
        self.previous = metric
        if self.mistake == "restores_last":
            self._best_state = copy.deepcopy(model.state_dict())
        if improved:
            self.best_score, self.best_epoch = metric, self.epoch
            if self.mistake == "shared_state":
                self._best_state = model.state_dict()
            elif self.mistake != "restores_last":
                self._best_state = copy.deepcopy(model.state_dict())
            if self.mistake != "no_reset":
                self.bad_steps = 0
            return False
        self.bad_steps += 1
        if self.mistake == "stops_early":
            return self.bad_steps >= self.patience
        if self.mistake == "stops_late":
            return self.bad_steps > self.patience + 1
        return self.bad_steps > self.patience

    def restore(self, model) -> None:
        model.load_state_dict(self._best_state)


def _variant(mistake):
    return lambda *args, **kwargs: EarlyStopping(*args, **kwargs, mistake=mistake)


VARIANTS = tuple(
    Variant(text, _variant(mistake))
    for mistake, text in [
        ("stops_early", STOPS_EARLY), ("stops_late", STOPS_LATE), ("no_reset", NO_RESET),
        ("ties_improve", TIES_IMPROVE), ("min_delta_ignored", MIN_DELTA_IGNORED),
        ("min_delta_sign", MIN_DELTA_SIGN), ("mode_ignored", MODE_IGNORED), ("nan_improves", NAN_IMPROVES),
        ("nan_first_best", NAN_IMPROVES), ("nan_skipped", NAN_SKIPPED),
        ("compared_with_previous", COMPARED_WITH_PREVIOUS), ("restores_last", RESTORES_LAST),
        ("shared_state", SHARED_STATE),
    ]
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
        score = None if self.best_score is None else float(self.best_score)
        return self.returns, score, self.best_epoch, self.restored


def _run(cls, metrics, options, restore, where) -> _Trace:
    """Run a training loop over ``metrics`` that stops when ``step`` returns True."""
    trace = _Trace()
    model = _model()
    stopper = _attempt(lambda: cls(**options), where, "creating it")
    for epoch, metric in enumerate(metrics):
        _set_epoch(model, epoch)
        result = _attempt(lambda: stopper.step(metric, model), where, f"step at epoch {epoch}")
        trace.returns.append(result)
        if trace.changed_model is None and _epoch_of(model) != epoch:
            trace.changed_model = epoch
        if result is True:
            break
    trace.best_score = _attempt(lambda: stopper.best_score, where, "reading best_score")
    trace.best_epoch = _attempt(lambda: stopper.best_epoch, where, "reading best_epoch")
    if restore and trace.best_epoch is not None:  # restore needs a saved state
        trace.shares_memory = _shares_memory(stopper, model)
        _attempt(lambda: stopper.restore(model), where, "restore")
        first = _epoch_of(model)
        # Training goes on after a restore: the saved copy must not follow the model.
        _set_epoch(model, AFTER_RESTORE)
        _attempt(lambda: stopper.restore(model), where, "a second restore")
        trace.restored = (first, _epoch_of(model))
    return trace


def _attempt(action, where, what):
    try:
        return action()
    except NotImplementedError:
        raise AssertionError(f"{where}: {NAME} is not implemented yet ({what} raised NotImplementedError).") from None
    except AttributeError as error:
        raise AssertionError(f"{where}: {what} raised AttributeError: {error}") from None
    except Exception as error:  # noqa: BLE001 - reported to the student
        raise AssertionError(f"{where}: {what} raised {type(error).__name__}: {error}") from None


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
    if restore and actual.restored != expected.restored:
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
    try:
        return float(got) == float(want)
    except (TypeError, ValueError):
        return False


def check_early_stopping(cls, metrics, *, restore=False, **options) -> Report:
    """Run ``cls(**options)`` on the scripted curve ``metrics`` and compare with the reference.

    Compares what ``step`` returns at each epoch until it returns True,
    ``best_score`` and ``best_epoch`` after the loop and, with ``restore=True``,
    the weights that ``restore(model)`` loads (twice: right away, and after the
    model was trained further).
    """
    metrics = list(metrics)
    where = _describe(metrics, options)
    with quiet():
        expected = _run(EarlyStopping, metrics, options, restore, where)
        actual = _run(cls, metrics, options, restore, where)
        problems = _explain(actual, expected, metrics, options, restore)
        if problems:
            raise AssertionError(_message(where, problems, _diagnose(cls, actual, metrics, options, restore)))
    stop = f"stopped at epoch {len(actual.returns) - 1}" if actual.returns[-1:] == [True] else "did not stop"
    return Report(f"{where}: {stop}, best_epoch={actual.best_epoch}", ["cpu"]).show()


# Curves on which every planted mistake behaves differently from every other
# one: a student's class is named after a mistake only if it behaves like it on
# all of them (or, failing that, if it is the only one that matches the curve
# that failed).
NAN = float("nan")
PROBES = (
    ([1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9, 0.6], dict(patience=2)),
    ([1.0, 1.1, 0.9, 1.0, 0.95, 0.8, 0.85, 0.9, 0.95, 0.5], dict(patience=2)),
    ([2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0], dict(patience=2)),
    ([1.0, 0.9375, 0.875, 0.9375, 0.875, 0.5], dict(patience=1, min_delta=0.125)),
    ([0.5, 0.5625, 0.625, 0.5625, 0.625, 0.75], dict(patience=1, mode="max", min_delta=0.125)),
    ([0.5, 0.625, 0.75, 0.6875, 0.625, 0.5625], dict(patience=1, mode="max")),
    ([NAN, 1.0, 0.5, NAN, NAN, 0.25, NAN, NAN, NAN], dict(patience=1)),
    ([1.0, 0.5, 0.75, 0.625, 0.5625, 0.53125], dict(patience=2)),
    ([1.0, 0.5, 0.75, 0.875, 0.25], dict(patience=1)),
)


def _diagnose(cls, actual: _Trace, metrics, options, restore) -> str | None:
    if restore and actual.shares_memory:
        return SHARED_STATE
    scenarios = [(metrics, options)] + list(PROBES)
    students = [actual] + [_try_run(cls, m, o, restore) for m, o in PROBES]
    on_this_curve = []
    for variant in VARIANTS:
        wrongs = [_try_run(variant.function, m, o, restore) for m, o in scenarios]
        matches = [w is not None and s is not None and w.key() == s.key() for w, s in zip(wrongs, students)]
        if all(matches):
            return variant.mistake
        if matches[0]:
            on_this_curve.append(variant.mistake)
    return on_this_curve[0] if len(set(on_this_curve)) == 1 else None


def _try_run(cls, metrics, options, restore) -> _Trace | None:
    try:
        return _run(cls, metrics, options, restore, "")
    except AssertionError:
        return None


def _message(where, problems, mistake) -> str:
    lines = [f"{where}:"] + [f"- {p}" for p in problems]
    if mistake:
        lines.append(f"Likely mistake: {mistake}")
    return "\n".join(lines)


def check_early_stopping_rejects_mode(cls, mode="mean") -> Report:
    """Check that a mode other than "min" or "max" raises ValueError."""
    where = f"{NAME}(mode={mode!r})"
    with quiet():
        try:
            cls(mode=mode)
        except ValueError:
            return Report(where, ["cpu"]).show()
        except NotImplementedError:
            raise AssertionError(f"{where}: {NAME} is not implemented yet (it raised NotImplementedError).") from None
        except Exception as error:  # noqa: BLE001 - reported to the student
            raise AssertionError(f"{where} raised {type(error).__name__}: {error}; expected ValueError.") from None
    raise AssertionError(f"{where} was created; expected ValueError.\nLikely mistake: {BAD_MODE}")

# Trust this module and what it uses, before any student code runs (see autograder.integrity).
integrity.trust_package()
