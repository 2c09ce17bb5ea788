"""Checks for the self-attention exercises: softmax, scaled dot-product attention
and a multi-head attention module.

The references are PyTorch's own ``torch.softmax``,
``F.scaled_dot_product_attention`` and ``nn.MultiheadAttention``. Scores are
``Q Kᵀ`` with one row per token (row vectors), as in PyTorch. The mistakes
students make most often are planted in re-implementations of the three
(``_softmax``, ``_attention``, ``_multi_head_attention``), one keyword switch
each; a failure message names the one the student's result matches.

The softmax and the attention function are declared as operations; the module
is a class, so its checks build it, load the parameters of a freshly
initialised ``nn.MultiheadAttention`` into it and compare what it returns.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from .core import integrity
from .core.calling import aten, call_student, functional_call, materialize
from .core.checks import Report, check, check_against_reference, fail_diagnosed
from .core.compare import OUTPUT, compare, describe_wrong_type
from .core.devices import available_devices
from .core.failure import Failure
from .core.mistakes import UNSCALED_SCORES, UNSTABLE_SOFTMAX, Mistake, Planted, catch
from .core.operation import Operation

# --- softmax -------------------------------------------------------------------


def _softmax(input, dim, *, unstable=False, whole_tensor=False, other_axis=False, log=False,
             max_without_keepdim=False):
    """A stable softmax along ``dim``, with switches that each plant one mistake."""
    if other_axis:  # the axis a hard-coded dim picks when it is not ``dim``
        dim = 0 if dim in (-1, input.dim() - 1) else -1
    if whole_tensor:
        exp = (input - input.max()).exp()
        return exp / exp.sum()
    if unstable:
        shifted = input
    elif max_without_keepdim:  # (..., n) minus (...,): broadcast along the last axis, not along ``dim``
        shifted = input - input.amax(dim)
    else:
        shifted = input - input.amax(dim, keepdim=True)
    if log:
        return shifted - shifted.exp().sum(dim, keepdim=True).log()
    exp = shifted.exp()
    return exp / exp.sum(dim, keepdim=True)


SOFTMAX_WHOLE_TENSOR = Mistake(
    "attention.softmax_whole_tensor",
    "the softmax normalizes over every element instead of along `dim`: sum with .sum(dim, keepdim=True).",
)
SOFTMAX_WRONG_AXIS = Mistake(
    "attention.softmax_wrong_axis",
    "the softmax is taken along another axis than `dim` (a fixed axis such as -1 or 0?): use `dim` in both "
    "the maximum and the sum, input.amax(dim, keepdim=True) and exp.sum(dim, keepdim=True), so that the "
    "weights along `dim` sum to 1.",
)
LOG_SOFTMAX = Mistake(
    "attention.log_softmax",
    "the output is the log-softmax, x - logsumexp(x): its values are at most 0 and do not sum to 1. "
    "Return the weights themselves, exp(x - max) / exp(x - max).sum(dim, keepdim=True).",
)
MAX_WITHOUT_KEEPDIM = Mistake(
    "attention.max_without_keepdim",
    "the maximum subtracted before exp() is taken without keepdim=True: input.amax(dim) drops the axis, so "
    "it broadcasts along the wrong axis (the maximum of row i is subtracted from column i) and no longer "
    "cancels out. Subtract input.amax(dim, keepdim=True).",
)


def _planted(function, mistake, *catches, **switch) -> Planted:
    """``mistake``, planted by calling ``function`` with ``switch`` on, and the check calls that catch it."""
    return Planted(mistake, lambda *args: function(*args, **switch), catches)


SOFTMAX_MISTAKES = (
    _planted(
        _softmax, UNSTABLE_SOFTMAX(detail="exp() overflows to inf for large logits, and inf / inf gives NaN"),
        catch("check_softmax", shape=(3, 5), scale=1000.0), catch("check_softmax_rows_sum_to_one", scale=100.0),
        unstable=True),
    # A hard-coded axis: -1 when `dim` is 0, or 0 when `dim` is the last axis.
    _planted(_softmax, SOFTMAX_WRONG_AXIS, catch("check_softmax", shape=(4, 6), dim=0),
             catch("check_softmax", shape=(4, 6), dim=-1), other_axis=True),
    _planted(_softmax, SOFTMAX_WHOLE_TENSOR, catch("check_softmax", shape=(4, 6), dim=-1), whole_tensor=True),
    _planted(_softmax, LOG_SOFTMAX, catch("check_softmax", shape=(4, 6)), catch("check_softmax_rows_sum_to_one"),
             log=True),
    # Without keepdim the maximum broadcasts silently only when the shapes allow it: square, or one column.
    _planted(_softmax, MAX_WITHOUT_KEEPDIM, catch("check_softmax", shape=(5, 5)),
             catch("check_softmax", shape=(3, 1), dim=1), max_without_keepdim=True),
)
SOFTMAX_FORBIDDEN = {
    torch.softmax: "torch.softmax", F.softmax: "torch.nn.functional.softmax",
    torch.Tensor.softmax: "Tensor.softmax", torch.log_softmax: "torch.log_softmax",
    F.log_softmax: "torch.nn.functional.log_softmax", torch.Tensor.log_softmax: "Tensor.log_softmax",
    F.softmin: "torch.nn.functional.softmin",
    # The kernels, whatever route reaches them (nn.Softmax, torch.ops.aten).
    **aten("softmax", "_softmax", "log_softmax", "_log_softmax", "_safe_softmax"),
    # Refused at run time through the functions above, named here for the check of an answer's source.
    nn.Softmax: "torch.nn.Softmax", nn.LogSoftmax: "torch.nn.LogSoftmax", nn.Softmin: "torch.nn.Softmin",
}


def make_softmax_arguments(shape=(4, 6), dim=-1, *, scale=1.0, dtype=torch.float32, seed=0, input=None) -> dict:
    """Seeded logits times ``scale`` (or the given ``input``) and ``dim``."""
    if input is None:
        generator = torch.Generator().manual_seed(seed)
        input = scale * torch.randn(shape, generator=generator, dtype=torch.float64)
    return {"input": input.to(dtype), "dim": dim}


SOFTMAX = Operation("softmax", torch.softmax, make_softmax_arguments, forbidden=SOFTMAX_FORBIDDEN,
                    differentiable=("input",), planted=SOFTMAX_MISTAKES)


@check
def check_softmax(student, *, shape=(4, 6), dim=-1, scale=1.0, dtype=torch.float32, seed=0,
                  input=None, gradients=False, devices=None) -> Report:
    """Compare ``student(input, dim)`` with ``torch.softmax`` on seeded logits times ``scale``."""
    return SOFTMAX.check(student, gradients=gradients, devices=devices, shape=shape, dim=dim, scale=scale,
                         dtype=dtype, seed=seed, input=input)


@check
def check_softmax_rows_sum_to_one(student, *, shape=(5, 7), scale=30.0, seed=0) -> Report:
    """Property: along ``dim`` the weights are in [0, 1] and sum to 1, even for large logits."""
    generator = torch.Generator().manual_seed(seed)
    input = scale * torch.randn(shape, generator=generator)
    report = Report(f"softmax(input: {tuple(shape)} float32 with logits up to {input.abs().max():.0f}, dim=-1)")
    where = f"{report.call} on cpu"
    arguments = {"input": input, "dim": -1}
    weights = call_student(student, arguments, where=where, forbidden=SOFTMAX_FORBIDDEN).result()
    expected = torch.softmax(input, -1)
    problem = describe_wrong_type(OUTPUT, weights, expected)
    if problem:
        Failure(where, problems=(problem,)).fail()
    worst = (weights.sum(-1) - 1).abs().max().item()
    if not bool(torch.isfinite(weights).all()):
        problem = "the weights contain NaN or inf."
    elif not (bool((weights >= 0).all()) and bool((weights <= 1).all())):
        problem = "some weights are outside [0, 1]."
    elif worst > 1e-5:
        problem = f"the rows sum to values up to {worst:.3g} away from 1."
    if problem:
        _fail_naming(where, problem, weights, expected, SOFTMAX_MISTAKES, arguments, "softmax")
    report.devices.append("cpu")
    return report


def _fail_naming(where, summary, actual, expected, planted, arguments, operation):
    """Fail a property check, naming the planted mistake the output matches on ``arguments``, else a hint."""
    fail_diagnosed(where, actual, expected, summary=summary, planted=planted,
                   run=lambda function: function(*materialize(arguments, None).values()),
                   agree=lambda a, b: compare(OUTPUT, a, b, operation) is None)


# --- scaled dot-product attention ------------------------------------------------


def _attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, *,
               unscaled=False, divided_by_d=False, times_sqrt_d=False, length_scale=False,
               ignores_scale=False, divides_by_scale=False, softmax_over_queries=False,
               mask_after_softmax=False, causal_transposed=False, unstable=False, nan_rows=False,
               bool_mask_inverted=False):
    """Scaled dot-product attention (no dropout) with switches that each plant one mistake."""
    length, source_length, size = query.size(-2), key.size(-2), query.size(-1)
    default = 1 / math.sqrt(size)
    if divided_by_d:
        default = 1 / size
    elif times_sqrt_d:
        default = math.sqrt(size)
    elif length_scale:  # query.size(-2) read for query.size(-1)
        default = 1 / math.sqrt(length)
    if unscaled:
        factor = 1.0
    elif scale is None or ignores_scale:
        factor = default
    else:
        factor = 1 / scale if divides_by_scale else scale
    scores = query @ key.transpose(-2, -1) * factor  # (..., L, S)
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
    axis = -2 if softmax_over_queries else -1
    # A row whose every key is masked attends to nothing: zeros, as PyTorch gives,
    # and zero gradients (softmax of a row of -inf would be NaN in both).
    masked_row = (bias == float("-inf")).all(dim=-1, keepdim=True)  # (L, 1)
    if not nan_rows:
        scores = scores.masked_fill(masked_row, 0.0)
    weights = _softmax(scores, axis, unstable=unstable)
    if not nan_rows:
        weights = weights.masked_fill(masked_row, 0.0)
    return weights @ value


_DEFAULT_SCALE = "scale = 1 / sqrt(query.size(-1)) unless `scale` is given"
SCORES_DIVIDED_BY_D = Mistake(
    "attention.scores_divided_by_d",
    f"the scores are divided by d = query.size(-1), not by its square root: multiply them by {_DEFAULT_SCALE}.",
)
SCORES_TIMES_SQRT_D = Mistake(
    "attention.scores_times_sqrt_d",
    f"the scores are multiplied by sqrt(d) instead of divided by it: multiply them by {_DEFAULT_SCALE}.",
)
SCALE_FROM_LENGTH = Mistake(
    "attention.scale_from_length",
    "the scale is computed from the sequence length, query.size(-2), instead of the size of each query "
    f"and key vector, d = query.size(-1): {_DEFAULT_SCALE}.",
)
GIVEN_SCALE_IGNORED = Mistake(
    "attention.given_scale_ignored",
    "the `scale` argument is ignored: when it is given, multiply the scores by it instead of by 1 / sqrt(d).",
)
DIVIDES_BY_SCALE = Mistake(
    "attention.divides_by_scale",
    "the scores are divided by `scale`; PyTorch multiplies them by it: scores = (Q @ K^T) * scale, with "
    "scale = 1 / sqrt(query.size(-1)) by default.",
)
SOFTMAX_OVER_QUERIES = Mistake(
    "attention.softmax_over_queries",
    "the softmax is taken over the queries (dim=-2). Each query's weights over the keys must sum to 1: "
    "take the softmax of the (..., L, S) scores along the last axis, dim=-1.",
)
MASK_AFTER_SOFTMAX = Mistake(
    "attention.mask_after_softmax",
    "the mask is applied after the softmax. Add -inf (or the additive mask) to the scores before the "
    "softmax, so that the remaining weights still sum to 1.",
)
CAUSAL_TRANSPOSED = Mistake(
    "attention.causal_transposed",
    "the causal mask is transposed: query i may attend to keys j <= i, a lower-triangular pattern "
    "(torch.ones(L, S).tril()), not to the future.",
)
BOOL_MASK_INVERTED = Mistake(
    "attention.bool_mask_inverted",
    "the boolean mask is read the wrong way round: in scaled_dot_product_attention True means 'take part "
    "in attention' and False means 'masked out'.",
)
NAN_ROWS = Mistake(
    "attention.nan_rows",
    "a row whose keys are all masked gives NaN (softmax of a row of -inf). PyTorch returns zeros for such "
    "a row: replace those NaN weights by 0.",
)

ATTENTION_MISTAKES = (
    _planted(_attention, UNSCALED_SCORES(size="d", advice=f": use (Q @ K^T) * scale with {_DEFAULT_SCALE}"),
             catch("check_scaled_dot_product_attention"), unscaled=True),
    _planted(_attention, SCORES_DIVIDED_BY_D, catch("check_scaled_dot_product_attention"), divided_by_d=True),
    _planted(_attention, SCORES_TIMES_SQRT_D, catch("check_scaled_dot_product_attention"), times_sqrt_d=True),
    _planted(_attention, SCALE_FROM_LENGTH, catch("check_scaled_dot_product_attention"),
             catch("check_scaled_dot_product_attention", length=3, source_length=5, is_causal=True),
             length_scale=True),
    _planted(_attention, GIVEN_SCALE_IGNORED, catch("check_scaled_dot_product_attention", scale=0.3),
             ignores_scale=True),
    _planted(_attention, DIVIDES_BY_SCALE, catch("check_scaled_dot_product_attention", scale=0.3),
             divides_by_scale=True),
    _planted(_attention, SOFTMAX_OVER_QUERIES, catch("check_scaled_dot_product_attention"),
             softmax_over_queries=True),
    # The -inf positions zeroed after the softmax: exactly the mistake for a boolean or causal mask; an
    # additive mask's finite values are dropped as well.
    _planted(_attention, MASK_AFTER_SOFTMAX, catch("check_scaled_dot_product_attention", mask="bool"),
             catch("check_scaled_dot_product_attention", is_causal=True),
             catch("check_scaled_dot_product_attention", mask="additive"), mask_after_softmax=True),
    _planted(_attention, CAUSAL_TRANSPOSED,
             catch("check_scaled_dot_product_attention", is_causal=True, length=3, source_length=5),
             causal_transposed=True),
    _planted(_attention, BOOL_MASK_INVERTED, catch("check_scaled_dot_product_attention", mask="bool"),
             catch("check_attention_ignores_masked_keys"), bool_mask_inverted=True),
    _planted(_attention, NAN_ROWS, catch("check_scaled_dot_product_attention", mask="full_row"), nan_rows=True),
    _planted(_attention, UNSTABLE_SOFTMAX(
        detail="large scores overflow exp() to inf, and inf / inf gives NaN (or call your stable softmax)"),
        catch("check_scaled_dot_product_attention", magnitude=30.0), unstable=True),
)
ATTENTION_FORBIDDEN = {
    F.scaled_dot_product_attention: "torch.nn.functional.scaled_dot_product_attention",
    F.multi_head_attention_forward: "torch.nn.functional.multi_head_attention_forward",
    # It decomposes into matrix products and a softmax, which the dispatcher cannot tell from a student's.
    torch._scaled_dot_product_attention_math: "torch._scaled_dot_product_attention_math",
    # The fused kernels, whatever route reaches them: torch._native_multi_head_attention, the
    # kernel of nn.MultiheadAttention's fast path, is public under a name of its own.
    **aten(
        "scaled_dot_product_attention", "_scaled_dot_product_attention_math", "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention", "_scaled_dot_product_fused_attention_overrideable",
        "_flash_attention_forward", "_efficient_attention_forward", "_native_multi_head_attention",
    ),
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


ATTENTION = Operation(
    "scaled_dot_product_attention", _reference_attention, make_attention_arguments,
    forbidden=ATTENTION_FORBIDDEN, differentiable=("query", "key", "value"), planted=ATTENTION_MISTAKES,
)


@check
def check_scaled_dot_product_attention(student, *, gradients=False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.scaled_dot_product_attention`` (see ``make_attention_arguments``)."""
    return ATTENTION.check(student, gradients=gradients, devices=devices, **arguments)


