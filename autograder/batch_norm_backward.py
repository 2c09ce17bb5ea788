"""Checks for the BatchNorm backward exercise.

The student writes, from the formulas and without autograd,

    batch_norm_backward(grad_output, input, weight, eps=1e-5)
        -> (grad_input, grad_weight, grad_bias)

the gradients of training-mode batch normalization
``output = weight * (input - mean) / sqrt(var + eps) + bias``, where each
channel (axis 1) is normalized over every other axis with its biased variance.

Each answer is graded two ways:

* against autograd through ``torch.nn.functional.batch_norm``, on every device,
  in float32 and float64 (``check_batch_norm_backward``); the reference is
  computed in float64 and rounded to the dtype under test, so a float32
  answer is compared with the exact gradients;
* against central-difference gradients of the forward pass, in float64 on the
  CPU, with the relative error of ``gradient_check`` in the message
  (``check_batch_norm_backward_numeric``). This one needs no autograd at all.

Both checks name the planted mistake (``MISTAKES``) a wrong answer matches,
each comparing the planted answers as it compares the student's: within the
dtype's tolerance of the exact gradients, or by the relative error against
central differences.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from .core import integrity
from .core.calling import aten, call_student, describe_call, materialize
from .core.checks import Report, check, fail_diagnosed
from .core.compare import compare_outputs, describe_wrong_type
from .core.gradient_check import numeric_gradient, relative_error
from .core.hints import output_hint
from .core.mistakes import (
    EPS_OUTSIDE_SQRT, NO_EPS, NO_SQRT, UNBIASED_VARIANCE, WRONG_AXES, Mistake, Planted, catch,
)
from .core.operation import Operation

NAME = "batch_norm_backward"
OUTPUTS = ("grad_input", "grad_weight", "grad_bias")
# The arguments are compared after the call too: a backward pass must not
# overwrite the tensors it is given.
STATE = ("grad_output", "input", "weight")
# The tolerance of BatchNorm's gradients: grad_input subtracts sums over the
# batch that nearly cancel, so a correct float32 answer is off by more than a
# few ulps.
OPERATION = "batch_norm.grad"

# Autograd, or PyTorch's own backward kernels, would pass every test. (The
# TorchFunctionMode of call_student sees each of these calls; torch.func.vjp and
# torch.autograd.functional call torch.autograd.grad, so they are refused too.
# The kernels are refused at the dispatcher too: calling an output's grad_fn
# directly runs aten.native_batch_norm_backward without torch.autograd.)
FORBIDDEN = {
    torch.autograd.grad: "autograd (torch.autograd.grad)",
    torch.Tensor.backward: "autograd (Tensor.backward)",
    torch.autograd.backward: "autograd (torch.autograd.backward)",
    torch.batch_norm_backward_reduce: "torch.batch_norm_backward_reduce",
    torch.batch_norm_backward_elemt: "torch.batch_norm_backward_elemt",
    **aten(
        "native_batch_norm_backward", "batch_norm_backward", "_batch_norm_impl_index_backward",
        "cudnn_batch_norm_backward", "miopen_batch_norm_backward", "batch_norm_backward_reduce",
        "batch_norm_backward_elemt",
    ),
}

# Numeric check: the step, and the largest relative error that passes. In
# float64, h=1e-5 keeps both the truncation error (h**2) and the rounding
# error (1e-16 / h) small: correct answers measured 1e-7 or less, while the
# planted mistakes give from 1e-5 (epsilon outside the square root, with the
# default eps) to 1.
NUMERIC_STEP = 1e-5
NUMERIC_THRESHOLD = 1e-6
TYPICAL_CORRECT = 1e-7


class UsesAutograd(Exception):
    """The function returned tensors that are part of an autograd graph."""


def reference(grad_output, input, weight, eps=1e-5):
    """The gradients that autograd gives through ``F.batch_norm`` in training mode.

    Computed in float64 and rounded to the input's dtype: PyTorch's own float32
    kernel sums a large batch in an order that loses more than the tolerance
    allows (grad_weight of a (20000, 2) batch: 8 times the allowed error), and
    the student should be compared with the exact gradients, not with that.
    """
    dtype = input.dtype
    input = input.detach().double().requires_grad_(True)
    weight = weight.detach().double().requires_grad_(True)
    bias = torch.zeros_like(weight, requires_grad=True)  # its value does not change any gradient
    output = F.batch_norm(input, None, None, weight, bias, training=True, eps=eps)
    grads = torch.autograd.grad(output, (input, weight, bias), grad_output.double())
    return tuple(g.to(dtype) for g in grads)


# --- the backward pass from the formulas, with switches that plant one mistake each ---------


def _batch_norm_backward(grad_output, input, weight, eps=1e-5, **mistake):
    """The gradients from the formulas, computed in float64 and rounded to the input's dtype.

    Computed exactly, like the reference, so that a planted mistake is named only
    where these arguments can tell it from the right answer beyond the tolerance
    (on a large float32 batch the unbiased variance cannot be told from the
    biased one), never because of its own rounding.
    """
    grads = _gradients(grad_output.double(), input.double(), weight.double(), eps, **mistake)
    return tuple(g.to(input.dtype) for g in grads)


def _gradients(
    grad_output, input, weight, eps, *, constant_mean=False, constant_var=False, added_var_term=False,
    without_weight=False, divided_by_batch_size=False, unbiased=False, eps_outside_sqrt=False, no_sqrt=False,
    no_eps=False, batch_axis_only=False, weight_of="x_hat", weight_sum="sum", flipped_weight=False,
    bias_of="grad_output", bias_sum="sum", swapped=False,
):
    dims = [0] if batch_axis_only else [d for d in range(input.dim()) if d != 1]  # all but the channels
    per_channel = [1, -1] + [1] * (input.dim() - 2)  # broadcast a (C,) vector
    mean = input.mean(dim=dims, keepdim=True)  # (1, C, 1, 1)
    var = input.var(dim=dims, unbiased=unbiased, keepdim=True)
    if eps_outside_sqrt:
        std = var.sqrt() + eps
    elif no_sqrt:
        std = var + eps
    elif no_eps:
        std = var.sqrt()
    else:
        std = (var + eps).sqrt()
    x_hat = (input - mean) / std
    grad_x_hat = grad_output if without_weight else grad_output * weight.reshape(per_channel)

    def channel_mean(t):
        if divided_by_batch_size:
            return t.sum(dim=dims, keepdim=True) / input.shape[0]
        return t.mean(dim=dims, keepdim=True)

    # Through the mean: every x of the channel moved the mean, which every x_hat uses.
    through_mean = 0 if constant_mean else channel_mean(grad_x_hat)
    # Through the variance: likewise, and proportional to x_hat.
    through_var = 0 if constant_var else x_hat * channel_mean(grad_x_hat * x_hat)
    grad_input = (grad_x_hat - through_mean + (through_var if added_var_term else -through_var)) / std

    def per_channel_total(t, how):
        return {
            "sum": lambda: t.sum(dim=dims), "mean": lambda: t.mean(dim=dims), "batch": lambda: t.sum(dim=0),
            "none": lambda: t, "everything": lambda: t.sum(),
        }[how]()

    weight_terms = {"x_hat": grad_output * x_hat, "input": grad_output * input,
                    "centred": grad_output * (input - mean), "grad_x_hat": grad_x_hat * x_hat}[weight_of]
    grad_weight = per_channel_total(weight_terms, weight_sum)
    if flipped_weight:
        grad_weight = -grad_weight
    grad_bias = per_channel_total({"grad_output": grad_output, "grad_x_hat": grad_x_hat}[bias_of], bias_sum)
    if swapped:
        return grad_input, grad_bias, grad_weight
    return grad_input, grad_weight, grad_bias


def _planted(mistake, *catches, **switch) -> Planted:
    """``mistake``, planted by calling ``_batch_norm_backward`` with ``switch`` on, and the checks that catch it."""
    return Planted(mistake, functools.partial(_batch_norm_backward, **switch), catches)


# Every planted mistake is caught and named by the visible numeric test; the
# autograd check names it on (N, C) inputs, or on (N, C, H, W) ones for the
# mistakes that an (N, C) input cannot show.
_NUMERIC = catch("check_batch_norm_backward_numeric", shape=(4, 3, 2, 2))
_FLAT = (catch("check_batch_norm_backward", shape=(5, 3)), _NUMERIC)
_SPATIAL = (catch("check_batch_norm_backward", shape=(3, 5, 4, 3), dtype=torch.float64, seed=7), _NUMERIC)
_LARGE_EPS = (catch("check_batch_norm_backward", shape=(6, 3, 2, 2), eps=0.5, scale=0.3, seed=13),
              catch("check_batch_norm_backward_numeric", shape=(6, 3), eps=0.5, scale=0.3, seed=14), _NUMERIC)
_SUM_OVER = "over every axis except axis 1"

MISTAKES: tuple[Planted, ...] = (
    # grad_input
    _planted(Mistake(
        "batch_norm_backward.constant_statistics",
        "the mean and the variance are treated as constants (grad_input = grad_output * weight / std). "
        "Both depend on every input of the channel, so grad_input has two more terms: "
        "subtract the channel mean of grad_x_hat and x_hat times the channel mean of grad_x_hat * x_hat, "
        "where grad_x_hat = grad_output * weight."),
        *_FLAT, constant_mean=True, constant_var=True),
    _planted(Mistake(
        "batch_norm_backward.no_mean_path",
        "the path through the mean is missing: every input moves the channel mean, which every "
        "x_hat uses. Subtract the channel mean of grad_x_hat = grad_output * weight."),
        *_FLAT, constant_mean=True),
    _planted(Mistake(
        "batch_norm_backward.no_variance_path",
        "the path through the variance is missing: every input moves the channel variance. "
        "Subtract x_hat times the channel mean of grad_x_hat * x_hat, where grad_x_hat = grad_output * weight."),
        *_FLAT, constant_var=True),
    _planted(Mistake(
        "batch_norm_backward.variance_path_added",
        "the path through the variance is added instead of subtracted. Both channel terms are subtracted: "
        "grad_input = (grad_x_hat - mean(grad_x_hat) - x_hat * mean(grad_x_hat * x_hat)) / sqrt(var + eps)."),
        *_FLAT, added_var_term=True),
    _planted(Mistake(
        "batch_norm_backward.grad_input_without_weight",
        "grad_input leaves out weight: the gradient that reaches x_hat is grad_x_hat = grad_output * weight, "
        "and every term of grad_input is built from grad_x_hat."),
        *_FLAT, without_weight=True),
    _planted(Mistake(
        "batch_norm_backward.divided_by_batch_size",
        "grad_input's terms through the mean and the variance divide by the batch size N. A channel of an "
        "(N, C, H, W) input has N * H * W values: divide by that count, or take the mean " + _SUM_OVER + "."),
        *_SPATIAL, divided_by_batch_size=True),
    # the forward pass that the gradients differentiate
    _planted(UNBIASED_VARIANCE(operation="Batch normalization", code="input.var(dim, unbiased=False)"),
             *_FLAT, unbiased=True),
    _planted(EPS_OUTSIDE_SQRT, *_LARGE_EPS, eps_outside_sqrt=True),
    _planted(NO_SQRT, *_FLAT, no_sqrt=True),
    _planted(NO_EPS, *_LARGE_EPS, no_eps=True),
    _planted(WRONG_AXES(
        axes="axis 0 only",
        rule="Batch normalization takes the statistics of each channel, and sums its gradients, "
             f"{_SUM_OVER}: axes 0, 2 and 3 of an (N, C, H, W) input."),
        *_SPATIAL, batch_axis_only=True),
    # grad_weight
    _planted(Mistake(
        "batch_norm_backward.grad_weight_of_input",
        "grad_weight is summed from grad_output * input. weight multiplies the normalized input, so "
        "grad_weight is the sum of grad_output * x_hat, with x_hat = (input - mean) / sqrt(var + eps)."),
        *_FLAT, weight_of="input"),
    _planted(Mistake(
        "batch_norm_backward.grad_weight_of_centred_input",
        "grad_weight is summed from grad_output * (input - mean). weight multiplies the normalized input: "
        "divide by sqrt(var + eps) too, grad_weight = sum of grad_output * x_hat."),
        *_FLAT, weight_of="centred"),
    _planted(Mistake(
        "batch_norm_backward.grad_weight_of_grad_x_hat",
        "grad_weight is summed from grad_x_hat * x_hat = grad_output * weight * x_hat: weight appears once "
        "too often. grad_weight = sum of grad_output * x_hat."),
        *_FLAT, weight_of="grad_x_hat"),
    _planted(Mistake(
        "batch_norm_backward.grad_weight_sign",
        "grad_weight has the wrong sign. The output is weight * x_hat + bias, so grad_weight = "
        "+ sum of grad_output * x_hat."),
        *_FLAT, flipped_weight=True),
    _planted(Mistake(
        "batch_norm_backward.grad_weight_batch_only",
        "grad_weight is summed over the batch axis only. weight has one value per channel, "
        f"so sum grad_output * x_hat {_SUM_OVER}, the spatial axes included."),
        *_SPATIAL, weight_sum="batch"),
    _planted(Mistake(
        "batch_norm_backward.grad_weight_not_summed",
        f"grad_weight is not summed. weight has one value per channel, so sum grad_output * x_hat {_SUM_OVER}."),
        *_FLAT, weight_sum="none"),
    _planted(Mistake(
        "batch_norm_backward.grad_weight_averaged",
        "grad_weight is averaged (mean) instead of summed. weight is used by every value of its channel, "
        f"so its gradient adds up their contributions: sum grad_output * x_hat {_SUM_OVER}."),
        *_FLAT, weight_sum="mean"),
    _planted(Mistake(
        "batch_norm_backward.gradients_averaged",
        "grad_weight and grad_bias are averaged (mean) instead of summed. weight and bias are used by every "
        f"value of their channel, so their gradients add up the contributions: sum {_SUM_OVER}."),
        *_FLAT, weight_sum="mean", bias_sum="mean"),
    # grad_bias
    _planted(Mistake(
        "batch_norm_backward.grad_bias_averaged",
        "grad_bias is averaged (mean) instead of summed. bias is added to every value of its channel, "
        f"so its gradient adds up their contributions: sum grad_output {_SUM_OVER}."),
        *_FLAT, bias_sum="mean"),
    _planted(Mistake(
        "batch_norm_backward.grad_bias_of_grad_x_hat",
        "grad_bias is summed from grad_x_hat = grad_output * weight. bias is added after the weight, so "
        "grad_bias is the sum of grad_output alone."),
        *_FLAT, bias_of="grad_x_hat"),
    _planted(Mistake(
        "batch_norm_backward.grad_bias_batch_only",
        "grad_bias is summed over the batch axis only. bias has one value per channel, "
        f"so sum grad_output {_SUM_OVER}, the spatial axes included."),
        *_SPATIAL, bias_sum="batch"),
    _planted(Mistake(
        "batch_norm_backward.grad_bias_over_everything",
        "grad_bias is summed over every axis, the channels included. bias has one value per "
        f"channel, so sum grad_output {_SUM_OVER}."),
        *_FLAT, bias_sum="everything"),
    _planted(Mistake(
        "batch_norm_backward.grad_bias_not_summed",
        f"grad_bias is not summed. bias has one value per channel, so sum grad_output {_SUM_OVER}."),
        *_FLAT, bias_sum="none"),
    _planted(Mistake(
        "batch_norm_backward.weight_and_bias_swapped",
        "grad_weight and grad_bias are swapped. Return (grad_input, grad_weight, grad_bias): grad_weight is "
        "the sum of grad_output * x_hat, grad_bias the sum of grad_output."),
        *_FLAT, swapped=True),
)


def make_arguments(
    shape=(8, 3, 4, 4), *, eps=1e-5, dtype=torch.float32, seed=0, input=None,
    scale=1.0, zero_weight=False,
) -> dict:
    """Seeded arguments for one call of ``batch_norm_backward``, in its order.

    ``input`` replaces the random input (its shape then decides); ``scale`` is
    the spread of the random input; ``zero_weight`` sets the weight of every
    other channel to 0. The random input has mean 1, so that forgetting to
    subtract the mean shows; a larger mean would make a correct float32 answer
    lose more digits (in x - mean) than the tolerance allows when a channel
    has few values.
    """
    generator = torch.Generator().manual_seed(seed)
    if input is None:
        input = 1.0 + scale * torch.randn(shape, generator=generator, dtype=torch.float64)
    grad_output = torch.randn(input.shape, generator=generator, dtype=torch.float64)
    weight = 1.0 + 0.5 * torch.randn(input.shape[1], generator=generator, dtype=torch.float64)
    if zero_weight:
        weight[::2] = 0.0
    return {
        "grad_output": grad_output.to(dtype), "input": input.to(dtype),
        "weight": weight.to(dtype), "eps": eps,
    }


def _without_autograd(student):
    """``student``, failing when a result carries an autograd graph although no input does."""

    @functools.wraps(student)
    def run(*args):
        result = student(*args)
        parts = result if isinstance(result, (tuple, list)) else (result,)
        for name, part in zip(OUTPUTS, parts):
            if isinstance(part, torch.Tensor) and part.requires_grad:
                raise UsesAutograd(
                    f"{name} is part of an autograd graph (requires_grad=True), although no input "
                    "requires gradients. Compute the gradients from the formulas with plain tensor "
                    "operations, without autograd."
                )
        return result

    return run


BATCH_NORM_BACKWARD = Operation(
    NAME, reference, make_arguments, forbidden=FORBIDDEN, state=STATE, planted=MISTAKES,
    operation=OPERATION, outputs=OUTPUTS,
)


@check
def check_batch_norm_backward(student, *, devices=None, **arguments) -> Report:
    """Compare ``student`` with autograd through ``F.batch_norm`` (arguments: see ``make_arguments``).

    Compares grad_input, grad_weight and grad_bias on every device, and that
    the arguments are left unchanged.
    """
    return BATCH_NORM_BACKWARD.check(_without_autograd(student), devices=devices, **arguments)


def numeric_gradients(grad_output, input, weight, eps=1e-5, h=NUMERIC_STEP):
    """(grad_input, grad_weight, grad_bias) by central differences of ``F.batch_norm``, without autograd."""
    bias = torch.zeros_like(weight)  # gradients do not depend on bias; 0 keeps rounding small

    def forward(x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True, eps=eps)

    return (
        numeric_gradient(lambda x: forward(x, weight, bias), input, grad_output, h),
        numeric_gradient(lambda w: forward(input, w, bias), weight, grad_output, h),
        numeric_gradient(lambda b: forward(input, weight, b), bias, grad_output, h),
    )


@check
def check_batch_norm_backward_numeric(student, **arguments) -> Report:
    """Compare ``student`` with central-difference gradients, in float64 on the CPU.

    Arguments: see ``make_arguments`` (the dtype is float64). Keep the tensors
    small (a few hundred elements): each input element costs two forward
    passes. Avoid one or two values per channel: the normalized output then
    barely depends on the input, every gradient is tiny, and the relative
    error measures rounding.
    """
    args = make_arguments(dtype=torch.float64, **arguments)
    report = Report(describe_call(NAME, args), devices=["cpu"])
    where = f"{report.call} on cpu"
    output = call_student(_without_autograd(student), args, where=where, device="cpu", forbidden=FORBIDDEN).result()
    expected = numeric_gradients(**args)
    problems = _numeric_problems(output, expected)
    if problems:
        # Planted mistakes compared as this check compares: by the relative error of each gradient.
        fail_diagnosed(
            f"{where}, against central differences (h={NUMERIC_STEP:g})", output, expected, problems=problems,
            planted=MISTAKES, run=lambda function: function(*materialize(args, "cpu").values()),
            agree=lambda a, b: not _numeric_problems(a, b), clue=lambda a, b: output_hint(a, b, OUTPUTS),
        )
    errors = ", ".join(f"{n} {relative_error(a, e):.1e}" for n, a, e in zip(OUTPUTS, output, expected))
    report.notes.append(f"relative errors against central differences: {errors}")
    return report


def _numeric_problems(output, expected) -> list[str]:
    """What is wrong with ``output`` against the numeric gradients ``expected``, in sentences."""
    if not isinstance(output, (tuple, list)) or len(output) != len(OUTPUTS):
        return compare_outputs(output, expected, OPERATION, OUTPUTS)  # says what was returned instead
    problems = []
    for i, (name, got, want) in enumerate(zip(OUTPUTS, output, expected)):
        what = f"{name} (returned value {i})"
        problem = describe_wrong_type(what, got, want)
        if problem is None:
            error = relative_error(got, want)
            if not error <= NUMERIC_THRESHOLD:  # NaN fails too
                problem = (
                    f"{what}: relative error {error:.1e} against the numeric gradient "
                    f"(a correct gradient gives about {TYPICAL_CORRECT:.0e} or less in float64; "
                    f"this check allows {NUMERIC_THRESHOLD:.0e})."
                )
        if problem:
            problems.append(problem)
    return problems


# Trust this module and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
