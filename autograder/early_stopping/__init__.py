"""Checks for the early-stopping exercise.

PyTorch has no early stopping, so the contract is the course's, and
``EarlyStopping`` (``reference.py``) is its reference:

* ``EarlyStopping(patience=5, min_delta=0.0, mode="min")``; ``mode`` is
  ``"min"`` for a metric to decrease (a loss) and ``"max"`` for one to increase
  (an accuracy); any other mode raises ``ValueError``.
* ``step(metric, model)`` is called once per epoch and returns a bool: True
  when training should stop. The epochs are counted from 0 by the calls.
* A step *improves* when the metric is not NaN and either it is the first
  such metric, or it beats the best so far by more than ``min_delta``:
  ``metric < best_score - min_delta`` in mode "min",
  ``metric > best_score + min_delta`` in mode "max". A tie does not improve,
  nor does NaN.
* An improving step records ``best_score`` (the metric, a float),
  ``best_epoch`` (its epoch) and a deep copy of ``model.state_dict()``, resets
  the count of steps without improvement to 0 and returns False. Any other step
  adds 1 to that count and returns True when the count exceeds ``patience``:
  ``patience`` steps in a row without improvement are tolerated, the next one
  stops. (The same convention as ``torch.optim.lr_scheduler.ReduceLROnPlateau``.)
* Before the first improvement ``best_score`` and ``best_epoch`` are None.
* ``restore(model)`` loads the saved copy into ``model``. ``step`` never
  changes the model.

The checks feed a scripted validation curve (a list of numbers) to the
student's class and to the reference, with a small ``nn.Linear`` whose weights
are set to a value that identifies the epoch before each step (in place, as an
optimizer does), so that the restored weights tell which epoch was saved.
The known mistakes are planted in the reference through its keywords
(``mistakes.py``); a student's class is named after a mistake when it behaves
like the planted one on the failing curve and on every probe curve
(``checks.py``).
"""

from ..core import integrity
from .checks import check_early_stopping, check_early_stopping_rejects_mode
from .mistakes import (
    BAD_MODE, BEST_STARTS_AT_ZERO, COMPARED_WITH_PREVIOUS, EPOCHS_FROM_ONE, MIN_DELTA_IGNORED, MIN_DELTA_SIGN,
    MISTAKES, MODE_IGNORED, NAN_IMPROVES, NAN_SKIPPED, NO_RESET, RESTORES_LAST, SHARED_STATE, STOPS_EARLY, STOPS_LATE,
    TIES_IMPROVE,
)
from .reference import EarlyStopping
from .spec import SPEC

SPECS = (SPEC,)

__all__ = [
    "check_early_stopping", "check_early_stopping_rejects_mode", "EarlyStopping", "MISTAKES", "SPECS",
    "BAD_MODE", "BEST_STARTS_AT_ZERO", "COMPARED_WITH_PREVIOUS", "EPOCHS_FROM_ONE", "MIN_DELTA_IGNORED",
    "MIN_DELTA_SIGN", "MODE_IGNORED", "NAN_IMPROVES", "NAN_SKIPPED", "NO_RESET", "RESTORES_LAST", "SHARED_STATE",
    "STOPS_EARLY", "STOPS_LATE", "TIES_IMPROVE",
]

# Trust this package and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
