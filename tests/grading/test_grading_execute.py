"""The execute step's verdicts, with a stand-in for the fork server that plays what a runner leaves behind."""

import json
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbformat.v4 import new_output

from autograder.checker.verdicts import NO_REQUEST
from autograder.grading.config import Limits
from autograder.grading.execute import Executor, read_executed, stopped_early
from autograder.grading.outcome import Status, Submission
from autograder.grading.preprocessors import MarkUnfinishedTests
from autograder.sandbox.runner import EXECUTED_SUFFIX, STOPPED_PREFIX
from grading_cells import answer_cell, graded_cell, notebook, passed

ASSIGNMENT = "ps1"
KERNEL_DIED = "the kernel died (a crash, os._exit() or the memory limit) before this test ran"


class Server:
    """Plays a runner and its checker: ``play(folder, names)`` writes what the runner would have written
    and returns its exit code; each test that shows an output there is one the checker ran, with that output.
    """

    def __init__(self, play):
        self.play = play
        self.requests = []
        self.sandboxed = {}  # the notebooks as the sandbox saw them

    def run(self, request, timeout):
        self.requests.append((request, timeout))
        folder = Path(request["cwd"])
        self.sandboxed = {name: nbformat.read(folder / name, as_version=4) for name in request["notebooks"]}
        code = self.play(folder, request["notebooks"])
        check(request["checker"], folder)
        return code


def check(checker, folder):
    """Write the verdicts of the tests that ran in ``folder``'s executed notebooks, as the checker does."""
    verdicts = {}
    for name in checker["notebooks"]:
        try:
            executed = nbformat.read(folder / (Path(name).stem + EXECUTED_SUFFIX), as_version=4)
        except (OSError, ValueError):
            continue
        for cell in executed.cells:
            if cell.metadata.get("nbgrader", {}).get("grade") and cell.get("execution_count"):
                verdicts.setdefault(name, {})[cell.metadata.nbgrader.grade_id] = cell.outputs
    Path(checker["verdicts"]).write_text(json.dumps({"notebooks": verdicts}))


@pytest.fixture
def course(tmp_path):
    grading = tmp_path / "grading"
    stager = SimpleNamespace(
        assignment=ASSIGNMENT, notebooks=["one", "two"], staged=grading / "staged",
        staged_folder=lambda student: grading / "staged" / student / ASSIGNMENT,
        sanitized_folder=lambda student: grading / "sanitized" / student / ASSIGNMENT,
    )
    release = tmp_path / "release"
    release.mkdir()
    for name in stager.notebooks:
        nbformat.write(notebook(answer_cell(), graded_cell(f"{name}_test")), release / f"{name}.ipynb")
    return SimpleNamespace(root=tmp_path, stager=stager, release=release)


def hand_in(course, student, names=("one", "two")):
    for folder in (course.stager.staged_folder(student), course.stager.sanitized_folder(student)):
        folder.mkdir(parents=True)
        for name in names:
            nbformat.write(notebook(answer_cell(), graded_cell(f"{name}_test")), folder / f"{name}.ipynb")
    (course.stager.staged_folder(student) / "timestamp.txt").write_text("2026-11-20 10:00:00")


def execute(course, play, student="alice", limits=None):
    server = Server(play)
    limits = limits or Limits(workers=1, sandbox=False, cell_timeout=5, notebook_timeout=30)
    executor = Executor(course.root, course.stager, course.release, limits, server)
    submission = executor.run(Submission(student))
    executed = {p.name: nbformat.read(p, as_version=4) for p in executor.executed_folder(student).glob("*.ipynb")}
    return submission, executed, executor, server


def write_executed(folder, name, *cells):
    nbformat.write(notebook(answer_cell(), *cells), folder / (Path(name).stem + EXECUTED_SUFFIX))


def all_ran(folder, names):
    for name in names:
        write_executed(folder, name, passed(f"{Path(name).stem}_test"))
    (folder / ".grader.log").write_text("a kernel's own noise\n")
    return 0


def unfinished_test_errors(executed, name):
    nb, _ = MarkUnfinishedTests()(executed[name], {})
    return [o.evalue for o in nb.cells[-1].outputs if o.output_type == "error"]


def test_a_submission_that_ran_to_its_end_is_graded(course):
    hand_in(course, "alice")
    submission, executed, executor, server = execute(course, all_ran)
    assert submission.status == Status.GRADED and submission.reason == ""
    assert sorted(executed) == ["one.ipynb", "two.ipynb"]
    assert all("autograder" not in nb.metadata for nb in executed.values())
    assert (executor.executed_folder("alice") / "timestamp.txt").read_text() == "2026-11-20 10:00:00"
    [(request, timeout)] = server.requests
    assert request["notebooks"] == ["one.ipynb", "two.ipynb"] and timeout == 30 and request["cell_timeout"] == 5


