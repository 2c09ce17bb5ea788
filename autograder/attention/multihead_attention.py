"""Multi-head attention, a module compared with ``nn.MultiheadAttention`` (batch_first) given the same parameters.

Its checks build the student's class as PyTorch's is built, run it with the
parameters of a freshly initialised ``nn.MultiheadAttention`` (random biases, so
that they count) and compare the output and the head-averaged attention weights.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from ..core.calling import call_student
from ..core.compare import OUTPUT, describe_wrong_type
from ..core.engine import fail_naming
from ..core.failure import fail
from ..core.forbidden import Forbidden
from ..core.mistakes import UNSCALED_SCORES, Mistake, catch, plant
from ..core.modules import ModuleSpec, StateDictRule
from ..core.report import Report, entry
from ..core.spec import Property
from .scaled_dot_product_attention import SCALED_DOT_PRODUCT_ATTENTION

# --- the planted implementation ---


def _multi_head_attention(query, key, value, in_proj_weight, in_proj_bias, out_proj_weight,
                          out_proj_bias, key_padding_mask, attn_mask, need_weights, num_heads, *,
                          heads="split", projection="correct", scaling="d_head", masks="correct"):
    """nn.MultiheadAttention's forward (batch_first), whose keywords plant one mistake each.

    ``heads``: "split", "split_without_transpose", "merged_without_transpose" or
    "interleaved" (head h takes every H-th feature). ``projection``: "correct",
    "query_key_swapped" or "not_transposed" (x @ W). ``scaling``: the scores divided by
    sqrt of "d_head", "embed_dim", or "none". ``masks``: "correct", "padding_inverted" or
    "attn_mask_inverted".
    """
    batch, length, embed = query.shape
    source_length = key.shape[1]
    head = embed // num_heads
    w_q, w_k, w_v = in_proj_weight.chunk(3)
    b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
    if projection == "query_key_swapped":  # the first block read as the keys' projection
        (w_q, b_q), (w_k, b_k) = (w_k, b_k), (w_q, b_q)
    elif projection == "not_transposed":  # x @ W where F.linear computes x @ W.T
        w_q, w_k, w_v = w_q.T, w_k.T, w_v.T
    q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)  # (B, T, E)

    def split(x, steps):  # (B, T, E) -> (B, H, T, d)
        if heads == "split_without_transpose":  # read as (B, H, T, d) without moving the head axis
            return x.reshape(batch, num_heads, steps, head)
        if heads == "interleaved":  # head h takes features h, h + H, h + 2H, ...
            return x.reshape(batch, steps, head, num_heads).permute(0, 3, 1, 2)
        return x.reshape(batch, steps, num_heads, head).transpose(1, 2)

    q, k, v = split(q, length), split(k, source_length), split(v, source_length)
    scores = q @ k.transpose(-2, -1)  # (B, H, L, S)
    if scaling != "none":
        scores = scores / math.sqrt(embed if scaling == "embed_dim" else head)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask if masks == "attn_mask_inverted" else attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    if key_padding_mask is not None:
        ignore = ~key_padding_mask if masks == "padding_inverted" else key_padding_mask
        scores = scores.masked_fill(ignore[:, None, None, :], float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (B, H, L, S)
    out = weights @ v  # (B, H, L, d)
    if heads == "merged_without_transpose":
        out = out.reshape(batch, length, embed)
    elif heads == "interleaved":
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


# --- its mistakes ---

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

# The visible test of the masks: every mistake of the module changes its output.
_MASKS_TEST = catch("check_multihead_attention", key_padding=True)
_EQUIVARIANT = catch("check_multihead_attention_permutation_equivariant")
MHA_MISTAKES = (
    plant(_module_planting(heads="split_without_transpose"), HEADS_SPLIT_WITHOUT_TRANSPOSE, _MASKS_TEST,
          _EQUIVARIANT),
    plant(_module_planting(heads="merged_without_transpose"), HEADS_MERGED_WITHOUT_TRANSPOSE, _MASKS_TEST,
          _EQUIVARIANT),
    plant(_module_planting(heads="interleaved"), HEADS_INTERLEAVED, _MASKS_TEST,
          catch("check_multihead_attention", num_heads=4)),
    plant(_module_planting(projection="query_key_swapped"), IN_PROJ_ORDER, _MASKS_TEST),
    plant(_module_planting(projection="not_transposed"), PROJECTION_NOT_TRANSPOSED, _MASKS_TEST),
    plant(_module_planting(scaling="none"), UNSCALED_SCORES(size="d_head", advice=", the size of one head"),
          _MASKS_TEST),
    plant(_module_planting(scaling="embed_dim"), SCALED_BY_EMBED_DIM, _MASKS_TEST,
          catch("check_multihead_attention", num_heads=4)),
    plant(_module_planting(masks="padding_inverted"), PADDING_MASK_INVERTED, _MASKS_TEST),
    plant(_module_planting(masks="attn_mask_inverted"), MODULE_ATTN_MASK_INVERTED,
          catch("check_multihead_attention", attn_mask="bool", seed=1)),
)

# --- the spec ---


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
        **{name: state.get(key) for name, key in MULTIHEAD_ATTENTION.parameters.items()},
        "key_padding_mask": padding, "attn_mask": mask, "need_weights": need_weights,
    }


MULTIHEAD_ATTENTION = ModuleSpec(
    "MultiheadAttention", nn.MultiheadAttention,
    inputs=("query", "key", "value"),
    parameters={"in_proj_weight": "in_proj_weight", "in_proj_bias": "in_proj_bias",
                "out_proj_weight": "out_proj.weight", "out_proj_bias": "out_proj.bias"},
    keywords=("key_padding_mask", "attn_mask", "need_weights"),
    fixed={"batch_first": True},
    state_dict=StateDictRule(
        "Register in_proj_weight (3E, E) and in_proj_bias (3E,) as nn.Parameter and the output projection as "
        "self.out_proj = nn.Linear(E, E).", exactly=False, itemized=False),
    planted=MHA_MISTAKES,
    # The module's attention is the exercise's own: PyTorch's, fused or not, is refused as in the function.
    forbidden=Forbidden("MultiheadAttention", SCALED_DOT_PRODUCT_ATTENTION.forbidden),
    outputs=("output", "attention weights"),
)


def _self_attention(module):
    """``module`` attending over one sequence of ``tokens`` (query, key and value alike): its output alone."""
    return lambda tokens, *rest: MULTIHEAD_ATTENTION.forward(module, tokens, tokens, tokens, *rest)[0]


PERMUTATION_EQUIVARIANT = Property(
    "MultiheadAttention is permutation equivariant",
    statistic=lambda output, permuted, order: (output[:, order] - permuted).abs().max().item(),
    holds=lambda worst: worst <= 1e-5,
    describe=lambda worst: (
        f"the output of permuted tokens differs from the permuted output by up to {worst:.3g}. Without "
        "positional information or masks, attention must be permutation equivariant: look for an operation "
        "that mixes token positions, such as a wrong reshape."
    ),
    candidates=MHA_MISTAKES,
)

# --- the check entries ---


@entry
def check_multihead_attention(student, *, num_heads=2, gradients=False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``nn.MultiheadAttention`` given the same parameters.

    Compares the output and the head-averaged attention weights or, with
    ``gradients=True``, the gradients of the output with respect to the inputs
    and every parameter.
    """
    args = make_mha_arguments(num_heads=num_heads, **arguments)
    embed, bias = args["query"].shape[-1], args["in_proj_bias"] is not None
    return MULTIHEAD_ATTENTION.compare(student, args, embed, num_heads, bias=bias, gradients=gradients,
                                       devices=devices)


