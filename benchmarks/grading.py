"""Benchmark: grade the same generated class with stock nbgrader and with `python -m autograder grade`.

Prints submissions per minute for both, their ratio, and the physical floor:
the time to start a kernel, import torch and run the tests of one submission,
divided by the number of cores; and the floor of the fork server's design,
where a kernel is forked with torch already imported. Also checks that both
give the same scores. The figures, with a description of the machine, also go
to benchmarks/results/bench.json (``--output``), which the book's appendix reads.

    .venv/bin/python benchmarks/grading.py [--submissions 40] [--workers N] [--output PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.cells import grade_id
from autograder.grading.config import Limits

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ASSIGNMENT = "batch_norm"
SOLUTION = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION\n", re.M)
# Answers a class hands in: right, blank, and two of the mistakes the harness names.
MISTAKES = {
    "correct": lambda code: code,
    "eps_outside_sqrt": lambda code: code.replace(
        "torch.sqrt(var.reshape(per_channel) + eps)", "(torch.sqrt(var.reshape(per_channel)) + eps)"),
    "unbiased_variance": lambda code: code.replace("unbiased=False", "unbiased=True"),
    "blank": None,
}


def make_course(where: Path, submissions: int) -> Path:
    course = where / "course"
    course.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder, course / folder)
    run([sys.executable, "-m", "autograder", "generate", ASSIGNMENT], course)
    source = nbformat.read(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    answer = next(c.source for c in source.cells if grade_id(c) == ASSIGNMENT)
    answer = SOLUTION.sub("", answer)
    kinds = list(MISTAKES)
    for number in range(submissions):
        kind = kinds[number % len(kinds)]
        notebook = nbformat.read(course / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        for cell in notebook.cells:
            if MISTAKES[kind] and grade_id(cell) == ASSIGNMENT:
                cell.source = MISTAKES[kind](answer)
        folder = course / "grading" / "submitted" / f"student{number:03d}_{kind}" / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / f"{ASSIGNMENT}.ipynb")
    return course


def machine() -> dict:
    """The machine and the software that a benchmark ran on, and when."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as file:
            cpu = next((line.split(":", 1)[1].strip() for line in file if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = None
    versions = {}
    for package in ("torch", "nbgrader"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {"cpu": cpu, "cores": os.cpu_count() or 1,
            "memory_gb": round(memory / 1e9, 1) if memory else None,
            "python": platform.python_version(), **versions, "platform": platform.platform(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def write_results(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"results written to {path}")


def run(command, cwd) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return time.perf_counter() - start


def scores(course: Path) -> dict:
    csv_path = course / "grading" / "grades.csv"
    with open(csv_path) as file:
        return {row["student_id"]: float(row["score"]) for row in csv.DictReader(file)}


def protocol_cost(course: Path) -> dict:
    """The mean, per submission, of the checker's requests to the kernel, as the progress markers record it."""
    markers = [json.loads(p.read_text()) for p in (course / "grading" / "progress" / ASSIGNMENT).glob("*.json")]
    totals = {key: sum(m.get("protocol", {}).get(key, 0) for m in markers) for key in ("requests", "tests", "seconds")}
    return {key: value / max(1, len(markers)) for key, value in totals.items()}


def one_submission_floor(course: Path) -> float:
    """Seconds to start a kernel, import torch and run every test of one submission."""
    notebook = nbformat.read(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(course)}},
                   extra_arguments=["--IPKernelApp.log_level=ERROR"]).execute()
    return time.perf_counter() - start


def forked_submission_seconds(course: Path) -> float:
    """Seconds for one submission in a kernel forked from a process that has imported everything."""
    from autograder import registry
    from autograder.sandbox.forkserver import preload
    from autograder.sandbox.runner import execute

    preload()
    registry.import_all()  # this kernel runs the test cells itself, as the checkers' process does when grading
    folder = Path(tempfile.mkdtemp(dir=course.parent))
    shutil.copy(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", folder)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        with open(folder / "kernel.log", "wb") as log:  # the kernel's banner is not the benchmark's output
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        asyncio.set_event_loop(asyncio.new_event_loop())
        os._exit(0 if execute(folder / f"{ASSIGNMENT}.ipynb", cell_timeout=120) is None else 1)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"the forked kernel failed; see {folder / 'kernel.log'}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--workers", type=int, default=Limits().workers, help="default: the grader's own")
    parser.add_argument("--output", type=Path, default=RESULTS / "bench.json",
                        help="the JSON file of the results (default: benchmarks/results/bench.json)")
    args = parser.parse_args()
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as temporary:
        stock_course = make_course(Path(temporary, "stock"), args.submissions)
        ours_course = make_course(Path(temporary, "ours"), args.submissions)
        floor_seconds = min(one_submission_floor(stock_course) for _ in range(2))
        forked_seconds = min(forked_submission_seconds(stock_course) for _ in range(2))
        print(f"grading {args.submissions} submissions of {ASSIGNMENT} on {cores} cores", flush=True)
        stock = run([Path(sys.executable).with_name("nbgrader"), "autograde", ASSIGNMENT], stock_course)
        run([Path(sys.executable).with_name("nbgrader"), "export", "--to", "grading/grades.csv"], stock_course)
        ours = run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--workers", str(args.workers)],
                   ours_course)
        same = scores(stock_course) == scores(ours_course)
        protocol = protocol_cost(ours_course)
    rate = lambda seconds: 60 * args.submissions / seconds  # noqa: E731
    print(f"stock nbgrader autograde:     {stock:7.1f} s  {rate(stock):6.1f} submissions/min")
    print(f"python -m autograder grade:   {ours:7.1f} s  {rate(ours):6.1f} submissions/min"
          f"  ({args.workers} workers, sandboxed, with feedback and class report)")
    print(f"ratio:                        {stock / ours:7.2f} x")
    print(f"floor: one submission takes {floor_seconds:.1f} s (kernel start, torch import, tests); "
          f"/ {cores} cores = {60 * cores / floor_seconds:.1f} submissions/min at best")
    print(f"floor with forked kernels: one submission takes {forked_seconds:.1f} s (kernel fork, tests); "
          f"/ {cores} cores = {60 * cores / forked_seconds:.1f} submissions/min at best")
    print(f"the checker's protocol, per submission: {protocol['requests']:.0f} requests to the kernel for "
          f"{protocol['tests']:.0f} tests, {protocol['seconds']:.2f} s waiting on the kernel's answers "
          "(the student's code included)")
    print(f"same scores as stock nbgrader: {same}")
    write_results(args.output, {
        "benchmark": "grading", "assignment": ASSIGNMENT, "submissions": args.submissions,
        "workers": args.workers, "machine": machine(),
        "stock": {"seconds": round(stock, 2), "submissions_per_minute": round(rate(stock), 2)},
        "ours": {"seconds": round(ours, 2), "submissions_per_minute": round(rate(ours), 2)},
        "ratio": round(stock / ours, 3),
        "floor": {"seconds_per_submission": round(floor_seconds, 3),
                  "submissions_per_minute": round(60 * cores / floor_seconds, 2)},
        "forked_floor": {"seconds_per_submission": round(forked_seconds, 3),
                         "submissions_per_minute": round(60 * cores / forked_seconds, 2)},
        "protocol": {"requests": round(protocol["requests"], 2), "tests": round(protocol["tests"], 2),
                     "seconds": round(protocol["seconds"], 4)},
        "same_scores": same,
    })
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
