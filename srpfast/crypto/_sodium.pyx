# csrc:
"""The libsodium calls srpfast's Python layer makes: Ed25519 keys and signatures, BLAKE2b,
X25519 conversion and crypto_kx session keys (SPEC 4).

They used to go through pysodium, which loads a *system* libsodium with ctypes: an installed
wheel then failed on a host without one ("Unable to find libsodium", issue 16), whatever copy
the wheel bundled for its C extensions. Calling libsodium from Cython links the same copy the
C extensions use, and costs no ctypes marshalling per call (PING/PONG proofs are per packet).
Every function checks its argument lengths and raises ValueError, as pysodium did, so callers
(srpfast/crypto/identity.py, proofs.py, sealing.py) keep their own typed errors.
"""
from libc.stdint cimport uint8_t


cdef extern from "sodium.h" nogil:
    int sodium_init()
    int crypto_sign_seed_keypair(unsigned char *pk, unsigned char *sk, const unsigned char *seed)
    int crypto_sign_detached(unsigned char *sig, unsigned long long *siglen,
                             const unsigned char *m, unsigned long long mlen,
                             const unsigned char *sk)
    int crypto_sign_verify_detached(const unsigned char *sig, const unsigned char *m,
                                    unsigned long long mlen, const unsigned char *pk)
    int crypto_sign_ed25519_pk_to_curve25519(unsigned char *x, const unsigned char *ed)
    int crypto_sign_ed25519_sk_to_curve25519(unsigned char *x, const unsigned char *ed)
    int crypto_generichash(unsigned char *out, size_t outlen, const unsigned char *m,
                           unsigned long long mlen, const unsigned char *key, size_t keylen)
    int crypto_kx_client_session_keys(unsigned char *rx, unsigned char *tx,
                                      const unsigned char *client_pk,
                                      const unsigned char *client_sk,
                                      const unsigned char *server_pk)
    int crypto_kx_server_session_keys(unsigned char *rx, unsigned char *tx,
                                      const unsigned char *server_pk,
                                      const unsigned char *server_sk,
                                      const unsigned char *client_pk)


if sodium_init() < 0:
    raise ImportError("libsodium failed to initialise (sodium_init() < 0)")

SEED_BYTES = 32
PUBLIC_KEY_BYTES = 32
SECRET_KEY_BYTES = 64
SIGNATURE_BYTES = 64

cdef const unsigned char EMPTY[1]


cdef inline const unsigned char *_ptr(const unsigned char[::1] v) noexcept nogil:
    if v.shape[0] == 0:
        return EMPTY
    return &v[0]


cdef inline void _need(const unsigned char[::1] v, Py_ssize_t n, str what) except *:
    if v.shape[0] != n:
        raise ValueError(f"{what} must be {n} bytes, got {v.shape[0]}")


def sign_seed_keypair(const unsigned char[::1] seed) -> tuple:
    """(public key 32, secret key 64) from a 32-byte seed."""
    _need(seed, SEED_BYTES, "seed")
    cdef unsigned char pk[32]
    cdef unsigned char sk[64]
    crypto_sign_seed_keypair(pk, sk, &seed[0])
    return pk[:32], sk[:64]


def sign_detached(const unsigned char[::1] message, const unsigned char[::1] secret_key) -> bytes:
    _need(secret_key, SECRET_KEY_BYTES, "secret key")
    cdef unsigned char sig[64]
    cdef unsigned long long n = 0
    with nogil:
        crypto_sign_detached(sig, &n, _ptr(message), <unsigned long long>message.shape[0],
                             &secret_key[0])
    return sig[:64]


def verify_detached(const unsigned char[::1] signature, const unsigned char[::1] message,
                    const unsigned char[::1] public_key) -> bool:
    """True when ``signature`` is public_key's over ``message``; False otherwise (a malformed
    signature or key included: remote input never raises)."""
    if signature.shape[0] != SIGNATURE_BYTES or public_key.shape[0] != PUBLIC_KEY_BYTES:
        return False
    cdef int rc
    with nogil:
        rc = crypto_sign_verify_detached(&signature[0], _ptr(message),
                                         <unsigned long long>message.shape[0], &public_key[0])
    return rc == 0


def generichash(const unsigned char[::1] message, const unsigned char[::1] key=None,
                size_t outlen=32) -> bytes:
    """BLAKE2b of ``message`` (keyed when ``key`` is given), ``outlen`` 16..64 bytes."""
    if not 16 <= outlen <= 64:
        raise ValueError(f"outlen must be 16..64, got {outlen}")
    cdef size_t keylen = 0 if key is None else <size_t>key.shape[0]
    if keylen > 64:
        raise ValueError(f"key must be at most 64 bytes, got {keylen}")
    cdef unsigned char out[64]
    crypto_generichash(out, outlen, _ptr(message), <unsigned long long>message.shape[0],
                       NULL if keylen == 0 else &key[0], keylen)
    return out[:outlen]


def sign_pk_to_box_pk(const unsigned char[::1] public_key) -> bytes:
    """The X25519 public key of an Ed25519 public key; ValueError for a key that has none."""
    _need(public_key, PUBLIC_KEY_BYTES, "public key")
    cdef unsigned char x[32]
    if crypto_sign_ed25519_pk_to_curve25519(x, &public_key[0]) != 0:
        raise ValueError("not a valid Ed25519 public key")
    return x[:32]


def sign_sk_to_box_sk(const unsigned char[::1] secret_key) -> bytes:
    _need(secret_key, SECRET_KEY_BYTES, "secret key")
    cdef unsigned char x[32]
    crypto_sign_ed25519_sk_to_curve25519(x, &secret_key[0])
    return x[:32]


def kx_session_keys(bint client, const unsigned char[::1] my_pk, const unsigned char[::1] my_sk,
                    const unsigned char[::1] their_pk) -> tuple:
    """(rx, tx) crypto_kx session keys, as client or server; ValueError for a bad peer key."""
    _need(my_pk, 32, "public key")
    _need(my_sk, 32, "secret key")
    _need(their_pk, 32, "peer public key")
    cdef unsigned char rx[32]
    cdef unsigned char tx[32]
    cdef int rc
    if client:
        rc = crypto_kx_client_session_keys(rx, tx, &my_pk[0], &my_sk[0], &their_pk[0])
    else:
        rc = crypto_kx_server_session_keys(rx, tx, &my_pk[0], &my_sk[0], &their_pk[0])
    if rc != 0:
        raise ValueError("the peer's key is not acceptable for key exchange")
    return rx[:32], tx[:32]
