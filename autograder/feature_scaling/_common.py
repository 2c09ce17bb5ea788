"""What both scalings share: the planted re-implementation, the shared mistakes, and the specs' classes.

The references are scikit-learn's scalers; ``_fit``, ``_transform`` and
``_inverse`` re-implement them only to plant the mistakes students make, each
chosen by a keyword.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..core import tolerances
from ..core.forbidden import Forbidden
from ..core.mistakes import WRONG_AXES, Convention, Mistake, Planted, catch, plant


def _f64(X) -> np.ndarray:
    return np.asarray(X, dtype=np.float64)


def _nonzero(divisor: np.ndarray) -> np.ndarray:
    """A zero range or standard deviation replaced by 1, as scikit-learn does."""
    return np.where(divisor == 0, 1.0, divisor)


def _matrix(X) -> np.ndarray:
    X = _f64(X)
    if X.ndim != 2 or 0 in X.shape:
        raise ValueError("X must be 2-D (n_samples, n_features) with at least one row and one column")
    return X


# --- the planted implementation ---


def _fit(X, kind="min_max", *, axis=0, spread=None, variance="biased", zero_spread=None, validated=True,
         dtype="float64"):
    """The two statistics of ``kind`` ("min_max" or "standard"), fitted on ``X``.

    ``axis``: 0, 1, None (one number for the whole array) or "broadcast" (the whole array's
    statistics repeated for every column). ``dtype``: "float64", or "input" (X's own floating
    dtype, as scikit-learn keeps float32).
    ``spread``: what the second statistic is; min-max "range" (max - min) or "maximum",
    standardization "std" or "variance". ``variance``: "biased" (divided by n), "unbiased"
    (by n - 1) or "naive" (mean(X**2) - mean(X)**2). ``zero_spread``: a zero spread "kept"
    or replaced by "one"; by default as scikit-learn fits it (a zero range is kept, a
    zero scale becomes 1). ``validated``: whether a badly shaped X raises ValueError.
    """
    given = np.asarray(X)
    X = _matrix(X) if validated else _f64(X)
    if axis == "broadcast":
        whole = _fit(X, kind, axis=None, spread=spread, variance=variance, zero_spread=zero_spread)
        return tuple(np.full(X.shape[1], value) for value in whole)
    if dtype == "input" and given.dtype.kind == "f":
        statistics = _fit(X, kind, axis=axis, spread=spread, variance=variance, zero_spread=zero_spread)
        return tuple(s.astype(given.dtype) for s in statistics)
    if kind == "min_max":
        low, high = X.min(axis), X.max(axis)
        statistics = low, high if spread == "maximum" else high - low
    else:
        mean = X.mean(axis)
        if variance == "naive":
            var = (X ** 2).mean(axis) - mean ** 2
        else:
            var = X.var(axis, ddof=1 if variance == "unbiased" else 0)
        statistics = mean, var if spread == "variance" else np.sqrt(var)
    if (zero_spread or ("kept" if kind == "min_max" else "one")) == "one":
        return statistics[0], _nonzero(statistics[1])
    return statistics


def _transform(X, shift, spread, *, kind="min_max", statistics="given", divisor="spread", zero_spread="one",
               formula="divides", dtype="float64"):
    """``(X - shift) / spread``, a zero spread replaced by 1.

    ``statistics``: the "given" ones, or "refitted" on X itself (leakage). ``divisor``: the
    "spread", or the column "maximum" (shift + spread). ``zero_spread``: a zero divisor
    replaced by "one", "kept" or "epsilon" (1e-7 added to every divisor). ``formula``: "divides"
    the difference, "divides_shift" (X - shift / spread) or "multiplies" ((X - shift) * spread).
    ``dtype``: "float64", or "input" (the result cast to X's floating dtype, as scikit-learn does).
    """
    given = np.asarray(X)
    if dtype == "input" and given.dtype.kind == "f":
        return _transform(X, shift, spread, kind=kind, statistics=statistics, divisor=divisor,
                          zero_spread=zero_spread, formula=formula).astype(given.dtype)
    X = _matrix(X)
    if statistics == "refitted":
        shift, spread = _fit(X, kind)
    by = shift + spread if divisor == "maximum" else spread
    if zero_spread == "one":
        by = _nonzero(by)
    elif zero_spread == "epsilon":
        by = by + 1e-7
    if formula == "divides_shift":
        return X - shift / by
    return (X - shift) * by if formula == "multiplies" else (X - shift) / by


def _inverse(X_scaled, shift, spread, *, steps="multiply_add", zero_spread="one"):
    """``X_scaled * spread + shift``, a zero spread replaced by 1.

    ``steps``: "multiply_add", "multiply_subtract", "add_multiply" ((X_scaled + shift) * spread)
    or "divide_add". ``zero_spread``: a zero spread replaced by "one", or "kept".
    """
    X_scaled = _matrix(X_scaled)
    factor = _nonzero(spread) if zero_spread == "one" else spread
    if steps == "add_multiply":
        return (X_scaled + shift) * factor
    scaled = X_scaled / factor if steps == "divide_add" else X_scaled * factor
    return scaled - shift if steps == "multiply_subtract" else scaled + shift


# --- the mistakes both scalings share ---

EACH_COLUMN = "Each column is a feature: reduce over the samples, axis=0."
PER_ROW = WRONG_AXES(axes="the wrong axis, one per row (axis=1)", rule=EACH_COLUMN)
WHOLE_ARRAY = WRONG_AXES(
    axes="the whole array (no axis given), one number for every feature",
    rule="Each column is a feature with its own statistics: give the axis, reduce over the samples, axis=0.")
# scikit-learn's scalers keep float32 for float32 input; this exercise's contract is float64 throughout,
# which the notebook says in so many words. The convention is named, not accepted.
FLOAT32_KEPT = Convention(
    "feature_scaling.float32_kept",
    "{what} float32 for a float32 X: computed in the input's dtype, it keeps float32's precision (about 7 "
    "digits). This exercise returns float64 arrays whatever the input's dtype: compute on "
    "np.asarray(X, dtype=np.float64).",
    library="scikit-learn",
)
NOT_VALIDATED = Mistake(
    "feature_scaling.not_validated",
    "X is not validated. Raise ValueError unless X is 2-D (n_samples, n_features) with at least one row and "
    "one column, e.g. `if X.ndim != 2 or 0 in X.shape: raise ValueError(...)`, before computing anything.",
)
LEAKAGE = Mistake(
    "feature_scaling.leakage",
    "the statistics are recomputed from the X being transformed instead of using the ones passed in, "
    "fitted on the training data (test-set leakage). New data must be scaled with the training statistics.",
)
NO_PARENTHESES = Mistake(
    "feature_scaling.no_parentheses",
    "the shift is divided, not the difference: X - {shift} / {spread} is X - ({shift} / {spread}), since "
    "division comes before subtraction. Write {formula}.",
)
INVERSE_SIGN = Mistake(
    "feature_scaling.inverse_sign",
    "the inverse subtracts the shift instead of adding it back. Use X = {formula}.",
)
INVERSE_ORDER = Mistake(
    "feature_scaling.inverse_order",
    "the inverse adds the shift back before multiplying. Undo the forward steps in reverse order: first "
    "multiply, then add. Use X = {formula}.",
)
INVERSE_DIVIDES = Mistake(
    "feature_scaling.inverse_divides",
    "the inverse divides by {spread} again. It undoes the transform's division: multiply, X = {formula}.",
)

# The data of the check calls that catch a mistake: a test set whose statistics differ from
# the training set's, and a training set with a constant column.
SPLIT = dict(shape=(8, 3), test_rows=5, seed=2)
CONSTANT = dict(shape=(6, 3), constant_columns=(1,), seed=8)
# Float32 data far from 0, as the notebook's hidden tests give: float32 statistics lose digits there.
FLOAT32 = dict(shape=(12, 3), loc=1000.0, dtype=np.float32, seed=40)


def inverse_mistakes(check_name: str, spread: str, formula: str) -> tuple[Planted, ...]:
    """The mistakes both inverses share, worded with the scaling's own names."""
    compared = catch(check_name, **SPLIT)
    return (
        plant(_inverse, INVERSE_SIGN(formula=formula), compared, steps="multiply_subtract"),
        plant(_inverse, INVERSE_ORDER(formula=formula), compared, steps="add_multiply"),
        plant(_inverse, INVERSE_DIVIDES(spread=spread, formula=formula), compared, steps="divide_add"),
    )


# --- the specs ---


@dataclass(frozen=True)
class ScalingFunction:
    """One function of a scaling that the student writes: its name, the mistakes planted in it, what it may not call.

    Its arrays are compared with the tolerances of ``tolerance_name`` (the float64 defaults:
    no scaling needs an override).
    """

    name: str
    planted: tuple[Planted, ...] = ()
    forbidden: Forbidden = field(default_factory=lambda: Forbidden.none)
    tolerance_name: str = "feature_scaling"

    def __post_init__(self):
        tolerances.declare(self.tolerance_name)


@dataclass(frozen=True)
class Scaling:
    """One scaling: its three functions, the names of its statistics, and its reference."""

    fit: ScalingFunction
    transform: ScalingFunction
    inverse: ScalingFunction
    statistics: tuple[str, str]
    reference: Callable  # X_train (float64) -> fitted scikit-learn scaler
    fitted: Callable  # fitted scaler -> the two statistics, as the student's fit returns them

    @property
    def specs(self) -> tuple[ScalingFunction, ...]:
        return self.fit, self.transform, self.inverse
