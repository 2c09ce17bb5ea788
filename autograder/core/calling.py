"""The one way the autograder calls a student's code.

Every check calls student code through ``call_student``: a function, a class
to construct, a method. It puts the arguments on the chosen device (fresh
copies, so a function that changes its inputs changes only its own), refuses
calls to the functions the exercise forbids, keeps warnings and stderr out of
the graded cell, turns whatever the code raised into a ``Failure`` a
student can act on, and hands back what it returned as plain tensors, arrays,
tuples and lists, which no subclass of the student's can make lie. Grading in a separate process builds on this seam.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping, NoReturn, Sequence

import numpy as np
import torch
from torch._subclasses.fake_tensor import FakeTensor
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from .failure import Failure

# The functions the current call may not use: a proxy of a student's object in another
# process (``autograder.checker``) sends them along, for its kernel to refuse them there.
_FORBIDDEN_NOW: contextvars.ContextVar = contextvars.ContextVar("forbidden", default=None)

NOT_IMPLEMENTED = "the function is not implemented yet (it raised NotImplementedError)."


@contextlib.contextmanager
def quiet():
    """Keep warnings and stray stderr writes out of a graded cell's output.

    nbgrader gives zero to a test cell that writes to stderr, PyTorch's warnings included.
    """
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


class ForbiddenCall(Exception):
    pass


def aten(*names: str) -> dict:
    """Forbidden-mapping entries for PyTorch's own kernels: ``aten("native_batch_norm")``.

    A kernel is named as the student would call it, ``torch.ops.aten.native_batch_norm``.
    """
    return {getattr(torch.ops.aten, name): f"torch.ops.aten.{name}" for name in names}


def _refuse(name: str) -> NoReturn:
    raise ForbiddenCall(f"it calls {name}; the exercise is to implement it with elementary tensor operations.")


def _packet(func):
    """The OpOverloadPacket of an aten operator (``aten.x.default`` -> ``aten.x``); anything else as it is."""
    return func.overloadpacket if isinstance(func, torch._ops.OpOverload) else func


class Forbid(TorchFunctionMode):
    """Within it, calling one of ``forbidden`` (torch function -> name) raises ``ForbiddenCall``.

    It fails a student's function that hands the work to the very function it must implement.
    It sees the calls of Python functions: ``F.batch_norm``, ``torch.batch_norm``, and also
    ``torch.ops.aten.batch_norm(...)`` when ``forbidden`` lists ``aten("batch_norm")``.
    """

    def __init__(self, forbidden: Mapping):
        super().__init__()
        self.forbidden = forbidden

    def __torch_function__(self, func, types, args=(), kwargs=None):
        for candidate in (func, _packet(func)):
            if candidate in self.forbidden:
                _refuse(self.forbidden[candidate])
        return func(*args, **(kwargs or {}))


class ForbidKernels(TorchDispatchMode):
    """Within it, a forbidden aten kernel raises ``ForbiddenCall``, whatever Python route reached it.

    ``Forbid`` matches the Python functions called; ``torch._C``'s bindings and the
    private functions of the torch namespace (``torch._batch_norm_impl_index``) reach
    the same kernel by another route, and so does an output's ``grad_fn`` called directly.
    This mode sees every operator that reaches the dispatcher, below autograd and after
    the composite operators were decomposed: ``F.batch_norm`` arrives as
    ``aten.native_batch_norm``. A composite operator that decomposes into elementary
    operations on this device (``F.dropout`` and ``F.rms_norm`` on the CPU) is invisible
    here; ``Forbid`` catches those by name.
    """

    def __init__(self, kernels: Mapping):
        super().__init__()
        self.kernels = kernels

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps a dispatch mode's __torch_dispatch__ in torch._disable_dynamo unless the
        # mode opts out, as here; that wrapper's first call imports the whole of torch._dynamo
        # (seconds), and nothing is ever compiled within a check, so there is nothing to disable.
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        packet = getattr(func, "overloadpacket", None)
        if packet in self.kernels:
            _refuse(self.kernels[packet])
        return func(*args, **(kwargs or {}))


def forbidding(forbidden: Mapping | None) -> list:
    """The modes that refuse ``forbidden`` (functions and aten kernels -> names): none for nothing forbidden.

    The dispatch mode costs a Python call per operator, so it is entered only where aten kernels are forbidden.
    """
    if not forbidden:
        return []
    kernels = {key: name for key, name in forbidden.items() if isinstance(key, torch._ops.OpOverloadPacket)}
    return [Forbid(forbidden)] + ([ForbidKernels(kernels)] if kernels else [])


@dataclass
class Called:
    """What one call of student code gave: its value, or the failure it caused.

    ``arguments`` are the copies the code was called with, as the call left them
    (in-place updates live there); ``error`` is what it raised, for the callers
    that read a verdict from the exception itself (the simulated GPU).
    """

    value: object = None
    arguments: dict = field(default_factory=dict)
    failure: Failure | None = None
    error: BaseException | None = None

    def result(self):
        """The value, or raise the failure as the test cell's AssertionError."""
        if self.failure is not None:
            self.failure.fail()
        return self.value


def materialize(arguments: Mapping, device: str | None, grad_wrt: Sequence[str] = ()) -> dict:
    """Fresh copies of the tensor arguments on ``device`` (None: where they are), with gradients where asked."""
    copies = {}
    for key, value in arguments.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().clone()
            if device is not None:
                value = value.to(device)
            if key in grad_wrt:
                value.requires_grad_(True)
        elif isinstance(value, np.ndarray):
            value = value.copy()
        copies[key] = value
    return copies


