/* cmd_clv_summary.c - `retain clv summary`: the latest stored CLV run (`clv predict --save`)
 * summed up for all customers, one segment (--segment NAME) or every segment side by side
 * (--by segment): customers scored, mean P(alive), customers likely alive, expected purchases
 * and predicted value. A run whose model could not estimate P(alive) (the history showed no
 * customers dropping out: its scores' p_alive are NULL) has no mean P(alive) and no count of
 * customers likely alive: they show as "–" (null in JSON, empty in CSV). */
#include "cli/cli.h"

#include <retain/clv.h>

#include <retain/alloc.h>
#include <retain/segment.h>

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct group {
  const char *name; /* NULL: all customers */
  cli_ids members;  /* store ids, ascending */
  int64_t scored, alive, with_p; /* with_p: scores that have a P(alive) */
  double p_alive, expected, value;
} group;

static int has(const group *gr, int64_t id) {
  const cli_ids *m = &gr->members;
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->v[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < m->n && m->v[lo] == id;
}

typedef struct sum_ctx {
  group *groups;
  size_t n;
} sum_ctx;

static int on_score(void *ctx, const char *ext_id, const rt_score_rec *r) {
  (void)ext_id;
  sum_ctx *s = ctx;
  for (size_t k = 0; k < s->n; k++) {
    group *gr = &s->groups[k];
    if (gr->name && !has(gr, r->customer)) continue;
    gr->scored++;
    if (!isnan(r->p_alive)) {
      gr->with_p++;
      gr->p_alive += r->p_alive;
      gr->alive += r->p_alive >= 0.5;
    }
    if (!isnan(r->expected_purchases)) gr->expected += r->expected_purchases;
    if (!isnan(r->predicted_clv)) gr->value += r->predicted_clv;
  }
  return 0;
}

int cli_clv_summary(const cli_global *g, const char *segment, int by_segment, cli_format format) {
  rt_store *st;
  rt_error err = {0};
  int rc = cli_open_store(g, 1, &st);
  if (rc) return rc;
  /* the latest CLV run, of any purchase model */
  rt_score_run latest, *run = rt_clv_latest_run(st, &latest, NULL) == 0 ? &latest : NULL;
  cli_names names = {0};
  group *groups = NULL;
  size_t ng = 1;
  if (!run) {
    fprintf(stderr, "retain: no stored CLV scores yet: run `retain clv predict --save` first\n");
    rc = CLI_FAIL;
    goto out;
  }
  if (by_segment && (rc = cli_segment_names(g, &names))) goto out;
  ng = 1 + (segment ? 1 : names.n);
  groups = calloc(ng, sizeof *groups);
  if (!groups) {
    rc = CLI_FAIL;
    goto out;
  }
  for (size_t k = 1; k < ng && !rc; k++) {
    rt_segment_info info;
    groups[k].name = segment ? segment : names.v[k - 1];
    if (rt_store_segment_get(st, groups[k].name, &info, &err)) {
      rc = cli_fail(&err);
      break;
    }
    if (rt_segment_member_ids(st, info.id, &groups[k].members.v, &groups[k].members.n, &err))
      rc = cli_fail(&err);
    rt_segment_info_free(&info);
  }
  sum_ctx sc = {groups, ng};
  if (!rc && rt_store_scan_scores(st, run->id, on_score, &sc, &err)) rc = cli_fail(&err);
  if (rc) goto out;
  char when[48];
  rt_time_format(NULL, run->created_ms, when, sizeof when);
  if (format == FMT_JSON) {
    json_t *arr = json_array();
    for (size_t k = 0; k < ng; k++) {
      const group *gr = &groups[k];
      json_t *o = json_object();
      json_object_set_new(o, "segment", gr->name ? json_string(gr->name) : json_null());
      json_object_set_new(o, "customers", json_integer(gr->scored));
      json_object_set_new(o, "mean_p_alive", gr->with_p ? json_real(gr->p_alive / (double)gr->with_p) : json_null());
      json_object_set_new(o, "likely_alive", gr->with_p ? json_integer(gr->alive) : json_null());
      json_object_set_new(o, "expected_purchases", json_real(gr->expected));
      json_object_set_new(o, "predicted_clv", json_real(gr->value));
      json_array_append_new(arr, o);
    }
    json_t *root = json_object();
    json_object_set_new(root, "run", json_integer(run->id));
    json_object_set_new(root, "kind", json_string(run->kind));
    json_object_set_new(root, "created", json_string(when));
    json_object_set_new(root, "groups", arr);
    json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    printf("\n");
    json_decref(root);
  } else if (format == FMT_CSV) {
    printf("segment,customers,mean_p_alive,likely_alive,expected_purchases,predicted_clv\n");
    for (size_t k = 0; k < ng; k++) {
      const group *gr = &groups[k];
      cli_csv_field(stdout, gr->name ? gr->name : "(all customers)");
      printf(",%lld,", (long long)gr->scored);
      if (gr->with_p) printf("%.6f,%lld", gr->p_alive / (double)gr->with_p, (long long)gr->alive);
      else printf(",");
      printf(",%.4f,%.2f\n", gr->expected, gr->value);
    }
  } else {
    printf("Customer value · run %lld (%s, %s)\n\n", (long long)run->id, run->kind, when);
    cli_table t;
    cli_table_init(&t, 7);
    cli_table_row(&t, (const char *[]){"segment", "customers", "mean P(alive)", "likely alive",
                                       "expected purchases", "predicted value",
                                       "value per customer"});
    for (size_t k = 0; k < ng; k++) {
      const group *gr = &groups[k];
      char a[32], b[32], c[32], d[32], e[48], f[48];
      double n = gr->scored ? (double)gr->scored : 1;
      if (gr->with_p) snprintf(b, sizeof b, "%.3f", gr->p_alive / (double)gr->with_p);
      else snprintf(b, sizeof b, "–");
      cli_count(llround(gr->expected), d, sizeof d);
      cli_money_human(llround(gr->value * 100), 2, e, sizeof e); /* stored in major units */
      cli_money_human(llround(gr->value / n * 100), 2, f, sizeof f);
      cli_table_row(&t, (const char *[]){gr->name ? gr->name : "all customers",
                                         cli_count(gr->scored, a, sizeof a), b,
                                         gr->with_p ? cli_count(gr->alive, c, sizeof c) : "–",
                                         d, e, f});
    }
    cli_table_print(&t, stdout);
    cli_table_free(&t);
    if (groups[0].scored && !groups[0].with_p)
      printf("\n–: no P(alive) in this run: its history did not show customers dropping out "
             "(docs/MODELS.md); `retain churn train` gives churn risk\n");
  }
out:
  for (size_t k = 0; groups && k < ng; k++) rt_free(groups[k].members.v);
  free(groups);
  cli_names_free(&names);
  if (run) {
    rt_free(run->kind);
    rt_free(run->params);
  }
  rt_store_close(st);
  return rc;
}
