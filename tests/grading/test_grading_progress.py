"""The progress store and the outcome it keeps: what makes a stopped run resume where it was."""

import json

import pytest

from autograder.grading.outcome import Outcome, Status, Submission
from autograder.grading.progress import ProgressStore


def outcome(student="alice", status=Status.GRADED, reason="1 of 2 tests failed"):
    return Outcome(student, 9.0, 12.0, status, reason, {"t1": "", "t2": "AssertionError: the output differs"}, 3.5)


@pytest.mark.parametrize("status", list(Status))
def test_an_outcome_comes_back_from_its_marker_as_it_was_saved(tmp_path, status):
    store = ProgressStore(tmp_path / "progress")
    saved = outcome(status=status)
    store.save(saved)
    loaded = store.load("alice")
    assert loaded == saved
    assert loaded.status is status


def test_a_marker_is_readable_json_with_the_statuss_words(tmp_path):
    store = ProgressStore(tmp_path)
    store.save(outcome(status=Status.TIMED_OUT, reason="a cell ran longer than 60 s and was interrupted"))
    marker = json.loads((tmp_path / "alice.json").read_text())
    assert marker["status"] == "timed out" and marker["score"] == 9.0
    assert marker["tests"]["t2"] == "AssertionError: the output differs"


def test_a_student_without_a_marker_is_still_to_grade(tmp_path):
    store = ProgressStore(tmp_path / "not yet created")
    assert store.load("alice") is None
    store.save(outcome("bob"))
    assert store.load("alice") is None and store.load("bob") is not None


def test_a_marker_left_half_written_by_a_killed_run_does_not_count(tmp_path):
    store = ProgressStore(tmp_path)
    (tmp_path / "alice.partial").write_text('{"student": "al')  # killed while writing
    assert store.load("alice") is None
    store.save(outcome())
    assert store.load("alice") == outcome()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alice.json"]


def test_regrading_forgets_only_that_student(tmp_path):
    store = ProgressStore(tmp_path)
    store.save(outcome("alice"))
    store.save(outcome("bob"))
    store.forget("alice")
    store.forget("carol")  # never graded: nothing to forget
    assert store.load("alice") is None and store.load("bob") == outcome("bob")


def test_a_later_outcome_replaces_the_earlier_one(tmp_path):
    store = ProgressStore(tmp_path)
    store.save(outcome(status=Status.ERROR, reason="recording the grades of alice failed:"))
    store.save(outcome())
    assert store.load("alice").status == Status.GRADED


def test_markers_written_before_statuses_were_an_enum_still_load(tmp_path):
    (tmp_path / "alice.json").write_text(json.dumps({
        "student": "alice", "score": 0.0, "max_score": 12.0, "status": "crashed",
        "reason": "the grading process ended with code 71", "tests": {}, "seconds": 1.2}))
    assert ProgressStore(tmp_path).load("alice").status is Status.CRASHED


def test_every_status_reads_as_its_words():
    assert {str(status) for status in Status} == {"graded", "timed out", "crashed", "over a limit", "unreadable", "error"}
    assert f"{Status.TIMED_OUT}" == "timed out" and Status("timed out") is Status.TIMED_OUT
    with pytest.raises(ValueError):
        Outcome("alice", status="lost")


def test_the_line_printed_for_a_student():
    assert outcome(reason="").line() == "alice: 9/12"
    assert outcome(status=Status.CRASHED, reason="the grading process ended with code 71").line() == (
        "alice: 9/12 (crashed: the grading process ended with code 71)")


def test_a_submission_joins_its_notes_into_one_reason():
    submission = Submission("alice")
    assert submission.status == Status.GRADED and submission.reason == ""
    submission.notes += ["solution.ipynb graded as batch_norm.ipynb", "the notebook produced no result"]
    assert submission.reason == "solution.ipynb graded as batch_norm.ipynb; the notebook produced no result"
    assert submission.seconds() >= 0
