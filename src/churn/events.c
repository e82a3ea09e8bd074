/* events.c - churn features from the events in the store (churn.h): product usage, support
 * tickets and survey answers up to the cutoff, appended to a feature table. */
#include <retain/alloc.h>
#include <retain/churn.h>
#include <retain/model.h>
#include <retain/store.h>

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "churn/columns.h"

enum { E_USE30, E_USE_PRIOR30, E_LAST_USE, E_TICKETS, E_TICKETS90, E_UNRESOLVED, E_NPS, E_CSAT,
       E_COUNT };

static const char *const event_names[E_COUNT] = {
    "usage_last_30d", "usage_prior_30d", "days_since_last_use", "tickets", "tickets_last_90d",
    "tickets_unresolved", "last_nps", "last_csat"};

typedef struct agg {
  const rt_tz *tz;
  int32_t cutoff;
  const uint32_t *rowof; /* store id -> row + 1 (0: not a row) */
  size_t nids;
  double *use30, *prior30, *tickets, *tickets90, *resolved, *nps, *csat;
  int32_t *last_use;
  int64_t *nps_ms, *csat_ms;
} agg;

static int on_event(void *ctx, int64_t customer, const char *type, int64_t ts_ms,
                    const char *props) {
  agg *a = ctx;
  if (customer < 0 || (size_t)customer >= a->nids || !a->rowof[customer] || !type)
    return 0;
  size_t r = a->rowof[customer] - 1;
  int32_t day = (int32_t)rt_tz_day(a->tz, ts_ms);
  if (day > a->cutoff)
    return 0;
  if (!strcmp(type, "login") || !strcmp(type, "feature_used")) {
    if (day > a->cutoff - 30)
      a->use30[r]++;
    else if (day > a->cutoff - 60)
      a->prior30[r]++;
    if (day > a->last_use[r])
      a->last_use[r] = day;
  } else if (!strcmp(type, "ticket_opened")) {
    a->tickets[r]++;
    if (day > a->cutoff - 90)
      a->tickets90[r]++;
  } else if (!strcmp(type, "ticket_resolved")) {
    a->resolved[r]++;
  } else if (!strcmp(type, "survey_answered") && props) {
    json_t *o = json_loads(props, 0, NULL);
    json_t *sv = o ? json_object_get(o, "survey") : NULL, *sc = o ? json_object_get(o, "score") : NULL;
    if (json_is_string(sv) && json_is_number(sc)) {
      const char *kind = json_string_value(sv);
      if (!strcmp(kind, "nps") && ts_ms >= a->nps_ms[r]) {
        a->nps[r] = json_number_value(sc);
        a->nps_ms[r] = ts_ms;
      } else if (!strcmp(kind, "csat") && ts_ms >= a->csat_ms[r]) {
        a->csat[r] = json_number_value(sc);
        a->csat_ms[r] = ts_ms;
      }
    }
    json_decref(o);
  }
  return 0;
}

int rt_churn_add_events(rt_ctable *t, const uint32_t *customer, const rt_model *m,
                        rt_store *st, int32_t cutoff, const rt_tz *tz, rt_error *err) {
  size_t n = t->nrows, nids = 1;
  uint32_t *rowof = rt__rows_by_store_id(m, customer, n, &nids);
  agg a = {.tz = tz, .cutoff = cutoff, .nids = nids};
  double *mem = rt_calloc(n ? 7 * n : 1, sizeof *mem);
  a.last_use = rt_malloc((n ? n : 1) * sizeof *a.last_use);
  a.nps_ms = rt_malloc((n ? n : 1) * sizeof *a.nps_ms);
  a.csat_ms = rt_malloc((n ? n : 1) * sizeof *a.csat_ms);
  size_t nc = t->ncols + E_COUNT;
  float *x = rt_malloc((n * nc > 0 ? n * nc : 1) * sizeof *x);
  char **names = rt_reallocarray(NULL, nc, sizeof *names);
  int rc = 0;
  if (!rowof || !mem || !a.last_use || !a.nps_ms || !a.csat_ms || !x || !names) {
    rc = rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    a.last_use[i] = INT32_MIN;
    a.nps_ms[i] = a.csat_ms[i] = INT64_MIN;
  }
  a.rowof = rowof;
  a.use30 = mem;
  a.prior30 = mem + n;
  a.tickets = mem + 2 * n;
  a.tickets90 = mem + 3 * n;
  a.resolved = mem + 4 * n;
  a.nps = mem + 5 * n;
  a.csat = mem + 6 * n;
  rc = rt_store_scan_events(st, on_event, &a, err);
  if (rc)
    goto out;
  for (size_t j = 0; j < E_COUNT; j++)
    if (!(names[t->ncols + j] = rt_strndup(event_names[j], strlen(event_names[j])))) {
      for (size_t k = 0; k < j; k++)
        rt_free(names[t->ncols + k]);
      rc = rt_error_set(err, RT_ENOMEM, "churn: %s", rt_strerror(RT_ENOMEM));
      goto out;
    }
  for (size_t i = 0; i < n; i++) {
    float *row = x + i * nc;
    memcpy(row, t->x + i * t->ncols, t->ncols * sizeof *row);
    float *e = row + t->ncols;
    e[E_USE30] = (float)a.use30[i];
    e[E_USE_PRIOR30] = (float)a.prior30[i];
    e[E_LAST_USE] = a.last_use[i] == INT32_MIN ? NAN : (float)(cutoff - a.last_use[i]);
    e[E_TICKETS] = (float)a.tickets[i];
    e[E_TICKETS90] = (float)a.tickets90[i];
    double open = a.tickets[i] - a.resolved[i];
    e[E_UNRESOLVED] = (float)(open > 0 ? open : 0);
    e[E_NPS] = a.nps_ms[i] == INT64_MIN ? NAN : (float)a.nps[i];
    e[E_CSAT] = a.csat_ms[i] == INT64_MIN ? NAN : (float)a.csat[i];
  }
  rt__ctable_widen(t, x, names, nc);
  x = NULL;
  names = NULL;
out:
  rt_free(rowof);
  rt_free(mem);
  rt_free(a.last_use);
  rt_free(a.nps_ms);
  rt_free(a.csat_ms);
  rt_free(x);
  rt_free(names);
  return rc;
}
