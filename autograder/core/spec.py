"""What an exercise is made of, declared rather than coded, in the manner of PyTorch's OpInfo.

- ``Operation`` (PyTorch's ``OpInfo``): a function a student writes. Its
  reference, how to make seeded arguments, the arguments it updates in place or
  differentiates, the inputs on which it must raise, the functions a student may
  not call, the mistakes planted in it and the tolerance overrides it needs, each
  with its reason.
- ``ModuleSpec`` (PyTorch's ``ModuleInfo``, in ``autograder.core.modules``): a
  class a student writes, built as PyTorch's would be and compared with it.
- ``Property``: a statistic of a student's result that must stay within a bound
  (the fraction dropout zeroes, the sum of softmax weights), with the planted
  mistakes that explain a miss.

An exercise's check functions are thin entries over these declarations; the
engine that runs them on every device is ``autograder.core.engine``.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol

from . import tolerances
from .engine import check_against_reference, check_raises, fail_diagnosed
from .forbidden import Forbidden
from .mistakes import Planted
from .report import Report


class Spec(Protocol):
    """What the registry and the generated tests need of every spec."""

    name: str  # the function's or class's name in the student's notebook
    planted: tuple[Planted, ...]  # the mistakes planted in it, with the check calls that catch them
    forbidden: Forbidden  # what the student may not call


@dataclass(frozen=True)
class ErrorInput:
    """Arguments (for ``make_arguments``) on which the function must raise ``exception``, and when that is."""

    arguments: dict
    exception: type[BaseException]
    when: str


@dataclass(frozen=True)
class Operation:
    """A function an exercise asks for.

    ``name`` is the function's name, as the student's notebook and PyTorch spell
    it; ``tolerance_name`` the operation whose tolerances it shares, when not its
    own. ``tolerances`` holds the overrides of the table in
    ``autograder.core.tolerances``, keyed ``(aspect, dtype)`` with aspect
    ``"output"`` or ``"grad"``, each a ``Tolerance`` that gives its reason.
    """

    name: str
    reference: Callable
    make_arguments: Callable[..., dict]
    forbidden: Forbidden = field(default_factory=lambda: Forbidden.none)
    state: tuple[str, ...] = ()
    differentiable: tuple[str, ...] = ()
    planted: tuple[Planted, ...] = ()
    error_inputs: tuple[ErrorInput, ...] = ()
    tolerances: Mapping = field(default_factory=dict)
    tolerance_name: str | None = None
    outputs: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.tolerance_name is None:
            tolerances.declare(self.name, self.tolerances)
        elif self.tolerances:
            raise ValueError(f"{self.name} shares {self.tolerance_name}'s tolerances and cannot override them")

    @property
    def compared_as(self) -> str:
        """The operation name the comparison's tolerances are looked up by."""
        return self.tolerance_name or self.name

    def compare(self, student, *, gradients: bool = False, devices=None, **arguments) -> Report:
        """Compare ``student`` with the reference on ``make_arguments(**arguments)``, on every device."""
        args = self.make_arguments(**arguments)
        grad_wrt = tuple(k for k in self.differentiable if args.get(k) is not None) if gradients else ()
        return check_against_reference(
            student, self.reference, args, name=self.name, operation=self.compared_as, state=self.state,
            grad_wrt=grad_wrt, planted=self.planted, devices=devices, forbidden=self.forbidden,
            outputs=self.outputs,
        )

    def expect_error(self, student, error: ErrorInput | int = 0, devices=None) -> Report:
        """Check that ``student`` raises on ``error``'s arguments (or the ``error``-th error input), as the reference does."""
        if isinstance(error, int):
            error = self.error_inputs[error]
        return check_raises(
            student, self.make_arguments(**error.arguments), error.exception, name=self.name,
            when=error.when, devices=devices, forbidden=self.forbidden,
        )


@dataclass(frozen=True)
class Property:
    """A statistic of a student's result, the bound it must stay within, and the mistakes that explain a miss.

    ``statistic(result, *inputs)`` gives a value; ``holds(value)`` says whether it is
    within the bound; ``describe(value)`` says, in the words a student reads, how it
    is off. ``expected`` is the value it should have and ``margin`` how far it may
    miss it, where the bound is one around a value. ``candidates`` are planted
    mistakes whose own statistic, compared with the student's by ``agree`` (exactly,
    or within a statistical margin for a random result), names the likely one.
    """

    name: str
    statistic: Callable[..., object]
    holds: Callable[[object], bool]
    describe: Callable[[object], str]
    candidates: tuple[Planted, ...] = ()
    expected: object = None
    margin: float = 0.0
    agree: Callable[[object, object], bool] = operator.eq

    def problem(self, result, *inputs) -> str | None:
        """None if the property holds for ``result``, else what is wrong with it."""
        value = self.statistic(result, *inputs)
        return None if self.holds(value) else self.describe(value)

    def fail(self, where: str, value, expected=None, run: Callable[[Callable], object] | None = None, *,
             summary: str | None = None, problem: str | None = None) -> None:
        """Fail with ``problem`` (by default, ``describe(value)``), naming the candidate whose ``run`` agrees."""
        fail_diagnosed(where, value, self.expected if expected is None else expected, summary=summary,
                       problems=[problem or self.describe(value)], planted=self.candidates, run=run,
                       agree=self.agree, clue=None)


from .modules import ModuleSpec  # noqa: E402,F401 - declared in its own module, offered here with the other specs
