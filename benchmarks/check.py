"""Benchmark: how long a student waits for `python -m autograder check`, and for importing the package.

Times `python -m autograder check` on the released BatchNorm exercise completed
with the model answer, and on the same exercise with two mistakes in its answer
(epsilon outside the square root and the unbiased variance), and the import of
`autograder.batch_norm` in a fresh interpreter: the median of ``--runs`` runs
of each. The figures, with a description of the machine, go to
benchmarks/results/check.json (``--output``), which the book's appendix reads.

    .venv/bin/python benchmarks/check.py [--runs 3] [--output PATH]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from grading import ASSIGNMENT, MISTAKES, RESULTS, ROOT, SOLUTION, machine, write_results

from autograder.cells import grade_id

TWO_MISTAKES = ("eps_outside_sqrt", "unbiased_variance")


def completed_exercise(folder: Path, mistakes: tuple[str, ...] = ()) -> Path:
    """The released notebook with the model answer in its answer cell, with ``mistakes`` made in it."""
    source = nbformat.read(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    answer = SOLUTION.sub("", next(c.source for c in source.cells if grade_id(c) == ASSIGNMENT))
    for mistake in mistakes:
        changed = MISTAKES[mistake](answer)
        if changed == answer:
            sys.exit(f"the mistake {mistake} no longer applies to the model answer")
        answer = changed
    notebook = nbformat.read(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    for cell in notebook.cells:
        if grade_id(cell) == ASSIGNMENT:
            cell.source = answer
    folder.mkdir(parents=True)
    for path in (ROOT / "exercises" / ASSIGNMENT).iterdir():  # data files the notebook reads
        if path.suffix != ".ipynb" and path.is_file():
            shutil.copy(path, folder)
    path = folder / f"{ASSIGNMENT}.ipynb"
    nbformat.write(notebook, path)
    return path


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    """Seconds, and the line of the output that sums it up: check's count of passes, or the last one."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    lines = result.stdout.strip().splitlines() or [result.stderr[-500:]]
    return seconds, next((line for line in lines if " passed, " in line), lines[-1])


def median_of(runs: int, command: list[str], cwd: Path) -> dict:
    times, verdicts = [], set()
    for _ in range(runs):
        seconds, last_line = timed(command, cwd)
        times.append(seconds)
        verdicts.add(last_line)
    if len(verdicts) != 1:
        sys.exit(f"{' '.join(command)} said different things from run to run: {sorted(verdicts)}")
    return {"median_seconds": round(statistics.median(times), 2), "seconds": [round(t, 2) for t in times],
            "verdict": verdicts.pop()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS / "check.json")
    arguments = parser.parse_args()
    where = Path(tempfile.mkdtemp(prefix="check-bench-"))
    try:
        results = {"benchmark": "check", "assignment": ASSIGNMENT, "runs": arguments.runs, "machine": machine()}
        check = [sys.executable, "-m", "autograder", "check"]
        for name, mistakes in (("completed", ()), ("two_mistakes", TWO_MISTAKES)):
            notebook = completed_exercise(where / name, mistakes)
            results[name] = median_of(arguments.runs, check + [str(notebook)], ROOT)
            results[name]["mistakes"] = list(mistakes)
            print(f"check, {name}: {results[name]['median_seconds']} s (median of {arguments.runs}): "
                  f"{results[name]['verdict']}")
        imports = "import autograder.batch_norm, sys; print('torch._dynamo' in sys.modules)"
        results["import"] = median_of(arguments.runs, [sys.executable, "-c", imports], ROOT)
        results["import"]["dynamo_loaded"] = results["import"].pop("verdict") == "True"
        print(f"import autograder.batch_norm: {results['import']['median_seconds']} s "
              f"(torch._dynamo loaded: {results['import']['dynamo_loaded']})")
        write_results(arguments.output, results)
    finally:
        shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
