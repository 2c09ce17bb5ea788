"""Stock nbgrader, driven by the committed config, on a throw-away copy of the course."""

import csv
import subprocess
import sys

import nbformat
import pytest

from helpers import solution_code, submission

pytestmark = pytest.mark.slow

ASSIGNMENT = "batch_norm"
EPS_OUTSIDE_SQRT = ("torch.sqrt(var.reshape(per_channel) + eps)", "(torch.sqrt(var.reshape(per_channel)) + eps)")


def run(args, cwd):
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def submit(course, student, answers):
    notebook = submission(course / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", answers)
    folder = course / "grading" / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / f"{ASSIGNMENT}.ipynb")


def test_generate_autograde_and_feedback(course_copy):
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
    assert "[3/3]" in graded.stdout

    with open(course / "grading" / "grades.csv") as file:
        scores = {row["student_id"]: (float(row["score"]), float(row["max_score"])) for row in csv.DictReader(file)}
    full = scores["solution"][1]
    assert full >= 10
    assert scores["solution"] == (full, full)
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
