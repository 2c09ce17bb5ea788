"""Dropout's check entries for what is certain: the scale, evaluation mode, p = 0 and 1, an invalid p, the
gradient, inplace and the seed."""

from __future__ import annotations

from dataclasses import replace

import torch

from ..core.calling import call_student
from ..core.compare import describe_difference
from ..core.engine import check_raises
from ..core.failure import fail
from ..core.report import Report, entry
from ..core.tolerances import tolerance_for
from ._common import (call, describe, fresh, on_each_device, require_output_type, require_probability,
                      seeded_student)
from .planted import (DETACHED, FIXED_MASK, MODIFIES_INPUT, NAN_WHEN_P_IS_ONE, NOT_IN_PLACE, NOT_SEEDED,
                      NOT_VALIDATED, VALIDATED_ONLY_IN_TRAINING, ZEROES_INPUT_AT_ONE)
from .properties import IDENTITY_IN_EVALUATION, eval_effect_of, require_kept_scaled
from .spec import DROPOUT, make_input

# --- the check entries ---------------------------------------------------------------------


@entry
def check_dropout_scale(student, *, shape=(64, 50), p=0.3, dtype=torch.float32, seed=0, devices=None) -> Report:
    """Check that each element is either 0 or the input times 1 / (1 - p), in training mode.

    Also checks the output's shape, dtype and device, and that the input is left unchanged.
    """
    require_probability(p, "check_dropout_scale")
    input = make_input(shape, dtype=dtype, seed=seed)
    report = Report(describe(shape, dtype, p, True))

    def on_device(device):
        where = f"{report.call} on {device}"
        x, output = seeded_student(student, where, input, device, p, seed)
        if not torch.equal(x, fresh(input, device)):
            fail(where, problems=("the input was modified.",), mistake=MODIFIES_INPUT)
        require_kept_scaled(where, output, x, p, seed)

    return on_each_device(student, report, input, p, True, on_device, devices)


@entry
def check_dropout_eval(student, *, shape=(64, 50), p=0.5, dtype=torch.float32, seed=0, devices=None,
                       inplace=False) -> Report:
    """Check that evaluation mode (training=False) returns the input's values unchanged."""
    require_probability(p, "check_dropout_eval")
    input = make_input(shape, dtype=dtype, seed=seed)
    report = Report(describe(shape, dtype, p, False, inplace))

    def on_device(device):
        where = f"{report.call} on {device}"
        x, original = fresh(input, device), fresh(input, device)
        output = call(student, where, x, p, False, inplace)
        require_output_type(where, output, x)
        modified = not torch.equal(x, original)
        if modified and not inplace:
            fail(where, problems=("the input was modified.",), mistake=MODIFIES_INPUT)
        effect = IDENTITY_IN_EVALUATION.statistic(output, x, original, p)
        if not IDENTITY_IN_EVALUATION.holds(effect):
            zeros = int((output == 0).sum())
            problem = ("the input was modified" if modified else
                       f"the output differs from the input ({zeros} of {output.numel()} elements are 0)")
            IDENTITY_IN_EVALUATION.fail(
                where, effect, problem=problem + "; in evaluation mode dropout is the identity.",
                run=lambda function: eval_effect_of(function, original, p, inplace),
            )
        if inplace and output is not x:
            fail(where, problems=("the output is a new tensor; with inplace=True PyTorch returns the input itself.",),
                 mistake=NOT_IN_PLACE)

    return on_each_device(student, report, input, p, False, on_device, devices, inplace)


@entry
def check_dropout_p_zero_and_one(student, *, shape=(16, 8), dtype=torch.float32, seed=0, devices=None) -> Report:
    """Check the extremes in training mode: p = 0 keeps everything, p = 1 drops everything (no NaN).

    Both leave the input unchanged (inplace=False).
    """
    input = make_input(shape, dtype=dtype, seed=seed)
    report = Report(describe(shape, dtype, "p=0.0 and p=1.0", True))

    def on_device(device):
        x = fresh(input, device)
        where = f"{describe(shape, dtype, 0.0, True)} on {device}"
        output = call(student, where, x, 0.0, True)
        require_output_type(where, output, x)
        if not torch.equal(output, x):
            fail(where, problems=(f"{int((output != x).sum())} of {x.numel()} elements differ from the input; "
                                  "with p = 0 nothing is dropped and the scale is 1 / (1 - 0) = 1.",))
        where = f"{describe(shape, dtype, 1.0, True)} on {device}"
        output = call(student, where, x, 1.0, True)
        require_output_type(where, output, x)
        if not torch.equal(x, fresh(input, device)):
            fail(where, problems=(f"{int((x != fresh(input, device)).sum())} of {x.numel()} elements of the input "
                                  "changed, with inplace=False.",), mistake=ZEROES_INPUT_AT_ONE)
        if torch.isnan(output).any():
            fail(where, problems=(f"{int(torch.isnan(output).sum())} of {x.numel()} elements are NaN.",),
                 mistake=NAN_WHEN_P_IS_ONE)
        if not bool((output == 0).all()):
            fail(where, problems=(f"{int((output != 0).sum())} of {x.numel()} elements are not 0; "
                                  "with p = 1 every element is dropped.",))

    # The simulated GPU runs the p = 1 case, the one most likely to take its own path.
    return on_each_device(student, report, input, 1.0, True, on_device, devices)


