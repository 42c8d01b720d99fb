# The one interface to Sifang. Every target sets up what it needs itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

# PostgreSQL the tests run against as well as SQLite; set it empty to run SQLite only.
SIFANG_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
export SIFANG_TEST_POSTGRES_URL

.PHONY: install run test chaos cluster lint format migrate bench clean contracts check-contracts screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The Compose Specification's JSON schema (in docker-compose 1.29.2's wheel), for the test of deploy/compose.yaml
	$(BIN)/python -m pip download --quiet --no-deps --dest $(VENV)/compose-spec docker-compose==1.29.2
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP) ## create .venv and install Sifang with its development tools

run: install ## run the whole platform (DEMO=never skips the demo county on first start)
	$(BIN)/python -m sifang.platform $(if $(DEMO),--demo $(DEMO))

test: install ## run the whole test suite (SQLite and PostgreSQL, real nats-server, Debian's chromium)
	scripts/ensure-browser
	# The fault and cluster suites alone (their timing is part of what they test), the rest on two workers.
	$(BIN)/python -m pytest tests/chaos tests/cluster $(PYTEST_ARGS)
	$(BIN)/python -m pytest -n 2 --dist loadfile tests --ignore=tests/chaos --ignore=tests/cluster $(PYTEST_ARGS)

chaos: install ## the fault suite: kill -9, nats-server restarts, poison, database outage (real processes)
	$(BIN)/python -m pytest tests/chaos $(PYTEST_ARGS)

cluster: install ## a three-node JetStream cluster (leader and follower killed, rolling restart), two service replicas, partitioned coordinators
	$(BIN)/python -m pytest tests/cluster tests/integration/test_replicas.py tests/integration/test_partitions.py $(PYTEST_ARGS)

lint: install ## ruff (lint and format), mypy --strict and the import layering (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: install ## apply every service's migrations to its configured database
	$(BIN)/python -m services.migrate

clean: ## remove the embedded data (var/) and caches; keeps .venv
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

bench: install ## every benchmark against its same-run baseline: stakeholder writes, coordinator ingest and replay, matching
	$(BIN)/python -m benchmarks

contracts: install ## regenerate docs/asyncapi.json and docs/schemas/ from the event catalogue
	$(BIN)/python -m shared.events.contracts

check-contracts: ## validate docs/asyncapi.json with the AsyncAPI parser (from the npm registry)
	cd tools/asyncapi && npm install --no-audit --no-fund --no-package-lock --silent && node validate.mjs ../../docs/asyncapi.json

screenshots: install ## run the browser test and keep its screenshots in docs/screenshots
	scripts/ensure-browser
	SIFANG_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/e2e/test_dashboard_browser.py
