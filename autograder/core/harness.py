"""Run a student's function and the reference on the same inputs, and compare.

A check compares everything a caller of the function depends on: the output,
the tensors it updates in place (running statistics), and the gradients with
respect to chosen inputs. It runs on every available device and raises
``AssertionError`` with a message that says what was compared, where, by how
much it is off and, when the student's result matches a known wrong variant,
the likely mistake. Nothing is written to stderr while it runs, since nbgrader
gives zero to a test cell that writes to stderr.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from . import integrity
from .compare import describe_difference, describe_wrong_type
from .devices import SIMULATED_CUDA, available_devices, exact_float32, run_on_simulated_cuda
from .tolerances import tolerance_for

OUTPUT = "the output"


@dataclass(frozen=True)
class Variant:
    """A known wrong implementation: its mistake in words, and the function that makes it."""

    mistake: str
    function: Callable


@dataclass
class Report:
    """What a passing check ran: shown under the test cell, so a student sees the devices."""

    call: str
    devices: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"passed: {self.call} on {', '.join(self.devices)}"
        return "\n".join([text] + [f"  note: {note}" for note in self.notes])

    def show(self) -> "Report":
        """Display the report under the running cell; a plain script stays silent.

        It is a display, not a print and not the cell's value, so nbgrader
        neither reads it as partial credit nor sees anything on stderr. A pass
        is shown only if nothing the grader trusts was replaced.
        """
        integrity.verify(self.call)
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return self
        if get_ipython() is not None:
            display({"text/plain": str(self)}, raw=True)
        return self


@contextlib.contextmanager
def quiet():
    """Keep warnings and stray stderr writes out of a graded cell's output."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


class Forbid(TorchFunctionMode):
    """Within it, calling one of ``forbidden`` (torch function -> name) raises ``ForbiddenCall``.

    It fails a student's function that hands the work to the very function it must implement.
    """

    def __init__(self, forbidden: dict):
        super().__init__()
        self.forbidden = forbidden

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.forbidden:
            raise ForbiddenCall(
                f"it calls {self.forbidden[func]}; the exercise is to implement it "
                "with elementary tensor operations."
            )
        return func(*args, **(kwargs or {}))


class ForbiddenCall(Exception):
    pass


def describe_call(name: str, arguments: dict) -> str:
    """``batch_norm(input: (8, 3) float32, ..., training=True)`` for messages; NumPy arrays alike."""
    parts = []
    for key, value in arguments.items():
        if isinstance(value, torch.Tensor):
            parts.append(f"{key}: {tuple(value.shape)} {str(value.dtype).replace('torch.', '')}")
        elif isinstance(value, np.ndarray):
            parts.append(f"{key}: {value.shape} {value.dtype}")
        else:
            parts.append(f"{key}={value!r}")
    return f"{name}({', '.join(parts)})"


def check_against_reference(
    student: Callable,
    reference: Callable,
    arguments: dict,
    *,
    name: str,
    operation: str | None = None,
    state: tuple[str, ...] = (),
    grad_wrt: tuple[str, ...] = (),
    variants: tuple[Variant, ...] = (),
    devices: list[str] | None = None,
    forbidden: dict | None = None,
    outputs: tuple[str, ...] | None = None,
) -> Report:
    """Compare ``student(*arguments.values())`` with ``reference`` on every device.

    ``arguments`` holds the positional arguments by name, tensors on the CPU;
    each run gets fresh copies. ``state`` names arguments the function updates
    in place; ``grad_wrt`` names arguments whose gradients are compared.
    ``forbidden`` maps torch functions the student may not call to their names.
    ``outputs`` names the parts of a function that returns a tuple of tensors.
    """
    if outputs and grad_wrt:
        raise ValueError("gradients are compared for functions with a single output")
    operation = operation or name
    report = Report(describe_call(name, arguments))
    student_results_by_device = {}
    with quiet(), exact_float32():
        for device in devices or available_devices():
            if device == SIMULATED_CUDA:
                _check_simulated(student, arguments, report, outputs)
                continue
            where = f"{report.call} on {device}"
            expected = _run(reference, arguments, device, grad_wrt)
            actual = run_student(student, arguments, device, grad_wrt, where, forbidden or {})
            problems = _compare_results(actual, expected, operation, state, outputs)
            if problems:
                mistake = _diagnose(actual, expected, arguments, device, grad_wrt, state, variants, operation, outputs)
                raise AssertionError(_message(where, problems, mistake))
            if grad_wrt:
                problems = _compare_gradients(actual, expected, operation, grad_wrt)
                if problems:
                    raise AssertionError(_message(where + ", gradients", problems, None))
            student_results_by_device[device] = actual
            report.devices.append(device)
        if "cuda" in student_results_by_device and "cpu" in student_results_by_device:
            # The reference agrees on both devices, so the student's should too.
            problems = _compare_results(
                _to_cpu(student_results_by_device["cuda"]),
                student_results_by_device["cpu"],
                operation,
                state,
                outputs,
            )
            if problems:
                raise AssertionError(_message(report.call + ": cuda against cpu", problems, None))
    return report


