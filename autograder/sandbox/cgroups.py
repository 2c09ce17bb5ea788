"""A cgroup per submission: memory, processes and CPU counted over all of a submission's processes.

Per-process limits (``RLIMIT_AS``) let a submission hold as much memory as it
likes by forking, and a tmpfs holds RAM that no process owns; root's processes
are exempt from ``RLIMIT_NPROC``. A cgroup counts every process of the
submission together: its runner, its kernels and whatever they fork, and the
tmpfs pages they write (the kernel charges a page to the cgroup of the process
that first wrote it).

For each grading run the grader creates one cgroup of its own, named
``autograder-<PID namespace>-<pid>-<start time>-<run>`` so that a later run can
tell that it was left by a grader that is gone (``remove_stale``), and inside
it one cgroup per submission, with

* ``memory``: a limit on all the submission's memory, tmpfs pages included;
  the kernel's OOM killer ends a process of the submission when it is reached;
* ``pids``: a limit on the number of its processes and threads, so a fork fails;
* ``cpu`` (optional): a quota of cores, so that one submission cannot starve the others.

cgroup v2 is used when its hierarchy offers the memory and pids controllers;
otherwise the v1 hierarchies of those controllers (``/sys/fs/cgroup/memory``
and so on). The forked child that becomes the submission joins its cgroup
(``join``) before it forks anything. Creating cgroups takes root or a
delegated hierarchy; without them ``CgroupTree.create`` raises
``CgroupsUnavailable`` with the reason, and the grader falls back to the
per-process limits.
"""

from __future__ import annotations

import errno
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "autograder-"
CONTROLLERS = ("memory", "pids")  # required
OPTIONAL = ("cpu",)


class CgroupsUnavailable(RuntimeError):
    pass


# -- where the hierarchies are -------------------------------------------------------


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, file system type, options) of every cgroup mount."""
    found = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            _, point, kind, options, *_ = line.split()
            if kind in ("cgroup", "cgroup2"):
                found.append((point.replace("\\040", " "), kind, set(options.split(","))))
    return found


def _own_cgroups() -> dict[str, str]:
    """The cgroup of this process in each hierarchy: controller (or "" for v2) -> path."""
    own = {}
    with open("/proc/self/cgroup") as cgroups:
        for line in cgroups:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                own[controller] = path
    return own


def _inside(mount: str, path: str) -> Path:
    return Path(mount) / path.lstrip("/")


@dataclass
class Layout:
    """Where the grader's cgroups go: one folder per hierarchy, keyed by controller ("" for v2)."""

    version: int
    bases: dict[str, Path]


def _v2_layout(mount: str, own: str, wanted: tuple[str, ...]) -> Layout | None:
    """A folder of the v2 hierarchy where a child cgroup can get ``wanted`` controllers, if any."""
    # A cgroup with processes cannot pass controllers to children (but the root can):
    # the grader's own cgroup qualifies only if it already does.
    for base in dict.fromkeys([_inside(mount, own), Path(mount)]):
        try:
            available = set((base / "cgroup.controllers").read_text().split())
            if not set(wanted) <= available:
                continue
            enabled = set((base / "cgroup.subtree_control").read_text().split())
            missing = [c for c in wanted if c not in enabled]
            if missing:
                (base / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))
            return Layout(2, {"": base})
        except OSError:
            continue
    return None


def find_layout(cpu: bool = False) -> Layout:
    """The hierarchies to use, v2 first; raise ``CgroupsUnavailable`` saying why none fits."""
    mounts, own = _mounts(), _own_cgroups()
    wanted = CONTROLLERS + (("cpu",) if cpu else ())
    for point, kind, _ in mounts:
        if kind == "cgroup2" and "" in own:
            layout = _v2_layout(point, own[""], wanted)
            if layout:
                return layout
    bases = {}
    for controller in wanted:
        for point, kind, options in mounts:
            if kind == "cgroup" and controller in options and controller in own:
                bases[controller] = _inside(point, own[controller])
                break
    missing = [c for c in CONTROLLERS if c not in bases]
    if missing:
        raise CgroupsUnavailable(f"no cgroup hierarchy offers the {' and '.join(missing)} controller")
    return Layout(1, bases)


# -- naming, and what a killed grader left ----------------------------------------------


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


def _processes(cgroup: Path) -> list[int]:
    try:
        return [int(pid) for pid in (cgroup / "cgroup.procs").read_text().split() if int(pid) > 0]
    except OSError:
        return []


def _kill(cgroup: Path, deadline: float) -> None:
    """Kill every process in ``cgroup`` (not its children), until none is left."""
    kill_file = cgroup / "cgroup.kill"  # cgroup v2, Linux 5.14 and later: all at once, no race with fork
    while True:
        if kill_file.exists():
            try:
                kill_file.write_text("1")
            except OSError:
                pass
        processes = _processes(cgroup)
        if not processes or time.monotonic() > deadline:
            return
        for pid in processes:  # v1: a process forked meanwhile is caught on the next round
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def _kill_and_remove(cgroup: Path, timeout: float = 10.0) -> None:
    """Kill every process in ``cgroup`` and its children, then remove them all (deepest first)."""
    if not cgroup.is_dir():
        return
    for child in [p for p in cgroup.iterdir() if p.is_dir()]:
        _kill_and_remove(child, timeout)
    deadline = time.monotonic() + timeout
    while True:
        _kill(cgroup, deadline)
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
                _kill_and_remove(folder)
                removed.append(folder)
    return removed


# -- the cgroups of a grading run ---------------------------------------------------------


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
        return sorted({pid for folder in self.folders.values() for pid in _processes(folder)})

    def kill(self, timeout: float = 10.0) -> None:
        """Kill every process left in the cgroup, and wait until none is."""
        deadline = time.monotonic() + timeout
        for folder in self.folders.values():
            _kill(folder, deadline)

    def remove(self) -> None:
        """Kill what is left and remove the cgroup."""
        for folder in self.folders.values():
            _kill_and_remove(folder)


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

    def submission(self, memory_bytes: int, processes: int, cpus: float | None = None) -> SubmissionCgroup:
        self._count += 1
        name = f"submission-{self._count}"
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
            _kill_and_remove(folder)


def join(procs_files: list[str]) -> None:
    """Move the calling process into the cgroup whose ``cgroup.procs`` files these are.

    Called by the forked child before it forks anything, while it still has
    the rights to (before it enters the sandbox's user namespace).
    """
    for path in procs_files:
        with open(path, "w") as procs:
            procs.write("0")  # 0: the writing process itself
