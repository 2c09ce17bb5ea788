"""The tolerance table: the verdicts a student gets from ``torch.testing.assert_close``, and overrides that apply."""

from importlib import import_module

import pytest
import torch

import autograder
from autograder.core.compare import describe_difference
from autograder.core.operation import Operation
from autograder.core.tolerances import BY_DTYPE, OVERRIDES, tolerance_for

FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def assert_close_agrees(actual, expected) -> bool:
    try:
        torch.testing.assert_close(actual, expected)
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize("dtype", FLOATS)
def test_a_value_passes_exactly_when_assert_close_passes_it(dtype):
    """A student who checks with torch.testing.assert_close sees the grader's verdict."""
    tolerance = tolerance_for("a_plain_operation", dtype)
    expected = torch.tensor([1.0, -2.0, 100.0], dtype=dtype)
    limit = tolerance.atol + tolerance.rtol * expected.abs().to(torch.float64)
    for scale in (0.5, 2.0):  # inside, then outside the allowed difference
        actual = (expected.to(torch.float64) + scale * limit).to(dtype)
        if torch.equal(actual, expected):
            continue  # below the dtype's resolution
        ours = describe_difference("the output", actual, expected, tolerance) is None
        assert ours == assert_close_agrees(actual, expected), (dtype, scale)


def declared_operations() -> set[str]:
    names = set()
    for exercise in autograder.EXERCISES:
        for value in vars(import_module(f"autograder.{exercise}")).values():
            if isinstance(value, Operation):
                names.add(value.operation or value.name)
    return names


def test_every_override_names_an_operation_that_a_check_compares():
    """An override keyed by a misspelt or retired operation name would silently never apply."""
    operations = declared_operations()
    for operation, dtype in OVERRIDES:
        assert operation.removesuffix(".grad") in operations, operation


def test_an_override_widens_the_table_and_says_why():
    for (operation, dtype), tolerance in OVERRIDES.items():
        assert tolerance_for(operation, dtype) is tolerance
        assert tolerance.rtol >= BY_DTYPE[dtype].rtol and tolerance.atol >= BY_DTYPE[dtype].atol, operation
        assert len(tolerance.reason.split()) >= 8, f"{operation}: give the reason in a sentence"


def test_integer_results_must_match_exactly():
    tolerance = tolerance_for("anything", torch.int64)
    assert describe_difference("the count", torch.tensor([3]), torch.tensor([3]), tolerance) is None
    assert "differs" in describe_difference("the count", torch.tensor([4]), torch.tensor([3]), tolerance)
