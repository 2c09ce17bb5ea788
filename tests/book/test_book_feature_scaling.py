"""The data normalization chapter reprints the source's worked examples and measures convergence."""

import re

import pytest
from bs4 import BeautifulSoup

from helpers import printed


CHAPTER = "book/normalization/feature_scaling"

# a = np.arange(12).reshape(6, 2), scaled column by column.
MIN_MAX = """array([[0. , 0. ],
       [0.2, 0.2],
       [0.4, 0.4],
       [0.6, 0.6],
       [0.8, 0.8],
       [1. , 1. ]])"""
COLUMN_STD = "array([3.41565026, 3.41565026])"
CENTERED = """array([[-5., -5.],
       [-3., -3.],
       [-1., -1.],
       [ 1.,  1.],
       [ 3.,  3.],
       [ 5.,  5.]])"""
Z_SCORE = """array([[-1.46385011, -1.46385011],
       [-0.87831007, -0.87831007],
       [-0.29277002, -0.29277002],
       [ 0.29277002,  0.29277002],
       [ 0.87831007,  0.87831007],
       [ 1.46385011,  1.46385011]])"""
SIGMOID = """array([[0.5       , 0.73105858],
       [0.88079708, 0.95257413],
       [0.98201379, 0.99330715],
       [0.99752738, 0.99908895],
       [0.99966465, 0.99987661],
       [0.9999546 , 0.9999833 ]])"""

# a = np.arange(8).reshape(4, 2); a[1, 1] = 100.
OUTLIER = """array([[  0,   1],
       [  2, 100],
       [  4,   5],
       [  6,   7]])"""
OUTLIER_MIN_MAX = """array([[0.        , 0.        ],
       [0.33333333, 1.        ],
       [0.66666667, 0.04040404],
       [1.        , 0.06060606]])"""
OUTLIER_Z_SCORE = """array([[-1.34164079, -0.65692457],
       [-0.4472136 ,  1.72970047],
       [ 0.4472136 , -0.56049527],
       [ 1.34164079, -0.51228063]])"""


@pytest.fixture(scope="module")
def text(built_book):
    return printed(built_book, CHAPTER)


@pytest.mark.parametrize(
    "expected",
    [MIN_MAX, COLUMN_STD, CENTERED, Z_SCORE, SIGMOID, OUTLIER, OUTLIER_MIN_MAX, OUTLIER_Z_SCORE],
    ids=["min_max", "std", "centered", "z_score", "sigmoid", "outlier", "outlier_min_max", "outlier_z_score"],
)
def test_prints_the_source_numbers(text, expected):
    assert expected in text


def test_outlier_takes_the_same_share_of_the_range_under_both_affine_scalings(text):
    shares = dict(re.findall(r"(min-max|z-score): the ordinary values span (\S+) of the column's range$", text, re.M))
    assert set(shares) == {"min-max", "z-score"} and shares["min-max"] == shares["z-score"], shares


def test_train_statistics_and_inverse_transform(text):
    assert re.search(r"largest difference in the standardized test set, per column: \[[0-9. ]+\]", text)
    assert "same as the NumPy version: True" in text
    errors = re.findall(r"max abs error, (?:by hand|scikit-learn): *(\S+)", text)
    assert len(errors) == 2 and all(float(e) < 1e-12 for e in errors), errors


def test_prints_iteration_counts(text):
    assert re.search(r"convergence: relative loss gap <= 1e-06; \d+ learning rates", text)
    raw = re.search(r"^raw: best learning rate \S+, iterations to converge: (more than )?(\d+)", text, re.M)
    standardized = re.search(r"^standardized: best learning rate \S+, iterations to converge: (\d+)$", text, re.M)
    assert raw and standardized, text[-3000:]
    raw_count = int(raw.group(2)) + (1 if raw.group(1) else 0)
    assert int(standardized.group(1)) < raw_count
    closed_form = dict(re.findall(r"^(raw|standardized): iterations to converge at learning rate \S+, closed form: (\d+)$", text, re.M))
    assert set(closed_form) == {"raw", "standardized"}
    # The closed form reproduces the count measured by running gradient descent.
    assert closed_form["standardized"] == standardized.group(1)
    assert re.search(r"^whitened: best learning rate \S+, iterations to converge: \d+$", text, re.M)


def test_the_text_takes_its_numbers_from_the_cells(built_book, text):
    page = BeautifulSoup((built_book / "html" / f"{CHAPTER}.html").read_text(), "html.parser")
    pasted = [span.get_text() for span in page.select("span.pasted-text")]
    # sigmoid(4), the value above which every entry of a from 4 upwards lands, printed in SIGMOID.
    assert "0.982" in pasted and "0.98201379" in text
    standardized = re.search(r"^standardized: best learning rate \S+, iterations to converge: (\d+)$", text, re.M)
    raw = re.search(r"^raw: iterations to converge at learning rate \S+, closed form: (\d+)$", text, re.M)
    assert standardized.group(1) in pasted
    assert f"{int(raw.group(1)):,d}" in pasted
    # The closed form sits in a collapsed note, its cell in a collapsed cell.
    titles = [details.get_text(" ", strip=True) for details in page.select("details.sd-dropdown")]
    assert any("How many iterations the raw problem would need" in title for title in titles), titles
    assert "exercises/feature_scaling/feature_scaling.ipynb" in str(page)
