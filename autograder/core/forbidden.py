"""Find, in an answer's source code, the forbidden functions it refers to, without running it.

An exercise declares what a student may not call in a mapping, ``FORBIDDEN``
(torch function, aten kernel or ``nn`` module class -> the name a message
shows). While the student's code runs, ``autograder.core.calling`` refuses
those calls (by the Python function called, and by the aten kernel reached).
This module reads the answer cells' source instead, for a grader that does not
execute it: ``forbidden_in_source(source, FORBIDDEN)`` names the forbidden
functions the source mentions by their own name:

* an attribute, whatever it is read from: ``torch.batch_norm``, ``F.batch_norm``,
  an alias ``functional.batch_norm``, ``x.softmax(-1)``,
  ``torch.ops.aten.native_batch_norm.default``, ``nn.BatchNorm2d(3)``;
* an import: ``from torch.nn.functional import batch_norm as bn``;
* a string that names one, given to a call or used as an index: ``getattr(F, "batch_norm")``,
  ``F.__dict__["batch_norm"]``, ``torch._C._dispatch_call("aten::native_batch_norm", ...)``.
  A string kept in a variable is data, not a call (an answer may be the string
  ``"layer_norm"``): ``getattr(F, name)`` evades this check;
* ``torch._decomp`` and ``torch._refs``, which hold PyTorch's own implementations of
  its operators in elementary operations, whatever the exercise;
* after ``from torch... import *``, each forbidden name that import binds and the
  source does not define again: the tests would call PyTorch's function.

The student's own function of the same name is not a finding: ``def
batch_norm(...)``, calling ``batch_norm(...)`` by its bare name, and the
student's own attributes (``self.dropout``) are theirs. Prose (docstrings,
comments, messages with spaces) is not read.

Limits. The check sees names, not what code computes. A deliberate obfuscation
evades it: a name built from pieces (``getattr(F, "batch" + "_norm")``),
``eval`` or ``exec`` of a computed string, ``importlib.import_module`` with a
computed name, ``vars(F)`` searched by a predicate, or a pickled or encoded
payload. Those still call the forbidden function or reach its kernel when the
code runs, where ``call_student`` refuses them, unless the student's process
itself was subverted (it runs the student's code, so it cannot be trusted
further). One route evades both checks: PyTorch's own implementations in
``torch._decomp`` or ``torch._refs``, reached by a computed name, compute with
elementary operations. Conversely, an attribute of the student's own object
that happens to share a forbidden name (``module.layer_norm`` read from a
model the student built, or ``x.grad`` where autograd is forbidden) is reported;
a human reads the finding.
"""

from __future__ import annotations

import ast
import importlib
import re
from typing import Mapping

import torch

# A string constant that could name a function: no spaces, so prose is never read as a call.
_DOTTED = re.compile(r"[A-Za-z_][\w.:]*")
# PyTorch's own implementations of its operators in elementary operations: whatever an exercise
# forbids, they compute it without calling it, so that no check of the running code can tell.
PYTORCH_IMPLEMENTATIONS = {
    "_decomp": "torch._decomp (PyTorch's own implementations of its operators)",
    "_refs": "torch._refs (PyTorch's own implementations of its operators)",
}


def forbidden_names(forbidden: Mapping, *, kernels: bool = False) -> dict[str, str]:
    """The identifier each forbidden object is found by -> the name to report (the first declared wins).

    ``kernels``: only the aten kernels, whose names are reported where the source names an aten operator.
    """
    names = {}
    for key, name in forbidden.items():
        if isinstance(key, torch._ops.OpOverloadPacket):
            identifier = key._qualified_op_name.split("::")[-1]
        else:
            identifier = None if kernels else getattr(key, "__name__", None)
        if identifier:
            names.setdefault(identifier, name)
    return names


def forbidden_in_source(source: str, forbidden: Mapping) -> list[str]:
    """The names of the ``forbidden`` functions ``source`` refers to, in order of first mention.

    ``forbidden`` is an exercise's ``FORBIDDEN``. Source that does not parse gives
    no finding (it cannot run either).
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):  # ValueError: a null byte in the source
        return []
    names = {**PYTORCH_IMPLEMENTATIONS, **forbidden_names(forbidden)} if forbidden else {}
    kernels = forbidden_names(forbidden, kernels=True)
    star_modules = []
    defined = set()
    mentions = []  # (line, column, identifier, whether it is named as an aten operator)

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in names and isinstance(node.ctx, ast.Load):
            if not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                aten = isinstance(node.value, ast.Attribute) and node.value.attr == "aten"
                mentions.append((node.lineno, node.col_offset, node.attr, aten))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                for part in alias.name.split("."):
                    if part in names:
                        mentions.append((node.lineno, node.col_offset, part, False))
        elif isinstance(node, ast.ImportFrom):
            for part in (node.module or "").split("."):
                if part in names:
                    mentions.append((node.lineno, node.col_offset, part, False))
            for alias in node.names:
                if alias.name == "*" and (node.module or "").split(".")[0] == "torch":
                    star_modules.append((node.lineno, node.col_offset, node.module))
                elif alias.name in names:
                    mentions.append((node.lineno, node.col_offset, alias.name, node.module == "torch.ops.aten"))
        elif isinstance(node, (ast.Call, ast.Subscript)):
            for string in _strings(node):
                for part in re.split(r"[.:]+", string.value):
                    if part in names:
                        mentions.append((string.lineno, string.col_offset, part, "aten" in string.value))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            defined.add(node.id)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.alias):
            defined.add((node.asname or node.name).split(".")[0])

    for line, column, module in star_modules:
        for identifier in sorted(_exported(module) & names.keys() - defined):
            mentions.append((line, column, identifier, False))

    found = []
    for _, _, identifier, aten in sorted(mentions):
        name = kernels[identifier] if aten and identifier in kernels else names[identifier]
        if name not in found:
            found.append(name)
    return found


def _exported(module: str) -> set[str]:
    """The names ``from module import *`` binds (a torch module: importing it runs no student code)."""
    try:
        imported = importlib.import_module(module)
    except ImportError:
        return set()
    return set(getattr(imported, "__all__", [name for name in vars(imported) if not name.startswith("_")]))


def _strings(node: ast.Call | ast.Subscript) -> list[ast.Constant]:
    """The string constants a call is given, or a subscript indexes with, that could name a function."""
    values = [*node.args, *(keyword.value for keyword in node.keywords)] if isinstance(node, ast.Call) else [node.slice]
    return [value for value in values
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and _DOTTED.fullmatch(value.value)]


class Forbidden(dict):
    """What an exercise forbids a student to call, under a name: torch function, aten kernel or ``nn`` class -> its name.

    The name is how the trusted checker tells the kernel which functions to refuse
    during a call (``declared``); a spec's map is named after the spec.
    """

    none: "Forbidden"

    def __init__(self, name: str, functions: Mapping = ()):
        super().__init__(functions)
        self.name = name
        known = _DECLARED.setdefault(name, self)
        if known is not self and dict(known) != dict(self):
            raise ValueError(f"two different maps of forbidden functions are named {name!r}")

    def __repr__(self) -> str:
        return f"Forbidden({self.name!r}, {len(self)} functions)"


_DECLARED: dict[str, Forbidden] = {}


def declared(name: str) -> Forbidden:
    """The map of forbidden functions declared under ``name`` (its exercise must be imported)."""
    try:
        return _DECLARED[name]
    except KeyError:
        raise KeyError(f"no map of forbidden functions is named {name!r}") from None


Forbidden.none = Forbidden("nothing")
