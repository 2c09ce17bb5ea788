"""The transformer chapter: its equivalences with PyTorch, its position checks, its trained model and its counts.

The measurements are not hard-coded in the chapter, so the tests read what the
cells printed, check what the text claims about it, and check that the numbers
glued into the text are the printed ones.
"""

import math
import re
import statistics

import pytest

from helpers import chapter_page, glued, printed
from helpers import printed_differences as differences


CHAPTER = "book/attention/transformer"
NUMBER = r"[-+]?\d+\.\d+(?:e[-+]\d+)?"


@pytest.fixture(scope="module")
def text(built_book):
    return printed(built_book, CHAPTER)


@pytest.fixture(scope="module")
def page(built_book):
    return chapter_page(built_book, CHAPTER)


@pytest.fixture(scope="module")
def pasted(page):
    return glued(page)



def near(pasted, value, tolerance):
    """Whether some pasted number is within tolerance of value (recomputed from rounded printed numbers)."""
    numbers = [float(p) for p in pasted if re.fullmatch(NUMBER, p)]
    return any(abs(number - value) <= tolerance for number in numbers)


def test_the_block_is_nn_transformer_encoder_layer(text):
    for form in ("Post-LN", "Pre-LN"):
        assert differences(text, f"{form}, ours vs nn.TransformerEncoderLayer")[0] < 1e-6, form
    # With dropout: the same masks for the same seed, different masks on two calls, none in eval mode.
    assert differences(text, "training mode, same seed, ours vs nn.TransformerEncoderLayer")[0] < 1e-6
    assert differences(text, "training mode, two calls")[0] > 1e-2
    assert differences(text, "evaluation mode, two calls")[0] == 0.0
    for name in ("dropout", "dropout1", "dropout2"):
        assert re.search(rf"^\s*{name}: Dropout\(p=0\.1, inplace=False\)$", text, re.M), name
    assert "attention dropout: self_attn.dropout = 0.1" in text


def test_batch_norm_depends_on_padding_and_layer_norm_does_not(text, pasted):
    rows = re.findall(rf"^\s*(\d+)\s+(\d+)%\s+({NUMBER})\s+({NUMBER})\s+({NUMBER})$", text, re.M)
    table = {int(T): (int(pad), float(mean), float(bn), float(ln)) for T, pad, mean, bn, ln in rows}
    assert sorted(table) == [4, 8, 16], rows
    for T, (pad, mean, bn, ln) in table.items():
        # Sequences of 4 and 2 real tokens padded to T: 2T - 6 padding positions out of 2T.
        assert pad == round(100 * (2 * T - 6) / (2 * T)), (T, pad)
        assert ln < 1e-6, (T, ln)
        # Zero padding: the batch mean is the real tokens' sum divided by the number of positions.
        assert math.isclose(mean * T, table[4][1] * 4, abs_tol=0.01), (T, mean)
    assert table[4][2] == 0.0 and 0.1 < table[8][2] < table[16][2], table
    assert f"{table[16][2]:.2f}" in pasted
    assert f"{table[4][0]}%" in pasted and f"{table[16][0]}%" in pasted


def test_training_mode_batch_norm_leaks_the_future_and_layer_norm_does_not(text, pasted):
    """A later token of a sequence changes the earlier positions' outputs only through BatchNorm's statistics."""
    leak = {name: (float(earlier), float(first)) for name, earlier, first in re.findall(
        r"^\s*(causal layer alone|then BatchNorm, training mode|then LayerNorm): earlier positions change by "
        r"up to (\S+); position 0 by (\S+)$", text, re.M)}
    assert len(leak) == 3, leak
    assert leak["causal layer alone"] == (0.0, 0.0) and leak["then LayerNorm"] == (0.0, 0.0), leak
    assert leak["then BatchNorm, training mode"][1] > 1e-2, leak
    assert f"{leak['then BatchNorm, training mode'][0]:.2f}" in pasted


def test_sinusoidal_encoding_shifts_by_a_fixed_rotation(text, pasted):
    assert "shape: (100, 64)  position 0: [0. 1. 0. 1. 0. 1.] ..." in text
    errors = [float(e) for e in re.findall(r"^k = +\d+: max over p < 1000 of .* = (\S+)$", text, re.M)]
    assert len(errors) == 4 and max(errors) < 1e-10, errors
    assert f"{max(errors):.0e}" in pasted and "1000" in pasted


def test_learned_encoding_stops_at_its_length(text):
    assert "20 positions, max_len = 16: IndexError: index out of range in self" in text


