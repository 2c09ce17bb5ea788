"""The kernel's side of a graded test: a stub that serves the trusted checker, and nothing else.

When a class is graded, a test cell does not run in the student's kernel. The
kernel runs ``serve(notebook, cell)`` instead, which asks the checker (a
process outside the sandbox) to run that test, and then answers the checker's
requests until it is done: look up a name, read an attribute, call an object
with these arguments, compute these gradients. Student code runs here, under
the same guards as in-process checks (``Forbid``, ``quiet``, the simulated
GPU), and what it returned goes back as plain data.

Nothing here decides a verdict. A submission may replace this module or answer
in its place: all it can send is data, which the checker judges.
"""

from __future__ import annotations

import contextlib
import os
import socket

import torch
from torch._subclasses.fake_tensor import FakeCopyMode, FakeTensorMode

from ..core import forbidden as forbidden_maps
from ..core.calling import call_student, count_flops, module_classes
from ..core.devices import _WithoutCudaKernels
from ..core.fake_mode import without_dynamo
from . import CONNECTION, layers, wire

BUILTINS = {"torch.func.functional_call": torch.func.functional_call, "module_classes": module_classes,
            "count_flops": count_flops}


def serve(notebook: str, cell: str, namespace=None, connection: socket.socket | None = None) -> None:
    """Have the checker run test ``cell`` of ``notebook``, serving its requests until it is done."""
    if namespace is None:
        from IPython import get_ipython

        namespace = get_ipython().user_ns
    sock = connection or socket.socket(fileno=os.dup(int(os.environ[CONNECTION])))
    kernel = Kernel(namespace)
    interrupted = False
    try:
        wire.send(sock, {"op": "test", "notebook": notebook, "cell": cell})
        while True:
            try:
                request, buffers = wire.receive(sock, None)
            except KeyboardInterrupt:  # the cell's time ran out while the checker worked: say so at once
                interrupted = True
                continue
            if request.get("op") == "done":
                return
            if interrupted:
                reply, out = {"error": {"type": "KeyboardInterrupt", "message": "interrupted"}}, []
            else:
                reply, out = kernel.answer(request, buffers)
            wire.send(sock, dict(reply, seq=request.get("seq")), out)
    except wire.WireError:
        return  # the checker ended the test
    finally:
        if connection is None:
            sock.close()


