"""Checks for the feature-scaling exercise, which is written in NumPy.

The student writes a fit, a transform and an inverse for min-max scaling and
for Z-score standardization. The references are scikit-learn's
``MinMaxScaler`` and ``StandardScaler``: fitted statistics are compared with
their ``data_min_``, ``data_range_``, ``mean_`` and ``scale_``, transformed
arrays with ``transform`` and ``inverse_transform``.

The functions take NumPy arrays, so they run once, on the CPU, with no
device to move them to; ``core.compare`` compares the arrays and says plainly
what is wrong when a function returns None, a list or a torch tensor, the
wrong shape or dtype. A function that changes its arguments in place fails
too. The known mistakes are planted in ``_fit``, ``_transform`` and
``_inverse`` below, a re-implementation with one keyword switch per mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from .core import integrity
from .core.calling import call_student, describe_call, materialize
from .core.checks import Report, check, check_raises, fail_diagnosed
from .core.compare import ArrayRules, compare_outputs
from .core.failure import Failure
from .core.hints import output_hint
from .core.mistakes import UNBIASED_VARIANCE, WRONG_AXES, Mistake, Planted, catch

DEVICE = "numpy (cpu)"
OPERATION = "feature_scaling"  # no override in tolerances.py: the float64 defaults apply


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


# --- the two scalings, with a switch for each known mistake ----------------------------
#
# The references are scikit-learn's scalers; these re-implementations exist to
# plant the mistakes students make, one keyword switch each.


def _fit(X, kind="min_max", *, axis=0, range_is_max=False, range_one=False, ddof=0, variance=False,
         naive_variance=False, zero_scale=False, validated=True):
    X = _matrix(X) if validated else _f64(X)
    if kind == "min_max":
        low, high = X.min(axis), X.max(axis)
        spread = high if range_is_max else high - low
        return low, _nonzero(spread) if range_one else spread
    mean = X.mean(axis)
    if naive_variance:
        var = (X ** 2).mean(axis) - mean ** 2
    else:
        var = X.var(axis, ddof=ddof)
    spread = var if variance else np.sqrt(var)
    return mean, spread if zero_scale else _nonzero(spread)


def _transform(X, shift, spread, *, leakage=False, unguarded=False, by_maximum=False, no_parentheses=False,
               multiplies=False, kind="min_max"):
    X = _matrix(X)
    if leakage:
        shift, spread = _fit(X, kind)
    divisor = spread if unguarded else _nonzero(shift + spread if by_maximum else spread)
    if no_parentheses:
        return X - shift / divisor
    return (X - shift) * divisor if multiplies else (X - shift) / divisor


def _inverse(X_scaled, shift, spread, *, subtracts=False, shift_first=False, divides=False, unguarded=False):
    X_scaled = _matrix(X_scaled)
    factor = spread if unguarded else _nonzero(spread)
    if shift_first:
        return (X_scaled + shift) * factor
    scaled = X_scaled / factor if divides else X_scaled * factor
    return scaled - shift if subtracts else scaled + shift


def _standard_transform(X, mean, scale, **switch):
    return _transform(X, mean, scale, kind="standard", **switch)


# --- the mistakes ----------------------------------------------------------------------

EACH_COLUMN = "Each column is a feature: reduce over the samples, axis=0."
PER_ROW = WRONG_AXES(axes="the wrong axis, one per row (axis=1)", rule=EACH_COLUMN)
WHOLE_ARRAY = WRONG_AXES(
    axes="the whole array (no axis given), one number for every feature",
    rule="Each column is a feature with its own statistics: give the axis, reduce over the samples, axis=0.")
NOT_VALIDATED = Mistake(
    "feature_scaling.not_validated",
    "X is not validated. Raise ValueError unless X is 2-D (n_samples, n_features) with at least one row and "
    "one column, e.g. `if X.ndim != 2 or 0 in X.shape: raise ValueError(...)`, before computing anything.",
)
RANGE_IS_MAX = Mistake(
    "feature_scaling.range_is_max",
    "data_range holds the column maximum. Min-max scaling divides by the range, max - min.",
)
RANGE_ONE_IN_FIT = Mistake(
    "feature_scaling.range_one_in_fit",
    "data_range of a constant column is set to 1 in the fit. data_range is max - min, so 0 for a constant "
    "column (like scikit-learn's data_range_); replace 0 by 1 only where you divide or multiply by it.",
)
LEAKAGE = Mistake(
    "feature_scaling.leakage",
    "the statistics are recomputed from the X being transformed instead of using the ones passed in, "
    "fitted on the training data (test-set leakage). New data must be scaled with the training statistics.",
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
NO_PARENTHESES = Mistake(
    "feature_scaling.no_parentheses",
    "the shift is divided, not the difference: X - {shift} / {spread} is X - ({shift} / {spread}), since "
    "division comes before subtraction. Write {formula}.",
)
MULTIPLIES_BY_SCALE = Mistake(
    "feature_scaling.multiplies_by_scale",
    "the transform multiplies by scale. Standardization divides by the standard deviation: (X - mean) / scale.",
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
ZERO_RANGE_IN_INVERSE = Mistake(
    "feature_scaling.zero_range_in_inverse",
    "the inverse multiplies by a zero data_range, so a constant column loses the values of new data. Replace "
    "0 by 1, as the transform does, so that the inverse undoes the transform exactly.",
)
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

MIN_MAX_FORMULA = "X_scaled * data_range + data_min"
STANDARD_FORMULA = "X_scaled * scale + mean"
SPLIT = dict(shape=(8, 3), test_rows=5, seed=2)
CONSTANT = dict(shape=(6, 3), constant_columns=(1,), seed=8)


def _planted(mistake, function, *catches, **switch) -> Planted:
    return Planted(mistake, partial(function, **switch), catches)


_fit_standard = partial(_fit, kind="standard")
MIN_MAX_FIT = (
    _planted(PER_ROW, _fit, catch("check_fit_min_max", shape=(8, 3)), axis=1),
    _planted(WHOLE_ARRAY, _fit, catch("check_fit_min_max", shape=(8, 3)), axis=None),
    _planted(RANGE_IS_MAX, _fit, catch("check_fit_min_max", shape=(8, 3)), range_is_max=True),
    _planted(RANGE_ONE_IN_FIT, _fit, catch("check_fit_min_max", **CONSTANT), range_one=True),
    _planted(NOT_VALIDATED, _fit, catch("check_min_max_rejects_bad_input", _transform, _inverse), validated=False),
)
MIN_MAX_TRANSFORM = (
    _planted(LEAKAGE, _transform, catch("check_min_max_transform", **SPLIT), leakage=True),
    _planted(ZERO_RANGE_DIVIDED, _transform, catch("check_min_max_transform", **CONSTANT), unguarded=True),
    _planted(DIVIDES_BY_MAXIMUM, _transform, catch("check_min_max_transform", **SPLIT), by_maximum=True),
    _planted(NO_PARENTHESES(shift="data_min", spread="data_range", formula="(X - data_min) / data_range"),
             _transform, catch("check_min_max_transform", **SPLIT), no_parentheses=True),
)


def _inverse_mistakes(check_name: str, spread: str, formula: str) -> tuple[Planted, ...]:
    """The mistakes both inverses share, worded with the scaling's own names."""
    compared = catch(check_name, **SPLIT)
    return (
        _planted(INVERSE_SIGN(formula=formula), _inverse, compared, subtracts=True),
        _planted(INVERSE_ORDER(formula=formula), _inverse, compared, shift_first=True),
        _planted(INVERSE_DIVIDES(spread=spread, formula=formula), _inverse, compared, divides=True),
    )


