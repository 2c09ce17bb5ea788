"""Grading a backward pass against central-difference gradients of the forward pass, without autograd."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.calling import call_student, describe_call, materialize
from ..core.compare import compare_outputs, describe_wrong_type
from ..core.engine import fail_diagnosed
from ..core.gradient_check import numeric_gradient, relative_error
from ..core.hints import output_hint
from ..core.report import Report
from ..core.spec import Operation

# The step, and the largest relative error that passes. In float64, h=1e-5
# keeps both the truncation error (h**2) and the rounding error (1e-16 / h)
# small: correct answers measured 1e-7 or less, while the planted mistakes give
# from 1e-5 (epsilon outside the square root, with the default eps) to 1.
NUMERIC_STEP = 1e-5
NUMERIC_THRESHOLD = 1e-6
TYPICAL_CORRECT = 1e-7


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


def compare_numerically(spec: Operation, student, **arguments) -> Report:
    """Compare ``student`` with central-difference gradients on ``spec.make_arguments``, in float64 on the CPU.

    A wrong answer is compared with ``spec.planted`` as this check compares it: by the
    relative error of each gradient.
    """
    args = spec.make_arguments(dtype=torch.float64, **arguments)
    report = Report(describe_call(spec.name, args), devices=["cpu"])
    where = f"{report.call} on cpu"
    output = call_student(student, args, where=where, device="cpu", forbidden=spec.forbidden).result()
    expected = numeric_gradients(**args)
    problems = _numeric_problems(output, expected, spec)
    if problems:
        fail_diagnosed(
            f"{where}, against central differences (h={NUMERIC_STEP:g})", output, expected, problems=problems,
            planted=spec.planted, run=lambda function: function(*materialize(args, "cpu").values()),
            agree=lambda a, b: not _numeric_problems(a, b, spec), clue=lambda a, b: output_hint(a, b, spec.outputs),
        )
    errors = ", ".join(f"{n} {relative_error(a, e):.1e}" for n, a, e in zip(spec.outputs, output, expected))
    report.notes.append(f"relative errors against central differences: {errors}")
    return report


def _numeric_problems(output, expected, spec: Operation) -> list[str]:
    """What is wrong with ``output`` against the numeric gradients ``expected``, in sentences."""
    if not isinstance(output, (tuple, list)) or len(output) != len(spec.outputs):
        return compare_outputs(output, expected, spec.compared_as, spec.outputs)  # says what was returned instead
    problems = []
    for i, (name, got, want) in enumerate(zip(spec.outputs, output, expected)):
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
