"""The feature-scaling checks: a correct implementation passes, each known mistake is caught and named."""

import numpy as np
import pytest
import torch

from autograder.feature_scaling import (
    MIN_MAX, STANDARD, check_fit_min_max, check_fit_standard, check_min_max_inverse,
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
    check_min_max_round_trip(*CORRECT_MIN_MAX, **case)
    check_standard_round_trip(*CORRECT_STANDARD, **case)
    check_fit_min_max(fit_min_max, **{k: v for k, v in case.items() if k != "test_rows"})
    check_fit_standard(fit_standard, **{k: v for k, v in case.items() if k != "test_rows"})
    check_min_max_transform(min_max_transform, **case)
    check_standard_transform(standard_transform, **case)
    check_min_max_inverse(min_max_inverse, **case)
    check_standard_inverse(standard_inverse, **case)


@pytest.mark.parametrize("X", [SEED_EXAMPLE, OUTLIER_EXAMPLE], ids=["seed", "outlier"])
def test_the_seed_examples_pass(X):
    check_fit_min_max(fit_min_max, X=X)
    check_min_max_transform(min_max_transform, X_train=X)
    check_fit_standard(fit_standard, X=X)
    check_standard_transform(standard_transform, X_train=X)


def test_the_seed_examples_match_the_printed_numbers():
    # The numbers the source text prints, so the reference is the one the chapter uses.
    scaled = min_max_transform(OUTLIER_EXAMPLE, *fit_min_max(OUTLIER_EXAMPLE))
    np.testing.assert_allclose(scaled[:, 1], [0.0, 1.0, 0.04040404, 0.06060606], atol=1e-8)
    standardized = standard_transform(SEED_EXAMPLE, *fit_standard(SEED_EXAMPLE))
    np.testing.assert_allclose(standardized[:3, 0], [-1.46385011, -0.87831007, -0.29277002], atol=1e-8)


def test_the_bad_input_checks():
    check_min_max_rejects_bad_input(*CORRECT_MIN_MAX)
    check_standard_rejects_bad_input(*CORRECT_STANDARD)
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


# Each planted mistake and the call (as in a notebook test) that must catch it.
CAUGHT_BY = {
    # fits
    (MIN_MAX, "fit", "the statistics are computed over the wrong axis"): lambda f: check_fit_min_max(f, shape=(8, 3)),
    (MIN_MAX, "fit", "data_range holds the column maximum"): lambda f: check_fit_min_max(f, X=SEED_EXAMPLE),
    (MIN_MAX, "fit", "data_range of a constant column is set to 1"): lambda f: _round_trip(
        MIN_MAX, 0, f, constant_columns=(1,)),
    (STANDARD, "fit", "the statistics are computed over the wrong axis"): lambda f: check_fit_standard(f, shape=(8, 3)),
    (STANDARD, "fit", "scale is the sample standard deviation"): lambda f: check_fit_standard(f, X=SEED_EXAMPLE),
    (STANDARD, "fit", "scale is the variance"): lambda f: check_fit_standard(f, X=SEED_EXAMPLE),
    (STANDARD, "fit", "the scale of a constant column is 0"): lambda f: _round_trip(
        STANDARD, 0, f, constant_columns=(1,)),
    (STANDARD, "fit", "the variance is computed as mean(X**2)"): lambda f: check_fit_standard(
        f, shape=(200, 4), loc=1e8, seed=62),
    # transforms
    (MIN_MAX, "transform", "the statistics are recomputed"): lambda f: _split_check(check_min_max_transform, f),
    (MIN_MAX, "transform", "a constant column (data_range 0) gives NaN or inf"): lambda f: _round_trip(
        MIN_MAX, 1, f, constant_columns=(1,)),
    (MIN_MAX, "transform", "it divides by the column maximum"): lambda f: check_min_max_transform(f, X_train=SEED_EXAMPLE),
    (STANDARD, "transform", "the statistics are recomputed"): lambda f: _split_check(check_standard_transform, f),
    # inverses
    (MIN_MAX, "inverse", "the inverse subtracts the shift"): lambda f: _split_check(check_min_max_inverse, f),
    (MIN_MAX, "inverse", "the inverse adds the shift back before multiplying"): lambda f: _split_check(
        check_min_max_inverse, f),
    (MIN_MAX, "inverse", "the inverse multiplies by a zero data_range"): lambda f: _round_trip(
        MIN_MAX, 2, f, constant_columns=(1,)),
    (STANDARD, "inverse", "the inverse subtracts the shift"): lambda f: _split_check(check_standard_inverse, f),
    (STANDARD, "inverse", "the inverse adds the shift back before multiplying"): lambda f: _split_check(
        check_standard_inverse, f),
}

VARIANTS = [
    (scaling, step, variant)
    for scaling in (MIN_MAX, STANDARD)
    for step, variants in (("fit", scaling.fit_variants), ("transform", scaling.transform_variants),
                           ("inverse", scaling.inverse_variants))
    for variant in variants
]


@pytest.mark.parametrize("scaling, step, variant", VARIANTS,
                         ids=[f"{s.fit}-{step}-{v.mistake[:30]}" for s, step, v in VARIANTS])
def test_each_wrong_variant_is_caught_and_named(scaling, step, variant):
    catch = next(call for (s, st, prefix), call in CAUGHT_BY.items()
                 if s is scaling and st == step and variant.mistake.startswith(prefix))
    with pytest.raises(AssertionError) as raised:
        catch(variant.function)
    assert f"Likely mistake: {variant.mistake}" in str(raised.value)


def test_every_variant_is_listed_once():
    assert len(CAUGHT_BY) == len(VARIANTS)


def test_a_variant_passes_where_its_mistake_makes_no_difference():
    # Without a constant column, forgetting to replace a zero divisor changes nothing.
    no_replacement = MIN_MAX.transform_variants[1].function
    _split_check(check_min_max_transform, no_replacement)


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

    _split_check(check_min_max_transform, in_place_transform)  # no zero, nothing changes
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
