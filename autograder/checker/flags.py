"""What a student's code uses that is not their own work: imports outside the exercise's list, and hidden calls.

The trusted checker reads the cells a student writes (the answer cells, and any
cell they added) with ``ast``, once per submission, before any test runs. Two
kinds of code are flagged, each with its cell and line:

* an import of a module that the assignment does not list (``Assignment.imports``
  in ``autograder.registry``): scikit-learn's ``MinMaxScaler`` for min-max
  scaling, or the course's own package, whose checks hold the references (the
  locked import cells are the instructor's and are not read here);
* code that hides what it calls, which no reading of names can follow: ``eval``,
  ``exec``, ``compile``, ``__import__``, ``importlib`` with a computed name,
  ``getattr`` on a module with a computed name, a module's ``__dict__``,
  ``globals()`` indexed by a computed name, ``ctypes``, ``pickle``, ``marshal``,
  loading pickled data (``allow_pickle=True``, ``weights_only=False``), compiling
  or loading native code (``torch.utils.cpp_extension``), introspection of code
  (``__subclasses__``, ``__globals__``, ``__code__``), and PyTorch's own
  implementations of its operators (``torch._decomp``, ``torch._refs``).

A finding fails the tests of the functions it sits in: the function (or class)
whose body holds it, the names its top-level statement defines (the alias an
import binds, say), or, for a top-level statement that binds no name (an
``exec``, say, which may define anything), every name the student's cells
define; then every function that uses one of those, and so on. An
instructor who has read a flagged submission and accepts it regrades it with
``python -m autograder grade --allow STUDENT``.

Limits: this reads names, as ``autograder.core.forbidden`` does. Code that
computes with what an allowed module offers (``torch`` reached through an
attribute chain of its own) is not followed; the sandbox, which holds no
reference implementation, is the other half of the defence.
"""

from __future__ import annotations

import ast
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Iterable

from .verdicts import finding_key

# Calls that run code built at run time.
HIDING_BUILTINS = {"eval", "exec", "compile", "__import__", "breakpoint"}
# Modules that run code no name shows: machine code, or objects rebuilt from bytes.
HIDING_MODULES = {"ctypes", "pickle", "marshal", "_pickle", "cffi", "dill", "cloudpickle", "shelve"}
# What compiles or loads native code, from strings or files.
NATIVE = {"cpp_extension", "load_library", "load_inline"}
# Attributes that reach code by introspection rather than by name.
INTROSPECTION = {"__subclasses__", "__globals__", "__code__", "__builtins__", "__closure__", "__loader__"}
# PyTorch's own implementations of its operators in elementary operations.
PYTORCH_IMPLEMENTATIONS = {"_decomp", "_refs"}
MAX_CODE = 120  # characters of a flagged line quoted in a message
ANY = "*"  # among a finding's functions: every function, since it may define any of them


@dataclass(frozen=True)
class Finding:
    """One flagged line: where it is, what it says, why it is flagged, and the functions whose tests it fails."""

    cell: str  # "answer cell group_norm" or "added cell 12"
    line: int
    code: str
    why: str
    functions: tuple[str, ...] = ()
    allowed: bool = False  # accepted by the instructor (``grade --allow``)

    @property
    def key(self) -> str:
        return finding_key(self.to_dict())

    def describe(self) -> str:
        return f"{self.cell}, line {self.line}: {self.code} ({self.why})"

    def to_dict(self) -> dict:
        return asdict(self)


def allows(allowed: Iterable[str], module: str) -> bool:
    """Whether ``module`` is one of ``allowed`` or a submodule of one."""
    return any(module == name or module.startswith(name + ".") for name in allowed)


