"""The student's objects in the checker: proxies by handle, and the codec that sends and reads them.

A ``Remote`` stands for an object in the student's kernel (a function, a
class, a module, a bound method); calling it, or reading one of its
attributes, is a request of its ``Session``. ``CheckerCodec`` is what crosses
the wire from the checker's side: its tensors (remembered in order, since the
kernel names an argument it returns by index), its modules as mirrors, the
items of its generators, and the kernel's handles read back as ``Remote``.
"""

from __future__ import annotations

import collections.abc
from typing import TYPE_CHECKING

import torch
from torch._subclasses.fake_tensor import FakeTensor

from . import layers, wire
from .errors import RemoteFailure

if TYPE_CHECKING:
    from .session import Session

DTYPE_CAN_GRAD = {name: dtype.is_floating_point or dtype.is_complex for name, dtype in wire.DTYPES.items()}


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

    def __count_flops__(self, parameters: dict, args: tuple, kwargs: dict):
        return self._session.call(Builtin("count_flops"), (self, parameters, args, kwargs), {})

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
            mirror = {"t": "mirror", "id": key, "state": self.encode(state, depth + 1)}
            layer = layers.describe(value)  # PyTorch's own layer: built as itself in the kernel
            return mirror if layer is None else {**mirror, "layer": self.encode(layer, depth + 1)}
        if isinstance(value, collections.abc.Iterator):
            return {"t": "iter", "v": self.encode(list(value), depth + 1)}
        return super().other(value, depth)

    def read_tensor(self, data):
        if data.get("grad") and not data.get("param") and DTYPE_CAN_GRAD.get(data.get("dtype"), False):
            data = dict(data, grad=False)
            tensor = super().read_tensor(data)
            self.grad_outputs.append(tensor)  # joins the graph in ``session._join_graph``
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
