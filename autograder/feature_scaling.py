"""Checks for the feature-scaling exercise, which is written in NumPy.

The student writes a fit, a transform and an inverse for min-max scaling and
for Z-score standardization. The references are scikit-learn's
``MinMaxScaler`` and ``StandardScaler``: fitted statistics are compared with
their ``data_min_``, ``data_range_``, ``mean_`` and ``scale_``, transformed
arrays with ``transform`` and ``inverse_transform``.

``harness.check_against_reference`` moves torch tensors between devices, so
it does not fit functions of NumPy arrays. This module calls the student's
function itself, on the CPU, and turns arrays into tensors only to reuse the
comparisons of ``compare.py``. Before that it says plainly what is wrong when
a function returns None, a list or a torch tensor, the wrong shape or dtype,
or changes its arguments in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from .core.compare import describe_difference, describe_wrong_type
from .core import integrity
from .core.harness import Report, Variant, describe_call, quiet
from .core.tolerances import tolerance_for

DEVICE = "numpy (cpu)"
OPERATION = "feature_scaling"  # no override in tolerances.py: the float64 defaults apply


def _f64(X) -> np.ndarray:
    return np.asarray(X, dtype=np.float64)


def _nonzero(divisor: np.ndarray) -> np.ndarray:
    """A zero range or standard deviation replaced by 1, as scikit-learn does."""
    return np.where(divisor == 0, 1.0, divisor)


# --- the two scalings, with the mistakes the messages name --------------------


@dataclass(frozen=True)
class Scaling:
    """One scaling: its functions' names, its reference, and its known wrong variants."""

    fit: str
    transform: str
    inverse: str
    statistics: tuple[str, str]
    reference: Callable  # X_train (float64) -> fitted scikit-learn scaler
    fitted: Callable  # fitted scaler -> the two statistics, as the student's fit returns them
    fit_variants: tuple[Variant, ...]
    transform_variants: tuple[Variant, ...]
    inverse_variants: tuple[Variant, ...]


WRONG_AXIS = (
    "the statistics are computed over the wrong axis, one per row (axis=1). "
    "Each column is a feature: reduce over the samples, axis=0."
)
LEAKAGE = (
    "the statistics are recomputed from the X being transformed instead of using "
    "the ones passed in, fitted on the training data (test-set leakage). New data "
    "must be scaled with the training statistics."
)
INVERSE_SIGN = "the inverse subtracts the shift instead of adding it back."
INVERSE_ORDER = (
    "the inverse adds the shift back before multiplying. Undo the forward steps in "
    "reverse order: first multiply, then add."
)

MIN_MAX = Scaling(
    fit="fit_min_max",
    transform="min_max_transform",
    inverse="min_max_inverse",
    statistics=("data_min", "data_range"),
    reference=lambda X: MinMaxScaler().fit(X),
    fitted=lambda scaler: (scaler.data_min_, scaler.data_range_),
    fit_variants=(
        Variant(WRONG_AXIS, lambda X: (_f64(X).min(1), _f64(X).max(1) - _f64(X).min(1))),
        Variant(
            "data_range holds the column maximum. Min-max scaling divides by the "
            "range, max - min.",
            lambda X: (_f64(X).min(0), _f64(X).max(0)),
        ),
        Variant(
            "data_range of a constant column is set to 1 in the fit. data_range is "
            "max - min, so 0 for a constant column (like scikit-learn's data_range_); "
            "replace 0 by 1 only where you divide or multiply by it.",
            lambda X: (_f64(X).min(0), _nonzero(_f64(X).max(0) - _f64(X).min(0))),
        ),
    ),
    transform_variants=(
        Variant(
            LEAKAGE,
            lambda X, data_min, data_range: (_f64(X) - _f64(X).min(0))
            / _nonzero(_f64(X).max(0) - _f64(X).min(0)),
        ),
        Variant(
            "a constant column (data_range 0) gives NaN or inf: a division by zero. "
            "Replace a zero range by 1 before dividing, as scikit-learn does, so that "
            "the column becomes 0.",
            lambda X, data_min, data_range: (_f64(X) - data_min) / data_range,
        ),
        Variant(
            "it divides by the column maximum (data_min + data_range) instead of the "
            "range, max - min.",
            lambda X, data_min, data_range: (_f64(X) - data_min) / _nonzero(data_min + data_range),
        ),
    ),
    inverse_variants=(
        Variant(
            INVERSE_SIGN + " Use X = X_scaled * data_range + data_min.",
            lambda X, data_min, data_range: _f64(X) * _nonzero(data_range) - data_min,
        ),
        Variant(
            INVERSE_ORDER + " Use X = X_scaled * data_range + data_min.",
            lambda X, data_min, data_range: (_f64(X) + data_min) * _nonzero(data_range),
        ),
        Variant(
            "the inverse multiplies by a zero data_range, so a constant column loses "
            "the values of new data. Replace 0 by 1, as the transform does, so that "
            "the inverse undoes the transform exactly.",
            lambda X, data_min, data_range: _f64(X) * data_range + data_min,
        ),
    ),
)

