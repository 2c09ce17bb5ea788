"""Checks for the dropout exercise.

The student's ``dropout(input, p=0.5, training=True, inplace=False)`` must
behave as ``torch.nn.functional.dropout``. Its output is random, so it cannot
be compared with PyTorch's element by element (the two draw their masks
differently). What is certain is checked exactly:

* every element is either dropped (exactly 0) or kept and multiplied by
  1 / (1 - p), to the precision of the dtype;
* the gradient is the mask times 1 / (1 - p): ``grad_output * (output != 0) / (1 - p)``;
* evaluation mode, p = 0 and p = 1, invalid p, ``inplace``, dtype and device;
* the same ``torch.manual_seed`` gives the same mask, and successive calls differ.

What is random is checked statistically, on n = 200,000 elements: the dropped
fraction must lie within 6 standard deviations of p (binomial, sd = √(p(1-p)/n)),
and the mean of the output within 6 standard deviations of the input's mean.
A correct dropout fails a 6-sigma bound with probability about 2e-9; every
check also fixes the seed, so a verdict is reproducible.

The inputs hold no zeros, so an element of the output is 0 exactly when it was
dropped. The known mistakes are planted in ``_dropout``, a re-implementation
with one keyword switch per mistake; a check names a mistake when the
student's dropout behaves like the planted one on the same input and seed.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from .core import integrity
from .core.calling import aten, call_student
from .core.checks import Report, check, check_raises, fail_diagnosed, run_simulated
from .core.compare import describe_difference, describe_wrong_type
from .core.devices import SIMULATED_CUDA, available_devices
from .core.failure import Failure
from .core.mistakes import DETACHED as DETACHED_FROM_AUTOGRAD
from .core.mistakes import Mistake, Planted, catch
from .core.tolerances import tolerance_for

NAME = "dropout"
SIGMAS = 6.0
INPUT_SEED_OFFSET = 1_000_003
# Calling PyTorch's own dropout would pass every test.
# On the CPU, F.dropout decomposes into bernoulli_ and arithmetic, which a student's own
# dropout may use as well: there it is refused by name only. On a GPU it reaches the kernels.
FORBIDDEN = {
    F.dropout: "torch.nn.functional.dropout",
    torch.dropout: "torch.dropout",
    torch.dropout_: "torch.dropout_",
    torch.native_dropout: "torch.native_dropout",
    **aten("dropout", "dropout_", "native_dropout", "_fused_dropout"),
    # Refused at run time through F.dropout, named here for the check of an answer's source.
    torch.nn.Dropout: "torch.nn.Dropout",
}

# --- the mistakes ----------------------------------------------------------------------

NO_RESCALE = Mistake(
    "dropout.no_rescale",
    "the kept elements are not rescaled. Multiply them by 1 / (1 - p), so that each element keeps its "
    "expected value and evaluation mode needs no change.",
)
SCALE_BY_KEEP = Mistake(
    "dropout.scale_by_keep", "the kept elements are multiplied by (1 - p). Divide them by (1 - p) instead."
)
SCALE_BY_P = Mistake(
    "dropout.scale_by_p",
    "the kept elements are divided by p. Divide them by (1 - p), the probability that an element is kept.",
)
ACTIVE_IN_EVAL = Mistake(
    "dropout.active_in_eval",
    "dropout is applied in evaluation mode. With training=False, return the input unchanged (PyTorch returns "
    "the input tensor itself).",
)
SCALED_IN_EVAL = Mistake(
    "dropout.scaled_in_eval",
    "evaluation mode multiplies the input by (1 - p), as the original dropout paper does at test time. This "
    "dropout is inverted: training divides the kept elements by (1 - p), so evaluation mode returns the input "
    "unchanged.",
)
KEEP_WITH_P = Mistake(
    "dropout.keep_with_p",
    "elements are kept with probability p, so a fraction 1 - p is dropped. p is the probability of dropping "
    "an element: keep it where torch.rand_like(input) >= p.",
)
NORMAL_MASK = Mistake(
    "dropout.normal_mask",
    "the mask is drawn from a normal distribution (torch.randn_like), so the dropped fraction is not p. Draw "
    "uniform numbers in [0, 1): keep an element where torch.rand_like(input) >= p.",
)
CPU_MASK = Mistake(
    "dropout.cpu_mask",
    "the mask is created on the CPU (e.g. torch.rand(input.shape)). Create it on the input's device: "
    "torch.rand_like(input), or torch.rand(input.shape, device=input.device).",
)
NAN_WHEN_P_IS_ONE = Mistake(
    "dropout.nan_when_p_is_one",
    "p = 1 divides by 1 - p = 0, which gives NaN (0 * inf) or, in Python, ZeroDivisionError. With p = 1 "
    "every element is dropped: return zeros, e.g. input * 0.",
)
NOT_VALIDATED = Mistake(
    "dropout.not_validated",
    "p outside [0, 1] is accepted. Raise ValueError(f\"dropout probability has to be between 0 and 1, but got "
    "{p}\"), as PyTorch does, before anything else.",
)
VALIDATED_ONLY_IN_TRAINING = Mistake(
    "dropout.validated_only_in_training",
    "p is validated only in training mode. PyTorch raises ValueError for p outside [0, 1] whatever `training` "
    "is: check p first.",
)
FIXED_MASK = Mistake(
    "dropout.fixed_mask",
    "every call drops the same elements. Draw a new mask on every call from torch's global generator; do not "
    "create a torch.Generator with a fixed seed inside the function.",
)
NOT_SEEDED = Mistake(
    "dropout.not_seeded",
    "torch.manual_seed does not make the mask reproducible. Draw it with torch (torch.rand_like, "
    "torch.bernoulli), not with Python's random or NumPy.",
)
SHARED_MASK = Mistake(
    "dropout.shared_mask",
    "all rows share one mask. Draw one random number per element: torch.rand_like(input), not "
    "torch.rand(input.shape[1:]).",
)
ROW_MASK = Mistake(
    "dropout.row_mask",
    "each row is dropped or kept as a whole (one random number per row). Drop each element independently: "
    "torch.rand_like(input) draws one random number per element.",
)
DETACHED = DETACHED_FROM_AUTOGRAD(
    what="output", how="by .detach(), .data, torch.no_grad() or NumPy",
    consequence="the gradient does not reach the layers below",
)
MODIFIES_INPUT = Mistake(
    "dropout.modifies_input",
    "the input is changed although inplace=False. Compute a new tensor (input * mask) instead of modifying "
    "the input (input.mul_(mask), input[mask] = 0).",
)
NOT_IN_PLACE = Mistake(
    "dropout.not_in_place",
    "with inplace=True, modify the input itself (input.mul_(...), input.copy_(...)) and return it, as "
    "PyTorch does.",
)


def _dropout(
    input, p=0.5, training=True, inplace=False, *, no_rescale=False, scale_by_keep=False, scale_by_p=False,
    active_in_eval=False, scaled_in_eval=False, keep_with_p=False, normal_mask=False, cpu_mask=False,
    nan_when_p_is_one=False, not_validated=False, validated_only_in_training=False, fixed_mask=False,
    not_seeded=False, shared_mask=False, row_mask=False, detached=False, modifies_input=False,
    not_in_place=False,
):
    """Dropout, with a switch for each known mistake."""
    validated = not not_validated and (training or not validated_only_in_training)
    if validated and not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training and scaled_in_eval:
        return input * (1 - p)
    if not training and not active_in_eval:
        return input
    if fixed_mask:
        generator = torch.Generator(device=input.device).manual_seed(0)
        uniform = torch.rand(input.shape, generator=generator, device=input.device, dtype=input.dtype)
    elif not_seeded:
        uniform = torch.as_tensor(np.random.rand(*input.shape), dtype=input.dtype)
    elif shared_mask:
        uniform = torch.rand(input.shape[1:], device=input.device, dtype=input.dtype).expand(input.shape)
    elif row_mask:
        per_row = (input.shape[0],) + (1,) * (input.dim() - 1)
        uniform = torch.rand(per_row, device=input.device, dtype=input.dtype).expand(input.shape)
    elif cpu_mask:
        uniform = torch.rand(input.shape, dtype=input.dtype)
    elif normal_mask:
        uniform = torch.randn_like(input)
    else:
        uniform = torch.rand_like(input)
    keep = uniform < p if keep_with_p else uniform >= p
    if no_rescale:
        scale = 1.0
    elif scale_by_keep:
        scale = 1 - p
    elif scale_by_p:
        scale = 1 / p if p else math.inf
    elif p < 1:
        scale = 1 / (1 - p)
    else:
        scale = math.inf if nan_when_p_is_one else 0.0
    if detached:
        input = input.detach()
    if (inplace and not not_in_place) or modifies_input:
        result = input.mul_(keep).mul_(scale)
        return result.clone() if modifies_input else result
    return input * keep * scale


SCALE = catch("check_dropout_scale", p=0.3)
FRACTION = catch("check_dropout_fraction", p=0.2)


def _planted(mistake, *catches, **switch) -> Planted:
    return Planted(mistake, partial(_dropout, **switch), catches)


MISTAKES = (
    _planted(NO_RESCALE, SCALE, catch("check_dropout_mean", p=0.6), no_rescale=True),
    _planted(SCALE_BY_KEEP, SCALE, catch("check_dropout_mean", p=0.6), scale_by_keep=True),
    _planted(SCALE_BY_P, SCALE, catch("check_dropout_mean", p=0.6), scale_by_p=True),
    _planted(ACTIVE_IN_EVAL, catch("check_dropout_eval"), active_in_eval=True),
    _planted(SCALED_IN_EVAL, catch("check_dropout_eval"), catch("check_dropout_eval", inplace=True),
             scaled_in_eval=True),
    _planted(KEEP_WITH_P, FRACTION, catch("check_dropout_mean", p=0.6), keep_with_p=True),
    _planted(NORMAL_MASK, FRACTION, normal_mask=True),
    _planted(CPU_MASK, SCALE, cpu_mask=True),
    _planted(NAN_WHEN_P_IS_ONE, catch("check_dropout_p_zero_and_one"), nan_when_p_is_one=True),
    _planted(NOT_VALIDATED, catch("check_dropout_rejects_p", 1.5), not_validated=True),
    _planted(VALIDATED_ONLY_IN_TRAINING, catch("check_dropout_rejects_p", 1.5, training=False),
             validated_only_in_training=True),
    _planted(FIXED_MASK, catch("check_dropout_seed"), fixed_mask=True),
    _planted(NOT_SEEDED, catch("check_dropout_seed"), not_seeded=True),
    _planted(SHARED_MASK, FRACTION, shared_mask=True),
    _planted(ROW_MASK, FRACTION, row_mask=True),
    _planted(DETACHED, catch("check_dropout_gradient", p=0.4), detached=True),
    _planted(MODIFIES_INPUT, SCALE, modifies_input=True),
    _planted(NOT_IN_PLACE, catch("check_dropout_inplace", p=0.3), not_in_place=True),
)


def _candidates(*mistakes: Mistake) -> tuple[Planted, ...]:
    """The planted mistakes that a statistic (a scale, a fraction, a mean) can tell apart."""
    return tuple(p for p in MISTAKES if p.mistake in mistakes)


# --- inputs and calls -----------------------------------------------------------


def make_input(shape=(64, 50), *, dtype=torch.float32, seed=0, positive=False) -> torch.Tensor:
    """A seeded input with no zero, so that an output element is 0 only if it was dropped.

    ``positive`` draws values in [1, 2) (for the statistics of the mean);
    otherwise values of both signs with |x| >= 0.1.
    """
    # The checks seed the mask with torch.manual_seed(seed). Drawing the input from
    # the same seed would correlate it with the mask (the same uniform numbers),
    # and bias the statistics: the input's stream starts elsewhere.
    generator = torch.Generator().manual_seed(INPUT_SEED_OFFSET + seed)
    if positive:
        values = 1 + torch.rand(shape, generator=generator, dtype=torch.float64)
    else:
        values = torch.randn(shape, generator=generator, dtype=torch.float64)
        values = values + 0.1 * torch.where(values >= 0, 1.0, -1.0)
    return values.to(dtype)


def _describe(shape, dtype, p, training, inplace=False) -> str:
    p = p if isinstance(p, str) else f"p={p!r}"
    text = f"{NAME}(input: {tuple(shape)} {str(dtype).replace('torch.', '')}, {p}, training={training!r}"
    return text + (", inplace=True)" if inplace else ")")


def _call(student, where, input, p, training, inplace=False):
    """The student's dropout of ``input`` itself (the checks look at what it did to it)."""
    called = call_student(student, [input, p, training, inplace], where=where, forbidden=FORBIDDEN, copy=False)
    if called.failure is not None:
        mistake = None
        if "same device" in str(called.error):
            mistake = CPU_MASK
        elif isinstance(called.error, ZeroDivisionError) and p == 1:
            mistake = NAN_WHEN_P_IS_ONE
        if mistake:
            replace(called.failure, mistake=mistake.words).fail()
    return called.result()


