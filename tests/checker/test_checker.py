"""The trusted checker: the course's tests judged outside the student's process, from plain data.

A child process stands in for the sandboxed kernel (``remote_kernel.py``); the
checker runs here. The solutions pass every test through it, each mistake of the
catalog is named through it as in-process, and whatever a hostile kernel sends
fails a test without breaking the checker.
"""

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from autograder.cells import grade_id
from autograder.checker import wire
from autograder.checker.process import TrustedNotebook, run_test, student_names
from autograder.checker.errors import RemoteFailure
from autograder.checker.remote import Remote
from autograder.checker.session import Session
from autograder.core.report import collect_reports
from autograder.core.failure import CheckFailed, named_mistakes
from conftest import ROOT
from remote_kernel import HERE, grade_through_checker, planted_mistakes

SOLUTIONS = sorted(ROOT.glob("solutions/*/*.ipynb"))


def _passes(outputs) -> bool:
    return (not any(o["output_type"] == "error" for o in outputs)
            and any(str(o.get("data", {}).get("text/plain", "")).startswith("passed: ") for o in outputs))


@pytest.mark.parametrize("notebook", [
    pytest.param(path, id=path.stem, marks=() if path.stem == "batch_norm" else pytest.mark.slow)
    for path in SOLUTIONS])
def test_a_solution_passes_every_test_through_the_checker(notebook):
    graded = grade_through_checker(notebook)
    trusted = TrustedNotebook(notebook)
    assert sorted(graded["tests"]) == sorted(trusted.tests)  # every test ran, once
    failed = {cell: outputs for cell, outputs in graded["tests"].items() if not _passes(outputs)}
    assert not failed
    # The simulated GPU ran in the kernel, conclusively, as it does in-process.
    assert "inconclusive" not in json.dumps(graded["tests"])
    assert graded["protocol"]["requests"] >= len(trusted.tests)


def test_a_wrong_answer_fails_through_the_checker_with_the_in_process_message(tmp_path):
    import nbformat

    notebook = nbformat.read(ROOT / "solutions/batch_norm/batch_norm.ipynb", as_version=4)
    answer = next(c for c in notebook.cells if grade_id(c) == "batch_norm")
    answer.source = answer.source.replace("torch.sqrt(var.reshape(per_channel) + eps)",
                                          "(torch.sqrt(var.reshape(per_channel)) + eps)")
    assert "(torch.sqrt(var.reshape(per_channel)) + eps)" in answer.source
    nbformat.write(notebook, tmp_path / "batch_norm.ipynb")
    test = "batch_norm_eps_and_small_variance"
    graded = grade_through_checker(tmp_path / "batch_norm.ipynb")
    [error] = [o for o in graded["tests"][test] if o["output_type"] == "error"]
    # In-process, the same test cell on the same answer.
    namespace = {}
    exec(answer.source, namespace)
    exec("import torch\nfrom autograder.batch_norm import check_batch_norm", namespace)
    source = next(c.source for c in notebook.cells if grade_id(c) == test)
    with pytest.raises(CheckFailed) as in_process, collect_reports():
        exec(source, namespace)
    assert error["ename"] == "CheckFailed" and error["evalue"] == str(in_process.value)
    assert "Likely mistake: epsilon is added outside the square root" in error["evalue"]
    assert error["traceback"][-2].startswith("  Test cell, line 3: check_batch_norm(batch_norm")


