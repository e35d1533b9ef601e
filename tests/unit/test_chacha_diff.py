"""csrc/chacha16.c (issue 17: its own ChaCha20-IETF keystream, 8 and 16 blocks at a time with
AVX-512, and HChaCha20 16 nonces at a time) and csrc/seal.c's use of it, against the real
libsodium through ctypes: every keystream function for random keys, nonces and counters
(up to the last counter that does not wrap), HChaCha20 for 1..16 nonces, and the AEAD
byte-identical to crypto_aead_xchacha20poly1305_ietf_* at every length 0..1230 (past 1216, where
seal.c hands the AEAD to libsodium whole).

The C files are compiled here twice into small shared objects: as the extension builds them
(the AVX-512 paths where this CPU has them, chosen at run time) and with chacha16.c's portable
branch (its `#else`: __x86_64__ undefined after the system headers, which need it, are in):
srp_chacha16_ok() == 0, so seal.c takes libsodium's keystream, the path of a CPU without
AVX-512. So both sides of the run-time dispatch are tested on any machine (chacha16.c has no
switch of its own to force the fallback)."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
SOURCES = ["chacha16.c", "seal.c", "frame.c", "sha256.c"]

u8p = ctypes.c_char_p
KS_FUNCS = {  # name -> (blocks, its availability check)
    "srp_chacha16": (16, "srp_chacha16_ok"),
    "srp_chacha8": (8, "srp_chacha8_ok"),
    "srp_chacha_block": (1, None),
    "srp_chacha_block1": (1, None),
}


def _sodium() -> ctypes.CDLL:
    name = ctypes.util.find_library("sodium")
    if not name:
        pytest.skip("libsodium not found")
    lib = ctypes.CDLL(name)
    assert lib.sodium_init() >= 0
    lib.crypto_stream_chacha20_ietf_xor_ic.argtypes = [u8p, u8p, ctypes.c_ulonglong, u8p,
                                                       ctypes.c_uint32, u8p]
    lib.crypto_core_hchacha20.argtypes = [u8p, u8p, u8p, u8p]
    lib.crypto_aead_xchacha20poly1305_ietf_encrypt.argtypes = [
        u8p, ctypes.POINTER(ctypes.c_ulonglong), u8p, ctypes.c_ulonglong, u8p,
        ctypes.c_ulonglong, u8p, u8p, u8p]
    return lib


PORTABLE = """#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sodium.h>
#undef __x86_64__
#include "chacha16.c"
"""


def _build(tmp: Path, name: str, portable: bool) -> ctypes.CDLL:
    if not shutil.which("gcc"):
        pytest.skip("gcc not installed")
    so = tmp / f"{name}.so"
    files = [str(CSRC / s) for s in SOURCES]
    if portable:
        (tmp / "chacha_portable.c").write_text(PORTABLE)
        files[0] = str(tmp / "chacha_portable.c")
    done = subprocess.run(["gcc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-shared", "-fPIC",
                           "-Wall", "-I", str(CSRC), "-o", str(so), *files, "-lsodium"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lib = ctypes.CDLL(str(so))
    for f in KS_FUNCS:
        getattr(lib, f).argtypes = [u8p, u8p, u8p, ctypes.c_uint32]
    lib.srp_hchacha20_x16.argtypes = [u8p, ctypes.POINTER(u8p), ctypes.c_size_t, u8p]
    lib.srp_hchacha20_x8.argtypes = lib.srp_hchacha20_x16.argtypes
    lib.srp_xchacha_seal.argtypes = [u8p, ctypes.c_size_t, u8p, ctypes.c_size_t, u8p, u8p]
    lib.srp_xchacha_open.argtypes = [u8p, u8p, ctypes.c_size_t, u8p, ctypes.c_size_t, u8p, u8p]
    lib.srp_xchacha_open_sub.argtypes = lib.srp_xchacha_open.argtypes
    return lib


@pytest.fixture(scope="module", params=["dispatch", "portable"])
def lib(request, tmp_path_factory):
    built = _build(tmp_path_factory.mktemp(request.param), request.param,
                   request.param == "portable")
    built.portable = request.param == "portable"
    if built.portable:  # (its srp_chacha16 etc. are the scalar loops: tested all the same)
        assert built.srp_chacha16_ok() == 0 and built.srp_chacha8_ok() == 0
        assert built.srp_hchacha8_ok() == 0 and built.srp_hchacha_batch_ok() == 0
    return built


@pytest.fixture(scope="module")
def na():
    return _sodium()


def _stream(na, key: bytes, nonce: bytes, ctr: int, n: int) -> bytes:
    out = ctypes.create_string_buffer(n)
    assert na.crypto_stream_chacha20_ietf_xor_ic(out, bytes(n), n, nonce, ctr, key) == 0
    return out.raw


@pytest.mark.parametrize("func", sorted(KS_FUNCS))
def test_keystream_blocks_equal_libsodium(lib, na, func):
    blocks, ok = KS_FUNCS[func]
    if ok and not lib.portable and not getattr(lib, ok)():
        pytest.skip(f"{func}: this CPU lacks its instructions (the seal falls back)")
    rnd = random.Random(hash(func) & 0xFFFF)
    last = 2**32 - blocks  # the last counter whose blocks do not wrap (chacha16.h)
    ctrs = [0, 1, 16, 0x7FFFFFFF, 0xFFFFFF00, last - 1, last] + [rnd.randrange(last + 1)
                                                               for _ in range(200)]
    for ctr in ctrs:
        key, nonce = os.urandom(32), os.urandom(12)
        out = ctypes.create_string_buffer(64 * blocks)
        getattr(lib, func)(out, key, nonce, ctr)
        assert out.raw == _stream(na, key, nonce, ctr, 64 * blocks), (func, ctr)


@pytest.mark.parametrize("func,lanes", [("srp_hchacha20_x16", 16), ("srp_hchacha20_x8", 8)])
def test_hchacha20_batches_equal_libsodium(lib, na, func, lanes):
    """x16: AVX-512F's sixteen lanes, else two AVX2 passes of x8, else libsodium's calls
    (whichever this CPU takes); x8: AVX2's eight lanes (session 15: a CPU without AVX-512)."""
    if not lib.portable and func == "srp_hchacha20_x8" and not lib.srp_hchacha8_ok():
        pytest.skip("no AVX2: csrc/deliver*.c never call srp_hchacha20_x8")
    if not lib.portable and func == "srp_hchacha20_x16" and not lib.srp_hchacha_batch_ok():
        pytest.skip("no AVX-512F or AVX2: csrc/deliver*.c take subkeys one call each")
    for n in list(range(1, lanes + 1)) * 8:
        key = os.urandom(32)
        nonces = [os.urandom(16) for _ in range(n)]
        arr = (u8p * 16)(*nonces, *([None] * (16 - n)))
        out = ctypes.create_string_buffer(32 * lanes + 32)  # rows past n: must stay untouched
        ctypes.memset(out, 0xA5, len(out))
        getattr(lib, func)(out, arr, n, key)
        for k in range(n):
            want = ctypes.create_string_buffer(32)
            na.crypto_core_hchacha20(want, nonces[k], key, None)
            assert out.raw[32 * k:32 * k + 32] == want.raw, (n, k)
        assert out.raw[32 * n:] == b"\xa5" * (len(out) - 32 * n)


