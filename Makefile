PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint fmt clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

DEMO_DB := sqlite://var/taishan.sqlite3

run: $(STAMP)
	$(BIN)/taishan demo --db $(DEMO_DB)
	$(BIN)/taishan serve --db $(DEMO_DB)

test: $(STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench.engine
	$(BIN)/python -m bench.changepoints
	$(BIN)/python -m bench.server
	$(BIN)/python -m bench.auth
	$(BIN)/python -m bench.notify
	$(BIN)/python -m bench.projection
	$(BIN)/python -m bench.dashboards

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache
