"""Run one submission within its limits: its sandbox, its cgroup, and what comes back.

The grader calls ``run_submission`` for each submission, in a worker thread:

1. a cgroup for the submission (if the grader has a ``CgroupTree``) with its
   memory, process and CPU limits, and a sandbox whose /tmp, the submission's
   folder included, is a tmpfs of ``disk_bytes``;
2. a child of the fork server joins both, copies the submission into the
   tmpfs and runs its notebooks;
3. when it ends or times out, every process left in the cgroup is killed, the
   limits that stopped something are read from the cgroup's event counters
   and the tmpfs's free space, and only the executed notebooks are copied
   back into the submission's folder on the grader's side;
4. the sandbox and the cgroup are removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .bwrap import ENVIRONMENT, HANDED_IN, INSIDE, Sandbox
from .cgroups import CgroupTree
from .runner import EXECUTED_SUFFIX

LIMITS = ("memory", "processes", "disk")
CHECKER_PROCESSES = 16  # a checker's threads: torch's own, and its reader of the kernel  # the limits a submission can hit, as outcomes name them


@dataclass
class Result:
    code: int | None  # the runner's exit code; None when the submission ran past its timeout and was killed
    limits_hit: list[str] = field(default_factory=list)  # among LIMITS
    dropped: list[str] = field(default_factory=list)  # files not copied back, with their sizes


def describe(limit: str, limits) -> str:
    """One phrase that names ``limit`` and its value, for the outcome."""
    if limit == "memory":
        gigabytes = limits.memory_bytes / 1e9
        return f"memory limit: its processes together needed more than {gigabytes:g} GB, and one was killed"
    if limit == "processes":
        return f"process limit: it tried to run more than {limits.processes} processes and threads at once"
    return f"disk limit: it filled its {limits.disk_bytes / 1e6:g} MB of disk"


def run_submission(server, work: Path, log: Path, names: list[str], root: Path, limits,
                   cgroups: CgroupTree | None, max_notebook_bytes: int, checker: dict | None = None) -> Result:
    """Run the notebooks ``names`` of the folder ``work``; their executed copies come back into ``work``.

    ``limits`` is the grader's configuration: ``sandbox``, ``memory_bytes``,
    ``processes``, ``disk_bytes``, ``cpus``, ``cpu_seconds``, ``cell_timeout``
    and ``notebook_timeout``. ``log`` receives the runner's output; it must
    lie outside ``work``, which the sandbox shows to the submission. ``checker``, when
    given, starts the submission's trusted checker beside it (``autograder.checker.process``):
    the notebooks (by file name) to take the tests from, where to write the verdicts and
    the checker's log, all outside ``work``.
    """
    cgroup = cgroups.submission(limits.memory_bytes, limits.processes, limits.cpus) if cgroups else None
    checker_cgroup = None
    sandbox = None
    try:
        if checker and cgroups:  # the checker's memory limit, apart from the submission's
            checker_cgroup = cgroups.submission(checker.get("memory_bytes") or limits.memory_bytes, CHECKER_PROCESSES,
                                                kind="checker")
            checker = dict(checker, cgroup=checker_cgroup.procs_files)
        if limits.sandbox:
            sandbox = Sandbox(work, root, limits.disk_bytes)
        request = {
            "notebooks": names, "log": str(log),
            "sandbox_pid": sandbox.pid if sandbox else 0,
            "cwd": INSIDE if sandbox else str(work),
            "copy_from": HANDED_IN if sandbox else None,
            "environment": ENVIRONMENT if sandbox else {},
            "cell_timeout": limits.cell_timeout, "cpu_seconds": limits.cpu_seconds,
            "cgroup": cgroup.procs_files if cgroup else [],
            # A process's address space is no measure of its memory: only without a cgroup.
            "memory_bytes": None if cgroup else limits.memory_bytes,
            "file_bytes": limits.disk_bytes,
            "checker": dict(checker, cell_timeout=limits.cell_timeout) if checker else None,
        }
        result = Result(server.run(request, timeout=limits.notebook_timeout))
        if cgroup:
            cgroup.kill()  # what the submission left running, before its files are read
            result.limits_hit += cgroup.limits_hit()
        if sandbox:
            if sandbox.disk_full():
                result.limits_hit.append("disk")
            executed = [Path(name).stem + EXECUTED_SUFFIX for name in names]
            result.dropped = sandbox.collect(executed, work, max_notebook_bytes)
        return result
    finally:
        if sandbox:
            sandbox.close()
        for group in (cgroup, checker_cgroup):
            if group:
                try:
                    group.remove()
                except OSError:  # still busy: the next run removes it once this grader is gone
                    pass
