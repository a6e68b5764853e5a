# Every target sets up .venv on first use: a fresh clone needs only python3 (3.11+).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
UV_VERSION := 0.13.8

.PHONY: help venv browser demo up test test-fast lock clean

help:
	@echo "make demo   run the nightly review DAG on local parts (moto S3, local review service)"
	@echo "make test   run the whole test suite"
	@echo "make up     an interactive local stack: airflow standalone + local S3 + review queue (Ctrl-C stops it)"
	@echo "make lock   re-pin requirements.txt / requirements-dev.txt from the .in files"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements.txt -r requirements-dev.txt
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/human-review demo

# interactive: Airflow UI + local S3 with sample photos + the review queue; Ctrl-C stops it
up: $(STAMP)
	$(BIN)/human-review up

# Browser tests drive Debian's Chromium; install it when we can (root), else they skip and say so.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's chromium for the browser tests (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "NOTE: chromium is not installed and this user cannot install it: browser tests will be skipped"; fi

test: $(STAMP) browser
	$(BIN)/pytest -n 2 --dist loadgroup

# unit tests only: seconds, no services
test-fast: $(STAMP)
	$(BIN)/pytest tests/unit -q

lock: $(STAMP)
	$(BIN)/uv pip compile --python-version 3.11 -q requirements.in -o requirements.txt
	$(BIN)/uv pip compile --python-version 3.11 -q requirements-dev.in -o requirements-dev.txt

clean:
	rm -rf $(VENV) .pytest_cache demo-output