def check_raises(
    student: Callable,
    arguments: dict,
    exception: type[BaseException],
    *,
    name: str,
    when: str,
    devices: list[str] | None = None,
) -> Report:
    """Check that ``student(*arguments.values())`` raises ``exception``, as the reference does."""
    report = Report(describe_call(name, arguments))
    with quiet():
        for device in devices or available_devices():
            if device == SIMULATED_CUDA:
                continue  # raising depends on shapes alone: the CPU run decides
            args = _materialize(arguments, device, ())
            try:
                student(*args.values())
            except NotImplementedError:
                # A subclass of RuntimeError: a stub must not pass a check that expects one.
                raise AssertionError(
                    f"{report.call} on {device}: the function is not implemented yet "
                    "(it raised NotImplementedError)."
                ) from None
            except exception:
                report.devices.append(device)
                continue
            except Exception as error:  # noqa: BLE001 - reported to the student
                raise AssertionError(
                    f"{report.call} on {device} raised {type(error).__name__}: {error}; "
                    f"expected {exception.__name__} {when}."
                ) from None
            raise AssertionError(
                f"{report.call} on {device} returned normally; expected it to raise "
                f"{exception.__name__} {when}, as PyTorch does."
            )
    return report


# --- running -----------------------------------------------------------------


@dataclass
class _Result:
    output: object
    arguments: dict  # the argument copies after the call: in-place state lives here


def _materialize(arguments: dict, device: str, grad_wrt: tuple[str, ...]) -> dict:
    copies = {}
    for key, value in arguments.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().clone().to(device)
            if key in grad_wrt:
                value.requires_grad_(True)
        copies[key] = value
    return copies


def _run(function, arguments, device, grad_wrt) -> _Result:
    args = _materialize(arguments, device, grad_wrt)
    return _Result(function(*args.values()), args)


def run_student(function, arguments, device, grad_wrt, where, forbidden) -> _Result:
    try:
        with Forbid(forbidden):
            return _run(function, arguments, device, grad_wrt)
    except ForbiddenCall as error:
        raise AssertionError(f"{where}: {error}") from None
    except NotImplementedError:
        raise AssertionError(
            f"{where}: the function is not implemented yet (it raised NotImplementedError)."
        ) from None
    except Exception as error:  # noqa: BLE001 - reported to the student
        raise AssertionError(f"{where} raised {type(error).__name__}: {error}") from None


def _to_cpu(result: _Result) -> _Result:
    move = lambda v: v.detach().cpu() if isinstance(v, torch.Tensor) else v  # noqa: E731
    output = result.output
    output = type(output)(move(v) for v in output) if isinstance(output, (tuple, list)) else move(output)
    return _Result(output, {k: move(v) for k, v in result.arguments.items()})


# --- comparing -----------------------------------------------------------------


def _output_pairs(actual, expected, outputs) -> tuple[list, list[str]]:
    """(what, got, want) for each part of the output, or the problem with its structure."""
    if not outputs:
        return [(OUTPUT, actual, expected)], []
    if not isinstance(actual, (tuple, list)) or len(actual) != len(outputs):
        got = f"a {type(actual).__name__}"
        if isinstance(actual, (tuple, list)):
            got += f" of {len(actual)} values"
        return [], [f"the function returns {got}; expected a tuple ({', '.join(outputs)})."]
    return [(f"{name} (returned value {i})", a, e) for i, (name, a, e) in enumerate(zip(outputs, actual, expected))], []


