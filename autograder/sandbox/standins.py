"""The course's package as a graded kernel sees it: the checks' names, and nothing that computes an exercise.

A kernel forked from the fork server holds what it needs to answer the trusted
checker, imported before any submission existed: the stub, the wire, the
calling seam and the maps of forbidden functions. The sandbox hides every copy
of the package's files (``autograder.sandbox.bwrap``), so no reference or
planted implementation can be imported, read or borrowed.

The released notebooks' locked import cells still run: this finder, first on
the kernel's ``sys.meta_path``, answers an import of an exercise package (or of
``autograder.questions``) with a stand-in whose ``check_*`` names exist. The
tests run in the checker, so nothing here ever calls them. Any other name, and
any other module of the package, fails with one line that says why.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

from .. import registry

PACKAGE = "autograder"
WHY = "the course's checks, references and planted implementations stay with the grader"


class NotInSandbox(ImportError):
    pass


def _check(name: str):
    def check(*args, **kwargs):
        raise RuntimeError(f"{name} runs in the grader's trusted checker, not in this kernel, while a class is graded")
    check.__name__ = check.__qualname__ = name
    return check


def _attribute(module: str):
    def __getattr__(name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        if name.startswith("check_"):
            return _check(name)
        raise NotInSandbox(f"{module}.{name} is not in the grading sandbox: {WHY}", name=module)
    return __getattr__


class StandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Stand-ins for the exercise packages; one clear ImportError for the rest of the package."""

    def __init__(self):
        self.names = {f"{PACKAGE}.{name}" for name in (*registry.packages(), "questions")}

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(PACKAGE + ".") or fullname in sys.modules:
            return None
        if fullname in self.names:
            return importlib.util.spec_from_loader(fullname, self)
        raise NotInSandbox(f"{fullname} is not in the grading sandbox: {WHY}", name=fullname)

    def create_module(self, spec):
        return None  # the default module

    def exec_module(self, module) -> None:
        module.__doc__ = f"A stand-in for {module.__name__} in a graded kernel: {WHY}."
        module.__getattr__ = _attribute(module.__name__)


def install() -> None:
    """Put the stand-ins first on ``sys.meta_path``, before any finder that could reach the package's files."""
    if not any(isinstance(finder, StandIns) for finder in sys.meta_path):
        sys.meta_path.insert(0, StandIns())