@check
def check_attention_ignores_masked_keys(student, *, seed=0) -> Report:
    """Property: changing the keys and values that a mask hides does not change the output."""
    args = make_attention_arguments(mask="padding", seed=seed)
    hidden = ~args["attn_mask"][0]  # (S,) keys masked for every query
    changed = dict(args, key=args["key"].clone(), value=args["value"].clone())
    changed["key"][..., hidden, :] += 100.0
    changed["value"][..., hidden, :] -= 100.0
    report = Report("scaled_dot_product_attention with a padding mask, masked keys and values changed")
    where = f"{report.call} on cpu"
    before = call_student(student, args, where=where, forbidden=ATTENTION_FORBIDDEN).result()
    after = call_student(student, changed, where=where, forbidden=ATTENTION_FORBIDDEN).result()
    expected = _reference_attention(*args.values())
    problem = describe_wrong_type(OUTPUT, before, expected) or describe_wrong_type(OUTPUT, after, expected)
    if problem:
        Failure(where, problems=(problem,)).fail()
    worst = (before - after).abs().max().item()
    if not worst <= 1e-5:
        summary = (f"the output changed by up to {worst:.3g}, so masked keys still receive weight. Masked "
                   "positions must get weight exactly 0: set their scores to -inf before the softmax.")
        _fail_naming(where, summary, before, expected, ATTENTION_MISTAKES, args, "scaled_dot_product_attention")
    report.devices.append("cpu")
    return report


