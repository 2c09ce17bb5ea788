"""The GPU suite: every check of the course on a real device, against the CPU.

A package, so that its conftest is imported as ``gpu.conftest`` and never takes
the place of ``tests/conftest.py`` in ``sys.modules["conftest"]``, from which the
other test modules import ``ROOT``.
"""
