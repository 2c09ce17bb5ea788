"""Compare what a student's code returned with what the reference returned.

``compare`` is one dispatch over the kinds of result the exercises have, in
the manner of the pairs of ``torch.testing``: tensors, NumPy arrays, numbers,
``None``, and tuples of named outputs. It returns the problems, one sentence
each that a student can act on (what was compared, where, and by how much it
is off), and no problem when the results agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .tolerances import Tolerance, tolerance_for

OUTPUT = "the output"


def describe_wrong_type(what: str, value: object, expected: torch.Tensor) -> str | None:
    """Say what is wrong with a value that is not a tensor like ``expected``."""
    problem = _not_a(what, value, torch.Tensor, "a torch.Tensor", np.ndarray,
                     "a NumPy array; return a torch.Tensor instead, computed with torch operations so that "
                     "gradients and devices keep working.")
    if problem:
        return problem
    if value.shape != expected.shape:
        return (
            f"{what} has shape {tuple(value.shape)}, expected {tuple(expected.shape)}."
        )
    if value.dtype != expected.dtype:
        return (
            f"{what} has dtype {value.dtype}, expected {expected.dtype} "
            "(the dtype of the input): avoid creating tensors with a fixed dtype."
        )
    if value.device.type != expected.device.type:
        return (
            f"{what} is on {value.device.type}, expected {expected.device.type} "
            "(the device of the input): create new tensors with device=input.device."
        )
    return None


def describe_difference(
    what: str, actual: torch.Tensor, expected: torch.Tensor, tol: Tolerance
) -> str | None:
    """Say where and by how much ``actual`` differs from ``expected`` beyond ``tol``.

    Both tensors should already have the same dtype and device; a different shape
    is itself the difference (values that merely broadcast are not compared).
    """
    if actual.shape != expected.shape:
        return f"{what} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}."
    actual64 = actual.detach().to("cpu", torch.float64)
    expected64 = expected.detach().to("cpu", torch.float64)
    nan_actual, nan_expected = torch.isnan(actual64), torch.isnan(expected64)
    if bool((nan_actual & ~nan_expected).any()):
        count = int((nan_actual & ~nan_expected).sum())
        where = _index(torch.nonzero(nan_actual & ~nan_expected)[0])
        return (
            f"{what} has {count} NaN value(s) where the reference has numbers, "
            f"the first at index {where}: look for an operation that gives NaN: 0 / 0, the square root of a "
            "negative number, or inf - inf (an infinity that reaches a subtraction, as in a softmax over "
            "scores filled with +inf)."
        )
    if bool((nan_expected & ~nan_actual).any()):
        return f"{what} has numbers where the reference has NaN."
    # Equal infinities (and equal values) are matches, as in assert_close.
    same = (actual64 == expected64) | (nan_actual & nan_expected)
    diff = torch.where(same, 0.0, (actual64 - expected64).abs())
    allowed = tol.atol + tol.rtol * expected64.abs()
    # An infinity is matched only by the same infinity: no tolerance around it admits a number.
    infinite = torch.isinf(expected64) & ~same
    bad = (diff > allowed) | infinite
    if not bool(bad.any()):
        return None
    flat = diff.flatten()
    worst = int(torch.argmax(flat))
    relative = diff / expected64.abs().clamp_min(torch.finfo(torch.float64).tiny)
    relative = torch.where(infinite, torch.inf, relative)
    worst_rel = int(torch.argmax(torch.where(same, 0.0, relative).flatten()))
    index = _index(torch.tensor(np.unravel_index(worst, tuple(diff.shape))) if diff.dim() else torch.tensor([]))
    index_rel = _index(torch.tensor(np.unravel_index(worst_rel, tuple(diff.shape))) if diff.dim() else torch.tensor([]))
    return (
        f"{what} differs from the reference in {int(bad.sum())} of {diff.numel()} "
        f"elements. Greatest absolute difference: {flat[worst].item():.3g} at index "
        f"{index} (got {actual64.flatten()[worst].item():.6g}, expected "
        f"{expected64.flatten()[worst].item():.6g}); greatest relative difference: "
        f"{relative.flatten()[worst_rel].item():.3g} at index {index_rel}. "
        f"Allowed: atol={tol.atol:g} + rtol={tol.rtol:g} * |expected|."
    )


def _index(idx: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in idx)


@dataclass(frozen=True)
class ArrayRules:
    """What a NumPy exercise tells a student whose array has the wrong shape or dtype.

    ``shape(expected)`` and ``dtype`` complete "has shape (3,), expected (4,)" and
    "has dtype float32, expected float64" with the exercise's rule, e.g. "one value per
    column (feature) of X"; empty says nothing more.
    """

    shape: Callable[[np.ndarray], str] = lambda expected: ""
    dtype: str = ""


NO_RULES = ArrayRules()


def _not_a(what: str, value: object, kind: type, called: str, other: type, advice: str) -> str | None:
    """What is wrong with ``value`` if it is not a ``kind``: None, the other library's array, or another type."""
    if value is None:
        return f"{what} is None: did you forget a `return` statement?"
    if isinstance(value, other):
        return f"{what} is {advice}"
    if not isinstance(value, kind):
        return f"{what} is a {type(value).__name__}, expected {called}."
    return None


