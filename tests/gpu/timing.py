"""How long an assignment's test cells take with the solution, on the devices the checks find.

Imported by ``test_timing.py`` to time them in the test process (the default
devices: the CPU and the GPU), and run as ``python -m gpu.timing NAME...`` with
``CUDA_VISIBLE_DEVICES=""`` to time them again where the checks see no GPU and
fall back to the simulated one; it then prints one JSON object, name -> timing.
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch

from autograder import cells
from autograder.core.devices import available_devices

from .notebooks import graded_cells, missing_dependency, solution_namespace

# The process's stdout carries the JSON; anything a cell prints goes to stderr instead.
_OUT = sys.stdout


def time_assignment(assignment: str) -> dict:
    """The seconds each test cell of ``assignment`` takes in its solution's namespace, and what failed."""
    timing = {"devices": available_devices(), "torch_threads": torch.get_num_threads(),
              "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
    start = time.perf_counter()
    try:
        namespace = solution_namespace(assignment)
    except ImportError as error:
        module = missing_dependency(error)
        if module is None:
            raise
        return {**timing, "skipped": f"its imports need {module}, which this machine does not have ({error})"}
    timing["load_seconds"] = round(time.perf_counter() - start, 4)
    timing["cells"], timing["failures"] = {}, {}
    start = time.perf_counter()
    for cell in graded_cells(assignment):
        name, began = cells.grade_id(cell), time.perf_counter()
        try:
            exec(compile(cell["source"], f"{assignment}.ipynb:{name}", "exec"), namespace)  # noqa: S102
        except Exception as error:  # noqa: BLE001 - every cell runs; the test reports the failures
            timing["failures"][name] = f"{type(error).__name__}: {error}"
        timing["cells"][name] = round(time.perf_counter() - began, 4)
    timing["seconds"] = round(time.perf_counter() - start, 4)
    return timing


def main(names: list[str]) -> None:
    sys.stdout = sys.stderr
    try:
        timings = {name: time_assignment(name) for name in names}
    finally:
        sys.stdout = _OUT
    print(json.dumps(timings))


if __name__ == "__main__":
    main(sys.argv[1:])
