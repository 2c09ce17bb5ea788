"""The BatchNorm backward checks: correct answers pass, autograd is refused, each known mistake is caught and named."""

import re

import pytest
import torch
import torch.nn.functional as F

from autograder.batch_norm_backward import (
    VARIANTS,
    _batch_norm_backward,
    _telling_variants,
    check_batch_norm_backward,
    check_batch_norm_backward_numeric,
    make_arguments,
)

correct = _batch_norm_backward

EXAMPLE = torch.tensor(
    [[[[1, 0], [0, 2]], [[3, 4], [1, 2]], [[-2, 9], [7, 5]], [[2, 3], [4, 2]]],
     [[[1, 2], [-1, 0]], [[1, 2], [3, 5]], [[4, 7], [-6, 4]], [[1, 4], [1, 5]]]],
    dtype=torch.float32,
)


def staged(grad_output, input, weight, eps=1e-5):
    """Another correct answer, the chain rule step by step, with other rounding."""
    dims = [d for d in range(input.dim()) if d != 1]
    m = input.numel() // input.shape[1]
    centered = input - input.mean(dims, keepdim=True)
    inv_std = 1 / torch.sqrt((centered**2).mean(dims, keepdim=True) + eps)
    grad_x_hat = grad_output * weight.reshape([1, -1] + [1] * (input.dim() - 2))
    grad_var = (grad_x_hat * centered).sum(dims, keepdim=True) * -0.5 * inv_std**3
    grad_mean = -(grad_x_hat * inv_std).sum(dims, keepdim=True)
    grad_input = grad_x_hat * inv_std + grad_var * 2 * centered / m + grad_mean / m
    return grad_input, (grad_output * centered * inv_std).sum(dims), grad_output.sum(dims)


@pytest.mark.parametrize("answer", [correct, staged], ids=["mean_form", "staged"])
@pytest.mark.parametrize("shape", [(7, 5), (3, 2, 5, 6), (1, 3, 2, 2)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_correct_implementation_passes(answer, shape, dtype):
    check_batch_norm_backward(answer, shape=shape, dtype=dtype)
    check_batch_norm_backward(answer, shape=shape, dtype=dtype, zero_weight=True, eps=0.5)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 2, 2)])
def test_a_correct_implementation_passes_the_numeric_check(shape):
    report = check_batch_norm_backward_numeric(correct, shape=shape)
    assert "relative errors against central differences: grad_input" in str(report)
    check_batch_norm_backward_numeric(staged, shape=shape, zero_weight=True)


def test_the_seed_example_passes():
    check_batch_norm_backward(correct, input=EXAMPLE)


def test_a_large_float32_batch_is_compared_with_exact_gradients():
    # PyTorch's own float32 kernel is off by several times the tolerance here;
    # the reference is computed in float64, so a correct float32 answer passes.
    check_batch_norm_backward(correct, shape=(20000, 2), seed=10)


# Each planted mistake and the arguments of a visible test that must catch it.
CAUGHT_BY = {
    "the mean and the variance are treated as constants": dict(shape=(5, 3)),
    "the path through the mean is missing": dict(shape=(5, 3)),
    "the path through the variance is missing": dict(shape=(5, 3)),
    "the variance is the unbiased one": dict(shape=(5, 3)),
    "grad_weight is summed over the batch axis only": dict(input=EXAMPLE),
    "grad_weight is not summed": dict(input=EXAMPLE),
    "grad_bias is summed over the batch axis only": dict(input=EXAMPLE),
    "grad_bias is summed over every axis": dict(input=EXAMPLE),
    "grad_bias is not summed": dict(input=EXAMPLE),
    # Hidden test batch_norm_backward_eps: with the default eps, float32 cannot tell.
    "epsilon is added outside the square root": dict(shape=(6, 3, 2, 2), eps=0.5, scale=0.3, seed=13),
}


def prefix_of(variant):
    return next(p for p in CAUGHT_BY if variant.mistake.startswith(p))


def test_every_variant_has_a_test():
    assert sorted(prefix_of(v) for v in VARIANTS) == sorted(CAUGHT_BY)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.mistake[:40])
def test_each_wrong_variant_is_caught_and_named(variant):
    with pytest.raises(AssertionError) as raised:
        check_batch_norm_backward(variant.function, **CAUGHT_BY[prefix_of(variant)])
    assert f"Likely mistake: {variant.mistake}" in str(raised.value)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.mistake[:40])
def test_each_wrong_variant_fails_the_numeric_check_and_is_named(variant):
    # The visible numeric test: float64 tells even eps outside the root with the default eps.
    with pytest.raises(AssertionError) as raised:
        check_batch_norm_backward_numeric(variant.function, shape=(4, 3, 2, 2))
    message = str(raised.value)
    assert "against central differences (h=1e-05)" in message
    assert f"Likely mistake: {variant.mistake}" in message


def test_the_numeric_message_reports_the_relative_error():
    constants = next(v for v in VARIANTS if v.mistake.startswith("the mean and the variance"))
    with pytest.raises(AssertionError) as raised:
        check_batch_norm_backward_numeric(constants.function, shape=(4, 3, 2, 2))
    message = str(raised.value)
    assert "- grad_input (returned value 0): relative error 1.0e+00 against the numeric gradient" in message
    assert "a correct gradient gives about 1e-07 or less in float64; this check allows 1e-06" in message
    assert "grad_weight (returned value 1)" not in message  # only the wrong part is reported