class Kernel:
    """The objects the checker refers to by handle, and the answers to its requests."""

    def __init__(self, namespace):
        self.namespace = namespace
        self.objects: dict[int, object] = {}
        self.mirrors: dict[int, torch.nn.Module] = {}
        self.graphs: dict[int, tuple] = {}
        # One fake mode for every simulated call of a test: a module a call returned (a fusion's
        # convolution) holds fake tensors that a later call meets, and two fake modes cannot meet.
        self.fake_mode: FakeTensorMode | None = None

    def answer(self, request: dict, buffers: list[bytes]) -> tuple[dict, list[bytes]]:
        codec = KernelCodec(self, buffers)
        try:
            value = self._answer(request, codec)
        except KeyboardInterrupt:
            return {"error": {"type": "KeyboardInterrupt", "message": "interrupted"}}, []
        except BaseException as error:  # noqa: BLE001 - the checker decides what it means
            return {"error": describe_error(error)}, []
        reply = KernelCodec(self, [])
        reply.sent = codec.tensors
        try:
            header = {"value": reply.encode(value.get("value"))}
            for key, state in value.get("rng", {}).items():
                reply.buffers.append(state)
                header[key] = len(reply.buffers) - 1
            outputs = reply.grad_outputs  # the outputs that carry gradients, in the order they were sent
            reply.sent, reply.grad_outputs = [], []
            for key in ("updates", "mirrors"):
                if value.get(key):
                    header[key] = reply.encode(value[key])
            if "graph" in value and outputs:
                header["graph"] = value["graph"]
                self.graphs[value["graph"]] = (outputs, value["inputs"], value["forbidden"])
        except BaseException as error:  # noqa: BLE001 - a value that cannot be sent fails this request
            return {"error": describe_error(error)}, []
        return header, reply.buffers

    def _answer(self, request: dict, codec: "KernelCodec") -> dict:
        op = request.get("op")
        if op == "lookup":
            name = request.get("name")
            if not isinstance(name, str) or name not in self.namespace:
                raise NameError(f"name {name!r} is not defined")
            return {"value": self.namespace[name]}
        if op == "getattr":
            target, name = codec.decode(request.get("target")), request.get("name")
            if not isinstance(name, str):
                raise TypeError("attribute name must be a string")
            return {"value": _student(lambda: getattr(target, name))}
        if op == "call":
            return self._call(request, codec)
        if op == "backward":
            return self._backward(request, codec)
        raise ValueError(f"unknown request {op!r}")

    def _call(self, request: dict, codec: "KernelCodec") -> dict:
        forbidden = _forbidden(request.get("forbidden"))
        simulated = bool(request.get("simulated"))
        with contextlib.ExitStack() as stack:
            if simulated:
                stack.enter_context(without_dynamo())
                self.fake_mode = self.fake_mode or FakeTensorMode(allow_non_fake_inputs=False)
                mode = stack.enter_context(self.fake_mode)
            callee = codec.decode(request.get("callee"))
            args, kwargs = codec.decode(request.get("args")), codec.decode(request.get("kwargs"))
            if not isinstance(args, tuple) or not isinstance(kwargs, dict):
                raise TypeError("malformed arguments")
            before = [None if simulated else _snapshot(t) for t in codec.tensors]
            wire.set_rng_states(codec.buffers, request)
            within = [FakeCopyMode(mode), _WithoutCudaKernels(), torch.no_grad()] if simulated else [
                torch.enable_grad()] if request.get("grad") else []
            value = _student(lambda: callee(*args, **kwargs), forbidden, within)
        answer = {"value": value, "mirrors": {m: dict(self.mirrors[m].state_dict()) for m in codec.used_mirrors}}
        answer["updates"] = [(i, t) for i, (t, old) in enumerate(zip(codec.tensors, before))
                             if old is not None and _changed(t, old)]
        if not simulated:
            answer["rng"] = wire.rng_states(request.get("cuda_rng") is not None)
        inputs = [t for t in codec.tensors if isinstance(t, torch.Tensor) and t.requires_grad]
        if request.get("grad") and inputs:
            answer.update(graph=len(self.graphs) + 1, inputs=inputs, forbidden=forbidden)
        return answer

    def _backward(self, request: dict, codec: "KernelCodec") -> dict:
        graph = self.graphs.get(request.get("graph"))
        if graph is None:
            raise ValueError("unknown graph")
        outputs, inputs, forbidden = graph
        grads = codec.decode(request.get("grads"))
        if not isinstance(grads, list) or len(grads) != len(outputs):
            raise ValueError("malformed gradients")
        grads = [torch.zeros_like(o) if g is None else g.to(o.device) for g, o in zip(grads, outputs)]
        backward = lambda: list(torch.autograd.grad(outputs, inputs, grads, allow_unused=True, retain_graph=True))  # noqa: E731
        return {"value": _student(backward, forbidden)}


def _snapshot(value):
    return value.detach().clone() if isinstance(value, torch.Tensor) else value.copy()


def _changed(value, before) -> bool:
    """Whether an argument was changed in place (NaN compared as bytes: equal to itself)."""
    if isinstance(value, torch.Tensor):
        value = value.detach()
        return value.shape != before.shape or value.dtype != before.dtype or not (
            torch.equal(value, before) or value.cpu().numpy().tobytes() == before.cpu().numpy().tobytes())
    return value.shape != before.shape or value.dtype != before.dtype or value.tobytes() != before.tobytes()


def _student(run, forbidden=None, within=()):
    """``run()``, which runs student code, through the one seam every check uses; raise what it raised."""
    called = call_student(run, (), where="", forbidden=forbidden, within=within, copy=False)
    if called.error is not None:
        raise called.error
    return called.value


