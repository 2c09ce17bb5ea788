"""``python -m autograder similarity ASSIGNMENT``: the class's answers compared, and a page of the pairs that stand out.

It reads the code answer cells of every submission in nbgrader's submitted
folder, of the reference solution (``solutions/``), of the package's source
files that the assignment's checks compare with, and of earlier terms'
notebooks when folders of them are given; compares them (``similarity``); and
writes ``grading/similarity-<assignment>.html``, which the class report links
to. Nothing leaves the machine.
"""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path

import nbformat

from .. import cells, registry
from .course import course_api, submitted_students
from .similarity import (EARLIER, MIN_PAIRS, PACKAGE, REFERENCE, STUDENT, Z_FLAG, Answer, boilerplate_of, compare_class,
                         flagged)


MAX_CHARACTERS = 10_000  # over three times the longest reference answer; a pair of them takes 40 ms


def report_path(root, assignment: str) -> Path:
    return Path(root).resolve() / "grading" / f"similarity-{assignment}.html"


def answer_cells(notebook: Path) -> dict[str, str]:
    """grade_id -> source of each code answer cell of a notebook ({} for one that cannot be read).

    An answer longer than ``MAX_CHARACTERS`` is compared by its beginning: a
    submission of megabytes cannot make the report slow.
    """
    try:
        read = nbformat.read(notebook, as_version=4)
        return {cells.grade_id(c): str(c.source)[:MAX_CHARACTERS] for c in read.cells
                if c.get("cell_type") == "code" and cells.is_solution(c) and cells.grade_id(c)}
    except Exception:  # noqa: BLE001 - a broken or hostile notebook has nothing to compare
        return {}


def package_files(assignment: str) -> list[Path]:
    """The source files of the assignment's exercise packages, found without importing them."""
    found = []
    for name in registry.assignment(assignment).packages:
        spec = importlib.util.find_spec(f"autograder.{name}")
        origin = Path(spec.origin)
        found.extend(sorted(origin.parent.glob("*.py")) if origin.name == "__init__.py" else [origin])
    return found


def gather(root, assignment: str, earlier: list[str] = ()) -> tuple[dict, dict, dict]:
    """The students' answers, the sources and the boilerplate, each by cell."""
    api = course_api(root)
    course = Path(api.coursedir.root)
    release = answer_cells(course / api.coursedir.release_directory / assignment / f"{assignment}.ipynb")
    answers = {cell: [] for cell in release}
    for student in submitted_students(api, assignment):
        folder = course / api.coursedir.submitted_directory / student / assignment
        for notebook in sorted(folder.glob("*.ipynb")):
            for cell, code in answer_cells(notebook).items():
                if cell in answers:
                    answers[cell].append(Answer(student, STUDENT, cell, code))
    sources = {cell: [] for cell in release}
    reference = answer_cells(course / api.coursedir.source_directory / assignment / f"{assignment}.ipynb")
    package = [(path, path.read_text()) for path in package_files(assignment)]
    base = Path(importlib.util.find_spec("autograder").origin).parent.parent  # names like autograder/batch_norm.py
    for cell in release:
        if cell in reference:
            sources[cell].append(Answer("reference solution", REFERENCE, cell, reference[cell]))
        sources[cell].extend(Answer(path.relative_to(base).as_posix(), PACKAGE, cell, code) for path, code in package)
    for folder in earlier:
        for notebook in sorted(Path(folder).rglob("*.ipynb")):
            owner = f"{Path(folder).name}/{notebook.relative_to(folder).as_posix()}"
            for cell, code in answer_cells(notebook).items():
                if cell in sources:
                    sources[cell].append(Answer(owner, EARLIER, cell, code))
    return answers, sources, {cell: code for cell, code in release.items()}


def write_similarity_report(root, assignment: str, earlier: list[str] = (), log=print) -> Path:
    registry.assignment(assignment)  # an unknown name: a KeyError that lists the known ones
    answers, sources, release = gather(root, assignment, earlier)
    boilerplate = {cell: boilerplate_of(code) for cell, code in release.items()}
    pairs, baselines = compare_class(answers, sources, boilerplate)
    suspicious = flagged(pairs)
    path = report_path(root, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_page(assignment, answers, pairs, baselines, suspicious, earlier))
    log(f"{len(suspicious)} of {len(pairs)} pairs stand out; similarity report written to {path}")
    return path


def _page(assignment, answers, pairs, baselines, suspicious, earlier) -> str:
    escape = html.escape
    students = sorted({a.owner for cell_answers in answers.values() for a in cell_answers})
    rows = "".join(
        f"<tr><td>{escape(cell)}</td><td>{b.pairs}{' (every cell)' if b.pooled else ''}</td><td>{b.median:.2f}</td><td>{b.spread:.2f}</td>"
        f"<td>{b.median + Z_FLAG * b.spread:.2f}</td><td>{sum(p.cell == cell for p in suspicious)}</td></tr>"
        for cell, b in baselines.items())
    sections = []
    for pair in suspicious:
        mine, theirs = pair.passages()
        sections.append(
            f"<section><h3>{escape(pair.cell)}: {escape(pair.student.owner)} and {escape(pair.other.owner)}"
            f"{'' if pair.other.kind == STUDENT else f' ({escape(pair.other.kind)})'}</h3><p>similarity {pair.score:.2f}, robust z-score {pair.z:.1f}</p>"
            f'<div class="pair"><pre>{mine}</pre><pre>{theirs}</pre></div></section>')
    sources = ("the reference solution, the package's source files and earlier terms' submissions in "
               + ", ".join(escape(str(f)) for f in earlier)) if earlier else \
        "the reference solution and the package's source files"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Similarity: {escape(assignment)}</title>
<style>body{{font-family:sans-serif;max-width:80em;margin:auto}}td,th{{border:1px solid #ccc;padding:2px 6px}}
table{{border-collapse:collapse}}.pair{{display:grid;grid-template-columns:1fr 1fr;gap:1em}}
pre{{background:#f6f6f6;padding:.5em;overflow-x:auto;font-size:85%}}mark{{background:#ffd966}}</style></head><body>
<h1>Similarity: {escape(assignment)}</h1>
<p>The code answer cells of {len(students)} submissions, compared with each other and with {sources}, by
copydetect's winnowing (names, comments and spacing do not count; what the released cell holds counts for no one).
A pair is listed when its similarity stands out from the class's own pairs on that cell (a cell with fewer than
{MIN_PAIRS} pairs of students is judged by the pairs of every cell): a robust z-score of at least {Z_FLAG:g}. A listed pair is a reason to read both answers, not a verdict.</p>
<h2>The class's pairs on each cell</h2>
<table><tr><th>cell</th><th>pairs of students</th><th>median similarity</th><th>robust spread</th>
<th>listed from</th><th>pairs listed</th></tr>{rows}</table>
<h2>Pairs that stand out ({len(suspicious)} of {len(pairs)})</h2>
{''.join(sections) or '<p>none</p>'}
</body></html>
"""
