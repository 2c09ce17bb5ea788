import torch

from autograder.core.tolerances import BY_DTYPE, OVERRIDES, tolerance_for


def test_every_floating_dtype_has_a_tolerance():
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        assert tolerance_for("anything", dtype) is BY_DTYPE[dtype]


def test_overrides_state_their_reason_and_are_used():
    for (operation, dtype), tolerance in OVERRIDES.items():
        assert len(tolerance.reason) > 20, (operation, dtype)
        assert tolerance_for(operation, dtype) is tolerance


def test_integer_results_must_match_exactly():
    tolerance = tolerance_for("anything", torch.int64)
    assert (tolerance.rtol, tolerance.atol) == (0.0, 0.0)