def _with_rule(text: str, rule: str) -> str:
    return f"{text}: {rule}." if rule else f"{text}."


def describe_wrong_array(
    what: str, value: object, expected: np.ndarray, rules: ArrayRules = NO_RULES
) -> str | None:
    """Say what is wrong with a value that is not an array like ``expected`` (shape and dtype)."""
    problem = _not_a(what, value, np.ndarray, "a NumPy array (np.ndarray)", torch.Tensor,
                     "a torch.Tensor; this exercise is in NumPy: compute with NumPy operations and return a "
                     "NumPy array.")
    if problem:
        return problem
    if value.shape != expected.shape:
        return _with_rule(f"{what} has shape {value.shape}, expected {expected.shape}", rules.shape(expected))
    if value.dtype != expected.dtype:
        return _with_rule(f"{what} has dtype {value.dtype}, expected {expected.dtype}", rules.dtype)
    return None


def _compare_tensors(what, actual, expected: torch.Tensor, operation: str, rules: ArrayRules) -> str | None:
    return describe_wrong_type(what, actual, expected) or describe_difference(
        what, actual, expected, tolerance_for(operation, expected.dtype)
    )


def _compare_arrays(what, actual, expected: np.ndarray, operation: str, rules: ArrayRules) -> str | None:
    problem = describe_wrong_array(what, actual, expected, rules)
    if problem:
        return problem
    # From here on both are arrays of one shape and dtype: compare them as tensors.
    got, want = torch.from_numpy(np.array(actual)), torch.from_numpy(np.array(expected))
    return describe_difference(what, got, want, tolerance_for(operation, want.dtype))


def _compare_numbers(what, actual, expected: float, operation: str, rules: ArrayRules) -> str | None:
    if isinstance(actual, torch.Tensor) and actual.numel() == 1:
        actual = actual.item()
    if isinstance(actual, bool) or not isinstance(actual, (int, float, np.number)):
        return f"{what} is {actual!r:.60} (of type {type(actual).__name__}), expected a number."
    return describe_difference(
        what, torch.tensor(float(actual), dtype=torch.float64), torch.tensor(float(expected), dtype=torch.float64),
        tolerance_for(operation, torch.float64),
    )


def _compare_none(what, actual, expected, operation: str, rules: ArrayRules) -> str | None:
    return None if actual is None else f"{what} should be None."


# The pairs: the kind of the expected result decides how the student's is compared.
_PAIRS: tuple[tuple[type | tuple, Callable], ...] = (
    (type(None), _compare_none),
    (torch.Tensor, _compare_tensors),
    (np.ndarray, _compare_arrays),
    ((int, float), _compare_numbers),
)


def compare(
    what: str, actual: object, expected: object, operation: str, array_rules: ArrayRules = NO_RULES
) -> str | None:
    """The problem with ``actual`` as the value ``what``, compared with ``expected``; None when they agree.

    ``array_rules`` words a NumPy array's wrong shape or dtype for the exercise.
    """
    for kind, compare_pair in _PAIRS:
        if isinstance(expected, kind) and not isinstance(expected, bool):
            return compare_pair(what, actual, expected, operation, array_rules)
    raise TypeError(f"cannot compare a {type(expected).__name__}")


def compare_outputs(
    actual, expected, operation: str, outputs: Sequence[str] | None = None,
    array_rules: ArrayRules = NO_RULES,
) -> list[str]:
    """The problems with a function's return value: one value, or a tuple of the named ``outputs``."""
    if not outputs:
        problem = compare(OUTPUT, actual, expected, operation, array_rules)
        return [problem] if problem else []
    wanted = f"expected a tuple ({', '.join(outputs)})."
    if actual is None:
        return [f"the function returns None: did you forget a `return` statement? {wanted}"]
    if not isinstance(actual, (tuple, list)) or len(actual) != len(outputs):
        got = "a NumPy array" if isinstance(actual, np.ndarray) else f"a {type(actual).__name__}"
        if isinstance(actual, (tuple, list)):
            got += f" of {len(actual)} values"
        return [f"the function returns {got}; {wanted}"]
    problems = []
    for i, (name, got, want) in enumerate(zip(outputs, actual, expected)):
        problem = compare(f"{name} (returned value {i})", got, want, operation, array_rules)
        if problem:
            problems.append(problem)
    return problems
