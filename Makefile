# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both create .venv (if missing) and install the package with its pinned torch first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_INDEX ?=
STAMP := $(VENV)/.mnad_lite-installed
# Waiting OpenMP threads sleep instead of spinning (see mnad_lite/__init__.py).
OMP_WAIT_POLICY ?= PASSIVE
export OMP_WAIT_POLICY

# Debian's Chromium for the browser test (Playwright's own browser download is not used).
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser)
BROWSER_ARTIFACTS ?= build/browser
SITE ?= build/site

.PHONY: setup demo test lint unit notebooks bench clean site test-browser browser-if-available \
	refresh-ped2 restore-ped2 refresh-fast check-course test-cpus check-mutations

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# Pinned first, so nothing below can pull a CUDA build of torch. GPU machines:
	# make setup TORCH_INDEX=https://download.pytorch.org/whl/cuXXX (see the README).
	$(PY) -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -e '.[notebooks,dev,browser,site]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m mnad_lite demo

# The quick notebooks run under three emulated CPUs (test-cpus), each from an empty cache.
test: lint unit test-cpus browser-if-available

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

unit: $(STAMP)
	$(PY) -m pytest -q

notebooks: $(STAMP)
	@cache=$$(mktemp -d) && MNAD_CACHE=$$cache MNAD_QUICK=1 \
		$(PY) -m pytest -q --nbval-lax -p no:cacheprovider notebooks/; \
	status=$$?; rm -rf $$cache; exit $$status

# A learner's full check: every notebook in full mode from an empty cache (it trains every
# course model; the README gives its time), then the full fingerprint chain of the course.
check-course: $(STAMP)
	@cache=$$(mktemp -d) && echo "check-course: empty cache $$cache" && start=$$(date +%s) && \
	MNAD_CACHE=$$cache $(PY) -m pytest -q --nbval-lax -p no:cacheprovider notebooks/ && \
	MNAD_CACHE=$$cache $(PY) -m mnad_lite.course.fingerprint --full \
		--check notebooks/fingerprints.json >/dev/null && \
	echo "check-course: passed in $$(( $$(date +%s) - start )) s" && rm -rf $$cache

# The quick course under three emulated CPUs (native, AVX2, baseline x86-64), each from an
# empty cache: the fingerprint chain and quick nbval must pass under every one.
test-cpus: $(STAMP)
	$(PY) scripts/emulate_cpus.py

# The checks bite: Adam's betas or eps changed in a copy of the checkout fail quick nbval.
check-mutations: $(STAMP)
	$(PY) scripts/mutations.py

# JupyterLab in headless Chromium: run the widget notebooks, move their sliders.
test-browser: $(STAMP)
	MNAD_CHROMIUM=$(CHROMIUM) BROWSER_ARTIFACTS=$(BROWSER_ARTIFACTS) \
		$(PY) -m pytest -q -m browser -p no:cacheprovider tests/browser

browser-if-available: $(STAMP)
	@if [ -n "$(CHROMIUM)" ]; then $(MAKE) --no-print-directory test-browser; \
	else echo "SKIPPED browser test (make test-browser): Chromium not found;" \
		"install it with 'apt-get install -y chromium'"; fi

# The course as static HTML with its stored outputs: $(SITE)/index.html.
site: $(STAMP)
	$(PY) scripts/build_site.py --out $(SITE)

bench: $(STAMP)
	$(PY) benchmarks/memory_bench.py

# After Ped2 study runs finish: the committed summary (which keeps the runs $(STUDY) no
# longer holds) and the runs' records (docs/studies/ped2-runs: no weights, no labels),
# then everything that states it (notebook 06 section 4, notebook 05's Ped2 cell, the
# block of docs/results.md). STUDY: the study folder. On a fresh machine, bring the recorded runs back
# first: make restore-ped2 PED2=path/to/ped2 (their labels are read from the dataset).
STUDY ?= runs/study-ped2
PED2 ?= data/ped2
refresh-ped2: $(STAMP)
	$(PY) -m mnad_lite study --out $(STUDY) --summary-only \
		--compact docs/studies/ped2-summary.json --save-records docs/studies/ped2-runs >/dev/null
	$(PY) scripts/refresh_section.py notebooks/06_experiments.ipynb "## 4."
	$(PY) scripts/refresh_section.py notebooks/05_evaluation.ipynb \
		"### The same three facts on UCSD Ped2"
	$(PY) scripts/clean_notebooks.py notebooks/05_evaluation.ipynb notebooks/06_experiments.ipynb
	$(PY) scripts/refresh_readme.py docs/results.md

restore-ped2: $(STAMP)
	$(PY) -m mnad_lite study --out $(STUDY) --summary-only --data $(PED2) \
		--restore-records docs/studies/ped2-runs >/dev/null

# The faster Ped2 preset (part 4 of issue 9): its committed summary (with the choice), then
# the blocks that state it (docs/studies/fast-ped2.md, docs/results.md). FAST: its study folder.
FAST ?= runs/fast-ped2
refresh-fast: $(STAMP)
	$(PY) -m mnad_lite study --out $(FAST) --summary-only \
		--compact docs/studies/fast-ped2-summary.json >/dev/null
	$(PY) scripts/refresh_readme.py docs/studies/fast-ped2.md
	$(PY) scripts/refresh_readme.py docs/results.md

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
