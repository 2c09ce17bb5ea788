"""Grading a class: the test cells run in a trusted checker, the student's code in its kernel.

``wire`` is the data-only protocol between them, ``stub`` the kernel's side,
``session`` the checker's conversation with the kernel, ``remote`` its proxies
of the student's objects, ``errors`` what a call can end with besides a value,
and ``process`` the checker itself.
"""

CONNECTION = "AUTOGRADER_CHECKER_FD"  # the environment variable that names a kernel's socket to its checker
