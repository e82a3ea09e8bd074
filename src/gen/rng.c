/* rng.c - seeding and samplers for the synthetic business generator (see rng.h).
 *
 * Why our own log/exp: libm implementations may differ in the last bit between systems, and
 * one bit is enough to flip an accept/reject decision and change a generated file. Built from
 * + - * / and sqrt (all correctly rounded by IEEE 754) the samplers are reproducible anywhere
 * as long as the compiler does not fuse multiply-adds (C11 mode; the pragma asks clang too). */
#include "gen/rng.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define LN2_HI 6.93147180369123816490e-01 /* ln 2 split so that k * LN2_HI is exact */
#define LN2_LO 1.90821492927058770002e-10
#define INV_LN2 1.44269504088896338700e+00

void rt__rng_seed(rt__rng *r, uint64_t seed, uint64_t key, uint64_t lane) {
  /* Mix the three inputs through splitmix64 one after another, then expand to 256 bits. */
  uint64_t st = seed;
  uint64_t h = rt__splitmix64(&st);
  st = h ^ (key * 0xD1B54A32D192ED03ULL);
  h = rt__splitmix64(&st);
  st = h ^ (lane * 0x8CB92BA72F3D8DD7ULL);
  for (int i = 0; i < 4; i++)
    r->s[i] = rt__splitmix64(&st);
  if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
    r->s[0] = 1; /* all-zero is xoshiro's one fixed point */
  r->has_spare = 0;
  r->spare = 0;
}

static double from_bits(uint64_t b) {
  double d;
  memcpy(&d, &b, sizeof d);
  return d;
}

static uint64_t to_bits(double d) {
  uint64_t b;
  memcpy(&b, &d, sizeof b);
  return b;
}

