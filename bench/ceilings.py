"""Bench-only C ceilings (bench/ceilings.c), compiled on first use with the system C compiler
against csrc/ and libsodium, and called through ctypes: the loops run in C, so the one
foreign call per measurement costs nothing that matters. Kept out of the runtime extensions
(issue 17: ceilings are bench code, not something a user's import loads)."""
from __future__ import annotations

import ctypes
import os
import subprocess

from srpfast.drivers._udp import UDPSocket
from srpfast.errors import ClosedError

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# seal.c hashes envelope leaves with sha256.c (envelope version 2); frame.c validates and
# computes packetIds for the relay ceiling; udp.c / udp_recv.c are srpfast's socket I/O, which
# the live relay ceiling and the UDP ceilings (ceilings_udp.c) receive and send with
SOURCES = [os.path.join(HERE, "ceilings.c"), os.path.join(HERE, "ceilings_udp.c"),
           os.path.join(ROOT, "csrc", "seal.c"),
           os.path.join(ROOT, "csrc", "chacha16.c"),
           os.path.join(ROOT, "csrc", "sha256.c"), os.path.join(ROOT, "csrc", "frame.c"),
           os.path.join(ROOT, "csrc", "udp.c"), os.path.join(ROOT, "csrc", "udp_recv.c"),
           os.path.join(ROOT, "csrc", "udp_runs.c")]
LIB = os.path.join(ROOT, "build", "bench", "libceilings.so")
_lib: ctypes.CDLL | None = None


def _build() -> None:
    deps = SOURCES + [os.path.join(ROOT, "csrc", h) for h in ("seal.h", "chacha16.h", "frame.h",
                                                               "sha256.h",
                                                               "udp.h", "udp_errno.h",
                                                               "bigalloc.h")]
    deps.append(os.path.abspath(__file__))  # this file names the sources
    if os.path.exists(LIB) and os.path.getmtime(LIB) >= max(map(os.path.getmtime, deps)):
        return
    os.makedirs(os.path.dirname(LIB), exist_ok=True)
    cc = os.environ.get("CC", "gcc")
    # built aside and renamed into place: a sender process (blast.py) may build it while the
    # bench process that started it loads it
    tmp = f"{LIB}.{os.getpid()}.tmp"
    subprocess.run([cc, "-O3", "-std=c11", "-D_GNU_SOURCE", "-shared", "-fPIC",
                    "-I" + os.path.join(ROOT, "csrc"), *SOURCES, "-o", tmp, "-lsodium"],
                   check=True)
    os.replace(tmp, LIB)


class _Live(ctypes.Structure):
    """srp_ceiling_live (ceilings.c)."""
    _fields_ = [(name, ctypes.c_long) for name in
                ("inputs", "outputs", "bad", "batches", "eagain_waits")] + \
               [(name, ctypes.c_double) for name in ("first_in", "last_out", "cpu")]


class _Udp(ctypes.Structure):
    """srp_ceiling_udp (ceilings_udp.c): the count, the elapsed seconds and the socket
    layer's counters (srp_udp_counters, csrc/udp.h) over one loop."""
    _fields_ = [("count", ctypes.c_long), ("elapsed", ctypes.c_double),
                ("received", ctypes.c_uint64), ("sent", ctypes.c_uint64),
                ("send_eagain", ctypes.c_uint64), ("send_errors", ctypes.c_uint64),
                ("truncated", ctypes.c_uint64), ("recv_errors", ctypes.c_uint64),
                ("gro_reads", ctypes.c_uint64)]


