/* ingest.c - Segment-spec events (ingest.h): parsed from a request's JSON with the path of
 * whatever is wrong, then stored by the writer thread in group commits: every request waiting
 * is applied in one transaction, and answered only once it is committed. */
#include "server/ingest.h"

#include "internal.h"
#include "store/attrs.h"

#include <retain/alloc.h>
#include <retain/datetime.h>
#include <retain/model.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

void rt__events_free(rt__events *e) {
  for (size_t i = 0; i < e->n; i++) {
    rt__event *v = &e->v[i];
    rt_free(v->user_id);
    rt_free(v->anon_id);
    rt_free(v->message_id);
    rt_free(v->previous_id);
    rt_free(v->group_id);
    rt_free(v->name);
    rt_free(v->props);
    rt_free(v->email);
    rt_free(v->phone);
    rt_free(v->sub_id);
    rt_free(v->plan);
    rt_free(v->interval);
    rt_free(v->order_id);
    for (size_t k = 0; k < v->nlines; k++) {
      rt_free((char *)v->lines[k].product);
      rt_free((char *)v->lines[k].name);
    }
    rt_free(v->lines);
  }
  rt_free(e->v);
  e->v = NULL;
  e->n = 0;
}

static const char *const kind_names[] = {"identify", "track", "page", "screen", "group", "alias"};

/* the text of a string, or of an integer written in decimal into buf (SDKs send ids and
 * phone numbers both ways); NULL for anything else */
static const char *text_of(json_t *v, char buf[static 32]) {
  if (json_is_string(v))
    return json_string_value(v);
  if (!json_is_integer(v))
    return NULL;
  snprintf(buf, 32, "%lld", (long long)json_integer_value(v));
  return buf;
}

/* an id: a string, or a number written as its decimal text; NULL if absent */
static int id_field(json_t *o, const char *key, const char *path, char **out, char *field,
                    size_t cap, rt_error *err) {
  json_t *v = json_object_get(o, key);
  *out = NULL;
  if (!v || json_is_null(v))
    return 0;
  char buf[32];
  const char *s = text_of(v, buf);
  size_t n = s ? (json_is_string(v) ? json_string_length(v) : strlen(s)) : 0;
  if (!s || !n || n > 512) {
    snprintf(field, cap, "%s%s", path, key);
    return rt_error_set(err, RT_EINVAL, "%s: must be a non-empty string of at most 512 bytes",
                        field);
  }
  /* the importer's rules for ids (validate.c): the same customer whichever way it came */
  char *nfc;
  const char *why;
  if (rt__id_check(s, n, &nfc, &n, &why) || (n > 512 && (why = "is over 512 bytes in NFC"))) {
    free(nfc);
    snprintf(field, cap, "%s%s", path, key);
    return rt_error_set(err, RT_EINVAL, "%s: %s", field, why);
  }
  *out = rt_strndup(nfc ? nfc : s, n);
  free(nfc);
  if (!*out)
    return rt_error_set(err, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM));
  return 0;
}

/* an object field as compact JSON text (NULL when absent) */
static int object_field(json_t *o, const char *key, const char *path, char **out, char *field,
                        size_t cap, rt_error *err) {
  json_t *v = json_object_get(o, key);
  *out = NULL;
  if (!v || json_is_null(v))
    return 0;
  if (!json_is_object(v)) {
    snprintf(field, cap, "%s%s", path, key);
    return rt_error_set(err, RT_EINVAL, "%s: must be an object", field);
  }
  char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!s)
    return rt_error_set(err, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM));
  *out = rt_strdup(s);
  free(s);
  return *out ? 0 : rt_error_set(err, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM));
}

/* a money value of the properties >= 0, in minor units: a JSON number, or a string that is
 * a plain decimal number as an import file has it (rt__parse_money: no blanks, no exponent,
 * no hex); at most RT__MONEY_MAX */
static int money(json_t *v, int exp, int64_t *out) {
  int64_t x;
  if (json_is_number(v)) {
    if (rt__money_from_double(json_number_value(v), exp, &x))
      return -1;
  } else if (json_is_string(v)) {
    if (rt__parse_money(json_string_value(v), json_string_length(v), exp, &x))
      return -1;
  } else {
    return -1;
  }
  if (x < 0)
    return -1;
  *out = x;
  return 0;
}

/* properties.currency (USD when absent) into ev->currency, and the first of the money fields
 * names[0..n) present (and not null) into ev->amount in that currency's minor units. *which
 * is the index of that field, or -1 when none is present (ev->amount left 0). */
static int money_fields(json_t *p, const char *ppath, const char *const *names, int n,
                        rt__event *ev, int *which, char *field, size_t cap, rt_error *err) {
  json_t *cur = json_object_get(p, "currency");
  const char *c = json_is_string(cur) ? json_string_value(cur) : "USD";
  if (rt__currency_check(c, strlen(c), ev->currency)) {
    snprintf(field, cap, "%scurrency", ppath);
    return rt_error_set(err, RT_EINVAL, "%s: not a current ISO 4217 currency code (like USD)",
                        field);
  }
  ev->has_currency = json_is_string(cur);
  *which = -1;
  for (int k = 0; k < n; k++) {
    json_t *v = json_object_get(p, names[k]);
    if (!v || json_is_null(v))
      continue;
    *which = k;
    if (money(v, rt_currency_exponent(ev->currency), &ev->amount)) {
      snprintf(field, cap, "%s%s", ppath, names[k]);
      return rt_error_set(err, RT_EINVAL,
                          "%s: an amount, a number >= 0 (a string: plain decimal digits)",
                          field);
    }
    break;
  }
  return 0;
}

/* an ISO 8601 time field into *ms, left alone when absent */
/* Times an event may carry: from the Unix epoch on (the stores and models count days from it)
 * to RT__FUTURE_SKEW_MS after the event was received. A later time is a wrong clock or a
 * hostile client: the event is kept at its receive time, as Segment does (ev->clamped says
 * so; /metrics counts them), so that one bad device cannot stretch every report to the year
 * 9999. */
