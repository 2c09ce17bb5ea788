"""The regularization checks: correct implementations pass, each known mistake is caught and named."""

import copy
import math

import numpy as np
import pytest
import torch

from autograder import dropout as dropout_checks
from autograder import early_stopping as stopping_checks
from autograder import penalties as penalty_checks
from autograder.core.devices import SIMULATED_CUDA
from autograder.core.failure import CheckFailed, named_mistake, named_mistakes
from autograder.core.mistakes import Convention

# The checks run on the CPU and on a simulated GPU, whatever the machine has,
# so that these tests give the same verdicts everywhere.
DEVICES = ["cpu", SIMULATED_CUDA]
NAN = math.nan


def failure(check, *args, **kwargs) -> str:
    with pytest.raises(CheckFailed) as raised:
        check(*args, **kwargs)
    return str(raised.value)


def not_implemented(*args, **kwargs):
    raise NotImplementedError()


# --- penalties -----------------------------------------------------------------------


def l1_loop(parameters):
    total = torch.tensor(0.0)
    for p in parameters:
        total = total + p.abs().sum()
    return total


def l2_loop(parameters):
    total = torch.tensor(0.0)
    for p in parameters:
        total = total + (p * p).sum()
    return total


def l1_stack(parameters):
    parameters = list(parameters)
    if not parameters:
        return torch.tensor(0.0)
    return torch.stack([p.norm(p=1) for p in parameters]).sum()


def l2_cat(parameters):
    flat = [p.reshape(-1) for p in parameters]
    return torch.cat(flat).pow(2).sum() if flat else torch.tensor(0.0)


CORRECT_PENALTIES = {"l1": [l1_loop, l1_stack], "l2": [l2_loop, l2_cat]}
PENALTY_CASES = [
    dict(),
    dict(gradients=True),
    dict(shapes=((5,),), gradients=True, seed=1),
    dict(shapes=((), (3, 2, 4), (0, 3), (7,)), gradients=True, seed=2),
    dict(shapes=((6, 5), (6,)), zeros=True, gradients=True, seed=3),
    dict(shapes=((9, 4), (9,), (2, 9), (2,)), dtype=torch.float64, gradients=True, seed=4),
]


@pytest.mark.parametrize("kind", ["l1", "l2"])
@pytest.mark.parametrize("case", PENALTY_CASES)
def test_correct_penalties_pass(kind, case):
    for student in CORRECT_PENALTIES[kind]:
        report = penalty_checks.check_penalty(student, kind, devices=DEVICES, **case)
        assert report.devices == DEVICES


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_correct_penalties_pass_on_a_model_and_on_nothing(kind):
    for student in CORRECT_PENALTIES[kind]:
        report = penalty_checks.check_penalty_of_model(student, kind)
        assert report.devices == ["cpu"]
        assert report.call.startswith(f"{kind}_penalty(model.parameters()) for nn.Sequential")
        report = penalty_checks.check_penalty_of_nothing(student, kind)
        assert (report.call, report.devices) == (f"{kind}_penalty([])", ["cpu"])


def test_a_penalty_that_skips_the_biases_is_named():
    def weights_only(parameters):
        return sum((p.abs().sum() for p in parameters if p.dim() > 1), torch.tensor(0.0))

    message = failure(penalty_checks.check_penalty, weights_only, "l1", devices=DEVICES)
    assert named_mistake(message) == penalty_checks.WEIGHTS_ONLY.words


def test_an_l1_penalty_made_of_torch_norms_is_named():
    def norms(parameters):
        return sum((torch.norm(p) for p in parameters), torch.tensor(0.0))

    message = failure(penalty_checks.check_penalty_of_model, norms, "l1")
    assert "Likely mistake: the penalty adds up each tensor's Euclidean norm" in message


@pytest.mark.parametrize(
    "student, how",
    [
        (lambda ps: l1_loop(ps).item(), "it returns a Python float"),
        (lambda ps: float(l1_loop(ps)), "it returns a Python float"),
        (lambda ps: sum(np.abs(p.detach().numpy()).sum() for p in ps), "it returns a NumPy value"),
        (lambda ps: l1_loop(ps).detach(), "the result does not require grad"),
        (lambda ps: torch.tensor(l1_loop(ps).item()), "the result does not require grad"),
    ],
)
def test_a_penalty_cut_off_from_autograd_is_named(student, how):
    message = failure(penalty_checks.check_penalty, student, "l1", gradients=True, devices=DEVICES)
    assert "Likely mistake: the penalty is cut off from autograd" in message
    assert how in message


