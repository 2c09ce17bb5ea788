"""Checks for the BatchNorm exercise.

The reference is ``torch.nn.functional.batch_norm`` itself. The wrong variants
below are the mistakes students make most often; when a student's results
match one of them, the failure message names it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .core import integrity
from .core.arguments import per_channel_tensors
from .core.calling import aten
from .core.forbidden import Forbidden
from .core.mistakes import (
    BATCH_STATS_IN_EVAL, BIASED_RUNNING_VAR, EPS_OUTSIDE_SQRT, FLIPPED_MOMENTUM, UNBIASED_VARIANCE, Mistake, catch,
    plant,
)
from .core.report import Report, entry
from .core.spec import ErrorInput, Operation
from .core.tolerances import Tolerance

# --- the planted implementation ---


def _batch_norm(
    input, running_mean, running_var, weight=None, bias=None, training=False,
    momentum=0.1, eps=1e-5, *, unbiased_normalization=False, eps_outside_sqrt=False,
    biased_running_var=False, flipped_momentum=False, batch_stats_in_eval=False, swapped=False,
    eval_eps=True, eval_affine=True, running="updated", running_var_holds="variance", axes="all but channels",
):
    """Batch normalization with switches that each plant one known mistake, and combine.

    ``running``: "updated" or "not updated"; ``running_var_holds``: "variance", "std" or
    "variance + eps"; ``axes``: "all but channels", or "batch" (axis 0 only: a statistic per
    channel and position); ``eval_eps`` and ``eval_affine``: False leaves eps, or weight and
    bias, out in evaluation mode only.
    """
    if swapped:
        weight, bias = bias, weight
    dims = [d for d in range(input.dim()) if d != 1]
    per_channel = [1, -1] + [1] * (input.dim() - 2)  # broadcast a (C,) vector
    if training or batch_stats_in_eval:
        over = [0] if axes == "batch" else dims
        mean = input.mean(dim=over, keepdim=True)
        var = input.var(dim=over, unbiased=unbiased_normalization, keepdim=True)
    else:
        mean, var = running_mean.reshape(per_channel), running_var.reshape(per_channel)
    if training and running_mean is not None and running == "updated":
        with torch.no_grad():
            new_weight = 1 - momentum if flipped_momentum else momentum
            batch_var = input.var(dim=dims, unbiased=not biased_running_var)
            batch_var = {"variance": batch_var, "std": batch_var.sqrt(), "variance + eps": batch_var + eps}[
                running_var_holds]
            running_mean.mul_(1 - new_weight).add_(new_weight * input.mean(dim=dims))
            running_var.mul_(1 - new_weight).add_(new_weight * batch_var)
    eps_here = eps if (training or eval_eps) else 0.0
    std = var.sqrt() + eps_here if eps_outside_sqrt else (var + eps_here).sqrt()
    out = (input - mean) / std
    if not (training or eval_affine):
        return out
    if weight is not None:
        out = out * weight.reshape(per_channel)
    if bias is not None:
        out = out + bias.reshape(per_channel)
    return out


# --- its mistakes ---

_TRAINING = catch("check_batch_norm", training=True)
_RUNNING = catch("check_batch_norm", training=True, shape=(16, 5), momentum=0.3)
_EVAL = catch("check_batch_norm", training=False)
_SPATIAL = catch("check_batch_norm", shape=(8, 3, 4, 4), training=True, seed=3)
EVAL_WITHOUT_EPS = Mistake(
    "batch_norm.eval_without_eps",
    "evaluation mode (training=False) leaves eps out: it divides by sqrt(running_var). Add eps there too: "
    "(x - running_mean) / sqrt(running_var + eps).")
EVAL_WITHOUT_AFFINE = Mistake(
    "batch_norm.eval_without_affine",
    "evaluation mode (training=False) leaves out weight and bias. Scale and shift in both modes: "
    "weight * x_hat + bias.")
RUNNING_NOT_UPDATED = Mistake(
    "batch_norm.running_not_updated",
    "running_mean and running_var are left unchanged in training mode: the new values are computed but "
    "never written back to the caller's tensors (a new tensor assigned to the name, or an update of a "
    "reshaped copy, does not reach them). Update them in place for every input shape, e.g. "
    "running_mean.mul_(1 - momentum).add_(momentum * mean).")
RUNNING_VAR_HOLDS_STD = Mistake(
    "batch_norm.running_var_holds_std",
    "running_var is updated with the standard deviation. It holds a variance: update it with the batch's "
    "unbiased variance, not its square root.")
RUNNING_VAR_HOLDS_VAR_PLUS_EPS = Mistake(
    "batch_norm.running_var_holds_var_plus_eps",
    "running_var is updated with var + eps. eps belongs to the normalization only: update running_var with "
    "the batch's unbiased variance, and add eps where you divide.")
BATCH_AXIS_ONLY = Mistake(
    "batch_norm.batch_axis_only",
    "the statistics are taken over the batch axis only, one per channel and position. Batch normalization "
    "takes one mean and one variance per channel, over every axis except axis 1: for (N, C, H, W), over N, H "
    "and W.")

# A switch that leaves the running statistics alone hides every mistake in how they are written.
_UNWRITTEN = ("biased_running_var", "flipped_momentum", "batch_norm.running_var_holds_std",
              "batch_norm.running_var_holds_var_plus_eps")

MISTAKES = (
    plant(_batch_norm, UNBIASED_VARIANCE(operation="PyTorch", code="input.var(dim, unbiased=False)"),
          _TRAINING, unbiased_normalization=True),
    plant(_batch_norm, EPS_OUTSIDE_SQRT, catch("check_batch_norm", training=True, eps=0.5, scale=0.3),
          eps_outside_sqrt=True),
    plant(_batch_norm, BIASED_RUNNING_VAR, _RUNNING, biased_running_var=True),
    plant(_batch_norm, FLIPPED_MOMENTUM, _RUNNING, flipped_momentum=True),
    plant(_batch_norm, BATCH_STATS_IN_EVAL, _EVAL, batch_stats_in_eval=True),
    plant(_batch_norm, Mistake(
        "batch_norm.weight_and_bias_swapped",
        "weight and bias are swapped: the output is bias * x_hat + weight. Scale by weight (γ), "
        "then shift by bias (β): weight * x_hat + bias."),
        _TRAINING, swapped=True),
    # evaluation mode
    plant(_batch_norm, EVAL_WITHOUT_EPS, catch("check_batch_norm", shape=(6, 3), training=False, eps=0.5, seed=8),
          eval_eps=False),
    plant(_batch_norm, EVAL_WITHOUT_AFFINE, _EVAL, eval_affine=False),
    # running statistics
    plant(_batch_norm, RUNNING_NOT_UPDATED, _RUNNING, running="not updated").excluding(*_UNWRITTEN),
    plant(_batch_norm, RUNNING_VAR_HOLDS_STD, _RUNNING, running_var_holds="std"),
    plant(_batch_norm, RUNNING_VAR_HOLDS_VAR_PLUS_EPS, catch("check_batch_norm", training=True, shape=(16, 5),
                                                            momentum=0.3, eps=0.5), running_var_holds="variance + eps"),
    # axes
    plant(_batch_norm, BATCH_AXIS_ONLY, _SPATIAL, axes="batch"),
)

# --- the spec ---


def make_arguments(
    shape=(8, 3, 4, 4), *, training=True, affine=True, momentum=0.1, eps=1e-5,
    dtype=torch.float32, seed=0, input=None, scale=1.0,
) -> dict:
    """Seeded arguments for one call of ``batch_norm``, in PyTorch's order."""
    generator = torch.Generator().manual_seed(seed)
    if input is None:
        input = 2.0 + scale * torch.randn(shape, generator=generator, dtype=torch.float64)
    running_mean, running_var, weight, bias = per_channel_tensors(input.shape[1], generator, affine=affine)
    cast = lambda t: None if t is None else t.to(dtype)  # noqa: E731
    return {
        "input": cast(input), "running_mean": cast(running_mean), "running_var": cast(running_var),
        "weight": cast(weight), "bias": cast(bias), "training": training,
        "momentum": momentum, "eps": eps,
    }


