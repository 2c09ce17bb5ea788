"""The course end to end: nbgrader, a class graded in sandboxes, the hostile corpus, a JupyterHub: slow, so `make test-fast` leaves them out."""

import pytest


def pytest_collection_modifyitems(config, items):
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.fspath).startswith(here + "/"):
            item.add_marker(pytest.mark.slow)