def test_a_mistake_the_arguments_cannot_show_is_not_named():
    # Summing grad_weight over the batch axis only is right for (N, C); the
    # unbiased variance is within the float32 tolerance on a large batch.
    names = [v.mistake for v in _telling_variants(make_arguments(shape=(20000, 2)))]
    assert not any(n.startswith("grad_weight is summed over the batch") for n in names)
    assert not any(n.startswith("the variance is the unbiased one") for n in names)
    names = [v.mistake for v in _telling_variants(make_arguments(shape=(20000, 2), dtype=torch.float64))]
    assert any(n.startswith("the variance is the unbiased one") for n in names)


def with_autograd(grad_output, input, weight, eps=1e-5):
    leaf = input.detach().requires_grad_(True)
    output = F.batch_norm(leaf, None, None, weight, None, training=True, eps=eps)
    (grad_input,) = torch.autograd.grad(output, leaf, grad_output)
    return grad_input, *correct(grad_output, input, weight, eps)[1:]


def with_backward(grad_output, input, weight, eps=1e-5):
    leaf = input.detach().requires_grad_(True)
    F.batch_norm(leaf, None, None, weight, None, training=True, eps=eps).backward(grad_output)
    return leaf.grad, *correct(grad_output, input, weight, eps)[1:]


def with_vjp(grad_output, input, weight, eps=1e-5):
    forward = lambda x: F.batch_norm(x, None, None, weight, None, training=True, eps=eps)  # noqa: E731
    (grad_input,) = torch.func.vjp(forward, input)[1](grad_output)
    return grad_input, *correct(grad_output, input, weight, eps)[1:]


def with_kernel(grad_output, input, weight, eps=1e-5):
    dims = [d for d in range(input.dim()) if d != 1]
    mean, var = input.mean(dims), input.var(dims, unbiased=False)
    return torch.ops.aten.native_batch_norm_backward(
        grad_output, input, weight, None, None, mean, 1 / torch.sqrt(var + eps), True, eps, [True, True, True]
    )


@pytest.mark.parametrize(
    "answer, called",
    [
        (with_autograd, "autograd (torch.autograd.grad)"),
        (with_backward, "autograd (Tensor.backward)"),
        (with_vjp, "autograd (torch.autograd.grad)"),
        (with_kernel, "PyTorch's BatchNorm backward kernel"),
    ],
    ids=["autograd.grad", "backward", "func.vjp", "aten_kernel"],
)
def test_autograd_is_refused(answer, called):
    for check in (check_batch_norm_backward, check_batch_norm_backward_numeric):
        with pytest.raises(AssertionError, match=re.escape(f"it calls {called};")):
            check(answer, shape=(4, 3))


def test_a_result_with_an_autograd_graph_is_refused():
    def graph_kept(grad_output, input, weight, eps=1e-5):
        scale = torch.ones_like(weight, requires_grad=True)
        grad_input, grad_weight, grad_bias = correct(grad_output, input, weight, eps)
        return grad_input, grad_weight * scale, grad_bias

    for check in (check_batch_norm_backward, check_batch_norm_backward_numeric):
        with pytest.raises(AssertionError, match="raised UsesAutograd: grad_weight is part of an autograd graph"):
            check(graph_kept, shape=(4, 3))


def test_changing_an_argument_in_place_is_caught():
    def in_place(grad_output, input, weight, eps=1e-5):
        grad_output.mul_(weight)  # grad_x_hat, written over the caller's tensor
        return correct(grad_output / weight, input, weight, eps)

    with pytest.raises(AssertionError, match="grad_output after the call differs"):
        check_batch_norm_backward(in_place, shape=(4, 3))


def test_a_wrong_structure_is_reported():
    def one_value(grad_output, input, weight, eps=1e-5):
        return correct(grad_output, input, weight, eps)[0]

    for check in (check_batch_norm_backward, check_batch_norm_backward_numeric):
        with pytest.raises(AssertionError, match=r"returns a Tensor; expected a tuple \(grad_input, grad_weight, grad_bias\)"):
            check(one_value, shape=(4, 3))


def test_a_device_bug_is_caught_on_the_simulated_gpu():
    if torch.cuda.is_available():
        pytest.skip("the simulated GPU runs only without a real one")

    def cpu_zeros(grad_output, input, weight, eps=1e-5):
        grad_input, grad_weight, grad_bias = correct(grad_output, input, weight, eps)
        return grad_input, grad_weight + torch.zeros(weight.shape[0], dtype=weight.dtype), grad_bias

    with pytest.raises(AssertionError, match="simulated GPU: it mixes devices"):
        check_batch_norm_backward(cpu_zeros, shape=(4, 3))


def test_not_implemented_yet():
    def blank(grad_output, input, weight, eps=1e-5):
        raise NotImplementedError()

    for check in (check_batch_norm_backward, check_batch_norm_backward_numeric):
        with pytest.raises(AssertionError, match="the function is not implemented yet"):
            check(blank, shape=(4, 3))
