"""An operation an exercise asks for, declared rather than coded, in the spirit of PyTorch's OpInfo.

A declaration holds the reference, the functions a student may not call, how
to make seeded arguments, which arguments the function updates in place or
differentiates, the mistakes planted in the reference, and the inputs that
must raise. ``check`` and ``check_error`` turn it into the checks a test cell
calls, through the shared engine in ``autograder.core.checks``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from .checks import Report, check_against_reference, check_raises
from .mistakes import Planted


@dataclass(frozen=True)
class ErrorInput:
    """Arguments (for ``make_arguments``) on which the function must raise ``exception``, and when that is."""

    arguments: dict
    exception: type[BaseException]
    when: str


@dataclass(frozen=True)
class Operation:
    name: str
    reference: Callable
    make_arguments: Callable[..., dict]
    forbidden: Mapping = field(default_factory=dict)
    state: tuple[str, ...] = ()
    differentiable: tuple[str, ...] = ()
    planted: tuple[Planted, ...] = ()
    error_inputs: tuple[ErrorInput, ...] = ()
    operation: str | None = None  # the tolerance table's name for it, when not ``name``
    outputs: tuple[str, ...] | None = None

    def check(self, student, *, gradients: bool = False, devices=None, **arguments) -> Report:
        """Compare ``student`` with the reference on ``make_arguments(**arguments)``, on every device."""
        args = self.make_arguments(**arguments)
        grad_wrt = tuple(k for k in self.differentiable if args.get(k) is not None) if gradients else ()
        return check_against_reference(
            student, self.reference, args, name=self.name, operation=self.operation, state=self.state,
            grad_wrt=grad_wrt, planted=self.planted, devices=devices, forbidden=self.forbidden,
            outputs=self.outputs,
        )

    def check_error(self, student, error: ErrorInput, devices=None) -> Report:
        """Check that ``student`` raises on ``error``'s arguments, as the reference does."""
        return check_raises(
            student, self.make_arguments(**error.arguments), error.exception, name=self.name,
            when=error.when, devices=devices, forbidden=self.forbidden,
        )