def _seeded_student(student, where, input, device, p, seed, inplace=False):
    """A fresh copy of ``input`` on ``device``, and the student's training-mode output of it after seeding."""
    x = _fresh(input, device)
    torch.manual_seed(seed)
    output = _call(student, where, x, p, True, inplace)
    _check_output_type(where, output, x)
    return x, output


def _seeded(function, x, p, training, seed, inplace=False):
    """``function``'s output on a fresh copy of ``x``, its mask drawn after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return function(x.detach().clone(), p, training, inplace)


def _fresh(input, device) -> torch.Tensor:
    """A copy of ``input`` on ``device`` (``.to`` alone returns ``input`` itself on its own device)."""
    return input.detach().clone().to(device)


def _check_output_type(where, output, input) -> None:
    problem = describe_wrong_type("the output", output, input)
    if problem:
        Failure(where, problems=(problem,)).fail()


def _probability(p, check_name: str, *, one=True, zero=True) -> None:
    """Refuse a p that ``check_name`` cannot judge, before any call: the test cell is wrong, not the dropout."""
    if (0 < p < 1) or (p == 0 and zero) or (p == 1 and one):
        return
    allowed = {(True, True): "0 <= p <= 1", (True, False): "0 <= p < 1", (False, False): "0 < p < 1",
               (False, True): "0 < p <= 1"}[(zero, one)]
    elsewhere = " (check_dropout_rejects_p checks that such a p is refused)" if not 0 <= p <= 1 else ""
    raise ValueError(f"{check_name} needs {allowed}, got p={p!r}{elsewhere}.")


def _fail(where, problem, mistake: Mistake | None = None):
    Failure(where, problems=(problem,), mistake=mistake.words if mistake else None).fail()


def _simulated(student, report, input, p, training, inplace=False) -> None:
    """Run the student's dropout on fake CUDA tensors: catches masks made on the CPU."""
    # The fake input comes back too, so the output is compared with it as on a real device.
    run = run_simulated(lambda x: (student(x, p, training, inplace), x), [input], report, CPU_MASK, FORBIDDEN)
    if run is None:
        return
    output, x = run.result
    _check_output_type(f"{report.call} on a simulated GPU", output, x)
    report.devices.append(SIMULATED_CUDA)


