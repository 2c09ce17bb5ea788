"""Checks for the exercise on generation: causal self-attention with a key-value cache.

A student's ``CausalSelfAttention(embed_dim, num_heads, bias=True)`` has
``nn.MultiheadAttention``'s parameters and a ``forward(x, cache=None)`` that
returns ``(output, cache)``, the cache being the keys (after the rotary
embedding) and values of every token seen, each ``(B, H, T, d_head)``. Fed a
sequence in chunks, the cache passed from call to call, it must give the
outputs, cache and gradients of one causal pass over the whole sequence
(``causal_self_attention.py``), and one step must cost no more than attention
over the cache needs (``cost.py``, FLOPs counted by ``FlopCounterMode``). The
mistakes are planted in a re-implementation (``planted.py``), one keyword each.
"""

from __future__ import annotations

from ..core import integrity
from ..core.devices import available_devices
from ..core.mistakes import Planted
from .causal_self_attention import (
    CAUSAL_MISTAKES,
    CAUSAL_SELF_ATTENTION,
    check_causal_self_attention,
    check_causal_self_attention_decoding,
    check_causal_self_attention_state_dict,
)
from .cost import check_causal_self_attention_cost
from .planted import (
    CACHE_NOT_EXTENDED,
    CACHE_WRONG_AXIS,
    MASK_NOT_OFFSET,
    NO_CAUSAL_MASK,
    POSITIONS_RESTART,
    PREFIX_RECOMPUTED,
    ROTARY_INTERLEAVED,
)

SPECS = (CAUSAL_SELF_ATTENTION,)

# Every mistake the exercise plants, with the checks that catch it.
MISTAKES: tuple[Planted, ...] = CAUSAL_MISTAKES

__all__ = [name for name in dir() if name.startswith("check_")] + ["available_devices"]

# Trust this package and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