def call_student(
    function: Callable,
    arguments: Mapping | Sequence = (),
    *,
    where: str,
    device: str | None = None,
    grad_wrt: Sequence[str] = (),
    forbidden: Mapping | None = None,
    within: Sequence[contextlib.AbstractContextManager] = (),
    copy: bool = True,
) -> Called:
    """Call ``function`` with ``arguments`` (positional, by name when a mapping) and return what happened.

    ``where`` describes the call in messages; ``device`` and ``grad_wrt`` say where the
    argument copies live and which require grad; ``forbidden`` maps torch functions and
    aten kernels (``aten(...)``) the code may not call to their names; ``within`` are
    context managers entered around the call (the simulated GPU); ``copy=False`` passes
    the arguments as they are, for objects the check must see changed (a module, an iterator).
    """
    named = arguments if isinstance(arguments, Mapping) else {f"arg{i}": a for i, a in enumerate(arguments)}
    if copy:
        named = materialize(named, device, grad_wrt)
    token = _FORBIDDEN_NOW.set(forbidden)
    try:
        with quiet(), contextlib.ExitStack() as stack:
            # The forbidding modes innermost, nearest the student's code: under the simulated GPU
            # they see the student's operators before the fake tensor mode computes them.
            for context in [*within, *forbidding(forbidden)]:
                stack.enter_context(context)
            value = plain(function(*named.values()))
    except ForbiddenCall as error:
        return Called(arguments=named, failure=Failure(where, summary=str(error)), error=error)
    except NotImplementedError as error:
        return Called(arguments=named, failure=Failure(where, summary=NOT_IMPLEMENTED), error=error)
    except Exception as error:  # noqa: BLE001 - reported to the student
        summary = f"it raised {type(error).__name__}: {error}"
        return Called(arguments=named, failure=Failure(where, summary=summary), error=error)
    finally:
        _FORBIDDEN_NOW.reset(token)
    return Called(value, named)


def functional_call(module, parameters: Mapping, args: tuple, kwargs: Mapping):
    """``torch.func.functional_call``, also for a proxy of a student's module in another process.

    A proxy offers ``__functional_call__``: the call then happens where the module lives.
    """
    elsewhere = getattr(type(module), "__functional_call__", None)
    if elsewhere is not None:
        return elsewhere(module, dict(parameters), tuple(args), dict(kwargs))
    return torch.func.functional_call(module, dict(parameters), tuple(args), dict(kwargs))


def count_flops(module, parameters: Mapping, args: tuple, kwargs: Mapping) -> int:
    """The floating-point operations of ``functional_call(module, ...)``, as ``FlopCounterMode`` counts them.

    It counts matrix products and convolutions, 2 per multiply-add, and nothing else. Also for a
    proxy of a student's module in another process, which offers ``__count_flops__``: the module
    runs, and is counted, where it lives.
    """
    elsewhere = getattr(type(module), "__count_flops__", None)
    if elsewhere is not None:
        return elsewhere(module, dict(parameters), tuple(args), dict(kwargs))
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        torch.func.functional_call(module, dict(parameters), tuple(args), dict(kwargs))
    return counter.get_total_flops()


def module_classes(module) -> list[list[str]]:
    """For each of ``module.modules()``, the qualified names of its class and of that class's bases.

    Also for a proxy of a student's module in another process, which offers ``__module_classes__``.
    """
    elsewhere = getattr(type(module), "__module_classes__", None)
    if elsewhere is not None:
        return elsewhere(module)
    return [[f"{kind.__module__}.{kind.__qualname__}" for kind in type(m).__mro__] for m in module.modules()]


def forbidden_now():
    """The forbidden functions of the student call in progress (None outside one)."""
    return _FORBIDDEN_NOW.get()


# Tensor subclasses of PyTorch's own making, kept as they are: the simulated GPU returns
# fake tensors, and a module's parameters stay what they are.
_TRUSTED_TENSORS = (torch.Tensor, torch.nn.Parameter, FakeTensor)


def plain(value):
    """``value`` made of plain tensors, arrays, tuples and lists, so that checks read it safely.

    A subclass can redefine ``==``, ``.shape`` or ``__torch_function__`` so that a wrong
    result compares equal to anything; a check then reads a plain view of the same data
    (autograd history included). It runs inside the seam: a subclass that breaks is the
    student's error.
    """
    if isinstance(value, torch.Tensor):
        if type(value) in _TRUSTED_TENSORS:
            return value
        # Tensor's own as_subclass, with the subclass's __torch_function__ off: it cannot intervene.
        with torch._C.DisableTorchFunctionSubclass():
            return torch.Tensor.as_subclass(value, torch.Tensor)
    if isinstance(value, np.ndarray):
        return value if type(value) is np.ndarray else np.asarray(value)
    if isinstance(value, (tuple, list)):
        kind = tuple if isinstance(value, tuple) else list
        items = list(kind.__iter__(value))  # the subclass's own __iter__ may hide items
        parts = [plain(item) for item in items]
        if type(value) is kind and all(part is item for part, item in zip(parts, items)):
            return value  # already plain: a check may test that the very object came back
        return kind(parts)
    return value


def describe_call(name: str, arguments: Mapping) -> str:
    """``batch_norm(input: (8, 3) float32, ..., training=True)`` for messages; NumPy arrays alike."""
    parts = []
    for key, value in arguments.items():
        if isinstance(value, torch.Tensor):
            parts.append(f"{key}: {tuple(value.shape)} {str(value.dtype).replace('torch.', '')}")
        elif isinstance(value, np.ndarray):
            parts.append(f"{key}: {value.shape} {value.dtype}")
        else:
            parts.append(f"{key}={value!r}")
    return f"{name}({', '.join(parts)})"
