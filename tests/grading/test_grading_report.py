"""The class report groups failures by the mistake they name, and lists the submissions that went wrong."""

import re

from autograder.core.failure import Failure
from autograder.grading.class_report import _message_key, write_class_report
from autograder.grading.outcome import Outcome, Status

EPS = "ε is added outside the square root"


def message(where, mistake=None, summary="the output differs from the reference"):
    return "AssertionError: " + Failure(where, summary, ("max difference 0.3 at [0, 1]",), mistake).render()


def test_students_who_made_the_same_named_mistake_share_one_key():
    first = message("batch_norm(input: (8, 3) float32) on cpu", EPS)
    second = message("batch_norm(input: (2, 5, 4) float64) on cpu, seed 7", EPS)
    assert _message_key(first) == _message_key(second)
    assert EPS in _message_key(first)
    assert _message_key(first) != _message_key(message("batch_norm(input: (8, 3) float32) on cpu",
                                                       "the variance is unbiased"))


def test_an_unnamed_failure_is_keyed_without_its_call_description():
    first = "AssertionError: batch_norm(input: (8, 3) float32) on cpu: it raised TypeError: bad operand"
    second = "AssertionError: batch_norm(input: (2, 5, 4) float64) on cpu: it raised TypeError: bad operand"
    assert _message_key(first) == _message_key(second) == "AssertionError: bad operand"
    assert _message_key("the cell wrote to stderr") == "the cell wrote to stderr"
    assert _message_key("") == ""


def test_the_report_counts_mistakes_and_lists_what_went_wrong(tmp_path):
    eps = {"t1": "", "t2": message("batch_norm(input: (8, 3) float32) on cpu", EPS)}
    outcomes = [
        Outcome("alice", 12, 12, Status.GRADED, "", {"t1": "", "t2": ""}, 1.0),
        Outcome("bob", 6, 12, Status.GRADED, "1 of 2 tests failed", eps, 1.0),
        Outcome("carol", 6, 12, Status.GRADED, "1 of 2 tests failed",
                {"t1": "", "t2": message("batch_norm(input: (2, 5, 4) float64) on cpu", EPS)}, 1.0),
        Outcome("dave", 0, 12, Status.TIMED_OUT, "the submission ran longer than 600 s",
                {"t1": "GradingError: the submission ran longer than 600 s",
                 "t2": "GradingError: the submission ran longer than 600 s"}, 600.0),
        Outcome("erin", 0, 12, Status.ERROR, "recording the grades of erin failed:", {}, 2.0),
        Outcome("frank", 0, 12, Status.OVER_LIMIT, "process limit: it tried to run more than 64 processes",
                {"t1": "NotImplementedError: ", "t2": "NotImplementedError: "}, 3.0),
    ]
    html = write_class_report(tmp_path / "report.html", "batch_norm", outcomes).read_text()
    assert "6 submissions, mean score 4.00 of 12." in html
    assert html.count("<img") == 2
    failures = html.split("<h2>Most common failures</h2>")[1].split("<h2>")[0]
    assert re.search(rf"<td>2</td><td>[^<]*{EPS}</td>", failures), failures
    heading = "<h2>Submissions that timed out, crashed, went over a limit or could not be read</h2>"
    went_wrong = html.split(heading)[1].split("<h2>")[0]
    assert "<td>dave</td><td>timed out</td>" in went_wrong and "<td>erin</td><td>error</td>" in went_wrong
    assert "<td>frank</td><td>over a limit</td><td>process limit: " in went_wrong  # the limit, named
    assert "alice" not in went_wrong and "bob" not in went_wrong
    # Pass rates: t1 passes for alice, bob and carol, of 6.
    assert "<td>t1</td><td>50%</td>" in html and "<td>t2</td><td>17%</td>" in html