STANDARD = Scaling(
    fit="fit_standard",
    transform="standard_transform",
    inverse="standard_inverse",
    statistics=("mean", "scale"),
    reference=lambda X: StandardScaler().fit(X),
    fitted=lambda scaler: (scaler.mean_, scaler.scale_),
    fit_variants=(
        Variant(WRONG_AXIS, lambda X: (_f64(X).mean(1), _nonzero(_f64(X).std(1)))),
        Variant(
            "scale is the sample standard deviation (divided by n - 1). Use the "
            "population standard deviation (divided by n): np.std(X, axis=0) with its "
            "default ddof=0, as scikit-learn's StandardScaler does.",
            lambda X: (_f64(X).mean(0), _nonzero(_f64(X).std(0, ddof=1))),
        ),
        Variant(
            "scale is the variance. Divide by the standard deviation, its square root.",
            lambda X: (_f64(X).mean(0), _nonzero(_f64(X).var(0))),
        ),
        Variant(
            "the scale of a constant column is 0. Replace a zero standard deviation "
            "by 1, as scikit-learn does, so that the transform gives 0 instead of "
            "dividing by zero.",
            lambda X: (_f64(X).mean(0), _f64(X).std(0)),
        ),
        Variant(
            "the variance is computed as mean(X**2) - mean(X)**2, which loses every "
            "digit when the values are large compared with their spread "
            "(catastrophic cancellation). Subtract the mean first: "
            "np.mean((X - mean)**2, axis=0), which np.std does.",
            lambda X: (
                _f64(X).mean(0),
                _nonzero(np.sqrt((_f64(X) ** 2).mean(0) - _f64(X).mean(0) ** 2)),
            ),
        ),
    ),
    transform_variants=(
        Variant(
            LEAKAGE,
            lambda X, mean, scale: (_f64(X) - _f64(X).mean(0)) / _nonzero(_f64(X).std(0)),
        ),
    ),
    inverse_variants=(
        Variant(
            INVERSE_SIGN + " Use X = X_scaled * scale + mean.",
            lambda X, mean, scale: _f64(X) * scale - mean,
        ),
        Variant(
            INVERSE_ORDER + " Use X = X_scaled * scale + mean.",
            lambda X, mean, scale: (_f64(X) + mean) * scale,
        ),
    ),
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


def _copies(arguments: dict) -> dict:
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in arguments.items()}


def _call(student: Callable, arguments: dict, where: str):
    """The student's result on fresh copies of ``arguments``; the copies must come back unchanged."""
    args = _copies(arguments)
    try:
        result = student(*args.values())
    except NotImplementedError:
        raise AssertionError(
            f"{where}: the function is not implemented yet (it raised NotImplementedError)."
        ) from None
    except Exception as error:  # noqa: BLE001 - reported to the student
        raise AssertionError(f"{where} raised {type(error).__name__}: {error}") from None
    for key, original in arguments.items():
        if isinstance(original, np.ndarray) and not (
            args[key].shape == original.shape and np.array_equal(args[key], original, equal_nan=True)
        ):
            raise AssertionError(
                f"{where}: the function changed its argument {key} in place. Leave the "
                "caller's arrays unchanged: write X = X - shift rather than X -= shift, and "
                "np.where(d == 0, 1.0, d) rather than d[d == 0] = 1 (np.asarray(X, dtype=np.float64) "
                "returns X itself, not a copy, when X is already float64)."
            )
    return result


