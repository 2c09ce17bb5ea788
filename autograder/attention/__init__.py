"""Checks for the self-attention exercises: softmax, scaled dot-product attention
and a multi-head attention module.

The references are PyTorch's own ``torch.softmax``,
``F.scaled_dot_product_attention`` and ``nn.MultiheadAttention``. Scores are
``Q Kᵀ`` with one row per token (row vectors), as in PyTorch. The mistakes
students make most often are planted in re-implementations of the three
(``_softmax``, ``_attention``, ``_multi_head_attention``), one keyword value
each; a failure message names the one the student's result matches.

The softmax and the attention function are declared as operations
(``softmax.py``, ``scaled_dot_product_attention.py``); the module is a class
(``multihead_attention.py``), so its checks build it, load the parameters of a
freshly initialised ``nn.MultiheadAttention`` into it and compare what it returns.
"""

from __future__ import annotations

from ..core import integrity
from ..core.devices import available_devices
from ..core.mistakes import Planted
from .multihead_attention import (
    MHA_MISTAKES,
    MULTIHEAD_ATTENTION,
    check_multihead_attention,
    check_multihead_attention_permutation_equivariant,
    check_multihead_attention_state_dict,
)
from .scaled_dot_product_attention import (
    ATTENTION_MISTAKES,
    MASK_AFTER_SOFTMAX,
    SCALED_DOT_PRODUCT_ATTENTION,
    check_attention_ignores_masked_keys,
    check_scaled_dot_product_attention,
)
from .softmax import (SOFTMAX, SOFTMAX_MISTAKES, check_softmax, check_softmax_leaves_input_unchanged,
                      check_softmax_rows_sum_to_one)

SPECS = (SOFTMAX, SCALED_DOT_PRODUCT_ATTENTION, MULTIHEAD_ATTENTION)

# Every mistake the exercise plants, with the checks that catch it.
MISTAKES: tuple[Planted, ...] = SOFTMAX_MISTAKES + ATTENTION_MISTAKES + MHA_MISTAKES

# The maps of forbidden functions, by the names the tests of an answer's source read them by.

__all__ = [name for name in dir() if name.startswith("check_")] + ["available_devices"]

# Trust this package and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
