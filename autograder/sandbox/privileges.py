"""The Linux calls that put a forked process into a submission's sandbox, through libc.

Python 3.11 has no ``os.setns`` or capability calls, so they go through
``ctypes``. Each function raises ``OSError`` when the kernel refuses, so a
process that could not be confined never goes on to run a submission.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import signal

_libc = ctypes.CDLL(None, use_errno=True)

PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522



def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def die_with_parent() -> None:
    """Be killed when the parent dies, so no process outlives the grader."""
    parent = os.getppid()
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


NS_GET_PARENT = 0xB702  # ioctl: the parent of a user namespace
# bubblewrap's --disable-userns puts the sandbox in a user namespace nested in
# the one that owns its other namespaces. Join the owner first, which gives
# the rights to join the others, and the nested one last.
NAMESPACES = ("user (owner)", "ipc", "uts", "net", "pid", "mnt", "user")


def open_namespaces(pid: int) -> list[int]:
    """File descriptors of the namespaces of process ``pid``, in the order to join them."""
    descriptors = [os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC) for name in NAMESPACES[1:]]
    owner = fcntl.ioctl(descriptors[-1], NS_GET_PARENT)
    return [owner, *descriptors]


def enter_namespaces(descriptors: list[int]) -> None:
    """Join the namespaces; the PID namespace applies to the children forked after this."""
    for name, descriptor in zip(NAMESPACES, descriptors):
        _check(_libc.setns(descriptor, 0), f"setns({name})")
        os.close(descriptor)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_privileges() -> None:
    """Give up every capability for good, as bubblewrap's ``--cap-drop ALL`` does.

    Joining a user namespace grants every capability inside it; a submission
    holding CAP_SYS_ADMIN could unmount what hides the solutions.
    """
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    with open("/proc/sys/kernel/cap_last_cap") as file:
        last = int(file.read())
    for capability in range(last + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0), f"prctl(PR_CAPBSET_DROP, {capability})")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT)")
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    nothing = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), nothing), "capset")
    remaining = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), remaining), "capget")
    if any(d.effective or d.permitted or d.inheritable for d in remaining):
        raise OSError("capabilities remain after dropping them")


def set_limits(memory_bytes: int | None, cpu_seconds: int, file_bytes: int | None = None) -> None:
    """Cap the address space, CPU time and file size of this process and the ones it forks.

    These limits hold for each process alone. With a cgroup counting the
    submission's memory together, ``memory_bytes`` is None: the address space
    of a process that imported torch is much larger than the memory it uses.
    """
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    if file_bytes:  # no file grows past the disk limit, the log on the grader's disk included
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails (EFBIG) instead of killing


def become_unprivileged(uid: int | None, gid: int | None) -> None:
    """Run as ``uid`` and ``gid`` (when given: the process is root), without any capability, for good.

    The bounding set is dropped while the process still may (CAP_SETPCAP); changing
    from root to another user then clears the capabilities it held.
    """
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    if uid is not None:
        with open("/proc/sys/kernel/cap_last_cap") as file:
            last = int(file.read())
        for capability in range(last + 1):
            _check(_libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0), f"prctl(PR_CAPBSET_DROP, {capability})")
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT)")
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    _check(_libc.capset(ctypes.byref(header), (_CapData * 2)()), "capset")
    remaining = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), remaining), "capget")
    if any(d.effective or d.permitted or d.inheritable for d in remaining):
        raise OSError("capabilities remain after dropping them")
    if os.geteuid() == 0 or os.getuid() == 0:
        raise OSError("still root after giving it up")