MIN_MAX_INVERSE = _inverse_mistakes("check_min_max_inverse", "data_range", MIN_MAX_FORMULA) + (
    _planted(ZERO_RANGE_IN_INVERSE, _inverse,
             catch("check_min_max_inverse", shape=(9, 4), constant_columns=(3,), seed=71), unguarded=True),
)
STANDARD_FIT = (
    _planted(PER_ROW, _fit_standard, catch("check_fit_standard", shape=(8, 3)), axis=1),
    _planted(WHOLE_ARRAY, _fit_standard, catch("check_fit_standard", shape=(8, 3)), axis=None),
    _planted(SAMPLE_STD, _fit_standard, catch("check_fit_standard", shape=(8, 3)), ddof=1),
    _planted(SCALE_IS_VARIANCE, _fit_standard, catch("check_fit_standard", shape=(8, 3)), variance=True),
    _planted(ZERO_SCALE, _fit_standard, catch("check_fit_standard", **CONSTANT), zero_scale=True),
    _planted(NAIVE_VARIANCE, _fit_standard, catch("check_fit_standard", shape=(200, 4), loc=1e8, seed=62),
             naive_variance=True),
    _planted(NOT_VALIDATED, _fit_standard,
             catch("check_standard_rejects_bad_input", _standard_transform, _inverse), validated=False),
)
STANDARD_TRANSFORM = (
    _planted(LEAKAGE, _standard_transform, catch("check_standard_transform", **SPLIT), leakage=True),
    _planted(NO_PARENTHESES(shift="mean", spread="scale", formula="(X - mean) / scale"),
             _standard_transform, catch("check_standard_transform", **SPLIT), no_parentheses=True),
    _planted(MULTIPLIES_BY_SCALE, _standard_transform, catch("check_standard_transform", **SPLIT),
             multiplies=True),
)
STANDARD_INVERSE = _inverse_mistakes("check_standard_inverse", "scale", STANDARD_FORMULA)
MISTAKES = MIN_MAX_FIT + MIN_MAX_TRANSFORM + MIN_MAX_INVERSE + STANDARD_FIT + STANDARD_TRANSFORM + STANDARD_INVERSE


