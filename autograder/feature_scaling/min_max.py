"""Min-max scaling: ``fit_min_max``, ``min_max_transform`` and ``min_max_inverse``, against MinMaxScaler.

The fitted statistics are compared with MinMaxScaler's ``data_min_`` and
``data_range_``, transformed arrays with its ``transform`` and
``inverse_transform``.
"""

from __future__ import annotations

from sklearn.preprocessing import MinMaxScaler

from ..core.mistakes import Mistake, catch, plant
from ..core.report import Report, entry
from ._checks import check_fit, check_inverse, check_rejects_bad_input, check_round_trip, check_transform
from ._common import (
    CONSTANT, FLOAT32, FLOAT32_KEPT, LEAKAGE, NO_PARENTHESES, NOT_VALIDATED, PER_ROW, SPLIT, WHOLE_ARRAY, Scaling, ScalingFunction, _fit,
    _inverse, _transform, inverse_mistakes,
)

# --- the planted implementation ---
# ``_fit``, ``_transform`` and ``_inverse`` of ``_common``, whose kind is "min_max" unless told otherwise.

# --- its mistakes ---

RANGE_IS_MAX = Mistake(
    "feature_scaling.range_is_max",
    "data_range holds the column maximum. Min-max scaling divides by the range, max - min.",
)
RANGE_ONE_IN_FIT = Mistake(
    "feature_scaling.range_one_in_fit",
    "data_range of a constant column is set to 1 in the fit. data_range is max - min, so 0 for a constant "
    "column (like scikit-learn's data_range_); replace 0 by 1 only where you divide or multiply by it.",
)
ZERO_RANGE_DIVIDED = Mistake(
    "feature_scaling.zero_range_divided",
    "a constant column (data_range 0) gives NaN or inf: a division by zero. Replace a zero range by 1 before "
    "dividing, as scikit-learn does, so that the column becomes 0.",
)
DIVIDES_BY_MAXIMUM = Mistake(
    "feature_scaling.divides_by_maximum",
    "it divides by the column maximum (data_min + data_range) instead of the range, max - min.",
)
ZERO_RANGE_IN_INVERSE = Mistake(
    "feature_scaling.zero_range_in_inverse",
    "the inverse multiplies by a zero data_range, so a constant column loses the values of new data. Replace "
    "0 by 1, as the transform does, so that the inverse undoes the transform exactly.",
)
RANGE_PLUS_EPSILON = Mistake(
    "feature_scaling.range_plus_epsilon",
    "a zero range is guarded by adding a small constant to every range (data_range + 1e-7): a constant "
    "column's new data is then divided by 1e-7, and every other column by a slightly wrong range. Replace "
    "only a zero range by 1, as scikit-learn does: np.where(data_range == 0, 1.0, data_range).",
)
FORMULA = "X_scaled * data_range + data_min"

# --- the spec ---

MIN_MAX = Scaling(
    fit=ScalingFunction("fit_min_max", planted=(
        plant(_fit, PER_ROW, catch("check_fit_min_max", shape=(8, 3)), axis=1),
        plant(_fit, WHOLE_ARRAY, catch("check_fit_min_max", shape=(8, 3)), axis=None),
        plant(_fit, RANGE_IS_MAX, catch("check_fit_min_max", shape=(8, 3)), spread="maximum"),
        # Statistics over the wrong axes have no zero range to replace: the two never show together.
        plant(_fit, RANGE_ONE_IN_FIT, catch("check_fit_min_max", **CONSTANT), zero_spread="one").excluding(
            WHOLE_ARRAY.id),
        plant(_fit, NOT_VALIDATED, catch("check_min_max_rejects_bad_input", _transform, _inverse), validated=False),
        plant(_fit, WHOLE_ARRAY, catch("check_fit_min_max", shape=(8, 3)), axis="broadcast"),
        # Statistics of the wrong shape hide their dtype.
        plant(_fit, FLOAT32_KEPT(what="data_min and data_range are"), catch("check_fit_min_max", **FLOAT32),
              dtype="input").excluding(WHOLE_ARRAY.id),
    )),
    transform=ScalingFunction("min_max_transform", planted=(
        plant(_transform, LEAKAGE, catch("check_min_max_transform", **SPLIT), statistics="refitted"),
        plant(_transform, ZERO_RANGE_DIVIDED, catch("check_min_max_transform", **CONSTANT), zero_spread="kept"),
        plant(_transform, DIVIDES_BY_MAXIMUM, catch("check_min_max_transform", **SPLIT), divisor="maximum"),
        plant(_transform, NO_PARENTHESES(shift="data_min", spread="data_range", formula="(X - data_min) / data_range"),
              catch("check_min_max_transform", **SPLIT), formula="divides_shift"),
        plant(_transform, RANGE_PLUS_EPSILON, catch("check_min_max_transform", **CONSTANT), zero_spread="epsilon"),
        plant(_transform, FLOAT32_KEPT(what="the scaled data is"),
              catch("check_min_max_transform", **dict(FLOAT32, seed=41)), dtype="input"),
    )),
    inverse=ScalingFunction("min_max_inverse", planted=(
        *inverse_mistakes("check_min_max_inverse", "data_range", FORMULA),
        plant(_inverse, ZERO_RANGE_IN_INVERSE,
              catch("check_min_max_inverse", shape=(9, 4), constant_columns=(3,), seed=71), zero_spread="kept"),
    )),
    statistics=("data_min", "data_range"),
    reference=lambda X: MinMaxScaler().fit(X),
    fitted=lambda scaler: (scaler.data_min_, scaler.data_range_),
)

# --- the check entries ---


@entry
def check_fit_min_max(student, X=None, **data) -> Report:
    """Compare ``fit_min_max(X)`` with MinMaxScaler's (data_min_, data_range_).

    Without ``X``, the data come from ``make_features(**data)``.
    """
    return check_fit(MIN_MAX, student, X, **data)


@entry
def check_min_max_transform(student, X_train=None, X_test=None, **data) -> Report:
    """Scale X_test with the statistics MinMaxScaler fitted on X_train; compare with its transform.

    Without X_test, X_train itself is scaled; without either, ``make_split(**data)``.
    """
    return check_transform(MIN_MAX, student, X_train, X_test, **data)


@entry
def check_min_max_inverse(student, X_train=None, X_test=None, **data) -> Report:
    """Scale X_test back from MinMaxScaler's transform; compare with its inverse_transform."""
    return check_inverse(MIN_MAX, student, X_train, X_test, **data)


@entry
def check_min_max_round_trip(student, min_max_transform, min_max_inverse,
                             X_train=None, X_test=None, **data) -> Report:
    """Fit on X_train with ``student`` (fit_min_max), transform X_test, transform it back.

    Each step is compared with MinMaxScaler's.
    """
    return check_round_trip(MIN_MAX, student, min_max_transform, min_max_inverse, X_train, X_test, **data)


@entry
def check_min_max_rejects_bad_input(student, min_max_transform, min_max_inverse) -> Report:
    """Check that each min-max function raises ValueError for a 1-D, 3-D or empty X.

    ``student`` is the fit_min_max.
    """
    return check_rejects_bad_input(MIN_MAX, student, min_max_transform, min_max_inverse)
