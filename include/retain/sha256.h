/* sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), computed by OpenSSL's libcrypto
 * (its EVP interfaces).
 *
 * Used to store API keys as hashes (store.h: rt_store_key_*) and by the server to check the
 * keys it is shown; HMAC keys the hashes of erased customers' ids (store.h: erasure). Not for
 * passwords (no salt, no stretching): an API key is 40 random characters, so a plain hash
 * cannot be reversed by guessing. Any thread may call these (one context per thread). */
#ifndef RETAIN_SHA256_H
#define RETAIN_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define RT_SHA256_SIZE 32     /* bytes in a digest */
#define RT_SHA256_HEX_SIZE 65 /* 64 lowercase hex digits and the NUL */

/* The running state of an incremental hash (fields private): libcrypto's context. */
struct evp_md_ctx_st;
typedef struct rt_sha256_ctx {
  struct evp_md_ctx_st *md; /* NULL when it could not be made: final then fails */
} rt_sha256_ctx;

/* 0, or RT_ENOMEM (rt_sha256_final then fails too, so a caller may check only there). */
int rt_sha256_init(rt_sha256_ctx *c);
void rt_sha256_update(rt_sha256_ctx *c, const void *data, size_t n); /* data may be NULL if n is 0 */
/* Writes the digest and frees c (init it again to reuse it): 0, or RT_ENOMEM with out zeroed. */
int rt_sha256_final(rt_sha256_ctx *c, uint8_t out[RT_SHA256_SIZE]);

/* The digest of n bytes at data in one call: 0, or RT_ENOMEM with out zeroed. */
int rt_sha256(const void *data, size_t n, uint8_t out[RT_SHA256_SIZE]);

/* The digest as 64 lowercase hex digits and a NUL in out; returns out. */
char *rt_sha256_hex(const uint8_t digest[RT_SHA256_SIZE], char out[RT_SHA256_HEX_SIZE]);

/* HMAC-SHA256 (RFC 2104 with SHA-256, as RFC 4231 tests it): a keyed hash that cannot be
 * computed, nor checked against a guess, without the key. Incremental like the hash. */
struct evp_mac_ctx_st;
typedef struct rt_hmac_sha256_ctx {
  struct evp_mac_ctx_st *mac; /* NULL when it could not be made: final then fails */
} rt_hmac_sha256_ctx;
void rt_hmac_sha256_init(rt_hmac_sha256_ctx *c, const void *key, size_t keylen);
void rt_hmac_sha256_update(rt_hmac_sha256_ctx *c, const void *data, size_t n);
/* Writes the MAC and frees c: 0, or RT_ENOMEM with out zeroed. */
int rt_hmac_sha256_final(rt_hmac_sha256_ctx *c, uint8_t out[RT_SHA256_SIZE]);

#endif
