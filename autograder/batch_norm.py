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
):
    """Batch normalization with switches that each plant one known mistake."""
    if swapped:
        weight, bias = bias, weight
    dims = [d for d in range(input.dim()) if d != 1]
    per_channel = [1, -1] + [1] * (input.dim() - 2)  # broadcast a (C,) vector
    if training or batch_stats_in_eval:
        mean = input.mean(dim=dims)
        var = input.var(dim=dims, unbiased=unbiased_normalization)
    else:
        mean, var = running_mean, running_var
    if training and running_mean is not None:
        with torch.no_grad():
            new_weight = 1 - momentum if flipped_momentum else momentum
            unbiased = input.var(dim=dims, unbiased=not biased_running_var)
            running_mean.mul_(1 - new_weight).add_(new_weight * mean)
            running_var.mul_(1 - new_weight).add_(new_weight * unbiased)
    std = var.sqrt() + eps if eps_outside_sqrt else (var + eps).sqrt()
    out = (input - mean.reshape(per_channel)) / std.reshape(per_channel)
    if weight is not None:
        out = out * weight.reshape(per_channel)
    if bias is not None:
        out = out + bias.reshape(per_channel)
    return out


# --- its mistakes ---

MISTAKES = (
    plant(_batch_norm, UNBIASED_VARIANCE(operation="PyTorch", code="input.var(dim, unbiased=False)"),
          catch("check_batch_norm", training=True), unbiased_normalization=True),
    plant(_batch_norm, EPS_OUTSIDE_SQRT, catch("check_batch_norm", training=True, eps=0.5, scale=0.3),
          eps_outside_sqrt=True),
    plant(_batch_norm, BIASED_RUNNING_VAR, catch("check_batch_norm", training=True, shape=(16, 5), momentum=0.3),
          biased_running_var=True),
    plant(_batch_norm, FLIPPED_MOMENTUM, catch("check_batch_norm", training=True, shape=(16, 5), momentum=0.3),
          flipped_momentum=True),
    plant(_batch_norm, BATCH_STATS_IN_EVAL, catch("check_batch_norm", training=False), batch_stats_in_eval=True),
    plant(_batch_norm, Mistake(
        "batch_norm.weight_and_bias_swapped",
        "weight and bias are swapped: the output is bias * x_hat + weight. Scale by weight (γ), "
        "then shift by bias (β): weight * x_hat + bias."),
        catch("check_batch_norm", training=True), swapped=True),
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
    """
    return BATCH_NORM.compare(student, gradients=gradients, devices=devices, **arguments)


@entry
def check_batch_norm_rejects_single_value(student, devices=None) -> Report:
    """Check that training with one value per channel raises ValueError, as PyTorch does."""
    return BATCH_NORM.expect_error(student, 0, devices=devices)


# Trust this module and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