def test_the_sandbox_never_sees_a_test_and_only_the_checkers_verdicts_decide(course):
    def forged(folder, names):
        # The kernel shows a pass of its own in one.ipynb's test; the checker ran only two.ipynb's.
        write_executed(folder, "one.ipynb", passed("one_test"))
        (folder / ("one" + EXECUTED_SUFFIX)).rename(folder / "one.forged")
        write_executed(folder, "two.ipynb", passed("two_test"))
        return 0

    def play(folder, names):
        code = forged(folder, names)
        return code

    hand_in(course, "alice")
    server = Server(play)
    limits = Limits(workers=1, sandbox=False, cell_timeout=5, notebook_timeout=30)
    executor = Executor(course.root, course.stager, course.release, limits, server)
    original = server.run

    def run(request, timeout):
        code = original(request, timeout)
        # After the checker: the kernel's forged pass replaces the executed notebook.
        (Path(request["cwd"]) / "one.forged").rename(Path(request["cwd"]) / ("one" + EXECUTED_SUFFIX))
        return code

    server.run = run
    executor.run(Submission("alice"))
    for name, sandboxed in server.sandboxed.items():
        [test] = [cell for cell in sandboxed.cells if cell.metadata.get("nbgrader", {}).get("grade")]
        assert "check_" not in test.source and "serve(" in test.source  # the stub's request, not the test
    executed = {p.name: nbformat.read(p, as_version=4) for p in executor.executed_folder("alice").glob("*.ipynb")}
    assert unfinished_test_errors(executed, "one.ipynb") == [NO_REQUEST]
    assert unfinished_test_errors(executed, "two.ipynb") == []
    assert executed["one.ipynb"].cells[-1].source == "check_one_test(batch_norm)"  # the grader's copy


def test_a_dead_kernel_fails_its_notebooks_remaining_tests_with_the_runners_words(course):
    def kernel_died(folder, names):
        write_executed(folder, "one.ipynb", passed("one_test"))
        write_executed(folder, "two.ipynb", graded_cell("two_test"))  # never ran
        (folder / ".grader.log").write_text(f"Traceback ...\n{STOPPED_PREFIX}two.ipynb: {KERNEL_DIED}\n")
        return 0

    hand_in(course, "alice")
    submission, executed, _, _ = execute(course, kernel_died)
    assert submission.status == Status.CRASHED
    assert submission.reason == f"two.ipynb: {KERNEL_DIED}"
    assert unfinished_test_errors(executed, "two.ipynb") == [KERNEL_DIED]
    assert unfinished_test_errors(executed, "one.ipynb") == []


def test_a_limit_hit_is_the_reason_named_in_the_outcome_and_in_each_unfinished_test(course, monkeypatch):
    from autograder.sandbox.confine import Result

    def memory_limit(server, work, log, names, *args):
        # The kernel of two.ipynb was killed for the memory its processes held together.
        write_executed(work, "one.ipynb", passed("one_test"))
        write_executed(work, "two.ipynb", graded_cell("two_test"))
        log.write_text(f"{STOPPED_PREFIX}two.ipynb: {KERNEL_DIED}\n")
        check(args[-1], work)
        return Result(0, ["memory"], ["ballast.bin (900.0 MB)"])

    monkeypatch.setattr("autograder.grading.execute.run_submission", memory_limit)
    hand_in(course, "alice")
    submission, executed, _, _ = execute(course, None)
    limit = "memory limit: its processes together needed more than 4 GB, and one was killed"
    assert submission.status == Status.OVER_LIMIT
    assert submission.reason == f"{limit}; not copied back: ballast.bin (900.0 MB)"
    assert unfinished_test_errors(executed, "two.ipynb") == [limit]
    assert unfinished_test_errors(executed, "one.ipynb") == []


def test_a_submission_past_its_time_is_killed_and_every_unfinished_test_says_so(course):
    def killed(folder, names):
        write_executed(folder, "one.ipynb", passed("one_test"))
        return None  # the second notebook was still running

    hand_in(course, "alice")
    submission, executed, _, _ = execute(course, killed)
    assert submission.status == Status.TIMED_OUT
    assert submission.reason == "the submission ran longer than 30 s"
    assert unfinished_test_errors(executed, "two.ipynb") == ["the submission ran longer than 30 s"]
    assert unfinished_test_errors(executed, "one.ipynb") == []


