"""An exercise opened outside the course (Colab, a JupyterHub, a laptop) installs the autograder and runs.

A released notebook is copied out of the clone into a fresh virtual
environment that has torch, numpy and Jupyter's kernel and client, but not the
autograder. Its locked setup cell installs the autograder from
``AUTOGRADER_SOURCE`` (the student edition's wheel, which students get from the
release asset), and the visible tests run and report. Where nothing can be installed, the cell says what to install.
"""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import ROOT

ASSIGNMENT = "batch_norm"
SETUP_ID = f"{ASSIGNMENT}_setup"
# What a student's machine has before the setup cell runs: no autograder, no nbgrader.
STUDENT_PACKAGES = ["torch==2.13.0", "numpy==2.4.6", "scikit-learn==1.9.1", "ipykernel==7.4.0",
                    "nbclient==0.11.0", "nbformat==5.11.1"]


def setup_cells():
    for path in sorted((ROOT / "exercises").glob("*/*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        yield path, [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").endswith("_setup")]


def test_every_exercise_installs_the_wheel_of_the_version_that_released_it_from_its_release_asset():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    wheel = f"{repository}/releases/download/v{version}/autograder-{version}-py3-none-any.whl"
    for path, cells in setup_cells():
        assert len(cells) == 1, f"{path.name}: one setup cell"
        (cell,) = cells
        assert cell.metadata.nbgrader["locked"]
        assert f'AUTOGRADER = "autograder @ {wheel}"' in cell.source, path.name
        assert "git+" not in cell.source, f"{path.name}: installs from the source repository"
        notebook = nbformat.read(path, as_version=4)
        first_import = next(i for i, c in enumerate(notebook.cells) if "from autograder" in c.source)
        assert notebook.cells.index(cell) < first_import, f"{path.name}: the setup runs before the imports"


@pytest.fixture(scope="module")
def student_environment(tmp_path_factory):
    """A virtual environment with what a student has: torch, numpy, scikit-learn, a kernel; no autograder."""
    folder = tmp_path_factory.mktemp("student") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              *STUDENT_PACKAGES], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    outside = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    assert subprocess.run([str(python), "-c", "import autograder"], capture_output=True, cwd=folder.parent,
                          env=outside).returncode != 0
    return python


def student_wheel(destination: Path) -> Path:
    """The wheel of the student edition, which the setup cell installs from the release asset."""
    from autograder.edition.build import build_wheel

    return build_wheel(ROOT, destination)


def execute(python: Path, notebook: Path, environment: dict) -> subprocess.CompletedProcess:
    """Run every cell as Jupyter would, in the student's environment, stopping at the first error."""
    script = (
        "import sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        "from nbclient.exceptions import CellExecutionError\n"
        "notebook = nbformat.read(sys.argv[1], as_version=4)\n"
        "client = NotebookClient(notebook, timeout=600, kernel_name='python3',\n"
        "                        resources={'metadata': {'path': sys.argv[2]}})\n"
        "try:\n"
        "    client.execute()\n"
        "finally:\n"
        "    nbformat.write(notebook, sys.argv[1])\n"
    )
    return subprocess.run([str(python), "-c", script, str(notebook), str(notebook.parent)], cwd=notebook.parent,
                          env=environment, capture_output=True, text=True, timeout=1200)


def outputs(cell) -> str:
    texts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            texts.append(output["text"])
        elif output["output_type"] == "error":
            texts.append(f"{output['ename']}: {output['evalue']}")
        else:
            texts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(texts)


@pytest.mark.slow
def test_a_released_notebook_installs_the_autograder_and_runs_its_tests_outside_the_clone(
        student_environment, tmp_path):
    from helpers import solution_code

    release = nbformat.read(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    answers = solution_code(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    for cell in release.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade_id") in answers:
            cell.source = answers[cell.metadata["nbgrader"]["grade_id"]]  # the student's work, done
    student = tmp_path / "Downloads"  # nowhere near the course
    student.mkdir()
    notebook = student / f"{ASSIGNMENT}.ipynb"
    nbformat.write(release, notebook)
    source = student_wheel(tmp_path / "dist")
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environment.update(AUTOGRADER_SOURCE=str(source), PATH=f"{student_environment.parent}{os.pathsep}/usr/bin:/bin")

    run = execute(student_environment, notebook, environment)
    assert run.returncode == 0, run.stderr[-3000:]
    executed = nbformat.read(notebook, as_version=4)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in executed.cells}
    assert outputs(by_id[SETUP_ID]) == f"Installing the course's autograder from {source} ...\n"
    visible = [c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade")
               and "check_" in c.source]
    assert visible
    for cell in visible:
        assert outputs(cell).startswith("passed: "), outputs(cell)

    # Run again, now that it is installed: the setup cell installs nothing and prints nothing.
    rerun = execute(student_environment, notebook, environment)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    rerun_setup = next(c for c in nbformat.read(notebook, as_version=4).cells
                       if c.metadata.get("nbgrader", {}).get("grade_id") == SETUP_ID)
    assert outputs(rerun_setup) == ""

    # `python -m autograder check` works the same way outside the clone.
    check = subprocess.run([str(student_environment), "-m", "autograder", "check", str(notebook)],
                           env=environment, capture_output=True, text=True, cwd=student)
    assert check.returncode == 0, check.stdout + check.stderr
    assert re.search(r"\d+ passed, 0 failed", check.stdout)
    assert "hidden test(s)" in check.stdout


@pytest.mark.slow
def test_without_a_reachable_source_the_setup_says_what_to_install(tmp_path):
    environment_folder = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", str(environment_folder)], check=True)
    python = environment_folder / "bin" / "python"
    release = nbformat.read(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    setup = next(c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade_id") == SETUP_ID)
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environment["AUTOGRADER_SOURCE"] = str(tmp_path / "no-such-course")
    run = subprocess.run([str(python), "-c", setup.source], env=environment, capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert run.returncode != 0
    assert run.stdout == f"Installing the course's autograder from {tmp_path / 'no-such-course'} ...\n"
    last = run.stderr.strip().splitlines()
    assert last[-2].startswith(f"ImportError: Could not install the autograder from {tmp_path / 'no-such-course'}")
    assert last[-1].startswith("Connect to the internet, or install it yourself: pip install \"autograder @ https://")
    assert "/releases/download/" in last[-1]
