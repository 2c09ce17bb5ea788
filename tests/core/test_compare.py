"""One comparison for every kind of result, and the clues a wrong result gets when no mistake is named."""

import math

import numpy as np
import pytest
import torch

from autograder.core.compare import ArrayRules, compare, compare_outputs
from autograder.core.hints import hint
from autograder.core.tolerances import declare

declare("op")  # the operation these tests compare, as a spec declares it

X = torch.tensor([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5], [2.0, 2.5, -3.0]])


@pytest.mark.parametrize("actual, words", [
    (math.sqrt(2) * X, "off by a constant factor of 1.41 ≈ √2"),
    (X / 2, "off by a constant factor of 0.5 ≈ 1/2"),
    (3.7 * X, "off by a constant factor of 3.7."),
    (X + 0.25, "off by a constant 0.25"),
    (-X, "the opposite sign"),
    (X.T, "the transpose of the expected one"),
    (torch.cat([X[:1], X[1:] * 1.3]), "right for index 0 of axis 0 and wrong for the others"),
    (torch.cat([X[:, :2], X[:, 2:] + torch.tensor([[1.0], [2.0], [3.0]])], dim=1), "right for index 0, 1 of axis 1"),
])
def test_the_shape_of_a_difference_gives_a_clue(actual, words):
    assert words in hint(actual, X)


def test_no_clue_for_an_unrelated_result_or_other_shapes():
    assert hint(torch.randn(3, 3, generator=torch.Generator().manual_seed(1)), X) is None
    assert hint(X[:2], X) is None
    assert hint([1, 2], X) is None


def test_numpy_results_get_clues_too():
    assert "factor of 2" in hint(2 * X.numpy(), X.numpy())


def test_tensors_arrays_numbers_and_none_each_compare_their_own_way():
    assert compare("the output", X.clone(), X, "op") is None
    assert "dtype torch.float64" in compare("the output", X.double(), X, "op")
    assert compare("the scale", X.numpy().astype(np.float64), X.numpy().astype(np.float64), "op") is None
    assert "is a torch.Tensor; this exercise is in NumPy" in compare("the scale", X.double(), X.numpy().astype(np.float64), "op")
    assert compare("the loss", torch.tensor(2.0), 2.0, "op") is None
    assert "differs from the reference" in compare("the loss", 2.5, 2.0, "op")
    assert "expected a number" in compare("the loss", "2.0", 2.0, "op")
    assert compare("the weights", None, None, "op") is None
    assert compare("the weights", X, None, "op") == "the weights should be None."
    with pytest.raises(TypeError):
        compare("the output", X, {"a": 1}, "op")


def test_a_tuple_is_compared_part_by_part_with_its_names():
    expected = (X, X.sum(0))
    assert compare_outputs((X, X.sum(0)), expected, "op", ("mean", "total")) == []
    (problem,) = compare_outputs((X, X.sum(1)), expected, "op", ("mean", "total"))
    assert problem.startswith("total (returned value 1) differs from the reference")
    assert compare_outputs(X, expected, "op", ("mean", "total")) == [
        "the function returns a Tensor; expected a tuple (mean, total)."]
    assert "did you forget a `return`" in compare_outputs(None, expected, "op", ("mean", "total"))[0]


def test_an_all_zero_output_is_called_so_not_a_factor_of_zero():
    assert hint(torch.zeros_like(X), X) == "the output is all zeros."
    assert hint(np.zeros((3, 3)), X.numpy()) == "the output is all zeros."


@pytest.mark.parametrize("actual", [
    torch.tensor([1.0, 1e30, 3.0]),  # a number where the reference has +inf
    torch.tensor([1.0, -math.inf, 3.0]),  # the other infinity
])
def test_an_infinity_is_matched_only_by_the_same_infinity(actual):
    expected = torch.tensor([1.0, math.inf, 3.0])
    problem = compare("the output", actual, expected, "op")
    assert problem.startswith("the output differs from the reference in 1 of 3 elements"), problem
    assert "at index (1,)" in problem
    assert compare("the output", expected.clone(), expected, "op") is None
    assert "differs from the reference" in compare("the loss", -math.inf, math.inf, "op")
    assert "differs from the reference" in compare("the loss", 1e300, math.inf, "op")
    assert compare("the loss", math.inf, math.inf, "op") is None


def test_nan_on_both_sides_agrees_and_nan_on_one_side_does_not():
    expected = torch.tensor([1.0, math.nan, 3.0])
    assert compare("the output", expected.clone(), expected, "op") is None
    assert "numbers where the reference has NaN" in compare("the output", torch.tensor([1.0, 2.0, 3.0]), expected, "op")
    assert "1 NaN value(s) where the reference has numbers, the first at index (0,)" in compare(
        "the output", torch.tensor([math.nan, math.nan, 3.0]), expected, "op")


def test_a_numpy_exercise_words_a_wrong_shape_or_dtype_with_its_own_rules():
    rules = ArrayRules(shape=lambda expected: "one probability per row", dtype="return float64 probabilities")
    expected = np.zeros(4)
    assert compare("the output", np.zeros(3), expected, "op", rules) == (
        "the output has shape (3,), expected (4,): one probability per row.")
    assert compare_outputs(np.zeros(4, np.float32), expected, "op", array_rules=rules) == [
        "the output has dtype float32, expected float64: return float64 probabilities."]
    assert compare("the output", np.zeros(3), expected, "op", ArrayRules()) == "the output has shape (3,), expected (4,)."
