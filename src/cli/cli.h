/* cli.h - what the `retain` subcommands share: global options, argument matching, output
 * formats, progress bars, tables and opening the store or a model. Each subcommand lives in
 * its own cmd_<name>.c and uses only the public libretain API plus these helpers. */
#ifndef RETAIN_CLI_H
#define RETAIN_CLI_H

#include <retain/datetime.h>
#include <retain/error.h>
#include <retain/features.h>
#include <retain/import.h>
#include <retain/model.h>
#include <retain/store.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes: 0 success, 1 failure (bad data, I/O, ...), 2 usage error. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };
/* How long a command that writes waits for another process's write lock (ms). */
#define CLI_BUSY_MS 3000

typedef struct cli_global {
  const char *db;       /* --db, RETAIN_DB, or "retain.db" */
  int db_given;         /* --db or RETAIN_DB named it */
  int db_flag;          /* --db named it (the demo ignores RETAIN_DB) */
  const char *timezone; /* --timezone; NULL: the store's setting or UTC */
  const char *currency; /* --currency at the top level; NULL: the store's or the data's */
  const char *as_of;    /* --as-of at the top level (a command's own --as-of wins) */
  int quiet;            /* --quiet: no progress bars or notes */
  const char *prog;     /* how the program was invoked (argv[0]), for printed examples */
} cli_global;

typedef enum { FMT_TABLE = 0, FMT_CSV, FMT_JSON } cli_format;

/* A subcommand: argv[0] is its name. Returns an exit code. */
typedef int (*cli_cmd_fn)(const cli_global *g, int argc, char **argv);

int cmd_import(const cli_global *g, int argc, char **argv);
int cmd_report(const cli_global *g, int argc, char **argv);
int cmd_cohorts(const cli_global *g, int argc, char **argv);
int cmd_gen(const cli_global *g, int argc, char **argv);
int cmd_demo(const cli_global *g, int argc, char **argv);
int cmd_clv(const cli_global *g, int argc, char **argv);
int cmd_subscription(const cli_global *g, int argc, char **argv);
int cmd_churn(const cli_global *g, int argc, char **argv);
int cmd_scores(const cli_global *g, int argc, char **argv);
int cmd_features(const cli_global *g, int argc, char **argv);
int cmd_rfm(const cli_global *g, int argc, char **argv);
int cmd_lifecycle(const cli_global *g, int argc, char **argv);
int cmd_segment(const cli_global *g, int argc, char **argv);
int cmd_serve(const cli_global *g, int argc, char **argv);
int cmd_keys(const cli_global *g, int argc, char **argv);
int cmd_rates(const cli_global *g, int argc, char **argv);
int cmd_customers(const cli_global *g, int argc, char **argv);

/* ---- argument matching ----
 * cli_flag: argv[*i] is exactly `name`. cli_value: argv[*i] is `name VALUE` or `name=VALUE`;
 * sets *val, advances *i past the value and returns 1; returns -1 (after printing a usage
 * error) when the value is missing; 0 when argv[*i] is another option. */
int cli_flag(char **argv, int i, const char *name);
int cli_value(int argc, char **argv, int *i, const char *name, const char **val);
/* Prints "retain CMD: MESSAGE" and a hint to run --help; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "retain: MESSAGE" for a library error; returns CLI_FAIL. */
int cli_fail(const rt_error *err);
int cli_is_help(const char *arg);
int cli_parse_format(const char *cmd, const char *s, cli_format *out);
/* A count with an optional k/M suffix ("2M" = 2000000). */
int cli_parse_count(const char *cmd, const char *opt, const char *s, uint64_t *out);
int cli_parse_int(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi,
                  int64_t *out);
/* A length of time in days: "90d", "12w", "3m" (365.25/12 days), "1y" or a plain number of
 * days, above 0 and at most max_days. 0, or -1 (nothing printed). */
int cli_parse_days(const char *s, double max_days, double *days);

/* Import options shared by `import` and the --orders mode of report/cohorts: column flags,
 * --delimiter, --encoding, --no-header, --date-format, --currency, --skip-bad, --rejects.
 * Returns 1 if argv[*i] was one of them (consumed), 0 if not, CLI_USAGE-like -1 on error. */
int cli_import_option(const char *cmd, int argc, char **argv, int *i, rt_import_opts *o);
extern const char cli_import_options_help[];

/* ---- time zone and store ---- */
/* Opens the store named by g (read_only for reports). For read-only use a missing file is an
 * error that says how to create one. */
