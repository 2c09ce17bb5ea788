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

When a wrong answer matches one of the planted mistakes below, the message
names it.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from .core.compare import describe_difference, describe_wrong_type
from .core.gradient_check import numeric_gradient, relative_error
from .core import integrity
from .core.harness import Report, Variant, run_student, check_against_reference, describe_call, quiet
from .core.tolerances import tolerance_for

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
# TorchFunctionMode of the harness sees each of these calls; torch.func.vjp and
# torch.autograd.functional call torch.autograd.grad, so they are refused too.)
FORBIDDEN = {
    torch.autograd.grad: "autograd (torch.autograd.grad)",
    torch.autograd.backward: "autograd (torch.autograd.backward)",
    torch.Tensor.backward: "autograd (Tensor.backward)",
    torch.ops.aten.native_batch_norm_backward: "PyTorch's BatchNorm backward kernel",
    torch.ops.aten.native_batch_norm_backward.default: "PyTorch's BatchNorm backward kernel",
    torch.ops.aten.batch_norm_backward: "PyTorch's BatchNorm backward kernel",
    torch.ops.aten.batch_norm_backward.default: "PyTorch's BatchNorm backward kernel",
    torch.batch_norm_backward_reduce: "torch.batch_norm_backward_reduce",
    torch.batch_norm_backward_elemt: "torch.batch_norm_backward_elemt",
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


def _batch_norm_backward(
    grad_output, input, weight, eps=1e-5, *, constant_mean=False, constant_var=False,
    unbiased=False, eps_outside_sqrt=False, weight_sum="all", bias_sum="all",
):
    """The backward pass from the formulas, with switches that each plant one known mistake."""
    dims = [d for d in range(input.dim()) if d != 1]  # every axis but the channels
    per_channel = [1, -1] + [1] * (input.dim() - 2)  # broadcast a (C,) vector
    mean = input.mean(dim=dims, keepdim=True)  # (1, C, 1, 1)
    var = input.var(dim=dims, unbiased=unbiased, keepdim=True)
    std = var.sqrt() + eps if eps_outside_sqrt else (var + eps).sqrt()
    x_hat = (input - mean) / std
    grad_x_hat = grad_output * weight.reshape(per_channel)
    # Through the mean: every x of the channel moved the mean, which every x_hat uses.
    through_mean = 0 if constant_mean else grad_x_hat.mean(dim=dims, keepdim=True)
    # Through the variance: likewise, and proportional to x_hat.
    through_var = 0 if constant_var else x_hat * (grad_x_hat * x_hat).mean(dim=dims, keepdim=True)
    grad_input = (grad_x_hat - through_mean - through_var) / std
    sums = {"all": dims, "batch": [0], "none": []}
    grad_weight = grad_output * x_hat
    grad_weight = grad_weight.sum(dim=sums[weight_sum]) if sums[weight_sum] else grad_weight
    if bias_sum == "everything":
        grad_bias = grad_output.sum()
    else:
        grad_bias = grad_output.sum(dim=sums[bias_sum]) if sums[bias_sum] else grad_output
    return grad_input, grad_weight, grad_bias


def _variant(**mistake):
    return lambda *args: _batch_norm_backward(*args, **mistake)


VARIANTS = (
    Variant(
        "the mean and the variance are treated as constants (grad_input = grad_output * weight / std). "
        "Both depend on every input of the channel, so grad_input has two more terms: "
        "subtract the channel mean of grad_x_hat and x_hat times the channel mean of grad_x_hat * x_hat, "
        "where grad_x_hat = grad_output * weight.",
        _variant(constant_mean=True, constant_var=True),
    ),
    Variant(
        "the path through the mean is missing: every input moves the channel mean, which every "
        "x_hat uses. Subtract the channel mean of grad_x_hat = grad_output * weight.",
        _variant(constant_mean=True),
    ),
    Variant(
        "the path through the variance is missing: every input moves the channel variance. "
        "Subtract x_hat times the channel mean of grad_x_hat * x_hat, where grad_x_hat = grad_output * weight.",
        _variant(constant_var=True),
    ),
    Variant(
        "the variance is the unbiased one (divided by n - 1). Batch normalization normalizes with "
        "the biased variance (divided by n), e.g. input.var(dim, unbiased=False).",
        _variant(unbiased=True),
    ),
    Variant(
        "epsilon is added outside the square root. The forward pass divides by sqrt(var + eps).",
        _variant(eps_outside_sqrt=True),
    ),
    Variant(
        "grad_weight is summed over the batch axis only. weight has one value per channel, "
        "so sum grad_output * x_hat over every axis except axis 1, the spatial axes included.",
        _variant(weight_sum="batch"),
    ),
    Variant(
        "grad_weight is not summed. weight has one value per channel, so sum grad_output * x_hat "
        "over every axis except axis 1.",
        _variant(weight_sum="none"),
    ),
    Variant(
        "grad_bias is summed over the batch axis only. bias has one value per channel, "
        "so sum grad_output over every axis except axis 1, the spatial axes included.",
        _variant(bias_sum="batch"),
    ),
    Variant(
        "grad_bias is summed over every axis, the channels included. bias has one value per "
        "channel, so sum grad_output over every axis except axis 1.",
        _variant(bias_sum="everything"),
    ),
    Variant(
        "grad_bias is not summed. bias has one value per channel, so sum grad_output over "
        "every axis except axis 1.",
        _variant(bias_sum="none"),
    ),
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


def check_batch_norm_backward(student, *, devices=None, **arguments) -> Report:
    """Compare ``student`` with autograd through ``F.batch_norm`` (arguments: see ``make_arguments``).

    Compares grad_input, grad_weight and grad_bias on every device, and that
    the arguments are left unchanged.
    """
    args = make_arguments(**arguments)
    return check_against_reference(
        _without_autograd(student), reference, args, name=NAME, operation=OPERATION,
        state=STATE, variants=_telling_variants(args), devices=devices, forbidden=FORBIDDEN,
        outputs=OUTPUTS,
    ).show()


def _telling_variants(args: dict) -> tuple[Variant, ...]:
    """The planted mistakes that these arguments can tell from the correct gradients.

    Each one is computed exactly (in float64) and kept when it differs from
    the reference by more than the tolerance of the dtype under test. On a
    large batch, for example, the unbiased variance is within the float32
    tolerance of the biased one; and for an (N, C) input, summing grad_weight
    over the batch axis only is right. A correct answer that misses for
    another reason must not be told it made such a mistake.
    """
    exact = {k: v.double() if isinstance(v, torch.Tensor) else v for k, v in args.items()}
    expected = reference(*exact.values())
    tolerance = tolerance_for(OPERATION, args["input"].dtype)
    with quiet():
        return tuple(v for v in VARIANTS if not _agree(_try(v.function, exact), expected, tolerance))


def _try(function, args: dict):
    try:
        return function(*args.values())
    except Exception:  # noqa: BLE001 - a variant that cannot run here matches nothing
        return None


def _agree(output, expected, tolerance) -> bool:
    """Whether the tuple ``output`` has ``expected``'s types and shapes and values within ``tolerance``."""
    if not isinstance(output, (tuple, list)) or len(output) != len(expected):
        return False
    return all(
        describe_wrong_type(name, got, want) is None
        and describe_difference(name, got, want, tolerance) is None
        for name, got, want in zip(OUTPUTS, output, expected)
    )


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


def check_batch_norm_backward_numeric(student, **arguments) -> Report:
    """Compare ``student`` with central-difference gradients, in float64 on the CPU.

    Arguments: see ``make_arguments`` (the dtype is float64). Keep the tensors
    small (a few hundred elements): each input element costs two forward
    passes. Avoid one or two values per channel: the normalized output then
    barely depends on the input, every gradient is tiny, and the relative
    error measures rounding.
    """
    args = make_arguments(dtype=torch.float64, **arguments)
    call = describe_call(NAME, args)
    with quiet():
        result = run_student(_without_autograd(student), args, "cpu", (), f"{call} on cpu", FORBIDDEN)
        expected = numeric_gradients(**args)
        problems = _numeric_problems(result.output, expected)
        if problems:
            lines = [f"{call} on cpu, against central differences (h={NUMERIC_STEP:g}):"]
            lines += [f"- {p}" for p in problems]
            mistake = _numeric_diagnosis(result.output, args, expected)
            if mistake:
                lines.append(f"Likely mistake: {mistake}")
            raise AssertionError("\n".join(lines))
    report = Report(call, devices=["cpu"])
    errors = ", ".join(f"{n} {relative_error(a, e):.1e}" for n, a, e in zip(OUTPUTS, result.output, expected))
    report.notes.append(f"relative errors against central differences: {errors}")
    return report.show()


def _numeric_problems(output, expected) -> list[str]:
    """What is wrong with ``output`` against the numeric gradients ``expected``, in sentences."""
    if not isinstance(output, (tuple, list)) or len(output) != len(OUTPUTS):
        got = f"a {type(output).__name__}"
        if isinstance(output, (tuple, list)):
            got += f" of {len(output)} values"
        return [f"the function returns {got}; expected a tuple ({', '.join(OUTPUTS)})."]
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


def _numeric_diagnosis(output, args, expected) -> str | None:
    """The first planted mistake that gives the student's results and fails this check itself."""
    tolerance = tolerance_for(OPERATION, torch.float64)
    for variant in VARIANTS:
        wrong = _try(variant.function, args)
        if _agree(output, wrong, tolerance) and _numeric_problems(wrong, expected):
            return variant.mistake
    return None

# Trust this module and what it uses, before any student code runs (see autograder.integrity).
integrity.trust_package()
