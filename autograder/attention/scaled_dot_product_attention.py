"""Scaled dot-product attention, against ``F.scaled_dot_product_attention`` (no dropout).

Scores are ``Q Kᵀ`` with one row per token (row vectors), as in PyTorch; a boolean
mask marks with True the pairs that take part in attention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch._subclasses.fake_tensor import FakeTensor

from ..core.calling import aten, call_student
from ..core.compare import OUTPUT, describe_wrong_type
from ..core.engine import fail_naming
from ..core.failure import fail
from ..core.forbidden import Forbidden
from ..core.mistakes import Convention, Mistake, UNSCALED_SCORES, UNSTABLE_SOFTMAX, by_position, catch, plant
from ..core.report import Report, entry
from ..core.spec import Operation, Property
from ..core.tolerances import Tolerance
from .softmax import _softmax

# --- the planted implementation ---


def _attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, *,
               scaling="default", masking="correct", softmax="stable"):
    """Scaled dot-product attention (no dropout), whose keywords plant one mistake each.

    ``scaling``: "default" (``scale``, else 1 / sqrt(d)), "none", "d" (1 / d), "times_sqrt_d",
    "length" (1 / sqrt(query.size(-2))), "ignored" (the given ``scale`` ignored) or "divided"
    (the scores divided by the given ``scale``). ``masking``: "correct", "after_softmax",
    "causal_transposed", "bool_inverted", "nan_rows" (a fully masked row left NaN),
    "fill_discarded" (``scores.masked_fill(...)`` called but its result not kept: boolean and
    causal masks ignored), "plus_inf" (masked scores filled with +inf) or "minus_1e9" (filled
    with -1e9, fully masked rows left to the softmax: the mean of the values).
    ``softmax``: "stable", "unstable" or "over_queries".
    """
    length, source_length, size = query.size(-2), key.size(-2), query.size(-1)
    default = 1 / math.sqrt(size)
    if scaling == "d":
        default = 1 / size
    elif scaling == "times_sqrt_d":
        default = math.sqrt(size)
    elif scaling == "length":  # query.size(-2) read for query.size(-1)
        default = 1 / math.sqrt(length)
    if scaling == "none":
        factor = 1.0
    elif scale is None or scaling == "ignored":
        factor = default
    else:
        factor = 1 / scale if scaling == "divided" else scale
    scores = query @ key.transpose(-2, -1) * factor  # (..., L, S)
    bias = torch.zeros(length, source_length, dtype=query.dtype, device=query.device)
    fill = {"plus_inf": float("inf"), "minus_1e9": -1e9}.get(masking, float("-inf"))
    if is_causal and masking != "fill_discarded":
        keep = torch.ones(length, source_length, dtype=torch.bool, device=query.device)
        keep = keep.triu() if masking == "causal_transposed" else keep.tril()
        bias = bias.masked_fill(~keep, fill)
    if attn_mask is not None:
        if attn_mask.dtype != torch.bool:
            bias = bias + attn_mask
        elif masking != "fill_discarded":
            keep = ~attn_mask if masking == "bool_inverted" else attn_mask
            bias = bias.masked_fill(~keep, fill)
    axis = -2 if softmax == "over_queries" else -1
    shift = "none" if softmax == "unstable" else "max"
    if masking == "after_softmax":
        return _softmax(scores, axis, shift=shift).masked_fill(bias == float("-inf"), 0.0) @ value
    scores = scores + bias
    if masking in ("plus_inf", "minus_1e9"):
        # Nothing special for a row whose every key is masked: the softmax decides.
        return _unnamed_if_nan(_softmax(scores, axis, shift=shift) @ value, softmax)
    # A row whose every key is masked attends to nothing: zeros, as PyTorch gives,
    # and zero gradients (softmax of a row of -inf would be NaN in both).
    masked_row = (bias == float("-inf")).all(dim=-1, keepdim=True)  # (L, 1)
    if masking != "nan_rows":
        scores = scores.masked_fill(masked_row, 0.0)
    weights = _softmax(scores, axis, shift=shift)
    if masking != "nan_rows":
        weights = weights.masked_fill(masked_row, 0.0)
    return _unnamed_if_nan(weights @ value, softmax)


def _unnamed_if_nan(output, softmax):
    """The output; but a softmax over the queries that gives NaN (a key masked for every query) says nothing.

    An output that is NaN wherever it is compared agrees with any other such output: there a +inf fill, the
    likelier cause, is named rather than this, which the checks without a mask name on their own.
    """
    # A fake tensor of the simulated GPU holds no values to look at.
    if softmax == "over_queries" and not isinstance(output, FakeTensor) and bool(torch.isnan(output).any()):
        raise ValueError("a NaN output cannot tell a softmax over the queries from other causes of NaN")
    return output


# --- its mistakes ---

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
MASK_FILL_DISCARDED = Mistake(
    "attention.mask_fill_discarded",
    "the mask has no effect: masked keys get weight as if there were no mask. Tensor.masked_fill returns a "
    "new tensor and leaves `scores` unchanged, so keep its result, scores = scores.masked_fill(~mask, "
    "float(\"-inf\")) (or use the in-place scores.masked_fill_(...)).",
)
MASK_FILLED_WITH_PLUS_INF = Mistake(
    "attention.mask_filled_with_plus_inf",
    "the masked scores are filled with +inf instead of -inf. A score of +inf gives exp(inf - inf) = NaN in "
    "the softmax, so every row with a masked key is NaN: fill masked scores with float(\"-inf\"), whose "
    "weight is exp(-inf) = 0.",
)
# The convention of the Annotated Transformer and of the much published code copied from it. It is not
# accepted: the exercise is PyTorch's function, and the docstring says what a fully masked query gets.
MINUS_1E9_MASK = Convention(
    "attention.minus_1e9_mask",
    "the masked scores are filled with -1e9, which agrees with -inf except for a query whose every key is "
    "masked: its scores are all -1e9, the softmax spreads its weight evenly, and the query gets the mean of "
    "the values. This exercise follows PyTorch's scaled_dot_product_attention, which gives such a query "
    "zeros: fill with float(\"-inf\") and set the weights of a fully masked row to 0.",
    library="the Annotated Transformer",
)
NAN_ROWS = Mistake(
    "attention.nan_rows",
    "a row whose keys are all masked gives NaN (the softmax of a row whose every score is masked). PyTorch "
    "returns zeros for such a row: replace those NaN weights by 0.",
)

_CHECK = "check_scaled_dot_product_attention"
_SCALING_AND_SOFTMAX = ("unscaled_scores", SCORES_DIVIDED_BY_D.id, SCORES_TIMES_SQRT_D.id, SCALE_FROM_LENGTH.id,
                        GIVEN_SCALE_IGNORED.id, DIVIDES_BY_SCALE.id, SOFTMAX_OVER_QUERIES.id, "unstable_softmax")
ATTENTION_MISTAKES = (
    plant(by_position(_attention, scaling="none"),
          UNSCALED_SCORES(size="d", advice=f": use (Q @ K^T) * scale with {_DEFAULT_SCALE}"), catch(_CHECK)),
    plant(by_position(_attention, scaling="d"), SCORES_DIVIDED_BY_D, catch(_CHECK)),
    plant(by_position(_attention, scaling="times_sqrt_d"), SCORES_TIMES_SQRT_D, catch(_CHECK)),
    plant(by_position(_attention, scaling="length"), SCALE_FROM_LENGTH, catch(_CHECK),
          catch(_CHECK, length=3, source_length=5, is_causal=True)),
    plant(by_position(_attention, scaling="ignored"), GIVEN_SCALE_IGNORED, catch(_CHECK, scale=0.3)),
    plant(by_position(_attention, scaling="divided"), DIVIDES_BY_SCALE, catch(_CHECK, scale=0.3)),
    plant(by_position(_attention, softmax="over_queries"), SOFTMAX_OVER_QUERIES, catch(_CHECK)),
    # The -inf positions zeroed after the softmax: exactly the mistake for a boolean or causal mask; an
    # additive mask's finite values are dropped as well.
    plant(by_position(_attention, masking="after_softmax"), MASK_AFTER_SOFTMAX, catch(_CHECK, mask="bool"),
          catch(_CHECK, is_causal=True), catch(_CHECK, mask="additive")),
    # Over the queries, the causal check's masked key columns give NaN, which names nothing.
    plant(by_position(_attention, masking="causal_transposed"), CAUSAL_TRANSPOSED,
          catch(_CHECK, is_causal=True, length=3, source_length=5)).excluding(SOFTMAX_OVER_QUERIES.id),
    # Ten keys, so that a query keeps several keys under the inverted mask too, and the scale still shows.
    plant(by_position(_attention, masking="bool_inverted"), BOOL_MASK_INVERTED,
          catch(_CHECK, mask="bool", source_length=10), catch(_CHECK, mask="bool"),
          # With the softmax over the queries, a key masked for every query makes every output NaN.
          catch("check_attention_ignores_masked_keys")).excluding(SOFTMAX_OVER_QUERIES.id),
    plant(by_position(_attention, masking="nan_rows"), NAN_ROWS, catch(_CHECK, mask="full_row")),
    plant(by_position(_attention, masking="fill_discarded"), MASK_FILL_DISCARDED, catch(_CHECK, mask="bool"),
          catch(_CHECK, is_causal=True), catch("check_attention_ignores_masked_keys")),
    # Its NaN rows hide how the scores were scaled and which axis the softmax took.
    plant(by_position(_attention, masking="plus_inf"), MASK_FILLED_WITH_PLUS_INF, catch(_CHECK, mask="bool"),
          catch(_CHECK, is_causal=True)).excluding(*_SCALING_AND_SOFTMAX),
    # Over the queries, a fully masked row gets weight 0 in every column, whatever fills it.
    plant(by_position(_attention, masking="minus_1e9"), MINUS_1E9_MASK, catch(_CHECK, mask="full_row")).excluding(
        SOFTMAX_OVER_QUERIES.id),
    plant(by_position(_attention, softmax="unstable"), UNSTABLE_SOFTMAX(
        detail="large scores overflow exp() to inf, and inf / inf gives NaN (or call your stable softmax)"),
        catch(_CHECK, magnitude=30.0)),
)

# --- the spec ---


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


SCALED_DOT_PRODUCT_ATTENTION = Operation(
    "scaled_dot_product_attention", _reference_attention, make_attention_arguments,
    differentiable=("query", "key", "value"), planted=ATTENTION_MISTAKES,
    forbidden=Forbidden("scaled_dot_product_attention", {
        F.scaled_dot_product_attention: "torch.nn.functional.scaled_dot_product_attention",
        F.multi_head_attention_forward: "torch.nn.functional.multi_head_attention_forward",
        # It decomposes into matrix products and a softmax, which the dispatcher cannot tell from a student's.
        torch._scaled_dot_product_attention_math: "torch._scaled_dot_product_attention_math",
        # The fused kernels, whatever route reaches them: torch._native_multi_head_attention, the
        # kernel of nn.MultiheadAttention's fast path, is public under a name of its own.
        **aten(
            "scaled_dot_product_attention", "_scaled_dot_product_attention_math",
            "_scaled_dot_product_flash_attention", "_scaled_dot_product_flash_attention_for_cpu",
            "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
            "_scaled_dot_product_fused_attention_overrideable", "_flash_attention_forward",
            "_efficient_attention_forward", "_native_multi_head_attention",
        ),
    }),
    tolerances={("grad", torch.float32): Tolerance(
        rtol=1e-4,
        atol=5e-5,
        reason="with large scores the softmax saturates, and its gradient is a "
        "difference of nearly equal products that PyTorch's fused kernel and "
        "elementary operations round differently",
    )},
)

IGNORES_MASKED_KEYS = Property(
    "scaled_dot_product_attention ignores masked keys",
    statistic=lambda before, after: (before - after).abs().max().item(),
    holds=lambda worst: worst <= 1e-5,
    describe=lambda worst: f"the output changed by up to {worst:.3g}, so masked keys still receive weight. Masked "
                           "positions must get weight exactly 0: set their scores to -inf before the softmax.",
    candidates=ATTENTION_MISTAKES,
)

# --- the check entries ---


@entry
def check_scaled_dot_product_attention(student, *, gradients=False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.scaled_dot_product_attention`` (see ``make_attention_arguments``)."""
    return SCALED_DOT_PRODUCT_ATTENTION.compare(student, gradients=gradients, devices=devices, **arguments)


