"""nbgrader configuration: stock nbgrader commands work from the repository root.

    nbgrader generate_assignment batch_norm   # solutions/ -> exercises/
    nbgrader autograde batch_norm             # grading/submitted/ -> grading/autograded/
    nbgrader generate_feedback batch_norm     # -> grading/feedback/, hidden tests removed

Everything a grading run writes (submissions, autograded copies, feedback and
the gradebook) lives under grading/, which git ignores.
"""

import os

from autograder.grading.config import Limits

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

ROOT = os.path.dirname(os.path.abspath(__file__))
GRADING = os.path.join(ROOT, "grading")
os.makedirs(GRADING, exist_ok=True)  # SQLite creates the file, not its folder

c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "grading/submitted"
c.CourseDirectory.autograded_directory = "grading/autograded"
c.CourseDirectory.feedback_directory = "grading/feedback"
c.CourseDirectory.solution_directory = "grading/solution"
c.ZipCollectApp.downloaded_directory = "grading/downloaded"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(GRADING, "gradebook.db")

# Stock nbgrader starts a kernel that imports torch itself: see Limits.fresh_kernel_cell_timeout.
c.ExecutePreprocessor.timeout = Limits().fresh_kernel_cell_timeout
# The kernel's own log (a warning about its local TCP port) is noise in a grading run.
c.ExecutePreprocessor.extra_arguments = ["--IPKernelApp.log_level=ERROR"]

# `nbgrader zip_collect` (and `python -m autograder collect`) read student ids from
# the file names of an LMS download, e.g.
# batch_norm_alice_attempt_2026-11-20-10-00-00_batch_norm.ipynb. Adapt to your LMS.
c.FileNameCollectorPlugin.named_regexp = (
    r".*_(?P<student_id>\w+)_attempt_(?P<timestamp>[0-9\-]+)_(?P<file_id>\w+)"
)

# A student who deletes a test cell gets it back, and loses its points only if it fails.
c.OverwriteCells.add_missing_cells = True

# nbgrader's feedback shows hidden tests by default; HideHiddenTests strips them, and
# the tracebacks that would quote them, before the HTML is written. What it shows of them: "messages" (their docstring and failure message,
# never their code), "none" (only pass or fail) or "full" (everything, after the deadline).
# `python -m autograder grade --feedback ...` overrides it for one run.
c.HideHiddenTests.policy = "messages"
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.grading.preprocessors.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
