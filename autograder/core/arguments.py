"""Seeded arguments that several exercises' checks share."""

from __future__ import annotations

import torch


def per_channel_tensors(channels, generator, *, running_stats=True, affine=True) -> tuple:
    """Seeded float64 (running_mean, running_var, weight, bias) of ``channels`` values, or None each."""
    running_mean = running_var = weight = bias = None
    if running_stats:
        # Away from (0, 1), so using or updating them matters.
        running_mean = 0.5 * torch.randn(channels, generator=generator, dtype=torch.float64)
        running_var = 0.5 + torch.rand(channels, generator=generator, dtype=torch.float64)
    if affine:
        weight = 1.0 + 0.5 * torch.randn(channels, generator=generator, dtype=torch.float64)
        bias = 0.5 * torch.randn(channels, generator=generator, dtype=torch.float64)
    return running_mean, running_var, weight, bias
