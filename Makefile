# govmatrix — the two commands a newcomer needs are `make demo` and `make test`.
# Everything they need (Debian packages, virtualenvs) is installed by `make setup`.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SYNAPSE_VENV := .venv-synapse
# Debian's Python, not a per-user one under /root: Synapse runs as an unprivileged user in
# the demo, and that user must be able to execute the interpreter.
SYNAPSE_PYTHON ?= /usr/bin/python3
# The Synapse release the example estates pin (estate.defaults.synapse.version). The
# integration tests check that this venv holds the version the estate asks for.
SYNAPSE_VERSION ?= 1.163.2
# postgres: psycopg2; redis: workers of the medium and large profiles.
SYNAPSE_EXTRAS := postgres,redis,oidc
# checkov scans the rendered Kubernetes manifests; it cannot share a venv with Pulumi.
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION ?= 3.3.30
BIN := $(VENV)/bin
ESTATE ?= inventories/demo/estate.yml
OUT ?= out/demo
PYTEST_ARGS ?=

.PHONY: setup system venv synapse tools demo demo-down render test test-unit test-integration test-hosts test-ansible lint bench-ansible bench-pulumi bench bench-backup schema golden clean help

help:
	@echo "make demo   - set up, then bring up the demo estate (real Synapse, PostgreSQL, nginx)"
	@echo "make render - validate the estate, render its configs to out/, draw the federation graph"
	@echo "make test   - set up, then run every test (unit and integration)"
	@echo "make lint   - ruff, mypy and ansible-lint (production profile)"
	@echo "make bench  - benchmarks (JSON on stdout)"
	@echo "make schema - regenerate docs/estate.schema.json"
	@echo "make golden - regenerate golden render files after an intended change"

setup: system venv synapse

system:
	@bash scripts/setup-system.sh

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "is ignored: it is neither" || true
	@$(BIN)/python -c "import govmatrix.cli" && touch $@

synapse: $(SYNAPSE_VENV)/.installed-$(SYNAPSE_VERSION)-$(SYNAPSE_EXTRAS)
$(SYNAPSE_VENV)/.installed-$(SYNAPSE_VERSION)-$(SYNAPSE_EXTRAS):
	@test -x $(SYNAPSE_VENV)/bin/python || $(SYNAPSE_PYTHON) -m venv $(SYNAPSE_VENV)
	@echo "installing matrix-synapse $(SYNAPSE_VERSION) into $(SYNAPSE_VENV)"
	@$(SYNAPSE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check 'matrix-synapse[$(SYNAPSE_EXTRAS)]==$(SYNAPSE_VERSION)' 2>&1 | grep -v "is ignored: it is neither" || true
	@$(SYNAPSE_VENV)/bin/python -c "import importlib.metadata as m; assert m.version('matrix-synapse') == '$(SYNAPSE_VERSION)'" && touch $@

tools: $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
$(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@echo "installing checkov $(CHECKOV_VERSION) into $(CHECKOV_VENV)"
	@$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check 'checkov==$(CHECKOV_VERSION)' 2>&1 | grep -v "is ignored: it is neither" || true
	@$(CHECKOV_VENV)/bin/checkov --version >/dev/null && touch $@

demo: setup
	$(BIN)/govmatrix demo up --estate $(ESTATE) $(DEMO_ARGS)

render: venv
	$(BIN)/govmatrix validate $(ESTATE)
	$(BIN)/govmatrix render $(ESTATE) --target demo --out $(OUT)/render
	$(BIN)/govmatrix graph $(ESTATE)
	$(BIN)/govmatrix graph $(ESTATE) --format svg --out $(OUT)/federation.svg

demo-down: venv
	$(BIN)/govmatrix demo down --estate $(ESTATE)

# The Ansible tests need a docker engine, a Debian 12 systemd image and the package caches.
test-hosts: venv
	@bash scripts/test-hosts.sh all

test: setup tools test-hosts
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-ansible: setup test-hosts
	$(BIN)/python -m pytest -m ansible $(PYTEST_ARGS)

test-unit: venv
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

test-integration: setup tools
	$(BIN)/python -m pytest -m integration $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check src tests bench plugins molecule pulumi
	$(BIN)/ruff format --check src tests bench plugins molecule pulumi
	$(BIN)/mypy src
	MYPYPATH=src:pulumi $(BIN)/mypy --strict pulumi/govmatrix_pulumi pulumi/policy/govmatrix_policies.py
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/ansible-lint

bench: venv
	$(BIN)/python bench/estate_compile.py

bench-pulumi: venv
	$(BIN)/python bench/pulumi_mocks.py

# demo_ready times a demo of its own (and resets it); messages and archive_lag measure the
# demo brought up here (left running: make demo-down); archive_ingest is self-contained.
bench-demo: setup
	$(BIN)/python bench/demo_ready.py
	$(BIN)/govmatrix demo up --estate $(ESTATE)
	$(BIN)/python bench/messages.py
	$(BIN)/python bench/archive_lag.py
	$(BIN)/python bench/archive_ingest.py
	$(BIN)/python bench/login.py

# backup_rpo and backup_restore measure a demo of their own at BENCH_ROOT (backup_restore seeds
# one department with 100,000 events and 1 GB of media first), reset afterwards even when a
# benchmark fails. Only one demo can run on a machine: stop any other first.
bench-backup: BENCH_ROOT ?= /var/tmp/gm-bench
bench-backup: setup
	$(BIN)/govmatrix demo up --estate $(ESTATE) --root $(BENCH_ROOT)
	status=0; \
	$(BIN)/python bench/backup_rpo.py --estate $(ESTATE) --root $(BENCH_ROOT) || status=$$?; \
	$(BIN)/python bench/backup_restore.py --estate $(ESTATE) --root $(BENCH_ROOT) || status=$$?; \
	$(BIN)/govmatrix demo reset --estate $(ESTATE) --root $(BENCH_ROOT); \
	exit $$status

bench-ansible: setup test-hosts
	$(BIN)/python bench/ansible_converge.py

schema: venv
	$(BIN)/govmatrix schema

golden: venv
	GOVMATRIX_UPDATE_GOLDEN=1 $(BIN)/python -m pytest -q tests/unit/test_render_golden.py

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