#define RT__FUTURE_SKEW_MS (24 * 3600 * 1000LL)

/* An ISO 8601 time of o[key] into *t; 1 when there is one, 0 when absent, or the error. */
static int parse_time(json_t *o, const char *key, const char *path, int64_t *t, char *field,
                      size_t cap, rt_error *err) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v))
    return 0;
  const char *s = json_is_string(v) ? json_string_value(v) : NULL;
  rt_error derr = {0};
  if (!s || rt_date_parse(NULL, s, strlen(s), NULL, t, &derr)) {
    snprintf(field, cap, "%s%s", path, key);
    return rt_error_set(err, RT_EINVAL, "%s: not an ISO 8601 time%s%s", field, s ? " - " : "",
                        s ? derr.msg : "");
  }
  return 1;
}

/* skew_ms: added to the time read (the sender's clock error, see parse_one) */
static int time_field(json_t *o, const char *key, const char *path, rt__event *ev, int64_t skew_ms,
                      int64_t *ms, char *field, size_t cap, rt_error *err) {
  int64_t t;
  int rc = parse_time(o, key, path, &t, field, cap, err);
  if (rc <= 0)
    return rc;
  t += skew_ms;
  const char *s = json_string_value(json_object_get(o, key));
  if (t < 0) {
    snprintf(field, cap, "%s%s", path, key);
    return rt_error_set(err, RT_EINVAL, "%s: %s is before 1970-01-01T00:00:00Z, the earliest "
                                        "time retain keeps",
                        field, s);
  }
  if (t > ev->received_ms + RT__FUTURE_SKEW_MS) {
    t = ev->received_ms;
    ev->clamped = 1;
  }
  *ms = t;
  return 0;
}

/* The properties object of an event that needs one (what: the fields it must have), and the
 * path prefix of its fields in ppath; NULL with err set when there is none. */
static json_t *properties_of(json_t *o, const char *path, const rt__event *ev, const char *what,
                             char *ppath, size_t pcap, char *field, size_t cap, rt_error *err) {
  json_t *p = json_object_get(o, "properties");
  snprintf(ppath, pcap, "%sproperties.", path);
  if (!json_is_object(p)) {
    snprintf(field, cap, "%sproperties", path);
    rt_error_set(err, RT_EINVAL, "%s: %s needs properties with %s", field, ev->name, what);
    return NULL;
  }
  return p;
}

/* a required id of the properties (order_id, subscription_id) */
static int required_id(json_t *p, const char *key, const char *ppath, const rt__event *ev,
                       char **out, char *field, size_t cap, rt_error *err) {
  int rc = id_field(p, key, ppath, out, field, cap, err);
  if (rc || *out)
    return rc;
  snprintf(field, cap, "%s%s", ppath, key);
  return rt_error_set(err, RT_EINVAL, "%s: is required for %s", field, ev->name);
}

/* "Order Completed" / "Order Refunded": the order id, the total (or revenue) and currency, and
 * the products as order lines (the e-commerce spec's fields) */
static int parse_commerce(json_t *o, const char *path, rt__event *ev, char *field, size_t cap,
                          rt_error *err) {
  char ppath[80];
  json_t *p = properties_of(o, path, ev, "order_id and total", ppath, sizeof ppath, field, cap,
                            err);
  if (!p)
    return RT_EINVAL;
  static const char *const totals[] = {"total", "revenue"};
  int which = -1, rc;
  if ((rc = required_id(p, "order_id", ppath, ev, &ev->order_id, field, cap, err)) ||
      (rc = money_fields(p, ppath, totals, 2, ev, &which, field, cap, err)))
    return rc;
  if (which < 0) {
    snprintf(field, cap, "%stotal", ppath);
    return rt_error_set(err, RT_EINVAL, "%s: the order's total, a number >= 0, is required",
                        field);
  }
  int exp = rt_currency_exponent(ev->currency);
  json_t *products = json_object_get(p, "products");
  if (json_is_array(products) && ev->commerce == 1) {
    size_t n = json_array_size(products);
    ev->lines = rt_calloc(n ? n : 1, sizeof *ev->lines);
    if (!ev->lines)
      return rt_error_set(err, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM));
    for (size_t k = 0; k < n; k++) {
      json_t *it = json_array_get(products, k);
      char ipath[120];
      snprintf(ipath, sizeof ipath, "%sproducts[%zu].", ppath, k);
      if (!json_is_object(it)) {
        snprintf(field, cap, "%.*s", (int)strlen(ipath) - 1, ipath);
        return rt_error_set(err, RT_EINVAL, "%s: must be an object", field);
      }
      rt_line_rec *l = &ev->lines[ev->nlines++];
      char *pid = NULL, *name = NULL;
      if ((rc = id_field(it, "product_id", ipath, &pid, field, cap, err)) ||
          (!pid && (rc = id_field(it, "sku", ipath, &pid, field, cap, err))))
        return rc;
      json_t *nm = json_object_get(it, "name");
      if (json_is_string(nm) && !(name = rt_strdup(json_string_value(nm)))) {
        rt_free(pid);
        return rt_error_set(err, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM));
      }
      l->product = pid;
      l->name = name;
      json_t *q = json_object_get(it, "quantity");
      const char *why = "a quantity is a whole number from 1 to 1000000";
      l->quantity = 1;
      if (q && !json_is_null(q) &&
          (!json_is_number(q) || rt__quantity_check(l->quantity = json_number_value(q), 0, &why))) {
        snprintf(field, cap, "%squantity", ipath);
        return rt_error_set(err, RT_EINVAL, "%s: %s", field, why);
      }
      json_t *price = json_object_get(it, "price");
      if (price && money(price, exp, &l->unit_price)) {
        snprintf(field, cap, "%sprice", ipath);
        return rt_error_set(err, RT_EINVAL, "%s: a number >= 0", field);
      }
      if (rt__money_mul((int64_t)l->quantity, l->unit_price, &l->amount)) {
        snprintf(field, cap, "%sprice", ipath);
        return rt_error_set(err, RT_EINVAL, "%s: quantity times price is too large", field);
      }
    }
  }
  return 0;
}

