"""Identities, ids and key derivations (SPEC sections 1 and 4), and key files.

A peer's identity is an ed25519 key pair; its peerId IS the 32-byte public key, so anyone can
check a signature against the id with no extra field (SPEC 9.2: an id cannot be claimed
without its key). Derivations (docs/SEALING.md, "Keys"):

    clusterId        = SHA-256(seed)                       (seed: 32 random bytes by default)
    shared key       = BLAKE2b-256(seed)
    subcluster pair  = ed25519 seed key pair from the shared key; subclusterId = its public key
    publish AEAD key = BLAKE2b-256(key=shared key, message=b"srp-publish-v1")
"""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from srpfast.crypto import _sodium
from srpfast.errors import ArgumentError, ArgumentTypeError, IdentityError

PUBLIC_KEY_BYTES = 32
SECRET_KEY_BYTES = 64   # libsodium form: seed(32) ‖ public key(32)
SEED_BYTES = 32
PUBLISH_KEY_CONTEXT = b"srp-publish-v1"

# Key file (version 1): magic(16) ‖ seed(32) ‖ public key(32) ‖ BLAKE2b-128 of the 80 before.
FILE_MAGIC = b"srp-identity-v1\n"
FILE_BYTES = len(FILE_MAGIC) + SEED_BYTES + PUBLIC_KEY_BYTES + 16


def _as_bytes(value: object, size: int | None, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ArgumentTypeError(f"{what} must be bytes, got {type(value).__name__}")
    b = bytes(value)
    if size is not None and len(b) != size:
        raise ArgumentError(f"{what} must be {size} bytes, got {len(b)}")
    return b


def _seed_or_random(seed: object, what: str) -> bytes:
    if seed is None:
        return os.urandom(32)
    if isinstance(seed, str):
        return seed.encode("utf-8")
    if not isinstance(seed, (bytes, bytearray, memoryview)):
        raise ArgumentTypeError(f"{what} must be bytes, str or None (random), got "
                                f"{type(seed).__name__}")
    return _as_bytes(seed, None, what)


@dataclass(frozen=True)
class Identity:
    """An ed25519 identity. ``secret_key`` is libsodium's 64-byte form (seed ‖ public key);
    it never appears in repr()."""
    public_key: bytes
    secret_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        pk = _as_bytes(self.public_key, PUBLIC_KEY_BYTES, "public_key")
        sk = _as_bytes(self.secret_key, SECRET_KEY_BYTES, "secret_key")
        if sk[32:] != pk:
            raise IdentityError("secret_key does not belong to public_key (its last 32 bytes "
                                "must equal the public key)")
        object.__setattr__(self, "public_key", pk)
        object.__setattr__(self, "secret_key", sk)

    @property
    def peer_id(self) -> bytes:
        return self.public_key

    @property
    def seed(self) -> bytes:
        return self.secret_key[:32]


def create_keypair(seed: bytes | None = None) -> tuple[bytes, bytes]:
    """(public_key 32, secret_key 64) raw ed25519; ``seed`` (32 bytes) makes it deterministic."""
    s = os.urandom(SEED_BYTES) if seed is None else _as_bytes(seed, SEED_BYTES, "seed")
    pk, sk = _sodium.sign_seed_keypair(s)
    return pk, sk


def create_identity(seed: bytes | None = None) -> Identity:
    """A new identity (random, or deterministic from a 32-byte seed)."""
    pk, sk = create_keypair(seed)
    return Identity(pk, sk)


def peer_id(public_key: bytes) -> bytes:
    """The peerId of an ed25519 public key: the key itself (validated to be 32 bytes)."""
    return _as_bytes(public_key, PUBLIC_KEY_BYTES, "public_key")


def create_cluster_id(seed: bytes | str | None = None) -> bytes:
    """clusterId = SHA-256(seed); 32 random bytes are hashed without a seed (PROTOCOL.md §1)."""
    return hashlib.sha256(_seed_or_random(seed, "seed")).digest()


def create_shared_key(seed: bytes | str | None = None) -> bytes:
    """Subcluster shared key = BLAKE2b-256(seed); random seed when none (PROTOCOL.md §1, §4)."""
    return _sodium.generichash(_seed_or_random(seed, "seed"))


def subcluster_keypair(shared_key: bytes) -> tuple[bytes, bytes]:
    """(public, secret) ed25519 key pair seeded by the shared key (SPEC 4)."""
    return _sodium.sign_seed_keypair(_as_bytes(shared_key, 32, "shared_key"))


def subcluster_id(shared_key: bytes) -> bytes:
    """subclusterId = the public key of subcluster_keypair(shared_key) (PROTOCOL.md §1)."""
    return subcluster_keypair(shared_key)[0]


def publish_key(shared_key: bytes) -> bytes:
    """The AEAD key sealing PUBLISH frames of a subcluster: a keyed BLAKE2b KDF of the shared
    key, never the shared key itself (which also seeds the subcluster signing key)."""
    return _sodium.generichash(PUBLISH_KEY_CONTEXT, _as_bytes(shared_key, 32, "shared_key"))


def _checksum(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=16).digest()


def save_identity(identity: Identity, path: str | os.PathLike[str]) -> None:
    """Write ``identity`` to ``path`` with mode 0600, atomically (temp file + rename)."""
    if not isinstance(identity, Identity):
        raise ArgumentTypeError(f"identity must be an srpfast.Identity, got "
                                f"{type(identity).__name__}: create one with "
                                f"srpfast.create_identity() or srpfast.load_identity(path)")
    target = Path(path)
    body = FILE_MAGIC + identity.seed + identity.public_key
    data = body + _checksum(body)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # in case the umask or filesystem widened it
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def load_identity(path: str | os.PathLike[str]) -> Identity:
    """Read a key file written by save_identity. Refuses files that group or others can read
    or write, and corrupt or truncated files, with IdentityError."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise IdentityError(f"no key file at {p}: create one with save_identity()") from None
    except OSError as e:
        raise IdentityError(f"cannot open key file {p}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise IdentityError(f"key file {p} is not a regular file")
        if st.st_mode & 0o077:
            raise IdentityError(f"key file {p} is accessible by group or others "
                                f"(mode {stat.S_IMODE(st.st_mode):04o}): run `chmod 600 {p}`")
        data = os.read(fd, FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) != FILE_BYTES:
        raise IdentityError(f"key file {p} is corrupt: {len(data)} bytes, expected {FILE_BYTES}")
    if not data.startswith(FILE_MAGIC):
        raise IdentityError(f"key file {p} is not an srpfast identity (version 1) file")
    body, check = data[:-16], data[-16:]
    if _checksum(body) != check:
        raise IdentityError(f"key file {p} is corrupt: checksum mismatch")
    seed = body[len(FILE_MAGIC):len(FILE_MAGIC) + SEED_BYTES]
    pk = body[len(FILE_MAGIC) + SEED_BYTES:]
    identity = create_identity(seed)
    if identity.public_key != pk:
        raise IdentityError(f"key file {p} is corrupt: the public key does not match the seed")
    return identity
