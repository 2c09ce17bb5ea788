"""Checks for the exercise on layer, group, instance and RMS normalization.

Each reference is the ``torch.nn.functional`` function itself. All four
normalizations compute ``(x - mean) / sqrt(var + eps)`` (RMSNorm: ``x / sqrt(mean(x²) + eps)``)
and differ only in the axes the statistics are taken over:

* ``layer_norm``: the trailing ``normalized_shape`` axes of each sample;
* ``group_norm``: each group of ``C // num_groups`` contiguous channels of each sample,
  with all their positions;
* ``instance_norm``: each channel of each sample, over its positions;
* ``rms_norm``: as ``layer_norm``, without subtracting the mean.

The wrong variants below are the mistakes students make most often: when a
student's results match one of them, the failure message names it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .batch_norm import per_channel_tensors
from .core import integrity
from .core.harness import Report, Variant, check_against_reference, check_raises, describe_call, quiet

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
}

# --- the shared computation, with switches that plant one mistake each -------------

# Mistakes in the standardization itself, common to all four functions.
UNBIASED, EPS_OUTSIDE, NO_SQRT, NO_EPS = "unbiased", "eps_outside", "no_sqrt", "no_eps"


def _scale(x, dims, eps, *, center=True, mistake=None):
    """``(x - mean) / sqrt(var + eps)`` over ``dims`` (without centring: ``x / sqrt(mean(x²) + eps)``)."""
    if center:
        x = x - x.mean(dim=dims, keepdim=True)
        square = x.var(dim=dims, keepdim=True, unbiased=mistake == UNBIASED)
    else:
        square = x.pow(2).mean(dim=dims, keepdim=True)
    if mistake == EPS_OUTSIDE:
        return x / (square.sqrt() + eps)
    if mistake == NO_SQRT:
        return x / (square + eps)
    if mistake == NO_EPS:
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


def _common(what):
    """The standardization mistakes, in the words of one function's formula."""
    return (
        (UNBIASED, f"the variance used to normalize is the unbiased one (divided by n - 1). {what} "
                   "normalizes with the biased variance (divided by n), e.g. x.var(dim, unbiased=False)."),
        (EPS_OUTSIDE, "epsilon is added outside the square root. Use (x - mean) / sqrt(var + eps)."),
        (NO_SQRT, "the input is divided by the variance, not by the standard deviation: "
                  "take the square root, (x - mean) / sqrt(var + eps)."),
        (NO_EPS, "eps is left out. Add it to the variance inside the square root: "
                 "(x - mean) / sqrt(var + eps)."),
    )


# --- layer normalization ------------------------------------------------------------


def _layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, *, axes=None, mistake=None):
    shape = _as_shape(normalized_shape)
    dims = {
        None: tuple(range(-len(shape), 0)),
        "axis1": (1,),
        "batch": (0,),
        "all_but_batch": tuple(range(1, input.dim())),
        "last": (-1,),
    }[axes]
    return _affine(_scale(input, dims, eps, mistake=mistake), weight, bias, shape)


LAYER_NORM_VARIANTS = (
    Variant(
        "the statistics are taken over axis 1. Layer normalization normalizes over the "
        "last len(normalized_shape) axes, e.g. the features of each token of a (batch, tokens, features) input.",
        lambda *args: _layer_norm(*args, axes="axis1"),
    ),
    Variant(
        "the statistics are taken over the batch (axis 0), as batch normalization does. "
        "Layer normalization normalizes each sample on its own, over the last len(normalized_shape) axes.",
        lambda *args: _layer_norm(*args, axes="batch"),
    ),
    Variant(
        "the statistics are taken over every axis but the batch axis. Layer normalization "
        "normalizes over the last len(normalized_shape) axes only.",
        lambda *args: _layer_norm(*args, axes="all_but_batch"),
    ),
    Variant(
        "the statistics are taken over the last axis only. With a normalized_shape of several "
        "sizes, normalize over all of the last len(normalized_shape) axes together.",
        lambda *args: _layer_norm(*args, axes="last"),
    ),
) + tuple(
    Variant(text, (lambda m: lambda *args: _layer_norm(*args, mistake=m))(m))
    for m, text in _common("Layer normalization")
)


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
    cast = lambda t: None if t is None else t.to(dtype)  # noqa: E731
    return {"input": cast(input), "normalized_shape": normalized_shape, "weight": cast(weight),
            "bias": cast(bias), "eps": eps}


