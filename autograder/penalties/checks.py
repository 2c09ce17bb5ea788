"""The check entries of the L1 and L2 penalties; each takes the kind ("l1" or "l2") after the student's function."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from ..core.calling import call_student
from ..core.engine import check_against_reference, fail_diagnosed
from ..core.failure import fail
from ..core.mistakes import Planted, diagnose
from ..core.report import Report, entry
from ..core.spec import Operation
from ._common import EMPTY, ITERATED_TWICE, KINDS, NO_GRAD, NUMBER, NUMPY, detached, from_tensors, penalty
from .l1 import L1_PENALTY
from .l2 import L2_PENALTY

# --- the check entries ---


def _spec(kind: str) -> Operation:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return {"l1": L1_PENALTY, "l2": L2_PENALTY}[kind]


def _call(student, parameters, where: str):
    """The student's penalty of ``parameters`` (passed as they are: a generator is consumed)."""
    return call_student(student, [parameters], where=where, copy=False).result()


def _precheck(student, kind: str, arguments: dict, gradients: bool) -> None:
    """Name the mistakes the comparison with the reference cannot name.

    A Python number or a NumPy value cannot be compared as a tensor, and a
    tensor cut off from autograd has the right value: say why each is wrong.
    """
    tensors = [t.detach().clone().requires_grad_(True) for t in arguments.values()]
    where = f"{_spec(kind).name}(a generator of {len(tensors)} tensors that require grad)"
    result = _call(student, (t for t in tensors), where)
    _fail_if_iterated_twice(student, result, tensors, kind, where)
    _fail_if_not_differentiable(result, gradients, where)


def _value(result) -> float | None:
    """The number a penalty returned (a Python number, a one-element NumPy value or tensor), else None."""
    if isinstance(result, bool):
        return None
    if isinstance(result, (int, float, np.number)) or (isinstance(result, np.ndarray) and result.size == 1):
        return float(result)
    return result.detach().item() if _is_scalar_tensor(result) else None


def _fail_if_iterated_twice(student, result, tensors: list, kind: str, where: str) -> None:
    """Name ITERATED_TWICE for a penalty wrong for a generator and right for a list of the same tensors.

    A wrong value alone says little (a stub returning torch.tensor(0.0), a loop
    that forgets to add): only the same function's answers for a generator and
    for a list, together, show that the generator was exhausted before the sum.
    """
    expected = penalty(tensors, kind).item()
    if _value(result) is None or _near(_value(result), expected):
        return  # a right value, or one the other checks explain
    again = call_student(student, [list(tensors)], where=f"{where}, called again with a list", copy=False)
    if again.failure is not None:
        return
    mistake = diagnose(
        (_value(result), _value(again.value)), (expected, expected),
        [p for p in _spec(kind).planted if p.mistake is ITERATED_TWICE],
        run=lambda function: (_value(function(t for t in tensors)), _value(function(list(tensors)))),
        agree=lambda a, b: all(_near(x, y) for x, y in zip(a, b)),
    )
    if mistake:
        fail(where, summary=f"it returned {_value(result):.6g} for a generator, expected {expected:.6g}; for a "
             "list of the same tensors it returned the right value.", mistake=mistake)


def _near(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6)


def _fail_if_not_differentiable(result, gradients: bool, where: str) -> None:
    """Fail for a result that cannot be compared as a tensor, or is detached, naming why."""
    is_number = isinstance(result, (int, float)) and not isinstance(result, bool)
    is_numpy = type(result).__module__ == "numpy"
    how = None
    if is_number:
        how = NUMBER.format(type=type(result).__name__)
    elif is_numpy:
        how = NUMPY
    elif gradients and _is_scalar_tensor(result) and not result.requires_grad:
        how = NO_GRAD
    if how:
        fail(where, summary="it returned a result that is not differentiable.", mistake=detached(how))


def _is_scalar_tensor(value) -> bool:
    return isinstance(value, torch.Tensor) and value.numel() == 1


def _compared(spec: Operation) -> tuple[Planted, ...]:
    """The mistakes that one result can name: iterating twice shows only beside a call with a list."""
    return tuple(p for p in spec.planted if p.mistake is not ITERATED_TWICE)


def _as_student_called(planted: tuple[Planted, ...]) -> tuple[Planted, ...]:
    """The planted penalties, called as the reference is: ``f(*tensors)``."""
    return tuple(replace(p, function=from_tensors(p.function)) for p in planted)


@entry
def check_penalty(student, kind: str, *, gradients: bool = False, devices=None, **parameters) -> Report:
    """Compare ``student(generator of tensors)`` with Σ|w| or Σw² (see ``make_parameters``).

    With ``gradients=True`` the gradient with respect to every tensor is compared too.
    """
    spec = _spec(kind)
    arguments = spec.make_arguments(**parameters)
    _precheck(student, kind, arguments, gradients)
    return check_against_reference(
        from_tensors(student), spec.reference, arguments, name=spec.name,
        grad_wrt=tuple(arguments) if gradients else (), planted=_as_student_called(_compared(spec)),
        devices=devices, forbidden=spec.forbidden,
    )


def _close(result, expected: torch.Tensor) -> bool:
    return (isinstance(result, torch.Tensor) and result.shape == expected.shape
            and bool(torch.allclose(result.detach(), expected, rtol=1e-5, atol=1e-6)))


@entry
def check_penalty_of_model(student, kind: str) -> Report:
    """Check ``student(model.parameters())`` on a small network, and a weights-only list.

    Calling ``.backward()`` on the penalty must give every parameter the gradient
    of the penalty: sign(w) for L1, 2w for L2.
    """
    spec = _spec(kind)
    name = spec.name
    with torch.random.fork_rng(devices=[]):  # leave the notebook's random sequence alone
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))
    cases = {
        "model.parameters()": lambda: model.parameters(),
        "the weights only, [p for n, p in model.named_parameters() if n.endswith('weight')]": lambda: (
            p for n, p in model.named_parameters() if n.endswith("weight")
        ),
    }
    report = Report(f"{name}(model.parameters()) for nn.Sequential(Linear(5, 4), Tanh(), Linear(4, 3))", ["cpu"])
    for what, parameters in cases.items():
        where = f"{name}({what})"
        penalized = list(parameters())
        model.zero_grad(set_to_none=True)
        # The reference and the gradients it implies, from the weights before the call: a penalty
        # that changes them must not be judged against what it left.
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        expected = penalty([before[n] for n, p in model.named_parameters() if any(p is q for q in penalized)], kind)
        result = _call(student, parameters(), where)
        changed = [n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])]
        if changed:
            fail(where, summary=f"it changed {changed[0]} in place; a penalty reads the weights and changes "
                 "none of them.")
        _fail_if_iterated_twice(student, result, penalized, kind, where)
        _fail_if_not_differentiable(result, True, where)
        if not isinstance(result, torch.Tensor) or result.shape != ():
            fail(where, summary=f"it returned {_describe(result)}; expected a 0-dimensional tensor.")
        if not _close(result, expected):
            values = [t.detach() for t in penalized]
            fail_diagnosed(where, result, expected, summary=f"it returned {result.item():.6g}, expected "
                           f"{expected.item():.6g}.", planted=_compared(spec),
                           run=lambda function: function(t for t in values), agree=_close, clue=None)
        call_student(result.backward, (), where=f"{where}.backward()", copy=False).result()
        penalized_ids = {id(q) for q in penalized}
        for n, p in model.named_parameters():
            if id(p) not in penalized_ids:
                if p.grad is not None and bool(p.grad.ne(0).any()):
                    fail(where, summary=f"{n} is not in the iterable, but its gradient is not zero.")
                continue
            wanted = before[n].sign() if kind == "l1" else 2 * before[n]
            if p.grad is None or not torch.allclose(p.grad, wanted, rtol=1e-5, atol=1e-6):
                rule = "sign(w)" if kind == "l1" else "2w"
                fail(where, summary=f"after .backward(), {n}.grad is not the gradient of the penalty, {rule}.")
    return report


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"{value!r} (of type {type(value).__name__})"


@entry
def check_penalty_of_nothing(student, kind: str) -> Report:
    """Check that an empty iterable (an empty list, an empty generator) gives the tensor 0."""
    name = _spec(kind).name
    for what, empty in (("[]", lambda: []), ("an empty generator", lambda: (t for t in ()))):
        where = f"{name}({what})"
        result = _call(student, empty(), where)
        if isinstance(result, (int, float)) and not isinstance(result, bool) and result == 0:
            fail(where, summary=f"it returned the Python {type(result).__name__} 0.", mistake=EMPTY)
        if not isinstance(result, torch.Tensor) or result.shape != () or float(result) != 0.0:
            fail(where, summary=f"it returned {_describe(result)}; expected torch.tensor(0.0).")
    return Report(f"{name}([])", ["cpu"])
