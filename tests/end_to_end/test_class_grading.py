"""Grading a whole class: hostile submissions, parallel equals sequential, kill and resume, LMS zips."""

import csv
import os
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from adversarial import ASSIGNMENT, CASES, FORGED, Context, write_submission
from autograder.grading.pipeline import Limits, grade
from conftest import ROOT
from helpers import question_points


# A correct submission runs in seconds; an infinite loop is stopped after half a minute.
# A correct submission needs under 100 MB: the corpus's memory and disk cases hit these limits.
FAST_LIMITS = dict(cell_timeout=10, notebook_timeout=30, memory_bytes=1_000_000_000, disk_bytes=500_000_000)
# The corpus answers the code and leaves the questions unanswered: "full" is every point but theirs.
QUESTIONS = question_points(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")


@pytest.fixture(scope="module")
def listening_port():
    """A TCP server on the loopback interface, which a sandboxed submission must not reach."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def make_course(tmp_path_factory, name):
    from conftest import ROOT

    course = tmp_path_factory.mktemp(name) / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder, course / folder)
    run([sys.executable, "-m", "autograder", "generate", ASSIGNMENT], course)
    return course


def run(args, cwd, **kwargs):
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def submit(course, student, case, port=0, home=Context.home):
    write_submission(CASES[case], Context(course, port, home), course / "grading" / "submitted" / student / ASSIGNMENT)


def grades_csv(course):
    return (course / "grading" / "grades.csv").read_text()


@pytest.fixture(scope="module")
def instructor_home():
    """The grader's home folder, with the solution in it; outside /tmp, which the sandbox replaces anyway."""
    home = Path(tempfile.mkdtemp(prefix="instructor-home-", dir="/var/tmp"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        yield home
    shutil.rmtree(home)


@pytest.fixture(scope="module")
def graded_corpus(tmp_path_factory, listening_port, instructor_home):
    course = make_course(tmp_path_factory, "corpus")
    (instructor_home / "answer.py").write_text(Context(course, 0).solution)
    for name in CASES:
        submit(course, name, name, listening_port, instructor_home)
    outcomes, csv_path, report = grade(course, ASSIGNMENT, limits=Limits(workers=2, **FAST_LIMITS), log=lambda *a: None)
    return course, {o.student: o for o in outcomes}, report


@pytest.mark.parametrize("name", CASES)
def test_each_hostile_or_broken_submission_gets_its_grade(graded_corpus, name):
    course, outcomes, _ = graded_corpus
    case, outcome = CASES[name], outcomes[name]
    assert outcome.max_score > 0
    expected = outcome.max_score - sum(QUESTIONS.values()) if case.expected == "full" else 0
    assert outcome.score == expected, (case.description, outcome)
    assert outcome.status == case.status, (case.description, outcome)
    if case.status != "graded" or case.expected == "zero":
        assert outcome.reason and "\n" not in outcome.reason, outcome


def test_the_batch_reports_why(graded_corpus):
    _, outcomes, report = graded_corpus
    assert "graded as batch_norm.ipynb" in outcomes["renamed"].reason
    assert "not a valid notebook" in outcomes["invalid_json"].reason
    assert "kernel died" in outcomes["os_exit"].reason
    assert "longer than" in outcomes["infinite_loop"].reason  # a cell, or the whole submission
    # The reference is the function PyTorch had when the autograder was imported: patching
    # torch.nn.functional afterwards leaves it alone, and the wrong answer fails on its values.
    assert "differs from the reference" in " ".join(outcomes["patched_torch"].tests.values())
    # The checks run in the trusted checker, and the kernel holds none of them: the answer cell stops at
    # its import of the checking core, which is not in the sandbox, before it defines the answer.
    assert all("NameError" in message for test, message in outcomes["patched_harness"].tests.items()
               if test not in QUESTIONS)
    assert "not implemented yet" in " ".join(outcomes["replaced_check"].tests.values())
    # The harness never relied on torch.testing: the wrong answer fails on its values.
    assert "differs from the reference" in " ".join(outcomes["patched_testing"].tests.values())
    # Borrowed work is flagged, with its lines, and the tests of the function it sits in do not run.
    for name in ("borrows_the_reference", "borrows_a_decomposition"):
        assert outcomes[name].flagged, name
        assert all(message.startswith("FlaggedCode: the tests of batch_norm do not run")
                   for test, message in outcomes[name].tests.items() if test not in QUESTIONS), name
    assert "SystemExit" not in outcomes["sys_exit"].reason  # the kernel survives: only the answer is missing
    assert all("NameError" in message for test, message in outcomes["sys_exit"].tests.items() if test not in QUESTIONS)
    html = report.read_text()
    assert html.count("<img") == 2
    for student in ("infinite_loop", "os_exit", "segfault", "invalid_json"):
        assert f"<td>{student}</td>" in html
    # The similarity report, written beside it whatever the submissions hold, and linked from it.
    assert '<a href="similarity-batch_norm.html">' in html
    assert "<h1>Similarity: batch_norm</h1>" in (report.parent / "similarity-batch_norm.html").read_text()


FORGING = ("rewrites_later_cells", "replaces_showtraceback", "displays_fake_reports", "swaps_code_objects",
           "patches_the_stub", "forges_the_stubs_answers")


def test_the_verdicts_come_from_the_checker_not_the_kernel(graded_corpus):
    # In the same batch as a correct answer, each submission that shows passes of its own from inside
    # its kernel gets the checker's verdicts: its own display appears in no test, and no test passes.
    course, outcomes, _ = graded_corpus
    assert outcomes["solution"].score == outcomes["solution"].max_score - sum(QUESTIONS.values())
    assert all(message == "" for test, message in outcomes["solution"].tests.items() if test not in QUESTIONS)
    for name in FORGING:
        assert outcomes[name].score == 0, name
        autograded = course / "grading" / "autograded" / name / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        notebook = nbformat.read(autograded, as_version=4)
        tests = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade")
                 and not cell.metadata["nbgrader"].get("solution")]
        assert tests and not any(FORGED in json.dumps(cell.outputs) for cell in tests), name
    # Where the kernel still asked for the tests, they failed on the checker's comparison.
    assert "differs from the reference" in " ".join(outcomes["displays_fake_reports"].tests.values())
    assert "never asked the grader" in " ".join(outcomes["patches_the_stub"].tests.values())
    # A stub of the submission's own answers with the input as the output: judged, and wrong.
    assert "differs from the reference" in " ".join(outcomes["forges_the_stubs_answers"].tests.values())


def test_no_hidden_test_line_appears_in_any_feedback(graded_corpus):
    course, outcomes, _ = graded_corpus
    source = nbformat.read(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    hidden = [
        line.strip() for cell in source.cells
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
        for line in block.splitlines() if line.strip()
    ]
    assert hidden
    feedback = list((course / "grading" / "feedback").glob(f"*/{ASSIGNMENT}/*.html"))
    assert len(feedback) >= len(CASES) - 1  # an unreadable submission may have no notebook
    for page in feedback:
        text = page_text(page)
        assert "HIDDEN TESTS" not in text
        for line in hidden:
            assert line not in text, (page, line)


def page_text(page: Path) -> str:
    """What a student reads on a feedback page: its text, without the markup that syntax highlighting adds."""
    from bs4 import BeautifulSoup

    return BeautifulSoup(page.read_text(), "html.parser").get_text()


def hidden_test_lines(course) -> list[str]:
    source = nbformat.read(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    return [line.strip() for cell in source.cells
            for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
            for line in block.splitlines() if line.strip()]


def test_the_feedback_policy_decides_what_students_see_of_hidden_tests(tmp_path_factory):
    course = make_course(tmp_path_factory, "feedback_policy")
    folder = course / "grading" / "submitted" / "student" / ASSIGNMENT
    write_submission(CASES["solution"], Context(course, 0), folder)
    path = folder / f"{ASSIGNMENT}.ipynb"
    path.write_text(path.read_text().replace(  # a mistake that fails visible and hidden tests alike
        "torch.sqrt(var.reshape(per_channel) + eps)", "(torch.sqrt(var.reshape(per_channel)) + eps)"))
    hidden = hidden_test_lines(course)
    page = course / "grading" / "feedback" / "student" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    docstring = "Check that eps is added to the variance inside the square root."
    shown = {}
    for policy in ("messages", "none", "full"):
        run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--regrade", "--feedback", policy,
             "--cell-timeout", "30"], course)
        shown[policy] = page_text(page)
    for policy in ("messages", "none"):
        assert not any(line in shown[policy] for line in hidden), policy
    assert "Likely mistake: epsilon is added outside the square root" in shown["messages"]
    assert docstring in shown["messages"] and docstring not in shown["none"]
    assert "this hidden test failed" in shown["none"] and "this hidden test failed" not in shown["messages"]
    assert all(line in shown["full"] for line in hidden)
    # An unknown student or assignment is one line and a non-zero exit, never a traceback.
    for arguments in ([ASSIGNMENT, "--student", "nobody"], ["no_such_assignment"]):
        wrong = subprocess.run([sys.executable, "-m", "autograder", "grade", *arguments], cwd=course,
                               capture_output=True, text=True)
        assert wrong.returncode != 0 and "Traceback" not in wrong.stderr, wrong.stderr
        assert [line for line in wrong.stderr.splitlines() if line.startswith("error: ")], wrong.stderr


SMALL_CLASS = ["solution", "blank", "eps_outside", "renamed", "memory_bomb"]


def small_class(course):
    for student in SMALL_CLASS:
        if student == "eps_outside":
            folder = course / "grading" / "submitted" / student / ASSIGNMENT
            write_submission(CASES["solution"], Context(course, 0), folder)
            path = folder / f"{ASSIGNMENT}.ipynb"
            path.write_text(path.read_text().replace(
                "torch.sqrt(var.reshape(per_channel) + eps)", "(torch.sqrt(var.reshape(per_channel)) + eps)"))
        else:
            submit(course, student, student)


def test_parallel_and_sequential_grading_give_the_same_grades(tmp_path_factory):
    csvs = []
    for workers in (1, 2):
        course = make_course(tmp_path_factory, f"workers{workers}")
        small_class(course)
        run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--workers", str(workers),
             "--cell-timeout", "20"], course)
        csvs.append(grades_csv(course))
    assert csvs[0] == csvs[1]
    scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(csvs[0].splitlines())}
    assert scores["solution"] == 12 and scores["blank"] == 0 and 0 < scores["eps_outside"] < 12


