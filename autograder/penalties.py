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

The reference is ``penalty`` below. The checks hand the student's function a
generator, never a list, so that iterating over it twice is caught.
"""

from __future__ import annotations

import torch
from torch import nn

from .core import integrity
from .core.harness import Report, Variant, check_against_reference, quiet

KINDS = ("l1", "l2")

# Mistakes named in failure messages.
SQUARES_IN_L1 = (
    "the weights are squared. The L1 penalty is the sum of absolute values, "
    "Σ|w| (torch.abs); Σw² is the L2 penalty."
)
ABS_IN_L2 = (
    "the penalty sums absolute values. The L2 penalty is the sum of squares, "
    "Σw² (w ** 2); Σ|w| is the L1 penalty."
)
NORM_IN_L2 = (
    "the penalty is the L2 norm √(Σw²). The L2 penalty is Σw², without the square root."
)
HALF_IN_L2 = (
    "the penalty is multiplied by 1/2. This exercise's penalty is Σw² alone: "
    "any constant factor belongs to λ, which the caller applies."
)
MEAN = (
    "each tensor is averaged (.mean()) instead of summed. The penalty sums over "
    "every element of every tensor: use .sum()."
)
FIRST_ONLY = (
    "only the first tensor is penalized. Add up the penalty of every tensor the "
    "iterable yields (is there a `return` inside the loop?)."
)
ITERATED_TWICE = (
    "the parameters are iterated over twice. A generator such as model.parameters() "
    "is empty the second time: loop over it once, or make a list of it first."
)
DETACHED = (
    "the penalty is cut off from autograd ({how}), so training would not shrink "
    "the weights. Compute it with torch operations and return the tensor."
)
EMPTY = (
    "the sum of nothing is Python's int 0, not a tensor. Start the sum from "
    "torch.tensor(0.0) so that the result is always a tensor."
)


def penalty(parameters, kind: str = "l1") -> torch.Tensor:
    """The reference: Σ|w| (``kind="l1"``) or Σw² (``kind="l2"``) over every tensor."""
    elementwise = torch.abs if kind == "l1" else torch.square
    return sum((elementwise(p).sum() for p in parameters), torch.tensor(0.0))


def _wrong_penalty(parameters, kind, mistake):
    """The penalty with one known mistake, for naming a student's mistake."""
    parameters = iter(parameters)
    if mistake == "iterated_twice":
        count = sum(1 for _ in parameters)  # exhausts a generator
        return torch.tensor(0.0) + 0 * count
    if mistake == "first_only":
        parameters = [next(parameters)]
    elementwise = {
        "squares": torch.square, "abs": torch.abs, "mean": torch.abs if kind == "l1" else torch.square,
        "norm": torch.square, "half": torch.square, "first_only": torch.abs if kind == "l1" else torch.square,
    }[mistake]
    reduce = torch.mean if mistake == "mean" else torch.sum
    total = sum((reduce(elementwise(p)) for p in parameters), torch.tensor(0.0))
    if mistake == "norm":
        return total.sqrt()
    if mistake == "half":
        return 0.5 * total
    return total


def _from_tensors(function):
    """``function(parameters)`` called as ``f(*tensors)``, with the tensors as a generator."""
    return lambda *tensors: function(t for t in tensors)


def _variants(kind: str) -> tuple[Variant, ...]:
    mistakes = {
        "l1": [("squares", SQUARES_IN_L1)],
        "l2": [("abs", ABS_IN_L2), ("norm", NORM_IN_L2), ("half", HALF_IN_L2)],
    }[kind] + [("mean", MEAN), ("first_only", FIRST_ONLY), ("iterated_twice", ITERATED_TWICE)]
    return tuple(
        Variant(text, _from_tensors(lambda ps, m=mistake: _wrong_penalty(ps, kind, m)))
        for mistake, text in mistakes
    )


VARIANTS = {kind: _variants(kind) for kind in KINDS}


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


def _call(student, parameters, where: str):
    """Call the student's function; make every failure an AssertionError that says what to do."""
    try:
        return student(parameters)
    except NotImplementedError:
        raise AssertionError(f"{where}: the function is not implemented yet (it raised NotImplementedError).") from None
    except Exception as error:  # noqa: BLE001 - reported to the student
        raise AssertionError(f"{where} raised {type(error).__name__}: {error}") from None


def _precheck(student, kind: str, arguments: dict, gradients: bool) -> None:
    """Name the mistakes the comparison with the reference cannot name.

    A Python number or a NumPy value cannot be compared as a tensor, and a
    tensor cut off from autograd has the right value: say why each is wrong.
    """
    tensors = [t.detach().clone().requires_grad_(True) for t in arguments.values()]
    where = f"{_name(kind)}(a generator of {len(tensors)} tensors that require grad)"
    with quiet():
        result = _call(student, (t for t in tensors), where)
        expected = penalty(tensors, kind).item()
    problem = _problem_with(result, expected, gradients)
    if problem:
        raise AssertionError(f"{where} {problem}")


