"""Every corpus entry gets the right verdict, and the names of its mistakes: all of them, and no other.

Each entry runs through every test cell of its notebook that calls it, visible and hidden,
as a student's notebook runs them (``corpus.harness``).
"""

import pytest

from corpus.harness import entries, run

ENTRIES = entries()


@pytest.mark.parametrize("entry", ENTRIES, ids=[entry.name for entry in ENTRIES])
def test_a_corpus_entry_gets_its_verdict_and_the_names_of_its_mistakes(entry):
    outcome = run(entry)
    assert outcome.cells, f"no test cell of {entry.assignment} calls {entry.function}"
    failures = "\n\n".join(f"[{cell}] {message}" for cell, message in outcome.failures.items())
    if not entry.mistakes:
        assert not outcome.failures, f"a correct implementation fails:\n{failures}"
        return
    assert outcome.failures, "a wrong implementation passes every test cell"
    named = outcome.named
    assert named <= set(entry.mistakes), f"named a mistake it does not have: {named - set(entry.mistakes)}\n{failures}"
    assert set(entry.mistakes) <= named, f"not named: {set(entry.mistakes) - named}\n{failures}"
