# waifugan developer commands. `make setup` once, then `make demo` / `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
SHARED ?= $(abspath ../shared)
export WAIFUGAN_ASSETS ?= $(SHARED)/assets
export WAIFUGAN_SHARED ?= $(SHARED)

.PHONY: setup demo test bench check format clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# CPU install: torch and OpenCV pinned through the constraints file, the package's own
# dependencies stay open ranges so GPU users get their CUDA build.
setup: $(PY)
	$(PY) -m pip install --quiet -c requirements/constraints-cpu.txt -e '.[dev]'

demo: $(PY)
	$(PY) -m waifugan demo --outdir demo-out

test: $(PY)
	$(PY) -m pytest -q

bench: $(PY)
	$(PY) benchmarks/run_all.py

check: $(PY)
	$(VENV)/bin/ruff format --check src tests benchmarks tools
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/mypy

format: $(PY)
	$(VENV)/bin/ruff format src tests benchmarks tools
	$(VENV)/bin/ruff check --fix src tests benchmarks tools

clean:
	rm -rf demo-out .pytest_cache .mypy_cache .ruff_cache
