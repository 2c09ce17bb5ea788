"""The trusted checker: runs a submission's test cells outside the student's sandbox.

During class grading, each submission gets a checker process beside its
sandbox, forked from the fork server (``autograder.sandbox.forkserver``) before
any student code exists, outside the sandbox's namespaces, cgroup and user.
It holds the test cells' source (from the sanitized notebook, which nbgrader
restored from the gradebook), the references, the comparisons and the
verdicts; the sandbox holds the student's code and a stub
(``autograder.checker.stub``). When the kernel reaches a test cell, its stub
asks for that test by name; the checker runs the cell's source in its own
namespace, where the student's names are proxies (``autograder.checker.remote``),
and writes the cell's outputs, its report or its failure, to a file only the
grader reads. The recorder puts these outputs into the executed notebook
(``autograder.grading.execute``), so nothing the kernel prints or displays
decides a test. Before any test, it reads the student's cells once
(``autograder.checker.flags``): the tests of a function whose code imports what
its exercise does not allow, or hides what it calls, fail with the flagged
lines, without asking the kernel.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import os
import time
import traceback
from pathlib import Path

import nbformat

from .. import cells, registry
from ..core.report import collect_reports
from . import flags, wire
from .errors import Interrupted
from .remote import Remote
from .session import Session


def is_import_cell(cell) -> bool:
    """A locked code cell of imports only: the instructor's, restored by nbgrader; the checker runs it too."""
    if cell.get("cell_type") != "code" or not cells.is_locked(cell) or cells.is_test(cell):
        return False
    try:
        body = ast.parse(cell.source).body
    except SyntaxError:
        return False
    return bool(body) and all(isinstance(node, (ast.Import, ast.ImportFrom)) for node in body)


class TrustedNotebook:
    """A notebook's test cells and imports, read from the grader's copies, never from the sandbox.

    ``path`` is the sanitized submission (nbgrader restored its tests from the gradebook);
    the imports come from ``release``, the notebook the course released, when given.
    ``allowed`` holds the keys of the findings the instructor accepted (``flags.Finding.key``),
    or is True to accept every finding.
    """

    def __init__(self, path: Path, release: Path | None = None, allowed: set[str] | bool = frozenset()):
        notebook = nbformat.read(path, as_version=4)
        self.tests = {cells.grade_id(cell): cell.source for cell in notebook.cells if cells.is_test(cell)}
        self.namespace = {"__name__": "__checker__", "__builtins__": builtins}
        for cell in (nbformat.read(release, as_version=4) if release else notebook).cells:
            if is_import_cell(cell):
                exec(compile(cell.source, "<imports>", "exec"), self.namespace)  # noqa: S102 - the course's own cell
        self.done: set[str] = set()
        self.answers = [cell.source for cell in notebook.cells if cell.cell_type == "code" and cells.is_solution(cell)]
        self.defined = defined_names(self.answers)
        graded = {name for source in self.tests.values() for name in _names_read(source, self.namespace)
                  if name in self.defined}
        found = flags.find(student_cells(notebook), allowed_imports(Path(path).stem), self.namespace)
        self.findings = [flags.Finding(f.cell, f.line, f.code, f.why,
                                       tuple(sorted(n for n in graded if n in f.functions or flags.ANY in f.functions)),
                                       allowed is True or f.key in allowed) for f in found]


def _names_read(source: str, known) -> list[str]:
    try:
        return student_names(source, known)
    except (SyntaxError, ValueError):  # a test cell that does not parse fails when it runs
        return []


def student_cells(notebook) -> list[tuple[str, str]]:
    """The code the student wrote, as (label, source): the answer cells and the cells they added."""
    written = []
    for index, cell in enumerate(notebook.cells, 1):
        if cell.get("cell_type") == "code" and not cells.is_locked(cell):
            label = f"answer cell {cells.grade_id(cell)}" if cells.is_solution(cell) else f"added cell {index}"
            written.append((label, cell.source))
    return written


