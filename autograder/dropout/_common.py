"""What dropout's check entries share: calling the student's dropout, and running on every device.

The engine's ``check_against_reference`` compares a function with a reference
element by element; dropout's output is random, so each entry judges it on its
own, and runs on every device through ``on_each_device``.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..core.calling import call_student
from ..core.compare import describe_wrong_type
from ..core.devices import SIMULATED_CUDA, available_devices
from ..core.engine import run_simulated
from ..core.failure import fail
from ..core.report import Report
from .planted import CPU_MASK, NAN_WHEN_P_IS_ONE
from .spec import DROPOUT


def describe(shape, dtype, p, training, inplace=False) -> str:
    p = p if isinstance(p, str) else f"p={p!r}"
    text = f"{DROPOUT.name}(input: {tuple(shape)} {str(dtype).replace('torch.', '')}, {p}, training={training!r}"
    return text + (", inplace=True)" if inplace else ")")


def call(student, where, input, p, training, inplace=False):
    """The student's dropout of ``input`` itself (the checks look at what it did to it)."""
    called = call_student(student, [input, p, training, inplace], where=where, forbidden=DROPOUT.forbidden,
                          copy=False)
    if called.failure is not None:
        mistake = None
        if "same device" in str(called.error):
            mistake = CPU_MASK
        elif isinstance(called.error, ZeroDivisionError) and p == 1:
            mistake = NAN_WHEN_P_IS_ONE
        if mistake:
            replace(called.failure, mistake=mistake.words).fail()
    return called.result()


def seeded_student(student, where, input, device, p, seed, inplace=False):
    """A fresh copy of ``input`` on ``device``, and the student's training-mode output of it after seeding."""
    x = fresh(input, device)
    torch.manual_seed(seed)
    output = call(student, where, x, p, True, inplace)
    require_output_type(where, output, x)
    return x, output


def seeded(function, x, p, training, seed, inplace=False):
    """``function``'s output on a fresh copy of ``x``, its mask drawn after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return function(x.detach().clone(), p, training, inplace)


def fresh(input, device) -> torch.Tensor:
    """A copy of ``input`` on ``device`` (``.to`` alone returns ``input`` itself on its own device)."""
    return input.detach().clone().to(device)


def require_output_type(where, output, input) -> None:
    """Fail unless the output is a tensor of the input's shape, dtype and device."""
    problem = describe_wrong_type("the output", output, input)
    if problem:
        fail(where, problems=(problem,))


def require_probability(p, entry_name: str, *, one=True, zero=True) -> None:
    """Refuse a p that ``entry_name`` cannot judge, before any call: the test cell is wrong, not the dropout."""
    if (0 < p < 1) or (p == 0 and zero) or (p == 1 and one):
        return
    allowed = {(True, True): "0 <= p <= 1", (True, False): "0 <= p < 1", (False, False): "0 < p < 1",
               (False, True): "0 < p <= 1"}[(zero, one)]
    elsewhere = " (check_dropout_rejects_p checks that such a p is refused)" if not 0 <= p <= 1 else ""
    raise ValueError(f"{entry_name} needs {allowed}, got p={p!r}{elsewhere}.")


def on_each_device(student, report: Report, input, p, training, on_device, devices=None, inplace=False) -> Report:
    """Run ``on_device(device)`` on each real device; without a GPU, the student's dropout on a simulated one."""
    for device in devices or available_devices():
        if device == SIMULATED_CUDA:
            _simulated(student, report, input, p, training, inplace)
            continue
        # The checks seed torch's generators; leave the student's own sequence as it was.
        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
            on_device(device)
        report.devices.append(device)
    return report


def _simulated(student, report, input, p, training, inplace=False) -> None:
    """Run the student's dropout on fake CUDA tensors: catches masks made on the CPU."""
    # The fake input comes back too, so the output is compared with it as on a real device.
    run = run_simulated(lambda x: (student(x, p, training, inplace), x), [input], report, CPU_MASK,
                        DROPOUT.forbidden)
    if run is None:
        return
    output, x = run.result
    require_output_type(f"{report.call} on a simulated GPU", output, x)
    report.devices.append(SIMULATED_CUDA)
