"""Where the cgroup hierarchies are, and which folder of them the grader's cgroups go into.

cgroup v2 is used when its hierarchy offers the memory and pids controllers;
otherwise the v1 hierarchies of those controllers (``/sys/fs/cgroup/memory``
and so on). Without either, ``find_layout`` raises ``CgroupsUnavailable``
saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONTROLLERS = ("memory", "pids")  # required
OPTIONAL = ("cpu",)


class CgroupsUnavailable(RuntimeError):
    pass


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
