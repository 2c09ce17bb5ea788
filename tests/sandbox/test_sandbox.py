"""What the grading sandbox hides from a submission, and what it puts back (bubblewrap's arguments)."""

import sys
from pathlib import Path

import pytest

import autograder
from autograder.sandbox.bwrap import SandboxUnavailable, hiding_arguments


def pairs(arguments, option):
    return [arguments[i + 1] for i, value in enumerate(arguments) if value == option]


def test_the_course_homes_and_the_checkout_are_hidden_and_python_is_put_back(tmp_path, monkeypatch):
    course, home = tmp_path / "course", tmp_path / "home"
    course.mkdir()
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    arguments = hiding_arguments(course)
    hidden, kept = pairs(arguments, "--tmpfs"), pairs(arguments, "--ro-bind")
    package = Path(autograder.__file__).resolve().parent
    expected = {str(course), str(home)} | {p for p in ("/home", "/root") if Path(p).is_dir()}
    if "site-packages" not in package.parts:  # an editable install: its checkout holds solutions/
        expected.add(str(package.parent))
    assert expected <= set(hidden)
    assert set(kept) == {str(package), str(Path(sys.prefix).resolve()), str(Path(sys.base_prefix).resolve())}
    # bwrap applies its arguments in order: what is put back must come after what hides it.
    assert arguments.index("--ro-bind") > max(i for i, value in enumerate(arguments) if value == "--tmpfs")


def test_an_environment_that_holds_the_course_is_refused(tmp_path, monkeypatch):
    course = tmp_path / "env" / "course"
    course.mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "env"))
    with pytest.raises(SandboxUnavailable, match="could not hide"):
        hiding_arguments(course)
