# tradeapp — `make run` serves the app, `make test` runs the suite. `make help` lists the rest.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app wsgi
PORT   ?= 5000
export PORT

.DEFAULT_GOAL := help
.PHONY: help run test web realtime worker orders scheduler feed lint migrate-check bench fuzz chaos mutate check-python

help:
	@echo "make run            embedded app on http://127.0.0.1:$(PORT) (SQLite, in-process jobs, simulated market)"
	@echo "make test           the test suite (PostgreSQL + Redis when reachable, else SQLite + fakeredis)"
	@echo "make web            gunicorn, WEB_CONCURRENCY workers (default: one per core) x WEB_THREADS threads"
	@echo "make realtime       Socket.IO process for browsers (asyncio; nginx routes /socket.io/ to it)"
	@echo "make worker         rq worker on every queue but orders"
	@echo "make orders         rq worker for the orders queue (trigger checks; no fork per job)"
	@echo "make scheduler      rq cron (run exactly one)"
	@echo "make feed           market feed process"
	@echo "make lint           ruff check + ruff format --check + lint-imports (the import contracts)"
	@echo "make migrate-check  migrations match the models (scratch SQLite)"
	@echo "make bench          every benchmark in bench/ (make bench-<name> runs bench/<name>_bench.py)"
	@echo "make fuzz           schemathesis --checks all against the app in production mode (bench/fuzz_bench.py)"
	@echo "make chaos          10 minutes of 64 clients while workers and the feed are SIGKILLed (bench/chaos_bench.py)"
	@echo "make mutate         mutation score of the money modules (mutmut; MODULES=\"fills ledger\" for some, MUTATE_ARGS=--postgres)"

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || { \
		echo "tradeapp needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>/dev/null || echo "not installed")."; \
		echo "Install Python 3.11+ and run: make run PYTHON=python3.11"; exit 1; }

$(BIN)/python: | check-python
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "Could not create $(VENV). On Debian/Ubuntu: apt-get install python3-venv"; exit 1; }

# Reinstall only when the requirement files change.
$(VENV)/.requirements.stamp: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.requirements-dev.stamp: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.requirements.stamp

run: $(VENV)/.requirements.stamp
	$(FLASK) db upgrade
	$(FLASK) seed demo
	@echo ""
	@echo "Serving tradeapp on http://127.0.0.1:$(PORT)  (Ctrl-C to stop)"
	$(BIN)/python app.py

test: $(VENV)/.requirements-dev.stamp
	@echo "Tests use PostgreSQL + Redis when reachable (TEST_PG_ADMIN_URL, TEST_REDIS_URL), else SQLite + fakeredis;"
	@echo "TEST_DATABASE=sqlite forces SQLite. The 'tradeapp tests on ...' header line says which this run uses."
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

web: $(VENV)/.requirements.stamp
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

realtime: $(VENV)/.requirements.stamp
	$(BIN)/python -m tradeapp.realtime_server --host 0.0.0.0 --port $${REALTIME_PORT:-5001}

worker: $(VENV)/.requirements.stamp
	$(BIN)/rq worker --with-scheduler -w tradeapp.jobs.worker.AppWorker --url "$$REDIS_URL" \
		$$($(BIN)/python -c 'from tradeapp.jobs import QUEUES; print(*(q for q in QUEUES if q != "orders"))')

orders: $(VENV)/.requirements.stamp
	$(BIN)/rq worker --with-scheduler -w tradeapp.jobs.worker.OrdersWorker --url "$$REDIS_URL" orders

scheduler: $(VENV)/.requirements.stamp
	$(BIN)/rq cron tradeapp.jobs.schedule --url "$$REDIS_URL"

feed: $(VENV)/.requirements.stamp
	$(FLASK) feed run

lint: $(VENV)/.requirements-dev.stamp
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Upgrade a scratch SQLite database, then ask Alembic whether the models need a new revision.
migrate-check: $(VENV)/.requirements.stamp
	@tmp=$$(mktemp -d); \
	DATABASE_URL= REDIS_URL= INSTANCE_DIR=$$tmp $(FLASK) db upgrade && \
	DATABASE_URL= REDIS_URL= INSTANCE_DIR=$$tmp $(FLASK) db check; \
	rc=$$?; rm -rf $$tmp; exit $$rc

# Every bench/<name>_bench.py; `make bench-<name>` runs one.
bench: $(VENV)/.requirements-dev.stamp
	@set -e; found=0; for script in bench/*_bench.py; do \
		[ -e "$$script" ] || continue; found=1; \
		echo "== $$script"; $(BIN)/python "$$script"; \
	done; [ $$found = 1 ] || echo "no benchmarks yet (bench/<name>_bench.py)"

fuzz: $(VENV)/.requirements-dev.stamp
	$(BIN)/python bench/fuzz_bench.py $(FUZZ_ARGS)

chaos: $(VENV)/.requirements-dev.stamp
	$(BIN)/python bench/chaos_bench.py $(CHAOS_ARGS)

bench-%: $(VENV)/.requirements-dev.stamp
	@[ -e bench/$*_bench.py ] || { echo "no such benchmark: bench/$*_bench.py"; exit 1; }
	$(BIN)/python bench/$*_bench.py

# Mutation score of the money modules (a bench: minutes per module, not run in CI).
mutate: $(VENV)/.requirements-dev.stamp
	$(BIN)/python bench/mutate.py $(MODULES) $(MUTATE_ARGS)
