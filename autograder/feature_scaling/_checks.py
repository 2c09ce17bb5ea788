"""The checks of either scaling: seeded data, the student's call compared with scikit-learn's scaler.

The functions take NumPy arrays, so they run once, on the CPU, with no device
to move them to; ``core.compare`` compares the arrays and says plainly what is
wrong when a function returns None, a list or a torch tensor, the wrong shape
or dtype. A function that changes its arguments in place fails too.
"""

from __future__ import annotations

import numpy as np

from ..core.calling import call_student, describe_call, materialize
from ..core.compare import ArrayRules, compare_outputs
from ..core.engine import check_raises, fail_diagnosed
from ..core.failure import fail
from ..core.hints import output_hint
from ..core.report import Report
from ._common import NOT_VALIDATED, Scaling, ScalingFunction, _f64

DEVICE = "numpy (cpu)"


# --- seeded data ---


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


# --- calling and comparing ---

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


def _unchanged(called, arguments: dict, where: str) -> None:
    """Fail if the student's call changed one of its array arguments (``called`` holds the copies it got)."""
    for key, original in arguments.items():
        after = called.arguments[key]
        if isinstance(original, np.ndarray) and not (
            after.shape == original.shape and np.array_equal(after, original, equal_nan=True)
        ):
            fail(where, IN_PLACE.format(key=key))


def _compare(spec: ScalingFunction, student, arguments, expected, *, outputs=None):
    """Compare ``student(*arguments.values())`` with ``expected``; return what the student returned."""
    where = f"{describe_call(spec.name, arguments)} on {DEVICE}"
    called = call_student(student, arguments, where=where, forbidden=spec.forbidden)
    actual = called.result()
    _unchanged(called, arguments, where)
    agree = lambda a, b: not compare_outputs(a, b, spec.tolerance_name, outputs, ARRAY_RULES)  # noqa: E731
    problems = compare_outputs(actual, expected, spec.tolerance_name, outputs, ARRAY_RULES)
    if problems:
        fail_diagnosed(
            where, actual, expected, problems=problems, planted=spec.planted,
            run=lambda function: function(*materialize(arguments, None).values()),
            agree=agree, clue=lambda a, b: output_hint(a, b, outputs),
        )
    return actual


def _split(X_train, X_test, data) -> tuple[np.ndarray, np.ndarray]:
    if X_train is None:
        return make_split(**data)
    # Without test data, the training data itself is scaled (as in the chapter's examples).
    return np.asarray(X_train), np.asarray(X_train if X_test is None else X_test)


def _named(scaling: Scaling, first: str, first_value, statistics) -> dict:
    return {first: first_value, **dict(zip(scaling.statistics, statistics))}


def _compare_fit(scaling: Scaling, student, X) -> tuple:
    expected = scaling.fitted(scaling.reference(_f64(X)))
    return _compare(scaling.fit, student, {"X": X}, expected, outputs=scaling.statistics)


def _compare_transform(scaling: Scaling, student, X, statistics, expected):
    return _compare(scaling.transform, student, _named(scaling, "X", X, statistics), expected)


def _compare_inverse(scaling: Scaling, student, X_scaled, statistics, expected):
    return _compare(scaling.inverse, student, _named(scaling, "X_scaled", X_scaled, statistics), expected)


# --- the checks, for either scaling ---


def check_fit(scaling: Scaling, student, X=None, **data) -> Report:
    X = make_features(**data) if X is None else np.asarray(X)
    _compare_fit(scaling, student, X)
    return Report(describe_call(scaling.fit.name, {"X": X}), devices=[DEVICE])


def check_transform(scaling: Scaling, student, X_train=None, X_test=None, **data) -> Report:
    X_train, X_test = _split(X_train, X_test, data)
    scaler = scaling.reference(_f64(X_train))
    statistics = scaling.fitted(scaler)
    _compare_transform(scaling, student, X_test, statistics, scaler.transform(_f64(X_test)))
    return Report(describe_call(scaling.transform.name, _named(scaling, "X", X_test, statistics)),
                  devices=[DEVICE])


def check_inverse(scaling: Scaling, student, X_train=None, X_test=None, **data) -> Report:
    X_train, X_test = _split(X_train, X_test, data)
    scaler = scaling.reference(_f64(X_train))
    statistics = scaling.fitted(scaler)
    X_scaled = scaler.transform(_f64(X_test))
    _compare_inverse(scaling, student, X_scaled, statistics, scaler.inverse_transform(X_scaled))
    return Report(describe_call(scaling.inverse.name, _named(scaling, "X_scaled", X_scaled, statistics)),
                  devices=[DEVICE])


def check_round_trip(scaling: Scaling, fit, transform, inverse, X_train=None, X_test=None, **data) -> Report:
    """Fit on X_train, scale X_test with those statistics, and scale it back: each step is compared."""
    X_train, X_test = _split(X_train, X_test, data)
    call = (f"{scaling.fit.name}(X_train: {X_train.shape} {X_train.dtype}), then {scaling.transform.name} "
            f"and {scaling.inverse.name} of X_test: {X_test.shape} {X_test.dtype}")
    scaler = scaling.reference(_f64(X_train))
    statistics = tuple(np.asarray(s) for s in _compare_fit(scaling, fit, X_train))
    X_scaled = _compare_transform(scaling, transform, X_test, statistics, scaler.transform(_f64(X_test)))
    arguments = _named(scaling, "X_scaled", X_scaled, statistics)
    where = f"{describe_call(scaling.inverse.name, arguments)} on {DEVICE}"
    back = call_student(inverse, arguments, where=where, forbidden=scaling.inverse.forbidden).result()
    on_its_own = scaler.inverse_transform(_f64(X_scaled))
    if not compare_outputs(back, on_its_own, scaling.inverse.tolerance_name, None, ARRAY_RULES) and compare_outputs(
            back, _f64(X_test), scaling.inverse.tolerance_name, None, ARRAY_RULES):
        # The inverse undoes what it was given: the transform's small errors, within its own tolerance, add up.
        fail(where, "the round trip does not give X_test back, but the inverse is right for the X_scaled it was "
             f"given: the difference comes from {scaling.transform.name}, whose result is off by less than its own "
             "tolerance.",
             problems=compare_outputs(back, _f64(X_test), scaling.inverse.tolerance_name, None, ARRAY_RULES))
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


def check_rejects_bad_input(scaling: Scaling, fit, transform, inverse) -> Report:
    for description, X in BAD_INPUTS.items():
        statistics = (np.zeros(X.shape[-1]), np.ones(X.shape[-1]))
        for spec, student, arguments in (
            (scaling.fit, fit, {"X": X}),
            (scaling.transform, transform, _named(scaling, "X", X, statistics)),
            (scaling.inverse, inverse, _named(scaling, "X_scaled", X, statistics)),
        ):
            lenient = next((p.mistake for p in spec.planted if p.mistake is NOT_VALIDATED), None)
            check_raises(student, arguments, ValueError, name=spec.name, devices=[DEVICE], like=None,
                         when=f"for an X {description}: X must be 2-D (n_samples, n_features) with at least one row "
                         "and one column", mistake_if_returned=lenient, forbidden=spec.forbidden)
    names = [spec.name for spec in scaling.specs]
    return Report(f"{names[0]}, {names[1]} and {names[2]} on 1-D, 3-D and empty X", devices=[DEVICE])
