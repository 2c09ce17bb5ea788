"""Checks for the L1 and L2 weight penalties of the regularization exercise.

PyTorch has no function for these penalties, so the contract is the course's:

* ``l1_penalty(parameters)`` returns Σ|w| and ``l2_penalty(parameters)`` returns
  Σw², summed over every element of every tensor in ``parameters``; no λ and no
  factor 1/2 (the caller multiplies by λ).
* ``parameters`` is any iterable of tensors, a generator such as
  ``model.parameters()`` included; every tensor it yields is penalized, biases
  too, so a caller who wants only the weights passes only the weights.
* The result is a 0-dimensional tensor on the parameters' device, differentiable
  with respect to every parameter; an empty iterable gives ``torch.tensor(0.0)``.

The reference is ``penalty`` (``_common.py``); its keywords plant the known
mistakes, those of each kind in its spec (``l1.py``, ``l2.py``). The checks
(``checks.py``) hand the student's function a generator, never a list, so that
iterating over it twice is caught.
"""


from ..core import integrity
from ._common import (
    EMPTY, FIRST_ONLY, ITERATED_TWICE, KINDS, MEAN, TENSOR_NORMS, WEIGHTS_ONLY, make_parameters, penalty,
)
from .checks import check_penalty, check_penalty_of_model, check_penalty_of_nothing
from .l1 import L1_PENALTY, SQUARES_IN_L1
from .l2 import ABS_IN_L2, HALF_IN_L2, L2_PENALTY, NORM_IN_L2

SPECS = (L1_PENALTY, L2_PENALTY)
MISTAKES_BY_KIND = {"l1": L1_PENALTY.planted, "l2": L2_PENALTY.planted}
MISTAKES = MISTAKES_BY_KIND["l1"] + MISTAKES_BY_KIND["l2"]

__all__ = [
    "check_penalty", "check_penalty_of_model", "check_penalty_of_nothing", "penalty", "make_parameters", "KINDS",
    "MISTAKES", "MISTAKES_BY_KIND", "SPECS", "ABS_IN_L2", "EMPTY", "FIRST_ONLY", "HALF_IN_L2", "ITERATED_TWICE",
    "MEAN", "NORM_IN_L2", "SQUARES_IN_L1", "TENSOR_NORMS", "WEIGHTS_ONLY",
]

# Trust this package and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
