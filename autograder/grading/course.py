"""The course through nbgrader's own API: its configuration, ``generate``, ``collect_zip`` and the grades CSV."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.plugins import CsvExportPlugin
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader


class GradingError(RuntimeError):
    """A step of nbgrader failed; the message carries nbgrader's log."""


def load_config(root: Path) -> Config:
    if not (root / "nbgrader_config.py").is_file():
        raise GradingError(f"{root} has no nbgrader_config.py: run this from the course's root")
    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


def index_grades_by_notebook(gradebook: Gradebook) -> None:
    """Index grades and comments by their submitted notebook, and submitted notebooks by their submission.

    nbgrader's tables index a grade only by (cell, notebook) and a submitted notebook
    by (notebook, submission), so every query for the grades or the score of one
    submission read the grades of the whole class: recording a student cost more the
    more students were already graded. The indexes stay with the file (``IF NOT
    EXISTS``: made once); nbgrader's own commands and migrations use them or ignore them.
    """
    from sqlalchemy import text

    for table, column in (("grade", "notebook_id"), ("comment", "notebook_id"), ("submitted_notebook", "assignment_id")):
        gradebook.db.execute(text(f"CREATE INDEX IF NOT EXISTS ix_{table}_{column} ON {table} ({column})"))
    gradebook.db.commit()


def course_api(root: str | os.PathLike = ".", **overrides) -> NbGraderAPI:
    """nbgrader's API, configured by the course's nbgrader_config.py under ``root``.

    ``overrides`` set further options, e.g. ``Autograde__sanitize_preprocessors=[]``.
    """
    root = Path(root).resolve()
    # nbgrader starts `alembic` and kernels from PATH: put this environment first.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    config = load_config(root)
    for key, value in overrides.items():
        section, option = key.split("__")
        setattr(config[section], option, value)
    return NbGraderAPI(config=config)


def checked(result: dict, step: str) -> dict:
    """``result`` of an nbgrader API call, or a GradingError with its log."""
    if not result["success"]:
        raise GradingError(f"{step} failed:\n{result.get('error') or ''}\n{result.get('log') or ''}")
    return result


def first_error(result: dict) -> str:
    """The first error line of a failed nbgrader API call."""
    for line in (result.get("log") or "").splitlines():
        if "[ERROR]" in line:
            return line.split("[ERROR]", 1)[1].strip()
    return (result.get("error") or "unknown error").strip().splitlines()[-1]


def assignments(api: NbGraderAPI) -> list[str]:
    """The assignments of the course: the folders of solutions/."""
    source = Path(api.coursedir.root, api.coursedir.source_directory)
    return sorted(p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))


def generate(api: NbGraderAPI, names: list[str] | None = None, log=print) -> list[str]:
    """Regenerate the student version of each assignment in exercises/."""
    names = names or assignments(api)
    for name in names:
        checked(api.generate_assignment(name, force=True, create=True), f"generate_assignment {name}")
        log(f"generated {api.coursedir.release_directory}/{name}")
    return names


def submitted_students(api: NbGraderAPI, assignment: str) -> list[str]:
    submitted = Path(api.coursedir.root, api.coursedir.submitted_directory)
    if not submitted.is_dir():
        return []
    return sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir())


def collect_zip(root, assignment: str, archive: str | os.PathLike, log=print) -> list[str]:
    """Put an LMS zip of submissions into submitted/ with ``nbgrader zip_collect``; return the students."""
    api = course_api(root)
    downloaded = load_config(Path(root).resolve()).ZipCollectApp.get("downloaded_directory", "downloaded")
    archive_folder = Path(api.coursedir.root, downloaded, assignment, "archive")
    archive_folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(archive, archive_folder)
    nbgrader = Path(sys.executable).with_name("nbgrader")  # zip_collect has no API: its CLI
    result = subprocess.run([str(nbgrader), "zip_collect", assignment, "--force"], cwd=api.coursedir.root,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise GradingError(f"nbgrader zip_collect failed:\n{result.stdout}{result.stderr}")
    students = submitted_students(api, assignment)
    log(f"{len(students)} submissions of {assignment} in {api.coursedir.submitted_directory}/")
    return students


def export_grades(api: NbGraderAPI) -> Path:
    """Write the whole gradebook to grading/grades.csv in nbgrader's export format."""
    csv_path = Path(api.coursedir.root, "grading", "grades.csv")
    with Gradebook(api.coursedir.db_url) as gradebook:
        CsvExportPlugin(to=str(csv_path)).export(gradebook)
    return csv_path
