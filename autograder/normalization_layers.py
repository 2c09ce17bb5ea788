"""Checks for the exercise on layer, group, instance and RMS normalization.

Each reference is the ``torch.nn.functional`` function itself. All four
normalizations compute ``(x - mean) / sqrt(var + eps)`` (RMSNorm: ``x / sqrt(mean(x²) + eps)``)
and differ only in the axes the statistics are taken over:

* ``layer_norm``: the trailing ``normalized_shape`` axes of each sample;
* ``group_norm``: each group of ``C // num_groups`` contiguous channels of each sample,
  with all their positions;
* ``instance_norm``: each channel of each sample, over its positions;
* ``rms_norm``: as ``layer_norm``, without subtracting the mean.

The mistakes students make most often are planted in re-implementations of
the four functions, each switched on by a keyword; when a student's results
match one of them, the failure message names it.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from .core import integrity
from .core.arguments import per_channel_tensors
from .core.calling import aten
from .core.checks import Report, check
from .core.mistakes import (
    EPS_OUTSIDE_SQRT, FLIPPED_MOMENTUM, BIASED_RUNNING_VAR, NO_EPS, NO_SQRT, UNBIASED_VARIANCE, WRONG_AXES,
    Mistake, Planted, catch,
)
from .core.operation import ErrorInput, Operation

# Any of these would do the work of the exercise (group normalization, for
# instance, is a layer normalization of the reshaped input), so none is allowed.
FORBIDDEN = {
    F.layer_norm: "torch.nn.functional.layer_norm",
    torch.layer_norm: "torch.layer_norm",
    torch.native_layer_norm: "torch.native_layer_norm",
    F.group_norm: "torch.nn.functional.group_norm",
    torch.group_norm: "torch.group_norm",
    torch.native_group_norm: "torch.native_group_norm",
    F.instance_norm: "torch.nn.functional.instance_norm",
    torch.instance_norm: "torch.instance_norm",
    F.batch_norm: "torch.nn.functional.batch_norm",
    torch.batch_norm: "torch.batch_norm",
    torch.native_batch_norm: "torch.native_batch_norm",
    F.rms_norm: "torch.nn.functional.rms_norm",
    torch.rms_norm: "torch.rms_norm",
    torch._fused_rms_norm: "torch._fused_rms_norm",
    # The kernels behind them, whatever route reaches them (nn.LayerNorm's forward, torch.ops.aten).
    **aten(
        "layer_norm", "native_layer_norm", "group_norm", "native_group_norm", "instance_norm", "rms_norm",
        "_fused_rms_norm", "batch_norm", "_batch_norm_impl_index", "native_batch_norm", "_native_batch_norm_legit",
        "_native_batch_norm_legit_no_training", "_native_batch_norm_legit_functional", "_batch_norm_with_update",
        "_batch_norm_with_update_functional", "_batch_norm_no_update", "cudnn_batch_norm", "miopen_batch_norm",
        "batch_norm_elemt",
    ),
    # The modules that compute them: refused at run time through the function their forward
    # calls, named here for the check of an answer's source (autograder.core.forbidden).
    **{module: f"torch.nn.{module.__name__}" for module in (
        nn.LayerNorm, nn.GroupNorm, nn.RMSNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d,
        nn.LazyInstanceNorm1d, nn.LazyInstanceNorm2d, nn.LazyInstanceNorm3d, nn.BatchNorm1d, nn.BatchNorm2d,
        nn.BatchNorm3d, nn.SyncBatchNorm, nn.LazyBatchNorm1d, nn.LazyBatchNorm2d, nn.LazyBatchNorm3d,
    )},
}

# The arguments whose gradients are compared.
AFFINE = ("input", "weight", "bias")

# --- the shared computation, with switches that plant one mistake each -------------


def _standardize(
    x, dims, eps, *, center=True, unbiased=False, eps_outside_sqrt=False, no_sqrt=False, no_eps=False,
    not_centred=False, std_plus_eps=False, dropped_keepdim=False,
):
    """``(x - mean) / sqrt(var + eps)`` over ``dims`` (without centring: ``x / sqrt(mean(x²) + eps)``)."""
    keepdim = not dropped_keepdim  # without keepdim the statistics broadcast along the last axes
    if std_plus_eps:  # the unbiased torch.std, and eps outside the root
        return (x - x.mean(dim=dims, keepdim=keepdim)) / (x.std(dim=dims, keepdim=keepdim) + eps)
    if center:
        square = x.var(dim=dims, keepdim=keepdim, unbiased=unbiased)
        if not not_centred:
            x = x - x.mean(dim=dims, keepdim=keepdim)
    else:
        square = x.pow(2).mean(dim=dims, keepdim=keepdim)
    if eps_outside_sqrt:
        return x / (square.sqrt() + eps)
    if no_sqrt:
        return x / (square + eps)
    if no_eps:
        return x / square.sqrt()
    return x / (square + eps).sqrt()


def _as_shape(normalized_shape) -> tuple[int, ...]:
    """``nn.LayerNorm`` and ``nn.RMSNorm`` accept an int; the functional API wants a tuple."""
    return (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)


def _affine(out, weight, bias, shape):
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def _planted(mistake, function, *catches, **switch) -> Planted:
    """``mistake``, planted by calling ``function`` with ``switch`` on, and the check calls that catch it."""
    return Planted(mistake, partial(function, **switch), catches)


def _cast(dtype):
    return lambda t: None if t is None else t.to(dtype)


# Mistakes of the standardization that more than one of the four functions can make.
NOT_CENTRED = Mistake(
    "normalization_layers.not_centred",
    "the mean is not subtracted: the output is x / sqrt(var + eps). Subtract the mean first: "
    "(x - mean) / sqrt(var + eps).",
)
STD_PLUS_EPS = Mistake(
    "normalization_layers.std_plus_eps",
    "the input is divided by x.std(dim) + eps. torch.std is the unbiased standard deviation (divided by "
    "n - 1), and eps belongs inside the square root: (x - mean) / sqrt(x.var(dim, unbiased=False) + eps).",
)
DROPPED_KEEPDIM = Mistake(
    "normalization_layers.dropped_keepdim",
    "the statistics are broadcast along the wrong axis: reducing without keepdim=True drops the "
    "normalized axes, so the statistic of row i is applied to column i. Keep them, e.g. "
    "x.mean(dim, keepdim=True).",
)


def _standardization_mistakes(function, operation, eps_catch, *catches) -> tuple[Planted, ...]:
    """The mistakes of ``(x - mean) / sqrt(var + eps)`` planted in ``function``.

    ``catches`` catch the mistakes every input shows; ``eps_catch`` those that need
    an eps as large as the variance (eps outside the root, eps left out).
    """
    return (
        _planted(UNBIASED_VARIANCE(operation=operation, code="x.var(dim, unbiased=False)"), function, *catches,
                 unbiased=True),
        _planted(EPS_OUTSIDE_SQRT, function, eps_catch, eps_outside_sqrt=True),
        _planted(NO_SQRT, function, *catches, no_sqrt=True),
        _planted(NO_EPS, function, eps_catch, no_eps=True),
        _planted(NOT_CENTRED, function, *catches, not_centred=True),
        _planted(STD_PLUS_EPS, function, *catches, std_plus_eps=True),
    )


# --- layer normalization ------------------------------------------------------------

_LAYER_AXES = {
    None: lambda input, shape: tuple(range(-len(shape), 0)),
    "axis1": lambda input, shape: (1,),
    "batch": lambda input, shape: (0,),
    "all_but_batch": lambda input, shape: tuple(range(1, input.dim())),
    "last": lambda input, shape: (-1,),
}


def _layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, *, axes=None, **switch):
    shape = _as_shape(normalized_shape)
    out = _standardize(input, _LAYER_AXES[axes](input, shape), eps, **switch)
    return _affine(out, weight, bias, shape)


def make_layer_norm_arguments(
    shape=(4, 5, 6), normalized_shape=None, *, affine=True, eps=1e-5, dtype=torch.float32,
    seed=0, input=None, scale=1.0,
) -> dict:
    """Seeded arguments for one call of ``layer_norm``; ``normalized_shape`` defaults to the last axis."""
    generator = torch.Generator().manual_seed(seed)
    if input is None:
        input = 1.0 + scale * torch.randn(shape, generator=generator, dtype=torch.float64)
    if normalized_shape is None:
        normalized_shape = (input.shape[-1],)
    weight = bias = None
    if affine:
        weight = 1.0 + 0.5 * torch.randn(_as_shape(normalized_shape), generator=generator, dtype=torch.float64)
        bias = 0.5 * torch.randn(_as_shape(normalized_shape), generator=generator, dtype=torch.float64)
    cast = _cast(dtype)
    return {"input": cast(input), "normalized_shape": normalized_shape, "weight": cast(weight),
            "bias": cast(bias), "eps": eps}


def _torch_layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    return F.layer_norm(input, _as_shape(normalized_shape), weight, bias, eps)


_LAYER_RULE = "Layer normalization normalizes over the last len(normalized_shape) axes"
LAYER_NORM_MISTAKES = (
    _planted(WRONG_AXES(
        axes="axis 1", rule=f"{_LAYER_RULE}, e.g. the features of each token of a (batch, tokens, features) input."),
        _layer_norm, catch("check_layer_norm", shape=(4, 5, 6), normalized_shape=(6,)), axes="axis1"),
    _planted(WRONG_AXES(
        axes="the batch (axis 0), as batch normalization does",
        rule="Layer normalization normalizes each sample on its own, over the last len(normalized_shape) axes."),
        _layer_norm, catch("check_layer_norm", shape=(4, 5, 6), normalized_shape=(6,)), axes="batch"),
    _planted(WRONG_AXES(axes="every axis but the batch axis", rule=f"{_LAYER_RULE} only."),
             _layer_norm, catch("check_layer_norm", shape=(4, 5, 6), normalized_shape=(6,)), axes="all_but_batch"),
    _planted(WRONG_AXES(
        axes="the last axis only",
        rule="With a normalized_shape of several sizes, normalize over all of the last len(normalized_shape) "
             "axes together."),
        _layer_norm, catch("check_layer_norm", shape=(3, 4, 5, 6), normalized_shape=(5, 6), seed=1), axes="last"),
    _planted(DROPPED_KEEPDIM, _layer_norm, catch("check_layer_norm", shape=(6, 6)), dropped_keepdim=True),
) + _standardization_mistakes(
    _layer_norm, "Layer normalization", catch("check_layer_norm", shape=(4, 3, 6), eps=0.5, scale=0.3, seed=8),
    catch("check_layer_norm", shape=(4, 5, 6), normalized_shape=(6,)),
)

LAYER_NORM = Operation(
    "layer_norm", _torch_layer_norm, make_layer_norm_arguments, forbidden=FORBIDDEN,
    differentiable=AFFINE, planted=LAYER_NORM_MISTAKES,
)


@check
def check_layer_norm(student, *, gradients: bool = False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.layer_norm`` on seeded arguments (see ``make_layer_norm_arguments``).

    An int ``normalized_shape`` is passed to the student as it is (``nn.LayerNorm``
    accepts one) and to PyTorch as a one-element tuple.
    """
    return LAYER_NORM.check(student, gradients=gradients, devices=devices, **arguments)


