"""Checks for the BatchNorm exercise.

The reference is ``torch.nn.functional.batch_norm`` itself. The wrong variants
below are the mistakes students make most often; when a student's results
match one of them, the failure message names it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .core import integrity
from .core.harness import Report, Variant, check_against_reference, check_raises

NAME = "batch_norm"
STATE = ("running_mean", "running_var")
# Calling PyTorch's own batch normalization would pass every test.
FORBIDDEN = {
    F.batch_norm: "torch.nn.functional.batch_norm",
    torch.batch_norm: "torch.batch_norm",
    torch.native_batch_norm: "torch.native_batch_norm",
}


def _batch_norm(
    input, running_mean, running_var, weight=None, bias=None, training=False,
    momentum=0.1, eps=1e-5, *, unbiased_normalization=False, eps_outside_sqrt=False,
    biased_running_var=False, flipped_momentum=False, batch_stats_in_eval=False,
):
    """Batch normalization with switches that each plant one known mistake."""
    dims = [d for d in range(input.dim()) if d != 1]
    per_channel = [1, -1] + [1] * (input.dim() - 2)  # broadcast a (C,) vector
    count = input.numel() // input.shape[1]
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


def _variant(**mistake):
    return lambda *args: _batch_norm(*args, **mistake)


VARIANTS = (
    Variant(
        "the variance used to normalize is the unbiased one (divided by n - 1). "
        "Normalize with the biased variance (divided by n), e.g. input.var(dim, unbiased=False).",
        _variant(unbiased_normalization=True),
    ),
    Variant(
        "epsilon is added outside the square root. Use (x - mean) / sqrt(var + eps).",
        _variant(eps_outside_sqrt=True),
    ),
    Variant(
        "running_var is updated with the biased variance. PyTorch stores the "
        "unbiased variance (divided by n - 1) in running_var, while it normalizes "
        "with the biased one.",
        _variant(biased_running_var=True),
    ),
    Variant(
        "the momentum convention is flipped. PyTorch computes "
        "running = (1 - momentum) * running + momentum * batch_statistic, "
        "so momentum=0.1 gives the new batch a weight of 0.1.",
        _variant(flipped_momentum=True),
    ),
    Variant(
        "evaluation mode (training=False) normalizes with the batch statistics. "
        "In evaluation mode use running_mean and running_var, and leave them unchanged.",
        _variant(batch_stats_in_eval=True),
    ),
)


def per_channel_tensors(channels, generator, *, running_stats=True, affine=True) -> tuple:
    """Seeded float64 (running_mean, running_var, weight, bias) of ``channels`` values, or None each."""
    running_mean = running_var = weight = bias = None
    if running_stats:
        # Away from (0, 1), so using or updating them matters.
        running_mean = 0.5 * torch.randn(channels, generator=generator, dtype=torch.float64)
        running_var = 0.5 + torch.rand(channels, generator=generator, dtype=torch.float64)
    if affine:
        weight = 1.0 + 0.5 * torch.randn(channels, generator=generator, dtype=torch.float64)
        bias = 0.5 * torch.randn(channels, generator=generator, dtype=torch.float64)
    return running_mean, running_var, weight, bias


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


def check_batch_norm(student, *, gradients: bool = False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.batch_norm`` on seeded arguments (see ``make_arguments``).

    Compares the output and the running statistics after the call and, with
    ``gradients=True``, the gradients with respect to input, weight and bias.
    """
    args = make_arguments(**arguments)
    grad_wrt = ()
    if gradients:
        grad_wrt = tuple(k for k in ("input", "weight", "bias") if args[k] is not None)
    return check_against_reference(
        student, F.batch_norm, args, name=NAME, state=STATE, grad_wrt=grad_wrt,
        variants=VARIANTS, devices=devices, forbidden=FORBIDDEN,
    ).show()


def check_batch_norm_rejects_single_value(student, devices=None) -> Report:
    """Check that training with one value per channel raises ValueError, as PyTorch does."""
    args = make_arguments(shape=(1, 3), training=True)
    return check_raises(
        student, args, ValueError, name=NAME, devices=devices,
        when="in training mode when each channel has a single value (the variance is undefined)",
    ).show()

# Trust this module and what it uses, before any student code runs (see autograder.integrity).
integrity.trust_package()
