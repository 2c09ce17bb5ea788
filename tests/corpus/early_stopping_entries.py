"""Corpus: early-stopping classes in the styles real code uses (Keras-style callbacks, the widely copied class)."""

from corpus.harness import Entry

ENTRIES = [
    Entry(
        name="early_stopping_keras_wait",
        assignment="regularization",
        function="EarlyStopping",
        style="Keras-style callback",
        source='''
import copy

class EarlyStopping:
    def __init__(self, patience=5, min_delta=0.0, mode="min"):
        if mode not in ("min", "max"):
            raise ValueError(mode)
        self.patience, self.min_delta, self.mode = patience, min_delta, mode
        self.wait, self.epoch = 0, -1
        self.best_score = self.best_epoch = self.best_weights = None

    def _better(self, current):
        if math.isnan(current):
            return False
        if self.best_score is None:
            return True
        if self.mode == "min":
            return current < self.best_score - self.min_delta
        return current > self.best_score + self.min_delta

    def step(self, metric, model):          # on_epoch_end
        self.epoch += 1
        current = float(metric)
        if self._better(current):
            self.best_score, self.best_epoch, self.wait = current, self.epoch, 0
            self.best_weights = copy.deepcopy(model.state_dict())
            return False
        self.wait += 1
        return self.wait >= self.patience   # Keras: stop when wait reaches patience

    def restore(self, model):
        model.load_state_dict(self.best_weights)
''',
        mistakes=("early_stopping.stops_early",),
    ),
    Entry(
        name="early_stopping_copied_class",
        assignment="regularization",
        function="EarlyStopping",
        style="the widely copied early-stopping class",
        source='''
import copy

class EarlyStopping:
    def __init__(self, patience=5, min_delta=0.0, mode="min"):
        if mode not in ("min", "max"):
            raise ValueError(mode)
        self.patience, self.delta, self.sign = patience, min_delta, -1.0 if mode == "min" else 1.0
        self.counter, self.epoch = 0, -1
        self.best_score = self.best_epoch = self.saved = None

    def step(self, metric, model):
        self.epoch += 1
        score = self.sign * float(metric)
        if self.best_score is not None and score < self.sign * self.best_score + self.delta:
            self.counter += 1
            return self.counter >= self.patience
        self.best_score, self.best_epoch, self.counter = float(metric), self.epoch, 0
        self.saved = copy.deepcopy(model.state_dict())
        return False

    def restore(self, model):
        model.load_state_dict(self.saved)
''',
        mistakes=("early_stopping.stops_early", "early_stopping.ties_improve", "early_stopping.nan_improves",
                  "early_stopping.copied_class"),
    ),
    Entry(
        name="early_stopping_operator_table",
        assignment="regularization",
        function="EarlyStopping",
        style="Lightning-style monitor operator",
        source='''
import copy
import operator

class EarlyStopping:
    MONITOR = {"min": operator.lt, "max": operator.gt}

    def __init__(self, patience=5, min_delta=0.0, mode="min"):
        if mode not in self.MONITOR:
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.mode = patience, mode
        self.min_delta = min_delta if mode == "max" else -min_delta
        self.monitor_op = self.MONITOR[mode]
        self.wait_count, self.epoch = 0, -1
        self.best_score = self.best_epoch = self._state = None

    def step(self, metric, model):
        self.epoch += 1
        current = float(metric)
        improved = not math.isnan(current) and (
            self.best_score is None or self.monitor_op(current, self.best_score + self.min_delta))
        if improved:
            self.best_score, self.best_epoch, self.wait_count = current, self.epoch, 0
            self._state = copy.deepcopy(model.state_dict())
            return False
        self.wait_count += 1
        return self.wait_count > self.patience

    def restore(self, model):
        model.load_state_dict(self._state)
''',
        mistakes=(),
    ),
]
