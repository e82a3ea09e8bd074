/* fit.c - distinct rows and the maximum-likelihood driver (see fit.h). The objective is the
 * mean negative log-likelihood per customer, in log parameters (so every parameter stays
 * positive and the scales even out); its gradient is the chain rule on the model's analytic
 * derivatives. */
#include "predict/fit.h"

#include <retain/alloc.h>
#include <retain/error.h>

#include <math.h>
#include <nlopt.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

void rt__rows_free(rt__rows *r) {
  rt_free(r->v);
  rt_free(r->w);
  memset(r, 0, sizeof *r);
}

/* A row's hash: its values' bits mixed (-0.0 and 0.0 are one value). */
static uint64_t row_hash(const double *row, int k) {
  uint64_t h = 0x243F6A8885A308D3ULL;
  for (int c = 0; c < k; c++) {
    uint64_t b;
    memcpy(&b, &row[c], sizeof b);
    h = (h ^ b) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
  }
  h *= 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 32);
}

/* The rows are hashed and partitioned by the top bits of their hash into buckets of a few
 * thousand, so that grouping a bucket runs in cache (one hash table over all the rows would
 * miss the cache on every row); the distinct rows come out bucket by bucket, an order that is
 * pseudo-random (by hash) however the customers were ordered. */
int rt__rows_distinct(const double *const *cols, int k, size_t n,
                      int (*keep)(const void *ctx, size_t i), const void *ctx, rt__rows *out) {
  memset(out, 0, sizeof *out);
  out->k = k;
  int bits = 0;
  while (bits < 16 && ((size_t)2048 << bits) < n)
    bits++;
  const size_t nb = (size_t)1 << bits, stride = 1 + (size_t)k; /* entry: hash, values */
  uint64_t *hs = rt_malloc((n ? n : 1) * sizeof *hs);
  double *part = rt_malloc((n ? n : 1) * stride * sizeof *part);
  size_t *end = rt_calloc(nb + 1, sizeof *end);
  out->v = rt_malloc((n ? n : 1) * (size_t)k * sizeof *out->v);
  out->w = rt_malloc((n ? n : 1) * sizeof *out->w);
  if (!hs || !part || !end || !out->v || !out->w) {
    rt_free(hs);
    rt_free(part);
    rt_free(end);
    rt__rows_free(out);
    return RT_ENOMEM;
  }
  double row[RT__FIT_MAXP];
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (keep && !keep(ctx, i))
      continue;
    for (int c = 0; c < k; c++)
      row[c] = cols[c][i] + 0.0;
    hs[m] = row_hash(row, k);
    end[bits ? (hs[m] >> (64 - bits)) + 1 : 1]++;
    m++;
  }
  out->total = m;
  for (size_t b = 0; b < nb; b++)
    end[b + 1] += end[b];
  for (size_t i = 0, j = 0; i < n; i++) {
    if (keep && !keep(ctx, i))
      continue;
    size_t b = bits ? (size_t)(hs[j] >> (64 - bits)) : 0;
    double *e = part + end[b]++ * stride;
    memcpy(e, &hs[j], sizeof *e);
    for (int c = 0; c < k; c++)
      e[1 + c] = cols[c][i] + 0.0;
    j++;
  }
  rt_free(hs);
  /* end[b] now ends bucket b; each bucket is grouped with a small hash table (in cache) on
   * the hash's lower bits, its distinct rows appended in the order they first appear */
  size_t maxlen = 0;
  for (size_t b = 0, b0 = 0; b < nb; b0 = end[b], b++)
    maxlen = end[b] - b0 > maxlen ? end[b] - b0 : maxlen;
  size_t nslots = 16;
  while (nslots < 2 * maxlen)
    nslots *= 2;
  uint32_t *slot = rt_malloc(nslots * sizeof *slot); /* distinct row - first + 1, 0 = empty */
  if (!slot) {
    rt_free(part);
    rt_free(end);
    rt__rows_free(out);
    return RT_ENOMEM;
  }
  for (size_t b = 0, b0 = 0; b < nb; b0 = end[b], b++) {
    const double *p = part + b0 * stride;
    size_t len = end[b] - b0, ns = 16;
    while (ns < 2 * len)
      ns *= 2;
    memset(slot, 0, ns * sizeof *slot);
    const size_t first = out->n;
    for (size_t j = 0; j < len; j++) {
      const double *e = p + j * stride;
      uint64_t h;
      memcpy(&h, e, sizeof h);
      for (size_t q = h & (ns - 1);; q = (q + 1) & (ns - 1)) {
        if (!slot[q]) {
          memcpy(out->v + out->n * (size_t)k, e + 1, (size_t)k * sizeof *e);
          out->w[out->n++] = 1;
          slot[q] = (uint32_t)(out->n - first);
          break;
        }
        size_t d = first + slot[q] - 1;
        if (!memcmp(out->v + d * (size_t)k, e + 1, (size_t)k * sizeof *e)) {
          out->w[d] += 1;
          break;
        }
      }
    }
  }
  rt_free(slot);
  rt_free(part);
  rt_free(end);
  rt__trace("fit: distinct rows");
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
  int analytic; /* f gives the Hessian */
  int evals;
  double prior_var; /* > 0: log(theta) ~ N(0, prior_var) added to the likelihood */
} objective;

