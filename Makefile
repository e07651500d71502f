# Everything a newcomer or CI runs; each target sets up what it needs first and says what it does.
#   make demo       the sample payload through the whole application, locally, offline, without Docker
#   make test       linters and the whole test suite
#   make test-fast  the inner loop: unit, template and script tests, without the slowest checks
#   make test-scale the application at scale through the emulator (minutes; CI runs it after make test)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
SAM := .venv-sam/bin/sam
SYSTEM_TOOLS := busybox dash jq shellcheck
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
# uv installs from the pinned files only, with this machine's interpreter (never a downloaded one).
export UV_PYTHON_DOWNLOADS := never
# Python keeps the bytecode of what it imports (in .venv* and the ignored __pycache__ folders). Where
# PYTHONDONTWRITEBYTECODE is set, as on this machine kind, each of the suite's hundreds of Python
# processes (emulators, tools, test workers) compiled every module it imported again.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup system-tools browser demo serve build validate lint test test-fast test-scale bench clean

# The demo's job works 1 s instead of the template's 20 (a template parameter, as on AWS).
DEMO_PARAMS := --param batchSleepDuration=1 --param NestedWaitSeconds=1 --param Patterns=full

setup: system-tools $(VENV)/.installed .venv-sam/.installed .venv-checkov/.installed

# Shells the batch script must run under, and tools the checks use (Debian packages).
system-tools:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "==> installing$$missing (Debian packages)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else echo "missing:$$missing (Debian/Ubuntu: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

# The run report's browser test (tests/report) looks at a report as a person would, in Debian's
# headless Chromium: make test and make test-fast install it, make demo does not need it.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "==> installing chromium (Debian package)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "missing: chromium (Debian/Ubuntu: sudo apt-get install chromium)"; exit 1; fi; \
	fi

# uv (pinned in requirements/uv.txt) installs every environment from its fully pinned file. .venv is
# made without pip (ensurepip took 8 s): the interpreter's own pip installs uv into it (pip 22.3 and
# later can; with an older one, the venv gets its own pip).
$(VENV)/.installed: requirements/uv.txt requirements/dev.txt pyproject.toml
	@echo "==> .venv: tests, moto, AWS CLI and the emulator (requirements/dev.txt), the project editable"
	$(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(VENV)/bin/python install -q -r requirements/uv.txt \
		|| { $(PYTHON) -m venv --clear $(VENV) && $(VENV)/bin/pip install -q -r requirements/uv.txt; }
	$(UV) pip sync -q --python $(VENV)/bin/python requirements/uv.txt requirements/dev.txt
	$(UV) pip install -q --python $(VENV)/bin/python --no-deps -e .
	@touch $@

.venv-sam/.installed: requirements/sam.txt $(VENV)/.installed
	@echo "==> .venv-sam: AWS SAM CLI (requirements/sam.txt)"
	$(UV) venv -q --allow-existing --python "$$(command -v $(PYTHON))" .venv-sam
	$(UV) pip sync -q --python .venv-sam/bin/python requirements/sam.txt
	@touch $@

.venv-checkov/.installed: requirements/checkov.txt $(VENV)/.installed
	@echo "==> .venv-checkov: checkov (requirements/checkov.txt)"
	$(UV) venv -q --allow-existing --python "$$(command -v $(PYTHON))" .venv-checkov
	$(UV) pip sync -q --python .venv-checkov/bin/python requirements/checkov.txt
	@touch $@

validate: setup
	$(SAM) validate --lint
	$(VENV)/bin/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules

# sam build needs an interpreter matching the functions' runtime (pyenv's is found too).
build: setup
	@dir="$$($(VENV)/bin/python -m local_emulator.runtime_python)" || exit 1; \
	PATH="$$dir:$$PATH" $(SAM) build

demo: system-tools $(VENV)/.installed
	@echo "==> demo: the sample workload (examples/s3-digest) through the template, state machines, functions and script on the local emulator"
	$(VENV)/bin/python -m local_emulator $(DEMO_PARAMS) run --inputs examples/s3-digest/inputs examples/s3-digest/request.json

serve: system-tools $(VENV)/.installed
	$(VENV)/bin/python -m local_emulator $(DEMO_PARAMS) serve

bench: system-tools $(VENV)/.installed
	$(VENV)/bin/python -m bench.prepare_benchmark --entries 1000000 --entry-bytes 1024
	$(VENV)/bin/python -m bench.entry_cost
	$(VENV)/bin/python -m bench.run_benchmark --runs 1000:100 10000:100 100000:1000
	$(VENV)/bin/python -m bench.state_growth

lint: setup
	@echo "==> lint: ruff, ruff format, shellcheck"
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	shellcheck -s sh batch-script/*.sh

test: lint browser
	@echo "==> test: every test (pytest markers: unit, script, template, emulator, slow; see docs/development.md)"
	$(VENV)/bin/python -m pytest -m "not scale and not minutes"

test-scale: system-tools $(VENV)/.installed
	@echo "==> test-scale: 10,000 entries at 100 batches at once (tests/scale), and the heartbeat timeouts at AWS's 120 s floor"
	$(VENV)/bin/python -m pytest -m "scale or minutes" -n 3

test-fast: system-tools browser $(VENV)/.installed
	@echo "==> test-fast: unit, template and script tests, not the slow ones"
	$(VENV)/bin/python -m pytest -m "not emulator and not slow and not scale and not minutes"

clean:
	rm -rf .aws-sam .pytest_cache .ruff_cache
