/* sha256.c - SHA-256 from FIPS 180-4 (Secure Hash Standard, August 2015), section 6.2.
 *
 * The message is padded with a 1 bit, zeros and its 64-bit big-endian bit length to a multiple
 * of 512 bits (5.1.1) and processed one 64-byte block at a time: the block becomes the message
 * schedule W[0..63] (6.2.2 step 1, with sigma0/sigma1 of 4.1.2), then 64 rounds update the
 * working variables a..h with Sigma0/Sigma1, Ch and Maj and the constants K (4.2.2), and the
 * result is added into the hash value H, whose initial value is given in 5.3.3. The digest is
 * H(N) as big-endian words. Test vectors: tests/unit/test_sha256.c (FIPS 180-2 appendix B). */
#include <retain/sha256.h>

#include <string.h>

/* 4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static inline uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

/* 4.1.2, equations 4.2-4.7 */
#define CH(x, y, z) (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))
#define BSIG0(x) (rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22))
#define BSIG1(x) (rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25))
#define SSIG0(x) (rotr(x, 7) ^ rotr(x, 18) ^ ((x) >> 3))
#define SSIG1(x) (rotr(x, 17) ^ rotr(x, 19) ^ ((x) >> 10))

static uint32_t load_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* 6.2.2: one 512-bit block into the hash value. */
static void compress(uint32_t H[8], const uint8_t block[64]) {
  uint32_t W[64];
  for (int t = 0; t < 16; t++)
    W[t] = load_be32(block + 4 * t);
  for (int t = 16; t < 64; t++)
    W[t] = SSIG1(W[t - 2]) + W[t - 7] + SSIG0(W[t - 15]) + W[t - 16];
  uint32_t a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
  for (int t = 0; t < 64; t++) {
    uint32_t T1 = h + BSIG1(e) + CH(e, f, g) + K[t] + W[t];
    uint32_t T2 = BSIG0(a) + MAJ(a, b, c);
    h = g;
    g = f;
    f = e;
    e = d + T1;
    d = c;
    c = b;
    b = a;
    a = T1 + T2;
  }
  H[0] += a;
  H[1] += b;
  H[2] += c;
  H[3] += d;
  H[4] += e;
  H[5] += f;
  H[6] += g;
  H[7] += h;
}

void rt_sha256_init(rt_sha256_ctx *c) {
  /* 5.3.3: the first 32 bits of the fractional parts of the square roots of the first 8 primes */
  static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(c->h, H0, sizeof H0);
  c->bytes = 0;
  c->nblock = 0;
}

void rt_sha256_update(rt_sha256_ctx *c, const void *data, size_t n) {
  const uint8_t *p = data;
  if (!n)
    return;
  c->bytes += n;
  if (c->nblock) {
    size_t take = 64 - c->nblock < n ? 64 - c->nblock : n;
    memcpy(c->block + c->nblock, p, take);
    c->nblock += take;
    p += take;
    n -= take;
    if (c->nblock < 64)
      return;
    compress(c->h, c->block);
    c->nblock = 0;
  }
  for (; n >= 64; p += 64, n -= 64)
    compress(c->h, p);
  if (n)
    memcpy(c->block, p, n);
  c->nblock = n;
}

void rt_sha256_final(rt_sha256_ctx *c, uint8_t out[RT_SHA256_SIZE]) {
  /* 5.1.1: a 1 bit, zeros up to 448 mod 512 bits, the length in bits as 64 bits big-endian */
  uint64_t bits = c->bytes * 8;
  c->block[c->nblock++] = 0x80;
  if (c->nblock > 56) {
    memset(c->block + c->nblock, 0, 64 - c->nblock);
    compress(c->h, c->block);
    c->nblock = 0;
  }
  memset(c->block + c->nblock, 0, 56 - c->nblock);
  store_be32(c->block + 56, (uint32_t)(bits >> 32));
  store_be32(c->block + 60, (uint32_t)bits);
  compress(c->h, c->block);
  for (int i = 0; i < 8; i++)
    store_be32(out + 4 * i, c->h[i]);
  /* the block may hold the tail of a secret (an API key) */
  volatile uint8_t *v = (volatile uint8_t *)c;
  for (size_t i = 0; i < sizeof *c; i++)
    v[i] = 0;
}

void rt_sha256(const void *data, size_t n, uint8_t out[RT_SHA256_SIZE]) {
  rt_sha256_ctx c;
  rt_sha256_init(&c);
  rt_sha256_update(&c, data, n);
  rt_sha256_final(&c, out);
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

/* ---- HMAC (RFC 2104): H((K ^ opad) || H((K ^ ipad) || message)), K padded to 64 bytes (a
 * longer key is hashed first) ---- */

static void wipe(void *p, size_t n) {
  volatile uint8_t *v = p;
  while (n--)
    *v++ = 0;
}

void rt_hmac_sha256_init(rt_hmac_sha256_ctx *c, const void *key, size_t keylen) {
  uint8_t k[64] = {0}, ikey[64];
  if (keylen > sizeof k)
    rt_sha256(key, keylen, k);
  else if (keylen)
    memcpy(k, key, keylen);
  for (int i = 0; i < 64; i++) {
    ikey[i] = k[i] ^ 0x36;
    c->okey[i] = k[i] ^ 0x5c;
  }
  rt_sha256_init(&c->inner);
  rt_sha256_update(&c->inner, ikey, sizeof ikey);
  wipe(k, sizeof k);
  wipe(ikey, sizeof ikey);
}

void rt_hmac_sha256_update(rt_hmac_sha256_ctx *c, const void *data, size_t n) {
  rt_sha256_update(&c->inner, data, n);
}

void rt_hmac_sha256_final(rt_hmac_sha256_ctx *c, uint8_t out[RT_SHA256_SIZE]) {
  uint8_t inner[RT_SHA256_SIZE];
  rt_sha256_final(&c->inner, inner);
  rt_sha256_ctx o;
  rt_sha256_init(&o);
  rt_sha256_update(&o, c->okey, sizeof c->okey);
  rt_sha256_update(&o, inner, sizeof inner);
  rt_sha256_final(&o, out);
  wipe(inner, sizeof inner);
  wipe(c, sizeof *c);
}