# --- multi-head attention ----------------------------------------------------


def _multi_head_attention(query, key, value, in_proj_weight, in_proj_bias, out_proj_weight,
                          out_proj_bias, key_padding_mask, attn_mask, need_weights, num_heads, *,
                          split_without_transpose=False, merged_without_transpose=False,
                          interleaved_heads=False, query_key_swapped=False, weights_not_transposed=False,
                          unscaled=False, embed_dim_scale=False, padding_mask_inverted=False,
                          attn_mask_inverted=False):
    """nn.MultiheadAttention's forward (batch_first) with switches that plant one mistake each."""
    batch, length, embed = query.shape
    source_length = key.shape[1]
    head = embed // num_heads
    w_q, w_k, w_v = in_proj_weight.chunk(3)
    b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
    if query_key_swapped:  # the first block read as the keys' projection
        (w_q, b_q), (w_k, b_k) = (w_k, b_k), (w_q, b_q)
    if weights_not_transposed:  # x @ W where F.linear computes x @ W.T
        w_q, w_k, w_v = w_q.T, w_k.T, w_v.T
    q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)  # (B, T, E)

    def split(x, steps):  # (B, T, E) -> (B, H, T, d)
        if split_without_transpose:  # read as (B, H, T, d) without moving the head axis
            return x.reshape(batch, num_heads, steps, head)
        if interleaved_heads:  # head h takes features h, h + H, h + 2H, ...
            return x.reshape(batch, steps, head, num_heads).permute(0, 3, 1, 2)
        return x.reshape(batch, steps, num_heads, head).transpose(1, 2)

    q, k, v = split(q, length), split(k, source_length), split(v, source_length)
    scores = q @ k.transpose(-2, -1)  # (B, H, L, S)
    if not unscaled:
        scores = scores / math.sqrt(embed if embed_dim_scale else head)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask if attn_mask_inverted else attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    if key_padding_mask is not None:
        ignore = ~key_padding_mask if padding_mask_inverted else key_padding_mask
        scores = scores.masked_fill(ignore[:, None, None, :], float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (B, H, L, S)
    out = weights @ v  # (B, H, L, d)
    if merged_without_transpose:
        out = out.reshape(batch, length, embed)
    elif interleaved_heads:
        out = out.permute(0, 2, 3, 1).reshape(batch, length, embed)
    else:
        out = out.transpose(1, 2).reshape(batch, length, embed)  # (B, L, E)
    out = F.linear(out, out_proj_weight, out_proj_bias)
    return out, (weights.mean(dim=1) if need_weights else None)


def _module_planting(**switch) -> type:
    """A module with nn.MultiheadAttention's parameters whose forward plants the mistakes ``switch`` names."""

    class PlantedMultiheadAttention(nn.Module):
        def __init__(self, embed_dim, num_heads, bias=True, batch_first=True):
            super().__init__()
            self.num_heads = num_heads
            self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
            self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim)) if bias else None
            self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

        def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None):
            return _multi_head_attention(
                query, key, value, self.in_proj_weight, self.in_proj_bias, self.out_proj.weight,
                self.out_proj.bias, key_padding_mask, attn_mask, need_weights, self.num_heads, **switch)

    return PlantedMultiheadAttention