def test_a_penalty_that_iterates_a_generator_twice_is_named():
    def twice(parameters):
        count = len(list(parameters))  # exhausts a generator
        return sum(p.abs().sum() for p in parameters) + 0 * count

    message = failure(penalty_checks.check_penalty, twice, "l1", devices=DEVICES)
    assert named_mistake(message) == penalty_checks.ITERATED_TWICE.words
    # The same function works on a list: only a generator shows the mistake.
    tensors = list(penalty_checks.make_parameters().values())
    assert twice(tensors) > 0


def test_the_sum_of_nothing_must_be_a_tensor():
    plain_sum = lambda ps: sum(p.abs().sum() for p in ps)  # noqa: E731
    report = penalty_checks.check_penalty(plain_sum, "l1", gradients=True, devices=DEVICES)
    assert report.devices == DEVICES
    message = failure(penalty_checks.check_penalty_of_nothing, plain_sum, "l1")
    assert named_mistake(message) == penalty_checks.EMPTY.words


def test_a_penalty_made_on_the_cpu_for_gpu_tensors_is_caught():
    def on_cpu(parameters):
        return sum((torch.zeros(1) + p.abs().sum() for p in parameters), torch.zeros(1))[0]

    message = failure(penalty_checks.check_penalty, on_cpu, "l1", devices=DEVICES)
    assert "simulated GPU" in message


def forgets_to_add(parameters):
    total = torch.tensor(0.0)
    for p in parameters:
        total + p.abs().sum()  # the sum is computed and thrown away
    return total


@pytest.mark.parametrize("student", [lambda ps: torch.tensor(0.0), forgets_to_add], ids=["stub", "forgets_to_add"])
@pytest.mark.parametrize("check", [
    lambda f: penalty_checks.check_penalty(f, "l1", devices=DEVICES),
    lambda f: penalty_checks.check_penalty_of_model(f, "l1"),
], ids=["check_penalty", "check_penalty_of_model"])
def test_a_zero_penalty_is_not_blamed_on_iterating_twice(student, check):
    # 0 for a list as for a generator: nothing says the generator was exhausted.
    with pytest.raises(CheckFailed) as raised:
        check(student)
    assert named_mistake(str(raised.value)) != penalty_checks.ITERATED_TWICE.words


def test_a_penalty_returning_an_array_of_several_numbers_fails_cleanly():
    several = lambda ps: np.array([p.detach().abs().sum().item() for p in ps])  # noqa: E731
    for check in (lambda: penalty_checks.check_penalty(several, "l1", devices=DEVICES),
                  lambda: penalty_checks.check_penalty_of_model(several, "l1")):
        with pytest.raises(CheckFailed) as raised:
            check()
        assert "it returns a NumPy value" in str(raised.value)


@pytest.mark.parametrize("check", [penalty_checks.check_penalty, penalty_checks.check_penalty_of_model,
                                   penalty_checks.check_penalty_of_nothing])
def test_an_unimplemented_penalty_is_reported_as_such(check):
    assert "not implemented yet" in failure(check, not_implemented, "l2")


# --- dropout ---------------------------------------------------------------------------


def dropout_rand_like(input, p=0.5, training=True, inplace=False):
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training:
        return input
    if p == 1:
        return input.zero_() if inplace else torch.zeros_like(input)
    mask = (torch.rand_like(input) >= p).to(input.dtype)
    if inplace:
        return input.mul_(mask / (1 - p))
    return input * mask / (1 - p)


def dropout_bernoulli(input, p=0.5, training=True, inplace=False):
    if p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return input
    scale = 0.0 if p == 1 else 1 / (1 - p)
    mask = torch.empty_like(input).bernoulli_(1 - p)
    output = torch.where(mask.bool(), input * scale, torch.zeros_like(input))
    return input.copy_(output) if inplace else output