def test_rope_scores_depend_on_the_offset_only(text, pasted):
    rows = re.findall(rf"^offset n - m = +(\d+): score ({NUMBER}), max - min over 500 positions m = (\S+)$",
                      text, re.M)
    assert [int(offset) for offset, _, _ in rows] == [0, 3, 40], rows
    spreads = [float(spread) for _, _, spread in rows]
    scores = [float(score) for _, score, _ in rows]
    assert max(spreads) < 1e-10, spreads
    assert min(abs(a - b) for i, a in enumerate(scores) for b in scores[i + 1:]) > 1e-3, scores
    assert f"{max(spreads):.0e}" in pasted


def test_the_model_learns_reversal_and_fails_beyond_its_lengths(text, pasted):
    held_out = int(re.search(r"^held-out test sequences: (\d+)$", text, re.M).group(1))
    assert 800 < held_out < 1200, held_out            # one in seven of 7000
    tokens, sequences = map(float, re.search(
        r"held-out accuracy, lengths 4-10: tokens (\S+), whole sequences (\S+)$", text, re.M).groups())
    # Training at a constant learning rate ends where the last steps leave it, and CPUs round the same
    # kernels differently: the final accuracies move by a few percent between machines. The claim is that
    # the model learned to reverse the lengths it saw, far above guessing (1 token in 11).
    assert tokens >= 0.95 and sequences >= 0.85, (tokens, sequences)
    assert f"{tokens:.2%}" in pasted and f"{sequences:.2%}" in pasted
    table = {int(n): (float(t), float(s)) for n, t, s in
             re.findall(r"^\s*(\d+)\s+(\d\.\d{3})\s+(\d\.\d{3})$", text, re.M)}
    assert sorted(table) == list(range(4, 17)), table
    assert all(table[n][0] >= 0.95 for n in range(4, 11)), table
    # What the text says happens beyond the training lengths.
    assert table[11][0] < table[10][0] and table[11][1] < 0.5
    beyond = max(table[n][0] for n in range(13, 17))
    chance = 1 / 11
    assert f"chance: one token in 11, {chance:.3f}" in text
    assert table[12][0] < 0.5 and beyond < 2 * chance, table
    for value in (table[11][0], table[11][1], table[12][0], beyond, chance):
        assert f"{value:.1%}" in pasted, value


def test_the_second_block_attends_along_the_anti_diagonal(text, pasted):
    mass = {(int(b), int(h)): float(m) for b, h, m in
            re.findall(r"^block (\d), head (\d): mean weight on the anti-diagonal = (\S+)$", text, re.M)}
    assert len(mass) == 8, mass
    uniform = float(re.search(r"would put 1/L there: (\S+) on average", text).group(1))
    # The text: the first block is barely above uniform, every head of the second has the anti-diagonal.
    first = statistics.mean(mass[0, h] for h in range(4))
    second = statistics.mean(mass[1, h] for h in range(4))
    assert all(mass[0, h] < 2 * uniform for h in range(4)), mass
    assert all(mass[1, h] > 0.5 for h in range(4)), mass
    best = max(mass, key=mass.get)
    assert best[0] == 1
    for value in (f"{uniform:.3f}", f"{mass[best]:.3f}", str(best[1])):
        assert value in pasted, value
    assert near(pasted, first, 0.002) and near(pasted, second, 0.002), (first, second)


def test_pre_ln_last_block_gradient_shrinks_with_depth_and_post_ln_does_not(text, pasted):
    """Xiong et al.'s mechanism, over ten seeds: Pre-LN's stream grows and its last-layer gradient falls with depth."""
    rows = {(name, int(depth)): (float(g), float(se), float(rms)) for name, depth, g, se, rms in re.findall(
        rf"^\s*(Post-LN|Pre-LN)\s+(\d+)\s+({NUMBER}) ± ({NUMBER})\s+({NUMBER})$", text, re.M)}
    assert sorted(rows) == [(name, depth) for name in ("Post-LN", "Pre-LN") for depth in (2, 6, 24)], rows
    pre = [rows["Pre-LN", depth][0] for depth in (2, 6, 24)]
    assert pre[0] > pre[1] > pre[2], pre
    stream = [rows["Pre-LN", depth][2] for depth in (2, 6, 24)]
    assert stream[0] < stream[1] < stream[2], stream
    post_ratio = rows["Post-LN", 24][0] / rows["Post-LN", 2][0]
    pre_ratio = pre[2] / pre[0]
    assert post_ratio > 0.8 and pre_ratio < 0.8, (post_ratio, pre_ratio)
    assert near(pasted, post_ratio, 0.011) and near(pasted, pre_ratio, 0.011)


