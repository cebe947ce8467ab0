# Two entry points: `make demo` and `make test`. Each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Programs the tests run, as Debian packages: the registry, htpasswd, and the docker CLI
# (`docker manifest`, the reference tool; no engine is used). A program already on PATH is
# not installed again.
APT_PACKAGES := docker-registry apache2-utils docker.io

.PHONY: demo test check lint typecheck unit integration bench bench-scale bench-render bench-startup system-deps go-tools venv clean

system-deps:
	@missing=""; \
	command -v docker-registry >/dev/null || missing="$$missing docker-registry"; \
	command -v htpasswd >/dev/null || missing="$$missing apache2-utils"; \
	command -v docker >/dev/null || missing="$$missing docker.io"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Go-built test and benchmark tools at pinned versions (distribution v3, crane, regctl, oras,
# manifest-tool, cosign) into .tools/, once per version: tools/gotools.py.
go-tools:
	$(PYTHON) tools/gotools.py

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: system-deps venv
	$(BIN)/python demo/run.py

lint: venv
	$(BIN)/ruff check reconciler tests demo bench tools scripts
	$(BIN)/ruff format --check reconciler tests demo bench tools scripts

typecheck: venv
	$(BIN)/mypy

check: lint typecheck

# Benchmarks (BENCHMARKS.md); extra flags: make bench BENCH_ARGS="--skip-docker --json out.json"
bench: system-deps go-tools venv
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/startup.py

# Start-up of `reconcile --help` and `reconcile validate` next to a bare interpreter and
# pydantic's import: make bench-startup STARTUP_ARGS="--runs 31 --json startup.json"
bench-startup: venv
	$(BIN)/python bench/startup.py $(STARTUP_ARGS)

bench-scale: system-deps go-tools venv
	$(BIN)/python bench/run.py --scale 10000 --scale-up 20000 --concurrency 64 $(BENCH_ARGS)

# CPU of rendering the report of 10,000 and 20,000 synthetic aliases (no registry), next to
# json.dumps of the same document: make bench-render BENCH_ARGS="--markdown render.md"
bench-render: venv
	$(BIN)/python bench/render.py $(BENCH_ARGS)

# One registry only: make test PYTEST_ARGS="--registry distribution3"
test: system-deps go-tools venv check
	$(BIN)/pytest -n 2 tests $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
