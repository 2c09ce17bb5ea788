"""Run a corpus entry through every test cell of its notebook, visible and hidden, as a student's notebook runs them.

An ``Entry`` is an implementation written in a style that real code uses (NumPy code in
CS231n's (N, D) layout through an adapter, a module class, a Keras-style callback), with
the ids of the mistakes it has (none for a correct alternative). ``run`` executes the
solution notebook's imports and answers, puts the entry's function in their place, then
runs each test cell that calls it, exactly as written, and collects what each one says.
Entries live in ``tests/corpus/<package>_entries.py``, each a list ``ENTRIES``.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import nbformat
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autograder import cells, registry
from autograder.core.failure import named_mistakes
from autograder.core.mistakes import Mistake, Planted

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Entry:
    """An implementation of ``function`` (the name the notebook's cells call) in ``assignment``.

    ``source`` defines it (or, with ``adapter``, what the adapter wraps: the adapter's source
    runs after it and defines ``function`` with the exercise's signature, translating
    conventions such as NumPy arrays or CS231n's argument order, and nothing of substance).
    ``mistakes``: the ids of the mistakes it has; () for a correct implementation.
    """

    name: str
    assignment: str
    function: str
    source: str
    mistakes: tuple[str, ...] = ()
    style: str = ""
    adapter: str | None = None


@dataclass
class Outcome:
    """What the test cells said of an entry: grade_id -> the failure message (None: passed)."""

    entry: Entry
    cells: dict[str, str | None] = field(default_factory=dict)

    @property
    def failures(self) -> dict[str, str]:
        return {cell: message for cell, message in self.cells.items() if message is not None}

    @property
    def named(self) -> set[str]:
        """The ids of the mistakes that some failing cell names (unknown words as themselves)."""
        ids = mistake_ids()
        return {ids.get(words, words) for message in self.failures.values() for words in named_mistakes(message)}

    @property
    def all_named(self) -> bool:
        """A wrong entry whose every mistake is named, and nothing else."""
        return bool(self.failures) and self.named == set(self.entry.mistakes)


def entries() -> list[Entry]:
    """Every entry of every ``*_entries.py`` module of the corpus."""
    found = []
    for path in sorted(CORPUS.glob("*_entries.py")):
        module = importlib.import_module(f"corpus.{path.stem}")
        found.extend(module.ENTRIES)
    names = [entry.name for entry in found]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise ValueError(f"corpus entries share names: {sorted(duplicates)}")
    return found


@cache
def mistake_ids() -> dict[str, str]:
    """The words of every mistake the course declares -> its id."""
    import autograder.core.mistakes as shared

    found = {}
    modules = [shared]
    for name in registry.packages():
        package = registry.package(name)
        modules.append(package)
        for info in pkgutil.walk_packages(getattr(package, "__path__", []), package.__name__ + "."):
            modules.append(importlib.import_module(info.name))
    for module in modules:
        for value in vars(module).values():
            values = value if isinstance(value, (tuple, list)) else (value,)
            for item in values:
                mistake = item.mistake if isinstance(item, Planted) else item
                if isinstance(mistake, Mistake):
                    found.setdefault(mistake.words, mistake.id)
    for spec in registry.specs().values():
        for planted in spec.planted:
            found.setdefault(planted.words, planted.mistake.id)
    return found


@cache
def _notebook_cells(assignment: str) -> tuple[tuple[str, str], ...]:
    """(grade_id, source) of the imports cell, the answer cells and the test cells, in order."""
    notebook = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    found = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell_id = cells.grade_id(cell) or ""
        meta = cell.metadata.get("nbgrader", {})
        kind = "answer" if cells.is_solution(cell) else "test" if meta.get("grade") else (
            "imports" if cell_id == f"{assignment}_imports" else None)
        if kind:
            found.append((kind, cell_id, cell.source))
    return tuple(found)


def run(entry: Entry) -> Outcome:
    """Run ``entry`` through every test cell of its notebook that calls it, visible and hidden.

    The entry's code replaces the answer cell that defines its function, as a student's
    notebook holds it, and sees what the cells before it defined (helpers of the notebook);
    the cells after it, answers and tests, run with it.
    """
    namespace = {"__name__": "__main__"}
    calls = re.compile(rf"\b{re.escape(entry.function)}\b")
    defines = re.compile(rf"^(def|class)\s+{re.escape(entry.function)}\b", re.M)
    outcome = Outcome(entry)
    for kind, cell_id, source in _notebook_cells(entry.assignment):
        if kind in ("imports", "answer"):
            try:
                exec(compile(source, cell_id, "exec"), namespace)  # noqa: S102 - the course's own answers
            except Exception:  # noqa: BLE001 - an answer cell that calls a wrong entry may fail, as in a notebook
                pass
            if defines.search(source):
                namespace[entry.function] = _define(entry, namespace)
            continue
        if not calls.search(source):
            continue
        try:
            exec(compile(source, cell_id, "exec"), namespace)  # noqa: S102 - the notebook's test cell
            outcome.cells[cell_id] = None
        except AssertionError as failed:
            outcome.cells[cell_id] = str(failed)
        except Exception as error:  # noqa: BLE001 - a check that crashes is a verdict too
            outcome.cells[cell_id] = f"{type(error).__name__}: {error}"
    return outcome


def _define(entry: Entry, notebook: dict):
    """The entry's function (or class), defined where the notebook's answer cell defines it."""
    namespace = {**notebook, "torch": torch, "np": np, "numpy": np, "nn": nn, "F": F, "math": math}
    exec(compile(entry.source, f"<corpus {entry.name}>", "exec"), namespace)  # noqa: S102 - the corpus' own code
    if entry.adapter:
        exec(compile(entry.adapter, f"<corpus {entry.name} adapter>", "exec"), namespace)  # noqa: S102
    return namespace[entry.function]
