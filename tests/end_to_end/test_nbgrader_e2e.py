"""Stock nbgrader, driven by the committed config, on a throw-away copy of the course."""

import csv
import subprocess
import sys

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import ROOT
from helpers import solution_code, submission


ASSIGNMENT = "batch_norm"
EPS_OUTSIDE_SQRT = ("torch.sqrt(var.reshape(per_channel) + eps)", "(torch.sqrt(var.reshape(per_channel)) + eps)")


def run(args, cwd):
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def submit(course, student, answers, assignment=ASSIGNMENT):
    """Hand in every notebook of ``assignment``, with ``answers`` by grade_id filled in."""
    folder = course / "grading" / "submitted" / student / assignment
    folder.mkdir(parents=True)
    for release in sorted((course / "exercises" / assignment).glob("*.ipynb")):
        nbformat.write(submission(release, answers), folder / release.name)


def read_scores(course) -> dict:
    with open(course / "grading" / "grades.csv") as file:
        return {(row["assignment"], row["student_id"]): (float(row["score"]), float(row["max_score"]))
                for row in csv.DictReader(file)}


def written_answers(course, assignment) -> dict[str, float]:
    """grade_id -> points of the answers in words, which the instructor grades by hand."""
    return {cell.metadata.nbgrader["grade_id"]: cell.metadata.nbgrader["points"]
            for source in (course / "solutions" / assignment).glob("*.ipynb")
            for cell in nbformat.read(source, as_version=4).cells
            if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("grade")}


ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_solution_scores_full_marks_and_every_blank_zero(course_copy, assignment):
    course = course_copy
    run([sys.executable, "-m", "autograder", "generate", assignment], course)
    answers = {}
    for source in (course / "solutions" / assignment).glob("*.ipynb"):
        answers.update(solution_code(source))
    submit(course, "solution", answers, assignment)
    submit(course, "blank", {}, assignment)
    run([sys.executable, "-m", "autograder", "grade", assignment], course)
    scores = read_scores(course)
    solution, blank = scores[(assignment, "solution")], scores[(assignment, "blank")]
    by_hand = sum(written_answers(course, assignment).values())
    # Every automatic point, questions included; the written answers wait for the instructor.
    assert solution[1] > by_hand > 0 and solution == (solution[1] - by_hand, solution[1]), (assignment, solution)
    assert blank == (0.0, blank[1]), (assignment, blank)

    # The instructor grades the written answers by their rubric; the model answers earn every point.
    with Gradebook("sqlite:///" + str(course / "grading" / "gradebook.db")) as gradebook:
        pending = {student: [grade for notebook in gradebook.find_submission(assignment, student).notebooks
                             for grade in notebook.grades if grade.needs_manual_grade]
                   for student in ("solution", "blank")}
        # Unanswered cells score 0 by themselves, so only the solution's written answers wait.
        assert pending["blank"] == [], assignment
        assert {grade.name for grade in pending["solution"]} == set(written_answers(course, assignment))
        for grade in pending["solution"]:
            grade.manual_score = grade.max_score
            grade.needs_manual_grade = False
        gradebook.db.commit()
        solution = gradebook.find_submission(assignment, "solution")
        assert solution.score == solution.max_score, assignment
        assert gradebook.find_submission(assignment, "blank").score == 0, assignment


def test_stock_nbgrader_grades_a_mistake_and_hides_hidden_tests(course_copy):
    course = course_copy
    # Stock nbgrader works from the root with the committed config alone.
    run(["nbgrader", "generate_assignment", ASSIGNMENT, "--force"], course)

    answers = solution_code(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    submit(course, "solution", answers)
    submit(course, "blank", {})
    submit(course, "eps_outside", {ASSIGNMENT: answers[ASSIGNMENT].replace(*EPS_OUTSIDE_SQRT)})
    assert answers[ASSIGNMENT] != answers[ASSIGNMENT].replace(*EPS_OUTSIDE_SQRT)

    run(["nbgrader", "autograde", ASSIGNMENT, "--student", "blank"], course)
    graded = run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT], course)
    # 14 automatic points (12 for the code, 2 for the questions) and 2 for an answer graded by hand.
    assert "solution: 14/16" in graded.stdout and "blank: 0/16" in graded.stdout

    scores = {student: score for (_, student), score in read_scores(course).items()}
    full = scores["solution"][1]
    assert full >= 10
    assert scores["solution"] == (full - sum(written_answers(course, ASSIGNMENT).values()), full)
    assert scores["blank"] == (0.0, full)
    assert 0 < scores["eps_outside"][0] < full

    autograded = nbformat.read(course / "grading" / "autograded" / "eps_outside" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    errors = [o.evalue for c in autograded.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert any("Likely mistake: epsilon is added outside the square root" in e for e in errors)

    # The blank exercise fails every test cell once the hidden tests are back.
    blank = nbformat.read(course / "grading" / "autograded" / "blank" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    tests = [c for c in blank.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    assert tests and all(any(o.output_type == "error" for o in c.outputs) for c in tests)

    for student in ("solution", "blank", "eps_outside"):
        html = (course / "grading" / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
        assert "HIDDEN TESTS" not in html
        assert "dtype=torch.float64, seed=2" not in html  # a line of a hidden test
        assert "Check the gradients with respect to input, weight and bias" in html  # its visible docstring
    feedback = (course / "grading" / "feedback" / "eps_outside" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "Likely mistake: epsilon is added outside the square root" in feedback
