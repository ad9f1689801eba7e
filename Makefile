# One-command set-up. `make demo` and `make test` create the virtual environment (pinned
# dependencies, CPU torch unless TORCH_SPEC says otherwise), the tiny model and the synthetic
# dataset when they are missing, then run. Every target is idempotent.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU wheel by default (CI and machines without a GPU). For a GPU install see README.
TORCH_SPEC ?= torch==2.13.0
TINY_MODEL := models/tiny-ltx2
# Tiny twins of the other LTX-2 versions (docs/models.md): models/tiny-ltx2.3, models/tiny-ltx2.5
TINY_FAMILY := models/tiny-ltx2.3 models/tiny-ltx2.5
SYNTH_DATA := data/synthetic
STAMP := $(VENV)/.installed

.PHONY: demo test lint setup assets ui tiny-models

setup: $(STAMP)

# Decided by what is installed, not by file dates: a fresh clone (all files new) over a
# venv that already has every pinned version runs no pip at all. requirements-nodeps.txt is
# installed without its declared dependencies (see the comment in that file).
$(STAMP): FORCE
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m toolkit.dev.requirements_check "$(TORCH_SPEC)" requirements.txt requirements-test.txt requirements-nodeps.txt || { \
	  $(PY) -m pip install -q --disable-pip-version-check "$(TORCH_SPEC)" && \
	  $(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-test.txt && \
	  $(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt; }
	@touch $(STAMP)

.PHONY: FORCE
FORCE:

$(TINY_MODEL)/tiny_ltx2.json: | $(STAMP)
	$(PY) -m extensions_built_in.diffusion_models.ltx2.tiny_model $(TINY_MODEL)

models/tiny-ltx2.%/tiny_ltx2.json: | $(STAMP)
	$(PY) -m extensions_built_in.diffusion_models.ltx2.tiny_model --version 2.$* models/tiny-ltx2.$*

tiny-models: $(TINY_MODEL)/tiny_ltx2.json $(TINY_FAMILY:%=%/tiny_ltx2.json)

$(SYNTH_DATA)/.complete: | $(STAMP)
	$(PY) -m toolkit.dev.synthetic_data $(SYNTH_DATA) --clips 4 --images 2
	@touch $@

assets: tiny-models $(SYNTH_DATA)/.complete

demo: setup assets
	$(PY) run.py config/examples/ltx2_tiny_demo.yaml

# Two pytest workers (the CI machine has 2 cores), a test file per worker so its module
# fixtures are built once; one torch thread each so the two do not fight over the cores.
# Subprocesses (run.py, the distributed launcher) inherit the thread count.
PYTEST_WORKERS ?= 2
PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile
test: setup assets lint
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -p no:cacheprovider $(PARALLEL) tests
	$(MAKE) test-numerics
	$(MAKE) test-ui

# The tests that compare numbers across loads, files, processes and resumes (marked `numerics`),
# again under a second CPU code path: ATen's scalar kernels instead of the AVX2/AVX-512 ones,
# oneDNN and MKL capped at SSE4.1. A CPU of another kind (AVX-512 where this one has AVX2) takes
# other paths and sums in other orders; this shows the suite does not depend on one of them.
NUMERICS_CPU_PATH := ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2
.PHONY: test-numerics
test-numerics: setup assets
	$(NUMERICS_CPU_PATH) OMP_NUM_THREADS=1 $(PY) -m pytest -q -p no:cacheprovider $(PARALLEL) -m numerics tests

# Lint before the tests (rules in pyproject.toml: pyflakes, bugbear, import order, naming,
# pyupgrade for Python 3.11).
lint: setup
	$(PY) -m ruff check .

# ---------------------------------------------------------------- web UI (ui/, docs/ui.md)
# npm ci only when node_modules is missing or older than the lockfile (it compiles
# better-sqlite3 from source: ~2 minutes). next build only when a UI source is newer than
# the last build. Chromium comes from Debian, never a download.
UI_NODE_STAMP := ui/node_modules/.package-lock.json
UI_BUILD_STAMP := ui/.next/BUILD_ID
UI_SOURCES := $(shell find ui/src ui/public ui/scripts -type f 2>/dev/null) \
	ui/package.json ui/next.config.ts ui/tsconfig.json
UI_BUILD = cd ui && NEXT_TELEMETRY_DISABLED=1 npx --no-install next build
CHROMIUM ?= /usr/bin/chromium

.PHONY: ui test-ui

$(UI_NODE_STAMP): ui/package-lock.json
	cd ui && JOBS=max npm ci --no-audit --no-fund

$(UI_BUILD_STAMP): $(UI_SOURCES) $(UI_NODE_STAMP)
	$(UI_BUILD)

ui: setup $(UI_BUILD_STAMP)
	cd ui && node scripts/serve.mjs --host $${LTX2_UI_HOST:-127.0.0.1} --port $${LTX2_UI_PORT:-8675}

test-ui: setup assets $(UI_NODE_STAMP)
	@test -x $(CHROMIUM) || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
	$(UI_BUILD)
	cd ui && npx --no-install vitest run
	cd ui && CHROMIUM_PATH=$(CHROMIUM) npx --no-install playwright test