HEADS_SPLIT_WITHOUT_TRANSPOSE = Mistake(
    "attention.heads_split_without_transpose",
    "the heads are split along the wrong axis: reshape (B, T, E) to (B, T, H, d) and then transpose to "
    "(B, H, T, d); reshaping straight to (B, H, T, d) mixes tokens and heads.",
)
HEADS_MERGED_WITHOUT_TRANSPOSE = Mistake(
    "attention.heads_merged_without_transpose",
    "the heads are merged back without moving the head axis: reshaping the (B, H, L, d) result straight to "
    "(B, L, E) mixes tokens and heads. Transpose to (B, L, H, d) first: out.transpose(1, 2).reshape(B, L, E).",
)
HEADS_INTERLEAVED = Mistake(
    "attention.heads_interleaved",
    "each head takes every H-th feature of the projection (a reshape to (B, T, d, H)). Head h owns the d "
    "contiguous features h*d to (h+1)*d - 1: reshape to (B, T, H, d), then transpose, e.g. "
    "x.reshape(B, T, H, d).transpose(1, 2).",
)
IN_PROJ_ORDER = Mistake(
    "attention.in_proj_order",
    "the blocks of in_proj_weight are taken in the wrong order: nn.MultiheadAttention stacks the query, "
    "key and value projections in that order, w_q, w_k, w_v = in_proj_weight.chunk(3) (in_proj_bias alike).",
)
PROJECTION_NOT_TRANSPOSED = Mistake(
    "attention.projection_not_transposed",
    "the inputs are multiplied by the projection weights, x @ W, instead of by their transpose: "
    "F.linear(x, W, b) computes x @ W.T + b, as nn.Linear does.",
)
SCALED_BY_EMBED_DIM = Mistake(
    "attention.scaled_by_embed_dim",
    "the scores are divided by sqrt(embed_dim), the size of the whole embedding. Each head's scores are "
    "divided by sqrt(d_head), with d_head = embed_dim // num_heads the size of one head.",
)
PADDING_MASK_INVERTED = Mistake(
    "attention.padding_mask_inverted",
    "key_padding_mask is read the wrong way round: in nn.MultiheadAttention True marks a padding key to "
    "ignore (the opposite of scaled_dot_product_attention's boolean mask).",
)
MODULE_ATTN_MASK_INVERTED = Mistake(
    "attention.module_attn_mask_inverted",
    "the boolean attn_mask is read the wrong way round: in nn.MultiheadAttention True marks a position "
    "that may not be attended (the opposite of scaled_dot_product_attention's boolean mask).",
)


