"""Causal self-attention with a key-value cache and rotary positions, re-implemented with one mistake per keyword.

The module has ``nn.MultiheadAttention``'s parameters (``in_proj_weight``,
``in_proj_bias``, ``out_proj``) and HF's conventions for a cache:
``forward(x, cache=None) -> (output, cache)``, where ``cache = (keys, values)``
holds, for every token seen so far, its keys after the rotary embedding and its
values, each ``(B, H, T, d_head)`` (the layout of ``past_key_values`` in
Hugging Face's Llama). Positions are rotary (Su et al. 2021), in the "rotate
half" form of GPT-NeoX and Llama, and the first new token's position is the
cache's length.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core.mistakes import Mistake

ROTARY_BASE = 10000.0


def rotary(x, start, *, form="halves"):
    """Rotate the pairs of features of ``x`` (B, H, L, d) by the angles of positions start, ..., start + L - 1.

    ``form="halves"`` pairs feature i with feature i + d/2 (GPT-NeoX, Llama); "interleaved" pairs 2i with 2i + 1.
    """
    length, size = x.shape[-2], x.shape[-1]
    exponents = torch.arange(0, size, 2, device=x.device, dtype=torch.float64) / size
    frequency = ROTARY_BASE ** -exponents  # (d/2,)
    position = torch.arange(start, start + length, device=x.device, dtype=torch.float64)
    angle = (position[:, None] * frequency[None, :]).to(x.dtype)  # (L, d/2)
    cos, sin = angle.cos(), angle.sin()
    if form == "interleaved":
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)
    first, second = x[..., : size // 2], x[..., size // 2:]
    return torch.cat((first * cos - second * sin, second * cos + first * sin), dim=-1)


def _causal_self_attention(x, cache, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads, *,
                           axis=2, mask="bottom_right", positions="offset", kept="all", form="halves"):
    """One forward of the module; its keywords plant one mistake each.

    ``axis``: the cache's axis the new keys and values are concatenated along (2, the tokens', is right).
    ``mask``: "bottom_right" (query i of L new ones sees the cache and new keys up to i), "top_left"
    (the mask of a square sequence, as ``is_causal=True`` aligns it) or "none". ``positions``: "offset"
    (from the cache's length) or "restart" (from 0 at every call). ``kept``: the cache returned holds
    "all" the keys and values, or only the "new" ones. ``form``: the rotary form, as in ``rotary``.
    """
    batch, length, embed = x.shape
    head = embed // num_heads
    q, k, v = F.linear(x, in_proj_weight, in_proj_bias).chunk(3, dim=-1)  # (B, L, E) each
    q, k, v = (t.reshape(batch, length, num_heads, head).transpose(1, 2) for t in (q, k, v))  # (B, H, L, d)
    past = 0 if cache is None else cache[0].shape[2]
    start = past if positions == "offset" else 0
    q, k = rotary(q, start, form=form), rotary(k, start, form=form)
    if cache is not None:
        k, v = torch.cat((cache[0], k), dim=axis), torch.cat((cache[1], v), dim=axis)  # (B, H, S, d)
    total = k.shape[2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(head)  # (B, H, L, S)
    if mask != "none":
        shift = total - length if mask == "bottom_right" else 0
        allowed = torch.ones(length, total, dtype=torch.bool, device=x.device).tril(diagonal=shift)
        scores = scores.masked_fill(~allowed, float("-inf"))
    out = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(batch, length, embed)  # (B, L, E)
    new_cache = (k, v) if kept == "all" else (k[:, :, -length:], v[:, :, -length:])
    return F.linear(out, out_proj_weight, out_proj_bias), new_cache


def module_planting(recompute=False, **switch) -> type:
    """A module with nn.MultiheadAttention's parameters whose forward plants the mistakes ``switch`` names.

    ``recompute=True``: it keeps the tokens it has seen and projects all of them again at every call,
    so its outputs and cache are right but a step costs as much as the whole prefix.
    """

    class PlantedCausalSelfAttention(nn.Module):
        def __init__(self, embed_dim, num_heads, bias=True):
            super().__init__()
            self.num_heads = num_heads
            self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
            self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim)) if bias else None
            self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
            self.seen = None

        def forward(self, x, cache=None):
            if not recompute:
                return self._attend(x, cache, **switch)
            self.seen = x if cache is None else torch.cat((self.seen, x), dim=1)
            out, cache = self._attend(self.seen, None, **switch)  # the whole prefix, projected again
            return out[:, -x.shape[1]:], cache

        def _attend(self, x, cache, **keywords):
            return _causal_self_attention(x, cache, self.in_proj_weight, self.in_proj_bias, self.out_proj.weight,
                                          self.out_proj.bias, self.num_heads, **keywords)

    return PlantedCausalSelfAttention


# The module with no mistake: the reference of every check.
Reference = module_planting()

# --- its mistakes ---

CACHE_WRONG_AXIS = Mistake(
    "kv_cache.cache_wrong_axis",
    "the new keys and values are concatenated to the cache along the wrong axis. The cache is (B, H, T, d_head), "
    "with the tokens on axis 2: torch.cat((past_keys, keys), dim=2), and the same for the values.",
)
MASK_NOT_OFFSET = Mistake(
    "kv_cache.mask_not_offset",
    "the causal mask is placed as for a square sequence, so a new query sees only the first keys of the cache "
    "(F.scaled_dot_product_attention's is_causal=True does this when there are more keys than queries). With T "
    "cached tokens, new query i may attend to keys 0, ..., T + i: shift the mask by T, or use no mask at all for a "
    "single new token, which may attend to every key.",
)
POSITIONS_RESTART = Mistake(
    "kv_cache.positions_restart",
    "the positions start at 0 at every call, so each new token is rotated as if it were the first. The first new "
    "token's position is the number of tokens in the cache: positions T, T + 1, ... with T = cache[0].shape[2].",
)
PREFIX_RECOMPUTED = Mistake(
    "kv_cache.prefix_recomputed",
    "a step does work for the whole prefix again (projecting earlier tokens, or attending from their queries), so "
    "its cost grows with the length much faster than attention needs. A step projects only the new tokens and "
    "reads the earlier keys and values from the cache.",
)
CACHE_NOT_EXTENDED = Mistake(
    "kv_cache.cache_not_extended",
    "the cache returned holds only the new tokens' keys and values, so the next step forgets every earlier token. "
    "Return the concatenated ones: (torch.cat((past_keys, keys), dim=2), torch.cat((past_values, values), dim=2)).",
)
NO_CAUSAL_MASK = Mistake(
    "kv_cache.no_causal_mask",
    "there is no causal mask: every token attends to the tokens after it, which generation cannot see yet. Query i "
    "may attend to keys 0, ..., i only.",
)
ROTARY_INTERLEAVED = Mistake(
    "kv_cache.rotary_interleaved",
    "the rotary embedding rotates the pairs of adjacent features (2i, 2i + 1), as GPT-J and Meta's first LLaMA "
    "code do. This exercise, like GPT-NeoX and Hugging Face's Llama, pairs feature i with feature i + d_head/2 "
    "(rotate_half).",
)
