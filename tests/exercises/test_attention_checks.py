"""The self-attention checks: correct implementations pass on every device; what they must refuse, they refuse.

That each planted mistake is caught and named is proven for every exercise by
``test_catalog.py``, from the declarations in ``autograder.attention``. The
correct implementations below are written independently of the module's own
re-implementations.
"""

import math

import pytest
import torch
from torch import nn

from autograder.attention import (
    check_attention_ignores_masked_keys,
    check_multihead_attention,
    check_multihead_attention_permutation_equivariant,
    check_multihead_attention_state_dict,
    check_scaled_dot_product_attention,
    check_softmax,
    check_softmax_rows_sum_to_one,
)
from autograder.core.devices import available_devices
from autograder.core.failure import named_mistake

inf = float("inf")


def stable_softmax(input, dim):
    exp = (input - input.amax(dim, keepdim=True)).exp()
    return exp / exp.sum(dim, keepdim=True)


def attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """Scaled dot-product attention with einsum, a mask of allowed pairs, and zeros for fully masked rows."""
    scale = query.shape[-1] ** -0.5 if scale is None else scale
    scores = torch.einsum("...ld,...sd->...ls", query, key) * scale
    length, source_length = scores.shape[-2:]
    positions = torch.arange(length, device=query.device)[:, None], torch.arange(source_length, device=query.device)
    allowed = torch.ones(length, source_length, dtype=torch.bool, device=query.device)
    if is_causal:
        allowed = allowed & (positions[0] >= positions[1])
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        allowed = allowed & attn_mask
    elif attn_mask is not None:
        scores = scores + attn_mask
    scores = scores.masked_fill(~allowed, -inf)
    top = scores.amax(-1, keepdim=True)
    exp = (scores - torch.where(torch.isfinite(top), top, torch.zeros_like(top))).exp()
    total = exp.sum(-1, keepdim=True)
    # A row with nothing left: 0 / 1 gives zero weights and zero gradients, as PyTorch does.
    return torch.einsum("...ls,...sd->...ld", exp / total.masked_fill(total == 0, 1.0), value)


def head_by_head(split_heads=None):
    """A multi-head attention module that attends one head at a time, over slices of the projections."""

    class Attention(nn.Module):
        def __init__(self, embed_dim, num_heads, bias=True, batch_first=True):
            super().__init__()
            self.num_heads = num_heads
            self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
            self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim)) if bias else None
            self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

        def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None):
            embed = query.shape[-1]
            size = embed // self.num_heads
            weights = self.in_proj_weight.split(embed)
            biases = self.in_proj_bias.split(embed) if self.in_proj_bias is not None else (0, 0, 0)
            q, k, v = (x @ w.T + b for x, w, b in zip((query, key, value), weights, biases))  # (B, T, E)
            heads = split_heads(q, k, v, self.num_heads) if split_heads else [
                (q[..., h * size:(h + 1) * size], k[..., h * size:(h + 1) * size], v[..., h * size:(h + 1) * size])
                for h in range(self.num_heads)
            ]
            outputs, attended = [], []
            for q_h, k_h, v_h in heads:
                scores = q_h @ k_h.transpose(1, 2) / math.sqrt(size)  # (B, L, S)
                if attn_mask is not None and attn_mask.dtype == torch.bool:
                    scores = scores.masked_fill(attn_mask, -inf)  # True = may not attend
                elif attn_mask is not None:
                    scores = scores + attn_mask
                if key_padding_mask is not None:
                    scores = scores.masked_fill(key_padding_mask[:, None, :], -inf)
                weights_h = stable_softmax(scores, -1)
                outputs.append(weights_h @ v_h)
                attended.append(weights_h)
            out = self.out_proj(torch.cat(outputs, dim=-1))
            return out, (torch.stack(attended).mean(0) if need_weights else None)

    return Attention


def _passes_everywhere(report, call_start):
    assert report.devices == available_devices()
    assert report.notes == []
    assert report.call.startswith(call_start)


# --- softmax -----------------------------------------------------------------------


@pytest.mark.parametrize("case", [
    dict(shape=(4, 6), dim=-1), dict(shape=(4, 6), dim=0), dict(shape=(3, 4, 5), dim=1, gradients=True),
    dict(shape=(3, 5), scale=1000.0), dict(shape=(4, 9), dtype=torch.float64, scale=50.0, gradients=True),
    dict(shape=(3, 1), dim=1),
], ids=str)
def test_a_stable_softmax_passes_on_every_device(case):
    report = check_softmax(stable_softmax, **case)
    dtype = str(case.get("dtype", torch.float32)).replace("torch.", "")
    _passes_everywhere(report, f"softmax(input: {case['shape']} {dtype}, dim={case.get('dim', -1)})")


