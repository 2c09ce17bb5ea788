"""The limits of a grading run, in one place.

``python -m autograder grade`` takes its option defaults from ``Limits()``,
and ``nbgrader_config.py`` its cell timeout, so a limit is changed here once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass
class Limits:
    """What a grading run allows each submission."""

    # Submissions executed at once: one more than the cores, so that no core idles while a kernel
    # starts or waits on its checker, or while the main process records (40 BatchNorm submissions
    # on 2 cores: 34 s with 2 workers, 30 s with 3).
    workers: int = field(default_factory=lambda: (os.cpu_count() or 1) + 1)
    sandbox: bool = True  # each submission in a bubblewrap sandbox of its own
    # Seconds per cell in a kernel forked from the fork server, which imported torch already.
    cell_timeout: int = 60
    notebook_timeout: int = 600  # seconds for a whole submission, all its notebooks
    # Memory of a submission: all its processes and its /tmp together, in its cgroup;
    # without cgroups, the address space of each process.
    memory_bytes: int = 4_000_000_000
    # Memory of a submission's trusted checker beyond what it shares with the fork server (a cgroup
    # of its own where the grader has cgroups; else its address space beyond what it started with).
    checker_memory_bytes: int = 2_000_000_000
    processes: int = 64  # processes and threads of a submission at once; a BatchNorm submission needs under 25
    disk_bytes: int = 1_000_000_000  # its folder and /tmp together, a tmpfs; also the size of any one file
    cpus: float | None = None  # cores a submission may use at once; None: no quota
    cpu_seconds: int = 900  # CPU time of each process in the sandbox
    # Seconds per cell in a kernel that starts anew and imports torch itself, as in
    # stock `nbgrader autograde`: importing torch alone takes seconds, and a cell that
    # trains a little needs more than nbgrader's default 30 s on a slow machine.
    fresh_kernel_cell_timeout: int = 180
