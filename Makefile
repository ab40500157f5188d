# Every target that runs code depends on `setup`, which builds .venv from nothing and is
# a no-op when pyproject.toml has not changed since the last install.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-stamp
TORCH  := torch==2.13.0
DEMO   ?= demo-workspace

.PHONY: setup run test demo bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: a bare `torch` requirement would pull the CUDA build.
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Exit status 3 means "no display", 4 "Qt's system libraries are missing": DeepScope has
# already said so in one line (for 4: which Debian packages to install).
run: setup
	@$(PY) main.py $(DEMO) || { rc=$$?; [ $$rc -eq 3 ] || [ $$rc -eq 4 ] || exit $$rc; }

demo: setup
	$(PY) main.py demo $(DEMO)

# Lint first: style drift fails in seconds, before the suite's minutes.
test: setup
	$(PY) -m ruff check .
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
