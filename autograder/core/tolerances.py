"""Tolerances for comparing a student's tensors with the reference.

One table gives rtol and atol per dtype; an override for one operation must say
why that operation needs more room than the table gives. rtol and atol always
travel together, as in ``torch.testing.assert_close``: a value passes when
``|actual - expected| <= atol + rtol * |expected|``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    reason: str = "default for the dtype"


# The defaults of torch.testing.assert_close, so that a student who checks
# their work with it sees the same verdicts as the grader.
BY_DTYPE: dict[torch.dtype, Tolerance] = {
    torch.float16: Tolerance(rtol=1e-3, atol=1e-5),
    torch.bfloat16: Tolerance(rtol=1.6e-2, atol=1e-5),
    torch.float32: Tolerance(rtol=1.3e-6, atol=1e-5),
    torch.float64: Tolerance(rtol=1e-7, atol=1e-7),
}

# Aspects of a result that an override may concern: the output (and the state
# updated in place), or the gradients.
ASPECTS = ("output", "grad")

# operation -> {(aspect, dtype): Tolerance}: filled by the specs (``autograder.core.spec``),
# each override on the spec of the operation it concerns, with its reason.
_DECLARED: dict[str, dict[tuple[str, torch.dtype], Tolerance]] = {}


def declare(operation: str, overrides: dict | None = None) -> None:
    """Make ``operation`` known, with its overrides ``{(aspect, dtype): Tolerance}``.

    An override must name an aspect of ``ASPECTS`` and a dtype of the table, and say
    why the operation needs it: a misspelt key fails here, not silently at a check.
    """
    overrides = dict(overrides or {})
    for key, tolerance in overrides.items():
        aspect, dtype = key if isinstance(key, tuple) and len(key) == 2 else (None, None)
        if aspect not in ASPECTS or dtype not in BY_DTYPE:
            raise ValueError(f"{operation}: a tolerance override is keyed by (aspect, dtype) with an aspect of "
                             f"{ASPECTS} and a floating dtype, not {key!r}")
        if not isinstance(tolerance, Tolerance) or tolerance.reason == Tolerance.reason:
            raise ValueError(f"{operation}: the override for {key!r} must be a Tolerance that gives its reason")
    known = _DECLARED.get(operation)
    if known is not None and known != overrides:
        raise ValueError(f"{operation} is declared twice, with different tolerances")
    _DECLARED[operation] = overrides


def overrides() -> dict[tuple[str, str, torch.dtype], Tolerance]:
    """Every declared override, keyed (operation, aspect, dtype): the table's exceptions, with their reasons."""
    return {(op, aspect, dtype): t for op, table in _DECLARED.items() for (aspect, dtype), t in table.items()}


def tolerance_for(operation: str, dtype: torch.dtype) -> Tolerance:
    """Return the tolerance for ``operation`` on ``dtype``: its override, else the table's.

    ``operation`` is a declared operation's name, with ``.grad`` for its gradients.
    A name that no spec declared is an error rather than a silent default.
    """
    name, aspect = (operation[:-5], "grad") if operation.endswith(".grad") else (operation, "output")
    if name not in _DECLARED:
        raise KeyError(f"no spec declares the operation {name!r}: declare it (autograder.core.spec) "
                       "before comparing its results")
    override = _DECLARED[name].get((aspect, dtype))
    if override is not None:
        return override
    try:
        return BY_DTYPE[dtype]
    except KeyError:
        # Integer and boolean results must match exactly.
        return Tolerance(rtol=0.0, atol=0.0, reason="exact for non-floating dtypes")
