"""A fork server: one process imports torch and the kernel's side once, and forks a runner per submission.

Every stock kernel spends about 5 s starting Python and ipykernel and
importing torch and the autograder, which is most of the time a submission
takes. The server pays that once per class, for the kernels, and its checkers'
process (``autograder.sandbox.zygote``) for the checkers, which alone import the
exercises. It never runs student code: for each submission it has a checker
forked there, and forks a child that

1. sends its output to the submission's log, closes every other descriptor
   and dies with the server;
2. joins the submission's cgroup (``autograder.sandbox.cgroups``), which
   then counts every process it forks against the submission's memory and
   process limits;
3. joins the namespaces of the submission's own sandbox (see
   ``autograder.sandbox.bwrap``) and drops every capability, so that the isolation
   between submissions is that of separate bubblewrap sandboxes;
4. takes the per-process limits, copies the submission into its folder in the
   sandbox, and forks the runner, the first process inside the sandbox's PID
   namespace, which executes the notebooks (``autograder.sandbox.runner``) and
   forks their kernels.

The grader talks to the server over its stdin and stdout, one JSON object per
line: a request names the notebooks, the sandbox and the limits; the server
answers with the child's pid at once and its exit code when it ends.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import traceback
import uuid
from concurrent.futures import Future
from pathlib import Path

from ..checker import CONNECTION
from .cgroups import join
from .privileges import die_with_parent, drop_privileges, enter_namespaces, open_namespaces, set_limits
from .zygote import CHECKER_FD, Zygote, output_to


# -- the server ---------------------------------------------------------------------


def preload() -> None:
    """Import what every kernel and runner needs, before any submission exists, and nothing that computes an exercise.

    The kernel answers the checker with the stub, the wire and the calling seam; the
    exercises' checks, references and planted implementations are imported only on the
    checkers' side (``autograder.sandbox.zygote``).
    """
    import ipykernel.kernelapp  # noqa: F401
    import jupyter_client  # noqa: F401
    import nbclient  # noqa: F401
    import numpy  # noqa: F401
    import torch  # noqa: F401

    # What a kernel imports as it starts (its debugger, history, completer): a tenth of a second
    # of every kernel's CPU, paid here once. The debugger's notice about Python's frozen modules
    # is for someone debugging, not for the grading log.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    import IPython.core.completerlib  # noqa: F401
    import IPython.core.debugger  # noqa: F401
    import IPython.extensions.storemagic  # noqa: F401
    import ipykernel.debugger  # noqa: F401
    import ipykernel.ipkernel  # noqa: F401
    import numpy.random  # noqa: F401
    import sqlite3  # noqa: F401
    import tornado.platform.asyncio  # noqa: F401
    import tornado.queues  # noqa: F401

    import autograder.checker.stub  # noqa: F401
    from autograder.core.devices import warm_up
    from autograder.sandbox import runner, standins  # noqa: F401 - imported in the sandbox, where no file is

    warm_up()  # what the simulated GPU imports on its first run, once for every kernel forked




def _child(request: dict, connection: socket.socket | None = None) -> None:
    """The forked child: confine itself, then run the submission's notebooks. Never returns."""
    code = 70
    try:
        output_to(request["log"])
        if connection is not None:  # its runner and kernels inherit it
            os.dup2(connection.fileno(), CHECKER_FD)
            os.set_inheritable(CHECKER_FD, True)
            os.environ[CONNECTION] = str(CHECKER_FD)
            os.closerange(CHECKER_FD + 1, os.sysconf("SC_OPEN_MAX"))
        else:
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the server's pipes stay with the server
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        die_with_parent()
        os.setsid()
        join(request.get("cgroup", []))  # while it may: the sandbox's user namespace takes that right
        if request["sandbox_pid"]:
            enter_namespaces(open_namespaces(request["sandbox_pid"]))
        drop_privileges()
        set_limits(request["memory_bytes"], request["cpu_seconds"], request.get("file_bytes"))
        os.environ.update(request["environment"])
        if request.get("copy_from"):  # into the sandbox's tmpfs: it counts against the disk limit
            shutil.copytree(request["copy_from"], request["cwd"], dirs_exist_ok=True)
        runner = os.fork()  # in the sandbox's PID namespace
        if runner == 0:
            code = 71
            die_with_parent()
            from .runner import run_notebooks

            os.chdir(request["cwd"])
            code = run_notebooks(request["cwd"], request["notebooks"], request["cell_timeout"])
        else:
            _, status = os.waitpid(runner, 0)
            code = os.waitstatus_to_exitcode(status)
            code = code if code >= 0 else 128 - code  # killed by signal N: 128 + N, as a shell says
    except BaseException:  # noqa: BLE001 - whatever happened goes to the submission's log
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    die_with_parent()
    preload()
    zygote = Zygote()  # imports the exercises in a process of its own

    from ..checker import maps

    maps.declare(zygote.maps)  # what the kernels forked from here refuse, as data
    answers = os.dup(1)

    def answer(message: dict) -> None:
        os.write(answers, (json.dumps(message) + "\n").encode())

    answer({"ready": True})
    children: dict[int, str] = {}
    checkers: dict[int, int] = {}  # a submission's child -> its checker
    pending = b""
    while True:
        readable, _, _ = select.select([0], [], [], 0.05)
        while children or checkers:  # reap the children that ended
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            if pid not in children:
                continue  # a checker, ended with its submission
            checker = checkers.pop(pid, None)
            if checker:  # each verdict is written before the kernel goes on: none is lost here
                zygote.end(checker)
            answer({"id": children.pop(pid), "exit": os.waitstatus_to_exitcode(status)})
        if not readable:
            continue
        chunk = os.read(0, 1 << 16)
        if not chunk:  # the grader closed the pipe: it is done, or gone
            break
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            checker, connection = None, None
            if request.get("checker"):
                mine, connection = socket.socketpair()
                checker = zygote.start(request["checker"], mine)
                mine.close()
            pid = os.fork()
            if pid == 0:
                _child(request, connection)
            if connection is not None:
                connection.close()
                checkers[pid] = checker
            children[pid] = request["id"]
            answer({"id": request["id"], "pid": pid})
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    for pid in checkers.values():
        zygote.end(pid)


