# whatchanged: the two commands a new user needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## run: start the daemon on the built-in demo shop (SQLite, no other server) on 127.0.0.1:8080
run: $(STAMP)
	$(BIN)/whatchanged demo $(ARGS)

## test: run the test suite (benchmarks marked slow are not part of it)
test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

## lint: mypy --strict over the packages, ruff over everything (rules in pyproject.toml)
lint: $(STAMP)
	$(BIN)/mypy daemon detectors correlators
	$(BIN)/ruff check .

## bench: root-cause ranking benchmark on the dev scenarios (../shared/scenarios/dev), or, in a clone
## without them, on simulated sets written once by `whatchanged simulate` under .bench/
bench: $(STAMP)
	$(BIN)/python tests/benchmarks/rca.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache whatchanged-demo.db .bench