CORRECT_DROPOUTS = [dropout_rand_like, dropout_bernoulli]
DROPOUT_CHECKS = [
    lambda f: dropout_checks.check_dropout_eval(f, devices=DEVICES),
    lambda f: dropout_checks.check_dropout_eval(f, inplace=True, devices=DEVICES),
    lambda f: dropout_checks.check_dropout_scale(f, p=0.3, devices=DEVICES),
    lambda f: dropout_checks.check_dropout_scale(f, shape=(2, 3, 4, 5), p=0.9, dtype=torch.float64, devices=DEVICES),
    lambda f: dropout_checks.check_dropout_scale(f, shape=(1, 1), p=0.25, devices=DEVICES),
    lambda f: dropout_checks.check_dropout_fraction(f, p=0.2, devices=DEVICES),
    lambda f: dropout_checks.check_dropout_mean(f, p=0.6, devices=DEVICES),
    lambda f: dropout_checks.check_dropout_p_zero_and_one(f, devices=DEVICES),
    lambda f: dropout_checks.check_dropout_rejects_p(f, 1.5, devices=DEVICES),
    lambda f: dropout_checks.check_dropout_rejects_p(f, -0.5, training=False, devices=DEVICES),
    lambda f: dropout_checks.check_dropout_inplace(f, p=0.3, devices=DEVICES),
    lambda f: dropout_checks.check_dropout_seed(f, devices=DEVICES),
    lambda f: dropout_checks.check_dropout_gradient(f, p=0.4, devices=DEVICES),
    lambda f: dropout_checks.check_dropout_gradient(f, p=0.4, training=False, devices=DEVICES),
    lambda f: dropout_checks.check_dropout_gradient(f, p=1.0, devices=DEVICES),
    lambda f: dropout_checks.check_dropout_gradient(f, p=0.0, devices=DEVICES),
]


@pytest.mark.parametrize("student", CORRECT_DROPOUTS, ids=lambda f: f.__name__)
def test_correct_dropouts_pass_every_check(student):
    for check in DROPOUT_CHECKS:
        report = check(student)
        # Raising depends on p alone: the rejection checks run on the CPU only.
        assert report.devices == (["cpu"] if "p=1.5" in report.call or "p=-0.5" in report.call else DEVICES)


@pytest.mark.parametrize("student", CORRECT_DROPOUTS, ids=lambda f: f.__name__)
def test_correct_dropouts_pass_at_p_zero_and_one(student):
    # Nothing or everything is dropped: no mask is shared by chance, no scale is 1 / 0.
    for p in (0.0, 1.0):
        for check in (dropout_checks.check_dropout_fraction, dropout_checks.check_dropout_scale,
                      dropout_checks.check_dropout_inplace, dropout_checks.check_dropout_eval):
            assert check(student, p=p, devices=DEVICES).devices == DEVICES
    report = dropout_checks.check_dropout_fraction(student, p=0.0, devices=["cpu"])
    assert report.notes == ["0.000% dropped on cpu; allowed 0% ± 0.000%"]
    assert dropout_checks.check_dropout_mean(student, p=0.0, devices=DEVICES).devices == DEVICES


@pytest.mark.parametrize("check, p, allowed", [
    (dropout_checks.check_dropout_mean, 1.0, "0 <= p < 1"),
    (dropout_checks.check_dropout_seed, 0.0, "0 < p < 1"),
    (dropout_checks.check_dropout_seed, 1.0, "0 < p < 1"),
    (dropout_checks.check_dropout_fraction, 1.5, "0 <= p <= 1"),
    (dropout_checks.check_dropout_scale, -0.1, "0 <= p <= 1"),
])
def test_a_check_refuses_a_p_it_cannot_judge(check, p, allowed):
    # The test cell is wrong, not the dropout: a ValueError before the student's code runs.
    with pytest.raises(ValueError, match=f"{check.__name__} needs {allowed}, got p={p!r}"):
        check(not_implemented, p=p, devices=DEVICES)


def test_scaling_in_place_in_evaluation_mode_is_named():
    def scales_in_place(input, p=0.5, training=True, inplace=False):
        if not training:
            return input.mul_(1 - p) if inplace else input * (1 - p)
        return dropout_rand_like(input, p, training, inplace)

    message = failure(dropout_checks.check_dropout_eval, scales_in_place, inplace=True, devices=DEVICES)
    assert "the input was modified" in message
    assert named_mistake(message) == dropout_checks.SCALED_IN_EVAL.words


