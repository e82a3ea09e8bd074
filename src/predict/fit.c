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
  /* in a fixed pseudo-random order, so that any first part of the rows is a fair sample of
   * them (rt__fit_ml compares its starting points on one) */
  uint64_t st = 0x9E3779B97F4A7C15ULL;
  for (size_t i = out->n; i > 1; i--) {
    st ^= st << 13;
    st ^= st >> 7;
    st ^= st << 17;
    size_t j = (size_t)(st % i);
    double t[RT__FIT_MAXP];
    memcpy(t, out->v + (i - 1) * (size_t)k, (size_t)k * sizeof *t);
    memcpy(out->v + (i - 1) * (size_t)k, out->v + j * (size_t)k, (size_t)k * sizeof *t);
    memcpy(out->v + j * (size_t)k, t, (size_t)k * sizeof *t);
    double w = out->w[i - 1];
    out->w[i - 1] = out->w[j];
    out->w[j] = w;
  }
  return 0;
}

int rt__purchase_rows(const rt_clv_summary *s, const char *model, rt__rows *rows,
                      double *mean_T, rt_error *err) {
  const double *cols[3] = {s->x, s->t_x, s->T};
  if (rt__rows_distinct(cols, 3, s->n, NULL, NULL, rows))
    return rt_error_set(err, RT_ENOMEM, "clv: %s", rt_strerror(RT_ENOMEM));
  if (rows->total < 2) {
    rt__rows_free(rows);
    return rt_error_set(err, RT_EINVAL, "clv: %s needs at least 2 customers with orders", model);
  }
  if (mean_T) {
    double sum = 0;
    for (size_t i = 0; i < rows->n; i++)
      sum += rows->w[i] * rows->v[i * 3 + 2];
    *mean_T = sum / (double)rows->total + 1;
  }
  return 0;
}

typedef struct objective {
  const rt__rows *rows;
  int np;
  rt__loglik_fn f;
  rt__prepare_fn prepare;
  void *ctx;
  int evals;
  double prior_var; /* > 0: log(theta) ~ N(0, prior_var) added to the likelihood */
} objective;

/* A range of rows summed on one thread. */
typedef struct sum_part {
  const objective *o;
  const double *theta;
  size_t r0, r1;
  int want_grad;
  double ll, g[RT__FIT_MAXP];
} sum_part;

static void sum_rows(void *arg) {
  sum_part *p = arg;
  const rt__rows *r = p->o->rows;
  double g[RT__FIT_MAXP];
  for (size_t i = p->r0; i < p->r1; i++) {
    double ll = p->o->f(p->theta, r->v + i * (size_t)r->k, p->want_grad ? g : NULL, p->o->ctx);
    p->ll += r->w[i] * ll;
    if (p->want_grad)
      for (int j = 0; j < p->o->np; j++)
        p->g[j] += r->w[i] * g[j];
  }
}

static double neg_mean_ll(unsigned np, const double *lx, double *grad, void *data) {
  objective *o = data;
  double theta[RT__FIT_MAXP];
  for (unsigned j = 0; j < np; j++)
    theta[j] = exp(lx[j]);
  if (o->prepare)
    o->prepare(theta, o->ctx);
  const rt__rows *r = o->rows;
  sum_part parts[2];
  int nparts = r->n >= 20000 && rt__cpus() > 1 ? 2 : 1;
  for (int t = 0; t < nparts; t++)
    parts[t] = (sum_part){o, theta, r->n * (size_t)t / (size_t)nparts,
                          r->n * (size_t)(t + 1) / (size_t)nparts, grad != NULL, 0, {0}};
  rt__parallel(nparts, sum_rows, parts, sizeof parts[0]);
  double sum = 0, sum_g[RT__FIT_MAXP] = {0};
  for (int t = 0; t < nparts; t++) {
    sum += parts[t].ll;
    for (unsigned j = 0; j < np; j++)
      sum_g[j] += parts[t].g[j];
  }
  o->evals++;
  double total = r->total ? (double)r->total : 1;
  if (grad)
    for (unsigned j = 0; j < np; j++)
      grad[j] = isfinite(sum_g[j]) ? -sum_g[j] * theta[j] / total : 0;
  if (o->prior_var > 0)
    for (unsigned j = 0; j < np; j++) {
      sum -= lx[j] * lx[j] / (2 * o->prior_var);
      if (grad)
        grad[j] += lx[j] / o->prior_var / total;
    }
  return isfinite(sum) ? -sum / total : HUGE_VAL;
}

