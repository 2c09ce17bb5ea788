"""Checks for the exercise on folding batch normalization into a convolution.

The student writes ``fuse_conv_bn_eval(conv, bn)``: given a convolution and the
evaluation-mode BatchNorm after it, a new convolution that computes both, as
``torch.nn.utils.fusion.fuse_conv_bn_eval`` does. ``planted`` holds the fusion
and the mistakes planted in it, ``checks`` the spec and the check entries.
"""

from __future__ import annotations

from ..core import integrity
from .checks import FUSE_CONV_BN_EVAL, check_fuse_conv_bn_eval, check_fuse_conv_bn_eval_rejects_training, layers
from .planted import MISTAKES

SPECS = (FUSE_CONV_BN_EVAL,)

__all__ = ["FUSE_CONV_BN_EVAL", "MISTAKES", "SPECS", "check_fuse_conv_bn_eval",
           "check_fuse_conv_bn_eval_rejects_training", "layers"]

# Trust this package and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
