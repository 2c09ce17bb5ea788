"""Checks for the dropout exercise.

The student's ``dropout(input, p=0.5, training=True, inplace=False)`` must
behave as ``torch.nn.functional.dropout``. Its output is random, so it cannot
be compared with PyTorch's element by element (the two draw their masks
differently). What is certain is checked exactly:

* every element is either dropped (exactly 0) or kept and multiplied by
  1 / (1 - p), to the precision of the dtype;
* the gradient is the mask times 1 / (1 - p): ``grad_output * (output != 0) / (1 - p)``;
* evaluation mode, p = 0 and p = 1, invalid p, ``inplace``, dtype and device;
* the same ``torch.manual_seed`` gives the same mask, and successive calls differ.

What is random is checked statistically, on n = 200,000 elements: the dropped
fraction must lie within 6 standard deviations of p (binomial, sd = √(p(1-p)/n)),
and the mean of the output within 6 standard deviations of the input's mean.
A correct dropout fails a 6-sigma bound with probability about 2e-9; every
check also fixes the seed, so a verdict is reproducible.

The inputs hold no zeros, so an element of the output is 0 exactly when it was
dropped. The known mistakes are planted in ``planted._dropout``, a
re-implementation with a keyword for each family of mistakes; a check names a
mistake when the student's dropout behaves like the planted one on the same
input and seed.

- ``planted``: the planted implementation and its mistakes;
- ``spec``: the operation (``DROPOUT``), its seeded inputs and its forbidden functions;
- ``properties``: the statistics its output must satisfy, with the mistakes that explain a miss;
- ``exact`` and ``statistics``: the check entries.
"""

from ..core import integrity
from .exact import (check_dropout_eval, check_dropout_gradient, check_dropout_inplace, check_dropout_p_zero_and_one,
                    check_dropout_rejects_p, check_dropout_scale, check_dropout_seed)
from .planted import (ACTIVE_IN_EVAL, CPU_MASK, DETACHED, FIXED_MASK, KEEP_WITH_P, MISTAKES, MODIFIES_INPUT,
                      NAN_WHEN_P_IS_ONE, NO_RESCALE, NORMAL_KEEP_MASK, NORMAL_MASK, NOT_IN_PLACE, NOT_SEEDED,
                      NOT_VALIDATED, ROW_MASK, SCALE_BY_KEEP, SCALE_BY_P, SCALED_IN_EVAL, SHARED_MASK,
                      VALIDATED_ONLY_IN_TRAINING, ZEROES_INPUT_AT_ONE)
from .spec import DROPOUT, make_input
from .statistics import check_dropout_fraction, check_dropout_mean

SPECS = (DROPOUT,)
# The map the tests of forbidden functions read (tests/test_forbidden.py): the spec's own.

__all__ = [
    "ACTIVE_IN_EVAL", "CPU_MASK", "DETACHED", "DROPOUT", "FIXED_MASK", "KEEP_WITH_P", "MISTAKES",
    "MODIFIES_INPUT", "NAN_WHEN_P_IS_ONE", "NORMAL_KEEP_MASK", "NORMAL_MASK", "NOT_IN_PLACE", "NOT_SEEDED",
    "NOT_VALIDATED", "NO_RESCALE", "ROW_MASK", "SCALED_IN_EVAL", "SCALE_BY_KEEP", "SCALE_BY_P", "SHARED_MASK", "SPECS",
    "VALIDATED_ONLY_IN_TRAINING", "ZEROES_INPUT_AT_ONE",
    "check_dropout_eval", "check_dropout_fraction", "check_dropout_gradient", "check_dropout_inplace",
    "check_dropout_mean", "check_dropout_p_zero_and_one", "check_dropout_rejects_p", "check_dropout_scale",
    "check_dropout_seed", "make_input",
]

# Trust this package and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
