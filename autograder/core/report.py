"""What a passing check shows, and the decorator that makes a function an exercise's check entry.

A check entry is quiet while it runs (nothing reaches stderr, which nbgrader
would count against the cell) and shows its ``Report`` when it passes.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from dataclasses import dataclass, field
from typing import Callable

from . import integrity
from .calling import quiet


@dataclass
class Report:
    """What a passing check ran: shown under the test cell, so a student sees the devices."""

    call: str
    devices: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"passed: {self.call} on {', '.join(self.devices)}"
        return "\n".join([text] + [f"  note: {note}" for note in self.notes])

    def show(self) -> "Report":
        """Display the report under the running cell; a plain script stays silent.

        It is a display, not a print and not the cell's value, so nbgrader
        neither reads it as partial credit nor sees anything on stderr. A pass
        is shown only if nothing the grader trusts was replaced.
        """
        shown = _SHOWN.get()
        if shown is not None:  # a trusted checker collects it for the test cell's outputs
            shown.append(str(self))
            return self
        integrity.verify(self.call)
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return self
        if get_ipython() is not None:
            display({"text/plain": str(self)}, raw=True)
        return self


_SHOWN: contextvars.ContextVar = contextvars.ContextVar("shown", default=None)


@contextlib.contextmanager
def collect_reports():
    """Collect the reports of the checks that pass within, instead of displaying them."""
    shown: list[str] = []
    token = _SHOWN.set(shown)
    try:
        yield shown
    finally:
        _SHOWN.reset(token)


def entry(function: Callable[..., Report]) -> Callable[..., Report]:
    """Make ``function`` an exercise's check entry: quiet while it runs, its report shown when it passes."""

    @functools.wraps(function)
    def checked(*args, **kwargs) -> Report:
        with quiet():
            report = function(*args, **kwargs)
        return report.show()

    return checked
