# The commands people type. Each target installs what it needs first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-unit lint format bench schemas clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## broker (embedded unless KAFKA_BOOTSTRAP_SERVERS is set), worker, duty inbox, demo feed
	$(BIN)/dvtrigger run

test: $(STAMP)  ## the whole suite, integration tests on a real broker included
	$(BIN)/pytest -q -rs

test-unit: $(STAMP)
	$(BIN)/pytest -q -rs tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m tests.bench.pipeline
	$(BIN)/python -m tests.bench.register_scale

schemas: $(STAMP)  ## regenerate schemas/json from the models
	$(BIN)/python -m schemas.export

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
