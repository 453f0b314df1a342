# The two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench bench-deps system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.test: requirements.txt requirements-test.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

## run: the app with the sandbox portal; open the URL it prints
run: $(VENV)/.runtime
	$(BIN)/python -m sandbox.launch

## system-deps: Redis and Chromium from the system package manager, when absent
system-deps:
	@if ! command -v redis-server >/dev/null || ! [ -x /usr/bin/chromium ]; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server chromium; \
	fi

## test: everything the tests need, then lint and the whole suite
test: system-deps bench-deps $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(VENV)/.test
	$(BIN)/ruff check .

## bench-deps: wrk (the load generator of the throughput benchmark), when absent
bench-deps:
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk; }

## bench: the benchmarks in bench/, printing a table (not part of `make test`)
bench: system-deps bench-deps $(VENV)/.test
	$(BIN)/python -m bench
