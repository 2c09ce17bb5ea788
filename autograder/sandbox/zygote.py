"""The checkers' side of the fork server: a process that imported every exercise, and forks a checker per submission.

The fork server (``autograder.sandbox.forkserver``) holds only what a kernel
needs, since every kernel is forked from it: no exercise is imported there.
The trusted checkers need every exercise, its references and checks, which
take seconds to import. So the server forks this process once, before any
submission exists; it imports them all, sends the server the maps of
forbidden functions as data (``autograder.checker.maps``), and then, for each
submission, receives the checker's request and its end of the socket to the
kernel, forks the checker and answers with its pid. A checker that ended stays
a zombie until the server asks to end it, so that its pid names no other
process meanwhile.

Each checker confines itself before it reads anything from the kernel
(``confine``): it joins a cgroup of its own where the grader has cgroups (its
memory limit; otherwise a limit on its address space), and gives up root for
an unprivileged user and every capability.
"""

from __future__ import annotations

import json
import os
import pwd
import resource
import signal
import socket
import sys
import traceback
from pathlib import Path

from .cgroups import join
from .privileges import become_unprivileged, die_with_parent

CHECKER_FD = 3  # where a checker finds its end of the socket to the kernel
UNPRIVILEGED_USER = "nobody"  # whom a checker runs as, when the grader runs as root
_MESSAGE_BYTES = 1 << 20


def _send(channel: socket.socket, message: dict, fds: list[int] = ()) -> None:
    socket.send_fds(channel, [json.dumps(message).encode()], list(fds))


def _receive(channel: socket.socket) -> tuple[dict | None, list[int]]:
    data, fds, _, _ = socket.recv_fds(channel, _MESSAGE_BYTES, 1)
    return (json.loads(data) if data else None), fds


class Zygote:
    """The server's handle on the checkers' process."""

    def __init__(self):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:
            mine.close()
            _main(theirs)
        theirs.close()
        self.channel = mine
        message, _ = _receive(mine)
        if not message or "maps" not in message:
            raise RuntimeError("the checkers' process could not import the exercises; see the fork server's log")
        self.maps = message["maps"]

    def start(self, request: dict, connection: socket.socket) -> int:
        """Fork a checker for ``request``, talking to the kernel over ``connection``; return its pid."""
        _send(self.channel, {"start": request}, [connection.fileno()])
        message, _ = _receive(self.channel)
        if not message or "pid" not in message:
            raise RuntimeError("the checkers' process is gone")
        return message["pid"]

    def end(self, pid: int) -> None:
        """Kill the checker ``pid`` if it still runs, and reap it."""
        _send(self.channel, {"end": pid})


def _main(channel: socket.socket) -> None:
    """The checkers' process: import the checks, send the maps, then fork checkers. Never returns."""
    code = 0
    try:
        die_with_parent()
        os.dup2(2, 1)  # the server's stdout answers the grader: nothing of this process goes there
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        from autograder import registry
        from autograder.checker import maps, process  # noqa: F401 - imported once, for every checker
        from autograder.core.devices import warm_up

        registry.import_all()
        warm_up()  # what fake tensors import on their first use, once for every checker
        _send(channel, {"maps": maps.as_data()})
        while True:
            message, fds = _receive(channel)
            if message is None:  # the server is gone
                break
            if "start" in message:
                pid = os.fork()
                if pid == 0:
                    channel.close()
                    _checker(message["start"], fds[0])
                os.close(fds[0])
                _send(channel, {"pid": pid})
            elif "end" in message:
                _end(message["end"])
    except BaseException:  # noqa: BLE001 - the server sees this process gone, and says so
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _end(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def output_to(log_path: str) -> None:
    """A forked child's stdin from /dev/null, its stdout and stderr to ``log_path``."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)


def _checker(request: dict, connection: int) -> None:
    """A checker: outside the sandbox, it runs the submission's tests. Never returns."""
    code = 72
    try:
        output_to(request["log"])
        os.dup2(connection, CHECKER_FD)
        os.closerange(CHECKER_FD + 1, os.sysconf("SC_OPEN_MAX"))
        die_with_parent()
        os.setsid()
        import torch

        from ..checker.process import read_notebooks, serve

        torch.set_num_threads(1)  # small tensors; the submissions' kernels have the cores
        allowed = request.get("allowed") or ()
        notebooks = read_notebooks({name: Path(path) for name, path in request["notebooks"].items()},
                                   {name: Path(path) for name, path in request.get("releases", {}).items()},
                                   True if allowed is True else set(allowed))
        verdicts = Path(request["verdicts"])
        confine(request.get("cgroup", []), request.get("memory_bytes"), verdicts.parent)
        serve(socket.socket(fileno=CHECKER_FD), notebooks, Path(verdicts.name), request["cell_timeout"])
        code = 0
    except BaseException:  # noqa: BLE001 - whatever happened goes to the checker's log
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def confine(cgroup: list[str], memory_bytes: int | None, writable: Path | None = None) -> None:
    """Join ``cgroup`` (or cap the address space), then run as an unprivileged user without capabilities.

    ``writable`` is the folder the checker writes its verdicts to: given to that user, and made the
    working folder, so that the user needs no right on the folders above it (the grader's may be private).
    Without a cgroup, ``memory_bytes`` is what the address space may grow beyond what it is now.
    """
    if cgroup:
        join(cgroup)
    elif memory_bytes:
        with open("/proc/self/statm") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (size + memory_bytes, size + memory_bytes))
    uid = gid = None
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(UNPRIVILEGED_USER)
            uid, gid = user.pw_uid, user.pw_gid
        except KeyError:
            uid = gid = 65534  # the kernel's overflow user: nobody, on every Linux
        if writable is not None:
            os.chown(writable, uid, gid)
    if writable is not None:
        os.chdir(writable)
    become_unprivileged(uid, gid)
