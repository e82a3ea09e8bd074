/* sha256.c - SHA-256 by libcrypto's EVP interface (OpenSSL 3): the hashing code of a crypto
 * library that is reviewed, tested and tuned for the CPU, instead of one of our own. The
 * digests are the same (SHA-256 is SHA-256): keys stored before still verify, and the FIPS
 * 180-2 test vectors of tests/unit/test_sha256.c still pass. */
#include <retain/error.h>
#include <retain/sha256.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <string.h>

/* The algorithm fetched once: EVP_sha256() makes OpenSSL 3 look the implementation up again at
 * every use (a lookup under a lock, shared by every thread hashing a key) */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static void fetch_sha256(void) { sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

static const EVP_MD *sha256(void) {
  pthread_once(&sha256_once, fetch_sha256);
  return sha256_md ? sha256_md : EVP_sha256();
}

int rt_sha256_init(rt_sha256_ctx *c) {
  c->md = EVP_MD_CTX_new();
  if (c->md && EVP_DigestInit_ex(c->md, sha256(), NULL) == 1)
    return 0;
  EVP_MD_CTX_free(c->md);
  c->md = NULL;
  return RT_ENOMEM;
}

void rt_sha256_update(rt_sha256_ctx *c, const void *data, size_t n) {
  if (c->md && n && EVP_DigestUpdate(c->md, data, n) != 1) {
    EVP_MD_CTX_free(c->md); /* final reports it */
    c->md = NULL;
  }
}

int rt_sha256_final(rt_sha256_ctx *c, uint8_t out[RT_SHA256_SIZE]) {
  unsigned len = 0;
  int ok = c->md && EVP_DigestFinal_ex(c->md, out, &len) == 1 && len == RT_SHA256_SIZE;
  EVP_MD_CTX_free(c->md); /* clears the state, which may hold the tail of a secret */
  c->md = NULL;
  if (ok)
    return 0;
  memset(out, 0, RT_SHA256_SIZE);
  return RT_ENOMEM;
}

int rt_sha256(const void *data, size_t n, uint8_t out[RT_SHA256_SIZE]) {
  unsigned len = 0;
  static const char empty[1];
  if (EVP_Digest(n ? data : empty, n, out, &len, sha256(), NULL) == 1 &&
      len == RT_SHA256_SIZE)
    return 0;
  memset(out, 0, RT_SHA256_SIZE);
  return RT_ENOMEM;
}

char *rt_sha256_hex(const uint8_t digest[RT_SHA256_SIZE], char out[RT_SHA256_HEX_SIZE]) {
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < RT_SHA256_SIZE; i++) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 15];
  }
  out[2 * RT_SHA256_SIZE] = '\0';
  return out;
}

/* ---- HMAC (RFC 2104) with SHA-256: libcrypto's EVP_MAC ---- */

void rt_hmac_sha256_init(rt_hmac_sha256_ctx *c, const void *key, size_t keylen) {
  static const unsigned char none[1];
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  c->mac = mac ? EVP_MAC_CTX_new(mac) : NULL;
  EVP_MAC_free(mac); /* the context keeps its own reference */
  if (c->mac && EVP_MAC_init(c->mac, keylen ? key : none, keylen, params) != 1) {
    EVP_MAC_CTX_free(c->mac);
    c->mac = NULL;
  }
}

void rt_hmac_sha256_update(rt_hmac_sha256_ctx *c, const void *data, size_t n) {
  if (c->mac && n && EVP_MAC_update(c->mac, data, n) != 1) {
    EVP_MAC_CTX_free(c->mac); /* final reports it */
    c->mac = NULL;
  }
}

int rt_hmac_sha256_final(rt_hmac_sha256_ctx *c, uint8_t out[RT_SHA256_SIZE]) {
  size_t len = 0;
  int ok = c->mac && EVP_MAC_final(c->mac, out, &len, RT_SHA256_SIZE) == 1 &&
           len == RT_SHA256_SIZE;
  EVP_MAC_CTX_free(c->mac); /* clears the state, key included */
  c->mac = NULL;
  if (ok)
    return 0;
  memset(out, 0, RT_SHA256_SIZE);
  return RT_ENOMEM;
}
