"""A class a student writes, declared rather than coded, in the manner of PyTorch's ``ModuleInfo``.

A ``ModuleSpec`` says how the student's class is built (as its PyTorch reference
is, with the same constructor arguments), which ``state_dict`` entries it must
register, and how its ``forward`` runs with given tensors as its parameters
(``torch.func.functional_call``, so that gradients reach them and the student's
module and the reference compute with the very same parameters). Its methods are
what every check of a module needs: build it, require its parameters, run it,
compare it with the reference, check that it loads the reference's state_dict,
and run the planted classes as the student's module runs, to name a mistake.

A check's arguments hold, in order, the ``inputs`` of ``forward``, the tensors of
the ``parameters`` (argument name -> state_dict key; None: a parameter the module
does not have) and the ``keywords`` that ``forward`` takes by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Mapping

import torch

from . import tolerances
from .calling import call_student, functional_call, module_classes
from .engine import check_against_reference
from .failure import fail
from .forbidden import Forbidden
from .mistakes import Mistake, Planted
from .report import Report


@dataclass(frozen=True)
class StateDictRule:
    """The state_dict entries a student's module must have: the reference's, with their shapes.

    ``exactly``: those and no others (else at least those; a check may ask for exactly).
    ``advice`` ends the failure's summary, saying what to register. ``itemized``: the
    failure lists what is missing and what is extra, one problem each; otherwise its
    summary shows both modules' entries.
    """

    advice: str
    exactly: bool = True
    itemized: bool = True


@dataclass(frozen=True)
class ModuleSpec:
    """A class an exercise asks for, compared with PyTorch's ``reference`` given the same parameters.

    ``name`` is the class's name in the student's notebook (and in messages when the
    student's class has none). Every build passes the constructor arguments a check
    gives, then the keywords ``fixed`` (``batch_first=True``). A module that is, or
    contains, one of ``not_built_on`` (PyTorch's own layer) fails, saying that the
    exercise is to write ``build_from`` ("the layer from nn.Linear and ..."). ``planted``
    holds the planted classes, which take the student's constructor arguments;
    ``outputs`` names the parts of a forward that returns a tuple; ``tolerances`` are
    the overrides of ``autograder.core.tolerances``, as for an ``Operation``.
    """

    name: str
    reference: type
    inputs: tuple[str, ...]
    parameters: Mapping[str, str]
    keywords: tuple[str, ...] = ()
    fixed: Mapping[str, object] = field(default_factory=dict)
    state_dict: StateDictRule = StateDictRule("Register the parameters the reference has, under its names.")
    not_built_on: tuple[type, ...] = ()
    build_from: str = ""
    planted: tuple[Planted, ...] = ()
    forbidden: Forbidden = field(default_factory=lambda: Forbidden.none)
    outputs: tuple[str, ...] | None = None
    tolerances: Mapping = field(default_factory=dict)

    def __post_init__(self):
        tolerances.declare(self.name, self.tolerances)

    @property
    def differentiable(self) -> tuple[str, ...]:
        """The arguments whose gradients a check compares: the inputs and every parameter."""
        return tuple(self.inputs) + tuple(self.parameters)

    def class_name(self, student) -> str:
        """The name messages give the student's class."""
        return getattr(student, "__name__", self.name)

    # --- building -----------------------------------------------------------------------

    def build(self, student, *args, **kwargs) -> tuple[object, str]:
        """The student's module, built as the reference is with ``args`` and ``kwargs``, and the call that built it."""
        kwargs = {**kwargs, **self.fixed}
        shown = [repr(a) for a in args] + [f"{key}={value!r}" for key, value in kwargs.items()]
        built = f"{self.class_name(student)}({', '.join(shown)})"
        module = call_student(partial(student, **kwargs), args, where=built).result()
        if self.not_built_on:
            self._refuse_whole(module, built)
        return module, built

    def _refuse_whole(self, module, built: str) -> None:
        """Fail a module that is, or contains, one of the modules that would do the whole exercise."""
        classes = call_student(lambda: module_classes(module), (), where=f"{built}.modules()", copy=False).result()
        used = [whole.__name__ for whole in self.not_built_on
                if any(f"{whole.__module__}.{whole.__qualname__}" in bases for bases in classes)]
        if used:
            fail(built, f"it is built on nn.{used[0]}; the exercise is to write {self.build_from}.")

    def build_reference(self, *args, **kwargs):
        """PyTorch's module, built with the same arguments as the student's."""
        return self.reference(*args, **kwargs, **self.fixed)

    def require_state_dict(self, module, built: str, *args, exactly: bool | None = None, **kwargs) -> None:
        """Fail unless ``module`` registers the reference's state_dict entries, with their shapes.

        ``exactly`` (default: the rule's): and no other entries.
        """
        state = call_student(module.state_dict, (), where=f"{built}.state_dict()", copy=False).result()
        entries = {key: tuple(value.shape) for key, value in state.items() if isinstance(value, torch.Tensor)}
        wanted = {key: tuple(value.shape) for key, value in self.build_reference(*args, **kwargs).state_dict().items()}
        rule = self.state_dict
        exactly = rule.exactly if exactly is None else exactly
        if all(entries.get(key) == shape for key, shape in wanted.items()) and not (exactly and entries != wanted):
            return
        reference = f"nn.{self.reference.__name__}"
        if not rule.itemized:
            fail(built, f"the state_dict has entries {entries}; {reference} has {wanted}. {rule.advice}")
        missing = [f"{key} {wanted[key]}" for key in wanted if entries.get(key) != wanted[key]]
        extra = [key for key in entries if key not in wanted]
        problems = ([f"missing or of another shape: {', '.join(missing)}."] if missing else []) + (
            [f"not in {reference}: {', '.join(extra)}."] if extra else [])
        fail(built, f"its state_dict differs from {reference}'s. {rule.advice}", problems=problems)

    # --- running --------------------------------------------------------------------------

    def forward(self, module, *values):
        """Run ``module`` on a check's arguments, given by position, with their tensors as its parameters."""
        count, size = len(self.inputs), len(self.parameters)
        inputs, tensors, options = values[:count], values[count:count + size], values[count + size:]
        parameters = {key: value for key, value in zip(self.parameters.values(), tensors) if value is not None}
        return functional_call(module, parameters, inputs, dict(zip(self.keywords, options)))

    def runner(self, module, part: int | None = None) -> Callable:
        """``module`` as a function of a check's arguments; ``part``: that output of a tuple alone."""
        def run(*values):
            result = self.forward(module, *values)
            return result if part is None else result[part]
        return run

    def planted_runs(self, *args, part: int | None = None, evaluation: bool = False,
                     only: tuple[Mistake, ...] | None = None, **kwargs) -> tuple[Planted, ...]:
        """The planted classes as functions of a check's arguments, each built as the student's module was.

        ``evaluation``: put in evaluation mode after it is built; ``only``: the planted mistakes among these.
        """
        def forward(planted_class):
            def run(*values):  # built when a failure is diagnosed, not on every check
                module = planted_class(*args, **kwargs, **self.fixed)
                return self.runner(module.eval() if evaluation else module, part)(*values)
            return run

        return tuple(p.wrapped(forward) for p in self.planted if only is None or p.mistake in only)

    # --- checking ---------------------------------------------------------------------------

    def compare(self, student, arguments: dict, *args, gradients: bool = False, devices=None,
                call: str | None = None, **kwargs) -> Report:
        """Compare the student's class with the reference, both built with ``args`` and ``kwargs``, on ``arguments``.

        Compares every output or, with ``gradients=True``, the (first) output and its
        gradients with respect to the inputs and every parameter given. ``call`` names
        the comparison in messages (default: the spec's name).
        """
        module, built = self.build(student, *args, **kwargs)
        self.require_state_dict(module, built, *args, **kwargs)
        reference = self.build_reference(*args, **kwargs)
        part = 0 if gradients and self.outputs else None
        grad_wrt = tuple(key for key in self.differentiable if arguments[key] is not None) if gradients else ()
        return check_against_reference(
            self.runner(module, part), self.runner(reference, part), arguments, name=call or self.name,
            operation=self.name, grad_wrt=grad_wrt, planted=self.planted_runs(*args, part=part, **kwargs),
            devices=devices, forbidden=self.forbidden, outputs=self.outputs if part is None else None,
        )

    def check_state_dict(self, student, *args, variants: tuple[dict, ...] = ({},)) -> Report:
        """Check that the student's module loads the reference's state_dict, both built with ``args`` and a variant."""
        report = Report(f"{self.class_name(student)}({', '.join(map(repr, args))}).load_state_dict(...)")
        for kwargs in variants:
            module, built = self.build(student, *args, **kwargs)
            self.require_state_dict(module, built, *args, exactly=True, **kwargs)
            state = self.build_reference(*args, **kwargs).state_dict()
            call_student(module.load_state_dict, (state,), where=report.call, copy=False).result()
        report.devices.append("cpu")
        return report
