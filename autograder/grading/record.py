"""Record: grade executed notebooks with nbgrader and write their feedback, in the main process.

nbgrader's ``autograde``, with sanitizing and execution switched off, reads
the executed notebooks, repairs them (``PREPROCESSORS``), and writes the
grades; ``generate_feedback`` then writes the feedback. nbgrader's SQLite
gradebook is not safe for concurrent writers, so only the main process ever
writes it (here and in ``stage``). The grades are those of stock nbgrader,
whose own preprocessors grade the same executed notebooks.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import jinja2
import nbformat
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades
from nbgrader.utils import determine_grade, is_grade

from .. import cells
from .course import GradingError, checked, course_api
from .outcome import Outcome, Status, Submission
from .preprocessors import FailTestsWithoutReport, MarkUnfinishedTests

PREPROCESSORS = [
    # The course's repairs of tests that would otherwise pass unearned: first, so that nbgrader grades them.
    MarkUnfinishedTests, FailTestsWithoutReport,
    # Stock autograde's steps after Execute, unchanged.
    IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
]


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled Jinja templates, kept for the whole run (jinja keys them by name and source checksum)."""

    def __init__(self):
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket):
        self.compiled[bucket.key] = bucket.bytecode_to_string()


# What nbconvert's HTMLExporter adds to the page it rendered, with BeautifulSoup, for screen readers.
_NO_ALT = "No description has been provided for this image"
_IMAGE_WITHOUT_ALT = re.compile(r"<img\b(?![^>]*\salt\s*=)([^>]*?)\s*(/?)>", re.I)
_FOCUSABLE = re.compile(r"<div\b([^>]*\sclass=\"[^\"]*\b(?:jp-Cell-inputWrapper|jp-OutputArea-output)\b[^\"]*\"[^>]*?)>")
_TABINDEX = re.compile(r"(\stabindex\s*=\s*)(\"[^\"]*\"|'[^']*'|[^\s>]+)")


def _focusable(match) -> str:
    attributes = match.group(1)
    if _TABINDEX.search(attributes):
        return "<div" + _TABINDEX.sub(r'\1"0"', attributes, count=1) + ">"
    return f'<div{attributes} tabindex="0">'


def accessible(html: str) -> str:
    """``html`` with the alternative text and focusable cells that ``HTMLExporter.from_notebook_node`` adds."""
    html = _IMAGE_WITHOUT_ALT.sub(lambda m: f'<img{m.group(1)} alt="{_NO_ALT}"{m.group(2)}>', html)
    return _FOCUSABLE.sub(_focusable, html)


class FeedbackExporter(HTMLExporter):
    """nbconvert's HTML exporter, made cheaper for a class's feedback; the page's text is the same.

    nbgrader makes a new exporter for each ``generate_feedback``, and compiling the
    feedback templates took a quarter of the time a student's feedback costs: they are
    compiled once per grading run. After rendering, ``HTMLExporter`` parses the whole
    page (about 170 KB, most of it CSS) with BeautifulSoup to add two attributes and
    serializes it again, which took half of what was left; ``accessible`` adds them
    to the rendered page as it is.
    """

    compiled_templates = _CompiledTemplates()

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = self.compiled_templates
        return environment

    def from_notebook_node(self, nb, resources=None, **kw):
        # HTMLExporter.from_notebook_node up to its BeautifulSoup pass.
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        highlight_code = self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self))
        resources = self._init_resources(resources)
        filter_data_type = WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self, resources=resources)
        self.register_filter("highlight_code", highlight_code)
        self.register_filter("filter_data_type", filter_data_type)
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return accessible(html), resources