class _Reader:
    """The findings of one statement, given the names that hold modules."""

    def __init__(self, modules: set[str], defined: set[str], allowed: tuple[str, ...] | None):
        self.modules, self.defined, self.allowed = modules, defined, allowed
        self.found: list[tuple[int, str]] = []

    def flag(self, node: ast.AST, why: str) -> None:
        self.found.append((node.lineno, why))

    def module_like(self, node: ast.AST) -> bool:
        """An expression that names a module: an imported name, an attribute of one, ``getattr`` of one."""
        while True:
            if isinstance(node, ast.Name):
                return node.id in self.modules
            if isinstance(node, ast.Attribute):
                node = node.value
            elif isinstance(node, ast.Call) and _called(node) == "getattr" and node.args:
                node = node.args[0]
            else:
                return False

    def imported(self, node: ast.AST, module: str, names: tuple[str, ...] = ()) -> None:
        """An import of ``module`` (``from module import names``)."""
        parts = set(module.split(".")) | set(names)
        if parts & (HIDING_MODULES | NATIVE):
            self.flag(node, f"imports {module}, which hides what the code calls")
        elif parts & PYTORCH_IMPLEMENTATIONS:
            self.flag(node, f"imports from {module}, PyTorch's own implementations of its operators")
        elif self.allowed is not None and not allows(self.allowed, module):
            listed = ", ".join(n for n in self.allowed if n != "__future__")
            self.flag(node, f"imports {module}, not among the modules this exercise allows: {listed}")

    def read(self, statement: ast.stmt) -> None:
        for node in ast.walk(statement):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self.imported(node, alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    self.flag(node, "a relative import, of the course's own package")
                    continue
                self.imported(node, node.module or "", tuple(alias.name for alias in node.names))
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in HIDING_BUILTINS and node.id not in self.defined:
                    self.flag(node, f"{node.id} runs code built at run time, which hides what it calls")
                elif node.id in INTROSPECTION:
                    self.flag(node, f"{node.id} reaches code without naming it")
            elif isinstance(node, ast.Attribute):
                if node.attr in INTROSPECTION:
                    self.flag(node, f"{node.attr} reaches code without naming it")
                elif node.attr in NATIVE:
                    self.flag(node, f"{node.attr} compiles or loads native code, which hides what it runs")
                elif node.attr in PYTORCH_IMPLEMENTATIONS:
                    self.flag(node, f"{node.attr}: PyTorch's own implementations of its operators")
                elif node.attr == "__dict__" and self.module_like(node.value):
                    self.flag(node, "a module's __dict__, which hides what the code calls")
            elif isinstance(node, ast.Call):
                self.call(node)
            elif isinstance(node, ast.Subscript) and _called(node.value) == "globals" and not _constant(node.slice):
                self.flag(node, "globals() with a computed name, which hides what the code calls")

    def call(self, node: ast.Call) -> None:
        called = _called(node)
        first = node.args[0] if node.args else None
        for keyword in node.keywords:  # np.load(..., allow_pickle=True), torch.load(..., weights_only=False)
            value = keyword.value.value if isinstance(keyword.value, ast.Constant) else None
            if (keyword.arg == "allow_pickle" and value is not False) or (
                    keyword.arg == "weights_only" and value is not True):
                self.flag(node, f"{keyword.arg}={ast.unparse(keyword.value)} unpickles data, which hides what it runs")
        if called == "import_module" or (isinstance(node.func, ast.Attribute) and node.func.attr == "__import__"):
            if first is not None and _constant(first):
                self.imported(node, first.value)
            else:
                self.flag(node, "importlib with a computed name, which hides what it imports")
        elif called == "getattr" and len(node.args) >= 2 and self.module_like(first):
            if not _constant(node.args[1]):
                self.flag(node, "getattr on a module with a computed name, which hides what it calls")
            elif set(node.args[1].value.split(".")) & PYTORCH_IMPLEMENTATIONS:
                self.flag(node, f"{node.args[1].value}: PyTorch's own implementations of its operators")
        elif called == "vars" and first is not None and self.module_like(first):
            self.flag(node, "vars() of a module, which hides what the code calls")


def _called(node: ast.AST) -> str | None:
    """The name a call calls, by its last part: ``getattr`` for ``getattr(...)``, ``import_module`` for ``importlib.import_module(...)``."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _constant(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _defines(statement: ast.stmt) -> set[str]:
    """The names a top-level statement binds, without the local names of the functions it defines."""
    names: set[str] = set()
    stack: list[ast.AST] = [statement]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            names.update(n for g in ast.walk(node) if isinstance(g, ast.Global) for n in g.names)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        stack.extend(ast.iter_child_nodes(node))
    return names


def _loads(statement: ast.stmt) -> set[str]:
    return {node.id for node in ast.walk(statement) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def _module_aliases(trees: list[ast.Module], modules: set[str]) -> set[str]:
    """``modules`` with the names the student's code binds to modules: imports, and ``F = torch.nn.functional``."""
    modules = set(modules)
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    reader = _Reader(modules, set(), None)
    for _ in range(2):  # an alias of an alias
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign) and reader.module_like(node.value):
                    modules.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return modules


