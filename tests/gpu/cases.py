"""The suite's cases, generated from the registry: every distinct check call and every planted mistake.

Nothing here lists an exercise: a spec, a planted mistake or a check call added
to an exercise package adds its cases. A package that cannot be imported has no
cases; ``test_checks.test_every_exercise_package_imports`` says why.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import pytest
import torch

from autograder import registry

from .notebooks import missing_dependency
from .settings import DEVICE, DEVICES, FAST

FULL_PRECISION = (torch.float32, torch.float64)
HALF = (torch.float16, torch.bfloat16)

# The half-precision dtypes in which every check call of a spec passes with the solution,
# on the CPU, today. A spec or dtype left out still runs: its outcome is recorded as
# "unsupported" when it fails, and a pass says it could be declared. The CPU computes half
# precision differently from CUDA (its kernels often accumulate in float32 and round once),
# so the first GPU run may take a dtype out of this table or show one to add.
HALF_PRECISION: dict[str, tuple[torch.dtype, ...]] = {
    "batch_norm": (torch.float16,),
    "dropout": (torch.float16, torch.bfloat16),
    "l1_penalty": (torch.float16, torch.bfloat16),
    "l2_penalty": (torch.float16, torch.bfloat16),
    "cross_entropy": (torch.float16, torch.bfloat16),
    "softmax": (torch.bfloat16,),
    "sinusoidal_positional_encoding": (torch.float16, torch.bfloat16),
    "TransformerEncoderLayer": (torch.float16, torch.bfloat16),
}


def import_packages() -> dict[str, object]:
    """Package name -> the imported module, or the exception its import raised."""
    found = {}
    for name in registry.packages():
        try:
            found[name] = registry.package(name)
        except Exception as error:  # noqa: BLE001 - reported by its own test, not at collection
            found[name] = error
    return found


PACKAGES = import_packages()


def skip_reason(error: BaseException) -> str | None:
    """Why a package that failed to import is skipped on this machine, or None when it is broken."""
    module = missing_dependency(error)
    return f"needs {module}, which this machine does not have ({error})" if module else None


def takes(entry, keyword: str) -> bool:
    return keyword in inspect.signature(entry).parameters


def takes_dtype(entry, spec) -> bool:
    """Whether the check entry accepts ``dtype``: by name, or passed on to an argument maker that takes it.

    An entry that forwards ``**arguments`` takes a dtype when the maker it forwards them to
    does: the spec's ``make_arguments`` or a ``make_*`` function of its module that it calls.
    Entries that choose no device (a numerical gradient in float64, a scenario of Python
    numbers, NumPy data) fix their own dtype, so a forwarding entry must also take ``devices``.
    """
    parameters = inspect.signature(entry).parameters
    if "dtype" in parameters:
        return True
    forwards = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    if not (forwards and "devices" in parameters):
        return False
    function = inspect.unwrap(entry)
    makers = [getattr(spec, "make_arguments", None)]
    makers += [function.__globals__.get(name) for name in function.__code__.co_names if name.startswith("make")]
    return any(callable(maker) and "dtype" in inspect.signature(maker).parameters for maker in makers)


def _specs():
    """(assignment, package name, module, spec) for every spec of every package that imports."""
    for assignment in registry.ASSIGNMENTS:
        for name in assignment.packages:
            module = PACKAGES[name]
            if not isinstance(module, BaseException):
                for spec in module.SPECS:
                    yield assignment, name, module, spec


def _dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "") if dtype is not None else "own"


@dataclass(frozen=True)
class CheckCall:
    """One call of a check entry with the solution's implementation, in one dtype."""

    assignment: str
    package: str
    spec: str
    function: str  # the solution's name for it
    check: str
    args: tuple
    kwargs: dict = field(hash=False)
    dtype: torch.dtype | None  # None: the entry's own
    takes_devices: bool
    index: int  # of the distinct call within its spec

    def __str__(self) -> str:
        return f"{self.spec}-{self.check}-{self.index}-{_dtype_name(self.dtype)}"

    def entry(self):
        return getattr(registry.package(self.package), self.check)

    def keywords(self) -> dict:
        """The call's keywords: the catch's, the dtype under test and the devices."""
        keywords = dict(self.kwargs)
        if self.dtype is not None:
            keywords["dtype"] = self.dtype
        if self.takes_devices:
            keywords["devices"] = DEVICES
        return keywords

    @property
    def half(self) -> bool:
        return self.dtype in HALF

    @property
    def declared(self) -> bool:
        """Whether the spec is declared to pass in this dtype (always, for a full-precision one)."""
        return not self.half or self.dtype in HALF_PRECISION.get(self.spec, ())

    def as_report(self) -> dict:
        return {"assignment": self.assignment, "spec": self.spec, "check": self.check, "args": _shown(self.args),
                "kwargs": _shown(self.kwargs), "dtype": _dtype_name(self.dtype),
                "devices": DEVICES if self.takes_devices else "the entry's own", "declared": self.declared}