/* log(1 + (i + 1/2)/128) and its reciprocal argument, for i = 0..127 (exact hex literals). */
static const double log_c[128] = {
    0x1.ff00aa2b10bc0p-9, 0x1.7dc475f810a77p-7, 0x1.3cea44346a575p-6, 0x1.b9fc027af9198p-6,
    0x1.1b0d98923d980p-5, 0x1.58a5bafc8e4d5p-5, 0x1.95c830ec8e3ebp-5, 0x1.d276b8adb0b52p-5,
    0x1.075983598e471p-4, 0x1.253f62f0a1417p-4, 0x1.42edcbea646f0p-4, 0x1.60658a93750c4p-4,
    0x1.7da766d7b12cdp-4, 0x1.9ab42462033adp-4, 0x1.b78c82bb0eda1p-4, 0x1.d4313d66cb35dp-4,
    0x1.f0a30c01162a6p-4, 0x1.0671512ca596ep-3, 0x1.14785846742acp-3, 0x1.2266f190a5acbp-3,
    0x1.303d718e47fd3p-3, 0x1.3dfc2b0ecc62ap-3, 0x1.4ba36f39a55e5p-3, 0x1.59338d9982086p-3,
    0x1.66acd4272ad51p-3, 0x1.740f8f54037a5p-3, 0x1.815c0a14357ebp-3, 0x1.8e928de886d41p-3,
    0x1.9bb362e7dfb83p-3, 0x1.a8becfc882f19p-3, 0x1.b5b519e8fb5a4p-3, 0x1.c2968558c18c1p-3,
    0x1.cf6354e09c5dcp-3, 0x1.dc1bca0abec7dp-3, 0x1.e8c0252aa5a60p-3, 0x1.f550a564b7b37p-3,
    0x1.00e6c45ad501dp-2, 0x1.071b85fcd590dp-2, 0x1.0d46b579ab74bp-2, 0x1.136870293a8b0p-2,
    0x1.1980d2dd4236fp-2, 0x1.1f8ff9e48a2f3p-2, 0x1.2596010df763ap-2, 0x1.2b9303ab89d25p-2,
    0x1.31871c9544185p-2, 0x1.3772662bfd85bp-2, 0x1.3d54fa5c1f710p-2, 0x1.432ef2a04e814p-2,
    0x1.49006804009d1p-2, 0x1.4ec973260026ap-2, 0x1.548a2c3add263p-2, 0x1.5a42ab0f4cfe2p-2,
    0x1.5ff3070a793d4p-2, 0x1.659b57303e1f3p-2, 0x1.6b3bb2235943ep-2, 0x1.70d42e2789236p-2,
    0x1.7664e1239dbcfp-2, 0x1.7bede0a37afc0p-2, 0x1.816f41da0d496p-2, 0x1.86e919a330ba0p-2,
    0x1.8c5b7c858b48bp-2, 0x1.91c67eb45a83ep-2, 0x1.972a341135158p-2, 0x1.9c86b02dc0863p-2,
    0x1.a1dc064d5b995p-2, 0x1.a72a4966bd9eap-2, 0x1.ac718c258b0e4p-2, 0x1.b1b1e0ebdfc5bp-2,
    0x1.b6eb59d3cf35ep-2, 0x1.bc1e08b0dad0ap-2, 0x1.c149ff115f027p-2, 0x1.c66f4e3ff6ff8p-2,
    0x1.cb8e0744d7acap-2, 0x1.d0a63ae721e64p-2, 0x1.d5b7f9ae2c684p-2, 0x1.dac353e2c5954p-2,
    0x1.dfc859906d5b5p-2, 0x1.e4c71a8687704p-2, 0x1.e9bfa659861f5p-2, 0x1.eeb20c640ddf4p-2,
    0x1.f39e5bc811e5cp-2, 0x1.f884a36fe9ec2p-2, 0x1.fd64f20f61572p-2, 0x1.011fab125ff8ap-1,
    0x1.0389eefce633bp-1, 0x1.05f14bd26459cp-1, 0x1.0855c884b450ep-1, 0x1.0ab76bece14d2p-1,
    0x1.0d163ccb9d6b8p-1, 0x1.0f7241c9b497dp-1, 0x1.11cb81787ccf8p-1, 0x1.1422025243d45p-1,
    0x1.1675cababa60ep-1, 0x1.18c6e0ff5cf06p-1, 0x1.1b154b57da29fp-1, 0x1.1d610fe677003p-1,
    0x1.1faa34b87094cp-1, 0x1.21f0bfc65beecp-1, 0x1.2434b6f483934p-1, 0x1.26762013430e0p-1,
    0x1.28b500df60783p-1, 0x1.2af15f02640adp-1, 0x1.2d2b4012edc9ep-1, 0x1.2f62a99509546p-1,
    0x1.3197a0fa7fe6ap-1, 0x1.33ca2ba328995p-1, 0x1.35fa4edd36ea0p-1, 0x1.38280fe58797fp-1,
    0x1.3a5373e7ebdfap-1, 0x1.3c7c7fff73206p-1, 0x1.3ea33936b2f5cp-1, 0x1.40c7a4880dce9p-1,
    0x1.42e9c6ddf80bfp-1, 0x1.4509a5133bb0ap-1, 0x1.472743f33aaadp-1, 0x1.4942a83a2fc07p-1,
    0x1.4b5bd6956e274p-1, 0x1.4d72d3a39fd00p-1, 0x1.4f87a3f5026e9p-1, 0x1.519a4c0ba3446p-1,
    0x1.53aad05b99b7dp-1, 0x1.55b9354b40bcdp-1, 0x1.57c57f336f191p-1, 0x1.59cfb25fae87ep-1,
    0x1.5bd7d30e71c73p-1, 0x1.5ddde57149923p-1, 0x1.5fe1edad18919p-1, 0x1.61e3efda46467p-1,
};
static const double inv_c[128] = {
    0x1.fe01fe01fe020p-1, 0x1.fa11caa01fa12p-1, 0x1.f6310aca0dbb5p-1, 0x1.f25f644230ab5p-1,
    0x1.ee9c7f8458e02p-1, 0x1.eae807aba01ebp-1, 0x1.e741aa59750e4p-1, 0x1.e3a9179dc1a73p-1,
    0x1.e01e01e01e01ep-1, 0x1.dca01dca01dcap-1, 0x1.d92f2231e7f8ap-1, 0x1.d5cac807572b2p-1,
    0x1.d272ca3fc5b1ap-1, 0x1.cf26e5c44bfc6p-1, 0x1.cbe6d9601cbe7p-1, 0x1.c8b265afb8a42p-1,
    0x1.c5894d10d4986p-1, 0x1.c26b5392ea01cp-1, 0x1.bf583ee868d8bp-1, 0x1.bc4fd65883e7bp-1,
    0x1.b951e2b18ff23p-1, 0x1.b65e2e3beee05p-1, 0x1.b37484ad806cep-1, 0x1.b094b31d922a4p-1,
    0x1.adbe87f94905ep-1, 0x1.aaf1d2f87ebfdp-1, 0x1.a82e65130e159p-1, 0x1.a574107688a4ap-1,
    0x1.a2c2a87c51ca0p-1, 0x1.a01a01a01a01ap-1, 0x1.9d79f176b682dp-1, 0x1.9ae24ea5510dap-1,
    0x1.9852f0d8ec0ffp-1, 0x1.95cbb0be377aep-1, 0x1.934c67f9b2ce6p-1, 0x1.90d4f120190d5p-1,
    0x1.8e6527af1373fp-1, 0x1.8bfce8062ff3ap-1, 0x1.899c0f601899cp-1, 0x1.87427bcc092b9p-1,
    0x1.84f00c2780614p-1, 0x1.82a4a0182a4a0p-1, 0x1.8060180601806p-1, 0x1.7e225515a4f1dp-1,
    0x1.7beb3922e017cp-1, 0x1.79baa6bb6398bp-1, 0x1.77908119ac60dp-1, 0x1.756cac201756dp-1,
    0x1.734f0c541fe8dp-1, 0x1.713786d9c7c09p-1, 0x1.6f26016f26017p-1, 0x1.6d1a62681c861p-1,
    0x1.6b1490aa31a3dp-1, 0x1.691473a88d0c0p-1, 0x1.6719f3601671ap-1, 0x1.6524f853b4aa3p-1,
    0x1.63356b88ac0dep-1, 0x1.614b36831ae94p-1, 0x1.5f66434292dfcp-1, 0x1.5d867c3ece2a5p-1,
    0x1.5babcc647fa91p-1, 0x1.59d61f123ccaap-1, 0x1.5805601580560p-1, 0x1.56397ba7c52e2p-1,
    0x1.54725e6bb82fep-1, 0x1.52aff56a8054bp-1, 0x1.50f22e111c4c5p-1, 0x1.4f38f62dd4c9bp-1,
    0x1.4d843bedc2c4cp-1, 0x1.4bd3edda68fe1p-1, 0x1.4a27fad76014ap-1, 0x1.4880522014880p-1,
    0x1.46dce34596066p-1, 0x1.453d9e2c776cap-1, 0x1.43a2730abee4dp-1, 0x1.420b5265e5951p-1,
    0x1.40782d10e6566p-1, 0x1.3ee8f42a5af07p-1, 0x1.3d5d991aa75c6p-1, 0x1.3bd60d9232955p-1,
    0x1.3a524387ac822p-1, 0x1.38d22d366088ep-1, 0x1.3755bd1c945eep-1, 0x1.35dce5f9f2af8p-1,
    0x1.34679ace01346p-1, 0x1.32f5ced6a1dfap-1, 0x1.3187758e9ebb6p-1, 0x1.301c82ac40260p-1,
    0x1.2eb4ea1fed14bp-1, 0x1.2d50a012d50a0p-1, 0x1.2bef98e5a3711p-1, 0x1.2a91c92f3c105p-1,
    0x1.293725bb804a5p-1, 0x1.27dfa38a1ce4dp-1, 0x1.268b37cd60127p-1, 0x1.2539d7e9177b2p-1,
    0x1.23eb79717605bp-1, 0x1.22a0122a0122ap-1, 0x1.21579804855e6p-1, 0x1.2012012012012p-1,
    0x1.1ecf43c7fb84cp-1, 0x1.1d8f5672e4abdp-1, 0x1.1c522fc1ce059p-1, 0x1.1b17c67f2bae3p-1,
    0x1.19e0119e0119ep-1, 0x1.18ab083902bdbp-1, 0x1.1778a191bd684p-1, 0x1.1648d50fc3201p-1,
    0x1.151b9a3fdd5c9p-1, 0x1.13f0e8d344724p-1, 0x1.12c8b89edc0acp-1, 0x1.11a3019a74826p-1,
    0x1.107fbbe011080p-1, 0x1.0f5edfab325a2p-1, 0x1.0e40655826011p-1, 0x1.0d24456359e3ap-1,
    0x1.0c0a7868b4171p-1, 0x1.0af2f722eecb5p-1, 0x1.09ddba6af8360p-1, 0x1.08cabb37565e2p-1,
    0x1.07b9f29b8eae2p-1, 0x1.06ab59c7912fbp-1, 0x1.059eea0727586p-1, 0x1.04949cc1664c5p-1,
    0x1.038c6b78247fcp-1, 0x1.02864fc7729e9p-1, 0x1.0182436517a37p-1, 0x1.0080402010080p-1,
};

