"""Every planted mistake is caught, and named, on the device under test.

As ``tests/specs/test_catalog.py`` does on the CPU, with the check entries that take
``devices`` told to run on the device alone: a planted mistake must be told
apart from the reference by the device's own arithmetic, not by the CPU's.
With DEVICE=cpu a device mistake (a mask made on the CPU) cannot show on the
CPU alone; it must then be caught by the simulated GPU, as on a student's laptop.
"""

from __future__ import annotations

import pytest

from autograder.core.devices import SIMULATED_CUDA
from autograder.core.failure import CheckFailed, named_mistakes

from . import cases
from .settings import DEVICE


def _caught(case, devices) -> str | None:
    """The failure message of the planted mistake's check on ``devices`` (None: the entry's own), or None."""
    keywords = dict(case.catch.kwargs)
    if devices is not None:
        keywords["devices"] = devices
    try:
        case.entry()(case.planted.function, *case.catch.args, **keywords)
    except CheckFailed as error:
        return str(error)
    return None


@pytest.mark.parametrize("case", cases.params(cases.planted_calls()))
def test_a_planted_mistake_is_caught_and_named_on_the_device(case, record):
    message = _caught(case, case.devices)
    if message is None and DEVICE == "cpu" and case.devices is not None:
        message = _caught(case, ["cpu", SIMULATED_CUDA])
        record("caught_on", SIMULATED_CUDA)
    assert message is not None, f"{case.catch.check} passed {case.planted.mistake.id} on {case.devices}"
    record("message", message)
    # A convention that is two planted mistakes is named after them, then by its own words.
    assert case.planted.words in named_mistakes(message), message
