"""A sandbox per submission: bubblewrap's namespaces, entered by a process forked from the fork server.

A submission is hostile until graded. For each one the grader starts Debian's
``bubblewrap`` (``bwrap``), which builds the sandbox and then only waits:

* the whole filesystem is read-only, and the course's own folder, the home
  folders (the instructor's keys and other courses; a kernel's output reaches
  the student in the feedback) and the checkout the autograder was installed
  from (it holds solutions/) are replaced by empty ones, so solutions/, the
  gradebook and other students' files do not exist; only the Python
  installation, its environment and the autograder package are put back,
  read-only;
* the submission's folder is the only writable place (plus a private /tmp);
* there is no network (a new network namespace with nothing but loopback), no
  view of other processes (a new PID namespace), no capability (a new user
  namespace with ``--cap-drop ALL``; as root, bwrap would otherwise keep
  CAP_SYS_ADMIN inside, enough to unmount what hides the solutions) and no
  further user namespaces.

The submission's runner and kernel are then forked from the fork server
(``autograder.sandbox.forkserver``), join these namespaces, drop every capability
and take the memory and CPU limits (``autograder.sandbox.privileges``). Killing the
waiting bwrap ends the PID namespace and every process in it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

INSIDE = "/tmp/submission"  # where the submission's folder appears in the sandbox
# What a sandboxed process finds in its environment: everything it writes stays in its /tmp.
ENVIRONMENT = {"HOME": "/tmp", "JUPYTER_RUNTIME_DIR": "/tmp/jupyter", "MPLCONFIGDIR": "/tmp/matplotlib",
               "IPYTHONDIR": "/tmp/ipython"}


class SandboxUnavailable(RuntimeError):
    pass


def bwrap_path() -> str:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap is not installed (apt-get install bubblewrap); "
            "or grade without a sandbox with --no-sandbox, which is unsafe"
        )
    return bwrap


def hiding_arguments(course_root: Path) -> list[str]:
    """bwrap arguments that hide the course, the homes and the autograder's checkout, then put Python back."""
    package = Path(__file__).resolve().parent.parent  # the autograder package
    hidden = {Path("/home"), Path("/root"), course_root.resolve()}
    try:
        hidden.add(Path.home().resolve())
    except RuntimeError:  # a user without a home folder: nothing more to hide
        pass
    if not {"site-packages", "dist-packages"} & set(package.parts):  # installed from a checkout
        hidden.add(package.parent)
    hidden = {path for path in hidden if path.is_dir() and path != Path("/")}
    # The interpreter, the environment and the package may live in a hidden folder: put them back.
    kept = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), package}
    for path in kept:
        if any(path == folder or path in folder.parents for folder in hidden):
            raise SandboxUnavailable(
                f"{path} holds the course, a home folder or the autograder's checkout, so the sandbox "
                "could not hide them: keep Python and its environment in a folder of their own"
            )
    arguments = []
    for path in sorted(hidden, key=lambda p: (len(p.parts), str(p))):  # outer folders first
        arguments += ["--tmpfs", str(path)]
    for path in sorted(kept, key=lambda p: (len(p.parts), str(p))):
        arguments += ["--ro-bind", str(path), str(path)]
    return arguments


class Sandbox:
    """The namespaces of one submission, held open by a waiting bwrap until ``close``."""

    def __init__(self, workdir: Path, course_root: Path):
        info_read, info_write = os.pipe()
        command = [
            bwrap_path(),
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
            *hiding_arguments(Path(course_root)),
            "--bind", str(workdir), INSIDE,
            "--unshare-user", "--disable-userns", "--cap-drop", "ALL",
            "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--die-with-parent", "--new-session",
            "--info-fd", str(info_write),
            "--", "/bin/sh", "-c", "echo ready; exec sleep infinity",
        ]
        with os.fdopen(info_read) as info:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=(info_write,), start_new_session=True,
            )
            os.close(info_write)
            # The command runs once bwrap has built everything: its line means the sandbox is whole.
            ready = self.process.stdout.readline()
            details = info.read()
        if ready.strip() != b"ready":
            error = self.process.stderr.read().decode(errors="replace").strip()
            self.close()
            raise SandboxUnavailable(f"bubblewrap could not build the sandbox: {error}")
        self.pid = json.loads(details)["child-pid"]  # a process inside, whose namespaces a runner joins

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()
