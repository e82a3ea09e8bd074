/* fit.c - distinct rows and the maximum-likelihood driver (see fit.h). The objective is the
 * mean negative log-likelihood per customer, in log parameters (so every parameter stays
 * positive and the scales even out); its gradient is the chain rule on the model's analytic
 * derivatives. */
#include "predict/fit.h"

#include <retain/alloc.h>
#include <retain/error.h>

#include <math.h>
#include <nlopt.h>
#include <string.h>

#include "internal.h"

void rt__rows_free(rt__rows *r) {
  rt_free(r->v);
  rt_free(r->w);
  memset(r, 0, sizeof *r);
}

int rt__rows_distinct(const double *const *cols, int k, size_t n,
                      int (*keep)(const void *ctx, size_t i), const void *ctx, rt__rows *out) {
  memset(out, 0, sizeof *out);
  out->k = k;
  size_t nslots = 1024;
  while (nslots < 2 * n)
    nslots *= 2;
  uint32_t *slot = rt_calloc(nslots, sizeof *slot); /* row index + 1, 0 = empty */
  out->v = rt_malloc((n ? n : 1) * (size_t)k * sizeof *out->v);
  out->w = rt_malloc((n ? n : 1) * sizeof *out->w);
  if (!slot || !out->v || !out->w) {
    rt_free(slot);
    rt__rows_free(out);
    return RT_ENOMEM;
  }
  double row[RT__FIT_MAXP];
  for (size_t i = 0; i < n; i++) {
    if (keep && !keep(ctx, i))
      continue;
    for (int c = 0; c < k; c++)
      row[c] = cols[c][i] + 0.0; /* -0.0 and 0.0 are one value */
    uint64_t h = rt__hash_bytes(row, (size_t)k * sizeof *row);
    size_t s = h & (nslots - 1);
    for (;;) {
      if (!slot[s]) {
        memcpy(out->v + out->n * (size_t)k, row, (size_t)k * sizeof *row);
        out->w[out->n] = 1;
        slot[s] = (uint32_t)++out->n;
        break;
      }
      double *v = out->v + (slot[s] - 1) * (size_t)k;
      if (memcmp(v, row, (size_t)k * sizeof *row) == 0) {
        out->w[slot[s] - 1] += 1;
        break;
      }
      s = (s + 1) & (nslots - 1);
    }
    out->total++;
  }
  rt_free(slot);
  return 0;
}

typedef struct objective {
  const rt__rows *rows;
  int np;
  rt__loglik_fn f;
  int evals;
} objective;

static double neg_mean_ll(unsigned np, const double *lx, double *grad, void *data) {
  objective *o = data;
  double theta[RT__FIT_MAXP], g[RT__FIT_MAXP], sum_g[RT__FIT_MAXP] = {0}, sum = 0;
  for (unsigned j = 0; j < np; j++)
    theta[j] = exp(lx[j]);
  const rt__rows *r = o->rows;
  for (size_t i = 0; i < r->n; i++) {
    double ll = o->f(theta, r->v + i * (size_t)r->k, grad ? g : NULL);
    sum += r->w[i] * ll;
    if (grad)
      for (unsigned j = 0; j < np; j++)
        sum_g[j] += r->w[i] * g[j];
  }
  o->evals++;
  double total = r->total ? (double)r->total : 1;
  if (grad)
    for (unsigned j = 0; j < np; j++)
      grad[j] = isfinite(sum_g[j]) ? -sum_g[j] * theta[j] / total : 0;
  return isfinite(sum) ? -sum / total : HUGE_VAL;
}

int rt__fit_ml(const rt__rows *rows, int np, rt__loglik_fn f, const double *starts, int nstarts,
               double *theta, rt_fit_info *info) {
  memset(info, 0, sizeof *info);
  info->n = rows->total;
  info->distinct = rows->n;
  double best = HUGE_VAL;
  for (int s = 0; s < nstarts; s++) {
    nlopt_opt opt = nlopt_create(NLOPT_LD_LBFGS, (unsigned)np);
    if (!opt)
      return RT_ENOMEM;
    objective o = {rows, np, f, 0};
    double lx[RT__FIT_MAXP], lo[RT__FIT_MAXP], hi[RT__FIT_MAXP], minf = HUGE_VAL;
    for (int j = 0; j < np; j++) {
      lx[j] = log(starts[s * np + j]);
      lo[j] = -25; /* e^-25 .. e^25: any parameter a customer base can have */
      hi[j] = 25;
    }
    nlopt_set_lower_bounds(opt, lo);
    nlopt_set_upper_bounds(opt, hi);
    nlopt_set_min_objective(opt, neg_mean_ll, &o);
    nlopt_set_ftol_rel(opt, 1e-13);
    nlopt_set_xtol_rel(opt, 1e-10);
    nlopt_set_maxeval(opt, 3000);
    nlopt_result res = nlopt_optimize(opt, lx, &minf);
    nlopt_destroy(opt);
    if (res < 0 && res != NLOPT_ROUNDOFF_LIMITED)
      continue;
    if (isfinite(minf) && minf < best) {
      best = minf;
      for (int j = 0; j < np; j++)
        theta[j] = exp(lx[j]);
      info->evaluations = o.evals;
      /* round-off limited: L-BFGS could not improve further, which at an optimum is the
       * expected end; the gradient tells */
      info->converged = res == NLOPT_SUCCESS || res == NLOPT_FTOL_REACHED ||
                        res == NLOPT_XTOL_REACHED || res == NLOPT_ROUNDOFF_LIMITED;
    }
    info->starts++;
  }
  if (best == HUGE_VAL)
    return RT_EINVAL;
  if (info->converged) { /* a last check: the gradient at the best point is flat */
    objective o = {rows, np, f, 0};
    double lx[RT__FIT_MAXP] = {0}, g[RT__FIT_MAXP] = {0}, norm = 0;
    for (int j = 0; j < np; j++)
      lx[j] = log(theta[j]);
    neg_mean_ll((unsigned)np, lx, g, &o);
    for (int j = 0; j < np; j++)
      norm += g[j] * g[j];
    info->converged = sqrt(norm) < 1e-4;
  }
  info->loglik = -best * (double)(rows->total ? rows->total : 1);
  return 0;
}
