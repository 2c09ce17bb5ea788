"""What nbgrader's metadata says of a notebook cell, read in one place.

nbgrader keeps a cell's role in ``cell.metadata["nbgrader"]``: whether it is
graded (``grade``), an answer (``solution``), locked, its ``grade_id``, its
``points`` and the ``checksum`` of the released cell. These readers follow
nbgrader's own (``nbgrader/utils.py``), without importing it: that import alone
costs a student's ``check`` about 2.4 s. They take an nbformat cell or the plain
dict it was read from.
"""

from __future__ import annotations

import hashlib
from typing import Mapping


def nbgrader(cell) -> Mapping:
    """The cell's nbgrader metadata ({} for a cell nbgrader does not know)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def is_grade(cell) -> bool:
    """A cell nbgrader gives points to: a test, or an answer graded by hand."""
    return bool(nbgrader(cell).get("grade", False))


def is_solution(cell) -> bool:
    """A cell the student writes."""
    return bool(nbgrader(cell).get("solution", False))


def is_locked(cell) -> bool:
    """A cell the student may not change: an answer never is, a graded cell that is no answer always is."""
    if is_solution(cell):
        return False
    if is_grade(cell):
        return True
    return bool(nbgrader(cell).get("locked", False))


def is_test(cell) -> bool:
    """A code cell that nbgrader grades by running it: graded and no answer."""
    return cell.get("cell_type") == "code" and is_grade(cell) and not is_solution(cell)


def grade_id(cell) -> str | None:
    """The cell's name in the gradebook (None for a cell nbgrader does not know)."""
    return nbgrader(cell).get("grade_id")


def points(cell) -> float:
    """The points a graded cell is worth (a ``KeyError`` for a cell without any)."""
    return float(nbgrader(cell)["points"])


def released_checksum(cell) -> str | None:
    """The checksum nbgrader recorded of the cell as released (None when it recorded none)."""
    return nbgrader(cell).get("checksum")


def compute_checksum(cell) -> str:
    """nbgrader's checksum of a cell (``nbgrader.utils.compute_checksum``): an answer left as released keeps it."""
    digest = hashlib.md5()
    for part in (cell["source"], cell["cell_type"], str(is_grade(cell)), str(is_solution(cell)),
                 str(is_locked(cell)), nbgrader(cell)["grade_id"]):
        digest.update(part.encode("utf-8"))
    if is_grade(cell):
        digest.update(str(points(cell)).encode("utf-8"))
    return digest.hexdigest()