def _planted_module(mistake, *catches, **switch) -> Planted:
    return Planted(mistake, _module_planting(**switch), catches)


# The visible test of the masks: every mistake of the module changes its output.
_MASKS_TEST = catch("check_multihead_attention", key_padding=True)
MHA_MISTAKES = (
    _planted_module(HEADS_SPLIT_WITHOUT_TRANSPOSE, _MASKS_TEST,
                    catch("check_multihead_attention_permutation_equivariant"), split_without_transpose=True),
    _planted_module(HEADS_MERGED_WITHOUT_TRANSPOSE, _MASKS_TEST,
                    catch("check_multihead_attention_permutation_equivariant"), merged_without_transpose=True),
    _planted_module(HEADS_INTERLEAVED, _MASKS_TEST, catch("check_multihead_attention", num_heads=4),
                    interleaved_heads=True),
    _planted_module(IN_PROJ_ORDER, _MASKS_TEST, query_key_swapped=True),
    _planted_module(PROJECTION_NOT_TRANSPOSED, _MASKS_TEST, weights_not_transposed=True),
    _planted_module(UNSCALED_SCORES(size="d_head", advice=", the size of one head"), _MASKS_TEST,
                    unscaled=True),
    _planted_module(SCALED_BY_EMBED_DIM, _MASKS_TEST, catch("check_multihead_attention", num_heads=4),
                    embed_dim_scale=True),
    _planted_module(PADDING_MASK_INVERTED, _MASKS_TEST, padding_mask_inverted=True),
    _planted_module(MODULE_ATTN_MASK_INVERTED, catch("check_multihead_attention", attn_mask="bool", seed=1),
                    attn_mask_inverted=True),
)

