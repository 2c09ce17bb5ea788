"""The check entries of the early-stopping exercise: a class run on a curve beside the reference."""

from __future__ import annotations

import math

from ..core.diagnosis import diagnose
from ..core.engine import check_raises
from ..core.failure import fail
from ..core.report import Report, entry
from .mistakes import BAD_MODE, SHARED_STATE
from .scenario import Trace, key_of, new_model, number, run
from .spec import SPEC

# --- the check entries ---


def _describe(metrics, options) -> str:
    arguments = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return f"{SPEC.name}({arguments}) on the metrics {list(metrics)}"


def _why(reference, metric: float) -> str:
    """Why the reference returned what it did at this step (its state after the step)."""
    if reference.best_epoch == reference.epoch:
        return "this step improves on the best so far, so the count of steps without improvement restarts at 0"
    best = "no best yet" if reference.best_score is None else (
        f"the best so far is {reference.best_score!r} at epoch {reference.best_epoch}")
    nan = "NaN never improves; " if math.isnan(metric) else ""
    return (f"{nan}{best}; this is step {reference.bad_steps} in a row without improvement, "
            f"and training stops when that count exceeds patience={reference.patience}")


def _explain(actual: Trace, expected: Trace, metrics, options, restore) -> list[str]:
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
            reference = SPEC.reference(**options)
            model = new_model()
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
        # run restores only once a best epoch was recorded.
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
    return number(got) is not None and number(got) == number(want)


@entry
def check_early_stopping(student, metrics, *, restore=False, **options) -> Report:
    """Run ``student(**options)`` on the scripted curve ``metrics`` and compare with the reference.

    Compares what ``step`` returns at each epoch until it returns True,
    ``best_score`` and ``best_epoch`` after the loop and, with ``restore=True``,
    the weights that ``restore(model)`` loads (twice: right away, and after the
    model was trained further).
    """
    metrics = list(metrics)
    where = _describe(metrics, options)
    expected = run(SPEC.reference, metrics, options, restore, where)
    actual = run(student, metrics, options, restore, where)
    problems = _explain(actual, expected, metrics, options, restore)
    if problems:
        _fail_diagnosed(where, problems, student, actual, expected, metrics, options, restore)
    stop = f"stopped at epoch {len(actual.returns) - 1}" if actual.returns[-1:] == [True] else "did not stop"
    return Report(f"{where}: {stop}, best_epoch={actual.best_epoch}", ["cpu"])


def _fail_diagnosed(where, problems, student, actual: Trace, expected: Trace, metrics, options, restore):
    # A class's result is what a caller sees on the failing curve and on every probe.
    def on_probes(cls):
        return tuple(key_of(cls, m, o, restore) for m, o in SPEC.probes)

    found = diagnose(
        (actual.key(),) + on_probes(student), (expected.key(),) + on_probes(SPEC.reference), SPEC.planted,
        run=lambda cls: (key_of(cls, metrics, options, restore),) + on_probes(cls),
        agree=lambda a, b: all(x is not None and x == y for x, y in zip(a, b)),
    )
    if restore and actual.shares_memory and SHARED_STATE not in found.mistakes:
        # Seen directly in the student's object, whatever else the behaviours say.
        fail(where, problems=problems, mistake=SHARED_STATE)
    fail(where, problems=problems, mistake=found.mistakes or None)


@entry
def check_early_stopping_rejects_mode(student, mode="mean") -> Report:
    """Check that a mode other than "min" or "max" raises ValueError."""
    return check_raises(student, {"mode": mode}, ValueError, name=SPEC.name, devices=["cpu"], like=None,
                        when='for a mode other than "min" or "max"', call=lambda cls, arguments: cls(**arguments),
                        mistake_if_returned=BAD_MODE)
