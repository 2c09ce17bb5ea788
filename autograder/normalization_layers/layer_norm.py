"""Layer normalization: each sample normalized over its trailing ``normalized_shape`` axes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.mistakes import WRONG_AXES, catch, plant
from ..core.report import Report, entry
from ..core.spec import Operation
from ._common import (
    AFFINE, DROPPED_KEEPDIM, FORBIDDEN, apply_affine, as_shape, cast, standardization_mistakes, standardize,
)

# --- the planted implementation ---

_AXES = {
    "normalized": lambda input, shape: tuple(range(-len(shape), 0)),
    "axis1": lambda input, shape: (1,),
    "batch": lambda input, shape: (0,),
    "all_but_batch": lambda input, shape: tuple(range(1, input.dim())),
    "last": lambda input, shape: (-1,),
}


def _layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, *, axes="normalized",
                ignore_affine=False, **switch):
    """Layer normalization over ``axes`` (a key of ``_AXES``); ``switch`` goes to ``standardize``."""
    shape = as_shape(normalized_shape)
    out = standardize(input, _AXES[axes](input, shape), eps, **switch)
    return apply_affine(out, weight, bias, shape, ignored=ignore_affine)


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
        weight = 1.0 + 0.5 * torch.randn(as_shape(normalized_shape), generator=generator, dtype=torch.float64)
        bias = 0.5 * torch.randn(as_shape(normalized_shape), generator=generator, dtype=torch.float64)
    to = cast(dtype)
    return {"input": to(input), "normalized_shape": normalized_shape, "weight": to(weight),
            "bias": to(bias), "eps": eps}


def _torch_layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    return F.layer_norm(input, as_shape(normalized_shape), weight, bias, eps)


# --- its mistakes ---

_RULE = "Layer normalization normalizes over the last len(normalized_shape) axes"
_TOKENS = catch("check_layer_norm", shape=(4, 5, 6), normalized_shape=(6,))
PLANTED = (
    plant(_layer_norm, WRONG_AXES(
        axes="axis 1", rule=f"{_RULE}, e.g. the features of each token of a (batch, tokens, features) input."),
        _TOKENS, axes="axis1"),
    plant(_layer_norm, WRONG_AXES(
        axes="the batch (axis 0), as batch normalization does",
        rule="Layer normalization normalizes each sample on its own, over the last len(normalized_shape) axes."),
        _TOKENS, axes="batch"),
    plant(_layer_norm, WRONG_AXES(axes="every axis but the batch axis", rule=f"{_RULE} only."),
          _TOKENS, axes="all_but_batch"),
    plant(_layer_norm, WRONG_AXES(
        axes="the last axis only",
        rule="With a normalized_shape of several sizes, normalize over all of the last len(normalized_shape) "
             "axes together."),
        catch("check_layer_norm", shape=(3, 4, 5, 6), normalized_shape=(5, 6), seed=1), axes="last"),
    plant(_layer_norm, DROPPED_KEEPDIM, catch("check_layer_norm", shape=(6, 6)), keepdim=False),
) + standardization_mistakes(
    _layer_norm, "Layer normalization",
    catch("check_layer_norm", shape=(4, 3, 6), eps=0.5, scale=0.3, seed=8), _TOKENS,
)

# --- the spec ---

LAYER_NORM = Operation(
    "layer_norm", _torch_layer_norm, make_layer_norm_arguments, forbidden=FORBIDDEN,
    differentiable=AFFINE, planted=PLANTED,
)

# --- the check entries ---


@entry
def check_layer_norm(student, *, gradients: bool = False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.layer_norm`` on seeded arguments (see ``make_layer_norm_arguments``).

    An int ``normalized_shape`` is passed to the student as it is (``nn.LayerNorm``
    accepts one) and to PyTorch as a one-element tuple.
    """
    return LAYER_NORM.compare(student, gradients=gradients, devices=devices, **arguments)
