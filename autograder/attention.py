"""Checks for the self-attention exercises: softmax, scaled dot-product attention
and a multi-head attention module.

The references are PyTorch's own ``torch.softmax``,
``F.scaled_dot_product_attention`` and ``nn.MultiheadAttention``. Scores are
``Q Kᵀ`` with one row per token (row vectors), as in PyTorch. The wrong
variants below are the mistakes students make most often; a failure message
names the one the student's result matches.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .core import integrity
from .core.harness import Report, Variant, check_against_reference, quiet
from .core.devices import available_devices

# --- softmax -------------------------------------------------------------------


def _naive_softmax(input, dim):
    exp = input.exp()
    return exp / exp.sum(dim, keepdim=True)


def _softmax_over_everything(input, dim):
    shifted = (input - input.max()).exp()
    return shifted / shifted.sum()


SOFTMAX_VARIANTS = (
    Variant(
        "the softmax is not numerically stable: exp() overflows to inf for large "
        "logits and inf / inf gives NaN. Subtract the maximum along `dim` before exp(); "
        "the result does not change, since softmax(x) = softmax(x - c).",
        _naive_softmax,
    ),
    Variant(
        "the softmax normalizes over every element instead of along `dim`: "
        "sum with .sum(dim, keepdim=True).",
        _softmax_over_everything,
    ),
)
SOFTMAX_FORBIDDEN = {
    torch.softmax: "torch.softmax", F.softmax: "torch.nn.functional.softmax",
    torch.Tensor.softmax: "Tensor.softmax", torch.log_softmax: "torch.log_softmax",
    F.log_softmax: "torch.nn.functional.log_softmax", torch.Tensor.log_softmax: "Tensor.log_softmax",
}


def check_softmax(student, *, shape=(4, 6), dim=-1, scale=1.0, dtype=torch.float32, seed=0,
                  input=None, gradients=False, devices=None) -> Report:
    """Compare ``student(input, dim)`` with ``torch.softmax`` on seeded logits times ``scale``."""
    if input is None:
        generator = torch.Generator().manual_seed(seed)
        input = scale * torch.randn(shape, generator=generator, dtype=torch.float64)
    args = {"input": input.to(dtype), "dim": dim}
    return check_against_reference(
        student, torch.softmax, args, name="softmax", variants=SOFTMAX_VARIANTS,
        grad_wrt=("input",) if gradients else (), forbidden=SOFTMAX_FORBIDDEN, devices=devices,
    ).show()


def check_softmax_rows_sum_to_one(student, *, shape=(5, 7), scale=30.0, seed=0) -> Report:
    """Property: along ``dim`` the weights are in [0, 1] and sum to 1, even for large logits."""
    generator = torch.Generator().manual_seed(seed)
    input = scale * torch.randn(shape, generator=generator)
    report = Report(f"softmax(input: {tuple(shape)} float32 with logits up to {input.abs().max():.0f}, dim=-1)")
    with quiet():
        try:
            weights = student(input, -1)
        except NotImplementedError:
            raise AssertionError(f"{report.call}: the function is not implemented yet (it raised NotImplementedError).") from None
        if not isinstance(weights, torch.Tensor) or weights.shape != input.shape:
            raise AssertionError(f"{report.call}: expected a tensor of shape {tuple(input.shape)}, got {weights!r:.80}")
        if not bool(torch.isfinite(weights).all()):
            raise AssertionError(f"{report.call}: the weights contain NaN or inf. " + SOFTMAX_VARIANTS[0].mistake)
        sums = weights.sum(-1)
        if not (bool((weights >= 0).all()) and bool((weights <= 1).all())):
            raise AssertionError(f"{report.call}: some weights are outside [0, 1].")
        worst = (sums - 1).abs().max().item()
        if worst > 1e-5:
            raise AssertionError(f"{report.call}: the rows sum to values up to {worst:.3g} away from 1.")
    report.devices.append("cpu")
    return report.show()


# --- scaled dot-product attention ------------------------------------------------


def _attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, *,
               unscaled=False, mask_after_softmax=False, causal_transposed=False,
               unstable=False, nan_rows=False, bool_mask_inverted=False):
    """Scaled dot-product attention (no dropout) with switches that each plant one mistake."""
    length, source_length = query.size(-2), key.size(-2)
    scale = 1 / math.sqrt(query.size(-1)) if scale is None else scale
    scores = query @ key.transpose(-2, -1) * (1.0 if unscaled else scale)  # (..., L, S)
    bias = torch.zeros(length, source_length, dtype=query.dtype, device=query.device)
    if is_causal:
        keep = torch.ones(length, source_length, dtype=torch.bool, device=query.device)
        keep = keep.triu() if causal_transposed else keep.tril()
        bias = bias.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            keep = ~attn_mask if bool_mask_inverted else attn_mask
            bias = bias.masked_fill(~keep, float("-inf"))
        else:
            bias = bias + attn_mask
    if mask_after_softmax:
        return torch.softmax(scores, dim=-1).masked_fill(bias == float("-inf"), 0.0) @ value
    scores = scores + bias
    # A row whose every key is masked attends to nothing: zeros, as PyTorch gives,
    # and zero gradients (softmax of a row of -inf would be NaN in both).
    masked_row = (bias == float("-inf")).all(dim=-1, keepdim=True)  # (L, 1)
    if not nan_rows:
        scores = scores.masked_fill(masked_row, 0.0)
    weights = _naive_softmax(scores, -1) if unstable else torch.softmax(scores, dim=-1)
    if not nan_rows:
        weights = weights.masked_fill(masked_row, 0.0)
    return weights @ value


def _attention_variant(**mistake):
    return lambda *args: _attention(*args, **mistake)


ATTENTION_VARIANTS = (
    Variant("the scores are not divided by sqrt(d): use (Q @ K^T) * scale with "
            "scale = 1 / sqrt(query.size(-1)) unless `scale` is given.",
            _attention_variant(unscaled=True)),
    Variant("the mask is applied after the softmax. Add -inf (or the additive mask) to the "
            "scores before the softmax, so that the remaining weights still sum to 1.",
            _attention_variant(mask_after_softmax=True)),
    Variant("the causal mask is transposed: query i may attend to keys j <= i, a lower-"
            "triangular pattern (torch.ones(L, S).tril()), not to the future.",
            _attention_variant(causal_transposed=True)),
    Variant("the boolean mask is read the wrong way round: in scaled_dot_product_attention "
            "True means 'take part in attention' and False means 'masked out'.",
            _attention_variant(bool_mask_inverted=True)),
    Variant("a row whose keys are all masked gives NaN (softmax of a row of -inf). PyTorch "
            "returns zeros for such a row: replace those NaN weights by 0.",
            _attention_variant(nan_rows=True)),
    Variant("the softmax is not numerically stable: large scores overflow exp(). Subtract "
            "the row maximum first (or call your stable softmax).",
            _attention_variant(unstable=True)),
)
ATTENTION_FORBIDDEN = {
    F.scaled_dot_product_attention: "torch.nn.functional.scaled_dot_product_attention",
    F.multi_head_attention_forward: "torch.nn.functional.multi_head_attention_forward",
}


def make_attention_arguments(batch=(2, 3), length=4, source_length=None, embed=8, value_embed=None, *,
                             mask=None, is_causal=False, scale=None, magnitude=1.0,
                             dtype=torch.float32, seed=0) -> dict:
    """Seeded arguments for ``scaled_dot_product_attention``.

    ``mask`` is None, "bool", "additive", "padding" (boolean, last keys masked)
    or "full_row" (boolean, one query row masked entirely).
    """
    generator = torch.Generator().manual_seed(seed)
    source_length = source_length or length
    value_embed = value_embed or embed
    randn = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    query = magnitude * randn(*batch, length, embed)
    key = magnitude * randn(*batch, source_length, embed)
    value = randn(*batch, source_length, value_embed)
    attn_mask = None
    if mask == "bool":
        attn_mask = torch.rand(length, source_length, generator=generator) > 0.3
        attn_mask[:, 0] = True  # every query keeps a key
    elif mask == "additive":
        attn_mask = randn(length, source_length).to(dtype)
        attn_mask[0, -1] = float("-inf")
    elif mask == "padding":
        attn_mask = torch.ones(length, source_length, dtype=torch.bool)
        attn_mask[:, -max(1, source_length // 3):] = False
    elif mask == "full_row":
        attn_mask = torch.ones(length, source_length, dtype=torch.bool)
        attn_mask[1] = False
    return {"query": query.to(dtype), "key": key.to(dtype), "value": value.to(dtype),
            "attn_mask": attn_mask, "dropout_p": 0.0, "is_causal": is_causal, "scale": scale}


def _reference_attention(query, key, value, attn_mask, dropout_p, is_causal, scale):
    # PyTorch's `scale` is keyword-only; the student's function takes it by position too.
    return F.scaled_dot_product_attention(
        query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale
    )


def check_scaled_dot_product_attention(student, *, gradients=False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.scaled_dot_product_attention`` (see ``make_attention_arguments``)."""
    args = make_attention_arguments(**arguments)
    return check_against_reference(
        student, _reference_attention, args, name="scaled_dot_product_attention",
        variants=ATTENTION_VARIANTS, forbidden=ATTENTION_FORBIDDEN, devices=devices,
        grad_wrt=("query", "key", "value") if gradients else (),
    ).show()


