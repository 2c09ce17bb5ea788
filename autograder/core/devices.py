"""The devices a check runs on, and the simulated GPU used where there is none.

On a machine with CUDA, student code runs on the real GPU with TF32 off, so
that float32 matrix products keep float32 precision. Without a GPU, the
student's function runs on *fake* CUDA tensors (``FakeTensorMode``): no value
is computed, only shapes, dtypes and devices are propagated. That is enough to
catch the usual device bugs, which otherwise surface only on a student's or
grader's GPU:

* a tensor created on the CPU inside the function (``torch.zeros(C)``) and
  combined with an input on the GPU;
* ``.numpy()`` on a GPU tensor;
* a result returned on the wrong device.

Code whose control flow depends on values (``.item()``, ``if x.any():``, boolean
indexing) cannot run without values; the simulation then says it was
inconclusive, never that the code is wrong.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch._subclasses.fake_tensor import (
    DataDependentOutputException,
    DynamicOutputShapeException,
    FakeCopyMode,
    FakeTensorDeviceMismatchError,
    FakeTensorMode,
    UnsupportedOperatorException,
)
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree

from .calling import ForbiddenCall, call_student
from .fake_mode import without_dynamo

SIMULATED_CUDA = "cuda (simulated)"


def available_devices() -> list[str]:
    """Devices every check runs on: ``cpu``, then ``cuda`` or its simulation."""
    return ["cpu", "cuda" if torch.cuda.is_available() else SIMULATED_CUDA]


@contextlib.contextmanager
def exact_float32():
    """Turn TF32 off for the duration, so GPU float32 results are comparable."""
    matmul = torch.backends.cuda.matmul.allow_tf32
    cudnn = torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn


@dataclass
class SimulatedRun:
    """What running a function on fake CUDA tensors showed."""

    result: object = None
    problem: str | None = None  # a device bug, in words a student can act on
    inconclusive: str | None = None  # why the simulation could not decide


class _WithoutCudaKernels(TorchFunctionMode):
    """Let operations on fake CUDA tensors through a CPU-only PyTorch.

    Some operations (``copy_``, indexing, ``.to()``) reach a CUDA device guard
    that a CPU-only build does not have, although they are correct on a real
    GPU. Fake tensors hold no values, so such an operation is replayed on
    ``meta`` tensors of the same shapes, which need no guard, after checking
    the devices as PyTorch would on a GPU; its result is made a fake CUDA
    tensor again.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.to or func is torch.Tensor.cuda:
            return _fake_to(func, args, kwargs)
        try:
            return func(*args, **kwargs)
        except RuntimeError as error:
            if "not linked with support for cuda" not in str(error):
                raise
        return _replay_on_meta(func, args, kwargs)


# Operations that may legally combine tensors of different devices.
_CROSS_DEVICE = {torch.Tensor.copy_, torch.Tensor.__setitem__}


