"""Print how the checks fare on the corpus: wrong verdicts, and the share of wrong entries whose mistakes are named.

Run from the repository root: ``PYTHONPATH=$PWD:tests python tests/corpus/measure.py [package ...]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # so that ``corpus`` imports as in the tests

from corpus.harness import entries, run  # noqa: E402


def main(only: list[str]) -> None:
    chosen = [e for e in entries() if not only or any(e.name.startswith(p) or e.assignment == p for p in only)]
    wrong_verdicts, wrong, named, misnamed = [], 0, 0, []
    for entry in chosen:
        outcome = run(entry)
        if bool(outcome.failures) != bool(entry.mistakes):
            wrong_verdicts.append(entry.name)
        if not entry.mistakes:
            continue
        wrong += 1
        extra = outcome.named - set(entry.mistakes)
        if extra:
            misnamed.append(f"{entry.name}: {sorted(extra)}")
        if outcome.all_named:
            named += 1
        else:
            print(f"not all named: {entry.name}: expected {sorted(entry.mistakes)}, named {sorted(outcome.named)}")
    print(f"entries: {len(chosen)} ({len(chosen) - wrong} correct, {wrong} wrong)")
    print(f"wrong verdicts: {len(wrong_verdicts)} {wrong_verdicts if wrong_verdicts else ''}")
    print(f"misnamed: {len(misnamed)}" + "".join(f"\n  {line}" for line in misnamed))
    share = named / wrong if wrong else 1.0
    print(f"wrong implementations with every mistake named: {named} of {wrong} ({share:.0%})")


if __name__ == "__main__":
    main(sys.argv[1:])
