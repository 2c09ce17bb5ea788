"""The one engine that runs a check on every device: a student's function against a reference.

A check compares everything a caller of the function depends on: the output,
the tensors it updates in place (running statistics), and the gradients with
respect to chosen inputs. It runs on every available device and fails with a
``Failure`` that says what was compared, where, by how much it is off and, when
the student's result matches a planted mistake, the likely mistake (else a
generic hint). The specs of ``autograder.core.spec`` run through it.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, NoReturn, Sequence

import torch

from .calling import Called, ForbiddenCall, call_student, describe_call, materialize
from .aspects import gradient_aspect, gradient_clue, gradient_problem, gradient_problems, gradients, result_aspects
from .compare import OUTPUT, compare, compare_outputs
from .devices import SIMULATED_CUDA, available_devices, exact_float32, mixes_devices, run_on_simulated_cuda
from .failure import Failure
from .hints import hint, output_hint
from .diagnosis import diagnose
from .mistakes import Mistake, Planted
from .report import Report


def check_against_reference(
    student: Callable,
    reference: Callable,
    arguments: dict,
    *,
    name: str,
    operation: str | None = None,
    state: tuple[str, ...] = (),
    grad_wrt: tuple[str, ...] = (),
    planted: Sequence[Planted] = (),
    devices: list[str] | None = None,
    forbidden: Mapping | None = None,
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
    results_by_device = {}
    with exact_float32():
        for device in devices or available_devices():
            if device == SIMULATED_CUDA:
                _check_simulated(student, arguments, report, outputs, forbidden)
                continue
            where = f"{report.call} on {device}"
            expected = _run_reference(reference, arguments, device, grad_wrt)
            actual = call_student(student, arguments, where=where, device=device, grad_wrt=grad_wrt,
                                  forbidden=forbidden)
            mixed = mixes_devices(actual.error) if actual.error is not None else None
            if mixed:  # worded as the simulated GPU words it
                Failure(where, summary=mixed).fail()
            actual.result()  # fails the check if the student's code raised
            problems = _compare_results(actual, expected, operation, state, outputs)
            if problems:
                fail_diagnosed(
                    where, actual, expected, problems=problems, planted=planted,
                    run=lambda function: _run_reference(function, arguments, device, ()),
                    agree=lambda a, b: not _compare_results(a, b, operation, state, outputs),
                    aspects=result_aspects(operation, state, outputs),
                    clue=lambda a, b: output_hint(a.value, b.value, outputs),
                )
            if grad_wrt:
                _checkgradients(actual, expected, operation, grad_wrt, where, forbidden, planted,
                                 lambda function: _run_reference(function, arguments, device, grad_wrt))
            results_by_device[device] = actual
            report.devices.append(device)
        if "cuda" in results_by_device and "cpu" in results_by_device:
            # The reference agrees on both devices, so the student's should too.
            problems = _compare_results(
                _to_cpu(results_by_device["cuda"]), results_by_device["cpu"], operation, state, outputs
            )
            if problems:
                Failure(report.call + ": cuda against cpu", problems=tuple(problems)).fail()
    return report


def check_raises(
    student: Callable,
    arguments: dict,
    exception: type[BaseException],
    *,
    name: str,
    when: str,
    devices: list[str] | None = None,
    mistake_if_returned: Mistake | None = None,
    call: Callable[[Callable, dict], object] | None = None,
    like: str | None = "PyTorch",
    forbidden: Mapping | None = None,
) -> Report:
    """Check that ``student(*arguments.values())`` raises ``exception``, as the reference does.

    ``when`` says on what it must raise ("for a dropout probability outside [0, 1]");
    ``mistake_if_returned`` is the mistake named when the code returns normally (it
    accepts what it must reject). ``call(student, arguments)`` says how to call the
    student's code when not by position: ``lambda cls, a: cls(**a)`` constructs a class
    with keywords; a scenario of several calls ends with the one that must raise. ``like``
    names whose behaviour this is ("PyTorch", "scikit-learn"), or None to name nobody.
    ``forbidden``: as for ``check_against_reference``; the forbidden function raising as
    expected does not pass.
    """
    report = Report(describe_call(name, arguments))
    keys = list(arguments)
    function = student if call is None else lambda *values: call(student, dict(zip(keys, values)))
    for device in devices or available_devices():
        if device == SIMULATED_CUDA:
            continue  # raising depends on shapes alone: the CPU run decides
        where = f"{report.call} on {device}"
        called = call_student(function, arguments, where=where, device=device, forbidden=forbidden)
        if isinstance(called.error, exception) and not isinstance(called.error, NotImplementedError):
            report.devices.append(device)
            continue
        if called.error is None:
            as_reference = f", as {like} does." if like else "."
            Failure(where, summary=f"it returned normally; expected it to raise {exception.__name__} {when}"
                    + as_reference, mistake=_words(mistake_if_returned)).fail()
        if isinstance(called.error, (NotImplementedError, ForbiddenCall)):
            # A stub must not pass a check that expects a RuntimeError (its base class), and
            # a forbidden call fails for that alone.
            called.result()
        Failure(where, summary=f"{called.failure.summary}; expected {exception.__name__} {when}.").fail()
    return report


def fail_diagnosed(
    where: str,
    actual,
    expected,
    *,
    planted: Iterable[Planted],
    run: Callable[[Callable], object],
    agree: Callable[[object, object], bool],
    problems: Sequence[str] = (),
    summary: str | None = None,
    clue: Callable[[object, object], str | None] | None = hint,
    aspects: Mapping[str, Callable[[object, object], bool]] | None = None,
) -> NoReturn:
    """Fail a check whose result is wrong: name the planted mistakes that explain it, else give a clue.

    ``run``, ``agree`` and ``aspects`` are ``autograder.core.diagnosis.diagnose``'s: a
    planted function's result on the same inputs, whether two results agree as the check
    compares them, and how it compares each aspect. ``clue(actual, expected)`` gives the
    generic hint when no mistake explains the whole result (None: no hint); it is left out
    when the mistakes named explain every wrong aspect.
    """
    found = diagnose(actual, expected, planted, run, agree, aspects)
    explained = found and (not found.by_aspect or _every_wrong_aspect_explained(actual, expected, aspects, found))
    if found.undecided:
        hint = UNDECIDED
    else:
        hint = None if explained or clue is None else clue(actual, expected)
    Failure(where, summary=summary, problems=tuple(problems), mistake=found.words or None, hint=hint).fail()


UNDECIDED = ("more than one combination of the course's known mistakes gives this result, so only what they "
             "share is named below; find the rest by comparing your code with the formula, step by step.")


def _every_wrong_aspect_explained(actual, expected, aspects, found) -> bool:
    return all(name in found.by_aspect or same(actual, expected) for name, same in aspects.items())


def fail_naming(where: str, summary: str, actual, expected, planted: Iterable[Planted], arguments: dict,
                operation: str) -> NoReturn:
    """Fail a property check, naming the planted mistake the output matches on ``arguments``, else a hint."""
    fail_diagnosed(where, actual, expected, summary=summary, planted=planted,
                   run=lambda function: function(*materialize(arguments, None).values()),
                   agree=lambda a, b: compare(OUTPUT, a, b, operation) is None)


def _words(mistake: Mistake | None) -> str | None:
    return mistake.words if mistake else None


# --- running the reference -------------------------------------------------------------


def _run_reference(function, arguments, device, grad_wrt) -> Called:
    copies = materialize(arguments, device, grad_wrt)
    return Called(function(*copies.values()), copies)


def _to_cpu(result: Called) -> Called:
    move = lambda v: v.detach().cpu() if isinstance(v, torch.Tensor) else v  # noqa: E731
    value = result.value
    value = type(value)(move(v) for v in value) if isinstance(value, (tuple, list)) else move(value)
    return Called(value, {k: move(v) for k, v in result.arguments.items()})


# --- comparing ---------------------------------------------------------------------


def _compare_results(actual: Called, expected: Called, operation, state, outputs=None) -> list[str]:
    """Every aspect that differs, each in a sentence: the output (each part of a tuple), then each state tensor."""
    problems = compare_outputs(actual.value, expected.value, operation, outputs)
    for key in state:
        problem = compare(f"{key} after the call", actual.arguments[key], expected.arguments[key], operation)
        if problem:
            problems.append(problem)
    return problems


def _checkgradients(actual: Called, expected: Called, operation, grad_wrt, where, forbidden, planted, run):
    """Fail if the student's gradients differ, naming the planted mistakes behind each wrong one."""
    if not (isinstance(actual.value, torch.Tensor) and actual.value.requires_grad):
        Failure(where + ", gradients", problems=(
            f"{OUTPUT} carries no gradient: it must be computed from the inputs with "
            "differentiable torch operations (no .detach(), .data, torch.no_grad() or NumPy).",)).fail()
    generator = torch.Generator().manual_seed(0)
    grad_output = torch.randn(expected.value.shape, generator=generator, dtype=expected.value.dtype)
    grad_output = grad_output.to(expected.value.device)
    wanted = gradients(expected, grad_wrt, grad_output)
    # The backward pass runs the student's code too (a custom autograd.Function's backward).
    got = call_student(lambda: gradients(actual, grad_wrt, grad_output), (), where=where + ", backward",
                       forbidden=forbidden, copy=False).result()
    problems = gradient_problems(got, wanted, grad_wrt, operation)
    if not problems:
        return
    aspects = {f"the gradient with respect to {key}": gradient_aspect(i, key, operation)
               for i, key in enumerate(grad_wrt)}
    fail_diagnosed(
        where + ", gradients", got, wanted, problems=problems, planted=planted,
        run=lambda function: gradients(run(function), grad_wrt, grad_output),
        agree=lambda a, b: not gradient_problems(a, b, grad_wrt, operation), aspects=aspects,
        clue=lambda a, b: next((gradient_clue(hint(g, w), key) for key, g, w in zip(grad_wrt, a, b)
                                if g is not None and gradient_problem(key, g, w, operation)), None),
    )


