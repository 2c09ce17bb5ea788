"""The similarity report flags disguised copies of one answer, and no answer written apart.

The class is one student's answer to ``batch_norm``, four disguised copies of
it (variables renamed, functions reordered, comments and spacing changed, a
helper inlined), one answer pasted from the package, and twelve answers written
apart, each in a style of its own (``tests/data/similarity``). Each is a correct
batch normalization: the first test compares it with PyTorch.
"""

import re
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.grading.class_report import write_class_report
from autograder.grading.similarity import Z_FLAG, boilerplate_of, compare_class, flagged
from autograder.grading.similarity_report import gather, report_path
from conftest import ROOT
from helpers import submission

ASSIGNMENT = "batch_norm"
ANSWERS = ROOT / "tests" / "data" / "similarity"
COPIES = ["copy_renamed", "copy_reordered", "copy_comments_and_spacing", "copy_helper_inlined"]
INDEPENDENT = sorted(p.stem for p in ANSWERS.glob("independent_*.py"))


def answer(name: str) -> str:
    return (ANSWERS / f"{name}.py").read_text()


def hand_in(course: Path, student: str, code: str, folder: str = "grading/submitted") -> None:
    notebook = submission(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", {ASSIGNMENT: code})
    target = course / folder / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    target.parent.mkdir(parents=True)
    nbformat.write(notebook, target)


@pytest.fixture
def the_class(course_copy):
    for name in ["original", *COPIES, "copy_of_the_package", *INDEPENDENT]:
        hand_in(course_copy, name, answer(name))
    return course_copy


def scores(course, earlier=()):
    answers, sources, release = gather(course, ASSIGNMENT, list(earlier))
    pairs, baselines = compare_class(answers, sources, {c: boilerplate_of(code) for c, code in release.items()})
    return pairs, baselines


def between(pairs, first, second):
    (pair,) = [p for p in pairs if {p.student.owner, p.other.owner} == {first, second}]
    return pair


def test_every_answer_of_the_corpus_is_a_correct_batch_norm():
    import torch
    import torch.nn.functional as F

    assert len(INDEPENDENT) >= 10
    for name in ["original", *COPIES, "copy_of_the_package", *INDEPENDENT]:
        namespace = {"torch": torch}
        exec(answer(name), namespace)  # noqa: S102 - the course's own test data
        for shape in [(8, 3), (4, 3, 5), (2, 3, 4, 4)]:
            for training in (True, False):
                torch.manual_seed(0)
                x, weight, bias = torch.randn(shape, dtype=torch.float64), torch.rand(3).double(), torch.randn(3).double()
                mine = (torch.randn(3).double(), torch.rand(3).double() + 0.5)  # running mean and variance
                theirs = tuple(t.clone() for t in mine)
                got = namespace["batch_norm"](x, *mine, weight, bias, training, 0.3, 1e-5)
                expected = F.batch_norm(x, *theirs, weight, bias, training, 0.3, 1e-5)
                assert torch.allclose(got, expected) and all(map(torch.allclose, mine, theirs)), (name, shape)


def test_each_disguised_copy_is_flagged_and_no_independent_answer_is(the_class):
    pairs, baselines = scores(the_class)
    listed = flagged(pairs)
    print(f"baseline: {baselines[ASSIGNMENT]}")
    for copy in COPIES:
        pair = between(pairs, "original", copy)
        print(f"{copy}: similarity {pair.score:.3f}, z {pair.z:.2f}")
        assert pair in listed, f"{copy} is not flagged: z = {pair.z:.2f}"
    independent_pairs = [p for p in pairs if p.student.owner in INDEPENDENT or p.other.owner in INDEPENDENT]
    highest = max(independent_pairs, key=lambda p: p.z)
    print(f"highest pair with an independent answer: {highest.student.owner} and {highest.other.owner}: "
          f"similarity {highest.score:.3f}, z {highest.z:.2f}")
    assert not [p for p in listed if p in independent_pairs], [(p.student.owner, p.other.owner, p.z) for p in listed]
    assert highest.z < Z_FLAG


def test_an_answer_pasted_from_the_package_is_flagged_against_the_package(the_class):
    pairs, _ = scores(the_class)
    package = [p for p in flagged(pairs) if p.student.owner == "copy_of_the_package" and p.other.kind == "package"]
    assert [p.other.owner for p in package] == ["autograder/batch_norm.py"]
    assert not [p for p in flagged(pairs) if p.other.kind == "package" and p.student.owner != "copy_of_the_package"]


def test_a_copy_of_an_earlier_terms_answer_is_flagged(course_copy, tmp_path):
    hand_in(tmp_path, "last_year_student", answer("original"), folder="2025")
    hand_in(course_copy, "copier", answer("copy_renamed"))
    for name in INDEPENDENT:
        hand_in(course_copy, name, answer(name))
    pairs, _ = scores(course_copy, [tmp_path / "2025"])
    (pair,) = [p for p in flagged(pairs) if p.other.kind == "earlier term"]
    assert (pair.student.owner, pair.other.owner) == ("copier", "2025/last_year_student/batch_norm/batch_norm.ipynb")


def test_the_command_writes_the_pairs_side_by_side_and_the_class_report_links_to_them(the_class, capsys):
    assert main(["similarity", ASSIGNMENT, "--root", str(the_class)]) == 0
    page = report_path(the_class, ASSIGNMENT).read_text()
    headings = re.findall(r"<h3>batch_norm: (\S+) and ([^<(]+?)(?: \(([^)]+)\))?</h3>", page)
    named = {name for heading in headings for name in heading[:2]}
    assert {"original", *COPIES} <= named and not named & set(INDEPENDENT)
    assert ("copy_of_the_package", "autograder/batch_norm.py", "package") in headings
    section = page.split("<h3>batch_norm: ", 2)[1]
    assert section.count("<pre>") == 2 and "<mark>" in section  # the shared passages, marked, side by side
    assert "stand out; similarity report written to" in capsys.readouterr().out

    report = write_class_report(the_class / "grading" / "report.html", ASSIGNMENT, [],
                                report_path(the_class, ASSIGNMENT))
    assert f'<a href="similarity-{ASSIGNMENT}.html">' in report.read_text()


def test_an_unanswered_cell_is_compared_with_nothing(course_copy):
    release = nbformat.read(course_copy / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    stub = next(c.source for c in release.cells if c.metadata.get("nbgrader", {}).get("grade_id") == ASSIGNMENT)
    for student in ("idle1", "idle2", "idle3"):
        hand_in(course_copy, student, stub)
    pairs, _ = scores(course_copy)
    assert pairs == []


def test_a_broken_or_huge_submission_is_read_as_far_as_it_can_be(course_copy):
    for name in INDEPENDENT[:4]:
        hand_in(course_copy, name, answer(name))
    hand_in(course_copy, "huge", answer("original") + "\n" + "x = [0] * 10\n" * 200_000)
    broken = course_copy / "grading" / "submitted" / "broken" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"cells": [{"cell_type": "code", "source": ')
    answers, _, _ = gather(course_copy, ASSIGNMENT)
    owners = {a.owner: a for a in answers[ASSIGNMENT]}
    assert "broken" not in owners and len(owners["huge"].code) == 10_000
    assert owners["huge"].code.startswith(answer("original"))
    assert main(["similarity", ASSIGNMENT, "--root", str(course_copy)]) == 0


def test_an_unknown_assignment_is_named_with_the_known_ones(course_copy, capsys):
    assert main(["similarity", "batchnorm", "--root", str(course_copy)]) == 2
    assert capsys.readouterr().err.startswith("error: no assignment is called 'batchnorm'; the course has ")
