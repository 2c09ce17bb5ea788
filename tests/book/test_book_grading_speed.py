"""The appendix "How fast the autograder grades": every number its text shows comes from the results files.

The page reads benchmarks/results/bench.json, bench-scale.json and check.json and glues
what it states. These tests read the same files, compute each glued value
again, format it with the role's own format specification, and compare it with
what the built page shows; the page must also draw its figures with alt text.
"""

import json
import re

import pytest

from conftest import ROOT
from helpers import chapter_page, glued

CHAPTER = "book/grading_speed"
GLUE_ROLE = re.compile(r"\{glue:text\}`([^`:]+)(?::([^`]*))?`")
CODE_CELL = re.compile(r"^```\{code-cell\}.*?^```$", re.S | re.M)
RESULTS = ROOT / "benchmarks" / "results"


def expected() -> dict:
    """name -> the value that the page glues, computed here from the results files."""
    bench = json.loads((RESULTS / "bench.json").read_text())
    scale = json.loads((RESULTS / "bench-scale.json").read_text())
    check = json.loads((RESULTS / "check.json").read_text())
    machine, protocol = bench["machine"], bench["protocol"]
    small, large = scale["classes"][str(scale["small"])], scale["classes"][str(scale["large"])]
    return {
        "bench_submissions": bench["submissions"], "bench_assignment": bench["assignment"],
        "bench_cores": machine["cores"], "bench_cpu": machine["cpu"], "bench_memory_gb": machine["memory_gb"],
        "bench_date": machine["date"][:10], "bench_python": machine["python"], "bench_torch": machine["torch"],
        "bench_nbgrader": machine["nbgrader"],
        "stock_rate": bench["stock"]["submissions_per_minute"], "stock_seconds": bench["stock"]["seconds"],
        "ours_rate": bench["ours"]["submissions_per_minute"], "ours_seconds": bench["ours"]["seconds"],
        "bench_ratio": bench["ratio"],
        "floor_seconds": bench["floor"]["seconds_per_submission"],
        "floor_rate": bench["floor"]["submissions_per_minute"],
        "forked_seconds": bench["forked_floor"]["seconds_per_submission"],
        "forked_rate": bench["forked_floor"]["submissions_per_minute"],
        "same_scores": "the same scores" if bench["same_scores"] else "different scores",
        "forked_comparison": forked_comparison(bench),
        "protocol_requests": protocol["requests"], "protocol_tests": protocol["tests"],
        "protocol_seconds": protocol["seconds"],
        "protocol_share": 100 * protocol["seconds"] * bench["submissions"] / (bench["ours"]["seconds"] * bench["workers"]),
        "protocol_ms_per_request": 1000 * protocol["seconds"] / max(1, protocol["requests"]),
        "scale_small": scale["small"], "scale_large": scale["large"],
        "scale_factor": scale["large"] / scale["small"], "scale_cores": scale["machine"]["cores"],
        "scale_date": scale["machine"]["date"][:10],
        "small_seconds": small["seconds"], "large_seconds": large["seconds"],
        "small_ms": 1000 * small["seconds_per_submission"], "large_ms": 1000 * large["seconds_per_submission"],
        "time_ratio": scale["time_ratio"], "time_target": scale["time_target"],
        "time_verdict": "within" if scale["time_ratio"] <= scale["time_target"] else "beyond",
        "small_rss_mb": small["forkserver_rss"]["end_bytes"] / 1e6,
        "large_rss_mb": large["forkserver_rss"]["end_bytes"] / 1e6,
        "rss_change": 100 * (scale["rss_ratio"] - 1),
        "small_gradebook_mb": small["gradebook_bytes"] / 1e6, "large_gradebook_mb": large["gradebook_bytes"] / 1e6,
        "check_runs": check["runs"], "check_date": check["machine"]["date"][:10],
        "check_cores": check["machine"]["cores"],
        "check_completed_seconds": check["completed"]["median_seconds"],
        "check_completed_verdict": check["completed"]["verdict"],
        "check_mistakes_seconds": check["two_mistakes"]["median_seconds"],
        "check_mistakes_verdict": check["two_mistakes"]["verdict"],
        "import_seconds": check["import"]["median_seconds"],
        "import_dynamo": "loads" if check["import"]["dynamo_loaded"] else "does not load",
        "gradebook_kb_per_submission":
            (large["gradebook_bytes"] - small["gradebook_bytes"]) / 1e3 / (scale["large"] - scale["small"]),
    }


def forked_comparison(bench: dict) -> str:
    ours, forked = bench["ours"]["submissions_per_minute"], bench["forked_floor"]["submissions_per_minute"]
    if ours <= forked:
        return (f"grades at {100 * ours / forked:.0f} % of the rate of that floor, paying beyond it for "
                "the sandbox, the checker and the gradebook of nbgrader")
    return (f"grades {ours / forked:.2f} times as fast as that floor: the floor runs one submission at a "
            f"time on each core, while the grader runs {bench['workers']} at once on "
            f"{bench['machine']['cores']} cores, so that the waits of one submission (its kernel "
            "starting, the requests of its checker) overlap the work of another")


@pytest.fixture(scope="module")
def page(built_book):
    return chapter_page(built_book, CHAPTER)


def test_every_glued_number_is_that_of_the_results_files(page):
    roles = GLUE_ROLE.findall(CODE_CELL.sub("", (ROOT / f"{CHAPTER}.md").read_text()))
    shown = glued(page)
    assert len(shown) == len(roles), "a glue role of the page did not render"
    values = expected()
    unknown = sorted({name for name, _ in roles} - set(values))
    assert not unknown, f"glued on the page but not checked here: {unknown}"
    wrong = [f"{name}: shows {text!r}, the results files give {format(values[name], spec)!r}"
             for (name, spec), text in zip(roles, shown) if text != format(values[name], spec)]
    assert not wrong, "\n".join(wrong)


def test_the_page_draws_its_figures_with_alt_text(page):
    images = page.select("div.cell_output img")
    assert len(images) == 2, "the throughput chart and the time per submission chart"
    for image in images:
        alt = (image.get("alt") or "").strip()
        assert alt and not alt.endswith(".png"), f"a figure without alt text: {image.get('src')}"


def test_the_page_runs_no_benchmark():
    source = (ROOT / f"{CHAPTER}.md").read_text()
    for code in CODE_CELL.findall(source):
        for runs in ("subprocess", "os.system", "import autograder", "from autograder", "grading.py", "scale.py", "check.py"):
            assert runs not in code, f"a cell of the page runs something: {runs}"
