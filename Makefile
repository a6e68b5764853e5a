# Every target sets up .venv on first use: a fresh clone needs only python3 (3.11+).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
UV_VERSION := 0.13.8

.PHONY: help venv browser demo up test test-fast stack-test lock clean

help:
	@echo "make demo   run the nightly review DAG on local parts (moto S3, local review service)"
	@echo "make test   run the whole test suite"
	@echo "make up     an interactive local stack: airflow standalone + local S3 + review queue (Ctrl-C stops it; PORT=8080)"
	@echo "make stack-test  the distributed stack test alone (Celery workers, PostgreSQL, Redis)"
	@echo "make lock   re-pin requirements-dev.txt, then write requirements.txt / requirements-service.txt from their .in files"

# requirements-dev.txt is the fully pinned set (it includes requirements.in and requirements-service.in);
# then the library (plugins/human_review) and the dev package (dev/: demo, up, bench, local stack).
$(STAMP): requirements-dev.txt pyproject.toml dev/pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements-dev.txt
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e . -e dev
	@# Bytecode now, as pip and Airflow's image have it: uv installs no .pyc, and where
	@# PYTHONDONTWRITEBYTECODE is set every task process would compile Airflow, botocore and the rest again
	@# (more than half of a short task's CPU).
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib plugins dags dev >/dev/null
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/human-review demo

# interactive: Airflow UI + local S3 with sample photos + the review queue; Ctrl-C stops it.
# Port 8080 taken? `make up PORT=8090`.
PORT ?= 8080
up: $(STAMP)
	$(BIN)/human-review up --port $(PORT)

# Browser tests drive Debian's Chromium; install it when we can (root), else they skip and say so.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's chromium for the browser tests (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "NOTE: chromium is not installed and this user cannot install it: browser tests will be skipped"; fi

test: $(STAMP) browser
	$(BIN)/pytest -n 2 --dist loadfile

# The distributed stack test alone: api-server, scheduler, dag-processor, triggerer and two Celery
# workers as separate processes on PostgreSQL + Redis (defaults: this machine's; override the URLs).
# Each process's log stays in airflow-home/stack-test/stack0/<name>.log after the run.
HUMAN_REVIEW_TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
HUMAN_REVIEW_TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
stack-test: $(STAMP)
	@mkdir -p airflow-home
	HUMAN_REVIEW_TEST_POSTGRES_URL=$(HUMAN_REVIEW_TEST_POSTGRES_URL) HUMAN_REVIEW_TEST_REDIS_URL=$(HUMAN_REVIEW_TEST_REDIS_URL) \
	  $(BIN)/pytest tests/stack -s -ra -p no:cacheprovider --basetemp=airflow-home/stack-test

# unit tests only: seconds, no services
test-fast: $(STAMP)
	$(BIN)/pytest tests/unit -q

# requirements-dev.txt: the full lock (uv keeps its current pins unless an .in file needs others);
# requirements.txt, requirements-service.txt: the production .in files with the tested versions noted
# (installed with Airflow's constraints on top of the official image, so no exact pins there).
lock: $(STAMP)
	$(BIN)/uv pip compile --python-version 3.11 -q requirements-dev.in -o requirements-dev.txt
	$(BIN)/python -m human_review_dev.lock

clean:
	rm -rf $(VENV) .pytest_cache demo-output