# Every mistake the module plants, with the checks that catch it.
MISTAKES: tuple[Planted, ...] = SOFTMAX_MISTAKES + ATTENTION_MISTAKES + MHA_MISTAKES

MHA_NAME = "MultiheadAttention"
# The module's state_dict entries, in the order of the parameter arguments of ``make_mha_arguments``.
STATE_DICT_KEYS = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")
MHA_OUTPUTS = ("output", "attention weights")


# The arguments of ``_forward`` after query, key and value.
FORWARD_ARGUMENTS = ("in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias", "key_padding_mask",
                     "attn_mask", "need_weights")


def _forward(module, query, key, value, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias,
             key_padding_mask, attn_mask, need_weights):
    """Run ``module`` with the given tensors as its parameters (gradients flow to them)."""
    parameters = dict(zip(STATE_DICT_KEYS, (in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias)))
    parameters = {k: v for k, v in parameters.items() if v is not None}
    return functional_call(
        module, parameters, (query, key, value),
        {"key_padding_mask": key_padding_mask, "need_weights": need_weights, "attn_mask": attn_mask},
    )


def _output(function):
    """``function`` returning the module's output alone, without the attention weights."""
    return lambda *args: function(*args)[0]


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


def _build(module_class, embed, num_heads, bias=True) -> tuple[nn.Module, str]:
    """The student's module, built as ``nn.MultiheadAttention`` would be, and the call that built it."""
    built = f"{getattr(module_class, '__name__', MHA_NAME)}({embed}, {num_heads}, bias={bias}, batch_first=True)"
    make = partial(module_class, bias=bias, batch_first=True)
    return call_student(make, (embed, num_heads), where=built).result(), built


