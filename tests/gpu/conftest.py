"""The GPU suite's settings, its ``gpu`` marker, the solutions it checks and its JSON report.

Run it from the working tree: ``DEVICE=cuda GPU_SUITE=full PYTHONPATH=. python -m pytest
tests/gpu`` (``make test-gpu``). See ``settings.py`` for the variables. The report
holds one entry per test: its parameters, outcome, failure message and timings,
and whatever the test recorded (``record``).
"""

from __future__ import annotations

import datetime
import functools
import json
import platform
import time
from pathlib import Path

import pytest
import torch

from . import settings
from .notebooks import missing_dependency, solution_namespace

HERE = Path(__file__).resolve().parent

_entries: dict[str, dict] = {}
_started = time.time()


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: the GPU suite (tests/gpu), run with DEVICE=cpu or DEVICE=cuda")
    problem = settings.problem()
    if problem:
        raise pytest.UsageError(f"tests/gpu: {problem}")


def _ours(item) -> bool:
    return HERE in Path(str(getattr(item, "path", None) or item.fspath)).resolve().parents


# Before -m selects by markers, so that `-m gpu` and `-m "not gpu"` see this one.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if _ours(item):
            item.add_marker("gpu")


# --- what the tests use ----------------------------------------------------------------


@functools.cache
def _solutions(assignment: str) -> dict:
    return solution_namespace(assignment)


@pytest.fixture(scope="session")
def solutions():
    """assignment -> the solution notebook's names; an assignment whose imports are missing is skipped."""

    def load(assignment: str) -> dict:
        try:
            return _solutions(assignment)
        except ImportError as error:
            if missing_dependency(error):
                pytest.skip(f"{assignment}: its imports need {missing_dependency(error)}, which is missing")
            raise

    return load


@pytest.fixture
def record(request):
    """``record(key, value)``: a fact about this test (a message, a timing) for its entry in the report.

    ``record("outcome", "unsupported")`` replaces the outcome pytest gives.
    """
    return lambda key, value: request.node.user_properties.append((key, value))


# --- the report ------------------------------------------------------------------------


def _jsonable(value):
    if hasattr(value, "as_report"):
        return value.as_report()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def _message(call) -> str | None:
    if call.excinfo is None:
        return None
    error = call.excinfo.value
    if isinstance(getattr(error, "msg", None), str):  # pytest.skip, pytest.xfail, pytest.fail
        return error.msg
    if isinstance(error, AssertionError):  # a failed check's message is what a student reads
        return str(error)
    return f"{call.excinfo.typename}: {error}"


# An old-style wrapper, which every pytest since 3 runs: the GPU machine's pytest may be older than this one.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not _ours(item):
        return
    entry = _entries.setdefault(item.nodeid, {
        "test": item.nodeid, "parameters": _jsonable(getattr(getattr(item, "callspec", None), "params", {})),
        "outcome": None, "message": None, "seconds": {},
    })
    entry["seconds"][call.when] = round(report.duration, 4)
    message = _message(call)
    if report.skipped:
        xfailed = hasattr(report, "wasxfail")
        entry["outcome"] = "xfailed" if xfailed else "skipped"
        entry["message"] = message or (report.wasxfail if xfailed else str(report.longrepr[-1]))
    elif report.failed:
        entry["outcome"] = "failed" if call.when == "call" else "error"
        entry["message"] = message or report.longreprtext[-4000:]
    elif call.when == "call":
        entry["outcome"] = "xpassed" if hasattr(report, "wasxfail") else "passed"
    if call.when == "teardown":
        recorded = dict(item.user_properties)
        if "outcome" in recorded and entry["outcome"] in ("passed", "xfailed"):
            entry["outcome"] = recorded.pop("outcome")
        if recorded:
            entry["recorded"] = _jsonable(recorded)


def pytest_sessionfinish(session, exitstatus):
    if not _entries or settings.REPORT is None:
        return
    outcomes = {}
    for entry in _entries.values():
        outcomes[entry["outcome"]] = outcomes.get(entry["outcome"], 0) + 1
    report = {
        "device": settings.DEVICE, "device_name": settings.device_name(), "suite": settings.SUITE,
        "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
        "platform": platform.platform(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "torch_threads": torch.get_num_threads(), "seconds": round(time.time() - _started, 2),
        "exit_status": int(exitstatus), "outcomes": outcomes, "tests": list(_entries.values()),
    }
    settings.REPORT.parent.mkdir(parents=True, exist_ok=True)
    settings.REPORT.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


def pytest_terminal_summary(terminalreporter):
    if _entries and settings.REPORT is not None:
        terminalreporter.write_line(f"GPU suite on {settings.DEVICE} ({settings.device_name()}), "
                                    f"GPU_SUITE={settings.SUITE}: report in {settings.REPORT}")
