"""Naming the mistakes behind a wrong result: one planted mistake, or several together, aspect by aspect.

Real code often has two mistakes at once (CS231n's biased ``running_var`` and epsilon
outside the square root), and then no single planted mistake reproduces its result.
So the planted mistakes of one implementation are switches that combine: after a
check has failed, ``diagnose`` tries each planted mistake alone, then every pair of
them that can come together (then triples, while there are few), and stops at the
first combination whose result agrees with the student's. It names every mistake of
that combination.

When no combination reproduces the whole result, each wrong *aspect* of it (the
output, each tensor updated in place, each gradient) is diagnosed on its own, and
the failure names the mistake behind each aspect that one explains: a bug the
catalog does not know in the output does not hide the planted mistake that explains
the running statistics.

A combination is tried only when its mistakes are planted in the same base by
switches that differ (two values of one switch exclude each other) and neither
declares the other in its ``excludes``. A planted mistake whose result equals the
right one on these inputs explains nothing and is skipped, alone or combined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from .mistakes import Convention, Mistake, Planted

# Triples are tried only while they are few: their count grows as the cube of the catalog.
MAX_TRIPLES = 120


@dataclass(frozen=True)
class Candidate:
    """Planted mistakes turned on together, and the function that has them all."""

    planted: tuple[Planted, ...]
    function: Callable

    @property
    def mistakes(self) -> tuple[Mistake, ...]:
        return tuple(p.mistake for p in self.planted)


@dataclass(frozen=True)
class Diagnosis:
    """The mistakes a failure names, each once, in order; ``by_aspect``: which aspect each set explains."""

    mistakes: tuple[Mistake, ...] = ()
    by_aspect: Mapping[str, tuple[Mistake, ...]] = field(default_factory=dict)
    # Several combinations of mistakes give the student's result: only what they share is named.
    undecided: bool = False

    def __bool__(self) -> bool:
        return bool(self.mistakes)

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(m.words for m in self.mistakes)


def can_combine(planted: Sequence[Planted]) -> bool:
    """Whether these planted mistakes can be turned on together in one implementation."""
    recipes = [p.recipe for p in planted]
    if any(r is None for r in recipes):
        return False
    first = recipes[0]
    if any(r.base is not first.base or r.positional != first.positional or r.run_as is not first.run_as
           for r in recipes[1:]):
        return False
    keys = [key for r in recipes for key, _ in r.switch]
    if not keys or len(keys) != len(set(keys)) or any(not r.switch for r in recipes):
        return False
    ids = {p.mistake.id for p in planted}
    return len(ids) == len(planted) and not any(p.excludes & (ids - {p.mistake.id}) for p in planted)


def combine(planted: Sequence[Planted]) -> Candidate:
    """The candidate with every one of ``planted`` turned on (they must ``can_combine``)."""
    if len(planted) == 1:
        return Candidate(tuple(planted), planted[0].function)
    switch = {key: value for p in planted for key, value in p.recipe.switch}
    return Candidate(tuple(planted), planted[0].recipe.function(switch))


def pairs(planted: Iterable[Planted]) -> list[tuple[Planted, Planted]]:
    """Every pair of ``planted`` that can come together, in the catalog's order."""
    return [pair for pair in combinations(list(planted), 2) if can_combine(pair)]


def candidates(planted: Sequence[Planted], size: int = 3) -> Iterator[Candidate]:
    """Singles, then pairs, then (while they are few) triples of ``planted`` that combine."""
    planted = list(planted)
    for one in planted:
        yield Candidate((one,), one.function)
    if size < 2:
        return
    for pair in pairs(planted):
        yield combine(pair)
    if size < 3:
        return
    triples = [t for t in combinations(planted, 3) if can_combine(t)]
    if len(triples) <= MAX_TRIPLES:
        for triple in triples:
            yield combine(triple)


