"""A cgroup per submission: memory, processes and CPU counted over all of a submission's processes.

Per-process limits (``RLIMIT_AS``) let a submission hold as much memory as it
likes by forking, and a tmpfs holds RAM that no process owns; root's processes
are exempt from ``RLIMIT_NPROC``. A cgroup counts every process of the
submission together: its runner, its kernels and whatever they fork, and the
tmpfs pages they write (the kernel charges a page to the cgroup of the process
that first wrote it).

For each grading run the grader creates one cgroup of its own, named
``autograder-<PID namespace>-<pid>-<start time>-<run>`` so that a later run can
tell that it was left by a grader that is gone (``cgroup_cleanup.remove_stale``),
and inside it one cgroup per submission, with

* ``memory``: a limit on all the submission's memory, tmpfs pages included;
  the kernel's OOM killer ends a process of the submission when it is reached;
* ``pids``: a limit on the number of its processes and threads, so a fork fails;
* ``cpu`` (optional): a quota of cores, so that one submission cannot starve the others.

cgroup v2 is used when its hierarchy offers the memory and pids controllers;
otherwise the v1 hierarchies of those controllers (``/sys/fs/cgroup/memory``
and so on: ``cgroup_hierarchies``). The forked child that becomes the
submission joins its cgroup (``join``) before it forks anything. Creating
cgroups takes root or a delegated hierarchy; without them
``CgroupTree.create`` raises ``CgroupsUnavailable`` with the reason, and the
grader falls back to the per-process limits.
"""

from __future__ import annotations

import time
from pathlib import Path

from .cgroup_cleanup import grader_name, kill_and_remove, kill_processes, processes_in, remove_stale
from .cgroup_hierarchies import CONTROLLERS, CgroupsUnavailable, Layout, find_layout


def _write(path: Path, value) -> None:
    path.write_text(f"{value}\n")


def _events(path: Path) -> dict[str, int]:
    try:
        return {key: int(value) for key, value in (line.split() for line in path.read_text().splitlines())
                if value.isdigit()}
    except OSError:
        return {}


class SubmissionCgroup:
    """The cgroup (one folder per hierarchy) of one submission."""

    def __init__(self, version: int, folders: dict[str, Path]):
        self.version = version
        self.folders = folders

    @property
    def procs_files(self) -> list[str]:
        """The files a process writes its pid to, to join this cgroup (see ``join``)."""
        return [str(folder / "cgroup.procs") for folder in self.folders.values()]

    def _folder(self, controller: str) -> Path:
        return self.folders["" if self.version == 2 else controller]

    def set_limits(self, memory_bytes: int, processes: int, cpus: float | None) -> None:
        memory, pids = self._folder("memory"), self._folder("pids")
        if self.version == 2:
            _write(memory / "memory.max", memory_bytes)
            if (memory / "memory.swap.max").exists():
                _write(memory / "memory.swap.max", 0)  # swapped out is still held
            _write(pids / "pids.max", processes)
            if cpus:
                _write(self._folder("cpu") / "cpu.max", f"{int(cpus * 100_000)} 100000")
            return
        _write(memory / "memory.limit_in_bytes", memory_bytes)
        if (memory / "memory.memsw.limit_in_bytes").exists():  # memory and swap together
            try:
                _write(memory / "memory.memsw.limit_in_bytes", memory_bytes)
            except OSError:  # swap accounting switched off in the kernel
                pass
        _write(pids / "pids.max", processes)
        if cpus and "cpu" in self.folders:
            period = int((self.folders["cpu"] / "cpu.cfs_period_us").read_text())
            _write(self.folders["cpu"] / "cpu.cfs_quota_us", int(cpus * period))

    def limits_hit(self) -> list[str]:
        """Which limits stopped something: "memory" (a process was killed), "processes" (a fork failed)."""
        memory, pids = self._folder("memory"), self._folder("pids")
        oom = _events(memory / ("memory.events" if self.version == 2 else "memory.oom_control"))
        hit = []
        if oom.get("oom_kill", 0) > 0:
            hit.append("memory")
        if _events(pids / "pids.events").get("max", 0) > 0:
            hit.append("processes")
        return hit

    def peak_memory(self) -> int | None:
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            return int((self._folder("memory") / name).read_text())
        except (OSError, ValueError):
            return None

    def processes(self) -> list[int]:
        return sorted({pid for folder in self.folders.values() for pid in processes_in(folder)})

    def kill(self, timeout: float = 10.0) -> None:
        """Kill every process left in the cgroup, and wait until none is."""
        deadline = time.monotonic() + timeout
        for folder in self.folders.values():
            kill_processes(folder, deadline)

    def remove(self) -> None:
        """Kill what is left and remove the cgroup."""
        for folder in self.folders.values():
            kill_and_remove(folder)


class CgroupTree:
    """The grader's own cgroup in each hierarchy, holding one cgroup per submission."""

    def __init__(self, layout: Layout):
        self.layout = layout
        self.name = grader_name()
        self.folders = {key: base / self.name for key, base in layout.bases.items()}
        self._count = 0

    @classmethod
    def create(cls, cpu: bool = False) -> CgroupTree:
        """Remove what killed graders left, then create this grader's cgroups; ``CgroupsUnavailable`` if it can't."""
        layout = find_layout(cpu)
        tree = cls(layout)
        try:
            remove_stale(layout)
            for folder in tree.folders.values():
                folder.mkdir(exist_ok=True)
            if layout.version == 2:  # pass the controllers on to the submissions' cgroups
                wanted = CONTROLLERS + (("cpu",) if cpu else ())
                _write(tree.folders[""] / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
        except OSError as error:
            tree.remove()
            where = error.filename or next(iter(tree.folders.values()))
            raise CgroupsUnavailable(f"could not create a cgroup in {Path(where).parent}: "
                                     f"{error.strerror or error}") from None
        return tree

    def submission(self, memory_bytes: int, processes: int, cpus: float | None = None,
                   kind: str = "submission") -> SubmissionCgroup:
        """A cgroup of a submission's processes (``kind`` "checker": of its trusted checker) with these limits."""
        self._count += 1
        name = f"{kind}-{self._count}"
        cgroup = SubmissionCgroup(self.layout.version, {key: f / name for key, f in self.folders.items()})
        try:
            for folder in cgroup.folders.values():
                folder.mkdir()
            cgroup.set_limits(memory_bytes, processes, cpus)
        except OSError:
            cgroup.remove()
            raise
        return cgroup

    def remove(self) -> None:
        for folder in self.folders.values():
            kill_and_remove(folder)


def join(procs_files: list[str]) -> None:
    """Move the calling process into the cgroup whose ``cgroup.procs`` files these are.

    Called by the forked child before it forks anything, while it still has
    the rights to (before it enters the sandbox's user namespace).
    """
    for path in procs_files:
        with open(path, "w") as procs:
            procs.write("0")  # 0: the writing process itself