def check_attention_ignores_masked_keys(student, *, seed=0) -> Report:
    """Property: changing the keys and values that a mask hides does not change the output."""
    args = make_attention_arguments(mask="padding", seed=seed)
    hidden = ~args["attn_mask"][0]  # (S,) keys masked for every query
    changed = dict(args)
    changed["key"] = args["key"].clone()
    changed["value"] = args["value"].clone()
    changed["key"][..., hidden, :] += 100.0
    changed["value"][..., hidden, :] -= 100.0
    report = Report("scaled_dot_product_attention with a padding mask, masked keys and values changed")
    with quiet():
        try:
            before = student(*args.values())
            after = student(*changed.values())
        except NotImplementedError:
            raise AssertionError(f"{report.call}: the function is not implemented yet (it raised NotImplementedError).") from None
        worst = (before - after).abs().max().item()
    if not worst <= 1e-5:
        raise AssertionError(
            f"{report.call}: the output changed by up to {worst:.3g}, so masked keys still receive "
            "weight. Masked positions must get weight exactly 0: set their scores to -inf before the softmax."
        )
    report.devices.append("cpu")
    return report.show()


# --- multi-head attention ----------------------------------------------------


def _multi_head_attention(query, key, value, in_proj_weight, in_proj_bias, out_proj_weight,
                          out_proj_bias, key_padding_mask, attn_mask, need_weights, num_heads, *,
                          wrong_head_split=False, unscaled=False, padding_mask_inverted=False):
    """nn.MultiheadAttention's forward (batch_first) with switches that plant one mistake each."""
    batch, length, embed = query.shape
    source_length = key.shape[1]
    head = embed // num_heads
    w_q, w_k, w_v = in_proj_weight.chunk(3)
    b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
    q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)  # (B, T, E)

    def split(x, steps):
        if wrong_head_split:  # (B, T, E) read as (B, H, T, d) without moving the head axis
            return x.reshape(batch, num_heads, steps, head)
        return x.reshape(batch, steps, num_heads, head).transpose(1, 2)  # (B, H, T, d)

    q, k, v = split(q, length), split(k, source_length), split(v, source_length)
    scores = q @ k.transpose(-2, -1)  # (B, H, L, S)
    if not unscaled:
        scores = scores / math.sqrt(head)
    if attn_mask is not None:
        scores = scores.masked_fill(attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    if key_padding_mask is not None:
        ignore = ~key_padding_mask if padding_mask_inverted else key_padding_mask
        scores = scores.masked_fill(ignore[:, None, None, :], float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (B, H, L, S)
    out = (weights @ v).transpose(1, 2).reshape(batch, length, embed)  # (B, L, E)
    out = F.linear(out, out_proj_weight, out_proj_bias)
    return out, (weights.mean(dim=1) if need_weights else None)


MHA_VARIANTS = (
    Variant("the heads are split along the wrong axis: reshape (B, T, E) to (B, T, H, d) and "
            "then transpose to (B, H, T, d); reshaping straight to (B, H, T, d) mixes tokens and heads.",
            lambda *a: _multi_head_attention(*a, wrong_head_split=True)),
    Variant("the scores are not divided by sqrt(d_head), the size of one head.",
            lambda *a: _multi_head_attention(*a, unscaled=True)),
    Variant("key_padding_mask is read the wrong way round: in nn.MultiheadAttention True marks "
            "a padding key to ignore (the opposite of scaled_dot_product_attention's boolean mask).",
            lambda *a: _multi_head_attention(*a, padding_mask_inverted=True)),
)
STATE_DICT_KEYS = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")


def _call_module(module_class, num_heads, query, key, value, in_proj_weight, in_proj_bias,
                 out_proj_weight, out_proj_bias, key_padding_mask, attn_mask, need_weights):
    """Build the module and run it with the given tensors as its parameters (gradients flow to them)."""
    module = module_class(query.shape[-1], num_heads, bias=in_proj_bias is not None, batch_first=True)
    parameters = dict(zip(STATE_DICT_KEYS, (in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias)))
    parameters = {k: v for k, v in parameters.items() if v is not None}
    return torch.func.functional_call(
        module, parameters, (query, key, value),
        {"key_padding_mask": key_padding_mask, "need_weights": need_weights, "attn_mask": attn_mask},
    )


def make_mha_arguments(batch=2, length=5, source_length=None, embed=8, num_heads=2, *, bias=True,
                       key_padding=False, attn_mask=None, need_weights=True,
                       dtype=torch.float32, seed=0) -> dict:
    """Seeded inputs and the parameters of a freshly initialised ``nn.MultiheadAttention``."""
    torch.manual_seed(seed)  # nn.MultiheadAttention initialises from the global generator
    reference = nn.MultiheadAttention(embed, num_heads, bias=bias, batch_first=True).to(dtype)
    with torch.no_grad():
        if bias:  # PyTorch initialises the biases to 0; random ones make them count
            reference.in_proj_bias.normal_()
            reference.out_proj.bias.normal_()
    source_length = source_length or length
    state = {k: v.detach().clone() for k, v in reference.state_dict().items()}
    randn = lambda *s: torch.randn(*s, dtype=dtype)  # noqa: E731
    padding = None
    if key_padding:
        padding = torch.zeros(batch, source_length, dtype=torch.bool)
        padding[:, -1] = True
        padding[0, -2] = True
    mask = None
    if attn_mask == "bool":  # True = not allowed, as in nn.MultiheadAttention
        mask = torch.ones(length, source_length, dtype=torch.bool).triu(1)
    elif attn_mask == "additive":
        mask = randn(length, source_length)
    return {
        "query": randn(batch, length, embed), "key": randn(batch, source_length, embed),
        "value": randn(batch, source_length, embed),
        "in_proj_weight": state["in_proj_weight"], "in_proj_bias": state.get("in_proj_bias"),
        "out_proj_weight": state["out_proj.weight"], "out_proj_bias": state.get("out_proj.bias"),
        "key_padding_mask": padding, "attn_mask": mask, "need_weights": need_weights,
    }


def check_multihead_attention(module_class, *, num_heads=2, gradients=False, devices=None, **arguments) -> Report:
    """Compare ``module_class`` with ``nn.MultiheadAttention`` given the same parameters.

    Compares the output and the head-averaged attention weights or, with
    ``gradients=True``, the gradients of the output with respect to the inputs
    and every parameter.
    """
    args = make_mha_arguments(num_heads=num_heads, **arguments)
    student = lambda *a: _call_module(module_class, num_heads, *a)  # noqa: E731
    reference = lambda *a: _call_module(nn.MultiheadAttention, num_heads, *a)  # noqa: E731
    variants = tuple(Variant(v.mistake, lambda *a, f=v.function: f(*a, num_heads)) for v in MHA_VARIANTS)
    options = dict(name="MultiheadAttention", forbidden=ATTENTION_FORBIDDEN, devices=devices)
    if gradients:
        grad_wrt = tuple(k for k in ("query", "key", "value", "in_proj_weight", "in_proj_bias",
                                     "out_proj_weight", "out_proj_bias") if args[k] is not None)
        first = lambda f: (lambda *a: f(*a)[0])  # noqa: E731 - the output alone
        return check_against_reference(
            first(student), first(reference), args, grad_wrt=grad_wrt,
            variants=tuple(Variant(v.mistake, first(v.function)) for v in variants), **options,
        ).show()
    return check_against_reference(
        student, reference, args, outputs=("output", "attention weights"), variants=variants, **options,
    ).show()


def check_multihead_attention_state_dict(module_class, embed=8, num_heads=2) -> Report:
    """Check that the module loads ``nn.MultiheadAttention``'s state_dict unchanged."""
    report = Report(f"{getattr(module_class, '__name__', module_class)}({embed}, {num_heads}).load_state_dict(...)")
    with quiet():
        reference = nn.MultiheadAttention(embed, num_heads, batch_first=True)
        try:
            module = module_class(embed, num_heads, bias=True, batch_first=True)
        except NotImplementedError:
            raise AssertionError(f"{report.call}: the module is not implemented yet (it raised NotImplementedError).") from None
        keys = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        wanted = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
        if keys != wanted:
            raise AssertionError(
                f"{report.call}: the state_dict has entries {keys}; nn.MultiheadAttention has {wanted}. "
                "Register in_proj_weight (3E, E) and in_proj_bias (3E,) as nn.Parameter and the output "
                "projection as self.out_proj = nn.Linear(E, E)."
            )
        module.load_state_dict(reference.state_dict())
    report.devices.append("cpu")
    return report.show()


def check_multihead_attention_permutation_equivariant(module_class, *, seed=0) -> Report:
    """Property: permuting the tokens (without positions or masks) permutes the output the same way."""
    args = make_mha_arguments(seed=seed)
    order = torch.randperm(args["query"].shape[1], generator=torch.Generator().manual_seed(seed))
    report = Report("MultiheadAttention self-attention with tokens permuted")
    with quiet():
        x = args["query"]
        run = lambda tokens: _call_module(module_class, 2, tokens, tokens, tokens, *list(args.values())[3:])[0]  # noqa: E731
        try:
            permuted_after = run(x)[:, order]
            permuted_before = run(x[:, order])
        except NotImplementedError:
            raise AssertionError(f"{report.call}: the module is not implemented yet (it raised NotImplementedError).") from None
        worst = (permuted_after - permuted_before).abs().max().item()
    if not worst <= 1e-5:
        raise AssertionError(
            f"{report.call}: the output of permuted tokens differs from the permuted output by up to "
            f"{worst:.3g}. Without positional information or masks, attention must be permutation "
            "equivariant: look for an operation that mixes token positions, such as a wrong reshape."
        )
    report.devices.extend(["cpu"])
    return report.show()


__all__ = [name for name in dir() if name.startswith("check_")] + ["available_devices"]

# Trust this module and what it uses, before any student code runs (see autograder.integrity).
integrity.trust_package()
