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
dropped.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .core.compare import describe_difference, describe_wrong_type
from .core.devices import SIMULATED_CUDA, available_devices
from .core import integrity
from .core.harness import Report, Variant, Forbid, ForbiddenCall, check_raises, quiet, run_simulated
from .core.tolerances import tolerance_for

NAME = "dropout"
SIGMAS = 6.0
INPUT_SEED_OFFSET = 1_000_003
# Calling PyTorch's own dropout would pass every test.
FORBIDDEN = {
    F.dropout: "torch.nn.functional.dropout",
    torch.dropout: "torch.dropout",
    torch.dropout_: "torch.dropout_",
    torch.native_dropout: "torch.native_dropout",
}

# Mistakes named in failure messages.
NO_RESCALE = (
    "the kept elements are not rescaled. Multiply them by 1 / (1 - p), so that "
    "each element keeps its expected value and evaluation mode needs no change."
)
SCALE_BY_KEEP = "the kept elements are multiplied by (1 - p). Divide them by (1 - p) instead."
SCALE_BY_P = (
    "the kept elements are divided by p. Divide them by (1 - p), the probability "
    "that an element is kept."
)
ACTIVE_IN_EVAL = (
    "dropout is applied in evaluation mode. With training=False, return the input "
    "unchanged (PyTorch returns the input tensor itself)."
)
KEEP_WITH_P = (
    "elements are kept with probability p, so a fraction 1 - p is dropped. p is the "
    "probability of dropping an element: keep it where torch.rand_like(input) >= p."
)
CPU_MASK = (
    "the mask is created on the CPU (e.g. torch.rand(input.shape)). Create it on the "
    "input's device: torch.rand_like(input), or torch.rand(input.shape, device=input.device)."
)
NAN_WHEN_P_IS_ONE = (
    "p = 1 divides by 1 - p = 0, which gives NaN (0 * inf) or, in Python, ZeroDivisionError. "
    "With p = 1 every element is dropped: return zeros, e.g. input * 0."
)
NOT_VALIDATED = (
    "p outside [0, 1] is accepted. Raise ValueError(f\"dropout probability has to "
    "be between 0 and 1, but got {p}\"), as PyTorch does, before anything else."
)
VALIDATED_ONLY_IN_TRAINING = (
    "p is validated only in training mode. PyTorch raises ValueError for p outside "
    "[0, 1] whatever `training` is: check p first."
)
FIXED_MASK = (
    "every call drops the same elements. Draw a new mask on every call from torch's "
    "global generator; do not create a torch.Generator with a fixed seed inside the function."
)
NOT_SEEDED = (
    "torch.manual_seed does not make the mask reproducible. Draw it with torch "
    "(torch.rand_like, torch.bernoulli), not with Python's random or NumPy."
)
SHARED_MASK = (
    "all rows share one mask. Draw one random number per element: "
    "torch.rand_like(input), not torch.rand(input.shape[1:])."
)
DETACHED = (
    "the output is cut off from autograd. Compute it from the input with torch "
    "operations (no .detach(), .data, torch.no_grad() or NumPy), so that the "
    "gradient reaches the layers below."
)
MODIFIES_INPUT = (
    "the input is changed although inplace=False. Compute a new tensor "
    "(input * mask) instead of modifying the input (input.mul_(mask), input[mask] = 0)."
)
NOT_IN_PLACE = (
    "with inplace=True, modify the input itself (input.mul_(...), input.copy_(...)) "
    "and return it, as PyTorch does."
)


# --- the wrong variants ----------------------------------------------------------


def _dropout(input, p=0.5, training=True, inplace=False, *, mistake=None):
    """Dropout, correct or with one planted ``mistake`` (see ``VARIANTS``)."""
    validated = mistake != "not_validated" and (training or mistake != "validated_only_in_training")
    if validated and not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training and mistake != "active_in_eval":
        return input
    if mistake == "fixed_mask":
        generator = torch.Generator(device=input.device).manual_seed(0)
        uniform = torch.rand(input.shape, generator=generator, device=input.device, dtype=input.dtype)
    elif mistake == "not_seeded":
        uniform = torch.as_tensor(np.random.rand(*input.shape), dtype=input.dtype)
    elif mistake == "shared_mask":
        uniform = torch.rand(input.shape[1:], device=input.device, dtype=input.dtype).expand(input.shape)
    elif mistake == "cpu_mask":
        uniform = torch.rand(input.shape, dtype=input.dtype)
    else:
        uniform = torch.rand_like(input)
    keep = uniform < p if mistake == "keep_with_p" else uniform >= p
    wrong_scales = {
        "no_rescale": 1.0,
        "scale_by_keep": 1 - p,
        "scale_by_p": 1 / p if p else math.inf,
        "nan_when_p_is_one": 1 / (1 - p) if p < 1 else math.inf,
    }
    scale = wrong_scales.get(mistake, 1 / (1 - p) if p < 1 else 0.0)
    if mistake == "detached":
        input = input.detach()
    if (inplace and mistake != "not_in_place") or mistake == "modifies_input":
        result = input.mul_(keep).mul_(scale)
        return result.clone() if mistake == "modifies_input" else result
    return input * keep * scale


