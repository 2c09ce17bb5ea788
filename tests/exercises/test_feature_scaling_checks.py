"""The feature-scaling checks: a correct implementation passes, each known mistake is caught and named."""

import numpy as np
import pytest
import torch

from autograder.core.failure import named_mistake
from autograder.core.forbidden import Forbidden
from autograder.core.tolerances import BY_DTYPE, tolerance_for
from autograder.feature_scaling import (
    DEVICE, MIN_MAX, MISTAKES, NOT_VALIDATED, SPECS, ZERO_RANGE_DIVIDED, check_fit_min_max, check_fit_standard, check_min_max_inverse,
    check_min_max_rejects_bad_input, check_min_max_round_trip, check_min_max_transform,
    check_standard_inverse, check_standard_rejects_bad_input, check_standard_round_trip,
    check_standard_transform, make_split,
)


def matrix(X):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or 0 in X.shape:
        raise ValueError("X must be 2-D and not empty")
    return X


def fit_min_max(X):
    X = matrix(X)
    return X.min(0), X.max(0) - X.min(0)


def min_max_transform(X, data_min, data_range):
    return (matrix(X) - data_min) / np.where(data_range == 0, 1.0, data_range)


def min_max_inverse(X_scaled, data_min, data_range):
    return matrix(X_scaled) * np.where(data_range == 0, 1.0, data_range) + data_min


def fit_standard(X):
    X = matrix(X)
    std = X.std(0)
    return X.mean(0), np.where(std == 0, 1.0, std)


def standard_transform(X, mean, scale):
    return (matrix(X) - mean) / scale


def standard_inverse(X_scaled, mean, scale):
    return matrix(X_scaled) * scale + mean


CORRECT_MIN_MAX = (fit_min_max, min_max_transform, min_max_inverse)
CORRECT_STANDARD = (fit_standard, standard_transform, standard_inverse)
SEED_EXAMPLE = np.arange(12).reshape(6, 2)
OUTLIER_EXAMPLE = np.array([[0, 1], [2, 100], [4, 5], [6, 7]])  # np.arange(8).reshape(4, 2), a[1, 1] = 100