def _on_devices(student, report, input, p, training, check, devices=None, inplace=False) -> Report:
    """Run ``check(device)`` on each real device, and the simulated GPU where there is none."""
    for device in devices or available_devices():
        if device == SIMULATED_CUDA:
            _simulated(student, report, input, p, training, inplace)
            continue
        # The checks seed torch's generators; leave the student's own sequence as it was.
        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
            check(device)
        report.devices.append(device)
    return report


# --- exact checks -----------------------------------------------------------------


@check
def check_dropout_scale(student, *, shape=(64, 50), p=0.3, dtype=torch.float32, seed=0, devices=None) -> Report:
    """Check that each element is either 0 or the input times 1 / (1 - p), in training mode.

    Also checks the output's shape, dtype and device, and that the input is left unchanged.
    """
    _probability(p, "check_dropout_scale")
    input = make_input(shape, dtype=dtype, seed=seed)
    report = Report(_describe(shape, dtype, p, True))

    def check(device):
        where = f"{report.call} on {device}"
        x, output = _seeded_student(student, where, input, device, p, seed)
        if not torch.equal(x, _fresh(input, device)):
            _fail(where, "the input was modified.", MODIFIES_INPUT)
        _check_kept_are_scaled(where, output, x, p, seed)

    return _on_devices(student, report, input, p, True, check, devices)