def lib() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        _build()
        _lib = ctypes.CDLL(LIB)
        _lib.srp_ceiling_open.restype = ctypes.c_long
        _lib.srp_ceiling_open.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_long]
        _lib.srp_ceiling_open_x16.restype = ctypes.c_long
        _lib.srp_ceiling_open_x16.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_long]
        _lib.srp_ceiling_seal.restype = ctypes.c_long
        _lib.srp_ceiling_seal.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_long]
        _lib.srp_ceiling_relay.restype = ctypes.c_long
        _lib.srp_ceiling_relay.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_long,
                                           ctypes.c_long, ctypes.c_long, ctypes.c_long]
        _lib.srp_ceiling_store_seen.restype = ctypes.c_long
        _lib.srp_ceiling_store_seen.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_long,
                                                ctypes.c_long]
        _lib.srp_ceiling_relay_live.restype = ctypes.c_long
        _lib.srp_ceiling_relay_live.argtypes = [
            ctypes.c_int, ctypes.c_char_p, ctypes.c_long, ctypes.c_long, ctypes.c_long,
            ctypes.c_double, ctypes.c_double, ctypes.POINTER(_Live)]
        _lib.srp_ceiling_store_loop.restype = ctypes.c_long
        _lib.srp_ceiling_store_loop.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_long]
        _lib.srp_ceiling_probe_loop.restype = ctypes.c_long
        _lib.srp_ceiling_probe_loop.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_long,
                                                ctypes.c_long]
        _lib.srp_ceiling_send_loop.restype = ctypes.c_long
        _lib.srp_ceiling_send_loop.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_double,
                                               ctypes.c_long, ctypes.POINTER(_Udp)]
        _lib.srp_ceiling_recv_loop.restype = ctypes.c_long
        _lib.srp_ceiling_recv_loop.argtypes = [ctypes.c_int, ctypes.c_long, ctypes.c_long,
                                               ctypes.c_long, ctypes.c_double, ctypes.c_double,
                                               ctypes.POINTER(_Udp)]
        _lib.srp_bench_stamp.restype = None
        _lib.srp_bench_stamp.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_uint64]
        if ctypes.CDLL(LIB).sodium_init() < 0:  # (seal.c's callers normally do this)
            raise RuntimeError("libsodium failed to initialise")
    return _lib


def open_loop(key: bytes, iterations: int, plain_len: int = 984) -> None:
    """Open one ciphertext ``iterations`` times (srp_ceiling_open); raises if any fails."""
    if lib().srp_ceiling_open(key, iterations, plain_len) != 0:
        raise RuntimeError("the open ceiling failed to open its own ciphertext")


def open_x16_loop(key: bytes, iterations: int, plain_len: int = 984) -> None:
    """Open ``iterations`` one-frame ciphertexts as the data plane's delivery does
    (srp_ceiling_open_x16): HChaCha20 subkeys 16 at a time where the CPU has AVX-512, then
    each opened with its subkey; raises if any fails."""
    if lib().srp_ceiling_open_x16(key, iterations, plain_len) != 0:
        raise RuntimeError("the open ceiling failed to open its own ciphertexts")


def seal_loop(key: bytes, iterations: int, plain_len: int = 984) -> None:
    """Seal ``plain_len`` bytes ``iterations`` times (srp_ceiling_seal)."""
    if lib().srp_ceiling_seal(key, iterations, plain_len) < 0:
        raise ValueError("plain_len must be 0..984")


def relay_loop(frames: bytes, rounds: int, slots: int, fanout: int = 3,
               seen: bool = False) -> None:
    """``rounds`` passes of the bare relay work (srp_ceiling_relay) over ``frames`` (a
    multiple of 64 valid 1158-byte frames): validate, packetId, store in a ``slots``-frame
    table, ``fanout`` copies out with hops+1; with ``seen`` also the seen check by packetId
    and the summary bucket (as srp_ceiling_store_seen)."""
    n = len(frames) // 1158
    if lib().srp_ceiling_relay(frames, n, rounds, slots, fanout, int(seen)) != 0:
        raise RuntimeError("the relay ceiling was given invalid frames or ran out of memory")


def store_seen_loop(frames: bytes, rounds: int, slots: int) -> None:
    """``rounds`` passes of a subscriber's bare store work (srp_ceiling_store_seen) over
    ``frames``: validate, packetId, the seen check by packetId, store in a ``slots``-frame
    table, the summary bucket updated; no copies out."""
    n = len(frames) // 1158
    if lib().srp_ceiling_store_seen(frames, n, rounds, slots) != 0:
        raise RuntimeError("the store ceiling was given invalid frames or ran out of memory")


