"""Grades to the LMS: the gradebook as the CSV files Canvas and Moodle import, and clear errors on bad input."""

import csv
import subprocess
import sys
import warnings

import pytest
from nbgrader.api import Gradebook

from autograder.grading.lms import ExportError, export


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory):
    """An nbgrader gradebook: two assignments, three students, one of whom did not submit the second."""
    url = f"sqlite:///{tmp_path_factory.mktemp('course') / 'gradebook.db'}"
    with warnings.catch_warnings(), Gradebook(url) as gb:
        # nbgrader's own add_submission trips a SQLAlchemy autoflush warning; its writes still land.
        warnings.simplefilter("ignore")
        for assignment, points in (("batch_norm", (4, 8)), ("attention", (5,))):
            gb.add_assignment(assignment)
            gb.add_notebook(assignment, assignment)
            for i, p in enumerate(points):
                gb.add_grade_cell(f"test_{i}", assignment, assignment, max_score=p, cell_type="code")
        gb.add_student("alice", first_name="Alice", last_name="Liddell", email="alice@example.org")
        gb.add_student("bob")
        gb.add_student("carol", first_name="Carol")
        scores = {("batch_norm", "alice"): (4, 8), ("batch_norm", "bob"): (4, 0), ("batch_norm", "carol"): (0, 0),
                  ("attention", "alice"): (2.5,), ("attention", "bob"): (5,)}
        for (assignment, student), earned in scores.items():
            gb.add_submission(assignment, student)
            for i, score in enumerate(earned):
                grade = gb.find_grade(f"test_{i}", assignment, assignment, student)
                grade.auto_score = score
        gb.db.commit()
    return url


def rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_canvas_gets_its_identity_columns_points_possible_and_one_column_per_assignment(gradebook, tmp_path):
    maxima = export(gradebook, tmp_path / "canvas.csv", "canvas")
    assert maxima == {"attention": 5, "batch_norm": 12} or maxima == {"batch_norm": 12, "attention": 5}
    table = rows(tmp_path / "canvas.csv")
    header = table[0]
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert sorted(header[5:]) == ["attention", "batch_norm"]
    column = {name: header.index(name) for name in header[5:]}
    assert table[1][0] == "Points Possible"
    assert (table[1][column["batch_norm"]], table[1][column["attention"]]) == ("12", "5")
    students = {row[3]: row for row in table[2:]}
    assert students["alice"][0] == "Liddell, Alice"
    assert students["bob"][0] == "bob"  # no name in the gradebook: the login stands in
    assert (students["alice"][column["batch_norm"]], students["alice"][column["attention"]]) == ("12", "2.5")
    assert students["carol"][column["attention"]] == "0"  # not submitted: zero, as the LMS records it


def test_moodle_gets_a_user_column_to_map_and_one_grade_item_per_assignment(gradebook, tmp_path):
    export(gradebook, tmp_path / "moodle.csv", "moodle", ["batch_norm"])
    table = rows(tmp_path / "moodle.csv")
    assert table[0] == ["Username", "Email address", "batch_norm"]
    assert table[1:] == [["alice", "alice@example.org", "12"], ["bob", "", "4"], ["carol", "", "0"]]


def test_bad_requests_say_what_is_wrong(gradebook, tmp_path):
    with pytest.raises(ExportError, match="unknown assignment"):
        export(gradebook, tmp_path / "x.csv", "moodle", ["dropout"])
    with pytest.raises(ExportError, match="unknown format"):
        export(gradebook, tmp_path / "x.csv", "blackboard")


def test_the_command_answers_bad_input_with_one_line_and_a_non_zero_exit(tmp_path):
    def run(*args, cwd=tmp_path):
        return subprocess.run([sys.executable, "-m", "autograder", "export", *args], cwd=cwd,
                              capture_output=True, text=True)

    outside = run("canvas")
    assert outside.returncode == 2 and outside.stderr.count("\n") == 1
    assert "not a course folder" in outside.stderr
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.db_url = "
                                                 f"'sqlite:///{tmp_path / 'grading' / 'gradebook.db'}'\n")
    empty = run("canvas")
    assert empty.returncode == 2 and "no gradebook at" in empty.stderr and "Traceback" not in empty.stderr
    unknown_format = run("blackboard")
    assert unknown_format.returncode == 2 and "invalid choice" in unknown_format.stderr
