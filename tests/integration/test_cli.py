"""The `srp` command as a user runs it: keygen, info, and a small demo network."""
import json
import os
import stat
import subprocess
import sys

import pytest

import srpfast

SRP = [sys.executable, "-m", "srpfast.cli"]
ENV = dict(os.environ, PYTHONPATH=os.getcwd())


def srp(*args, timeout=60):
    return subprocess.run(SRP + list(args), capture_output=True, text=True, timeout=timeout,
                          env=ENV)


def test_keygen_then_info(tmp_path):
    path = str(tmp_path / "me.key")
    made = srp("--json", "keygen", path)
    assert made.returncode == 0, made.stderr
    out = json.loads(made.stdout)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert srpfast.load_identity(path).peer_id.hex() == out["peer_id"]
    info = json.loads(srp("--json", "info", "--key", path).stdout)
    assert info["peer_id"] == out["peer_id"]
    again = srp("keygen", path)
    assert again.returncode == 2 and "--force" in again.stderr  # never overwrites silently


@pytest.mark.slow
def test_demo_delivers_everything():
    done = srp("--json", "demo", "--peers", "6", "--messages", "5", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["ready"] == 6
    assert summary["join_events"] == summary["member_pairs"] > 0
    assert summary["deliveries"] == summary["deliveries_wanted"] > 0
    assert summary["stream_delivered"] is True
    assert summary["relayed_by_dataplane"] > 0


@pytest.mark.parametrize("entry, says", [("1.2.3.4:99999", "outside 1..65535"),
                                         ("[::1]:9000", "none of the entries can be used")])
def test_peer_with_an_unusable_bootstrap_entry_says_why(entry, says):
    """A bad entry fails at once with the typed error's message, no traceback."""
    done = srp("peer", "--host", "127.0.0.1", "--bootstrap", entry, timeout=30)
    assert done.returncode == 2, done.stdout + done.stderr
    assert entry in done.stderr and says in done.stderr and "Traceback" not in done.stderr
