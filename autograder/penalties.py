"""Checks for the L1 and L2 weight penalties of the regularization exercise.

PyTorch has no function for these penalties, so the contract is the course's:

* ``l1_penalty(parameters)`` returns Σ|w| and ``l2_penalty(parameters)`` returns
  Σw², summed over every element of every tensor in ``parameters``; no λ and no
  factor 1/2 (the caller multiplies by λ).
* ``parameters`` is any iterable of tensors, a generator such as
  ``model.parameters()`` included; every tensor it yields is penalized, biases
  too, so a caller who wants only the weights passes only the weights.
* The result is a 0-dimensional tensor on the parameters' device, differentiable
  with respect to every parameter; an empty iterable gives ``torch.tensor(0.0)``.

The reference is ``penalty`` below; ``_penalty`` re-implements it with one
keyword switch per known mistake. The checks hand the student's function a
generator, never a list, so that iterating over it twice is caught.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import numpy as np
import torch
from torch import nn

from .core import integrity
from .core.calling import call_student
from .core.checks import Report, check, check_against_reference, fail_diagnosed
from .core.failure import Failure
from .core.mistakes import DETACHED, Mistake, Planted, catch, diagnose

KINDS = ("l1", "l2")


def penalty(parameters, kind: str = "l1") -> torch.Tensor:
    """The reference: Σ|w| (``kind="l1"``) or Σw² (``kind="l2"``) over every tensor."""
    elementwise = torch.abs if kind == "l1" else torch.square
    return sum((elementwise(p).sum() for p in parameters), torch.tensor(0.0))


def _penalty(parameters, kind="l1", *, swapped=False, square_root=False, half=False, averaged=False,
             first_only=False, iterated_twice=False, tensor_norms=False, weights_only=False,
             python_sum=False, as_float=False, as_numpy=False, detached=False):
    """The penalty again, with a switch for each known mistake, to name a student's."""
    if iterated_twice:
        sum(1 for _ in parameters)  # exhausts a generator
    tensors = list(parameters)
    if first_only:
        tensors = tensors[:1]
    if weights_only:
        tensors = [p for p in tensors if p.dim() > 1]
    absolute = (kind == "l1") != swapped

    def each(p):
        if tensor_norms:
            return torch.norm(p)  # √Σw² of one tensor
        values = p.abs() if absolute else p.square()
        return values.mean() if averaged else values.sum()

    total = sum(each(p) for p in tensors) if python_sum else sum((each(p) for p in tensors), torch.tensor(0.0))
    if square_root:
        total = total.sqrt()
    if half:
        total = 0.5 * total
    if as_float:
        return total.item()
    if as_numpy:
        return total.detach().numpy()
    return total.detach() if detached else total


# --- the mistakes ----------------------------------------------------------------------

SQUARES_IN_L1 = Mistake(
    "penalties.squares_in_l1",
    "the weights are squared. The L1 penalty is the sum of absolute values, Σ|w| (torch.abs); Σw² is the L2 "
    "penalty.",
)
ABS_IN_L2 = Mistake(
    "penalties.abs_in_l2",
    "the penalty sums absolute values. The L2 penalty is the sum of squares, Σw² (w ** 2); Σ|w| is the L1 "
    "penalty.",
)
NORM_IN_L2 = Mistake(
    "penalties.norm_in_l2", "the penalty is the L2 norm √(Σw²). The L2 penalty is Σw², without the square root."
)
TENSOR_NORMS = Mistake(
    "penalties.tensor_norms",
    "the penalty adds up each tensor's Euclidean norm, torch.norm(p) = √(Σw²). {rule}",
)
HALF_IN_L2 = Mistake(
    "penalties.half_in_l2",
    "the penalty is multiplied by 1/2. This exercise's penalty is Σw² alone: any constant factor belongs to "
    "λ, which the caller applies.",
)
MEAN = Mistake(
    "penalties.mean",
    "each tensor is averaged (.mean()) instead of summed. The penalty sums over every element of every "
    "tensor: use .sum().",
)
FIRST_ONLY = Mistake(
    "penalties.first_only",
    "only the first tensor is penalized. Add up the penalty of every tensor the iterable yields (is there a "
    "`return` inside the loop?).",
)
WEIGHTS_ONLY = Mistake(
    "penalties.weights_only",
    "only the tensors with more than one dimension (the weight matrices) are penalized; the biases are "
    "skipped. Penalize every tensor the iterable yields: a caller who wants only the weights passes only "
    "the weights.",
)
ITERATED_TWICE = Mistake(
    "penalties.iterated_twice",
    "the parameters are iterated over twice. A generator such as model.parameters() is empty the second "
    "time: loop over it once, or make a list of it first.",
)
EMPTY = Mistake(
    "penalties.empty",
    "the sum of nothing is Python's int 0, not a tensor. Start the sum from torch.tensor(0.0) so that the "
    "result is always a tensor.",
)
NUMBER = "it returns a Python {type}: .item() and float() leave autograd"
NUMPY = "it returns a NumPy value: NumPy operations are not recorded by autograd"
NO_GRAD = ("the result does not require grad: no .detach(), .item(), .data, torch.tensor(...), NumPy or "
           "torch.no_grad()")


