"""The checker's side of a graded test: the student's objects as proxies, called over the wire.

A ``Remote`` (``autograder.checker.remote``) stands for an object in the
student's kernel (a function, a class, a module, a bound method). Calling it,
or reading one of its attributes, asks the kernel's stub
(``autograder.checker.stub``) and reads the answer as data, so the check code
that runs here is the same as in-process: ``call_student(batch_norm, ...)``
works whether ``batch_norm`` is the function itself or its proxy.

What crosses is the checker's choice: its own tensors (on their device, with
``requires_grad`` where it asked for gradients), its modules (mirrored in the
kernel, their state copied there and back around each call), generators
(sent as their items), and the name of the functions the exercise forbids
(``autograder.core.forbidden.Forbidden``), which the kernel finds declared
under that name. When a call needs gradients, the result joins the checker's
autograd graph through ``Bridge``, whose backward asks the kernel for the
vector-Jacobian product with the ``grad_output`` autograd gives it.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..core import calling
from ..core.forbidden import Forbidden, forbidden_in_source
from . import wire
from .errors import RemoteFailure, rebuild
from .remote import CheckerCodec


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
            raise rebuild(error)
        answer = CheckerCodec(self, received)
        answer.fake_allowed = simulated
        return reply, answer

    # the operations

    def lookup(self, name: str):
        reply, codec = self.request({"op": "lookup", "name": name}, [])
        return codec.read(reply.get("value"))

    def getattr(self, target: "Remote", name: str):
        codec = CheckerCodec(self)
        # While the checker simulates the GPU, an attribute of what a simulated call returned (the
        # weight of a fused convolution) is a fake tensor too, and is read as one in the checker's mode.
        reply, answer = self.request({"op": "getattr", "target": codec.encode(target), "name": name}, codec.buffers,
                                     simulated=_simulating())
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
                  "kwargs": codec.encode(dict(kwargs)), "forbidden": _forbidden_name(forbidden),
                  "simulated": codec.fake,
                  "grad": torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad
                                                          for t in codec.sent)}
        # The kernel draws random numbers as the checker's global generator would, and the checker's
        # generator goes on from where the kernel left it: torch.manual_seed before a call means what it
        # means in-process. (The checks seed it themselves before drawing anything of their own.)
        if not codec.fake:  # a simulated run draws no values
            cuda = any(isinstance(t, torch.Tensor) and t.is_cuda for t in codec.sent)
            for key, state in wire.rng_states(cuda).items():  # and CUDA's generator for a call on the GPU
                codec.buffers.append(state)
                header[key] = len(codec.buffers) - 1
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
        wire.set_rng_states(answer.buffers, reply)
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


def _forbidden_name(forbidden) -> str | None:
    """The name under which the kernel finds the same map of forbidden functions (``core.forbidden.declared``)."""
    if not forbidden:
        return None
    if not isinstance(forbidden, Forbidden):
        raise ValueError("the forbidden functions must be declared as an autograder.core.forbidden.Forbidden")
    return forbidden.name


def _simulating() -> bool:
    """Whether a fake tensor mode (the simulated GPU, ``autograder.core.devices``) is active here."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    return any(isinstance(mode, FakeTensorMode) for mode in _get_current_dispatch_mode_stack())
