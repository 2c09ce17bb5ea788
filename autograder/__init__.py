"""Grades the course's exercises against PyTorch, on every available device.

Test cells call the ``check_*`` functions of the module for their exercise
(``autograder.batch_norm``); instructors use ``python -m autograder``.
"""

from .harness import Report, Variant, check_against_reference, check_raises
from .tolerances import Tolerance, tolerance_for

__all__ = ["Report", "Variant", "check_against_reference", "check_raises", "Tolerance", "tolerance_for"]