BATCH_NORM = Operation(
    "batch_norm", F.batch_norm, make_arguments, state=("running_mean", "running_var"),
    differentiable=("input", "weight", "bias"), planted=MISTAKES,
    # Calling PyTorch's own batch normalization would pass every test. Its kernels are refused
    # whatever route reaches them: nn.BatchNorm1d's forward, torch.ops.aten, torch._C.
    forbidden=Forbidden("batch_norm", {
        F.batch_norm: "torch.nn.functional.batch_norm",
        torch.batch_norm: "torch.batch_norm",
        torch.native_batch_norm: "torch.native_batch_norm",
        **aten(
            "batch_norm", "_batch_norm_impl_index", "native_batch_norm", "_native_batch_norm_legit",
            "_native_batch_norm_legit_no_training", "_native_batch_norm_legit_functional", "_batch_norm_with_update",
            "_batch_norm_with_update_functional", "_batch_norm_no_update", "cudnn_batch_norm", "miopen_batch_norm",
            "batch_norm_elemt",
        ),
        # The modules that compute it: refused at run time through the function their forward
        # calls, named here for the check of an answer's source (autograder.core.forbidden).
        nn.BatchNorm1d: "torch.nn.BatchNorm1d", nn.BatchNorm2d: "torch.nn.BatchNorm2d",
        nn.BatchNorm3d: "torch.nn.BatchNorm3d", nn.SyncBatchNorm: "torch.nn.SyncBatchNorm",
        nn.LazyBatchNorm1d: "torch.nn.LazyBatchNorm1d", nn.LazyBatchNorm2d: "torch.nn.LazyBatchNorm2d",
        nn.LazyBatchNorm3d: "torch.nn.LazyBatchNorm3d",
    }),
    error_inputs=(ErrorInput(dict(shape=(1, 3), training=True), ValueError,
                             "in training mode when each channel has a single value (the variance is undefined)"),),
    tolerances={
        ("output", torch.float16): Tolerance(
            rtol=1e-2,
            atol=1e-3,
            reason="PyTorch accumulates half-precision statistics in float32; a "
            "student's float16 mean and variance round at every step",
        ),
        ("grad", torch.float32): Tolerance(
            rtol=1e-4,
            atol=1e-5,
            reason="the input gradient subtracts two sums over N*H*W terms that "
            "nearly cancel, so an autograd graph of elementary operations "
            "differs from PyTorch's fused backward by more than a few ulps",
        ),
        ("grad", torch.float64): Tolerance(
            rtol=1e-6,
            atol=1e-7,
            reason="the same cancellation as in float32, at float64 precision",
        ),
    },
)
SPECS = (BATCH_NORM,)

# --- the check entries ---


@entry
def check_batch_norm(student, *, gradients: bool = False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.batch_norm`` on seeded arguments (see ``make_arguments``).

    Compares the output and the running statistics after the call and, with
    ``gradients=True``, the gradients with respect to input, weight and bias.
    The running statistics follow PyTorch's conventions, not CS231n's: momentum is
    the weight of the new batch, running = (1 - momentum) * running + momentum * batch,
    and running_var receives the unbiased variance (divided by n - 1).
    """
    return BATCH_NORM.compare(student, gradients=gradients, devices=devices, **arguments)


@entry
def check_batch_norm_rejects_single_value(student, devices=None) -> Report:
    """Check that training with one value per channel raises ValueError, as PyTorch does."""
    return BATCH_NORM.expect_error(student, 0, devices=devices)


# Trust this module and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
