# Authy2 — the two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
HOST ?= 127.0.0.1
STAMP := $(VENV)/.installed

.PHONY: run test install lint migrate seed clean bench openapi fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python requirements/base.txt requirements/production.txt requirements/development.txt
	$(BIN)/pip install --quiet -r requirements/development.txt
	touch $(STAMP)

install: $(STAMP)  ## create the venv and install every pinned dependency

migrate: install  ## apply the migrations to the configured database
	$(BIN)/python scripts/init_db.py

seed: migrate  ## create the demo users (idempotent)
	$(BIN)/python -m scripts.seed_data

run: seed  ## set up and serve on http://$(HOST):$(PORT) (SQLite + SQL session store by default)
	$(BIN)/flask --app wsgi run --host $(HOST) --port $(PORT)

test: install  ## run the whole suite against local PostgreSQL and Redis
	$(BIN)/python -m pytest $(PYTEST_ARGS)

openapi: install  ## print the OpenAPI document
	$(BIN)/python manage.py openapi

fuzz: install  ## a longer schemathesis run against the API (SCHEMATHESIS_MAX_EXAMPLES, default 500)
	SCHEMATHESIS_MAX_EXAMPLES=$${SCHEMATHESIS_MAX_EXAMPLES:-500} SCHEMATHESIS_REPORT=1 \
	  $(BIN)/python -m pytest -s tests/e2e/test_schemathesis.py

lint: install
	$(BIN)/ruff check .

bench: install  ## load benchmarks on loopback (needs PostgreSQL + Redis; wrk if installed): ratios vs goals
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