/* "Subscription Started" / "Renewed" / "Updated" / "Cancelled": the subscription id, and the
 * plan, interval, price and start when given (the B2B SaaS spec's fields; what an event does
 * not carry keeps its stored value, see apply_subscription) */
static int parse_subscription(json_t *o, const char *path, rt__event *ev, char *field,
                              size_t cap, rt_error *err) {
  char ppath[80];
  json_t *p = properties_of(o, path, ev, "subscription_id", ppath, sizeof ppath, field, cap, err);
  if (!p)
    return RT_EINVAL;
  static const char *const plans[] = {"plan", "plan_name", "plan_id"};
  static const char *const amounts[] = {"amount", "price", "revenue"};
  int which = -1, rc = required_id(p, "subscription_id", ppath, ev, &ev->sub_id, field, cap, err);
  for (size_t k = 0; !rc && !ev->plan && k < sizeof plans / sizeof plans[0]; k++)
    rc = id_field(p, plans[k], ppath, &ev->plan, field, cap, err);
  if (rc || (rc = id_field(p, "interval", ppath, &ev->interval, field, cap, err)) ||
      (rc = money_fields(p, ppath, amounts, 3, ev, &which, field, cap, err)) ||
      (rc = time_field(p, "started_at", ppath, ev, 0, &ev->started_at_ms, field, cap, err)))
    return rc;
  ev->has_amount = which >= 0;
  return 0;
}

/* The track events that become rows beside the event: orders, refunds, subscriptions. */
static const struct {
  const char *name;
  int commerce;
  rt__sub_kind sub;
} special_events[] = {
    {"Order Completed", 1, RT__SUB_NONE},        {"Order Refunded", 2, RT__SUB_NONE},
    {"Subscription Started", 0, RT__SUB_START},  {"Subscription Renewed", 0, RT__SUB_RENEW},
    {"Subscription Updated", 0, RT__SUB_RENEW},  {"Subscription Cancelled", 0, RT__SUB_CANCEL},
    {"Subscription Canceled", 0, RT__SUB_CANCEL},
};

/* An identify's trait: traits.<key>, else context.traits.<key> (where some SDKs put them);
 * *from says which. NULL when neither has it. */
static json_t *trait(json_t *o, const char *key, const char **from) {
  json_t *tr = json_object_get(o, "traits"), *v = json_object_get(tr, key);
  *from = "traits";
  if (v && !json_is_null(v))
    return v;
  *from = "context.traits";
  v = json_object_get(json_object_get(json_object_get(o, "context"), "traits"), key);
  return v && !json_is_null(v) ? v : NULL;
}

/* A phone number's digits form: a leading + kept, everything else but the digits dropped
 * ("+1 (555) 010-9999" -> "+15550109999"). Nothing is rejected; NULL when there is no digit
 * (nothing to link) or no memory (*oom set). */
static char *phone_digits(json_t *v, int *oom) {
  char buf[32];
  const char *s = text_of(v, buf);
  if (!s)
    return NULL;
  while (isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s), k = 0;
  char *d = rt_malloc(n + 1);
  if (!d) {
    *oom = 1;
    return NULL;
  }
  if (*s == '+')
    d[k++] = '+';
  for (size_t i = 0; i < n; i++)
    if (isdigit((unsigned char)s[i]))
      d[k++] = s[i];
  d[k] = 0;
  if (k == 0 || (k == 1 && d[0] == '+')) {
    rt_free(d);
    return NULL;
  }
  return d;
}

