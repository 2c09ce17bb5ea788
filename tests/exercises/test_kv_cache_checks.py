"""The KV-cache checks: a correct module passes on every device; what they must refuse, they refuse.

That each planted mistake is caught and named is proven for every exercise by
``test_catalog.py``, from the declarations in ``autograder.kv_cache``. The
correct module below is written independently of the package's own
re-implementation: one head at a time, rotary angles from an outer product, a
mask of allowed pairs built from positions. The wrong ones are written as
students write them, not by the package's switches.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.core.devices import available_devices
from autograder.core.failure import named_mistake
from autograder.kv_cache import (
    CACHE_WRONG_AXIS,
    MASK_NOT_OFFSET,
    POSITIONS_RESTART,
    PREFIX_RECOMPUTED,
    check_causal_self_attention,
    check_causal_self_attention_cost,
    check_causal_self_attention_decoding,
    check_causal_self_attention_state_dict,
)


def rope(x, positions):
    """Rotate x (B, L, d) at ``positions`` (L,): feature j with feature j + d/2, angle position * 10000^(-2j/d)."""
    half = x.shape[-1] // 2
    inverse = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64, device=x.device) * 2
                        / x.shape[-1])
    angle = torch.outer(positions.to(torch.float64), inverse).to(x.dtype)  # (L, d/2)
    cos, sin = angle.cos(), angle.sin()
    a, b = x[..., :half], x[..., half:]
    return torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)


class HeadByHead(nn.Module):
    """Causal self-attention with a cache, its heads computed one at a time."""

    def __init__(self, embed_dim, num_heads, bias=True):
        super().__init__()
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.randn(3 * embed_dim, embed_dim) / embed_dim ** 0.5)
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim)) if bias else None
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def positions(self, length, past, device):
        """The positions of the new tokens, which come after the past ones."""
        return torch.arange(past, past + length, device=device)

    def scores_mask(self, length, past, device):
        """True where query i (at position past + i) may attend to key j."""
        query = torch.arange(past, past + length, device=device)[:, None]
        return torch.arange(past + length, device=device)[None, :] <= query

    def forward(self, x, cache=None):
        batch, length, embed = x.shape
        size = embed // self.num_heads
        projected = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        past = 0 if cache is None else cache[0].shape[2]
        positions = self.positions(length, past, x.device)
        allowed = self.scores_mask(length, past, x.device)
        heads, keys, values = [], [], []
        for h in range(self.num_heads):
            q, k, v = (projected[..., part * embed + h * size: part * embed + (h + 1) * size] for part in range(3))
            q, k = rope(q, positions), rope(k, positions)
            if cache is not None:
                k, v = torch.cat((cache[0][:, h], k), dim=1), torch.cat((cache[1][:, h], v), dim=1)
            scores = torch.einsum("bld,bsd->bls", q, k) / math.sqrt(size)
            heads.append(torch.einsum("bls,bsd->bld", scores.masked_fill(~allowed, -math.inf).softmax(-1), v))
            keys.append(k)
            values.append(v)
        return self.out_proj(torch.cat(heads, dim=-1)), (torch.stack(keys, 1), torch.stack(values, 1))


def _passes_everywhere(report, call_start):
    assert report.devices == available_devices()
    assert report.notes == []
    assert report.call.startswith(call_start)


@pytest.mark.parametrize("case", [
    dict(), dict(dtype=torch.float64), dict(bias=False, num_heads=4, embed_dim=16, length=9, seed=1),
    dict(gradients=True, seed=2), dict(batch=1, length=1),
], ids=str)
def test_one_pass_of_a_correct_module_passes_on_every_device(case):
    report = check_causal_self_attention(HeadByHead, **case)
    _passes_everywhere(report, "CausalSelfAttention(cache=None)(x: ")


@pytest.mark.parametrize("case", [
    dict(), dict(chunks=(2, 3, 1)), dict(chunks=(1,) * 6, dtype=torch.float64, gradients=True),
    dict(chunks=(4, 2, 1, 3), num_heads=4, embed_dim=16, bias=False, gradients=True, seed=3),
    dict(chunks=(5,) + (1,) * 11, dtype=torch.float64, seed=4),
], ids=str)
def test_a_correct_module_fed_in_chunks_passes_on_every_device(case):
    report = check_causal_self_attention_decoding(HeadByHead, **case)
    _passes_everywhere(report, f"CausalSelfAttention(chunks={case.get('chunks', (3, 1, 1, 1))})(x: ")


def test_the_state_dict_and_the_cost_of_a_correct_module_pass():
    assert check_causal_self_attention_state_dict(HeadByHead).call == "HeadByHead(8, 2).load_state_dict(...)"
    report = check_causal_self_attention_cost(HeadByHead)
    assert report.devices == ["cpu"]
    assert report.call == "HeadByHead(16, 2, bias=True): the FLOPs of one step after 16 and 32 cached tokens"


class IsCausal(HeadByHead):
    """Hands the mask to F.scaled_dot_product_attention's is_causal, which aligns it with the top-left corner."""

    def forward(self, x, cache=None):
        batch, length, embed = x.shape
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.view(batch, length, self.num_heads, -1).transpose(1, 2) for t in (q, k, v))
        past = 0 if cache is None else cache[0].shape[2]
        positions = torch.arange(past, past + length, device=x.device)
        q, k = rope(q, positions), rope(k, positions)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=-2), torch.cat([cache[1], v], dim=-2)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, embed)), (k, v)