# --- group normalization ------------------------------------------------------------


def _group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, *, groups=None, **switch):
    n, c = input.shape[:2]
    per_channel = [1, -1] + [1] * (input.dim() - 2)
    if groups == "interleaved":
        # Channel c in group c % G: the group axis comes second in the split.
        x = input.reshape(n, c // num_groups, num_groups, *input.shape[2:]).transpose(1, 2)
        out = _standardize(x, tuple(range(2, x.dim())), eps, **switch).transpose(1, 2).reshape(input.shape)
        return _affine(out, weight, bias, per_channel)
    g = {None: num_groups, "per_channel": c, "all_channels": 1, "with_batch": num_groups,
         "per_position": num_groups}[groups]
    x = input.reshape(n, g, c // g, *input.shape[2:])
    dims = {"with_batch": (0,) + tuple(range(2, x.dim())), "per_position": (2,)}.get(groups, tuple(range(2, x.dim())))
    out = _standardize(x, dims, eps, **switch).reshape(input.shape)
    return _affine(out, weight, bias, per_channel)


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
    cast = _cast(dtype)
    return {"input": cast(input), "num_groups": num_groups, "weight": cast(weight), "bias": cast(bias),
            "eps": eps}


_GROUPS = catch("check_group_norm", shape=(4, 6, 5), num_groups=3)
GROUP_NORM_MISTAKES = (
    _planted(Mistake(
        "normalization_layers.interleaved_groups",
        "the groups are made of interleaved channels (channel c in group c % num_groups). "
        "Group g holds the contiguous channels g * C/G, ..., (g + 1) * C/G - 1: input.reshape(N, G, C // G, ...)."),
        _group_norm, catch("check_group_norm", shape=(4, 6, 2), num_groups=2, affine=False, seed=9),
        groups="interleaved"),
    _planted(WRONG_AXES(
        axes="each channel on its own (that is instance normalization)",
        rule="Group normalization takes the statistics over the C // num_groups channels of each group together."),
        _group_norm, _GROUPS, groups="per_channel"),
    _planted(WRONG_AXES(
        axes="all the channels of a sample together, as if num_groups were 1",
        rule="Split the channels into num_groups groups and normalize each group separately."),
        _group_norm, _GROUPS, groups="all_channels"),
    _planted(WRONG_AXES(
        axes="the batch too",
        rule="Group normalization normalizes each sample on its own: reduce over the channels of the group "
             "and the positions, not over axis 0."),
        _group_norm, _GROUPS, groups="with_batch"),
    _planted(WRONG_AXES(
        axes="the channels of a group position by position",
        rule="Take them over the channels of the group and all their positions together: every axis of "
             "input.reshape(N, G, -1) after the group axis."),
        _group_norm, _GROUPS, groups="per_position"),
) + _standardization_mistakes(
    _group_norm, "Group normalization", catch("check_group_norm", shape=(4, 6, 2), num_groups=3, eps=0.5,
                                              scale=0.3, seed=8),
    _GROUPS,
)

GROUP_NORM = Operation(
    "group_norm", F.group_norm, make_group_norm_arguments, forbidden=FORBIDDEN, differentiable=AFFINE,
    planted=GROUP_NORM_MISTAKES,
    error_inputs=(ErrorInput(dict(shape=(2, 7, 4), num_groups=2), RuntimeError,
                             "when the number of channels is not divisible by num_groups"),),
)


@check
def check_group_norm(student, *, gradients: bool = False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.group_norm`` on seeded arguments (see ``make_group_norm_arguments``)."""
    return GROUP_NORM.check(student, gradients=gradients, devices=devices, **arguments)


@check
def check_group_norm_rejects_indivisible_channels(student, devices=None) -> Report:
    """Check that ``num_groups`` not dividing the channels raises RuntimeError, as PyTorch does."""
    return GROUP_NORM.check_error(student, GROUP_NORM.error_inputs[0], devices=devices)


# --- instance normalization -----------------------------------------------------------


def _instance_norm(
    input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
    momentum=0.1, eps=1e-5, *, axes=None, running=None, **switch,
):
    per_channel = [1, -1] + [1] * (input.dim() - 2)
    spatial = tuple(range(2, input.dim()))
    if use_input_stats or running == "input_stats_in_eval":
        dims = {None: spatial, "batch": (0,) + spatial, "channels": (1,) + spatial}[axes]
        out = _standardize(input, dims, eps, **switch)
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
    return _affine(out, weight, bias, per_channel)


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
    cast = _cast(dtype)
    return {
        "input": cast(input), "running_mean": cast(running_mean), "running_var": cast(running_var),
        "weight": cast(weight), "bias": cast(bias), "use_input_stats": use_input_stats,
        "momentum": momentum, "eps": eps,
    }


_NO_RUNNING = catch("check_instance_norm", shape=(4, 3, 10), running_stats=False)
_RUNNING = catch("check_instance_norm", shape=(4, 3, 10), momentum=0.3, seed=1)
_EVAL = catch("check_instance_norm", shape=(4, 3, 10), use_input_stats=False, seed=2)
INSTANCE_NORM_MISTAKES = (
    _planted(WRONG_AXES(
        axes="the batch too (that is batch normalization)",
        rule="Instance normalization normalizes each channel of each sample over its positions: "
             "reduce over axes 2, 3, ..., not over axis 0."),
        _instance_norm, _NO_RUNNING, axes="batch"),
    _planted(WRONG_AXES(
        axes="all the channels of a sample together (that is group normalization with one group)",
        rule="Normalize each channel separately."),
        _instance_norm, _NO_RUNNING, axes="channels"),
    _planted(Mistake(
        "normalization_layers.input_stats_without_use_input_stats",
        "use_input_stats=False normalizes with the statistics of the input. Without input "
        "statistics, normalize with running_mean and running_var."),
        _instance_norm, _EVAL, running="input_stats_in_eval"),
    _planted(Mistake(
        "normalization_layers.running_stats_updated_in_eval",
        "use_input_stats=False changes running_mean and running_var. They are updated only "
        "when the input statistics are used."),
        _instance_norm, _EVAL, running="updated_in_eval"),
    _planted(Mistake(
        "normalization_layers.running_stats_not_in_place",
        "running_mean and running_var are not updated in place. Change the tensors you were "
        "given, e.g. running_mean.mul_(1 - momentum).add_(momentum * mean); assigning "
        "running_mean = ... only rebinds a local name."),
        _instance_norm, _RUNNING, running="not_updated"),
    _planted(BIASED_RUNNING_VAR, _instance_norm, _RUNNING, running="biased"),
    _planted(Mistake(
        "normalization_layers.running_var_of_whole_batch",
        "running_var is updated with the variance of the whole batch. PyTorch averages over "
        "the batch the unbiased variance of each sample's channel."),
        _instance_norm, _RUNNING, running="whole_batch"),
    _planted(FLIPPED_MOMENTUM, _instance_norm, _RUNNING, running="flipped_momentum"),
) + _standardization_mistakes(
    _instance_norm, "Instance normalization",
    catch("check_instance_norm", shape=(4, 3, 5), eps=0.5, scale=0.3, seed=8), _NO_RUNNING,
)

INSTANCE_NORM = Operation(
    "instance_norm", F.instance_norm, make_instance_norm_arguments, forbidden=FORBIDDEN,
    state=("running_mean", "running_var"), differentiable=AFFINE, planted=INSTANCE_NORM_MISTAKES,
    error_inputs=(ErrorInput(dict(shape=(4, 3, 1)), ValueError,
                             "with use_input_stats=True when each channel of a sample has a single position "
                             "(its variance is undefined)"),),
)


@check
def check_instance_norm(student, *, gradients: bool = False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.instance_norm`` on seeded arguments (see ``make_instance_norm_arguments``).

    Compares the output and the running statistics after the call.
    """
    return INSTANCE_NORM.check(student, gradients=gradients, devices=devices, **arguments)


@check
def check_instance_norm_rejects_single_position(student, devices=None) -> Report:
    """Check that input statistics of a single position raise ValueError, as PyTorch does."""
    return INSTANCE_NORM.check_error(student, INSTANCE_NORM.error_inputs[0], devices=devices)


# --- RMS normalization --------------------------------------------------------------------


def _rms_norm(input, normalized_shape, weight=None, eps=None, *, axes=None, form=None, default_eps=None,
              **switch):
    shape = _as_shape(normalized_shape)
    dims = {
        None: tuple(range(-len(shape), 0)),
        "last": (-1,),
        "all_but_batch": tuple(range(1, input.dim())),
    }[axes]
    if eps is None:
        eps = torch.finfo(input.dtype).eps if default_eps is None else default_eps
    if form == "centred":
        out = _standardize(input, dims, eps)
    elif form == "l2":
        out = input / (input.pow(2).sum(dim=dims, keepdim=True) + eps).sqrt()
    elif form == "std":
        out = input / (input.var(dim=dims, keepdim=True, unbiased=False) + eps).sqrt()
    elif form == "square_of_mean":
        out = input / (input.mean(dim=dims, keepdim=True).pow(2) + eps).sqrt()
    else:
        out = _standardize(input, dims, eps, center=False, **switch)
    return _affine(out, weight, None, shape)


def make_rms_norm_arguments(
    shape=(4, 5, 8), normalized_shape=None, *, affine=True, eps=None, dtype=torch.float32,
    seed=0, input=None, scale=1.0,
) -> dict:
    """Seeded arguments for one call of ``rms_norm``; ``normalized_shape`` defaults to the last axis."""
    generator = torch.Generator().manual_seed(seed)
    if input is None:
        input = scale * (0.5 + torch.randn(shape, generator=generator, dtype=torch.float64))
    if normalized_shape is None:
        normalized_shape = (input.shape[-1],)
    weight = None
    if affine:
        weight = 1.0 + 0.5 * torch.randn(_as_shape(normalized_shape), generator=generator, dtype=torch.float64)
    return {"input": _cast(dtype)(input), "normalized_shape": normalized_shape, "weight": _cast(dtype)(weight),
            "eps": eps}


def _torch_rms_norm(input, normalized_shape, weight=None, eps=None):
    return F.rms_norm(input, _as_shape(normalized_shape), weight, eps)


# RMSNorm's formula in the shared mistakes' words: their default would tell the student to subtract the mean.
RMS_FORMULA = "x / sqrt(mean(x²) + eps)"
RMS_DEFAULT_EPS = Mistake(
    "normalization_layers.rms_default_eps",
    "eps=None is taken as {value}. PyTorch then uses torch.finfo(input.dtype).eps, "
    "the machine epsilon of the input's dtype.",
)
_RMS = catch("check_rms_norm", shape=(4, 5, 8), eps=1e-5)
_RMS_SMALL = catch("check_rms_norm", shape=(4, 5, 8), eps=None, scale=1e-3, seed=1)
RMS_NORM_MISTAKES = (
    _planted(Mistake(
        "normalization_layers.rms_centred",
        "the mean is subtracted (that is layer normalization). RMSNorm does not centre: "
        "it divides x by sqrt(mean(x²) + eps)."),
        _rms_norm, _RMS, form="centred"),
    _planted(Mistake(
        "normalization_layers.rms_std",
        "the input is divided by its standard deviation. RMSNorm divides by the root mean "
        "square, sqrt(mean(x²) + eps), which does not subtract the mean."),
        _rms_norm, _RMS, form="std"),
    _planted(Mistake(
        "normalization_layers.rms_l2_norm",
        "the input is divided by its L2 norm, sqrt(sum(x²)). RMSNorm divides by the root "
        "mean square, sqrt(mean(x²) + eps)."),
        _rms_norm, _RMS, form="l2"),
    _planted(Mistake(
        "normalization_layers.rms_square_of_mean",
        "the input is divided by sqrt(mean(x)²), the square of the mean, not by the root of the mean of "
        "the squares. Square first, then average: x / sqrt(mean(x²) + eps)."),
        _rms_norm, _RMS, form="square_of_mean"),
    _planted(NO_SQRT(statistic="mean square", root="its square root", formula=RMS_FORMULA),
             _rms_norm, _RMS, no_sqrt=True),
    _planted(EPS_OUTSIDE_SQRT(formula=RMS_FORMULA), _rms_norm, _RMS_SMALL, eps_outside_sqrt=True),
    _planted(NO_EPS(statistic="mean square",
                    formula=f"{RMS_FORMULA}; with eps=None, eps is torch.finfo(input.dtype).eps"),
             _rms_norm, _RMS_SMALL, no_eps=True),
    _planted(RMS_DEFAULT_EPS(value="1e-5"), _rms_norm, _RMS_SMALL, default_eps=1e-5),
    _planted(RMS_DEFAULT_EPS(value="1e-6"), _rms_norm, _RMS_SMALL, default_eps=1e-6),
    _planted(WRONG_AXES(
        axes="the last axis only",
        rule="With a normalized_shape of several sizes, take the root mean square over all of the last "
             "len(normalized_shape) axes together."),
        _rms_norm, catch("check_rms_norm", shape=(3, 4, 5, 6), normalized_shape=(5, 6), seed=2), axes="last"),
    _planted(WRONG_AXES(
        axes="every axis but the batch axis",
        rule="Take the root mean square over the last len(normalized_shape) axes only."),
        _rms_norm, _RMS, axes="all_but_batch"),
    _planted(DROPPED_KEEPDIM, _rms_norm, catch("check_rms_norm", shape=(6, 6)), dropped_keepdim=True),
)

RMS_NORM = Operation(
    "rms_norm", _torch_rms_norm, make_rms_norm_arguments, forbidden=FORBIDDEN, differentiable=("input", "weight"),
    planted=RMS_NORM_MISTAKES,
)


@check
def check_rms_norm(student, *, gradients: bool = False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.rms_norm`` on seeded arguments (see ``make_rms_norm_arguments``).

    An int ``normalized_shape`` is passed to the student as it is (``nn.RMSNorm``
    accepts one) and to PyTorch as a one-element tuple.
    """
    return RMS_NORM.check(student, gradients=gradients, devices=devices, **arguments)


MISTAKES: tuple[Planted, ...] = (
    LAYER_NORM_MISTAKES + GROUP_NORM_MISTAKES + INSTANCE_NORM_MISTAKES + RMS_NORM_MISTAKES
)

# Trust this module and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
