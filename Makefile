# gofish — everything a fresh Debian 12 machine with Python 3.11 needs, installed by `make`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 6379
DIR    ?= ./data
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install serve test test-all lint redis-server bench bench-cluster bench-checkpoints jepsen clean

install: $(VENV)/.installed

# setup.py compiles these with mypyc (gofish/_native.py NATIVE, ADR 0014): editing one rebuilds
NATIVE_SOURCES := setup.py gofish/_native.py gofish/net/resp.py gofish/net/server.py \
  gofish/node/dispatch.py gofish/statemachine/keyspace.py gofish/statemachine/machine.py \
  gofish/statemachine/sessions.py gofish/statemachine/types/strings.py

$(VENV)/.installed: pyproject.toml $(NATIVE_SOURCES)
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3-venv missing: installing it"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv && \
	  $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

# The reference Redis 7.0 for the comparison tests and benchmarks (Debian's packages).
redis-server:
	@command -v redis-server >/dev/null && command -v redis-cli >/dev/null && \
	  command -v redis-benchmark >/dev/null || { \
	  echo "installing redis-server and redis-tools from Debian's packages"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server redis-tools; }

serve: install
	$(BIN)/gofish server --port $(PORT) --bind 127.0.0.1 --dir $(DIR)

# The whole default suite (< 15 minutes on 2 cores).
test: install redis-server
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -p no:cacheprovider tests
	GOFISH_PURE=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_native.py tests/net \
	  tests/statemachine tests/types

lint: install
	$(BIN)/ruff check gofish tests bench tools
	$(BIN)/mypy gofish
	$(BIN)/lint-imports

# gofish vs Redis 7.0 side by side (writes docs/benchmarks.md).
bench: install redis-server
	$(BIN)/python bench/compare.py --floor

bench-cluster: install redis-server
	$(BIN)/python bench/cluster_bench.py

bench-checkpoints: install redis-server
	$(BIN)/python bench/checkpoint_bench.py

SEEDS    ?= 10
DURATION ?= 15
NODES    ?= 3
# Long fault-injection runs (Jepsen-style), one random nemesis schedule per seed.
jepsen: install
	$(BIN)/python -m tests.faults.jepsen --seeds $(SEEDS) --duration $(DURATION) --nodes $(NODES)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache *__mypyc*.so
	find gofish -name '*.so' -delete
