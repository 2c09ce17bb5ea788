"""A sandbox per submission: bubblewrap's namespaces, entered by a process forked from the fork server.

A submission is hostile until graded. For each one the grader starts Debian's
``bubblewrap`` (``bwrap``), which builds the sandbox and then only waits:

* the whole filesystem is read-only, and the course's own folder, the home
  folders (the instructor's keys and other courses; a kernel's output reaches
  the student in the feedback) and the checkout the autograder was installed
  from (it holds solutions/) are replaced by empty ones, so solutions/, the
  gradebook and other students' files do not exist; only the Python
  installation and its environment are put back, read-only, and every copy of
  the autograder package is hidden: the kernel, forked from the fork server,
  holds what it needs of it already, and no check, reference or planted
  implementation (``autograder.sandbox.standins``);
* the only writable place is a private /tmp, a tmpfs of at most ``disk_bytes``:
  the submission's folder is copied into it (``INSIDE``) from a read-only view
  (``HANDED_IN``) by the forked child before any student code runs, and only
  its executed notebooks are copied back (``Sandbox.collect``): nothing else
  the submission writes reaches the grader's disk but its log, which is no
  larger than ``disk_bytes`` either;
* there is no network (a new network namespace with nothing but loopback), no
  view of other processes (a new PID namespace), no capability (a new user
  namespace with ``--cap-drop ALL``; as root, bwrap would otherwise keep
  CAP_SYS_ADMIN inside, enough to unmount what hides the solutions) and no
  further user namespaces.

The submission's runner and kernel are then forked from the fork server
(``autograder.sandbox.forkserver``), join the submission's cgroup
(``autograder.sandbox.cgroups``) and these namespaces, drop every capability
and take the per-process limits (``autograder.sandbox.privileges``). Killing
the waiting bwrap ends the PID namespace and every process in it, and frees
the tmpfs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

INSIDE = "/tmp/submission"  # the submission's folder in the sandbox: writable, in the tmpfs
HANDED_IN = "/tmp/handed-in"  # the sanitized submission, read-only, copied to INSIDE before it runs
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


def package_copies() -> set[Path]:
    """Every folder the course's package can be imported from: this one, and those of its installation.

    An editable install names its checkout (``direct_url.json``, PEP 610); a
    wheel's files lie in site-packages. Each holds the references and the
    planted implementations, which a kernel must not import or read.
    """
    import importlib.metadata

    copies = {Path(__file__).resolve().parent.parent}
    try:
        distribution = importlib.metadata.distribution("autograder")
    except importlib.metadata.PackageNotFoundError:
        return copies
    installed = Path(distribution.locate_file("autograder"))
    if (installed / "__init__.py").is_file():
        copies.add(installed.resolve())
    try:
        url = json.loads(distribution.read_text("direct_url.json") or "{}").get("url", "")
    except ValueError:
        url = ""
    if url.startswith("file://") and (Path(url[len("file://"):]) / "autograder" / "__init__.py").is_file():
        copies.add((Path(url[len("file://"):]) / "autograder").resolve())
    return copies


def hiding_arguments(course_root: Path) -> list[str]:
    """bwrap arguments that hide the course, the homes, the package and its checkout, then put Python back."""
    package = Path(__file__).resolve().parent.parent  # the autograder package
    hidden = {Path("/home"), Path("/root"), course_root.resolve()}
    try:
        hidden.add(Path.home().resolve())
    except RuntimeError:  # a user without a home folder: nothing more to hide
        pass
    if not {"site-packages", "dist-packages"} & set(package.parts):  # installed from a checkout
        hidden.add(package.parent)
    hidden = {path for path in hidden if path.is_dir() and path != Path("/")}
    # The interpreter and the environment may live in a hidden folder: put them back.
    kept = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
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
    # The kernel holds what it needs of the package already (``autograder.sandbox.standins``):
    # every copy that is still in view is hidden too, after the environment it may lie in.
    for path in sorted(package_copies(), key=lambda p: (len(p.parts), str(p))):
        inside_hidden = any(folder in path.parents for folder in hidden)
        inside_kept = any(folder in path.parents for folder in kept)
        if path.is_dir() and (inside_kept or not inside_hidden):
            arguments += ["--tmpfs", str(path)]
    return arguments


class Sandbox:
    """The namespaces of one submission, held open by a waiting bwrap until ``close``."""

    def __init__(self, workdir: Path, course_root: Path, disk_bytes: int | None = None):
        info_read, info_write = os.pipe()
        size = ["--size", str(disk_bytes)] if disk_bytes else []
        command = [
            bwrap_path(),
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", *size, "--tmpfs", "/tmp",
            *hiding_arguments(Path(course_root)),
            "--ro-bind", str(workdir), HANDED_IN, "--dir", INSIDE,
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
        self.disk_bytes = disk_bytes
        self.workdir = Path(workdir)

    def _open_inside(self, path: str) -> int:
        """A descriptor of the folder ``path`` as the sandbox sees it, never following a link it made."""
        descriptor = os.open(f"/proc/{self.pid}/root", os.O_RDONLY | os.O_DIRECTORY)
        for part in Path(path).relative_to("/").parts:
            try:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=descriptor)
            finally:
                os.close(descriptor)
            descriptor = inner
        return descriptor

    def disk_full(self) -> bool:
        """Whether the sandbox's /tmp (its folder included) is full, or nearly."""
        if not self.disk_bytes:
            return False
        try:
            descriptor = self._open_inside("/tmp")
        except OSError:  # the sandbox is gone already: nothing to tell
            return False
        try:
            info = os.fstatvfs(descriptor)
        finally:
            os.close(descriptor)
        return info.f_bavail * info.f_frsize < max(1 << 20, self.disk_bytes // 100)

    def collect(self, names: list[str], destination: Path, max_bytes: int) -> list[str]:
        """Copy the files ``names`` of the submission's folder into ``destination``; return what was dropped.

        Only regular files of at most ``max_bytes`` come back. The list names,
        with their sizes, those of ``names`` that did not, and every other
        non-empty file the submission wrote into its folder, which stays behind.
        """
        destination.mkdir(parents=True, exist_ok=True)
        handed_in = set(os.listdir(self.workdir))
        dropped = []
        try:
            folder = self._open_inside(INSIDE)
        except OSError as error:
            return [f"{INSIDE} ({error.strerror})"]
        try:
            for entry in sorted(os.listdir(folder)):
                info = os.stat(entry, dir_fd=folder, follow_symlinks=False)
                if entry in names and stat.S_ISREG(info.st_mode) and info.st_size <= max_bytes:
                    # O_NONBLOCK: were it swapped for a pipe since, opening it must not wait.
                    source = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
                    with os.fdopen(source, "rb") as reader:
                        content = reader.read(max_bytes + 1) if stat.S_ISREG(os.fstat(source).st_mode) else b""
                    if len(content) <= max_bytes:  # it may have grown since
                        (destination / entry).write_bytes(content)
                        continue
                if entry in names or (entry not in handed_in and info.st_size > 0):
                    dropped.append(f"{entry} ({_size(info.st_size)})")
        finally:
            os.close(folder)
        return dropped

    def close(self) -> None:
        """End the sandbox: every process in it, and its /tmp."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()


def _size(count: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