@pytest.mark.slow
def test_every_named_mistake_is_named_through_the_checker():
    cases = list(planted_mistakes())
    checker, kernel = socket.socketpair()
    child = subprocess.Popen([sys.executable, str(HERE / "remote_kernel.py"), "catalog", str(kernel.fileno())],
                             pass_fds=[kernel.fileno()])
    kernel.close()
    wrong = []
    try:
        for index, (module, planted, catch) in enumerate(cases):
            request, _ = wire.receive(checker, 120)
            assert request == {"op": "test", "notebook": "catalog", "cell": str(index)}
            session = Session(checker, time.monotonic() + 60)
            student = session.lookup("student")
            assert isinstance(student, Remote)
            with collect_reports():
                try:
                    getattr(module, catch.check)(student, *catch.args, **catch.kwargs)
                    wrong.append((planted.mistake.id, "passed"))
                except CheckFailed as failure:
                    # A convention that is two planted mistakes is named after them, then by its own words.
                    if planted.words not in named_mistakes(str(failure)):
                        wrong.append((planted.mistake.id, str(failure)))
            wire.send(checker, {"op": "done"})
    finally:
        checker.close()
        child.wait(timeout=60)
    assert len(cases) > 200 and not wrong


# --- a hostile kernel ----------------------------------------------------------------


_OPEN: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_sockets():
    yield
    while _OPEN:
        _OPEN.pop().close()


def _kernel(reply):
    """A socket whose other end answers the first request with ``reply(request, buffers)``: raw bytes."""
    checker, kernel = socket.socketpair()
    _OPEN.append(checker)

    def play():
        try:
            request, buffers = wire.receive(kernel, 10)
            data = reply(request, buffers)
            if data is not None:
                kernel.sendall(data)
            time.sleep(2)
        except (wire.WireError, OSError):
            pass
        kernel.close()

    threading.Thread(target=play, daemon=True).start()
    return checker


def _message(header: dict, buffers=()) -> bytes:
    head = json.dumps(header).encode()
    import struct

    return (struct.pack("!II", len(head), len(buffers)) + head
            + b"".join(struct.pack("!Q", len(b)) + b for b in buffers))


def _framed(head: bytes) -> bytes:
    import struct

    return struct.pack("!II", len(head), 0) + head


def _tensor(shape, **more):
    return {"t": "tensor", "b": 0, "dtype": "float32", "shape": shape, "device": "cpu", **more}