def _wrong_array(what: str, value, expected: np.ndarray) -> str | None:
    """Say what is wrong with a value that is not a float64 array like ``expected``."""
    if value is None:
        return f"{what} is None: did you forget a `return` statement?"
    if isinstance(value, torch.Tensor):
        return (
            f"{what} is a torch.Tensor; this exercise is in NumPy: compute with NumPy "
            "operations and return a NumPy array."
        )
    if not isinstance(value, np.ndarray):
        return f"{what} is a {type(value).__name__}, expected a NumPy array (np.ndarray)."
    if value.shape != expected.shape:
        shape = f"{what} has shape {value.shape}, expected {expected.shape}"
        if expected.ndim == 1:
            return shape + ": one value per column (feature) of X."
        return shape + ": the shape of X."
    if value.dtype != expected.dtype:
        return (
            f"{what} has dtype {value.dtype}, expected {expected.dtype}: every function "
            "returns float64 arrays whatever the input's dtype (compute on "
            "np.asarray(X, dtype=np.float64))."
        )
    return None


def _compare(actual, expected, outputs: tuple[str, ...] | None) -> list[str]:
    """The problems with ``actual``, one sentence each; none when it matches ``expected``."""
    if outputs:
        wanted = f"expected a tuple ({', '.join(outputs)})."
        if actual is None:
            return [f"the function returns None: did you forget a `return` statement? {wanted}"]
        if not isinstance(actual, (tuple, list)) or len(actual) != len(outputs):
            got = "a NumPy array" if isinstance(actual, np.ndarray) else f"a {type(actual).__name__}"
            if isinstance(actual, (tuple, list)):
                got += f" of {len(actual)} values"
            return [f"the function returns {got}; {wanted}"]
        pairs = [(f"{name} (returned value {i})", a, e) for i, (name, a, e) in enumerate(zip(outputs, actual, expected))]
    else:
        pairs = [("the output", actual, expected)]
    problems = []
    for what, got, want in pairs:
        problem = _wrong_array(what, got, want)
        if problem is None:
            # compare.py works on tensors; from here on they are float64 arrays of one shape.
            got_t, want_t = torch.from_numpy(np.array(got)), torch.from_numpy(np.array(want))
            problem = describe_wrong_type(what, got_t, want_t) or describe_difference(
                what, got_t, want_t, tolerance_for(OPERATION, want_t.dtype)
            )
        if problem:
            problems.append(problem)
    return problems


def _diagnose(actual, arguments: dict, variants, outputs) -> str | None:
    """Name the first known mistake whose result the student's matches."""
    for variant in variants:
        try:
            wrong = variant.function(*_copies(arguments).values())
        except Exception:  # noqa: BLE001 - a variant that cannot run says nothing
            continue
        if not _compare(actual, wrong, outputs):
            return variant.mistake
    return None


def _check(student, arguments, expected, *, name, variants, outputs=None, call=None):
    """Compare ``student(*arguments.values())`` with ``expected``; return what the student returned."""
    where = f"{call or describe_call(name, arguments)} on {DEVICE}"
    actual = _call(student, arguments, where)
    problems = _compare(actual, expected, outputs)
    if problems:
        mistake = _diagnose(actual, arguments, variants, outputs)
        lines = [f"{where}:"] + [f"- {p}" for p in problems]
        if mistake:
            lines.append(f"Likely mistake: {mistake}")
        raise AssertionError("\n".join(lines))
    return actual


def _report(call: str) -> Report:
    return Report(call, devices=[DEVICE]).show()


