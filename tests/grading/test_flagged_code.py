"""Flagged code, as the grader shows it: the outcome's line, the class report, and what an instructor accepted."""

from autograder.checker.verdicts import finding_key
from autograder.grading.allowances import Allowances
from autograder.grading.class_report import write_class_report
from autograder.grading.outcome import Outcome, Status
from autograder.grading.record import flagged_lines

FINDING = {"cell": "answer cell group_norm", "line": 1,
           "code": "from autograder.normalization_layers import _group_norm as group_norm",
           "why": "imports autograder.normalization_layers, not among the modules this exercise allows: torch",
           "functions": ["group_norm"], "allowed": False}


def test_a_flagged_line_says_where_what_why_and_which_tests_did_not_run():
    [line] = flagged_lines([FINDING])
    assert line.startswith("answer cell group_norm, line 1: from autograder.normalization_layers import")
    assert line.endswith("the tests of group_norm did not run")
    [accepted] = flagged_lines([dict(FINDING, allowed=True)])
    assert accepted.endswith("accepted by the instructor")


def test_the_outcome_line_and_the_class_report_name_the_flagged_lines(tmp_path):
    flagged = Outcome("mallory", 6, 16, Status.GRADED, "4 of 12 tests failed", {"t": "FlaggedCode: ..."}, 1.0,
                      flagged=flagged_lines([FINDING]))
    honest = Outcome("alice", 16, 16, Status.GRADED, "", {"t": ""}, 1.0)
    assert "flagged: answer cell group_norm, line 1" in flagged.line()
    assert "flagged" not in honest.line()
    page = write_class_report(tmp_path / "report.html", "normalization_layers", [flagged, honest]).read_text()
    section = page.split("<h2>Flagged code</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<td>mallory</td>" in section and "_group_norm as group_norm" in section
    assert "<td>alice</td>" not in section
    assert "--allow STUDENT" in section


def test_an_outcome_saved_before_flags_existed_reads_back():
    saved = Outcome("bob", 1, 2).to_dict()
    del saved["flagged"]
    assert Outcome.from_dict(saved).flagged == []


def test_what_an_instructor_accepted_is_kept_per_student(tmp_path):
    allowances = Allowances(tmp_path, "normalization_layers")
    assert allowances.of("mallory") == []
    allowances.accept("mallory", [finding_key(FINDING)])
    allowances.accept("trent", [])
    assert Allowances(tmp_path, "normalization_layers").of("mallory") == [finding_key(FINDING)]
    assert Allowances(tmp_path, "batch_norm").of("mallory") == []  # per assignment
