/* rng.h - the generator's random numbers: xoshiro256** seeded by splitmix64, and the samplers
 * the synthetic business draws from (uniform, exponential, normal, gamma, beta, Poisson,
 * geometric, categorical). Everything here is computed with IEEE double +, -, *, / and sqrt
 * only (log and exp are our own), so a seed gives the same numbers on every machine.
 * Library-internal (rt__ names); a rt__rng is one stream, not shared between threads. */
#ifndef RETAIN_GEN_RNG_H
#define RETAIN_GEN_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rt__rng {
  uint64_t s[4];   /* xoshiro256** state; never all zero */
  double spare;    /* the polar method's second normal deviate */
  int has_spare;
} rt__rng;

/* One splitmix64 step: advances *state and returns the next output (Steele, Lea, Flood 2014). */
static inline uint64_t rt__splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Seeds r as the substream (seed, key, lane): distinct (key, lane) pairs give unrelated
 * streams, so a customer's draws do not depend on which customers were drawn before it. */
void rt__rng_seed(rt__rng *r, uint64_t seed, uint64_t key, uint64_t lane);

static inline uint64_t rt__rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** 1.0 (Blackman and Vigna 2018). */
static inline uint64_t rt__rng_next(rt__rng *r) {
  uint64_t *s = r->s;
  uint64_t out = rt__rng_rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rt__rng_rotl(s[3], 45);
  return out;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double rt__rng_unif(rt__rng *r) {
  return (double)(rt__rng_next(r) >> 11) * 0x1p-53;
}

/* Uniform in the open interval (0, 1): safe to take the log of. */
static inline double rt__rng_unif_pos(rt__rng *r) {
  return ((double)(rt__rng_next(r) >> 11) + 0.5) * 0x1p-53;
}

/* Uniform integer in [0, n), n < 2^32 (multiply-shift; bias below 2^-32). */
static inline uint32_t rt__rng_below(rt__rng *r, uint32_t n) {
  return (uint32_t)(((rt__rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* 1 with probability p. */
static inline int rt__rng_bern(rt__rng *r, double p) { return rt__rng_unif(r) < p; }

/* Natural log and exponential from IEEE arithmetic only (relative error below 1e-14 in the
 * normal range), so results do not depend on the C library. rt__log wants x > 0. */
double rt__log(double x);
double rt__exp(double x);

double rt__rng_exp(rt__rng *r, double mean);               /* exponential with this mean */
double rt__rng_normal(rt__rng *r);                         /* standard normal (polar method) */
double rt__rng_gamma(rt__rng *r, double shape, double scale); /* Marsaglia-Tsang; shape > 0 */
double rt__rng_beta(rt__rng *r, double a, double b);       /* X/(X+Y), X~G(a), Y~G(b) */
/* Poisson: inversion for mean < 30, a rounded normal approximation above. */
uint32_t rt__rng_poisson(rt__rng *r, double mean);
/* Trials up to and including the first success (>= 1), success probability p in (0, 1];
 * capped at 1e9. */
uint64_t rt__rng_geometric(rt__rng *r, double p);
/* Index i with probability w[i] / total, given cum[i] = w[0] + ... + w[i] (n >= 1). */
size_t rt__rng_categorical(rt__rng *r, const double *cum, size_t n);

/* Walker's alias method (Vose's construction): O(1) draws from a fixed discrete distribution.
 * rt__alias_build fills prob[n] and alias[n] from weights w[n] (n <= 65536); scratch holds
 * 2n uint32_t. */
void rt__alias_build(const double *w, size_t n, double *prob, uint32_t *alias, uint32_t *scratch);
static inline uint32_t rt__rng_alias(rt__rng *r, const double *prob, const uint32_t *alias,
                                     uint32_t n) {
  uint64_t x = rt__rng_next(r);
  uint32_t i = (uint32_t)(((x >> 32) * (uint64_t)n) >> 32);
  double u = (double)(x & 0xFFFFFFFFu) * 0x1p-32;
  return u < prob[i] ? i : alias[i];
}

/* Turns weights into the cumulative table rt__rng_categorical takes (in place). */
void rt__cumulate(double *w, size_t n);

#endif