/* The Hessian of the mean objective at lx, by forward differences of the analytic gradient
 * around g0 (the gradient at lx): np evaluations, symmetrized. */
static void hessian(objective *o, const double *lx, const double *g0,
                    double h[RT__FIT_MAXP][RT__FIT_MAXP]) {
  int np = o->np;
  double x[RT__FIT_MAXP], gp[RT__FIT_MAXP];
  for (int k = 0; k < np; k++) {
    const double step = 1e-5;
    memcpy(x, lx, (size_t)np * sizeof *x);
    x[k] = lx[k] + step;
    neg_mean_ll((unsigned)np, x, gp, o);
    for (int j = 0; j < np; j++)
      h[j][k] = (gp[j] - g0[j]) / step;
  }
  for (int j = 0; j < np; j++)
    for (int k = j + 1; k < np; k++)
      h[j][k] = h[k][j] = (h[j][k] + h[k][j]) / 2;
}

/* Inverts the np x np matrix a in place (Gauss-Jordan with partial pivoting); -1 when
 * singular. */
static int invert(double a[RT__FIT_MAXP][RT__FIT_MAXP], int np) {
  double m[RT__FIT_MAXP][2 * RT__FIT_MAXP];
  for (int j = 0; j < np; j++)
    for (int k = 0; k < np; k++) {
      m[j][k] = a[j][k];
      m[j][np + k] = j == k;
    }
  for (int c = 0; c < np; c++) {
    int piv = c;
    for (int r = c + 1; r < np; r++)
      if (fabs(m[r][c]) > fabs(m[piv][c]))
        piv = r;
    if (!(fabs(m[piv][c]) > 1e-300))
      return -1;
    for (int k = 0; k < 2 * np; k++) {
      double t = m[c][k];
      m[c][k] = m[piv][k];
      m[piv][k] = t;
    }
    double d = m[c][c];
    for (int k = 0; k < 2 * np; k++)
      m[c][k] /= d;
    for (int r = 0; r < np; r++)
      if (r != c) {
        double f = m[r][c];
        for (int k = 0; k < 2 * np; k++)
          m[r][k] -= f * m[c][k];
      }
  }
  for (int j = 0; j < np; j++)
    for (int k = 0; k < np; k++)
      a[j][k] = m[j][np + k];
  return 0;
}

/* Standard errors at the estimate lx, whose gradient g0 is known: the inverse of the observed
 * information (the Hessian of the total negative log-likelihood in log parameters), carried to
 * the parameters by the delta method (se(theta) = theta se(log theta)). */
static void standard_errors(objective *o, const double *lx, const double *g0, double *se) {
  int np = o->np;
  double h[RT__FIT_MAXP][RT__FIT_MAXP], total = o->rows->total ? (double)o->rows->total : 1;
  for (int j = 0; j < np; j++)
    se[j] = NAN;
  hessian(o, lx, g0, h);
  for (int j = 0; j < np; j++)
    for (int k = 0; k < np; k++)
      h[j][k] *= total;
  if (invert(h, np))
    return;
  for (int j = 0; j < np; j++)
    se[j] = h[j][j] > 0 ? exp(lx[j]) * sqrt(h[j][j]) : NAN;
}

/* From lx next to the optimum (the scout's), Newton steps on all the rows with the curvature
 * measured on the scout rows (hinv: its inverse, the same per customer up to sampling): each
 * step costs one gradient of the full objective, and a step that does not lower it is halved.
 * Returns the objective at the end, or HUGE_VAL when it does not settle (the caller then runs
 * L-BFGS from lx). */
static double newton_polish(objective *o, double hinv[RT__FIT_MAXP][RT__FIT_MAXP], double *lx) {
  int np = o->np;
  double g[RT__FIT_MAXP], x[RT__FIT_MAXP], gn[RT__FIT_MAXP];
  double f = neg_mean_ll((unsigned)np, lx, g, o);
  for (int it = 0; it < 40 && f < HUGE_VAL; it++) {
    double step[RT__FIT_MAXP], big = 0, fn = HUGE_VAL, t = 1;
    for (int j = 0; j < np; j++) {
      step[j] = 0;
      for (int k = 0; k < np; k++)
        step[j] -= hinv[j][k] * g[k];
    }
    for (int ls = 0; ls < 30; ls++, t /= 2) {
      for (int j = 0; j < np; j++) {
        x[j] = lx[j] + t * step[j];
        x[j] = x[j] < -25 ? -25 : x[j] > 25 ? 25 : x[j];
      }
      fn = neg_mean_ll((unsigned)np, x, gn, o);
      if (fn <= f)
        break;
    }
    if (!(fn <= f))
      return HUGE_VAL;
    for (int j = 0; j < np; j++) {
      double d = fabs(x[j] - lx[j]);
      big = d > big ? d : big;
    }
    double df = f - fn;
    memcpy(lx, x, (size_t)np * sizeof *x);
    memcpy(g, gn, (size_t)np * sizeof *g);
    f = fn;
    /* settled: the step no longer moves the objective beyond its rounding (1e-12 of the mean
     * log-likelihood leaves the estimates right to about 1e-5) */
    if (big < 1e-9 || df <= 1e-12 * fabs(f))
      return f;
  }
  return HUGE_VAL;
}

/* One L-BFGS run from lx (log parameters, updated in place). Returns the minimum found, or
 * HUGE_VAL when the run failed; *converged and *evals say how it ended. */
static double lbfgs(const rt__rows *rows, int np, rt__loglik_fn f, rt__prepare_fn prepare,
                    void *ctx, double prior_var, double ftol, double *lx, int *converged,
                    int *evals) {
  *converged = 0;
  *evals = 0;
  nlopt_opt opt = nlopt_create(NLOPT_LD_LBFGS, (unsigned)np);
  if (!opt)
    return HUGE_VAL;
  objective o = {rows, np, f, prepare, ctx, 0, prior_var};
  double lo[RT__FIT_MAXP], hi[RT__FIT_MAXP], minf = HUGE_VAL;
  for (int j = 0; j < np; j++) {
    lo[j] = -25; /* e^-25 .. e^25: any parameter a customer base can have */
    hi[j] = 25;
  }
  nlopt_set_lower_bounds(opt, lo);
  nlopt_set_upper_bounds(opt, hi);
  nlopt_set_min_objective(opt, neg_mean_ll, &o);
  nlopt_set_ftol_rel(opt, ftol);
  nlopt_set_xtol_rel(opt, ftol * 1e3);
  nlopt_set_maxeval(opt, 3000);
  nlopt_result res = nlopt_optimize(opt, lx, &minf);
  nlopt_destroy(opt);
  *evals = o.evals;
  if (res < 0 && res != NLOPT_ROUNDOFF_LIMITED)
    return HUGE_VAL;
  /* round-off limited: L-BFGS could not improve further, which at an optimum is the expected
   * end; the gradient check after the fit tells */
  *converged = res == NLOPT_SUCCESS || res == NLOPT_FTOL_REACHED || res == NLOPT_XTOL_REACHED ||
               res == NLOPT_ROUNDOFF_LIMITED;
  return isfinite(minf) ? minf : HUGE_VAL;
}

/* With many distinct rows the starting points are compared on the first SCOUT_ROWS of them
 * (a few evaluations each, cheap), and only the best is run on all the rows. */
#define SCOUT_ROWS 50000
#define STARTS_ROWS 10000

