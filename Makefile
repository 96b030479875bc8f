# polyfuse: `make demo` runs the main job on built-in data, `make test` runs the test suite.
# Both create the virtualenv (.venv) and install everything they need by themselves.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The exact CPU build of torch first: a bare range would pull a multi-GB CUDA build.
TORCH  := torch==2.13.0

.PHONY: demo test lint typecheck check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/polyfuse demo --out demo_output

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check polyfuse tests benchmarks
	$(BIN)/ruff format --check polyfuse tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) demo_output runs .pytest_cache .mypy_cache .ruff_cache
