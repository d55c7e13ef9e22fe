# The two commands: `make run` starts the service, `make test` runs the whole suite.
# Each creates .venv when missing and installs the project with its dev extras from the
# pinned constraints; when nothing changed the install step is skipped.
# `make cluster` starts a local Citus cluster for tests and benchmarks on a distributed
# engine (see cluster/); neither `run` nor `test` ever uses it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint openapi bench mutation fuzz-long cluster cluster-stop cluster-status cluster-check cluster-explore cluster-test cluster-bench

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed (PYTHON=$(PYTHON))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the project into $(VENV) ..."
	@# uv installs in seconds; plain pip is the fallback where uv cannot run. Bytecode is
	@# compiled at install: with PYTHONDONTWRITEBYTECODE set, every process (each uvicorn
	@# worker the tests start) would otherwise compile the libraries again, for many seconds.
	@{ $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt uv \
		&& $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev]'; } \
	|| $(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c constraints.txt -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/customer-history serve

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check app tests migrations bench cluster
	$(BIN)/ruff format --check app tests migrations bench cluster
	$(BIN)/mypy
	$(BIN)/mypy -p cluster
	$(BIN)/lint-imports

openapi: $(STAMP)
	$(BIN)/customer-history openapi

# Every hot path beside its ceiling, measured in one run (docs/performance.md). The load
# client is wrk: `apt-get install -y wrk` where it is missing.
bench: $(STAMP)
	$(BIN)/python -m bench

# Mutation testing of the modules that carry the docs' promises, and of the erasure and
# retention SQL functions (docs/testing.md); never part of `make test`. `make mutation
# ONLY=visibility,privacy` runs some modules; SKIP_SQL=1 leaves the SQL mutants out;
# SAMPLE=1 runs every mutant of the fold and the rules (one in 5 by default).
mutation: $(STAMP)
	$(BIN)/python -m tests.mutation $(if $(ONLY),--only $(ONLY)) $(if $(SKIP_SQL),--skip-sql) \
		$(if $(SAMPLE),--sample $(SAMPLE))

# The fuzz run (tests/fuzz) with 40 examples per operation instead of CI's 15, and as many
# more webhook deliveries; never part of `make test`. FUZZ_SEED=<n> replays a run.
fuzz-long: $(STAMP)
	FUZZ_MAX_EXAMPLES=40 $(BIN)/pytest -m fuzz tests/fuzz -rP

# Builds Citus into .cluster/ when needed, starts a coordinator and two workers on
# 127.0.0.1 (CLUSTER_PORT, default 9700, and the next two) and prints the coordinator URL.
cluster: $(STAMP)
	$(BIN)/python -m cluster start

cluster-stop: $(STAMP)
	$(BIN)/python -m cluster stop

cluster-status: $(STAMP)
	$(BIN)/python -m cluster status

cluster-check: cluster
	CLUSTER_DATABASE_URL="$$($(BIN)/python -m cluster url)" $(BIN)/pytest -m cluster cluster/tests

# The suite on the cluster: its database made again on every node, migrated, distributed
# (cluster/placement.py); the single_node tests are skipped (docs/scaling.md).
cluster-test: cluster
	TEST_DATABASE_URL="$$($(BIN)/python -m cluster url)" $(BIN)/pytest

# Distributes the schema on a database of its own and reports what Citus refuses.
cluster-explore: cluster
	$(BIN)/python -m cluster explore

# `make bench` on the cluster: a database of its own (bench) made again on every node,
# migrated and placed as the suite's, then the same benchmark on it (BENCH_ARGS passes
# its options, e.g. BENCH_ARGS="--customers 5000 --rounds 2"; SHARDS=n shards a group).
cluster-bench: cluster
	BENCH_DATABASE_URL="$$($(BIN)/python -m cluster database bench $(if $(SHARDS),--shard-count $(SHARDS)))" \
		$(BIN)/python -m bench $(BENCH_ARGS)