int rt__fit_ml(const rt__rows *rows, int np, rt__loglik_fn f, rt__prepare_fn prepare, void *ctx,
               const double *starts, int nstarts, double *theta, rt_fit_info *info) {
  memset(info, 0, sizeof *info);
  info->n = rows->total;
  info->distinct = rows->n;
  info->prior = rows->total < 500;
  const double prior_var = info->prior ? 9 : 0;
  /* the starts race on the first STARTS_ROWS rows, the winner is refined on the scout rows,
   * then polished on all of them (first parts of rows in random order are fair samples) */
  rt__rows scout = *rows, race = *rows;
  if (rows->n > 2 * SCOUT_ROWS) {
    scout.n = SCOUT_ROWS;
    scout.total = 0;
    for (size_t i = 0; i < scout.n; i++)
      scout.total += (size_t)rows->w[i];
    race.n = STARTS_ROWS;
    race.total = 0;
    for (size_t i = 0; i < race.n; i++)
      race.total += (size_t)rows->w[i];
  }
  double best = HUGE_VAL, best_lx[RT__FIT_MAXP] = {0};
  int converged = 0, evals = 0;
  for (int s = 0; s < nstarts; s++) {
    double lx[RT__FIT_MAXP];
    for (int j = 0; j < np; j++)
      lx[j] = log(starts[s * np + j]);
    int c, e;
    double v = lbfgs(&race, np, f, prepare, ctx, prior_var, 1e-13, lx, &c, &e);
    info->starts++;
    if (v < best) {
      best = v;
      memcpy(best_lx, lx, sizeof lx);
      converged = c;
      evals = e;
    }
  }
  if (best == HUGE_VAL)
    return RT_EINVAL;
  if (race.n < scout.n)
    best = lbfgs(&scout, np, f, prepare, ctx, prior_var, 1e-13, best_lx, &converged, &evals);
  if (best == HUGE_VAL)
    return RT_EINVAL;
  if (scout.n < rows->n) { /* the best start, on all the rows */
    objective so = {&scout, np, f, prepare, ctx, 0, prior_var}, fo = {rows, np, f, prepare, ctx,
                                                                       0, prior_var};
    double g[RT__FIT_MAXP], h[RT__FIT_MAXP][RT__FIT_MAXP], lx[RT__FIT_MAXP];
    memcpy(lx, best_lx, sizeof lx);
    neg_mean_ll((unsigned)np, lx, g, &so);
    hessian(&so, lx, g, h);
    double v = invert(h, np) ? HUGE_VAL : newton_polish(&fo, h, lx);
    if (v < HUGE_VAL) {
      best = v;
      memcpy(best_lx, lx, sizeof lx);
      converged = 1; /* the gradient check below has the last word */
      evals = fo.evals;
    } else {
      best = lbfgs(rows, np, f, prepare, ctx, prior_var, 1e-13, best_lx, &converged, &evals);
    }
  }
  if (best == HUGE_VAL)
    return RT_EINVAL;
  for (int j = 0; j < np; j++)
    theta[j] = exp(best_lx[j]);
  info->evaluations = evals;
  info->converged = converged;
  objective o = {rows, np, f, prepare, ctx, 0, prior_var};
  /* a last check, that the gradient at the best point is flat; it also anchors the Hessian */
  double g[RT__FIT_MAXP] = {0}, norm = 0;
  neg_mean_ll((unsigned)np, best_lx, g, &o);
  for (int j = 0; j < np; j++)
    norm += g[j] * g[j];
  info->converged = info->converged && sqrt(norm) < 1e-4;
  standard_errors(&o, best_lx, g, info->se);
  for (int j = np; j < 4; j++)
    info->se[j] = NAN;
  info->loglik = -best * (double)(rows->total ? rows->total : 1);
  if (prior_var > 0) { /* the log-likelihood itself, without the prior */
    o.prior_var = 0;
    info->loglik = -neg_mean_ll((unsigned)np, best_lx, NULL, &o) *
                   (double)(rows->total ? rows->total : 1);
  }
  return 0;
}
