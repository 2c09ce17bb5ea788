import os
import shutil
import subprocess
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


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build the book as `make book` does (chapters executed in parallel first, cached) and return _build."""
    execute = subprocess.run([sys.executable, "book/execute.py"], cwd=ROOT, capture_output=True, text=True)
    assert execute.returncode == 0, execute.stdout[-5000:] + execute.stderr[-5000:]
    build = subprocess.run(
        [os.path.join(BIN, "jupyter-book"), "build", ".", "--builder", "html", "-W", "-n", "--keep-going"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert build.returncode == 0, build.stdout[-5000:] + build.stderr[-5000:]
    return ROOT / "_build"
