"""An encoder layer, compared with ``nn.TransformerEncoderLayer`` given the same parameters.

The reference is batch_first, with ReLU and dropout 0, in both forms: Post-LN (``norm_first=False``,
``x = norm(x + sublayer(x))``) and Pre-LN (``norm_first=True``, ``x = x + sublayer(norm(x))``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.calling import call_student, materialize
from ..core.compare import OUTPUT, compare, describe_wrong_type
from ..core.engine import fail_diagnosed
from ..core.failure import fail
from ..core.forbidden import Forbidden
from ..core.mistakes import Mistake, catch, plant
from ..core.modules import ModuleSpec, StateDictRule
from ..core.report import Report, entry

# --- the planted implementation ---


def _encoder_layer(layer, x, src_mask=None, src_key_padding_mask=None, *, norms="as_declared", residual="input",
                   activation="relu", masks="passed", dropout="training"):
    """nn.TransformerEncoderLayer's forward (ReLU), whose keywords plant one mistake each.

    ``norms``: "as_declared", "other_form" (norm_first read the other way) or "norm1_only". ``residual``,
    what a sublayer's output is added to: "input", "normalized" (Pre-LN's norm(x)), or nothing for
    "no_attention" or "no_feed_forward". ``activation``: "relu", "gelu" or "none". ``masks``: "passed",
    "padding_inverted" or "src_mask_ignored". ``dropout``: applied in "training" mode only, or "always".
    """
    norm_first = layer.norm_first != (norms == "other_form")
    training = layer.training or dropout == "always"
    padding = src_key_padding_mask
    if padding is not None and masks == "padding_inverted":
        padding = ~padding

    def drop(h):
        return F.dropout(h, layer.dropout, training)

    def attend(h):
        mask = None if masks == "src_mask_ignored" else src_mask
        return drop(layer.self_attn(h, h, h, key_padding_mask=padding, attn_mask=mask, need_weights=False)[0])

    def feed_forward(h):
        hidden = layer.linear1(h)
        if activation != "none":
            hidden = F.gelu(hidden) if activation == "gelu" else F.relu(hidden)
        return drop(layer.linear2(drop(hidden)))

    norm1, norm2 = layer.norm1, layer.norm1 if norms == "norm1_only" else layer.norm2
    for block, norm, sublayer in (("attention", norm1, attend), ("feed_forward", norm2, feed_forward)):
        kept = residual != f"no_{block}"
        if norm_first:
            h = norm(x)
            x = (h if residual == "normalized" else x if kept else 0) + sublayer(h)
        else:
            x = norm((x if kept else 0) + sublayer(x))
    return x


def _layer_planting(attention_batch_first=True, **switch) -> type:
    """A module with nn.TransformerEncoderLayer's parameters that plants the mistakes ``switch`` names.

    ``attention_batch_first=False`` builds the self-attention as nn.MultiheadAttention's default does.
    """

    class PlantedEncoderLayer(nn.Module):
        def __init__(self, d_model, nhead, dim_feedforward, dropout=0.0, norm_first=False, batch_first=True):
            super().__init__()
            self.self_attn = nn.MultiheadAttention(d_model, nhead, batch_first=attention_batch_first)
            self.linear1 = nn.Linear(d_model, dim_feedforward)
            self.linear2 = nn.Linear(dim_feedforward, d_model)
            self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
            self.dropout, self.norm_first = dropout, norm_first

        def forward(self, src, src_mask=None, src_key_padding_mask=None):
            return _encoder_layer(self, src, src_mask, src_key_padding_mask, **switch)

    return PlantedEncoderLayer


# --- its mistakes ---

_SUBLAYERS = "x + self_attn(...) and x + feed_forward(...)"
RESIDUAL_AFTER_NORM = Mistake(
    "transformer.residual_after_norm",
    "in the Pre-LN form (norm_first=True) the residual adds the normalized input: x = norm(x) + sublayer(norm(x)). "
    "The residual stream carries x itself, never normalized: x = x + sublayer(norm(x)).",
)
FORMS_SWAPPED = Mistake(
    "transformer.forms_swapped",
    "the normalization is placed as in the other form. With norm_first=True (Pre-LN) each sublayer reads "
    "the normalized input and the residual is added after it, x = x + sublayer(norm(x)); with norm_first=False "
    "(Post-LN, the default) the sum is normalized, x = norm(x + sublayer(x)).",
)
NO_ACTIVATION = Mistake(
    "transformer.no_activation",
    "the feed-forward block has no activation: linear2(linear1(x)) is a single linear map. Apply ReLU between "
    "them, linear2(relu(linear1(x))).",
)
GELU_ACTIVATION = Mistake(
    "transformer.gelu_activation",
    "the feed-forward block uses GELU; nn.TransformerEncoderLayer's default activation, and this exercise's, "
    "is ReLU: linear2(relu(linear1(x))).",
)
LAYER_PADDING_MASK_INVERTED = Mistake(
    "transformer.padding_mask_inverted",
    "src_key_padding_mask is read the wrong way round: True marks a padding position that no token may attend "
    "to (pass it to nn.MultiheadAttention as key_padding_mask, which reads it the same way).",
)
SRC_MASK_IGNORED = Mistake(
    "transformer.src_mask_ignored",
    "src_mask is ignored: pass it to the self-attention as attn_mask, "
    "self_attn(x, x, x, attn_mask=src_mask, key_padding_mask=src_key_padding_mask).",
)
MISSING_RESIDUAL = Mistake(
    "transformer.missing_residual",
    f"a residual connection is missing: each sublayer's output is added to its input, {_SUBLAYERS} "
    "(normalized before or after, as norm_first says).",
)
ONE_NORM = Mistake(
    "transformer.one_norm",
    "norm1 normalizes around both sublayers: norm1 belongs to the self-attention block and norm2 to the "
    "feed-forward block, each with its own weight and bias.",
)
ATTENTION_NOT_BATCH_FIRST = Mistake(
    "transformer.attention_not_batch_first",
    "the self-attention reads src as (L, B, d_model): nn.MultiheadAttention(d_model, nhead) expects the "
    "sequence first unless it is built with batch_first=True, so it attends across the batch instead of "
    "along each sequence. Build it as nn.MultiheadAttention(d_model, nhead, batch_first=True).",
)
DROPOUT_IN_EVAL = Mistake(
    "transformer.dropout_in_eval",
    "dropout is applied in evaluation mode: after .eval() the output changes from call to call. Use "
    "nn.Dropout modules (or F.dropout(x, p, training=self.training)), which are the identity in evaluation mode.",
)

# The visible tests of both forms: every mistake of the layer's structure changes their output.
_POST_LN = catch("check_transformer_encoder_layer")
_PRE_LN = catch("check_transformer_encoder_layer", norm_first=True)
LAYER_MISTAKES = (
    plant(_layer_planting(residual="normalized"), RESIDUAL_AFTER_NORM, _PRE_LN),
    plant(_layer_planting(norms="other_form"), FORMS_SWAPPED, _POST_LN, _PRE_LN),
    # The evaluation-mode check names a structural mistake too, rather than blaming dropout.
    plant(_layer_planting(activation="none"), NO_ACTIVATION, _POST_LN, _PRE_LN,
          catch("check_transformer_encoder_layer_eval")),
    plant(_layer_planting(activation="gelu"), GELU_ACTIVATION, _POST_LN),
    plant(_layer_planting(masks="padding_inverted"), LAYER_PADDING_MASK_INVERTED,
          catch("check_transformer_encoder_layer", key_padding=True)),
    plant(_layer_planting(masks="src_mask_ignored"), SRC_MASK_IGNORED,
          catch("check_transformer_encoder_layer", src_mask="causal"),
          catch("check_transformer_encoder_layer", src_mask="additive", norm_first=True)),
    plant(_layer_planting(residual="no_attention"), MISSING_RESIDUAL, _POST_LN, _PRE_LN,
          catch("check_transformer_encoder_layer_eval", norm_first=True)),
    plant(_layer_planting(residual="no_feed_forward"), MISSING_RESIDUAL, _POST_LN, _PRE_LN),
    plant(_layer_planting(norms="norm1_only"), ONE_NORM, _POST_LN, _PRE_LN),
    plant(_layer_planting(attention_batch_first=False), ATTENTION_NOT_BATCH_FIRST, _POST_LN, _PRE_LN),
    plant(_layer_planting(dropout="always"), DROPOUT_IN_EVAL, catch("check_transformer_encoder_layer_eval")),
)

# The mistakes that evaluation mode alone tells apart (a wrong structure reads as any other wrong output).
EVAL_MISTAKES = (DROPOUT_IN_EVAL,)
# The mistakes of the layer's structure, which an evaluation-mode output that does not change shows too.
STRUCTURE_MISTAKES = tuple(p.mistake for p in LAYER_MISTAKES if p.mistake not in EVAL_MISTAKES)

# --- the spec ---

ENCODER_LAYER = ModuleSpec(
    "TransformerEncoderLayer", nn.TransformerEncoderLayer,
    inputs=("src",),
    # The state_dict's keys, by the arguments' names: self_attn.out_proj.weight is out_proj_weight.
    parameters={key.removeprefix("self_attn.").replace(".", "_"): key for key in (
        "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
        "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
        "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias")},
    keywords=("src_mask", "src_key_padding_mask"),
    fixed={"batch_first": True},
    state_dict=StateDictRule(
        "Name the submodules as PyTorch does: self_attn = nn.MultiheadAttention(d_model, nhead, batch_first=True), "
        "linear1, linear2 (nn.Linear), norm1, norm2 (nn.LayerNorm), and keep dropout in parameter-free modules."),
    # Modules that would do the whole exercise; nn.MultiheadAttention, nn.Linear and nn.LayerNorm are allowed.
    not_built_on=(nn.TransformerEncoderLayer, nn.TransformerEncoder, nn.Transformer),
    build_from="the layer from nn.MultiheadAttention, nn.Linear and nn.LayerNorm",
    planted=LAYER_MISTAKES,
    forbidden=Forbidden("TransformerEncoderLayer", {
        torch._transformer_encoder_layer_fwd: "torch._transformer_encoder_layer_fwd"}),
)


def make_layer_arguments(batch=2, length=5, d_model=8, nhead=2, dim_feedforward=16, *, norm_first=False,
                         src_mask=None, key_padding=False, dtype=torch.float32, seed=0) -> dict:
    """Seeded inputs and the parameters of a freshly initialised ``nn.TransformerEncoderLayer``.

    ``src_mask`` is None, "causal" (boolean, True = may not attend) or "additive" (float, added to the
    scores); ``key_padding`` pads the last position of every sequence and the one before it in the first
    (True = padding). No query loses every key, which would make PyTorch's output NaN.
    """
    with torch.random.fork_rng(devices=[]):  # the layer initialises from the global generator
        torch.manual_seed(seed)
        reference = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.0, norm_first=norm_first,
                                               batch_first=True).to(dtype)
        with torch.no_grad():
            # PyTorch starts the biases at 0 and the norms at the identity; random ones make them count.
            for key, value in reference.named_parameters():
                if key.endswith("bias"):
                    value.normal_(std=0.5)
                elif key.startswith("norm"):
                    value.normal_(mean=1.0, std=0.3)
        state = {k: v.detach().clone() for k, v in reference.state_dict().items()}
        src = torch.randn(batch, length, d_model, dtype=dtype)
        mask = None
        if src_mask == "causal":
            mask = torch.ones(length, length, dtype=torch.bool).triu(1)
        elif src_mask == "additive":
            mask = torch.randn(length, length, dtype=dtype)
    padding = None
    if key_padding:
        padding = torch.zeros(batch, length, dtype=torch.bool)
        padding[:, -1] = True
        padding[0, -2] = True
    return {"src": src, **{name: state[key] for name, key in ENCODER_LAYER.parameters.items()},
            "src_mask": mask, "src_key_padding_mask": padding}


def _sizes(args) -> tuple[int, int]:
    """d_model and dim_feedforward, read from the arguments' shapes (nhead is not in them)."""
    return args["src"].shape[-1], args["linear1_weight"].shape[0]