HOSTILE = {
    "malformed JSON": lambda r, b: b"\x00\x00\x00\x05\x00\x00\x00\x00{oops",
    "a header over the limit": lambda r, b: b"\x7f\xff\xff\xff\x00\x00\x00\x00",
    "a buffer over the limit": lambda r, b: _message({"value": None, "seq": r["seq"]}).replace(
        b"\x00\x00\x00\x00{", b"\x00\x00\x00\x01{", 1) + (2**40).to_bytes(8, "big"),
    "nesting too deep for the parser": lambda r, b: _framed(
        b'{"seq": %d, "value": ' % r["seq"] + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "data that does not match its shape": lambda r, b: _message(
        {"value": _tensor([1000]), "seq": r["seq"]}, [b"1234"]),
    "an unknown dtype": lambda r, b: _message({"value": _tensor([1], dtype="object"), "seq": r["seq"]}, [b"1234"]),
    "one buffer behind two values": lambda r, b: _message(
        {"value": {"t": "list", "v": [_tensor([1]), _tensor([1])]}, "seq": r["seq"]}, [b"1234"]),
    "a tensor without data outside a simulated run": lambda r, b: _message(
        {"value": _tensor([2**20], fake=True), "seq": r["seq"]}),
    "a pickle": lambda r, b: _message({"value": {"t": "pickle", "v": "gASVAAAAAAAAAAB9lC4="}, "seq": r["seq"]}),
    "a value nested too deeply": lambda r, b: _message(
        {"value": json.loads('{"t": "list", "v": [' * 40 + "1" + "]}" * 40), "seq": r["seq"]}),
    "a reference to an argument it was not sent": lambda r, b: _message({"value": {"t": "arg", "i": 7}, "seq": r["seq"]}),
    "an in-place update that changes a shape": lambda r, b: _message(
        {"value": None, "updates": {"t": "list", "v": [{"t": "tuple", "v": [0, _tensor([0, 3])]}]}, "seq": r["seq"]},
        [b""]),
    "an answer to another request": lambda r, b: _message({"value": None, "seq": r["seq"] + 1}),
    "no answer in time": lambda r, b: None,
    "a closed connection": lambda r, b: b"",
}


@pytest.mark.parametrize("reply", HOSTILE.values(), ids=list(HOSTILE))
def test_a_hostile_answer_fails_the_call_and_never_the_checker(reply):
    session = Session(_kernel(reply), time.monotonic() + 1.5)
    function = Remote(session, 1, "callable", "batch_norm")
    with pytest.raises(RemoteFailure, match="the kernel's answer was refused"):
        function(torch.ones(3))
    with pytest.raises(RemoteFailure):  # out of step: nothing more is read from it
        function(torch.ones(3))


def test_a_test_cell_whose_kernel_answers_garbage_fails_with_why(tmp_path):
    import nbformat

    nbformat.write(nbformat.read(ROOT / "solutions/batch_norm/batch_norm.ipynb", as_version=4), tmp_path / "b.ipynb")
    trusted = TrustedNotebook(tmp_path / "b.ipynb")
    session = Session(_kernel(HOSTILE["malformed JSON"]), time.monotonic() + 5, answers=trusted.answers)
    outputs = run_test(trusted.tests["batch_norm_training_output"], "batch_norm_training_output", trusted, session, 5)
    assert session.broken and outputs[-1]["output_type"] == "error"
    assert "the kernel's answer was refused" in outputs[-1]["evalue"]


def test_an_exception_comes_back_by_name_and_an_unknown_one_is_no_builtin():
    def raises(kind, bases=()):
        return lambda r, b: _message({"error": {"type": kind, "message": "nope", "bases": list(bases)}, "seq": r["seq"]})

    function = Remote(Session(_kernel(raises("ValueError")), time.monotonic() + 5), 1, "callable", "f")
    with pytest.raises(ValueError, match="nope"):
        function()
    # The student's own, or NumPy's AxisError: still the ValueError it derives from.
    function = Remote(Session(_kernel(raises("AxisError", ["ValueError", "IndexError", "Exception"])),
                              time.monotonic() + 5), 1, "callable", "f")
    with pytest.raises(ValueError) as raised:
        function()
    assert type(raised.value).__name__ == "AxisError"
    function = Remote(Session(_kernel(raises("SystemExit")), time.monotonic() + 5), 1, "callable", "f")
    with pytest.raises(Exception) as raised:  # not SystemExit: a name cannot stop the checker
        function()
    assert type(raised.value).__name__ == "SystemExit" and isinstance(raised.value, Exception)


def _answers(reply):
    return lambda r, b: _message(dict(reply, seq=r["seq"]))


def test_an_output_that_carries_gradients_in_the_kernel_carries_them_here():
    # As in-process: a backward pass that leaned on autograd shows in its output, even with no input to join.
    function = Remote(Session(_kernel(lambda r, b: _message(
        {"value": _tensor([1], grad=True), "seq": r["seq"]}, [b"\x00\x00\x80?"])), time.monotonic() + 5),
        1, "callable", "f")
    output = function(torch.ones(1))
    assert output.requires_grad and output.tolist() == [1.0]


def test_an_array_changed_in_place_in_the_kernel_changes_here_too():
    import numpy as np

    array = np.zeros(3)
    update = {"t": "list", "v": [{"t": "tuple", "v": [0, {"t": "ndarray", "b": 1, "dtype": "float64", "shape": [3]}]}]}
    function = Remote(Session(_kernel(lambda r, b: _message(
        {"value": None, "updates": update, "seq": r["seq"]}, [b"", np.ones(3).tobytes()])), time.monotonic() + 5),
        1, "callable", "f")
    function(array)
    assert array.tolist() == [1.0, 1.0, 1.0]


def test_the_student_names_of_a_test_cell_are_those_it_reads_but_does_not_define():
    source = ("example = torch.tensor([1.0])\nfor seed in range(2):\n    check_batch_norm(batch_norm, input=example)\n"
              "check_number(globals(), 'x', 1, why='')\n")
    assert student_names(source, {"torch": torch, "check_batch_norm": None, "check_number": None}) == ["batch_norm"]
