"""Every example in examples/ runs (its --selftest: real peers on loopback) and succeeds."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = sorted(f for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".py"))


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES)
def test_example_selftest_passes(example: str) -> None:
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", example),
                           "--selftest"], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout or "matches" in done.stdout


def test_there_are_examples() -> None:
    assert {"chat.py", "file_transfer.py", "relay_node.py"} <= set(EXAMPLES)