def _kept_ratio(output, x) -> float:
    """The median of output / input over the kept elements (NaN if none is kept)."""
    kept = output != 0
    if not bool(kept.any()):
        return math.nan
    return (output[kept].double() / x[kept].double()).median().item()


def _check_kept_are_scaled(where, output, x, p, seed) -> None:
    if torch.isnan(output).any():
        _fail(where, "the output has NaN values.", NAN_WHEN_P_IS_ONE if p == 1 else None)
    if p == 1:  # nothing is kept, nothing is scaled
        if not bool((output == 0).all()):
            _fail(where, f"{int((output != 0).sum())} of {output.numel()} elements are not 0; "
                         "with p = 1 every element is dropped.")
        return
    kept = output != 0
    if not bool(kept.any()) and p ** output.numel() < 1e-9:  # all dropped, by chance, only if tiny
        _fail(where, f"every one of the {output.numel()} elements was dropped, with p={p}.")
    scale = 1 / (1 - p)
    problem = describe_difference(
        "the output's kept part (its elements that are not 0, expected to be "
        f"input / (1 - p) = input * {scale:.6g})",
        output[kept], x[kept] * scale, tolerance_for(NAME, x.dtype),
    )
    if problem:
        ratio = _kept_ratio(output, x)
        fail_diagnosed(
            where, ratio, scale, problems=[problem + f" The kept elements are the input times {ratio:.6g}."],
            planted=_candidates(NO_RESCALE, SCALE_BY_KEEP, SCALE_BY_P), clue=None,
            run=lambda function: _kept_ratio(_seeded(function, x, p, True, seed), x),
            agree=lambda a, b: math.isclose(a, b, rel_tol=1e-3),
        )