def _require_parameters(module, built: str, embed, num_heads, bias=True, *, exactly=False) -> None:
    """Fail unless ``module`` registers nn.MultiheadAttention's parameters (``exactly``: and nothing else)."""
    state = call_student(module.state_dict, (), where=f"{built}.state_dict()").result()
    entries = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    reference = nn.MultiheadAttention(embed, num_heads, bias=bias, batch_first=True)
    wanted = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    if any(entries.get(k) != shape for k, shape in wanted.items()) or (exactly and entries != wanted):
        Failure(
            built, summary=f"the state_dict has entries {entries}; nn.MultiheadAttention has {wanted}. Register "
            "in_proj_weight (3E, E) and in_proj_bias (3E,) as nn.Parameter and the output projection as "
            "self.out_proj = nn.Linear(E, E).",
        ).fail()


def _module_mistakes(embed, num_heads, bias, only_output=False) -> tuple[Planted, ...]:
    """The planted modules as functions of the checks' arguments, like the student's module in ``_forward``."""
    def forward(module_class):
        # Built when a failure is diagnosed, not on every check.
        return lambda *args: _forward(module_class(embed, num_heads, bias=bias, batch_first=True), *args)

    planted = (replace(p, function=forward(p.function)) for p in MHA_MISTAKES)
    return tuple(replace(p, function=_output(p.function)) if only_output else p for p in planted)


