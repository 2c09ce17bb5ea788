"""The label-smoothing checks: correct implementations pass on every device; what they must refuse, they refuse.

That each planted mistake is caught and named is proven for every exercise by
``test_catalog.py``, from the declarations in ``autograder.label_smoothing``.
The solution notebook's own ``cross_entropy`` and a second correct
implementation, written independently of the module's re-implementation (it
builds the smoothed target distribution and takes its cross-entropy), are
checked on many arguments.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.core.devices import SIMULATED_CUDA, available_devices
from autograder.core.failure import CheckFailed, named_mistake
from autograder.core.forbidden import forbidden_in_source
from autograder.label_smoothing import (
    FORBIDDEN,
    IGNORED_IN_MEAN,
    MISTAKES,
    SPREAD_OVER_OTHER_CLASSES,
    check_cross_entropy,
    check_cross_entropy_rejects_label_smoothing,
    check_cross_entropy_rejects_reduction,
)
from conftest import ROOT
from helpers import solution_code, solution_namespace

NOTEBOOK = ROOT / "solutions" / "label_smoothing" / "label_smoothing.ipynb"
cross_entropy = solution_namespace(NOTEBOOK)["cross_entropy"]


def by_target_distribution(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """−Σ_c q_c log p_c with the smoothed target q built explicitly, the classes moved to the last axis."""
    classes = input.shape[1]
    logits = input.movedim(1, -1)  # (N, *, C)
    log_p = logits - logits.logsumexp(-1, keepdim=True)
    kept = target != ignore_index
    onehot = F.one_hot(torch.where(kept, target, 0), classes).to(input.dtype)  # on the target's device
    q = (1 - label_smoothing) * onehot + label_smoothing / classes
    loss = -(q * log_p).sum(-1) * kept
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / kept.sum()
    raise ValueError(f"{reduction} is not a valid value for reduction")


CASES = [
    dict(), dict(label_smoothing=0.1), dict(reduction="none", label_smoothing=0.2), dict(reduction="sum"),
    dict(shape=(10, 4), ignored=4, label_smoothing=0.2, seed=2),
    dict(shape=(4, 5, 3), label_smoothing=0.2, gradients=True, seed=1),
    dict(shape=(3, 6, 2, 2), ignored=3, reduction="none", label_smoothing=0.1, gradients=True),
    dict(shape=(12, 3), ignore_index=0, label_smoothing=0.1, seed=12),
    dict(shape=(6, 10), scale=1000.0, label_smoothing=0.1, gradients=True),
    dict(shape=(5, 7), dtype=torch.float64, label_smoothing=0.3, gradients=True),
    dict(label_smoothing=1.0), dict(shape=(4, 1), label_smoothing=0.1),
]


@pytest.mark.parametrize("student", [cross_entropy, by_target_distribution], ids=["solution", "target_distribution"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_correct_cross_entropy_passes_on_every_device(student, case):
    report = check_cross_entropy(student, **case)
    assert report.devices == available_devices() and report.notes == []
    dtype = str(case.get("dtype", torch.float32)).replace("torch.", "")
    assert report.call.startswith(f"cross_entropy(input: {case.get('shape', (8, 5))} {dtype}, target: ")


def test_a_batch_of_ignored_targets_gives_nan_for_the_mean_and_zero_for_the_sum():
    check_cross_entropy(cross_entropy, shape=(5, 4), ignored=5, label_smoothing=0.1)

    def zero_when_empty(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        return torch.nan_to_num(cross_entropy(input, target, ignore_index, reduction, label_smoothing))

    with pytest.raises(AssertionError, match="has numbers where the reference has NaN"):
        check_cross_entropy(zero_when_empty, shape=(5, 4), ignored=5, label_smoothing=0.1)
    check_cross_entropy(zero_when_empty, shape=(5, 4), ignored=5, reduction="sum")


# --- what the exercise forbids --------------------------------------------------------


def log_softmax_and_gather(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    log_p = torch.log_softmax(input, 1)
    return -log_p.gather(1, target.unsqueeze(1)).mean()


def nll_of_own_log_softmax(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    log_p = input - input.logsumexp(1, keepdim=True)
    return F.nll_loss(log_p, target, ignore_index=ignore_index, reduction=reduction)


def through_the_module(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    return nn.CrossEntropyLoss(ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)(
        input, target)


def through_the_kernel(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    log_p = input - input.logsumexp(1, keepdim=True)
    return torch.ops.aten.nll_loss_nd(log_p, target, None, 1, ignore_index)


@pytest.mark.parametrize("student, name", [
    (lambda i, t, ii=-100, r="mean", ls=0.0: F.cross_entropy(i, t, ignore_index=ii, reduction=r, label_smoothing=ls),
     "torch.nn.functional.cross_entropy"),
    (through_the_module, "torch.nn.functional.cross_entropy"),
    (log_softmax_and_gather, "torch.log_softmax"),
    (nll_of_own_log_softmax, "torch.nn.functional.nll_loss"),
    (through_the_kernel, "torch.ops.aten.nll_loss_nd"),
], ids=["F.cross_entropy", "nn.CrossEntropyLoss", "torch.log_softmax", "F.nll_loss", "aten.nll_loss_nd"])
def test_pytorchs_loss_and_log_softmax_are_refused(student, name):
    with pytest.raises(AssertionError, match=f"it calls {name}; the exercise is to implement it"):
        check_cross_entropy(student)


def test_the_source_check_names_pytorchs_functions_but_not_the_students_own():
    assert forbidden_in_source(solution_code(NOTEBOOK)["cross_entropy"], FORBIDDEN) == []
    source = (
        "import torch.nn.functional as F\n"
        "def cross_entropy(input, target, ignore_index=-100, reduction='mean', label_smoothing=0.0):\n"
        "    log_p = input.log_softmax(1)\n"
        "    return F.nll_loss(log_p, target) if label_smoothing == 0 else cross_entropy(input, target)\n"
    )
    assert forbidden_in_source(source, FORBIDDEN) == ["torch.log_softmax", "torch.nn.functional.nll_loss"]
    assert forbidden_in_source("loss = nn.CrossEntropyLoss(label_smoothing=0.1)", FORBIDDEN) == [
        "torch.nn.CrossEntropyLoss"]


# --- errors ---------------------------------------------------------------------------


def test_an_unknown_reduction_and_a_smoothing_above_one_must_raise():
    for check in (check_cross_entropy_rejects_reduction, check_cross_entropy_rejects_label_smoothing):
        report = check(cross_entropy)
        # Raising depends on the arguments alone: a simulated GPU adds nothing, a real one is tried.
        assert report.devices == [d for d in available_devices() if d != SIMULATED_CUDA]
    assert "reduction='average'" in check_cross_entropy_rejects_reduction(cross_entropy).call

    def unchecked(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        return cross_entropy(input, target, ignore_index, "sum" if reduction == "sum" else "mean",
                             min(label_smoothing, 1.0))

    with pytest.raises(AssertionError, match="returned normally; expected it to raise ValueError for a reduction"):
        check_cross_entropy_rejects_reduction(unchecked)
    with pytest.raises(AssertionError, match="returned normally; expected it to raise RuntimeError for a "
                                             "label_smoothing above 1"):
        check_cross_entropy_rejects_label_smoothing(unchecked)
    with pytest.raises(AssertionError, match="not implemented yet"):  # NotImplementedError is a RuntimeError
        check_cross_entropy_rejects_label_smoothing(lambda *args: exec("raise NotImplementedError()"))


# --- what the checks catch ----------------------------------------------------------------


def test_the_catalog_names_the_two_conventions_students_mix_up_most():
    assert SPREAD_OVER_OTHER_CLASSES in [p.mistake for p in MISTAKES]
    assert IGNORED_IN_MEAN in [p.mistake for p in MISTAKES]

    def other_classes(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        # A common hand-written version: ε / (K − 1) on the other classes, 1 − ε on the target.
        classes = input.shape[1]
        log_p = input - input.logsumexp(1, keepdim=True)
        q = torch.full_like(log_p, label_smoothing / (classes - 1))
        q.scatter_(1, target.unsqueeze(1), 1 - label_smoothing)
        return -(q * log_p).sum(1).mean()

    check_cross_entropy(other_classes)  # without smoothing it is right
    with pytest.raises(CheckFailed) as raised:
        check_cross_entropy(other_classes, label_smoothing=0.1)
    assert named_mistake(str(raised.value)) == SPREAD_OVER_OTHER_CLASSES.words


def test_a_tensor_made_on_the_cpu_inside_the_function_is_caught_on_the_gpu():
    def cpu_target(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        q = torch.full(input.shape, label_smoothing / input.shape[1])  # on the CPU, whatever the input's device
        q = q + (1 - label_smoothing) * F.one_hot(target, input.shape[1])
        return -(q * (input - input.logsumexp(1, keepdim=True))).sum(1).mean()

    assert check_cross_entropy(cpu_target, label_smoothing=0.1, devices=["cpu"]).devices == ["cpu"]
    with pytest.raises(AssertionError, match="on a simulated GPU: it mixes devices"):
        check_cross_entropy(cpu_target, label_smoothing=0.1, devices=["cpu", SIMULATED_CUDA])