@check
def check_dropout_eval(student, *, shape=(64, 50), p=0.5, dtype=torch.float32, seed=0, devices=None,
                       inplace=False) -> Report:
    """Check that evaluation mode (training=False) returns the input's values unchanged."""
    _probability(p, "check_dropout_eval")
    input = make_input(shape, dtype=dtype, seed=seed)
    report = Report(_describe(shape, dtype, p, False, inplace))

    def check(device):
        where = f"{report.call} on {device}"
        x, original = _fresh(input, device), _fresh(input, device)
        output = _call(student, where, x, p, False, inplace)
        _check_output_type(where, output, x)
        modified = not torch.equal(x, original)
        if modified and not inplace:
            _fail(where, "the input was modified.", MODIFIES_INPUT)
        effect = _eval_effect(output, x, original, p)
        if effect != UNCHANGED:
            zeros = int((output == 0).sum())
            problem = ("the input was modified" if modified else
                       f"the output differs from the input ({zeros} of {output.numel()} elements are 0)")
            fail_diagnosed(
                where, effect, UNCHANGED, problems=[problem + "; in evaluation mode dropout is the identity."],
                planted=_candidates(ACTIVE_IN_EVAL, SCALED_IN_EVAL), clue=None,
                run=lambda function: _eval_effect_of(function, original, p, inplace), agree=lambda a, b: a == b,
            )
        if inplace and output is not x:
            _fail(where, "the output is a new tensor; with inplace=True PyTorch returns the input itself.",
                  NOT_IN_PLACE)

    return _on_devices(student, report, input, p, False, check, devices, inplace)