def test_dropping_in_place_in_evaluation_mode_is_named():
    def drops_in_eval(input, p=0.5, training=True, inplace=False):
        return dropout_rand_like(input, p, True, inplace)

    message = failure(dropout_checks.check_dropout_eval, drops_in_eval, inplace=True, devices=DEVICES)
    assert named_mistake(message) == dropout_checks.ACTIVE_IN_EVAL.words


def test_an_output_moved_off_the_gpu_is_caught_on_the_simulated_gpu():
    def to_cpu(input, p=0.5, training=True, inplace=False):
        return dropout_rand_like(input, p, training, inplace).cpu()

    message = failure(dropout_checks.check_dropout_scale, to_cpu, devices=DEVICES)
    assert "on a simulated GPU" in message
    assert "the output is on cpu, expected cuda (the device of the input)" in message


def test_the_statistics_of_a_correct_dropout_pass_for_other_seeds():
    for seed in range(1, 3):
        report = dropout_checks.check_dropout_fraction(dropout_rand_like, p=0.5, seed=seed, devices=["cpu"])
        assert len(report.notes) == 1 and report.notes[0].endswith("dropped on cpu; allowed 50% ± 0.671%")
        report = dropout_checks.check_dropout_mean(dropout_rand_like, p=0.3, seed=seed, devices=["cpu"])
        assert len(report.notes) == 1 and report.notes[0].startswith("mean 1.")


def test_evaluation_mode_must_return_the_input_itself_with_inplace():
    # PyTorch returns the input tensor itself in evaluation mode; a copy with equal values is not in place.
    def copies_in_eval(input, p=0.5, training=True, inplace=False):
        return dropout_rand_like(input, p, training, inplace) if training else input.clone()

    assert dropout_checks.check_dropout_eval(copies_in_eval, devices=DEVICES).devices == DEVICES
    message = failure(dropout_checks.check_dropout_eval, copies_in_eval, inplace=True, devices=DEVICES)
    assert named_mistake(message) == dropout_checks.NOT_IN_PLACE.words


def test_the_paper_s_test_time_scaling_is_named():
    def paper(input, p=0.5, training=True, inplace=False):
        if not training:
            return input * (1 - p)
        return input * (torch.rand_like(input) >= p)

    message = failure(dropout_checks.check_dropout_eval, paper, devices=DEVICES)
    assert named_mistake(message) == dropout_checks.SCALED_IN_EVAL.words
    message = failure(dropout_checks.check_dropout_scale, paper, devices=DEVICES)
    assert named_mistake(message) == dropout_checks.NO_RESCALE.words


def test_a_mask_drawn_from_a_normal_distribution_is_named():
    def normal(input, p=0.5, training=True, inplace=False):
        return input * (torch.randn_like(input) >= p) / (1 - p) if training else input

    message = failure(dropout_checks.check_dropout_fraction, normal, p=0.2, devices=DEVICES)
    assert named_mistake(message) == dropout_checks.NORMAL_MASK.words


def test_a_mask_drawn_with_numpy_is_caught_on_the_simulated_gpu():
    def numpy_mask(input, p=0.5, training=True, inplace=False):
        keep = torch.from_numpy(np.random.rand(*input.shape) >= p)
        return input * keep / (1 - p)

    message = failure(dropout_checks.check_dropout_scale, numpy_mask, devices=DEVICES)
    assert "simulated GPU" in message and named_mistake(message) == dropout_checks.CPU_MASK.words


def test_a_dropout_that_rounds_the_scale_differently_passes():
    # x / (1 - p) and x * (1 / (1 - p)) differ in the last bit: both are right.
    def divide(input, p=0.5, training=True, inplace=False):
        return input * (torch.rand_like(input) >= p) / (1 - p) if training else input

    assert dropout_checks.check_dropout_scale(divide, p=0.3, devices=DEVICES).devices == DEVICES
    assert dropout_checks.check_dropout_scale(divide, p=0.3, dtype=torch.float64, devices=DEVICES).devices == DEVICES


