/* The ChaCha20-IETF keystream (RFC 8439: 32-bit block counter, 96-bit nonce) eight or sixteen
 * blocks at a time with AVX-512 (issue 17), for the frame seal and open (seal.c).
 *
 * Why: opening or sealing a frame takes up to 17 keystream blocks (the Poly1305 key and up
 * to 984 bytes). libsodium 1.0.18 makes them 8 at a time with AVX2, where a rotation by 12 or
 * 7 is three instructions; AVX-512 has rotations (vprold), in 256-bit vectors too with
 * AVX-512VL, and 512-bit vectors hold sixteen blocks' words. Measured here (best of 15
 * loops): 512 bytes 0.22 -> 0.13 us, a full frame's 1088 bytes 0.52 -> 0.31 us (docs/
 * SEALING.md). Chosen at run time: a CPU without AVX-512 (or a build for another
 * architecture) keeps libsodium's keystream. */
#ifndef SRP_CHACHA16_H
#define SRP_CHACHA16_H
#include <stddef.h>
#include <stdint.h>

/* 1 when srp_chacha16 runs on this CPU (x86-64 with AVX-512F), else 0. */
int srp_chacha16_ok(void);

/* Keystream blocks ctr .. ctr + 15 for key and nonce: 1024 bytes into out. Call only when
 * srp_chacha16_ok(). The counter must not wrap (ctr <= 2^32 - 16). */
void srp_chacha16(uint8_t out[1024], const uint8_t key[32], const uint8_t nonce[12],
                  uint32_t ctr);

/* The same for eight blocks (512 bytes) in 256-bit vectors, when srp_chacha8_ok() (AVX-512F
 * and AVX-512VL: the rotations on 256-bit vectors). */
int srp_chacha8_ok(void);
void srp_chacha8(uint8_t out[512], const uint8_t key[32], const uint8_t nonce[12],
                 uint32_t ctr);

/* HChaCha20 (the XChaCha20 subkey, draft-irtf-cfrg-xchacha 2.2) of one key and n <= 16
 * nonces at once (nonces[k]: the first 16 bytes of an XChaCha20 nonce), what libsodium's
 * crypto_core_hchacha20(out[k], nonces[k], key, NULL) gives: the fragments of one message,
 * sealed under one key, open with one pass instead of one ~0.15 us scalar call each. Sixteen
 * lanes with AVX-512F, two passes of srp_hchacha20_x8 with AVX2, else n libsodium calls:
 * worth calling when srp_hchacha_batch_ok(). */
void srp_hchacha20_x16(uint8_t (*out)[32], const uint8_t *const *nonces, size_t n,
                       const uint8_t key[32]);
int srp_hchacha_batch_ok(void);

/* The same for n <= 8 nonces in 256-bit vectors, when srp_hchacha8_ok() (AVX2). */
int srp_hchacha8_ok(void);
void srp_hchacha20_x8(uint8_t (*out)[32], const uint8_t *const *nonces, size_t n,
                      const uint8_t key[32]);

/* Keystream block ctr (64 bytes): portable C, and the fastest way this build has (SSE2 on
 * x86-64, else the same C). */
void srp_chacha_block(uint8_t out[64], const uint8_t key[32], const uint8_t nonce[12],
                      uint32_t ctr);
void srp_chacha_block1(uint8_t out[64], const uint8_t key[32], const uint8_t nonce[12],
                       uint32_t ctr);
#endif
