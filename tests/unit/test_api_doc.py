"""docs/API.md is generated from the code (tools/gen_api_doc.py) and must be current."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_api_reference_is_current() -> None:
    gen = os.path.join(ROOT, "tools", "gen_api_doc.py")
    done = subprocess.run([sys.executable, gen, "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + " (run `make docs`)"
