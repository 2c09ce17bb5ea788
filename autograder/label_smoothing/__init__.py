"""Checks for the label-smoothing exercise: ``cross_entropy`` with class-index targets.

The reference is ``torch.nn.functional.cross_entropy`` itself, with its
``ignore_index``, ``reduction`` and ``label_smoothing`` (no class ``weight``:
the exercise is about the smoothed target). The student writes the
log-softmax, the negative log-likelihood and the smoothing term; PyTorch's own
functions for them are forbidden. The mistakes students make most often are
planted in a re-implementation, ``_cross_entropy`` (``cross_entropy.py``), one
keyword value each; a failure message names the one the student's result matches.
"""

from __future__ import annotations

from ..core import integrity
from ..core.mistakes import Planted
from .cross_entropy import (
    CROSS_ENTROPY, EPSILON_NOT_DIVIDED, FORBIDDEN, IGNORED_IN_MEAN, IGNORED_SMOOTHING_KEPT, KL_DIVERGENCE,
    LOG_OF_SOFTMAX, MEAN_OVER_CLASSES, SMOOTHED_LOGITS, SOFTMAX_NOT_LOG, SPREAD_OVER_OTHER_CLASSES,
    TRUE_CLASS_OVERWRITTEN, WRONG_CLASS_AXIS, check_cross_entropy, check_cross_entropy_rejects_label_smoothing,
    check_cross_entropy_rejects_reduction, make_cross_entropy_arguments,
)

SPECS = (CROSS_ENTROPY,)
MISTAKES: tuple[Planted, ...] = CROSS_ENTROPY.planted

__all__ = [
    "check_cross_entropy", "check_cross_entropy_rejects_reduction", "check_cross_entropy_rejects_label_smoothing",
    "make_cross_entropy_arguments", "CROSS_ENTROPY", "FORBIDDEN", "MISTAKES", "SPECS",
    "SPREAD_OVER_OTHER_CLASSES", "TRUE_CLASS_OVERWRITTEN", "EPSILON_NOT_DIVIDED", "SMOOTHED_LOGITS",
    "KL_DIVERGENCE", "SOFTMAX_NOT_LOG", "LOG_OF_SOFTMAX", "WRONG_CLASS_AXIS", "MEAN_OVER_CLASSES",
    "IGNORED_IN_MEAN", "IGNORED_SMOOTHING_KEPT",
]

# Trust this package and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
