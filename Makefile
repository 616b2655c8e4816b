# Quick start: `make run` serves the API on the embedded SQLite database (development;
# `make serve` is the production deployment, nginx in front of gunicorn),
# `make test` runs the whole suite. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: venv run serve test bench fuzz clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,singer]'
	touch $@

run: venv
	$(BIN)/ar-ingest dev-setup --base-url http://$(HOST):$(PORT)
	$(BIN)/ar-ingest run --host $(HOST) --port $(PORT) --with-threads --no-reload

# Production: nginx (LISTEN, default 127.0.0.1:8000) in front of gunicorn; see deploy/serve.py.
serve: venv
	$(BIN)/python deploy/serve.py

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

fuzz: venv
	$(BIN)/python tests/fuzz.py $(FUZZ_ARGS)

# SQLite always; PostgreSQL too when the local server answers (as in .ci/run).
BENCH_POSTGRESQL ?= postgresql://postgres@127.0.0.1:5432/test
bench: venv
	$(BIN)/python bench/run.py --database sqlite \
	  $$(pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && echo --database $(BENCH_POSTGRESQL)) \
	  $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