def test_minus_infinity_logits_get_weight_zero_and_a_row_of_them_gives_nan_as_in_pytorch():
    logits = torch.tensor([[1.0, -inf, 2.0], [-inf, -inf, 0.5], [-inf, -inf, -inf]])
    _passes_everywhere(check_softmax(stable_softmax, input=logits), "softmax(input: (3, 3) float32")

    def zeros_for_empty_rows(input, dim):
        return torch.nan_to_num(stable_softmax(input, dim))

    with pytest.raises(AssertionError, match="has numbers where the reference has NaN"):
        check_softmax(zeros_for_empty_rows, input=logits)


def test_the_property_check_passes_a_stable_softmax_and_fails_an_unstable_one():
    report = check_softmax_rows_sum_to_one(stable_softmax)
    assert report.devices == ["cpu"] and report.call.startswith("softmax(input: (5, 7) float32 with logits up to")

    def unstable(input, dim):
        return input.exp() / input.exp().sum(dim, keepdim=True)

    with pytest.raises(AssertionError, match="the weights contain NaN or inf") as raised:
        check_softmax_rows_sum_to_one(unstable, scale=100.0)
    assert "not numerically stable" in named_mistake(str(raised.value))


def test_weights_that_do_not_sum_to_one_fail_the_property_check():
    with pytest.raises(AssertionError, match="the rows sum to values up to 0.5 away from 1") as raised:
        check_softmax_rows_sum_to_one(lambda input, dim: 0.5 * stable_softmax(input, dim))
    assert "Hint: the output is off by a constant factor of 0.5" in str(raised.value)


def test_calling_pytorchs_softmax_is_refused():
    with pytest.raises(AssertionError, match="it calls torch.softmax; the exercise is to implement it"):
        check_softmax(lambda input, dim: torch.softmax(input, dim))
    with pytest.raises(AssertionError, match="it calls Tensor.softmax"):
        check_softmax_rows_sum_to_one(lambda input, dim: input.softmax(dim))


def test_a_stub_is_told_it_is_not_implemented():
    def stub(input, dim):
        raise NotImplementedError

    with pytest.raises(AssertionError, match=r"softmax\(input: \(4, 6\) float32, dim=-1\) on cpu: the function is "
                                             r"not implemented yet"):
        check_softmax(stub)


# --- scaled dot-product attention -----------------------------------------------------

ATTENTION_CASES = [
    dict(), dict(mask="bool"), dict(mask="additive"), dict(mask="padding"), dict(mask="full_row"),
    dict(is_causal=True, length=3, source_length=5), dict(scale=0.3), dict(magnitude=30.0),
    dict(batch=(), length=6, source_length=2, embed=3, value_embed=5), dict(dtype=torch.float64),
]


@pytest.mark.parametrize("case", ATTENTION_CASES, ids=str)
def test_a_correct_attention_passes_with_gradients_on_every_device(case):
    report = check_scaled_dot_product_attention(attention, gradients=True, **case)
    _passes_everywhere(report, "scaled_dot_product_attention(query: ")
    assert f"is_causal={case.get('is_causal', False)}, scale={case.get('scale')})" in report.call


def test_masked_keys_property():
    report = check_attention_ignores_masked_keys(attention)
    assert report.devices == ["cpu"]
    with pytest.raises(AssertionError, match="masked keys still receive weight"):
        check_attention_ignores_masked_keys(lambda q, k, v, mask, p, causal, scale: attention(q, k, v))


def test_calling_pytorchs_attention_is_refused():
    def delegates(q, k, v, attn_mask, dropout_p, is_causal, scale):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale=scale)

    with pytest.raises(AssertionError, match="it calls torch.nn.functional.scaled_dot_product_attention"):
        check_scaled_dot_product_attention(delegates)
    with pytest.raises(AssertionError, match="it calls torch.nn.functional.scaled_dot_product_attention"):
        check_attention_ignores_masked_keys(delegates)


def test_an_output_off_by_a_constant_factor_gets_a_hint_when_no_mistake_matches():
    with pytest.raises(AssertionError) as raised:
        check_scaled_dot_product_attention(lambda *args: 2 * attention(*args))
    message = str(raised.value)
    assert named_mistake(message) is None
    assert "Hint: the output is off by a constant factor of 2" in message


