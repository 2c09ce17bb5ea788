"""Running a class on a scripted curve, as a training loop would, and recording what the loop sees."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ..core.calling import call_student
from ..core.failure import CheckFailed, fail
from .spec import SPEC

# --- running a class on a curve ---

AFTER_RESTORE = 999  # the weights' epoch when training goes on after a restore


def new_model() -> nn.Linear:
    """A small model; its initial weights do not matter, since each step sets them."""
    with torch.random.fork_rng(devices=[]):  # leave the notebook's random sequence alone
        return nn.Linear(3, 2)


def set_epoch(model: nn.Linear, epoch: int) -> None:
    """Give the model weights that identify ``epoch``, in place, as an optimizer step does."""
    with torch.no_grad():
        model.weight.fill_(epoch + 1.0)
        model.bias.fill_(-(epoch + 1.0))


def epoch_of(model: nn.Linear):
    """The epoch whose weights the model holds, or a description of what it holds."""
    weight, bias = model.weight.detach(), model.bias.detach()
    value = weight.flatten()[0].item()
    if bool((weight == value).all()) and bool((bias == -value).all()) and value == int(value) and value >= 1:
        return int(value) - 1
    return "weights that belong to no epoch"


@dataclass
class Trace:
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


def number(value) -> float | None:
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
    as_float = number(value)
    return _not_a("number", value) if as_float is None else as_float


def run(cls, metrics, options, restore, where) -> Trace:
    """Run a training loop over ``metrics`` that stops when ``step`` returns True."""
    trace = Trace()
    model = new_model()
    stopper = _student(lambda: cls(**options), where, "creating it")
    for epoch, metric in enumerate(metrics):
        set_epoch(model, epoch)
        result = _student(lambda: stopper.step(metric, model), where, f"step at epoch {epoch}")
        trace.returns.append(result)
        if trace.changed_model is None and epoch_of(model) != epoch:
            trace.changed_model = epoch
        if result is True:
            break
    trace.best_score = _student(lambda: stopper.best_score, where, "reading best_score")
    trace.best_epoch = _student(lambda: stopper.best_epoch, where, "reading best_epoch")
    if restore and trace.best_epoch is not None:  # restore needs a saved state
        trace.shares_memory = _shares_memory(stopper, model)
        _student(lambda: stopper.restore(model), where, "restore")
        first = epoch_of(model)
        # Training goes on after a restore: the saved copy must not follow the model.
        set_epoch(model, AFTER_RESTORE)
        _student(lambda: stopper.restore(model), where, "a second restore")
        trace.restored = (first, epoch_of(model))
    return trace


def _student(action, where, what):
    """Run ``action``, which calls the student's class (``what`` says which part), and return its value."""
    called = call_student(action, (), where=f"{where} ({what})", copy=False)
    if isinstance(called.error, NotImplementedError):
        # The class, not "the function": say which part is still a stub.
        fail(where, summary=f"{SPEC.name} is not implemented yet ({what} raised NotImplementedError).")
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


def key_of(cls, metrics, options, restore):
    """What a caller sees of ``cls`` on one curve, or None if it fails to run."""
    try:
        return run(cls, metrics, options, restore, "").key()
    except CheckFailed:
        return None
