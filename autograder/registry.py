"""Every assignment of the course: its chapter, the exercise packages its tests call, and what the student writes.

This is the one list of the course's exercises. The tests are generated from it
(every spec's planted mistakes, its forbidden functions, each chapter's links to
its exercises), the fork server imports what it names, and the trusted checker
finds a spec's forbidden functions by the spec's name. Adding an exercise takes
four places: its spec files (``autograder/<package>/``), one row here, its
solution notebook (``solutions/<name>/<name>.ipynb``) and its chapter.

Importing this module does not import torch; ``specs`` and ``import_all`` do.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from types import ModuleType


@dataclass(frozen=True)
class Assignment:
    """One graded notebook.

    ``name``: its folder in ``solutions/`` and ``exercises/``, and its notebook's stem.
    ``chapter``: the book page that teaches it, as ``_toc.yml`` names it.
    ``packages``: the exercise packages (``autograder.<package>``) whose checks its test cells call.
    ``functions``: spec name -> the name of the function or class the student writes in the notebook.
    ``imports``: the modules its answer cells may import (a module's submodules with it); the
    trusted checker fails the tests of a function whose code imports anything else
    (``autograder.checker.flags``).
    """

    name: str
    chapter: str
    packages: tuple[str, ...]
    functions: dict[str, str]
    imports: tuple[str, ...] = ()


# What any answer cell may import: the language's own helpers, none of which computes an exercise.
# (Not importlib, operator, sys or builtins: they reach code by a computed name.)
LANGUAGE = ("__future__", "typing", "math", "functools", "itertools", "collections", "dataclasses", "copy")
ARRAYS = ("numpy", *LANGUAGE)
TENSORS = ("torch", "numpy", *LANGUAGE)

ASSIGNMENTS: tuple[Assignment, ...] = (
    Assignment("feature_scaling", "book/normalization/feature_scaling", ("feature_scaling",), {
        name: name for name in ("fit_min_max", "min_max_transform", "min_max_inverse",
                                "fit_standard", "standard_transform", "standard_inverse")}, imports=ARRAYS),
    Assignment("batch_norm", "book/normalization/batch_norm", ("batch_norm",), {"batch_norm": "batch_norm"},
               imports=TENSORS),
    Assignment("batch_norm_backward", "book/normalization/batch_norm", ("batch_norm_backward",),
               {"batch_norm_backward": "batch_norm_backward"}, imports=TENSORS),
    Assignment("batch_norm_fusion", "book/normalization/batch_norm_practice", ("batch_norm_fusion",),
               {"fuse_conv_bn_eval": "fuse_conv_bn_eval"}, imports=TENSORS),
    Assignment("normalization_layers", "book/normalization/normalization_layers", ("normalization_layers",), {
        name: name for name in ("layer_norm", "group_norm", "instance_norm", "rms_norm")}, imports=TENSORS),
    Assignment("regularization", "book/regularization/regularization", ("dropout", "penalties", "early_stopping"), {
        name: name for name in ("dropout", "l1_penalty", "l2_penalty", "EarlyStopping")}, imports=TENSORS),
    Assignment("label_smoothing", "book/regularization/label_smoothing", ("label_smoothing",),
               {"cross_entropy": "cross_entropy"}, imports=TENSORS),
    Assignment("attention", "book/attention/self_attention", ("attention",), {
        name: name for name in ("softmax", "scaled_dot_product_attention", "MultiheadAttention")}, imports=TENSORS),
    Assignment("transformer", "book/attention/transformer", ("transformer",), {
        name: name for name in ("sinusoidal_positional_encoding", "TransformerEncoderLayer")}, imports=TENSORS),
    Assignment("kv_cache", "book/attention/generation", ("kv_cache",), {"CausalSelfAttention": "CausalSelfAttention"},
               imports=TENSORS),
)


def assignment(name: str) -> Assignment:
    """The assignment called ``name``; an unknown name is an error that lists the known ones."""
    for candidate in ASSIGNMENTS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no assignment is called {name!r}; the course has {', '.join(a.name for a in ASSIGNMENTS)}")


def packages() -> tuple[str, ...]:
    """Every exercise package, once, in the order of the assignments."""
    return tuple(dict.fromkeys(p for a in ASSIGNMENTS for p in a.packages))


def package(name: str) -> ModuleType:
    return import_module(f"autograder.{name}")


def import_all() -> None:
    """Import every exercise's checks (what a kernel forked from the fork server finds loaded)."""
    for name in packages():
        package(name)


def specs(of: Assignment | None = None) -> dict:
    """Spec name -> spec, of one assignment or of the whole course, from each package's ``SPECS``."""
    found = {}
    for name in (of.packages if of else packages()):
        for spec in package(name).SPECS:
            if spec.name in found:
                raise ValueError(f"two specs are called {spec.name!r}")
            found[spec.name] = spec
    return found


def spec(name: str):
    """The spec called ``name``, whichever assignment has it."""
    try:
        return specs()[name]
    except KeyError:
        raise KeyError(f"no spec is called {name!r}") from None
