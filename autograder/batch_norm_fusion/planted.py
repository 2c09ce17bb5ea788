"""Folding an evaluation-mode BatchNorm into the convolution before it, with the mistakes planted in it.

In evaluation mode ``bn(conv(x))`` is an affine map of each output channel c:

    scale[c] = bn.weight[c] / sqrt(bn.running_var[c] + bn.eps)
    fused.weight[c] = conv.weight[c] * scale[c]
    fused.bias[c] = (conv.bias[c] - bn.running_mean[c]) * scale[c] + bn.bias[c]

so one convolution computes both. ``_fuse_conv_bn_eval`` takes the student's
arguments (two PyTorch layers) and returns a new convolution, as
``torch.nn.utils.fusion.fuse_conv_bn_eval`` does; each keyword switch plants one
mistake seen in fusion code.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..core.mistakes import EPS_OUTSIDE_SQRT, NO_EPS, Mistake, catch, plant

SCALE = "bn.weight / sqrt(bn.running_var + bn.eps)"


def _fuse_conv_bn_eval(
    conv, bn, transpose=False, *, accept_training=False, no_eps=False, eps_outside_sqrt=False, bias_required=False,
    weight_unscaled=False, bias_unscaled=False, mean_kept=False, conv_bias_dropped=False, input_channels=False,
    in_place=False,
):
    """A fused convolution, with switches that each plant one known mistake."""
    if not accept_training:
        assert not (conv.training or bn.training), "Fusion only for eval!"
    var, eps = bn.running_var, bn.eps
    if no_eps:
        std = var.sqrt()
    elif eps_outside_sqrt:
        std = var.sqrt() + eps
    else:
        std = (var + eps).sqrt()
    gamma = torch.ones_like(var) if bn.weight is None else bn.weight
    beta = torch.zeros_like(var) if bn.bias is None else bn.bias
    scale = gamma / std
    if conv.bias is not None:
        conv_bias = conv.bias
    elif bias_required:  # conv.bias - running_mean, with no bias: a TypeError
        conv_bias = conv.bias - bn.running_mean
    else:
        conv_bias = torch.zeros_like(bn.running_mean)
    per_channel = [1] * conv.weight.dim()
    per_channel[1 if input_channels else 0] = -1
    weight = conv.weight if weight_unscaled else conv.weight * scale.reshape(per_channel)
    shifted = (0 if conv_bias_dropped else conv_bias) - (0 if mean_kept else bn.running_mean)
    bias = shifted + beta if bias_unscaled else shifted * scale + beta
    with torch.no_grad():
        if in_place:  # the caller's convolution becomes the fused one
            conv.weight.copy_(weight)
            if conv.bias is not None:
                conv.bias.copy_(bias)
                return conv
            conv.bias = nn.Parameter(bias.detach().clone())
            return conv
        fused = copy.deepcopy(conv)
        fused.weight = nn.Parameter(weight.detach().clone(), requires_grad=conv.weight.requires_grad)
        fused.bias = nn.Parameter(bias.detach().clone(), requires_grad=conv.weight.requires_grad)
    return fused


FUSES_TRAINING_MODE = Mistake(
    "batch_norm_fusion.fuses_training_mode",
    "it fuses a BatchNorm in training mode. There BatchNorm normalizes with each batch's own mean and variance, "
    "which no fixed convolution reproduces: fusion is for evaluation mode only. Refuse it, as PyTorch does: "
    "assert not (conv.training or bn.training).")
MISSING_BIAS_IS_AN_ERROR = Mistake(
    "batch_norm_fusion.missing_bias_is_an_error",
    "a convolution without a bias (bias=False, the usual one before a BatchNorm) has conv.bias = None. Start "
    "the fused bias from zeros of the BatchNorm's dtype and device: torch.zeros_like(bn.running_mean).")

MISTAKES = (
    plant(_fuse_conv_bn_eval, FUSES_TRAINING_MODE, catch("check_fuse_conv_bn_eval_rejects_training"),
          accept_training=True),
    plant(_fuse_conv_bn_eval, NO_EPS(statistic="running variance", formula=f"scale = {SCALE}"),
          catch("check_fuse_conv_bn_eval", eps=0.1), no_eps=True),
    plant(_fuse_conv_bn_eval, EPS_OUTSIDE_SQRT(formula=f"scale = {SCALE}"),
          catch("check_fuse_conv_bn_eval", eps=0.1), eps_outside_sqrt=True),
    plant(_fuse_conv_bn_eval, MISSING_BIAS_IS_AN_ERROR, catch("check_fuse_conv_bn_eval", bias=False),
          bias_required=True),
    plant(_fuse_conv_bn_eval, Mistake(
        "batch_norm_fusion.weight_not_scaled",
        f"the weight is not scaled, only the bias is. Each output channel of the fused weight is conv.weight "
        f"times that channel's scale, {SCALE}."),
        catch("check_fuse_conv_bn_eval"), weight_unscaled=True),
    plant(_fuse_conv_bn_eval, Mistake(
        "batch_norm_fusion.bias_not_scaled",
        "the bias is not scaled, only the weight is. The fused bias is "
        "(conv.bias - bn.running_mean) * scale + bn.bias: the shifted bias goes through the scale too."),
        catch("check_fuse_conv_bn_eval"), bias_unscaled=True),
    plant(_fuse_conv_bn_eval, Mistake(
        "batch_norm_fusion.mean_not_subtracted",
        "the running mean is not subtracted from the bias. The fused bias is "
        "(conv.bias - bn.running_mean) * scale + bn.bias."),
        catch("check_fuse_conv_bn_eval"), mean_kept=True),
    plant(_fuse_conv_bn_eval, Mistake(
        "batch_norm_fusion.conv_bias_dropped",
        "the convolution's own bias is left out of the fused bias. The fused bias is "
        "(conv.bias - bn.running_mean) * scale + bn.bias, with zeros for conv.bias only when it is None."),
        catch("check_fuse_conv_bn_eval"), conv_bias_dropped=True),
    plant(_fuse_conv_bn_eval, Mistake(
        "batch_norm_fusion.scale_on_input_channels",
        "the scale multiplies the weight's input channels (axis 1). BatchNorm's channels are the convolution's "
        "output channels, the weight's axis 0: reshape the scale to (-1, 1, 1, 1) for a Conv2d."),
        catch("check_fuse_conv_bn_eval", in_channels=4), input_channels=True),
    plant(_fuse_conv_bn_eval, Mistake(
        "batch_norm_fusion.changes_the_convolution",
        "the convolution passed in is changed: it now holds the fused weight and bias, so the model it came "
        "from is broken. Fuse into a copy (copy.deepcopy(conv)) and leave conv and bn as they were."),
        catch("check_fuse_conv_bn_eval"), in_place=True),
)
