"""What the L1 and L2 penalties share: the planted reference, the mistakes of both kinds and the spec's arguments."""

from __future__ import annotations

from functools import partial

import torch

from ..core.mistakes import DETACHED, Mistake, Planted, catch, plant
from ..core.spec import Operation

KINDS = ("l1", "l2")

# --- the planted implementation ---


def penalty(parameters, kind: str = "l1", *, tensors="all", term="own", total="sum", result="tensor"):
    """The reference: Σ|w| (``kind="l1"``) or Σw² (``kind="l2"``) over every tensor.

    Each keyword other than its default plants a known mistake, to name a student's:
    ``tensors`` which tensors are read ("first", "weights" with more than one
    dimension, "twice": a generator exhausted before the sum); ``term`` each
    tensor's term ("swapped": the other kind's, "norm": torch.norm(p), "mean");
    ``total`` what is done to the sum ("sqrt", "half"); ``result`` what is returned
    ("plain_sum": a sum that starts from Python's 0, "float", "numpy", "detached").
    """
    if tensors == "twice":
        sum(1 for _ in parameters)  # exhausts a generator
    chosen = list(parameters)
    if tensors == "first":
        chosen = chosen[:1]
    if tensors == "weights":
        chosen = [p for p in chosen if p.dim() > 1]
    absolute = (kind == "l1") != (term == "swapped")

    def each(p):
        if term == "norm":
            return torch.norm(p)  # √Σw² of one tensor
        values = p.abs() if absolute else p.square()
        return values.mean() if term == "mean" else values.sum()

    terms = (each(p) for p in chosen)
    summed = sum(terms) if result == "plain_sum" else sum(terms, torch.tensor(0.0))
    if total == "sqrt":
        summed = summed.sqrt()
    if total == "half":
        summed = 0.5 * summed
    if result == "float":
        return summed.item()
    if result == "numpy":
        return summed.detach().numpy()
    return summed.detach() if result == "detached" else summed


# --- its mistakes ---

TENSOR_NORMS = Mistake(
    "penalties.tensor_norms",
    "the penalty adds up each tensor's Euclidean norm, torch.norm(p) = √(Σw²). {rule}",
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


def detached(how: str) -> Mistake:
    return DETACHED(what="penalty", how=how, consequence="training would not shrink the weights")


def planted(kind: str, *specific: tuple) -> tuple[Planted, ...]:
    """The planted mistakes of one kind: its own (mistake, switch), and those both kinds share."""
    compared = (catch("check_penalty", kind), catch("check_penalty_of_model", kind))
    shared = (
        (MEAN, dict(term="mean")), (FIRST_ONLY, dict(tensors="first")), (WEIGHTS_ONLY, dict(tensors="weights")),
        (ITERATED_TWICE, dict(tensors="twice")),
    )
    return tuple(plant(penalty, mistake, *compared, kind=kind, **switch) for mistake, switch in specific + shared) + (
        plant(penalty, EMPTY, catch("check_penalty_of_nothing", kind), kind=kind, result="plain_sum"),
        plant(penalty, detached(NUMBER.format(type="float")), catch("check_penalty", kind), kind=kind,
              result="float"),
        plant(penalty, detached(NUMPY), catch("check_penalty", kind), kind=kind, result="numpy"),
        plant(penalty, detached(NO_GRAD), catch("check_penalty", kind, gradients=True), kind=kind,
              result="detached"),
    )


# --- the spec ---


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


def from_tensors(function):
    """``function(parameters)`` called as ``f(*tensors)``, with the tensors as a generator."""
    return lambda *tensors: function(t for t in tensors)


def spec(kind: str, *specific: tuple) -> Operation:
    """The penalty of one kind: called as ``f(*make_parameters().values())``, it penalizes them as one generator.

    ``specific`` are the kind's own mistakes, each with the switch of ``penalty`` that plants it.
    Nothing is forbidden: PyTorch has no function for these penalties.
    """
    return Operation(f"{kind}_penalty", from_tensors(partial(penalty, kind=kind)), make_parameters,
                     planted=planted(kind, *specific))
