"""The instructor's steps, each a layer over nbgrader's own API.

``generate`` turns solutions/ into exercises/. ``grade`` grades a whole class:

1. *prepare* (main process): each submission is copied aside and sanitized by
   nbgrader's own ``autograde`` with execution switched off: locked and test
   cells are restored from the gradebook, the kernelspec is overwritten,
   outputs are cleared;
2. *execute* (``--workers`` at a time): the sanitized notebooks run in a
   sandbox of their own (``autograder.sandbox.bwrap``), in a runner and kernels
   forked from the fork server (``autograder.sandbox.forkserver``), which imported
   torch and the autograder once for the whole class;
3. *record* (main process): nbgrader's ``autograde`` again, with sanitizing
   and execution switched off, reads the executed notebooks and writes the
   grades, then ``generate_feedback`` writes the feedback.

nbgrader's SQLite gradebook is not safe for concurrent writers, so only the
main process ever writes it (steps 1 and 3), while the workers, which do the
slow part, never touch it. The grades are those of stock nbgrader, whose own
preprocessors grade the same executed notebooks.

A student is done once a marker file is written after their feedback. A run
that is stopped at any point (kill -9 included) and started again skips the
students who are done and redoes the others from the start, so nothing is
graded twice or lost.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.plugins import CsvExportPlugin
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)
from nbgrader.utils import determine_grade, is_grade
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from ..sandbox.forkserver import ForkServer
from ..sandbox.runner import EXECUTED_SUFFIX, STOPPED_PREFIX, mark_unfinished_tests
from ..sandbox.bwrap import bwrap_path
from ..sandbox.cgroups import CgroupsUnavailable, CgroupTree
from ..sandbox.confine import describe, run_submission

MAX_NOTEBOOK_BYTES = 100_000_000  # an executed notebook larger than this is not copied back


class GradingError(RuntimeError):
    """A step of nbgrader failed; the message carries nbgrader's log."""


def _load_config(root: Path) -> Config:
    if not (root / "nbgrader_config.py").is_file():
        raise GradingError(f"{root} has no nbgrader_config.py: run this from the course's root")
    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


def course_api(root: str | os.PathLike = ".", **overrides) -> NbGraderAPI:
    """nbgrader's API, configured by the course's nbgrader_config.py under ``root``.

    ``overrides`` set further options, e.g. ``Autograde__sanitize_preprocessors=[]``.
    """
    root = Path(root).resolve()
    # nbgrader starts `alembic` and kernels from PATH: put this environment first.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    config = _load_config(root)
    for key, value in overrides.items():
        section, option = key.split("__")
        setattr(config[section], option, value)
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


def collect_zip(root, assignment: str, archive: str | os.PathLike, log=print) -> list[str]:
    """Put an LMS zip of submissions into submitted/ with ``nbgrader zip_collect``; return the students."""
    api = course_api(root)
    downloaded = _load_config(Path(root).resolve()).ZipCollectApp.get("downloaded_directory", "downloaded")
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


# --- grading a class ----------------------------------------------------------


@dataclass
class Outcome:
    """One student's result, as the report and a resumed run need it."""

    student: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = "graded"  # graded, timed out, crashed, over a limit, unreadable
    reason: str = ""  # one line
    tests: dict = field(default_factory=dict)  # grade_id -> failure message, "" when passed
    seconds: float = 0.0


@dataclass
class Limits:
    workers: int = os.cpu_count() or 1
    sandbox: bool = True
    cell_timeout: int = 60  # seconds per cell
    notebook_timeout: int = 600  # seconds for a whole submission
    memory_bytes: int = 4_000_000_000  # all the processes of a submission together (or each, without cgroups)
    processes: int = 64  # processes and threads of a submission at once
    disk_bytes: int = 1_000_000_000  # its folder and /tmp together; each file, without a sandbox
    cpus: float | None = None  # cores a submission may use at once; None: no quota
    cpu_seconds: int = 900


