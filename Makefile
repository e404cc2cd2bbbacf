# dualchannel — two commands on a fresh machine: `make demo` and `make test`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?= -n auto

.PHONY: venv demo demo-data serve test test-postgres lint format fuzz bench bench-paper bench-counter bench-public bench-analytics clean

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "dualchannel needs Python 3.11 (Django 5.2 LTS)")'
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

## demo: set everything up on SQLite and serve on http://127.0.0.1:8000 with a login per role
## (the background-job worker runs alongside and stops with the server)
demo: venv
	DEMO_MODE=1 $(BIN)/python manage.py migrate --noinput
	DEMO_MODE=1 DEMO_BASE_URL=http://$(HOST):$(PORT) $(BIN)/python manage.py demo_load
	DEMO_MODE=1 $(BIN)/python manage.py collectstatic --noinput -v0
	DEMO_MODE=1 BIN=$(BIN) ./scripts/demo-serve.sh $(HOST):$(PORT)

## test: the whole suite (SQLite unless DATABASE_URL points at PostgreSQL)
test: venv
	DUALCHANNEL_TESTING=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

## test-postgres: the suite against a fresh database on the local PostgreSQL server
test-postgres: venv
	./scripts/with-postgres.sh $(MAKE) test

## lint: ruff, the import layers of the apps (import-linter, pyproject.toml), migrations in step
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=src $(BIN)/lint-imports --no-logo
	DUALCHANNEL_TESTING=1 $(BIN)/python manage.py makemigrations --check --dry-run

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## fuzz: schemathesis on every API operation as officer, pharmacist and doctor, positive and
## negative requests, at least 10,000 in all (CI runs the bounded --examples 1; ARGS=--seed N)
fuzz: venv
	$(BIN)/python scripts/fuzz_api.py --examples 14 $(ARGS)

## bench: evaluations per second of a 20-criterion set (cel-expr-python, checked against cel-python)
bench: venv
	DUALCHANNEL_TESTING=1 $(BIN)/python benchmarks/criteria_eval.py $(ARGS)

## bench-paper: the paper's first-time case in headless chromium on a throw-away demo;
## prints per role the fields typed, the clicks and the seconds (JSON: ARGS=--json)
bench-paper: venv
	$(BIN)/python benchmarks/paper_case.py $(ARGS)

## bench-counter: verify → dispense over HTTP (gunicorn) on a throw-away PostgreSQL database at
## 1, 8 and 32 concurrent clients, beside pgbench's TPC-B-like TPS (ARGS=--seconds 5 …)
bench-counter: venv
	./scripts/with-postgres.sh $(BIN)/python benchmarks/counter_load.py $(ARGS)

## bench-public: the public drug and pharmacy search over HTTP (gunicorn) at 16 clients on the demo
## world plus 2,000 pharmacies; SQLite, or PostgreSQL with DATABASE_URL (ARGS=--seconds 5 …)
bench-public: venv
	$(BIN)/python benchmarks/public_query.py $(ARGS)

## bench-analytics: Shandong's monthly table and the statistics queries on a throw-away PostgreSQL
## database of 10 million settlement lines (COPY), cold and warm, beside DuckDB on the same data in
## Parquet; checks rollup = detail to the fen (ARGS=--lines 1000000 …)
bench-analytics: venv
	./scripts/with-postgres.sh $(BIN)/python benchmarks/analytics_load.py $(ARGS)

clean:
	rm -rf $(VENV) var db.sqlite3 .pytest_cache