static int parse_one(json_t *o, rt__ev_kind kind, const char *path, int64_t now_ms,
                     int64_t batch_sent_ms, rt__event *ev, char *field, size_t cap,
                     rt_error *err) {
  memset(ev, 0, sizeof *ev);
  ev->received_ms = now_ms;
  if (!json_is_object(o)) {
    snprintf(field, cap, "%s", *path ? path : "$");
    return rt_error_set(err, RT_EINVAL, "%s: must be an object", field);
  }
  if (kind == RT__EV_BATCH) { /* a batch item says its type */
    json_t *t = json_object_get(o, "type");
    const char *ts = json_is_string(t) ? json_string_value(t) : NULL;
    int k = -1;
    for (int i = 0; ts && i < 6; i++)
      if (!strcmp(ts, kind_names[i]))
        k = i;
    if (k < 0) {
      snprintf(field, cap, "%stype", path);
      return rt_error_set(err, RT_EINVAL, "%s: must be one of identify, track, page, screen, "
                                          "group, alias",
                          field);
    }
    kind = (rt__ev_kind)k;
  }
  ev->kind = kind;
  int rc;
  if ((rc = id_field(o, "userId", path, &ev->user_id, field, cap, err)) ||
      (rc = id_field(o, "anonymousId", path, &ev->anon_id, field, cap, err)) ||
      (rc = id_field(o, "messageId", path, &ev->message_id, field, cap, err)))
    return rc;
  if (!ev->user_id && !ev->anon_id) {
    snprintf(field, cap, "%suserId", path);
    return rt_error_set(err, RT_EINVAL, "%s: userId or anonymousId is required", field);
  }
  /* the time it happened: timestamp, else when it was received. With sentAt (the event's,
   * else the batch's) the sender's clock is corrected as Segment does: timestamp + (received
   * - sentAt), so a device whose clock is an hour off still files its events at the right
   * time. */
  ev->ts_ms = now_ms;
  int64_t sent = 0;
  if ((rc = parse_time(o, "sentAt", path, &sent, field, cap, err)) < 0)
    return rc;
  if (!rc)
    sent = batch_sent_ms;
  if ((rc = time_field(o, "timestamp", path, ev, sent ? now_ms - sent : 0, &ev->ts_ms, field,
                       cap, err)) < 0)
    return rc;
  switch (kind) {
  case RT__EV_TRACK: {
    json_t *e = json_object_get(o, "event");
    if (!json_is_string(e) || !*json_string_value(e) || strlen(json_string_value(e)) > 200) {
      snprintf(field, cap, "%sevent", path);
      return rt_error_set(err, RT_EINVAL, "%s: the event name is required (a string of at most "
                                          "200 bytes)",
                          field);
    }
    if (!(ev->name = rt_strdup(json_string_value(e))))
      return rt_error_set(err, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM));
    for (size_t k = 0; k < sizeof special_events / sizeof special_events[0]; k++)
      if (!strcmp(ev->name, special_events[k].name)) {
        ev->commerce = special_events[k].commerce;
        ev->sub = special_events[k].sub;
      }
    if (ev->commerce && (rc = parse_commerce(o, path, ev, field, cap, err)))
      return rc;
    if (ev->sub && (rc = parse_subscription(o, path, ev, field, cap, err)))
      return rc;
    return object_field(o, "properties", path, &ev->props, field, cap, err);
  }
  case RT__EV_PAGE:
  case RT__EV_SCREEN: {
    json_t *nm = json_object_get(o, "name");
    if (json_is_string(nm) && !(ev->name = rt_strdup(json_string_value(nm))))
      return rt_error_set(err, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM));
    return object_field(o, "properties", path, &ev->props, field, cap, err);
  }
  case RT__EV_IDENTIFY: {
    if ((rc = object_field(o, "traits", path, &ev->props, field, cap, err)))
      return rc;
    /* traits become the customer's attributes: refused here, before the writer (where one
     * huge merge would hold up every other request), when they alone are over its limits */
    size_t keys = rt__json_keys(json_object_get(o, "traits"));
    size_t bytes = ev->props ? strlen(ev->props) : 0;
    if (keys > RT_ATTRS_MAX_KEYS || bytes > RT_ATTRS_MAX_BYTES) {
      snprintf(field, cap, "%straits", path);
      return rt_error_set(err, RT_ERANGE,
                          "%s: %zu keys (nested ones counted), %zu bytes as JSON; traits, like "
                          "a customer's attributes, may have at most %d keys and %d bytes",
                          field, keys, bytes, RT_ATTRS_MAX_KEYS, RT_ATTRS_MAX_BYTES);
    }
    json_t *em = trait(o, "email", &ev->email_from);
    if (json_is_string(em) && strchr(json_string_value(em), '@')) {
      if (!(ev->email = rt_strdup(json_string_value(em))))
        return rt_error_set(err, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM));
      for (char *p = ev->email; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    }
    int oom = 0;
    ev->phone = phone_digits(trait(o, "phone", &ev->phone_from), &oom);
    return oom ? rt_error_set(err, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM)) : 0;
  }
  case RT__EV_GROUP:
    if ((rc = id_field(o, "groupId", path, &ev->group_id, field, cap, err)))
      return rc;
    if (!ev->group_id) {
      snprintf(field, cap, "%sgroupId", path);
      return rt_error_set(err, RT_EINVAL, "%s: groupId is required", field);
    }
    return object_field(o, "traits", path, &ev->props, field, cap, err);
  case RT__EV_ALIAS:
    if ((rc = id_field(o, "previousId", path, &ev->previous_id, field, cap, err)))
      return rc;
    if (!ev->previous_id || !ev->user_id) {
      snprintf(field, cap, "%s%s", path, ev->previous_id ? "userId" : "previousId");
      return rt_error_set(err, RT_EINVAL, "%s: alias needs previousId and userId", field);
    }
    return 0;
  default:
    return rt_error_set(err, RT_EINVAL, "unknown event kind");
  }
}

int rt__events_parse(const char *body, size_t len, rt__ev_kind kind, int64_t now_ms,
                     size_t max_batch, rt__events *out, char *field, size_t cap, rt_error *err) {
  memset(out, 0, sizeof *out);
  field[0] = 0;
  json_error_t je;
  json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
  if (!root) {
    snprintf(field, cap, "$");
    return rt_error_set(err, RT_EPARSE, "invalid JSON at line %d, column %d: %s", je.line,
                        je.column, je.text);
  }
  json_t *items = NULL;
  size_t n = 1;
  if (kind == RT__EV_BATCH) {
    items = json_object_get(root, "batch");
    if (!json_is_array(items)) {
      json_decref(root);
      snprintf(field, cap, "batch");
      return rt_error_set(err, RT_EINVAL, "batch: must be an array of events");
    }
    n = json_array_size(items);
    out->batch = 1;
    if (n > max_batch) {
      json_decref(root);
      snprintf(field, cap, "batch");
      return rt_error_set(err, RT_ERANGE, "batch: %zu events, at most %zu per request", n,
                          max_batch);
    }
  }
  out->v = rt_calloc(n ? n : 1, sizeof *out->v);
  if (!out->v) {
    json_decref(root);
    return rt_error_set(err, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM));
  }
  int64_t batch_sent = 0; /* a batch's own sentAt, for events without one */
  int rc = items && parse_time(root, "sentAt", "", &batch_sent, field, cap, err) < 0 ? err->code
                                                                                     : 0;
  for (size_t i = 0; i < n && !rc; i++) {
    char path[48] = "";
    if (items)
      snprintf(path, sizeof path, "batch[%zu].", i);
    rc = parse_one(items ? json_array_get(items, i) : root, kind, path, now_ms, batch_sent,
                   &out->v[i], field, cap, err);
    out->n = i + 1;
  }
  json_decref(root);
  if (rc)
    rt__events_free(out);
  return rc;
}

/* ---- the writer's id cache ---- */

static size_t slot_of(const rt__idcache *c, const char *k) {
  /* keyed: the userIds come from whoever holds a write key */
  size_t s = (size_t)rt__hash_table(k, strlen(k)) & (c->cap - 1);
  while (c->key[s] && strcmp(c->key[s], k))
    s = (s + 1) & (c->cap - 1);
  return s;
}

