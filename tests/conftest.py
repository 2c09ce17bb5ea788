import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = os.path.dirname(sys.executable)

# nbgrader starts `alembic` and Jupyter kernels from PATH.
os.environ["PATH"] = BIN + os.pathsep + os.environ.get("PATH", "")


@pytest.fixture
def course_copy(tmp_path) -> Path:
    """A throw-away copy of the course: config, solutions and exercises, no grading state."""
    copy = tmp_path / "course"
    copy.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", copy)
    for folder in ("solutions", "exercises"):
        shutil.copytree(ROOT / folder, copy / folder)
    return copy
