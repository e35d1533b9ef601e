#!/usr/bin/env bash
# Build the sdist, check it carries the sources, install it from source into a fresh venv
# (an isolated build: pip fetches the build requirements) and run the unit suite against it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PY:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$py" -m build --sdist -o "$work/dist" "$here" >/dev/null
sdist=$(ls "$work"/dist/srpfast-*.tar.gz)
listing=$(tar tzf "$sdist")
for want in LICENSE csrc/seal.c srpfast/crypto/_seal.pyx srpfast/drivers/_udp_pool.pxi srpfast/py.typed tests/unit docs/PROTOCOL.md; do
  grep -q "/$want" <<<"$listing" || { echo "sdist lacks $want"; exit 1; }
done
if grep -qE '/srpfast/(.*/)?_[a-z0-9]+\.c$|\.so$' <<<"$listing"; then
  echo "sdist carries generated C or binaries"; exit 1
fi
"$py" -m venv "$work/venv"
# With no compiler on PATH the install must fail saying what to install, not "succeed" as a
# pure-Python wheel that fails at import (issue 16).
mkdir -p "$work/nocc"
for tool in python3 python; do ln -sf "$(command -v "$tool")" "$work/nocc/$tool"; done
if PATH="$work/venv/bin:$work/nocc" CC= "$work/venv/bin/pip" install -q --no-cache-dir "$sdist" \
    > "$work/nocc.log" 2>&1; then
  echo "sdist installed with no compiler on PATH"; exit 1
fi
grep -q "no C compiler found" "$work/nocc.log" || { echo "no clear message:"; tail -20 "$work/nocc.log"; exit 1; }
echo "without a compiler: the install stops with 'no C compiler found' and what to install"
"$work/venv/bin/pip" install -q "$sdist"
"$work/venv/bin/pip" install -q pytest hypothesis pysodium
tar xzf "$sdist" -C "$work"
# The unit tests alone, outside the unpacked tree: its srpfast/ (no built extensions) must not
# shadow the installed package.
cp -r "$work"/srpfast-*/tests/unit "$work/unit"
# (these read docs/, tools/ or bench/ of a checkout, not part of an installed package)
rm -f "$work/unit/test_protocol_doc.py" "$work/unit/test_api_doc.py" "$work/unit/test_bench_harness.py"
cd "$work"
"$work/venv/bin/python" -c "import srpfast, srpfast.api; print('srpfast', srpfast.__version__, 'built from the sdist at', srpfast.__file__)"
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider unit
echo "sdist smoke test passed: $(basename "$sdist")"