class ClassGrader:
    """Grades every submission of one assignment: in parallel, sandboxed and resumable."""

    def __init__(self, root: str | os.PathLike, assignment: str, limits: Limits | None = None, log=print):
        self.root = Path(root).resolve()
        self.assignment = assignment
        self.limits = limits or Limits()
        if self.limits.sandbox:
            bwrap_path()  # no bubblewrap: say so before anything runs
        self.log = log
        self.api = course_api(self.root)
        grading = Path(self.api.coursedir.root, "grading")
        self.staged = grading / "staged"  # copies of the submissions, renames fixed
        self.sanitized = grading / "sanitized"
        self.executed = grading / "executed"
        self.work = grading / "work" / assignment  # what a sandbox can see and write
        self.progress = grading / "progress" / assignment
        relative = lambda p: str(p.relative_to(self.api.coursedir.root))  # noqa: E731
        self.sanitizer = course_api(
            self.root,
            CourseDirectory__submitted_directory=relative(self.staged),
            CourseDirectory__autograded_directory=relative(self.sanitized),
            Autograde__autograde_preprocessors=[],
        )
        self.recording = grading / "recording"  # executed notebooks of the batch being recorded
        self.recorded = grading / "recorded"  # its autograded notebooks, before they join autograded/
        self.recorder = course_api(
            self.root,
            CourseDirectory__submitted_directory=relative(self.recording),
            CourseDirectory__autograded_directory=relative(self.recorded),
            Autograde__sanitize_preprocessors=[],
            # Stock autograde's steps after Execute, unchanged.
            Autograde__autograde_preprocessors=[
                IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
            ],
        )
        self.feedback = course_api(self.root, CourseDirectory__autograded_directory=relative(self.recorded))
        with Gradebook(self.api.coursedir.db_url) as gradebook:
            try:
                found = gradebook.find_assignment(assignment)
            except MissingEntry:
                raise GradingError(
                    f"{assignment!r} is not in the gradebook: run `python -m autograder generate {assignment}` first"
                ) from None
            self.notebooks = sorted(n.name for n in found.notebooks)

    # -- the run ---------------------------------------------------------------

    def run(self, students: list[str] | None = None, regrade: bool = False,
            server: ForkServer | None = None) -> list[Outcome]:
        """Grade ``students`` (default: every submission); ``server``, if given, is used and left open."""
        students = students or submitted_students(self.api, self.assignment)
        if not students:
            raise GradingError(
                f"no submissions of {self.assignment!r} in "
                f"{self.api.coursedir.submitted_directory}/<student>/{self.assignment}/"
            )
        if regrade:
            for student in students:
                self._marker(student).unlink(missing_ok=True)
        outcomes = {s: self._load_outcome(s) for s in students}
        pending = [s for s in students if outcomes[s] is None]
        if len(pending) < len(students):
            self.log(f"{len(students) - len(pending)} of {len(students)} submissions already graded: resuming")
        if not pending:
            return [outcomes[s] for s in students]
        # It imports torch and the autograder while the first submissions are prepared.
        self.server = server or ForkServer(self.work.parent.parent / "forkserver.log")
        self.cgroups = None
        try:
            self.cgroups = self._cgroups()
            self._run_pending(pending, len(students), outcomes)
        finally:
            if self.cgroups:
                self.cgroups.remove()
            if server is None:
                self.server.close()
        return [outcomes[s] for s in students]

    def _cgroups(self) -> CgroupTree | None:
        """A cgroup per submission if the grader may create them; else say so, once, and do without."""
        try:
            return CgroupTree.create(cpu=bool(self.limits.cpus))
        except CgroupsUnavailable as error:
            print(f"warning: no cgroup for each submission ({error}): memory is limited per process, "
                  "and processes not at all; run as root or in a delegated cgroup to limit them "
                  "per submission", file=sys.stderr)
            return None

    def _run_pending(self, pending: list[str], total: int, outcomes: dict) -> None:
        from tqdm import tqdm

        with ThreadPoolExecutor(max_workers=self.limits.workers) as pool, \
                tqdm(total=total, initial=total - len(pending), unit="submission",
                     desc=self.assignment, file=sys.stderr, dynamic_ncols=True) as bar:
            bar.set_postfix_str(f"preparing {len(pending)} submissions")
            prepared = self._prepare(pending)
            running = {pool.submit(self._execute, student, prepared[student]): student for student in pending}
            recorded = set()
            for done in as_completed(running):
                if done in recorded:
                    continue
                # Everything that finished meanwhile is recorded with it: one nbgrader call for all.
                batch = [future for future in running if future.done() and future not in recorded]
                recorded.update(batch)
                bar.set_postfix_str(f"recording {', '.join(running[f] for f in batch)}")
                for outcome in self._record([(running[f], *f.result()) for f in batch]):
                    self._save_outcome(outcome)
                    outcomes[outcome.student] = outcome
                    bar.update(1)
                    bar.write(self._line(outcome))

    @staticmethod
    def _line(outcome: Outcome) -> str:
        line = f"{outcome.student}: {outcome.score:g}/{outcome.max_score:g}"
        return line + (f" ({outcome.status}: {outcome.reason})" if outcome.reason else "")

    # -- 1. prepare ------------------------------------------------------------

    def _prepare(self, students: list[str]) -> dict[str, tuple[float, str, str]]:
        """Stage and sanitize every student's submission; return (start time, status, reason) of each."""
        start = time.monotonic()
        shutil.rmtree(self.staged, ignore_errors=True)  # only this run's students: nbgrader takes them all
        shutil.rmtree(self.sanitized, ignore_errors=True)
        staged = {student: self._stage(student) for student in students}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbgrader's and nbformat's own warnings are not the student's
            everyone = self.sanitizer.autograde(self.assignment, "*", force=True, create=True)
        prepared = {}
        for student, (status, notes) in staged.items():
            if not everyone["success"] and not self._sanitized_whole(student):
                # Ask again for this student alone, to learn what nbgrader could not read.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = self.sanitizer.autograde(self.assignment, student, force=True, create=True)
                if not result["success"]:
                    status = "unreadable"
                    notes.append("nbgrader could not read the submission: " + _first_error(result))
            prepared[student] = (start, status, "; ".join(notes))
        return prepared

    def _sanitized_whole(self, student: str) -> bool:
        staged = {p.name for p in (self.staged / student / self.assignment).glob("*.ipynb")}
        sanitized = {p.name for p in (self.sanitized / student / self.assignment).glob("*.ipynb")}
        return bool(staged) and staged <= sanitized

    def _stage(self, student: str) -> tuple[str, list[str]]:
        """Copy the submission aside, fix a renamed notebook, drop unreadable ones; return (status, notes)."""
        status, notes = "graded", []
        source = Path(self.api.coursedir.root, self.api.coursedir.submitted_directory, student, self.assignment)
        staged = self.staged / student / self.assignment
        shutil.copytree(source, staged)
        present = {p.stem: p for p in staged.glob("*.ipynb")}
        missing = [n for n in self.notebooks if n not in present]
        extra = [n for n in present if n not in self.notebooks]
        if len(missing) == 1 and len(extra) == 1:  # a renamed notebook: grade it under its name
            present[extra[0]].rename(staged / f"{missing[0]}.ipynb")
            notes.append(f"{extra[0]}.ipynb graded as {missing[0]}.ipynb")
        for path in staged.glob("*.ipynb"):
            try:
                nbformat.read(path, as_version=4)
            except Exception as error:  # noqa: BLE001 - any unreadable notebook scores 0
                path.unlink()
                status = "unreadable"
                notes.append(f"{path.name} is not a valid notebook ({type(error).__name__})")
        for name in self.notebooks:
            if not (staged / f"{name}.ipynb").exists() and not any(name in n for n in notes):
                notes.append(f"{name}.ipynb is missing")
        return status, notes

    # -- 2. execute (in a worker thread; the fork server runs the notebooks) -----------

    def _execute(self, student: str, prepared: tuple[float, str, str]) -> tuple[float, str, str]:
        start, status, reason = prepared
        sanitized = self.sanitized / student / self.assignment
        work = self.work / student
        shutil.rmtree(work, ignore_errors=True)
        if sanitized.is_dir():
            shutil.copytree(sanitized, work)
        else:
            work.mkdir(parents=True)
        names = sorted(p.name for p in work.glob("*.ipynb"))
        stopped = None
        if names:
            log = self.work / f"{student}.log"
            result = run_submission(self.server, work, log, names, self.root, self.limits, self.cgroups,
                                    MAX_NOTEBOOK_BYTES)
            code = result.code
            if result.dropped:
                reason = "; ".join(filter(None, [reason, "not copied back: " + ", ".join(result.dropped[:3])
                                                 + (f" and {len(result.dropped) - 3} more" if len(result.dropped) > 3 else "")]))
            if result.limits_hit:
                stopped = "; ".join(describe(limit, self.limits) for limit in result.limits_hit)
                status = "over a limit"
            elif code is None:
                stopped = f"the submission ran longer than {self.limits.notebook_timeout} s"
                status = "timed out"
            elif code != 0:
                stopped = f"the grading process ended with code {code}"
                status = "crashed"
            else:
                stopped = _stopped_early(log)
                status = "crashed" if stopped else status
        executed = self.executed / student / self.assignment
        shutil.rmtree(executed, ignore_errors=True)
        executed.mkdir(parents=True)
        for stamp in (self.staged / student / self.assignment).glob("timestamp.txt"):
            shutil.copy(stamp, executed)
        for name in names:
            notebook, problem = self._executed_notebook(work, name, stopped)
            if problem and status == "graded":
                status, stopped = "crashed", problem
            if status == "graded" and _has_error(notebook, "CellTimeoutError"):
                status = "timed out"
                stopped = f"a cell ran longer than {self.limits.cell_timeout} s and was interrupted"
            nbformat.write(notebook, executed / name)
        if not names:  # nothing could be prepared: record every test as failed
            for name in self.notebooks:
                release = Path(self.api.coursedir.root, self.api.coursedir.release_directory,
                               self.assignment, f"{name}.ipynb")
                notebook = nbformat.read(release, as_version=4)
                mark_unfinished_tests(notebook, reason or "the submission could not be prepared for grading")
                nbformat.write(notebook, executed / f"{name}.ipynb")
        if stopped:
            reason = "; ".join(filter(None, [reason, stopped]))
        return start, status, reason

    def _executed_notebook(self, work: Path, name: str, stopped: str | None):
        """The executed notebook, or the sanitized one with every test failed when there is none."""
        result = work / (Path(name).stem + EXECUTED_SUFFIX)
        problem = None
        notebook = None
        if result.is_file() and result.stat().st_size <= MAX_NOTEBOOK_BYTES:
            try:
                notebook = nbformat.read(result, as_version=4)
            except Exception:  # noqa: BLE001
                problem = "the executed notebook could not be read"
        else:
            problem = stopped or "the notebook produced no result"
        if notebook is None:
            notebook = nbformat.read(work / name, as_version=4)
        mark_unfinished_tests(notebook, stopped or problem or "this test did not run")
        _fail_tests_without_report(notebook)
        return notebook, problem

    # -- 3. record -------------------------------------------------------------

    def _record(self, batch: list[tuple[str, float, str, str]]) -> list[Outcome]:
        """Record the grades and write the feedback of ``batch``: (student, start, status, reason) each.

        One ``autograde`` and one ``generate_feedback`` for the whole batch; when
        nbgrader fails, each student is recorded alone, so that one broken
        submission never costs the others their grade.
        """
        for folder in (self.recording, self.recorded):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        for student, *_ in batch:
            (self.executed / student).rename(self.recording / student)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _checked(self.recorder.autograde(self.assignment, "*", force=True, create=True),
                         f"recording the grades of {', '.join(s for s, *_ in batch)}")
                _checked(self.feedback.generate_feedback(self.assignment, "*", force=True),
                         f"generate_feedback {', '.join(s for s, *_ in batch)}")
        except GradingError as error:
            for student, *_ in batch:
                (self.recording / student).rename(self.executed / student)
            if len(batch) > 1:
                return [outcome for item in batch for outcome in self._record([item])]
            student, start, _, _ = batch[0]
            return [Outcome(student, 0.0, self._max_score(), "error", str(error).splitlines()[0],
                            seconds=round(time.monotonic() - start, 2))]
        autograded = Path(self.api.coursedir.root, self.api.coursedir.autograded_directory)
        for student, *_ in batch:
            destination = autograded / student / self.assignment
            shutil.rmtree(destination, ignore_errors=True)
            destination.parent.mkdir(parents=True, exist_ok=True)
            (self.recorded / student / self.assignment).rename(destination)
        for folder in (self.recording, self.recorded):
            shutil.rmtree(folder)
        with Gradebook(self.api.coursedir.db_url) as gradebook:
            return [self._outcome(gradebook, *item) for item in batch]

    def _outcome(self, gradebook: Gradebook, student: str, start: float, status: str, reason: str) -> Outcome:
        submission = gradebook.find_submission(self.assignment, student)
        score, max_score = submission.score, submission.max_score
        tests = {}
        autograded = Path(self.api.coursedir.root, self.api.coursedir.autograded_directory, student, self.assignment)
        for path in sorted(autograded.glob("*.ipynb")):
            for cell in nbformat.read(path, as_version=4).cells:
                if cell.cell_type == "code" and is_grade(cell):
                    points, maximum = determine_grade(cell)
                    tests[cell.metadata.nbgrader["grade_id"]] = "" if points == maximum else _failure(cell)
        if status == "graded" and not reason:
            failed = sum(1 for message in tests.values() if message)
            reason = f"{failed} of {len(tests)} tests failed" if failed else ""
        return Outcome(student, score, max_score, status, reason, tests, round(time.monotonic() - start, 2))

    def _max_score(self) -> float:
        with Gradebook(self.api.coursedir.db_url) as gradebook:
            return gradebook.find_assignment(self.assignment).max_score

    # -- progress markers ------------------------------------------------------------

    def _marker(self, student: str) -> Path:
        return self.progress / f"{student}.json"

    def _save_outcome(self, outcome: Outcome) -> None:
        self.progress.mkdir(parents=True, exist_ok=True)
        partial = self._marker(outcome.student).with_suffix(".partial")
        partial.write_text(json.dumps(asdict(outcome), indent=1))
        partial.replace(self._marker(outcome.student))  # atomic: a marker is whole or absent

    def _load_outcome(self, student: str) -> Outcome | None:
        marker = self._marker(student)
        if not marker.is_file():
            return None
        return Outcome(**json.loads(marker.read_text()))