@dataclass(frozen=True)
class Scaling:
    """One scaling: its functions' names, its reference, and the mistakes planted in each function."""

    fit: str
    transform: str
    inverse: str
    statistics: tuple[str, str]
    reference: Callable  # X_train (float64) -> fitted scikit-learn scaler
    fitted: Callable  # fitted scaler -> the two statistics, as the student's fit returns them
    fit_mistakes: tuple[Planted, ...]
    transform_mistakes: tuple[Planted, ...]
    inverse_mistakes: tuple[Planted, ...]


MIN_MAX = Scaling(
    fit="fit_min_max", transform="min_max_transform", inverse="min_max_inverse",
    statistics=("data_min", "data_range"),
    reference=lambda X: MinMaxScaler().fit(X),
    fitted=lambda scaler: (scaler.data_min_, scaler.data_range_),
    fit_mistakes=MIN_MAX_FIT, transform_mistakes=MIN_MAX_TRANSFORM, inverse_mistakes=MIN_MAX_INVERSE,
)
STANDARD = Scaling(
    fit="fit_standard", transform="standard_transform", inverse="standard_inverse",
    statistics=("mean", "scale"),
    reference=lambda X: StandardScaler().fit(X),
    fitted=lambda scaler: (scaler.mean_, scaler.scale_),
    fit_mistakes=STANDARD_FIT, transform_mistakes=STANDARD_TRANSFORM, inverse_mistakes=STANDARD_INVERSE,
)


# --- seeded data ------------------------------------------------------------------


def make_features(
    shape=(8, 3), *, seed=0, loc=0.0, constant_columns=(), dtype=np.float64
) -> np.ndarray:
    """Seeded features, each column with its own centre and spread, plus ``loc``.

    A column listed in ``constant_columns`` holds one small integer, so that its
    mean is computed exactly and its standard deviation is exactly 0.
    """
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-5, 5, size=shape[1])
    spreads = rng.uniform(0.5, 3, size=shape[1])
    X = loc + centres + spreads * rng.normal(size=shape)
    for column in constant_columns:
        X[:, column] = loc + rng.integers(-5, 6)
    return X.astype(dtype)


