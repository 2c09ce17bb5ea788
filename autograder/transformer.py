"""Checks for the transformer exercise: the sinusoidal positional encoding and an encoder layer.

The positional encoding follows Vaswani et al. (2017): for position ``p`` and
pair ``i`` of columns, ``PE[p, 2i] = sin(p / 10000^(2i/d_model))`` and
``PE[p, 2i+1] = cos(p / 10000^(2i/d_model))``. For an odd ``d_model`` the last
column is the sine of the last pair. PyTorch has no such function: the
reference is that formula, computed in float64.

The encoder layer is compared with ``nn.TransformerEncoderLayer`` (batch_first,
ReLU, dropout 0) given the same parameters, in both forms: Post-LN
(``norm_first=False``, ``x = norm(x + sublayer(x))``) and Pre-LN
(``norm_first=True``, ``x = x + sublayer(norm(x))``). Its checks build the
student's module, load the reference's parameters into it as tensors
(``torch.func.functional_call``, so gradients reach them) and compare what it
returns. The mistakes students make most often are planted in re-implementations
of both (``_positional_encoding``, ``_encoder_layer``), one keyword switch each;
a failure message names the one the student's result matches.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from .core import integrity
from .core.calling import call_student, functional_call, materialize, module_classes
from .core.checks import Report, check, check_against_reference, fail_diagnosed
from .core.compare import OUTPUT, compare, describe_wrong_type
from .core.devices import available_devices
from .core.failure import Failure
from .core.mistakes import Mistake, Planted, catch

# --- the sinusoidal positional encoding -------------------------------------------------


def _positional_encoding(length, d_model, dtype=torch.float32, *, swapped=False, concatenated=False,
                         exponent_without_two=False, index_not_halved=False, exponent_from_column=False,
                         frequency_inverted=False, positions_from_one=False):
    """The (length, d_model) encoding of Vaswani et al., with switches that each plant one mistake."""
    position = torch.arange(length, dtype=torch.float64)[:, None]  # (L, 1)
    if positions_from_one:
        position = position + 1
    column = torch.arange(d_model, dtype=torch.float64)  # (D,): column j holds pair i = j // 2
    pair = torch.div(column, 2, rounding_mode="floor")
    if exponent_without_two:
        exponent = pair / d_model
    elif index_not_halved:  # the column index taken for the pair index
        exponent = 2 * column / d_model
    elif exponent_from_column:  # right for the sines (j = 2i), wrong for the cosines (j = 2i + 1)
        exponent = column / d_model
    else:
        exponent = 2 * pair / d_model
    angle = position * 10000.0 ** exponent if frequency_inverted else position / 10000.0 ** exponent  # (L, D)
    sine = column % 2 == (1 if swapped else 0)
    encoding = torch.where(sine, angle.sin(), angle.cos())
    if concatenated:  # every pair's sine first, then every pair's cosine
        encoding = torch.cat([angle[:, 0::2].sin(), angle[:, 1::2].cos()], dim=1)
    return encoding.to(dtype)


_FORMULA = "PE[p, 2i] = sin(p / 10000^(2i/d_model)) and PE[p, 2i+1] = cos(p / 10000^(2i/d_model))"
SIN_COS_SWAPPED = Mistake(
    "transformer.sin_cos_swapped",
    f"sine and cosine are swapped: the sines belong in the even columns and the cosines in the odd ones, {_FORMULA}.",
)
SIN_COS_CONCATENATED = Mistake(
    "transformer.sin_cos_concatenated",
    "the sines fill the first half of the columns and the cosines the second half. They are interleaved: "
    f"column 2i holds the sine of pair i and column 2i+1 its cosine, {_FORMULA}; e.g. "
    "pe[:, 0::2] = sin(...) and pe[:, 1::2] = cos(...).",
)
EXPONENT_WITHOUT_TWO = Mistake(
    "transformer.exponent_without_two",
    "the frequencies use 10000^(i/d_model); the exponent is 2i/d_model, so that the wavelengths reach "
    f"10000 * 2π at the last pair: {_FORMULA}.",
)
INDEX_NOT_HALVED = Mistake(
    "transformer.index_not_halved",
    "the exponent 2i/d_model is computed with the column index j for i. Columns 2i and 2i+1 are the pair "
    "i = j // 2 and share one frequency, 1 / 10000^(2i/d_model): take the exponent from torch.arange(0, "
    "d_model, 2) / d_model.",
)
EXPONENT_FROM_COLUMN = Mistake(
    "transformer.exponent_from_column",
    "the cosine in column 2i+1 gets its own frequency, 1 / 10000^((2i+1)/d_model): the exponent is taken from "
    "the column index. A sine and its cosine share the frequency of their pair, 1 / 10000^(2i/d_model).",
)
FREQUENCY_INVERTED = Mistake(
    "transformer.frequency_inverted",
    "the positions are multiplied by 10000^(2i/d_model) instead of divided by it. The frequencies are "
    "1 / 10000^(2i/d_model): 1 for the first pair, ever lower after it, so that the wavelengths grow from 2π "
    "to 10000 * 2π.",
)
POSITIONS_FROM_ONE = Mistake(
    "transformer.positions_from_one",
    "the positions are counted from 1: the first position is p = 0, whose encoding is 0 in the sine columns "
    "and 1 in the cosine columns; use torch.arange(length).",
)


def _planted(function, mistake, *catches, **switch) -> Planted:
    """``mistake``, planted by calling ``function`` with ``switch`` on, and the check calls that catch it."""
    return Planted(mistake, lambda *args: function(*args, **switch), catches)


_ENCODING_TEST = catch("check_sinusoidal_positional_encoding")
ENCODING_MISTAKES = (
    _planted(_positional_encoding, SIN_COS_SWAPPED, _ENCODING_TEST, swapped=True),
    _planted(_positional_encoding, SIN_COS_CONCATENATED, _ENCODING_TEST, concatenated=True),
    _planted(_positional_encoding, EXPONENT_WITHOUT_TWO, _ENCODING_TEST, exponent_without_two=True),
    _planted(_positional_encoding, INDEX_NOT_HALVED, _ENCODING_TEST, index_not_halved=True),
    _planted(_positional_encoding, EXPONENT_FROM_COLUMN, _ENCODING_TEST, exponent_from_column=True),
    _planted(_positional_encoding, FREQUENCY_INVERTED, _ENCODING_TEST, frequency_inverted=True),
    _planted(_positional_encoding, POSITIONS_FROM_ONE, _ENCODING_TEST, positions_from_one=True),
)
ENCODING_NAME = "sinusoidal_positional_encoding"


@check
def check_sinusoidal_positional_encoding(student, *, length=6, d_model=8, dtype=torch.float32) -> Report:
    """Compare ``student(length, d_model, dtype)`` with the encoding of Vaswani et al."""
    report = check_against_reference(
        student, _positional_encoding, {"length": length, "d_model": d_model, "dtype": dtype},
        name=ENCODING_NAME, planted=ENCODING_MISTAKES, devices=["cpu"],
    )
    # Without a tensor argument there is no device to follow: the encoding is made on the CPU.
    report.notes.append("the encoding takes no tensor, so it is built on the CPU; move it with .to(x.device)")
    return report


# --- the encoder layer -------------------------------------------------------------------

LAYER_NAME = "TransformerEncoderLayer"
# nn.TransformerEncoderLayer's state_dict, in the order of the parameter arguments of ``_forward``.
STATE_DICT_KEYS = (
    "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
    "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
    "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias",
)
PARAMETERS = tuple(key.removeprefix("self_attn.").replace(".", "_") for key in STATE_DICT_KEYS)
# Modules that would do the whole exercise; nn.MultiheadAttention, nn.Linear and nn.LayerNorm are allowed.
WHOLE_LAYERS = (nn.TransformerEncoderLayer, nn.TransformerEncoder, nn.Transformer)
LAYER_FORBIDDEN = {torch._transformer_encoder_layer_fwd: "torch._transformer_encoder_layer_fwd"}


def _encoder_layer(layer, x, src_mask=None, src_key_padding_mask=None, *, residual_after_norm=False,
                   forms_swapped=False, no_activation=False, gelu=False, padding_mask_inverted=False,
                   src_mask_ignored=False, no_attention_residual=False, no_feed_forward_residual=False,
                   one_norm=False, dropout_in_eval=False):
    """nn.TransformerEncoderLayer's forward (ReLU) with switches that plant one mistake each."""
    norm_first = layer.norm_first != forms_swapped
    training = layer.training or dropout_in_eval
    padding = src_key_padding_mask
    if padding is not None and padding_mask_inverted:
        padding = ~padding

    def drop(h):
        return F.dropout(h, layer.dropout, training)

    def attend(h):
        mask = None if src_mask_ignored else src_mask
        return drop(layer.self_attn(h, h, h, key_padding_mask=padding, attn_mask=mask, need_weights=False)[0])

    def feed_forward(h):
        hidden = layer.linear1(h)
        if not no_activation:
            hidden = F.gelu(hidden) if gelu else F.relu(hidden)
        return drop(layer.linear2(drop(hidden)))

    norm1, norm2 = layer.norm1, layer.norm1 if one_norm else layer.norm2
    for norm, sublayer, residual in ((norm1, attend, not no_attention_residual),
                                     (norm2, feed_forward, not no_feed_forward_residual)):
        if norm_first:
            h = norm(x)
            x = (h if residual_after_norm else x if residual else 0) + sublayer(h)
        else:
            x = norm((x if residual else 0) + sublayer(x))
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