def _torch_layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    return F.layer_norm(input, _as_shape(normalized_shape), weight, bias, eps)


def check_layer_norm(student, *, gradients: bool = False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.layer_norm`` on seeded arguments (see ``make_layer_norm_arguments``).

    An int ``normalized_shape`` is passed to the student as it is (``nn.LayerNorm``
    accepts one) and to PyTorch as a one-element tuple.
    """
    args = make_layer_norm_arguments(**arguments)
    return check_against_reference(
        student, _torch_layer_norm, args, name="layer_norm", grad_wrt=_grad_wrt(args, gradients),
        variants=LAYER_NORM_VARIANTS, devices=devices, forbidden=FORBIDDEN,
    ).show()


# --- group normalization ------------------------------------------------------------


def _group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, *, groups=None, mistake=None):
    n, c = input.shape[:2]
    per_channel = [1, -1] + [1] * (input.dim() - 2)
    if groups == "interleaved":
        # Channel c in group c % G: the group axis comes second in the split.
        x = input.reshape(n, c // num_groups, num_groups, *input.shape[2:]).transpose(1, 2)
        dims = tuple(range(2, x.dim()))
        out = _scale(x, dims, eps, mistake=mistake).transpose(1, 2).reshape(input.shape)
        return _affine(out, weight, bias, per_channel)
    g = {None: num_groups, "per_channel": c, "all_channels": 1, "with_batch": num_groups}[groups]
    x = input.reshape(n, g, c // g, *input.shape[2:])
    dims = tuple(range(2, x.dim()))
    if groups == "with_batch":
        dims = (0,) + dims
    out = _scale(x, dims, eps, mistake=mistake).reshape(input.shape)
    return _affine(out, weight, bias, per_channel)


GROUP_NORM_VARIANTS = (
    Variant(
        "the groups are made of interleaved channels (channel c in group c % num_groups). "
        "Group g holds the contiguous channels g * C/G, ..., (g + 1) * C/G - 1: "
        "input.reshape(N, G, C // G, ...).",
        lambda *args: _group_norm(*args, groups="interleaved"),
    ),
    Variant(
        "each channel is normalized on its own (that is instance normalization). "
        "Group normalization takes the statistics over the C // num_groups channels of each group together.",
        lambda *args: _group_norm(*args, groups="per_channel"),
    ),
    Variant(
        "all the channels of a sample are normalized together, as if num_groups were 1. "
        "Split the channels into num_groups groups and normalize each group separately.",
        lambda *args: _group_norm(*args, groups="all_channels"),
    ),
    Variant(
        "the statistics of a group are taken over the batch too. Group normalization "
        "normalizes each sample on its own: reduce over the channels of the group and the "
        "positions, not over axis 0.",
        lambda *args: _group_norm(*args, groups="with_batch"),
    ),
) + tuple(
    Variant(text, (lambda m: lambda *args: _group_norm(*args, mistake=m))(m))
    for m, text in _common("Group normalization")
)


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
    cast = lambda t: None if t is None else t.to(dtype)  # noqa: E731
    return {"input": cast(input), "num_groups": num_groups, "weight": cast(weight), "bias": cast(bias),
            "eps": eps}


def check_group_norm(student, *, gradients: bool = False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.group_norm`` on seeded arguments (see ``make_group_norm_arguments``)."""
    args = make_group_norm_arguments(**arguments)
    return check_against_reference(
        student, F.group_norm, args, name="group_norm", grad_wrt=_grad_wrt(args, gradients),
        variants=GROUP_NORM_VARIANTS, devices=devices, forbidden=FORBIDDEN,
    ).show()


def check_group_norm_rejects_indivisible_channels(student, devices=None) -> Report:
    """Check that ``num_groups`` not dividing the channels raises RuntimeError, as PyTorch does."""
    args = make_group_norm_arguments(shape=(2, 7, 4), num_groups=2)
    return check_raises(
        student, args, RuntimeError, name="group_norm", devices=devices,
        when="when the number of channels is not divisible by num_groups",
    ).show()


# --- instance normalization -----------------------------------------------------------


def _instance_norm(
    input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
    momentum=0.1, eps=1e-5, *, axes=None, mistake=None, running=None,
):
    per_channel = [1, -1] + [1] * (input.dim() - 2)
    spatial = tuple(range(2, input.dim()))
    if use_input_stats or running == "input_stats_in_eval":
        dims = {None: spatial, "batch": (0,) + spatial, "channels": (1,) + spatial}[axes]
        out = _scale(input, dims, eps, mistake=mistake)
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


def _instance_variant(**mistake):
    return lambda *args: _instance_norm(*args, **mistake)


INSTANCE_NORM_VARIANTS = (
    Variant(
        "the statistics are taken over the batch too (that is batch normalization). "
        "Instance normalization normalizes each channel of each sample over its positions: "
        "reduce over axes 2, 3, ..., not over axis 0.",
        _instance_variant(axes="batch"),
    ),
    Variant(
        "the statistics are taken over all the channels of a sample together (that is "
        "group normalization with one group). Normalize each channel separately.",
        _instance_variant(axes="channels"),
    ),
    Variant(
        "use_input_stats=False normalizes with the statistics of the input. Without input "
        "statistics, normalize with running_mean and running_var.",
        _instance_variant(running="input_stats_in_eval"),
    ),
    Variant(
        "use_input_stats=False changes running_mean and running_var. They are updated only "
        "when the input statistics are used.",
        _instance_variant(running="updated_in_eval"),
    ),
    Variant(
        "running_mean and running_var are not updated in place. Change the tensors you were "
        "given, e.g. running_mean.mul_(1 - momentum).add_(momentum * mean); assigning "
        "running_mean = ... only rebinds a local name.",
        _instance_variant(running="not_updated"),
    ),
    Variant(
        "running_var is updated with the biased variance. PyTorch stores the unbiased "
        "variance (divided by n - 1, with n the number of positions) averaged over the batch, "
        "while it normalizes with the biased one.",
        _instance_variant(running="biased"),
    ),
    Variant(
        "running_var is updated with the variance of the whole batch. PyTorch averages over "
        "the batch the unbiased variance of each sample's channel.",
        _instance_variant(running="whole_batch"),
    ),
    Variant(
        "the momentum convention is flipped. PyTorch computes "
        "running = (1 - momentum) * running + momentum * statistic, so momentum=0.1 gives "
        "the new statistic a weight of 0.1.",
        _instance_variant(running="flipped_momentum"),
    ),
) + tuple(
    Variant(text, _instance_variant(mistake=m)) for m, text in _common("Instance normalization")
)


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
    cast = lambda t: None if t is None else t.to(dtype)  # noqa: E731
    return {
        "input": cast(input), "running_mean": cast(running_mean), "running_var": cast(running_var),
        "weight": cast(weight), "bias": cast(bias), "use_input_stats": use_input_stats,
        "momentum": momentum, "eps": eps,
    }


def check_instance_norm(student, *, gradients: bool = False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.instance_norm`` on seeded arguments (see ``make_instance_norm_arguments``).

    Compares the output and the running statistics after the call.
    """
    args = make_instance_norm_arguments(**arguments)
    return check_against_reference(
        student, F.instance_norm, args, name="instance_norm", state=("running_mean", "running_var"),
        grad_wrt=_grad_wrt(args, gradients), variants=INSTANCE_NORM_VARIANTS, devices=devices,
        forbidden=FORBIDDEN,
    ).show()


def check_instance_norm_rejects_single_position(student, devices=None) -> Report:
    """Check that input statistics of a single position raise ValueError, as PyTorch does."""
    args = make_instance_norm_arguments(shape=(4, 3, 1))
    return check_raises(
        student, args, ValueError, name="instance_norm", devices=devices,
        when="with use_input_stats=True when each channel of a sample has a single position "
        "(its variance is undefined)",
    ).show()


# --- RMS normalization --------------------------------------------------------------------


def _rms_norm(input, normalized_shape, weight=None, eps=None, *, axes=None, mistake=None, default_eps=None):
    shape = _as_shape(normalized_shape)
    dims = {
        None: tuple(range(-len(shape), 0)),
        "last": (-1,),
        "all_but_batch": tuple(range(1, input.dim())),
    }[axes]
    if eps is None:
        eps = torch.finfo(input.dtype).eps if default_eps is None else default_eps
    if mistake == "centred":
        out = _scale(input, dims, eps)
    elif mistake == "l2":
        out = input / (input.pow(2).sum(dim=dims, keepdim=True) + eps).sqrt()
    elif mistake == "std":
        out = input / (input.var(dim=dims, keepdim=True, unbiased=False) + eps).sqrt()
    else:
        out = _scale(input, dims, eps, center=False, mistake=mistake)
    return _affine(out, weight, None, shape)


def _rms_variant(**mistake):
    return lambda *args: _rms_norm(*args, **mistake)


RMS_NORM_VARIANTS = (
    Variant(
        "the mean is subtracted (that is layer normalization). RMSNorm does not centre: "
        "it divides x by sqrt(mean(x²) + eps).",
        _rms_variant(mistake="centred"),
    ),
    Variant(
        "the input is divided by its standard deviation. RMSNorm divides by the root mean "
        "square, sqrt(mean(x²) + eps), which does not subtract the mean.",
        _rms_variant(mistake="std"),
    ),
    Variant(
        "the input is divided by its L2 norm, sqrt(sum(x²)). RMSNorm divides by the root "
        "mean square, sqrt(mean(x²) + eps).",
        _rms_variant(mistake="l2"),
    ),
    Variant(
        "the input is divided by the mean square, without the square root. Use x / sqrt(mean(x²) + eps).",
        _rms_variant(mistake=NO_SQRT),
    ),
    Variant(
        "epsilon is added outside the square root. Use x / sqrt(mean(x²) + eps).",
        _rms_variant(mistake=EPS_OUTSIDE),
    ),
    Variant(
        "eps is left out. Use x / sqrt(mean(x²) + eps); with eps=None, "
        "eps is torch.finfo(input.dtype).eps.",
        _rms_variant(mistake=NO_EPS),
    ),
    Variant(
        "eps=None is taken as 1e-5. PyTorch then uses torch.finfo(input.dtype).eps, "
        "the machine epsilon of the input's dtype.",
        _rms_variant(default_eps=1e-5),
    ),
    Variant(
        "the root mean square is taken over the last axis only. With a normalized_shape of "
        "several sizes, take it over all of the last len(normalized_shape) axes together.",
        _rms_variant(axes="last"),
    ),
    Variant(
        "the root mean square is taken over every axis but the batch axis. Take it over "
        "the last len(normalized_shape) axes only.",
        _rms_variant(axes="all_but_batch"),
    ),
)


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
    cast = lambda t: None if t is None else t.to(dtype)  # noqa: E731
    return {"input": cast(input), "normalized_shape": normalized_shape, "weight": cast(weight), "eps": eps}


def _torch_rms_norm(input, normalized_shape, weight=None, eps=None):
    return F.rms_norm(input, _as_shape(normalized_shape), weight, eps)


def check_rms_norm(student, *, gradients: bool = False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.rms_norm`` on seeded arguments (see ``make_rms_norm_arguments``).

    An int ``normalized_shape`` is passed to the student as it is (``nn.RMSNorm``
    accepts one) and to PyTorch as a one-element tuple.
    """
    args = make_rms_norm_arguments(**arguments)
    return check_against_reference(
        student, _torch_rms_norm, args, name="rms_norm", grad_wrt=_grad_wrt(args, gradients),
        variants=RMS_NORM_VARIANTS, devices=devices, forbidden=FORBIDDEN,
    ).show()


def _grad_wrt(args: dict, gradients: bool) -> tuple[str, ...]:
    if not gradients:
        return ()
    return tuple(k for k in ("input", "weight", "bias") if args.get(k) is not None)

# Trust this module and what it uses, before any student code runs (see autograder.integrity).
integrity.trust_package()