def make_split(
    shape=(8, 3), *, test_rows=5, seed=0, loc=0.0, constant_columns=(), dtype=np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """Training and test features whose statistics differ (the test set is shifted and wider)."""
    X_train = make_features(shape, seed=seed, loc=loc, constant_columns=constant_columns, dtype=dtype)
    X_test = make_features(
        (test_rows, shape[1]), seed=seed + 1, constant_columns=constant_columns, dtype=np.float64
    )
    X_test = (loc + 1.0 + 1.5 * X_test).astype(dtype)
    return X_train, X_test


# --- calling and comparing --------------------------------------------------------

# What a student reads about an array of the wrong shape or dtype.
ARRAY_RULES = ArrayRules(
    shape=lambda expected: "one value per column (feature) of X" if expected.ndim == 1 else "the shape of X",
    dtype="every function returns float64 arrays whatever the input's dtype (compute on "
    "np.asarray(X, dtype=np.float64))",
)
IN_PLACE = (
    "the function changed its argument {key} in place. Leave the caller's arrays unchanged: write "
    "X = X - shift rather than X -= shift, and np.where(d == 0, 1.0, d) rather than d[d == 0] = 1 "
    "(np.asarray(X, dtype=np.float64) returns X itself, not a copy, when X is already float64)."
)


def _where(name: str, arguments: dict) -> str:
    return f"{describe_call(name, arguments)} on {DEVICE}"


def _unchanged(called, arguments: dict, where: str) -> None:
    """Fail if the student's call changed one of its array arguments (``called`` holds the copies it got)."""
    for key, original in arguments.items():
        after = called.arguments[key]
        if isinstance(original, np.ndarray) and not (
            after.shape == original.shape and np.array_equal(after, original, equal_nan=True)
        ):
            Failure(where, summary=IN_PLACE.format(key=key)).fail()


def _compare(student, arguments, expected, *, name, planted, outputs=None, call=None):
    """Compare ``student(*arguments.values())`` with ``expected``; return what the student returned."""
    where = f"{call} on {DEVICE}" if call else _where(name, arguments)
    called = call_student(student, arguments, where=where)
    actual = called.result()
    _unchanged(called, arguments, where)
    problems = compare_outputs(actual, expected, OPERATION, outputs, ARRAY_RULES)
    if problems:
        fail_diagnosed(
            where, actual, expected, problems=problems, planted=planted,
            run=lambda function: function(*materialize(arguments, None).values()),
            agree=lambda a, b: not compare_outputs(a, b, OPERATION, outputs, ARRAY_RULES),
            clue=lambda a, b: output_hint(a, b, outputs),
        )
    return actual


def _split(X_train, X_test, data) -> tuple[np.ndarray, np.ndarray]:
    if X_train is None:
        return make_split(**data)
    # Without test data, the training data itself is scaled (as in the chapter's examples).
    return np.asarray(X_train), np.asarray(X_train if X_test is None else X_test)


def _named(scaling: Scaling, first: str, first_value, statistics) -> dict:
    return {first: first_value, **dict(zip(scaling.statistics, statistics))}


# --- the checks, for either scaling -----------------------------------------------------


def _compare_fit(scaling: Scaling, student, X) -> tuple:
    expected = scaling.fitted(scaling.reference(_f64(X)))
    return _compare(student, {"X": X}, expected, name=scaling.fit, planted=scaling.fit_mistakes,
                    outputs=scaling.statistics)


def _compare_transform(scaling: Scaling, student, X, statistics, expected):
    return _compare(student, _named(scaling, "X", X, statistics), expected, name=scaling.transform,
                    planted=scaling.transform_mistakes)


def _compare_inverse(scaling: Scaling, student, X_scaled, statistics, expected):
    return _compare(student, _named(scaling, "X_scaled", X_scaled, statistics), expected, name=scaling.inverse,
                    planted=scaling.inverse_mistakes)


def _check_fit(scaling, student, X=None, **data) -> Report:
    X = make_features(**data) if X is None else np.asarray(X)
    _compare_fit(scaling, student, X)
    return Report(describe_call(scaling.fit, {"X": X}), devices=[DEVICE])


def _check_transform(scaling, student, X_train=None, X_test=None, **data) -> Report:
    X_train, X_test = _split(X_train, X_test, data)
    scaler = scaling.reference(_f64(X_train))
    statistics = scaling.fitted(scaler)
    _compare_transform(scaling, student, X_test, statistics, scaler.transform(_f64(X_test)))
    return Report(describe_call(scaling.transform, _named(scaling, "X", X_test, statistics)), devices=[DEVICE])


def _check_inverse(scaling, student, X_train=None, X_test=None, **data) -> Report:
    X_train, X_test = _split(X_train, X_test, data)
    scaler = scaling.reference(_f64(X_train))
    statistics = scaling.fitted(scaler)
    X_scaled = scaler.transform(_f64(X_test))
    _compare_inverse(scaling, student, X_scaled, statistics, scaler.inverse_transform(X_scaled))
    return Report(describe_call(scaling.inverse, _named(scaling, "X_scaled", X_scaled, statistics)),
                  devices=[DEVICE])


def _check_round_trip(scaling, fit, transform, inverse, X_train=None, X_test=None, **data) -> Report:
    """Fit on X_train, scale X_test with those statistics, and scale it back: each step is compared."""
    X_train, X_test = _split(X_train, X_test, data)
    call = (f"{scaling.fit}(X_train: {X_train.shape} {X_train.dtype}), then {scaling.transform} "
            f"and {scaling.inverse} of X_test: {X_test.shape} {X_test.dtype}")
    scaler = scaling.reference(_f64(X_train))
    statistics = tuple(np.asarray(s) for s in _compare_fit(scaling, fit, X_train))
    X_scaled = _compare_transform(scaling, transform, X_test, statistics, scaler.transform(_f64(X_test)))
    _compare_inverse(scaling, inverse, X_scaled, statistics, _f64(X_test))
    return Report(call, devices=[DEVICE])


# Each must raise ValueError; the statistics passed to a transform fit X's last axis,
# so that NumPy broadcasting alone would not raise.
BAD_INPUTS = {
    "1-D": np.arange(3.0),
    "3-D": np.ones((2, 2, 3)),
    "without rows": np.empty((0, 3)),
    "without columns": np.empty((4, 0)),
}


def _check_rejects_bad_input(scaling, fit, transform, inverse) -> Report:
    for description, X in BAD_INPUTS.items():
        statistics = (np.zeros(X.shape[-1]), np.ones(X.shape[-1]))
        for name, student, arguments, planted in (
            (scaling.fit, fit, {"X": X}, scaling.fit_mistakes),
            (scaling.transform, transform, _named(scaling, "X", X, statistics), ()),
            (scaling.inverse, inverse, _named(scaling, "X_scaled", X, statistics), ()),
        ):
            lenient = next((p.mistake for p in planted if p.mistake is NOT_VALIDATED), None)
            check_raises(student, arguments, ValueError, name=name, devices=[DEVICE], like=None,
                         when=f"for an X {description}: X must be 2-D (n_samples, n_features) with at least one row "
                         "and one column", mistake_if_returned=lenient)
    return Report(f"{scaling.fit}, {scaling.transform} and {scaling.inverse} on 1-D, 3-D and empty X",
                  devices=[DEVICE])


# --- what the test cells call -----------------------------------------------------


@check
def check_fit_min_max(fit_min_max, X=None, **data) -> Report:
    """Compare ``fit_min_max(X)`` with MinMaxScaler's (data_min_, data_range_).

    Without ``X``, the data come from ``make_features(**data)``.
    """
    return _check_fit(MIN_MAX, fit_min_max, X, **data)


@check
def check_fit_standard(fit_standard, X=None, **data) -> Report:
    """Compare ``fit_standard(X)`` with StandardScaler's (mean_, scale_)."""
    return _check_fit(STANDARD, fit_standard, X, **data)


@check
def check_min_max_transform(min_max_transform, X_train=None, X_test=None, **data) -> Report:
    """Scale X_test with the statistics MinMaxScaler fitted on X_train; compare with its transform.

    Without X_test, X_train itself is scaled; without either, ``make_split(**data)``.
    """
    return _check_transform(MIN_MAX, min_max_transform, X_train, X_test, **data)


@check
def check_standard_transform(standard_transform, X_train=None, X_test=None, **data) -> Report:
    """Scale X_test with the statistics StandardScaler fitted on X_train; compare with its transform."""
    return _check_transform(STANDARD, standard_transform, X_train, X_test, **data)


@check
def check_min_max_inverse(min_max_inverse, X_train=None, X_test=None, **data) -> Report:
    """Scale X_test back from MinMaxScaler's transform; compare with its inverse_transform."""
    return _check_inverse(MIN_MAX, min_max_inverse, X_train, X_test, **data)


@check
def check_standard_inverse(standard_inverse, X_train=None, X_test=None, **data) -> Report:
    """Scale X_test back from StandardScaler's transform; compare with its inverse_transform."""
    return _check_inverse(STANDARD, standard_inverse, X_train, X_test, **data)


@check
def check_min_max_round_trip(fit_min_max, min_max_transform, min_max_inverse,
                             X_train=None, X_test=None, **data) -> Report:
    """Fit on X_train, transform X_test, transform it back; each step against MinMaxScaler."""
    return _check_round_trip(MIN_MAX, fit_min_max, min_max_transform, min_max_inverse, X_train, X_test, **data)


@check
def check_standard_round_trip(fit_standard, standard_transform, standard_inverse,
                              X_train=None, X_test=None, **data) -> Report:
    """Fit on X_train, transform X_test, transform it back; each step against StandardScaler."""
    return _check_round_trip(STANDARD, fit_standard, standard_transform, standard_inverse, X_train, X_test, **data)


@check
def check_min_max_rejects_bad_input(fit_min_max, min_max_transform, min_max_inverse) -> Report:
    """Check that each min-max function raises ValueError for a 1-D, 3-D or empty X."""
    return _check_rejects_bad_input(MIN_MAX, fit_min_max, min_max_transform, min_max_inverse)


@check
def check_standard_rejects_bad_input(fit_standard, standard_transform, standard_inverse) -> Report:
    """Check that each standardization function raises ValueError for a 1-D, 3-D or empty X."""
    return _check_rejects_bad_input(STANDARD, fit_standard, standard_transform, standard_inverse)


# Trust this module and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
