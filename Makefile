# Two entry points: `make run` (local cluster on embedded defaults) and `make test` (whole suite).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run cluster regions test install bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/crossbook up

# The same processes on a 3-node JetStream cluster (nats/cluster/): TLS, R3 streams.
cluster: $(STAMP)
	$(BIN)/crossbook up --cluster

# The three-region supercluster (nats/regions/layout.json): NA, EU, AP, 3 nodes each, gateways;
# each venue's edge in its region, the API and trader in NA, an RTT prober per region.
regions: $(STAMP)
	$(BIN)/crossbook up --regions

# Lint and type-check first: a lint or type error fails the run before the suite starts.
test: $(STAMP)
	$(BIN)/ruff check events projections replay services tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/bus.py

clean:
	rm -rf $(VENV) .data
