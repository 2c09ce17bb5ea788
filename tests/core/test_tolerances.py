"""The tolerance table: the verdicts a student gets from ``torch.testing.assert_close``, and overrides that apply."""

import pytest
import torch

from autograder import registry
from autograder.core import tolerances
from autograder.core.compare import describe_difference
from autograder.core.tolerances import BY_DTYPE, Tolerance, tolerance_for

FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
tolerances.declare("a_plain_operation")


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


def test_an_override_widens_the_table_and_says_why():
    registry.import_all()
    overrides = tolerances.overrides()
    assert overrides, "the specs declare no override"
    for (operation, aspect, dtype), tolerance in overrides.items():
        name = operation + (".grad" if aspect == "grad" else "")
        assert tolerance_for(name, dtype) is tolerance
        assert tolerance.rtol >= BY_DTYPE[dtype].rtol and tolerance.atol >= BY_DTYPE[dtype].atol, operation
        assert len(tolerance.reason.split()) >= 8, f"{operation}: give the reason in a sentence"


def test_an_operation_that_no_spec_declares_is_an_error_not_the_default():
    with pytest.raises(KeyError, match="no spec declares the operation 'batch_nrom'"):
        tolerance_for("batch_nrom", torch.float32)
    with pytest.raises(KeyError, match="batch_nrom"):
        tolerance_for("batch_nrom.grad", torch.float32)


@pytest.mark.parametrize("key", [("gradient", torch.float32), ("grad", torch.int64), "grad"])
def test_an_override_with_an_unknown_key_is_refused_when_declared(key):
    with pytest.raises(ValueError, match="keyed by"):
        tolerances.declare("an_operation_with_a_typo", {key: Tolerance(1e-3, 1e-3, reason="a reason of its own")})


def test_an_override_without_its_reason_is_refused():
    with pytest.raises(ValueError, match="reason"):
        tolerances.declare("an_operation_without_reason", {("grad", torch.float32): Tolerance(1e-3, 1e-3)})


def test_integer_results_must_match_exactly():
    tolerance = tolerance_for("a_plain_operation", torch.int64)
    assert describe_difference("the count", torch.tensor([3]), torch.tensor([3]), tolerance) is None
    assert "differs" in describe_difference("the count", torch.tensor([4]), torch.tensor([3]), tolerance)
