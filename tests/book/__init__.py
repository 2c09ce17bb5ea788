"""Tests of the course: a package, so that its conftest and modules never take the place of tests/conftest.py."""
