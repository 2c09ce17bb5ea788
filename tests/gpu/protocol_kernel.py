"""The kernel's side of the trusted checker's protocol, for the GPU suite: one assignment's solution, served.

``python -m gpu.protocol_kernel FD ASSIGNMENT COUNT`` (with the repository and
``tests/`` on ``PYTHONPATH``) runs the solution notebook's imports and answers, as a
student's kernel holds them, then serves COUNT test requests over the socket FD,
one after the other, through ``autograder.checker.stub.serve``: a process of its
own, so that tensors, modules and the generators' states really cross the wire.
"""

from __future__ import annotations

import socket
import sys

from autograder.checker.stub import serve

from .notebooks import solution_namespace


def main(fd: int, assignment: str, count: int) -> None:
    connection = socket.socket(fileno=fd)
    namespace = solution_namespace(assignment)
    for index in range(count):
        serve(assignment, str(index), namespace, connection)
    connection.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
