# One-command set-up. `make demo` and `make test` create the virtual environment (pinned
# dependencies, CPU torch unless TORCH_SPEC says otherwise), the tiny model and the synthetic
# dataset when they are missing, then run. Every target is idempotent.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU wheel by default (CI and machines without a GPU). For a GPU install see README.
TORCH_SPEC ?= torch==2.13.0
TINY_MODEL := models/tiny-ltx2
SYNTH_DATA := data/synthetic
STAMP := $(VENV)/.installed

.PHONY: demo test test-python setup assets clean-demo lint-size ui

setup: $(STAMP)

$(STAMP): requirements.txt requirements-test.txt requirements-nodeps.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "$(TORCH_SPEC)"
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-test.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	@touch $(STAMP)

$(TINY_MODEL)/tiny_ltx2.json: | $(STAMP)
	$(PY) -m toolkit.tiny_model $(TINY_MODEL)

$(SYNTH_DATA)/.complete: | $(STAMP)
	$(PY) -m toolkit.synthetic_data $(SYNTH_DATA) --clips 4 --images 2
	@touch $@

assets: $(TINY_MODEL)/tiny_ltx2.json $(SYNTH_DATA)/.complete

demo: setup assets
	$(PY) run.py config/examples/ltx2_tiny_demo.yaml

test: setup assets
	$(PY) -m pytest -q -p no:cacheprovider tests
	$(MAKE) test-ui

# ---------------------------------------------------------------- web UI (ui/, docs/ui.md)
# npm ci only when node_modules is missing or older than the lockfile (it compiles
# better-sqlite3 from source: ~2 minutes). Chromium comes from Debian, never a download.
UI_NPM_CI = cd ui && { [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ] || JOBS=max npm ci --no-audit --no-fund; }
UI_BUILD = cd ui && NEXT_TELEMETRY_DISABLED=1 npx --no-install next build
CHROMIUM ?= /usr/bin/chromium

.PHONY: ui test-ui

ui: setup
	$(UI_NPM_CI)
	$(UI_BUILD)
	cd ui && node scripts/serve.mjs --host $${LTX2_UI_HOST:-127.0.0.1} --port $${LTX2_UI_PORT:-8675}

test-ui: setup assets
	@test -x $(CHROMIUM) || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
	$(UI_NPM_CI)
	$(UI_BUILD)
	cd ui && npx --no-install vitest run
	cd ui && CHROMIUM_PATH=$(CHROMIUM) npx --no-install playwright test
