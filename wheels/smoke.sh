#!/usr/bin/env bash
# Install a built wheel into a fresh venv and run the unit suite against it (not against the
# source tree): the wheel must carry every extension, stub and vendored library it needs.
set -euo pipefail
wheel=${1:?usage: wheels/smoke.sh path/to/srpfast-*.whl}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel"
cd "$work"  # (never import the source tree's srpfast by accident)
# The runtime alone (no pysodium, no test tools): every libsodium call goes through the
# extensions, and every extension must resolve libsodium to the copy the wheel bundles.
"$work/venv/bin/python" - <<'PY'
import glob, os, subprocess, sys
import srpfast, srpfast.api, srpfast.control.engine
ident = srpfast.create_identity()
assert srpfast.crypto.verify_proof(ident.peer_id, b"x", srpfast.crypto.sign_proof(ident, b"x"))
assert "pysodium" not in sys.modules, "the runtime imported pysodium (system libsodium)"
here = os.path.dirname(srpfast.__file__)
for so in glob.glob(os.path.join(here, "_*.so")):
    for line in subprocess.run(["ldd", so], capture_output=True, text=True).stdout.splitlines():
        if "sodium" in line and "srpfast.libs" not in line:
            sys.exit(f"{os.path.basename(so)} links a libsodium outside the wheel: {line.strip()}")
print("runtime check passed: no pysodium, libsodium from the wheel")
PY
"$work/venv/bin/pip" install -q pytest hypothesis pysodium
cp -r "$here/tests/unit" "$work/unit"
# (these read docs/, tools/ or bench/ of a checkout, not part of an installed package)
rm -f "$work/unit/test_protocol_doc.py" "$work/unit/test_api_doc.py" "$work/unit/test_bench_harness.py"
cd "$work"
"$work/venv/bin/python" -c "import srpfast, srpfast.crypto._sha256 as s; print('srpfast', srpfast.__version__, 'from', srpfast.__file__, 'sha256', s.impl())"
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider unit
# The same with the system libsodium hidden (a private mount namespace, /dev/null bound over
# it): the wheel's own copy is all it needs (issue 16). Needs root and unshare.
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
  sys_lib=$(readlink -f "$(ldconfig -p | awk '/libsodium\.so/ {print $NF; exit}')")
  if [ -n "$sys_lib" ]; then
    unshare -m sh -c "mount --bind /dev/null '$sys_lib' && \
      ! python3 -c 'import ctypes; ctypes.CDLL(\"$sys_lib\")' 2>/dev/null && \
      '$work/venv/bin/python' '$here/wheels/two_peers.py' && \
      '$work/venv/bin/python' -m pytest -q -p no:cacheprovider unit"
    echo "runtime with the system libsodium hidden ($sys_lib): passed"
  fi
fi
"$work/venv/bin/srp" --json info --key /nonexistent >/dev/null 2>&1 && exit 1 || true
echo "wheel smoke test passed: $wheel"