REPORT_PREFIX = "passed: "


def _fail_tests_without_report(notebook) -> None:
    """A test cell that passed must show the harness's report; otherwise its check was replaced."""
    for cell in notebook.cells:
        if cell.cell_type != "code" or not cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            continue
        outputs = cell.get("outputs", [])
        if any(o.get("output_type") == "error" for o in outputs):
            continue
        reported = any(
            o.get("output_type") == "display_data"
            and str(o.get("data", {}).get("text/plain", "")).startswith(REPORT_PREFIX)
            for o in outputs
        )
        if not reported:
            message = ("the test cell ran without a report from the autograder: "
                       "its check was replaced or bypassed")
            cell.outputs = [nbformat.v4.new_output(
                "error", ename="GradingError", evalue=message, traceback=[f"GradingError: {message}"])]


def _has_error(notebook, ename: str) -> bool:
    return any(o.get("ename") == ename for cell in notebook.cells for o in cell.get("outputs", []))


def _stopped_early(log: Path) -> str | None:
    """The runner's own line about a notebook that stopped early (a dead kernel), if any."""
    with open(log, "rb") as file:
        file.seek(max(0, log.stat().st_size - 20_000))  # the runner's lines come last
        tail = file.read().decode(errors="replace")
    lines = [line.split(STOPPED_PREFIX, 1)[1] for line in tail.splitlines() if STOPPED_PREFIX in line]
    return "; ".join(lines) or None