int cli_open_store(const cli_global *g, int read_only, rt_store **out);
/* The time zone: --timezone, else the store's "timezone" setting (st may be NULL), else UTC.
 * *out may be NULL for UTC. */
int cli_load_tz(const cli_global *g, rt_store *st, rt_tz **out);

/* The customer model for report/cohorts: from --orders FILE (with the import options) when
 * orders_path is set, else from the store. */
int cli_load_model(const cli_global *g, const char *orders_path, const rt_import_opts *io,
                   const rt_tz *tz, rt_model **out);

/* ---- as of ----
 * Every analytic command judges the customers as of one day: the command's --as-of DATE, else
 * the global one, else $RETAIN_NOW, else the store's default (rt_model_default_as_of: today
 * while its data is live, else its last day with data). cli_judge applies it to *m
 * (rt_model_set_as_of); a bad date is a usage error. Returns an exit code. */
int cli_judge(const char *cmd, const cli_global *g, const char *given, rt_model **m);
/* The as-of day of m as "2011-12-09 (the last day with data)" (or "(today)", "(as asked)"). */
char *cli_as_of_text(const rt_model *m, char *buf, size_t n);
/* For CSV output (which has no header for it): "retain: as of ..." on stderr, unless --quiet. */
void cli_as_of_note(const cli_global *g, const rt_model *m);
/* The as-of day of m and why, as JSON members "as_of" and "as_of_basis" of obj (jansson). */
struct json_t;
void cli_as_of_json(const rt_model *m, struct json_t *obj);

/* ---- what report and cohorts share ----
 * --orders FILE (with the import options), --period, --from, --to, --format, --timezone. */
typedef struct cli_analysis {
  const char *orders_path;
  rt_import_opts io;
  rt_period_unit unit;
  const char *from_s, *to_s;
  cli_format format;
  const char *tzname;
  const char *segment; /* --segment NAME */
  const char *as_of_s; /* --as-of DATE */
  /* filled by cli_analysis_load */
  rt_tz *tz;
  rt_model *model;
  uint64_t *members;   /* --segment: bit i set when customer i of model is a member */
  size_t nmembers;
  int64_t from, to; /* INT64_MIN / INT64_MAX when not given */
} cli_analysis;
void cli_analysis_init(cli_analysis *a, const cli_global *g);
/* 1 consumed, 0 not one of ours, -1 usage error (printed). */
int cli_analysis_option(const char *cmd, int argc, char **argv, int *i, cli_analysis *a);
extern const char cli_analysis_options_help[];
/* Loads the zone and the model, parses --from/--to in the unit. Returns an exit code. */
int cli_analysis_load(const char *cmd, const cli_global *g, cli_analysis *a);
void cli_analysis_free(cli_analysis *a);
/* With --segment: replaces the model by the segment's members (rt_model_subset), so the
 * analysis covers them only. Returns an exit code. */
int cli_analysis_subset(cli_analysis *a);
/* The stored members of segment name as a bitmap over m (rt_free it) and their count. Returns
 * an exit code (an unknown segment is a failure, printed). */
int cli_segment_members(const cli_global *g, const rt_model *m, const char *name,
                        uint64_t **bits, size_t *count);
/* The model of segment name's stored members (rt_model_subset of m) and how many they are.
 * Returns an exit code. */
int cli_segment_model(const cli_global *g, const rt_model *m, const char *name, rt_model **out,
                      size_t *count);
/* `--by segment` (the only grouping there is): 1 consumed (*by set), 0 not it, -1 usage error
 * (printed). */
int cli_by_option(const char *cmd, int argc, char **argv, int *i, int *by);
/* A segment's members as their customer ids (ascending; rt_segment_member_ids fills them);
 * free v with rt_free. */
typedef struct cli_ids {
  int64_t *v;
  size_t n, cap;
} cli_ids;
/* The stored segments' names, in name order. Returns an exit code. */
typedef struct cli_names {
  char **v;
  size_t n, cap;
} cli_names;
int cli_segment_names(const cli_global *g, cli_names *out);
void cli_names_free(cli_names *l);
/* `clv summary`: the latest stored CLV run summed up (cmd_clv_summary.c). */
int cli_clv_summary(const cli_global *g, const char *segment, int by_segment, cli_format format);

/* ---- features (features, rfm, lifecycle, segment) ---- */
typedef struct cli_features {
  rt_store *st;
  rt_tz *tz;
  rt_model *model;
  rt_features *f;
  rt_features_options o;
} cli_features;
/* Opens the store (writable or not), the zone and the model, judges it as of as_of (NULL: see
 * cli_judge) and computes the features. Returns an exit code; on failure nothing needs
 * freeing. */