def _variant(mistake):
    def wrong(input, p=0.5, training=True, inplace=False):
        return _dropout(input, p, training, inplace, mistake=mistake)

    return wrong


VARIANTS = tuple(
    Variant(text, _variant(mistake))
    for mistake, text in [
        ("no_rescale", NO_RESCALE), ("scale_by_keep", SCALE_BY_KEEP), ("scale_by_p", SCALE_BY_P),
        ("active_in_eval", ACTIVE_IN_EVAL), ("keep_with_p", KEEP_WITH_P), ("cpu_mask", CPU_MASK),
        ("nan_when_p_is_one", NAN_WHEN_P_IS_ONE), ("not_validated", NOT_VALIDATED),
        ("validated_only_in_training", VALIDATED_ONLY_IN_TRAINING), ("fixed_mask", FIXED_MASK),
        ("not_seeded", NOT_SEEDED), ("shared_mask", SHARED_MASK), ("detached", DETACHED),
        ("modifies_input", MODIFIES_INPUT), ("not_in_place", NOT_IN_PLACE),
    ]
)


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
    """Call the student's dropout; make every failure an AssertionError that says what to do."""
    try:
        with Forbid(FORBIDDEN):
            return student(input, p, training, inplace)
    except ForbiddenCall as error:
        raise AssertionError(f"{where}: {error}") from None
    except NotImplementedError:
        raise AssertionError(f"{where}: the function is not implemented yet (it raised NotImplementedError).") from None
    except Exception as error:  # noqa: BLE001 - reported to the student
        mistake = ""
        if "same device" in str(error):
            mistake = f"\nLikely mistake: {CPU_MASK}"
        elif isinstance(error, ZeroDivisionError) and p == 1:
            mistake = f"\nLikely mistake: {NAN_WHEN_P_IS_ONE}"
        raise AssertionError(f"{where} raised {type(error).__name__}: {error}{mistake}") from None


def _fresh(input, device) -> torch.Tensor:
    """A copy of ``input`` on ``device`` (``.to`` alone returns ``input`` itself on its own device)."""
    return input.detach().clone().to(device)


def _check_output_type(where, output, input) -> None:
    problem = describe_wrong_type("the output", output, input)
    if problem:
        raise AssertionError(f"{where}:\n- {problem}")


def _fail(where, problem, mistake=None):
    message = f"{where}:\n- {problem}"
    if mistake:
        message += f"\nLikely mistake: {mistake}"
    raise AssertionError(message)


def _simulated(student, report, input, p, training, inplace=False) -> None:
    """Run the student's dropout on fake CUDA tensors: catches masks made on the CPU."""
    run = run_simulated(lambda x: student(x, p, training, inplace), [input], report, CPU_MASK)
    if run is None:
        return
    output = run.result
    if not isinstance(output, torch.Tensor) or output.device.type != "cuda":
        where = getattr(output, "device", None)
        raise AssertionError(
            f"{report.call} on a simulated GPU: the output is on {where} for an input on cuda. "
            "Keep the result on the input's device (no .cpu() or .numpy())."
        )
    if output.dtype != input.dtype or output.shape != input.shape:
        raise AssertionError(
            f"{report.call} on a simulated GPU: the output is {tuple(output.shape)} {output.dtype}, "
            f"expected {tuple(input.shape)} {input.dtype}."
        )
    report.devices.append(SIMULATED_CUDA)


def _on_devices(student, report, input, p, training, check, devices=None, inplace=False):
    """Run ``check(device)`` on each real device, and the simulated GPU where there is none."""
    with quiet():
        for device in devices or available_devices():
            if device == SIMULATED_CUDA:
                _simulated(student, report, input, p, training, inplace)
                continue
            # The checks seed torch's generators; leave the student's own sequence as it was.
            with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
                check(device)
            report.devices.append(device)
    return report.show()


# --- exact checks -----------------------------------------------------------------