static int cache_get(const rt__idcache *c, const char *k, int64_t *id) {
  if (!c->cap)
    return 0;
  size_t s = slot_of(c, k);
  if (!c->key[s])
    return 0;
  *id = c->id[s];
  return 1;
}

/* best effort: a full or failed cache only costs lookups */
static void cache_put(rt__idcache *c, const char *k, int64_t id) {
  if (c->n * 2 >= c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 4096;
    if (cap > ((size_t)1 << 24))
      return;
    rt__idcache d = {rt_calloc(cap, sizeof *d.key), rt_calloc(cap, sizeof *d.id), cap, 0};
    if (!d.key || !d.id) {
      rt_free(d.key);
      rt_free(d.id);
      return;
    }
    for (size_t i = 0; i < c->cap; i++)
      if (c->key[i]) {
        size_t s = slot_of(&d, c->key[i]);
        d.key[s] = c->key[i];
        d.id[s] = c->id[i];
        d.n++;
      }
    rt_free(c->key);
    rt_free(c->id);
    *c = d;
  }
  size_t s = slot_of(c, k);
  if (c->key[s])
    return;
  if (!(c->key[s] = rt_strdup(k)))
    return;
  c->id[s] = id;
  c->n++;
}

static void cache_free(rt__idcache *c) {
  for (size_t i = 0; i < c->cap; i++)
    rt_free(c->key[i]);
  rt_free(c->key);
  rt_free(c->id);
  memset(c, 0, sizeof *c);
}

static void stage(rt__writer *w, const char *k, int64_t id) {
  if (w->nstaged == w->staged_cap) {
    size_t cap = w->staged_cap ? 2 * w->staged_cap : 256;
    char **kk = rt_realloc(w->staged_key, cap * sizeof *kk);
    if (!kk)
      return;
    w->staged_key = kk;
    int64_t *ii = rt_realloc(w->staged_id, cap * sizeof *ii);
    if (!ii)
      return;
    w->staged_id = ii;
    w->staged_cap = cap;
  }
  if ((w->staged_key[w->nstaged] = rt_strdup(k)))
    w->staged_id[w->nstaged++] = id;
}

/* after a commit (keep) or a rollback (forget) */
static void unstage(rt__writer *w, int keep) {
  for (size_t i = 0; i < w->nstaged; i++) {
    if (keep)
      cache_put(&w->ids, w->staged_key[i], w->staged_id[i]);
    rt_free(w->staged_key[i]);
  }
  w->nstaged = 0;
}

/* ---- applying events (on the writer thread, inside its transaction) ---- */

/* Links an identity to the customer, recording why. One that is already another customer's
 * is left alone: merging two customers takes an explicit call. */
static int link_identity(rt_store *st, const char *kind, const char *value, int64_t customer,
                         const char *reason, rt_error *err) {
  int64_t other;
  int rc = rt_store_identity_link(st, kind, value, customer, reason, &other, err);
  if (rc == RT_EEXISTS)
    rc = 0, rt_error_clear(err);
  return rc;
}

/* A subscription event changes the subscription it names; what the event does not carry keeps
 * its stored value. Started sets the start (and reopens a subscription cancelled before that
 * start); Renewed and Updated set the plan, interval and price; Cancelled sets the cancel
 * time, the earliest one when cancelled twice and never before the start, and changes nothing
 * else. An event about a subscription not seen before creates it, for the event's customer,
 * started at properties.started_at or else at the event's time (for a Cancelled: a
 * subscription known only from its end; a Started arriving later moves its start back). */
static int apply_subscription(rt_store *st, int64_t customer, const rt__event *ev,
                              rt_error *err) {
  rt_subscription_rec old, s;
  int rc = rt_store_subscription_get(st, ev->sub_id, &old, err);
  if (rc && rc != RT_ENOTFOUND)
    return rc;
  int known = rc == 0;
  int64_t start = ev->started_at_ms ? ev->started_at_ms : ev->ts_ms;
  if (known) {
    s = old;
  } else {
    rt_error_clear(err);
    s = (rt_subscription_rec){.customer = customer, .ext_id = ev->sub_id, .started_ms = start,
                              .currency = "USD"};
  }
  if (ev->sub == RT__SUB_START) {
    s.started_ms = start;
    if (s.canceled_ms && s.canceled_ms < start)
      s.canceled_ms = 0;
  }
  if (ev->sub != RT__SUB_CANCEL || !known) {
    if (ev->plan)
      s.plan = ev->plan;
    if (ev->interval)
      s.interval = ev->interval;
    if (ev->has_amount && (ev->has_currency || !known)) {
      s.amount = ev->amount;
      s.currency = ev->currency;
    } else if (ev->has_amount) { /* a price without a currency is in the subscription's */
      int shift = rt_currency_exponent(s.currency) - rt_currency_exponent(ev->currency);
      s.amount = llround((double)ev->amount * pow(10, shift));
    }
  }
  if (ev->sub == RT__SUB_CANCEL && (!s.canceled_ms || ev->ts_ms < s.canceled_ms))
    s.canceled_ms = ev->ts_ms > s.started_ms ? ev->ts_ms : s.started_ms;
  int status;
  rc = rt_store_subscription_put(st, &s, &status, err);
  if (known)
    rt_subscription_rec_free(&old);
  return rc;
}

/* An event carrying both a userId and an anonymousId that another profile holds: when that
 * profile is the anonymous visitor's own (the one named anon:<anonymousId>, made from events
 * with the anonymousId alone), the visitor has identified as the user - it is merged into the
 * user, so its earlier events, orders and identities are the user's, recorded with the reason
 * (POST /v1/customers/{anon}/unmerge undoes it, for good: an undone merge is never made again
 * automatically). A profile holding the anonymousId that has an
 * id of its own is another identified customer: never merged automatically. */
