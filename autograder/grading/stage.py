"""Stage: copy each submission aside and sanitize it with nbgrader, in the main process.

nbgrader's own ``autograde``, with execution switched off, restores the
locked and test cells from the gradebook, overwrites the kernelspec and clears
the outputs. The class is sanitized a chunk of students at a time, each chunk
in one call and in folders of its own, and each submission is handed on as
soon as its chunk is done: the workers start on the first students while the
main process stages the others (staging a class of 400 in one call would keep
them waiting some twenty to thirty seconds). When nbgrader fails, each student
of the chunk that it did not finish is asked about alone, to learn why.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import nbformat
from nbgrader.apps import NbGraderAPI

from .course import course_api, first_error
from .outcome import Status, Submission


# Students sanitized in one nbgrader call: enough to spread its fixed cost (a tenth of a second),
# few enough that the first submissions reach the workers within a second or two.
CHUNK = 8


class Stager:
    def __init__(self, api: NbGraderAPI, grading: Path, assignment: str, notebooks: list[str]):
        """``api`` is the course's, ``grading`` the folder of the run's files."""
        self.assignment = assignment
        self.notebooks = notebooks  # the assignment's notebooks, by name without .ipynb
        self.api = api
        self.staged = grading / "staged"  # copies of the submissions, renames fixed: staged/<chunk>/<student>
        self.sanitized = grading / "sanitized"  # sanitized/<chunk>/<student>
        self.chunk_of: dict[str, str] = {}  # each student's chunk, by the name of its folders

    def staged_folder(self, student: str) -> Path:
        return self.staged / self.chunk_of.get(student, "0") / student / self.assignment

    def sanitized_folder(self, student: str) -> Path:
        return self.sanitized / self.chunk_of.get(student, "0") / student / self.assignment

    def stage(self, students: list[str], chunk: int = CHUNK) -> Iterator[Submission]:
        """Stage and sanitize these students' submissions, ``chunk`` at a time; yield each once sanitized."""
        shutil.rmtree(self.staged, ignore_errors=True)
        shutil.rmtree(self.sanitized, ignore_errors=True)
        for number, start in enumerate(range(0, len(students), chunk)):
            yield from self._stage_chunk(str(number), students[start:start + chunk])

    def _stage_chunk(self, name: str, students: list[str]) -> list[Submission]:
        """Only these students: nbgrader sanitizes every submission it finds, so each chunk has its folders."""
        submissions = [Submission(student) for student in students]
        for submission in submissions:
            self.chunk_of[submission.student] = name
            self.copy(submission)
        relative = lambda p: str(p.relative_to(self.api.coursedir.root))  # noqa: E731
        sanitizer = course_api(
            self.api.coursedir.root,
            CourseDirectory__submitted_directory=relative(self.staged / name),
            CourseDirectory__autograded_directory=relative(self.sanitized / name),
            Autograde__autograde_preprocessors=[],
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbgrader's and nbformat's own warnings are not the student's
            everyone = sanitizer.autograde(self.assignment, "*", force=True, create=True)
        for submission in submissions:
            if not everyone["success"] and not self.sanitized_whole(submission.student):
                # Ask again for this student alone, to learn what nbgrader could not read.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = sanitizer.autograde(self.assignment, submission.student, force=True, create=True)
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
