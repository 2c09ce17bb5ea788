"""Grades the course's exercises against PyTorch, on every available device.

Test cells call the ``check_*`` functions of the package for their exercise
(``autograder.batch_norm``); ``autograder.registry`` lists every assignment and
its specs; instructors use ``python -m autograder``.

Importing the package itself is cheap, so that the instructor's commands do
not import torch: each exercise module imports what it needs, and records
the functions it trusts when it is imported, before any student code runs
(see ``autograder.core.integrity``).
"""

from importlib import import_module

_EXPORTS = {
    "Report": "core.report", "Planted": "core.mistakes", "Mistake": "core.mistakes",
    "check_against_reference": "core.engine", "check_raises": "core.engine",
    "Tolerance": "core.tolerances", "tolerance_for": "core.tolerances",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_EXPORTS)
