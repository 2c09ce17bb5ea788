"""Checks for the BatchNorm backward exercise.

The student writes, from the formulas and without autograd,

    batch_norm_backward(grad_output, input, weight, eps=1e-5)
        -> (grad_input, grad_weight, grad_bias)

the gradients of training-mode batch normalization
``output = weight * (input - mean) / sqrt(var + eps) + bias``, where each
channel (axis 1) is normalized over every other axis with its biased variance.

Each answer is graded two ways:

* against autograd through ``torch.nn.functional.batch_norm``, on every device,
  in float32 and float64 (``check_batch_norm_backward``); the reference is
  computed in float64 and rounded to the dtype under test, so a float32
  answer is compared with the exact gradients;
* against central-difference gradients of the forward pass, in float64 on the
  CPU, with the relative error of ``gradient_check`` in the message
  (``check_batch_norm_backward_numeric``). This one needs no autograd at all.

Both checks name the planted mistake (``MISTAKES``) a wrong answer matches,
each comparing the planted answers as it compares the student's: within the
dtype's tolerance of the exact gradients, or by the relative error against
central differences.

The package: ``planted`` holds the backward pass from the formulas and the
mistakes planted in it, ``numeric`` the central-difference comparison, and
``checks`` the spec and the check entries.
"""

from __future__ import annotations

from ..core import integrity
from .checks import BATCH_NORM_BACKWARD, check_batch_norm_backward, check_batch_norm_backward_numeric
from .planted import MISTAKES

SPECS = (BATCH_NORM_BACKWARD,)

__all__ = ["BATCH_NORM_BACKWARD", "MISTAKES", "SPECS", "check_batch_norm_backward",
           "check_batch_norm_backward_numeric"]

# Trust this package and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
