"""The one kind of failure a check reports, and how a student reads it.

A failed check raises ``CheckFailed``, an ``AssertionError`` (what nbgrader and
pytest expect of a failing test) that carries a ``Failure``: what ran and
where, what is wrong, and, when the result matches a declared mistake, that
mistake in words. Every message a student sees is rendered here, so the class
report can read the named mistake back with ``named_mistake``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

MISTAKE_LABEL = "Likely mistake: "
HINT_LABEL = "Hint: "


@dataclass(frozen=True)
class Failure:
    """What went wrong in one check.

    ``where`` says what ran and on which device (``batch_norm(input: (8, 3) float32) on cpu``);
    ``summary`` is a one-line verdict written on the same line (``it raised TypeError: …``);
    ``problems`` are the differences found, one sentence each; ``mistake`` names the
    declared mistake the result matches, or the several mistakes (a tuple of their words)
    that together explain it, each on a line of its own; ``hint`` is a generic clue for
    what no mistake explains.
    """

    where: str
    summary: str | None = None
    problems: tuple[str, ...] = ()
    mistake: str | tuple[str, ...] | None = None
    hint: str | None = None

    @property
    def mistakes(self) -> tuple[str, ...]:
        """The words of every mistake named, in order."""
        if not self.mistake:
            return ()
        return (self.mistake,) if isinstance(self.mistake, str) else tuple(self.mistake)

    def render(self) -> str:
        head = f"{self.where}: {self.summary}" if self.summary else f"{self.where}:"
        lines = [head] + [f"- {problem}" for problem in self.problems]
        if self.hint:
            lines.append(HINT_LABEL + self.hint)
        lines.extend(MISTAKE_LABEL + words for words in self.mistakes)
        return "\n".join(lines)

    def fail(self) -> NoReturn:
        raise CheckFailed(self)


def fail(where: str, summary: str | None = None, *, problems=(), mistake=None, hint: str | None = None) -> NoReturn:
    """Raise the failure of a check; ``mistake`` is a declared ``Mistake`` (or its words) the result matches,
    or a sequence of them."""
    if isinstance(mistake, (tuple, list)):
        words = tuple(getattr(m, "words", m) for m in mistake)
    else:
        words = getattr(mistake, "words", mistake)
    Failure(where, summary=summary, problems=tuple(problems), mistake=words, hint=hint).fail()


class CheckFailed(AssertionError):
    """A failed check, as the test cell raises it."""

    def __init__(self, failure: Failure):
        super().__init__(failure.render())
        self.failure = failure


def named_mistake(message: str) -> str | None:
    """The (first) declared mistake a rendered failure names, or None."""
    named = named_mistakes(message)
    return named[0] if named else None


def named_mistakes(message: str) -> list[str]:
    """Every declared mistake a rendered failure names, in order."""
    # The label starts a line of its own, never the first ("where: summary"), so the
    # "AssertionError: " that a traceback puts before the message never hides it.
    return [line[len(MISTAKE_LABEL):] for line in message.splitlines() if line.startswith(MISTAKE_LABEL)]
