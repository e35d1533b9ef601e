#!/usr/bin/env bash
# The C extensions' unit tests against an ASan/UBSan build (issue 13), in build/san/ so the
# normal in-place build is never touched. `make test` runs it (SANTEST=0 skips it).
#   1. SRPFAST_SANITIZE=1 build_ext into build/san/lib (own temp dir: objects never mix), at
#      -O0 (SRPFAST_DEBUG: the first build takes ~1 min instead of ~2.5 at -O3);
#   2. build/san/root/srpfast = the package's .py files + the sanitized .so, tests symlinked;
#   3. pytest from build/san/root with libasan preloaded (Python itself is not instrumented,
#      so the ASan runtime must come first in the process), leaks off (CPython's arenas look
#      like leaks), any UBSan report fatal. A test that imports the unsanitized .so fails the
#      run (checked below).
set -euo pipefail
PY=${PY:-.venv/bin/python}
ROOT=$(pwd)
SAN=build/san
TESTS=${SANTEST_TESTS:-"tests/unit/test_frame.py tests/unit/test_sha256.py tests/unit/test_cache.py tests/unit/test_cache_order_model.py tests/unit/test_dataplane.py tests/unit/test_deliver.py tests/unit/test_carry.py tests/unit/test_sealing.py tests/unit/test_chain.py tests/unit/test_sodium.py tests/unit/test_udp.py tests/unit/test_events.py tests/unit/test_delivered.py"}
mkdir -p "$SAN"
SRPFAST_SANITIZE=1 SRPFAST_DEBUG=1 "$PY" setup.py -q build_ext -j 2 --build-lib "$SAN/lib" --build-temp "$SAN/tmp" \
  >"$SAN/build.log" 2>&1 || { tail -40 "$SAN/build.log"; exit 1; }
# Really instrumented (ASan calls in the C core), or the run proves nothing:
nm -D "$SAN"/lib/srpfast/dataplane/_cache*.so | grep -q __asan_report || { echo "no ASan in build/san"; exit 1; }
mkdir -p "$SAN/root"
rm -rf "$SAN/root/srpfast"
(cd srpfast && find . -name '*.py' -o -name '*.pyi' -o -name py.typed) | while read -r f; do
  mkdir -p "$SAN/root/srpfast/$(dirname "$f")"; cp "srpfast/$f" "$SAN/root/srpfast/$f"; done
(cd "$SAN/lib" && find srpfast -name "*.so") | while read -r f; do cp "$SAN/lib/$f" "$SAN/root/$f"; done
ln -sfn "$ROOT/tests" "$SAN/root/tests"
cp pyproject.toml "$SAN/root/"
ASAN_LIB=$(${CC:-gcc} -print-file-name=libasan.so)
UBSAN_LIB=$(${CC:-gcc} -print-file-name=libubsan.so)
cd "$SAN/root"
export LD_PRELOAD="$ASAN_LIB $UBSAN_LIB"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:verify_asan_link_order=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export PYTHONDONTWRITEBYTECODE=1
"$ROOT/$PY" -c 'import srpfast.dataplane._cache as m, sys; sys.exit(0 if "/build/san/" in m.__file__ else "not the sanitized build: " + m.__file__)'
# shellcheck disable=SC2086
"$ROOT/$PY" -m pytest -q -p no:cacheprovider -x $TESTS
