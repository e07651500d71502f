# Everything a newcomer or CI runs; each target sets up what it needs first.
#   make demo   the sample payload through the whole application, locally, offline, without Docker
#   make test   linters and the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAM := .venv-sam/bin/sam
CHECKOV := .venv-checkov/bin/checkov
SYSTEM_TOOLS := busybox dash jq shellcheck
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: setup system-tools demo serve build validate lint test bench clean

# The demo's job works 3 s instead of the template's 20 (a template parameter, as on AWS).
DEMO_PARAMS := --param batchSleepDuration=3 --param NestedWaitSeconds=1 --param Patterns=full

setup: system-tools $(VENV)/.installed .venv-sam/.installed .venv-checkov/.installed

# Shells the batch script must run under, and tools the checks use (Debian packages).
system-tools:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else echo "missing:$$missing (Debian/Ubuntu: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

$(VENV)/.installed: requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r requirements/dev.txt
	touch $@

.venv-sam/.installed: requirements/sam.txt
	$(PYTHON) -m venv .venv-sam
	.venv-sam/bin/pip install -q -r requirements/sam.txt
	touch $@

.venv-checkov/.installed: requirements/checkov.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install -q -r requirements/checkov.txt
	touch $@

# sam build needs an interpreter matching the functions' runtime (pyenv's is found too).
RUNTIME_PYTHON_DIR = $(shell $(VENV)/bin/python -c "from tests.support.tools import runtime_python_dir; print(runtime_python_dir() or '')")

validate: setup
	$(SAM) validate --lint
	$(VENV)/bin/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules

build: setup
	@test -n "$(RUNTIME_PYTHON_DIR)" || { echo "sam build needs the functions' Python runtime on PATH"; exit 1; }
	PATH="$(RUNTIME_PYTHON_DIR):$$PATH" $(SAM) build

demo: system-tools $(VENV)/.installed
	$(VENV)/bin/python -m local_emulator $(DEMO_PARAMS) run test-inputs/orchestrator-step-function-payload.json

serve: system-tools $(VENV)/.installed
	$(VENV)/bin/python -m local_emulator $(DEMO_PARAMS) serve

bench: system-tools $(VENV)/.installed
	$(VENV)/bin/python bench/run_benchmark.py --runs 1000:100 10000:100 10000:250 100000:1000

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	shellcheck -s sh batch-script/*.sh

test: lint
	$(VENV)/bin/python -m pytest

clean:
	rm -rf .aws-sam .pytest_cache .ruff_cache
