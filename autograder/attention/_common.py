"""What the attention package's files share."""

from __future__ import annotations


def _planted(function, **switch):
    """``function`` with the keywords ``switch`` on, taking a check's arguments by position only.

    A check that passes keywords to what it tests (a module check, its constructor's
    arguments) fails a planted function here, in this wrapper, whose name
    (``_planted.<locals>.<lambda>``) its message shows: the function itself keeps its
    own keywords for the switches.
    """
    return lambda *args: function(*args, **switch)
