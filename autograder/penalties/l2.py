"""The L2 penalty, Σw²: the mistakes of its own, and its spec."""

from __future__ import annotations

from ..core.mistakes import Mistake
from ._common import TENSOR_NORMS, spec

# --- its mistakes ---

ABS_IN_L2 = Mistake(
    "penalties.abs_in_l2",
    "the penalty sums absolute values. The L2 penalty is the sum of squares, Σw² (w ** 2); Σ|w| is the L1 "
    "penalty.",
)
NORM_IN_L2 = Mistake(
    "penalties.norm_in_l2", "the penalty is the L2 norm √(Σw²). The L2 penalty is Σw², without the square root."
)
HALF_IN_L2 = Mistake(
    "penalties.half_in_l2",
    "the penalty is multiplied by 1/2. This exercise's penalty is Σw² alone: any constant factor belongs to "
    "λ, which the caller applies.",
)

# --- the spec ---

L2_PENALTY = spec(
    "l2", (ABS_IN_L2, dict(term="swapped")), (NORM_IN_L2, dict(total="sqrt")), (HALF_IN_L2, dict(total="half")),
    (TENSOR_NORMS(rule="The L2 penalty is Σw², without square roots: p.square().sum()."), dict(term="norm")),
)