def _failure(cell) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename')}: {output.get('evalue')}"
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return "the cell wrote to stderr"
    return "failed"


def _first_error(result: dict) -> str:
    for line in (result.get("log") or "").splitlines():
        if "[ERROR]" in line:
            return line.split("[ERROR]", 1)[1].strip()
    return (result.get("error") or "unknown error").strip().splitlines()[-1]


def export_grades(api: NbGraderAPI) -> Path:
    """Write the whole gradebook to grading/grades.csv in nbgrader's export format."""
    csv_path = Path(api.coursedir.root, "grading", "grades.csv")
    with Gradebook(api.coursedir.db_url) as gradebook:
        CsvExportPlugin(to=str(csv_path)).export(gradebook)
    return csv_path


def grade(root, assignment: str, students: list[str] | None = None, limits: Limits | None = None,
          regrade: bool = False, log=print, server: ForkServer | None = None) -> tuple[list[Outcome], Path, Path]:
    """Grade a class; return the outcomes, the grades CSV and the class report."""
    from .class_report import write_class_report

    grader = ClassGrader(root, assignment, limits, log)
    outcomes = grader.run(students, regrade=regrade, server=server)
    csv_path = export_grades(grader.api)
    report = write_class_report(
        Path(grader.api.coursedir.root, "grading", f"report-{assignment}.html"), assignment, outcomes
    )
    log(f"grades written to {csv_path}")
    log(f"class report written to {report}")
    return outcomes, csv_path, report
