"""The public API is typed: mypy sees the real types of README-style code (a typo in a
method name is an error, not Any), and the package and examples type-check under
``mypy --strict`` (every function annotated, no implicit Any returns, generic arguments given)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
mypy = pytest.importorskip("mypy", reason="mypy is installed by `make test` (PIP_DEPS)")


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary",
                           "--cache-dir", os.path.join(ROOT, "build", "mypy-cache"), *args],
                          capture_output=True, text=True, cwd=ROOT)


def test_package_and_examples_type_check_strictly() -> None:
    done = _mypy("--strict", "srpfast", "examples")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_typo_in_readme_style_code_is_a_type_error(tmp_path) -> None:
    code = tmp_path / "typo.py"
    code.write_text(
        "import srpfast\n"
        "async def main() -> None:\n"
        "    async with srpfast.network(cluster_id=srpfast.create_cluster_id(b'x')) as net:\n"
        "        greetings = await net.subcluster(shared_key=srpfast.create_shared_key(b'g'))\n"
        "        reveal_type(net)\n"
        "        greetings.emitt('hello', 1)\n")
    done = _mypy("--strict", str(code))
    assert done.returncode != 0 and '"Subcluster" has no attribute "emitt"' in done.stdout
    assert 'Revealed type is "srpfast.api.Network"' in done.stdout  # not Any
