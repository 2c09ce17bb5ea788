"""Grades the course's exercises against PyTorch, on every available device.

Test cells call the ``check_*`` functions of the module for their exercise
(``autograder.batch_norm``); instructors use ``python -m autograder``.
"""

from . import (
    attention,
    batch_norm,
    batch_norm_backward,
    dropout,
    early_stopping,
    feature_scaling,
    integrity,
    normalization_layers,
    penalties,
)
from .harness import Report, Variant, check_against_reference, check_raises
from .tolerances import Tolerance, tolerance_for

# Importing the package imports every exercise's checks, before any student code
# runs, and records the functions they trust (see autograder.integrity).
integrity.trust_package()

__all__ = ["Report", "Variant", "check_against_reference", "check_raises", "Tolerance", "tolerance_for"]