static int attach_anonymous(rt__writer *w, const rt__event *ev, int64_t holder, int64_t user,
                            rt_error *err) {
  char ext[600];
  snprintf(ext, sizeof ext, "anon:%s", ev->anon_id);
  rt_customer_view v;
  int rc = rt_store_customer_get(w->st, NULL, holder, &v, err); /* its own id, not a chain's */
  if (rc)
    return rc;
  int anonymous = v.ext_id && !strcmp(v.ext_id, ext) && !v.merged_into, undone = 0;
  rt_customer_view_free(&v);
  if (!anonymous)
    return 0; /* the anonymousId is an identified customer's: left as it is */
  if ((rc = rt_store_merge_undone(w->st, holder, user, &undone, err)) || undone)
    return rc; /* merged once and undone on purpose: kept apart */
  char why[160];
  snprintf(why, sizeof why, "%s with userId and anonymousId: the anonymous visitor identified",
           kind_names[ev->kind]);
  int64_t merge_id;
  if ((rc = rt_store_customer_merge(w->st, holder, user, why, ev->ts_ms, &merge_id, err)))
    return rc;
  w->touched_all = 1; /* a merge changes two customers and every id that named the visitor */
  return 0;
}

/* the customer an event is about: its userId (linking the anonymousId to it), else the
 * customer its anonymousId already belongs to, else a new one named anon:<id> */
static int customer_of(rt__writer *w, const rt__event *ev, int64_t *id, rt_error *err) {
  rt_store *st = w->st;
  int created, rc;
  if (ev->user_id) {
    if (!cache_get(&w->ids, ev->user_id, id)) {
      if ((rc = rt_store_customer_upsert(st, ev->user_id, strlen(ev->user_id), ev->ts_ms, id,
                                         &created, err)))
        return rc;
      stage(w, ev->user_id, *id);
    }
    if (ev->anon_id) {
      char why[48];
      int64_t other = 0;
      snprintf(why, sizeof why, "anonymousId on %s", kind_names[ev->kind]);
      rc = rt_store_identity_link(st, "anonymous", ev->anon_id, *id, why, &other, err);
      if (rc == RT_EEXISTS) {
        rt_error_clear(err);
        rc = other && other != *id ? attach_anonymous(w, ev, other, *id, err) : 0;
      }
    }
    return rc;
  }
  rc = rt_store_identity_find(st, "anonymous", ev->anon_id, id, err);
  if (rc != RT_ENOTFOUND)
    return rc;
  rt_error_clear(err);
  /* a new profile: not for the anonymousId of an erased customer (the same tracking firing
   * again after the erasure) */
  int erased = 0;
  if ((rc = rt_store_erased(st, "anonymous", ev->anon_id, strlen(ev->anon_id), &erased, err)))
    return rc;
  if (erased)
    return rt_error_set(err, RT_EERASED,
                        "anonymousId '%.200s' belonged to a customer erased at their request "
                        "(right to erasure): new data under it is refused",
                        ev->anon_id);
  char ext[600];
  snprintf(ext, sizeof ext, "anon:%s", ev->anon_id);
  if ((rc = rt_store_customer_upsert(st, ext, strlen(ext), ev->ts_ms, id, &created, err)))
    return rc;
  return link_identity(st, "anonymous", ev->anon_id, *id, "first seen anonymousId", err);
}

/* Notes that the transaction touches customer (for the reads: see live.h). */
static void touch(rt__writer *w, int64_t customer) {
  if (w->touched_all)
    return;
  if (w->ntouched && w->touched[w->ntouched - 1] == customer)
    return;
  if (w->ntouched == w->touched_cap) {
    size_t cap = w->touched_cap ? 2 * w->touched_cap : 256;
    int64_t *v = cap <= (1u << 20) ? rt_realloc(w->touched, cap * sizeof *v) : NULL;
    if (!v) {
      w->touched_all = 1;
      return;
    }
    w->touched = v;
    w->touched_cap = cap;
  }
  w->touched[w->ntouched++] = customer;
}

static int apply(rt__writer *w, const rt__event *ev, rt_error *err) {
  rt_store *st = w->st;
  int64_t customer;
  int rc = customer_of(w, ev, &customer, err);
  if (rc)
    return rc;
  touch(w, customer);
  /* every event is recorded (idempotent on its messageId); a duplicate changes nothing else */
  char type[256];
  switch (ev->kind) {
  case RT__EV_TRACK: snprintf(type, sizeof type, "%s", ev->name); break;
  default: snprintf(type, sizeof type, "%s", kind_names[ev->kind]); break;
  }
  char *props = ev->props;
  char *built = NULL;
  if ((ev->kind == RT__EV_PAGE || ev->kind == RT__EV_SCREEN || ev->kind == RT__EV_GROUP ||
       ev->kind == RT__EV_ALIAS) &&
      (ev->name || ev->group_id || ev->previous_id)) {
    json_t *o = props ? json_loads(props, 0, NULL) : json_object();
    if (!o)
      o = json_object();
    if (ev->name) json_object_set_new(o, "name", json_string(ev->name));
    if (ev->group_id) json_object_set_new(o, "groupId", json_string(ev->group_id));
    if (ev->previous_id) json_object_set_new(o, "previousId", json_string(ev->previous_id));
    built = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    props = built;
  }
  /* props is jansson's compact dump of a parsed object: valid, keys unique */
  rt_event_rec rec = {customer, type, ev->ts_ms, props, ev->message_id, 0, 1};
  int status = 0;
  rc = rt_store_event_put(st, &rec, &status, err);
  free(built);
  if (rc || status == RT_PUT_DUPLICATE)
    return rc;
  if (ev->kind == RT__EV_IDENTIFY) {
    if (ev->props && strcmp(ev->props, "{}") && (rc = rt_store_customer_set_attrs(st, customer,
                                                                                  ev->props, err)))
      return rc;
    char why[48];
    if (ev->email) {
      snprintf(why, sizeof why, "identify %s.email", ev->email_from);
      rc = link_identity(st, "email", ev->email, customer, why, err);
    }
    if (!rc && ev->phone) {
      snprintf(why, sizeof why, "identify %s.phone", ev->phone_from);
      rc = link_identity(st, "phone", ev->phone, customer, why, err);
    }
  } else if (ev->sub) {
    rc = apply_subscription(st, customer, ev, err);
  } else if (ev->commerce == 1) { /* an order, exactly as an import would store it */
    rt_order_rec o = {customer, ev->order_id, ev->ts_ms, ev->amount, ev->currency, 0};
    int st2;
    rc = rt_store_order_put(st, &o, ev->lines, ev->nlines, &st2, err);
  } else if (ev->commerce == 2) {
    char ext[700];
    snprintf(ext, sizeof ext, "refund:%s:%s", ev->order_id,
             ev->message_id ? ev->message_id : "");
    rt_refund_rec r = {customer, ext, ev->order_id, ev->ts_ms, ev->amount, ev->currency, NULL, 0};
    int st2;
    rc = ev->amount > 0 ? rt_store_refund_put(st, &r, &st2, err) : 0;
  } else if (ev->kind == RT__EV_ALIAS) {
    rc = link_identity(st, "alias", ev->previous_id, customer, "alias previousId", err);
  }
  return rc;
}