def find(cells: list[tuple[str, str]], allowed: tuple[str, ...] | None, namespace: dict) -> list[Finding]:
    """The findings of the student's ``cells`` ((label, source) in notebook order).

    ``allowed``: the modules the assignment allows (None: imports are not checked);
    ``namespace``: what the locked import cells defined, whose modules count as modules.
    """
    parsed = []
    for label, source in cells:
        try:
            parsed.append((label, source.splitlines(), ast.parse(source)))
        except (SyntaxError, ValueError):  # it cannot run either
            continue
    modules = _module_aliases([tree for _, _, tree in parsed],
                              {name for name, value in namespace.items() if isinstance(value, ModuleType)})
    defined = set().union(*(_defines(s) for _, _, tree in parsed for s in tree.body)) if parsed else set()
    findings: list[tuple[str, int, str, str]] = []  # cell, line, code, why
    sources: dict[int, set[str]] = {}  # finding -> the names it taints directly
    definitions: list[tuple[set[str], set[str]]] = []  # (names a statement defines, names it reads)
    for label, lines, tree in parsed:
        for statement in tree.body:
            names, reads = _defines(statement), _loads(statement)
            definitions.append((names, reads))
            reader = _Reader(modules, defined, allowed)
            reader.read(statement)
            for line, why in sorted(dict.fromkeys(reader.found), key=lambda found: found[0]):
                code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
                code = code if len(code) <= MAX_CODE else code[:MAX_CODE] + " ..."
                # A statement that binds no name acts on the namespace in a way no name shows.
                sources[len(findings)] = names or defined | {ANY}
                findings.append((label, line, code, why))
    tainted: dict[str, set[int]] = {}
    for index, names in sources.items():
        for name in names:
            tainted.setdefault(name, set()).add(index)
    changed = True
    while changed:  # a function that uses a tainted name is tainted by the same findings
        changed = False
        for names, reads in definitions:
            causes = set().union(*(tainted[r] for r in reads if r in tainted)) if reads & tainted.keys() else set()
            for name in names:
                if causes - tainted.get(name, set()):
                    tainted.setdefault(name, set()).update(causes)
                    changed = True
    return [Finding(label, line, code, why, tuple(sorted(n for n, causes in tainted.items() if index in causes)))
            for index, (label, line, code, why) in enumerate(findings)]


def refusal(name: str, findings: list[Finding]) -> str | None:
    """Why the tests of the student's ``name`` are not run: its findings that the instructor did not accept."""
    against = [f for f in findings if (name in f.functions or ANY in f.functions) and not f.allowed]
    if not against:
        return None
    more = f"; and {len(against) - 3} more" if len(against) > 3 else ""
    return (f"the tests of {name} do not run, for code flagged in it: "
            + "; ".join(f.describe() for f in against[:3]) + more
            + ". An instructor who has read it and accepts it regrades with `python -m autograder grade --allow`.")