UNCHANGED = "unchanged"


def _eval_effect(output, x, original, p) -> str:
    """What evaluation mode did, in words that a diagnosis compares.

    It describes the input, if the call changed it in place (``x`` is the input
    after the call, ``original`` its values before), else the output.
    """
    result = x if not torch.equal(x, original) else output
    if torch.equal(result, original):
        return UNCHANGED
    if bool((result == 0).any()) or (p < 1 and torch.allclose(result, original / (1 - p))):
        return "dropped or rescaled as in training"
    if torch.allclose(result, original * (1 - p)):
        return "multiplied by 1 - p"
    return "changed"


def _eval_effect_of(function, original, p, inplace) -> str:
    """``_eval_effect`` of a planted dropout in evaluation mode, on a copy of ``original``."""
    x = original.clone()
    return _eval_effect(function(x, p, False, inplace), x, original, p)


@check
def check_dropout_p_zero_and_one(student, *, shape=(16, 8), dtype=torch.float32, seed=0, devices=None) -> Report:
    """Check the extremes in training mode: p = 0 keeps everything, p = 1 drops everything (no NaN)."""
    input = make_input(shape, dtype=dtype, seed=seed)
    report = Report(_describe(shape, dtype, "p=0.0 and p=1.0", True))

    def check(device):
        x = _fresh(input, device)
        where = f"{_describe(shape, dtype, 0.0, True)} on {device}"
        output = _call(student, where, x, 0.0, True)
        _check_output_type(where, output, x)
        if not torch.equal(output, x):
            _fail(where, f"{int((output != x).sum())} of {x.numel()} elements differ from the input; "
                         "with p = 0 nothing is dropped and the scale is 1 / (1 - 0) = 1.")
        where = f"{_describe(shape, dtype, 1.0, True)} on {device}"
        output = _call(student, where, x, 1.0, True)
        _check_output_type(where, output, x)
        if torch.isnan(output).any():
            _fail(where, f"{int(torch.isnan(output).sum())} of {x.numel()} elements are NaN.", NAN_WHEN_P_IS_ONE)
        if not bool((output == 0).all()):
            _fail(where, f"{int((output != 0).sum())} of {x.numel()} elements are not 0; "
                         "with p = 1 every element is dropped.")

    # The simulated GPU runs the p = 1 case, the one most likely to take its own path.
    return _on_devices(student, report, input, 1.0, True, check, devices)


@check
def check_dropout_rejects_p(student, p, *, training=True, devices=None) -> Report:
    """Check that p outside [0, 1] raises ValueError, as PyTorch does, in either mode."""
    arguments = {"input": make_input((4, 5)), "p": p, "training": training}
    # PyTorch's message: "dropout probability has to be between 0 and 1, but got 1.5".
    return check_raises(student, arguments, ValueError, name=NAME, devices=devices,
                        when="for a dropout probability outside [0, 1]",
                        mistake_if_returned=NOT_VALIDATED if training else VALIDATED_ONLY_IN_TRAINING,
                        forbidden=FORBIDDEN)


