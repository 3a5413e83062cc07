# The two set-up commands: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck unit bench clean assets

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_RUN)

# The console's browser libraries, from the npm registry by the committed lockfile, into a
# gitignored folder zhibo serves itself (docs/console.md). axe.min.js is for the accessibility
# test only (tests/console/test_browser.py injects it); no page loads it.
CONSOLE := src/zhibo/console
VENDOR := $(CONSOLE)/static/vendor
$(VENDOR)/chart.umd.js: $(CONSOLE)/assets/package.json $(CONSOLE)/assets/package-lock.json
	cd $(CONSOLE)/assets && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp $(CONSOLE)/assets/node_modules/chart.js/dist/chart.umd.js* $(VENDOR)/
	cp $(CONSOLE)/assets/node_modules/chart.js/LICENSE.md $(VENDOR)/chart.js.LICENSE.md
	mkdir -p $(VENDOR)/noto-sans-sc/files
	cd $(CONSOLE)/assets/node_modules/@fontsource/noto-sans-sc && \
		cp 400.css 700.css LICENSE $(CURDIR)/$(VENDOR)/noto-sans-sc/ && \
		cp files/*-400-normal.woff2 files/*-700-normal.woff2 $(CURDIR)/$(VENDOR)/noto-sans-sc/files/
	cp $(CONSOLE)/assets/node_modules/axe-core/axe.min.js $(VENDOR)/axe.min.js
	cp $(CONSOLE)/assets/node_modules/axe-core/LICENSE $(VENDOR)/axe-core.LICENSE

assets: $(VENDOR)/chart.umd.js

demo: $(STAMP_RUN) assets
	$(BIN)/zhibo demo

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP_DEV)
	$(BIN)/mypy src

unit: $(STAMP_DEV) assets
	$(BIN)/pytest -q -n 2  # the machine's 2 cores: most tests wait on PostgreSQL, NATS or a child process

test: lint typecheck unit

bench: $(STAMP_DEV)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache test-artifacts \
		$(VENDOR) $(CONSOLE)/assets/node_modules