def _detached(how: str) -> Mistake:
    return DETACHED(what="penalty", how=how, consequence="training would not shrink the weights")


def _planted(mistake, kind, *catches, **switch) -> Planted:
    return Planted(mistake, partial(_penalty, kind=kind, **switch), catches)


def _mistakes(kind: str, *specific: tuple) -> tuple[Planted, ...]:
    """The planted mistakes of one kind: its own, and those both kinds share."""
    compared = (catch("check_penalty", kind), catch("check_penalty_of_model", kind))
    shared = (
        (MEAN, dict(averaged=True)), (FIRST_ONLY, dict(first_only=True)), (WEIGHTS_ONLY, dict(weights_only=True)),
        (ITERATED_TWICE, dict(iterated_twice=True)),
    )
    planted = [_planted(mistake, kind, *compared, **switch) for mistake, switch in specific + shared]
    return tuple(planted) + (
        _planted(EMPTY, kind, catch("check_penalty_of_nothing", kind), python_sum=True),
        _planted(_detached(NUMBER.format(type="float")), kind, catch("check_penalty", kind), as_float=True),
        _planted(_detached(NUMPY), kind, catch("check_penalty", kind), as_numpy=True),
        _planted(_detached(NO_GRAD), kind, catch("check_penalty", kind, gradients=True), detached=True),
    )


MISTAKES_BY_KIND = {
    "l1": _mistakes(
        "l1", (SQUARES_IN_L1, dict(swapped=True)),
        (TENSOR_NORMS(rule="The L1 penalty is Σ|w|: p.abs().sum(), or torch.norm(p, p=1)."), dict(tensor_norms=True)),
    ),
    "l2": _mistakes(
        "l2", (ABS_IN_L2, dict(swapped=True)), (NORM_IN_L2, dict(square_root=True)), (HALF_IN_L2, dict(half=True)),
        (TENSOR_NORMS(rule="The L2 penalty is Σw², without square roots: p.square().sum()."),
         dict(tensor_norms=True)),
    ),
}
MISTAKES = MISTAKES_BY_KIND["l1"] + MISTAKES_BY_KIND["l2"]


def make_parameters(shapes=((4, 3), (4,), (2, 4), (2,)), *, dtype=torch.float32, seed=0, zeros=False) -> dict:
    """Seeded tensors named ``parameters[i]``, like a small network's weights and biases.

    Values are drawn away from zero, so that Σ|w| and Σw² differ, unless
    ``zeros`` sets a few elements to exactly 0 (where |w| has a kink).
    """
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for i, shape in enumerate(shapes):
        values = torch.randn(shape, generator=generator, dtype=torch.float64)
        values = values + 0.5 * values.sign()  # |w| >= 0.5: |w| and w² differ
        if zeros and values.numel():
            values.view(-1)[:: 3] = 0.0
        tensors[f"parameters[{i}]"] = values.to(dtype)
    return tensors


def _name(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return f"{kind}_penalty"


def _from_tensors(function):
    """``function(parameters)`` called as ``f(*tensors)``, with the tensors as a generator."""
    return lambda *tensors: function(t for t in tensors)


def _call(student, parameters, where: str):
    """The student's penalty of ``parameters`` (passed as they are: a generator is consumed)."""
    return call_student(student, [parameters], where=where, copy=False).result()


def _precheck(student, kind: str, arguments: dict, gradients: bool) -> None:
    """Name the mistakes the comparison with the reference cannot name.

    A Python number or a NumPy value cannot be compared as a tensor, and a
    tensor cut off from autograd has the right value: say why each is wrong.
    """
    tensors = [t.detach().clone().requires_grad_(True) for t in arguments.values()]
    where = f"{_name(kind)}(a generator of {len(tensors)} tensors that require grad)"
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
        [p for p in MISTAKES_BY_KIND[kind] if p.mistake is ITERATED_TWICE],
        run=lambda function: (_value(function(t for t in tensors)), _value(function(list(tensors)))),
        agree=lambda a, b: all(_near(x, y) for x, y in zip(a, b)),
    )
    if mistake:
        Failure(where, summary=f"it returned {_value(result):.6g} for a generator, expected {expected:.6g}; for a "
                "list of the same tensors it returned the right value.", mistake=mistake.words).fail()


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
        Failure(where, summary="it returned a result that is not differentiable.",
                mistake=_detached(how).words).fail()


