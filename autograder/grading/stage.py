"""Stage: copy each submission aside and sanitize it with nbgrader, in the main process.

nbgrader's own ``autograde``, with execution switched off, restores the
locked and test cells from the gradebook, overwrites the kernelspec and clears
the outputs. The whole class is sanitized in one call; when nbgrader fails,
each student it did not finish is asked about alone, to learn why.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import nbformat
from nbgrader.apps import NbGraderAPI

from .course import course_api, first_error
from .outcome import Status, Submission


class Stager:
    def __init__(self, api: NbGraderAPI, grading: Path, assignment: str, notebooks: list[str]):
        """``api`` is the course's, ``grading`` the folder of the run's files."""
        self.assignment = assignment
        self.notebooks = notebooks  # the assignment's notebooks, by name without .ipynb
        self.api = api
        self.staged = grading / "staged"  # copies of the submissions, renames fixed
        self.sanitized = grading / "sanitized"
        relative = lambda p: str(p.relative_to(self.api.coursedir.root))  # noqa: E731
        self.sanitizer = course_api(
            api.coursedir.root,
            CourseDirectory__submitted_directory=relative(self.staged),
            CourseDirectory__autograded_directory=relative(self.sanitized),
            Autograde__autograde_preprocessors=[],
        )

    def staged_folder(self, student: str) -> Path:
        return self.staged / student / self.assignment

    def sanitized_folder(self, student: str) -> Path:
        return self.sanitized / student / self.assignment

    def stage(self, students: list[str]) -> list[Submission]:
        """Stage and sanitize every student's submission; only these students: nbgrader takes all it finds."""
        submissions = [Submission(student) for student in students]
        shutil.rmtree(self.staged, ignore_errors=True)
        shutil.rmtree(self.sanitized, ignore_errors=True)
        for submission in submissions:
            self.copy(submission)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbgrader's and nbformat's own warnings are not the student's
            everyone = self.sanitizer.autograde(self.assignment, "*", force=True, create=True)
        for submission in submissions:
            if not everyone["success"] and not self.sanitized_whole(submission.student):
                # Ask again for this student alone, to learn what nbgrader could not read.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = self.sanitizer.autograde(self.assignment, submission.student, force=True, create=True)
                if not result["success"]:
                    submission.status = Status.UNREADABLE
                    submission.notes.append("nbgrader could not read the submission: " + first_error(result))
        return submissions

    def sanitized_whole(self, student: str) -> bool:
        staged = {p.name for p in self.staged_folder(student).glob("*.ipynb")}
        sanitized = {p.name for p in self.sanitized_folder(student).glob("*.ipynb")}
        return bool(staged) and staged <= sanitized

    def copy(self, submission: Submission) -> None:
        source = Path(self.api.coursedir.root, self.api.coursedir.submitted_directory,
                      submission.student, self.assignment)
        copy_submission(source, self.staged_folder(submission.student), self.notebooks, submission)


def copy_submission(source: Path, staged: Path, notebooks: list[str], submission: Submission) -> None:
    """Copy the submission at ``source`` to ``staged``, fix a renamed notebook, drop unreadable ones.

    ``notebooks`` are the assignment's, by name without .ipynb; ``submission``
    gets a note for each fix, and the status ``UNREADABLE`` for a notebook dropped.
    """
    notes = submission.notes
    shutil.copytree(source, staged)
    present = {p.stem: p for p in staged.glob("*.ipynb")}
    missing = [n for n in notebooks if n not in present]
    extra = [n for n in present if n not in notebooks]
    if len(missing) == 1 and len(extra) == 1:  # a renamed notebook: grade it under its name
        present[extra[0]].rename(staged / f"{missing[0]}.ipynb")
        notes.append(f"{extra[0]}.ipynb graded as {missing[0]}.ipynb")
    for path in staged.glob("*.ipynb"):
        try:
            nbformat.read(path, as_version=4)
        except Exception as error:  # noqa: BLE001 - any unreadable notebook scores 0
            path.unlink()
            submission.status = Status.UNREADABLE
            notes.append(f"{path.name} is not a valid notebook ({type(error).__name__})")
    for name in notebooks:
        if not (staged / f"{name}.ipynb").exists() and not any(name in n for n in notes):
            notes.append(f"{name}.ipynb is missing")