def test_aead_equals_libsodium_at_every_length(lib, na):
    rnd = random.Random(17)
    for mlen in range(0, 1231):
        key, nonce = os.urandom(32), os.urandom(24)
        ad = os.urandom(rnd.choice([0, 1, 16, 123]))
        msg = os.urandom(mlen)
        want = ctypes.create_string_buffer(mlen + 16)
        wlen = ctypes.c_ulonglong()
        na.crypto_aead_xchacha20poly1305_ietf_encrypt(want, ctypes.byref(wlen), msg, mlen, ad,
                                                      len(ad), None, nonce, key)
        assert wlen.value == mlen + 16
        buf = ctypes.create_string_buffer(msg + bytes(16), mlen + 16)
        lib.srp_xchacha_seal(buf, mlen, ad, len(ad), nonce, key)
        assert buf.raw == want.raw, mlen
        # open: the plaintext back, from the full key and from the HChaCha20 subkey
        plain = ctypes.create_string_buffer(max(mlen, 1))
        assert lib.srp_xchacha_open(plain, want.raw, mlen, ad, len(ad), nonce, key) == 0
        assert plain.raw[:mlen] == msg, mlen
        sub = ctypes.create_string_buffer(32)
        na.crypto_core_hchacha20(sub, nonce[:16], key, None)
        plain2 = ctypes.create_string_buffer(max(mlen, 1))
        rc = lib.srp_xchacha_open_sub(plain2, want.raw, mlen, ad, len(ad), nonce, sub.raw)
        if mlen <= 1216:
            assert rc == 0 and plain2.raw[:mlen] == msg, mlen
        else:  # (longer than its keystream buffer: srp_xchacha_open takes those to libsodium)
            assert rc == -1
        # one flipped bit anywhere (ciphertext or tag) does not open, and no plaintext comes
        # out (seal.h: m untouched, or zeroed by libsodium past 1216 bytes)
        bad = bytearray(want.raw)
        bad[rnd.randrange(mlen + 16)] ^= 1 << rnd.randrange(8)
        out = ctypes.create_string_buffer(b"\x5a" * max(mlen, 1), max(mlen, 1))
        assert lib.srp_xchacha_open(out, bytes(bad), mlen, ad, len(ad), nonce, key) == -1
        assert out.raw == (b"\x5a" * max(mlen, 1) if mlen <= 1216 else bytes(mlen))
