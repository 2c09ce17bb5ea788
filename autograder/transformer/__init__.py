"""Checks for the transformer exercise: the sinusoidal positional encoding and an encoder layer.

The positional encoding (``positional_encoding.py``) follows Vaswani et al.
(2017); PyTorch has no such function, so the reference is the formula, computed
in float64. The encoder layer (``encoder_layer.py``) is compared with
``nn.TransformerEncoderLayer`` (batch_first, ReLU, dropout 0) given the same
parameters, in both forms, Post-LN and Pre-LN. The mistakes students make most
often are planted in re-implementations of both (``_positional_encoding``,
``_encoder_layer``), one keyword value each; a failure message names the one the
student's result matches.
"""

from __future__ import annotations

from ..core import integrity
from ..core.devices import available_devices
from ..core.mistakes import Planted
from .encoder_layer import (
    DROPOUT_IN_EVAL,
    ENCODER_LAYER,
    LAYER_MISTAKES,
    check_transformer_encoder_layer,
    check_transformer_encoder_layer_eval,
    check_transformer_encoder_layer_state_dict,
)
from .positional_encoding import ENCODING_MISTAKES, POSITIONAL_ENCODING, check_sinusoidal_positional_encoding

SPECS = (POSITIONAL_ENCODING, ENCODER_LAYER)

# Every mistake the exercise plants, with the checks that catch it.
MISTAKES: tuple[Planted, ...] = ENCODING_MISTAKES + LAYER_MISTAKES

__all__ = [name for name in dir() if name.startswith("check_")] + ["available_devices"]

# Trust this package and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
