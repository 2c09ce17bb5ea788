"""The instructor's steps, each a thin layer over nbgrader's own API.

``generate`` turns solutions/ into exercises/; ``grade`` autogrades the
collected submissions of an assignment, writes feedback without hidden tests
and exports the gradebook to CSV. The paths come from nbgrader_config.py at the
root of the course, so these steps and stock ``nbgrader`` commands agree.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.plugins import CsvExportPlugin
from sqlalchemy.exc import SAWarning
from traitlets.config.loader import PyFileConfigLoader


class GradingError(RuntimeError):
    """A step of nbgrader failed; the message carries nbgrader's log."""


def course_api(root: str | os.PathLike = ".") -> NbGraderAPI:
    """nbgrader's API, configured by the course's nbgrader_config.py under ``root``."""
    root = Path(root).resolve()
    if not (root / "nbgrader_config.py").is_file():
        raise GradingError(f"{root} has no nbgrader_config.py: run this from the course's root")
    # nbgrader starts `alembic` and kernels from PATH: put this environment first.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    return NbGraderAPI(config=config)


def _checked(result: dict, step: str) -> dict:
    if not result["success"]:
        raise GradingError(f"{step} failed:\n{result.get('error') or ''}\n{result.get('log') or ''}")
    return result


def assignments(api: NbGraderAPI) -> list[str]:
    """The assignments of the course: the folders of solutions/."""
    source = Path(api.coursedir.root, api.coursedir.source_directory)
    return sorted(p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))


def generate(api: NbGraderAPI, names: list[str] | None = None, log=print) -> list[str]:
    """Regenerate the student version of each assignment in exercises/."""
    names = names or assignments(api)
    for name in names:
        _checked(api.generate_assignment(name, force=True, create=True), f"generate_assignment {name}")
        log(f"generated {api.coursedir.release_directory}/{name}")
    return names


def submitted_students(api: NbGraderAPI, assignment: str) -> list[str]:
    submitted = Path(api.coursedir.root, api.coursedir.submitted_directory)
    if not submitted.is_dir():
        return []
    return sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir())


def grade(api: NbGraderAPI, assignment: str, students: list[str] | None = None, log=print) -> Path:
    """Autograde, write feedback and export grades; return the CSV's path."""
    students = students or submitted_students(api, assignment)
    if not students:
        raise GradingError(
            f"no submissions of {assignment!r} in {api.coursedir.submitted_directory}/<student>/{assignment}/"
        )
    with Gradebook(api.coursedir.db_url) as gradebook:
        try:
            gradebook.find_assignment(assignment)
        except MissingEntry:
            raise GradingError(
                f"{assignment!r} is not in the gradebook: run `python -m autograder generate {assignment}` first"
            ) from None
    for number, student in enumerate(students, 1):
        with warnings.catch_warnings():
            # nbgrader's own gradebook code trips this SQLAlchemy warning; it is harmless.
            warnings.simplefilter("ignore", SAWarning)
            _checked(api.autograde(assignment, student, force=True, create=True), f"autograde {student}")
            _checked(api.generate_feedback(assignment, student, force=True), f"generate_feedback {student}")
        with Gradebook(api.coursedir.db_url) as gradebook:
            submission = gradebook.find_submission(assignment, student)
            log(f"[{number}/{len(students)}] {student}: {submission.score:g}/{submission.max_score:g}")
    csv_path = Path(api.coursedir.root, "grading", "grades.csv")
    with Gradebook(api.coursedir.db_url) as gradebook:
        CsvExportPlugin(to=str(csv_path)).export(gradebook)
    log(f"grades written to {csv_path}")
    return csv_path
