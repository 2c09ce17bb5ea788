"""The wire between the trusted checker and the student's kernel: plain data, never pickle.

A message is one JSON header followed by raw buffers, each tensor's or array's
bytes, so that no value crossing the wire can run code when it is read. Every
message from the kernel is untrusted: ``receive`` refuses one that is too
large, too deep, malformed or late, with a ``WireError`` the checker turns into
the failure of one test.

Values are tagged JSON: ``{"t": "tensor", "b": 0, "dtype": "float32", "shape":
[2, 3], "device": "cpu", "grad": false}`` and the like. What is not plain data
(a student's module, a function) is left to the two ends: each ``Codec``
subclass says how it sends and reads such objects (``other`` and
``read_other``).
"""

from __future__ import annotations

import json
import math
import socket
import struct
import time
from collections.abc import Mapping

import numpy as np
import torch

MAX_MESSAGE_BYTES = 64 * 2**20  # the tensors of a check are small; anything larger is refused
MAX_HEADER_BYTES = 8 * 2**20
MAX_DEPTH = 32
MAX_ITEMS = 200_000

DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128,
    torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool)}
NUMPY_DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
                "complex64", "complex128"}


class WireError(Exception):
    """A message that cannot be read: malformed, too large, or not there in time."""


# --- framing -------------------------------------------------------------------------


def send(sock: socket.socket, header: dict, buffers: list[bytes] = ()) -> None:
    head = json.dumps(header).encode()
    parts = [struct.pack("!II", len(head), len(buffers)), head]
    for buffer in buffers:
        parts += [struct.pack("!Q", len(buffer)), buffer]
    sock.sendall(b"".join(parts))


def receive(sock: socket.socket, timeout: float | None, limit: int = MAX_MESSAGE_BYTES) -> tuple[dict, list[bytes]]:
    """One message, within ``timeout`` seconds (None: wait) and ``limit`` bytes in all."""
    deadline = None if timeout is None else time.monotonic() + timeout
    header_size, count = struct.unpack("!II", _read(sock, 8, deadline))
    if header_size > min(limit, MAX_HEADER_BYTES) or count > 100_000:
        raise WireError(f"a message of {header_size} header bytes and {count} buffers is over the limit")
    raw = _read(sock, header_size, deadline)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as error:  # nesting too deep for the parser is malformed too
        raise WireError(f"a malformed message ({type(error).__name__})") from None
    if not isinstance(header, dict):
        raise WireError("a message that is not an object")
    buffers, total = [], header_size
    for _ in range(count):
        (size,) = struct.unpack("!Q", _read(sock, 8, deadline))
        total += size
        if total > limit:
            raise WireError(f"a message of more than {limit} bytes")
        buffers.append(_read(sock, size, deadline))
    return header, buffers


