/* predict.c - every customer's predictions from the fitted models (clv.h), on two threads:
 * P(alive), expected purchases and value over a horizon, the median time to the next purchase
 * when it falls within the horizon. A model whose history does not identify dropout
 * (RT_FIT_NO_DROPOUT) leaves P(alive) and the next purchase out (NAN).
 *
 * The costly part, Gauss's 2F1 series in the conditional expectation, depends on a customer's
 * repeat count x and age T only, and summaries of real orders have few distinct (x, T) pairs
 * (T is a whole number of days): 2 million customers share some 40,000. When the pairs fit a
 * table, each pair's numerators (the series, for every horizon step at once) are computed once
 * and the customers look them up; otherwise each customer computes its own. */
#include <retain/alloc.h>
#include <retain/clv.h>

#include <math.h>
#include <string.h>

#include "internal.h"
#include "predict/fit.h"

#define STEPS 12             /* slices of the horizon for a discounted value */
#define MAX_TABLE (1u << 23) /* (x, T) cells: 8 M, a few hundred MB at most with 12 steps */

void rt_clv_predictions_free(rt_clv_predictions *p) {
  if (!p)
    return;
  rt_free(p->p_alive);
  rt_free(p->expected);
  rt_free(p->value);
  rt_free(p->next);
  rt_free(p);
}

typedef struct shared {
  const rt_clv_summary *s;
  const rt_btyd *bg;
  const rt_gamma_gamma *gg;
  int nt;                 /* horizon steps: 1 without a discount, else STEPS */
  int no_dropout;         /* RT_FIT_NO_DROPOUT: no P(alive), no next purchase */
  double horizon;
  double t[STEPS], disc[STEPS]; /* the steps' ends, and their discount factors */
  /* the (x, T-in-days) table, when there is one */
  size_t ncol;            /* days 0..ncol-1 */
  size_t ncells;          /* (x, day) cells */
  uint8_t *used;          /* per cell: a customer has it */
  double *num;            /* per cell: the nt numerators of the conditional expectation */
  rt_clv_predictions *out;
} shared;

/* whole-day index of customer i's (x, T), or SIZE_MAX */
static size_t cell_of(const shared *sh, size_t i) {
  double x = sh->s->x[i], d = sh->s->T[i] * sh->s->unit_days, rd = nearbyint(d);
  if (!(fabs(d - rd) < 1e-6) || rd < 0 || rd >= (double)sh->ncol || x < 0 || x != floor(x))
    return SIZE_MAX;
  return (size_t)x * sh->ncol + (size_t)rd;
}

typedef struct part {
  shared *sh;
  size_t i0, i1; /* customers; in the table pass, the first cell and the step */
} part;

static void table_run(void *arg) {
  part *p = arg;
  shared *sh = p->sh;
  /* every i1-th cell from i0: used cells crowd at small x, so interleaved cells share the work
   * evenly where halves would not */
  for (size_t c = p->i0; c < sh->ncells; c += p->i1)
    if (sh->used[c])
      rt__btyd_numerators(sh->bg, sh->t, sh->nt, (double)(c / sh->ncol),
                          (double)(c % sh->ncol) / sh->s->unit_days, sh->num + c * (size_t)sh->nt);
}

static void predict_run(void *arg) {
  part *p = arg;
  shared *sh = p->sh;
  const rt_clv_summary *s = sh->s;
  const rt_btyd *bg = sh->bg;
  for (size_t i = p->i0; i < p->i1; i++) {
    double x = s->x[i], tx = s->t_x[i], T = s->T[i], e[STEPS], own[STEPS];
    size_t c = sh->used ? cell_of(sh, i) : SIZE_MAX;
    const double *num = own;
    if (c != SIZE_MAX && sh->used[c])
      num = sh->num + c * (size_t)sh->nt;
    else
      rt__btyd_numerators(bg, sh->t, sh->nt, x, T, own);
    double pa = rt_btyd_p_alive(bg, x, tx, T);
    for (int k = 0; k < sh->nt; k++)
      e[k] = num[k] * pa;
    sh->out->p_alive[i] = sh->no_dropout ? NAN : pa;
    sh->out->expected[i] = e[sh->nt - 1];
    double value = NAN;
    if (sh->gg) {
      double spend = rt_gamma_gamma_spend(sh->gg, x, s->m[i]), prev = 0;
      value = 0;
      for (int k = 0; k < sh->nt; k++) {
        value += (e[k] - prev) * spend * sh->disc[k];
        prev = e[k];
      }
    }
    sh->out->value[i] = value;
    double next = NAN;
    if (!sh->no_dropout && pa > 0.5) {
      next = rt_btyd_next_purchase(bg, x, tx, T);
      if (!(next <= sh->horizon))
        next = NAN;
    }
    sh->out->next[i] = next;
  }
}

