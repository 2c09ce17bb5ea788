"""How long each assignment's test cells take with the solution: with the GPU, and with CUDA hidden.

The second run is a separate process with ``CUDA_VISIBLE_DEVICES=""``, where the
checks find no GPU and run the student's code on the simulated one, as on a
student's laptop. Both timings, the devices and torch's thread count go to the
report; the test asserts only that every cell ran, and passed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from autograder import registry

from .cases import PACKAGES
from .notebooks import graded_cells
from .settings import FAST, ROOT

HIDDEN_TIMEOUT = 180  # seconds: the whole suite must finish in 6 minutes on one GPU


def timed() -> list[str]:
    """Every assignment; the fast suite, the importable one with the fewest test cells."""
    if not FAST:
        return [assignment.name for assignment in registry.ASSIGNMENTS]
    runnable = [a.name for a in registry.ASSIGNMENTS
                if not any(isinstance(PACKAGES[name], BaseException) for name in a.packages)]
    return [min(runnable, key=lambda name: len(graded_cells(name)))] if runnable else []


@pytest.fixture(scope="session")
def with_cuda_hidden() -> dict:
    """assignment -> its timing in a process that sees no GPU (one process for every assignment)."""
    environment = {**os.environ, "CUDA_VISIBLE_DEVICES": "",
                   "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "gpu.timing", *timed()], cwd=ROOT, env=environment,
                         capture_output=True, text=True, timeout=HIDDEN_TIMEOUT)
    if run.returncode != 0:
        return {"error": f"python -m gpu.timing exited with {run.returncode}: {run.stderr[-3000:]}"}
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("assignment", timed())
def test_the_solution_test_cells_run_with_the_gpu_and_with_cuda_hidden(assignment, with_cuda_hidden, record):
    from .timing import time_assignment

    here = time_assignment(assignment)
    record("default_devices", here)
    assert "error" not in with_cuda_hidden, with_cuda_hidden.get("error")
    hidden = with_cuda_hidden[assignment]
    record("cuda_hidden", hidden)
    if "skipped" in here:
        pytest.skip(f"{assignment}: {here['skipped']}")
    assert here["cells"] and set(hidden["cells"]) == set(here["cells"]), (here["cells"], hidden.get("cells"))
    assert not here["failures"], f"with {here['devices']}: {here['failures']}"
    assert not hidden["failures"], f"with {hidden['devices']}: {hidden['failures']}"
