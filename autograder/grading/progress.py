"""The progress store: which students of an assignment are done, and their outcomes.

A student is done once their marker is written, after their grades and
feedback. A run that is stopped at any point (kill -9 included) and started
again skips the students who are done and redoes the others from the start,
so nothing is graded twice or lost.
"""

from __future__ import annotations

import json
from pathlib import Path

from .outcome import Outcome


class ProgressStore:
    """One JSON marker per finished student, in ``folder``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _marker(self, student: str) -> Path:
        return self.folder / f"{student}.json"

    def save(self, outcome: Outcome) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self._marker(outcome.student).with_suffix(".partial")
        partial.write_text(json.dumps(outcome.to_dict(), indent=1))
        partial.replace(self._marker(outcome.student))  # atomic: a marker is whole or absent

    def load(self, student: str) -> Outcome | None:
        """The student's outcome, or None when they are still to be graded."""
        marker = self._marker(student)
        if not marker.is_file():
            return None
        return Outcome.from_dict(json.loads(marker.read_text()))

    def forget(self, student: str) -> None:
        """Grade the student again at the next run."""
        self._marker(student).unlink(missing_ok=True)
