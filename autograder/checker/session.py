"""The checker's side of a graded test: the student's objects as proxies, called over the wire.

A ``Remote`` stands for an object in the student's kernel (a function, a
class, a module, a bound method). Calling it, or reading one of its
attributes, asks the kernel's stub (``autograder.checker.stub``) and reads the
answer as data, so the check code that runs here is the same as in-process:
``call_student(batch_norm, ...)`` works whether ``batch_norm`` is the
function itself or its proxy.

What crosses is the checker's choice: its own tensors (on their device, with
``requires_grad`` where it asked for gradients), its modules (mirrored in the
kernel, their state copied there and back around each call), generators
(sent as their items), and the functions the exercise forbids. When a call
needs gradients, the result joins the checker's autograd graph through
``Bridge``, whose backward asks the kernel for the vector-Jacobian product
with the ``grad_output`` autograd gives it.
"""

from __future__ import annotations

import builtins
import collections.abc
import sys
import time

import numpy as np
import torch
from torch._subclasses.fake_tensor import FakeTensor

from ..core import calling
from ..core.forbidden import forbidden_in_source
from . import wire

# What the exceptions raised in the kernel are rebuilt as, by name; any other name becomes a
# ``StudentError`` subclass of that name, which no check expects.
DTYPE_CAN_GRAD = {name: dtype.is_floating_point or dtype.is_complex for name, dtype in wire.DTYPES.items()}
_FAKE_TENSOR_ERRORS = ("DataDependentOutputException", "DynamicOutputShapeException",
                       "FakeTensorDeviceMismatchError", "UnsupportedOperatorException")


class RemoteFailure(Exception):
    """The kernel's answer could not be used: refused, malformed, late, or the kernel is gone."""


class Interrupted(BaseException):
    """The kernel was interrupted at the cell's time limit: the test stops here (no check may catch it)."""


class StudentError(Exception):
    """An exception of the student's own (or one the checker does not know), by name and message."""


class Session:
    """One test cell's conversation with the kernel: requests, their answers, the handles they made."""

    def __init__(self, sock, deadline: float, limit: int = wire.MAX_MESSAGE_BYTES, answers: list[str] = ()):
        """``answers`` are the sources of the submission's answer cells, read for forbidden names."""
        self.sock = sock
        self.answers = answers
        self.found: dict[int, list[str]] = {}
        self.deadline = deadline
        self.limit = limit
        self.mirrors: dict[int, torch.nn.Module] = {}
        self.broken: str | None = None
        self.requests = 0
        self.seconds = 0.0  # time spent waiting on the wire and the kernel, for the benchmark

    def request(self, header: dict, buffers: list[bytes], simulated: bool = False) -> tuple[dict, "CheckerCodec"]:
        if self.broken:
            raise RemoteFailure(self.broken)
        start = time.perf_counter()
        self.requests += 1
        header["seq"] = self.requests  # an answer must name the request it answers
        try:
            wire.send(self.sock, header, buffers)
            reply, received = wire.receive(self.sock, max(0.0, self.deadline - time.monotonic()), self.limit)
            if reply.get("seq") != self.requests:
                raise wire.WireError("an answer to another request")
        except Exception as error:  # noqa: BLE001 - whatever went wrong, this conversation is over
            self.broken = f"the kernel's answer was refused: {error}"
            raise RemoteFailure(self.broken) from None
        finally:
            self.seconds += time.perf_counter() - start
        error = reply.get("error")
        if error is not None:
            raise _rebuild(error)
        answer = CheckerCodec(self, received)
        answer.fake_allowed = simulated
        return reply, answer

    # the operations

    def lookup(self, name: str):
        reply, codec = self.request({"op": "lookup", "name": name}, [])
        return codec.read(reply.get("value"))

    def getattr(self, target: "Remote", name: str):
        codec = CheckerCodec(self)
        reply, answer = self.request({"op": "getattr", "target": codec.encode(target), "name": name}, codec.buffers)
        return answer.read(reply.get("value"))

    def call(self, callee, args: tuple, kwargs: dict):
        forbidden = calling.forbidden_now()
        if forbidden:
            # Read here, in the checker: a kernel whose stub was replaced refuses nothing.
            if id(forbidden) not in self.found:
                self.found[id(forbidden)] = [name for source in self.answers
                                             for name in forbidden_in_source(source, forbidden)]
            if self.found[id(forbidden)]:
                raise calling.ForbiddenCall(
                    f"it calls {self.found[id(forbidden)][0]} (in the answer's code); the exercise is to implement "
                    "it with elementary tensor operations.")
        codec = CheckerCodec(self)
        header = {"op": "call", "callee": codec.encode(callee), "args": codec.encode(tuple(args)),
                  "kwargs": codec.encode(dict(kwargs)), "forbidden": _forbidden_reference(forbidden),
                  "simulated": codec.fake,
                  "grad": torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad
                                                          for t in codec.sent)}
        # The kernel draws random numbers as the checker's global generator would, and the checker's
        # generator goes on from where the kernel left it: torch.manual_seed before a call means what it
        # means in-process. (The checks seed it themselves before drawing anything of their own.)
        if not codec.fake:  # a simulated run draws no values
            codec.buffers.append(torch.get_rng_state().numpy().tobytes())
            header["rng"] = len(codec.buffers) - 1
        reply, answer = self.request(header, codec.buffers, simulated=codec.fake)
        answer.sent = codec.sent
        value = answer.read(reply.get("value"))
        updates = answer.read(reply.get("updates")) or ()
        mirrors = answer.read(reply.get("mirrors")) or {}
        try:
            for update in updates:
                _update(codec.sent, update)
            for key, state in mirrors.items():
                _load(self.mirrors.get(key), state)
        except RemoteFailure as failure:
            self.broken = str(failure)
            raise
        wire.set_rng_state(answer.buffers, reply.get("rng"))
        inputs = [t for t in codec.sent if isinstance(t, torch.Tensor) and t.requires_grad]
        if reply.get("graph") is not None and answer.grad_outputs and inputs:
            value = _join_graph(self, reply["graph"], value, answer.grad_outputs, inputs)
        else:
            for output in answer.grad_outputs:  # part of a graph in the kernel, though not of the checker's
                output.requires_grad_(True)
        return value

    def backward(self, graph: int, grads):
        codec = CheckerCodec(self)
        reply, answer = self.request({"op": "backward", "graph": graph, "grads": codec.encode(list(grads))},
                                     codec.buffers)
        return answer.read(reply.get("value"))


