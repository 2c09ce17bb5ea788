"""Execute: run a sanitized submission in its sandbox, in a worker thread.

The notebooks run in a sandbox and a cgroup of their own, within the
submission's limits (``autograder.sandbox.confine``), in a runner and kernels
forked from the fork server (``autograder.sandbox.forkserver``), which
imported torch and the autograder once for the whole class. What comes back is one executed notebook per
notebook of the submission, to be recorded; a notebook that stopped early
carries why, for the recorder's ``MarkUnfinishedTests``. This step never
touches the gradebook.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from ..cells import is_test
from ..checker.verdicts import NO_REQUEST, VERDICTS, finding_key, hand_to_checker, read_verdicts, rebuild
from ..sandbox.cgroups import CgroupTree
from ..sandbox.confine import describe, run_submission
from ..sandbox.forkserver import ForkServer
from ..sandbox.runner import EXECUTED_SUFFIX, STOPPED_PREFIX
from .allowances import Allowances
from .config import Limits
from .outcome import Status, Submission
from .preprocessors import set_stopped_reason
from .stage import Stager

MAX_NOTEBOOK_BYTES = 100_000_000  # an executed notebook larger than this is not copied back, nor read


class Executor:
    def __init__(self, root: Path, stager: Stager, release: Path, limits: Limits, server: ForkServer,
                 cgroups: CgroupTree | None = None, allow: frozenset[str] = frozenset()):
        """``release`` holds the assignment's released notebooks, graded in place of a submission that has none.

        ``cgroups``, when the grader may create them, gives each submission a cgroup of its own.
        ``allow`` names the students whose flagged code the instructor has read and accepts.
        """
        self.root = root
        self.cgroups = cgroups
        self.stager = stager
        self.assignment = stager.assignment
        self.notebooks = stager.notebooks
        self.release = release
        self.limits = limits
        self.server = server
        grading = stager.staged.parent
        self.work = grading / "work" / self.assignment  # what a sandbox can see and write
        self.executed = grading / "executed"
        self.allow = allow
        self.allowances = Allowances(grading / "allowed", self.assignment)

    def checker_folder(self, student: str) -> Path:
        """The grader's copy of the submission's notebooks, the checker's verdicts and log: out of the sandbox's view."""
        return self.executed.parent / "checker" / student / self.assignment

    def executed_folder(self, student: str) -> Path:
        return self.executed / student / self.assignment

    def run(self, submission: Submission) -> Submission:
        """Execute the submission's notebooks into ``executed_folder``; its status and notes say what went wrong."""
        student = submission.student
        work = self.work / student
        shutil.rmtree(work, ignore_errors=True)
        if self.stager.sanitized_folder(student).is_dir():
            shutil.copytree(self.stager.sanitized_folder(student), work)
        else:
            work.mkdir(parents=True)
        names = sorted(p.name for p in work.glob("*.ipynb"))
        checking = self.checker_folder(student)
        shutil.rmtree(checking, ignore_errors=True)
        (checking / "verdicts").mkdir(parents=True)  # the one folder the checker writes, as its own user
        for name in names:  # the grader's copy keeps the tests; the sandbox's asks the checker for them
            shutil.copy(work / name, checking / name)
            notebook = nbformat.read(work / name, as_version=4)
            hand_to_checker(notebook, name)
            (work / name).unlink()  # nbgrader leaves the sanitized notebook read-only
            nbformat.write(notebook, work / name)
        stopped, runner_stopped = None, {}
        dropped = []
        if names:
            log = work / ".grader.log"  # the sandbox shows it read-only; what it holds is the submission's own
            checker = {"notebooks": {name: str(checking / name) for name in names},
                       "releases": {name: str(self.release / name) for name in names if (self.release / name).is_file()},
                       "verdicts": str(checking / "verdicts" / VERDICTS), "log": str(checking / "checker.log"),
                       "allowed": True if student in self.allow else self.allowances.of(student),
                       "memory_bytes": self.limits.checker_memory_bytes}
            result = run_submission(self.server, work, log, names, self.root, self.limits, self.cgroups,
                                    MAX_NOTEBOOK_BYTES, checker)
            code, dropped = result.code, result.dropped
            runner_stopped = stopped_early(log)
            if result.limits_hit:  # the cause of whatever else went wrong
                stopped = "; ".join(describe(limit, self.limits) for limit in result.limits_hit)
                submission.status = Status.OVER_LIMIT
            elif code is None:
                stopped = f"the submission ran longer than {self.limits.notebook_timeout} s"
                submission.status = Status.TIMED_OUT
            elif code != 0:
                stopped = f"the grading process ended with code {code}"
                submission.status = Status.CRASHED
            elif runner_stopped:
                stopped = "; ".join(f"{name}: {why}" for name, why in runner_stopped.items())
                submission.status = Status.CRASHED
        executed = self.executed_folder(student)
        shutil.rmtree(executed, ignore_errors=True)
        executed.mkdir(parents=True)
        # nbgrader reads the submission time, and its exchange the secret that lets a student fetch feedback.
        for kept in ("timestamp.txt", "submission_secret.txt"):
            for path in self.stager.staged_folder(student).glob(kept):
                shutil.copy(path, executed)
        verdicts = read_verdicts(checking / "verdicts" / VERDICTS)
        submission.protocol = verdicts.get("protocol", {})
        submission.flagged = [finding for found in (verdicts.get("flagged") or {}).values() for finding in found
                              if isinstance(finding, dict)]
        if student in self.allow:
            self.allowances.accept(student, [finding_key(finding) for finding in submission.flagged])
        for name in names:
            executed_notebook, problem = read_executed(work, name)
            # What is graded is the grader's copy, with the checker's outputs in its tests.
            notebook = rebuild(nbformat.read(checking / name, as_version=4), executed_notebook,
                               verdicts.get("notebooks", {}).get(name))
            # Why its tests without a verdict did not run, for the recorder's MarkUnfinishedTests.
            if executed_notebook is None:
                problem = problem or stopped or "the notebook produced no result"
                set_stopped_reason(notebook, stopped or problem)
            elif name in runner_stopped:
                over = submission.status == Status.OVER_LIMIT
                set_stopped_reason(notebook, stopped if over else runner_stopped[name])
            elif any(is_test(c) and c.execution_count is None for c in notebook.cells):
                set_stopped_reason(notebook, stopped or NO_REQUEST)
            if problem and submission.status == Status.GRADED:
                submission.status, stopped = Status.CRASHED, problem
            if submission.status == Status.GRADED and (has_error(notebook, "CellTimeoutError")
                                                       or has_error(executed_notebook, "CellTimeoutError")):
                submission.status = Status.TIMED_OUT
                stopped = f"a cell ran longer than {self.limits.cell_timeout} s and was interrupted"
            nbformat.write(notebook, executed / name)
        if not names:  # nothing could be prepared: every test fails
            for name in self.notebooks:
                notebook = nbformat.read(self.release / f"{name}.ipynb", as_version=4)
                set_stopped_reason(notebook, submission.reason or "the submission could not be prepared for grading")
                nbformat.write(notebook, executed / f"{name}.ipynb")
        if stopped:
            submission.notes.append(stopped)
        if dropped:
            more = f" and {len(dropped) - 3} more" if len(dropped) > 3 else ""
            submission.notes.append("not copied back: " + ", ".join(dropped[:3]) + more)
        return submission

def read_executed(work: Path, name: str):
    """(the executed notebook of ``name``, None), or (None, why not) when there is none to read."""
    result = work / (Path(name).stem + EXECUTED_SUFFIX)
    if not result.is_file() or result.stat().st_size > MAX_NOTEBOOK_BYTES:
        return None, None
    try:
        return nbformat.read(result, as_version=4), None
    except Exception:  # noqa: BLE001 - whatever the submission left there
        return None, "the executed notebook could not be read"


def has_error(notebook, ename: str) -> bool:
    return notebook is not None and any(o.get("ename") == ename for cell in notebook.cells for o in cell.get("outputs", []))


def stopped_early(log: Path) -> dict[str, str]:
    """The runner's own lines about notebooks that stopped early (a dead kernel): why, by notebook."""
    if not log.is_file():
        return {}
    with open(log, "rb") as file:
        file.seek(max(0, log.stat().st_size - 20_000))  # the runner's lines come last
        tail = file.read().decode(errors="replace")
    stopped = {}
    for line in tail.splitlines():
        if STOPPED_PREFIX in line:
            name, _, why = line.split(STOPPED_PREFIX, 1)[1].partition(": ")
            stopped[name] = why
    return stopped