def _read(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    data = bytearray()
    while len(data) < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WireError("no answer in time")
            sock.settimeout(left)
        else:
            sock.settimeout(None)
        try:
            chunk = sock.recv(min(size - len(data), 1 << 20))
        except socket.timeout:
            raise WireError("no answer in time") from None
        except OSError as error:
            raise WireError(f"the connection failed ({error})") from None
        if not chunk:
            raise WireError("the other end closed the connection")
        data += chunk
    return bytes(data)


def rng_states(cuda: bool) -> dict[str, bytes]:
    """The global generators' states a call carries: the CPU's, and the current GPU's when it runs on CUDA."""
    states = {"rng": torch.get_rng_state().numpy().tobytes()}
    if cuda and torch.cuda.is_available():
        states["cuda_rng"] = torch.cuda.get_rng_state().numpy().tobytes()
    return states


def set_rng_states(buffers: list[bytes], header: dict) -> None:
    """Take the generators' states that ``header`` points to in ``buffers``, if they are states."""
    _set_state(buffers, header.get("rng"), torch.get_rng_state, torch.set_rng_state)
    if header.get("cuda_rng") is not None and torch.cuda.is_available():
        _set_state(buffers, header.get("cuda_rng"), torch.cuda.get_rng_state, torch.cuda.set_rng_state)


def _set_state(buffers: list[bytes], index, get, put) -> None:
    if type(index) is int and 0 <= index < len(buffers) and len(buffers[index]) == get().numel():
        try:
            put(torch.frombuffer(bytearray(buffers[index]), dtype=torch.uint8))
        except RuntimeError:
            pass  # not a valid state: the generator stays as it was


# --- values ----------------------------------------------------------------------------


class Codec:
    """Turns values into tagged JSON plus buffers, and back, for one message."""

    def __init__(self, buffers: list[bytes] | None = None):
        self.buffers: list[bytes] = [] if buffers is None else buffers
        self.used: set[int] = set()  # each buffer backs one value: a message cannot multiply its size
        self.items = 0
        self.fake_allowed = True

    # sending

    def encode(self, value, depth: int = 0):
        self._count(depth)
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and type(value) is int:
            return value
        if isinstance(value, float) and type(value) is float:
            return value if math.isfinite(value) else {"t": "float", "v": repr(value)}
        if isinstance(value, torch.Tensor):
            return self.tensor(value)
        if isinstance(value, np.ndarray) and type(value) is np.ndarray and value.dtype.name in NUMPY_DTYPES:
            return self.array(value)
        if isinstance(value, np.generic) and type(value).__module__ == "numpy":
            return self.encode(value.item(), depth)
        if isinstance(value, torch.dtype):
            return {"t": "dtype", "v": str(value).removeprefix("torch.")}
        if isinstance(value, torch.device):
            return {"t": "device", "v": str(value)}
        if type(value) in (tuple, list):
            return {"t": type(value).__name__, "v": [self.encode(item, depth + 1) for item in value]}
        if type(value) is dict or (isinstance(value, Mapping) and type(value).__module__ == "collections"):
            return {"t": "dict", "v": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                                       for k, v in dict.items(value)]}
        return self.other(value, depth)

    def array(self, value: np.ndarray) -> dict:
        self.buffers.append(np.ascontiguousarray(value).tobytes())
        return {"t": "ndarray", "b": len(self.buffers) - 1, "dtype": value.dtype.name, "shape": list(value.shape)}

    def tensor(self, value: torch.Tensor) -> dict:
        from torch._subclasses.fake_tensor import FakeTensor

        meta = {"t": "tensor", "dtype": str(value.dtype).removeprefix("torch."), "shape": list(value.shape),
                "device": str(value.device), "grad": bool(value.requires_grad),
                "param": isinstance(value, torch.nn.Parameter)}
        if meta["dtype"] not in DTYPES or value.layout != torch.strided:
            raise WireError(f"a tensor of {value.dtype} and {value.layout} cannot be sent")
        if isinstance(value, FakeTensor) or value.device.type == "meta":
            meta["fake"] = True  # shapes and devices only: the simulated GPU
            return meta
        with torch._C.DisableTorchFunctionSubclass():
            data = value.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
        self.buffers.append(data.numpy().tobytes())
        meta["b"] = len(self.buffers) - 1
        return meta

    def other(self, value, depth: int):
        raise WireError(f"a value of type {type(value).__name__} cannot be sent")

    # reading

    def decode(self, data, depth: int = 0):
        self._count(depth)
        if data is None or isinstance(data, (bool, str, int, float)):
            return data
        if not isinstance(data, dict) or not isinstance(data.get("t"), str):
            raise WireError("a malformed value")
        kind = data["t"]
        if kind == "float":
            if data.get("v") not in ("nan", "inf", "-inf"):
                raise WireError("a malformed number")
            return float(data["v"])
        if kind == "tensor":
            return self.read_tensor(data)
        if kind == "ndarray":
            return self.read_array(data)
        if kind == "dtype":
            if data.get("v") not in DTYPES:
                raise WireError("an unknown dtype")
            return DTYPES[data["v"]]
        if kind == "device":
            return torch.device(_device(data.get("v")))
        if kind in ("tuple", "list"):
            items = _list(data.get("v"))
            decoded = [self.decode(item, depth + 1) for item in items]
            return tuple(decoded) if kind == "tuple" else decoded
        if kind == "dict":
            result = {}
            for pair in _list(data.get("v")):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise WireError("a malformed mapping")
                key = self.decode(pair[0], depth + 1)
                if not isinstance(key, (str, int, float, bool, type(None), tuple)):
                    raise WireError("a mapping key that is not plain data")
                result[key] = self.decode(pair[1], depth + 1)
            return result
        return self.read_other(data, depth)

    def read_array(self, data: dict) -> np.ndarray:
        dtype = data.get("dtype")
        if dtype not in NUMPY_DTYPES:
            raise WireError("an array of an unknown dtype")
        shape = _shape(data.get("shape"))
        buffer = self._buffer(data, math.prod(shape) * np.dtype(dtype).itemsize)
        return np.frombuffer(buffer, dtype=dtype).reshape(shape).copy()

    def read_tensor(self, data: dict) -> torch.Tensor:
        dtype = DTYPES.get(data.get("dtype"))
        if dtype is None:
            raise WireError("a tensor of an unknown dtype")
        shape = _shape(data.get("shape"))
        device = _device(data.get("device"))
        if data.get("fake"):
            if not self.fake_allowed:
                raise WireError("a tensor without data, outside a simulated run")
            # Made under the checker's FakeTensorMode, this is a fake tensor of that device.
            tensor = torch.empty(shape, dtype=dtype, device=device)
        else:
            size = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
            buffer = self._buffer(data, size)
            raw = torch.frombuffer(bytearray(buffer), dtype=torch.uint8) if size else torch.empty(0, dtype=torch.uint8)
            tensor = raw.view(dtype).reshape(shape)
            if device != "cpu":
                tensor = tensor.to(device)
        if data.get("param") is True:
            return torch.nn.Parameter(tensor, requires_grad=bool(data.get("grad")))
        if data.get("grad") is True and (dtype.is_floating_point or dtype.is_complex):
            tensor.requires_grad_(True)
        return tensor

    def read_other(self, data: dict, depth: int):
        raise WireError(f"a value of kind {data['t']!r} cannot be read here")

    def _buffer(self, data: dict, size: int) -> bytes:
        index = data.get("b")
        if type(index) is not int or not 0 <= index < len(self.buffers) or index in self.used:
            raise WireError("a value without data of its own")
        self.used.add(index)
        buffer = self.buffers[index]
        if len(buffer) != size:
            raise WireError("a value whose data does not match its shape")
        return buffer

    def _count(self, depth: int) -> None:
        self.items += 1
        if depth > MAX_DEPTH or self.items > MAX_ITEMS:
            raise WireError("a value nested too deeply or with too many items")


def _list(value) -> list:
    if not isinstance(value, list):
        raise WireError("a malformed sequence")
    return value


def _shape(value) -> list[int]:
    if not isinstance(value, list) or len(value) > 16 or not all(type(n) is int and 0 <= n < 2**31 for n in value):
        raise WireError("a malformed shape")
    if math.prod(value) > MAX_MESSAGE_BYTES:
        raise WireError("a shape over the size limit")
    return value


def _device(value) -> str:
    if value == "cpu" or value == "meta":
        return value
    if isinstance(value, str) and value.startswith("cuda") and (value == "cuda" or value[5:].isdigit()):
        return value
    raise WireError("an unknown device")
