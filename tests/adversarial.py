"""A corpus of hostile and broken submissions of the BatchNorm exercise, each with the grade it must get.

Each case builds a submission folder from the released notebook and the
reference solution. ``expected`` is the score out of the exercise's full marks
("full" or 0), and ``status`` the grading status the report must show.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat

from helpers import grade_id, solution_code

ASSIGNMENT = "batch_norm"


@dataclass
class Case:
    description: str
    build: Callable  # (context) -> {file name: notebook or bytes}
    expected: str  # "full" or "zero"
    status: str = "graded"


@dataclass
class Context:
    course: Path  # the course's root: what a submission must not see
    port: int  # a TCP port on 127.0.0.1 that accepts connections during grading
    home: Path = Path("/nonexistent")  # the grader's home folder, which holds the solution in answer.py

    @property
    def release(self) -> Path:
        return self.course / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"

    @property
    def solution(self) -> str:
        return solution_code(self.course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")[ASSIGNMENT]

    def notebook(self, code: str | None = None):
        """The released notebook with ``code`` as the answer (the reference solution by default)."""
        notebook = nbformat.read(self.release, as_version=4)
        for cell in notebook.cells:
            if grade_id(cell) == ASSIGNMENT:
                cell.source = self.solution if code is None else code
        return notebook


NOT_IMPLEMENTED = "def batch_norm(*args, **kwargs):\n    raise NotImplementedError()\n"
RETURNS_INPUT = "def batch_norm(input, *args, **kwargs):\n    return input.clone()\n"


def _answer(*parts: str) -> Callable:
    """An answer cell made of ``parts``, each dedented on its own; ``{c...}`` is filled from the context."""
    code = "\n".join(textwrap.dedent(part).strip("\n") for part in parts) + "\n"
    return lambda c: {f"{ASSIGNMENT}.ipynb": c.notebook(code.format(c=c))}


def _solution_then(code: str) -> Callable:
    return lambda c: {f"{ASSIGNMENT}.ipynb": c.notebook(c.solution + "\n" + textwrap.dedent(code))}


def _edit(change: Callable) -> Callable:
    def build(c):
        notebook = c.notebook()
        change(notebook, c)
        return {f"{ASSIGNMENT}.ipynb": notebook}
    return build


def _delete_a_test(notebook, c):
    notebook.cells = [cell for cell in notebook.cells if grade_id(cell) != "batch_norm_training_output"]


def _edit_tests(notebook, c):
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "pass"
        if grade_id(cell) == ASSIGNMENT:
            cell.source = RETURNS_INPUT


def _move_tests_first(notebook, c):
    tests = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade")]
    others = [cell for cell in notebook.cells if cell not in tests]
    notebook.cells = others[:2] + tests + others[2:]  # tests before the answer


def _drop_kernelspec(notebook, c):
    del notebook.metadata["kernelspec"]


def _foreign_kernelspec(notebook, c):
    notebook.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}


def _reads_solutions(folder: str) -> str:
    """An answer that runs the reference found in ``folder``/solutions (a Python expression), or fails."""
    return """
    import json, os
    try:
        with open(os.path.join(""" + folder + """, "solutions", "batch_norm", "batch_norm.ipynb")) as file:
            cells = json.load(file)["cells"]
        exec("".join(next(cell["source"] for cell in cells if "def batch_norm" in "".join(cell["source"]))))
    except OSError:
        def batch_norm(*args, **kwargs):
            raise NotImplementedError()
    """


READS_SOLUTIONS = _reads_solutions('"{c.course}"')

READS_GRADEBOOK = """
    import sqlite3
    try:
        gradebook = sqlite3.connect("file:{c.course}/grading/gradebook.db?mode=ro", uri=True)
        exec(next(row[0] for row in gradebook.execute("select source from source_cell") if "def batch_norm" in row[0]))
    except (sqlite3.Error, StopIteration):
        def batch_norm(*args, **kwargs):
            raise NotImplementedError()
    """

# The autograder's own checkout, found from the package, holds the solutions too.
READS_CHECKOUT_SOLUTIONS = _reads_solutions('os.path.dirname(os.path.dirname(__import__("autograder").__file__))')

READS_HOME = """
    try:
        with open("{c.home}/answer.py") as file:
            exec(file.read())
    except OSError:
        def batch_norm(*args, **kwargs):
            raise NotImplementedError()
    """

# With CAP_SYS_ADMIN (bubblewrap keeps it for root unless told otherwise),
# lazily unmounting the empty folder over the course and the private /tmp shows the real files.
UNMOUNTS_THEN_READS_SOLUTIONS = """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    for target in ("{c.course}", "/tmp", "{c.course}"):
        libc.umount2(target.encode(), 2)  # MNT_DETACH
    """ + READS_SOLUTIONS

HOLDS_A_CAPABILITY = """
    with open("/proc/self/status") as status:
        capabilities = [int(line.split()[1], 16) for line in status if line.startswith(("CapEff", "CapPrm"))]
    if any(capabilities):
        exec({c.solution!r})
    else:
        def batch_norm(*args, **kwargs):
            raise NotImplementedError()
    """

# Each of the next three would get full marks without the limit it stands for, and
# each is bounded so that a grader without that limit survives it: 200 processes,
# 1.45 GB of memory, 1.5 GB of disk.
FORK_STORM = """
    import os, time
    children = []
    try:
        for _ in range(200):
            pid = os.fork()
            if pid == 0:
                time.sleep(2)
                os._exit(0)
            children.append(pid)
    except OSError:  # the process limit: the fork fails
        pass
    for pid in children:
        os.waitpid(pid, 0)
    if len(children) == 200:
        exec({c.solution!r})
    else:
        def batch_norm(*args, **kwargs):
            raise NotImplementedError()
    """

MEMORY_SPREAD = """
    import os, time
    with open("/tmp/ballast", "wb") as ballast:  # a tmpfs: memory that no process owns
        for _ in range(250):
            ballast.write(b"x" * 10 ** 6)
    children = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            held = b"x" * (300 * 10 ** 6)  # written, so really held
            time.sleep(3)  # while the others hold theirs
            os._exit(0)
        children.append(pid)
    if all(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0 for pid in children):
        exec({c.solution!r})
    else:  # the memory limit: the kernel killed a process
        def batch_norm(*args, **kwargs):
            raise NotImplementedError()
    """

LARGE_FILE = """
    written = 0
    try:
        with open("large.bin", "wb") as file:  # in the submission's own folder
            for _ in range(1500):
                file.write(b"x" * 10 ** 6)
                written += 1
    except OSError:  # the disk limit: no space left
        pass
    if written == 1500:
        exec({c.solution!r})
    else:
        def batch_norm(*args, **kwargs):
            raise NotImplementedError()
    """

# Submissions that try to pass from inside the kernel, knowing the autograder's public source.
# Each shows a pass of its own, so a verdict taken from the kernel's outputs would give full marks.
FORGED = "passed: batch_norm(input: (8, 3) float32) on cpu, cuda (simulated)"

REWRITES_LATER_CELLS = """
    # Every later cell, test cells included, becomes a display of a pass.
    from IPython import get_ipython
    get_ipython().input_transformers_post.append(
        lambda lines: ["display({{'text/plain': 'FORGED'}}, raw=True)\\n"])
    """.replace("FORGED", FORGED)

REPLACES_SHOWTRACEBACK = """
    # A failing test shows a pass instead of its traceback.
    from IPython import get_ipython
    from IPython.display import display
    shell = get_ipython()
    shell.showtraceback = lambda *args, **kwargs: display({{"text/plain": "FORGED"}}, raw=True)
    shell.showsyntaxerror = shell.showtraceback
    """.replace("FORGED", FORGED)

DISPLAYS_FAKE_REPORTS = """
    # After every cell, a pass; errors are swallowed by a custom exception handler.
    from IPython import get_ipython
    from IPython.display import display
    shell = get_ipython()
    shell.set_custom_exc((BaseException,), lambda *args, **kwargs: None)
    shell.events.register("post_run_cell", lambda result: display({{"text/plain": "FORGED"}}, raw=True))
    """.replace("FORGED", FORGED)

SWAPS_CODE_OBJECTS = """
    # The checks of the kernel's copy of the autograder accept anything and show a pass.
    import autograder.batch_norm, autograder.core.engine
    def accept(*args, **kwargs):
        from IPython.display import display
        display({{"text/plain": "FORGED"}}, raw=True)
    for function in (autograder.batch_norm.check_batch_norm, autograder.core.engine.check_against_reference,
                     check_batch_norm, check_batch_norm_rejects_single_value):
        getattr(function, "__wrapped__", function).__code__ = accept.__code__
    """.replace("FORGED", FORGED)

PATCHES_THE_STUB = """
    # The stub never asks the checker; the cell shows a pass of its own.
    import autograder.checker.stub
    from IPython.display import display
    autograder.checker.stub.serve = lambda *args, **kwargs: display({{"text/plain": "FORGED"}}, raw=True)
    """.replace("FORGED", FORGED)

FORGES_THE_STUBS_ANSWERS = """
    # A stub of its own answers the checker: every call returned its first argument, untouched, and
    # changed nothing; the answers are written by hand rather than by the autograder's wire.
    import json, os, socket, struct
    import autograder.checker.stub

    def forged_serve(notebook, cell, *args, **kwargs):
        sock = socket.socket(fileno=os.dup(int(os.environ["AUTOGRADER_CHECKER_FD"])))
        def send(header, buffers=()):
            head = json.dumps(header).encode()
            sock.sendall(struct.pack("!II", len(head), len(buffers)) + head
                         + b"".join(struct.pack("!Q", len(b)) + b for b in buffers))
        def receive():
            size, count = struct.unpack("!II", sock.recv(8, socket.MSG_WAITALL))
            header = json.loads(sock.recv(size, socket.MSG_WAITALL))
            buffers = []
            for _ in range(count):
                (n,) = struct.unpack("!Q", sock.recv(8, socket.MSG_WAITALL))
                buffers.append(sock.recv(n, socket.MSG_WAITALL) if n else b"")
            return header, buffers
        send({{"op": "test", "notebook": notebook, "cell": cell}})
        while True:
            request, buffers = receive()
            if request.get("op") == "done":
                return
            if request.get("op") == "call":
                arguments = request["args"]["v"]
                send({{"value": arguments[0] if arguments else None, "seq": request["seq"]}}, buffers)
            else:
                send({{"value": {{"t": "handle", "id": 1, "kind": "callable", "name": "batch_norm"}},
                       "seq": request["seq"]}})

    autograder.checker.stub.serve = forged_serve
    """


CASES: dict[str, Case] = {
    "solution": Case("the reference solution", lambda c: {f"{ASSIGNMENT}.ipynb": c.notebook()}, "full"),
    "blank": Case("the blank exercise", lambda c: {f"{ASSIGNMENT}.ipynb": nbformat.read(c.release, as_version=4)}, "zero"),
    "infinite_loop": Case("an infinite loop inside the function", _answer("""
        def batch_norm(*args, **kwargs):
            while True:
                pass
        """), "zero", "timed out"),
    "memory_bomb": Case("a memory bomb inside the function", _answer("""
        def batch_norm(*args, **kwargs):
            hog = bytearray(10 ** 12)
            return hog
        """), "zero"),
    "sys_exit": Case("sys.exit() before the function is defined", _answer("""
        import sys
        sys.exit(3)
        """, RETURNS_INPUT), "zero"),
    "os_exit": Case("os._exit() kills the kernel", _answer("""
        import os
        os._exit(1)
        """), "zero", "crashed"),
    "segfault": Case("a segmentation fault kills the kernel", _answer("""
        import ctypes
        ctypes.string_at(0)
        """), "zero", "crashed"),
    "output_flood": Case("floods of output on stdout and stderr after a correct answer",
                         _solution_then("""
        import sys
        for _ in range(200):
            print("spam " * 10_000)
            sys.stderr.write("eggs " * 10_000 + "\\n")
        """), "full"),
    "deleted_test": Case("a deleted test cell comes back", _edit(_delete_a_test), "full"),
    "edited_tests": Case("edited test cells are restored", _edit(_edit_tests), "zero"),
    # nbgrader keeps the student's order of cells, so tests moved above the answer fail, as in stock nbgrader.
    "reordered_tests": Case("tests moved above the answer", _edit(_move_tests_first), "zero"),
    "invalid_json": Case("a file that is not a notebook", lambda c: {f"{ASSIGNMENT}.ipynb": b"{ this is not json"},
                         "zero", "unreadable"),
    "renamed": Case("the notebook renamed", lambda c: {"my_batch_norm_final.ipynb": c.notebook()}, "full"),
    "no_kernelspec": Case("no kernelspec", _edit(_drop_kernelspec), "full"),
    "foreign_kernelspec": Case("an R kernelspec", _edit(_foreign_kernelspec), "full"),
    "replaced_check": Case("the check function replaced by a no-op", _answer("""
        check_batch_norm = lambda *args, **kwargs: None
        check_batch_norm_rejects_single_value = lambda *args, **kwargs: None
        """, NOT_IMPLEMENTED), "zero"),
    "patched_torch": Case("torch's batch_norm patched to match a wrong answer", _answer("""
        import torch.nn.functional as F
        F.batch_norm = lambda input, *args, **kwargs: input.clone()
        """, RETURNS_INPUT), "zero"),
    # Before the kernels were refused too, this one passed every test but the one that expects a ValueError.
    "calls_aten_kernel": Case("an answer that calls PyTorch's kernel through torch.ops.aten", _answer("""
        import torch

        def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                       eps=1e-5):
            return torch.ops.aten.native_batch_norm(
                input, weight, bias, running_mean, running_var, training, momentum, eps)[0]
        """), "zero"),
    # PyTorch's batch_norm raises the ValueError one test expects: that test must not pass either.
    "aliased_batch_norm": Case("PyTorch's batch_norm under another name", _answer("""
        from torch import nn

        batch_norm = nn.functional.batch_norm
        """), "zero"),
    "patched_harness": Case("the checking core's comparison patched to accept anything", _answer("""
        import autograder.core.engine
        autograder.core.engine._compare_results = lambda *args, **kwargs: []
        autograder.core.engine._compare_gradients = lambda *args, **kwargs: []
        """, RETURNS_INPUT), "zero"),
    "rewrites_later_cells": Case("an input transformer that turns every later cell into a displayed pass",
                                 _answer(REWRITES_LATER_CELLS, RETURNS_INPUT), "zero"),
    "replaces_showtraceback": Case("IPython's showtraceback replaced by a displayed pass",
                                   _answer(REPLACES_SHOWTRACEBACK, RETURNS_INPUT), "zero"),
    "displays_fake_reports": Case("errors swallowed and a pass displayed after every cell",
                                  _answer(DISPLAYS_FAKE_REPORTS, RETURNS_INPUT), "zero"),
    "swaps_code_objects": Case("the checks' code objects swapped for one that displays a pass",
                               _answer(SWAPS_CODE_OBJECTS, RETURNS_INPUT), "zero"),
    "patches_the_stub": Case("the grader's stub replaced by a displayed pass",
                             _answer(PATCHES_THE_STUB, RETURNS_INPUT), "zero"),
    "forges_the_stubs_answers": Case("a stub of its own that answers the checker by hand",
                                     _answer(FORGES_THE_STUBS_ANSWERS, RETURNS_INPUT), "zero"),
    "patched_testing": Case("torch.testing patched", _answer("""
        import torch.testing
        torch.testing.assert_close = lambda *args, **kwargs: None
        """, RETURNS_INPUT), "zero"),
    "reads_solutions": Case("an answer that works only if it can read the solutions",
                            _answer(READS_SOLUTIONS), "zero"),
    "unmounts_then_reads_solutions": Case("an answer that unmounts what hides the course to read the solutions",
                                          _answer(UNMOUNTS_THEN_READS_SOLUTIONS), "zero"),
    "holds_a_capability": Case("an answer that works only if the kernel holds a Linux capability",
                               _answer(HOLDS_A_CAPABILITY), "zero"),
    "reads_checkout_solutions": Case("an answer that reads the solutions from the autograder's checkout",
                                     _answer(READS_CHECKOUT_SOLUTIONS), "zero"),
    "reads_home": Case("an answer that works only if it can read the grader's home folder",
                       _answer(READS_HOME), "zero"),
    "reads_gradebook": Case("an answer that works only if it can read the gradebook",
                            _answer(READS_GRADEBOOK), "zero"),
    # Borrowed work: the course's own implementation, and PyTorch's decomposition by a computed name.
    "borrows_the_reference": Case("the package's own batch normalization, imported", _answer("""
        from autograder.batch_norm import _batch_norm as batch_norm
        """), "zero"),
    "borrows_a_decomposition": Case("PyTorch's decomposition of native_batch_norm, by a computed name", _answer("""
        import torch

        def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                       eps=1e-5):
            table = getattr(torch, "_de" + "comp").decomposition_table
            kernel = getattr(torch.ops.aten, "native_" + "batch_norm").default
            return table[kernel](input, weight, bias, running_mean, running_var, training, momentum, eps)[0]
        """), "zero"),
    "network": Case("an answer that works only if it can open a network connection", _answer("""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {c.port}), timeout=2).close()
            exec({c.solution!r})  # a correct answer, only when the connection succeeds
        except OSError:
            def batch_norm(*args, **kwargs):
                raise NotImplementedError()
        """), "zero"),
    "fork_storm": Case("an answer that works only if it can start 200 processes", _answer(FORK_STORM),
                       "zero", "over a limit"),
    "memory_spread": Case("an answer that works only if 4 processes and a tmpfs can hold 1.45 GB together",
                          _answer(MEMORY_SPREAD), "zero", "over a limit"),
    "large_file": Case("an answer that works only if it can write 1.5 GB into its folder", _answer(LARGE_FILE),
                       "zero", "over a limit"),
}

# The limit each of the cases above must be stopped by, as its outcome names it.
LIMIT_HIT = {"fork_storm": "process limit", "memory_spread": "memory limit", "large_file": "disk limit"}


def write_submission(case: Case, context: Context, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in case.build(context).items():
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            nbformat.write(content, folder / name)
