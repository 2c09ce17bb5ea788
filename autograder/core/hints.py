"""Generic clues for a wrong result that matches no declared mistake.

When a student's output differs from the reference and no planted mistake
explains it, the shape of the difference often still points at the bug: a
result off by a constant factor or offset, a sign flip, a transposed result,
or one that is right along one axis and wrong along another. ``hint`` returns
the most specific such clue, in words, or None.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# A difference below this share of the output's scale comes from a small constant or from rounding.
_SMALL = 1e-2

# Factors a student meets in this course, with the expression they come from.
_NAMED_FACTORS = {
    math.sqrt(2): "√2", 1 / math.sqrt(2): "1/√2", 2.0: "2", 0.5: "1/2",
}


def _as_float64(value) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float64)
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
        return torch.from_numpy(np.asarray(value, dtype=np.float64))
    return None


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=1e-4, atol=1e-6, equal_nan=False))


def _factor_words(factor: float) -> str:
    for value, name in _NAMED_FACTORS.items():
        if math.isclose(factor, value, rel_tol=1e-3) and name != f"{factor:.3g}":
            return f"{factor:.3g} ≈ {name}"
    return f"{factor:.3g}"


def hint(actual, expected) -> str | None:
    """The most specific clue to how ``actual`` relates to ``expected``, or None."""
    got, want = _as_float64(actual), _as_float64(expected)
    if got is None or want is None or got.shape != want.shape or got.numel() < 2:
        return None
    if not (bool(torch.isfinite(got).all()) and bool(torch.isfinite(want).all())):
        return None
    if _close(got, want):
        return None  # within a clue's resolution: no shape of a difference to describe (a right part of a tuple)
    if _close(got, torch.zeros_like(got)):
        # Every factor is 0 then: name what the student sees instead.
        return "the output is all zeros."
    if _close(got, -want):
        return "the output has the opposite sign of the expected one everywhere."
    scale = want.abs().max().item()
    if scale > 0:
        nonzero = want.abs() > 1e-3 * scale
        if bool(nonzero.any()):
            ratios = got[nonzero] / want[nonzero]
            factor = ratios.median().item()
            if not math.isclose(factor, 1.0, rel_tol=1e-4) and _close(got, factor * want):
                return f"the output is off by a constant factor of {_factor_words(factor)}."
    offset = (got - want).median().item()
    if abs(offset) > 1e-6 and _close(got, want + offset):
        return f"the output is off by a constant {offset:.3g}: something is added or left out everywhere."
    if got.dim() >= 2 and got.shape[-1] == got.shape[-2] and _close(got, want.transpose(-2, -1)):
        return "the output is the transpose of the expected one: check the order of the last two axes."
    if scale > 0 and (got - want).abs().max().item() < _SMALL * scale:
        # Slices that look right are then only those where a small error stays under the tolerance:
        # saying that some slices are right would point at the axes, when the cause is a constant.
        return (f"the output is within {_SMALL:.0%} of the expected one everywhere: look for a small constant "
                "in the wrong place (where eps is added) or a loss of precision (a computation in float32), "
                "not for a reduction over the wrong axes.")
    return _axis_hint(got, want)


def output_hint(actual, expected, outputs=None) -> str | None:
    """``hint`` for a return value, or for the first of a tuple's named ``outputs`` that has one."""
    if not outputs:
        return hint(actual, expected)
    if not isinstance(actual, (tuple, list)) or len(actual) != len(outputs):
        return None
    for name, got, want in zip(outputs, actual, expected):
        clue = hint(got, want)
        if clue:
            return clue.replace("the output", name, 1)
    return None


def _axis_hint(got: torch.Tensor, want: torch.Tensor) -> str | None:
    """Say along which axes the result is right, when it is right for some slices and not others."""
    if got.dim() < 2:
        return None
    for axis in range(got.dim()):
        # Slices along `axis`: index i of that axis, all the other axes.
        right = [_close(got.select(axis, i), want.select(axis, i)) for i in range(got.shape[axis])]
        if any(right) and not all(right):
            good = [i for i, ok in enumerate(right) if ok]
            return (
                f"the output is right for index {_indices(good)} of axis {axis} and wrong for the others: "
                f"look at what differs between those slices (a reduction over the wrong axes, or a mask)."
            )
    return None


def _indices(indices: list[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:6])
    return shown + (", ..." if len(indices) > 6 else "")
