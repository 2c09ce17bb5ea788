"""Solutions pass their own tests; exercises are exactly what solutions generate, with no solution in them."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.self_check import check_notebook, format_report
from helpers import SOLUTION_REGION, grade_id, solution_regions

from conftest import ROOT

SOURCES = sorted((ROOT / "solutions").glob("*/*.ipynb"))
RELEASES = sorted((ROOT / "exercises").glob("*/*.ipynb"))


def test_every_assignment_is_released():
    assert SOURCES, "no solution notebooks"
    assert [p.relative_to(ROOT / "solutions") for p in SOURCES] == [
        p.relative_to(ROOT / "exercises") for p in RELEASES
    ]


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_each_solution_passes_all_its_tests(source):
    results = check_notebook(source)
    assert results, "no test cells"
    assert all(r.passed for r in results), format_report(results)


@pytest.mark.slow
@pytest.mark.parametrize("release", RELEASES, ids=lambda p: p.stem)
def test_each_visible_test_fails_on_the_blank_exercise(release):
    results = check_notebook(release)
    visible = [r for r in results if not r.hidden]
    assert visible, "no visible tests"
    assert not any(r.passed for r in visible), format_report(results)
    assert all("not implemented yet" in r.message for r in visible), format_report(results)


def test_exercises_are_what_solutions_generate(course_copy):
    # Generate into a copy, so this test never rewrites the tracked exercises.
    for release in (course_copy / "exercises").glob("*/*.ipynb"):
        release.unlink()
    subprocess.run([sys.executable, "-m", "autograder", "generate"], cwd=course_copy, check=True,
                   capture_output=True, text=True)
    for release in RELEASES:
        generated = course_copy / release.relative_to(ROOT)
        assert generated.read_text() == release.read_text(), (
            f"{release.relative_to(ROOT)} is not what solutions/ generates: run `make exercises`"
        )


@pytest.mark.parametrize("release", RELEASES, ids=lambda p: p.stem)
def test_no_solution_or_hidden_test_leaks_into_an_exercise(release):
    text = release.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    source = ROOT / "solutions" / release.relative_to(ROOT / "exercises")
    released_code = "\n".join(c.source for c in nbformat.read(release, as_version=4).cells)
    for solution in solution_regions(source):
        lines = [line.strip() for line in solution.splitlines() if len(line.strip()) > 12]
        assert lines
        for line in lines:
            assert line not in released_code, f"solution line in {release.name}: {line}"
    # Every solution cell is a stub the student must fill: code, or a written answer graded by hand.
    for cell in nbformat.read(release, as_version=4).cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            stub = "raise NotImplementedError()" if cell.cell_type == "code" else "YOUR ANSWER HERE"
            assert stub in cell.source, grade_id(cell)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_each_exercise_asks_questions_graded_by_hidden_tests_or_by_hand(source):
    cells = nbformat.read(source, as_version=4).cells
    heading = [i for i, cell in enumerate(cells) if grade_id(cell) == f"{source.stem}_questions"]
    assert len(heading) == 1, "no Questions section"
    questions = cells[heading[0] + 1:]
    asked = [cell for cell in questions if (grade_id(cell) or "").endswith("_question")]
    assert 2 <= len(asked) <= 4, [grade_id(cell) for cell in asked]
    for question, response in zip(questions, questions[1:]):
        if not (grade_id(question) or "").endswith("_question"):
            continue
        marks = response.metadata["nbgrader"]
        graded_by = response if response.cell_type == "markdown" else questions[questions.index(response) + 1]
        stated = re.search(r"\*\*Question \d+ \([^)]*, (\d+) points?\)\.\*\*", question.source)
        assert stated and int(stated.group(1)) == graded_by.metadata["nbgrader"]["points"], grade_id(question)
        if response.cell_type == "markdown":
            # Answered in words, graded by hand: points, and a rubric that stays in the solution region.
            assert marks["grade"] and marks["solution"] and marks["points"] > 0, grade_id(response)
            assert "Rubric" in solution_regions_of(response.source), grade_id(response)
        else:
            # Answered in a variable, which a hidden test after it checks with autograder.questions.
            test = questions[questions.index(response) + 1]
            assert marks["solution"] and not marks["grade"], grade_id(response)
            assert test.metadata["nbgrader"]["grade"] and "### BEGIN HIDDEN TESTS" in test.source, grade_id(test)
            assert re.search(r"check_(number|choice)\(\s*globals\(\)", test.source), grade_id(test)


def solution_regions_of(text: str) -> str:
    return "".join(m.group(1) for m in SOLUTION_REGION.finditer(text))


@pytest.mark.slow
def test_check_command_reports_each_test_and_its_exit_code():
    release = ROOT / "exercises" / "batch_norm" / "batch_norm.ipynb"
    run = subprocess.run([sys.executable, "-m", "autograder", "check", str(release)],
                         capture_output=True, text=True)
    assert run.returncode == 1
    assert "FAIL  batch_norm_seed_example  (0/1)" in run.stdout
    assert "hidden test(s)" in run.stdout
    assert run.stderr == ""
    missing = subprocess.run([sys.executable, "-m", "autograder", "check", "no/such.ipynb"],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no such notebook" in missing.stderr
