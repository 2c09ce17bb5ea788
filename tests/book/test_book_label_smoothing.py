"""The label-smoothing chapter's measurements, and the claims its text makes about them.

Nothing here hard-codes a measured value. The tests read what the built page
prints and the numbers the prose quotes through myst-nb's glue, and check what
the text says of them: that the loss computed from its two terms is PyTorch's,
that smoothing gains more than the standard error of the paired difference,
that 0.1 calibrates and 0.3 makes the network under-confident, and that the
logits settle at the gap the smoothed target asks for.
"""

import math
import re

import pytest

from conftest import ROOT
from helpers import chapter_page, printed

CHAPTER = "book/regularization/label_smoothing"
GLUE_ROLE = re.compile(r"\{glue:text\}`([^`:]+)(?::[^`]*)?`")
CODE_CELL = re.compile(r"^```\{code-cell\}.*?^```$", re.S | re.M)


@pytest.fixture(scope="module")
def glued(built_book):
    """name -> the number the prose shows for each {glue:text} role of the chapter (a percentage as a fraction)."""
    prose = CODE_CELL.sub("", (ROOT / f"{CHAPTER}.md").read_text())
    names = GLUE_ROLE.findall(prose)
    shown = [span.get_text() for span in chapter_page(built_book, CHAPTER).select("span.pasted-text")]
    assert len(shown) == len(names), "a glue role of the chapter did not render"
    values = {}
    for name, text in zip(names, shown):
        number = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
        assert values.setdefault(name, number) == number, f"{name!r} shows two different values"
    return values


def test_the_loss_from_its_two_terms_is_pytorchs(built_book):
    pairs = re.findall(r"from the two terms ([0-9.]+), F\.cross_entropy ([0-9.]+)", printed(built_book, CHAPTER))
    assert len(pairs) == 3
    assert all(abs(float(ours) - float(pytorch)) <= 2e-6 for ours, pytorch in pairs), pairs


def test_the_smoothed_loss_is_smallest_where_the_prediction_is_the_target(glued):
    q_label, q_other = glued["q_label"], glued["q_other"]
    assert glued["best_gap"] == pytest.approx(math.log(q_label / q_other), abs=0.01)
    classes = round((1 - q_label) / q_other) + 1
    entropy = -(q_label * math.log(q_label) + (classes - 1) * q_other * math.log(q_other))
    assert glued["smallest_loss"] == pytest.approx(entropy, abs=2e-3)
    assert 0 < glued["loss_at_largest_gap"] < 1e-3  # without smoothing, still above 0 far out


def test_smoothing_gains_more_than_the_standard_error_of_the_paired_difference(glued):
    for key in ("01", "03"):
        assert glued[f"gain_{key}"] > glued[f"gain_se_{key}"] > 0, key
        assert glued[f"test_acc_{key}"] > glued["test_acc_00"], key
    # More smoothing helps more here, and learns fewer of the wrong labels.
    assert glued["gain_03"] > glued["gain_01"]
    assert glued["learned_wrong_00"] > glued["learned_wrong_01"] > glued["learned_wrong_03"]
    assert glued["wins_01"] <= glued["n_seeds"] and glued["wins_03"] <= glued["n_seeds"]


def test_smoothing_01_calibrates_and_03_makes_the_network_under_confident(glued):
    assert glued["confidence_00"] > glued["test_acc_00"]  # over-confident without smoothing
    assert glued["ece_01"] < glued["ece_00"]
    assert glued["ece_change_01"] + glued["ece_change_se_01"] < 0  # lower beyond its standard error
    assert glued["confidence_01"] < glued["test_acc_01"]  # "a little below the accuracy"
    assert glued["confidence_03"] < glued["test_acc_03"]  # under-confident
    assert glued["ece_03"] > glued["ece_01"]  # the best accuracy is not the best calibration


def test_the_logits_settle_at_the_gap_the_target_asks_for(glued):
    assert glued["gap_01"] == pytest.approx(glued["optimal_gap_01"], rel=0.02)
    assert glued["gap_00"] > glued["gap_01"] > glued["gap_03"]
    assert glued["gap_03"] < glued["optimal_gap_03"]  # the wrong labels keep it from the optimum
    assert glued["spread_00"] > glued["spread_01"] > glued["spread_03"]


def test_the_chapter_has_its_figures_and_exercise(built_book):
    html = (built_book / "html" / f"{CHAPTER}.html").read_text()
    assert html.count("<img") >= 2
    assert "exercises/label_smoothing/label_smoothing.ipynb" in html and "colab.research.google.com" in html