@dataclass(frozen=True)
class PlantedCall:
    """A planted mistake and one check call that must catch and name it."""

    package: str
    spec: str
    planted: object = field(hash=False)
    catch: object = field(hash=False)
    takes_devices: bool
    number: int  # of the planted mistake within its spec (a spec may plant one mistake two ways)
    index: int  # of the catch within the planted mistake

    def __str__(self) -> str:
        return f"{self.spec}-{self.planted.mistake.id}-{self.number}.{self.index}"

    def entry(self):
        return getattr(registry.package(self.package), self.catch.check)

    def as_report(self) -> dict:
        return {"spec": self.spec, "mistake": self.planted.mistake.id, "check": self.catch.check,
                "args": _shown(self.catch.args), "kwargs": _shown(self.catch.kwargs),
                "devices": self.devices or "the entry's own"}

    @property
    def devices(self) -> list[str] | None:
        """The device under test alone, for an entry that takes ``devices``; None: the entry's own choice."""
        return [DEVICE] if self.takes_devices else None


def _shown(value):
    """A JSON-able rendering of a check's arguments (dtypes and functions as their names)."""
    if isinstance(value, dict):
        return {key: _shown(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shown(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return getattr(value, "__qualname__", None) or str(value)


def check_calls() -> list[CheckCall]:
    """Each distinct check call of each spec (as tests/specs/test_catalog.py finds them), in every dtype it takes.

    The fast suite gives each spec one dtype, in turn, so that every dtype, declared or not, still runs.
    """
    found = []
    for position, (assignment, name, module, spec) in enumerate(_specs()):
        distinct = {}
        for planted in spec.planted:
            for catch in planted.caught_by:
                distinct.setdefault((catch.check, repr(catch.args), repr(sorted(catch.kwargs.items()))), catch)
        for index, catch in enumerate(distinct.values()):
            entry = getattr(module, catch.check)
            dtypes = [None]
            if "dtype" not in catch.kwargs and takes_dtype(entry, spec):
                dtypes = list(FULL_PRECISION + HALF)
                if FAST:
                    dtypes = [dtypes[position % len(dtypes)]]
            for dtype in dtypes:
                found.append(CheckCall(assignment.name, name, spec.name, assignment.functions[spec.name], catch.check,
                                       tuple(catch.args), dict(catch.kwargs), dtype, takes(entry, "devices"), index))
    return found


def planted_calls() -> list[PlantedCall]:
    """Every check call that must catch a planted mistake; the fast suite, each spec's first mistake's first."""
    found = []
    for _, name, module, spec in _specs():
        for number, planted in enumerate(spec.planted):
            for index, catch in enumerate(planted.caught_by):
                if FAST and (number or index):
                    continue
                found.append(PlantedCall(name, spec.name, planted, catch,
                                         takes(getattr(module, catch.check), "devices"), number, index))
    return found


def params(cases) -> list:
    return [pytest.param(case, id=str(case)) for case in cases]
