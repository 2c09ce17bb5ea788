"""The maps of forbidden functions as data: how the kernel gets them without the exercises that declare them.

Each exercise declares what a student may not call (``autograder.core.forbidden.Forbidden``)
in the same files as its reference and planted implementations, which the
sandbox must not hold. The fork server's checker side, which imports every
exercise, writes each map as the dotted paths of its functions from ``torch``
(``as_data``); the server, which the kernels are forked from, declares the same
maps again from those paths (``declare``), before any submission exists. The
stub then finds a map by the name the checker sends, as in-process.
"""

from __future__ import annotations

import importlib

import torch

from ..core import forbidden

# Where a forbidden function is found, when its own module and qualified name do not reach it.
_NAMESPACES = ("torch", "torch.nn.functional", "torch.nn", "torch.Tensor", "torch.autograd", "torch._C._nn")


def resolve(path: str):
    """The object at ``path``, a dotted path from ``torch``; AttributeError when there is none.

    ``module:qualified.name`` names a module of torch and an object in it: the way to a
    function that its package shadows with a submodule's name (``torch.ao.quantization.fuse_modules``).
    """
    module, _, qualified = path.rpartition(":")
    root, *parts = (qualified if module else path).split(".")
    if (module or root) != "torch" and not module.startswith("torch."):
        raise AttributeError(f"{path} is not in torch")
    if module:
        try:
            value = importlib.import_module(module)
        except ImportError as error:
            raise AttributeError(f"{path}: {error}") from None
        parts = [root, *parts]
    else:
        value = torch
    for part in parts:
        value = getattr(value, part)
    return value


def path_of(function) -> str:
    """A dotted path from ``torch`` that reaches ``function`` itself."""
    if isinstance(function, torch._ops.OpOverloadPacket):
        return "torch.ops.aten." + function._qualified_op_name.split("::")[-1]
    name = getattr(function, "__name__", "")
    module, qualified = getattr(function, "__module__", None), getattr(function, "__qualname__", "")
    candidates = [f"{module}.{qualified}", f"{module}:{qualified}"]
    candidates += [f"{namespace}.{name}" for namespace in _NAMESPACES]
    for candidate in candidates:
        try:
            if resolve(candidate) is function:
                return candidate
        except AttributeError:
            continue
    raise ValueError(f"no path from torch reaches the forbidden function {function!r}")


def as_data() -> dict[str, list[list[str]]]:
    """Every declared map: its name -> [dotted path, the name a message shows] of each of its functions."""
    return {name: [[path_of(function), shown] for function, shown in declared.items()]
            for name, declared in forbidden._DECLARED.items()}  # noqa: SLF001 - every map, by name


def declare(data: dict[str, list[list[str]]]) -> None:
    """Declare the maps ``as_data`` wrote, in a process that did not import the exercises."""
    for name, entries in data.items():
        forbidden.Forbidden(name, {resolve(path): shown for path, shown in entries})