SAME_AS_WITHOUT_DROPOUT = "the output without dropout, on every call"


def _eval_effect(first, second, expected) -> str:
    """What evaluation mode did, in words that a diagnosis compares."""
    if compare(OUTPUT, first, second, ENCODER_LAYER.name) is not None:
        return "an output that changes from call to call"
    if compare(OUTPUT, first, expected, ENCODER_LAYER.name) is not None:
        return "an output other than without dropout"
    return SAME_AS_WITHOUT_DROPOUT


# --- the check entries ---


@entry
def check_transformer_encoder_layer(student, *, nhead=2, norm_first=False, gradients=False, devices=None,
                                    **arguments) -> Report:
    """Compare ``student`` with ``nn.TransformerEncoderLayer`` given the same parameters.

    ``arguments`` go to ``make_layer_arguments`` (sizes, ``src_mask``,
    ``key_padding``, ``dtype``, ``seed``). Compares the output or, with
    ``gradients=True``, also the gradients with respect to ``src`` and every parameter.
    """
    args = make_layer_arguments(nhead=nhead, norm_first=norm_first, **arguments)
    d_model, dim_feedforward = _sizes(args)
    # Training mode with dropout 0: PyTorch's fused fast path (evaluation mode only) stays out of the reference.
    return ENCODER_LAYER.compare(student, args, d_model, nhead, dim_feedforward, dropout=0.0, norm_first=norm_first,
                                 gradients=gradients, devices=devices,
                                 call=f"{ENCODER_LAYER.name}(norm_first={norm_first})")


