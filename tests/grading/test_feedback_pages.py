"""The feedback pages the recorder writes read as those of nbgrader's own ``generate_feedback``.

The recorder renders feedback with its own exporter (``record.FeedbackExporter``);
here a correct and a failing submission are recorded under each feedback policy,
and each page is compared with the one stock ``generate_feedback`` writes from the
same autograded notebook and gradebook. Runs nbgrader (no kernel): slow.
"""

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbformat.v4 import new_output

from autograder.cells import is_test
from autograder.grading.course import course_api
from autograder.grading.outcome import Submission
from autograder.grading.preprocessors import FEEDBACK_POLICIES, REPORT_PREFIX
from autograder.grading.record import Recorder, accessible
from autograder.grading.stage import Stager
from conftest import ROOT

pytestmark = pytest.mark.slow

ASSIGNMENT = "batch_norm"
STUDENTS = ("correct", "failing")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("feedback_pages") / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder, course / folder)
    generated = subprocess.run([sys.executable, "-m", "autograder", "generate", ASSIGNMENT], cwd=course,
                               capture_output=True, text=True)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    for student in STUDENTS:
        folder = course / "grading" / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy(course / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", folder)
    api = course_api(course)
    stager = Stager(api, course / "grading", ASSIGNMENT, [ASSIGNMENT])
    submissions = list(stager.stage(list(STUDENTS)))  # hidden tests restored, as the workers get them
    assert all(not s.notes for s in submissions), [s.notes for s in submissions]
    return api, stager


def executed(sanitized, student: str):
    """The sanitized notebook as a worker hands it back: every test passed, or every test failed."""
    notebook = nbformat.read(sanitized, as_version=4)
    for count, cell in enumerate(notebook.cells, 1):
        if cell.cell_type != "code":
            continue
        cell.execution_count = count
        if not is_test(cell):
            continue
        if student == "correct":
            cell.outputs = [new_output("display_data", data={"text/plain": f"{REPORT_PREFIX}{cell.source[:20]!r}"})]
        else:  # a traceback quotes the last line of the cell: a hidden one, where there is one
            quoted = [line for line in cell.source.splitlines() if line.strip() and not line.startswith("###")]
            cell.outputs = [new_output("error", ename="CheckFailed", evalue="the output differs from the reference",
                                       traceback=["Traceback (most recent call last)", f"----> 1 {quoted[-1]}",
                                                  "CheckFailed: the output differs from the reference"])]
    return notebook


def page(path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(), "html.parser")


@pytest.mark.parametrize("policy", list(FEEDBACK_POLICIES))
def test_each_feedback_page_reads_as_nbgraders_own(course, policy):
    api, stager = course
    grading = stager.staged.parent
    executed_folder = grading / "executed"
    for student in STUDENTS:
        folder = executed_folder / student / ASSIGNMENT
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        nbformat.write(executed(stager.sanitized_folder(student) / f"{ASSIGNMENT}.ipynb", student),
                       folder / f"{ASSIGNMENT}.ipynb")
    recorder = Recorder(api, grading, ASSIGNMENT, executed_folder, feedback=policy)
    outcomes = {o.student: o for o in recorder.record([Submission(student) for student in STUDENTS])}
    assert outcomes["correct"].score > 0 and outcomes["failing"].score == 0
    stock = course_api(api.coursedir.root, CourseDirectory__feedback_directory="grading/stock_feedback",
                       HideHiddenTests__policy=policy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert stock.generate_feedback(ASSIGNMENT, "*", force=True)["success"]
    for student in STUDENTS:
        ours = grading / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        theirs = grading / "stock_feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        assert page(ours).body.get_text() == page(theirs).body.get_text(), (policy, student)
        # Not only the text: the page, once parsed, is the one nbconvert's HTMLExporter writes.
        assert str(page(ours)) == theirs.read_text(), (policy, student)
    failing = page(grading / "feedback" / "failing" / ASSIGNMENT / f"{ASSIGNMENT}.html").body.get_text()
    assert "differs from the reference" in failing or policy == "none"


def test_the_attributes_added_for_screen_readers_are_those_of_nbconverts_exporter():
    html = ('<body class="jp-Notebook"><div class="jp-Cell-inputWrapper"><img src="a.png">'
            '<img src="b.png" alt="b"/></div><div class="jp-RenderedText jp-OutputArea-output" data-x="1">'
            '<img src="c.png" /></div><div class="jp-Cell-inputWrapper" tabindex="-1"></div></body>')
    assert accessible(html) == (
        '<body class="jp-Notebook"><div class="jp-Cell-inputWrapper" tabindex="0">'
        '<img src="a.png" alt="No description has been provided for this image">'
        '<img src="b.png" alt="b"/></div><div class="jp-RenderedText jp-OutputArea-output" data-x="1" tabindex="0">'
        '<img src="c.png" alt="No description has been provided for this image"/></div>'
        '<div class="jp-Cell-inputWrapper" tabindex="0"></div></body>')
    # What HTMLExporter.from_notebook_node does to the page it rendered, on the same markup.
    soup = BeautifulSoup(html, features="html.parser")
    for element in soup.select("img:not([alt])"):
        element.attrs["alt"] = "No description has been provided for this image"
    for element in soup.select(".jp-Notebook div.jp-Cell-inputWrapper, .jp-Notebook div.jp-OutputArea-output"):
        element.attrs["tabindex"] = "0"
    assert str(BeautifulSoup(accessible(html), "html.parser")) == str(soup)


def test_staging_hands_on_each_chunk_as_soon_as_it_is_sanitized(course):
    api, _ = course
    stager = Stager(api, Path(api.coursedir.root, "chunks"), ASSIGNMENT, [ASSIGNMENT])
    staging = stager.stage(["failing", "correct"], chunk=1)
    first = next(staging)
    assert first.student == "failing" and not first.notes
    assert (stager.sanitized_folder("failing") / f"{ASSIGNMENT}.ipynb").is_file()
    assert not stager.staged_folder("correct").exists()  # the next chunk is not even copied yet
    second = next(staging)
    assert second.student == "correct"
    assert (stager.sanitized_folder("correct") / f"{ASSIGNMENT}.ipynb").is_file()
    assert stager.sanitized_folder("correct") != stager.sanitized_folder("failing").parent / "correct"
    assert next(staging, None) is None
