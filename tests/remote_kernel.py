"""A stand-in for the sandboxed kernel: runs a notebook's cells, and its test cells through the stub.

``python tests/remote_kernel.py NOTEBOOK FD`` executes the code cells of
NOTEBOOK in one namespace, as a kernel would, except that each test cell asks
the trusted checker at the other end of socket FD to run it
(``autograder.checker.stub.serve``). Tests use it to grade with the checker
without nbgrader or a sandbox.
"""

import socket
import sys
from pathlib import Path

import nbformat

from autograder.checker.verdicts import is_test_cell
from autograder.checker.stub import serve


def main(path: str, fd: int) -> None:
    connection = socket.socket(fileno=fd)
    notebook = nbformat.read(path, as_version=4)
    namespace = {"__name__": "__main__"}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if is_test_cell(cell):
            serve(Path(path).name, cell.metadata["nbgrader"]["grade_id"], namespace, connection)
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            exec(compile(source, "<cell>", "exec"), namespace)
        except Exception as error:  # noqa: BLE001 - as a notebook goes on after an error, when grading
            print(f"{type(error).__name__}: {error}", file=sys.stderr)
    connection.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
