"""The BatchNorm checks: a correct implementation passes, each known mistake is caught and named."""

import pytest
import torch

from autograder.batch_norm import VARIANTS, _batch_norm, check_batch_norm, check_batch_norm_rejects_single_value


def correct(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    if training and input.numel() // input.shape[1] < 2:
        raise ValueError("Expected more than 1 value per channel when training")
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


@pytest.mark.parametrize("shape", [(7, 5), (4, 3, 9), (3, 2, 5, 6)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_correct_implementation_passes(shape, training, dtype):
    check_batch_norm(correct, shape=shape, training=training, dtype=dtype, gradients=True)
    check_batch_norm(correct, shape=shape, training=training, dtype=dtype, affine=False)


def test_the_seed_example_passes():
    example = torch.tensor(
        [[[[1, 0], [0, 2]], [[3, 4], [1, 2]], [[-2, 9], [7, 5]], [[2, 3], [4, 2]]],
         [[[1, 2], [-1, 0]], [[1, 2], [3, 5]], [[4, 7], [-6, 4]], [[1, 4], [1, 5]]]],
        dtype=torch.float32,
    )
    check_batch_norm(correct, input=example, training=True, affine=False)


# Each planted mistake and the visible test that must catch it.
CAUGHT_BY = {
    "the variance used to normalize is the unbiased one": dict(training=True),
    "epsilon is added outside the square root": dict(training=True, eps=0.5, scale=0.3),
    "running_var is updated with the biased variance": dict(training=True, shape=(16, 5), momentum=0.3),
    "the momentum convention is flipped": dict(training=True, shape=(16, 5), momentum=0.3),
    "evaluation mode (training=False) normalizes with the batch statistics": dict(training=False),
}


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.mistake[:40])
def test_each_wrong_variant_is_caught_and_named(variant):
    prefix = next(p for p in CAUGHT_BY if variant.mistake.startswith(p))
    with pytest.raises(AssertionError) as raised:
        check_batch_norm(variant.function, **CAUGHT_BY[prefix])
    assert f"Likely mistake: {variant.mistake}" in str(raised.value)


def test_the_single_value_check():
    check_batch_norm_rejects_single_value(correct)
    with pytest.raises(AssertionError, match="expected it to raise ValueError"):
        check_batch_norm_rejects_single_value(_batch_norm)


def test_calling_pytorchs_batch_norm_is_refused():
    with pytest.raises(AssertionError, match="it calls torch.nn.functional.batch_norm"):
        check_batch_norm(torch.nn.functional.batch_norm)