def _replay_on_meta(func, args, kwargs):
    tensors = [t for t in pytree.tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
    # As on a GPU, only 0-dim CPU tensors may meet CUDA tensors in one operation.
    devices = {t.device.type for t in tensors if t.dim() > 0 or t.device.type != "cpu"}
    if len(devices) > 1 and func not in _CROSS_DEVICE:
        raise FakeTensorDeviceMismatchError(
            f"Expected all tensors to be on the same device, but found at least "
            f"two devices, {', '.join(sorted(devices))}!"
        )
    originals = {}

    def to_meta(value):
        if not isinstance(value, torch.Tensor):
            return value
        meta = torch.empty_strided(value.shape, value.stride(), dtype=value.dtype, device="meta")
        originals[id(meta)] = value
        return meta

    def from_meta(value):
        if not isinstance(value, torch.Tensor):
            return value
        if id(value) in originals:  # an in-place operation returns its input
            return originals[id(value)]
        return torch.empty_strided(value.shape, value.stride(), dtype=value.dtype, device="cuda")

    meta_args, meta_kwargs = pytree.tree_map(to_meta, (args, kwargs))
    return pytree.tree_map(from_meta, func(*meta_args, **meta_kwargs))


def _fake_to(func, args, kwargs):
    """``tensor.to(...)`` and ``tensor.cuda()`` for fake tensors: a new fake tensor."""
    tensor = args[0]
    device, dtype = tensor.device, tensor.dtype
    if func is torch.Tensor.cuda:
        device = torch.device("cuda")
    else:
        for arg in list(args[1:]) + list(kwargs.values()):
            if isinstance(arg, torch.Tensor):
                device, dtype = arg.device, arg.dtype
            elif isinstance(arg, torch.dtype):
                dtype = arg
            elif isinstance(arg, (str, torch.device)):
                device = torch.device(arg)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", 0)
    if device == tensor.device and dtype == tensor.dtype:
        return tensor
    return torch.empty_like(tensor, device=device, dtype=dtype)


def run_on_simulated_cuda(function, args: list, where: str = "", forbidden=None) -> SimulatedRun:
    """Call ``function(*args)`` with every tensor argument moved to fake CUDA, refusing ``forbidden``.

    Autograd stays off: recording a graph for a CUDA tensor needs the CUDA
    runtime, and a CPU-only build aborts the whole process without it. A real tensor
    that the code made before the call (in a module's ``__init__``, kept as an attribute)
    stays on the CPU when the inputs move: the run is repeated with such tensors allowed,
    and one that meets the cuda inputs is named.
    """
    run = _simulate(function, args, where, forbidden, allow_outside=False)
    if isinstance(run, BaseException) and _OUTSIDE in str(run):
        run = _simulate(function, args, where, forbidden, allow_outside=True)
        if isinstance(run, BaseException) and mixes_devices(run):
            return SimulatedRun(problem=OUTSIDE_CPU_TENSOR + " (" + str(run).splitlines()[0] + ")")
    return run if isinstance(run, SimulatedRun) else _verdict(run)


# What FakeTensorMode says of a real tensor that meets fake ones: made outside the call.
_OUTSIDE = "Please convert all Tensors to FakeTensors first"
OUTSIDE_CPU_TENSOR = (
    "it mixes devices: a tensor made before the call, on the CPU (in __init__ and kept as an attribute, or a "
    "global), meets "
    "the input's cuda tensors. Register it with self.register_buffer(name, tensor), so that module.to(device) "
    "moves it, or create it in forward on the input's device (device=x.device)"
)


def _simulate(function, args, where, forbidden, allow_outside: bool):
    """The run on fake CUDA tensors, or the exception it raised."""
    with without_dynamo():
        mode = FakeTensorMode(allow_non_fake_inputs=allow_outside)
        with mode:
            fake_args = [
                torch.empty_strided(a.shape, a.stride(), dtype=a.dtype, device="cuda")
                if isinstance(a, torch.Tensor)
                else a
                for a in args
            ]
        # FakeCopyMode: copy.deepcopy of a module (a fusion copies the convolution) makes fake copies
        # in this mode, not in one of their own, which could not meet the others.
        called = call_student(function, fake_args, where=where, copy=False, forbidden=forbidden,
                              within=(mode, FakeCopyMode(mode), _WithoutCudaKernels(), torch.no_grad()))
    return SimulatedRun(result=called.value) if called.error is None else called.error


def warm_up() -> None:
    """Run a simulated run once, for what its first run imports (sympy, torch's fake kernels, seconds).

    A process that forks kernels does it once, so that none of them pays it.
    """
    run_on_simulated_cuda(lambda x: (x - x.mean(dim=0)).reshape(-1).sum(), [torch.ones(2, 2)])


# How PyTorch begins the error of an operation on tensors of two devices, real or fake.
_MIXED = "Expected all tensors to be on the same device"


def mixes_devices(error: BaseException) -> str | None:
    """The words for code that combined tensors of two devices, on a real GPU as on the simulated one; else None."""
    if not (isinstance(error, FakeTensorDeviceMismatchError) or isinstance(error, RuntimeError) and _MIXED in str(error)):
        return None
    return ("it mixes devices: " + str(error).splitlines()[0] + " Create new tensors on the input's device, e.g. "
            "torch.zeros(C, device=input.device) or torch.zeros_like(input).")


def _verdict(error: BaseException) -> SimulatedRun:
    """What an exception raised on fake CUDA tensors says about the code's devices."""
    if isinstance(error, ForbiddenCall):  # on a GPU, F.dropout reaches a kernel that the CPU never calls
        return SimulatedRun(problem=str(error))
    if isinstance(error, FakeTensorDeviceMismatchError):
        return SimulatedRun(problem=mixes_devices(error))
    if isinstance(error, (DataDependentOutputException, DynamicOutputShapeException)):
        return SimulatedRun(
            inconclusive="the function reads tensor values "
            f"({type(error).__name__}), which a simulated GPU does not have"
        )
    if isinstance(error, UnsupportedOperatorException):
        return SimulatedRun(inconclusive=f"the simulation does not support {error}")
    if isinstance(error, RuntimeError) and not isinstance(error, NotImplementedError):
        message = str(error)
        if ".numpy()" in message:
            return SimulatedRun(
                problem="it calls .numpy() on a tensor, which raises TypeError for "
                "a GPU tensor. Stay in torch: torch has every operation you need."
            )
        return SimulatedRun(
            inconclusive="the simulation could not run an operation: " + message.splitlines()[0]
        )
    if isinstance(error, TypeError):
        if "numpy" in str(error).lower() or "__array__" in str(error):
            return SimulatedRun(
                problem="it converts a tensor to NumPy, which fails for a GPU "
                "tensor. Stay in torch: torch has every operation you need."
            )
        return SimulatedRun(inconclusive=f"the simulation raised TypeError: {error}")
    # Anything else is not a device verdict.
    return SimulatedRun(inconclusive=f"the simulation raised {type(error).__name__}: {error}")
