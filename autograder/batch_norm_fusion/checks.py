"""The spec of ``fuse_conv_bn_eval`` and its check entries.

The student writes ``fuse_conv_bn_eval(conv, bn)``, which takes two PyTorch
layers and returns a convolution. A check builds the layers from seeded tensors
(the engine's arguments, so that every device, dtype and the simulated GPU work
as for any operation), calls the function, and compares with
``torch.nn.utils.fusion.fuse_conv_bn_eval`` what a caller relies on: the fused
convolution's weight and bias, its output on an input, and the two layers
passed in, which must come out as they went in.

It runs on the CPU, and on a real GPU or the simulated one: there a fusion's
``copy.deepcopy`` of the convolution (as PyTorch's does) copies fake tensors
into fake tensors of the same run (``autograder.core.devices``).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn
from torch.nn.utils import fusion

from ..core.calling import ForbiddenCall, call_student, describe_call
from ..core.engine import check_against_reference, check_raises
from ..core.failure import Failure
from ..core.forbidden import Forbidden
from ..core.report import Report, entry
from ..core.spec import ErrorInput, Operation
from .planted import FUSES_TRAINING_MODE, MISSING_BIAS_IS_AN_ERROR, MISTAKES

CONVS = {1: (nn.Conv1d, nn.BatchNorm1d), 2: (nn.Conv2d, nn.BatchNorm2d), 3: (nn.Conv3d, nn.BatchNorm3d)}
OUTPUTS = ("the fused convolution's weight", "the fused convolution's bias", "the fused convolution's output")
# The layers' tensors: a check compares them after the call with what they were.
STATE = ("conv.weight", "conv.bias", "bn.running_mean", "bn.running_var", "bn.weight", "bn.bias")


def make_arguments(
    shape=(2, 3, 6, 6), out_channels=4, *, in_channels=None, kernel_size=3, stride=1, padding=1, groups=1,
    bias=True, affine=True, eps=1e-5, training=False, dtype=torch.float32, seed=0,
) -> dict:
    """Seeded tensors of a convolution and the BatchNorm after it, and an input; ``training``: the BatchNorm's mode.

    ``in_channels`` (default ``shape[1]``) changes the input's channels. The
    running statistics are away from (0, 1) and the weight's scale is that of
    PyTorch's initialization, so that every part of the formula matters.
    """
    generator = torch.Generator().manual_seed(seed)
    shape = (shape[0], in_channels or shape[1], *shape[2:])
    kernel = (kernel_size,) * (len(shape) - 2)
    draw = lambda *size: torch.randn(size, generator=generator, dtype=torch.float64)  # noqa: E731
    fan_in = shape[1] // groups * kernel_size ** len(kernel)
    weight = draw(out_channels, shape[1] // groups, *kernel) / fan_in ** 0.5
    arguments = {
        "input": draw(*shape), "conv.weight": weight, "conv.bias": 0.3 * draw(out_channels) if bias else None,
        "bn.running_mean": 0.5 * draw(out_channels),
        "bn.running_var": 0.05 + torch.rand(out_channels, generator=generator, dtype=torch.float64),
        "bn.weight": 1.0 + 0.5 * draw(out_channels) if affine else None,
        "bn.bias": 0.5 * draw(out_channels) if affine else None,
    }
    arguments = {key: None if t is None else t.to(dtype) for key, t in arguments.items()}
    return {**arguments, "stride": stride, "padding": padding, "groups": groups, "eps": eps, "training": training}


def layers(weight, bias, running_mean, running_var, bn_weight, bn_bias, stride, padding, groups, eps, training):
    """The convolution (in evaluation mode) and the BatchNorm that these tensors are, holding them (no copies)."""
    conv_class, bn_class = CONVS[weight.dim() - 2]
    out_channels, in_channels, *kernel = weight.shape
    # Their own initial values are replaced at once; drawing them leaves the caller's generator as it was.
    with torch.random.fork_rng(devices=[]):
        conv = conv_class(in_channels * groups, out_channels, tuple(kernel), stride=stride, padding=padding,
                          groups=groups, bias=bias is not None)
        bn = bn_class(out_channels, eps=eps, affine=bn_weight is not None)
    conv.load_state_dict({"weight": weight, **({} if bias is None else {"bias": bias})}, assign=True)
    counted = torch.zeros((), dtype=torch.long, device=running_mean.device)
    bn.load_state_dict({"running_mean": running_mean, "running_var": running_var, "num_batches_tracked": counted,
                        **({} if bn_weight is None else {"weight": bn_weight, "bias": bn_bias})}, assign=True)
    return conv.eval(), bn.train(training)


def _through_layers(fuse):
    """``fuse(conv, bn)`` as a function of a check's arguments: the fused weight, bias and output."""
    def run(input, weight, bias, running_mean, running_var, bn_weight, bn_bias, *options):
        given = (weight, bias, running_mean, running_var, bn_weight, bn_bias)
        conv, bn = layers(*given, *options)
        fused = fuse(conv, bn)
        _keep_what_they_hold(conv, bn, given)
        return fused.weight, fused.bias, fused(input)

    return run