@entry
def check_attention_ignores_masked_keys(student, *, seed=0) -> Report:
    """Property: changing the keys and values that a mask hides does not change the output."""
    spec = SCALED_DOT_PRODUCT_ATTENTION
    args = make_attention_arguments(mask="padding", seed=seed)
    hidden = ~args["attn_mask"][0]  # (S,) keys masked for every query
    changed = dict(args, key=args["key"].clone(), value=args["value"].clone())
    changed["key"][..., hidden, :] += 100.0
    changed["value"][..., hidden, :] -= 100.0
    report = Report("scaled_dot_product_attention with a padding mask, masked keys and values changed")
    where = f"{report.call} on cpu"
    before = call_student(student, args, where=where, forbidden=spec.forbidden).result()
    after = call_student(student, changed, where=where, forbidden=spec.forbidden).result()
    expected = _reference_attention(*args.values())
    problem = describe_wrong_type(OUTPUT, before, expected) or describe_wrong_type(OUTPUT, after, expected)
    if problem:
        fail(where, problems=(problem,))
    problem = IGNORES_MASKED_KEYS.problem(before, after)
    if problem:
        fail_naming(where, problem, before, expected, IGNORES_MASKED_KEYS.candidates, args, spec.name)
    report.devices.append("cpu")
    return report