def _split(X_train, X_test, data) -> tuple[np.ndarray, np.ndarray]:
    if X_train is None:
        return make_split(**data)
    # Without test data, the training data itself is scaled (as in the chapter's examples).
    return np.asarray(X_train), np.asarray(X_train if X_test is None else X_test)


# --- the checks, for either scaling -----------------------------------------------------


def _check_fit(scaling: Scaling, student, X) -> tuple:
    expected = scaling.fitted(scaling.reference(_f64(X)))
    return _check(student, {"X": X}, expected, name=scaling.fit,
                  variants=scaling.fit_variants, outputs=scaling.statistics)


def _check_transform(scaling: Scaling, student, X, statistics, expected, call=None):
    arguments = {"X": X, **dict(zip(scaling.statistics, statistics))}
    return _check(student, arguments, expected, name=scaling.transform,
                  variants=scaling.transform_variants, call=call)


def _check_inverse(scaling: Scaling, student, X_scaled, statistics, expected, call=None):
    arguments = {"X_scaled": X_scaled, **dict(zip(scaling.statistics, statistics))}
    return _check(student, arguments, expected, name=scaling.inverse,
                  variants=scaling.inverse_variants, call=call)


def _fit(scaling, student, X=None, **data) -> Report:
    X = make_features(**data) if X is None else np.asarray(X)
    with quiet():
        _check_fit(scaling, student, X)
    return _report(describe_call(scaling.fit, {"X": X}))


def _transform(scaling, student, X_train=None, X_test=None, **data) -> Report:
    X_train, X_test = _split(X_train, X_test, data)
    with quiet():
        scaler = scaling.reference(_f64(X_train))
        statistics = scaling.fitted(scaler)
        _check_transform(scaling, student, X_test, statistics, scaler.transform(_f64(X_test)))
    return _report(describe_call(scaling.transform, {"X": X_test, **dict(zip(scaling.statistics, statistics))}))


def _inverse(scaling, student, X_train=None, X_test=None, **data) -> Report:
    X_train, X_test = _split(X_train, X_test, data)
    with quiet():
        scaler = scaling.reference(_f64(X_train))
        statistics = scaling.fitted(scaler)
        X_scaled = scaler.transform(_f64(X_test))
        _check_inverse(scaling, student, X_scaled, statistics, scaler.inverse_transform(X_scaled))
    return _report(describe_call(scaling.inverse, {"X_scaled": X_scaled, **dict(zip(scaling.statistics, statistics))}))


def _round_trip(scaling, fit, transform, inverse, X_train=None, X_test=None, **data) -> Report:
    """Fit on X_train, scale X_test with those statistics, and scale it back: each step is compared."""
    X_train, X_test = _split(X_train, X_test, data)
    call = (f"{scaling.fit}(X_train: {X_train.shape} {X_train.dtype}), then {scaling.transform} "
            f"and {scaling.inverse} of X_test: {X_test.shape} {X_test.dtype}")
    with quiet():
        scaler = scaling.reference(_f64(X_train))
        statistics = _check_fit(scaling, fit, X_train)
        statistics = tuple(np.asarray(s) for s in statistics)
        X_scaled = _check_transform(scaling, transform, X_test, statistics, scaler.transform(_f64(X_test)))
        _check_inverse(scaling, inverse, X_scaled, statistics, _f64(X_test))
    return _report(call)


# Each must raise ValueError; the statistics passed to a transform fit X's last axis,
# so that NumPy broadcasting alone would not raise.
BAD_INPUTS = {
    "1-D": np.arange(3.0),
    "3-D": np.ones((2, 2, 3)),
    "without rows": np.empty((0, 3)),
    "without columns": np.empty((4, 0)),
}


