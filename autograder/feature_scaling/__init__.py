"""Checks for the feature-scaling exercise, which is written in NumPy.

The student writes a fit, a transform and an inverse for min-max scaling
(``min_max``) and for Z-score standardization (``standard``). The references are
scikit-learn's ``MinMaxScaler`` and ``StandardScaler``: fitted statistics are
compared with their ``data_min_``, ``data_range_``, ``mean_`` and ``scale_``,
transformed arrays with ``transform`` and ``inverse_transform``.

The functions take NumPy arrays, so they run once, on the CPU, with no
device to move them to; ``core.compare`` compares the arrays and says plainly
what is wrong when a function returns None, a list or a torch tensor, the
wrong shape or dtype. A function that changes its arguments in place fails
too. The known mistakes are planted in ``_fit``, ``_transform`` and
``_inverse`` (``_common``), a re-implementation in which a keyword chooses
each mistake. Each function the student writes is a spec (``SPECS``), named
as the student's function.
"""

from ..core import integrity
from ..core.mistakes import Planted
from ._checks import DEVICE, make_features, make_split
from ._common import (
    INVERSE_DIVIDES, INVERSE_ORDER, INVERSE_SIGN, LEAKAGE, NO_PARENTHESES, NOT_VALIDATED, PER_ROW, WHOLE_ARRAY,
    Scaling, ScalingFunction,
)
from .min_max import (
    DIVIDES_BY_MAXIMUM, MIN_MAX, RANGE_IS_MAX, RANGE_ONE_IN_FIT, ZERO_RANGE_DIVIDED, ZERO_RANGE_IN_INVERSE,
    check_fit_min_max, check_min_max_inverse, check_min_max_rejects_bad_input, check_min_max_round_trip,
    check_min_max_transform,
)
from .standard import (
    MULTIPLIES_BY_SCALE, NAIVE_VARIANCE, SAMPLE_STD, SCALE_IS_VARIANCE, STANDARD, ZERO_SCALE, check_fit_standard,
    check_standard_inverse, check_standard_rejects_bad_input, check_standard_round_trip, check_standard_transform,
)

SPECS: tuple[ScalingFunction, ...] = MIN_MAX.specs + STANDARD.specs
MISTAKES: tuple[Planted, ...] = tuple(planted for spec in SPECS for planted in spec.planted)

__all__ = [
    "DEVICE", "MISTAKES", "SPECS", "MIN_MAX", "STANDARD", "Scaling", "ScalingFunction", "make_features", "make_split",
    "check_fit_min_max", "check_min_max_transform", "check_min_max_inverse", "check_min_max_round_trip",
    "check_min_max_rejects_bad_input", "check_fit_standard", "check_standard_transform", "check_standard_inverse",
    "check_standard_round_trip", "check_standard_rejects_bad_input",
    "PER_ROW", "WHOLE_ARRAY", "NOT_VALIDATED", "LEAKAGE", "NO_PARENTHESES", "INVERSE_SIGN", "INVERSE_ORDER",
    "INVERSE_DIVIDES", "RANGE_IS_MAX", "RANGE_ONE_IN_FIT", "ZERO_RANGE_DIVIDED", "DIVIDES_BY_MAXIMUM",
    "ZERO_RANGE_IN_INVERSE", "SAMPLE_STD", "SCALE_IS_VARIANCE", "ZERO_SCALE", "NAIVE_VARIANCE", "MULTIPLIES_BY_SCALE",
]

# Trust this package and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
