"""The backward pass of batch normalization from the formulas, and the mistakes planted in it."""

from __future__ import annotations

import torch

from ..core.mistakes import EPS_OUTSIDE_SQRT, NO_EPS, NO_SQRT, UNBIASED_VARIANCE, WRONG_AXES, Mistake, catch, plant

# --- the planted implementation ---

# The standard deviation each value of ``std=`` divides by.
_STD = {
    "sqrt(var + eps)": lambda var, eps: (var + eps).sqrt(),
    "sqrt(var) + eps": lambda var, eps: var.sqrt() + eps,
    "var + eps": lambda var, eps: var + eps,
    "sqrt(var)": lambda var, eps: var.sqrt(),
}


def backward(grad_output, input, weight, eps=1e-5, **mistake):
    """The gradients from the formulas, computed in float64 and rounded to the input's dtype.

    Computed exactly, like the reference, so that a planted mistake is named only
    where these arguments can tell it from the right answer beyond the tolerance
    (on a large float32 batch the unbiased variance cannot be told from the
    biased one), never because of its own rounding.
    """
    grads = _gradients(grad_output.double(), input.double(), weight.double(), eps, **mistake)
    return tuple(g.to(input.dtype) for g in grads)


def _gradients(
    grad_output, input, weight, eps, *, through_mean="subtracted", through_var="subtracted", without_weight=False,
    count="values", unbiased=False, std="sqrt(var + eps)", axes="all but channels", weight_of="x_hat",
    weight_sum="sum", flipped_weight=False, bias_of="grad_output", bias_sum="sum", swapped=False,
):
    """The three gradients; each switch away from its default plants one mistake.

    ``through_mean``: "subtracted" or "missing"; ``through_var``: "subtracted", "missing"
    or "added"; ``count``, what a channel mean divides by: "values" (N * H * W) or
    "batch" (N); ``std``: a key of ``_STD``; ``axes``: "all but channels" or "batch";
    ``weight_of`` and ``bias_of``: what grad_weight and grad_bias add up, ``weight_sum``
    and ``bias_sum``: how ("sum", "mean", "batch", "none", "everything").
    """
    dims = [0] if axes == "batch" else [d for d in range(input.dim()) if d != 1]  # all but the channels
    per_channel = [1, -1] + [1] * (input.dim() - 2)  # broadcast a (C,) vector
    mean = input.mean(dim=dims, keepdim=True)  # (1, C, 1, 1)
    var = input.var(dim=dims, unbiased=unbiased, keepdim=True)
    std = _STD[std](var, eps)
    x_hat = (input - mean) / std
    grad_x_hat = grad_output if without_weight else grad_output * weight.reshape(per_channel)

    def channel_mean(t):
        if count == "batch":
            return t.sum(dim=dims, keepdim=True) / input.shape[0]
        return t.mean(dim=dims, keepdim=True)

    # Through the mean: every x of the channel moved the mean, which every x_hat uses.
    mean_term = 0 if through_mean == "missing" else channel_mean(grad_x_hat)
    # Through the variance: likewise, and proportional to x_hat.
    var_term = 0 if through_var == "missing" else x_hat * channel_mean(grad_x_hat * x_hat)
    grad_input = (grad_x_hat - mean_term + (var_term if through_var == "added" else -var_term)) / std

    def per_channel_total(t, how):
        return {
            "sum": lambda: t.sum(dim=dims), "mean": lambda: t.mean(dim=dims), "batch": lambda: t.sum(dim=0),
            "none": lambda: t, "everything": lambda: t.sum(),
        }[how]()

    weight_terms = {"x_hat": grad_output * x_hat, "input": grad_output * input,
                    "centred": grad_output * (input - mean), "grad_x_hat": grad_x_hat * x_hat}[weight_of]
    grad_weight = per_channel_total(weight_terms, weight_sum)
    if flipped_weight:
        grad_weight = -grad_weight
    grad_bias = per_channel_total({"grad_output": grad_output, "grad_x_hat": grad_x_hat}[bias_of], bias_sum)
    if swapped:
        return grad_input, grad_bias, grad_weight
    return grad_input, grad_weight, grad_bias


