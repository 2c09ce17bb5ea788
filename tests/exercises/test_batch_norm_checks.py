"""The BatchNorm checks: a correct implementation passes on every device; what it must refuse, it refuses.

That each planted mistake is caught and named is proven for every exercise by
``test_catalog.py``, from the declarations in ``autograder.batch_norm``.
"""

import pytest
import torch

from autograder.batch_norm import check_batch_norm, check_batch_norm_rejects_single_value
from autograder.core.devices import available_devices


def correct(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalization written independently of the module's reference: channels moved last."""
    x = input.movedim(1, -1)  # (..., C)
    flat = x.reshape(-1, x.shape[-1])  # (N * positions, C)
    if training:
        if flat.shape[0] < 2:
            raise ValueError("Expected more than 1 value per channel when training")
        mean = flat.sum(0) / flat.shape[0]
        centred = flat - mean
        var = (centred * centred).sum(0) / flat.shape[0]
        if running_mean is not None:
            with torch.no_grad():
                running_mean.copy_((1 - momentum) * running_mean + momentum * mean)
                unbiased = var * flat.shape[0] / (flat.shape[0] - 1)
                running_var.copy_((1 - momentum) * running_var + momentum * unbiased)
    else:
        mean, var = running_mean, running_var
    y = (x - mean) * torch.rsqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y.movedim(-1, 1)


@pytest.mark.parametrize("shape", [(7, 5), (4, 3, 9), (3, 2, 5, 6)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_correct_implementation_passes_on_every_device(shape, training, dtype):
    report = check_batch_norm(correct, shape=shape, training=training, dtype=dtype, gradients=True)
    assert report.devices == available_devices()
    assert report.notes == []
    assert report.call.startswith(f"batch_norm(input: {shape} {str(dtype)[6:]}")
    assert check_batch_norm(correct, shape=shape, training=training, dtype=dtype, affine=False).devices


def test_the_seed_example_passes():
    example = torch.tensor(
        [[[[1, 0], [0, 2]], [[3, 4], [1, 2]], [[-2, 9], [7, 5]], [[2, 3], [4, 2]]],
         [[[1, 2], [-1, 0]], [[1, 2], [3, 5]], [[4, 7], [-6, 4]], [[1, 4], [1, 5]]]],
        dtype=torch.float32,
    )
    report = check_batch_norm(correct, input=example, training=True, affine=False)
    assert "input: (2, 4, 2, 2) float32" in report.call and report.devices == available_devices()


def test_the_single_value_check():
    assert check_batch_norm_rejects_single_value(correct).devices == ["cpu"]

    def never_raises(input, *args, **kwargs):
        return input

    with pytest.raises(AssertionError, match="returned normally; expected it to raise ValueError in training mode"):
        check_batch_norm_rejects_single_value(never_raises)


def test_calling_pytorchs_batch_norm_is_refused():
    with pytest.raises(AssertionError, match="it calls torch.nn.functional.batch_norm"):
        check_batch_norm(torch.nn.functional.batch_norm)


def test_a_device_bug_is_caught_without_a_gpu():
    def cpu_statistics(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                       eps=1e-5):
        shift = torch.zeros(input.shape[1])[None, :, None, None]  # on the CPU whatever the input's device
        return correct(input, running_mean, running_var, weight, bias, training, momentum, eps) + shift

    if torch.cuda.is_available():
        pytest.skip("a real GPU replaces the simulation")
    with pytest.raises(AssertionError, match="on a simulated GPU: it mixes devices"):
        check_batch_norm(cpu_statistics, training=True)
