"""Cross-entropy with label smoothing, ``reduction`` and ``ignore_index``, against ``F.cross_entropy``.

The targets are class indices. With smoothing ε over K classes the target of a
position is the distribution q = (1 − ε)·onehot(y) + ε/K, so the loss of a
position is (1 − ε)·(−log p_y) + (ε/K)·Σ_c (−log p_c); a position whose target
is ``ignore_index`` contributes nothing, and the mean divides by the number of
positions that are not ignored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.calling import aten
from ..core.forbidden import Forbidden
from ..core.mistakes import Mistake, catch, plant
from ..core.report import Report, entry
from ..core.spec import ErrorInput, Operation

# --- the planted implementation ---


def _cross_entropy(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0, *,
                   scores="log_softmax", class_axis=1, target_distribution="pytorch", smoothing_on="target",
                   ignored="excluded", mean_over="positions"):
    """The loss, whose keywords plant one mistake each.

    ``scores``, what the target distribution is multiplied by: "log_softmax" (x − logsumexp(x)),
    "softmax" (the probabilities themselves) or "log_of_softmax" (log(softmax(x)), which underflows).
    ``class_axis``: the axis the log-softmax normalizes over (the classes are axis 1).
    ``target_distribution``: "pytorch" (ε/K on every class), "other_classes" (ε/(K − 1) on the
    others, 1 − ε on the target), "overwritten" (ε/K on the others, 1 − ε on the target),
    "undivided" (ε on every class) or "kl" (KL(q ‖ p) instead of the cross-entropy).
    ``smoothing_on``: "target", or "logits" ((1 − ε)·x + ε/K, then no smoothing).
    ``ignored``: "excluded", "counted_in_mean" (the mean divides by every position) or
    "smoothing_kept" (the smoothing term of an ignored position is kept).
    ``mean_over``: "positions", or "elements" (the mean over positions and classes).
    """
    classes = input.shape[1]
    eps = label_smoothing
    if smoothing_on == "logits":
        input, eps = (1 - eps) * input + eps / classes, 0.0
    if scores == "softmax":
        log_p = input.softmax(class_axis)  # the probabilities, where their logarithms belong
    elif scores == "log_of_softmax":
        log_p = input.softmax(class_axis).log()
    else:
        log_p = input - input.logsumexp(class_axis, keepdim=True)  # (N, C, *)
    skipped = target == ignore_index  # (N, *)
    safe = target.masked_fill(skipped, 0)
    nll = -log_p.gather(1, safe.unsqueeze(1)).squeeze(1)  # (N, *)
    every_class = -log_p.sum(1)  # (N, *)
    if target_distribution == "other_classes":
        loss = (1 - eps) * nll + eps / (classes - 1) * (every_class - nll)
    elif target_distribution == "overwritten":
        loss = (1 - eps) * nll + eps / classes * (every_class - nll)
    elif target_distribution == "undivided":
        loss = (1 - eps) * nll + eps * every_class
    else:
        loss = (1 - eps) * nll + eps / classes * every_class
    if target_distribution == "kl":  # Σ q log q − Σ q log p: the cross-entropy less the entropy of q
        loss = loss - _entropy_of_smoothed_target(eps, classes)
    if ignored == "smoothing_kept":
        loss = torch.where(skipped, eps / classes * every_class, loss)
    else:
        loss = loss.masked_fill(skipped, 0.0)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    counted = skipped.numel() if ignored == "counted_in_mean" else (~skipped).sum()
    return loss.sum() / counted / (classes if mean_over == "elements" else 1)


def _entropy_of_smoothed_target(eps: float, classes: int) -> float:
    """H(q) of q = (1 − ε)·onehot + ε/K, the part of the cross-entropy no model can remove."""
    terms = [(1 - eps + eps / classes, 1), (eps / classes, classes - 1)]
    return -sum(count * share * torch.tensor(share).log().item() for share, count in terms if share > 0)


def make_cross_entropy_arguments(
    shape=(8, 5), *, ignore_index=-100, reduction="mean", label_smoothing=0.0, ignored=0, scale=1.0,
    dtype=torch.float32, seed=0, input=None, target=None,
) -> dict:
    """Seeded logits of ``shape`` (N, C, *) times ``scale``, and class indices of shape (N, *).

    ``ignored`` positions of the target, drawn at random, are set to ``ignore_index``.
    """
    generator = torch.Generator().manual_seed(seed)
    if input is None:
        input = scale * torch.randn(shape, generator=generator, dtype=torch.float64)
    if target is None:
        target_shape = (input.shape[0],) + tuple(input.shape[2:])
        target = torch.randint(0, input.shape[1], target_shape, generator=generator)
        if ignored:
            positions = torch.randperm(target.numel(), generator=generator)[:ignored]
            target = target.flatten().index_fill(0, positions, ignore_index).reshape(target_shape)
    return {"input": input.to(dtype), "target": target, "ignore_index": ignore_index, "reduction": reduction,
            "label_smoothing": label_smoothing}


def _torch_cross_entropy(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    return F.cross_entropy(input, target, ignore_index=ignore_index, reduction=reduction,
                           label_smoothing=label_smoothing)


# --- its mistakes ---

SPREAD_OVER_OTHER_CLASSES = Mistake(
    "label_smoothing.spread_over_other_classes",
    "ε is spread over the K − 1 other classes (ε/(K − 1) each, 1 − ε on the target). PyTorch, like Szegedy et "
    "al., mixes the one-hot target with the uniform distribution over all K classes: every class gets ε/K, and "
    "the target class 1 − ε + ε/K.",
)
TRUE_CLASS_OVERWRITTEN = Mistake(
    "label_smoothing.true_class_overwritten",
    "the target class gets 1 − ε instead of 1 − ε + ε/K (ε/K filled in everywhere, then the target overwritten "
    "with 1 − ε?), so the target distribution sums to 1 − ε/K. Add the uniform share to the target class too: "
    "q = (1 − ε)·onehot + ε/K.",
)
EPSILON_NOT_DIVIDED = Mistake(
    "label_smoothing.epsilon_not_divided",
    "every class gets ε instead of ε/K: the smoothing term is ε·Σ_c(−log p_c). Spread ε over the K classes: "
    "(ε/K)·Σ_c(−log p_c), which is ε times the mean over the classes.",
)
SMOOTHED_LOGITS = Mistake(
    "label_smoothing.smoothed_logits",
    "the smoothing is applied to the logits, (1 − ε)·input + ε/K, which only rescales them (a softmax ignores "
    "the added constant). Smooth the target distribution instead: q = (1 − ε)·onehot + ε/K, and the loss is "
    "−Σ_c q_c log p_c.",
)
SOFTMAX_NOT_LOG = Mistake(
    "label_smoothing.softmax_not_log",
    "the target distribution multiplies the probabilities softmax(input), not their logarithms. The "
    "cross-entropy is −Σ_c q_c log p_c: use the log-softmax, input − input.logsumexp(1, keepdim=True).",
)
LOG_OF_SOFTMAX = Mistake(
    "label_smoothing.log_of_softmax",
    "the log-probabilities are log(softmax(input)): for logits far apart a probability underflows to 0 and its "
    "logarithm is −inf, and with label smoothing every class's log-probability enters the loss. Compute "
    "input − input.logsumexp(1, keepdim=True), which never takes the logarithm of a small number.",
)
WRONG_CLASS_AXIS = Mistake(
    "label_smoothing.wrong_class_axis",
    "the log-softmax is taken over the last axis. The classes are axis 1 of an input of shape (N, C, d1, ...), "
    "as in F.cross_entropy: normalize and sum over dim=1.",
)
KL_DIVERGENCE = Mistake(
    "label_smoothing.kl_divergence",
    "the loss is the KL divergence KL(q ‖ p) = Σ q log q − Σ q log p (nn.KLDivLoss?), which is the "
    "cross-entropy less the entropy of the smoothed target: the gradients agree, the values do not. "
    "F.cross_entropy returns −Σ_c q_c log p_c.",
)
IGNORED_IN_MEAN = Mistake(
    "label_smoothing.ignored_in_mean",
    "the mean divides by every position, ignored ones included. reduction='mean' averages over the positions "
    "whose target is not ignore_index: divide the sum by their number, (target != ignore_index).sum().",
)
IGNORED_SMOOTHING_KEPT = Mistake(
    "label_smoothing.ignored_smoothing_kept",
    "a position whose target is ignore_index still contributes its smoothing term (ε/K)·Σ_c(−log p_c): only "
    "the term of the target class is masked. An ignored position contributes nothing: mask its whole loss.",
)
MEAN_OVER_CLASSES = Mistake(
    "label_smoothing.mean_over_classes",
    "reduction='mean' averages over the classes as well as the positions, (−q * log_p).mean(), which divides "
    "by K too many. Sum over the classes first, then average over the positions.",
)

SMOOTHED = catch("check_cross_entropy", label_smoothing=0.2)
SEQUENCES = catch("check_cross_entropy", shape=(4, 5, 3), label_smoothing=0.2, seed=1)
WITH_IGNORED = catch("check_cross_entropy", shape=(10, 4), ignored=4, label_smoothing=0.2, seed=2)
IGNORED_POSITIONS = catch("check_cross_entropy", shape=(10, 4), ignored=4, reduction="none", label_smoothing=0.2,
                          seed=2)
PLANTED = (
    plant(_cross_entropy, SPREAD_OVER_OTHER_CLASSES, SMOOTHED, SEQUENCES, target_distribution="other_classes"),
    plant(_cross_entropy, TRUE_CLASS_OVERWRITTEN, SMOOTHED, target_distribution="overwritten"),
    plant(_cross_entropy, EPSILON_NOT_DIVIDED, SMOOTHED, target_distribution="undivided"),
    plant(_cross_entropy, SMOOTHED_LOGITS, SMOOTHED, smoothing_on="logits"),
    plant(_cross_entropy, KL_DIVERGENCE, SMOOTHED, target_distribution="kl"),
    plant(_cross_entropy, SOFTMAX_NOT_LOG, catch("check_cross_entropy"), SMOOTHED, scores="softmax"),
    plant(_cross_entropy, LOG_OF_SOFTMAX, catch("check_cross_entropy", label_smoothing=0.1, scale=60.0, seed=3),
          scores="log_of_softmax"),
    plant(_cross_entropy, WRONG_CLASS_AXIS, SEQUENCES, catch("check_cross_entropy", shape=(4, 5, 3), seed=1),
          class_axis=-1),
    plant(_cross_entropy, MEAN_OVER_CLASSES, catch("check_cross_entropy"), SMOOTHED, mean_over="elements"),
    plant(_cross_entropy, IGNORED_IN_MEAN, catch("check_cross_entropy", shape=(10, 4), ignored=4, seed=2),
          WITH_IGNORED, ignored="counted_in_mean"),
    plant(_cross_entropy, IGNORED_SMOOTHING_KEPT, WITH_IGNORED, IGNORED_POSITIONS, ignored="smoothing_kept"),
)

# --- the spec ---

# The loss, the negative log-likelihood it ends with and the log-softmax it starts from: the
# exercise is to write all three. torch.logsumexp and torch.softmax stay allowed.
FORBIDDEN = Forbidden("cross_entropy", {
    F.cross_entropy: "torch.nn.functional.cross_entropy",
    F.nll_loss: "torch.nn.functional.nll_loss",
    torch.log_softmax: "torch.log_softmax",  # first: the name the source check gives any log_softmax
    F.log_softmax: "torch.nn.functional.log_softmax",
    torch.Tensor.log_softmax: "Tensor.log_softmax",
    F.kl_div: "torch.nn.functional.kl_div",
    # The kernels, whatever route reaches them (nn.CrossEntropyLoss's forward, torch.ops.aten).
    **aten("cross_entropy_loss", "nll_loss", "nll_loss_nd", "nll_loss2d", "nll_loss_forward", "nll_loss2d_forward",
           "log_softmax", "_log_softmax"),
    # Refused at run time through the functions above, named here for the check of an answer's source.
    nn.CrossEntropyLoss: "torch.nn.CrossEntropyLoss", nn.NLLLoss: "torch.nn.NLLLoss",
    nn.LogSoftmax: "torch.nn.LogSoftmax", nn.KLDivLoss: "torch.nn.KLDivLoss",
})

CROSS_ENTROPY = Operation(
    "cross_entropy", _torch_cross_entropy, make_cross_entropy_arguments, forbidden=FORBIDDEN,
    differentiable=("input",), planted=PLANTED,
    error_inputs=(
        ErrorInput(dict(reduction="average"), ValueError, "for a reduction other than 'none', 'mean' or 'sum'"),
        ErrorInput(dict(label_smoothing=1.5), RuntimeError, "for a label_smoothing above 1"),
    ),
)

# --- the check entries ---


@entry
def check_cross_entropy(student, *, gradients: bool = False, devices=None, **arguments) -> Report:
    """Compare ``student`` with ``F.cross_entropy`` on seeded arguments (see ``make_cross_entropy_arguments``)."""
    return CROSS_ENTROPY.compare(student, gradients=gradients, devices=devices, **arguments)


@entry
def check_cross_entropy_rejects_reduction(student, devices=None) -> Report:
    """Check that reduction='average' raises ValueError, as PyTorch does."""
    return CROSS_ENTROPY.expect_error(student, 0, devices=devices)


@entry
def check_cross_entropy_rejects_label_smoothing(student, devices=None) -> Report:
    """Check that label_smoothing=1.5 raises RuntimeError, as PyTorch does."""
    return CROSS_ENTROPY.expect_error(student, 1, devices=devices)