@entry
def check_dropout_rejects_p(student, p, *, training=True, devices=None) -> Report:
    """Check that p outside [0, 1] raises ValueError, as PyTorch does, in either mode."""
    error = replace(DROPOUT.error_inputs[0], arguments={"p": p, "training": training})
    return check_raises(student, DROPOUT.make_arguments(**error.arguments), error.exception, name=DROPOUT.name,
                        devices=devices, when=error.when,
                        mistake_if_returned=NOT_VALIDATED if training else VALIDATED_ONLY_IN_TRAINING,
                        forbidden=DROPOUT.forbidden)


@entry
def check_dropout_gradient(student, *, shape=(40, 30), p=0.4, training=True, dtype=torch.float32, seed=0,
                           devices=None) -> Report:
    """Check that the gradient with respect to the input is grad_output * mask / (1 - p).

    The mask is read from the output (input has no zeros); in evaluation mode,
    and for p = 0, the gradient is grad_output itself; for p = 1 it is 0.
    """
    require_probability(p, "check_dropout_gradient")
    input = make_input(shape, dtype=dtype, seed=seed)
    report = Report(describe(shape, dtype, p, training) + ", gradient")

    def on_device(device):
        where = f"{report.call} on {device}"
        x = fresh(input, device).requires_grad_(True)
        torch.manual_seed(seed)
        output = call(student, where, x, p, training)
        require_output_type(where, output, x)
        if not output.requires_grad:
            if training and p == 1:
                return  # all zeros, the gradient is 0 whether or not it is recorded
            fail(where, problems=("the output does not require grad.",), mistake=DETACHED)
        grad_output = torch.randn(shape, generator=torch.Generator().manual_seed(seed + 1), dtype=dtype).to(device)
        # A student's own autograd.Function runs its backward here: call it as student code.
        backward = call_student(lambda: torch.autograd.grad(output, x, grad_output, allow_unused=True), (),
                                where=f"{where}, backward")
        (grad,) = backward.result()
        if grad is None:
            fail(where, problems=("the output does not depend on the input.",), mistake=DETACHED)
        if not training:
            wanted = grad_output
        elif p == 1:
            wanted = torch.zeros_like(grad_output)
        else:
            wanted = grad_output * (output.detach() != 0) * (1 / (1 - p))
        problem = describe_difference(
            "the gradient with respect to input (expected grad_output * (output != 0) / (1 - p))",
            grad, wanted, tolerance_for(f"{DROPOUT.name}.grad", x.dtype),
        )
        if problem:
            fail(where, problems=(problem,))

    return on_each_device(student, report, input, p, training, on_device, devices)


@entry
def check_dropout_inplace(student, *, shape=(64, 50), p=0.3, dtype=torch.float32, seed=0, devices=None) -> Report:
    """Check that inplace=True drops and rescales the input itself and returns it."""
    require_probability(p, "check_dropout_inplace")
    input = make_input(shape, dtype=dtype, seed=seed)
    report = Report(describe(shape, dtype, p, True, inplace=True))

    def on_device(device):
        where = f"{report.call} on {device}"
        x, output = seeded_student(student, where, input, device, p, seed, inplace=True)
        if output is not x:
            problem = "the output is a new tensor, not the input."
            if torch.equal(x, fresh(input, device)):
                problem += " The input was left unchanged."
            fail(where, problems=(problem,), mistake=NOT_IN_PLACE)
        # The input now holds the output: compare it with the values it had.
        require_kept_scaled(where, output, fresh(input, device), p, seed)
        if not bool((output == 0).any()) and (1 - p) ** output.numel() < 1e-9:
            fail(where, problems=(f"no element of the input was set to 0, with p={p}.",))

    return on_each_device(student, report, input, p, True, on_device, devices, inplace=True)


@entry
def check_dropout_seed(student, *, shape=(32, 40), p=0.5, seed=0, devices=None) -> Report:
    """Check that torch.manual_seed(s) makes the mask reproducible, and that successive calls differ."""
    # With p = 0 or 1 every call drops the same elements (none, or all): the check could not tell.
    require_probability(p, "check_dropout_seed", zero=False, one=False)
    input = make_input(shape, seed=seed)
    report = Report(describe(shape, torch.float32, p, True) + ", twice after torch.manual_seed")

    def on_device(device):
        where = f"{report.call} on {device}"
        x = fresh(input, device)
        masks = []
        for _ in range(2):
            torch.manual_seed(seed)
            output = call(student, where, x, p, True)
            require_output_type(where, output, x)
            masks.append(output != 0)
        if not torch.equal(masks[0], masks[1]):
            fail(where, problems=("two calls after the same torch.manual_seed dropped different elements.",),
                 mistake=NOT_SEEDED)
        following = call(student, where, x, p, True) != 0
        if torch.equal(following, masks[1]):
            fail(where, problems=("two successive calls, without re-seeding in between, dropped the same elements.",),
                 mistake=FIXED_MASK)

    return on_each_device(student, report, input, p, True, on_device, devices)
