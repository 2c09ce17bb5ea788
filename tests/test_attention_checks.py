"""The self-attention checks: correct implementations pass, each known mistake is caught and named."""

import pytest
import torch
from torch import nn

from autograder.attention import (
    ATTENTION_VARIANTS,
    MHA_VARIANTS,
    SOFTMAX_VARIANTS,
    _attention,
    _multi_head_attention,
    check_attention_ignores_masked_keys,
    check_multihead_attention,
    check_multihead_attention_permutation_equivariant,
    check_multihead_attention_state_dict,
    check_scaled_dot_product_attention,
    check_softmax,
    check_softmax_rows_sum_to_one,
)


def stable_softmax(input, dim):
    exp = (input - input.amax(dim, keepdim=True)).exp()
    return exp / exp.sum(dim, keepdim=True)


def module_class(function=_multi_head_attention):
    class Attention(nn.Module):
        def __init__(self, embed_dim, num_heads, bias=True, batch_first=True):
            super().__init__()
            self.num_heads = num_heads
            self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
            self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim)) if bias else None
            self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

        def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None):
            return function(query, key, value, self.in_proj_weight, self.in_proj_bias, self.out_proj.weight,
                            self.out_proj.bias, key_padding_mask, attn_mask, need_weights, self.num_heads)

    return Attention


def test_a_stable_softmax_passes_including_inf_and_large_logits():
    inf = float("inf")
    check_softmax(stable_softmax, shape=(3, 4, 5), dim=1, gradients=True)
    check_softmax(stable_softmax, scale=1000.0, dtype=torch.float64)
    check_softmax(stable_softmax, input=torch.tensor([[1.0, -inf, 2.0], [-inf, -inf, -inf]]))
    check_softmax_rows_sum_to_one(stable_softmax)


@pytest.mark.parametrize("variant", SOFTMAX_VARIANTS, ids=lambda v: v.mistake[:30])
def test_softmax_mistakes_are_named(variant):
    with pytest.raises(AssertionError, match="Likely mistake: " + variant.mistake[:40]):
        check_softmax(variant.function, scale=1000.0)


def test_the_unstable_softmax_fails_the_property_check_too():
    with pytest.raises(AssertionError, match="the weights contain NaN or inf"):
        check_softmax_rows_sum_to_one(SOFTMAX_VARIANTS[0].function, scale=100.0)


ATTENTION_CASES = [
    dict(), dict(mask="bool"), dict(mask="additive"), dict(mask="padding"), dict(mask="full_row"),
    dict(is_causal=True, length=3, source_length=5), dict(scale=0.3), dict(magnitude=30.0),
    dict(batch=(), length=6, source_length=2, embed=3, value_embed=5), dict(dtype=torch.float64),
]


@pytest.mark.parametrize("case", ATTENTION_CASES, ids=str)
def test_the_reference_attention_matches_pytorch_with_gradients(case):
    check_scaled_dot_product_attention(_attention, gradients=True, **case)


# Each planted mistake and a visible test case that catches it.
ATTENTION_CAUGHT_BY = {
    "the scores are not divided by sqrt(d)": dict(),
    "the mask is applied after the softmax": dict(mask="additive"),
    "the causal mask is transposed": dict(is_causal=True, length=3, source_length=5),
    "the boolean mask is read the wrong way round": dict(mask="bool"),
    "a row whose keys are all masked gives NaN": dict(mask="full_row"),
    "the softmax is not numerically stable": dict(magnitude=30.0),
}


@pytest.mark.parametrize("variant", ATTENTION_VARIANTS, ids=lambda v: v.mistake[:30])
def test_attention_mistakes_are_named(variant):
    case = next(c for prefix, c in ATTENTION_CAUGHT_BY.items() if variant.mistake.startswith(prefix))
    with pytest.raises(AssertionError) as raised:
        check_scaled_dot_product_attention(variant.function, **case)
    assert f"Likely mistake: {variant.mistake}" in str(raised.value)


def test_masked_keys_property():
    check_attention_ignores_masked_keys(_attention)
    with pytest.raises(AssertionError, match="masked keys still receive weight"):
        check_attention_ignores_masked_keys(lambda q, k, v, mask, p, causal, scale: _attention(q, k, v))


def test_calling_pytorchs_attention_is_refused():
    def delegates(q, k, v, attn_mask, dropout_p, is_causal, scale):
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale=scale)

    with pytest.raises(AssertionError, match="it calls torch.nn.functional.scaled_dot_product_attention"):
        check_scaled_dot_product_attention(delegates)


@pytest.mark.parametrize("case", [
    dict(), dict(key_padding=True), dict(attn_mask="bool"), dict(attn_mask="additive"),
    dict(need_weights=False), dict(source_length=7, num_heads=4), dict(dtype=torch.float64),
    dict(bias=False, embed=12, num_heads=3),
], ids=str)
def test_a_correct_module_passes(case):
    check_multihead_attention(module_class(), **case)


def test_a_correct_module_passes_gradient_state_dict_and_permutation_checks():
    check_multihead_attention(module_class(), gradients=True, key_padding=True)
    check_multihead_attention_state_dict(module_class())
    check_multihead_attention_permutation_equivariant(module_class())


@pytest.mark.parametrize("variant", MHA_VARIANTS, ids=lambda v: v.mistake[:30])
def test_module_mistakes_are_named(variant):
    with pytest.raises(AssertionError) as raised:
        check_multihead_attention(module_class(variant.function), key_padding=True)
    assert f"Likely mistake: {variant.mistake}" in str(raised.value)


def test_a_module_with_other_parameter_names_is_told_what_to_register():
    class SeparateProjections(nn.Module):
        def __init__(self, embed_dim, num_heads, bias=True, batch_first=True):
            super().__init__()
            self.q, self.k, self.v = (nn.Linear(embed_dim, embed_dim) for _ in range(3))

    with pytest.raises(AssertionError, match=r"Register in_proj_weight \(3E, E\)"):
        check_multihead_attention_state_dict(SeparateProjections)


def test_a_wrong_head_split_breaks_permutation_equivariance():
    with pytest.raises(AssertionError, match="permutation"):
        check_multihead_attention_permutation_equivariant(module_class(MHA_VARIANTS[0].function))
