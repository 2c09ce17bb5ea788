"""The regularization chapter prints its measurements: overfitting gap, exact zeros, mask statistics, the table.

The measured values are not hard-coded: the regular expressions check that each
line was printed with numbers in it, and the assertions check what must hold
whatever the numbers are (for example, that L2 never produces an exact zero).
"""

import re

import pytest

from helpers import printed

pytestmark = pytest.mark.slow

CHAPTER = "book/regularization/regularization"
NUMBER = r"[-+]?\d+\.\d+"

TABLE_ROWS = (
    "no regularization",
    "L1 penalty",
    "L2 penalty",
    "weight decay (AdamW)",
    "dropout",
    "data augmentation",
    "early stopping, val. loss",
    "early stopping, val. accuracy",
)


@pytest.fixture(scope="module")
def text(built_book):
    return printed(built_book, CHAPTER)


def test_overfitting_gap_is_printed(text):
    train = re.search(rf"after 500 steps: training loss ({NUMBER}), training accuracy ({NUMBER})", text)
    val = re.search(rf"after 500 steps: validation loss ({NUMBER}), validation accuracy ({NUMBER})", text)
    gap = re.search(rf"gap between training and validation accuracy: ({NUMBER})", text)
    assert train and val and gap, "the overfitting run's final losses, accuracies and gap are not printed"
    assert float(train.group(2)) > float(val.group(2)), "the demonstration should train past the validation accuracy"
    assert float(gap.group(1)) == pytest.approx(float(train.group(2)) - float(val.group(2)), abs=2e-3)
    assert re.search(rf"lowest validation loss: {NUMBER} at step \d+", text)


def test_exact_zeros_per_lambda_are_printed(text):
    assert "exact zeros, L1 | exact zeros, L2" in text
    rows = re.findall(rf"^\s*({NUMBER}) \|\s+(\d+) \|\s+(\d+) \|\s+({NUMBER})$", text, flags=re.M)
    assert len(rows) >= 5, "the table of exact zeros per lambda is missing"
    l1_zeros = [int(row[1]) for row in rows]
    l2_zeros = [int(row[2]) for row in rows]
    assert max(l1_zeros) > 0 and all(zeros == 0 for zeros in l2_zeros)
    # Along a path from strong to weak penalties the L1 zeros are reached at the strong end.
    assert l1_zeros[0] == max(l1_zeros)
    # In PyTorch: proximal gradient descent finds the lasso's zeros, gradient descent on |w| none.
    lasso = re.search(r"exact zeros, coordinate descent \(lasso_path\): (\d+)", text)
    prox = re.search(r"exact zeros, proximal gradient descent:\s+(\d+)", text)
    sub = re.search(r"exact zeros, gradient descent on the penalty: (\d+)", text)
    assert lasso and prox and sub
    assert lasso.group(1) == prox.group(1) and int(sub.group(1)) == 0


def test_weight_decay_lines_are_printed(text):
    for label in ("penalty vs weight_decay", "penalty vs by hand"):
        match = re.search(rf"largest difference, {label}:\s+(\S+)", text)
        assert match, label
        assert float(match.group(1)) < 1e-12
    for label in ("Adam, L2 in the loss, λ=0.01", "Adam(weight_decay=0.01)", "AdamW(weight_decay=0.01)"):
        assert re.search(rf"{re.escape(label)}\s+\[\s*{NUMBER}\s+{NUMBER}\s*\]", text), label


def test_dropout_lines_are_printed(text):
    assert "F.dropout equals mask * x / (1 - p): True" in text
    assert re.search(r"train mode, training =\s*True -> tensor", text)
    assert re.search(r"eval mode,  training = False -> tensor\(\[1\., 1\., 1\., 1\., 1\., 1\., 1\., 1\.\]\)", text)
    assert "model.eval(): two passes on the same images agree: True" in text
    assert "model.train(): two passes on the same images agree: False" in text


def test_dropout_mask_statistics_are_printed(text):
    pattern = (rf"p = ({NUMBER}): dropped (\d+) of (\d+) = ({NUMBER}), 95% CI \[({NUMBER}), ({NUMBER})\], "
               rf"contains p: (True|False); the CI of a single mask contains p for ({NUMBER})% of \d+ masks")
    lines = re.findall(pattern, text)
    assert len(lines) >= 3, "the dropout mask statistics are missing"
    for p, dropped, total, fraction, low, high, _, coverage in lines:
        assert float(fraction) == pytest.approx(int(dropped) / int(total), abs=1e-4)
        assert float(low) <= float(fraction) <= float(high)
        assert 0 <= float(coverage) <= 100


def test_early_stopping_lines_are_printed(text):
    for monitor in ("val_loss", "val_acc"):
        match = re.search(rf"monitor {monitor}: best at step (\d+), stopped at step (\d+); "
                          rf"restored weights: validation accuracy {NUMBER}", text)
        assert match, monitor
        assert int(match.group(1)) < int(match.group(2))


def test_comparison_table_is_printed(text):
    assert re.search(r"method\s+\| val\. acc\. \| test acc\. ± std \| test − none ± std", text)
    for name in TABLE_ROWS:
        row = re.search(rf"^{re.escape(name)}\s+\|\s+({NUMBER}) \| ({NUMBER}) ± ({NUMBER})\s+\|\s+"
                        rf"({NUMBER}) ± ({NUMBER}) \| (?:{NUMBER} ?)+\|\s+(\d+)$", text, flags=re.M)
        assert row, f"the comparison table has no row for {name!r}"
        assert 0 < float(row.group(2)) <= 1 and 0 < int(row.group(6)) <= 500
    assert re.search(r"means and sample standard deviations over seeds \(0, 1, 2\)", text)
