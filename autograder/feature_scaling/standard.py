"""Z-score standardization: ``fit_standard``, ``standard_transform`` and ``standard_inverse``, against StandardScaler.

The fitted statistics are compared with StandardScaler's ``mean_`` and
``scale_``, transformed arrays with its ``transform`` and ``inverse_transform``.
"""

from __future__ import annotations

from functools import partial

from sklearn.preprocessing import StandardScaler

from ..core.mistakes import UNBIASED_VARIANCE, Mistake, catch, plant
from ..core.report import Report, entry
from ._checks import check_fit, check_inverse, check_rejects_bad_input, check_round_trip, check_transform
from ._common import (
    CONSTANT, FLOAT32, FLOAT32_KEPT, LEAKAGE, NO_PARENTHESES, NOT_VALIDATED, PER_ROW, SPLIT, WHOLE_ARRAY, Scaling, ScalingFunction, _fit,
    _inverse, _transform, inverse_mistakes,
)

# --- the planted implementation ---
# ``_fit`` and ``_transform`` of ``_common`` for standardization; ``_inverse`` is the same for both scalings.

_fit_standard = partial(_fit, kind="standard")


def _standard_transform(X, mean, scale, **switch):
    return _transform(X, mean, scale, kind="standard", **switch)


# --- its mistakes ---

SAMPLE_STD = UNBIASED_VARIANCE(
    operation="StandardScaler",
    code="np.std(X, axis=0) with its default ddof=0, not ddof=1",
)
SCALE_IS_VARIANCE = Mistake(
    "feature_scaling.scale_is_variance",
    "scale is the variance. Divide by the standard deviation, its square root.",
)
ZERO_SCALE = Mistake(
    "feature_scaling.zero_scale",
    "the scale of a constant column is 0. Replace a zero standard deviation by 1, as scikit-learn does, so "
    "that the transform gives 0 instead of dividing by zero.",
)
NAIVE_VARIANCE = Mistake(
    "feature_scaling.naive_variance",
    "the variance is computed as mean(X**2) - mean(X)**2, which loses every digit when the values are large "
    "compared with their spread (catastrophic cancellation). Subtract the mean first: "
    "np.mean((X - mean)**2, axis=0), which np.std does.",
)
MULTIPLIES_BY_SCALE = Mistake(
    "feature_scaling.multiplies_by_scale",
    "the transform multiplies by scale. Standardization divides by the standard deviation: (X - mean) / scale.",
)
FORMULA = "X_scaled * scale + mean"

# --- the spec ---

FITTED = catch("check_fit_standard", shape=(8, 3))
TRANSFORMED = catch("check_standard_transform", **SPLIT)
STANDARD = Scaling(
    fit=ScalingFunction("fit_standard", planted=(
        plant(_fit_standard, PER_ROW, FITTED, axis=1),
        plant(_fit_standard, WHOLE_ARRAY, FITTED, axis=None),
        plant(_fit_standard, SAMPLE_STD, FITTED, variance="unbiased"),
        plant(_fit_standard, SCALE_IS_VARIANCE, FITTED, spread="variance"),
        # Statistics over the wrong axes have no zero scale to replace: the two never show together.
        plant(_fit_standard, ZERO_SCALE, catch("check_fit_standard", **CONSTANT), zero_spread="kept").excluding(
            WHOLE_ARRAY.id),
        plant(_fit_standard, NAIVE_VARIANCE, catch("check_fit_standard", shape=(200, 4), loc=1e8, seed=62),
              variance="naive"),
        plant(_fit_standard, NOT_VALIDATED,
              catch("check_standard_rejects_bad_input", _standard_transform, _inverse), validated=False),
        plant(_fit_standard, WHOLE_ARRAY, FITTED, axis="broadcast"),
        # Statistics of the wrong shape hide their dtype.
        plant(_fit_standard, FLOAT32_KEPT(what="mean and scale are"), catch("check_fit_standard", **FLOAT32),
              dtype="input").excluding(WHOLE_ARRAY.id),
    )),
    transform=ScalingFunction("standard_transform", planted=(
        plant(_standard_transform, LEAKAGE, TRANSFORMED, statistics="refitted"),
        plant(_standard_transform, NO_PARENTHESES(shift="mean", spread="scale", formula="(X - mean) / scale"),
              TRANSFORMED, formula="divides_shift"),
        plant(_standard_transform, MULTIPLIES_BY_SCALE, TRANSFORMED, formula="multiplies"),
        plant(_standard_transform, FLOAT32_KEPT(what="the standardized data is"),
              catch("check_standard_transform", **dict(FLOAT32, seed=43)), dtype="input"),
    )),
    inverse=ScalingFunction("standard_inverse", planted=inverse_mistakes("check_standard_inverse", "scale", FORMULA)),
    statistics=("mean", "scale"),
    reference=lambda X: StandardScaler().fit(X),
    fitted=lambda scaler: (scaler.mean_, scaler.scale_),
)

# --- the check entries ---


@entry
def check_fit_standard(student, X=None, **data) -> Report:
    """Compare ``fit_standard(X)`` with StandardScaler's (mean_, scale_)."""
    return check_fit(STANDARD, student, X, **data)


@entry
def check_standard_transform(student, X_train=None, X_test=None, **data) -> Report:
    """Scale X_test with the statistics StandardScaler fitted on X_train; compare with its transform."""
    return check_transform(STANDARD, student, X_train, X_test, **data)


@entry
def check_standard_inverse(student, X_train=None, X_test=None, **data) -> Report:
    """Scale X_test back from StandardScaler's transform; compare with its inverse_transform."""
    return check_inverse(STANDARD, student, X_train, X_test, **data)


@entry
def check_standard_round_trip(student, standard_transform, standard_inverse,
                              X_train=None, X_test=None, **data) -> Report:
    """Fit on X_train with ``student`` (fit_standard), transform X_test, transform it back.

    Each step is compared with StandardScaler's.
    """
    return check_round_trip(STANDARD, student, standard_transform, standard_inverse, X_train, X_test, **data)


@entry
def check_standard_rejects_bad_input(student, standard_transform, standard_inverse) -> Report:
    """Check that each standardization function raises ValueError for a 1-D, 3-D or empty X.

    ``student`` is the fit_standard.
    """
    return check_rejects_bad_input(STANDARD, student, standard_transform, standard_inverse)
