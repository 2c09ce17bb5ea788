"""Staging a submission and reading back what nbgrader recorded, on notebooks built cell by cell."""

import nbformat
from nbformat.v4 import new_output

from autograder.grading.outcome import Status, Submission
from autograder.grading.record import failure_message, graded_tests
from autograder.grading.stage import copy_submission
from grading_cells import answer_cell, failed, graded_cell, notebook, passed

NOTEBOOKS = ["part1", "part2"]


def hand_in(folder, files):
    folder.mkdir(parents=True)
    for name, content in files.items():
        if isinstance(content, str):
            (folder / name).write_text(content)
        else:
            nbformat.write(content, folder / name)


def stage(tmp_path, files):
    hand_in(tmp_path / "submitted", files)
    submission = Submission("alice")
    copy_submission(tmp_path / "submitted", tmp_path / "staged", NOTEBOOKS, submission)
    return submission, sorted(p.name for p in (tmp_path / "staged").iterdir())


def test_a_complete_submission_is_staged_as_it_is(tmp_path):
    submission, staged = stage(tmp_path, {"part1.ipynb": notebook(answer_cell()), "part2.ipynb": notebook(),
                                          "data.csv": "1,2\n"})
    assert staged == ["data.csv", "part1.ipynb", "part2.ipynb"]
    assert submission.status == Status.GRADED and submission.notes == []


def test_a_single_renamed_notebook_is_graded_under_its_name(tmp_path):
    submission, staged = stage(tmp_path, {"part1.ipynb": notebook(), "part2 (1).ipynb": notebook(answer_cell())})
    assert staged == ["part1.ipynb", "part2.ipynb"]
    assert submission.notes == ["part2 (1).ipynb graded as part2.ipynb"]
    assert nbformat.read(tmp_path / "staged" / "part2.ipynb", as_version=4).cells[0].source.startswith("def ")
    assert submission.status == Status.GRADED


def test_an_invalid_notebook_is_dropped_and_makes_the_submission_unreadable(tmp_path):
    submission, staged = stage(tmp_path, {"part1.ipynb": "{ not json", "part2.ipynb": notebook()})
    assert staged == ["part2.ipynb"]
    assert submission.status == Status.UNREADABLE
    assert submission.notes == ["part1.ipynb is not a valid notebook (NotJSONError)"]


def test_each_missing_notebook_is_noted(tmp_path):
    submission, staged = stage(tmp_path, {"notes.txt": "no notebooks"})
    assert staged == ["notes.txt"]
    assert submission.notes == ["part1.ipynb is missing", "part2.ipynb is missing"]
    assert submission.status == Status.GRADED  # nothing to run: every test fails, nothing was unreadable


def test_the_recorded_tests_read_back_as_passed_or_their_message(tmp_path):
    stderr = graded_cell("wrote", [new_output("stream", name="stderr", text="warning\n")], execution_count=5)
    nbformat.write(notebook(answer_cell(), passed("ok"), failed("wrong", "batch_norm(...): the output differs\n"
                                                                "Likely mistake: ε is added outside the square root")),
                   tmp_path / "part1.ipynb")
    nbformat.write(notebook(stderr), tmp_path / "part2.ipynb")
    assert graded_tests(tmp_path) == {
        "ok": "",
        "wrong": "AssertionError: batch_norm(...): the output differs\nLikely mistake: ε is added outside the square root",
        "wrote": "the cell wrote to stderr",  # nbgrader fails a test that writes to stderr
    }


def test_a_failure_message_names_the_error_first():
    cell = failed("t", "the output differs")
    cell.outputs.insert(0, new_output("stream", name="stderr", text="warning\n"))
    assert failure_message(cell) == "the cell wrote to stderr"
    assert failure_message(failed("t", "the output differs")) == "AssertionError: the output differs"
    assert failure_message(graded_cell("t")) == "failed"