/* log(1 + r) for small |r| by its alternating series (Horner), to r^10. */
static double log1p_series(double r) {
  double p = -1.0 / 10;
  p = p * r + 1.0 / 9;
  p = p * r - 1.0 / 8;
  p = p * r + 1.0 / 7;
  p = p * r - 1.0 / 6;
  p = p * r + 1.0 / 5;
  p = p * r - 1.0 / 4;
  p = p * r + 1.0 / 3;
  p = p * r - 1.0 / 2;
  return r + r * r * p;
}

/* log x = e ln 2 + log c_i + log(1 + r): x = 2^e m with m in [1, 2), c_i the centre of m's
 * 1/128-wide bucket, r = (m - c_i)/c_i so |r| < 1/256 and the series converges in a few
 * terms. Near x = 1 the series on x - 1 (exact) is used directly, keeping relative accuracy. */
double rt__log(double x) {
  if (!(x > 0))
    return x == 0 ? -1.0 / 0.0 : 0.0 / 0.0;
  if (x > 0.984375 && x < 1.015625)
    return log1p_series(x - 1.0);
  uint64_t b = to_bits(x);
  int e = 0;
  if ((b >> 52) == 0) { /* subnormal: scale into the normal range first */
    x *= 0x1p54;
    b = to_bits(x);
    e = -54;
  }
  if ((b >> 52) >= 0x7FF)
    return x; /* +inf or NaN */
  e += (int)(b >> 52) - 1023;
  double m = from_bits((b & 0x000FFFFFFFFFFFFFULL) | 0x3FF0000000000000ULL);
  unsigned i = (unsigned)((b >> 45) & 127);
  double c = 1.0 + ((double)i + 0.5) * 0x1p-7;
  double r = (m - c) * inv_c[i];
  double p = -1.0 / 6;
  p = p * r + 1.0 / 5;
  p = p * r - 1.0 / 4;
  p = p * r + 1.0 / 3;
  p = p * r - 1.0 / 2;
  double lm = r + r * r * p;
  return ((double)e * LN2_LO + lm) + (log_c[i] + (double)e * LN2_HI);
}