def _compare_results(actual: _Result, expected: _Result, operation, state, outputs=None) -> list[str]:
    pairs, problems = _output_pairs(actual.output, expected.output, outputs)
    if problems:
        return problems
    pairs += [(f"{key} after the call", actual.arguments[key], expected.arguments[key]) for key in state]
    for what, got, want in pairs:
        if want is None:
            if got is not None:
                problems.append(f"{what} should be None.")
            continue
        problem = describe_wrong_type(what, got, want)
        if problem is None:
            problem = describe_difference(what, got, want, tolerance_for(operation, want.dtype))
        if problem:
            problems.append(problem)
    return problems


def _compare_gradients(actual: _Result, expected: _Result, operation, grad_wrt) -> list[str]:
    if not (isinstance(actual.output, torch.Tensor) and actual.output.requires_grad):
        return [
            f"{OUTPUT} carries no gradient: it must be computed from the inputs with "
            "differentiable torch operations (no .detach(), .data, torch.no_grad() or NumPy)."
        ]
    generator = torch.Generator().manual_seed(0)
    grad_output = torch.randn(expected.output.shape, generator=generator, dtype=expected.output.dtype)
    grad_output = grad_output.to(expected.output.device)
    wanted = torch.autograd.grad(expected.output, [expected.arguments[k] for k in grad_wrt], grad_output)
    got = torch.autograd.grad(
        actual.output, [actual.arguments[k] for k in grad_wrt], grad_output, allow_unused=True
    )
    problems = []
    tol_op = f"{operation}.grad"
    for key, g, w in zip(grad_wrt, got, wanted):
        what = f"the gradient with respect to {key}"
        if g is None:
            problems.append(f"{what} is missing: the output does not depend on {key}.")
            continue
        problem = describe_difference(what, g, w, tolerance_for(tol_op, w.dtype))
        if problem:
            problems.append(problem)
    return problems


def _diagnose(actual, expected, arguments, device, grad_wrt, state, variants, operation, outputs) -> str | None:
    """Name the first known mistake whose results the student's match.

    A mistake that gives the right results on these inputs says nothing and is skipped.
    """
    for variant in variants:
        try:
            wrong = _run(variant.function, arguments, device, grad_wrt)
        except Exception:  # noqa: BLE001 - a variant that cannot run says nothing
            continue
        if not _compare_results(wrong, expected, operation, state, outputs):
            continue
        if not _compare_results(actual, wrong, operation, state, outputs):
            return variant.mistake
    return None


def _message(where: str, problems: list[str], mistake: str | None) -> str:
    lines = [f"{where}:"] + [f"- {p}" for p in problems]
    if mistake:
        lines.append(f"Likely mistake: {mistake}")
    return "\n".join(lines)


# --- the simulated GPU ------------------------------------------------------


def run_simulated(function, args: list, report: Report, mixed_devices_mistake: str | None = None):
    """Run ``function(*args)`` on fake CUDA tensors and return its result.

    A device bug raises AssertionError (naming ``mixed_devices_mistake`` when the
    code mixes devices); an inconclusive run is noted in ``report`` and returns None.
    """
    run = run_on_simulated_cuda(function, args)
    if run.problem:
        mistake = ""
        if mixed_devices_mistake and "mixes devices" in run.problem:
            mistake = f"\nLikely mistake: {mixed_devices_mistake}\n"
        raise AssertionError(
            f"{report.call} on a simulated GPU: {run.problem}{mistake} "
            "(This check runs your code on fake CUDA tensors, because this machine has no GPU.)"
        )
    if run.inconclusive:
        report.notes.append(f"the simulated GPU check was inconclusive: {run.inconclusive}")
        report.devices.append(f"{SIMULATED_CUDA}, inconclusive")
        return None
    return run


def _check_simulated(student, arguments, report: Report, outputs) -> None:
    args = _materialize(arguments, "cpu", ())
    run = run_simulated(student, list(args.values()), report)
    if run is None:
        return
    parts = run.result if outputs and isinstance(run.result, (tuple, list)) else [run.result]
    for output in parts:
        if isinstance(output, torch.Tensor) and output.device.type != "cuda":
            raise AssertionError(
                f"{report.call} on a simulated GPU: the output is on {output.device.type} for "
                "inputs on cuda. Keep the result on the input's device (no .cpu() or .numpy())."
            )
    report.devices.append(SIMULATED_CUDA)
