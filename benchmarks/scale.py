"""Benchmark: grade a class of 40 and a class of 400 generated submissions with `python -m autograder grade`.

Both classes hold the same mix of answers (``grading.MISTAKES``, in turn). For
each class it measures the time of the whole command, the fork server's memory
(its resident set, read from /proc while the class is graded; the last reading
before the server ends is the one reported) and the size of the gradebook
(the SQLite file and its write-ahead log). Only the course's grader runs: stock
nbgrader would take an hour over 400 submissions.

A grader whose cost per submission does not grow with the class takes 10 times
as long for 10 times the submissions, with a fork server of the same size.
Prints the figures and writes them to benchmarks/results/bench-scale.json (``--output``).

    .venv/bin/python benchmarks/scale.py [--small 40] [--large 400] [--workers N] [--output PATH]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from grading import ASSIGNMENT, RESULTS, machine, make_course, scores, write_results

from autograder.grading.config import Limits

FORKSERVER = "autograder.sandbox.forkserver"  # the module the grader starts its fork server with
TIME_TARGET = 10.5  # the large class may take at most this many times the small one's time, per 10x
MEMORY_TARGET = 1.10  # and its fork server at most this many times the small one's memory


def children(pid: int) -> list[int]:
    """The pids of ``pid``'s children, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                stat = file.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:  # the field after the state: the parent's pid
            found.append(int(entry))
    return found


def command_line(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return [part.decode(errors="replace") for part in file.read().split(b"\0") if part]
    except OSError:
        return []


def resident_bytes(pid: int) -> int | None:
    """The process's resident set (VmRSS), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class ForkServerMemory(threading.Thread):
    """Samples the resident set of the fork server that the grader ``pid`` starts, until it ends."""

    def __init__(self, pid: int, every: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.server: int | None = None
        self.samples: list[tuple[float, int]] = []  # (seconds since the start, bytes)

    def run(self) -> None:
        start = time.perf_counter()
        while self.server is None:
            if resident_bytes(self.pid) is None:
                return  # the grader ended before its server was seen
            self.server = next((child for child in children(self.pid) if FORKSERVER in command_line(child)), None)
            if self.server is None:
                time.sleep(0.05)
        while (rss := resident_bytes(self.server)) is not None:
            self.samples.append((round(time.perf_counter() - start, 2), rss))
            time.sleep(self.every)

    def figures(self) -> dict:
        if not self.samples:
            return {"end_bytes": None, "peak_bytes": None, "samples": 0}
        values = [rss for _, rss in self.samples]
        return {"end_bytes": values[-1], "peak_bytes": max(values), "samples": len(values)}


def grade_class(course: Path, workers: int) -> dict:
    """Grade the course's class; its time, the fork server's memory and the gradebook's size."""
    start = time.perf_counter()
    with open(course / "grade.log", "wb") as log:
        grader = subprocess.Popen([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--workers", str(workers)],
                                  cwd=course, stdout=log, stderr=subprocess.STDOUT)
        memory = ForkServerMemory(grader.pid)
        memory.start()
        code = grader.wait()
    seconds = time.perf_counter() - start
    memory.join()
    if code != 0:
        sys.exit(f"python -m autograder grade failed with {code}:\n{(course / 'grade.log').read_text()[-3000:]}")
    gradebook = course / "grading" / "gradebook.db"
    sizes = [path.stat().st_size for path in (gradebook, gradebook.with_name("gradebook.db-wal")) if path.is_file()]
    graded = scores(course)
    return {"seconds": round(seconds, 2), "seconds_per_submission": round(seconds / len(graded), 4),
            "forkserver_rss": memory.figures(), "gradebook_bytes": sum(sizes), "graded": len(graded)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=40)
    parser.add_argument("--large", type=int, default=400)
    parser.add_argument("--workers", type=int, default=Limits().workers, help="default: the grader's own")
    parser.add_argument("--output", type=Path, default=RESULTS / "bench-scale.json",
                        help="the JSON file of the results (default: benchmarks/results/bench-scale.json)")
    args = parser.parse_args()
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    classes = {}
    with tempfile.TemporaryDirectory() as temporary:
        for size in (args.small, args.large):
            course = make_course(Path(temporary, str(size)), size)
            print(f"grading {size} submissions of {ASSIGNMENT} on {os.cpu_count() or 1} cores", flush=True)
            classes[size] = grade_class(course, args.workers)
            if classes[size]["graded"] != size:
                sys.exit(f"{classes[size]['graded']} of {size} submissions in the grades")
    small, large = classes[args.small], classes[args.large]
    factor = args.large / args.small
    time_ratio = large["seconds"] / small["seconds"]
    rss_small, rss_large = small["forkserver_rss"]["end_bytes"], large["forkserver_rss"]["end_bytes"]
    rss_ratio = rss_large / rss_small if rss_small and rss_large else None
    for size, figures in classes.items():
        rss = figures["forkserver_rss"]["end_bytes"]
        print(f"{size:4d} submissions: {figures['seconds']:7.1f} s  {1000 * figures['seconds_per_submission']:6.0f} ms"
              f" per submission  fork server {rss / 1e6 if rss else float('nan'):6.1f} MB"
              f"  gradebook {figures['gradebook_bytes'] / 1e6:6.2f} MB")
    print(f"time: {args.large} take {time_ratio:.2f} x the time of {args.small} "
          f"({factor:g} x the submissions; target at most {factor * TIME_TARGET / 10:.2f} x)")
    if rss_ratio is not None:
        print(f"fork server's memory: {rss_ratio:.3f} x at {args.large} as at {args.small} "
              f"(target at most {MEMORY_TARGET:.2f} x)")
    write_results(args.output, {
        "benchmark": "scale", "assignment": ASSIGNMENT, "workers": args.workers, "machine": machine(),
        "classes": {str(size): figures for size, figures in classes.items()},
        "small": args.small, "large": args.large,
        "time_ratio": round(time_ratio, 3), "time_target": round(factor * TIME_TARGET / 10, 3),
        "rss_ratio": round(rss_ratio, 4) if rss_ratio is not None else None, "rss_target": MEMORY_TARGET,
    })


if __name__ == "__main__":
    main()
