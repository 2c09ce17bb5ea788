"""A grade for the student's own work: borrowed implementations, graded in sandboxes, earn at most half their points.

Each case is the full solution of its assignment with one function replaced by
one or two lines that hand it to code the student did not write: the course's
own implementations, scikit-learn, or PyTorch's decomposition reached by a
computed name. The whole class is graded with ``grade``, the solution in the
same batch; an instructor's ``--allow`` regrades a flagged student whose code
they accept.
"""

import shutil
import subprocess
import sys

import nbformat
import pytest

from autograder import cells
from autograder.checker.process import TrustedNotebook, student_names
from autograder.grading.pipeline import Limits, grade
from autograder.sandbox.forkserver import ForkServer
from borrowed import BORROWED
from conftest import ROOT
from helpers import grade_id

LIMITS = dict(workers=2, cell_timeout=30, notebook_timeout=120, memory_bytes=2_000_000_000)
# An answer that is the solution, but reached through eval: flagged, and right once accepted.
THROUGH_EVAL = "\nbatch_norm = eval('batch' + '_norm')\n"


def solution_notebook(assignment: str, answers: dict[str, str] | None = None):
    """The released notebook answered with the solutions, with ``answers`` (grade_id -> source) in place of some."""
    source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    solutions = {grade_id(c): c.source for c in source.cells if cells.is_solution(c)}
    notebook = nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and cells.is_solution(cell) and grade_id(cell) in solutions:
            cell.source = (answers or {}).get(grade_id(cell), _code(solutions[grade_id(cell)]))
    return notebook


def _code(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if "### BEGIN SOLUTION" not in line
                     and "### END SOLUTION" not in line) + "\n"


def points_of(assignment: str, function: str) -> dict[str, float]:
    """grade_id -> points of each test cell that calls the student's ``function``."""
    path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    trusted = TrustedNotebook(path)
    notebook = nbformat.read(path, as_version=4)
    return {grade_id(c): cells.points(c) for c in notebook.cells if cells.is_test(c)
            and function in student_names(trusted.tests[grade_id(c)], trusted.namespace)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every case of the table, each with the solution of its assignment beside it, graded by assignment."""
    course = tmp_path_factory.mktemp("borrowed") / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder, course / folder)
    assignments = sorted({assignment for assignment, _, _ in BORROWED.values()})
    result = subprocess.run([sys.executable, "-m", "autograder", "generate", *assignments], cwd=course,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    students = {}
    for index, (case, (assignment, answers, _)) in enumerate(BORROWED.items()):
        students[case] = f"borrower{index}"
        folder = course / "grading" / "submitted" / students[case] / assignment
        folder.mkdir(parents=True)
        nbformat.write(solution_notebook(assignment, answers), folder / f"{assignment}.ipynb")
    for assignment in assignments:
        folder = course / "grading" / "submitted" / "honest" / assignment
        folder.mkdir(parents=True)
        nbformat.write(solution_notebook(assignment), folder / f"{assignment}.ipynb")
    outcomes = {}
    server = ForkServer(course / "forkserver.log")
    try:
        for assignment in assignments:
            graded, _, report = grade(course, assignment, limits=Limits(**LIMITS), log=lambda *a: None,
                                      server=server)
            outcomes[assignment] = ({o.student: o for o in graded}, report)
    finally:
        server.close()
    return course, students, outcomes


@pytest.mark.parametrize("case", BORROWED)
def test_each_borrowed_function_earns_at_most_half_its_points(graded, case):
    _, students, outcomes = graded
    assignment, _, functions = BORROWED[case]
    outcome = outcomes[assignment][0][students[case]]
    for function in functions:
        points = points_of(assignment, function)
        earned = sum(p for test, p in points.items() if outcome.tests.get(test) == "")
        print(f"{case}: the tests of {function} earn {earned:g}/{sum(points.values()):g}")
        assert points and earned <= sum(points.values()) / 2, (case, function, outcome.tests)
    assert outcome.flagged and any("the tests of" in line for line in outcome.flagged), outcome
    # The student reads the flagged lines in their feedback.
    course = graded[0]
    feedback = (course / "grading" / "feedback" / students[case] / assignment / f"{assignment}.html").read_text()
    assert "do not run, for code flagged in it" in feedback


def test_honest_work_keeps_full_marks_in_the_same_batches(graded):
    _, _, outcomes = graded
    for assignment, (by_student, report) in outcomes.items():
        honest = by_student["honest"]
        tests = [c for c in nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb",
                                          as_version=4).cells if cells.is_test(c)]
        # Every point the tests give (an answer in words is graded by hand).
        assert honest.score == sum(cells.points(c) for c in tests), (assignment, honest)
        assert all(message == "" for message in honest.tests.values()), (assignment, honest)
        assert honest.flagged == []
        # The class report names each flagged line, for the instructor to read.
        page = report.read_text()
        assert "Flagged code" in page
        for student, outcome in by_student.items():
            for line in outcome.flagged:
                assert line.split(":", 1)[0] in page, (student, line)


def test_an_instructor_accepts_flagged_code_they_have_read(graded):
    course, _, _ = graded
    folder = course / "grading" / "submitted" / "through_eval" / "batch_norm"
    folder.mkdir(parents=True)
    solution = _code(next(c.source for c in nbformat.read(ROOT / "solutions/batch_norm/batch_norm.ipynb",
                                                          as_version=4).cells if grade_id(c) == "batch_norm"))
    nbformat.write(solution_notebook("batch_norm", {"batch_norm": solution + THROUGH_EVAL}),
                   folder / "batch_norm.ipynb")
    points = points_of("batch_norm", "batch_norm")

    def run(*options):
        result = subprocess.run([sys.executable, "-m", "autograder", "grade", "batch_norm", *options,
                                 "--workers", "1", "--cell-timeout", "30", "--notebook-timeout", "120"],
                                cwd=course, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout + result.stderr

    flagged = run("--student", "through_eval")
    assert "flagged: answer cell batch_norm, line" in flagged and "eval(" in flagged
    accepted = run("--allow", "through_eval")
    assert "accepted by the instructor" in accepted
    line = next(line for line in accepted.splitlines() if line.startswith("through_eval:"))
    earned = float(line.split(":")[1].split("/")[0])
    assert earned >= sum(points.values()), line
    # A later regrade of the class keeps what was accepted.
    again = run("--student", "through_eval", "--regrade")
    assert "accepted by the instructor" in again
