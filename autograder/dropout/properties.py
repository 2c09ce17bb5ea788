"""What dropout's output must satisfy, declared as properties with the planted mistakes that explain a miss.

The random ones hold within 6 standard deviations (the dropped fraction, the
mean); the certain ones exactly (evaluation mode is the identity, the kept
elements are the input times 1 / (1 - p)).
"""

from __future__ import annotations

import math

import torch

from ..core.compare import describe_difference
from ..core.engine import fail_diagnosed
from ..core.failure import fail
from ..core.spec import Property
from ..core.tolerances import tolerance_for
from ._common import seeded
from .planted import (ACTIVE_IN_EVAL, KEEP_WITH_P, NAN_WHEN_P_IS_ONE, NO_RESCALE, NORMAL_KEEP_MASK, NORMAL_MASK, SCALE_BY_KEEP,
                      SCALE_BY_P, SCALED_IN_EVAL, candidates)
from .spec import DROPOUT

# --- the spec ------------------------------------------------------------------------------

SIGMAS = 6.0


def dropped_fraction(p: float, n: int) -> Property:
    """A fraction p of the n elements is dropped: within 6 standard deviations, √(p(1-p)/n), of p."""
    bound = SIGMAS * math.sqrt(p * (1 - p) / n)
    return Property(
        name="dropped fraction",
        statistic=lambda output: (output == 0).double().mean().item(),
        holds=lambda fraction: not abs(fraction - p) > bound,
        describe=lambda fraction: (f"{fraction:.2%} of the {n} elements were dropped; expected p = {p:.0%} ± "
                                   f"{bound:.2%} ({SIGMAS:g} standard deviations of the dropped fraction)."),
        candidates=candidates(KEEP_WITH_P, NORMAL_MASK, NORMAL_KEEP_MASK),
        expected=p,
        margin=bound,
        # Two fractions drawn with other masks agree within twice the widest bound (a fraction of 1/2).
        agree=lambda a, b: abs(a - b) <= 2 * SIGMAS * math.sqrt(0.25 / n),
    )


def preserved_mean(input: torch.Tensor, p: float) -> Property:
    """The mean of the output is the input's, within 6 standard deviations.

    Each output element is x / (1 - p) with probability 1 - p and 0 otherwise;
    its variance is x² p / (1 - p). The mean of the n outputs has standard
    deviation √(Σ x² p / (1 - p)) / n.
    """
    n = input.numel()
    target = input.double().mean().item()
    sd = math.sqrt(input.double().square().sum().item() * p / (1 - p)) / n
    return Property(
        name="mean",
        statistic=lambda output: output.double().mean().item(),
        holds=lambda mean: not abs(mean - target) > SIGMAS * sd,
        describe=lambda mean: (f"the mean of the output is {mean:.5g}; the mean of the input is {target:.5g}, and "
                               f"dropout must preserve it within {SIGMAS * sd:.2g} ({SIGMAS:g} standard deviations)."),
        candidates=candidates(NO_RESCALE, SCALE_BY_KEEP, SCALE_BY_P, KEEP_WITH_P, NORMAL_MASK, NORMAL_KEEP_MASK),
        expected=target,
        margin=SIGMAS * sd,
        # Two means drawn with other masks: twice the bound, widened as a mistake scales the output.
        agree=lambda a, b: abs(a - b) <= 2 * SIGMAS * sd * max(abs(b) / target, 1),
    )


UNCHANGED = "unchanged"


def eval_effect(output, x, original, p) -> str:
    """What evaluation mode did, in words that a diagnosis compares.

    It describes the input, if the call changed it in place (``x`` is the input
    after the call, ``original`` its values before), else the output.
    """
    result = x if not torch.equal(x, original) else output
    if torch.equal(result, original):
        return UNCHANGED
    if bool((result == 0).any()) or (p < 1 and torch.allclose(result, original / (1 - p))):
        return "dropped or rescaled as in training"
    if torch.allclose(result, original * (1 - p)):
        return "multiplied by 1 - p"
    return "changed"


def eval_effect_of(function, original, p, inplace) -> str:
    """``eval_effect`` of a planted dropout in evaluation mode, on a copy of ``original``."""
    x = original.clone()
    return eval_effect(function(x, p, False, inplace), x, original, p)


IDENTITY_IN_EVALUATION = Property(
    name="identity in evaluation mode",
    statistic=eval_effect,
    holds=lambda effect: effect == UNCHANGED,
    describe=lambda effect: f"the result was {effect}; in evaluation mode dropout is the identity.",
    candidates=candidates(ACTIVE_IN_EVAL, SCALED_IN_EVAL),
    expected=UNCHANGED,
)


def kept_ratio(output, x) -> float:
    """The median of output / input over the kept elements (NaN if none is kept)."""
    kept = output != 0
    if not bool(kept.any()):
        return math.nan
    return (output[kept].double() / x[kept].double()).median().item()


RESCALING = candidates(NO_RESCALE, SCALE_BY_KEEP, SCALE_BY_P)


def require_kept_scaled(where, output, x, p, seed) -> None:
    """Fail unless every element of ``output`` is 0 or the element of ``x`` times 1 / (1 - p)."""
    if torch.isnan(output).any():
        fail(where, problems=("the output has NaN values.",), mistake=NAN_WHEN_P_IS_ONE if p == 1 else None)
    if p == 1:  # nothing is kept, nothing is scaled
        if not bool((output == 0).all()):
            fail(where, problems=(f"{int((output != 0).sum())} of {output.numel()} elements are not 0; "
                                  "with p = 1 every element is dropped.",))
        return
    kept = output != 0
    if not bool(kept.any()) and p ** output.numel() < 1e-9:  # all dropped, by chance, only if tiny
        fail(where, problems=(f"every one of the {output.numel()} elements was dropped, with p={p}.",))
    scale = 1 / (1 - p)
    problem = describe_difference(
        "the output's kept part (its elements that are not 0, expected to be "
        f"input / (1 - p) = input * {scale:.6g})",
        output[kept], x[kept] * scale, tolerance_for(DROPOUT.name, x.dtype),
    )
    if problem:
        ratio = kept_ratio(output, x)
        fail_diagnosed(
            where, ratio, scale, problems=[problem + f" The kept elements are the input times {ratio:.6g}."],
            planted=RESCALING, clue=None,
            run=lambda function: kept_ratio(seeded(function, x, p, True, seed), x),
            agree=lambda a, b: math.isclose(a, b, rel_tol=1e-3),
        )
