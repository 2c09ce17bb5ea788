"""Grades the course's exercises against PyTorch, on every available device.

Test cells call the ``check_*`` functions of the module for their exercise
(``autograder.batch_norm``); instructors use ``python -m autograder``.

Importing the package itself is cheap, so that the instructor's commands do
not import torch: each exercise module imports what it needs, and records
the functions it trusts when it is imported, before any student code runs
(see ``autograder.core.integrity``).
"""

from importlib import import_module

_EXPORTS = {
    "Report": "core.checks", "Planted": "core.mistakes", "Mistake": "core.mistakes", "check_against_reference": "core.checks", "check_raises": "core.checks",
    "Tolerance": "core.tolerances", "tolerance_for": "core.tolerances",
}
EXERCISES = ("attention", "batch_norm", "batch_norm_backward", "dropout", "early_stopping", "feature_scaling",
             "normalization_layers", "penalties", "transformer")


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def import_exercises() -> None:
    """Import every exercise's checks (what a kernel forked from the fork server finds loaded)."""
    for name in EXERCISES:
        import_module(f".{name}", __name__)


__all__ = list(_EXPORTS)