typedef double matrix[RT__FIT_MAXP][RT__FIT_MAXP];

#define BOUND 25 /* the log parameters stay within +-BOUND */

/* A range of rows summed on one thread. */
typedef struct sum_part {
  const objective *o;
  const double *theta;
  size_t r0, r1;
  int want_grad, want_hess;
  double ll, g[RT__FIT_MAXP], h[RT__FIT_MAXP * RT__FIT_MAXP];
} sum_part;

static void sum_rows(void *arg) {
  sum_part *p = arg;
  const rt__rows *r = p->o->rows;
  const int np = p->o->np, nh = p->want_hess ? np * np : 0;
  /* summed in locals and stored once: the parts sit side by side, and threads writing to one
   * cache line row after row would take it from each other */
  double g[RT__FIT_MAXP], h[RT__FIT_MAXP * RT__FIT_MAXP], ll = 0, sg[RT__FIT_MAXP] = {0};
  double sh[RT__FIT_MAXP * RT__FIT_MAXP] = {0};
  for (size_t i = p->r0; i < p->r1; i++) {
    double w = r->w[i];
    ll += w * p->o->f(p->theta, r->v + i * (size_t)r->k, p->want_grad ? g : NULL,
                      p->want_hess ? h : NULL, p->o->ctx);
    if (p->want_grad)
      for (int j = 0; j < np; j++)
        sg[j] += w * g[j];
    for (int j = 0; j < nh; j++)
      sh[j] += w * h[j];
  }
  p->ll = ll;
  memcpy(p->g, sg, sizeof sg);
  memcpy(p->h, sh, sizeof sh);
}

/* The objective at lx: the mean negative log-likelihood (plus the prior's penalty), and when
 * asked its gradient and (analytic models only) Hessian with respect to lx. */
static double evaluate(objective *o, const double *lx, double *grad, matrix hess) {
  const int np = o->np;
  double theta[RT__FIT_MAXP];
  for (int j = 0; j < np; j++)
    theta[j] = exp(lx[j]);
  if (o->prepare)
    o->prepare(theta, o->ctx);
  const rt__rows *r = o->rows;
  sum_part parts[2];
  int nparts = r->n >= 20000 && rt__cpus() > 1 ? 2 : 1;
  for (int t = 0; t < nparts; t++)
    parts[t] = (sum_part){o, theta, r->n * (size_t)t / (size_t)nparts,
                          r->n * (size_t)(t + 1) / (size_t)nparts, grad != NULL,
                          grad && hess, 0, {0}, {0}};
  rt__parallel(nparts, sum_rows, parts, sizeof parts[0]);
  double sum = 0, sum_g[RT__FIT_MAXP] = {0}, sum_h[RT__FIT_MAXP * RT__FIT_MAXP] = {0};
  for (int t = 0; t < nparts; t++) {
    sum += parts[t].ll;
    for (int j = 0; j < np; j++)
      sum_g[j] += parts[t].g[j];
    for (int j = 0; j < np * np; j++)
      sum_h[j] += parts[t].h[j];
  }
  o->evals++;
  double total = r->total ? (double)r->total : 1;
  if (grad)
    for (int j = 0; j < np; j++)
      grad[j] = isfinite(sum_g[j]) ? -sum_g[j] * theta[j] / total : 0;
  if (grad && hess) /* the chain rule for theta = e^lx */
    for (int j = 0; j < np; j++)
      for (int k = 0; k < np; k++)
        hess[j][k] = -(theta[j] * theta[k] * sum_h[j * np + k] + (j == k) * theta[j] * sum_g[j]) /
                     total;
  if (o->prior_var > 0)
    for (int j = 0; j < np; j++) {
      sum -= lx[j] * lx[j] / (2 * o->prior_var);
      if (grad)
        grad[j] += lx[j] / o->prior_var / total;
      if (grad && hess)
        hess[j][j] += 1 / o->prior_var / total;
    }
  return isfinite(sum) ? -sum / total : HUGE_VAL;
}

