"""Notice a submission that replaces the functions the grader trusts.

A submission runs in the same Python process as its tests, so it could make a
wrong answer pass by replacing ``torch.nn.functional.batch_norm`` (the
reference), a tensor method or a function of this package. When the
autograder is imported, before any student code runs (the import cell is
locked, and nbgrader restores it), this module records which object every
name of torch, ``torch.nn.functional``, ``torch.Tensor`` and the autograder's
own modules refers to. Before a check reports a pass, ``verify`` compares them
again and fails the test, naming what was replaced.

Threat model. This stops the simple attacks: rebinding or monkeypatching a
trusted function. It cannot stop code that runs in the same process and is
written to defeat it (patching this module's own state, faking the report, or
forging the kernel's messages): only running the tests in a separate process
from the student's code would. The grader adds one more check outside the
kernel: a test cell that passed must show a report from this package, so a
check function replaced by a no-op still scores zero. The sandbox
(``autograder.sandbox.bwrap``) protects everything outside the submission's own
process tree: files, the network and other students.

Torch rewraps a few of these names itself, the first time ``torch._dynamo`` is
imported (``torch.compile``, and the first ``FakeTensorMode`` of the simulated
GPU): ``torch.manual_seed`` and ``torch.nn.Module.__init__``/``__setstate__``
become wrappers that call the original. Importing dynamo here, before the
snapshot, would cost every import of the autograder seconds, so ``replaced``
instead accepts exactly those wrappers (the function that torch's own code
makes, around the trusted original) in place of the trusted object.
"""

from __future__ import annotations

import sys
import types

import torch
import torch.nn.functional

_WATCHED: dict[str, object] = {
    "torch": torch,
    "torch.nn.functional": torch.nn.functional,
    "torch.Tensor": torch.Tensor,
    "torch.nn.Module": torch.nn.Module,
    "torch.nn.MultiheadAttention": torch.nn.MultiheadAttention,
    "torch.autograd": torch.autograd,
    "torch.testing": torch.testing,
}
_snapshot: dict[tuple[str, str], object] = {}


def _namespace(owner) -> dict:
    return dict(vars(owner))


def trust(name: str, owner) -> None:
    """Record the current attributes of ``owner`` (a module or class) as trusted."""
    _WATCHED.setdefault(name, owner)
    for attribute, value in _namespace(owner).items():
        # First sight wins: trusting again later must not accept a replacement.
        _snapshot.setdefault((name, attribute), value)


def trust_package() -> None:
    """Trust torch and every module of this package that is loaded, with their classes."""
    for name, owner in list(_WATCHED.items()):
        trust(name, owner)
    for name, module in list(sys.modules.items()):
        if name == "autograder" or name.startswith("autograder."):
            trust(name, module)
            for value in vars(module).values():
                if isinstance(value, type) and value.__module__ == name:
                    trust(f"{name}.{value.__name__}", value)


# The names torch rewraps itself once dynamo is imported: (module, function) that makes
# the wrapper, the wrapper's name inside it and the closure variable holding the original.
_TORCH_WRAPPERS: dict[tuple[str, str], tuple[str, str, str, str]] = {
    # torch/_dynamo/__init__.py: torch.manual_seed = torch._disable_dynamo(torch.manual_seed)
    ("torch", "manual_seed"): ("torch._compile", "_disable_dynamo", "inner", "fn"),
    # torch/_dynamo/mutation_guard.py, on the first compiled call: tags the modules created while tracing
    ("torch.nn.Module", "__init__"): (
        "torch._dynamo.mutation_guard", "install_generation_tagging_init", "patched_init", "init"
    ),
    ("torch.nn.Module", "__setstate__"): (
        "torch._dynamo.mutation_guard", "install_generation_tagging_init", "patched_setstate", "setstate"
    ),
}


def _wrapped_by_torch(key: tuple[str, str], current):
    """The original inside ``current`` if it is the wrapper torch makes for ``key``, else ``_MISSING``."""
    maker = _TORCH_WRAPPERS.get(key)
    code = getattr(current, "__code__", None)
    if maker is None or not isinstance(code, types.CodeType):
        return _MISSING
    module_name, function_name, wrapper_name, variable = maker
    if code.co_name != wrapper_name or variable not in code.co_freevars:
        return _MISSING
    # Never imported here: a wrapper can only come from a module that is already loaded.
    maker_code = getattr(getattr(sys.modules.get(module_name), function_name, None), "__code__", None)
    if maker_code is None or not any(const is code for const in maker_code.co_consts):
        return _MISSING
    # The closure, not ``__wrapped__`` (any function may carry one), is what the wrapper calls.
    try:
        return current.__closure__[code.co_freevars.index(variable)].cell_contents
    except ValueError:  # an empty cell
        return _MISSING


def _is_trusted(key: tuple[str, str], current, value) -> bool:
    # A few steps at most: each of torch's wrappers is installed once, over the original.
    for _ in range(4):
        if current is value:
            return True
        current = _wrapped_by_torch(key, current)
        if current is _MISSING:
            return False
    return False


def replaced() -> list[str]:
    """Names whose object differs from the trusted one (torch's own wrapper of it aside)."""
    changed = []
    # Each namespace is read once: copying torch's for every one of its names made a check 0.05 s slower.
    namespaces = {name: _namespace(owner) for name, owner in _WATCHED.items()}
    for (name, attribute), value in _snapshot.items():
        current = namespaces[name].get(attribute, _MISSING)
        if current is not value and not _is_trusted((name, attribute), current, value):
            changed.append(f"{name}.{attribute}")
    return changed


_MISSING = object()


def verify(where: str) -> None:
    """Fail the current test if a trusted function was replaced since the grader was imported."""
    changed = replaced()
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise AssertionError(
            f"{where}: the test cannot be trusted, because code in the notebook replaced {shown}. "
            "Do not modify torch or the autograder."
        )


