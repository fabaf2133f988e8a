# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both create .venv (if missing) and install the package with its pinned torch first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mnad_lite-installed

.PHONY: setup demo test lint unit notebooks bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# Pinned first, so nothing below can pull a CUDA build of torch.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[notebooks,dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m mnad_lite demo

test: lint unit notebooks

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

unit: $(STAMP)
	$(PY) -m pytest -q

notebooks: $(STAMP)
	MNAD_QUICK=1 $(PY) -m pytest -q --nbval-lax -p no:cacheprovider notebooks/

bench: $(STAMP)
	$(PY) benchmarks/memory_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