def allowed_imports(assignment: str) -> tuple[str, ...] | None:
    """The modules the assignment's answer cells may import; None for a notebook of no known assignment."""
    try:
        return registry.assignment(assignment).imports
    except KeyError:
        return None


def defined_names(sources: list[str]) -> set[str]:
    """The names the answer cells define: the only ones a test cell takes from the kernel."""
    names = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):  # a cell that does not parse defines nothing
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.alias):
                names.add((node.asname or node.name).split(".")[0])
    return names


def student_names(source: str, known) -> list[str]:
    """The names a test cell reads but neither defines nor finds among ``known``: the student's."""
    tree = ast.parse(source)
    stored, loaded = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loaded.append(node.id)
            else:
                stored.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            stored.add(node.name)
        elif isinstance(node, ast.alias):
            stored.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            stored.add(node.arg)
    names = []
    for name in loaded:
        if name not in stored and name not in known and not hasattr(builtins, name) and name not in names:
            names.append(name)
    return names


class KernelNamespace:
    """The kernel's variables, read one by one: what ``globals()`` means in a test cell here."""

    def __init__(self, session: Session):
        self.session = session

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    def __getitem__(self, name):
        try:
            return self.session.lookup(name)
        except NameError:
            raise KeyError(name) from None

    def __contains__(self, name) -> bool:
        return self.get(name, self) is not self


def run_test(source: str, cell: str, notebook: TrustedNotebook, session: Session, cell_timeout: float) -> list[dict]:
    """Run a test cell's ``source`` against the kernel; return the cell's outputs as nbformat dicts."""
    namespace = notebook.namespace
    stdout, outputs = io.StringIO(), []
    resolved = []
    for name in _names_read(source, namespace):
        refused = flags.refusal(name, notebook.findings) if name in notebook.defined else None
        if refused:  # never called: what it borrowed would pass
            return [nbformat.v4.new_output("error", ename="FlaggedCode", evalue=refused,
                                           traceback=[f"FlaggedCode: {refused}"])]
    with collect_reports() as shown, contextlib.redirect_stdout(stdout):
        try:
            for name in student_names(source, namespace):
                if name not in notebook.defined:
                    continue  # not the student's: the cell raises NameError, and the test is seen to be broken
                try:
                    namespace[name] = session.lookup(name)
                    resolved.append(name)
                except NameError:
                    pass  # the cell raises NameError when it reads it, as in the kernel
            namespace["globals"] = lambda: KernelNamespace(session)
            exec(compile(source, f"<test {cell}>", "exec"), namespace)  # noqa: S102 - the course's test cell
            error = None
        except Interrupted:
            error = ("CellTimeoutError", f"the cell ran longer than {cell_timeout:g} s and was interrupted", [])
        except Exception as exception:  # noqa: BLE001 - the test's failure, shown as IPython would
            error = (type(exception).__name__, str(exception), _cell_lines(exception, cell, source))
        finally:
            namespace.pop("globals", None)
            for name in resolved:
                namespace.pop(name, None)
            for name in [n for n, value in namespace.items() if isinstance(value, Remote)]:
                del namespace[name]  # a proxy the cell kept: its conversation is over
    if stdout.getvalue():
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=_capped(stdout.getvalue())))
    for report in shown:
        outputs.append(nbformat.v4.new_output("display_data", data={"text/plain": report}))
    if error:
        ename, evalue, lines = error
        evalue = _capped(evalue)
        outputs.append(nbformat.v4.new_output("error", ename=ename, evalue=evalue,
                                              traceback=lines + [f"{ename}: {evalue}"]))
    return outputs


MAX_OUTPUT_CHARACTERS = 20_000  # what the kernel sends may end up in a message: no more than this of it