def test_is_causal_after_a_cache_is_named_as_the_mask_not_offset():
    check_causal_self_attention(IsCausal)  # without a cache is_causal=True is right
    with pytest.raises(AssertionError) as raised:
        check_causal_self_attention_decoding(IsCausal)
    assert named_mistake(str(raised.value)) == MASK_NOT_OFFSET.words


def test_positions_counted_within_the_call_are_named():
    class FromZero(HeadByHead):
        def positions(self, length, past, device):
            return torch.arange(length, device=device)  # numbered within the call

    check_causal_self_attention(FromZero)
    with pytest.raises(AssertionError) as raised:
        check_causal_self_attention_decoding(FromZero, chunks=(2, 3, 1))
    assert named_mistake(str(raised.value)) == POSITIONS_RESTART.words


def test_attending_from_every_earlier_query_again_passes_the_outputs_and_fails_the_cost():
    class AllQueries(HeadByHead):
        """Keeps the tokens it was given and runs the whole sequence again, returning the new rows."""

        def forward(self, x, cache=None):
            self.tokens = x if cache is None else torch.cat((self.tokens, x), 1)
            out, new_cache = super().forward(self.tokens)
            return out[:, -x.shape[1]:], new_cache

    check_causal_self_attention_decoding(AllQueries)
    with pytest.raises(AssertionError, match=r"more per cached token, where attention needs 64") as raised:
        check_causal_self_attention_cost(AllQueries)
    assert named_mistake(str(raised.value)) == PREFIX_RECOMPUTED.words


def test_a_cache_laid_out_with_the_tokens_first_is_refused_by_its_shape():
    class TokensFirst(HeadByHead):
        def forward(self, x, cache=None):
            out, (keys, values) = super().forward(x, None if cache is None else
                                                  (cache[0].transpose(1, 2), cache[1].transpose(1, 2)))
            return out, (keys.transpose(1, 2), values.transpose(1, 2))  # (B, T, H, d)

    with pytest.raises(AssertionError, match=r"cached keys .*shape") as raised:
        check_causal_self_attention(TokensFirst)
    assert "(2, 6, 2, 4)" in str(raised.value)


def test_a_forward_without_the_cache_in_its_result_is_told_what_to_return():
    class OutputOnly(HeadByHead):
        def forward(self, x, cache=None):
            return super().forward(x, cache)[0]

    with pytest.raises(AssertionError, match=r"forward\(x, cache\) must return \(output, cache\)"):
        check_causal_self_attention(OutputOnly)


def test_a_stub_module_is_told_it_is_not_implemented():
    class Stub(nn.Module):
        def __init__(self, embed_dim, num_heads, bias=True):
            super().__init__()
            raise NotImplementedError

    with pytest.raises(AssertionError, match=r"Stub\(8, 2, bias=True\): the function is not implemented yet"):
        check_causal_self_attention_decoding(Stub)


def test_a_cache_grown_along_the_heads_axis_crashes_and_is_named_and_another_crash_is_shown_whole():
    class HeadsAxis(IsCausal):
        def forward(self, x, cache=None):
            out, (k, v) = HeadByHead.forward(self, x)  # this call's keys and values alone
            if cache is not None:
                k, v = torch.cat([k, cache[0]], 1), torch.cat([v, cache[1]], 1)
                return out @ k.sum(), (k, v)  # never reached: the concatenation raises
            return out, (k, v)

    with pytest.raises(AssertionError, match=r"it raised RuntimeError: Sizes of tensors must match except in "
                                             r"dimension 1\. Expected size 1 but got size 3") as raised:
        check_causal_self_attention_decoding(HeadsAxis)
    assert named_mistake(str(raised.value)) == CACHE_WRONG_AXIS.words

    class Crashes(HeadByHead):
        def forward(self, x, cache=None):
            if cache is not None:
                raise ValueError("a cache of an unexpected kind. It says more here.")
            return super().forward(x)

    with pytest.raises(AssertionError, match=r"it raised ValueError: a cache of an unexpected kind\. It says more "
                                             r"here\.") as raised:
        check_causal_self_attention_decoding(Crashes)
    assert named_mistake(str(raised.value)) is None