def test_calling_pytorchs_dropout_is_refused():
    message = failure(dropout_checks.check_dropout_scale, torch.nn.functional.dropout, devices=DEVICES)
    assert "it calls torch.nn.functional.dropout" in message


def test_an_unimplemented_dropout_is_reported_as_such():
    for check in DROPOUT_CHECKS:
        assert "not implemented yet" in failure(check, not_implemented)


def test_the_checks_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    assert dropout_checks.check_dropout_scale(dropout_rand_like, devices=DEVICES).devices == DEVICES
    assert torch.equal(torch.rand(3), expected)


# --- early stopping ------------------------------------------------------------------------


class StudentStyleEarlyStopping:
    """A correct implementation written differently from the reference."""

    def __init__(self, patience=5, min_delta=0.0, mode="min"):
        if mode not in {"min", "max"}:
            raise ValueError("mode")
        self.patience, self.min_delta, self.sign = patience, min_delta, 1.0 if mode == "min" else -1.0
        self.best_score = self.best_epoch = None
        self.counter, self.epochs = 0, 0
        self.saved = None

    def step(self, metric, model):
        epoch, self.epochs = self.epochs, self.epochs + 1
        metric = float(metric)
        better = metric == metric and (
            self.best_score is None or self.sign * (self.best_score - metric) > self.min_delta)
        if better:
            self.best_score, self.best_epoch, self.counter = metric, epoch, 0
            self.saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        self.counter += 1
        return self.counter > self.patience

    def restore(self, model):
        model.load_state_dict(self.saved)


class HistoryEarlyStopping:
    """Another correct implementation: it keeps the whole history and decides from it."""

    def __init__(self, patience=5, min_delta=0.0, mode="min"):
        if mode != "min" and mode != "max":
            raise ValueError(f"unknown mode {mode}")
        self.patience, self.min_delta, self.mode = patience, min_delta, mode
        self.history, self.best_score, self.best_epoch, self.saved = [], None, None, None

    def _better(self, metric):
        if math.isnan(metric):
            return False
        if self.best_score is None:
            return True
        if self.mode == "min":
            return metric < self.best_score - self.min_delta
        return metric > self.best_score + self.min_delta

    def step(self, metric, model):
        metric = float(metric)
        self.history.append(metric)
        if self._better(metric):
            self.best_score, self.best_epoch = metric, len(self.history) - 1
            self.saved = copy.deepcopy(model.state_dict())
        return len(self.history) - 1 - (-1 if self.best_epoch is None else self.best_epoch) > self.patience

    def restore(self, model):
        model.load_state_dict(self.saved)


CORRECT_STOPPERS = [StudentStyleEarlyStopping, HistoryEarlyStopping]

# The curves of the notebook's test cells, visible and hidden.
CURVES = [
    ([1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.9, 0.6], dict(patience=2)),
    ([1.0, 1.1, 0.9, 1.0, 0.95, 0.8, 0.85, 0.9, 0.95, 0.5], dict(patience=2)),
    ([2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0], dict(patience=2)),
    ([1.0, 0.9375, 0.875, 0.5], dict(patience=1, min_delta=0.125)),
    ([0.5, 0.625, 0.75, 0.6875, 0.625, 0.5625], dict(patience=1, mode="max")),
    ([NAN, 1.0, 0.5, NAN, NAN, 0.25], dict(patience=1)),
    ([1.0, 0.5, 0.75, 0.875, 0.9375], dict(patience=2, restore=True)),
    ([1.0, 0.5, 0.75, 0.25], dict(patience=0)),
    ([1.0, 0.5, 0.75, 0.875, 0.25], dict(patience=1)),
    ([NAN, 1.0], dict(patience=0)),
    ([0.5, 0.4, 0.3, 0.2, 0.1], dict(patience=0, restore=True)),
    ([3.0, 2.0, 2.5, 2.5, 2.25, 2.125, 2.0625, 2.0, 1.0], dict(restore=True)),
    ([1.0, 0.5, 0.75, 0.625, 0.5625, 0.53125], dict(patience=2, restore=True)),
    ([0.5, 0.5625, 0.625, 0.6875, 0.75], dict(patience=1, mode="max", min_delta=0.125)),
    ([0.25, 0.5, NAN, 0.75, 0.75, 0.5, 0.625], dict(patience=2, mode="max", restore=True)),
    ([torch.tensor(1.0), torch.tensor(0.5), torch.tensor(0.75), torch.tensor(0.625)], dict(patience=1, restore=True)),
]