/* exp x = 2^k e^r, k = round(x / ln 2), |r| <= ln2/2, e^r by its Taylor series to r^14. */
double rt__exp(double x) {
  if (x != x)
    return x;
  if (x > 709.782712893384)
    return 1.0 / 0.0;
  if (x < -745.2)
    return 0.0;
  double kd = x * INV_LN2;
  int64_t k = (int64_t)(kd >= 0 ? kd + 0.5 : kd - 0.5);
  double r = (x - (double)k * LN2_HI) - (double)k * LN2_LO;
  double p = 1.0 / 87178291200.0; /* 1/14! */
  static const double inv_fact[] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0,
                                    1.0 / 3628800.0,    1.0 / 362880.0,    1.0 / 40320.0,
                                    1.0 / 5040.0,       1.0 / 720.0,       1.0 / 120.0,
                                    1.0 / 24.0,         1.0 / 6.0,         0.5,
                                    1.0,                1.0};
  for (size_t i = 0; i < sizeof inv_fact / sizeof inv_fact[0]; i++)
    p = p * r + inv_fact[i];
  /* Scale by 2^k in at most two steps: x >= -745.2 keeps k >= -1075, so one pre-scaling by
   * 2^-1022 brings k into the range of a normal power of two. */
  if (k > 1023) {
    p *= 0x1p1023;
    k -= 1023;
  } else if (k < -1022) {
    p *= 0x1p-1022;
    k += 1022;
  }
  return p * from_bits((uint64_t)(k + 1023) << 52);
}

double rt__rng_exp(rt__rng *r, double mean) { return -mean * rt__log(rt__rng_unif_pos(r)); }

