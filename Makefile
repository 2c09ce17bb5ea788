# The course's commands. Each one creates .venv and installs requirements.txt
# first if needed, and runs with .venv/bin first on PATH (nbgrader starts
# `alembic` and kernels from PATH).

VENV   := .venv
BIN    := $(abspath $(VENV))/bin
PYTHON := $(BIN)/python
export PATH := $(BIN):$(PATH)
# Tests and the book import the autograder from this checkout.
STAMP  := $(VENV)/.installed

.PHONY: book test test-fast test-gpu exercises release bench bench-scale clean

$(STAMP): requirements.txt pyproject.toml package-lock.json
	@# The grading sandbox needs Debian's bubblewrap; the browser tests Debian's Chromium
	@# (with a CJK font for the glossary) and axe-core from npm.
	@command -v bwrap >/dev/null || { apt-get update -qq && apt-get install -y -qq bubblewrap; }
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei; }
	npm ci --omit=dev --no-audit --no-fund
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

## book: build the HTML book into _build/html, executing every cell (cached); the chapters
## not in the cache run first, in parallel (book/execute.py)
book: $(STAMP)
	$(PYTHON) book/execute.py
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going

## test: run the whole test suite, the book build and nbgrader end to end included (and the GPU
## suite's fast subset on the CPU, so that it keeps working where no GPU is at hand)
test: $(STAMP)
	$(PYTHON) -m pytest

## test-fast: the unit folders of the suite (no book build, no nbgrader runs, no end-to-end grading)
UNIT := tests/core tests/specs tests/exercises tests/checker tests/grading tests/sandbox tests/commands tests/edition
test-fast: $(STAMP)
	$(PYTHON) -m pytest -m "not slow" $(UNIT)

## test-gpu: the GPU suite (tests/gpu) from the working tree, on DEVICE=cpu|cuda, GPU_SUITE=fast|full;
## its JSON report goes to GPU_REPORT (default benchmarks/results/gpu-$(DEVICE).json). It needs no
## .venv: a GPU machine runs `make test-gpu DEVICE=cuda PYTHON=python3` with torch, numpy and pytest.
DEVICE    ?= cpu
GPU_SUITE ?= full
GPU_ARGS  ?=
GPU_REPORT ?= benchmarks/results/gpu-$(DEVICE).json
# PYTHON given to make wins; else the course's .venv when there is one; else python3.
GPU_PYTHON = $(if $(filter command line environment,$(origin PYTHON)),$(PYTHON),$(if $(wildcard $(PYTHON)),$(PYTHON),python3))
test-gpu:
	DEVICE=$(DEVICE) GPU_SUITE=$(GPU_SUITE) GPU_REPORT=$(GPU_REPORT) PYTHONPATH=. $(GPU_PYTHON) -m pytest tests/gpu $(GPU_ARGS)

## exercises: regenerate exercises/ from solutions/
exercises: $(STAMP)
	$(PYTHON) -m autograder generate

## release: the student edition in _build/student (site, exercises, wheel), checked for solution lines;
## it builds the book first, as `make book` does (cached)
release: book
	$(PYTHON) -m autograder release --site _build/html

## bench: grade 40 generated submissions with stock nbgrader and with the course's grader; time `check`
bench: $(STAMP)
	$(PYTHON) benchmarks/grading.py
	$(PYTHON) benchmarks/check.py

## bench-scale: grade 40 and 400 generated submissions with the course's grader: time, fork server's memory, gradebook
bench-scale: $(STAMP)
	$(PYTHON) benchmarks/scale.py

clean:
	rm -rf _build grading