@check
def check_dropout_gradient(student, *, shape=(40, 30), p=0.4, training=True, dtype=torch.float32, seed=0,
                           devices=None) -> Report:
    """Check that the gradient with respect to the input is grad_output * mask / (1 - p).

    The mask is read from the output (input has no zeros); in evaluation mode,
    and for p = 0, the gradient is grad_output itself; for p = 1 it is 0.
    """
    _probability(p, "check_dropout_gradient")
    input = make_input(shape, dtype=dtype, seed=seed)
    report = Report(_describe(shape, dtype, p, training) + ", gradient")

    def check(device):
        where = f"{report.call} on {device}"
        x = _fresh(input, device).requires_grad_(True)
        torch.manual_seed(seed)
        output = _call(student, where, x, p, training)
        _check_output_type(where, output, x)
        if not output.requires_grad:
            if training and p == 1:
                return  # all zeros, the gradient is 0 whether or not it is recorded
            _fail(where, "the output does not require grad.", DETACHED)
        grad_output = torch.randn(shape, generator=torch.Generator().manual_seed(seed + 1), dtype=dtype).to(device)
        # A student's own autograd.Function runs its backward here: call it as student code.
        backward = call_student(lambda: torch.autograd.grad(output, x, grad_output, allow_unused=True), (),
                                where=f"{where}, backward")
        (grad,) = backward.result()
        if grad is None:
            _fail(where, "the output does not depend on the input.", DETACHED)
        if not training:
            wanted = grad_output
        elif p == 1:
            wanted = torch.zeros_like(grad_output)
        else:
            wanted = grad_output * (output.detach() != 0) * (1 / (1 - p))
        problem = describe_difference(
            "the gradient with respect to input (expected grad_output * (output != 0) / (1 - p))",
            grad, wanted, tolerance_for(f"{NAME}.grad", x.dtype),
        )
        if problem:
            _fail(where, problem)

    return _on_devices(student, report, input, p, training, check, devices)


@check
def check_dropout_inplace(student, *, shape=(64, 50), p=0.3, dtype=torch.float32, seed=0, devices=None) -> Report:
    """Check that inplace=True drops and rescales the input itself and returns it."""
    _probability(p, "check_dropout_inplace")
    input = make_input(shape, dtype=dtype, seed=seed)
    report = Report(_describe(shape, dtype, p, True, inplace=True))

    def check(device):
        where = f"{report.call} on {device}"
        x, output = _seeded_student(student, where, input, device, p, seed, inplace=True)
        if output is not x:
            problem = "the output is a new tensor, not the input."
            if torch.equal(x, _fresh(input, device)):
                problem += " The input was left unchanged."
            _fail(where, problem, NOT_IN_PLACE)
        # The input now holds the output: compare it with the values it had.
        _check_kept_are_scaled(where, output, _fresh(input, device), p, seed)
        if not bool((output == 0).any()) and (1 - p) ** output.numel() < 1e-9:
            _fail(where, f"no element of the input was set to 0, with p={p}.")

    return _on_devices(student, report, input, p, True, check, devices, inplace=True)


@check
def check_dropout_seed(student, *, shape=(32, 40), p=0.5, seed=0, devices=None) -> Report:
    """Check that torch.manual_seed(s) makes the mask reproducible, and that successive calls differ."""
    # With p = 0 or 1 every call drops the same elements (none, or all): the check could not tell.
    _probability(p, "check_dropout_seed", zero=False, one=False)
    input = make_input(shape, seed=seed)
    report = Report(_describe(shape, torch.float32, p, True) + ", twice after torch.manual_seed")

    def check(device):
        where = f"{report.call} on {device}"
        x = _fresh(input, device)
        masks = []
        for _ in range(2):
            torch.manual_seed(seed)
            output = _call(student, where, x, p, True)
            _check_output_type(where, output, x)
            masks.append(output != 0)
        if not torch.equal(masks[0], masks[1]):
            _fail(where, "two calls after the same torch.manual_seed dropped different elements.", NOT_SEEDED)
        following = _call(student, where, x, p, True) != 0
        if torch.equal(following, masks[1]):
            _fail(where, "two successive calls, without re-seeding in between, dropped the same elements.",
                  FIXED_MASK)

    return _on_devices(student, report, input, p, True, check, devices)


# --- statistical checks ---------------------------------------------------------


def _dropped_fraction(output) -> float:
    return (output == 0).double().mean().item()


