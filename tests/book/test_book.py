"""The book builds with every cell executed, warnings as errors, and prints the source's numbers.

The batch normalization chapter's evidence section is checked here too: its
measurements are not hard-coded, so the tests read the printed tables and check
what the text claims about them, and that the numbers glued into the text are
the ones the cells printed.
"""

import re

import pytest
from bs4 import BeautifulSoup

from helpers import printed


CHAPTER = "book/normalization/batch_norm"
NUMBER = r"\d+\.\d+"


def glued(built, chapter) -> list[str]:
    """The values that glue pasted into the text of a chapter, in order."""
    page = BeautifulSoup((built / "html" / f"{chapter}.html").read_text(), "html.parser")
    return [span.get_text() for span in page.select("span.pasted-text")]


def percent(value: str) -> str:
    """A printed fraction such as 0.768 as the text shows it, 76.8%."""
    return f"{float(value) * 100:.1f}%"


@pytest.fixture(scope="module")
def text(built_book):
    return printed(built_book, CHAPTER)


@pytest.fixture(scope="module")
def pasted(built_book):
    return glued(built_book, CHAPTER)


def test_batch_norm_chapter_prints_the_worked_example(built_book, text, pasted):
    # nn.BatchNorm2d(4) on the 2x4x2x2 example.
    assert "tensor([[[[ 0.3780, -0.6299],\n          [-0.6299,  1.3859]]," in text
    assert "grad_fn=<NativeBatchNormBackward0>" in text
    # The by-hand means and biased variances of the four channels, mean then variance.
    assert "0.625\n0.984375\n2.625\n1.734375\n3.5\n22.25\n2.75\n1.9375\n" in text
    # The NumPy recomputation prints the same normalized values as PyTorch.
    assert "[[[[ 0.37796253 -0.6299376 ]" in text
    assert "np.allclose: True" in text
    # The text restates the means and variances from the cell, not by hand.
    assert "0.625, 2.625, 3.5 and 2.75" in pasted
    assert "0.984375, 1.734375, 22.25 and 1.9375" in pasted


def test_training_curves(text, pasted):
    rows = dict(re.findall(rf"^\s*(without BN|with BN)((?: {NUMBER}±{NUMBER}){{3}})$", text, re.M))
    assert set(rows) == {"without BN", "with BN"}, text[-4000:]
    plain = [tuple(map(float, cell)) for cell in re.findall(rf"({NUMBER})±({NUMBER})", rows["without BN"])]
    bn = [tuple(map(float, cell)) for cell in re.findall(rf"({NUMBER})±({NUMBER})", rows["with BN"])]
    # After the first epoch batch normalization is ahead, and the plain network's seeds spread more.
    assert bn[0][0] > plain[0][0] + 0.1 and plain[0][1] > bn[0][1]
    # What the text says of the last epoch is what the numbers show: caught up within 2 points, or not.
    caught_up = abs(bn[2][0] - plain[2][0]) < 0.02
    verdict = "has caught up" if caught_up else "is still behind" if plain[2][0] < bn[2][0] else "is ahead"
    assert verdict in pasted and f"last epoch: the plain network {verdict}" in text
    for cells in (plain, bn):
        for mean, _ in cells:
            assert percent(mean) in pasted


def sweep_rows(text, label):
    """{value: (plain mean, plain worst, BN mean, BN worst)} of a printed sweep."""
    block = text[text.index(f"{label:>10} |"):]
    rows = re.findall(rf"^\s*(\S+) \|\s+({NUMBER}) \[({NUMBER})\] \|\s+({NUMBER}) \[({NUMBER})\]\s+mean \[worst\]",
                      block, re.M)
    table = {}
    for value, *cells in rows:
        if float(value) in table:
            break                                      # the next table
        table[float(value)] = tuple(map(float, cells))
    return table