class Remote:
    """An object of the student's kernel, by handle: call it, read its attributes."""

    __slots__ = ("_session", "_id", "_kind", "_name")

    def __init__(self, session: Session, key: int, kind: str, name: str):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_id", key)
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_name", name)

    def __call__(self, *args, **kwargs):
        return self._session.call(self, args, kwargs)

    def __functional_call__(self, parameters: dict, args: tuple, kwargs: dict):
        return self._session.call(Builtin("torch.func.functional_call"), (self, parameters, args, kwargs), {})

    def __module_classes__(self):
        return self._session.call(Builtin("module_classes"), (self,), {})

    def __getattr__(self, name: str):
        if name in ("__name__", "__qualname__"):
            return self._name
        if name.startswith("__") and name != "__dict__":
            raise AttributeError(name)  # Python's own protocols are not forwarded
        return self._session.getattr(self, name)

    def __setattr__(self, name, value):
        raise AttributeError("the student's objects are read, not changed, by the checker")

    def __repr__(self) -> str:
        return f"<{self._kind} {self._name} of the student's kernel>"


def is_remote(value) -> bool:
    return isinstance(value, Remote)


class Builtin:
    """A function the stub offers by name (``stub.BUILTINS``), to call with the student's objects."""

    def __init__(self, name: str):
        self.name = name


class CheckerCodec(wire.Codec):
    def __init__(self, session: Session, buffers=None):
        super().__init__(buffers)
        self.session = session
        self.sent: list[torch.Tensor] = []  # the tensors sent, in order: the kernel names them by index
        self.fake = False
        self.grad_outputs: list[torch.Tensor] = []

    def read(self, data):
        try:
            return self.decode(data)
        except wire.WireError as error:
            self.session.broken = f"the kernel's answer was refused: {error}"
            raise RemoteFailure(self.session.broken) from None
        except Exception as error:  # noqa: BLE001 - whatever the kernel sent, it fails this test, not the checker
            self.session.broken = f"the kernel's answer was refused: {type(error).__name__}: {error}"
            raise RemoteFailure(self.session.broken) from None

    def tensor(self, value):
        self.sent.append(value)
        self.fake = self.fake or isinstance(value, FakeTensor)
        return super().tensor(value)

    def array(self, value):
        self.sent.append(value)
        return super().array(value)

    def other(self, value, depth):
        if isinstance(value, Remote):
            return {"t": "handle", "id": value._id}
        if isinstance(value, Builtin):
            return {"t": "builtin", "name": value.name}
        if isinstance(value, torch.nn.Module):
            key = id(value)
            self.session.mirrors[key] = value
            state = {k: v.detach() for k, v in value.state_dict().items()}
            return {"t": "mirror", "id": key, "state": self.encode(state, depth + 1)}
        if isinstance(value, collections.abc.Iterator):
            return {"t": "iter", "v": self.encode(list(value), depth + 1)}
        return super().other(value, depth)

    def read_tensor(self, data):
        if data.get("grad") and not data.get("param") and DTYPE_CAN_GRAD.get(data.get("dtype"), False):
            data = dict(data, grad=False)
            tensor = super().read_tensor(data)
            self.grad_outputs.append(tensor)  # joins the graph in ``_join_graph``
            return tensor
        return super().read_tensor(data)

    def read_other(self, data, depth):
        kind = data["t"]
        if kind == "handle":
            key, name = data.get("id"), data.get("name")
            if type(key) is not int or data.get("kind") not in ("class", "callable", "object"):
                raise wire.WireError("a malformed handle")
            return Remote(self.session, key, data["kind"], name[:100] if isinstance(name, str) else "object")
        if kind == "arg":
            index = data.get("i")
            if type(index) is not int or not 0 <= index < len(self.sent):
                raise wire.WireError("a reference to an unknown argument")
            return self.sent[index]
        if kind == "mirror":
            module = self.session.mirrors.get(data.get("id"))
            if module is None:
                raise wire.WireError("a reference to an unknown module")
            return module
        return super().read_other(data, depth)


