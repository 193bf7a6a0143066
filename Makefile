# One command per chore; humans, hooks and CI call the same targets. `make help` lists them.
# Everything bootstraps itself idempotently: the venv, the pinned jars (cached outside git in
# ~/.cache/featurestream), Redis (apt-get when missing) and the local stack.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The venv is rebuilt when pyproject.toml changes.
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
FS := $(BIN)/featurestream

.DEFAULT_GOAL := help
.PHONY: help setup venv demo test test-jvm test-go test-unit test-integration test-faults lint golden up down status logs lock clean

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing featurestream (+dev)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --upgrade pip
	@$(BIN)/pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)  ## Create the virtualenv with pinned dependencies.

setup: venv  ## venv + pinned jars, Redis, helm, kubeconform, promtool (go install): all a fresh machine needs.
	@echo "==> fetching pinned artifacts, checking Java and Redis, building helm, kubeconform and promtool"
	@$(FS) local setup

demo: setup  ## Bring up the local stack and run the pipeline on generated events.
	@$(BIN)/python -m common.demo

test: setup  ## All tests: unit first (a broken one stops here in a minute), JUnit, then the stack's tiers.
	@echo "==> unit tests"
	@$(BIN)/pytest tests/unit
	@$(MAKE) --no-print-directory test-jvm
	@$(MAKE) --no-print-directory test-go
	@echo "==> integration, e2e and fault tests on the local stack"
	@$(BIN)/pytest tests/integration tests/e2e tests/faults

test-jvm:  ## JUnit tests of the JVM functions (common/jvm, Maven).
	@echo "==> JUnit: common/jvm"
	@cd common/jvm && mvn -q -B test

# Go's own environment for the feature server: local toolchain, modules checked against go.sum.
GO_ENV := GOTOOLCHAIN=local GOSUMDB=off GOFLAGS=-mod=readonly
# A non-login shell may not have Go's installer directory on PATH.
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)

test-go:  ## Go tests of the feature server (common/featureserver).
	@echo "==> go test: common/featureserver"
	@cd common/featureserver && $(GO_ENV) $(GO) test ./...

test-unit: setup  ## Unit tests only (no services; they need the built jars, helm, kubeconform, promtool).
	@$(BIN)/pytest tests/unit

test-integration: setup  ## Integration tests only.
	@$(BIN)/pytest -m integration

test-faults: setup  ## The fault suite: kills, outages, hostile input (also part of `make test`).
	@$(BIN)/pytest -m faults tests/faults -s

lint: venv  ## ruff, mypy, gofmt and go vet, and the schema compatibility gate.
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy
	@cd common/featureserver && test -z "$$($(dir $(GO))gofmt -l .)" || { $(dir $(GO))gofmt -l .; echo "gofmt: the files above"; exit 1; }
	@cd common/featureserver && $(GO_ENV) $(GO) vet ./...
	@$(FS) schemas check

golden: venv  ## Regenerate the chart's values.schema.json and rendered goldens (deploy/helm/golden).
	@$(FS) render --update-golden

up: setup  ## Start the local stack (idempotent).
	@$(FS) local up

down: venv  ## Stop the local stack.
	@$(FS) local down

status: venv  ## Health of each part of the local stack.
	@$(FS) local status

logs: venv  ## Tail the stack's logs.
	@$(FS) local logs

lock: venv  ## Re-resolve deploy/local/maven/*.pom.xml into deploy/local/stack.lock.json.
	@$(FS) local lock

clean:  ## Remove the venv and caches inside the repo (not the download cache).
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