def diagnose(
    actual,
    expected,
    planted: Iterable[Planted],
    run: Callable[[Callable], object],
    agree: Callable[[object, object], bool],
    aspects: Mapping[str, Callable[[object, object], bool]] | None = None,
    size: int = 3,
) -> Diagnosis:
    """The planted mistakes, alone or together, whose result the student's agrees with.

    ``run(function)`` gives a candidate's result on the same inputs (or raises, and then
    that candidate says nothing); ``agree(a, b)`` compares two whole results as the check
    does. ``aspects`` maps each aspect's name to how the check compares that aspect of two
    results; given, an aspect that no combination explains with the rest is diagnosed on
    its own. ``size`` caps how many mistakes a combination holds.
    """
    planted = list(planted)
    results: dict[int, object] = {}  # a candidate's result, by its place in the search
    useless: set[int] = set()  # planted mistakes whose result is the right one on these inputs, by id()

    def result_of(index: int, candidate: Candidate):
        if index not in results:
            try:
                results[index] = run(candidate.function)
            except Exception:  # noqa: BLE001 - a variant that cannot run on these inputs says nothing
                results[index] = _FAILED
        return results[index]

    searched, matches = [], []
    for index, candidate in enumerate(candidates(planted, size)):
        if matches and len(candidate.planted) > len(matches[0].planted):
            break
        if any(id(p) in useless for p in candidate.planted):
            continue
        searched.append((index, candidate))
        wrong = result_of(index, candidate)
        if wrong is _FAILED:
            continue
        if _safely(agree, wrong, expected):
            if len(candidate.planted) == 1:
                useless.add(id(candidate.planted[0]))
            continue
        if _safely(agree, actual, wrong):
            if len(candidate.planted) == 1:
                return Diagnosis(_with_components(candidate, planted))
            # A combination may not be the only one that gives this result (two mistakes that both
            # turn the output into NaN): the other combinations of its size are tried too.
            matches.append(candidate)
    if matches:
        return _shared(matches, planted)
    if not aspects:
        return Diagnosis()
    by_aspect = {}
    for aspect, same in aspects.items():
        if _safely(same, actual, expected):
            continue  # this aspect is right: nothing to explain
        for index, candidate in searched:
            wrong = results.get(index, _FAILED)
            if wrong is _FAILED or _safely(same, wrong, expected):
                continue
            if _safely(same, actual, wrong):
                by_aspect[aspect] = _with_components(candidate, planted)
                break
    named = tuple(dict.fromkeys(m for found in by_aspect.values() for m in found))
    return Diagnosis(named, by_aspect)


_FAILED = object()


def _shared(matches: Sequence[Candidate], planted: Sequence[Planted]) -> Diagnosis:
    """The mistakes that every matching combination holds: a mistake only one of them has may not be there."""
    named = [_with_components(candidate, planted) for candidate in matches]
    common = tuple(m for m in named[0] if all(m in others for others in named[1:]))
    return Diagnosis(common, undecided=len(matches) > 1)


def _safely(same, a, b) -> bool:
    try:
        return bool(same(a, b))
    except Exception:  # noqa: BLE001 - results that cannot be compared do not agree
        return False


def _with_components(candidate: Candidate, planted: Sequence[Planted]) -> tuple[Mistake, ...]:
    """The candidate's mistakes; a convention that is two planted mistakes at once is named with both.

    The Annotated Transformer's ``x.std() + eps`` is the unbiased standard deviation *and*
    epsilon outside the root: the student reads each mistake, then whose convention it is.
    """
    named = []
    for one in candidate.planted:
        if isinstance(one.mistake, Convention) and one.recipe is not None and len(one.recipe.switch) > 1:
            named.extend(_components(one, planted))
        named.append(one.mistake)
    return tuple(dict.fromkeys(named))


def _components(convention: Planted, planted: Sequence[Planted]) -> list[Mistake]:
    """The planted mistakes whose switches, together, are exactly those of ``convention``."""
    wanted = set(convention.recipe.switch)
    parts = [p for p in planted if p is not convention and p.recipe is not None and p.recipe.switch
             and p.recipe.base is convention.recipe.base and set(p.recipe.switch) <= wanted]
    for size in range(2, len(parts) + 1):
        for group in combinations(parts, size):
            if can_combine(group) and {s for p in group for s in p.recipe.switch} == wanted:
                return [p.mistake for p in group]
    return []