int cli_features_load(const cli_global *g, const char *cmd, const char *as_of, int writable,
                      cli_features *cf);
/* The built-in segmentations' settings from the command line (features, rfm, lifecycle):
 * --rfm-bins, --at-risk-gaps, --lapsed-gaps, --at-risk-min-days, --lapsed-min-days, --new-days,
 * --loyal-orders. Set ones are >= 0. 1 consumed, 0 not ours, -1 usage error (printed). */
typedef struct cli_feature_settings {
  double rfm_bins, at_risk_gaps, lapsed_gaps, at_risk_min_days, lapsed_min_days, new_days,
      loyal_orders;
} cli_feature_settings;
void cli_feature_settings_init(cli_feature_settings *s);
/* The settings that are set, as a JSON object ({"rfm_bins":4}); NULL when none is (or out of
 * memory). rt_free it. */
char *cli_feature_settings_json(const cli_feature_settings *s);
/* Reads settings back from cli_feature_settings_json's text (NULL: none set). 0, or -1 when
 * the text is not such an object. */
int cli_feature_settings_parse(const char *json, cli_feature_settings *s);
int cli_feature_option(const char *cmd, int argc, char **argv, int *i, cli_feature_settings *s);
extern const char cli_feature_options_help[];
/* cli_features_load with settings (NULL: the defaults). */
int cli_features_load_with(const cli_global *g, const char *cmd, const char *as_of, int writable,
                           const cli_feature_settings *s, cli_features *cf);
void cli_features_free(cli_features *cf);
/* Re-evaluates every stored segment (if any) as of as_of (NULL: today), recording entries and
 * exits; what `retain import` does after an import. Returns an exit code. */
int cli_segments_refresh(const cli_global *g, const char *as_of);
const char *cli_type_name(rt_value_type t);
/* Customer i's value of c as text ("" when missing; may return a dictionary string). */
const char *cli_feature_value(const rt_column *c, size_t i, char *buf, size_t n);

/* ---- progress ---- */
typedef struct cli_progress {
  int enabled;     /* stderr is a terminal and not --quiet */
  const char *what;
  double started;  /* seconds */
  double last;     /* last draw */
} cli_progress;
void cli_progress_init(cli_progress *p, const cli_global *g, const char *what);
/* Import callback shape: bytes done of total (0 unknown), rows so far. */
void cli_progress_bytes(void *ctx, uint64_t done, uint64_t total, uint64_t rows);
/* Generator callback shape: items done of total. */
void cli_progress_items(void *ctx, uint64_t done, uint64_t total);
void cli_progress_end(cli_progress *p);
double cli_now(void);

/* ---- formatting ---- */
/* Minor units as a decimal amount ("1234.56" for exp 2). Returns buf. */
char *cli_money(int64_t minor, int exp, char *buf, size_t n);
/* Minor units as an amount with thousands separators, for tables only ("1,234,567.89"); CSV and
 * JSON use cli_money. Returns buf. */
char *cli_money_human(int64_t minor, int exp, char *buf, size_t n);
/* Thousands separators for a table ("1,234,567"). */
char *cli_count(int64_t v, char *buf, size_t n);
/* A note on stderr, unless --quiet, when rows in other currencies were left out of m. */
void cli_note_other_currencies(const cli_global *g, const rt_model *m);

/* A simple text table: columns right-aligned except the first. */
typedef struct cli_table {
  size_t ncols, nrows, cap;
  char **cells; /* row-major, nrows * ncols, owned */
  unsigned left; /* bit j: column j is text, left-aligned (set after cli_table_init) */
} cli_table;
void cli_table_init(cli_table *t, size_t ncols);
/* Adds one row of ncols strings (copied). */
int cli_table_row(cli_table *t, const char *const *cells);
void cli_table_print(const cli_table *t, FILE *f);
void cli_table_free(cli_table *t);

/* CSV: writes the text s as a cell (rt_csv_cell: quoted when needed, guarded against formula
 * injection). */
void cli_csv_field(FILE *f, const char *s);
/* CSV: writes s as a cell of the given kind (RT_CSV_NUMBER for numbers, dates, booleans). */
void cli_csv_cell(FILE *f, const char *s, int kind);
/* CSV: customer i's value of a feature column as a cell (only text columns are guarded). */
void cli_csv_feature(FILE *f, const rt_column *c, size_t i);

#endif
