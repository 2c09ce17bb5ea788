"""Every planted mistake is caught, and named, on the device under test.

As ``tests/test_catalog.py`` does on the CPU, with the check entries that take
``devices`` told to run on the device alone: a planted mistake must be told
apart from the reference by the device's own arithmetic, not by the CPU's.
"""

from __future__ import annotations

import pytest

from autograder.core.failure import CheckFailed, named_mistake

from . import cases


@pytest.mark.parametrize("case", cases.params(cases.planted_calls()))
def test_a_planted_mistake_is_caught_and_named_on_the_device(case, record):
    keywords = dict(case.catch.kwargs)
    if case.devices is not None:
        keywords["devices"] = case.devices
    with pytest.raises(CheckFailed) as raised:
        case.entry()(case.planted.function, *case.catch.args, **keywords)
    message = str(raised.value)
    record("message", message)
    assert named_mistake(message) == case.planted.words, message