# --- the simulated GPU ------------------------------------------------------------------


def run_simulated(function, args: list, report: Report, mixed_devices: Mistake | None = None, forbidden=None):
    """Run ``function(*args)`` on fake CUDA tensors, refusing ``forbidden``, and return the run.

    A device bug, or a forbidden call, fails the check (naming ``mixed_devices`` when the code mixes
    devices); an inconclusive run is noted in ``report`` and returns None.
    """
    run = run_on_simulated_cuda(function, args, where=f"{report.call} on a simulated GPU", forbidden=forbidden)
    if run.problem:
        mistake = mixed_devices if mixed_devices and "mixes devices" in run.problem else None
        Failure(
            f"{report.call} on a simulated GPU",
            summary=run.problem + " (This check runs your code on fake CUDA tensors, because this machine "
            "has no GPU.)",
            mistake=_words(mistake),
        ).fail()
    if run.inconclusive:
        report.notes.append(f"the simulated GPU check was inconclusive: {run.inconclusive}")
        report.devices.append(f"{SIMULATED_CUDA}, inconclusive")
        return None
    return run


def _check_simulated(student, arguments, report: Report, outputs, forbidden=None) -> None:
    args = materialize(arguments, "cpu")
    run = run_simulated(student, list(args.values()), report, forbidden=forbidden)
    if run is None:
        return
    parts = run.result if outputs and isinstance(run.result, (tuple, list)) else [run.result]
    for output in parts:
        if isinstance(output, torch.Tensor) and output.device.type != "cuda":
            Failure(
                f"{report.call} on a simulated GPU",
                summary=f"the output is on {output.device.type} for inputs on cuda. Keep the result on the "
                "input's device (no .cpu() or .numpy()).",
            ).fail()
    report.devices.append(SIMULATED_CUDA)