def relay_live(fd: int, sinks: bytes, batch: int, slots: int, idle: float,
               limit: float) -> dict:
    """The relay's work live (srp_ceiling_relay_live): receive from socket ``fd`` ``batch``
    frames a call (GRO), the bare relay work, one GSO send of each batch's copies to each of
    the sinks (``sinks``: packed 28-byte sockaddrs, UDPSocket.resolve); until ``idle`` seconds
    pass with no input after the first, or ``limit``. Returns the counts and times (first
    input and last output on time.monotonic's clock, the loop's CPU seconds to the last
    output). Runs with the GIL released (ctypes)."""
    st = _Live()
    r = lib().srp_ceiling_relay_live(fd, sinks, len(sinks) // 28, batch, slots, idle, limit,
                                     ctypes.byref(st))
    if r < 0:
        raise RuntimeError("the live relay ceiling could not start (memory, or no UDP GRO)")
    got = {name: getattr(st, name) for name, _ in _Live._fields_}
    if got["bad"]:
        raise RuntimeError(f"the live relay ceiling got {got['bad']} invalid frames")
    return got


# GRO reads per recvmmsg on a UDPSocket(gro=True): srpfast/drivers/_udp.pyx GRO_READS (8 x 64
# KiB of landing space, docs/NET.md); the receive ceiling lands its reads the same way
UDP_GRO_READS = 8


def _open_fd(sock: UDPSocket) -> int:
    if sock.closed:
        raise ClosedError("UDPSocket is closed; open a new one")
    return sock.fileno()


def udp_send_loop(sock: UDPSocket, address: tuple[str, int], seconds: float,
                  batch: int = 64) -> tuple[int, float]:
    """The UDP send ceiling (srp_ceiling_send_loop): sendmmsg of ``batch`` 1158-byte zero
    frames to ``address`` from ``sock`` in a C loop for ``seconds``, GIL released. Returns
    (datagrams sent, elapsed seconds)."""
    st = _Udp()
    if lib().srp_ceiling_send_loop(_open_fd(sock), sock.resolve(address), seconds, batch,
                                   ctypes.byref(st)) < 0:
        raise ValueError("batch must be 1..4096 (or no memory)")
    return int(st.count), float(st.elapsed)


def udp_recv_loop(sock: UDPSocket, seconds: float, idle: float = 0.2) -> tuple[int, float]:
    """The UDP receive ceiling (srp_ceiling_recv_loop): recvmmsg drain of ``sock`` in a C loop
    with the socket's own receive set-up (its batch and slot size, a GRO landing area if it
    has GRO on), polling between empty reads, for ``seconds`` or until ``idle`` seconds pass
    with nothing arriving; GIL released. Returns (received, seconds from the start of the first
    read that returned data to the end of the last)."""
    st = _Udp()
    r = lib().srp_ceiling_recv_loop(_open_fd(sock), sock.batch, sock.slot,
                                    UDP_GRO_READS if sock.gro else 0, seconds, idle,
                                    ctypes.byref(st))
    if r < 0:
        raise RuntimeError("the receive ceiling could not start (memory, or no UDP GRO)")
    return int(st.count), float(st.elapsed)


def store_loop(frames: bytes, count: int, slots: int) -> int:
    """The cache's insert ceiling (srp_ceiling_store_loop): XXH3 key + one probe + a 1158-byte
    copy into a ``slots`` ring, for the first ``count`` frames of ``frames``."""
    if len(frames) < count * 1158:
        raise ValueError("frames too short for count")
    r = lib().srp_ceiling_store_loop(frames, count, slots)
    if r < 0:
        raise ValueError("count and slots must be > 0 (or no memory)")
    return int(r)


def probe_loop(ids: bytes, slots: int, rounds: int = 1) -> int:
    """The cache's lookup ceiling (srp_ceiling_probe_loop): XXH3 of each 32-byte id of ``ids``
    and one probe of a plain table of >= 2 x ``slots`` words, ``rounds`` passes in one call.
    Returns the hits."""
    r = lib().srp_ceiling_probe_loop(ids, len(ids) // 32, slots, rounds)
    if r < 0:
        raise ValueError("ids must hold at least one 32-byte id, slots > 0")
    return int(r)


def stamp(frames: bytearray, counter: int) -> None:
    """Make every 1158-byte frame of ``frames`` a new packet (srp_bench_stamp: counter + i in
    its first 8 message bytes), in place, in C: for benches that cycle a pool of frames."""
    n = len(frames) // 1158
    buf = (ctypes.c_char * len(frames)).from_buffer(frames)
    lib().srp_bench_stamp(ctypes.addressof(buf), n, counter)
    del buf