class Recorder:
    def __init__(self, api: NbGraderAPI, grading: Path, assignment: str, executed: Path,
                 feedback: str | None = None):
        """``executed`` holds the executed notebooks, as <student>/<assignment>/<notebook>.ipynb.

        ``feedback`` is what the feedback shows of hidden tests (``preprocessors.FEEDBACK_POLICIES``);
        None keeps the course's ``nbgrader_config.py`` setting.
        """
        self.api = api
        self.assignment = assignment
        self.executed = executed
        self.recording = grading / "recording"  # executed notebooks of the batch being recorded
        self.recorded = grading / "recorded"  # its autograded notebooks, before they join autograded/
        self.autograded = Path(api.coursedir.root, api.coursedir.autograded_directory)
        relative = lambda p: str(p.relative_to(api.coursedir.root))  # noqa: E731
        self.recorder = course_api(
            api.coursedir.root,
            CourseDirectory__submitted_directory=relative(self.recording),
            CourseDirectory__autograded_directory=relative(self.recorded),
            Autograde__sanitize_preprocessors=[],
            Autograde__autograde_preprocessors=PREPROCESSORS,
        )
        policy = {"HideHiddenTests__policy": feedback} if feedback else {}
        self.feedback = course_api(api.coursedir.root, CourseDirectory__autograded_directory=relative(self.recorded),
                                   GenerateFeedback__exporter_class=FeedbackExporter, **policy)

    def record(self, batch: list[Submission]) -> list[Outcome]:
        """Record the grades and write the feedback of ``batch``.

        One ``autograde`` and one ``generate_feedback`` for the whole batch; when
        nbgrader fails, each student is recorded alone, so that one broken
        submission never costs the others their grade.
        """
        for folder in (self.recording, self.recorded):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        students = [submission.student for submission in batch]
        for student in students:
            (self.executed / student).rename(self.recording / student)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # nbgrader's and nbformat's own warnings are not the student's
                checked(self.recorder.autograde(self.assignment, "*", force=True, create=True),
                        f"recording the grades of {', '.join(students)}")
                checked(self.feedback.generate_feedback(self.assignment, "*", force=True),
                        f"generate_feedback {', '.join(students)}")
        except GradingError as error:
            for student in students:
                (self.recording / student).rename(self.executed / student)
            if len(batch) > 1:
                return [outcome for submission in batch for outcome in self.record([submission])]
            return [Outcome(students[0], 0.0, self._max_score(), Status.ERROR, str(error).splitlines()[0],
                            seconds=batch[0].seconds())]
        for student in students:
            destination = self.autograded / student / self.assignment
            shutil.rmtree(destination, ignore_errors=True)
            destination.parent.mkdir(parents=True, exist_ok=True)
            (self.recorded / student / self.assignment).rename(destination)
        for folder in (self.recording, self.recorded):
            shutil.rmtree(folder)
        with Gradebook(self.api.coursedir.db_url) as gradebook:
            return [self._outcome(gradebook, submission) for submission in batch]

    def _outcome(self, gradebook: Gradebook, submission: Submission) -> Outcome:
        recorded = gradebook.find_submission(self.assignment, submission.student)
        tests = graded_tests(self.autograded / submission.student / self.assignment)
        reason = submission.reason
        if submission.status == Status.GRADED and not reason:
            failed = sum(1 for message in tests.values() if message)
            reason = f"{failed} of {len(tests)} tests failed" if failed else ""
        return Outcome(submission.student, recorded.score, recorded.max_score, submission.status, reason, tests,
                       submission.seconds(), submission.protocol, flagged_lines(submission.flagged))

    def _max_score(self) -> float:
        with Gradebook(self.api.coursedir.db_url) as gradebook:
            return gradebook.find_assignment(self.assignment).max_score


def flagged_lines(findings: list[dict]) -> list[str]:
    """The checker's findings as the outcome shows them: where, what, why, and what it cost."""
    lines = []
    for finding in findings:
        where = f"{finding.get('cell')}, line {finding.get('line')}: {finding.get('code')} ({finding.get('why')})"
        functions = ", ".join(finding.get("functions") or ())
        if finding.get("allowed"):
            lines.append(f"{where}: accepted by the instructor")
        else:
            lines.append(f"{where}: the tests of {functions} did not run" if functions else where)
    return lines


def graded_tests(folder: Path) -> dict[str, str]:
    """grade_id -> failure message ("" when it passed) of each test cell of the autograded notebooks in ``folder``."""
    tests = {}
    for path in sorted(folder.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and is_grade(cell):
                points, maximum = determine_grade(cell)
                tests[cells.grade_id(cell)] = "" if points == maximum else failure_message(cell)
    return tests


def failure_message(cell) -> str:
    """What a failed test cell says: its error, or that it wrote to stderr."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename')}: {output.get('evalue')}"
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return "the cell wrote to stderr"
    return "failed"