@entry
def check_transformer_encoder_layer_state_dict(student, d_model=8, nhead=2, dim_feedforward=16) -> Report:
    """Check that the module loads ``nn.TransformerEncoderLayer``'s state_dict unchanged, in both forms."""
    forms = ({"dropout": 0.0, "norm_first": norm_first} for norm_first in (False, True))
    return ENCODER_LAYER.check_state_dict(student, d_model, nhead, dim_feedforward, variants=tuple(forms))


@entry
def check_transformer_encoder_layer_eval(student, *, dropout=0.5, norm_first=False, key_padding=True,
                                         seed=0) -> Report:
    """Property: after ``.eval()``, a layer built with ``dropout > 0`` gives the output of ``dropout=0``, every call."""
    spec = ENCODER_LAYER
    args = make_layer_arguments(norm_first=norm_first, key_padding=key_padding, seed=seed)
    d_model, dim_feedforward = _sizes(args)
    module, built = spec.build(student, d_model, 2, dim_feedforward, dropout=dropout, norm_first=norm_first)
    spec.require_state_dict(module, built, d_model, 2, dim_feedforward, dropout=dropout, norm_first=norm_first)
    report = Report(f"{built}.eval()")
    where = f"{report.call} on cpu"
    call_student(module.eval, (), where=f"{built}.eval()", copy=False).result()
    first, second = (call_student(spec.runner(module), args, where=where, forbidden=spec.forbidden).result()
                     for _ in range(2))
    reference = spec.runner(spec.build_reference(d_model, 2, dim_feedforward, dropout=0.0, norm_first=norm_first))
    expected = reference(*materialize(args, None).values()).detach()
    problem = describe_wrong_type(OUTPUT, first, expected)
    if problem:
        fail(where, problems=(problem,))
    effect = _eval_effect(first, second, expected)
    if effect == "an output that changes from call to call":
        planted = spec.planted_runs(d_model, 2, dim_feedforward, dropout=dropout, norm_first=norm_first,
                                    evaluation=True, only=EVAL_MISTAKES)

        def run(function):
            outputs = [function(*materialize(args, None).values()).detach() for _ in range(2)]
            return _eval_effect(*outputs, expected)

        fail_diagnosed(where, effect, SAME_AS_WITHOUT_DROPOUT, summary=f"it gives {effect}; in evaluation mode "
                       "dropout is the identity, so the output must be that of the layer without dropout.",
                       planted=planted, run=run, agree=lambda a, b: a == b, clue=None)
    if effect != SAME_AS_WITHOUT_DROPOUT:
        _fail_deterministic(student, first, args, expected, where, dropout=dropout, norm_first=norm_first)
    report.devices.append("cpu")
    return report