@pytest.mark.parametrize("cls", CORRECT_STOPPERS)
@pytest.mark.parametrize("metrics, options", CURVES)
def test_correct_early_stopping_passes(cls, metrics, options):
    report = stopping_checks.check_early_stopping(cls, metrics, **options)
    assert report.devices == ["cpu"]
    # The report says where the loop stopped and which epoch was best, as the student's class did.
    stopper, model = cls(**{k: v for k, v in options.items() if k != "restore"}), torch.nn.Linear(3, 2)
    stopped = next((epoch for epoch, m in enumerate(metrics) if stopper.step(m, model)), None)
    where = "did not stop" if stopped is None else f"stopped at epoch {stopped}"
    assert report.call.endswith(f": {where}, best_epoch={stopper.best_epoch}")


@pytest.mark.parametrize("cls", CORRECT_STOPPERS)
def test_a_bad_mode_is_rejected(cls):
    report = stopping_checks.check_early_stopping_rejects_mode(cls, "mean")
    assert (report.call, report.devices) == ("EarlyStopping(mode='mean')", ["cpu"])


def test_the_worked_example_of_the_contract():
    stopper = stopping_checks.EarlyStopping(patience=2)
    model = torch.nn.Linear(3, 2)
    returned = [stopper.step(m, model) for m in [1.0, 0.8, 0.7, 0.75, 0.72, 0.71]]
    assert returned == [False] * 5 + [True]
    assert (stopper.best_score, stopper.best_epoch) == (0.7, 2)


class SharedStateStopping(StudentStyleEarlyStopping):
    """The classic mistake, written as a student would: no copy of the state_dict."""

    def step(self, metric, model):
        stop = super().step(metric, model)
        if self.best_epoch == self.epochs - 1:
            self.saved = model.state_dict()
        return stop


class StopsAtPatience(StudentStyleEarlyStopping):
    """The Keras convention: stop when the count reaches patience."""

    def step(self, metric, model):
        stop = super().step(metric, model)
        return stop or (self.counter > 0 and self.counter >= self.patience)


class NoReturn(StudentStyleEarlyStopping):
    def step(self, metric, model):
        super().step(metric, model)


class OneBasedEpochs(StudentStyleEarlyStopping):
    def step(self, metric, model):
        stop = super().step(metric, model)
        if self.counter == 0:  # this step improved: count its epoch from 1
            self.best_epoch += 1
        return stop


class RestoresInsideStep(StudentStyleEarlyStopping):
    def step(self, metric, model):
        stop = super().step(metric, model)
        if stop:
            self.restore(model)
        return stop


@pytest.mark.parametrize(
    "cls, curve, expected",
    [
        (SharedStateStopping, CURVES[6], f"Likely mistake: {stopping_checks.SHARED_STATE.words}"),
        (StopsAtPatience, CURVES[0], f"Likely mistake: {stopping_checks.STOPS_EARLY.words}"),
        (NoReturn, CURVES[0], "step returned None (of type NoneType) at epoch 0; return True or False."),
        (OneBasedEpochs, CURVES[0], "after the loop, best_epoch is 3, expected 2."),
        (OneBasedEpochs, CURVES[0], f"Likely mistake: {stopping_checks.EPOCHS_FROM_ONE.words}"),
        (RestoresInsideStep, CURVES[0], "step changed the model's weights at epoch 5; only restore may change"),
    ],
)
def test_student_style_mistakes_get_a_clear_message(cls, curve, expected):
    metrics, options = curve
    assert expected in failure(stopping_checks.check_early_stopping, cls, metrics, **options)


def test_a_failing_step_names_the_rule():
    message = failure(stopping_checks.check_early_stopping, StopsAtPatience, *CURVES[0][:1], **CURVES[0][1])
    assert ("step(0.72) at epoch 4 returned True, expected False: the best so far is 0.7 at epoch 2; "
            "this is step 2 in a row without improvement, and training stops when that count exceeds patience=2."
            ) in message