def _planted_layer(mistake, *catches, **switch) -> Planted:
    return Planted(mistake, _layer_planting(**switch), catches)


# The visible tests of both forms: every mistake of the layer's structure changes their output.
_POST_LN = catch("check_transformer_encoder_layer")
_PRE_LN = catch("check_transformer_encoder_layer", norm_first=True)
LAYER_MISTAKES = (
    _planted_layer(RESIDUAL_AFTER_NORM, _PRE_LN, residual_after_norm=True),
    _planted_layer(FORMS_SWAPPED, _POST_LN, _PRE_LN, forms_swapped=True),
    _planted_layer(NO_ACTIVATION, _POST_LN, _PRE_LN, no_activation=True),
    _planted_layer(GELU_ACTIVATION, _POST_LN, gelu=True),
    _planted_layer(LAYER_PADDING_MASK_INVERTED, catch("check_transformer_encoder_layer", key_padding=True),
                   padding_mask_inverted=True),
    _planted_layer(SRC_MASK_IGNORED, catch("check_transformer_encoder_layer", src_mask="causal"),
                   catch("check_transformer_encoder_layer", src_mask="additive", norm_first=True),
                   src_mask_ignored=True),
    _planted_layer(MISSING_RESIDUAL, _POST_LN, _PRE_LN, no_attention_residual=True),
    _planted_layer(MISSING_RESIDUAL, _POST_LN, _PRE_LN, no_feed_forward_residual=True),
    _planted_layer(ONE_NORM, _POST_LN, _PRE_LN, one_norm=True),
    _planted_layer(ATTENTION_NOT_BATCH_FIRST, _POST_LN, _PRE_LN, attention_batch_first=False),
    _planted_layer(DROPOUT_IN_EVAL, catch("check_transformer_encoder_layer_eval"), dropout_in_eval=True),
)

