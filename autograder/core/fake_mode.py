"""Fake tensors for the simulated GPU, without paying for all of ``torch._dynamo``.

The first use of fake tensors imports ``torch._dynamo`` (``torch/_dynamo/__init__.py``:
about 1.3 s of imports of the compiler, which a simulated run never uses). Every
student would pay it on the first check of a session, and
``python -m autograder check`` on every run. Fake tensors reach dynamo in two ways:

* ``FakeTensorMode`` reads switches of ``torch._dynamo.config`` when it is built
  and when it dispatches. ``import torch._dynamo.config`` runs the package's
  ``__init__`` first. So, for the duration of a simulated run, the package
  stands in sys.modules unexecuted, holding its real ``config`` module and the
  submodules that fake tensors import, each loaded once and kept for the next
  run. Anything else asked of it (student code that compiles) runs the
  package's ``__init__`` there and then, and the package stays, whole.
* torch wraps functions that fake tensors call (the ``__torch_dispatch__`` of its
  dispatch modes, some of its reference implementations) in
  ``torch._disable_dynamo``, whose first call asks ``torch._dynamo.disable`` for
  the disabled function and caches it on the function as ``__dynamo_disable``.
  For the duration, the bare package's ``disable`` answers with the function
  itself: nothing is compiled within a check.

Afterwards every trace is removed, so that a later ``import torch._dynamo``
(``torch.compile`` in a student's notebook) loads and wraps everything as usual.
If the shortcut cannot be set up (another torch version), fake tensors take the
ordinary road.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys

import torch

_DYNAMO = "torch._dynamo"
_CONFIG = f"{_DYNAMO}.config"
_CACHE = "__dynamo_disable"  # where torch._compile._disable_dynamo caches the disabled function

# The modules of torch._dynamo loaded while it stood bare (its config, and any submodule fake
# tensors import): kept, and put back for the next simulated run. A dict, filled in place: the
# integrity check holds every module-level name of the package to the value it had at import.
_loaded: dict = {}


@contextlib.contextmanager
def without_dynamo():
    """For the duration, fake tensors work without importing the whole of ``torch._dynamo``."""
    if _DYNAMO in sys.modules:
        yield
        return
    undisabled, completed = [], []
    try:
        _bare_package(undisabled, completed)
    except Exception:  # noqa: BLE001 - the shortcut does not apply: take the ordinary road
        _remove_dynamo()
        yield
        return
    try:
        yield
    finally:
        for function in undisabled:
            if vars(function).get(_CACHE) is function:
                del function.__dynamo_disable
        if not completed:
            _loaded.update((name, module) for name, module in sys.modules.items() if name.startswith(_DYNAMO + "."))
            _remove_dynamo()


def _bare_package(undisabled: list, completed: list) -> None:
    """Install ``torch._dynamo`` unexecuted, with its config and a ``disable`` that records what it left as it was."""
    spec = importlib.util.find_spec(_DYNAMO)
    package = importlib.util.module_from_spec(spec)  # not executed: no compiler imported

    def disable(fn=None, recursive=True, **options):
        if fn is None:
            return lambda function: disable(function, recursive, **options)
        undisabled.append(fn)
        return fn

    def attribute(name):
        if importlib.util.find_spec(f"{_DYNAMO}.{name}") is not None:  # a submodule: import it alone
            return importlib.import_module(f"{_DYNAMO}.{name}")
        # Code asked for what the package's __init__ defines (torch.compile in student code): run it, for good.
        del package.__getattr__
        completed.append(True)
        spec.loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = attribute
    package.disable = disable
    sys.modules[_DYNAMO] = package
    torch._dynamo = package
    for name, module in _loaded.items():
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent == _DYNAMO:
            setattr(package, child, module)
    importlib.import_module(_CONFIG)


def _remove_dynamo() -> None:
    for name in [n for n in sys.modules if n == _DYNAMO or n.startswith(_DYNAMO + ".")]:
        del sys.modules[name]
    # torch's module __getattr__ imports the whole package on the next access.
    vars(torch).pop("_dynamo", None)
