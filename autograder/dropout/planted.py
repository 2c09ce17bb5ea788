"""Dropout re-implemented with its known mistakes, each planted by a keyword, and the checks that catch them.

A check names a mistake when the student's dropout behaves like the planted one
on the same input and seed.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..core.mistakes import DETACHED as DETACHED_FROM_AUTOGRAD
from ..core.mistakes import Mistake, catch, plant

# --- the planted implementation ---------------------------------------------------------

# Each keyword's values: the first is the correct behaviour, the others plant a mistake.
VALIDATIONS = ("always", "never", "in_training")  # when p outside [0, 1] raises ValueError
EVALUATIONS = ("identity", "active", "scaled")  # evaluation mode: the input, dropout as in training, input * (1 - p)
MASKS = (
    "uniform",  # torch.rand_like(input) >= p
    "keep_with_p",  # torch.rand_like(input) < p
    "normal",  # torch.randn_like(input) >= p
    "normal_keep",  # torch.randn_like(input) < 1 - p: a keep probability compared with normal numbers
    "cpu",  # uniform numbers drawn on the CPU
    "fixed",  # a generator seeded inside the function
    "numpy",  # NumPy's generator, which torch.manual_seed does not seed
    "shared",  # one mask for all rows
    "row",  # one random number per row
)
# The kept elements times 1 / (1 - p), 1, (1 - p), 1 / p; or 1 / (1 - p) with NaN at p = 1.
SCALES = ("inverse_keep", "none", "keep", "inverse_p", "nan_at_one")
RESULTS = (
    "as_asked",  # a new tensor, or the input itself with inplace=True
    "detached",  # cut off from autograd
    "into_input",  # the input is modified even with inplace=False (a copy is returned)
    "new",  # a new tensor even with inplace=True
    "zeroed_at_one",  # p = 1 in training handled by input.zero_(), whatever inplace says
)


def _dropout(input, p=0.5, training=True, inplace=False, *, validation="always", evaluation="identity",
             mask="uniform", scale="inverse_keep", result="as_asked"):
    """Dropout; each keyword other than its default plants a known mistake."""
    for value, allowed in ((validation, VALIDATIONS), (evaluation, EVALUATIONS), (mask, MASKS),
                           (scale, SCALES), (result, RESULTS)):
        if value not in allowed:
            raise ValueError(f"{value!r} is none of {allowed}")
    if (validation == "always" or (validation == "in_training" and training)) and not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training and evaluation == "scaled":
        return input * (1 - p)
    if not training and evaluation == "identity":
        return input
    if result == "zeroed_at_one" and p == 1:
        return input.zero_()
    uniform = _draw(input, mask)
    if mask == "normal_keep":
        keep = uniform < 1 - p
    else:
        keep = uniform < p if mask == "keep_with_p" else uniform >= p
    if scale == "none":
        factor = 1.0
    elif scale == "keep":
        factor = 1 - p
    elif scale == "inverse_p":
        factor = 1 / p if p else math.inf
    elif p < 1:
        factor = 1 / (1 - p)
    else:
        factor = math.inf if scale == "nan_at_one" else 0.0
    if result == "detached":
        input = input.detach()
    if (inplace and result != "new") or result == "into_input":
        output = input.mul_(keep).mul_(factor)
        return output.clone() if result == "into_input" else output
    return input * keep * factor


def _draw(input, mask: str) -> torch.Tensor:
    """The numbers compared with p, drawn as the ``mask`` keyword says."""
    if mask == "fixed":
        generator = torch.Generator(device=input.device).manual_seed(0)
        return torch.rand(input.shape, generator=generator, device=input.device, dtype=input.dtype)
    if mask == "numpy":
        return torch.as_tensor(np.random.rand(*input.shape), dtype=input.dtype)
    if mask == "shared":
        return torch.rand(input.shape[1:], device=input.device, dtype=input.dtype).expand(input.shape)
    if mask == "row":
        per_row = (input.shape[0],) + (1,) * (input.dim() - 1)
        return torch.rand(per_row, device=input.device, dtype=input.dtype).expand(input.shape)
    if mask == "cpu":
        return torch.rand(input.shape, dtype=input.dtype)
    if mask in ("normal", "normal_keep"):
        return torch.randn_like(input)
    return torch.rand_like(input)


# --- its mistakes ------------------------------------------------------------------------

NO_RESCALE = Mistake(
    "dropout.no_rescale",
    "the kept elements are not rescaled. Multiply them by 1 / (1 - p), so that each element keeps its "
    "expected value and evaluation mode needs no change.",
)
SCALE_BY_KEEP = Mistake(
    "dropout.scale_by_keep", "the kept elements are multiplied by (1 - p). Divide them by (1 - p) instead."
)
SCALE_BY_P = Mistake(
    "dropout.scale_by_p",
    "the kept elements are divided by p. Divide them by (1 - p), the probability that an element is kept.",
)
ACTIVE_IN_EVAL = Mistake(
    "dropout.active_in_eval",
    "dropout is applied in evaluation mode. With training=False, return the input unchanged (PyTorch returns "
    "the input tensor itself).",
)
SCALED_IN_EVAL = Mistake(
    "dropout.scaled_in_eval",
    "evaluation mode multiplies the input by (1 - p), as the original dropout paper does at test time. This "
    "dropout is inverted: training divides the kept elements by (1 - p), so evaluation mode returns the input "
    "unchanged.",
)
KEEP_WITH_P = Mistake(
    "dropout.keep_with_p",
    "elements are kept with probability p, so a fraction 1 - p is dropped. p is the probability of dropping "
    "an element: keep it where torch.rand_like(input) >= p.",
)
NORMAL_MASK = Mistake(
    "dropout.normal_mask",
    "the mask is drawn from a normal distribution (torch.randn_like), so the dropped fraction is not p. Draw "
    "uniform numbers in [0, 1): keep an element where torch.rand_like(input) >= p.",
)
NORMAL_KEEP_MASK = Mistake(
    "dropout.normal_keep_mask",
    "the mask is drawn from a normal distribution and compared with the keep probability "
    "(torch.randn_like(input) < 1 - p), so the kept fraction is P(Z < 1 - p), not 1 - p. Draw uniform numbers "
    "in [0, 1): keep an element where torch.rand_like(input) >= p (equivalently, < 1 - p).",
)
ZEROES_INPUT_AT_ONE = Mistake(
    "dropout.zeroes_input_at_one",
    "with p = 1 the input itself is set to 0 (input.zero_(), input.mul_(0) or input[:] = 0) although "
    "inplace=False, so the caller's tensor is lost. Return a new tensor of zeros: torch.zeros_like(input), or "
    "input * 0.",
)
CPU_MASK = Mistake(
    "dropout.cpu_mask",
    "the mask is created on the CPU (e.g. torch.rand(input.shape)). Create it on the input's device: "
    "torch.rand_like(input), or torch.rand(input.shape, device=input.device).",
)
NAN_WHEN_P_IS_ONE = Mistake(
    "dropout.nan_when_p_is_one",
    "p = 1 divides by 1 - p = 0, which gives NaN (0 * inf) or, in Python, ZeroDivisionError. With p = 1 "
    "every element is dropped: return zeros, e.g. input * 0.",
)
NOT_VALIDATED = Mistake(
    "dropout.not_validated",
    "p outside [0, 1] is accepted. Raise ValueError(f\"dropout probability has to be between 0 and 1, but got "
    "{p}\"), as PyTorch does, before anything else.",
)
VALIDATED_ONLY_IN_TRAINING = Mistake(
    "dropout.validated_only_in_training",
    "p is validated only in training mode. PyTorch raises ValueError for p outside [0, 1] whatever `training` "
    "is: check p first.",
)
FIXED_MASK = Mistake(
    "dropout.fixed_mask",
    "every call drops the same elements. Draw a new mask on every call from torch's global generator; do not "
    "create a torch.Generator with a fixed seed inside the function.",
)
NOT_SEEDED = Mistake(
    "dropout.not_seeded",
    "torch.manual_seed does not make the mask reproducible. Draw it with torch (torch.rand_like, "
    "torch.bernoulli), not with Python's random or NumPy.",
)
SHARED_MASK = Mistake(
    "dropout.shared_mask",
    "all rows share one mask. Draw one random number per element: torch.rand_like(input), not "
    "torch.rand(input.shape[1:]).",
)
ROW_MASK = Mistake(
    "dropout.row_mask",
    "each row is dropped or kept as a whole (one random number per row). Drop each element independently: "
    "torch.rand_like(input) draws one random number per element.",
)
DETACHED = DETACHED_FROM_AUTOGRAD(
    what="output", how="by .detach(), .data, torch.no_grad() or NumPy",
    consequence="the gradient does not reach the layers below",
)
MODIFIES_INPUT = Mistake(
    "dropout.modifies_input",
    "the input is changed although inplace=False. Compute a new tensor (input * mask) instead of modifying "
    "the input (input.mul_(mask), input[mask] = 0).",
)
NOT_IN_PLACE = Mistake(
    "dropout.not_in_place",
    "with inplace=True, modify the input itself (input.mul_(...), input.copy_(...)) and return it, as "
    "PyTorch does.",
)

SCALE = catch("check_dropout_scale", p=0.3)
FRACTION = catch("check_dropout_fraction", p=0.2)
MEAN = catch("check_dropout_mean", p=0.6)

MISTAKES = (
    plant(_dropout, NO_RESCALE, SCALE, MEAN, scale="none"),
    plant(_dropout, SCALE_BY_KEEP, SCALE, MEAN, scale="keep"),
    plant(_dropout, SCALE_BY_P, SCALE, MEAN, scale="inverse_p"),
    plant(_dropout, ACTIVE_IN_EVAL, catch("check_dropout_eval"), evaluation="active"),
    plant(_dropout, SCALED_IN_EVAL, catch("check_dropout_eval"), catch("check_dropout_eval", inplace=True),
          evaluation="scaled"),
    plant(_dropout, KEEP_WITH_P, FRACTION, MEAN, mask="keep_with_p"),
    plant(_dropout, NORMAL_MASK, FRACTION, mask="normal"),
    # At p = 0.2 the kept fraction P(Z < 0.8) = 0.79 is too near 0.8 to tell; at p = 0.5 it is 0.69.
    plant(_dropout, NORMAL_KEEP_MASK, catch("check_dropout_fraction", p=0.5), MEAN, mask="normal_keep"),
    plant(_dropout, CPU_MASK, SCALE, mask="cpu"),
    plant(_dropout, NAN_WHEN_P_IS_ONE, catch("check_dropout_p_zero_and_one"), scale="nan_at_one"),
    plant(_dropout, ZEROES_INPUT_AT_ONE, catch("check_dropout_p_zero_and_one"), result="zeroed_at_one"),
    plant(_dropout, NOT_VALIDATED, catch("check_dropout_rejects_p", 1.5), validation="never"),
    plant(_dropout, VALIDATED_ONLY_IN_TRAINING, catch("check_dropout_rejects_p", 1.5, training=False),
          validation="in_training"),
    plant(_dropout, FIXED_MASK, catch("check_dropout_seed"), mask="fixed"),
    plant(_dropout, NOT_SEEDED, catch("check_dropout_seed"), mask="numpy"),
    plant(_dropout, SHARED_MASK, FRACTION, mask="shared"),
    plant(_dropout, ROW_MASK, FRACTION, mask="row"),
    plant(_dropout, DETACHED, catch("check_dropout_gradient", p=0.4), result="detached"),
    plant(_dropout, MODIFIES_INPUT, SCALE, result="into_input"),
    plant(_dropout, NOT_IN_PLACE, catch("check_dropout_inplace", p=0.3), result="new"),
)

# Dropout's mistakes are named one at a time, never in pairs. Each check judges one property and stops at
# the first that fails (the device, p = 1, the seed, what the call returns, evaluation mode, validation), so
# a mistake of another property stays hidden; and the statistics are single numbers, which a pair cannot be
# told apart by: the mean of unscaled kept values under a normal keep mask is that of dividing by p.
MISTAKES = tuple(p.excluding(*(q.mistake.id for q in MISTAKES)) for p in MISTAKES)


def candidates(*mistakes: Mistake) -> tuple:
    """The planted mistakes that a statistic (a scale, a fraction, a mean) can tell apart, in MISTAKES' order."""
    return tuple(p for p in MISTAKES if p.mistake in mistakes)
