# Human entry points. `make run` and `make test` bootstrap everything they need
# on a machine with only Python 3.11+, git and make. `make help` lists targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
UV_VERSION ?= 0.13.9
BIN := $(CURDIR)/$(VENV)/bin
# Stage commands in dvc.yaml call `ml-gitops`: put the project's venv first.
export PATH := $(BIN):$(PATH)
export UV_COMPILE_BYTECODE := 1
export UV_PROJECT_ENVIRONMENT := $(VENV)
export ITERATIVE_DO_NOT_TRACK := 1
export DVC_NO_ANALYTICS := 1
export GTO_NO_ANALYTICS := 1

# uv if it is on PATH, else a private copy installed with pip (works where only pip exists).
UV ?= $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)

$(CURDIR)/.tools/bin/uv:
	@$(PYTHON) -m venv .tools
	@.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.run-deps: pyproject.toml uv.lock | $(UV)
	@$(UV) sync --frozen --no-default-groups --quiet
	@touch $@

$(VENV)/.dev-deps: pyproject.toml uv.lock | $(UV)
	@$(UV) sync --frozen --quiet
	@touch $@ $(VENV)/.run-deps

.PHONY: help
help: ## list every target
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Basics
.PHONY: install install-dev install-pip run test lint format params params-check repro metrics clean
install: $(VENV)/.run-deps ## create .venv from uv.lock (pipeline dependencies)
install-dev: $(VENV)/.dev-deps ## create .venv with test and lint tools too

install-pip: ## fallback without uv: pip install from requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .

run: $(VENV)/.run-deps ## run the whole pipeline on the default data and print the metrics
	@dvc repro
	@ml-gitops metrics

test: $(VENV)/.dev-deps ## run the whole test suite
	@pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-deps ## ruff, the params guard, workflow checks (all pre-commit hooks)
	@pre-commit run --all-files --show-diff-on-failure

format: $(VENV)/.dev-deps ## format code with ruff
	@ruff format src tests benchmarks hooks
	@ruff check --fix src tests benchmarks hooks

params: $(VENV)/.run-deps ## compose conf/ into params.yaml
	@ml-gitops params sync

params-check: $(VENV)/.run-deps ## fail when params.yaml disagrees with conf/
	@ml-gitops params check

repro: $(VENV)/.run-deps ## dvc repro (only what changed)
	@dvc repro

metrics: $(VENV)/.run-deps ## print the metrics table
	@ml-gitops metrics

lock: | $(UV) ## refresh uv.lock and requirements.lock after editing pyproject.toml
	@$(UV) lock
	@$(UV) export --frozen --no-emit-project --no-default-groups --format requirements-txt --quiet -o requirements.lock

bench: $(VENV)/.dev-deps ## pipeline figures + scaling table 1e4..1e6 (PIPELINE_ARGS, SCALE_ARGS; docs/performance.md)
	@python benchmarks/pipeline.py $(PIPELINE_ARGS)
	@python benchmarks/scaling.py --sizes $(SIZES) $(SCALE_ARGS)

clean: ## remove caches (keeps .venv and DVC outputs)
	rm -rf .pytest_cache .ruff_cache .hypothesis dist build

##@ Pull-request loop

##@ Registry and release

##@ Serving

##@ Monitoring

##@ Experiments and scale
.PHONY: bench-scale
SIZES ?= 1e4,1e5,1e6
bench-scale: $(VENV)/.dev-deps ## scaling table for SIZES rows, e.g. make bench-scale SIZES=1e4,1e5,1e6,1e7 (1e7: ~15 min)
	@python benchmarks/scaling.py --sizes $(SIZES) $(SCALE_ARGS)
