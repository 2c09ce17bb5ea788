"""The transformer checks: correct implementations pass on every device; what they must refuse, they refuse.

That each planted mistake is caught and named is proven for every exercise by
``test_catalog.py``, from the declarations in ``autograder.transformer``. The
correct implementations below are written independently of the module's own
re-implementations: the encoding from log-spaced frequencies, the layer with
attention computed by hand from the projection weights.
"""

import math

import pytest
import torch
from torch import nn

from autograder.core.devices import available_devices
from autograder.core.failure import named_mistake
from autograder.transformer import (
    DROPOUT_IN_EVAL,
    check_sinusoidal_positional_encoding,
    check_transformer_encoder_layer,
    check_transformer_encoder_layer_eval,
    check_transformer_encoder_layer_state_dict,
)


def encoding(length, d_model, dtype=torch.float32):
    """Vaswani et al.'s encoding: frequencies exp(-ln(10000) * 2i / d), sines in even columns, cosines in odd."""
    position = torch.arange(length, dtype=torch.float64).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(length, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * frequency)
    pe[:, 1::2] = torch.cos(position * frequency[: d_model // 2])  # an odd d_model ends with a sine
    return pe.to(dtype)


class EncoderLayer(nn.Module):
    """An encoder layer whose attention is written out head by head, from self_attn's parameters."""

    def __init__(self, d_model, nhead, dim_feedforward, dropout=0.0, norm_first=False, batch_first=True):
        super().__init__()
        self.nhead, self.norm_first = nhead, norm_first
        self.self_attn = nn.MultiheadAttention(d_model, nhead, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(d_model, dim_feedforward), nn.Linear(dim_feedforward, d_model)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def attend(self, x, src_mask, padding):
        batch, length, d_model = x.shape
        size = d_model // self.nhead
        q, k, v = nn.functional.linear(x, self.self_attn.in_proj_weight, self.self_attn.in_proj_bias).chunk(3, -1)
        bias = torch.zeros(batch, 1, length, length, dtype=x.dtype, device=x.device)
        if src_mask is not None:
            bias = bias.masked_fill(src_mask, -math.inf) if src_mask.dtype == torch.bool else bias + src_mask
        if padding is not None:
            bias = bias.masked_fill(padding[:, None, None, :], -math.inf)
        heads = []
        for h in range(self.nhead):
            part = slice(h * size, (h + 1) * size)
            scores = torch.einsum("bld,bsd->bls", q[..., part], k[..., part]) / math.sqrt(size) + bias[:, 0]
            heads.append(torch.einsum("bls,bsd->bld", scores.softmax(-1), v[..., part]))
        return self.dropout(self.self_attn.out_proj(torch.cat(heads, -1)))

    def feed_forward(self, x):
        return self.dropout(self.linear2(self.dropout(torch.relu(self.linear1(x)))))

    def forward(self, src, src_mask=None, src_key_padding_mask=None):
        x = src
        if self.norm_first:
            x = x + self.attend(self.norm1(x), src_mask, src_key_padding_mask)
            return x + self.feed_forward(self.norm2(x))
        x = self.norm1(x + self.attend(x, src_mask, src_key_padding_mask))
        return self.norm2(x + self.feed_forward(x))


def _passes_everywhere(report, call_start):
    assert report.devices == available_devices()
    assert report.notes == []
    assert report.call.startswith(call_start)


# --- the positional encoding ----------------------------------------------------------------


@pytest.mark.parametrize("case", [
    dict(), dict(length=10, d_model=16), dict(length=5, d_model=7), dict(length=1, d_model=2),
    dict(length=50, d_model=12, dtype=torch.float64), dict(length=3, d_model=1),
], ids=str)
def test_a_correct_encoding_passes_and_says_it_ran_on_the_cpu(case):
    report = check_sinusoidal_positional_encoding(encoding, **case)
    assert report.devices == ["cpu"]
    assert report.notes == ["the encoding takes no tensor, so it is built on the CPU; move it with .to(x.device)"]
    dtype = case.get("dtype", torch.float32)
    assert report.call == (f"sinusoidal_positional_encoding(length={case.get('length', 6)}, "
                           f"d_model={case.get('d_model', 8)}, dtype={dtype!r})")


def test_the_encoding_follows_the_papers_formula_at_a_few_hand_computed_entries():
    # The check's own verdict on hand-made tables: the formula, not the reference, decides.
    table = torch.zeros(3, 4, dtype=torch.float64)
    for p in range(3):
        for i in range(2):
            table[p, 2 * i] = math.sin(p / 10000 ** (2 * i / 4))
            table[p, 2 * i + 1] = math.cos(p / 10000 ** (2 * i / 4))
    check_sinusoidal_positional_encoding(lambda length, d_model, dtype: table.to(dtype), length=3, d_model=4)
    table[2, 3] = math.cos(2 / 10000 ** (3 / 4))  # column 3 with its own frequency
    with pytest.raises(AssertionError, match="differs from the reference in 1 of 12 elements"):
        check_sinusoidal_positional_encoding(lambda length, d_model, dtype: table.to(dtype), length=3, d_model=4)


def test_an_encoding_that_ignores_the_dtype_fails_for_float64():
    with pytest.raises(AssertionError, match="float32") as raised:
        check_sinusoidal_positional_encoding(lambda length, d_model, dtype: encoding(length, d_model),
                                             dtype=torch.float64)
    assert "float64" in str(raised.value)


def test_a_stub_encoding_is_told_it_is_not_implemented():
    def stub(length, d_model, dtype=torch.float32):
        raise NotImplementedError

    with pytest.raises(AssertionError, match=r"sinusoidal_positional_encoding\(length=6, d_model=8, "
                                             r"dtype=torch.float32\) on cpu: the function is not implemented yet"):
        check_sinusoidal_positional_encoding(stub)


# --- the encoder layer ----------------------------------------------------------------------

LAYER_CASES = [
    dict(), dict(norm_first=True), dict(key_padding=True), dict(src_mask="causal", norm_first=True),
    dict(src_mask="additive", key_padding=True), dict(nhead=4, d_model=12, dim_feedforward=20, length=3, seed=2),
    dict(dtype=torch.float64, norm_first=True, src_mask="causal", key_padding=True, seed=3),
]


@pytest.mark.parametrize("case", LAYER_CASES, ids=str)
def test_a_correct_layer_passes_with_gradients_on_every_device(case):
    report = check_transformer_encoder_layer(EncoderLayer, gradients=True, **case)
    _passes_everywhere(report, f"TransformerEncoderLayer(norm_first={case.get('norm_first', False)})(src: ")
    assert "linear1_weight: " in report.call and "norm2_bias: " in report.call


def test_a_layer_built_on_pytorchs_own_is_refused():
    def pytorch(d_model, nhead, dim_feedforward, dropout=0.0, norm_first=False, batch_first=True):
        return nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, norm_first=norm_first,
                                          batch_first=batch_first)

    with pytest.raises(AssertionError, match="it is built on nn.TransformerEncoderLayer; the exercise is to write"):
        check_transformer_encoder_layer(pytorch)

    class Subclass(nn.TransformerEncoderLayer):
        pass

    with pytest.raises(AssertionError, match="it is built on nn.TransformerEncoderLayer"):
        check_transformer_encoder_layer_state_dict(Subclass)


def test_a_layer_that_calls_pytorchs_fused_encoder_layer_is_refused():
    class Fused(EncoderLayer):
        def forward(self, src, src_mask=None, src_key_padding_mask=None):
            attention = self.self_attn
            return torch._transformer_encoder_layer_fwd(
                src, attention.embed_dim, attention.num_heads, attention.in_proj_weight, attention.in_proj_bias,
                attention.out_proj.weight, attention.out_proj.bias, False, self.norm_first, self.norm1.eps,
                self.norm1.weight, self.norm1.bias, self.norm2.weight, self.norm2.bias, self.linear1.weight,
                self.linear1.bias, self.linear2.weight, self.linear2.bias, None, None)

    with pytest.raises(AssertionError, match="it calls torch._transformer_encoder_layer_fwd; the exercise is"):
        check_transformer_encoder_layer(Fused)


def test_the_state_dict_check_passes_a_correct_layer_and_names_what_is_missing():
    report = check_transformer_encoder_layer_state_dict(EncoderLayer)
    assert report.devices == ["cpu"] and report.call == "EncoderLayer(8, 2, 16).load_state_dict(...)"

    class Renamed(EncoderLayer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.ff1 = self.linear1
            del self.linear1

    with pytest.raises(AssertionError) as raised:
        check_transformer_encoder_layer_state_dict(Renamed)
    message = str(raised.value)
    assert "its state_dict differs from nn.TransformerEncoderLayer's" in message
    assert "- missing or of another shape: linear1.weight (16, 8), linear1.bias (16,)." in message
    assert "- not in nn.TransformerEncoderLayer: ff1.weight, ff1.bias." in message


def test_evaluation_mode_passes_a_layer_with_dropout_modules_and_names_dropout_left_on():
    report = check_transformer_encoder_layer_eval(EncoderLayer)
    assert report.devices == ["cpu"]
    assert report.call == ("EncoderLayer(8, 2, 16, dropout=0.5, norm_first=False, batch_first=True).eval()")

    class AlwaysDropping(EncoderLayer):
        def feed_forward(self, x):
            return nn.functional.dropout(super().feed_forward(x), 0.5, training=True)

    with pytest.raises(AssertionError, match="it gives an output that changes from call to call") as raised:
        check_transformer_encoder_layer_eval(AlwaysDropping, norm_first=True)
    assert named_mistake(str(raised.value)) == DROPOUT_IN_EVAL.words


def test_evaluation_mode_blames_dropout_only_when_dropout_makes_the_difference():
    class Halved(EncoderLayer):  # a wrong layer, whatever dropout is
        def forward(self, *args, **kwargs):
            return 0.5 * super().forward(*args, **kwargs)

    with pytest.raises(AssertionError) as raised:
        check_transformer_encoder_layer_eval(Halved)
    message = str(raised.value)
    assert "the same class built with dropout=0 differs as well: the difference lies in the layer, not in dropout" \
        in message
    assert "dropout is the identity" not in message and named_mistake(message) is None

    class ScaledInEvaluation(EncoderLayer):  # the original paper's test-time scaling
        def forward(self, *args, **kwargs):
            output = super().forward(*args, **kwargs)
            return output if self.training else output * (1 - self.dropout_p)

        def __init__(self, *args, dropout=0.0, **kwargs):
            super().__init__(*args, dropout=dropout, **kwargs)
            self.dropout_p = dropout

    with pytest.raises(AssertionError, match="not the output of the same layer built with dropout=0: in evaluation "
                                             "mode dropout is the identity"):
        check_transformer_encoder_layer_eval(ScaledInEvaluation)


def test_a_wrong_layer_that_matches_no_mistake_gets_no_mistake_named():
    class Halved(EncoderLayer):
        def forward(self, *args, **kwargs):
            return 0.5 * super().forward(*args, **kwargs)

    with pytest.raises(AssertionError, match="differs from the reference") as raised:
        check_transformer_encoder_layer(Halved)
    assert named_mistake(str(raised.value)) is None
    assert "Hint: the output is off by a constant factor of 0.5" in str(raised.value)


def test_a_stub_layer_is_told_it_is_not_implemented():
    class Stub(nn.Module):
        def __init__(self, d_model, nhead, dim_feedforward, dropout=0.0, norm_first=False, batch_first=True):
            super().__init__()
            raise NotImplementedError

    with pytest.raises(AssertionError, match=r"Stub\(8, 2, 16, dropout=0.0, norm_first=False, batch_first=True\): "
                                             "the function is not implemented yet"):
        check_transformer_encoder_layer(Stub)
