"""Grading a class: each submission is staged, executed and recorded.

1. *stage* (``stage``, main process): each submission is copied aside and
   sanitized by nbgrader's own ``autograde`` with execution switched off;
2. *execute* (``execute``, ``--workers`` at a time): the sanitized notebooks
   run in a sandbox and a cgroup of their own, within the submission's limits,
   in kernels forked from the fork server;
3. *record* (``record``, main process): nbgrader's ``autograde`` again, with
   sanitizing and execution switched off, grades the executed notebooks, then
   ``generate_feedback`` writes the feedback.

Only the main process writes nbgrader's gradebook (steps 1 and 3), while the
workers, which do the slow part, never touch it. A ``Submission`` goes from
step to step; each student ends with an ``Outcome``, kept in the progress
store (``progress``), so that a stopped run resumes where it was.
"""

from __future__ import annotations

import os
import sys
import queue
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from ..sandbox.bwrap import bwrap_path
from ..sandbox.cgroups import CgroupsUnavailable, CgroupTree
from ..sandbox.forkserver import ForkServer
from .config import Limits
from .course import GradingError, course_api, export_grades, index_grades_by_notebook, submitted_students
from .execute import Executor
from .nbgrader_costs import reduce_nbgrader_costs
from .outcome import Outcome
from .progress import ProgressStore
from .record import Recorder
from .stage import Stager

__all__ = ["ClassGrader", "GradingError", "Limits", "grade"]


class ClassGrader:
    """Grades every submission of one assignment: in parallel, sandboxed and resumable."""

    def __init__(self, root: str | os.PathLike, assignment: str, limits: Limits | None = None, log=print,
                 feedback: str | None = None):
        self.root = Path(root).resolve()
        self.feedback = feedback  # what feedback shows of hidden tests; None: nbgrader_config.py's choice
        self.assignment = assignment
        self.limits = limits or Limits()
        if self.limits.sandbox:
            bwrap_path()  # no bubblewrap: say so before anything runs
        self.log = log
        reduce_nbgrader_costs()
        self.api = course_api(self.root)
        with Gradebook(self.api.coursedir.db_url) as gradebook:
            index_grades_by_notebook(gradebook)
            try:
                found = gradebook.find_assignment(assignment)
            except MissingEntry:
                raise GradingError(
                    f"{assignment!r} is not in the gradebook: run `python -m autograder generate {assignment}` first"
                ) from None
            notebooks = sorted(n.name for n in found.notebooks)
        self.grading = Path(self.api.coursedir.root, "grading")
        self.progress = ProgressStore(self.grading / "progress" / assignment)
        self.stager = Stager(self.api, self.grading, assignment, notebooks)
        self.recorder = None  # made when there is something to record: it starts two more nbgrader APIs

    def run(self, students: list[str] | None = None, regrade: bool = False,
            server: ForkServer | None = None, allow: list[str] | None = None) -> list[Outcome]:
        """Grade ``students`` (default: every submission); ``server``, if given, is used and left open.

        ``allow`` names students whose flagged code the instructor has read and accepts:
        they are graded again, with every finding accepted (``allowances``).
        """
        if allow:
            students, regrade = sorted(set(students or ()) | set(allow)), True
        submitted = submitted_students(self.api, self.assignment)
        unknown = [student for student in students or () if student not in submitted]
        if unknown:
            raise GradingError(
                f"no submission of {self.assignment!r} from {', '.join(unknown)} in "
                f"{self.api.coursedir.submitted_directory}/<student>/{self.assignment}/"
            )
        students = students or submitted
        if not students:
            raise GradingError(
                f"no submissions of {self.assignment!r} in "
                f"{self.api.coursedir.submitted_directory}/<student>/{self.assignment}/"
            )
        if regrade:
            for student in students:
                self.progress.forget(student)
        outcomes = {s: self.progress.load(s) for s in students}
        pending = [s for s in students if outcomes[s] is None]
        if len(pending) < len(students):
            self.log(f"{len(students) - len(pending)} of {len(students)} submissions already graded: resuming")
        if not pending:
            return [outcomes[s] for s in students]
        # It imports torch and the autograder while the first submissions are staged.
        own_server = server is None
        server = server or ForkServer(self.grading / "forkserver.log")
        cgroups = None
        try:
            cgroups = self._cgroups()
            release = Path(self.api.coursedir.root, self.api.coursedir.release_directory, self.assignment)
            executor = Executor(self.root, self.stager, release, self.limits, server, cgroups, frozenset(allow or ()))
            self.recorder = Recorder(self.api, self.grading, self.assignment, executor.executed, self.feedback)
            self._run_pending(pending, len(students), outcomes, executor)
        finally:
            if cgroups:
                cgroups.remove()
            if own_server:
                server.close()
        return [outcomes[s] for s in students]

    def _cgroups(self) -> CgroupTree | None:
        """A cgroup per submission if the grader may create them; otherwise say so, once, and do without.

        Creating them first removes what a killed run left (``CgroupTree.create``).
        """
        try:
            return CgroupTree.create(cpu=bool(self.limits.cpus))
        except CgroupsUnavailable as error:
            print(f"warning: no cgroup for each submission ({error}): memory is limited per process, "
                  "processes not at all; run as root or in a delegated cgroup to limit them per submission",
                  file=sys.stderr)
            return None

    def _run_pending(self, pending: list[str], total: int, outcomes: dict, executor: Executor) -> None:
        from tqdm import tqdm

        with ThreadPoolExecutor(max_workers=self.limits.workers) as pool, \
                tqdm(total=total, initial=total - len(pending), unit="submission",
                     desc=self.assignment, file=sys.stderr, dynamic_ncols=True) as bar:
            bar.set_postfix_str(f"preparing {len(pending)} submissions")
            finished = queue.SimpleQueue()  # the futures in the order they end: no scan of the class per submission
            running = {}
            for submission in self.stager.stage(pending):
                future = pool.submit(executor.run, submission)
                running[future] = submission.student
                future.add_done_callback(finished.put)
            while running:
                # Everything that finished meanwhile is recorded with it: one nbgrader call for all.
                batch = [finished.get()]
                while not finished.empty():
                    batch.append(finished.get())
                bar.set_postfix_str(f"recording {', '.join(running.pop(f) for f in batch)}")
                for outcome in self.recorder.record([future.result() for future in batch]):
                    self.progress.save(outcome)
                    outcomes[outcome.student] = outcome
                    bar.update(1)
                    bar.write(outcome.line())


def grade(root, assignment: str, students: list[str] | None = None, limits: Limits | None = None,
          regrade: bool = False, log=print, server: ForkServer | None = None,
          feedback: str | None = None, allow: list[str] | None = None) -> tuple[list[Outcome], Path, Path]:
    """Grade a class; return the outcomes, the grades CSV and the class report.

    ``feedback`` chooses what the feedback shows of hidden tests (``messages``, ``none`` or ``full``);
    ``allow`` names the students to regrade with their flagged code accepted.
    """
    from .class_report import write_class_report
    from .similarity_report import write_similarity_report

    grader = ClassGrader(root, assignment, limits, log, feedback=feedback)
    outcomes = grader.run(students, regrade=regrade, server=server, allow=allow)
    csv_path = export_grades(grader.api)
    similarity = write_similarity_report(grader.api.coursedir.root, assignment, log=log)
    report = write_class_report(
        Path(grader.api.coursedir.root, "grading", f"report-{assignment}.html"), assignment, outcomes, similarity
    )
    log(f"grades written to {csv_path}")
    log(f"class report written to {report}")
    return outcomes, csv_path, report
