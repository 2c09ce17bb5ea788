"""What the grading sandbox hides from a submission, and what it puts back (bubblewrap's arguments)."""

import sys
from pathlib import Path

import pytest

import autograder
from autograder.sandbox import bwrap
from autograder.sandbox.bwrap import SandboxUnavailable, hiding_arguments, package_copies


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
    # Python and its environment come back; the package does not (the kernel holds its own side already).
    assert set(kept) == {str(Path(sys.prefix).resolve()), str(Path(sys.base_prefix).resolve())}
    # bwrap applies its arguments in order: what is put back must come after what hides it.
    first_kept = arguments.index("--ro-bind")
    assert first_kept > max(i for i, value in enumerate(arguments[:first_kept]) if value == "--tmpfs")


def test_every_copy_of_the_package_is_hidden_even_inside_the_environment(tmp_path, monkeypatch):
    # A copy of the package installed in the environment, which the sandbox puts back: hidden after it.
    environment = tmp_path / "env"
    installed = environment / "lib" / "site-packages" / "autograder"
    installed.mkdir(parents=True)
    (installed / "__init__.py").write_text("")
    monkeypatch.setattr(sys, "prefix", str(environment))
    monkeypatch.setattr(bwrap, "package_copies", lambda: package_copies() | {installed})
    arguments = hiding_arguments(tmp_path / "course")
    hidden = pairs(arguments, "--tmpfs")
    assert str(installed) in hidden
    assert arguments.index(str(installed)) > arguments.index(str(environment))  # over what put it back
    assert str(Path(autograder.__file__).resolve().parent) not in pairs(arguments, "--ro-bind")


def test_an_environment_that_holds_the_course_is_refused(tmp_path, monkeypatch):
    course = tmp_path / "env" / "course"
    course.mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "env"))
    with pytest.raises(SandboxUnavailable, match="could not hide"):
        hiding_arguments(course)