def _capped(text: str) -> str:
    if len(text) <= MAX_OUTPUT_CHARACTERS:
        return text
    return text[:MAX_OUTPUT_CHARACTERS] + f" ... ({len(text) - MAX_OUTPUT_CHARACTERS} more characters)"


def _cell_lines(exception: BaseException, cell: str, source: str) -> list[str]:
    """Where in the test cell it failed, as a traceback quotes it."""
    lines = source.splitlines()
    quoted = []
    for frame in traceback.extract_tb(exception.__traceback__):
        if frame.filename == f"<test {cell}>" and frame.lineno and frame.lineno <= len(lines):
            quoted.append(f"  Test cell, line {frame.lineno}: {lines[frame.lineno - 1].strip()}")
    return ["Traceback (most recent call last):"] + quoted[-1:] if quoted else []


def read_notebooks(notebooks: dict[str, Path], releases: dict[str, Path] | None = None,
                   allowed: set[str] | bool = frozenset()) -> dict[str, TrustedNotebook]:
    """Every notebook of a submission, read before any test is asked for (and before the checker drops its rights)."""
    releases = releases or {}
    return {name: TrustedNotebook(path, releases.get(name), allowed) for name, path in notebooks.items()}


def serve(sock, notebooks: dict[str, Path] | dict[str, TrustedNotebook], verdicts: Path, cell_timeout: float,
          releases: dict[str, Path] | None = None) -> None:
    """Answer the kernel's requests for tests until the sandbox closes its end of ``sock``.

    ``notebooks`` maps each notebook's file name to the grader's sanitized copy (or to
    it read already, by ``read_notebooks``), and ``releases`` to the released notebook whose
    imports the tests run with; the flagged code of each notebook is written to ``verdicts``
    at once, and the outputs of each test that ran as they come.
    """
    trusted = {name: notebook if isinstance(notebook, TrustedNotebook) else
               TrustedNotebook(notebook, (releases or {}).get(name)) for name, notebook in notebooks.items()}
    results: dict = {"notebooks": {}, "protocol": {"requests": 0, "seconds": 0.0, "tests": 0},
                     "flagged": {name: [f.to_dict() for f in notebook.findings]
                                 for name, notebook in trusted.items() if notebook.findings}}
    _write(verdicts, results)
    while True:
        try:
            request, _ = wire.receive(sock, None, limit=64 * 1024)
        except wire.WireError:
            return  # the sandbox is gone
        name, cell = request.get("notebook"), request.get("cell")
        if request.get("op") != "test" or not isinstance(name, str) or not isinstance(cell, str) \
                or name not in trusted:
            wire.send(sock, {"op": "done"})
            continue
        notebook = trusted[name]
        if cell not in notebook.tests or cell in notebook.done:  # not a test, or one that already ran
            wire.send(sock, {"op": "done"})
            continue
        notebook.done.add(cell)
        session = Session(sock, time.monotonic() + cell_timeout + 5, answers=notebook.answers)
        outputs = run_test(notebook.tests[cell], cell, notebook, session, cell_timeout)
        if session.broken:
            outputs = _without_report(outputs, session.broken)
        results["notebooks"].setdefault(name, {})[cell] = outputs
        protocol = results["protocol"]
        protocol.update(requests=protocol["requests"] + session.requests, tests=protocol["tests"] + 1,
                        seconds=protocol["seconds"] + session.seconds)
        _write(verdicts, results)
        if session.broken:
            return  # the conversation is out of step: every later test fails for want of a verdict
        try:
            wire.send(sock, {"op": "done"})
        except OSError:
            return


def _without_report(outputs: list[dict], why: str) -> list[dict]:
    """A test whose conversation with the kernel broke fails, whatever it showed before."""
    kept = [o for o in outputs if o.get("output_type") == "stream"]
    return kept + [nbformat.v4.new_output("error", ename="GradingError", evalue=why,
                                          traceback=[f"GradingError: {why}"])]


def _write(path: Path, results: dict) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(results))
    os.replace(temporary, path)