# --- its mistakes ---

# Every planted mistake is caught and named by the visible numeric test; the
# autograd check names it on (N, C) inputs, or on (N, C, H, W) ones for the
# mistakes that an (N, C) input cannot show.
_NUMERIC = catch("check_batch_norm_backward_numeric", shape=(4, 3, 2, 2))
_FLAT = (catch("check_batch_norm_backward", shape=(5, 3)), _NUMERIC)
_SPATIAL = (catch("check_batch_norm_backward", shape=(3, 5, 4, 3), dtype=torch.float64, seed=7), _NUMERIC)
_LARGE_EPS = (catch("check_batch_norm_backward", shape=(6, 3, 2, 2), eps=0.5, scale=0.3, seed=13),
              catch("check_batch_norm_backward_numeric", shape=(6, 3), eps=0.5, scale=0.3, seed=14), _NUMERIC)
_SUM_OVER = "over every axis except axis 1"


MISTAKES = (
    # grad_input
    plant(backward, Mistake(
        "batch_norm_backward.constant_statistics",
        "the mean and the variance are treated as constants (grad_input = grad_output * weight / std). "
        "Both depend on every input of the channel, so grad_input has two more terms: "
        "subtract the channel mean of grad_x_hat and x_hat times the channel mean of grad_x_hat * x_hat, "
        "where grad_x_hat = grad_output * weight."),
        *_FLAT, through_mean="missing", through_var="missing"),
    plant(backward, Mistake(
        "batch_norm_backward.no_mean_path",
        "the path through the mean is missing: every input moves the channel mean, which every "
        "x_hat uses. Subtract the channel mean of grad_x_hat = grad_output * weight."),
        *_FLAT, through_mean="missing"),
    plant(backward, Mistake(
        "batch_norm_backward.no_variance_path",
        "the path through the variance is missing: every input moves the channel variance. "
        "Subtract x_hat times the channel mean of grad_x_hat * x_hat, where grad_x_hat = grad_output * weight."),
        *_FLAT, through_var="missing"),
    plant(backward, Mistake(
        "batch_norm_backward.variance_path_added",
        "the path through the variance is added instead of subtracted. Both channel terms are subtracted: "
        "grad_input = (grad_x_hat - mean(grad_x_hat) - x_hat * mean(grad_x_hat * x_hat)) / sqrt(var + eps)."),
        *_FLAT, through_var="added"),
    plant(backward, Mistake(
        "batch_norm_backward.grad_input_without_weight",
        "grad_input leaves out weight: the gradient that reaches x_hat is grad_x_hat = grad_output * weight, "
        "and every term of grad_input is built from grad_x_hat."),
        *_FLAT, without_weight=True),
    plant(backward, Mistake(
        "batch_norm_backward.divided_by_batch_size",
        "grad_input's terms through the mean and the variance divide by the batch size N. A channel of an "
        "(N, C, H, W) input has N * H * W values: divide by that count, or take the mean " + _SUM_OVER + "."),
        *_SPATIAL, count="batch"),
    # the forward pass that the gradients differentiate
    plant(backward, UNBIASED_VARIANCE(operation="Batch normalization", code="input.var(dim, unbiased=False)"),
          *_FLAT, unbiased=True),
    plant(backward, EPS_OUTSIDE_SQRT, *_LARGE_EPS, std="sqrt(var) + eps"),
    plant(backward, NO_SQRT, *_FLAT, std="var + eps"),
    plant(backward, NO_EPS, *_LARGE_EPS, std="sqrt(var)"),
    plant(backward, WRONG_AXES(
        axes="axis 0 only",
        rule="Batch normalization takes the statistics of each channel, and sums its gradients, "
             f"{_SUM_OVER}: axes 0, 2 and 3 of an (N, C, H, W) input."),
        *_SPATIAL, axes="batch"),
    # grad_weight
    plant(backward, Mistake(
        "batch_norm_backward.grad_weight_of_input",
        "grad_weight is summed from grad_output * input. weight multiplies the normalized input, so "
        "grad_weight is the sum of grad_output * x_hat, with x_hat = (input - mean) / sqrt(var + eps)."),
        *_FLAT, weight_of="input"),
    plant(backward, Mistake(
        "batch_norm_backward.grad_weight_of_centred_input",
        "grad_weight is summed from grad_output * (input - mean). weight multiplies the normalized input: "
        "divide by sqrt(var + eps) too, grad_weight = sum of grad_output * x_hat."),
        *_FLAT, weight_of="centred"),
    plant(backward, Mistake(
        "batch_norm_backward.grad_weight_of_grad_x_hat",
        "grad_weight is summed from grad_x_hat * x_hat = grad_output * weight * x_hat: weight appears once "
        "too often. grad_weight = sum of grad_output * x_hat."),
        *_FLAT, weight_of="grad_x_hat"),
    plant(backward, Mistake(
        "batch_norm_backward.grad_weight_sign",
        "grad_weight has the wrong sign. The output is weight * x_hat + bias, so grad_weight = "
        "+ sum of grad_output * x_hat."),
        *_FLAT, flipped_weight=True),
    plant(backward, Mistake(
        "batch_norm_backward.grad_weight_batch_only",
        "grad_weight is summed over the batch axis only. weight has one value per channel, "
        f"so sum grad_output * x_hat {_SUM_OVER}, the spatial axes included."),
        *_SPATIAL, weight_sum="batch"),
    plant(backward, Mistake(
        "batch_norm_backward.grad_weight_not_summed",
        f"grad_weight is not summed. weight has one value per channel, so sum grad_output * x_hat {_SUM_OVER}."),
        *_FLAT, weight_sum="none"),
    plant(backward, Mistake(
        "batch_norm_backward.grad_weight_averaged",
        "grad_weight is averaged (mean) instead of summed. weight is used by every value of its channel, "
        f"so its gradient adds up their contributions: sum grad_output * x_hat {_SUM_OVER}."),
        *_FLAT, weight_sum="mean"),
    plant(backward, Mistake(
        "batch_norm_backward.gradients_averaged",
        "grad_weight and grad_bias are averaged (mean) instead of summed. weight and bias are used by every "
        f"value of their channel, so their gradients add up the contributions: sum {_SUM_OVER}."),
        *_FLAT, weight_sum="mean", bias_sum="mean"),
    # grad_bias
    plant(backward, Mistake(
        "batch_norm_backward.grad_bias_averaged",
        "grad_bias is averaged (mean) instead of summed. bias is added to every value of its channel, "
        f"so its gradient adds up their contributions: sum grad_output {_SUM_OVER}."),
        *_FLAT, bias_sum="mean"),
    plant(backward, Mistake(
        "batch_norm_backward.grad_bias_of_grad_x_hat",
        "grad_bias is summed from grad_x_hat = grad_output * weight. bias is added after the weight, so "
        "grad_bias is the sum of grad_output alone."),
        *_FLAT, bias_of="grad_x_hat"),
    plant(backward, Mistake(
        "batch_norm_backward.grad_bias_batch_only",
        "grad_bias is summed over the batch axis only. bias has one value per channel, "
        f"so sum grad_output {_SUM_OVER}, the spatial axes included."),
        *_SPATIAL, bias_sum="batch"),
    plant(backward, Mistake(
        "batch_norm_backward.grad_bias_over_everything",
        "grad_bias is summed over every axis, the channels included. bias has one value per "
        f"channel, so sum grad_output {_SUM_OVER}."),
        *_FLAT, bias_sum="everything"),
    plant(backward, Mistake(
        "batch_norm_backward.grad_bias_not_summed",
        f"grad_bias is not summed. bias has one value per channel, so sum grad_output {_SUM_OVER}."),
        *_FLAT, bias_sum="none"),
    plant(backward, Mistake(
        "batch_norm_backward.weight_and_bias_swapped",
        "grad_weight and grad_bias are swapped. Return (grad_input, grad_weight, grad_bias): grad_weight is "
        "the sum of grad_output * x_hat, grad_bias the sum of grad_output."),
        *_FLAT, swapped=True),
)
