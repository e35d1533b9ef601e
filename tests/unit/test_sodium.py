"""srpfast.crypto._sodium (our own libsodium calls) against pysodium, an independent binding, and the
runtime's independence from a system libsodium (issue 16)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
try:  # the reference binding loads the SYSTEM libsodium; the package never needs it
    import pysodium
except (ImportError, ValueError, OSError):
    pytest.skip("pysodium (a reference) cannot load a system libsodium here",
                allow_module_level=True)

from srpfast.crypto import _sodium
def test_keys_signatures_and_hashes_agree_with_pysodium() -> None:
    for _ in range(20):
        seed = os.urandom(32)
        pk, sk = _sodium.sign_seed_keypair(seed)
        assert (pk, sk) == pysodium.crypto_sign_seed_keypair(seed)
        msg = os.urandom(int.from_bytes(os.urandom(1), "big"))
        sig = _sodium.sign_detached(msg, sk)
        assert sig == pysodium.crypto_sign_detached(msg, sk)
        assert _sodium.verify_detached(sig, msg, pk)
        assert not _sodium.verify_detached(sig, msg + b"x", pk)
        assert not _sodium.verify_detached(sig[:63], msg, pk)  # malformed: False, no raise
        key = os.urandom(32)
        assert _sodium.generichash(msg) == pysodium.crypto_generichash(msg, outlen=32)
        assert _sodium.generichash(msg, key) == pysodium.crypto_generichash(msg, k=key,
                                                                             outlen=32)
        assert _sodium.sign_pk_to_box_pk(pk) == pysodium.crypto_sign_pk_to_box_pk(pk)
        assert _sodium.sign_sk_to_box_sk(sk) == pysodium.crypto_sign_sk_to_box_sk(sk)


def test_kx_session_keys_agree_with_pysodium_and_pair_up() -> None:
    a_pk, a_sk = pysodium.crypto_kx_keypair()
    b_pk, b_sk = pysodium.crypto_kx_keypair()
    client = _sodium.kx_session_keys(True, a_pk, a_sk, b_pk)
    server = _sodium.kx_session_keys(False, b_pk, b_sk, a_pk)
    assert client == pysodium.crypto_kx_client_session_keys(a_pk, a_sk, b_pk)
    assert server == pysodium.crypto_kx_server_session_keys(b_pk, b_sk, a_pk)
    assert client[0] == server[1] and client[1] == server[0]
    with pytest.raises(ValueError):
        _sodium.kx_session_keys(True, a_pk, a_sk, bytes(32))  # a weak (all-zero) key


def test_bad_lengths_raise_value_error() -> None:
    with pytest.raises(ValueError, match="seed must be 32"):
        _sodium.sign_seed_keypair(b"short")
    with pytest.raises(ValueError, match="secret key must be 64"):
        _sodium.sign_detached(b"m", b"k" * 32)
    with pytest.raises(ValueError, match="outlen"):
        _sodium.generichash(b"m", None, 8)


def test_the_runtime_never_loads_pysodium() -> None:
    """An installed wheel must work on a host without a system libsodium: nothing srpfast
    runs may go through pysodium (ctypes + the system library)."""
    code = ("import sys, srpfast, srpfast.api, srpfast.control.engine, srpfast.crypto;"
            "srpfast.create_identity(); srpfast.create_shared_key(b'x');"
            "print('pysodium' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__)))))
    assert out.stdout.strip() == "False"
