"""The checker reads the student's cells: what they import beyond their exercise's list, and code that hides its calls.

A flagged function's tests do not run, whatever the kernel would answer: the
checker fails them with the flagged lines before it asks the kernel anything.
"""

import importlib
import inspect
import pkgutil

import nbformat
import pytest

from autograder import registry
from autograder.cells import grade_id
from autograder.checker import flags
from autograder.checker.process import TrustedNotebook, allowed_imports, run_test, student_names
from borrowed import BORROWED
from conftest import ROOT

SOLUTIONS = {a.name: ROOT / "solutions" / a.name / f"{a.name}.ipynb" for a in registry.ASSIGNMENTS}


def submission(tmp_path, assignment: str, answers: dict[str, str]):
    """The assignment's solution notebook with the answer cells ``answers`` (grade_id -> source) replaced."""
    notebook = nbformat.read(SOLUTIONS[assignment], as_version=4)
    for cell in notebook.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    path = tmp_path / f"{assignment}.ipynb"
    nbformat.write(notebook, path)
    return path


class NoKernel:
    """A session that must not be used: a flagged function's tests never reach the kernel."""

    def __getattr__(self, name):
        raise AssertionError(f"the kernel was asked ({name}) for a flagged function")


def cells_testing(notebook: TrustedNotebook, function: str) -> list[str]:
    return [cell for cell, source in notebook.tests.items() if function in student_names(source, notebook.namespace)]


@pytest.mark.parametrize("case", BORROWED)
def test_each_borrowed_function_is_flagged_and_its_tests_fail_without_the_kernel(tmp_path, case):
    assignment, answers, functions = BORROWED[case]
    notebook = TrustedNotebook(submission(tmp_path, assignment, answers))
    flagged = {name for finding in notebook.findings for name in finding.functions}
    assert set(functions) <= flagged
    for function in functions:
        cells = cells_testing(notebook, function)
        assert cells
        for cell in cells:
            [error] = run_test(notebook.tests[cell], cell, notebook, NoKernel(), 5)
            assert error["ename"] == "FlaggedCode" and f"the tests of " in error["evalue"]
            assert "line " in error["evalue"]  # the lines are named
    # The other functions of the same notebook are the solution's: none of them is flagged.
    others = set(registry.assignment(assignment).functions.values()) - set(functions)
    assert not others & flagged


def test_the_message_names_the_import_and_the_modules_the_exercise_allows(tmp_path):
    assignment, answers, _ = BORROWED["scikit-learn's MinMaxScaler"]
    notebook = TrustedNotebook(submission(tmp_path, assignment, answers))
    message = flags.refusal("fit_min_max", notebook.findings)
    assert "answer cell fit_min_max, line 1: from sklearn.preprocessing import MinMaxScaler" in message
    assert "imports sklearn.preprocessing, not among the modules this exercise allows: numpy" in message
    # min_max_transform uses the scaler that fit_min_max's cell imported: flagged by the same line.
    assert "answer cell fit_min_max, line 1" in flags.refusal("min_max_transform", notebook.findings)
    assert flags.refusal("min_max_inverse", notebook.findings) is None


def implementations():
    """Every function and class that the exercise packages of each assignment define, as (assignment, module, name)."""
    for assignment in registry.ASSIGNMENTS:
        for package in assignment.packages:
            module = importlib.import_module(f"autograder.{package}")
            modules = [module] + [importlib.import_module(info.name) for info in pkgutil.iter_modules(
                getattr(module, "__path__", []), module.__name__ + ".")]
            for found in modules:
                for name, value in vars(found).items():
                    if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == found.__name__:
                        yield assignment.name, found.__name__, name


def test_every_implementation_of_the_package_is_refused_to_the_function_that_imports_it():
    found = sorted(set(implementations()))
    assert len(found) > 50
    refused = 0
    for name_of_assignment, module, name in found:
        assignment = registry.assignment(name_of_assignment)
        student = sorted(assignment.functions.values())[refused % len(assignment.functions)]
        for source in (f"from {module} import {name} as {student}\n",
                       f"import {module}\n{student} = {module}.{name}\n"):
            findings = flags.find([(f"answer cell {student}", source)], assignment.imports, {})
            message = flags.refusal(student, findings)
            assert message and f"imports {module}" in message, (module, name, source)
        refused += 1


