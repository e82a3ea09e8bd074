/* sha256.c - SHA-256 by libcrypto's EVP interface (OpenSSL 3): the hashing code of a crypto
 * library that is reviewed, tested and tuned for the CPU, instead of one of our own. The
 * digests are the same (SHA-256 is SHA-256): keys stored before still verify, and the FIPS
 * 180-2 test vectors of tests/unit/test_sha256.c still pass. */
#include <retain/error.h>
#include <retain/sha256.h>

#include <openssl/evp.h>
#include <string.h>

int rt_sha256_init(rt_sha256_ctx *c) {
  c->md = EVP_MD_CTX_new();
  if (c->md && EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) == 1)
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
  if (EVP_Digest(n ? data : empty, n, out, &len, EVP_sha256(), NULL) == 1 &&
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
