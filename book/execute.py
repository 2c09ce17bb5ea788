"""Execute the book's chapters in parallel, into the cache that the book build reads.

`jupyter-book build` executes a chapter when it reaches its page, one page after
the other, so a clean build waits for the sum of the chapters' times. This script
runs before it (`make book`): it reads every page of `_toc.yml` as myst-nb reads it,
and executes the ones whose code is not in `_build/.jupyter_cache` yet in a pool of
processes, one per CPU, the longest first. It stores each executed notebook in the
cache as myst-nb does, so that the build then finds every page there and only
renders. A chapter that fails is left out of the cache: the build executes it
again and reports its error as usual.

Each kernel gets an equal share of the CPUs for its BLAS and torch threads, so that
the processes do not compete for the same cores.

    python book/execute.py                      # every page, from the repository root
    python book/execute.py book/attention/*.md  # only these pages
"""

import multiprocessing
import os
import sys
import time
from pathlib import Path

import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.cache.db import NbCacheRecord
from jupyter_cache.executors.utils import single_nb_execution
from myst_nb.core.read import myst_nb_reader_plugin

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"
# The chapters that train models take most of the time. Where the cache holds no time of an earlier
# run (a clean build), they start first, in this order, so that the short ones fill the gaps.
SLOW_FIRST = ("book/regularization/regularization.md", "book/attention/transformer.md",
              "book/normalization/batch_norm.md")


def pages():
    """The source files of the pages listed in _toc.yml, in the book's order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    return [ROOT / f"{name}.md" for name in names]


def needs_cache(notebook):
    """Whether the build takes this page's outputs from the cache (it has code, and no
    page-level execution mode of its own, such as a page that runs at every build)."""
    mode = notebook.metadata.get("mystnb", {}).get("execution_mode")
    return mode is None and any(cell.cell_type == "code" for cell in notebook.cells)


def config():
    """Timeout and allow_errors of the book's execute settings in _config.yml."""
    execute = yaml.safe_load((ROOT / "_config.yml").read_text()).get("execute", {})
    return execute.get("timeout", 30), execute.get("allow_errors", False)


def merge_streams(notebook):
    """Join the consecutive pieces of one stream of a cell into one output. A kernel on a busy machine
    can flush a line of stdout in two pieces; the page and the tests should see the line whole."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for output in cell.get("outputs", []):
            previous = merged[-1] if merged else None
            if (output.output_type == "stream" and previous is not None and previous.output_type == "stream"
                    and previous.name == output.name):
                previous.text += output.text
            else:
                merged.append(output)
        cell.outputs = merged
    return notebook


def execute(job):
    path, threads = job
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)        # the kernel inherits them
    timeout, allow_errors = config()
    notebook = myst_nb_reader_plugin(str(path))
    result = single_nb_execution(notebook, cwd=str(path.parent), timeout=timeout,
                                 allow_errors=allow_errors, meta_override=True)
    return path, merge_streams(notebook), result.time, result.exc_string


def previous_seconds(cache, path):
    """How long `path` took when it last ran into this cache (0 if never): the longest run first."""
    records = [r for r in NbCacheRecord.records_all(cache.db) if r.uri == str(path)]
    return max((r.data.get("execution_seconds") or 0 for r in records), default=0.0)


def expected_order(cache, path):
    """Sort key, largest first: the last time in the cache, else the known slow chapters, else the size."""
    name = path.relative_to(ROOT).as_posix()
    slow = len(SLOW_FIRST) - SLOW_FIRST.index(name) if name in SLOW_FIRST else 0
    return previous_seconds(cache, path), slow, path.stat().st_size


def main(only=()):
    cache = get_cache(CACHE)
    todo = []
    only = {Path(name).resolve() for name in only}
    for path in pages():
        if only and path not in only:
            continue
        notebook = myst_nb_reader_plugin(str(path))
        if not needs_cache(notebook):
            continue
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            todo.append(path)
    if not todo:
        print("book/execute.py: every chapter is in the cache")
        return 0
    todo.sort(key=lambda path: expected_order(cache, path), reverse=True)
    processes = min(len(todo), os.cpu_count() or 1)
    threads = max(1, (os.cpu_count() or 1) // processes)
    print(f"book/execute.py: executing {len(todo)} chapters in {processes} processes, {threads} thread(s) each")
    failed, start = 0, time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        for path, notebook, seconds, error in pool.imap_unordered(execute, [(p, threads) for p in todo]):
            name = path.relative_to(ROOT)
            if error:
                failed += 1
                print(f"  {name}: failed after {seconds:.1f} s; the book build runs it again and shows the error")
                continue
            cache.cache_notebook_bundle(CacheBundleIn(notebook, str(path), data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            print(f"  {name}: {seconds:.1f} s")
    print(f"book/execute.py: done in {time.perf_counter() - start:.1f} s, {failed} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