def check_dropout_scale(student, *, shape=(64, 50), p=0.3, dtype=torch.float32, seed=0, devices=None) -> Report:
    """Check that each element is either 0 or the input times 1 / (1 - p), in training mode.

    Also checks the output's shape, dtype and device, and that the input is left unchanged.
    """
    input = make_input(shape, dtype=dtype, seed=seed)
    report = Report(_describe(shape, dtype, p, True))

    def check(device):
        where = f"{report.call} on {device}"
        x = _fresh(input, device)
        torch.manual_seed(seed)
        output = _call(student, where, x, p, True)
        _check_output_type(where, output, x)
        if not torch.equal(x, _fresh(input, device)):
            _fail(where, "the input was modified.", MODIFIES_INPUT)
        _check_kept_are_scaled(where, output, x, p)

    return _on_devices(student, report, input, p, True, check, devices)


def _check_kept_are_scaled(where, output, x, p) -> None:
    if torch.isnan(output).any():
        _fail(where, "the output has NaN values.", NAN_WHEN_P_IS_ONE if p == 1 else None)
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
        ratio = (output[kept].double() / x[kept].double()).median().item()
        candidates = {NO_RESCALE: 1.0, SCALE_BY_KEEP: 1 - p, SCALE_BY_P: 1 / p if p else math.inf}
        mistake = next((m for m, r in candidates.items() if math.isclose(ratio, r, rel_tol=1e-3)), None)
        _fail(where, problem + f" The kept elements are the input times {ratio:.6g}.", mistake)


def check_dropout_eval(student, *, shape=(64, 50), p=0.5, dtype=torch.float32, seed=0, devices=None,
                       inplace=False) -> Report:
    """Check that evaluation mode (training=False) returns the input's values unchanged."""
    input = make_input(shape, dtype=dtype, seed=seed)
    report = Report(_describe(shape, dtype, p, False, inplace))

    def check(device):
        where = f"{report.call} on {device}"
        x = _fresh(input, device)
        output = _call(student, where, x, p, False, inplace)
        _check_output_type(where, output, x)
        if not torch.equal(x, _fresh(input, device)):
            _fail(where, "the input was modified.", ACTIVE_IN_EVAL if inplace else MODIFIES_INPUT)
        if inplace and output is not x:
            _fail(where, "the output is a new tensor; with inplace=True PyTorch returns the input itself.",
                  NOT_IN_PLACE)
        if not torch.equal(output, x):
            zeros = int((output == 0).sum())
            mistake = ACTIVE_IN_EVAL if zeros or _is_scaled(output, x, p) else None
            _fail(where, f"the output differs from the input ({zeros} of {output.numel()} elements are 0); "
                         "in evaluation mode dropout is the identity.", mistake)

    return _on_devices(student, report, input, p, False, check, devices, inplace)


def _is_scaled(output, x, p) -> bool:
    return p < 1 and torch.allclose(output, x / (1 - p))


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


def check_dropout_rejects_p(student, p, *, training=True, devices=None) -> Report:
    """Check that p outside [0, 1] raises ValueError, as PyTorch does, in either mode."""
    arguments = {"input": make_input((4, 5)), "p": p, "training": training}
    try:
        with quiet():
            # PyTorch's message: "dropout probability has to be between 0 and 1, but got 1.5".
            return check_raises(
                student, arguments, ValueError, name=NAME, devices=devices,
                when="for a dropout probability outside [0, 1]",
            ).show()
    except AssertionError as error:
        if "returned normally" not in str(error):
            raise
        mistake = VALIDATED_ONLY_IN_TRAINING if not training else NOT_VALIDATED
        raise AssertionError(f"{error}\nLikely mistake: {mistake}") from None


def check_dropout_gradient(student, *, shape=(40, 30), p=0.4, training=True, dtype=torch.float32, seed=0,
                           devices=None) -> Report:
    """Check that the gradient with respect to the input is grad_output * mask / (1 - p).

    The mask is read from the output (input has no zeros); in evaluation mode,
    and for p = 0, the gradient is grad_output itself; for p = 1 it is 0.
    """
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
        (grad,) = torch.autograd.grad(output, x, grad_output, allow_unused=True)
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


