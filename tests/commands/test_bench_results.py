"""The committed benchmark results hold every field that the book's appendix "How fast the autograder grades" reads.

``make bench`` writes benchmarks/results/bench.json and check.json, and
``make bench-scale`` benchmarks/results/bench-scale.json; book/grading_speed.md
reads the three and never runs a benchmark itself.
"""

import json
import numbers

import pytest

from conftest import ROOT

RESULTS = ROOT / "benchmarks" / "results"
MACHINE = ("cpu", "cores", "memory_gb", "python", "torch", "nbgrader", "date")


def load(name: str) -> dict:
    path = RESULTS / name
    assert path.is_file(), f"{path} is missing: run `make {'bench-scale' if name == 'bench-scale.json' else 'bench'}`"
    return json.loads(path.read_text())


def number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@pytest.mark.parametrize("name", ["bench.json", "bench-scale.json", "check.json"])
def test_results_describe_their_machine(name):
    machine = load(name)["machine"]
    missing = [key for key in MACHINE if machine.get(key) in (None, "")]
    assert not missing, f"{name}: the machine has no {missing}"
    assert number(machine["cores"]) and machine["cores"] >= 1


def test_bench_has_the_rates_the_floors_and_the_protocol():
    bench = load("bench.json")
    assert number(bench["submissions"]) and number(bench["workers"]) and bench["assignment"]
    for part in ("stock", "ours"):
        assert number(bench[part]["seconds"]) and bench[part]["seconds"] > 0
        assert number(bench[part]["submissions_per_minute"]) and bench[part]["submissions_per_minute"] > 0
    for floor in ("floor", "forked_floor"):
        assert number(bench[floor]["seconds_per_submission"]) and bench[floor]["seconds_per_submission"] > 0
        assert number(bench[floor]["submissions_per_minute"])
    assert bench["ratio"] == pytest.approx(bench["stock"]["seconds"] / bench["ours"]["seconds"], rel=1e-2)
    for key in ("requests", "tests", "seconds"):
        assert number(bench["protocol"][key])
    assert bench["same_scores"] is True


def test_bench_scale_has_both_classes():
    scale = load("bench-scale.json")
    assert scale["small"] < scale["large"]
    for size in (scale["small"], scale["large"]):
        figures = scale["classes"][str(size)]
        assert figures["graded"] == size
        assert number(figures["seconds"]) and number(figures["seconds_per_submission"])
        assert number(figures["gradebook_bytes"]) and figures["gradebook_bytes"] > 0
        assert number(figures["forkserver_rss"]["end_bytes"]) and figures["forkserver_rss"]["end_bytes"] > 0
    small, large = (scale["classes"][str(size)] for size in (scale["small"], scale["large"]))
    assert scale["time_ratio"] == pytest.approx(large["seconds"] / small["seconds"], rel=1e-2)
    assert scale["rss_ratio"] == pytest.approx(
        large["forkserver_rss"]["end_bytes"] / small["forkserver_rss"]["end_bytes"], rel=1e-3)


def test_check_has_both_answers_and_the_import():
    check = load("check.json")
    assert number(check["runs"]) and check["runs"] >= 1
    for name in ("completed", "two_mistakes", "import"):
        assert number(check[name]["median_seconds"]) and check[name]["median_seconds"] > 0
        assert len(check[name]["seconds"]) == check["runs"]
    assert " 0 failed" in check["completed"]["verdict"], "the model answer passes every visible test"
    assert " 0 failed" not in check["two_mistakes"]["verdict"], "two mistakes fail some test"
    assert len(check["two_mistakes"]["mistakes"]) == 2
    assert isinstance(check["import"]["dynamo_loaded"], bool)
