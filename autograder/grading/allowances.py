"""The flagged code an instructor has read and accepted, by student, kept between runs.

The trusted checker flags code that is not the student's own work as written
(``autograder.checker.flags``) and does not run the tests of the functions it
sits in. ``python -m autograder grade NAME --allow STUDENT`` regrades the
student with every finding accepted, and keeps what was accepted here, in
``grading/allowed/<assignment>.json``: a later run accepts the same lines
again, but not a line the student changed or added since.
"""

from __future__ import annotations

import json
from pathlib import Path


class Allowances:
    def __init__(self, folder: Path, assignment: str):
        self.path = Path(folder) / f"{assignment}.json"

    def _read(self) -> dict[str, list[str]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def of(self, student: str) -> list[str]:
        """The keys (``Finding.key``) of the findings accepted for ``student``."""
        return list(self._read().get(student, []))

    def accept(self, student: str, keys: list[str]) -> None:
        data = self._read()
        data[student] = sorted(set(keys))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(data, indent=1))
        partial.replace(self.path)
