"""The spec of ``batch_norm_backward`` and the check entries its test cells call."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from ..batch_norm import BATCH_NORM
from ..core.calling import aten
from ..core.forbidden import Forbidden
from ..core.report import Report, entry
from ..core.spec import Operation
from .numeric import compare_numerically
from .planted import MISTAKES

# --- the spec ---


def reference(grad_output, input, weight, eps=1e-5):
    """The gradients that autograd gives through ``F.batch_norm`` in training mode.

    Computed in float64 and rounded to the input's dtype: PyTorch's own float32
    kernel sums a large batch in an order that loses more than the tolerance
    allows (grad_weight of a (20000, 2) batch: 8 times the allowed error), and
    the student should be compared with the exact gradients, not with that.
    """
    dtype = input.dtype
    input = input.detach().double().requires_grad_(True)
    weight = weight.detach().double().requires_grad_(True)
    bias = torch.zeros_like(weight, requires_grad=True)  # its value does not change any gradient
    output = F.batch_norm(input, None, None, weight, bias, training=True, eps=eps)
    grads = torch.autograd.grad(output, (input, weight, bias), grad_output.double())
    return tuple(g.to(dtype) for g in grads)


def make_arguments(
    shape=(8, 3, 4, 4), *, eps=1e-5, dtype=torch.float32, seed=0, input=None,
    scale=1.0, zero_weight=False,
) -> dict:
    """Seeded arguments for one call of ``batch_norm_backward``, in its order.

    ``input`` replaces the random input (its shape then decides); ``scale`` is
    the spread of the random input; ``zero_weight`` sets the weight of every
    other channel to 0. The random input has mean 1, so that forgetting to
    subtract the mean shows; a larger mean would make a correct float32 answer
    lose more digits (in x - mean) than the tolerance allows when a channel
    has few values.
    """
    generator = torch.Generator().manual_seed(seed)
    if input is None:
        input = 1.0 + scale * torch.randn(shape, generator=generator, dtype=torch.float64)
    grad_output = torch.randn(input.shape, generator=generator, dtype=torch.float64)
    weight = 1.0 + 0.5 * torch.randn(input.shape[1], generator=generator, dtype=torch.float64)
    if zero_weight:
        weight[::2] = 0.0
    return {
        "grad_output": grad_output.to(dtype), "input": input.to(dtype),
        "weight": weight.to(dtype), "eps": eps,
    }


BATCH_NORM_BACKWARD = Operation(
    "batch_norm_backward", reference, make_arguments,
    # The arguments are compared after the call too: a backward pass must not
    # overwrite the tensors it is given.
    state=("grad_output", "input", "weight"),
    planted=MISTAKES, outputs=("grad_input", "grad_weight", "grad_bias"),
    # Autograd, or PyTorch's own backward kernels, would pass every test. (The
    # TorchFunctionMode of call_student sees each of these calls; torch.func.vjp and
    # torch.autograd.functional call torch.autograd.grad, so they are refused too.
    # The kernels are refused at the dispatcher too: calling an output's grad_fn
    # directly runs aten.native_batch_norm_backward without torch.autograd.)
    forbidden=Forbidden("batch_norm_backward", {
        torch.autograd.grad: "autograd (torch.autograd.grad)",
        torch.Tensor.backward: "autograd (Tensor.backward)",
        torch.autograd.backward: "autograd (torch.autograd.backward)",
        torch.batch_norm_backward_reduce: "torch.batch_norm_backward_reduce",
        torch.batch_norm_backward_elemt: "torch.batch_norm_backward_elemt",
        **aten(
            "native_batch_norm_backward", "batch_norm_backward", "_batch_norm_impl_index_backward",
            "cudnn_batch_norm_backward", "miopen_batch_norm_backward", "batch_norm_backward_reduce",
            "batch_norm_backward_elemt",
        ),
    }),
    # The outputs are BatchNorm's gradients: the same cancellation, and the room batch_norm gives them.
    tolerances={("output", dtype): BATCH_NORM.tolerances[("grad", dtype)] for dtype in (torch.float32, torch.float64)},
)

# --- the check entries ---


class UsesAutograd(Exception):
    """The function returned tensors that are part of an autograd graph."""


def _without_autograd(student):
    """``student``, failing when a result carries an autograd graph although no input does."""

    @functools.wraps(student)
    def run(*args):
        result = student(*args)
        parts = result if isinstance(result, (tuple, list)) else (result,)
        for name, part in zip(BATCH_NORM_BACKWARD.outputs, parts):
            if isinstance(part, torch.Tensor) and part.requires_grad:
                raise UsesAutograd(
                    f"{name} is part of an autograd graph (requires_grad=True), although no input "
                    "requires gradients. Compute the gradients from the formulas with plain tensor "
                    "operations, without autograd."
                )
        return result

    return run


@entry
def check_batch_norm_backward(student, *, devices=None, **arguments) -> Report:
    """Compare ``student`` with autograd through ``F.batch_norm`` (arguments: see ``make_arguments``).

    Compares grad_input, grad_weight and grad_bias on every device, and that
    the arguments are left unchanged.
    """
    return BATCH_NORM_BACKWARD.compare(_without_autograd(student), devices=devices, **arguments)


@entry
def check_batch_norm_backward_numeric(student, **arguments) -> Report:
    """Compare ``student`` with central-difference gradients, in float64 on the CPU.

    Arguments: see ``make_arguments`` (the dtype is float64). Keep the tensors
    small (a few hundred elements): each input element costs two forward
    passes. Avoid one or two values per channel: the normalized output then
    barely depends on the input, every gradient is tiny, and the relative
    error measures rounding.
    """
    return compare_numerically(BATCH_NORM_BACKWARD, _without_autograd(student), **arguments)
