# QA Hub — the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# uv goes to ~/.local/bin (pip --user): make finds it there whatever the caller's PATH
CALLER_PATH := $(PATH)
export PATH := $(HOME)/.local/bin:$(PATH)
UV ?= uv

.PHONY: help deps run test lint format migrate bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

deps: ## Install uv (via pip) and the workspace's dependencies
	@if ! command -v $(UV) >/dev/null 2>&1; then \
	  if ! python3 -m pip --version >/dev/null 2>&1; then \
	    echo "[qahub] installing pip (python3-pip)" >&2; \
	    $$( [ "$$(id -u)" -eq 0 ] || echo sudo ) apt-get update -qq; \
	    DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" -eq 0 ] || echo sudo ) apt-get install -y -qq python3-pip >/dev/null; \
	  fi; \
	  echo "[qahub] installing uv with pip" >&2; \
	  python3 -m pip install --user --quiet uv 2>/dev/null \
	    || python3 -m pip install --user --quiet --break-system-packages uv; \
	fi
	@$(UV) sync --frozen --quiet
	@if ! PATH="$(CALLER_PATH)" command -v $(UV) >/dev/null 2>&1; then \
	  echo "[qahub] uv is in ~/.local/bin, which is not on your PATH: ./qahub runs the CLI without it; for uv itself, add it: export PATH=\"\$$HOME/.local/bin:\$$PATH\"" >&2; \
	fi

run: deps ## Start PostgreSQL and InfluxDB (unless QAHUB_DATABASE_URL / QAHUB_INFLUX_URL are set), migrate, run every service in the foreground
	@exec deploy/local/run.sh

test: deps ## Run the whole test suite against real servers
	@$(UV) run pytest

lint: deps ## ruff (lint + format check) and mypy --strict
	@$(UV) run ruff check .
	@$(UV) run ruff format --check .
	@$(UV) run mypy .

format: deps ## Format the code
	@$(UV) run ruff format .
	@$(UV) run ruff check --fix .

migrate: deps ## Apply database migrations (qa_api, the metrics broker's spool, the webhook listener's inbox)
	@# from the repository root, whose .env the migrations read as the services do
	@$(UV) run alembic -c services/qa_api/alembic.ini upgrade head
	@$(UV) run alembic -c services/metrics_broker/alembic.ini upgrade head
	@$(UV) run alembic -c services/webhook_listener/alembic.ini upgrade head

bench: deps ## Run the benchmarks (starts throwaway servers)
	@$(UV) run python bench/qa_api.py
	@$(UV) run python bench/metrics_broker.py
	@$(UV) run python bench/webhook_listener.py
	@$(UV) run python bench/changepoints.py
