# Every target sets itself up: a virtual environment in .venv with the project installed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo serve worker test test-fast services lint typecheck schema clean bench bench-serve bench-peers

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install  ## load real data, run a study on the embedded default, print the results
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py run_demo

serve: install  ## web pages, API and WebSockets on http://127.0.0.1:8000 (embedded default unless env says otherwise)
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py runserver 127.0.0.1:8000

worker: install  ## a Celery worker (needs REDIS_URL)
	$(BIN)/celery -A config worker --loglevel=info

services:  ## start PostgreSQL and Redis if stopped, install Chromium if missing (needs root)
	bash scripts/services.sh

# The SQLite tests run in TEST_WORKERS processes (pytest-xdist; each has its own test database and
# Redis databases, tests/redis_db.py). `--dist load` hands tests out in collection order, so on each
# worker the transactional tests still come after the others (pytest-django's order), as in a
# single process: their flush never empties the reference data another test reads. The integration
# and browser tests start servers, workers and their own PostgreSQL and Redis: one process.
TEST_WORKERS ?= 2
UNIT := -m "not integration and not browser" -n $(TEST_WORKERS) --dist load

test: install services  ## everything: SQLite unit tests, PostgreSQL/Redis/worker integration, browser
	$(BIN)/python -m pytest $(UNIT)
	$(BIN)/python -m pytest -m "integration or browser"

test-fast: install  ## SQLite only
	$(BIN)/python -m pytest $(UNIT)

schema: install
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file var/schema.yaml

# PostgreSQL runs of the benchmarks use a database of their own, created when missing.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/personalab_bench

bench: install services  ## benchmarks -> bench/results/*.json (poll import, population generation, LLM engine)
	psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'personalab_bench'" | grep -q 1 \
	  || createdb -h 127.0.0.1 -U postgres personalab_bench
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m bench.run

bench-serve: install services  ## load test of the two hot read endpoints (uvicorn x 2, PostgreSQL, Redis) -> bench/results/serve.json
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m bench.serve

# The peer (EDSL) lives in a virtual environment of its own: it is not a project dependency.
PEERS_VENV := bench/peers/.venv
PEERS_STAMP := $(PEERS_VENV)/.installed-stamp
EDSL_VERSION ?= 1.0.9

$(PEERS_STAMP):
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet edsl==$(EDSL_VERSION) openai
	touch $(PEERS_STAMP)

bench-peers: install $(PEERS_STAMP)  ## EDSL vs Persona Lab, same local server, workload and in-flight limit -> bench/results/peers.json
	$(BIN)/python -m bench.peers.race $(PEERS_ARGS)

lint: install  ## ruff check and ruff format --check
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: install  ## mypy (django-stubs, DRF stubs) over the modules listed in pyproject's [tool.mypy] files
	$(BIN)/python -m mypy

clean:
	rm -rf var .pytest_cache .mypy_cache