EVAL_MISTAKES = (DROPOUT_IN_EVAL,)

# Every mistake the module plants, with the checks that catch it.
MISTAKES: tuple[Planted, ...] = ENCODING_MISTAKES + LAYER_MISTAKES


def _forward(module, src, *parameters_and_masks):
    """Run ``module`` on ``src`` with the given tensors as its parameters (gradients flow to them)."""
    *parameters, src_mask, src_key_padding_mask = parameters_and_masks
    return functional_call(
        module, dict(zip(STATE_DICT_KEYS, parameters)), (src,),
        {"src_mask": src_mask, "src_key_padding_mask": src_key_padding_mask},
    )


def make_layer_arguments(batch=2, length=5, d_model=8, nhead=2, dim_feedforward=16, *, norm_first=False,
                         src_mask=None, key_padding=False, dtype=torch.float32, seed=0) -> dict:
    """Seeded inputs and the parameters of a freshly initialised ``nn.TransformerEncoderLayer``.

    ``src_mask`` is None, "causal" (boolean, True = may not attend) or "additive"
    (float, added to the scores); ``key_padding`` pads the last position of every
    sequence and the one before it in the first (True = padding). No query loses
    every key, which would make PyTorch's output NaN.
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
    return {"src": src, **{name: state[key] for name, key in zip(PARAMETERS, STATE_DICT_KEYS)},
            "src_mask": mask, "src_key_padding_mask": padding}


def _sizes(args) -> tuple[int, int]:
    """d_model and dim_feedforward, read from the arguments' shapes (nhead is not in them)."""
    return args["src"].shape[-1], args["linear1_weight"].shape[0]