int rt_clv_predict(const rt_clv_summary *s, const rt_btyd *bg, const rt_gamma_gamma *gg,
                   double horizon, double discount, rt_clv_predictions **out, rt_error *err) {
  *out = NULL;
  rt_clv_predictions *p = rt_calloc(1, sizeof *p);
  size_t n = s->n ? s->n : 1;
  if (!p || !(p->p_alive = rt_malloc(n * sizeof(double))) ||
      !(p->expected = rt_malloc(n * sizeof(double))) ||
      !(p->value = rt_malloc(n * sizeof(double))) || !(p->next = rt_malloc(n * sizeof(double)))) {
    rt_clv_predictions_free(p);
    return rt_error_set(err, RT_ENOMEM, "clv: %s", rt_strerror(RT_ENOMEM));
  }
  p->n = s->n;
  shared sh = {.s = s, .bg = bg, .gg = gg, .out = p};
  sh.nt = discount == 0 ? 1 : STEPS;
  sh.horizon = horizon;
  sh.no_dropout = (rt_btyd_info(bg)->warnings & RT_FIT_NO_DROPOUT) != 0;
  for (int k = 0; k < sh.nt; k++) {
    sh.t[k] = horizon * (k + 1) / sh.nt;
    sh.disc[k] = 1 / pow(1 + discount, sh.t[k]);
  }
  /* the (x, T) table, when the customers' ages are whole days and the table is small */
  double maxx = 0, maxd = 0;
  int whole = s->unit_days > 0 && s->n >= 1000;
  for (size_t i = 0; i < s->n && whole; i++) {
    double d = s->T[i] * s->unit_days;
    whole = fabs(d - nearbyint(d)) < 1e-6 && s->x[i] == floor(s->x[i]) && s->x[i] >= 0;
    maxx = s->x[i] > maxx ? s->x[i] : maxx;
    maxd = d > maxd ? d : maxd;
  }
  if (whole && (maxx + 1) * (nearbyint(maxd) + 1) <= MAX_TABLE) {
    sh.ncol = (size_t)nearbyint(maxd) + 1;
    size_t cells = ((size_t)maxx + 1) * sh.ncol;
    sh.used = rt_calloc(cells, 1);
    sh.num = rt_malloc(cells * (size_t)sh.nt * sizeof *sh.num);
    if (!sh.used || !sh.num) { /* no table: each customer sums its own series */
      rt_free(sh.used);
      rt_free(sh.num);
      sh.used = NULL;
      sh.num = NULL;
    } else {
      for (size_t i = 0; i < s->n; i++)
        sh.used[cell_of(&sh, i)] = 1;
      part tp[2];
      int nt = rt__cpus() > 1 ? 2 : 1;
      sh.ncells = cells;
      for (int t = 0; t < nt; t++)
        tp[t] = (part){&sh, (size_t)t, (size_t)nt};
      rt__parallel(nt, table_run, tp, sizeof tp[0]);
      rt__trace("predict: (x, T) table");
    }
  }
  part parts[2];
  int nparts = s->n >= 10000 && rt__cpus() > 1 ? 2 : 1;
  for (int t = 0; t < nparts; t++)
    parts[t] = (part){&sh, s->n * (size_t)t / (size_t)nparts,
                      s->n * (size_t)(t + 1) / (size_t)nparts};
  rt__parallel(nparts, predict_run, parts, sizeof parts[0]);
  rt_free(sh.used);
  rt_free(sh.num);
  *out = p;
  rt__trace("clv: predicted");
  return 0;
}