def check_dropout_inplace(student, *, shape=(64, 50), p=0.3, dtype=torch.float32, seed=0, devices=None) -> Report:
    """Check that inplace=True drops and rescales the input itself and returns it."""
    input = make_input(shape, dtype=dtype, seed=seed)
    report = Report(_describe(shape, dtype, p, True, inplace=True))

    def check(device):
        where = f"{report.call} on {device}"
        x = _fresh(input, device)
        torch.manual_seed(seed)
        output = _call(student, where, x, p, True, True)
        _check_output_type(where, output, x)
        if output is not x:
            problem = "the output is a new tensor, not the input."
            if torch.equal(x, _fresh(input, device)):
                problem += " The input was left unchanged."
            _fail(where, problem, NOT_IN_PLACE)
        # The input now holds the output: compare it with the values it had.
        _check_kept_are_scaled(where, output, _fresh(input, device), p)
        if not bool((output == 0).any()) and (1 - p) ** output.numel() < 1e-9:
            _fail(where, f"no element of the input was set to 0, with p={p}.")

    return _on_devices(student, report, input, p, True, check, devices, inplace=True)


def check_dropout_seed(student, *, shape=(32, 40), p=0.5, seed=0, devices=None) -> Report:
    """Check that torch.manual_seed(s) makes the mask reproducible, and that successive calls differ."""
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


def check_dropout_fraction(student, *, shape=(400, 500), p=0.2, seed=0, devices=None) -> Report:
    """Check that a fraction p of the elements is dropped, each independently of the others.

    The dropped fraction of n elements has mean p and standard deviation
    √(p(1-p)/n); it must lie within 6 standard deviations of p.
    """
    input = make_input(shape, seed=seed)
    report = Report(_describe(shape, torch.float32, p, True) + ", dropped fraction")
    n = input.numel()
    bound = SIGMAS * math.sqrt(p * (1 - p) / n)

    def check(device):
        where = f"{report.call} on {device}"
        x = _fresh(input, device)
        torch.manual_seed(seed)
        output = _call(student, where, x, p, True)
        _check_output_type(where, output, x)
        dropped = output == 0
        # Independent draws: two rows (or two columns) share a mask with a negligible probability.
        if shape[0] > 1 and bool((dropped == dropped[:1]).all()):
            _fail(where, "every row of the input was dropped at the same positions.", SHARED_MASK)
        if len(shape) > 1 and shape[-1] > 1 and bool((dropped == dropped[..., :1]).all()):
            _fail(where, "each row was dropped or kept as a whole; drop each element independently.")
        fraction = dropped.double().mean().item()
        if abs(fraction - p) > bound:
            mistake = KEEP_WITH_P if abs(fraction - (1 - p)) <= bound else None
            _fail(where, f"{fraction:.2%} of the {n} elements were dropped; expected p = {p:.0%} "
                         f"± {bound:.2%} ({SIGMAS:g} standard deviations of the dropped fraction).", mistake)
        report.notes.append(f"{fraction:.3%} dropped on {device}; allowed {p:.0%} ± {bound:.3%}")

    return _on_devices(student, report, input, p, True, check, devices)


def check_dropout_mean(student, *, shape=(400, 500), p=0.6, seed=0, devices=None) -> Report:
    """Check that dropout preserves the mean: E[output] = input, element by element.

    Each output element is x / (1 - p) with probability 1 - p and 0 otherwise;
    its variance is x² p / (1 - p). The mean of the n outputs must lie within
    6 standard deviations, √(Σ x² p / (1 - p)) / n, of the mean of the inputs.
    """
    input = make_input(shape, seed=seed, positive=True)
    report = Report(_describe(shape, torch.float32, p, True) + ", mean")
    n = input.numel()
    target = input.double().mean().item()
    sd = math.sqrt(input.double().square().sum().item() * p / (1 - p)) / n

    def check(device):
        where = f"{report.call} on {device}"
        x = _fresh(input, device)
        torch.manual_seed(seed)
        output = _call(student, where, x, p, True)
        _check_output_type(where, output, x)
        mean = output.double().mean().item()
        if abs(mean - target) > SIGMAS * sd:
            # What the mean would be, relative to the input's, with each mistake.
            predicted = {NO_RESCALE: 1 - p, SCALE_BY_KEEP: (1 - p) ** 2, SCALE_BY_P: (1 - p) / p,
                         KEEP_WITH_P: p / (1 - p)}
            mistake = next((m for m, r in predicted.items() if abs(mean - r * target) <= SIGMAS * sd * max(r, 1)), None)
            _fail(where, f"the mean of the output is {mean:.5g}; the mean of the input is {target:.5g}, and "
                         f"dropout must preserve it within {SIGMAS * sd:.2g} ({SIGMAS:g} standard deviations).",
                  mistake)
        report.notes.append(f"mean {mean:.5f} on {device}; input's mean {target:.5f} ± {SIGMAS * sd:.5f}")

    return _on_devices(student, report, input, p, True, check, devices)

# Trust this module and what it uses, before any student code runs (see autograder.integrity).
integrity.trust_package()
