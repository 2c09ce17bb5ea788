"""Numeric gradients and relative errors, on functions whose gradients are known."""

import math

import pytest
import torch

from autograder.core.gradient_check import numeric_gradient, relative_error


def seeded(*shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize(
    "f, gradient",
    [
        (lambda x: x**2, lambda x, g: 2 * x * g),
        (torch.sin, lambda x, g: torch.cos(x) * g),
        (torch.exp, lambda x, g: torch.exp(x) * g),
        (lambda x: x, lambda x, g: g),  # f returns its argument: the copies keep it safe
    ],
    ids=["square", "sin", "exp", "identity"],
)
def test_elementwise_functions(f, gradient):
    x, grad_output = seeded(3, 4), seeded(3, 4, seed=1)
    estimate = numeric_gradient(f, x, grad_output)
    assert relative_error(estimate, gradient(x, grad_output)) < 1e-7


def test_an_output_of_another_shape_gives_the_vector_jacobian_product():
    matrix, x, grad_output = seeded(5, 3), seeded(3), seeded(5, seed=2)
    estimate = numeric_gradient(lambda v: matrix @ v, x, grad_output)
    assert relative_error(estimate, matrix.T @ grad_output) < 1e-8


def test_a_function_that_mixes_elements_matches_autograd():
    x, grad_output = seeded(2, 6), seeded(2, 6, seed=3)
    leaf = x.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(torch.softmax(leaf, dim=1), leaf, grad_output)
    assert relative_error(numeric_gradient(lambda t: torch.softmax(t, dim=1), x, grad_output), expected) < 1e-6


def test_the_input_is_left_unchanged_and_the_result_is_shaped_like_it():
    x = seeded(4, 3).T  # not contiguous
    before = x.clone()
    estimate = numeric_gradient(lambda t: 3 * t, x, torch.ones(3, 4, dtype=torch.float64))
    assert torch.equal(x, before)
    assert estimate.shape == x.shape and estimate.dtype == x.dtype
    assert relative_error(estimate, torch.full((3, 4), 3.0, dtype=torch.float64)) < 1e-9


def test_relative_error_values():
    assert relative_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])) == 0
    assert relative_error(torch.tensor([1.0]), torch.tensor([3.0])) == pytest.approx(0.5)  # 2 / (1 + 3)
    assert relative_error(torch.tensor([1.0, -1.0]), torch.tensor([1.0, 1.0])) == pytest.approx(1.0)
    # The greatest elementwise error counts, whatever the scale of the element.
    assert relative_error(torch.tensor([1e6, 1e-6]), torch.tensor([1e6, 2e-6])) == pytest.approx(1 / 3)


def test_relative_error_edge_cases():
    assert relative_error(torch.zeros(3), torch.zeros(3)) == 0  # 0 / 0 counts as equal
    assert relative_error(torch.zeros(0), torch.zeros(0)) == 0
    assert relative_error(torch.tensor(2.0), torch.tensor(2.0)) == 0
    assert math.isnan(relative_error(torch.tensor([1.0, math.nan]), torch.ones(2)))
    assert math.isnan(relative_error(torch.tensor([math.inf]), torch.tensor([math.inf])))
    with pytest.raises(ValueError, match="equal shapes"):
        relative_error(torch.zeros(3), torch.zeros(3, 1))


def test_relative_error_compares_in_float64():
    a = torch.tensor([1.0], dtype=torch.float32)
    assert relative_error(a, a.double() + 1e-12) == pytest.approx(5e-13, rel=1e-3)
