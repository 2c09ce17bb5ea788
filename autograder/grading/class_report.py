"""The class report: how a whole class did on one assignment, as one HTML page.

It shows the score histogram, the pass rate of each test, the most common
failure messages (so the mistakes the harness names can be counted across the
class), the submissions that timed out, crashed, went over a limit
(memory, processes or disk: the reason names it) or could not be read, and
the code the checker flagged as not the student's own work as written, line
by line, for the instructor to read (``grade --allow`` accepts it).
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from ..core.failure import MISTAKE_LABEL, named_mistake  # noqa: E402
from .outcome import Status  # noqa: E402


def _figure_html(figure, alt: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _message_key(message: str) -> str:
    """The part of a failure message that is the same for every student who made the mistake."""
    mistake = named_mistake(message)
    if mistake is not None:
        return MISTAKE_LABEL + mistake
    first = message.splitlines()[0] if message else ""
    # Drop the call description, which differs in shapes and seeds.
    return first.split(": ", 1)[0] + ": " + first.rsplit(":", 1)[-1].strip() if ": " in first else first


def _similarity_link(path: Path, similarity: Path | None) -> str:
    if similarity is None:
        return ""
    href = html.escape(similarity.name if similarity.parent == path.parent else similarity.as_uri())
    return (f'<h2>Similarity</h2><p><a href="{href}">Pairs of answers that stand out as alike</a>: between '
            "students, and with the reference solution, the package or earlier terms.</p>")


def write_class_report(path: Path, assignment: str, outcomes: list, similarity: Path | None = None) -> Path:
    """Write the class report to ``path``; ``similarity``: the similarity report to link to, beside it."""
    scores = [o.score for o in outcomes]
    max_score = max((o.max_score for o in outcomes), default=0)
    figure, axes = plt.subplots(figsize=(6, 3))
    axes.hist(scores, bins=min(20, max(int(max_score), 1) + 1), range=(0, max_score or 1), color="#4472c4")
    axes.set_xlabel("score")
    axes.set_ylabel("students")
    axes.set_title(f"{assignment}: scores of {len(outcomes)} submissions")
    histogram = _figure_html(figure, f"Histogram of the scores of {len(outcomes)} submissions")

    tests = sorted({test for o in outcomes for test in o.tests})
    rates = [sum(1 for o in outcomes if o.tests.get(t) == "") / max(len(outcomes), 1) for t in tests]
    figure, axes = plt.subplots(figsize=(6, 0.3 * len(tests) + 1))
    axes.barh(tests, rates, color="#70ad47")
    axes.set_xlim(0, 1)
    axes.invert_yaxis()
    axes.set_xlabel("fraction of submissions passing")
    pass_rates = _figure_html(figure, "Pass rate of each test")

    messages = Counter(_message_key(m) for o in outcomes for m in o.tests.values() if m)
    problems = [o for o in outcomes if o.status != Status.GRADED]
    rows = lambda cells: "".join(f"<tr>{''.join(f'<td>{html.escape(str(c))}</td>' for c in r)}</tr>" for r in cells)  # noqa: E731
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Class report: {html.escape(assignment)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:auto}}td,th{{border:1px solid #ccc;padding:2px 6px}}
table{{border-collapse:collapse}}</style></head><body>
<h1>Class report: {html.escape(assignment)}</h1>
<p>{len(outcomes)} submissions, mean score {sum(scores) / max(len(scores), 1):.2f} of {max_score:g}.</p>
<h2>Scores</h2>{histogram}
<h2>Pass rate of each test</h2>{pass_rates}
<table><tr><th>test</th><th>passing</th></tr>{rows((t, f"{r:.0%}") for t, r in zip(tests, rates))}</table>
<h2>Most common failures</h2>
<table><tr><th>submissions</th><th>message</th></tr>{rows((n, m) for m, n in messages.most_common(20))}</table>
<h2>Flagged code</h2>
<p>Imports outside the exercise's list, and code that hides what it calls: the tests of the functions it sits in
did not run. Once you have read a submission and accept it, regrade it with
<code>python -m autograder grade {html.escape(assignment)} --allow STUDENT</code>.</p>
<table><tr><th>student</th><th>flagged</th></tr>{rows((o.student, line) for o in outcomes for line in o.flagged) or '<tr><td colspan="2">none</td></tr>'}</table>
<h2>Submissions that timed out, crashed, went over a limit or could not be read</h2>
<table><tr><th>student</th><th>status</th><th>reason</th></tr>{rows((o.student, o.status, o.reason) for o in problems) or '<tr><td colspan="3">none</td></tr>'}</table>
{_similarity_link(path, similarity)}
<h2>Every submission</h2>
<table><tr><th>student</th><th>score</th><th>status</th><th>reason</th><th>seconds</th></tr>
{rows((o.student, f"{o.score:g}/{o.max_score:g}", o.status, o.reason, o.seconds) for o in outcomes)}</table>
</body></html>
"""
    path.write_text(page)
    return path
