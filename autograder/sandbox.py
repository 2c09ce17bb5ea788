"""Execute a submission's notebooks in a sandbox, one process tree per submission.

A submission is hostile until graded. Its notebooks run, client and kernel
together, inside Debian's ``bubblewrap`` (``bwrap``):

* the whole filesystem is read-only, and the course's own folder is replaced
  by an empty one, so solutions/, the gradebook and other students' files do
  not exist; only the Python environment and the autograder package are put
  back, read-only;
* the submission's folder is the only writable place (plus a private /tmp);
* there is no network (a new network namespace with nothing but loopback), no
  view of other processes (a new PID namespace), and everything dies with the
  grader;
* ``prlimit`` caps the address space and CPU time of every process inside.

The grader adds a wall-clock limit per notebook and per cell. Every test cell
that did not run to the end gets an error output, so nbgrader gives it zero
(nbgrader gives full marks to a test cell with no output at all).

Run as ``python -m autograder.sandbox NOTEBOOK...`` inside the sandbox: it
executes each notebook in place and writes the executed notebook next to it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import nbformat

INSIDE = "/tmp/submission"  # where the submission's folder appears in the sandbox
EXECUTED_SUFFIX = ".executed.ipynb"
STOPPED_PREFIX = "autograder.sandbox stopped: "  # how the runner reports a notebook that stopped early


class SandboxUnavailable(RuntimeError):
    pass


def sandbox_command(workdir: Path, course_root: Path, notebooks: list[str], *, cell_timeout: int,
                    memory_bytes: int, cpu_seconds: int, sandbox: bool = True) -> tuple[list[str], Path]:
    """The command that executes ``notebooks`` of ``workdir``, and the folder to run it in."""
    runner = [sys.executable, "-m", "autograder.sandbox", "--timeout", str(cell_timeout), *notebooks]
    limits = ["prlimit", f"--as={memory_bytes}", f"--cpu={cpu_seconds}", "--"]
    if not sandbox:
        return limits + runner, workdir
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap is not installed (apt-get install bubblewrap); "
            "or grade without a sandbox with --no-sandbox, which is unsafe"
        )
    package = Path(__file__).resolve().parent
    environment = Path(sys.prefix).resolve()
    command = [
        bwrap,
        "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
        "--tmpfs", str(course_root),  # hide solutions, gradebook and other submissions
        # The environment and the package may live inside the course: put them back, read-only.
        "--ro-bind", str(environment), str(environment),
        "--ro-bind", str(package), str(package),
        "--bind", str(workdir), INSIDE, "--chdir", INSIDE,
        "--setenv", "HOME", "/tmp", "--setenv", "JUPYTER_RUNTIME_DIR", "/tmp/jupyter",
        "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib", "--setenv", "IPYTHONDIR", "/tmp/ipython",
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
        "--die-with-parent", "--new-session",
    ]
    return limits + command + runner, workdir


def mark_unfinished_tests(notebook, reason: str) -> int:
    """Give every graded cell that did not finish an error output; return how many."""
    marked = 0
    for cell in notebook.cells:
        graded = cell.get("metadata", {}).get("nbgrader", {}).get("grade")
        if cell.cell_type != "code" or not graded:
            continue
        finished = cell.get("execution_count") is not None
        failed = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        if not finished and not failed:
            cell.outputs = [nbformat.v4.new_output(
                "error", ename="GradingError", evalue=reason, traceback=[f"GradingError: {reason}"]
            )]
            marked += 1
    return marked


def execute(path: Path, cell_timeout: int) -> str | None:
    """Execute the notebook at ``path``; return why it stopped early, if it did."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=cell_timeout,
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={
            "ename": "CellTimeoutError",
            "evalue": f"the cell ran longer than {cell_timeout} s and was interrupted",
            "traceback": [f"CellTimeoutError: the cell ran longer than {cell_timeout} s"],
        },
        resources={"metadata": {"path": str(path.parent)}},
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    stopped = None
    try:
        client.execute()
    except DeadKernelError:
        stopped = "the kernel died (a crash, os._exit() or the memory limit) before this test ran"
    except Exception as error:  # noqa: BLE001 - any other failure stops this notebook only
        stopped = f"execution stopped: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    mark_unfinished_tests(notebook, stopped or "this test did not run")
    nbformat.write(notebook, path.with_name(path.stem + EXECUTED_SUFFIX))
    return stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Execute notebooks in place (run inside the sandbox).")
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per cell")
    args = parser.parse_args(argv)
    for name in args.notebooks:
        stopped = execute(Path(os.getcwd(), name), args.timeout)
        if stopped:
            print(f"{STOPPED_PREFIX}{name}: {stopped}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
