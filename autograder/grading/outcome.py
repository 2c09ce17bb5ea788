"""What the steps of grading pass along (``Submission``) and what a student ends with (``Outcome``)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import Enum


class Status(str, Enum):
    """How grading a submission went; its value is the words the log, the markers and the class report show.

    - ``GRADED``: every notebook handed in ran to its end within the limits; the score is
      nbgrader's, failed tests included.
    - ``TIMED_OUT``: a cell ran longer than the cell timeout and was interrupted,
      or the whole submission ran longer than the notebook timeout and was killed.
    - ``CRASHED``: a notebook stopped early: its kernel died (``os._exit``, a
      segfault, the memory limit without a cgroup), the grading process ended with an error
      code, or no readable executed notebook came back.
    - ``OVER_LIMIT``: the submission went over one of its limits, which the
      reason names: memory (a process was killed), processes (a fork failed)
      or disk (its folder and /tmp filled up).
    - ``UNREADABLE``: a notebook is not a valid notebook, or nbgrader could not
      sanitize it; its tests count as failed.
    - ``ERROR``: nbgrader itself failed to record the grades or write the
      feedback of this submission, alone; the score is zero and the reason is
      nbgrader's first line.

    Every status but ``GRADED`` comes with a reason, and a test that did not
    run scores zero whatever the status.
    """

    GRADED = "graded"
    TIMED_OUT = "timed out"
    CRASHED = "crashed"
    OVER_LIMIT = "over a limit"
    UNREADABLE = "unreadable"
    ERROR = "error"

    # Written and printed as its words, also on Python 3.10, which has no StrEnum.
    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


@dataclass
class Submission:
    """One student's submission on its way through stage, execute and record."""

    student: str
    started: float = field(default_factory=time.monotonic)  # when its grading began
    status: Status = Status.GRADED
    notes: list[str] = field(default_factory=list)  # what went wrong so far, one phrase each
    protocol: dict = field(default_factory=dict)  # the checker's requests to the kernel: count, tests, seconds
    flagged: list[dict] = field(default_factory=list)  # the checker's findings (``checker.flags.Finding``)

    @property
    def reason(self) -> str:
        return "; ".join(self.notes)

    def seconds(self) -> float:
        return round(time.monotonic() - self.started, 2)


@dataclass
class Outcome:
    """One student's result, as the report and a resumed run need it."""

    student: str
    score: float = 0.0
    max_score: float = 0.0
    status: Status = Status.GRADED
    reason: str = ""  # one line
    tests: dict = field(default_factory=dict)  # grade_id -> failure message, "" when passed
    seconds: float = 0.0
    protocol: dict = field(default_factory=dict)  # the checker's requests to the kernel: count, tests, seconds
    # Code that is not the student's own work as written, one line each: "cell, line N: code (why)"
    # and the functions whose tests it failed, or "accepted by the instructor".
    flagged: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.status = Status(self.status)  # read back from JSON as a plain string

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Outcome:
        return cls(**data)

    def line(self) -> str:
        """The line the grader prints when the student is done."""
        line = f"{self.student}: {self.score:g}/{self.max_score:g}"
        line += f" ({self.status}: {self.reason})" if self.reason else ""
        return line + (f"; flagged: {self.flagged[0]}" + (f" and {len(self.flagged) - 1} more" if len(self.flagged) > 1
                                                           else "") if self.flagged else "")
