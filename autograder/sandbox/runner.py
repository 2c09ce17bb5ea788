"""Execute a submission's notebooks with kernels forked from an already warm process.

A stock kernel is a new Python process: about 2 s to start ipykernel and 3 s
more for the notebook to import torch and the autograder, on every submission.
Here the runner is itself a fork of the fork server (``autograder.sandbox.forkserver``),
which imported all of that once; for each notebook it forks a kernel, an
``ipykernel`` application started in the child, and drives it with nbclient's
``NotebookClient`` as stock nbgrader does. The kernel talks to nbclient over
Unix sockets in the sandbox's private /tmp (Jupyter's ``ipc`` transport).
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import signal
import sys
import time
import traceback
import uuid
from pathlib import Path

import nbformat

from .privileges import die_with_parent

EXECUTED_SUFFIX = ".executed.ipynb"
STOPPED_PREFIX = "autograder.runner stopped: "  # how the runner reports a notebook that stopped early


class _ForkedProcess:
    """The part of ``subprocess.Popen`` that jupyter_client's provisioner uses, for a forked pid."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -signal.SIGKILL
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"process {self.pid} still running")
            time.sleep(0.01)
        return self.returncode

    def send_signal(self, signum):
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def terminate(self):
        self.send_signal(signal.SIGTERM)


def _fresh_random_state() -> None:
    """A fork inherits its parent's random generators; a new kernel would seed them anew."""
    random.seed()
    try:
        import numpy

        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))
    except ImportError:
        pass


def _kernel(connection_file: str, cwd: str) -> None:
    """The body of a forked kernel; never returns."""
    code = 1
    try:
        os.setpgid(0, 0)  # its own group: an interrupt sent to the kernel must not reach the runner
        die_with_parent()
        os.chdir(cwd)
        _fresh_random_state()
        from ipykernel.kernelapp import IPKernelApp

        from .standins import install

        install()  # the exercise packages as stand-ins: no reference or planted implementation here

        sys.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file]
        app = IPKernelApp.instance()
        app.initialize(["-f", connection_file, "--IPKernelApp.log_level=ERROR",
                        "--HistoryManager.hist_file=:memory:"])
        app.start()
        code = 0
    except BaseException:  # noqa: BLE001 - the runner sees the kernel die and reports it
        traceback.print_exc()
    finally:
        os._exit(code)


def start_kernel(cwd: str):
    """Fork a kernel whose working directory is ``cwd``; return its started kernel manager."""
    from jupyter_client import AsyncKernelManager
    from jupyter_client.connect import write_connection_file
    from jupyter_client.provisioning import LocalProvisioner

    runtime = Path(os.environ.get("JUPYTER_RUNTIME_DIR", "/tmp/jupyter"))
    runtime.mkdir(parents=True, exist_ok=True)
    name = f"kernel-{uuid.uuid4().hex[:8]}"
    connection_file, _ = write_connection_file(
        str(runtime / f"{name}.json"), transport="ipc", ip=str(runtime / name),
        key=secrets.token_hex(16).encode(), kernel_name="python3",
    )
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _kernel(connection_file, cwd)
    manager = AsyncKernelManager(kernel_name="python3", connection_file=connection_file)
    manager.load_connection_file()
    provisioner = LocalProvisioner(kernel_id=name, kernel_spec=manager.kernel_spec, parent=manager)
    provisioner.process, provisioner.pid, provisioner.pgid = _ForkedProcess(pid), pid, pid
    manager.provisioner = provisioner  # nbclient sees a started kernel and does not start its own
    return manager


def stop_kernel(manager) -> None:
    process = manager.provisioner.process
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def execute(path: Path, cell_timeout: int) -> str | None:
    """Execute the notebook at ``path`` in a forked kernel; return why it stopped early, if it did."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    notebook = nbformat.read(path, as_version=4)
    manager = start_kernel(str(path.parent))
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=cell_timeout,
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={
            "ename": "CellTimeoutError",
            "evalue": f"the cell ran longer than {cell_timeout} s and was interrupted",
            "traceback": [f"CellTimeoutError: the cell ran longer than {cell_timeout} s"],
        },
    )
    stopped = None
    try:
        client.execute()
    except DeadKernelError:
        stopped = "the kernel died (a crash, os._exit() or the memory limit) before this test ran"
    except Exception as error:  # noqa: BLE001 - any other failure stops this notebook only
        stopped = f"execution stopped: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    finally:
        stop_kernel(manager)
        if client.kc is not None:
            client.kc.stop_channels()
    # A test that did not run has no output yet; the grader fails it (autograder.grading.preprocessors).
    nbformat.write(notebook, path.with_name(path.stem + EXECUTED_SUFFIX))
    return stopped


def run_notebooks(folder: str, names: list[str], cell_timeout: int) -> int:
    """Execute each notebook of ``folder`` in turn, writing the executed copy next to it."""
    asyncio.set_event_loop(asyncio.new_event_loop())
    for name in names:
        stopped = execute(Path(folder, name), cell_timeout)
        if stopped:
            print(f"{STOPPED_PREFIX}{name}: {stopped}", file=sys.stderr, flush=True)
    return 0
