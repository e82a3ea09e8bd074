/* specfun.c - digamma and the hypergeometric series (see specfun.h). */
#include "predict/specfun.h"

#include <math.h>

double rt__digamma(double x) {
  /* the recurrence psi(x) = psi(x + 1) - 1/x, then the asymptotic series
   * ln x - 1/(2x) - sum B_2k / (2k x^2k) (Abramowitz & Stegun 6.3.18), from x >= 10 */
  double acc = 0;
  while (x < 10) {
    acc -= 1 / x;
    x += 1;
  }
  double f = 1 / (x * x);
  double series =
      f * (1.0 / 12 -
           f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132 -
                                                                   f * (691.0 / 32760))))));
  return acc + log(x) - 0.5 / x - series;
}

double rt__trigamma(double x) {
  /* the recurrence psi'(x) = psi'(x + 1) + 1/x^2, then the asymptotic series
   * 1/x + 1/(2x^2) + sum B_2k / x^(2k+1) (Abramowitz & Stegun 6.4.12), from x >= 10 */
  double acc = 0;
  while (x < 10) {
    acc += 1 / (x * x);
    x += 1;
  }
  double f = 1 / (x * x);
  double series =
      f * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30 - f * (5.0 / 66 -
                                                                      f * (691.0 / 2730))))));
  return acc + (1 + 0.5 / x + series) / x;
}

double rt__log_add(double u, double v) {
  if (u < v) {
    double t = u;
    u = v;
    v = t;
  }
  if (v == -INFINITY)
    return u;
  return u + log1p(exp(v - u));
}

double rt__log_hyp2f1(double a, double b, double c, double z) {
  if (z <= 0)
    return 0;
  /* sum of t_k, t_0 = 1, t_{k+1} = t_k (a + k)(b + k) z / ((c + k)(k + 1)); sum and term are
   * kept divided by e^scale so that neither overflows */
  double sum = 1, term = 1, scale = 0;
  for (int k = 0; k < 100000; k++) {
    term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
    sum += term;
    if (sum > 1e200) {
      sum *= 1e-200;
      term *= 1e-200;
      scale += 200 * M_LN10;
    }
    /* the ratio of successive terms tends to z < 1: stop once the terms are shrinking and
     * the rest, bounded by a geometric tail, is below the precision */
    double ratio = (a + k + 1) * (b + k + 1) / ((c + k + 1) * (k + 2.0)) * z;
    double bound = ratio > z ? ratio : z; /* the later ratios stay below the larger of them */
    if (ratio < 1 && term * bound / (1 - bound) < 1e-16 * sum)
      break;
  }
  return log(sum) + scale;
}

void rt__log_hyp2f1_many(double a, double b, double c, const double *z, int nz, double *out) {
  /* sum_k coef_k z^k for every z: the coefficient (a)_k (b)_k / ((c)_k k!) is computed once
   * per k; the convergence test is on the largest z, the slowest to converge */
  double sum[16], pw[16], zmax = 0;
  int jmax = 0;
  for (int j = 0; j < nz; j++) {
    sum[j] = 1;
    pw[j] = 1;
    if (z[j] > zmax) {
      zmax = z[j];
      jmax = j;
    }
  }
  double coef = 1;
  for (int k = 0; k < 100000; k++) {
    coef *= (a + k) * (b + k) / ((c + k) * (k + 1.0));
    double big = 0;
    for (int j = 0; j < nz; j++) {
      pw[j] *= z[j];
      sum[j] += coef * pw[j];
      big = sum[j] > big ? sum[j] : big;
    }
    if (big > 1e200 || coef > 1e200) { /* past a double's comfort: one series each, scaled */
      for (int j = 0; j < nz; j++)
        out[j] = rt__log_hyp2f1(a, b, c, z[j]);
      return;
    }
    double ratio = (a + k + 1) * (b + k + 1) / ((c + k + 1) * (k + 2.0)) * zmax;
    double bound = ratio > zmax ? ratio : zmax;
    if (ratio < 1 && coef * pw[jmax] * bound / (1 - bound) < 1e-16 * sum[jmax])
      break;
  }
  for (int j = 0; j < nz; j++)
    out[j] = log(sum[j]);
}