def test_a_best_epoch_left_none_fails_with_restore():
    class ForgetsTheEpoch(StudentStyleEarlyStopping):
        def step(self, metric, model):
            stop = super().step(metric, model)
            self.best_epoch = None
            return stop

    metrics, options = CURVES[6]
    message = failure(stopping_checks.check_early_stopping, ForgetsTheEpoch, metrics, **options)
    assert "after the loop, best_epoch is None, expected 1." in message
    assert "restore(model) could not be checked: best_epoch is None after the loop" in message


@pytest.mark.parametrize("score", [lambda m: torch.tensor([m, m]), lambda m: [m], lambda m: "best"],
                         ids=["two_elements", "list", "string"])
def test_a_best_score_that_is_not_a_number_fails_cleanly(score):
    class OddScore(StudentStyleEarlyStopping):
        """Right, but it shows its best score as something else than a number."""

        stepping = False

        @property
        def best_score(self):
            return self._best if self.stepping or self._best is None else score(self._best)

        @best_score.setter
        def best_score(self, value):
            self._best = value

        def step(self, metric, model):
            self.stepping = True  # the comparisons inside step read the number
            try:
                return super().step(metric, model)
            finally:
                self.stepping = False

    metrics, options = CURVES[0]
    message = failure(stopping_checks.check_early_stopping, OddScore, metrics, **options)
    assert "after the loop, best_score is" in message and "expected 0.7." in message


def test_a_restore_that_shares_memory_after_loading_is_caught():
    class SharesAfterRestore(StudentStyleEarlyStopping):
        def restore(self, model):
            model.weight.data = self.saved["weight"]  # the model now trains the saved tensors
            model.bias.data = self.saved["bias"]

    metrics, options = CURVES[6]
    message = failure(stopping_checks.check_early_stopping, SharesAfterRestore, metrics, **options)
    assert "a second restore(model) gave the weights of epoch 999" in message


def test_an_unimplemented_class_is_reported_as_such():
    class Blank:
        def __init__(self, patience=5, min_delta=0.0, mode="min"):
            raise NotImplementedError()

    metrics, options = CURVES[0]
    assert "EarlyStopping is not implemented yet" in failure(
        stopping_checks.check_early_stopping, Blank, metrics, **options)
    assert "not implemented yet" in failure(stopping_checks.check_early_stopping_rejects_mode, Blank)

    class BlankStep(StudentStyleEarlyStopping):
        def step(self, metric, model):
            raise NotImplementedError()

    assert "not implemented yet (step at epoch 0 raised NotImplementedError)" in failure(
        stopping_checks.check_early_stopping, BlankStep, metrics, **options)


def test_a_mode_that_is_not_rejected_is_named():
    class AcceptsAnyMode(StudentStyleEarlyStopping):
        def __init__(self, patience=5, min_delta=0.0, mode="min"):
            super().__init__(patience, min_delta, "min" if mode != "max" else mode)

    message = failure(stopping_checks.check_early_stopping_rejects_mode, AcceptsAnyMode, "mean")
    assert named_mistake(message) == stopping_checks.BAD_MODE.words


def test_the_reference_keeps_a_deep_copy():
    stopper = stopping_checks.EarlyStopping(patience=1)
    model = torch.nn.Linear(2, 1)
    stopper.step(1.0, model)
    saved = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        model.weight.add_(1.0)
    stopper.step(2.0, model)
    stopper.restore(model)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())


# --- the catalog ------------------------------------------------------------------------------

PLANTED = [(module, planted) for module in (penalty_checks, dropout_checks, stopping_checks)
           for planted in module.MISTAKES]


@pytest.mark.parametrize("module, planted", PLANTED,
                         ids=[f"{m.__name__.split('.')[-1]}-{p.mistake.id}-{i}" for i, (m, p) in enumerate(PLANTED)])
def test_every_planted_mistake_is_caught_and_named(module, planted):
    # Each declared catch, called as a notebook's test cell calls the check.
    assert planted.caught_by
    for catch in planted.caught_by:
        message = failure(getattr(module, catch.check), planted.function, *catch.args, **catch.kwargs)
        named = named_mistakes(message)
        # A convention that is several planted mistakes at once is named last, after them.
        assert named[-1:] == [planted.words] and (len(named) == 1 or isinstance(planted.mistake, Convention)), message