def _fail_deterministic(student, first, args, expected, where, *, dropout, norm_first):
    """Fail a layer whose evaluation-mode output ``first`` is the same on every call but not the reference's.

    Dropout is blamed only if the same class built with dropout=0 gives the reference's output;
    otherwise the layer itself differs, and its structural mistakes are searched.
    """
    spec = ENCODER_LAYER
    d_model, dim_feedforward = _sizes(args)
    without, built = spec.build(student, d_model, 2, dim_feedforward, dropout=0.0, norm_first=norm_first)
    call_student(without.eval, (), where=f"{built}.eval()", copy=False).result()
    output = call_student(spec.runner(without), args, where=f"{built}.eval() on cpu",
                          forbidden=spec.forbidden).result()
    if compare(OUTPUT, output, expected, spec.name) is None:
        fail(where, f"after .eval() the layer built with dropout={dropout} gives the same output on every call, but "
             "not the output of the same layer built with dropout=0: in evaluation mode dropout is the identity "
             "(no mask and no rescaling, not even by 1 - p).")
    # Not dropout's doing: the layer differs from nn.TransformerEncoderLayer even without it.
    problem = compare(OUTPUT, first, expected, spec.name)
    fail_diagnosed(
        where, first, expected, problems=(problem,) if problem else (),
        summary="the output is the same on every call, as it should be, but it is not nn.TransformerEncoderLayer's, "
        "and the same class built with dropout=0 differs as well: the difference lies in the layer, not in "
        "dropout (check_transformer_encoder_layer compares it without dropout).",
        planted=spec.planted_runs(d_model, 2, dim_feedforward, dropout=0.0, norm_first=norm_first, evaluation=True,
                                  only=STRUCTURE_MISTAKES),
        run=lambda function: function(*materialize(args, None).values()).detach(),
        agree=lambda a, b: compare(OUTPUT, a, b, spec.name) is None,
    )