def test_a_killed_batch_resumes_to_the_same_result(tmp_path_factory):
    reference = make_course(tmp_path_factory, "uninterrupted")
    small_class(reference)
    run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--workers", "2"], reference)

    course = make_course(tmp_path_factory, "killed")
    small_class(course)
    command = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--workers", "2"]
    process = subprocess.Popen(command, cwd=course, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    progress = course / "grading" / "progress" / ASSIGNMENT
    deadline = time.monotonic() + 300
    while not (progress.is_dir() and len(list(progress.glob("*.json"))) >= 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = {p.stem for p in progress.glob("*.json")}
    assert 2 <= len(done_before) < len(SMALL_CLASS), "kill the batch in the middle"

    resumed = run(command, course)
    assert f"{len(done_before)} of {len(SMALL_CLASS)} submissions already graded: resuming" in resumed.stdout
    for student in SMALL_CLASS:  # each graded once: the resumed run grades only the others
        assert (f"\n{student}: " in "\n" + resumed.stdout) == (student not in done_before), student
    assert grades_csv(course) == grades_csv(reference)
    assert {p.stem for p in progress.glob("*.json")} == set(SMALL_CLASS)


def test_an_lms_zip_goes_through_nbgrader_zip_collect(tmp_path_factory):
    course = make_course(tmp_path_factory, "lms")
    downloads = course.parent / "downloads"
    for student, case in (("alice", "solution"), ("bob", "blank")):
        write_submission(CASES[case], Context(course, 0), downloads / student)
    archive = course.parent / "lms.zip"
    with zipfile.ZipFile(archive, "w") as zip_file:
        for student in ("alice", "bob"):
            zip_file.write(downloads / student / f"{ASSIGNMENT}.ipynb",
                           f"{ASSIGNMENT}_{student}_attempt_2026-11-20-10-00-00_{ASSIGNMENT}.ipynb")
    run([sys.executable, "-m", "autograder", "collect", ASSIGNMENT, str(archive)], course)
    assert sorted(p.name for p in (course / "grading" / "submitted").iterdir()) == ["alice", "bob"]
    run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT], course)
    scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(grades_csv(course).splitlines())}
    assert scores == {"alice": 12.0, "bob": 0.0}


def test_grading_without_a_sandbox_needs_a_flag_and_warns(tmp_path_factory):
    course = make_course(tmp_path_factory, "unsandboxed")
    submit(course, "solution", "solution")
    result = run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--no-sandbox"], course)
    assert "warning: grading WITHOUT a sandbox" in result.stderr
    assert "solution: 12/16" in result.stdout