def _rejects_bad_input(scaling, fit, transform, inverse) -> Report:
    for description, X in BAD_INPUTS.items():
        statistics = (np.zeros(X.shape[-1]), np.ones(X.shape[-1]))
        for name, student, arguments in (
            (scaling.fit, fit, {"X": X}),
            (scaling.transform, transform, {"X": X, **dict(zip(scaling.statistics, statistics))}),
            (scaling.inverse, inverse, {"X_scaled": X, **dict(zip(scaling.statistics, statistics))}),
        ):
            where = f"{describe_call(name, arguments)} on {DEVICE}"
            with quiet():
                try:
                    student(*_copies(arguments).values())
                except ValueError:
                    continue
                except NotImplementedError:
                    raise AssertionError(
                        f"{where}: the function is not implemented yet (it raised NotImplementedError)."
                    ) from None
                except Exception as error:  # noqa: BLE001 - reported to the student
                    raise AssertionError(
                        f"{where} raised {type(error).__name__}: {error}; expected ValueError "
                        f"for an X {description}."
                    ) from None
            raise AssertionError(
                f"{where} returned normally; expected it to raise ValueError for an X "
                f"{description}: X must be 2-D (n_samples, n_features) with at least one "
                "row and one column."
            )
    return _report(f"{scaling.fit}, {scaling.transform} and {scaling.inverse} on 1-D, 3-D and empty X")


# --- what the test cells call -----------------------------------------------------


def check_fit_min_max(fit_min_max, X=None, **data) -> Report:
    """Compare ``fit_min_max(X)`` with MinMaxScaler's (data_min_, data_range_).

    Without ``X``, the data come from ``make_features(**data)``.
    """
    return _fit(MIN_MAX, fit_min_max, X, **data)


def check_fit_standard(fit_standard, X=None, **data) -> Report:
    """Compare ``fit_standard(X)`` with StandardScaler's (mean_, scale_)."""
    return _fit(STANDARD, fit_standard, X, **data)


def check_min_max_transform(min_max_transform, X_train=None, X_test=None, **data) -> Report:
    """Scale X_test with the statistics MinMaxScaler fitted on X_train; compare with its transform.

    Without X_test, X_train itself is scaled; without either, ``make_split(**data)``.
    """
    return _transform(MIN_MAX, min_max_transform, X_train, X_test, **data)


def check_standard_transform(standard_transform, X_train=None, X_test=None, **data) -> Report:
    """Scale X_test with the statistics StandardScaler fitted on X_train; compare with its transform."""
    return _transform(STANDARD, standard_transform, X_train, X_test, **data)


def check_min_max_inverse(min_max_inverse, X_train=None, X_test=None, **data) -> Report:
    """Scale X_test back from MinMaxScaler's transform; compare with its inverse_transform."""
    return _inverse(MIN_MAX, min_max_inverse, X_train, X_test, **data)


def check_standard_inverse(standard_inverse, X_train=None, X_test=None, **data) -> Report:
    """Scale X_test back from StandardScaler's transform; compare with its inverse_transform."""
    return _inverse(STANDARD, standard_inverse, X_train, X_test, **data)


def check_min_max_round_trip(fit_min_max, min_max_transform, min_max_inverse,
                             X_train=None, X_test=None, **data) -> Report:
    """Fit on X_train, transform X_test, transform it back; each step against MinMaxScaler."""
    return _round_trip(MIN_MAX, fit_min_max, min_max_transform, min_max_inverse, X_train, X_test, **data)


def check_standard_round_trip(fit_standard, standard_transform, standard_inverse,
                              X_train=None, X_test=None, **data) -> Report:
    """Fit on X_train, transform X_test, transform it back; each step against StandardScaler."""
    return _round_trip(STANDARD, fit_standard, standard_transform, standard_inverse, X_train, X_test, **data)


def check_min_max_rejects_bad_input(fit_min_max, min_max_transform, min_max_inverse) -> Report:
    """Check that each min-max function raises ValueError for a 1-D, 3-D or empty X."""
    return _rejects_bad_input(MIN_MAX, fit_min_max, min_max_transform, min_max_inverse)


def check_standard_rejects_bad_input(fit_standard, standard_transform, standard_inverse) -> Report:
    """Check that each standardization function raises ValueError for a 1-D, 3-D or empty X."""
    return _rejects_bad_input(STANDARD, fit_standard, standard_transform, standard_inverse)

# Trust this module and what it uses, before any student code runs (see autograder.integrity).
integrity.trust_package()
