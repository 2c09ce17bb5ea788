"""A stand-in for the sandboxed kernel, to grade through the trusted checker without nbgrader or a sandbox.

``grade_through_checker(notebook)`` runs the notebook's code cells in a child
process, as a kernel would, except that each test cell asks the checker (run
here, in the test's process) to run it through ``autograder.checker.stub.serve``.
``python tests/remote_kernel.py catalog FD`` serves instead every planted
mistake of every exercise's catalog, one test request each, under the name
``student``.
"""

import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent


def grade_through_checker(notebook: Path, cell_timeout: float = 60) -> dict:
    """The checker's verdicts for ``notebook``'s test cells: grade_id -> outputs, and the protocol's cost."""
    from autograder.checker.process import serve

    checker, kernel = socket.socketpair()
    with tempfile.TemporaryDirectory() as folder:
        verdicts = Path(folder, "verdicts.json")
        child = subprocess.Popen([sys.executable, str(HERE / "remote_kernel.py"), str(notebook), str(kernel.fileno())],
                                 pass_fds=[kernel.fileno()])
        kernel.close()
        serve(checker, {notebook.name: notebook}, verdicts, cell_timeout)
        child.wait(timeout=60)
        results = json.loads(verdicts.read_text())
    checker.close()
    return {"tests": results["notebooks"].get(notebook.name, {}), "protocol": results["protocol"]}


def planted_mistakes():
    """Every (exercise module, planted mistake, catch) of the catalog, in a fixed order."""
    from autograder import registry

    for name in registry.packages():
        module = registry.package(name)
        for planted in module.MISTAKES:
            for catch in planted.caught_by:
                yield module, planted, catch


def run_notebook(path: str, connection: socket.socket) -> None:
    from autograder.checker.stub import serve
    from autograder.cells import grade_id, is_test

    notebook = nbformat.read(path, as_version=4)
    namespace = {"__name__": "__main__"}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if is_test(cell):
            serve(Path(path).name, grade_id(cell), namespace, connection)
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            exec(compile(source, "<cell>", "exec"), namespace)
        except Exception as error:  # noqa: BLE001 - as a notebook goes on after an error, when grading
            print(f"{type(error).__name__}: {error}", file=sys.stderr)


def serve_catalog(connection: socket.socket) -> None:
    from autograder.checker.stub import serve

    for index, (_, planted, _) in enumerate(planted_mistakes()):
        serve("catalog", str(index), {"student": planted.function}, connection)


if __name__ == "__main__":
    connection = socket.socket(fileno=int(sys.argv[2]))
    if sys.argv[1] == "catalog":
        serve_catalog(connection)
    else:
        run_notebook(sys.argv[1], connection)
    connection.close()
