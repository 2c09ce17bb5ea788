"""Grades from nbgrader's gradebook, as the CSV files that Canvas and Moodle import.

nbgrader has no LMS export of its own (its ``export`` writes one long table);
these write one row per student and one column per assignment, the shape a
learning management system's gradebook import expects. Every student in the
gradebook gets a row; an assignment a student did not submit scores 0, as the
LMS would record a missing submission.

**Canvas** (Grades > Import). The file is a Canvas gradebook export in
miniature. Its header row is ``Student, ID, SIS User ID, SIS Login ID,
Section``, then one column per assignment. Canvas finds each student by one of
``ID``, ``SIS User ID`` or ``SIS Login ID``; this file fills ``SIS Login ID``
with the nbgrader student id (the hub's or LMS's login) and leaves ``ID`` and
``SIS User ID`` empty. ``Student`` is "Last, First" when the gradebook knows
the names. An assignment column whose title matches no Canvas assignment
creates a new one. The second row, ``Points Possible``, gives each
assignment's maximum score, which Canvas reads for new assignments. Scores are
plain numbers.

**Moodle** (Grades > Import > CSV file). The header row names the columns.
Moodle asks, on upload, which column identifies the user ("Map from") and
which user field it matches ("Map to"): map ``Username`` to *username*, or
``Email address`` to *email address*. Each assignment column is then mapped to
a grade item, or to a new grade item. Moodle reads one row per user and no
extra rows, so the maximum scores are not in the file; set each grade item's
maximum grade in Moodle to the one this command prints.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from nbgrader.api import Gradebook

FORMATS = ("canvas", "moodle")


class ExportError(RuntimeError):
    """A request that cannot be exported, in one line for the instructor."""


def _table(db_url: str, assignments: list[str] | None) -> tuple[list[str], dict, list[dict]]:
    """(assignment names, {name: max score}, one dict per student with names, email and scores)."""
    with Gradebook(db_url) as gradebook:
        known = [a.name for a in gradebook.assignments]
        if assignments:
            unknown = [a for a in assignments if a not in known]
            if unknown:
                raise ExportError(f"unknown assignment(s): {', '.join(unknown)}; the gradebook has "
                                  f"{', '.join(known) or 'none'}")
        names = assignments or known
        if not names:
            raise ExportError("the gradebook has no assignments yet: generate and grade one first")
        maxima = {name: gradebook.find_assignment(name).max_score for name in names}
        students = []
        for student in sorted(gradebook.students, key=lambda s: s.id):
            scores = {}
            for name in names:
                try:
                    scores[name] = gradebook.find_submission(name, student.id).score
                except Exception:  # noqa: BLE001 - nbgrader's MissingEntry: not submitted
                    scores[name] = 0.0
            students.append({"id": student.id, "first": student.first_name or "", "last": student.last_name or "",
                             "email": student.email or "", "scores": scores})
    return names, maxima, students


def _number(value: float) -> str:
    return f"{value:g}"


def export(db_url: str, path: str | os.PathLike, lms: str, assignments: list[str] | None = None) -> dict:
    """Write the gradebook at ``db_url`` as ``lms``'s CSV import file at ``path``.

    Return each exported assignment's maximum score, which the instructor may
    have to enter in the LMS.
    """
    if lms not in FORMATS:
        raise ExportError(f"unknown format {lms!r}: choose one of {', '.join(FORMATS)}")
    names, maxima, students = _table(db_url, assignments)
    path = Path(path)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        if lms == "canvas":
            writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *names])
            writer.writerow(["Points Possible", "", "", "", "", *(_number(maxima[n]) for n in names)])
            for s in students:
                display = ", ".join(part for part in (s["last"], s["first"]) if part) or s["id"]
                writer.writerow([display, "", "", s["id"], "", *(_number(s["scores"][n]) for n in names)])
        else:
            writer.writerow(["Username", "Email address", *names])
            for s in students:
                writer.writerow([s["id"], s["email"], *(_number(s["scores"][n]) for n in names)])
    return maxima