@check
def check_dropout_fraction(student, *, shape=(400, 500), p=0.2, seed=0, devices=None) -> Report:
    """Check that a fraction p of the elements is dropped, each independently of the others.

    The dropped fraction of n elements has mean p and standard deviation
    √(p(1-p)/n); it must lie within 6 standard deviations of p.
    """
    _probability(p, "check_dropout_fraction")
    input = make_input(shape, seed=seed)
    report = Report(_describe(shape, torch.float32, p, True) + ", dropped fraction")
    n = input.numel()
    bound = SIGMAS * math.sqrt(p * (1 - p) / n)
    # Two fractions drawn with other masks agree within twice the widest bound (a fraction of 1/2).
    agree = lambda a, b: abs(a - b) <= 2 * SIGMAS * math.sqrt(0.25 / n)  # noqa: E731

    def check(device):
        where = f"{report.call} on {device}"
        x, output = _seeded_student(student, where, input, device, p, seed)
        dropped = output == 0
        # Independent draws: two rows (or two columns) share a mask with a negligible probability,
        # unless p = 0 or 1 drops nothing or everything.
        mixed = 0 < p < 1
        if mixed and shape[0] > 1 and bool((dropped == dropped[:1]).all()):
            _fail(where, "every row of the input was dropped at the same positions.", SHARED_MASK)
        if mixed and len(shape) > 1 and shape[-1] > 1 and bool((dropped == dropped[..., :1]).all()):
            _fail(where, "each row was dropped or kept as a whole; drop each element independently.", ROW_MASK)
        fraction = _dropped_fraction(output)
        if abs(fraction - p) > bound:
            fail_diagnosed(
                where, fraction, p, planted=_candidates(KEEP_WITH_P, NORMAL_MASK), agree=agree, clue=None,
                run=lambda function: _dropped_fraction(_seeded(function, x, p, True, seed)),
                problems=[f"{fraction:.2%} of the {n} elements were dropped; expected p = {p:.0%} ± {bound:.2%} "
                          f"({SIGMAS:g} standard deviations of the dropped fraction)."],
            )
        report.notes.append(f"{fraction:.3%} dropped on {device}; allowed {p:.0%} ± {bound:.3%}")

    return _on_devices(student, report, input, p, True, check, devices)


@check
def check_dropout_mean(student, *, shape=(400, 500), p=0.6, seed=0, devices=None) -> Report:
    """Check that dropout preserves the mean: E[output] = input, element by element.

    Each output element is x / (1 - p) with probability 1 - p and 0 otherwise;
    its variance is x² p / (1 - p). The mean of the n outputs must lie within
    6 standard deviations, √(Σ x² p / (1 - p)) / n, of the mean of the inputs.
    """
    # With p = 1 every output is 0: there is no mean to preserve.
    _probability(p, "check_dropout_mean", one=False)
    input = make_input(shape, seed=seed, positive=True)
    report = Report(_describe(shape, torch.float32, p, True) + ", mean")
    n = input.numel()
    target = input.double().mean().item()
    sd = math.sqrt(input.double().square().sum().item() * p / (1 - p)) / n
    # Two means drawn with other masks: twice the bound, widened as a mistake scales the output.
    agree = lambda a, b: abs(a - b) <= 2 * SIGMAS * sd * max(abs(b) / target, 1)  # noqa: E731

    def check(device):
        where = f"{report.call} on {device}"
        x, output = _seeded_student(student, where, input, device, p, seed)
        mean = output.double().mean().item()
        if abs(mean - target) > SIGMAS * sd:
            fail_diagnosed(
                where, mean, target, agree=agree, clue=None,
                planted=_candidates(NO_RESCALE, SCALE_BY_KEEP, SCALE_BY_P, KEEP_WITH_P, NORMAL_MASK),
                run=lambda function: _seeded(function, x, p, True, seed).double().mean().item(),
                problems=[f"the mean of the output is {mean:.5g}; the mean of the input is {target:.5g}, and dropout "
                          f"must preserve it within {SIGMAS * sd:.2g} ({SIGMAS:g} standard deviations)."],
            )
        report.notes.append(f"mean {mean:.5f} on {device}; input's mean {target:.5f} ± {SIGMAS * sd:.5f}")

    return _on_devices(student, report, input, p, True, check, devices)


# Trust this module and what it uses, before any student code runs (see autograder.core.integrity).
integrity.trust_package()
