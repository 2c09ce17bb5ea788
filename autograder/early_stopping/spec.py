"""The spec of ``EarlyStopping``: a plain class, judged by the scenarios it is run on."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.forbidden import Forbidden
from ..core.mistakes import Planted
from .mistakes import MISTAKES, PROBES
from .reference import EarlyStopping

# --- the spec ---


@dataclass(frozen=True)
class ScenarioSpec:
    """A class a student writes that neither PyTorch nor an ``nn.Module`` gives a reference for.

    The checks drive the student's class and ``reference`` through scenarios (a
    scripted validation curve) and compare what a training loop sees of them.
    ``probes`` are the scenarios on which every planted mistake behaves
    differently from every other one, so that a student's class is named after
    a mistake only if it behaves like it on all of them.
    """

    name: str
    reference: type
    planted: tuple[Planted, ...]
    probes: tuple = ()
    forbidden: Forbidden = field(default_factory=lambda: Forbidden.none)


# Nothing to forbid: PyTorch has no early stopping.
SPEC = ScenarioSpec("EarlyStopping", EarlyStopping, MISTAKES, PROBES)