HIDING = {
    "eval": "def f(x):\n    return eval('x * 2')\n",
    "exec": "def f(x):\n    exec('y = x')\n    return x\n",
    "compile": "def f(x):\n    code = compile('x', 'f', 'eval')\n    return x\n",
    "__import__": "def f(x):\n    return __import__('tor' + 'ch').relu(x)\n",
    "importlib": "def f(x):\n    import importlib\n    return importlib.import_module(name_of_it).relu(x)\n",
    "getattr on a module": "def f(x):\n    return getattr(torch, 're' + 'lu')(x)\n",
    "getattr on an alias of a module": "F = torch.nn.functional\n\ndef f(x):\n    return getattr(F, name)(x)\n",
    "a module's __dict__": "def f(x):\n    return torch.nn.functional.__dict__['relu'](x)\n",
    "vars of a module": "def f(x):\n    return vars(torch)['relu'](x)\n",
    "globals by a computed name": "def f(x):\n    return globals()['g' + 'x'](x)\n",
    "ctypes": "import ctypes\n\ndef f(x):\n    return ctypes\n",
    "pickle": "def f(x):\n    import pickle\n    return pickle.loads(x)\n",
    "marshal": "def f(x):\n    import marshal\n    return marshal.loads(x)\n",
    "introspection": "def f(x):\n    return object.__subclasses__()\n",
    "PyTorch's implementations": "def f(x):\n    return torch._refs.nn.functional.relu(x)\n",
    "an exec that defines the function": "exec('def f(x): return x')\n",
    "a pickle loaded by numpy": "def f(x):\n    return np.load('f.npy', allow_pickle=True).item()(x)\n",
    "native code": "def f(x):\n    return torch.utils.cpp_extension.load_inline('f', cpp_sources=source).f(x)\n",
}


@pytest.mark.parametrize("case", HIDING)
def test_code_that_hides_what_it_calls_flags_the_function_it_sits_in(case):
    findings = flags.find([("answer cell f", HIDING[case])], registry.TENSORS, {"torch": torch_module()})
    assert findings and all(f.functions for f in findings)
    assert flags.refusal("f", findings)


def torch_module():
    import torch

    return torch


HONEST = {
    "getattr of the student's own object": "class Net:\n    def f(self, name):\n        return getattr(self, name)\n",
    "getattr of a module by a constant": "def f(x):\n    return getattr(torch, 'relu')(x)\n",
    "a student's own compile": "def compile(x):\n    return x\n\ndef f(x):\n    return compile(x)\n",
    "the language's own helpers": "import math\nfrom functools import reduce\nfrom typing import Optional\n\n"
                                  "def f(x: Optional[int] = None):\n    return reduce(max, [1, 2]) * math.pi\n",
}


@pytest.mark.parametrize("case", HONEST)
def test_honest_code_is_not_flagged(case):
    assert flags.find([("answer cell f", HONEST[case])], registry.TENSORS, {"torch": torch_module()}) == []


@pytest.mark.parametrize("assignment", SOLUTIONS)
def test_the_solutions_and_the_released_exercises_are_not_flagged(assignment):
    assert TrustedNotebook(SOLUTIONS[assignment]).findings == []
    assert TrustedNotebook(ROOT / "exercises" / assignment / f"{assignment}.ipynb").findings == []
    assert allowed_imports(assignment) == registry.assignment(assignment).imports


def test_a_cell_the_student_added_is_read_too(tmp_path):
    notebook = nbformat.read(SOLUTIONS["batch_norm"], as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(
        "from autograder.batch_norm import _batch_norm\nbatch_norm = _batch_norm\n"))
    nbformat.write(notebook, tmp_path / "batch_norm.ipynb")
    [finding] = TrustedNotebook(tmp_path / "batch_norm.ipynb").findings
    assert finding.cell.startswith("added cell") and finding.functions == ("batch_norm",)


def test_the_instructor_accepts_what_they_have_read_and_only_that(tmp_path):
    assignment, answers, _ = BORROWED["importlib with a name built from pieces"]
    path = submission(tmp_path, assignment, answers)
    flagged = TrustedNotebook(path)
    assert flags.refusal("batch_norm", flagged.findings)
    accepted = TrustedNotebook(path, allowed=True)
    assert all(f.allowed for f in accepted.findings) and flags.refusal("batch_norm", accepted.findings) is None
    # Accepted by their keys, at a later run: the same lines pass; a line changed since is flagged again.
    keys = {f.key for f in flagged.findings}
    assert flags.refusal("batch_norm", TrustedNotebook(path, allowed=keys).findings) is None
    changed = submission(tmp_path, assignment, {"batch_norm": answers["batch_norm"].replace("_norm')", "_norm' )")})
    assert flags.refusal("batch_norm", TrustedNotebook(changed, allowed=keys).findings)
