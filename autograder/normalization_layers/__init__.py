"""Checks for the exercise on layer, group, instance and RMS normalization.

Each reference is the ``torch.nn.functional`` function itself. All four
normalizations compute ``(x - mean) / sqrt(var + eps)`` (RMSNorm: ``x / sqrt(mean(x²) + eps)``)
and differ only in the axes the statistics are taken over:

* ``layer_norm``: the trailing ``normalized_shape`` axes of each sample;
* ``group_norm``: each group of ``C // num_groups`` contiguous channels of each sample,
  with all their positions;
* ``instance_norm``: each channel of each sample, over its positions;
* ``rms_norm``: as ``layer_norm``, without subtracting the mean.

Each function has its own spec, in the module of its name; what they share
(the standardization, its mistakes, the forbidden functions) is in ``_common``.
The mistakes students make most often are planted in re-implementations of
the four functions, each switched on by a keyword; when a student's results
match one of them, the failure message names it.
"""

from __future__ import annotations

from ..core import integrity
from ..core.mistakes import Planted
from ._common import DROPPED_KEEPDIM, FORBIDDEN, NOT_CENTRED, STD_PLUS_EPS
from .group_norm import (
    GROUP_NORM, check_group_norm, check_group_norm_rejects_indivisible_channels, make_group_norm_arguments,
)
from .instance_norm import (
    INSTANCE_NORM, check_instance_norm, check_instance_norm_rejects_single_position, make_instance_norm_arguments,
)
from .layer_norm import LAYER_NORM, check_layer_norm, make_layer_norm_arguments
from .rms_norm import RMS_DEFAULT_EPS, RMS_FORMULA, RMS_NORM, check_rms_norm, make_rms_norm_arguments

SPECS = (LAYER_NORM, GROUP_NORM, INSTANCE_NORM, RMS_NORM)
MISTAKES: tuple[Planted, ...] = tuple(planted for spec in SPECS for planted in spec.planted)

__all__ = [
    "check_layer_norm", "check_group_norm", "check_group_norm_rejects_indivisible_channels", "check_instance_norm",
    "check_instance_norm_rejects_single_position", "check_rms_norm", "MISTAKES", "SPECS", "FORBIDDEN",
    "LAYER_NORM", "GROUP_NORM", "INSTANCE_NORM", "RMS_NORM", "make_layer_norm_arguments",
    "make_group_norm_arguments", "make_instance_norm_arguments", "make_rms_norm_arguments",
    "NOT_CENTRED", "STD_PLUS_EPS", "DROPPED_KEEPDIM", "RMS_DEFAULT_EPS", "RMS_FORMULA",
]

# Trust this package and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