def test_a_device_bug_is_caught_without_a_gpu():
    def causal_mask_on_the_cpu(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
        future = torch.ones(query.shape[-2], key.shape[-2], dtype=torch.bool).triu(1)  # always on the CPU
        scores = (query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])).masked_fill(future, -inf)
        return stable_softmax(scores, -1) @ value

    if torch.cuda.is_available():
        pytest.skip("a real GPU replaces the simulation")
    with pytest.raises(AssertionError, match="on a simulated GPU: it mixes devices"):
        check_scaled_dot_product_attention(causal_mask_on_the_cpu, is_causal=True)


# --- multi-head attention -------------------------------------------------------


@pytest.mark.parametrize("case", [
    dict(), dict(key_padding=True), dict(attn_mask="bool"), dict(attn_mask="additive"),
    dict(need_weights=False), dict(source_length=7, num_heads=4), dict(dtype=torch.float64),
    dict(bias=False, embed=12, num_heads=3),
], ids=str)
def test_a_correct_module_passes_on_every_device(case):
    report = check_multihead_attention(head_by_head(), **case)
    _passes_everywhere(report, "MultiheadAttention(query: ")
    assert report.call.endswith(f"need_weights={case.get('need_weights', True)})")


@pytest.mark.parametrize("case", [dict(key_padding=True), dict(num_heads=4, source_length=3, bias=False)], ids=str)
def test_a_correct_module_passes_the_gradient_check(case):
    _passes_everywhere(check_multihead_attention(head_by_head(), gradients=True, **case), "MultiheadAttention(query: ")


def test_a_correct_module_loads_the_state_dict_and_is_permutation_equivariant():
    report = check_multihead_attention_state_dict(head_by_head())
    assert report.devices == ["cpu"] and report.call == "Attention(8, 2).load_state_dict(...)"
    report = check_multihead_attention_permutation_equivariant(head_by_head())
    assert report.devices == ["cpu"] and "tokens permuted" in report.call


def test_a_module_with_other_parameter_names_is_told_what_to_register():
    class SeparateProjections(nn.Module):
        def __init__(self, embed_dim, num_heads, bias=True, batch_first=True):
            super().__init__()
            self.q, self.k, self.v = (nn.Linear(embed_dim, embed_dim) for _ in range(3))

    for check in (check_multihead_attention_state_dict, check_multihead_attention):
        with pytest.raises(AssertionError, match=r"Register in_proj_weight \(3E, E\)"):
            check(SeparateProjections)


def test_a_module_that_cannot_be_built_says_so():
    class Unfinished(nn.Module):
        def __init__(self, embed_dim, num_heads, bias=True, batch_first=True):
            raise NotImplementedError

    with pytest.raises(AssertionError, match=r"Unfinished\(8, 2, bias=True, batch_first=True\): the function is "
                                             r"not implemented yet"):
        check_multihead_attention(Unfinished)


def test_a_wrong_head_split_breaks_permutation_equivariance():
    def straight_reshape(q, k, v, num_heads):  # (B, T, E) read as (B, H, T, d)
        batch, _, embed = q.shape
        q, k, v = (x.reshape(batch, num_heads, x.shape[1], embed // num_heads) for x in (q, k, v))
        return [(q[:, h], k[:, h], v[:, h]) for h in range(num_heads)]

    with pytest.raises(AssertionError, match="attention must be permutation equivariant") as raised:
        check_multihead_attention_permutation_equivariant(head_by_head(straight_reshape))
    assert "reshape (B, T, E) to (B, T, H, d) and then transpose" in named_mistake(str(raised.value))


def test_weights_masked_after_the_softmax_are_named_for_a_boolean_or_causal_mask():
    from autograder.attention import ATTENTION_MISTAKES, MASK_AFTER_SOFTMAX

    def mask_after_softmax(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
        weights = stable_softmax(query @ key.transpose(-2, -1) * query.shape[-1] ** -0.5, -1)
        keep = torch.ones(weights.shape[-2:], dtype=torch.bool).tril() if is_causal else attn_mask
        return weights.masked_fill(~keep, 0.0) @ value

    for case in (dict(mask="bool"), dict(is_causal=True)):
        with pytest.raises(AssertionError) as raised:
            check_scaled_dot_product_attention(mask_after_softmax, **case)
        assert named_mistake(str(raised.value)) == MASK_AFTER_SOFTMAX.words
    # The catalog proves it where the mistake is exactly this one, not only with an additive mask.
    (planted,) = [p for p in ATTENTION_MISTAKES if p.mistake is MASK_AFTER_SOFTMAX]
    assert dict(mask="bool") in [c.kwargs for c in planted.caught_by]