def _build(module_class, d_model, nhead, dim_feedforward, *, dropout=0.0, norm_first=False):
    """The student's module, built as ``nn.TransformerEncoderLayer`` would be, and the call that built it."""
    name = getattr(module_class, "__name__", LAYER_NAME)
    built = (f"{name}({d_model}, {nhead}, {dim_feedforward}, dropout={dropout}, norm_first={norm_first}, "
             "batch_first=True)")
    make = partial(module_class, dropout=dropout, norm_first=norm_first, batch_first=True)
    module = call_student(make, (d_model, nhead, dim_feedforward), where=built).result()
    _require_own_layer(module, built)
    return module, built


def _require_own_layer(module, built: str) -> None:
    """Fail a module that is, or contains, one of PyTorch's whole encoder layers."""
    classes = call_student(lambda: module_classes(module), (), where=f"{built}.modules()", copy=False).result()
    used = [whole.__name__ for whole in WHOLE_LAYERS
            if any(f"{whole.__module__}.{whole.__qualname__}" in bases for bases in classes)]
    if used:
        Failure(built, summary=f"it is built on nn.{used[0]}; the exercise is to write the layer from "
                "nn.MultiheadAttention, nn.Linear and nn.LayerNorm.").fail()


def _require_parameters(module, built: str, d_model, nhead, dim_feedforward) -> None:
    """Fail unless ``module``'s state_dict has exactly nn.TransformerEncoderLayer's entries and shapes."""
    state = call_student(module.state_dict, (), where=f"{built}.state_dict()", copy=False).result()
    entries = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    reference = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, batch_first=True)
    wanted = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    if entries != wanted:
        missing = [f"{k} {wanted[k]}" for k in wanted if entries.get(k) != wanted[k]]
        extra = [k for k in entries if k not in wanted]
        problems = ([f"missing or of another shape: {', '.join(missing)}."] if missing else []) + (
            [f"not in nn.TransformerEncoderLayer: {', '.join(extra)}."] if extra else [])
        Failure(
            built, summary="its state_dict differs from nn.TransformerEncoderLayer's. Name the submodules as "
            "PyTorch does: self_attn = nn.MultiheadAttention(d_model, nhead, batch_first=True), linear1, "
            "linear2 (nn.Linear), norm1, norm2 (nn.LayerNorm), and keep dropout in parameter-free modules.",
            problems=tuple(problems),
        ).fail()


def _reference(norm_first, d_model, nhead, dim_feedforward):
    # Training mode with dropout 0: PyTorch's fused fast path (evaluation mode only) stays out of the reference.
    module = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.0, norm_first=norm_first,
                                        batch_first=True)
    return partial(_forward, module)


def _layer_mistakes(d_model, nhead, dim_feedforward, norm_first, *, dropout=0.0, evaluation=False):
    """The planted layers as functions of the checks' arguments, like the student's module in ``_forward``.

    ``evaluation``: the layers built with ``dropout`` and put in evaluation mode, where only the
    mistakes of evaluation mode can be told apart (a wrong structure reads as any other wrong output).
    """
    def forward(module_class):
        def run(*args):  # built when a failure is diagnosed, not on every check
            module = module_class(d_model, nhead, dim_feedforward, dropout=dropout, norm_first=norm_first)
            return _forward(module.eval() if evaluation else module, *args)
        return run

    return tuple(Planted(p.mistake, forward(p.function), p.caught_by) for p in LAYER_MISTAKES
                 if not evaluation or p.mistake in EVAL_MISTAKES)


