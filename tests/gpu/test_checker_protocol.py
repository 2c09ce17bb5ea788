"""The trusted checker's protocol on the device: tensors, modules and generators cross the wire.

When a class is graded, the checks run in a trusted checker and the student's code
in a kernel of its own; every call sends the arguments as data (dtype, shape,
device and bytes) and the generators' states with them. Here a kernel process
serves each assignment's solution and the checker runs check calls through it on
the CPU and the device under test, as the in-process checks do: every call passes,
on the device. The dropout seed check is the one that needs the device's own
generator to travel with a call (``torch.manual_seed`` in the checker must decide
the mask the kernel draws on CUDA).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from autograder.checker import wire
from autograder.checker.remote import Remote
from autograder.checker.session import Session
from autograder.core.report import collect_reports

from . import cases
from .settings import DEVICE, FAST, ROOT


def _protocol_calls() -> dict[str, list]:
    """assignment -> its full-precision check calls that take devices: each spec's first in the fast suite.

    The dropout seed check always runs: it is the one that needs the device's generator.
    """
    by_assignment: dict[str, list] = {}
    seen_specs, seen_calls = set(), set()
    for call in cases.check_calls():
        call = replace(call, dtype=None)  # the entry's own dtype, whichever the fast suite gave the call
        if not call.takes_devices or str(call) in seen_calls:
            continue
        seen_calls.add(str(call))
        first = call.spec not in seen_specs
        seen_specs.add(call.spec)
        if FAST and not first and call.check != "check_dropout_seed":
            continue
        by_assignment.setdefault(call.assignment, []).append(call)
    return by_assignment


CALLS = _protocol_calls()


@pytest.mark.parametrize("assignment", sorted(CALLS))
def test_the_solution_passes_through_the_checker_on_the_device(assignment, solutions, record):
    solutions(assignment)  # skips an assignment whose imports are missing here
    calls = CALLS[assignment]
    checker, kernel = socket.socketpair()
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    child = subprocess.Popen([sys.executable, "-m", "gpu.protocol_kernel", str(kernel.fileno()), assignment,
                              str(len(calls))], pass_fds=[kernel.fileno()], env=environment)
    kernel.close()
    failed, ran = [], []
    start = time.perf_counter()
    try:
        for index, call in enumerate(calls):
            request, _ = wire.receive(checker, 180)
            assert request == {"op": "test", "notebook": assignment, "cell": str(index)}
            session = Session(checker, time.monotonic() + 120)
            student = session.lookup(call.function)
            assert isinstance(student, Remote)
            with collect_reports():
                try:
                    report = call.entry()(student, *call.args, **call.keywords())
                    ran.append(f"{call}: {', '.join(report.devices)}")
                    if DEVICE not in report.devices:
                        failed.append(f"{call}: ran on {report.devices}, not on {DEVICE}")
                except AssertionError as failure:
                    failed.append(f"{call}: {failure}")
            wire.send(checker, {"op": "done"})
    finally:
        checker.close()
        child.wait(timeout=60)
    record("calls", ran)
    record("seconds", round(time.perf_counter() - start, 2))
    assert not failed, "\n".join(failed)