@check
def check_multihead_attention(module_class, *, num_heads=2, gradients=False, devices=None, **arguments) -> Report:
    """Compare ``module_class`` with ``nn.MultiheadAttention`` given the same parameters.

    Compares the output and the head-averaged attention weights or, with
    ``gradients=True``, the gradients of the output with respect to the inputs
    and every parameter.
    """
    args = make_mha_arguments(num_heads=num_heads, **arguments)
    embed, bias = args["query"].shape[-1], args["in_proj_bias"] is not None
    module, built = _build(module_class, embed, num_heads, bias)
    _require_parameters(module, built, embed, num_heads, bias)
    student = partial(_forward, module)
    reference = partial(_forward, nn.MultiheadAttention(embed, num_heads, bias=bias, batch_first=True))
    options = dict(name=MHA_NAME, forbidden=ATTENTION_FORBIDDEN, devices=devices)
    if gradients:
        grad_wrt = tuple(k for k in ("query", "key", "value", "in_proj_weight", "in_proj_bias",
                                     "out_proj_weight", "out_proj_bias") if args[k] is not None)
        return check_against_reference(
            _output(student), _output(reference), args, grad_wrt=grad_wrt,
            planted=_module_mistakes(embed, num_heads, bias, only_output=True), **options,
        )
    return check_against_reference(student, reference, args, outputs=MHA_OUTPUTS,
                                   planted=_module_mistakes(embed, num_heads, bias), **options)


@check
def check_multihead_attention_state_dict(module_class, embed=8, num_heads=2) -> Report:
    """Check that the module loads ``nn.MultiheadAttention``'s state_dict unchanged."""
    report = Report(f"{getattr(module_class, '__name__', module_class)}({embed}, {num_heads}).load_state_dict(...)")
    reference = nn.MultiheadAttention(embed, num_heads, batch_first=True)
    module, built = _build(module_class, embed, num_heads)
    _require_parameters(module, built, embed, num_heads, exactly=True)
    call_student(module.load_state_dict, (reference.state_dict(),), where=report.call, copy=False).result()
    report.devices.append("cpu")
    return report


def _self_attention(module):
    """``module`` attending over one sequence of ``tokens`` (query, key and value alike): its output alone."""
    return lambda tokens, *rest: _forward(module, tokens, tokens, tokens, *rest)[0]


@check
def check_multihead_attention_permutation_equivariant(module_class, *, seed=0) -> Report:
    """Property: permuting the tokens (without positions or masks) permutes the output the same way."""
    args = make_mha_arguments(seed=seed)
    order = torch.randperm(args["query"].shape[1], generator=torch.Generator().manual_seed(seed))
    report = Report(f"{MHA_NAME} self-attention with tokens permuted")
    where = f"{report.call} on cpu"
    module, built = _build(module_class, 8, 2)
    _require_parameters(module, built, 8, 2)
    arguments = {"tokens": args["query"], **{k: args[k] for k in FORWARD_ARGUMENTS}}  # no masks: None

    def run(tokens):
        return call_student(_self_attention(module), dict(arguments, tokens=tokens), where=where,
                            forbidden=ATTENTION_FORBIDDEN).result()

    output = run(args["query"])
    expected = _self_attention(nn.MultiheadAttention(8, 2, batch_first=True))(*arguments.values()).detach()
    problem = describe_wrong_type(OUTPUT, output, expected)
    if problem:
        Failure(where, problems=(problem,)).fail()
    worst = (output[:, order] - run(args["query"][:, order])).abs().max().item()
    if not worst <= 1e-5:
        summary = (
            f"the output of permuted tokens differs from the permuted output by up to {worst:.3g}. Without "
            "positional information or masks, attention must be permutation equivariant: look for an operation "
            "that mixes token positions, such as a wrong reshape."
        )
        planted = tuple(replace(p, function=_self_attention(p.function(8, 2))) for p in MHA_MISTAKES)
        _fail_naming(where, summary, output.detach(), expected, planted, arguments, MHA_NAME)
    report.devices.append("cpu")
    return report


__all__ = [name for name in dir() if name.startswith("check_")] + ["available_devices"]

# Trust this module and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
