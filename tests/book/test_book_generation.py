"""The generation chapter: what its cells printed backs what its text says, and the text shows the printed numbers.

The measurements are not hard-coded in the chapter, so the tests read what the
cells printed, check the claims the text makes about them, and check that the
numbers glued into the text are the printed ones.
"""

import re

import pytest

from helpers import chapter_page, glued, printed

CHAPTER = "book/attention/generation"
FLOAT = r"[-+]?\d+\.\d+(?:e[-+]\d+)?"


@pytest.fixture(scope="module")
def text(built_book):
    return printed(built_book, CHAPTER)


@pytest.fixture(scope="module")
def pasted(built_book):
    return glued(chapter_page(built_book, CHAPTER))


def number(text, pattern) -> float:
    found = re.search(pattern, text)
    assert found, pattern
    return float(found.group(1))


def test_teacher_forcing_and_generation_compute_the_same_logits(text, pasted):
    difference = number(text, rf"one teacher-forced pass: max difference ({FLOAT})")
    assert difference < 1e-5
    assert f"{difference:.0e}" in pasted


def test_cross_attention_is_causal_in_the_target_and_reads_the_whole_source(text, pasted):
    assert number(text, rf"earlier outputs move by ({FLOAT})") == 0.0
    smallest = number(text, rf"the smallest change over the 10 positions is ({FLOAT})")
    assert smallest > 1e-3
    assert f"{smallest:.2f}" in pasted


def test_the_cache_has_the_size_of_the_formula(text, pasted):
    found = re.search(r"our model, (\d+) tokens in float32: (\d+) bytes measured, (\d+) by the formula", text)
    assert found and found.group(2) == found.group(3)
    assert found.group(2) in pasted and found.group(1) in pasted
    # LLaMA 2 7B: 32 layers of 32 heads of 128, float16: half a MiB per token, 2 GiB for 4096 tokens.
    assert "LLaMA 2 7B: 0.50 MiB per token, 2.00 GiB for 4096 tokens" in text
    assert "GPT-2 small: 36 MiB for 1024 tokens" in text


def test_the_cache_gives_the_same_tokens_with_linear_operations_and_less_time(text, pasted):
    rows = re.findall(rf"n = +(\d+): +({FLOAT}) ms with the cache, +({FLOAT}) ms without; +({FLOAT}) and +({FLOAT}) "
                      "MFLOP", text)
    assert len(rows) >= 3, text
    assert "the same tokens with and without the cache: True" in text and "the same tokens" in pasted
    n, cached, uncached, cached_flops, uncached_flops = map(float, rows[-1])
    _, _, _, previous_cached, previous_uncached = map(float, rows[-2])
    # The text: doubling n multiplies the operations by a little more than two with the cache (linear, plus
    # attention's quadratic term) and by more than four without (quadratic, plus attention's cubic term).
    assert 2.0 < cached_flops / previous_cached < 3.0
    assert 4.0 < uncached_flops / previous_uncached < 8.0
    assert "FlopCounterMode and the formula agree for 16 tokens" in text
    assert uncached > cached, "the text says the cache makes generation faster"
    assert f"{uncached / cached:.1f}" in pasted and f"{int(n)}" in pasted


def test_positions_restarted_at_zero_give_other_logits(text, pasted):
    assert number(text, rf"logits within ({FLOAT}) of teacher forcing") < 1e-5
    error = number(text, rf"positions restarted at 0: logits off by up to ({FLOAT})")
    assert error > 0.1 and f"{error:.2f}" in pasted
    first = re.search(r"first different token: (\d+)", text)
    assert first and first.group(1) in pasted