class Bridge(torch.autograd.Function):
    """The student's call as one operation of the checker's graph; its backward runs in the kernel."""

    @staticmethod
    def forward(ctx, link, *inputs):
        ctx.link = link
        return tuple(output.clone() for output in link["outputs"])

    @staticmethod
    def backward(ctx, *grads):
        link = ctx.link
        got = link["session"].backward(link["graph"], grads)
        if not isinstance(got, list) or len(got) != link["inputs"]:
            raise RemoteFailure("the kernel's gradients do not match the inputs")
        return (None, *got)


def _join_graph(session: Session, graph: int, value, outputs: list, inputs: list):
    link = {"session": session, "graph": graph, "outputs": outputs, "inputs": len(inputs)}
    joined = dict(zip(map(id, outputs), Bridge.apply(link, *inputs)))
    return _replace(value, joined)


def _replace(value, joined: dict):
    if isinstance(value, torch.Tensor):
        return joined.get(id(value), value)
    if type(value) in (tuple, list):
        return type(value)(_replace(v, joined) for v in value)
    if type(value) is dict:
        return {k: _replace(v, joined) for k, v in value.items()}
    return value


def _update(sent: list, update) -> None:
    """The kernel changed argument ``index`` in place: change the checker's tensor or array the same way.

    An in-place change keeps shape, dtype and device; anything else is refused.
    """
    if not (isinstance(update, tuple) and len(update) == 2 and type(update[0]) is int
            and 0 <= update[0] < len(sent)):
        raise RemoteFailure("the kernel's answer was refused: a malformed in-place update")
    old, new = sent[update[0]], update[1]
    if isinstance(old, torch.Tensor) and isinstance(new, torch.Tensor) and (old.shape, old.dtype) == (
            new.shape, new.dtype) and old.device.type == new.device.type:
        with torch.no_grad():
            old.copy_(new)
    elif isinstance(old, np.ndarray) and isinstance(new, np.ndarray) and (old.shape, old.dtype) == (
            new.shape, new.dtype):
        np.copyto(old, new)
    else:
        raise RemoteFailure("the kernel's answer was refused: an in-place update that changes a shape or type")


def _load(module, state) -> None:
    if module is None or not isinstance(state, dict):
        raise RemoteFailure("the kernel's answer was refused: a malformed module state")
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            new = state.get(name)
            if isinstance(new, torch.Tensor) and new.shape == tensor.shape:
                tensor.copy_(new.to(tensor.dtype))


_FORBIDDEN_NAMES: dict[int, str] = {}


def _forbidden_reference(forbidden) -> str | None:
    """The name under which the kernel finds the same mapping of forbidden functions."""
    if not forbidden:
        return None
    if id(forbidden) not in _FORBIDDEN_NAMES:
        for module_name, module in list(sys.modules.items()):
            if module_name.startswith("autograder.") and module is not None:
                for name, value in vars(module).items():
                    if value is forbidden:
                        _FORBIDDEN_NAMES[id(forbidden)] = f"{module_name}:{name}"
                        break
            if id(forbidden) in _FORBIDDEN_NAMES:
                break
        else:
            raise ValueError("the forbidden functions must be a module-level mapping of the autograder")
    return _FORBIDDEN_NAMES[id(forbidden)]


def _rebuild(error) -> BaseException:
    """The kernel's exception as one of the checker's: a builtin by name, else a ``StudentError``."""
    if not isinstance(error, dict):
        return RemoteFailure("the kernel's answer was refused: a malformed error")
    name, message = str(error.get("type", "Exception"))[:100], str(error.get("message", ""))[:2000]
    if name == "KeyboardInterrupt":
        return Interrupted(message)
    if name == "ForbiddenCall":
        return calling.ForbiddenCall(message)
    if name in _FAKE_TENSOR_ERRORS:
        from torch._subclasses import fake_tensor

        kind = getattr(fake_tensor, name)
        error = kind.__new__(kind)  # their constructors want the operator; the verdict reads the message
        error.args = (message,)
        return error
    kind = _builtin_exception(name)
    if kind is not None:
        return kind(message)
    # The student's own exception keeps the builtin class it derives from (numpy's AxisError is a
    # ValueError): the kernel could raise that builtin anyway.
    bases = error.get("bases") if isinstance(error.get("bases"), list) else []
    base = next((b for b in map(_builtin_exception, bases[:20]) if b is not None), None)
    name = name if name.isidentifier() else "Exception"
    return type(name, (base, StudentError) if base else (StudentError,), {})(message)


def _builtin_exception(name) -> type | None:
    kind = getattr(builtins, name, None) if isinstance(name, str) else None
    if isinstance(kind, type) and issubclass(kind, Exception) and kind.__module__ == "builtins":
        return kind
    return None

