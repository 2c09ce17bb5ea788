"""The L1 penalty, Σ|w|: the mistakes of its own, and its spec."""

from __future__ import annotations

from ..core.mistakes import Mistake
from ._common import TENSOR_NORMS, spec

# --- its mistakes ---

SQUARES_IN_L1 = Mistake(
    "penalties.squares_in_l1",
    "the weights are squared. The L1 penalty is the sum of absolute values, Σ|w| (torch.abs); Σw² is the L2 "
    "penalty.",
)

# --- the spec ---

L1_PENALTY = spec(
    "l1", (SQUARES_IN_L1, dict(term="swapped")),
    (TENSOR_NORMS(rule="The L1 penalty is Σ|w|: p.abs().sum(), or torch.norm(p, p=1)."), dict(term="norm")),
)