def test_learning_rate_sweep(text, pasted):
    table = sweep_rows(text, "lr")
    assert sorted(table) == [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
    trains = {name: [lr for lr, row in table.items() if row[column] > 0.5]
              for name, column in (("plain", 1), ("bn", 3))}
    # The plain network's learning rate of the curves, 0.1, is at or near the largest it bears;
    # batch normalization trains at larger ones, where the plain network fails on every seed.
    assert 0.1 <= max(trains["plain"]) <= 0.3
    assert max(trains["bn"]) > max(trains["plain"])
    assert any(table[lr][0] <= 0.5 and table[lr][3] > 0.5 for lr in table)
    # At the smallest learning rate the plain network is ahead.
    assert table[0.01][0] > table[0.01][2]
    assert re.search(rf"without BN: every seed trains for learning rates 0.01 to {max(trains['plain']):g}; ", text)
    assert re.search(rf"with BN: every seed trains for learning rates 0.01 to {max(trains['bn']):g}; ", text)
    assert f"{max(trains['bn']) / max(trains['plain']):g}" in pasted
    best_bn, best_plain = max(row[2] for row in table.values()), max(row[0] for row in table.values())
    assert percent(best_bn) in pasted and percent(best_plain) in pasted
    close = abs(best_bn - best_plain) < 0.02
    assert ("close" if close else "higher with batch normalization" if best_bn > best_plain
            else "higher without batch normalization") in pasted


def test_initialization_sweep(text, pasted):
    spread = {float(scale): (float(plain), float(bn)) for scale, plain, bn in re.findall(
        r"^init_scale (\S+): std of the last hidden layer, without BN (\S+), with BN (\S+)$", text, re.M)}
    assert sorted(spread) == [0.5, 1.0, 2.0]
    # Without BN the scale of the signal is multiplied by about init_scale ** 8; with BN it does not move.
    assert 0.5 < spread[0.5][0] / (spread[1.0][0] * 0.5**8) < 2
    assert 0.5 < spread[2.0][0] / (spread[1.0][0] * 2.0**8) < 2
    assert spread[0.5][1] == spread[1.0][1] == spread[2.0][1]
    assert f"{spread[0.5][0]:.2g}" in pasted and f"{spread[2.0][0]:.3g}" in pasted
    table = sweep_rows(text, "init_scale")
    assert sorted(table) == [0.1, 0.3, 0.5, 1.0, 2.0, 3.0, 10.0]
    # The plain network trains near He initialization only; with BN every scale trains.
    plain_trains = [scale for scale, row in table.items() if row[1] > 0.5]
    assert 1.0 in plain_trains and 0.1 not in plain_trains and 10.0 not in plain_trains
    assert all(row[3] > 0.5 for row in table.values())
    # With BN, large initial weights act like a smaller learning rate: accuracy falls from 1 upwards,
    # and a scale below 1 does better than He initialization.
    bn_means = [table[scale][2] for scale in (1.0, 2.0, 3.0, 10.0)]
    assert bn_means == sorted(bn_means, reverse=True)
    assert max(table[scale][2] for scale in (0.1, 0.3, 0.5)) > table[1.0][2]
    assert percent(min(row[3] for row in table.values())) in pasted


def test_loss_landscape_along_the_gradient(text, pasted):
    pair = rf"\|\s+({NUMBER})\s+({NUMBER})\s*"
    rows = {name: tuple(map(float, values)) for name, *values in re.findall(
        rf"^\s*(without BN|with BN) {pair}{pair}{pair}{pair}$", text, re.M)}
    assert set(rows) == {"without BN", "with BN"}
    plain, bn = rows["without BN"], rows["with BN"]
    # Much smoother with BN: the median loss variation and gradient change are several times smaller.
    assert plain[0] > 3 * bn[0] and plain[2] > 3 * bn[2]
    for value in (f"{plain[0]:.2f}", f"{bn[0]:.2f}", f"{plain[2]:.1f}", f"{bn[2]:.1f}"):
        assert value in pasted
    # The gradient norm and the effective beta-smoothness are reported beside them, and the verdict follows
    # the ratio of the medians of beta (printed rounded, so a ratio near a threshold is left alone).
    # (The table prints three decimals and the text two, so the text's value is compared within rounding.)
    shown = [float(p) for p in pasted if re.fullmatch(NUMBER, p)]
    for value in (plain[4], bn[4], plain[6], bn[6]):
        assert any(abs(number - value) <= 0.0051 for number in shown), value
    beta_ratio = plain[6] / bn[6]
    if beta_ratio > 1.25:
        assert any("is smaller with batch normalization too" in p for p in pasted)
    elif beta_ratio < 1 / 1.25:
        assert any("is larger with batch normalization" in p for p in pasted)
    assert re.search(r"^\d+ probes per version: every 3 steps of the first 3 epochs, 3 seeds", text, re.M)


def test_batch_statistics_are_noise(text, pasted):
    rows = re.findall(rf"^\s*(\d+) \|\s+({NUMBER})\s+({NUMBER}) \|\s+({NUMBER}) \|\s+({NUMBER})$", text, re.M)
    table = {int(size): tuple(map(float, values)) for size, *values in rows}
    assert sorted(table) == [2, 4, 8, 16, 32, 64, 128, 256]
    for size, (measured, formula, _, _) in table.items():
        assert abs(measured - formula) <= 0.1 * formula, size      # the spread of the batch mean follows 1/sqrt(B)
    assert table[2][3] > table[64][3] > 0                           # training mode changes predictions
    assert f"{table[64][0]:.2f}" in pasted and f"{table[64][2]:.2f}" in pasted
    assert percent(table[64][3]) in pasted and percent(table[2][3]) in pasted


def test_the_chapter_has_its_figures_and_exercises(built_book):
    html = (built_book / "html" / "book" / "normalization" / "batch_norm.html").read_text()
    figures = BeautifulSoup(html, "html.parser").select("div.cell_output img")
    assert len(figures) >= 4 and all(figure.get("alt") for figure in figures)
    assert "arxiv.org/abs/1805.11604" in html
    assert "exercises/batch_norm/batch_norm.ipynb" in html and "colab.research.google.com" in html


def test_conventions_page_computes_both_layouts(built_book):
    text = printed(built_book, "book/conventions")
    assert "rows convention equals PyTorch: True" in text
    assert "columns convention equals its transpose: True" in text


def test_only_the_book_is_published(built_book):
    html = built_book / "html"
    assert (html / "book" / "intro.html").is_file()
    for folder in ("solutions", "exercises", "tests", "autograder", "grading"):
        assert not (html / folder).exists()
    for page in html.rglob("*.html"):
        assert "BEGIN SOLUTION" not in page.read_text(), page
