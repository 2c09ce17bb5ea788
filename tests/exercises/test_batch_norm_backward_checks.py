"""The BatchNorm backward checks: correct answers pass, autograd is refused, mistakes are named.

That each planted mistake is caught and named, by both checks, is proven for
every exercise by ``test_catalog.py``, from the declarations in
``autograder.batch_norm_backward``.
"""

import re

import pytest
import torch
import torch.nn.functional as F

from autograder.batch_norm_backward import MISTAKES, check_batch_norm_backward, check_batch_norm_backward_numeric
from autograder.core import mistakes as shared_mistakes
from autograder.core.devices import available_devices
from autograder.core.failure import CheckFailed, named_mistake
from conftest import ROOT
from helpers import solution_namespace

NOTEBOOK = ROOT / "solutions" / "batch_norm_backward" / "batch_norm_backward.ipynb"
SOLUTION = solution_namespace(NOTEBOOK)  # the course's own answers, not the checks' references
correct = SOLUTION["batch_norm_backward"]


def planted(mistake_id):
    """The planted function of one declared mistake."""
    return next(p for p in MISTAKES if p.mistake.id == mistake_id)

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
def test_a_correct_implementation_passes_on_every_device(answer, shape, dtype):
    report = check_batch_norm_backward(answer, shape=shape, dtype=dtype)
    assert report.devices == available_devices()
    assert report.call.startswith(f"batch_norm_backward(grad_output: {shape} {str(dtype)[6:]}")
    report = check_batch_norm_backward(answer, shape=shape, dtype=dtype, zero_weight=True, eps=0.5)
    assert report.devices == available_devices() and "eps=0.5" in report.call


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 2, 2)])
def test_a_correct_implementation_passes_the_numeric_check_and_notes_its_errors(shape):
    for answer in (correct, staged):
        report = check_batch_norm_backward_numeric(answer, shape=shape, zero_weight=answer is staged)
        assert report.devices == ["cpu"]  # central differences run in float64 on the CPU only
        (note,) = report.notes
        errors = dict(re.findall(r"(grad_\w+) ([0-9.e+-]+)", note))
        assert note.startswith("relative errors against central differences: grad_input")
        assert sorted(errors) == ["grad_bias", "grad_input", "grad_weight"]
        assert all(float(e) <= 1e-6 for e in errors.values()), note


def test_the_seed_example_passes():
    report = check_batch_norm_backward(correct, input=EXAMPLE)
    assert "input: (2, 4, 2, 2) float32" in report.call and report.devices == available_devices()


def test_a_large_float32_batch_is_compared_with_exact_gradients():
    # PyTorch's own float32 kernel is off by several times the tolerance here;
    # the reference is computed in float64, so a correct float32 answer passes.
    assert check_batch_norm_backward(correct, shape=(20000, 2), seed=10).devices == available_devices()


def test_the_numeric_message_reports_the_relative_error():
    with pytest.raises(CheckFailed) as raised:
        check_batch_norm_backward_numeric(planted("batch_norm_backward.constant_statistics").function,
                                          shape=(4, 3, 2, 2))
    message = str(raised.value)
    assert "on cpu, against central differences (h=1e-05):" in message
    assert "- grad_input (returned value 0): relative error 1.0e+00 against the numeric gradient" in message
    assert "a correct gradient gives about 1e-07 or less in float64; this check allows 1e-06" in message
    assert "grad_weight (returned value 1)" not in message  # only the wrong part is reported
    assert named_mistake(message).startswith("the mean and the variance are treated as constants")


def test_a_mistake_the_arguments_cannot_show_passes_and_is_never_named():
    # On a large batch the unbiased variance is within the float32 tolerance of
    # the biased one: that answer passes, and a wrong answer is not told it made
    # that mistake. In float64 the same batch shows it.
    unbiased = planted("unbiased_variance").function
    assert check_batch_norm_backward(unbiased, shape=(20000, 2)).devices == available_devices()

    def off_by_a_little(grad_output, input, weight, eps=1e-5):
        grad_input, grad_weight, grad_bias = correct(grad_output, input, weight, eps)
        return grad_input * 1.001, grad_weight, grad_bias

    with pytest.raises(CheckFailed) as raised:
        check_batch_norm_backward(off_by_a_little, shape=(20000, 2))
    assert named_mistake(str(raised.value)) is None
    with pytest.raises(CheckFailed) as raised:
        check_batch_norm_backward(unbiased, shape=(20000, 2), dtype=torch.float64)
    assert named_mistake(str(raised.value)) == planted("unbiased_variance").words


def test_grad_weight_mistakes_are_named_not_only_reported():
    # The variants of grad_weight a student writes: each is named, in both checks.
    def with_input(grad_output, input, weight, eps=1e-5):
        grad_input, _, grad_bias = correct(grad_output, input, weight, eps)
        return grad_input, (grad_output * input).sum(0), grad_bias

    for check in (check_batch_norm_backward, check_batch_norm_backward_numeric):
        with pytest.raises(CheckFailed) as raised:
            check(with_input, shape=(5, 3))
        assert "grad_weight (returned value 1)" in str(raised.value)
        assert named_mistake(str(raised.value)) == planted("batch_norm_backward.grad_weight_of_input").words


def test_a_wrong_gradient_that_matches_no_mistake_gets_a_hint():
    def tripled(grad_output, input, weight, eps=1e-5):
        grad_input, grad_weight, grad_bias = correct(grad_output, input, weight, eps)
        return grad_input, grad_weight, 3 * grad_bias

    with pytest.raises(CheckFailed) as raised:
        check_batch_norm_backward_numeric(tripled, shape=(5, 3))
    message = str(raised.value)
    assert named_mistake(message) is None
    assert "Hint: grad_bias is off by a constant factor of 3." in message


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
        (with_kernel, "torch.ops.aten.native_batch_norm_backward"),
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


def test_a_missing_return_is_explained_by_the_numeric_check():
    with pytest.raises(CheckFailed) as raised:
        check_batch_norm_backward_numeric(lambda grad_output, input, weight, eps=1e-5: None, shape=(4, 3))
    assert ("the function returns None: did you forget a `return` statement? "
            "expected a tuple (grad_input, grad_weight, grad_bias).") in str(raised.value)


def test_the_module_s_own_mistakes_carry_its_name():
    # A class report counts mistakes by id across exercises: a local id must not collide with another's.
    shared = {m.id for m in vars(shared_mistakes).values() if isinstance(m, shared_mistakes.Mistake)}
    local = {p.mistake.id for p in MISTAKES} - shared
    assert local and all(i.startswith("batch_norm_backward.") for i in local), sorted(local)
