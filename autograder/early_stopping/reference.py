"""The reference ``EarlyStopping``, with keywords that plant the known mistakes."""

from __future__ import annotations

import copy
import math

# --- the planted implementation ---

# Each keyword of the reference and its values; the first is the contract's, every
# other one plants a known mistake.
SWITCHES = {
    # How the steps without improvement are counted, and when they stop training.
    "count": ("exceeds", "reaches", "one_late", "not_reset"),
    # What a metric is compared with, and how.
    "compare": ("best", "ties", "no_min_delta", "min_delta_flipped", "previous"),
    # Which modes are accepted, and what they mean.
    "modes": ("min_max", "ignored", "any"),
    # What a NaN metric does.
    "nan": ("no_improvement", "improves", "first_best", "skipped"),
    # Where best_score starts, and how best_epoch is counted.
    "best": ("none_first", "zero_first", "epochs_from_one"),
    # What restore loads.
    "save": ("best_copy", "every_step", "no_copy"),
}


class EarlyStopping:
    """The reference: stop when the metric has not improved for more than ``patience`` steps.

    See the package's docstring for the contract. Each keyword-only switch
    (``SWITCHES``) other than its first value plants one known mistake, for
    naming a student's.
    """

    def __init__(self, patience=5, min_delta=0.0, mode="min", *, count="exceeds", compare="best",
                 modes="min_max", nan="no_improvement", best="none_first", save="best_copy"):
        self._switches = dict(count=count, compare=compare, modes=modes, nan=nan, best=best, save=save)
        for switch, value in self._switches.items():
            if value not in SWITCHES[switch]:
                raise ValueError(f"{switch} must be one of {SWITCHES[switch]}, got {value!r}")
        if mode not in ("min", "max") and modes != "any":
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.min_delta, self.mode = patience, min_delta, mode
        self.best_score = 0.0 if best == "zero_first" else None
        self.best_epoch = None
        self.bad_steps = 0  # consecutive steps without improvement
        self.epoch = -1
        self.previous = None
        self._best_state = None

    def improves(self, metric: float) -> bool:
        """Whether ``metric`` improves on the best score (or, with a mistake, what the mistake thinks)."""
        compare, nan = self._switches["compare"], self._switches["nan"]
        reference = self.previous if compare == "previous" else self.best_score
        if reference is None and nan == "first_best":
            return True
        if math.isnan(metric):
            return nan == "improves"
        if reference is None or (nan == "improves" and math.isnan(reference)):
            return True
        delta = {"no_min_delta": 0.0, "min_delta_flipped": -self.min_delta}.get(compare, self.min_delta)
        smaller_is_better = self.mode == "min" or self._switches["modes"] == "ignored"
        if compare == "ties":
            return metric <= reference - delta if smaller_is_better else metric >= reference + delta
        return metric < reference - delta if smaller_is_better else metric > reference + delta

    def step(self, metric, model) -> bool:
        count, save = self._switches["count"], self._switches["save"]
        metric = float(metric)
        self.epoch += 1
        if self._switches["nan"] == "skipped" and math.isnan(metric):
            return False
        improved = self.improves(metric)
        self.previous = metric
        if save == "every_step":
            self._best_state = copy.deepcopy(model.state_dict())
        if improved:
            self.best_score = metric
            self.best_epoch = self.epoch + 1 if self._switches["best"] == "epochs_from_one" else self.epoch
            if save == "no_copy":
                self._best_state = model.state_dict()
            elif save == "best_copy":
                self._best_state = copy.deepcopy(model.state_dict())
            if count != "not_reset":
                self.bad_steps = 0
            return False
        self.bad_steps += 1
        if count == "reaches":
            return self.bad_steps >= self.patience
        if count == "one_late":
            return self.bad_steps > self.patience + 1
        return self.bad_steps > self.patience

    def restore(self, model) -> None:
        model.load_state_dict(self._best_state)