def _keep_what_they_hold(conv, bn, given) -> None:
    """Write into the given tensors what the layers hold now, had the function replaced one of them.

    An in-place change of a parameter is already in its tensor; ``conv.weight =
    nn.Parameter(...)`` is not, and the check must see it too. A tensor that was
    removed, or no longer fits, reads as NaN.
    """
    now = (conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.weight, bn.bias)
    with torch.no_grad():
        for before, after in zip(given, now):
            if before is None or after is before:
                continue
            if isinstance(after, torch.Tensor) and after.shape == before.shape:
                before.copy_(after)
            else:
                before.fill_(float("nan"))


def _runs(planted):
    return tuple(replace(p, function=_through_layers(p.function)) for p in planted)


def _reference(*values):
    return _through_layers(fusion.fuse_conv_bn_eval)(*values)


FUSE_CONV_BN_EVAL = Operation(
    "fuse_conv_bn_eval", _reference, make_arguments, state=STATE, planted=MISTAKES, outputs=OUTPUTS,
    # PyTorch's fusion utilities would do the whole exercise. They are Python functions, which no
    # torch function mode sees: a graded answer that names one is refused (autograder.core.forbidden).
    forbidden=Forbidden("fuse_conv_bn_eval", {
        fusion.fuse_conv_bn_eval: "torch.nn.utils.fusion.fuse_conv_bn_eval",
        fusion.fuse_conv_bn_weights: "torch.nn.utils.fusion.fuse_conv_bn_weights",
        fusion.fuse_linear_bn_eval: "torch.nn.utils.fusion.fuse_linear_bn_eval",
        fusion.fuse_linear_bn_weights: "torch.nn.utils.fusion.fuse_linear_bn_weights",
        torch.ao.quantization.fuse_modules: "torch.ao.quantization.fuse_modules",
        torch.ao.quantization.fuse_conv_bn: "torch.ao.quantization.fuse_conv_bn",
    }),
    error_inputs=(ErrorInput(dict(training=True), AssertionError,
                             "for a BatchNorm in training mode (fusion is for evaluation only)"),),
)
SPECS = (FUSE_CONV_BN_EVAL,)


# --- the check entries ---


@entry
def check_fuse_conv_bn_eval(student, *, devices=None, **arguments) -> Report:
    """Compare ``student(conv, bn)`` with PyTorch's fusion on the layers of ``make_arguments(**arguments)``.

    Compares the fused convolution's weight, bias and output, and the layers
    passed in after the call, on every device.
    """
    spec = FUSE_CONV_BN_EVAL
    args = spec.make_arguments(**arguments)
    if args["conv.bias"] is None:
        _accepts_a_convolution_without_bias(student, args)
    return check_against_reference(
        _through_layers(student), spec.reference, args, name=spec.name, state=spec.state, planted=_runs(spec.planted),
        devices=devices, forbidden=spec.forbidden, outputs=spec.outputs)


@entry
def check_fuse_conv_bn_eval_rejects_training(student, devices=None) -> Report:
    """Check that a BatchNorm in training mode is refused with AssertionError, as PyTorch does."""
    spec = FUSE_CONV_BN_EVAL
    error = spec.error_inputs[0]
    return check_raises(
        student, spec.make_arguments(**error.arguments), error.exception, name=spec.name, when=error.when,
        devices=devices, mistake_if_returned=FUSES_TRAINING_MODE, forbidden=spec.forbidden,
        call=lambda fuse, a: fuse(*layers(*list(a.values())[1:])))



def _accepts_a_convolution_without_bias(student, args: dict) -> None:
    """Fail, naming the mistake, a function that raises for ``conv.bias = None`` and not for a bias of zeros."""
    where = describe_call(FUSE_CONV_BN_EVAL.name, args) + " on cpu"
    forbidden = FUSE_CONV_BN_EVAL.forbidden
    called = call_student(_through_layers(student), args, where=where, forbidden=forbidden)
    if called.error is None or isinstance(called.error, (NotImplementedError, ForbiddenCall)):
        return
    zeros = {**args, "conv.bias": torch.zeros_like(args["bn.running_mean"])}
    if call_student(_through_layers(student), zeros, where=where, forbidden=forbidden).error is None:
        Failure(where, summary=called.failure.summary + " for a convolution without bias",
                mistake=MISSING_BIAS_IS_AN_ERROR.words).fail()
