"""Device bugs: code whose result depends on the device, and code that mixes devices.

The engine (``autograder.core.engine``) runs a check on the CPU and on CUDA and
compares the two; without a GPU it runs the student's code on a simulated one.
These tests give it batch normalizations that are right on the CPU and wrong on
a GPU, each wrong in one way, and read what a student would be told.
"""

from __future__ import annotations

import pytest
import torch

from autograder import registry
from autograder.core.devices import SIMULATED_CUDA
from autograder.core.failure import CheckFailed
from autograder.core.tolerances import tolerance_for

from .cases import PACKAGES, skip_reason
from .settings import DEVICE

NEEDS_GPU = ("needs a real GPU: the CUDA-against-CPU comparison runs only when a check ran on both "
             "(DEVICE=cpu; run with DEVICE=cuda)")
SIMULATED_NOTE = " (This check runs your code on fake CUDA tensors"


@pytest.fixture
def batch_norm(solutions):
    """The check entry of batch normalization and the solution's implementation."""
    module = PACKAGES["batch_norm"]
    if isinstance(module, BaseException):
        pytest.skip(skip_reason(module) or f"autograder.batch_norm does not import: {module}")
    assignment = registry.assignment("batch_norm")
    return module.check_batch_norm, solutions(assignment.name)[assignment.functions["batch_norm"]]


def _failure(check, student, devices, **arguments) -> CheckFailed | None:
    try:
        check(student, devices=devices, **arguments)
    except CheckFailed as error:
        return error
    return None


# --- a result that depends on the device -----------------------------------------------------


def offset_on_cuda(solution):
    """Adds 1e-3 on a GPU (a hand-written kernel that rounds differently, say)."""
    return lambda input, *args: solution(input, *args) + (1e-3 if input.is_cuda else 0.0)


def split_tolerance(solution):
    """Off by 0.9 of the tolerance on each device, upward on CUDA and downward on the CPU.

    Each device alone passes, so only the comparison of CUDA with the CPU can see it.
    """
    tolerance = tolerance_for("batch_norm", torch.float64)

    def batch_norm(input, *args):
        output = solution(input, *args)
        margin = 0.9 * (tolerance.atol + tolerance.rtol * output.detach().abs())
        return output + (margin if input.is_cuda else -margin)

    return batch_norm


def tf32_on_cuda(solution):
    """Passes its output through a float32 matrix product with TF32 turned on, as a GPU library might."""

    def batch_norm(input, *args):
        output = solution(input, *args)
        if input.is_cuda:
            torch.backends.cuda.matmul.allow_tf32 = True
        identity = torch.eye(output.shape[-1], dtype=output.dtype, device=output.device)
        return output @ identity

    return batch_norm


# variant -> (the implementation, check arguments, what the failure must say)
DEVICE_DEPENDENT = {
    "offset_on_cuda": (offset_on_cuda, {"training": True}, "on cuda"),
    "split_tolerance": (split_tolerance, {"training": True, "dtype": torch.float64}, "cuda against cpu"),
    "tf32_on_cuda": (tf32_on_cuda, {"training": True, "shape": (512, 256)}, "on cuda"),
}


@pytest.mark.parametrize("variant", list(DEVICE_DEPENDENT))
def test_a_result_that_depends_on_the_device_fails_naming_cuda(variant, batch_norm, record):
    check, solution = batch_norm
    build, arguments, words = DEVICE_DEPENDENT[variant]
    student = build(solution)
    # Right on the CPU, so that what fails below is the GPU's result.
    check(student, devices=["cpu"], **arguments)
    if DEVICE == "cpu":
        pytest.skip(NEEDS_GPU)
    if variant == "tf32_on_cuda" and torch.cuda.get_device_capability()[0] < 8:
        pytest.skip(f"{torch.cuda.get_device_name()} has no TF32 (compute capability below 8.0)")
    # The solution itself passes on both devices with these arguments: what fails is the variant.
    check(solution, devices=["cpu", "cuda"], **arguments)
    failure = _failure(check, student, ["cpu", "cuda"], **arguments)
    assert failure is not None, f"the check passed {variant}, whose result on cuda is not the CPU's"
    record("message", str(failure))
    assert words in str(failure), str(failure)


# --- a tensor made on the CPU inside the function ---------------------------------------------


def zeros_on_the_cpu(solution):
    """Adds ``torch.zeros(C)``, made on the CPU whatever the input's device."""

    def batch_norm(input, *args):
        channels = input.shape[1]
        return solution(input, *args) + torch.zeros(channels).reshape([1, channels] + [1] * (input.dim() - 2))

    return batch_norm


def _wording(failure: CheckFailed) -> tuple:
    """What a student reads, apart from where it ran and the simulated GPU's note about itself."""
    summary = (failure.failure.summary or "").split(SIMULATED_NOTE)[0]
    return summary, failure.failure.mistake, failure.failure.hint


def test_a_tensor_made_on_the_cpu_fails_on_cuda_as_on_the_simulated_gpu(batch_norm, record):
    check, solution = batch_norm
    student = zeros_on_the_cpu(solution)
    simulated = _failure(check, student, ["cpu", SIMULATED_CUDA])
    assert simulated is not None, "the simulated GPU passed a function that adds a CPU tensor to a CUDA one"
    record("simulated_message", str(simulated))
    assert "mixes devices" in str(simulated), str(simulated)
    if DEVICE == "cpu":
        return
    real = _failure(check, student, ["cpu", "cuda"])
    assert real is not None, "real CUDA passed a function that adds a CPU tensor to a CUDA one"
    record("cuda_message", str(real))
    assert "on cuda" in str(real), str(real)
    assert _wording(real) == _wording(simulated), (_wording(real), _wording(simulated))


def test_the_error_of_a_real_gpu_reads_as_the_simulated_gpu_s(batch_norm, record):
    """The words of a device mix-up do not depend on which GPU found it: a real one raises PyTorch's RuntimeError."""
    check, solution = batch_norm
    simulated = _failure(check, zeros_on_the_cpu(solution), ["cpu", SIMULATED_CUDA])

    def raises_as_real_cuda(input, *args):
        raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, cuda:0 "
                           "and cpu!")

    real = _failure(check, raises_as_real_cuda, ["cpu"])
    record("real_message", str(real))
    assert real is not None and _wording(real) == _wording(simulated), (str(real), str(simulated))
