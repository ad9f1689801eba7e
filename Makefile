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

$(STAMP): requirements.txt requirements-test.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "$(TORCH_SPEC)"
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-test.txt
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
