"""The mistakes students make in ``EarlyStopping``, each planted in the reference, and the curves that catch them."""

from __future__ import annotations

import math

from ..core.mistakes import Catch, Convention, Mistake, catch, plant
from .reference import EarlyStopping

# --- its mistakes ---

# Keras' EarlyStopping and Lightning's stop when the count reaches patience; the exercise stops when it
# exceeds it, as PyTorch's ReduceLROnPlateau acts. Both are fair readings of "patience": the docstring of
# the notebook says which one the exercise uses, and so does this message.
STOPS_EARLY = Convention(
    "early_stopping.stops_early",
    "training stops when the count of steps without improvement reaches patience (count >= patience), so "
    "patience=2 stops at the 2nd such step. This exercise counts patience as PyTorch's ReduceLROnPlateau "
    "does: patience=2 tolerates 2 steps without improvement and stops at the 3rd, when the count exceeds "
    "patience (count > patience).",
    library="Keras and Lightning",
)
STOPS_LATE = Mistake(
    "early_stopping.stops_late",
    "training stops one step too late: stop as soon as the count of steps without improvement exceeds "
    "patience (count > patience).",
)
NO_RESET = Mistake(
    "early_stopping.no_reset", "the count of steps without improvement is not reset to 0 when the metric improves."
)
TIES_IMPROVE = Mistake(
    "early_stopping.ties_improve",
    "a metric equal to the best (or better by exactly min_delta) counts as an improvement. An improvement "
    "must be strictly better than best_score by more than min_delta.",
)
MIN_DELTA_IGNORED = Mistake(
    "early_stopping.min_delta_ignored",
    "min_delta is ignored. In mode \"min\" a step improves only when metric < best_score - min_delta (in mode "
    "\"max\": metric > best_score + min_delta).",
)
MIN_DELTA_SIGN = Mistake(
    "early_stopping.min_delta_sign",
    "min_delta is applied in the wrong direction for this mode. In mode \"min\" a step improves when "
    "metric < best_score - min_delta; in mode \"max\" when metric > best_score + min_delta.",
)
MODE_IGNORED = Mistake(
    "early_stopping.mode_ignored",
    "mode is ignored. With mode=\"max\" a larger metric is better (an accuracy); with mode=\"min\" a smaller "
    "one (a loss).",
)
NAN_IMPROVES = Mistake(
    "early_stopping.nan_improves",
    "NaN is treated as an improvement (or becomes the best score). NaN never improves: every comparison with "
    "NaN is False, so test `metric < best_score - min_delta`, not `not metric >= ...`, and do not take a NaN "
    "first value as the best.",
)
NAN_SKIPPED = Mistake(
    "early_stopping.nan_skipped",
    "a NaN metric is skipped. NaN is a step without improvement: it adds 1 to the count, like any other step "
    "that does not improve.",
)
# The class of the widely copied early-stopping-pytorch repository: `score < best_score + delta` counts a
# step without improvement, and anything else (a tie, a NaN) improves.
COPIED_CLASS = Convention(
    "early_stopping.copied_class",
    "a step counts as without improvement only when `score < best_score + delta`, and every other step "
    "improves: a metric equal to the best improves, and so does NaN (every comparison with NaN is False), "
    "which then becomes the best score, so that nothing after it can fail to improve. This exercise "
    "improves only on a metric strictly better than best_score by more than min_delta, and never on NaN: "
    "test `metric < best_score - min_delta` in mode \"min\".",
    library="early-stopping-pytorch",
)
COMPARED_WITH_PREVIOUS = Mistake(
    "early_stopping.compared_with_previous",
    "each metric is compared with the previous epoch's instead of with the best so far.",
)
BEST_STARTS_AT_ZERO = Mistake(
    "early_stopping.best_starts_at_zero",
    "best_score starts at 0, so in mode \"min\" no positive loss ever improves on it. Start with "
    "best_score = None and take the first metric that is not NaN as the best.",
)
EPOCHS_FROM_ONE = Mistake(
    "early_stopping.epochs_from_one",
    "best_epoch counts the epochs from 1. The calls of step count them from 0: the first call is epoch 0.",
)
RESTORES_LAST = Mistake(
    "early_stopping.restores_last",
    "restore loads the weights of the last step, not those of the best one. Save "
    "copy.deepcopy(model.state_dict()) only when the metric improves, and load that copy.",
)
SHARED_STATE = Mistake(
    "early_stopping.shared_state",
    "the saved state shares memory with the model (best = model.state_dict() without a copy), so training "
    "after the best epoch overwrote it. Save copy.deepcopy(model.state_dict()).",
)
BAD_MODE = Mistake("early_stopping.bad_mode", "any mode other than \"min\" or \"max\" must raise ValueError.")

