"""Every check reaches student code through ``autograder.core.calling.call_student``, and no other way.

Each exercise's solution notebook runs here, in this process: its solution
cells define the student's functions and classes, which are replaced by
guards that fail when a test cell calls them other than through
``call_student``. Every test cell, hidden tests included, must still pass.
"""

import contextvars
import functools
import sys

import nbformat
import pytest
import torch

from autograder.core import calling, integrity
from autograder.core.tolerances import declare
from conftest import ROOT

# The operations these tests compare, declared as a spec would declare them.
for _name in ("scale", "double"):
    declare(_name)

NOTEBOOKS = sorted((ROOT / "solutions").glob("*/*.ipynb"))
INSIDE = contextvars.ContextVar("inside_call_student", default=False)
TESTING = contextvars.ContextVar("in_a_test_cell", default=False)


class CalledBehindTheSeam(Exception):
    pass


def _through_the_seam(function):
    @functools.wraps(function)
    def inside(*args, **kwargs):
        token = INSIDE.set(True)
        try:
            return function(*args, **kwargs)
        finally:
            INSIDE.reset(token)
    return inside


def _spy(original):
    def call_student(function, *args, **kwargs):
        return original(_through_the_seam(function), *args, **kwargs)
    return call_student


def _require_the_seam(name):
    if TESTING.get() and not INSIDE.get():
        raise CalledBehindTheSeam(f"a check called the student's {name} without call_student")


def _guard(name, value):
    """The student's function or class, failing when a check calls it behind the seam."""
    if isinstance(value, type):
        namespace = {}
        for attribute, member in vars(value).items():
            if callable(member) and (not attribute.startswith("__") or attribute in ("__init__", "__call__")):
                namespace[attribute] = _guarded_method(f"{name}.{attribute}", member)
        return type(value.__name__, (value,), namespace)

    @functools.wraps(value)
    def guarded(*args, **kwargs):
        _require_the_seam(name)
        return value(*args, **kwargs)
    return guarded


def _guarded_method(name, method):
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        _require_the_seam(name)
        return method(self, *args, **kwargs)
    return guarded


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.parent.name)
def test_every_check_calls_the_student_through_call_student(notebook, monkeypatch, tmp_path):
    from autograder import registry

    registry.import_all()  # every module that will call the student is loaded before the spy goes in
    original = calling.call_student
    spy = _spy(original)
    # Each module that imported the one function gets the spy in its place, and the
    # integrity check, which would refuse a pass with a replaced function, trusts the spy.
    for name, module in list(sys.modules.items()):
        if name.startswith("autograder") and getattr(module, "call_student", None) is original:
            monkeypatch.setattr(module, "call_student", spy)
            monkeypatch.setitem(integrity._snapshot, (name, "call_student"), spy)
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    ran = 0
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        metadata = cell.metadata.get("nbgrader", {})
        before = dict(namespace)
        is_test = bool(metadata.get("grade")) and not metadata.get("solution")
        token = TESTING.set(is_test)
        try:
            exec(compile(cell.source, f"{notebook.name}:{metadata.get('grade_id', 'cell')}", "exec"), namespace)
        finally:
            TESTING.reset(token)
        ran += is_test
        if metadata.get("solution"):
            for name, value in list(namespace.items()):
                if before.get(name) is not value and callable(value) and getattr(value, "__module__", "") == "__main__":
                    namespace[name] = _guard(name, value)
    assert ran > 0


def test_the_guard_catches_a_check_that_calls_the_student_directly():
    from autograder.core.engine import check_against_reference

    student = _guard("scale", lambda x: 2 * x)
    token = TESTING.set(True)
    try:
        with pytest.raises(CalledBehindTheSeam):
            student(1)  # what a check that bypassed call_student would do
        # Through the (spied) seam the same call is allowed.
        assert _spy(calling.call_student)(student, (3,), where="scale(3)").value == 6
        with pytest.raises(AssertionError, match="CalledBehindTheSeam"):
            # Without the spy, the engine's own call is not marked: the guard fires and the check fails.
            check_against_reference(student, lambda x: 2 * x, {"x": torch.ones(2)}, name="scale", devices=["cpu"])
    finally:
        TESTING.reset(token)


class _EqualToAnything(torch.Tensor):
    """A wrong result that claims to equal anything: every torch function on it says "equal"."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.Tensor.__eq__, torch.eq, torch.isclose, torch.allclose, torch.equal):
            result = torch.ones_like(torch.as_tensor(args[0]), dtype=torch.bool)
            return bool(result.all()) if func in (torch.allclose, torch.equal) else result
        return super().__torch_function__(func, types, args, kwargs)

    def as_subclass(self, cls):
        return self  # nor will it let itself be made a plain tensor


def test_a_tensor_subclass_that_claims_equality_fails_the_check():
    from autograder.core.engine import check_against_reference

    def liar(x):
        return torch.zeros_like(x).as_subclass(_EqualToAnything)

    x = torch.ones(3)
    assert bool((liar(x) == x + 1).all()), "the subclass lies when compared outside the seam"
    with pytest.raises(AssertionError, match="the output differs from the reference in 3 of 3 elements"):
        check_against_reference(liar, lambda x: 2 * x, {"x": x}, name="double", devices=["cpu"])
    # A tuple subclass of liars is read as a plain tuple of plain tensors.
    value = calling.call_student(lambda x: torch.return_types.max((liar(x), x)), (x,), where="max").value
    assert type(value) is tuple and type(value[0]) is torch.Tensor and not bool((value[0] == x).any())


class _Doubled(torch.autograd.Function):
    """A student's own autograd.Function: right forward, and a backward only the seam may run."""

    fail = False

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, grad):
        _require_the_seam("_Doubled.backward")
        if _Doubled.fail:
            raise RuntimeError("the backward is broken")
        return 2 * grad


def test_a_custom_backward_runs_through_the_seam_and_its_error_names_the_backward(monkeypatch):
    from autograder.core import engine

    monkeypatch.setattr(engine, "call_student", _spy(calling.call_student))
    monkeypatch.setattr(_Doubled, "fail", False)
    arguments = {"x": torch.randn(4, generator=torch.Generator().manual_seed(0))}

    def check():
        return engine.check_against_reference(_Doubled.apply, lambda x: 2 * x, arguments, name="double",
                                               grad_wrt=("x",), devices=["cpu"])

    token = TESTING.set(True)
    try:
        assert check().devices == ["cpu"]
        monkeypatch.setattr(_Doubled, "fail", True)
        with pytest.raises(AssertionError) as raised:
            check()
    finally:
        TESTING.reset(token)
    assert str(raised.value) == (
        "double(x: (4,) float32) on cpu, backward: it raised RuntimeError: the backward is broken")


def test_count_flops_counts_two_per_multiply_add_and_asks_a_proxy_to_count_where_its_module_lives():
    layer = torch.nn.Linear(8, 4)
    weight = torch.randn(4, 8)
    assert calling.count_flops(layer, {"weight": weight}, (torch.randn(3, 8),), {}) == 2 * 3 * 8 * 4

    class Proxy:  # as autograder.checker.remote.Remote offers it
        def __count_flops__(self, parameters, args, kwargs):
            return ("counted where it lives", sorted(parameters), len(args), kwargs)

    assert calling.count_flops(Proxy(), {"weight": weight}, (1,), {"cache": None}) == (
        "counted where it lives", ["weight"], 1, {"cache": None})
