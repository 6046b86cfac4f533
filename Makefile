# The commands people type. A fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test install install-dev lint format migrate ci

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

# Web server and task cluster together on the embedded SQLite default, with a demo agency and sandbox accounts.
run: migrate
	$(PY) manage.py demo_setup
	$(PY) manage.py sandbox_demo
	$(PY) manage.py sync_schedules
	trap 'kill 0' INT TERM EXIT; $(PY) manage.py qcluster & $(PY) manage.py runserver 127.0.0.1:8000

# The whole suite: local PostgreSQL when reachable (or DATABASE_URL), else SQLite with a notice.
test: install-dev
	DATABASE_URL="$${DATABASE_URL:-$$($(PY) config/testdb.py)}" $(PY) -m pytest

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

ci:
	bash .ci/run