# -- the grader's side ------------------------------------------------------------------


class ForkServerError(RuntimeError):
    pass


class ForkServer:
    """Starts the server and runs requests on it; safe to use from several threads."""

    def __init__(self, log_path):
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "autograder.sandbox.forkserver"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, start_new_session=True,
            )
        self.log_path = log_path
        self._lock = threading.Lock()
        self._started: dict[str, Future] = {}
        self._ended: dict[str, Future] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            message = json.loads(line)
            with self._lock:
                if "pid" in message:
                    self._started.pop(message["id"]).set_result(message["pid"])
                elif "exit" in message:
                    self._ended.pop(message["id"]).set_result(message["exit"])
        with self._lock:  # the server is gone: nothing pending will ever end
            error = ForkServerError(f"the fork server stopped; see {self.log_path}")
            for future in [*self._started.values(), *self._ended.values()]:
                future.set_exception(error)
            self._started.clear()
            self._ended.clear()

    def run(self, request: dict, timeout: float) -> int | None:
        """Run ``request``; return the exit code, or None when it ran longer than ``timeout`` and was killed."""
        identifier = uuid.uuid4().hex
        started, ended = Future(), Future()
        with self._lock:
            if self.process.poll() is not None:
                raise ForkServerError(f"the fork server stopped; see {self.log_path}")
            self._started[identifier], self._ended[identifier] = started, ended
            self.process.stdin.write((json.dumps({**request, "id": identifier}) + "\n").encode())
            self.process.stdin.flush()
        pid = started.result()  # the clock starts once the child exists, not while the server imports
        try:
            return ended.result(timeout=timeout)
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)  # its runner and kernels die with it
            ended.result()
            return None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._reader.join()
        self.process.stdout.close()


if __name__ == "__main__":
    serve()
