"""The L2 penalty, Σw²: the mistakes of its own, and its spec."""

from __future__ import annotations

from ..core.mistakes import Convention, Mistake
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
# d2l's l2_penalty, and many texts, halve the sum so that its gradient is w. The exercise's contract is
# the sum alone (its docstring says so); the convention is named, not accepted.
HALF_IN_L2 = Convention(
    "penalties.half_in_l2",
    "the penalty is ½Σw², halved so that its gradient is w. This exercise's penalty is Σw² alone: any "
    "constant factor belongs to λ, which the caller applies.",
    library="d2l",
)

# --- the spec ---

L2_PENALTY = spec(
    "l2", (ABS_IN_L2, dict(term="swapped")), (NORM_IN_L2, dict(total="sqrt")), (HALF_IN_L2, dict(total="half")),
    (TENSOR_NORMS(rule="The L2 penalty is Σw², without square roots: p.square().sum()."), dict(term="norm")),
)
