"""Every check that catches a planted mistake passes the solution's implementation, on the CPU and the device.

A check entry that takes ``devices`` runs on the CPU and the device under test,
and compares the two; one that takes a dtype runs in float32 and float64, and in
float16 and bfloat16. A half-precision dtype that the spec does not declare
(``cases.HALF_PRECISION``) is recorded, pass or fail, but its failure is
"unsupported", not a failed test: half precision differs between devices, and
the table follows what each device shows.
"""

from __future__ import annotations

import pytest

from . import cases
from .cases import PACKAGES, skip_reason


@pytest.mark.parametrize("package", list(PACKAGES))
def test_every_exercise_package_imports(package):
    """An exercise package that cannot be imported has no cases here: say why, once."""
    module = PACKAGES[package]
    if isinstance(module, BaseException):
        reason = skip_reason(module)
        if reason:
            pytest.skip(f"autograder.{package} {reason}")
        raise module


@pytest.mark.parametrize("case", cases.params(cases.check_calls()))
def test_a_check_passes_the_solution(case, solutions, record):
    student = solutions(case.assignment)[case.function]
    if case.declared:
        report = case.entry()(student, *case.args, **case.keywords())
    else:
        try:
            report = case.entry()(student, *case.args, **case.keywords())
        except Exception as error:  # noqa: BLE001 - any failure in an undeclared dtype is its verdict
            record("outcome", "unsupported")
            record("message", str(error))
            pytest.xfail(f"{case.dtype} is not declared for {case.spec} (cases.HALF_PRECISION): "
                         f"{type(error).__name__}: {str(error).splitlines()[0]}")
        record("note", f"passes in {case.dtype}, which {case.spec} does not declare: it could be")
    record("ran_on", list(report.devices))
    assert report.devices, f"{case.check} ran on no device"
