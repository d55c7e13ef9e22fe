# The two commands: `make run` starts the service, `make test` runs the whole suite.
# Each creates .venv when missing and installs the project with its dev extras from the
# pinned constraints; when nothing changed the install step is skipped.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint openapi bench

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed (PYTHON=$(PYTHON))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the project into $(VENV) ..."
	@# uv installs in seconds; plain pip is the fallback where uv cannot run.
	@{ $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt uv \
		&& $(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e '.[dev]'; } \
	|| $(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c constraints.txt -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/customer-history serve

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/ruff format --check app tests migrations bench
	$(BIN)/mypy
	$(BIN)/lint-imports

openapi: $(STAMP)
	$(BIN)/customer-history openapi

bench: $(STAMP)
	$(BIN)/python -m bench
