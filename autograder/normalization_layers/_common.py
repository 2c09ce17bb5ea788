"""What the four normalizations share: the forbidden functions, the standardization and its mistakes.

All four compute ``(x - mean) / sqrt(var + eps)`` (RMSNorm: ``x / sqrt(mean(x²) + eps)``)
over their own axes, so one ``standardize`` serves them, and its keywords plant
the mistakes of that formula.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.calling import aten
from ..core.forbidden import Forbidden
from ..core.mistakes import EPS_OUTSIDE_SQRT, NO_EPS, NO_SQRT, UNBIASED_VARIANCE, Convention, Mistake, Planted, plant

# Any of these would do the work of the exercise (group normalization, for
# instance, is a layer normalization of the reshaped input), so none is allowed
# in any of the four functions.
FORBIDDEN = Forbidden("normalization_layers", {
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
})

# The arguments whose gradients are compared.
AFFINE = ("input", "weight", "bias")

# The statistic ``s`` each position is divided by the root of, over the normalized axes.
_STATISTICS = {
    "variance": lambda x, dims, keepdim: x.var(dim=dims, keepdim=keepdim, unbiased=False),
    "unbiased_variance": lambda x, dims, keepdim: x.var(dim=dims, keepdim=keepdim, unbiased=True),
    "mean_square": lambda x, dims, keepdim: x.pow(2).mean(dim=dims, keepdim=keepdim),
    "sum_square": lambda x, dims, keepdim: x.pow(2).sum(dim=dims, keepdim=keepdim),
    "square_of_mean": lambda x, dims, keepdim: x.mean(dim=dims, keepdim=keepdim).pow(2),
}
_DENOMINATORS = {
    "sqrt(s + eps)": lambda s, eps: (s + eps).sqrt(),
    "sqrt(s) + eps": lambda s, eps: s.sqrt() + eps,
    "s + eps": lambda s, eps: s + eps,
    "sqrt(s)": lambda s, eps: s.sqrt(),
}


def standardize(x, dims, eps, *, statistic="variance", numerator="x - mean", denominator="sqrt(s + eps)",
                keepdim=True):
    """``numerator / denominator`` over ``dims``: by default ``(x - mean) / sqrt(var + eps)``.

    ``numerator`` is ``"x - mean"`` or ``"x"``; ``denominator`` a key of ``_DENOMINATORS``, whose
    ``s`` is ``statistic`` (a key of ``_STATISTICS``). Without ``keepdim`` the statistics
    broadcast along the last axes.
    """
    top = x - x.mean(dim=dims, keepdim=keepdim) if numerator == "x - mean" else x
    return top / _DENOMINATORS[denominator](_STATISTICS[statistic](x, dims, keepdim), eps)


def as_shape(normalized_shape) -> tuple[int, ...]:
    """``nn.LayerNorm`` and ``nn.RMSNorm`` accept an int; the functional API wants a tuple."""
    return (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)


def apply_affine(out, weight, bias, shape, ignored=False):
    """``weight * out + bias``, each where given; ``ignored`` plants the mistake of leaving both out."""
    if ignored:
        return out
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def cast(dtype):
    return lambda t: None if t is None else t.to(dtype)


# Mistakes of the standardization that more than one of the four functions can make.
NOT_CENTRED = Mistake(
    "normalization_layers.not_centred",
    "the mean is not subtracted: the output is x / sqrt(var + eps). Subtract the mean first: "
    "(x - mean) / sqrt(var + eps).",
)
# (x - mean) / (x.std(-1) + eps), the LayerNorm of the Annotated Transformer and its many copies, is two
# mistakes at once: planted as both switches, it is named with each of them, then as this convention.
STD_PLUS_EPS = Convention(
    "normalization_layers.std_plus_eps",
    "the input is divided by x.std(dim) + eps, as in the Annotated Transformer's LayerNorm. This exercise "
    "follows PyTorch: (x - mean) / sqrt(x.var(dim, unbiased=False) + eps).",
    library="the Annotated Transformer",
)
AFFINE_IGNORED = Mistake(
    "normalization_layers.affine_ignored",
    "weight and bias are ignored: the output is the normalized input alone. Scale and shift it: "
    "weight * x_hat + bias (for RMSNorm, weight * x_hat).",
)
DROPPED_KEEPDIM = Mistake(
    "normalization_layers.dropped_keepdim",
    "the statistics are broadcast along the wrong axis: reducing without keepdim=True drops the "
    "normalized axes, so the statistic of row i is applied to column i. Keep them, e.g. "
    "x.mean(dim, keepdim=True).",
)


def standardization_mistakes(function, operation, eps_catch, *catches) -> tuple[Planted, ...]:
    """The mistakes of ``(x - mean) / sqrt(var + eps)`` planted in ``function``, through ``standardize``'s keywords.

    ``catches`` catch the mistakes every input shows; ``eps_catch`` those that need
    an eps as large as the variance (eps outside the root, eps left out).
    """
    return (
        plant(function, UNBIASED_VARIANCE(operation=operation, code="x.var(dim, unbiased=False)"), *catches,
              statistic="unbiased_variance"),
        plant(function, EPS_OUTSIDE_SQRT, eps_catch, denominator="sqrt(s) + eps"),
        plant(function, NO_SQRT, *catches, denominator="s + eps"),
        plant(function, NO_EPS, eps_catch, denominator="sqrt(s)"),
        plant(function, NOT_CENTRED, *catches, numerator="x"),
        plant(function, STD_PLUS_EPS, eps_catch, statistic="unbiased_variance", denominator="sqrt(s) + eps"),
        plant(function, AFFINE_IGNORED, *catches, ignore_affine=True),
    )
