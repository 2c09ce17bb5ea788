"""Check a student's answer to a question: a number, a few numbers, or a choice.

A question asks the student to predict, explain or try something, and to put
the answer in a variable of the notebook (``heads_for_3x3_convolution = ...``).
A hidden test cell then calls one of these checks with the notebook's
namespace:

    check_number(globals(), "heads_for_3x3_convolution", 9, why="...")

A wrong answer raises ``AssertionError`` with ``why``, a hint that points to
the reasoning without stating the answer, and, when the answer matches a
known wrong one (``wrong=``), what that answer overlooks. An answer that is
missing or still a placeholder (``None``, ``...``) raises ``AssertionError``
too. A right one is shown under the cell as the autograder's report, which the
grader requires of every passing test.

Importing this module does not import torch; showing a pass does, through the
harness's report (a notebook that asks the question has imported torch already).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

_UNANSWERED = (None, Ellipsis)


def answer(namespace: Mapping, name: str):
    """The value the notebook assigned to ``name``; AssertionError when there is none yet."""
    value = namespace.get(name)
    if any(value is placeholder for placeholder in _UNANSWERED):
        raise AssertionError(
            f"{name} has no answer yet: assign your answer to {name} in the answer cell "
            "(replacing `raise NotImplementedError()`) and run that cell."
        )
    return value


def check_number(namespace: Mapping, name: str, expected, *, why: str, rtol: float = 1e-3, atol: float = 0.0,
                 wrong: Mapping | Sequence = ()) -> None:
    """Check a number, or a tuple or list of numbers, within ``rtol`` and ``atol`` (as ``math.isclose``).

    ``wrong`` pairs a known wrong answer with what it overlooks: a mapping or a
    sequence of ``(value, hint)``, matched with the same tolerance.
    """
    value = answer(namespace, name)
    numbers = _as_numbers(name, value, expected)
    if _close(numbers, expected, rtol, atol):
        return _passed(f"{name} = {value!r}")
    for wrong_value, hint in _pairs(wrong):
        if _close(numbers, wrong_value, rtol, atol):
            raise AssertionError(f"{name} = {value!r} is not right: {hint} {why}")
    raise AssertionError(f"{name} = {value!r} is not right. {why}")


def check_choice(namespace: Mapping, name: str, expected: str, choices: Sequence[str], *, why: str,
                 wrong: Mapping | Sequence = ()) -> None:
    """Check that the answer is the string ``expected``, one of ``choices`` (case and spaces ignored)."""
    value = answer(namespace, name)
    allowed = ", ".join(repr(choice) for choice in choices)
    if not isinstance(value, str) or _normal(value) not in {_normal(choice) for choice in choices}:
        raise AssertionError(f"{name} = {value!r} is not one of the choices: set it to one of {allowed}.")
    if _normal(value) == _normal(expected):
        return _passed(f"{name} = {value!r}")
    hints = {_normal(choice): hint for choice, hint in _pairs(wrong)}
    hint = hints.get(_normal(value))
    raise AssertionError(f"{name} = {value!r} is not right" + (f": {hint} " if hint else ". ") + why)


def _as_numbers(name: str, value, expected) -> list[float]:
    """``value`` as a list of floats, shaped like ``expected`` (a number or a sequence of numbers)."""
    count = len(expected) if isinstance(expected, Sequence) else None
    want = "a number" if count is None else f"{count} numbers, as a tuple or a list"
    items = [value]
    if count is not None:
        # A tuple, a list, or a 1-D array or tensor computed in an experiment.
        sized = hasattr(value, "__len__") and not isinstance(value, (str, bytes, Mapping))
        if not sized or len(value) != count:
            raise AssertionError(f"{name} = {value!r}: the answer is {want}.")
        items = list(value)
    numbers = []
    for item in items:
        if isinstance(item, (str, bytes, bool)):
            raise AssertionError(f"{name} = {value!r}: the answer is {want}.")
        try:
            numbers.append(float(item))  # ints, floats, NumPy scalars and one-element tensors alike
        except (TypeError, ValueError):
            raise AssertionError(f"{name} = {value!r}: the answer is {want}.") from None
    return numbers


def _close(numbers: list[float], expected, rtol: float, atol: float) -> bool:
    targets = list(expected) if isinstance(expected, Sequence) else [expected]
    return len(numbers) == len(targets) and all(
        math.isclose(number, target, rel_tol=rtol, abs_tol=atol) for number, target in zip(numbers, targets)
    )


def _pairs(wrong: Mapping | Sequence) -> list[tuple]:
    return list(wrong.items()) if isinstance(wrong, Mapping) else list(wrong)


def _normal(choice: str) -> str:
    return " ".join(choice.lower().split())


def _passed(summary: str) -> None:
    """Show the harness's report under the cell: the grader counts a test that passes without one as failed."""
    from . import Report  # the harness, which imports torch

    class Answered(Report):
        def __str__(self) -> str:  # an answer runs on no device
            return f"passed: {self.call}"

    Answered(summary).show()
