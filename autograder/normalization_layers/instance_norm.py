"""Instance normalization: each channel of each sample over its positions, with optional running statistics."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.arguments import per_channel_tensors
from ..core.mistakes import BIASED_RUNNING_VAR, FLIPPED_MOMENTUM, WRONG_AXES, Mistake, catch, plant
from ..core.report import Report, entry
from ..core.spec import ErrorInput, Operation
from ._common import AFFINE, FORBIDDEN, apply_affine, cast, standardization_mistakes, standardize

# --- the planted implementation ---


def _instance_norm(
    input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
    momentum=0.1, eps=1e-5, *, axes="positions", running="right", ignore_affine=False, **switch,
):
    """Instance normalization over ``axes``, with the running statistics handled as ``running`` says.

    ``axes``: ``"positions"`` (right), ``"batch"`` (the batch axis too) or ``"channels"``
    (all the channels of a sample together). ``running``: ``"right"``,
    ``"input_stats_in_eval"``, ``"updated_in_eval"``, ``"not_updated"``, ``"biased"``,
    ``"whole_batch"`` or ``"flipped_momentum"``. ``switch`` goes to ``standardize``.
    """
    per_channel = [1, -1] + [1] * (input.dim() - 2)
    spatial = tuple(range(2, input.dim()))
    if use_input_stats or running == "input_stats_in_eval":
        dims = {"positions": spatial, "batch": (0,) + spatial, "channels": (1,) + spatial}[axes]
        out = standardize(input, dims, eps, **switch)
    else:
        out = (input - running_mean.reshape(per_channel)) / (running_var.reshape(per_channel) + eps).sqrt()
    update = use_input_stats or running == "updated_in_eval"
    if update and running_mean is not None and running != "not_updated":
        with torch.no_grad():
            new = 1 - momentum if running == "flipped_momentum" else momentum
            mean = input.mean(dim=spatial).mean(dim=0)
            if running == "biased":
                var = input.var(dim=spatial, unbiased=False).mean(dim=0)
            elif running == "whole_batch":
                var = input.transpose(0, 1).reshape(input.shape[1], -1).var(dim=1)
            else:
                var = input.var(dim=spatial).mean(dim=0)
            running_mean.mul_(1 - new).add_(new * mean)
            running_var.mul_(1 - new).add_(new * var)
    return apply_affine(out, weight, bias, per_channel, ignored=ignore_affine)


def make_instance_norm_arguments(
    shape=(4, 3, 10), *, running_stats=True, use_input_stats=True, affine=True, momentum=0.1,
    eps=1e-5, dtype=torch.float32, seed=0, input=None, scale=1.0,
) -> dict:
    """Seeded arguments for one call of ``instance_norm``, in PyTorch's order."""
    generator = torch.Generator().manual_seed(seed)
    if input is None:
        # Each sample's channels get their own offset and scale, so the axes matter.
        spread = (0.5 + torch.rand(shape[:2], generator=generator, dtype=torch.float64))
        offset = 2 * torch.randn(shape[:2], generator=generator, dtype=torch.float64)
        extra = [1] * (len(shape) - 2)
        noise = torch.randn(shape, generator=generator, dtype=torch.float64)
        input = offset.reshape(*shape[:2], *extra) + scale * spread.reshape(*shape[:2], *extra) * noise
    channels = input.shape[1]
    running_mean, running_var, weight, bias = per_channel_tensors(
        channels, generator, running_stats=running_stats, affine=affine
    )
    to = cast(dtype)
    return {
        "input": to(input), "running_mean": to(running_mean), "running_var": to(running_var),
        "weight": to(weight), "bias": to(bias), "use_input_stats": use_input_stats,
        "momentum": momentum, "eps": eps,
    }


# --- its mistakes ---

INPUT_STATS_WITHOUT_USE_INPUT_STATS = Mistake(
    "normalization_layers.input_stats_without_use_input_stats",
    "use_input_stats=False normalizes with the statistics of the input. Without input "
    "statistics, normalize with running_mean and running_var.")

RUNNING_STATS_UPDATED_IN_EVAL = Mistake(
    "normalization_layers.running_stats_updated_in_eval",
    "use_input_stats=False changes running_mean and running_var. They are updated only "
    "when the input statistics are used.")

RUNNING_STATS_NOT_IN_PLACE = Mistake(
    "normalization_layers.running_stats_not_in_place",
    "running_mean and running_var are not updated in place. Change the tensors you were "
    "given, e.g. running_mean.mul_(1 - momentum).add_(momentum * mean); assigning "
    "running_mean = ... only rebinds a local name.")

RUNNING_VAR_OF_WHOLE_BATCH = Mistake(
    "normalization_layers.running_var_of_whole_batch",
    "running_var is updated with the variance of the whole batch. PyTorch averages over "
    "the batch the unbiased variance of each sample's channel.")


_NO_RUNNING = catch("check_instance_norm", shape=(4, 3, 10), running_stats=False)
_RUNNING = catch("check_instance_norm", shape=(4, 3, 10), momentum=0.3, seed=1)
_EVAL = catch("check_instance_norm", shape=(4, 3, 10), use_input_stats=False, seed=2)
PLANTED = (
    plant(_instance_norm, WRONG_AXES(
        axes="the batch too (that is batch normalization)",
        rule="Instance normalization normalizes each channel of each sample over its positions: "
             "reduce over axes 2, 3, ..., not over axis 0."),
        _NO_RUNNING, axes="batch"),
    plant(_instance_norm, WRONG_AXES(
        axes="all the channels of a sample together (that is group normalization with one group)",
        rule="Normalize each channel separately."),
        _NO_RUNNING, axes="channels"),
    plant(_instance_norm, INPUT_STATS_WITHOUT_USE_INPUT_STATS, _EVAL, running="input_stats_in_eval"),
    plant(_instance_norm, RUNNING_STATS_UPDATED_IN_EVAL, _EVAL, running="updated_in_eval"),
    plant(_instance_norm, RUNNING_STATS_NOT_IN_PLACE, _RUNNING, running="not_updated"),
    plant(_instance_norm, BIASED_RUNNING_VAR, _RUNNING, running="biased"),
    plant(_instance_norm, RUNNING_VAR_OF_WHOLE_BATCH, _RUNNING, running="whole_batch"),
    plant(_instance_norm, FLIPPED_MOMENTUM, _RUNNING, running="flipped_momentum"),
) + standardization_mistakes(
    _instance_norm, "Instance normalization",
    catch("check_instance_norm", shape=(4, 3, 5), eps=0.5, scale=0.3, seed=8), _NO_RUNNING,
)

# --- the spec ---

INSTANCE_NORM = Operation(
    "instance_norm", F.instance_norm, make_instance_norm_arguments, forbidden=FORBIDDEN,
    state=("running_mean", "running_var"), differentiable=AFFINE, planted=PLANTED,
    error_inputs=(ErrorInput(dict(shape=(4, 3, 1)), ValueError,
                             "with use_input_stats=True when each channel of a sample has a single position "
                             "(its variance is undefined)"),),
)

# --- the check entries ---


@entry
def check_instance_norm(student, *, gradients: bool = False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.instance_norm`` on seeded arguments (see ``make_instance_norm_arguments``).

    Compares the output and the running statistics after the call.
    """
    return INSTANCE_NORM.compare(student, gradients=gradients, devices=devices, **arguments)


@entry
def check_instance_norm_rejects_single_position(student, devices=None) -> Report:
    """Check that input statistics of a single position raise ValueError, as PyTorch does."""
    return INSTANCE_NORM.expect_error(student, 0, devices=devices)