@check
def check_transformer_encoder_layer(module_class, *, nhead=2, norm_first=False, gradients=False, devices=None,
                                    **arguments) -> Report:
    """Compare ``module_class`` with ``nn.TransformerEncoderLayer`` given the same parameters.

    ``arguments`` go to ``make_layer_arguments`` (sizes, ``src_mask``,
    ``key_padding``, ``dtype``, ``seed``). Compares the output or, with
    ``gradients=True``, also the gradients with respect to ``src`` and every parameter.
    """
    args = make_layer_arguments(nhead=nhead, norm_first=norm_first, **arguments)
    d_model, dim_feedforward = _sizes(args)
    module, built = _build(module_class, d_model, nhead, dim_feedforward, norm_first=norm_first)
    _require_parameters(module, built, d_model, nhead, dim_feedforward)
    return check_against_reference(
        partial(_forward, module), _reference(norm_first, d_model, nhead, dim_feedforward), args,
        name=f"{LAYER_NAME}(norm_first={norm_first})", operation=LAYER_NAME,
        grad_wrt=("src",) + PARAMETERS if gradients else (), forbidden=LAYER_FORBIDDEN, devices=devices,
        planted=_layer_mistakes(d_model, nhead, dim_feedforward, norm_first),
    )


@check
def check_transformer_encoder_layer_state_dict(module_class, d_model=8, nhead=2, dim_feedforward=16) -> Report:
    """Check that the module loads ``nn.TransformerEncoderLayer``'s state_dict unchanged."""
    name = getattr(module_class, "__name__", LAYER_NAME)
    report = Report(f"{name}({d_model}, {nhead}, {dim_feedforward}).load_state_dict(...)")
    for norm_first in (False, True):
        module, built = _build(module_class, d_model, nhead, dim_feedforward, norm_first=norm_first)
        _require_parameters(module, built, d_model, nhead, dim_feedforward)
        reference = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, norm_first=norm_first,
                                               batch_first=True)
        call_student(module.load_state_dict, (reference.state_dict(),), where=report.call, copy=False).result()
    report.devices.append("cpu")
    return report


SAME_AS_WITHOUT_DROPOUT = "the output without dropout, on every call"


def _eval_effect(first, second, expected) -> str:
    """What evaluation mode did, in words that a diagnosis compares."""
    if compare(OUTPUT, first, second, LAYER_NAME) is not None:
        return "an output that changes from call to call"
    if compare(OUTPUT, first, expected, LAYER_NAME) is not None:
        return "an output other than without dropout"
    return SAME_AS_WITHOUT_DROPOUT


@check
def check_transformer_encoder_layer_eval(module_class, *, dropout=0.5, norm_first=False, key_padding=True,
                                         seed=0) -> Report:
    """Property: after ``.eval()``, a layer built with ``dropout > 0`` gives the output of ``dropout=0``, every call."""
    args = make_layer_arguments(norm_first=norm_first, key_padding=key_padding, seed=seed)
    d_model, dim_feedforward = _sizes(args)
    module, built = _build(module_class, d_model, 2, dim_feedforward, dropout=dropout, norm_first=norm_first)
    _require_parameters(module, built, d_model, 2, dim_feedforward)
    report = Report(f"{built}.eval()")
    where = f"{report.call} on cpu"
    call_student(module.eval, (), where=f"{built}.eval()", copy=False).result()
    first, second = (call_student(partial(_forward, module), args, where=where, forbidden=LAYER_FORBIDDEN).result()
                     for _ in range(2))
    expected = _reference(norm_first, d_model, 2, dim_feedforward)(*materialize(args, None).values()).detach()
    problem = describe_wrong_type(OUTPUT, first, expected)
    if problem:
        Failure(where, problems=(problem,)).fail()
    effect = _eval_effect(first, second, expected)
    if effect != SAME_AS_WITHOUT_DROPOUT:
        planted = _layer_mistakes(d_model, 2, dim_feedforward, norm_first, dropout=dropout, evaluation=True)

        def run(function):
            outputs = [function(*materialize(args, None).values()).detach() for _ in range(2)]
            return _eval_effect(*outputs, expected)

        fail_diagnosed(where, effect, SAME_AS_WITHOUT_DROPOUT, summary=f"it gives {effect}; in evaluation mode "
                       "dropout is the identity, so the output must be that of the layer without dropout.",
                       planted=planted, run=run, agree=lambda a, b: a == b, clue=None)
    report.devices.append("cpu")
    return report


__all__ = [name for name in dir() if name.startswith("check_")] + ["available_devices"]

# Trust this module and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