def _is_scalar_tensor(value) -> bool:
    return isinstance(value, torch.Tensor) and value.numel() == 1


def _compared(kind: str) -> tuple[Planted, ...]:
    """The mistakes that one result can name: iterating twice shows only beside a call with a list."""
    return tuple(p for p in MISTAKES_BY_KIND[kind] if p.mistake is not ITERATED_TWICE)


def _as_student_called(planted: tuple[Planted, ...]) -> tuple[Planted, ...]:
    """The planted penalties, called as the reference is: ``f(*tensors)``."""
    return tuple(replace(p, function=_from_tensors(p.function)) for p in planted)


@check
def check_penalty(student, kind: str, *, gradients: bool = False, devices=None, **parameters) -> Report:
    """Compare ``student(generator of tensors)`` with Σ|w| or Σw² (see ``make_parameters``).

    With ``gradients=True`` the gradient with respect to every tensor is compared too.
    """
    name = _name(kind)
    arguments = make_parameters(**parameters)
    _precheck(student, kind, arguments, gradients)
    return check_against_reference(
        _from_tensors(student), _from_tensors(lambda ps: penalty(ps, kind)), arguments,
        name=name, grad_wrt=tuple(arguments) if gradients else (),
        planted=_as_student_called(_compared(kind)), devices=devices,
    )


def _close(result, expected: torch.Tensor) -> bool:
    return (isinstance(result, torch.Tensor) and result.shape == expected.shape
            and bool(torch.allclose(result.detach(), expected, rtol=1e-5, atol=1e-6)))


@check
def check_penalty_of_model(student, kind: str) -> Report:
    """Check ``student(model.parameters())`` on a small network, and a weights-only list.

    Calling ``.backward()`` on the penalty must give every parameter the gradient
    of the penalty: sign(w) for L1, 2w for L2.
    """
    name = _name(kind)
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
            Failure(where, summary=f"it changed {changed[0]} in place; a penalty reads the weights and changes "
                    "none of them.").fail()
        _fail_if_iterated_twice(student, result, penalized, kind, where)
        _fail_if_not_differentiable(result, True, where)
        if not isinstance(result, torch.Tensor) or result.shape != ():
            Failure(where, summary=f"it returned {_describe(result)}; expected a 0-dimensional tensor.").fail()
        if not _close(result, expected):
            detached = [t.detach() for t in penalized]
            fail_diagnosed(where, result, expected, summary=f"it returned {result.item():.6g}, expected "
                           f"{expected.item():.6g}.", planted=_compared(kind),
                           run=lambda function: function(t for t in detached), agree=_close, clue=None)
        call_student(result.backward, (), where=f"{where}.backward()", copy=False).result()
        penalized_ids = {id(q) for q in penalized}
        for n, p in model.named_parameters():
            if id(p) not in penalized_ids:
                if p.grad is not None and bool(p.grad.ne(0).any()):
                    Failure(where, summary=f"{n} is not in the iterable, but its gradient is not zero.").fail()
                continue
            wanted = before[n].sign() if kind == "l1" else 2 * before[n]
            if p.grad is None or not torch.allclose(p.grad, wanted, rtol=1e-5, atol=1e-6):
                rule = "sign(w)" if kind == "l1" else "2w"
                Failure(where, summary=f"after .backward(), {n}.grad is not the gradient of the penalty, {rule}."
                        ).fail()
    return report


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"{value!r} (of type {type(value).__name__})"


@check
def check_penalty_of_nothing(student, kind: str) -> Report:
    """Check that an empty iterable (an empty list, an empty generator) gives the tensor 0."""
    name = _name(kind)
    for what, empty in (("[]", lambda: []), ("an empty generator", lambda: (t for t in ()))):
        where = f"{name}({what})"
        result = _call(student, empty(), where)
        if isinstance(result, (int, float)) and not isinstance(result, bool) and result == 0:
            Failure(where, summary=f"it returned the Python {type(result).__name__} 0.", mistake=EMPTY.words).fail()
        if not isinstance(result, torch.Tensor) or result.shape != () or float(result) != 0.0:
            Failure(where, summary=f"it returned {_describe(result)}; expected torch.tensor(0.0).").fail()
    return Report(f"{name}([])", ["cpu"])


# Trust this module and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
