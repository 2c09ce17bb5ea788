"""RMS normalization: as layer normalization, without subtracting the mean, and with no bias."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.mistakes import EPS_OUTSIDE_SQRT, NO_EPS, NO_SQRT, WRONG_AXES, Convention, Mistake, catch, plant
from ..core.report import Report, entry
from ..core.spec import Operation
from ._common import AFFINE_IGNORED, DROPPED_KEEPDIM, FORBIDDEN, apply_affine, as_shape, cast, standardize

# --- the planted implementation ---

_AXES = {
    "normalized": lambda input, shape: tuple(range(-len(shape), 0)),
    "last": lambda input, shape: (-1,),
    "all_but_batch": lambda input, shape: tuple(range(1, input.dim())),
}
# What the input is divided by the root of, as ``standardize``'s keywords: RMSNorm's own, and its look-alikes.
_FORMS = {
    "rms": dict(statistic="mean_square", numerator="x"),
    "centred": dict(statistic="variance", numerator="x - mean"),  # layer normalization
    "std": dict(statistic="variance", numerator="x"),
    "l2": dict(statistic="sum_square", numerator="x"),
    "square_of_mean": dict(statistic="square_of_mean", numerator="x"),
}


def _rms_norm(input, normalized_shape, weight=None, eps=None, *, axes="normalized", form="rms", default_eps=None,
              ignore_affine=False, in_float32=False, **switch):
    """``x / sqrt(mean(x²) + eps)`` over ``axes`` (a key of ``_AXES``), then scaled by ``weight``.

    ``form`` (a key of ``_FORMS``) says what ``x`` is divided by the root of; ``eps=None`` is
    ``default_eps``, else the machine epsilon of the input's dtype; ``in_float32``: normalize
    ``input.float()`` and cast back, as LLaMA's RMSNorm does; ``switch`` goes to ``standardize``.
    """
    shape = as_shape(normalized_shape)
    if eps is None:
        eps = torch.finfo(input.dtype).eps if default_eps is None else default_eps
    x = input.float() if in_float32 else input
    out = standardize(x, _AXES[axes](input, shape), eps, **_FORMS[form], **switch).to(input.dtype)
    return apply_affine(out, weight, None, shape, ignored=ignore_affine)


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
        weight = 1.0 + 0.5 * torch.randn(as_shape(normalized_shape), generator=generator, dtype=torch.float64)
    return {"input": cast(dtype)(input), "normalized_shape": normalized_shape, "weight": cast(dtype)(weight),
            "eps": eps}


def _torch_rms_norm(input, normalized_shape, weight=None, eps=None):
    return F.rms_norm(input, as_shape(normalized_shape), weight, eps)


# --- its mistakes ---

RMS_CENTRED = Mistake(
    "normalization_layers.rms_centred",
    "the mean is subtracted (that is layer normalization). RMSNorm does not centre: "
    "it divides x by sqrt(mean(x²) + eps).")

RMS_STD = Mistake(
    "normalization_layers.rms_std",
    "the input is divided by its standard deviation. RMSNorm divides by the root mean "
    "square, sqrt(mean(x²) + eps), which does not subtract the mean.")

RMS_L2_NORM = Mistake(
    "normalization_layers.rms_l2_norm",
    "the input is divided by its L2 norm, sqrt(sum(x²)). RMSNorm divides by the root "
    "mean square, sqrt(mean(x²) + eps).")

RMS_SQUARE_OF_MEAN = Mistake(
    "normalization_layers.rms_square_of_mean",
    "the input is divided by sqrt(mean(x)²), the square of the mean, not by the root of the mean of "
    "the squares. Square first, then average: x / sqrt(mean(x²) + eps).")


# RMSNorm's formula in the shared mistakes' words: their default would tell the student to subtract the mean.
RMS_FORMULA = "x / sqrt(mean(x²) + eps)"
# LLaMA's RMSNorm computes in float32 whatever the input (self._norm(x.float()).type_as(x)), which
# serves half precision well and loses float64's: this exercise keeps the input's dtype.
RMS_IN_FLOAT32 = Convention(
    "normalization_layers.rms_in_float32",
    "the input is normalized in float32 (x.float()) and cast back, which rounds a float64 input to float32's "
    "precision. This exercise keeps the input's dtype: compute in float64 for a float64 input.",
    library="LLaMA",
)
RMS_DEFAULT_EPS = Mistake(
    "normalization_layers.rms_default_eps",
    "eps=None is taken as {value}. PyTorch then uses torch.finfo(input.dtype).eps, "
    "the machine epsilon of the input's dtype.",
)
_RMS = catch("check_rms_norm", shape=(4, 5, 8), eps=1e-5)
_RMS_SMALL = catch("check_rms_norm", shape=(4, 5, 8), eps=None, scale=1e-3, seed=1)
PLANTED = (
    plant(_rms_norm, RMS_CENTRED, _RMS, form="centred"),
    plant(_rms_norm, RMS_STD, _RMS, form="std"),
    plant(_rms_norm, RMS_L2_NORM, _RMS, form="l2"),
    plant(_rms_norm, RMS_SQUARE_OF_MEAN, _RMS, form="square_of_mean"),
    plant(_rms_norm, NO_SQRT(statistic="mean square", root="its square root", formula=RMS_FORMULA),
          _RMS, denominator="s + eps"),
    plant(_rms_norm, EPS_OUTSIDE_SQRT(formula=RMS_FORMULA), _RMS_SMALL, denominator="sqrt(s) + eps"),
    plant(_rms_norm, NO_EPS(statistic="mean square",
                                   formula=f"{RMS_FORMULA}; with eps=None, eps is torch.finfo(input.dtype).eps"),
          _RMS_SMALL, denominator="sqrt(s)"),
    plant(_rms_norm, RMS_DEFAULT_EPS(value="1e-5"), _RMS_SMALL, default_eps=1e-5),
    plant(_rms_norm, RMS_DEFAULT_EPS(value="1e-6"), _RMS_SMALL, default_eps=1e-6),
    plant(_rms_norm, WRONG_AXES(
        axes="the last axis only",
        rule="With a normalized_shape of several sizes, take the root mean square over all of the last "
             "len(normalized_shape) axes together."),
        catch("check_rms_norm", shape=(3, 4, 5, 6), normalized_shape=(5, 6), seed=2), axes="last"),
    plant(_rms_norm, WRONG_AXES(
        axes="every axis but the batch axis",
        rule="Take the root mean square over the last len(normalized_shape) axes only."),
        _RMS, axes="all_but_batch"),
    plant(_rms_norm, DROPPED_KEEPDIM, catch("check_rms_norm", shape=(6, 6)), keepdim=False),
    plant(_rms_norm, AFFINE_IGNORED, _RMS, ignore_affine=True),
    # float32's rounding shows in float64's gradients, beyond their tolerance, more than in the output.
    plant(_rms_norm, RMS_IN_FLOAT32,
          catch("check_rms_norm", shape=(6, 7), gradients=True, dtype=torch.float64, seed=6), in_float32=True),
)

# --- the spec ---

RMS_NORM = Operation(
    "rms_norm", _torch_rms_norm, make_rms_norm_arguments, forbidden=FORBIDDEN, differentiable=("input", "weight"),
    planted=PLANTED,
)

# --- the check entries ---


@entry
def check_rms_norm(student, *, gradients: bool = False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.rms_norm`` on seeded arguments (see ``make_rms_norm_arguments``).

    An int ``normalized_shape`` is passed to the student as it is (``nn.RMSNorm``
    accepts one) and to PyTorch as a one-element tuple.
    """
    return RMS_NORM.compare(student, gradients=gradients, devices=devices, **arguments)
