/* specfun.h - the special functions the models need, written for their argument ranges:
 * digamma, and the Gauss hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1 in log form
 * (its series can exceed the range of a double before the prefactor brings it back). */
#ifndef RETAIN_PREDICT_SPECFUN_H
#define RETAIN_PREDICT_SPECFUN_H

#include <math.h>

/* ln |Gamma(x)|. The fits run on several threads: lgamma() writes the sign of Gamma(x) to the
 * global signgam, a data race; lgamma_r() returns it through its argument instead. */
static inline double rt__lgamma(double x) {
  int sign;
  return lgamma_r(x, &sign);
}

/* psi(x) = d/dx ln Gamma(x), for x > 0. */
double rt__digamma(double x);
/* psi'(x), the trigamma function, for x > 0. */
double rt__trigamma(double x);
/* ln 2F1(a, b; c; z) for a, b, c > 0 and 0 <= z < 1 (the series, summed in scaled form until
 * the terms stop mattering). */
double rt__log_hyp2f1(double a, double b, double c, double z);
/* ln 2F1(a, b; c; z[j]) for nz values of z at once (nz <= 16), sharing the series'
 * coefficients: out[j]. */
void rt__log_hyp2f1_many(double a, double b, double c, const double *z, int nz, double *out);
/* ln(exp(u) + exp(v)) without overflow. */
double rt__log_add(double u, double v);

#endif
