"""Numeric gradients by central differences, and the relative error used to compare them.

A hand-written backward pass can be checked without autograd: nudge one input
element by ``+h`` and ``-h``, run the forward pass twice, and the change of the
output gives that element's gradient. Doing this for every element costs two
forward passes per element, so it is only for small tensors, and only in
float64: in float32 the rounding error of the forward pass, divided by ``2h``,
swamps the estimate.

``relative_error`` is the measure of the Stanford CS231n course notes: the
greatest elementwise ``|a - b| / (|a| + |b|)``. It does not depend on the scale
of the gradient, so one threshold serves every layer. In float64, with
``h=1e-6``, a correct smooth gradient usually gives below 1e-7, and a wrong one
gives 1e-2 or more.
"""

from __future__ import annotations

from typing import Callable

import torch

TINY = torch.finfo(torch.float64).tiny  # floor of the denominator: 0 / 0 counts as no error


def numeric_gradient(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    grad_output: torch.Tensor,
    h: float = 1e-6,
) -> torch.Tensor:
    """Central-difference estimate of the gradient of ``sum(grad_output * f(x))`` with respect to ``x``.

    This is the vector-Jacobian product that a backward pass computes: for
    each element ``x[i]``,
    ``grad[i] = sum(grad_output * (f(x + h e_i) - f(x - h e_i))) / (2 h)``,
    where ``e_i`` is 1 at ``i`` and 0 elsewhere. ``f`` takes a tensor shaped
    like ``x`` and returns a tensor shaped like ``grad_output``. ``x`` is not
    modified: ``f`` gets a fresh perturbed copy each time, so it may keep or
    return its argument. The result has the shape, dtype and device of ``x``.
    Use float64: the estimate's rounding error is about 1e-16 / h times the
    size of ``f(x)``.
    """
    base = x.detach().clone(memory_format=torch.contiguous_format)
    grad = torch.zeros_like(base)
    flat_grad = grad.view(-1)
    with torch.no_grad():
        for i in range(base.numel()):
            plus, minus = base.clone(), base.clone()
            plus.view(-1)[i] += h
            minus.view(-1)[i] -= h
            # Difference the outputs first, then weight them: their large
            # common part cancels exactly instead of rounding twice.
            change = f(plus) - f(minus)
            flat_grad[i] = (change * grad_output).sum() / (2 * h)
    return grad


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """The greatest elementwise ``|a - b| / max(|a| + |b|, tiny)``, computed in float64.

    Elements that are 0 in both count as equal. ``a`` and ``b`` must have the
    same shape; an empty pair gives 0. A NaN or an infinity in either gives NaN,
    so that ``relative_error(a, b) <= threshold`` is false for them.
    """
    if a.shape != b.shape:
        raise ValueError(f"relative_error needs equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
    a64 = a.detach().to("cpu", torch.float64)
    b64 = b.detach().to("cpu", torch.float64)
    if a64.numel() == 0:
        return 0.0
    if not (bool(torch.isfinite(a64).all()) and bool(torch.isfinite(b64).all())):
        return float("nan")
    errors = (a64 - b64).abs() / (a64.abs() + b64.abs()).clamp_min(TINY)
    return float(errors.max())
