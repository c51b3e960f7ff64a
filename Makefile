# make run: one node with the embedded demo consortium. make test: lint, types, the whole suite.
# Both create or reuse .venv and install what is missing first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBIAN_PACKAGES := chromium etcd-server etcd-client openssl
PORT ?= 8080
DATA_DIR ?= data/demo

.PHONY: run test lint typecheck pytest bench debian clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the browser tests need; installed only when absent and we are root.
debian:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (install them as root)"; exit 1; fi; \
	fi

run: $(STAMP)
	$(BIN)/consortia up --data-dir $(DATA_DIR) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check consortia tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) debian
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/consortia bench

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache
