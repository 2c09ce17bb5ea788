"""Which answers are more alike than a class's independent work is: copydetect's winnowing, judged by the class.

Each answer cell of code (a function or a class the student writes) is compared
on its own, with copydetect (the winnowing of Schleimer, Wilkerson and Aiken,
as MOSS does): the code is tokenized, its names replaced by their kind (a
variable by ``V``, a function by ``F``), its comments and spacing dropped, and
the fingerprints that two answers share give the share of each answer found in
the other. Renamed variables, reordered functions, new comments or spacing
change nothing of that; inlining a helper leaves most of it.

An answer is compared with every other student's answer to the same cell, with
the reference solution's, with the package's own implementations (the source
files of the exercise's package, which students can read in the wheel) and with
earlier terms' answers. What the released notebook already holds (the
signature, the docstring) is boilerplate, and counts for no one.

Short functions look alike even when written apart, so no similarity is
suspicious in itself: a pair is flagged when it stands out from the class's own
pairs on that cell, by its robust z-score (distance from their median, in
median absolute deviations scaled to a standard deviation) of at least
``Z_FLAG``.
"""

from __future__ import annotations

import html
import io
import statistics
from dataclasses import dataclass, field

from copydetect import CodeFingerprint, compare_files
from copydetect.utils import highlight_overlap

# copydetect's defaults: fingerprints of 25 characters of tokenized code, every one kept (a window of 1).
NOISE = 25
GUARANTEE = 25
Z_FLAG = 3.5                 # Iglewicz and Hoaglin's cut for outliers by the modified z-score
MIN_SPREAD = 0.05            # a class whose pairs all score alike still has this much spread: no z of infinity
MIN_PAIRS = 10               # fewer pairs on a cell than this: the class's pairs on every cell are the baseline
STUDENT, REFERENCE, PACKAGE, EARLIER = "student", "reference solution", "package", "earlier term"


@dataclass
class Answer:
    """One answer to one cell: ``owner`` wrote ``code`` (a student id, or where a source comes from)."""

    owner: str
    kind: str
    cell: str
    code: str
    fingerprint: CodeFingerprint | None = field(default=None, repr=False)


@dataclass
class Pair:
    cell: str
    student: Answer
    other: Answer
    score: float             # the share of the answers found in each other (0 to 1)
    slices: tuple            # copydetect's copied slices in each answer's code
    z: float = 0.0

    def passages(self) -> tuple[str, str]:
        """Both answers as HTML, the passages they share in <mark>."""
        return tuple(highlight_overlap(answer.code, slices, "<mark>", "</mark>", escape_html=True)[0]
                     if slices.size else html.escape(answer.code)
                     for answer, slices in zip((self.student, self.other), self.slices))


@dataclass
class Baseline:
    """The class's own pairs on a cell: their median and their robust spread."""

    pairs: int
    median: float
    spread: float
    pooled: bool = False     # the class's pairs on every cell: too few on this one

    def z(self, score: float) -> float:
        return (score - self.median) / self.spread


def fingerprint(answer: Answer, boilerplate) -> Answer:
    answer.fingerprint = CodeFingerprint(f"{answer.owner}.py", NOISE, GUARANTEE - NOISE + 1, boilerplate,
                                         fp=io.StringIO(answer.code), language="python")
    return answer


def boilerplate_of(code: str):
    """The fingerprints of the released answer cell: what every student starts from."""
    stub = CodeFingerprint("stub.py", NOISE, GUARANTEE - NOISE + 1, fp=io.StringIO(code), language="python")
    return list(stub.hashes)


def compare(student: Answer, other: Answer) -> Pair:
    _, (mine, theirs), slices = compare_files(student.fingerprint, other.fingerprint)
    # Between students: the larger share, so that a short answer wholly inside a longer one counts.
    # Against a source (reference, package, earlier term): how much of the student's answer it holds.
    score = max(mine, theirs) if other.kind == STUDENT else mine
    return Pair(student.cell, student, other, float(score), slices)


def baseline(scores: list[float], pooled: bool = False) -> Baseline:
    median = statistics.median(scores)
    deviation = statistics.median(abs(score - median) for score in scores)
    return Baseline(len(scores), median, max(1.4826 * deviation, MIN_SPREAD), pooled)


def compare_class(answers: dict[str, list[Answer]], sources: dict[str, list[Answer]],
                  boilerplate: dict[str, list]) -> tuple[list[Pair], dict[str, Baseline]]:
    """Every pair of each cell (students' ``answers`` and ``sources``, by cell), each with its z-score.

    Returns the pairs and the baseline that judged each cell. An answer that adds
    nothing to its released cell (left as released, or empty) is compared with nothing.
    """
    pairs, class_scores = [], {}
    for cell, cell_answers in answers.items():
        written = [fingerprint(a, boilerplate.get(cell)) for a in cell_answers]
        written = [a for a in written if a.fingerprint.token_coverage > 0]
        others = [a for a in (fingerprint(s, boilerplate.get(cell)) for s in sources.get(cell, []))
                  if a.fingerprint.token_coverage > 0]
        for i, student in enumerate(written):
            pairs.extend(compare(student, other) for other in written[i + 1:])
            pairs.extend(compare(student, other) for other in others)
        class_scores[cell] = [p.score for p in pairs if p.cell == cell and p.other.kind == STUDENT]
    everyone = [score for scores in class_scores.values() for score in scores]
    baselines = {}
    for cell, scores in class_scores.items():
        pooled = len(scores) < MIN_PAIRS
        chosen = everyone if pooled else scores
        if any(p.cell == cell for p in pairs) and len(chosen) >= 3:
            baselines[cell] = baseline(chosen, pooled)
    for pair in pairs:
        if pair.cell in baselines:
            pair.z = baselines[pair.cell].z(pair.score)
    return pairs, baselines


def flagged(pairs: list[Pair]) -> list[Pair]:
    """The pairs that stand out from their class, the most alike first."""
    return sorted((p for p in pairs if p.z >= Z_FLAG), key=lambda p: (-p.z, p.cell, p.student.owner))
