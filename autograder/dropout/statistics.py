"""Dropout's check entries for what is random: the dropped fraction and the mean, on n = 200,000 elements."""

from __future__ import annotations

import torch

from ..core.failure import fail
from ..core.report import Report, entry
from ._common import describe, on_each_device, require_probability, seeded, seeded_student
from .planted import ROW_MASK, SHARED_MASK
from .properties import dropped_fraction, preserved_mean
from .spec import make_input

# --- the check entries ---------------------------------------------------------------------


@entry
def check_dropout_fraction(student, *, shape=(400, 500), p=0.2, seed=0, devices=None) -> Report:
    """Check that a fraction p of the elements is dropped, each independently of the others.

    The dropped fraction of n elements has mean p and standard deviation
    √(p(1-p)/n); it must lie within 6 standard deviations of p.
    """
    require_probability(p, "check_dropout_fraction")
    input = make_input(shape, seed=seed)
    report = Report(describe(shape, torch.float32, p, True) + ", dropped fraction")
    fraction_of = dropped_fraction(p, input.numel())

    def on_device(device):
        where = f"{report.call} on {device}"
        x, output = seeded_student(student, where, input, device, p, seed)
        dropped = output == 0
        # Independent draws: two rows (or two columns) share a mask with a negligible probability,
        # unless p = 0 or 1 drops nothing or everything.
        mixed = 0 < p < 1
        if mixed and shape[0] > 1 and bool((dropped == dropped[:1]).all()):
            fail(where, problems=("every row of the input was dropped at the same positions.",), mistake=SHARED_MASK)
        if mixed and len(shape) > 1 and shape[-1] > 1 and bool((dropped == dropped[..., :1]).all()):
            fail(where, problems=("each row was dropped or kept as a whole; drop each element independently.",),
                 mistake=ROW_MASK)
        fraction = fraction_of.statistic(output)
        if not fraction_of.holds(fraction):
            fraction_of.fail(where, fraction,
                             run=lambda function: fraction_of.statistic(seeded(function, x, p, True, seed)))
        report.notes.append(f"{fraction:.3%} dropped on {device}; allowed {p:.0%} ± {fraction_of.margin:.3%}")

    return on_each_device(student, report, input, p, True, on_device, devices)


@entry
def check_dropout_mean(student, *, shape=(400, 500), p=0.6, seed=0, devices=None) -> Report:
    """Check that dropout preserves the mean: E[output] = input, element by element.

    Each output element is x / (1 - p) with probability 1 - p and 0 otherwise;
    its variance is x² p / (1 - p). The mean of the n outputs must lie within
    6 standard deviations, √(Σ x² p / (1 - p)) / n, of the mean of the inputs.
    """
    # With p = 1 every output is 0: there is no mean to preserve.
    require_probability(p, "check_dropout_mean", one=False)
    input = make_input(shape, seed=seed, positive=True)
    report = Report(describe(shape, torch.float32, p, True) + ", mean")
    mean_of = preserved_mean(input, p)

    def on_device(device):
        where = f"{report.call} on {device}"
        x, output = seeded_student(student, where, input, device, p, seed)
        mean = mean_of.statistic(output)
        if not mean_of.holds(mean):
            mean_of.fail(where, mean, run=lambda function: mean_of.statistic(seeded(function, x, p, True, seed)))
        report.notes.append(f"mean {mean:.5f} on {device}; input's mean {mean_of.expected:.5f} ± {mean_of.margin:.5f}")

    return on_each_device(student, report, input, p, True, on_device, devices)