/* NLopt's objective */
static double neg_mean_ll(unsigned np, const double *lx, double *grad, void *data) {
  (void)np;
  return evaluate(data, lx, grad, NULL);
}

/* The Hessian of the mean objective at lx: the model's own, or forward differences of the
 * analytic gradient around g0 (the gradient at lx; np evaluations, symmetrized). */
static void hessian(objective *o, const double *lx, const double *g0, matrix h) {
  int np = o->np;
  double x[RT__FIT_MAXP], gp[RT__FIT_MAXP];
  if (o->analytic) {
    evaluate(o, lx, gp, h);
    return;
  }
  for (int k = 0; k < np; k++) {
    const double step = 1e-5;
    memcpy(x, lx, (size_t)np * sizeof *x);
    x[k] = lx[k] + step;
    evaluate(o, x, gp, NULL);
    for (int j = 0; j < np; j++)
      h[j][k] = (gp[j] - g0[j]) / step;
  }
  for (int j = 0; j < np; j++)
    for (int k = j + 1; k < np; k++)
      h[j][k] = h[k][j] = (h[j][k] + h[k][j]) / 2;
}

/* Inverts the np x np matrix a in place (Gauss-Jordan with partial pivoting); -1 when
 * singular. */
static int invert(matrix a, int np) {
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

/* Standard errors from the Hessian h of the mean objective at the estimate lx: the inverse of
 * the observed information (the Hessian of the total negative log-likelihood in log
 * parameters), carried to the parameters by the delta method (se(theta) = theta se(log
 * theta)); lcov gets that inverse, the covariance of the log parameters. A singular or not
 * positive definite information leaves NANs. */
static void standard_errors(const objective *o, const double *lx, const matrix h, double *se,
                            double lcov[4][4]) {
  int np = o->np;
  matrix info;
  double total = o->rows->total ? (double)o->rows->total : 1;
  for (int j = 0; j < 4; j++) {
    se[j] = NAN;
    for (int k = 0; k < 4; k++)
      lcov[j][k] = NAN;
  }
  for (int j = 0; j < np; j++)
    for (int k = 0; k < np; k++)
      info[j][k] = h[j][k] * total;
  if (invert(info, np))
    return;
  for (int j = 0; j < np; j++) {
    se[j] = info[j][j] > 0 ? exp(lx[j]) * sqrt(info[j][j]) : NAN;
    for (int k = 0; k < np; k++)
      lcov[j][k] = info[j][j] > 0 && info[k][k] > 0 ? info[j][k] : NAN;
  }
}

/* Newton steps on all the rows from lx next to the optimum (the scout's). Each step costs one
 * evaluation: with an analytic model it brings the Hessian at the new point, and the step
 * solves with it (quadratic convergence); otherwise, or where it is not positive definite, the
 * step uses hinv, the inverse curvature measured on the scout rows (the same per customer up
 * to sampling). A step that does not lower the objective is halved. Returns the objective at
 * the end, with its gradient in g and (analytic) its Hessian in h; or HUGE_VAL when it does
 * not settle (the caller then runs L-BFGS from lx). */
static double newton_polish(objective *o, const matrix hinv, double *lx, double *g, matrix h) {
  int np = o->np;
  double x[RT__FIT_MAXP], gn[RT__FIT_MAXP];
  matrix hn;
  double f = evaluate(o, lx, g, o->analytic ? h : NULL);
  for (int it = 0; it < 40 && f < HUGE_VAL; it++) {
    double step[RT__FIT_MAXP], big = 0, fn = HUGE_VAL, t = 1, slope = 0;
    matrix inv;
    int own = 0;
    if (o->analytic) {
      memcpy(inv, h, sizeof inv);
      own = invert(inv, np) == 0;
    }
    for (int pass = own ? 0 : 1; pass < 2; pass++) {
      const double(*m)[RT__FIT_MAXP] = pass == 0 ? (const double(*)[RT__FIT_MAXP])inv : hinv;
      slope = 0;
      for (int j = 0; j < np; j++) {
        step[j] = 0;
        for (int k = 0; k < np; k++)
          step[j] -= m[j][k] * g[k];
        slope += step[j] * g[j];
      }
      if (slope < 0)
        break; /* a descent direction */
    }
    /* settled: the decrease the step promises is below the objective's rounding */
    if (!(slope < -1e-14 * fabs(f)))
      return slope <= 0 ? f : HUGE_VAL;
    for (int ls = 0; ls < 30; ls++, t /= 2) {
      for (int j = 0; j < np; j++) {
        x[j] = lx[j] + t * step[j];
        x[j] = x[j] < -BOUND ? -BOUND : x[j] > BOUND ? BOUND : x[j];
      }
      fn = evaluate(o, x, gn, o->analytic ? hn : NULL);
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
    if (o->analytic)
      memcpy(h, hn, sizeof hn);
    f = fn;
    /* settled: the step no longer moves the objective beyond its rounding (1e-12 of the mean
     * log-likelihood leaves the estimates right to about 1e-5) */
    if (big < 1e-9 || df <= 1e-12 * fabs(f))
      return f;
  }
  return HUGE_VAL;
}

#define MAX_EVALS 3000 /* per L-BFGS run */

/* One L-BFGS run from lx (log parameters, updated in place). Returns the minimum found, or
 * HUGE_VAL when the run failed; *converged and *evals say how it ended. */
static double lbfgs(const objective *model, const rt__rows *rows, double ftol, double *lx,
                    int *converged, int *evals, int *limit) {
  const int np = model->np;
  *converged = 0;
  *evals = 0;
  *limit = 0;
  nlopt_opt opt = nlopt_create(NLOPT_LD_LBFGS, (unsigned)np);
  if (!opt)
    return HUGE_VAL;
  objective o = *model;
  o.rows = rows;
  o.evals = 0;
  double lo[RT__FIT_MAXP], hi[RT__FIT_MAXP], minf = HUGE_VAL;
  for (int j = 0; j < np; j++) {
    lo[j] = -BOUND; /* e^-25 .. e^25: any parameter a customer base can have */
    hi[j] = BOUND;
  }
  nlopt_set_lower_bounds(opt, lo);
  nlopt_set_upper_bounds(opt, hi);
  nlopt_set_min_objective(opt, neg_mean_ll, &o);
  nlopt_set_ftol_rel(opt, ftol);
  nlopt_set_xtol_rel(opt, ftol * 1e3);
  nlopt_set_maxeval(opt, MAX_EVALS);
  nlopt_result res = nlopt_optimize(opt, lx, &minf);
  nlopt_destroy(opt);
  *evals = o.evals;
  *limit = res == NLOPT_MAXEVAL_REACHED;
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
               int hessian_given, const double *starts, int nstarts, double *theta,
               rt_fit_info *info) {
  memset(info, 0, sizeof *info);
  info->n = rows->total;
  info->distinct = rows->n;
  info->prior = rows->total < 500;
  objective o = {rows, np, f, prepare, ctx, hessian_given, 0, info->prior ? 9 : 0};
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
  int converged = 0, evals = 0, limit = 0;
  for (int s = 0; s < nstarts; s++) {
    double lx[RT__FIT_MAXP];
    for (int j = 0; j < np; j++)
      lx[j] = log(starts[s * np + j]);
    int c, e, l;
    double v = lbfgs(&o, &race, 1e-13, lx, &c, &e, &l);
    info->starts++;
    if (v < best) {
      best = v;
      memcpy(best_lx, lx, sizeof lx);
      converged = c;
      evals = e;
      limit = l;
    }
  }
  if (best == HUGE_VAL)
    return RT_EINVAL;
  rt__trace("fit: starts raced");
  if (race.n < scout.n)
    best = lbfgs(&o, &scout, 1e-13, best_lx, &converged, &evals, &limit);
  if (best == HUGE_VAL)
    return RT_EINVAL;
  rt__trace("fit: refined on the scout rows");
  double g[RT__FIT_MAXP] = {0};
  matrix h;
  int known = 0; /* g and h are those at best_lx */
  if (scout.n < rows->n) { /* the best start, on all the rows */
    objective so = o;
    so.rows = &scout;
    double lx[RT__FIT_MAXP];
    matrix hs;
    memcpy(lx, best_lx, sizeof lx);
    if (!so.analytic) /* the differences start from the gradient */
      evaluate(&so, lx, g, NULL);
    hessian(&so, lx, g, hs);
    o.evals = 0;
    double v = invert(hs, np) ? HUGE_VAL : newton_polish(&o, hs, lx, g, h);
    if (v < HUGE_VAL) {
      best = v;
      memcpy(best_lx, lx, sizeof lx);
      converged = 1; /* the gradient check below has the last word */
      evals = o.evals;
      limit = 0;
      known = 1;
    } else {
      best = lbfgs(&o, rows, 1e-13, best_lx, &converged, &evals, &limit);
    }
  }
  if (best == HUGE_VAL)
    return RT_EINVAL;
  rt__trace("fit: polished on all rows");
  for (int j = 0; j < np; j++)
    theta[j] = exp(best_lx[j]);
  info->evaluations = evals;
  info->converged = converged;
  /* a last check, that the gradient at the best point is flat; and the curvature there for
   * the standard errors */
  if (!known || !o.analytic) {
    evaluate(&o, best_lx, g, o.analytic ? h : NULL);
    if (!o.analytic)
      hessian(&o, best_lx, g, h);
  }
  double norm = 0;
  for (int j = 0; j < np; j++)
    norm += g[j] * g[j];
  info->converged = info->converged && sqrt(norm) < 1e-4;
  standard_errors(&o, best_lx, h, info->se, info->lcov);
  for (int j = np; j < 4; j++)
    info->se[j] = NAN;
  /* what makes the estimates doubtful */
  if (!info->converged)
    info->warnings |= RT_FIT_NOT_CONVERGED;
  if (limit)
    info->warnings |= RT_FIT_EVAL_LIMIT;
  for (int j = 0; j < np; j++) {
    if (isnan(info->se[j]))
      info->warnings |= RT_FIT_SINGULAR;
    else if (info->se[j] > theta[j])
      info->wide |= 1u << j;
    if (fabs(best_lx[j]) >= BOUND - 0.5)
      info->at_bound |= 1u << j;
  }
  if (info->wide)
    info->warnings |= RT_FIT_WIDE_SE;
  if (info->at_bound)
    info->warnings |= RT_FIT_AT_BOUND;
  info->dropped_share = info->dropout = info->dropout_lse = NAN;
  rt__trace("fit: standard errors");
  info->loglik = -best * (double)(rows->total ? rows->total : 1);
  if (o.prior_var > 0) { /* the log-likelihood itself, without the prior */
    o.prior_var = 0;
    info->loglik = -evaluate(&o, best_lx, NULL, NULL) * (double)(rows->total ? rows->total : 1);
  }
  return 0;
}

const char *rt_fit_warning_key(unsigned code) {
  switch (code) {
  case RT_FIT_NOT_CONVERGED:
    return "not_converged";
  case RT_FIT_EVAL_LIMIT:
    return "eval_limit";
  case RT_FIT_SINGULAR:
    return "singular";
  case RT_FIT_AT_BOUND:
    return "at_bound";
  case RT_FIT_WIDE_SE:
    return "wide_se";
  case RT_FIT_NO_DROPOUT:
    return "no_dropout";
  default:
    return "unknown";
  }
}

/* "r, alpha and b" for the parameters whose bit is set */
static void name_list(const char *const *names, int np, unsigned bits, char *buf, size_t cap) {
  int n = 0, total = 0;
  for (int j = 0; j < np; j++)
    total += bits >> j & 1;
  buf[0] = 0;
  for (int j = 0; j < np; j++)
    if (bits >> j & 1) {
      size_t len = strlen(buf);
      snprintf(buf + len, cap - len, "%s%s", n == 0 ? "" : n == total - 1 ? " and " : ", ",
               names[j]);
      n++;
    }
}

int rt_fit_warnings(const rt_fit_info *info, const char *model, const char *const *names,
                    const double *values, int np, const char *until, rt_fit_warning *out,
                    int max) {
  int n = 0;
  char list[160], detail[240];
  const char *end = until ? until : "the calibration end";
  for (unsigned bit = 1; bit <= RT_FIT_NO_DROPOUT && n < max; bit <<= 1) {
    if (!(info->warnings & bit))
      continue;
    rt_fit_warning *w = &out[n++];
    w->code = bit;
    switch (bit) {
    case RT_FIT_NOT_CONVERGED:
      snprintf(w->text, sizeof w->text,
               "the %s fit did not converge (the likelihood is not flat where the optimizer "
               "stopped): the estimates may not be the best ones",
               model);
      break;
    case RT_FIT_EVAL_LIMIT:
      snprintf(w->text, sizeof w->text,
               "the %s optimizer stopped at its limit of %d likelihood evaluations", model,
               MAX_EVALS);
      break;
    case RT_FIT_SINGULAR:
      snprintf(w->text, sizeof w->text,
               "the %s likelihood is flat in some direction at the estimate: the data do not "
               "determine every parameter, and some standard errors cannot be computed",
               model);
      break;
    case RT_FIT_AT_BOUND:
      name_list(names, np, info->at_bound, list, sizeof list);
      snprintf(w->text, sizeof w->text,
               "%s of %s ran to the limit of the search (e^-25 or e^25): the data push %s "
               "toward a value the model cannot reach, and the estimate%s only a limit",
               list, model, info->at_bound & (info->at_bound - 1) ? "them" : "it",
               info->at_bound & (info->at_bound - 1) ? "s are" : " is");
      break;
    case RT_FIT_WIDE_SE: {
      size_t len = 0;
      list[0] = 0;
      for (int j = 0; j < np; j++)
        if (info->wide >> j & 1)
          len += (size_t)snprintf(list + len, len < sizeof list ? sizeof list - len : 0,
                                  "%s%s = %.4g +- %.4g", len ? ", " : "", names[j], values[j],
                                  info->se[j]);
      snprintf(w->text, sizeof w->text,
               "%s: a standard error larger than the estimate (%s); the data hardly determine "
               "%s",
               model, list, info->wide & (info->wide - 1) ? "these parameters" : "it");
      break;
    }
    case RT_FIT_NO_DROPOUT: {
      /* the reasons: negligible, and/or undetermined */
      int few = !(info->dropped_share >= RT_DROPOUT_MIN_SHARE);
      size_t len = 0;
      detail[0] = 0;
      if (few)
        len = (size_t)snprintf(detail, sizeof detail,
                               "%s expects only %.1f%% of the customers to have dropped out "
                               "by %s",
                               model, 100 * info->dropped_share, end);
      if (len < sizeof detail && isnan(info->dropout_lse))
        snprintf(detail + len, sizeof detail - len, "%s cannot determine how often customers "
                 "drop out", few ? ", and" : model);
      else if (len < sizeof detail && !(info->dropout_lse < 1 / 1.96))
        snprintf(detail + len, sizeof detail - len, "%s%s mean dropout (%.3g) cannot be told "
                 "from none", few ? ", and its" : model, few ? "" : "'s", info->dropout);
      snprintf(w->text, sizeof w->text,
               "this history does not show customers dropping out: %s. P(alive) cannot be "
               "estimated from it and is left out; use `retain churn train` for churn risk",
               detail);
      break;
    }
    }
  }
  return n;
}
