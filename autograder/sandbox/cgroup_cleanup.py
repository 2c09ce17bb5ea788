"""Killing the processes of a cgroup and removing it, and what a grader that was killed left.

A grader cgroup's name, ``autograder-<PID namespace>-<pid>-<start time>-<run>``,
says which process made it, so that a later run can tell that the grader it
belongs to is gone (``remove_stale``) and remove it, with whatever still runs in it.
"""

from __future__ import annotations

import errno
import itertools
import os
import signal
import time
from pathlib import Path

from .cgroup_hierarchies import Layout

PREFIX = "autograder-"


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot, or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _pid_namespace() -> str:
    return str(os.stat("/proc/self/ns/pid").st_ino)


_runs = itertools.count(1)  # grading runs of this process, each with a cgroup of its own


def grader_name() -> str:
    """The name of a new grader cgroup of this process: the grader it belongs to can be told alive or gone."""
    return f"{PREFIX}{_pid_namespace()}-{os.getpid()}-{_start_time(os.getpid())}-{next(_runs)}"


def _is_stale(name: str) -> bool:
    """Whether ``name`` is the cgroup of a grader of this PID namespace that is gone."""
    parts = name[len(PREFIX):].split("-")
    if not name.startswith(PREFIX) or len(parts) != 4 or parts[0] != _pid_namespace():
        return False  # not ours, or a grader's that this process cannot see
    pid, start = parts[1:3]
    return not pid.isdigit() or _start_time(int(pid)) != start


def processes_in(cgroup: Path) -> list[int]:
    try:
        return [int(pid) for pid in (cgroup / "cgroup.procs").read_text().split() if int(pid) > 0]
    except OSError:
        return []


def kill_processes(cgroup: Path, deadline: float) -> None:
    """Kill every process in ``cgroup`` (not its children), until none is left."""
    kill_file = cgroup / "cgroup.kill"  # cgroup v2, Linux 5.14 and later: all at once, no race with fork
    while True:
        if kill_file.exists():
            try:
                kill_file.write_text("1")
            except OSError:
                pass
        processes = processes_in(cgroup)
        if not processes or time.monotonic() > deadline:
            return
        for pid in processes:  # v1: a process forked meanwhile is caught on the next round
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def kill_and_remove(cgroup: Path, timeout: float = 10.0) -> None:
    """Kill every process in ``cgroup`` and its children, then remove them all (deepest first)."""
    if not cgroup.is_dir():
        return
    for child in [p for p in cgroup.iterdir() if p.is_dir()]:
        kill_and_remove(child, timeout)
    deadline = time.monotonic() + timeout
    while True:
        kill_processes(cgroup, deadline)
        try:
            cgroup.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as error:  # EBUSY: a process still exiting, or not reaped yet
            if error.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def remove_stale(layout: Layout) -> list[Path]:
    """Kill the processes and remove the cgroups that graders killed before they could; return those removed."""
    removed = []
    for base in layout.bases.values():
        if not base.is_dir():
            continue
        for folder in sorted(base.iterdir()):
            if folder.is_dir() and _is_stale(folder.name):
                kill_and_remove(folder)
                removed.append(folder)
    return removed
