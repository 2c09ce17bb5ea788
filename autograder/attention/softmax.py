"""Softmax along ``dim``, against ``torch.softmax``: the exercise's first step towards attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.calling import aten, call_student
from ..core.compare import OUTPUT, describe_wrong_type
from ..core.engine import fail_naming
from ..core.failure import fail
from ..core.forbidden import Forbidden
from ..core.mistakes import Mistake, UNSTABLE_SOFTMAX, by_position, catch, plant
from ..core.report import Report, entry
from ..core.spec import Operation

# --- the planted implementation ---


def _softmax(input, dim, *, axis="dim", shift="max", log=False):
    """A stable softmax along ``dim``, whose keywords plant one mistake each.

    ``axis``: "dim", "other" (the axis a hard-coded dim picks when it is not ``dim``) or
    "all" (every element at once). ``shift``, what is subtracted before exp(): "max" (the
    maximum along ``dim``, keepdim=True), "none", "max_without_keepdim" or "max_in_place" (the
    maximum subtracted from the caller's tensor itself). ``log``: the log-softmax instead of the weights.
    """
    if axis == "other":
        dim = 0 if dim in (-1, input.dim() - 1) else -1
    elif axis == "all":
        exp = (input - input.max()).exp()
        return exp / exp.sum()
    if shift == "none":
        shifted = input
    elif shift == "max_in_place":  # input -= input.amax(...): right weights, the caller's logits lost
        shifted = input.sub_(input.amax(dim, keepdim=True))
    elif shift == "max_without_keepdim":  # (..., n) minus (...,): broadcast along the last axis, not along ``dim``
        shifted = input - input.amax(dim)
    else:
        shifted = input - input.amax(dim, keepdim=True)
    if log:
        return shifted - shifted.exp().sum(dim, keepdim=True).log()
    exp = shifted.exp()
    return exp / exp.sum(dim, keepdim=True)


# --- its mistakes ---

SOFTMAX_WHOLE_TENSOR = Mistake(
    "attention.softmax_whole_tensor",
    "the softmax normalizes over every element instead of along `dim`: sum with .sum(dim, keepdim=True).",
)
SOFTMAX_WRONG_AXIS = Mistake(
    "attention.softmax_wrong_axis",
    "the softmax is taken along another axis than `dim` (a fixed axis such as -1 or 0?): use `dim` in both "
    "the maximum and the sum, input.amax(dim, keepdim=True) and exp.sum(dim, keepdim=True), so that the "
    "weights along `dim` sum to 1.",
)
LOG_SOFTMAX = Mistake(
    "attention.log_softmax",
    "the output is the log-softmax, x - logsumexp(x): its values are at most 0 and do not sum to 1. "
    "Return the weights themselves, exp(x - max) / exp(x - max).sum(dim, keepdim=True).",
)
MAX_WITHOUT_KEEPDIM = Mistake(
    "attention.max_without_keepdim",
    "the maximum subtracted before exp() is taken without keepdim=True: input.amax(dim) drops the axis, so "
    "it broadcasts along the wrong axis (the maximum of row i is subtracted from column i) and no longer "
    "cancels out. Subtract input.amax(dim, keepdim=True).",
)
SOFTMAX_MODIFIES_INPUT = Mistake(
    "attention.softmax_modifies_input",
    "the softmax changes its input in place (input -= input.amax(...), input.sub_(...) or input.exp_()), so "
    "the caller's logits are lost; torch.softmax leaves them unchanged. Compute into a new tensor: "
    "shifted = input - input.amax(dim, keepdim=True).",
)

SOFTMAX_MISTAKES = (
    plant(by_position(_softmax, shift="none"),
          UNSTABLE_SOFTMAX(detail="exp() overflows to inf for large logits, and inf / inf gives NaN"),
          catch("check_softmax", shape=(3, 5), scale=1000.0), catch("check_softmax_rows_sum_to_one", scale=100.0)),
    # A hard-coded axis: -1 when `dim` is 0, or 0 when `dim` is the last axis.
    plant(by_position(_softmax, axis="other"), SOFTMAX_WRONG_AXIS, catch("check_softmax", shape=(4, 6), dim=0),
          catch("check_softmax", shape=(4, 6), dim=-1)),
    # Over the whole tensor, the planted softmax is always stable and never a log-softmax.
    plant(by_position(_softmax, axis="all"), SOFTMAX_WHOLE_TENSOR, catch("check_softmax", shape=(4, 6), dim=-1)).excluding(
        "unstable_softmax", "attention.log_softmax", "attention.max_without_keepdim", "attention.softmax_modifies_input"),
    # A square input first: there a maximum taken without keepdim broadcasts too.
    plant(by_position(_softmax, log=True), LOG_SOFTMAX, catch("check_softmax", shape=(5, 5)),
          catch("check_softmax", shape=(4, 6)), catch("check_softmax_rows_sum_to_one")),
    # Without keepdim the maximum broadcasts silently only when the shapes allow it: square, or one column.
    # Along the other axis, the maximum of the wrong axis is constant along the softmax's: it cancels out.
    plant(by_position(_softmax, shift="max_without_keepdim"), MAX_WITHOUT_KEEPDIM, catch("check_softmax", shape=(5, 5)),
          catch("check_softmax", shape=(3, 1), dim=1)).excluding("attention.softmax_wrong_axis"),
    # The weights are right: only the input, compared after the call, shows it.
    plant(by_position(_softmax, shift="max_in_place"), SOFTMAX_MODIFIES_INPUT,
          catch("check_softmax_leaves_input_unchanged"), catch("check_softmax_leaves_input_unchanged", dim=0)),
)

# --- the spec ---


def make_softmax_arguments(shape=(4, 6), dim=-1, *, scale=1.0, dtype=torch.float32, seed=0, input=None) -> dict:
    """Seeded logits times ``scale`` (or the given ``input``) and ``dim``."""
    if input is None:
        generator = torch.Generator().manual_seed(seed)
        input = scale * torch.randn(shape, generator=generator, dtype=torch.float64)
    return {"input": input.to(dtype), "dim": dim}


SOFTMAX = Operation(
    "softmax", torch.softmax, make_softmax_arguments, differentiable=("input",), planted=SOFTMAX_MISTAKES,
    forbidden=Forbidden("softmax", {
        torch.softmax: "torch.softmax", F.softmax: "torch.nn.functional.softmax",
        torch.Tensor.softmax: "Tensor.softmax", torch.log_softmax: "torch.log_softmax",
        F.log_softmax: "torch.nn.functional.log_softmax", torch.Tensor.log_softmax: "Tensor.log_softmax",
        F.softmin: "torch.nn.functional.softmin",
        # The kernels, whatever route reaches them (nn.Softmax, torch.ops.aten).
        **aten("softmax", "_softmax", "log_softmax", "_log_softmax", "_safe_softmax"),
        # Refused at run time through the functions above, named here for the check of an answer's source.
        nn.Softmax: "torch.nn.Softmax", nn.LogSoftmax: "torch.nn.LogSoftmax", nn.Softmin: "torch.nn.Softmin",
    }),
)


def _weights_problem(weights) -> str | None:
    """What makes ``weights`` not a distribution along the last axis, or None."""
    worst = (weights.sum(-1) - 1).abs().max().item()
    if not bool(torch.isfinite(weights).all()):
        return "the weights contain NaN or inf."
    if not (bool((weights >= 0).all()) and bool((weights <= 1).all())):
        return "some weights are outside [0, 1]."
    if worst > 1e-5:
        return f"the rows sum to values up to {worst:.3g} away from 1."
    return None


# --- the check entries ---


@entry
def check_softmax(student, *, shape=(4, 6), dim=-1, scale=1.0, dtype=torch.float32, seed=0,
                  input=None, gradients=False, devices=None) -> Report:
    """Compare ``student(input, dim)`` with ``torch.softmax`` on seeded logits times ``scale``."""
    return SOFTMAX.compare(student, gradients=gradients, devices=devices, shape=shape, dim=dim, scale=scale,
                           dtype=dtype, seed=seed, input=input)


@entry
def check_softmax_rows_sum_to_one(student, *, shape=(5, 7), scale=30.0, seed=0) -> Report:
    """Property: along ``dim`` the weights are in [0, 1] and sum to 1, even for large logits."""
    generator = torch.Generator().manual_seed(seed)
    input = scale * torch.randn(shape, generator=generator)
    report = Report(f"softmax(input: {tuple(shape)} float32 with logits up to {input.abs().max():.0f}, dim=-1)")
    where = f"{report.call} on cpu"
    arguments = {"input": input, "dim": -1}
    weights = call_student(student, arguments, where=where, forbidden=SOFTMAX.forbidden).result()
    expected = torch.softmax(input, -1)
    problem = describe_wrong_type(OUTPUT, weights, expected)
    if problem:
        fail(where, problems=(problem,))
    problem = _weights_problem(weights)
    if problem:
        fail_naming(where, problem, weights, expected, SOFTMAX.planted, arguments, SOFTMAX.name)
    report.devices.append("cpu")
    return report


@entry
def check_softmax_leaves_input_unchanged(student, *, shape=(4, 6), dim=-1, scale=5.0, seed=0) -> Report:
    """Property: the caller's logits hold the same values after the call (the weights are checked elsewhere)."""
    arguments = make_softmax_arguments(shape, dim, scale=scale, seed=seed)
    report = Report(f"softmax(input: {tuple(shape)} float32, dim={dim}), the input after the call")
    where = f"{report.call} on cpu"
    original = arguments["input"]
    input = original.clone()
    # copy=False: the student's code receives the very tensor that is inspected afterwards.
    call_student(student, [input, dim], where=where, forbidden=SOFTMAX.forbidden, copy=False).result()
    if not torch.equal(input, original):
        changed = int((input != original).sum())
        fail(where, problems=(f"{changed} of {input.numel()} elements of the input changed during the call.",),
             mistake=SOFTMAX_MODIFIES_INPUT)
    report.devices.append("cpu")
    return report