/* ---- the writer ---- */

const unsigned rt__commit_buckets[RT__COMMIT_BUCKETS] = {1,   2,   5,    10,   20,   50,
                                                         100, 200, 500, 1000, 2000, 5000};

/* Notes that event i of job j is about an erased customer and was not stored. */
static void refuse(rt__job *j, size_t i, rt_error *err) {
  if (!j->refused++) {
    j->refused_at = i;
    j->refusal = *err;
  }
  rt_error_clear(err);
}

/* Answers jobs (a list) with rc/err. */
static void answer(rt__writer *w, rt__job *jobs, int rc, const rt_error *err) {
  pthread_mutex_lock(&w->mu);
  for (rt__job *j = jobs, *next; j; j = next) {
    next = j->next; /* j is gone once its thread sees done (after the unlock) */
    j->rc = rc;
    j->err = *err;
    if (!rc && j->refused) {
      j->rc = RT_EERASED;
      j->err = j->refusal;
    }
    j->done = 1;
    pthread_cond_signal(&j->cv); /* only its own thread wakes, not every waiting one */
  }
  pthread_mutex_unlock(&w->mu);
}

/* A job with its own write (fn), in its own transaction. */
static void run_own(rt__writer *w, rt__job *j) {
  rt_error err = {0};
  int rc = rt_store_begin(w->st, &err);
  if (!rc)
    rc = j->fn(w->st, j->ctx, &err);
  if (!rc)
    rc = rt_store_commit(w->st, &err);
  if (rc)
    rt_store_rollback(w->st);
  else if (j->bump) {
    cache_free(&w->ids); /* it may have moved customers (a merge): the ids are looked up anew */
    if (w->on_commit)
      w->on_commit(w->on_commit_ctx, NULL, 0);
  }
  j->next = NULL;
  answer(w, j, rc, &err);
}

/* Records the key uses queued (rt__writer_key_used), best effort: a failure loses them. */
static void record_key_uses(rt__writer *w) {
  pthread_mutex_lock(&w->mu);
  size_t n = w->nkey_queue;
  int64_t id[RT__KEY_SLOTS], ms[RT__KEY_SLOTS];
  for (size_t i = 0; i < n; i++) {
    id[i] = w->key_queue[i].id;
    ms[i] = w->key_queue[i].ms;
  }
  w->nkey_queue = 0;
  pthread_mutex_unlock(&w->mu);
  if (!n)
    return;
  rt_error err = {0};
  int rc = rt_store_begin(w->st, &err);
  for (size_t i = 0; i < n && !rc; i++)
    if ((rc = rt_store_key_touch(w->st, id[i], ms[i], &err)) == RT_ENOTFOUND)
      rc = 0; /* deleted meanwhile */
  if (!rc)
    rc = rt_store_commit(w->st, &err);
  if (rc)
    rt_store_rollback(w->st);
}

/* After a commit failed with an I/O error: whether it is for good (the store's files were
 * deleted or replaced), for /healthz. */
static void note_broken(rt__writer *w) {
  rt_error e = {0};
  if (rt_store_check_files(w->st, &e) != RT_EIO)
    return;
  pthread_mutex_lock(&w->mu);
  w->broken = e;
  pthread_mutex_unlock(&w->mu);
}

/* The events of jobs (a list) in one transaction, and the answers. An event whose own content
 * the store refuses (RT_ERANGE: a customer's attributes over their limit) fails only its
 * request, answered 413 with its path: the transaction is rolled back and the other
 * requests applied again without it. That costs a second transaction, but only then; a
 * second such request in the same group sends the rest one transaction each, so requests
 * made to fail cannot make the writer redo a large group again and again. */
