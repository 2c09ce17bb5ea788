"""The self-attention chapter prints its hand-checkable example, equivalences, and measurements."""

import re

import pytest

from helpers import chapter_page, glued, printed
from helpers import printed_differences as differences


CHAPTER = "book/attention/self_attention"


@pytest.fixture(scope="module")
def text(built_book):
    return printed(built_book, CHAPTER)


@pytest.fixture(scope="module")
def page(built_book):
    return chapter_page(built_book, CHAPTER)


@pytest.fixture(scope="module")
def pasted(page):
    return glued(page)



def test_the_hand_checkable_example(text):
    # One query (token 1) against three keys, d_k = 4, so the scores are divided by 2.
    assert "key 1: q.k = 2, scaled = 1.0000, exp = 2.7183\n" in text
    assert "key 2: q.k = 1, scaled = 0.5000, exp = 1.6487\n" in text
    assert "key 3: q.k = 0, scaled = 0.0000, exp = 1.0000\n" in text
    assert "sum of exp = 5.3670\n" in text
    assert "weights: 0.5065 0.3072 0.1863\n" in text
    assert "output:  0.6928 0.4935\n" in text
    # The same example with matrices: scores, row-wise softmax, outputs.
    assert "[[1.  0.5 0. ]\n [0.  0.5 0.5]\n [0.5 1.  0. ]]" in text
    assert "[[0.5065 0.3072 0.1863]\n [0.2327 0.3837 0.3837]\n [0.3072 0.5065 0.1863]]" in text
    assert "[[0.6928 0.4935]\n [0.6163 0.7673]\n [0.4935 0.6928]]" in text
    for label in ("loop vs matrix, weights", "loop vs matrix, output", "matrix vs F.scaled_dot_product_attention"):
        assert differences(text, label)[0] < 1e-12, label


def test_the_text_takes_its_numbers_from_the_cells(text, pasted):
    # The output of token 1 as a weighted average of the values, with the printed weights.
    weights = re.search(r"^weights: (\S+) (\S+) (\S+)$", text, re.M).groups()
    assert pasted[:3] == list(weights)
    log_max = re.search(r"whose logarithm is (\S+)$", text, re.M).group(1)
    assert f"{float(log_max):.1f}" in pasted
    # The smallest stable softmax weight, 1 / (1 + e + e^2), as printed.
    assert "0.0900" in pasted and "stable softmax: tensor([0.0900, 0.2447, 0.6652])" in text


def test_heads_are_numbered_from_zero_as_in_the_code(text, page):
    assert "head 0 of K = 5 (offset -2):" in text
    prose = page.get_text()
    assert "head_0" in prose or "\\text{head}_0" in prose
    assert "h * d_head:(h + 1) * d_head" in prose


def test_memory_is_quadratic_only_when_the_scores_are_stored(page):
    prose = " ".join(page.get_text().split())
    assert "in time and memory" not in prose
    assert "memory linear in" in prose and "grows only linearly in" in prose


def test_stable_softmax_and_masks(text):
    assert "largest float32: 3.4028e+38, whose logarithm is 88.72" in text
    assert "naive softmax:  tensor([nan, nan, nan])" in text
    assert "stable softmax: tensor([0.0900, 0.2447, 0.6652])" in text
    assert "stable softmax: tensor([0.6652, 0.2447, 0.0900])" in text
    # Causal weights for all-zero scores: 1, 1/2, 1/3, 1/4.
    assert "[0.5    0.5    0.     0.    ]\n [0.3333 0.3333 0.3333 0.    ]\n [0.25   0.25   0.25   0.25  ]]" in text
    for label in ("boolean vs additive mask", "boolean mask vs is_causal", "real tokens, padding changed"):
        assert differences(text, label)[0] < 1e-6, label
    # A fully masked row with -inf is NaN, and NaN survives a zero weight.
    assert "[[nan nan nan nan]\n [nan nan nan nan]\n [0.  0.  1.  0. ]\n [0.  0.  0.5 0.5]]" in text
    assert "weighted sum with masked NaN values: nan" in text


def test_multihead_attention_gives_nan_for_a_fully_masked_query_only_when_it_returns_weights(text, page):
    """What the chapter and the attention exercise say: NaN with need_weights=True, zeros with need_weights=False."""
    for mode in ("train", "eval"):
        for need_weights, rows in ((True, r"\[\[nan nan nan nan\]\n \[nan nan nan nan\]\]"),
                                   (False, r"\[\[0\. 0\. 0\. 0\.\]\n \[0\. 0\. 0\. 0\.\]\]")):
            label = f"nn.MultiheadAttention, {mode} mode, need_weights={need_weights}, rows 1-2:\n "
            assert re.search(re.escape(label) + rows, text), (mode, need_weights)
    assert re.search(r"F\.scaled_dot_product_attention, rows 1-2:\n \[\[0\. 0\. 0\. 0\.\]", text)
    prose = " ".join(page.get_text().split())
    assert "need_weights=False, which is how nn.TransformerEncoderLayer calls it" in prose


def test_equivalences_are_below_1e_5(text):
    for label in ("outputs, ours vs nn.MultiheadAttention", "weights, ours vs nn.MultiheadAttention",
                  "without positions, MHA(PX) vs P MHA(X)", "without positions, output of 'the'"):
        assert differences(text, label)[0] < 1e-5, label
    for label in ("with positions, MHA(PX + PE) vs P MHA(X + PE)", "with positions, output of 'the'"):
        assert differences(text, label)[0] > 1e-3, label
    conv = differences(text, "heads with one-hot patterns vs F.conv1d")
    assert len(conv) == 2 and max(conv) < 1e-5, conv
    # Softmax patterns approach the convolution inside the sequence, not at its ends without padding.
    row = re.search(r"^\s+40\s+(\S+)\s+(\S+)\s+(\S+)$", text, re.M)
    assert row, "no alpha = 40 row"
    interior, boundary, padded = map(float, row.groups())
    assert interior < 1e-5 and padded < 1e-5 and boundary > 0.1


def test_the_variance_table(text):
    assert re.search(r"^\s+d\s+var\(q\.k\)\s+var\(q\.k/sqrt\(d\)\)$", text, re.M)
    for d in (1, 4, 16, 64, 256, 1024):
        row = re.search(rf"^\s*{d}\s+(\d+\.\d\d)\s+(\d\.\d\d\d)$", text, re.M)
        assert row, f"no variance row for d = {d}"
        raw, scaled = map(float, row.groups())
        assert 0.85 < raw / d < 1.15 and 0.85 < scaled < 1.15, (d, raw, scaled)


def test_the_cost_table(text):
    assert re.search(r"^\s+n\s+time \(ms\)\s+ratio\s+scores \(MiB\)$", text, re.M)
    for n in (64, 128, 256, 512, 1024, 2048):
        mib = f"{n * n * 4 / 2**20:.3f}"
        ratio = r"" if n == 64 else r"\d+\.\d\d\s+"
        row = rf"^\s*{n}\s+\d+\.\d\d\d\s+{ratio}{re.escape(mib)}$"
        assert re.search(row, text, re.M), f"no cost row for n = {n}"
    assert re.search(r"fitted slope of log\(time\) against log\(n\) for n >= 256: \d+\.\d\d\n", text)
    assert "score matrices of a batch of 32 with 12 heads at n = 2048: 6.0 GiB" in text


def test_the_chapter_has_its_figures(built_book):
    html = (built_book / "html" / "book" / "attention" / "self_attention.html").read_text()
    assert html.count("<img") >= 4
    assert "arxiv.org/abs/1911.03584" in html
    assert "exercises/attention/attention.ipynb" in html