def _problem_with(result, expected: float, gradients: bool) -> str | None:
    """What is wrong with a result that cannot be compared as a tensor, or is detached."""
    is_number = isinstance(result, (int, float)) and not isinstance(result, bool)
    is_numpy = type(result).__module__ == "numpy"
    if is_number or is_numpy or _is_scalar_tensor(result):
        value = float(result.detach()) if isinstance(result, torch.Tensor) else float(result)
        if value == 0.0 != expected:
            return f"returned 0, expected {expected:.6g}.\nLikely mistake: {ITERATED_TWICE}"
    how = None
    if is_number:
        how = f"it returns a Python {type(result).__name__}: .item() and float() leave autograd"
    elif is_numpy:
        how = "it returns a NumPy value: NumPy operations are not recorded by autograd"
    elif gradients and _is_scalar_tensor(result) and not result.requires_grad:
        how = ("the result does not require grad: no .detach(), .item(), .data, torch.tensor(...), "
               "NumPy or torch.no_grad()")
    if how:
        return "returned a result that is not differentiable.\nLikely mistake: " + DETACHED.format(how=how)
    return None


def _is_scalar_tensor(value) -> bool:
    return isinstance(value, torch.Tensor) and value.numel() == 1


def check_penalty(student, kind: str, *, gradients: bool = False, devices=None, **parameters) -> Report:
    """Compare ``student(generator of tensors)`` with Σ|w| or Σw² (see ``make_parameters``).

    With ``gradients=True`` the gradient with respect to every tensor is compared too.
    """
    name = _name(kind)
    arguments = make_parameters(**parameters)
    _precheck(student, kind, arguments, gradients)
    return check_against_reference(
        _from_tensors(student), _from_tensors(lambda ps: penalty(ps, kind)), arguments,
        name=name, grad_wrt=tuple(arguments) if gradients else (), variants=VARIANTS[kind],
        devices=devices,
    ).show()


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
    with quiet():
        for what, parameters in cases.items():
            where = f"{name}({what})"
            penalized = list(parameters())
            model.zero_grad(set_to_none=True)
            result = _call(student, parameters(), where)
            expected = penalty(penalized, kind)
            problem = _problem_with(result, expected.item(), gradients=True)
            if problem:
                raise AssertionError(f"{where} {problem}")
            if not isinstance(result, torch.Tensor) or result.shape != ():
                raise AssertionError(f"{where} returned {_describe(result)}; expected a 0-dimensional tensor.")
            if not torch.allclose(result.detach(), expected, rtol=1e-5, atol=1e-6):
                mistake = _match_variant(kind, penalized, result)
                raise AssertionError(
                    f"{where} returned {result.item():.6g}, expected {expected.item():.6g}."
                    + (f"\nLikely mistake: {mistake}" if mistake else "")
                )
            result.backward()
            penalized_ids = {id(q) for q in penalized}
            for n, p in model.named_parameters():
                if id(p) not in penalized_ids:
                    if p.grad is not None and bool(p.grad.ne(0).any()):
                        raise AssertionError(f"{where}: {n} is not in the iterable, but its gradient is not zero.")
                    continue
                wanted = (p.sign() if kind == "l1" else 2 * p).detach()
                if p.grad is None or not torch.allclose(p.grad, wanted, rtol=1e-5, atol=1e-6):
                    rule = "sign(w)" if kind == "l1" else "2w"
                    raise AssertionError(
                        f"{where}: after .backward(), {n}.grad is not the gradient of the penalty, {rule}."
                    )
    return report.show()


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"{value!r} (of type {type(value).__name__})"


def _match_variant(kind, tensors, result) -> str | None:
    for variant in VARIANTS[kind]:
        wrong = variant.function(*[t.detach() for t in tensors])
        if torch.allclose(result.detach(), wrong, rtol=1e-5, atol=1e-6):
            return variant.mistake
    return None


def check_penalty_of_nothing(student, kind: str) -> Report:
    """Check that an empty iterable (an empty list, an empty generator) gives the tensor 0."""
    name = _name(kind)
    with quiet():
        for what, empty in (("[]", lambda: []), ("an empty generator", lambda: (t for t in ()))):
            where = f"{name}({what})"
            result = _call(student, empty(), where)
            if isinstance(result, (int, float)) and not isinstance(result, bool) and result == 0:
                raise AssertionError(f"{where} returned the Python {type(result).__name__} 0.\nLikely mistake: {EMPTY}")
            if not isinstance(result, torch.Tensor) or result.shape != () or float(result) != 0.0:
                raise AssertionError(f"{where} returned {_describe(result)}; expected torch.tensor(0.0).")
    return Report(f"{name}([])", ["cpu"]).show()

# Trust this module and what it uses, before any student code runs (see autograder.integrity).
integrity.trust_package()
