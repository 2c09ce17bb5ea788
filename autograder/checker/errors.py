"""What a call to the kernel can end with, besides a value: the checker's own failures, and the kernel's exceptions.

The kernel sends an exception as data: its class's name, its message and the
builtin classes it derives from. ``rebuild`` makes it an exception of the
checker's again, so that a check that expects a ``ValueError`` catches the
student's ``ValueError``, and nothing the kernel names can stop the checker.
"""

from __future__ import annotations

import builtins

from ..core import calling

# What the exceptions raised in the kernel are rebuilt as, by name; any other name becomes a
# ``StudentError`` subclass of that name, which no check expects.
_FAKE_TENSOR_ERRORS = ("DataDependentOutputException", "DynamicOutputShapeException",
                       "FakeTensorDeviceMismatchError", "UnsupportedOperatorException")


class RemoteFailure(Exception):
    """The kernel's answer could not be used: refused, malformed, late, or the kernel is gone."""


class Interrupted(BaseException):
    """The kernel was interrupted at the cell's time limit: the test stops here (no check may catch it)."""


class StudentError(Exception):
    """An exception of the student's own (or one the checker does not know), by name and message."""


def rebuild(error) -> BaseException:
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
