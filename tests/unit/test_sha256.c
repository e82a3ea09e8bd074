/* test_sha256.c - SHA-256 (src/base/sha256.c) against the FIPS 180-2 appendix B / NIST example
 * vectors ("abc", the 448-bit two-block message, one million 'a'), the empty message, messages
 * whose padding falls on either side of a block boundary, and the incremental interface fed in
 * every split against the one-shot digest. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <retain/sha256.h>

#include <stdlib.h>
#include <string.h>

static const char *hex_of(const void *data, size_t n, char out[RT_SHA256_HEX_SIZE]) {
  uint8_t d[RT_SHA256_SIZE];
  rt_sha256(data, n, d);
  return rt_sha256_hex(d, out);
}

static void test_fips_vectors(void **state) {
  (void)state;
  char hex[RT_SHA256_HEX_SIZE];
  /* B.1: one block */
  assert_string_equal(hex_of("abc", 3, hex),
                      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  /* the empty message: one block of padding only */
  assert_string_equal(hex_of("", 0, hex),
                      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_string_equal(hex_of(NULL, 0, hex),
                      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  /* B.2: 448 bits, so the length goes into a second block */
  const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  assert_int_equal(strlen(m448) * 8, 448);
  assert_string_equal(hex_of(m448, strlen(m448), hex),
                      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  /* the 896-bit message of FIPS 180-4's SHA-512 examples, hashed with SHA-256 */
  const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                     "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
  assert_string_equal(hex_of(m896, strlen(m896), hex),
                      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

/* B.3: one million 'a', in one call and in uneven pieces. */
static void test_million_a(void **state) {
  (void)state;
  const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  size_t n = 1000000;
  char *a = malloc(n), hex[RT_SHA256_HEX_SIZE];
  assert_non_null(a);
  memset(a, 'a', n);
  assert_string_equal(hex_of(a, n, hex), want);
  rt_sha256_ctx c;
  rt_sha256_init(&c);
  for (size_t off = 0, step = 1; off < n; off += step, step = step * 3 % 1021 + 1)
    rt_sha256_update(&c, a + off, off + step > n ? n - off : step);
  uint8_t d[RT_SHA256_SIZE];
  rt_sha256_final(&c, d);
  assert_string_equal(rt_sha256_hex(d, hex), want);
  free(a);
}

/* Lengths around the padding boundaries: 55 bytes still fit the length in the last block, 56
 * need another; 64 is exactly one block. Digests from coreutils sha256sum. */
static void test_padding_boundaries(void **state) {
  (void)state;
  static const struct {
    size_t n;
    const char *hex;
  } v[] = {
      {55, "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072"},
      {56, "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e"},
      {63, "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2"},
      {64, "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c"},
      {65, "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9"},
      {119, "000b48d4edf0fa7bee3c6236ecd2785baa5db4eeb8bb54341b029e0d9fa5fb0c"},
      {120, "13f05a0b594787f5ecd315edc96141bd3243203d1b7d4f0836f37308b276ba98"},
  };
  char x[128], hex[RT_SHA256_HEX_SIZE];
  memset(x, 'x', sizeof x);
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    assert_string_equal(hex_of(x, v[i].n, hex), v[i].hex);
}

/* Any split of a message into two updates (and an empty update) gives the one-shot digest. */
static void test_incremental_splits(void **state) {
  (void)state;
  uint8_t msg[200];
  for (size_t i = 0; i < sizeof msg; i++)
    msg[i] = (uint8_t)(i * 37 + 11);
  for (size_t n = 0; n <= sizeof msg; n += 7) {
    uint8_t want[RT_SHA256_SIZE];
    rt_sha256(msg, n, want);
    for (size_t cut = 0; cut <= n; cut++) {
      rt_sha256_ctx c;
      uint8_t got[RT_SHA256_SIZE];
      rt_sha256_init(&c);
      rt_sha256_update(&c, msg, cut);
      rt_sha256_update(&c, NULL, 0);
      rt_sha256_update(&c, msg + cut, n - cut);
      rt_sha256_final(&c, got);
      assert_memory_equal(got, want, RT_SHA256_SIZE);
    }
  }
}

static void test_hex(void **state) {
  (void)state;
  uint8_t d[RT_SHA256_SIZE];
  for (int i = 0; i < RT_SHA256_SIZE; i++)
    d[i] = (uint8_t)(i * 8);
  d[1] = 0x0f;
  d[31] = 0xff;
  char out[RT_SHA256_HEX_SIZE];
  memset(out, '#', sizeof out);
  assert_ptr_equal(rt_sha256_hex(d, out), out);
  assert_int_equal(strlen(out), 64);
  assert_memory_equal(out, "00", 2);
  assert_memory_equal(out + 2, "0f", 2);
  assert_memory_equal(out + 4, "10", 2);
  assert_memory_equal(out + 62, "ff", 2);
  for (int i = 0; i < 64; i++)
    assert_true((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'f'));
}

/* RFC 4231 test cases 1, 2 and 6 (a key longer than a block is hashed first), one of them fed
 * in pieces, and a key of exactly one block (not hashed). */
static void hmac_hex(const void *key, size_t keylen, const char *msg, size_t cut, char *hex) {
  rt_hmac_sha256_ctx c;
  uint8_t mac[RT_SHA256_SIZE];
  rt_hmac_sha256_init(&c, key, keylen);
  rt_hmac_sha256_update(&c, msg, cut);
  rt_hmac_sha256_update(&c, msg + cut, strlen(msg) - cut);
  rt_hmac_sha256_final(&c, mac);
  rt_sha256_hex(mac, hex);
}

static void test_hmac(void **state) {
  (void)state;
  char hex[RT_SHA256_HEX_SIZE];
  uint8_t k[131];
  memset(k, 0x0b, 20);
  hmac_hex(k, 20, "Hi There", 0, hex);
  assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  hmac_hex("Jefe", 4, "what do ya want for nothing?", 9, hex);
  assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  memset(k, 0xaa, sizeof k);
  hmac_hex(k, sizeof k, "Test Using Larger Than Block-Size Key - Hash Key First", 0, hex);
  assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  hmac_hex(k, 64, "x", 1, hex);
  assert_string_equal(hex, "ce3c639dcb9d8baae5d44c3b8b5e233faab4d1860e07489af5c84f213998bd79");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fips_vectors),
      cmocka_unit_test(test_million_a),
      cmocka_unit_test(test_padding_boundaries),
      cmocka_unit_test(test_incremental_splits),
      cmocka_unit_test(test_hex),
      cmocka_unit_test(test_hmac),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
