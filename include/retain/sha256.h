/* sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), written here so libretain needs
 * no crypto library.
 *
 * Used to store API keys as hashes (store.h: rt_store_key_*) and by the server to check the
 * keys it is shown; HMAC keys the hashes of erased customers' ids (store.h: erasure). Not for passwords (no salt, no stretching): an API key is 40 random
 * characters, so a plain hash cannot be reversed by guessing. Pure functions on caller memory;
 * any thread may call them (one rt_sha256_ctx per thread). */
#ifndef RETAIN_SHA256_H
#define RETAIN_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define RT_SHA256_SIZE 32     /* bytes in a digest */
#define RT_SHA256_HEX_SIZE 65 /* 64 lowercase hex digits and the NUL */

/* The running state of an incremental hash (fields private). */
typedef struct rt_sha256_ctx {
  uint32_t h[8];      /* intermediate hash value H(i) */
  uint64_t bytes;     /* message length so far */
  uint8_t block[64];  /* the unprocessed tail of the message */
  size_t nblock;      /* bytes in block, < 64 */
} rt_sha256_ctx;

void rt_sha256_init(rt_sha256_ctx *c);
void rt_sha256_update(rt_sha256_ctx *c, const void *data, size_t n); /* data may be NULL if n is 0 */
/* Pads, writes the digest and wipes c (init it again to reuse it). */
void rt_sha256_final(rt_sha256_ctx *c, uint8_t out[RT_SHA256_SIZE]);

/* The digest of n bytes at data in one call. */
void rt_sha256(const void *data, size_t n, uint8_t out[RT_SHA256_SIZE]);

/* The digest as 64 lowercase hex digits and a NUL in out; returns out. */
char *rt_sha256_hex(const uint8_t digest[RT_SHA256_SIZE], char out[RT_SHA256_HEX_SIZE]);

/* HMAC-SHA256 (RFC 2104 with SHA-256, as RFC 4231 tests it): a keyed hash that cannot be
 * computed, nor checked against a guess, without the key. Incremental like the hash. */
typedef struct rt_hmac_sha256_ctx {
  rt_sha256_ctx inner;
  uint8_t okey[64]; /* the key padded to the block size, xor the outer pad */
} rt_hmac_sha256_ctx;
void rt_hmac_sha256_init(rt_hmac_sha256_ctx *c, const void *key, size_t keylen);
void rt_hmac_sha256_update(rt_hmac_sha256_ctx *c, const void *data, size_t n);
/* Writes the MAC and wipes c. */
void rt_hmac_sha256_final(rt_hmac_sha256_ctx *c, uint8_t out[RT_SHA256_SIZE]);

#endif