def test_learning_rate_sweep_results_and_what_the_text_says(text, pasted):
    rows = {(name, float(lr), int(warmup)): (float(mean), float(se)) for name, lr, warmup, mean, se in re.findall(
        rf"^\s*(Post-LN|Pre-LN)\s+(\S+)\s+(0|50)\s+({NUMBER})\s+({NUMBER})\s+{NUMBER}\s+{NUMBER}$", text, re.M)}
    assert len(rows) == 8, rows
    for (name, lr, warmup), (mean, _) in rows.items():
        assert f"{mean:.3f}" in pasted, (name, lr, warmup)
    paired = {float(lr): (float(mean), float(se), int(wins)) for lr, mean, se, wins in re.findall(
        rf"^lr (\S+): Pre-LN minus Post-LN ({NUMBER}) ± ({NUMBER}), Pre-LN ahead on (\d+) of 10 seeds$", text, re.M)}
    assert sorted(paired) == [0.003, 0.01, 0.03], paired
    separated = [lr for lr, (mean, se, _) in paired.items() if abs(mean) > 2 * se]
    bullet = next(p for p in pasted if "twice the standard error" in p)
    if separated:
        assert "separate by more than twice the standard error at the learning rates " + ", ".join(
            f"{lr:g}" for lr in separated) in bullet
    else:
        assert "do not separate" in bullet
    # The claim the section makes: at the middle learning rate, without warm-up, Pre-LN trains and Post-LN does not.
    assert 0.01 in separated and paired[0.01][0] > 0.3, paired


def test_the_flop_table_follows_the_formulas(text, pasted):
    for name, measured, formula in re.findall(
            r"^\s*(attention|convolution|recurrent|LSTM), n = 64, d = 32: FlopCounterMode (\d+), formula (\d+)$",
            text, re.M):
        assert measured == formula, name
    n, d, k = 64, 32, 3
    assert f"attention, n = {n}, d = {d}: FlopCounterMode {8 * n * d * d + 4 * n * n * d}," in text
    assert f"convolution, n = {n}, d = {d}: FlopCounterMode {2 * k * n * d * d}," in text
    assert f"recurrent, n = {n}, d = {d}: FlopCounterMode {4 * n * d * d}," in text
    assert f"LSTM, n = {n}, d = {d}: FlopCounterMode {16 * n * d * d}," in text
    d = 512
    flops = {}
    for n in (128, 4096):
        expected = {"attention": (8 * n * d * d + 4 * n * n * d, 1, 1),
                    "convolution, causal": (2 * k * n * d * d, 1, math.ceil((n - 1) / (k - 1))),
                    # A centred kernel reaches (k - 1) / 2 positions further each way per layer.
                    "convolution, centred": (2 * k * n * d * d, 1, math.ceil((n - 1) / ((k - 1) / 2))),
                    "recurrent": (4 * n * d * d, n, n - 1),
                    "LSTM": (16 * n * d * d, n, n - 1)}
        for name, (count, sequential, path) in expected.items():
            flops[name, n] = count
            row = rf"^\s*{re.escape(name)}\s+{n}\s+{re.escape(f'{count / 1e9:.3f}')}\s+{sequential}\s+{path}$"
            assert re.search(row, text, re.M), (name, n)
    assert f"{flops['attention', 128] / flops['recurrent', 128]:.2f}" in pasted
    assert f"{flops['attention', 4096] / flops['recurrent', 4096]:.1f}" in pasted
    assert str(2 * d) in pasted
    # The centred kernel of size 3 needs 127 layers for 128 positions; attention is cheaper than an LSTM when n < 2d.
    assert "127" in pasted and "64" in pasted
    assert flops["attention", 128] < flops["LSTM", 128] and flops["attention", 4096] > flops["LSTM", 4096]
    assert f"{flops['attention', 128] / flops['LSTM', 128]:.2f}" in pasted


def test_the_chapter_has_its_figures_links_and_exercise(page, built_book):
    figures = page.select("div.cell_output img")
    assert len(figures) >= 3 and all(figure.get("alt") for figure in figures)   # positions, training, attention
    html = str(page)
    for paper in ("1706.03762", "2002.04745", "2104.09864"):
        assert f"arxiv.org/abs/{paper}" in html, paper
    assert "exercises/transformer/transformer.ipynb" in html
    links = {a.get("href", "") for a in page.select("article a")}
    for target in ("self_attention.html", "../normalization/batch_norm.html",
                   "../normalization/normalization_layers.html", "../regularization/regularization.html"):
        assert any(href.split("#")[0] == target for href in links), target