class KernelCodec(wire.Codec):
    """Student objects go out as handles; the checker's handles, mirrors and trusted callables come in."""

    def __init__(self, kernel: Kernel, buffers):
        super().__init__(buffers)
        self.kernel = kernel
        self.tensors: list[torch.Tensor] = []  # the tensors received, in order: the arguments' identities
        self.sent: list[torch.Tensor] = []
        self.grad_outputs: list[torch.Tensor] = []
        self.used_mirrors: list[int] = []

    def tensor(self, value):
        for i, sent in enumerate(self.sent):
            if value is sent:
                return {"t": "arg", "i": i}  # the very argument, returned (an in-place operation)
        from ..core.calling import plain

        value = plain(value)
        meta = super().tensor(value)
        if value.requires_grad and not isinstance(value, torch.nn.Parameter):  # as the checker reads them
            self.grad_outputs.append(value)
        return meta

    def other(self, value, depth):
        for key, mirror in self.kernel.mirrors.items():
            if value is mirror:
                return {"t": "mirror", "id": key}
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple: its items
            return {"t": "tuple", "v": [self.encode(item, depth + 1) for item in tuple.__iter__(value)]}
        key = len(self.kernel.objects) + 1
        self.kernel.objects[key] = value
        kind = "class" if isinstance(value, type) else "callable" if callable(value) else "object"
        name = getattr(value, "__name__", None) if kind != "object" else None
        name = name if isinstance(name, str) else type(value).__name__
        return {"t": "handle", "id": key, "kind": kind, "name": name[:100]}

    def read_tensor(self, data):
        tensor = super().read_tensor(data)
        self.tensors.append(tensor)
        return tensor

    def read_array(self, data):
        array = super().read_array(data)
        self.tensors.append(array)  # the arguments the checker sent, tensors and arrays, by index
        return array

    def read_other(self, data, depth):
        kind = data["t"]
        if kind == "handle":
            if data.get("id") not in self.kernel.objects:
                raise wire.WireError("an unknown handle")
            return self.kernel.objects[data["id"]]
        if kind == "iter":
            return iter(self.decode(data.get("v"), depth + 1))
        if kind == "builtin":
            if data.get("name") not in BUILTINS:
                raise wire.WireError("an unknown builtin")
            return BUILTINS[data["name"]]
        if kind == "mirror":
            return self._mirror(data, depth)
        raise wire.WireError(f"a value of kind {kind!r} cannot be read here")

    def _mirror(self, data, depth) -> torch.nn.Module:
        """The kernel's copy of a module of the checker's, with the checker's current state, in place."""
        key = data.get("id")
        state = self.decode(data.get("state"), depth + 1)
        if not isinstance(state, dict) or type(key) is not int:
            raise wire.WireError("a malformed module")
        mirror = self.kernel.mirrors.get(key)
        if mirror is None:
            layer = self.decode(data["layer"], depth + 1) if "layer" in data else None
            try:
                built = _shell(state) if layer is None else layers.build(layer, state)
            except (ValueError, TypeError, RuntimeError) as error:
                raise wire.WireError(f"a module that cannot be built: {error}") from None
            mirror = self.kernel.mirrors[key] = built
        else:
            with torch.no_grad():
                for name, tensor in mirror.state_dict().items():
                    if name in state:
                        tensor.copy_(state[name])
        self.used_mirrors.append(key)
        return mirror


def _shell(state: dict) -> torch.nn.Module:
    """A module with the parameters named in ``state``, nested as their dotted names say."""
    root = torch.nn.Module()
    for name, tensor in state.items():
        *path, leaf = str(name).split(".")
        module = root
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, torch.nn.Module())
            module = getattr(module, part)
        module.register_parameter(leaf, torch.nn.Parameter(tensor.detach().clone(), requires_grad=tensor.requires_grad))
    return root


def _forbidden(name):
    """The map of forbidden functions an exercise declared under ``name``; None (nothing forbidden) stays None.

    A kernel forked from the fork server finds every map there (``autograder.checker.maps``),
    without the exercises that declare them; in-process, the exercises the notebook imported declared them.
    """
    if name is None:
        return None
    if not isinstance(name, str):
        raise wire.WireError("a malformed name of forbidden functions")
    return forbidden_maps.declared(name)


def describe_error(error: BaseException) -> dict:
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - a student's exception whose __str__ fails
        message = "(its message could not be read)"
    name = type(error).__name__
    bases = [kind.__name__ for kind in type(error).__mro__ if kind.__module__ == "builtins"]
    return {"type": name if isinstance(name, str) else "Exception", "message": message[:2000], "bases": bases}