double rt__rng_normal(rt__rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  double u, v, s;
  do {
    u = 2.0 * rt__rng_unif(r) - 1.0;
    v = 2.0 * rt__rng_unif(r) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  double f = sqrt(-2.0 * rt__log(s) / s);
  r->spare = v * f;
  r->has_spare = 1;
  return u * f;
}

/* Marsaglia and Tsang (2000), "A simple method for generating gamma variables": for shape
 * a >= 1 with d = a - 1/3, c = 1/sqrt(9d), x normal and v = (1 + cx)^3, accept d v when
 * log u < x^2/2 + d - d v + d log v (with the cheap squeeze u < 1 - 0.0331 x^4 first). For
 * a < 1, G(a) = G(a + 1) U^(1/a). */
double rt__rng_gamma(rt__rng *r, double shape, double scale) {
  assert(shape > 0 && scale > 0);
  double boost = 1.0;
  if (shape < 1.0) {
    boost = rt__exp(rt__log(rt__rng_unif_pos(r)) / shape);
    shape += 1.0;
  }
  double d = shape - 1.0 / 3.0;
  double c = 1.0 / sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = rt__rng_normal(r);
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    double u = rt__rng_unif_pos(r);
    double x2 = x * x;
    if (u < 1.0 - 0.0331 * x2 * x2)
      return d * v * boost * scale;
    if (rt__log(u) < 0.5 * x2 + d * (1.0 - v + rt__log(v)))
      return d * v * boost * scale;
  }
}

double rt__rng_beta(rt__rng *r, double a, double b) {
  double x = rt__rng_gamma(r, a, 1.0);
  double y = rt__rng_gamma(r, b, 1.0);
  double s = x + y;
  return s > 0 ? x / s : 0.5;
}

uint32_t rt__rng_poisson(rt__rng *r, double mean) {
  if (!(mean > 0))
    return 0;
  if (mean >= 30.0) {
    double x = mean + sqrt(mean) * rt__rng_normal(r) + 0.5;
    return x < 0 ? 0 : (uint32_t)x;
  }
  double p = rt__exp(-mean), f = p, u = rt__rng_unif(r);
  uint32_t k = 0;
  while (u > f && k < 1000) {
    k++;
    p *= mean / k;
    f += p;
  }
  return k;
}

uint64_t rt__rng_geometric(rt__rng *r, double p) {
  if (p >= 1.0)
    return 1;
  if (!(p > 0))
    return 1000000000ULL;
  double t = rt__log(rt__rng_unif_pos(r)) / rt__log(1.0 - p);
  if (!(t < 1e9))
    return 1000000000ULL;
  return 1 + (uint64_t)t;
}

size_t rt__rng_categorical(rt__rng *r, const double *cum, size_t n) {
  assert(n >= 1);
  double u = rt__rng_unif(r) * cum[n - 1];
  size_t lo = 0, hi = n - 1; /* first i with cum[i] > u */
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (cum[mid] > u)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

void rt__cumulate(double *w, size_t n) {
  for (size_t i = 1; i < n; i++)
    w[i] += w[i - 1];
}

void rt__alias_build(const double *w, size_t n, double *prob, uint32_t *alias, uint32_t *scratch) {
  assert(n >= 1 && n <= 65536);
  double total = 0;
  for (size_t i = 0; i < n; i++)
    total += w[i];
  uint32_t *small = scratch, *large = scratch + n;
  size_t ns = 0, nl = 0;
  for (size_t i = 0; i < n; i++) {
    prob[i] = w[i] * (double)n / total; /* scaled so that the mean is 1 */
    alias[i] = (uint32_t)i;
    if (prob[i] < 1.0)
      small[ns++] = (uint32_t)i;
    else
      large[nl++] = (uint32_t)i;
  }
  /* Pair each short column with a tall one that tops it up to 1. */
  while (ns && nl) {
    uint32_t s = small[--ns], l = large[nl - 1];
    alias[s] = l;
    prob[l] -= 1.0 - prob[s];
    if (prob[l] < 1.0) {
      nl--;
      small[ns++] = l;
    }
  }
  while (nl)
    prob[large[--nl]] = 1.0; /* left-overs are full up to rounding */
  while (ns)
    prob[small[--ns]] = 1.0;
}
