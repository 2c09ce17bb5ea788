"""Compare one tensor a student produced with the one the reference produced.

Each check returns ``None`` when the values agree and otherwise a sentence a
student can act on: what was compared, where, and by how much it is off.
"""

from __future__ import annotations

import numpy as np
import torch

from .tolerances import Tolerance


def describe_wrong_type(what: str, value: object, expected: torch.Tensor) -> str | None:
    """Say what is wrong with a value that is not a tensor like ``expected``."""
    if value is None:
        return f"{what} is None: did you forget a `return` statement?"
    if isinstance(value, np.ndarray):
        return (
            f"{what} is a NumPy array; return a torch.Tensor instead, computed "
            "with torch operations so that gradients and devices keep working."
        )
    if not isinstance(value, torch.Tensor):
        return f"{what} is a {type(value).__name__}, expected a torch.Tensor."
    if value.shape != expected.shape:
        return (
            f"{what} has shape {tuple(value.shape)}, expected {tuple(expected.shape)}."
        )
    if value.dtype != expected.dtype:
        return (
            f"{what} has dtype {value.dtype}, expected {expected.dtype} "
            "(the dtype of the input): avoid creating tensors with a fixed dtype."
        )
    if value.device.type != expected.device.type:
        return (
            f"{what} is on {value.device.type}, expected {expected.device.type} "
            "(the device of the input): create new tensors with device=input.device."
        )
    return None


def describe_difference(
    what: str, actual: torch.Tensor, expected: torch.Tensor, tol: Tolerance
) -> str | None:
    """Say where and by how much ``actual`` differs from ``expected`` beyond ``tol``.

    Both tensors must already have the same shape, dtype and device.
    """
    actual64 = actual.detach().to("cpu", torch.float64)
    expected64 = expected.detach().to("cpu", torch.float64)
    nan_actual, nan_expected = torch.isnan(actual64), torch.isnan(expected64)
    if bool((nan_actual & ~nan_expected).any()):
        count = int((nan_actual & ~nan_expected).sum())
        where = _index(torch.nonzero(nan_actual & ~nan_expected)[0])
        return (
            f"{what} has {count} NaN value(s) where the reference has numbers, "
            f"the first at index {where}: look for a division by zero or the "
            "square root of a negative number."
        )
    if bool((nan_expected & ~nan_actual).any()):
        return f"{what} has numbers where the reference has NaN."
    # Equal infinities (and equal values) are matches, as in assert_close.
    same = (actual64 == expected64) | (nan_actual & nan_expected)
    diff = torch.where(same, 0.0, (actual64 - expected64).abs())
    allowed = tol.atol + tol.rtol * expected64.abs()
    bad = diff > allowed
    if not bool(bad.any()):
        return None
    flat = diff.flatten()
    worst = int(torch.argmax(flat))
    relative = diff / expected64.abs().clamp_min(torch.finfo(torch.float64).tiny)
    worst_rel = int(torch.argmax(torch.where(same, 0.0, relative).flatten()))
    index = _index(torch.tensor(np.unravel_index(worst, tuple(diff.shape))) if diff.dim() else torch.tensor([]))
    index_rel = _index(torch.tensor(np.unravel_index(worst_rel, tuple(diff.shape))) if diff.dim() else torch.tensor([]))
    return (
        f"{what} differs from the reference in {int(bad.sum())} of {diff.numel()} "
        f"elements. Greatest absolute difference: {flat[worst].item():.3g} at index "
        f"{index} (got {actual64.flatten()[worst].item():.6g}, expected "
        f"{expected64.flatten()[worst].item():.6g}); greatest relative difference: "
        f"{relative.flatten()[worst_rel].item():.3g} at index {index_rel}. "
        f"Allowed: atol={tol.atol:g} + rtol={tol.rtol:g} * |expected|."
    )


def _index(idx: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in idx)
