"""Group normalization: each group of ``C // num_groups`` contiguous channels of a sample, with their positions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.mistakes import WRONG_AXES, Mistake, catch, plant
from ..core.report import Report, entry
from ..core.spec import ErrorInput, Operation
from ._common import AFFINE, FORBIDDEN, apply_affine, cast, standardization_mistakes, standardize

# --- the planted implementation ---


def _group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, *, groups="contiguous", ignore_affine=False,
                **switch):
    """Group normalization with the channels grouped as ``groups`` says; ``switch`` goes to ``standardize``.

    ``groups``: ``"contiguous"`` (right), ``"interleaved"`` (channel c in group c % G),
    ``"per_channel"``, ``"all_channels"``, ``"with_batch"`` (the batch axis reduced too),
    ``"per_position"`` (each position of a group on its own) or ``"swapped"`` (C // G groups
    of G channels: the group count and the group size swapped).
    """
    n, c = input.shape[:2]
    per_channel = [1, -1] + [1] * (input.dim() - 2)
    if groups == "interleaved":
        # Channel c in group c % G: the group axis comes second in the split.
        x = input.reshape(n, c // num_groups, num_groups, *input.shape[2:]).transpose(1, 2)
        out = standardize(x, tuple(range(2, x.dim())), eps, **switch).transpose(1, 2).reshape(input.shape)
        return apply_affine(out, weight, bias, per_channel, ignored=ignore_affine)
    g = {"per_channel": c, "all_channels": 1, "swapped": c // num_groups}.get(groups, num_groups)
    x = input.reshape(n, g, c // g, *input.shape[2:])
    dims = {"with_batch": (0,) + tuple(range(2, x.dim())), "per_position": (2,)}.get(groups, tuple(range(2, x.dim())))
    out = standardize(x, dims, eps, **switch).reshape(input.shape)
    return apply_affine(out, weight, bias, per_channel, ignored=ignore_affine)


def make_group_norm_arguments(
    shape=(4, 6, 5), num_groups=3, *, affine=True, eps=1e-5, dtype=torch.float32, seed=0,
    input=None, scale=1.0,
) -> dict:
    """Seeded arguments for one call of ``group_norm``, in PyTorch's order."""
    generator = torch.Generator().manual_seed(seed)
    if input is None:
        # A different offset per channel, so that the grouping of channels matters.
        input = scale * torch.randn(shape, generator=generator, dtype=torch.float64)
        input = input + 2 * torch.randn(shape[1], generator=generator, dtype=torch.float64).reshape(
            [1, -1] + [1] * (len(shape) - 2))
    weight = bias = None
    if affine:
        weight = 1.0 + 0.5 * torch.randn(input.shape[1], generator=generator, dtype=torch.float64)
        bias = 0.5 * torch.randn(input.shape[1], generator=generator, dtype=torch.float64)
    to = cast(dtype)
    return {"input": to(input), "num_groups": num_groups, "weight": to(weight), "bias": to(bias), "eps": eps}


# --- its mistakes ---

GROUPS_SWAPPED = Mistake(
    "normalization_layers.groups_swapped",
    "the group count and the group size are swapped: the channels are split into C // num_groups groups of "
    "num_groups channels. Make num_groups groups of C // num_groups channels: input.reshape(N, G, C // G, ...).")
INTERLEAVED_GROUPS = Mistake(
    "normalization_layers.interleaved_groups",
    "the groups are made of interleaved channels (channel c in group c % num_groups). "
    "Group g holds the contiguous channels g * C/G, ..., (g + 1) * C/G - 1: input.reshape(N, G, C // G, ...).")


_GROUPS = catch("check_group_norm", shape=(4, 6, 5), num_groups=3)
PLANTED = (
    plant(_group_norm, INTERLEAVED_GROUPS, catch("check_group_norm", shape=(4, 6, 2), num_groups=2, affine=False, seed=9), groups="interleaved"),
    plant(_group_norm, WRONG_AXES(
        axes="each channel on its own (that is instance normalization)",
        rule="Group normalization takes the statistics over the C // num_groups channels of each group together."),
        _GROUPS, groups="per_channel"),
    plant(_group_norm, WRONG_AXES(
        axes="all the channels of a sample together, as if num_groups were 1",
        rule="Split the channels into num_groups groups and normalize each group separately."),
        _GROUPS, groups="all_channels"),
    plant(_group_norm, WRONG_AXES(
        axes="the batch too",
        rule="Group normalization normalizes each sample on its own: reduce over the channels of the group "
             "and the positions, not over axis 0."),
        _GROUPS, groups="with_batch"),
    plant(_group_norm, WRONG_AXES(
        axes="the channels of a group position by position",
        rule="Take them over the channels of the group and all their positions together: every axis of "
             "input.reshape(N, G, -1) after the group axis."),
        _GROUPS, groups="per_position"),
    plant(_group_norm, GROUPS_SWAPPED, _GROUPS, groups="swapped"),
) + standardization_mistakes(
    _group_norm, "Group normalization",
    catch("check_group_norm", shape=(4, 6, 2), num_groups=3, eps=0.5, scale=0.3, seed=8), _GROUPS,
)

# --- the spec ---

GROUP_NORM = Operation(
    "group_norm", F.group_norm, make_group_norm_arguments, forbidden=FORBIDDEN, differentiable=AFFINE,
    planted=PLANTED,
    error_inputs=(ErrorInput(dict(shape=(2, 7, 4), num_groups=2), RuntimeError,
                             "when the number of channels is not divisible by num_groups"),),
)

# --- the check entries ---


@entry
def check_group_norm(student, *, gradients: bool = False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.group_norm`` on seeded arguments (see ``make_group_norm_arguments``)."""
    return GROUP_NORM.compare(student, gradients=gradients, devices=devices, **arguments)


@entry
def check_group_norm_rejects_indivisible_channels(student, devices=None) -> Report:
    """Check that ``num_groups`` not dividing the channels raises RuntimeError, as PyTorch does."""
    return GROUP_NORM.expect_error(student, 0, devices=devices)