static void apply_jobs(rt__writer *w, rt__job *evjobs) {
  int refused = 0;
  while (evjobs) {
    rt_error err = {0};
    size_t nev = 0;
    rt__job *bad = NULL;
    w->ntouched = 0;
    w->touched_all = 0;
    for (rt__job *j = evjobs; j; j = j->next)
      j->refused = 0; /* counted again by this attempt (an earlier one was rolled back) */
    int rc = rt_store_begin(w->st, &err);
    for (rt__job *j = evjobs; j && !rc; j = j->next)
      for (size_t i = 0; i < j->events->n && !rc; i++, nev++)
        if ((rc = apply(w, &j->events->v[i], &err)) == RT_EERASED) {
          refuse(j, i, &err); /* the store wrote nothing for it: the others go on */
          rc = 0;
        } else if (rc == RT_ERANGE) {
          bad = j;
          char at[48] = "";
          if (j->events->batch)
            snprintf(at, sizeof at, "batch[%zu].", i);
          snprintf(j->field, sizeof j->field, "%straits", at);
          rt_error_prefix(&err, "%s: ", j->field);
        }
    if (!rc)
      rc = rt_store_commit(w->st, &err);
    if (rc)
      rt_store_rollback(w->st);
    if (rc == RT_EIO)
      note_broken(w);
    unstage(w, rc == 0);
    if (bad) {
      rt__job **p = &evjobs;
      while (*p != bad)
        p = &(*p)->next;
      *p = bad->next;
      bad->next = NULL;
      answer(w, bad, rc, &err);
      if (++refused < 2)
        continue;
      for (rt__job *j = evjobs, *next; j; j = next) {
        next = j->next;
        j->next = NULL;
        apply_jobs(w, j);
      }
      return;
    }
    if (!rc) {
      if (w->on_commit) /* before the answers: a read sent after an answer sees the events */
        w->on_commit(w->on_commit_ctx, w->touched_all ? NULL : w->touched, w->ntouched);
      for (rt__job *j = evjobs; j; j = j->next)
        nev -= j->refused; /* not stored */
      pthread_mutex_lock(&w->mu);
      w->commits++;
      w->events += nev;
      if (nev > w->max_commit)
        w->max_commit = nev;
      size_t b = 0;
      while (b < RT__COMMIT_BUCKETS && nev > rt__commit_buckets[b])
        b++;
      w->commit_sizes[b]++;
      pthread_mutex_unlock(&w->mu);
    }
    answer(w, evjobs, rc, &err);
    return;
  }
}

static void *writer_main(void *arg) {
  rt__writer *w = arg;
  for (;;) {
    pthread_mutex_lock(&w->mu);
    while (!w->head && !w->nkey_queue && !w->stopping) {
      /* idle: once a second, whether the store's files are still there, for /healthz */
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += 1;
      if (pthread_cond_timedwait(&w->work, &w->mu, &ts) == ETIMEDOUT && !w->broken.code) {
        pthread_mutex_unlock(&w->mu);
        rt_error err = {0};
        int bad = rt_store_check_files(w->st, &err) == RT_EIO;
        pthread_mutex_lock(&w->mu);
        if (bad)
          w->broken = err;
      }
    }
    rt__job *jobs = w->head;
    w->head = w->tail = NULL;
    int stop = w->stopping && !jobs;
    pthread_mutex_unlock(&w->mu);
    if (stop) {
      record_key_uses(w);
      break;
    }
    /* jobs with a write of their own go one by one; the events of all the others share one
     * transaction */
    rt__job *evjobs = NULL, **tail = &evjobs;
    for (rt__job *j = jobs, *next; j; j = next) {
      next = j->next;
      if (j->fn) {
        run_own(w, j);
      } else {
        *tail = j;
        tail = &j->next;
      }
    }
    *tail = NULL;
    /* Events were validated when parsed, so a failure here is mostly the store's (I/O, disk
     * full): the transaction is rolled back and every job in it answered with the error
     * (per-job savepoints would cost every commit) */
    apply_jobs(w, evjobs);
    record_key_uses(w);
  }
  return NULL;
}

int rt__writer_start(rt__writer *w, rt_store *st,
                     void (*on_commit)(void *ctx, const int64_t *customers, size_t n), void *ctx,
                     rt_error *err) {
  memset(w, 0, sizeof *w);
  w->st = st;
  w->on_commit = on_commit;
  w->on_commit_ctx = ctx;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->work, NULL);
  if (pthread_create(&w->thread, NULL, writer_main, w))
    return rt_error_set(err, RT_EIO, "server: cannot start the writer thread");
  w->started = 1;
  return 0;
}

void rt__writer_submit(rt__writer *w, rt__job *job) {
  job->done = 0;
  job->next = NULL;
  job->field[0] = 0;
  pthread_cond_init(&job->cv, NULL);
  pthread_mutex_lock(&w->mu);
  if (w->stopping) {
    job->rc = rt_error_set(&job->err, RT_EBUSY, "server: shutting down");
    job->done = 1;
  } else {
    if (w->tail)
      w->tail->next = job;
    else
      w->head = job;
    w->tail = job;
    pthread_cond_signal(&w->work);
  }
  while (!job->done)
    pthread_cond_wait(&job->cv, &w->mu);
  pthread_mutex_unlock(&w->mu);
  pthread_cond_destroy(&job->cv);
}

/* whether the key of slot was noted within the minute (read with or without the lock) */
static int key_fresh(const rt__writer *w, size_t slot, int64_t id, int64_t now_ms) {
  return atomic_load_explicit(&w->key_seen[slot].id, memory_order_relaxed) == id &&
         now_ms - atomic_load_explicit(&w->key_seen[slot].ms, memory_order_relaxed) <
             RT__KEY_TOUCH_MS;
}

void rt__writer_key_used(rt__writer *w, int64_t id, int64_t now_ms) {
  size_t slot = (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ULL >> 58) & (RT__KEY_SLOTS - 1);
  /* nearly every request: the key was noted within the minute - known without the writer's
   * lock, which every request's commit takes too */
  if (key_fresh(w, slot, id, now_ms))
    return;
  pthread_mutex_lock(&w->mu);
  if (!key_fresh(w, slot, id, now_ms) && !w->stopping && w->nkey_queue < RT__KEY_SLOTS) {
    atomic_store_explicit(&w->key_seen[slot].ms, now_ms, memory_order_relaxed);
    atomic_store_explicit(&w->key_seen[slot].id, id, memory_order_relaxed);
    w->key_queue[w->nkey_queue].id = id;
    w->key_queue[w->nkey_queue++].ms = now_ms;
    pthread_cond_signal(&w->work);
  }
  pthread_mutex_unlock(&w->mu);
}

void rt__writer_stop(rt__writer *w) {
  if (!w->started)
    return;
  pthread_mutex_lock(&w->mu);
  w->stopping = 1;
  pthread_cond_signal(&w->work);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->work);
  cache_free(&w->ids);
  rt_free(w->touched);
  unstage(w, 0);
  rt_free(w->staged_key);
  rt_free(w->staged_id);
  w->started = 0;
}
