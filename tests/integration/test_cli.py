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


def test_version_and_json_after_the_subcommand(tmp_path):
    v = srp("--version")
    assert v.returncode == 0 and v.stdout.strip() == f"srpfast {srpfast.__version__}"
    path = str(tmp_path / "k.key")
    made = srp("keygen", path, "--json")  # --json after the subcommand, as users write it
    assert made.returncode == 0 and json.loads(made.stdout)["path"] == path


def test_peer_with_stdin_from_dev_null_exits_cleanly():
    """stdin at EOF at once (a service, a cron job): no abort, the peer starts and leaves."""
    with open(os.devnull) as null:
        done = subprocess.run(SRP + ["peer", "--host", "127.0.0.1", "--json", "--linger", "0"],
                              stdin=null, capture_output=True, text=True, timeout=30, env=ENV)
    assert done.returncode == 0, done.stderr
    kinds = [json.loads(line)["event"] for line in done.stdout.splitlines()]
    assert kinds[:2] == ["start", "ready"]


@pytest.mark.slow
def test_headless_node_serves_a_peer_and_reports_status_until_sigterm():
    import signal
    import time
    node = subprocess.Popen(SRP + ["peer", "--serve", "--host", "127.0.0.1", "--json",
                                   "--status-interval", "0.5"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        start = json.loads(node.stdout.readline())
        host, port = start["address"]
        with open(os.devnull) as null:
            client = subprocess.run(SRP + ["peer", "--host", "127.0.0.1", "--bootstrap",
                                           f"{host}:{port}", "--linger", "2"],
                                    stdin=null, capture_output=True, text=True, timeout=30,
                                    env=ENV)
        assert client.returncode == 0, client.stderr
        seen_peer = False
        end = time.monotonic() + 10
        while time.monotonic() < end and not seen_peer:
            line = json.loads(node.stdout.readline())
            seen_peer = line["event"] == "status" and line["rx"] > 0
        assert seen_peer
        node.send_signal(signal.SIGTERM)
        assert node.wait(10) == 0
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