def test_a_runner_that_ends_with_an_error_code_crashes_the_submission(course):
    hand_in(course, "alice")
    submission, executed, _, _ = execute(course, lambda folder, names: 71)
    assert submission.status == Status.CRASHED
    assert submission.reason == "the grading process ended with code 71"
    assert unfinished_test_errors(executed, "one.ipynb") == ["the grading process ended with code 71"]


def test_an_unreadable_executed_notebook_crashes_the_submission(course):
    def garbage(folder, names):
        all_ran(folder, names)
        (folder / ("two" + EXECUTED_SUFFIX)).write_text("{not json")
        return 0

    hand_in(course, "alice")
    submission, executed, _, _ = execute(course, garbage)
    assert submission.status == Status.CRASHED
    assert submission.reason == "the executed notebook could not be read"
    assert unfinished_test_errors(executed, "two.ipynb") == ["the executed notebook could not be read"]


def test_a_notebook_without_a_result_crashes_the_submission(course):
    def one_only(folder, names):
        all_ran(folder, ["one.ipynb"])
        return 0

    hand_in(course, "alice")
    submission, executed, _, _ = execute(course, one_only)
    assert submission.status == Status.CRASHED
    assert submission.reason == "the notebook produced no result"


def test_an_interrupted_cell_times_the_submission_out(course):
    def slow_cell(folder, names):
        all_ran(folder, names)
        timeout = new_output("error", ename="CellTimeoutError", evalue="the cell ran longer than 5 s",
                             traceback=["CellTimeoutError"])
        write_executed(folder, "one.ipynb", graded_cell("one_test", [timeout], execution_count=2))
        return 0

    hand_in(course, "alice")
    submission, _, _, _ = execute(course, slow_cell)
    assert submission.status == Status.TIMED_OUT
    assert submission.reason == "a cell ran longer than 5 s and was interrupted"


def test_notes_from_staging_come_first_in_the_reason(course):
    hand_in(course, "alice", names=("one",))
    submission = Submission("alice", notes=["two.ipynb is missing"])
    server = Server(lambda folder, names: None)
    Executor(course.root, course.stager, course.release,
             Limits(sandbox=False, notebook_timeout=30), server).run(submission)
    assert submission.reason == "two.ipynb is missing; the submission ran longer than 30 s"


def test_a_submission_with_nothing_to_run_fails_every_released_test(course):
    submission = Submission("bob", status=Status.UNREADABLE, notes=["one.ipynb is not a valid notebook (JSONDecodeError)"])
    server = Server(all_ran)
    executor = Executor(course.root, course.stager, course.release, Limits(sandbox=False), server)
    executor.run(submission)
    assert server.requests == []  # nothing was started
    executed = {p.name: nbformat.read(p, as_version=4) for p in executor.executed_folder("bob").glob("*.ipynb")}
    assert sorted(executed) == ["one.ipynb", "two.ipynb"]
    for name in executed:
        assert unfinished_test_errors(executed, name) == ["one.ipynb is not a valid notebook (JSONDecodeError)"]
    assert submission.status == Status.UNREADABLE


def test_the_runners_lines_are_read_by_notebook(tmp_path):
    log = tmp_path / ".grader.log"
    log.write_text("x" * 50_000 + f"\n{STOPPED_PREFIX}a.ipynb: {KERNEL_DIED}\nnoise\n"
                   f"{STOPPED_PREFIX}b.ipynb: execution stopped: RuntimeError: boom\n")
    assert stopped_early(log) == {"a.ipynb": KERNEL_DIED, "b.ipynb": "execution stopped: RuntimeError: boom"}
    log.write_text("only the kernel's output\n")
    assert stopped_early(log) == {}
    assert stopped_early(tmp_path / "absent.log") == {}


def test_an_executed_notebook_is_read_only_when_it_is_whole(tmp_path):
    assert read_executed(tmp_path, "a.ipynb") == (None, None)
    write_executed(tmp_path, "a.ipynb", passed("t"))
    notebook_read, problem = read_executed(tmp_path, "a.ipynb")
    assert problem is None and notebook_read.cells[1].outputs[0].data["text/plain"].startswith("passed: ")
    (tmp_path / ("a" + EXECUTED_SUFFIX)).write_text('{"cells": [')
    assert read_executed(tmp_path, "a.ipynb") == (None, "the executed notebook could not be read")
