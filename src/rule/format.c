/* format.c - rt_rule_format: the syntax tree printed back as normalized text.
 *
 * Keywords in lower case, one space around operators, strings in single quotes, numbers in
 * the shortest form that reads back to the same double, and parentheses only where the
 * precedence needs them. Parsing the output gives the same tree, so it compiles to the same
 * rule (the unit tests check this on random rules). */
#include "rule/rule_internal.h"

#include <retain/alloc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Precedence levels, loosest first. */
enum { P_OR = 1, P_AND, P_NOT, P_PRED, P_SUM, P_PROD, P_UNARY, P_PRIMARY };

typedef struct out {
  char *s;
  size_t len, cap;
  int oom;
} out;

static void put(out *o, const char *s, size_t n) {
  if (o->oom)
    return;
  if (o->len + n + 1 > o->cap) {
    size_t cap = o->cap ? o->cap : 64;
    while (cap < o->len + n + 1)
      cap *= 2;
    char *p = rt_realloc(o->s, cap);
    if (!p) {
      o->oom = 1;
      return;
    }
    o->s = p;
    o->cap = cap;
  }
  memcpy(o->s + o->len, s, n);
  o->len += n;
  o->s[o->len] = '\0';
}

static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }

/* The shortest of %.15g, %.16g, %.17g that reads back as v. */
static void put_number(out *o, double v) {
  char buf[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  puts_(o, buf);
}

/* A duration's number, without an exponent (30d, 1.5w; "1e3d" would not read back): the
 * fewest decimals that read back as v. The lexer took at most 60 characters, so some
 * precision up to 60 does. */
static void put_fixed(out *o, double v) {
  char buf[400];
  for (int prec = 0; prec <= 60; prec++) {
    snprintf(buf, sizeof buf, "%.*f", prec, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  puts_(o, buf);
}

static void put_string(out *o, const char *s) {
  put(o, "'", 1);
  for (const char *p = s; *p; p++) {
    if (*p == '\'')
      put(o, "''", 2); /* a quote is written twice */
    else
      put(o, p, 1);
  }
  put(o, "'", 1);
}

static int level(const rt__ast *a) {
  switch (a->kind) {
  case A_OR:
    return P_OR;
  case A_AND:
    return P_AND;
  case A_NOT:
    return P_NOT;
  case A_CMP:
  case A_BETWEEN:
  case A_IN:
  case A_ISNULL:
  case A_MATCH:
    return P_PRED;
  case A_ARITH:
    return a->op == OP_ADD || a->op == OP_SUB ? P_SUM : P_PROD;
  case A_NEG:
    return P_UNARY;
  default:
    return P_PRIMARY;
  }
}

static void emit(out *o, const rt__ast *a, int min);

static void emit_list(out *o, rt__ast *const *items, size_t n, const char *sep, int min) {
  for (size_t i = 0; i < n; i++) {
    if (i)
      puts_(o, sep);
    emit(o, items[i], min);
  }
}

/* a, in parentheses when its level is looser than min. */
static void emit(out *o, const rt__ast *a, int min) {
  int paren = level(a) < min;
  if (paren)
    put(o, "(", 1);
  switch (a->kind) {
  case A_NUMBER:
    if (a->unit) {
      put_fixed(o, a->amount);
      put(o, &a->unit, 1);
    } else {
      put_number(o, a->num);
    }
    break;
  case A_STRING:
    put_string(o, a->str);
    break;
  case A_BOOL:
    puts_(o, a->neg ? "true" : "false");
    break;
  case A_NULL:
    puts_(o, "null");
    break;
  case A_NOW:
    puts_(o, a->neg ? "today" : "now");
    break;
  case A_FIELD:
    puts_(o, a->str);
    break;
  case A_SEGMENT:
    puts_(o, "in_segment(");
    put_string(o, a->str);
    puts_(o, ")");
    break;
  case A_NEG:
    puts_(o, "-");
    emit(o, a->a, P_UNARY);
    break;
  case A_ARITH: {
    int lv = level(a);
    char op[4] = {' ', "+-*/"[a->op], ' ', '\0'};
    emit(o, a->a, lv);
    puts_(o, op);
    emit(o, a->b, lv + 1); /* a - (b - c) keeps its parentheses */
    break;
  }
  case A_CMP:
    emit(o, a->a, P_SUM);
    puts_(o, " ");
    puts_(o, rt__rule_cmp_text[a->op]);
    puts_(o, " ");
    emit(o, a->b, P_SUM);
    break;
  case A_BETWEEN:
    emit(o, a->a, P_SUM);
    puts_(o, a->neg ? " not between " : " between ");
    emit(o, a->b, P_SUM);
    puts_(o, " and ");
    emit(o, a->c, P_SUM);
    break;
  case A_IN:
    emit(o, a->a, P_SUM);
    puts_(o, a->neg ? " not in (" : " in (");
    emit_list(o, a->items, a->nitems, ", ", P_SUM);
    puts_(o, ")");
    break;
  case A_ISNULL:
    emit(o, a->a, P_SUM);
    puts_(o, a->neg ? " is not null" : " is null");
    break;
  case A_MATCH:
    emit(o, a->a, P_SUM);
    puts_(o, a->neg ? " not " : " ");
    puts_(o, rt__rule_match_text[a->op]);
    puts_(o, " ");
    emit(o, a->b, P_SUM);
    break;
  case A_NOT:
    puts_(o, "not ");
    emit(o, a->a, P_NOT);
    break;
  case A_AND:
    emit_list(o, a->items, a->nitems, " and ", P_NOT);
    break;
  case A_OR:
    emit_list(o, a->items, a->nitems, " or ", P_AND);
    break;
  }
  if (paren)
    put(o, ")", 1);
}

char *rt_rule_format(const rt_rule *r) {
  out o = {0};
  emit(&o, r->ast, P_OR);
  if (o.oom || !o.s) {
    rt_free(o.s);
    return NULL;
  }
  return o.s;
}