NAN = math.nan
# The curves of the notebook's visible test cells that catch each mistake.
PATIENCE_2 = ([1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9, 0.6], dict(patience=2))
RESET = ([1.0, 1.1, 0.9, 1.0, 0.95, 0.8, 0.85, 0.9, 0.95, 0.5], dict(patience=2))
TIES = ([2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0], dict(patience=2))
MIN_DELTA = ([1.0, 0.9375, 0.875, 0.5], dict(patience=1, min_delta=0.125))
MAX_MODE = ([0.5, 0.625, 0.75, 0.6875, 0.625, 0.5625], dict(patience=1, mode="max"))
NANS = ([NAN, 1.0, 0.5, NAN, NAN, 0.25], dict(patience=1))
RESTORE = ([1.0, 0.5, 0.75, 0.875, 0.9375], dict(patience=2, restore=True))


def on(curve) -> Catch:
    """The call of ``check_early_stopping`` on ``curve`` (metrics, options), as a test cell makes it."""
    metrics, options = curve
    return catch("check_early_stopping", metrics, **options)


MISTAKES = (
    plant(EarlyStopping, STOPS_EARLY, on(PATIENCE_2), count="reaches"),
    plant(EarlyStopping, STOPS_LATE, on(PATIENCE_2), count="one_late"),
    plant(EarlyStopping, NO_RESET, on(RESET), count="not_reset"),
    plant(EarlyStopping, TIES_IMPROVE, on(TIES), compare="ties"),
    plant(EarlyStopping, MIN_DELTA_IGNORED, on(MIN_DELTA), compare="no_min_delta"),
    plant(EarlyStopping, MIN_DELTA_SIGN, on(MIN_DELTA), compare="min_delta_flipped"),
    plant(EarlyStopping, MODE_IGNORED, on(MAX_MODE), modes="ignored"),
    plant(EarlyStopping, NAN_IMPROVES, on(NANS), nan="improves"),
    # Compared with the previous metric, a first NaN taken as the best is forgotten at the next step: on the
    # curves the two undo each other, and the pair cannot be told from a correct class.
    plant(EarlyStopping, NAN_IMPROVES, on(NANS), nan="first_best").excluding("early_stopping.compared_with_previous"),
    plant(EarlyStopping, NAN_SKIPPED, on(NANS), nan="skipped"),
    plant(EarlyStopping, COPIED_CLASS, on(TIES), on(NANS), compare="ties", nan="improves"),
    plant(EarlyStopping, COMPARED_WITH_PREVIOUS, on(PATIENCE_2), compare="previous"),
    plant(EarlyStopping, BEST_STARTS_AT_ZERO, on(PATIENCE_2), best="zero_first"),
    plant(EarlyStopping, EPOCHS_FROM_ONE, on(PATIENCE_2), best="epochs_from_one"),
    plant(EarlyStopping, RESTORES_LAST, on(RESTORE), save="every_step"),
    plant(EarlyStopping, SHARED_STATE, on(RESTORE), save="no_copy"),
    plant(EarlyStopping, BAD_MODE, catch("check_early_stopping_rejects_mode", "mean"), modes="any"),
)

# Curves on which every planted mistake behaves differently from every other
# one: a student's class is named after a mistake only if it behaves like it on
# all of them, and on the curve that failed.
PROBES = (
    PATIENCE_2, RESET, TIES,
    ([1.0, 0.9375, 0.875, 0.9375, 0.875, 0.5], dict(patience=1, min_delta=0.125)),
    ([0.5, 0.5625, 0.625, 0.5625, 0.625, 0.75], dict(patience=1, mode="max", min_delta=0.125)),
    MAX_MODE,
    ([NAN, 1.0, 0.5, NAN, NAN, 0.25, NAN, NAN, NAN], dict(patience=1)),
    ([1.0, 0.5, 0.75, 0.625, 0.5625, 0.53125], dict(patience=2)),
    ([1.0, 0.5, 0.75, 0.875, 0.25], dict(patience=1)),
)
