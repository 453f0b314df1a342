# The two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench system-deps

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

## system-deps: Redis, Chromium, certutil (libnss3-tools: Chromium's trust in the sandbox's
## test CA), the time-zone database (users' zones) and wrk (the benchmarks' load generator)
## from the system package manager, when absent; never a browser download
system-deps:
	@if ! command -v redis-server >/dev/null || ! [ -x /usr/bin/chromium ] || ! command -v certutil >/dev/null \
	    || ! [ -e /usr/share/zoneinfo/Europe/Berlin ] || ! command -v wrk >/dev/null; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server chromium libnss3-tools tzdata wrk; \
	fi

## test: everything the tests need, then lint and the whole suite
test: system-deps $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(VENV)/.test
	$(BIN)/ruff check .

## bench: the benchmarks in bench/, printing a table (not part of `make test`)
bench: system-deps $(VENV)/.test
	$(BIN)/python -m bench