@entry
def check_multihead_attention_state_dict(student, embed=8, num_heads=2) -> Report:
    """Check that the module loads ``nn.MultiheadAttention``'s state_dict unchanged."""
    return MULTIHEAD_ATTENTION.check_state_dict(student, embed, num_heads, variants=({"bias": True},))


@entry
def check_multihead_attention_permutation_equivariant(student, *, seed=0) -> Report:
    """Property: permuting the tokens (without positions or masks) permutes the output the same way."""
    spec = MULTIHEAD_ATTENTION
    args = make_mha_arguments(seed=seed)
    order = torch.randperm(args["query"].shape[1], generator=torch.Generator().manual_seed(seed))
    report = Report(f"{spec.name} self-attention with tokens permuted")
    where = f"{report.call} on cpu"
    module, built = spec.build(student, 8, 2, bias=True)
    spec.require_state_dict(module, built, 8, 2, bias=True)
    # The masks stay None: with them, attention need not be permutation equivariant.
    arguments = {"tokens": args["query"], **{k: args[k] for k in (*spec.parameters, *spec.keywords)}}

    def run(tokens):
        return call_student(_self_attention(module), dict(arguments, tokens=tokens), where=where,
                            forbidden=spec.forbidden).result()

    output = run(args["query"])
    expected = _self_attention(spec.build_reference(8, 2, bias=True))(*arguments.values()).detach()
    problem = describe_wrong_type(OUTPUT, output, expected)
    if problem:
        fail(where, problems=(problem,))
    problem = PERMUTATION_EQUIVARIANT.problem(output, run(args["query"][:, order]), order)
    if problem:
        candidates = PERMUTATION_EQUIVARIANT.candidates
        planted = tuple(replace(p, function=_self_attention(p.function(8, 2))) for p in candidates)
        fail_naming(where, problem, output.detach(), expected, planted, arguments, spec.name)
    report.devices.append("cpu")
    return report