CASES = [
    dict(),
    dict(shape=(1, 4), test_rows=3),  # a single training row: every column is constant
    dict(shape=(3, 3), constant_columns=(0, 2)),
    dict(shape=(40, 5), loc=-50.0),
    dict(shape=(50, 3), loc=1e8),  # large values, small spread
    dict(shape=(12, 3), loc=1000.0, dtype=np.float32),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_correct_implementation_passes(case):
    fit_data = {k: v for k, v in case.items() if k != "test_rows"}
    reports = [
        check_min_max_round_trip(*CORRECT_MIN_MAX, **case),
        check_standard_round_trip(*CORRECT_STANDARD, **case),
        check_fit_min_max(fit_min_max, **fit_data),
        check_fit_standard(fit_standard, **fit_data),
        check_min_max_transform(min_max_transform, **case),
        check_standard_transform(standard_transform, **case),
        check_min_max_inverse(min_max_inverse, **case),
        check_standard_inverse(standard_inverse, **case),
    ]
    # What the student reads under the cell: the call that passed, on NumPy's CPU.
    assert all(report.devices == [DEVICE] and not report.notes for report in reports)
    shape, dtype = case.get("shape", (8, 3)), np.dtype(case.get("dtype", np.float64))
    assert reports[2].call == f"fit_min_max(X: {shape} {dtype})"
    assert reports[0].call.startswith(f"fit_min_max(X_train: {shape} {dtype}), then min_max_transform")


@pytest.mark.parametrize("X", [SEED_EXAMPLE, OUTLIER_EXAMPLE], ids=["seed", "outlier"])
def test_the_seed_examples_pass(X):
    reports = [check_fit_min_max(fit_min_max, X=X), check_min_max_transform(min_max_transform, X_train=X),
               check_fit_standard(fit_standard, X=X), check_standard_transform(standard_transform, X_train=X)]
    assert [r.devices for r in reports] == [[DEVICE]] * 4
    assert reports[1].call == f"min_max_transform(X: {X.shape} {X.dtype}, data_min: (2,) float64, data_range: (2,) float64)"


def test_the_seed_examples_match_the_printed_numbers():
    # The numbers the source text prints, so the reference is the one the chapter uses.
    scaled = min_max_transform(OUTLIER_EXAMPLE, *fit_min_max(OUTLIER_EXAMPLE))
    np.testing.assert_allclose(scaled[:, 1], [0.0, 1.0, 0.04040404, 0.06060606], atol=1e-8)
    standardized = standard_transform(SEED_EXAMPLE, *fit_standard(SEED_EXAMPLE))
    np.testing.assert_allclose(standardized[:3, 0], [-1.46385011, -0.87831007, -0.29277002], atol=1e-8)


def test_the_bad_input_checks():
    assert check_min_max_rejects_bad_input(*CORRECT_MIN_MAX).devices == [DEVICE]
    assert check_standard_rejects_bad_input(*CORRECT_STANDARD).devices == [DEVICE]
    lenient = lambda X, a, b: (np.asarray(X, dtype=np.float64) - a) / b  # noqa: E731
    with pytest.raises(AssertionError, match="returned normally; expected it to raise ValueError for an X 1-D"):
        check_min_max_rejects_bad_input(fit_min_max, lenient, min_max_inverse)

    def type_error(X):
        raise TypeError("no")

    with pytest.raises(AssertionError, match="raised TypeError: no; expected ValueError"):
        check_standard_rejects_bad_input(type_error, standard_transform, standard_inverse)


def _split_check(check, function, **data):
    return check(function, shape=(8, 3), test_rows=5, seed=2, **data)


def _round_trip(scaling, position, function, **data):
    functions = list(CORRECT_MIN_MAX if scaling is MIN_MAX else CORRECT_STANDARD)
    functions[position] = function
    check = check_min_max_round_trip if scaling is MIN_MAX else check_standard_round_trip
    return check(*functions, shape=(6, 3), seed=8, **data)


def test_a_variant_passes_where_its_mistake_makes_no_difference():
    # Without a constant column, forgetting to replace a zero divisor changes nothing.
    no_replacement = next(p.function for p in MIN_MAX.transform.planted if p.mistake is ZERO_RANGE_DIVIDED)
    report = _split_check(check_min_max_transform, no_replacement)
    assert report.devices == [DEVICE]


# --- what a student sees for results of the wrong kind ---------------------------------------


@pytest.mark.parametrize("returned, message", [
    (lambda X: None, "the function returns None: did you forget a `return` statement?"),
    (lambda X: (None, None), "data_min (returned value 0) is None: did you forget a `return` statement?"),
    (lambda X: fit_min_max(X)[0], "the function returns a NumPy array; expected a tuple (data_min, data_range)."),
    (lambda X: [list(s) for s in fit_min_max(X)], "data_min (returned value 0) is a list, expected a NumPy array"),
    (lambda X: tuple(torch.from_numpy(s) for s in fit_min_max(X)), "is a torch.Tensor; this exercise is in NumPy"),
    (lambda X: tuple(s[None, :] for s in fit_min_max(X)),
     "has shape (1, 3), expected (3,): one value per column (feature) of X."),
    (lambda X: tuple(s.astype(np.float32) for s in fit_min_max(X)),
     "has dtype float32, expected float64: every function returns float64 arrays"),
])
def test_wrong_kinds_of_results_are_explained(returned, message):
    with pytest.raises(AssertionError) as raised:
        check_fit_min_max(returned, shape=(8, 3))
    assert message in str(raised.value)


def test_a_transform_of_the_wrong_shape_is_explained():
    with pytest.raises(AssertionError, match=r"the output has shape \(5,\), expected \(5, 3\): the shape of X"):
        _split_check(check_standard_transform, lambda X, mean, scale: standard_transform(X, mean, scale)[:, 0])


def test_changing_an_argument_in_place_is_refused():
    def in_place_fit(X):
        X = np.asarray(X, dtype=np.float64)
        X -= X.min(0)  # changes the caller's float64 array
        return np.zeros(X.shape[1]), X.max(0)

    with pytest.raises(AssertionError, match="changed its argument X in place"):
        check_fit_min_max(in_place_fit, shape=(8, 3))

    def in_place_transform(X, data_min, data_range):
        data_range[data_range == 0] = 1
        return (matrix(X) - data_min) / data_range

    assert _split_check(check_min_max_transform, in_place_transform).devices == [DEVICE]  # no zero, no change
    with pytest.raises(AssertionError, match="changed its argument data_range in place"):
        _round_trip(MIN_MAX, 1, in_place_transform, constant_columns=(1,))


def test_a_blank_function_is_not_implemented_yet():
    def blank(*args):
        raise NotImplementedError()

    for check in (lambda: check_fit_standard(blank), lambda: check_min_max_transform(blank),
                  lambda: check_standard_inverse(blank), lambda: check_min_max_round_trip(blank, blank, blank),
                  lambda: check_standard_rejects_bad_input(blank, blank, blank)):
        with pytest.raises(AssertionError, match="not implemented yet"):
            check()


def test_an_error_in_the_student_code_is_reported():
    def broken(X, mean, scale):
        return X @ mean.T @ scale[:2]

    with pytest.raises(AssertionError, match="raised ValueError: .*") as raised:
        _split_check(check_standard_transform, broken)
    assert "standard_transform(X: (5, 3) float64, mean: (3,) float64, scale: (3,) float64) on numpy (cpu)" in str(
        raised.value)


def test_the_split_has_different_statistics():
    X_train, X_test = make_split((8, 3), test_rows=5, seed=2)
    assert not np.allclose(X_train.mean(0), X_test.mean(0))
    assert not np.allclose(X_train.std(0), X_test.std(0))


def test_a_fit_that_does_not_validate_x_is_named():
    def lenient_fit(X):
        X = np.asarray(X, dtype=np.float64)
        return X.min(0), X.max(0) - X.min(0)

    with pytest.raises(AssertionError) as raised:
        check_min_max_rejects_bad_input(lenient_fit, min_max_transform, min_max_inverse)
    assert named_mistake(str(raised.value)) == NOT_VALIDATED.words


def test_students_operator_precedence_mistake_is_named():
    def no_parentheses(X, mean, scale):
        return matrix(X) - mean / scale

    with pytest.raises(AssertionError) as raised:
        _split_check(check_standard_transform, no_parentheses)
    assert "Likely mistake: the shift is divided, not the difference: X - mean / scale" in str(raised.value)


def test_an_unnamed_wrong_result_gets_a_generic_hint():
    # Twice the right answer matches no declared mistake, but its shape says what is off.
    with pytest.raises(AssertionError) as raised:
        _split_check(check_standard_transform, lambda X, mean, scale: 2 * standard_transform(X, mean, scale))
    message = str(raised.value)
    assert named_mistake(message) is None
    assert "Hint: the output is off by a constant factor of 2" in message


def test_each_function_the_student_writes_is_a_spec():
    assert [spec.name for spec in SPECS] == ["fit_min_max", "min_max_transform", "min_max_inverse",
                                            "fit_standard", "standard_transform", "standard_inverse"]
    assert all(spec.forbidden is Forbidden.none for spec in SPECS)
    assert list(MISTAKES) == [planted for spec in SPECS for planted in spec.planted]
    # The arrays are compared with the float64 defaults: no scaling declares an override.
    assert tolerance_for("feature_scaling", torch.float64) == BY_DTYPE[torch.float64]


def test_every_planted_mistake_is_caught_and_named():
    # The module's catalog, checked as the generated catalog test does.
    import autograder.feature_scaling as module

    for planted in MISTAKES:
        assert planted.caught_by
        for catch in planted.caught_by:
            with pytest.raises(AssertionError) as raised:
                getattr(module, catch.check)(planted.function, *catch.args, **catch.kwargs)
            assert named_mistake(str(raised.value)) == planted.words


def test_a_generic_hint_names_the_output_that_is_off():
    def doubled_range(X):
        data_min, data_range = fit_min_max(X)
        return data_min, 2 * data_range

    with pytest.raises(AssertionError) as raised:
        check_fit_min_max(doubled_range, shape=(8, 3))
    message = str(raised.value)
    assert named_mistake(message) is None
    assert "Hint: data_range is off by a constant factor of 2" in message
