"""The normalization-layers chapter reprints the worked examples' numbers and runs the batch-size experiment;
the batch-norm chapter prints the accuracies of a model left in training mode."""

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from conftest import ROOT
from helpers import printed


CHAPTER = "book/normalization/normalization_layers"


def glued(built, chapter) -> list[str]:
    """The values that glue pasted into the text of a chapter, in order."""
    page = BeautifulSoup((built / "html" / f"{chapter}.html").read_text(), "html.parser")
    return [span.get_text() for span in page.select("span.pasted-text")]


def test_layer_norm_example_prints_the_known_numbers(built_book):
    text = printed(built_book, CHAPTER)
    # nn.LayerNorm(normalized_shape=3) on the (2, 4, 3) array of tokens.
    assert "tensor([[[-1.2247,  1.2247,  0.0000],\n         [-1.3728,  0.9806,  0.3922]," in text
    assert "[-1.4142,  0.7071,  0.7071]]], grad_fn=<NativeLayerNormBackward0>)" in text
    # Mean then variance of each of the 8 tokens.
    means_and_vars = [
        "2.0", "0.6666667", "2.3333333", "2.888889", "1.6666666", "2.888889", "2.0", "0.0",
        "1.0", "0.0", "2.6666667", "0.88888884", "1.0", "2.6666667", "3.3333333", "5.555556",
    ]
    assert "\n".join(means_and_vars) + "\n" in text
    # The NumPy recomputation, first lines of each sequence.
    assert "[[[-1.2247357   1.2247357   0.        ]\n  [-1.3728105   0.980579    0.3922316 ]" in text
    assert " [[ 0.          0.          0.        ]\n  [-0.70710295 -0.70710295  1.4142056 ]" in text
    assert "[-1.4142123   0.7071062   0.7071062 ]]]" in text


def test_group_norm_example_prints_the_known_numbers(built_book):
    text = printed(built_book, CHAPTER)
    # nn.GroupNorm(num_groups=2, num_channels=4) on the (2, 4, 2, 2) array.
    assert "tensor([[[[-0.4746, -1.2339],\n          [-1.2339,  0.2847]]," in text
    assert "[-0.4045,  0.6742]]]], grad_fn=<NativeGroupNormBackward0>)" in text
    # Mean then variance of each (example, group) pair.
    assert "1.625\n1.734375\n3.75\n9.9375\n1.625\n2.984375\n2.5\n13.75\n" in text
    # The NumPy recomputation, first lines of each example, and its last value.
    assert "[[[[-0.4745776  -1.2339017 ]\n   [-1.2339017   0.28474656]]" in text
    assert " [[[-0.3617867   0.21707201]\n   [-1.5195041  -0.9406454 ]]" in text
    assert "[-0.40451977  0.67419964]]]]" in text
    assert text.count("np.allclose: True") == 2


def test_layers_match_their_definitions(built_book):
    text = printed(built_book, CHAPTER)
    for layer in ("BatchNorm2d(6)", "LayerNorm([6, 3, 3])", "InstanceNorm2d(6)", "GroupNorm(3, 6)"):
        assert re.search(re.escape(layer) + r", axes .* equal: True", text), layer
    assert "gradient = that of batch norm scaled by r: True" in text
    assert "r_max = 1, d_max = 0 is batch norm: True" in text
    assert "torch.allclose: True" in text          # RMSNorm by hand = F.rms_norm


def test_batch_size_experiment_prints_its_table(built_book):
    text = printed(built_book, CHAPTER)
    assert re.search(r"batch size\s+BatchNorm\s+GroupNorm\s+BN - GN", text)
    assert "300 steps, mean ± std over 3 seeds" in text
    table = {}
    for batch_size in (2, 4, 8, 16, 32, 64):
        row = re.search(rf"^\s+{batch_size}\s+([01]\.\d{{3}}) ± (0\.\d{{3}})\s+([01]\.\d{{3}}) ± (0\.\d{{3}})"
                        rf"\s+([-+]\d\.\d{{3}}) ± (0\.\d{{3}})$", text, re.M)
        assert row, batch_size
        table[batch_size] = tuple(map(float, row.groups()))
    # Batch norm fails at batch size 2, far below group norm trained from the same seeds.
    assert table[2][0] < table[2][2] - 0.1
    # From some batch size on it is no worse than group norm within the spread, and the text says from which.
    no_worse = re.search(r"BatchNorm is within one standard deviation of GroupNorm, or above, from batch size (\d+) on",
                         text)
    assert no_worse
    start = int(no_worse.group(1))
    assert start > 2 and all(table[n][4] + table[n][5] >= -1e-3 for n in table if n >= start)
    pasted = glued(built_book, CHAPTER)
    assert f"{table[2][0]:.3f}" in pasted and f"{table[2][2]:.3f}" in pasted
    assert str(start) in pasted
    # The group-norm column's range, and the examples seen by the smallest and largest batches.
    group = [row[2] for row in table.values()]
    assert f"{min(group):.3f}" in pasted and f"{max(group):.3f}" in pasted
    assert "600" in pasted and "19200" in pasted


def test_digressions_are_collapsed_and_still_computed(built_book):
    text = printed(built_book, CHAPTER)
    assert "float32 spacing near it:" in text
    assert "same as one reshape: True" in text
    html = (built_book / "html" / f"{CHAPTER}.html").read_text()
    page = BeautifulSoup(html, "html.parser")
    titles = [details.get_text(" ", strip=True) for details in page.select("details.sd-dropdown")]
    assert any("NumPy 1 and NumPy 2" in title for title in titles), titles
    assert any("contiguous channels" in title for title in titles), titles
    assert "exercises/normalization_layers/normalization_layers.ipynb" in html


def test_batch_renorm_defines_the_batch_standard_deviation_without_itself():
    source = (ROOT / f"{CHAPTER}.md").read_text()
    definition = re.search(r"\\sigma_B = (.*?)\$", source, re.S)
    assert definition and "\\sigma_B" not in definition.group(1), definition


def test_batch_norm_chapter_prints_the_eval_pitfall(built_book):
    text = printed(built_book, "book/normalization/batch_norm")
    assert re.search(r"examples per forward pass\s+eval mode\s+training mode", text)
    for batch_size in (540, 32, 8, 4, 2):
        assert re.search(rf"^\s+{batch_size}\s+0\.\d{{3}}\s+0\.\d{{3}}$", text, re.M), batch_size
    assert re.search(r"32, test set sorted by label\s+0\.\d{3}\s+0\.\d{3}", text)
    assert "Expected more than 1 value per channel when training" in text
    # A bias in front of batch normalization changes nothing.
    assert text.count("Conv2d + BatchNorm2d") == 1 and text.count("Linear + BatchNorm1d") == 1
