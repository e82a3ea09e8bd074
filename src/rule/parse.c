/* parse.c - the rule grammar (docs/RULES.md, "Grammar"): a recursive-descent parser with one
 * token of lookahead, building an rt__ast in an arena; and the arena itself.
 *
 * Hostile input cannot exhaust the stack: every way the parser recurses (parentheses, `not`,
 * unary minus) counts against RT_RULE_MAX_DEPTH, and so does the height of the tree that
 * chained operators build without recursing ("a + b + c ..."), because the later passes walk
 * the tree recursively. */
#include "rule/rule_internal.h"

#include <retain/alloc.h>

#include <stdio.h>
#include <string.h>

#include "internal.h"

/* ---- the arena ---- */

struct rt__rchunk {
  rt__rchunk *next;
  size_t size, used;
  _Alignas(16) unsigned char data[];
};

#define CHUNK_MIN ((size_t)16 << 10)

void *rt__rarena_alloc(rt__rarena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  rt__rchunk *c = a->head;
  if (!c || c->size - c->used < n) {
    size_t size = n > CHUNK_MIN / 4 ? n : CHUNK_MIN;
    rt__rchunk *nc = rt_malloc(sizeof *nc + size);
    if (!nc)
      return NULL;
    nc->size = size;
    nc->used = 0;
    /* a big block gets its own chunk behind the current one, which keeps its free room */
    if (c && size != CHUNK_MIN) {
      nc->next = c->next;
      c->next = nc;
    } else {
      nc->next = c;
      a->head = nc;
    }
    c = nc;
  }
  void *p = c->data + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

char *rt__rarena_strndup(rt__rarena *a, const char *s, size_t n) {
  char *d = rt__rarena_alloc(a, n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

void rt__rarena_free(rt__rarena *a) {
  while (a->head) {
    rt__rchunk *next = a->head->next;
    rt_free(a->head);
    a->head = next;
  }
}

/* ---- the parser ---- */

typedef struct parser {
  rt__lexer lx;
  rt__token tok;  /* the lookahead */
  rt__token prev; /* the token before it (for "expected a value after '>'") */
  rt__rarena *arena;
  rt_error *err;
  int depth; /* recursion through parentheses, not and minus */
} parser;

static int advance(parser *p) {
  p->prev = p->tok;
  return rt__rule_lex(&p->lx, &p->tok, p->err);
}

static int syntax_error(parser *p, const char *expected) {
  char found[96];
  rt__rule_tok_describe(&p->tok, found, sizeof found);
  return rt_error_set(p->err, RT_EPARSE, "syntax error at %d:%d: expected %s, found %s",
                      p->tok.line, p->tok.col, expected, found);
}

static int too_deep(parser *p, int line, int col) {
  return rt_error_set(p->err, RT_EPARSE,
                      "syntax error at %d:%d: the rule nests too deeply (more than %d levels)",
                      line, col, RT_RULE_MAX_DEPTH);
}

static int nomem(parser *p) {
  return rt_error_set(p->err, RT_ENOMEM, "%s", rt_strerror(RT_ENOMEM));
}

/* A node named after token t with operands a, b, c (any may be NULL); NULL on error. */
static rt__ast *node(parser *p, int kind, const rt__token *t, rt__ast *a, rt__ast *b, rt__ast *c) {
  rt__ast *n = rt__rarena_alloc(p->arena, sizeof *n);
  if (!n) {
    nomem(p);
    return NULL;
  }
  n->kind = (uint8_t)kind;
  n->line = t->line;
  n->col = t->col;
  int h = -1; /* a leaf has height 0 */
  rt__ast *ops[3] = {a, b, c};
  for (int i = 0; i < 3; i++)
    if (ops[i] && ops[i]->height > h)
      h = ops[i]->height;
  n->height = h + 1;
  n->a = a;
  n->b = b;
  n->c = c;
  if (n->height > RT_RULE_MAX_DEPTH) {
    too_deep(p, t->line, t->col);
    return NULL;
  }
  return n;
}

/* Moves a list built through ->next into n->items. */
static int take_list(parser *p, rt__ast *n, rt__ast *first, size_t count) {
  n->items = rt__rarena_alloc(p->arena, count * sizeof *n->items);
  if (!n->items)
    return nomem(p);
  n->nitems = count;
  int h = 0;
  for (size_t i = 0; i < count; i++, first = first->next) {
    n->items[i] = first;
    h = first->height > h ? first->height : h;
  }
  n->height = h + 1;
  if (n->height > RT_RULE_MAX_DEPTH)
    return too_deep(p, n->line, n->col);
  return 0;
}

static rt__ast *parse_or(parser *p);
static rt__ast *parse_sum(parser *p);

/* The text of a string token without its quotes, the doubled quote undone. */
static char *unquote(parser *p, const rt__token *t, size_t *len) {
  char q = t->start[0];
  char *s = rt__rarena_alloc(p->arena, t->len);
  if (!s) {
    nomem(p);
    return NULL;
  }
  size_t n = 0;
  for (size_t i = 1; i + 1 < t->len; i++) {
    s[n++] = t->start[i];
    if (t->start[i] == q)
      i++; /* the second of a doubled quote */
  }
  s[n] = '\0';
  *len = n;
  return s;
}

static int word_is(const rt__token *t, const char *w) {
  size_t n = strlen(w);
  if (t->len != n)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = t->start[i];
    if ((c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c) != w[i])
      return 0;
  }
  return 1;
}

/* What "expected a value" says about the token before: "after '>'" or nothing at the start. */
static int expected_value(parser *p) {
  char what[128];
  if (p->prev.kind == TK_END && p->prev.len == 0 && p->prev.line == 0)
    return syntax_error(p, "a value");
  int len = (int)RT_MIN(p->prev.len, (size_t)40);
  snprintf(what, sizeof what, "a value after '%.*s'", len, p->prev.start);
  return syntax_error(p, what);
}

/* in_segment ( STRING ) -- the identifier has been read. */
static rt__ast *parse_call(parser *p) {
  rt__token name = p->prev;
  if (!word_is(&name, "in_segment")) {
    rt_error_set(p->err, RT_EINVAL,
                 "unknown function '%.*s' at %d:%d (the only function is in_segment)",
                 (int)RT_MIN(name.len, (size_t)40), name.start, name.line, name.col);
    return NULL;
  }
  if (advance(p)) /* ( */
    return NULL;
  if (p->tok.kind != TK_STRING) {
    syntax_error(p, "a segment name in quotes after 'in_segment('");
    return NULL;
  }
  rt__ast *n = node(p, A_SEGMENT, &name, NULL, NULL, NULL);
  if (!n || !(n->str = unquote(p, &p->tok, &n->len)) || advance(p))
    return NULL;
  if (p->tok.kind != TK_RPAREN) {
    syntax_error(p, "')' after the segment name");
    return NULL;
  }
  if (advance(p))
    return NULL;
  return n;
}

/* primary = NUMBER | DURATION | STRING | true | false | null | now | today
 *         | FIELD | in_segment ( STRING ) | ( or_expr ) */
static rt__ast *parse_primary(parser *p) {
  rt__token t = p->tok;
  rt__ast *n = NULL;
  switch (t.kind) {
  case TK_NUMBER:
  case TK_DURATION:
    if (!(n = node(p, A_NUMBER, &t, NULL, NULL, NULL)))
      return NULL;
    n->num = t.num;
    if (t.kind == TK_DURATION) {
      n->unit = t.unit;
      n->amount = t.amount;
    }
    break;
  case TK_STRING:
    if (!(n = node(p, A_STRING, &t, NULL, NULL, NULL)) || !(n->str = unquote(p, &t, &n->len)))
      return NULL;
    break;
  case TK_TRUE:
  case TK_FALSE:
    if (!(n = node(p, A_BOOL, &t, NULL, NULL, NULL)))
      return NULL;
    n->neg = t.kind == TK_TRUE;
    break;
  case TK_NULL:
    n = node(p, A_NULL, &t, NULL, NULL, NULL);
    break;
  case TK_NOW:
  case TK_TODAY:
    if (!(n = node(p, A_NOW, &t, NULL, NULL, NULL)))
      return NULL;
    n->neg = t.kind == TK_TODAY;
    break;
  case TK_IDENT:
    if (advance(p))
      return NULL;
    if (p->tok.kind == TK_LPAREN)
      return parse_call(p);
    if (!(n = node(p, A_FIELD, &t, NULL, NULL, NULL)))
      return NULL;
    if (!(n->str = rt__rarena_strndup(p->arena, t.start, t.len))) {
      nomem(p);
      return NULL;
    }
    n->len = t.len;
    return n;
  case TK_LPAREN:
    if (advance(p) || !(n = parse_or(p)))
      return NULL;
    if (p->tok.kind != TK_RPAREN) {
      char what[64];
      snprintf(what, sizeof what, "')' to close the '(' at %d:%d", t.line, t.col);
      syntax_error(p, what);
      return NULL;
    }
    break;
  default:
    expected_value(p);
    return NULL;
  }
  if (!n || advance(p))
    return NULL;
  return n;
}

/* unary = - unary | primary */
static rt__ast *parse_unary(parser *p) {
  if (p->tok.kind != TK_MINUS)
    return parse_primary(p);
  rt__token t = p->tok;
  if (++p->depth > RT_RULE_MAX_DEPTH) {
    too_deep(p, t.line, t.col);
    return NULL;
  }
  rt__ast *a;
  if (advance(p) || !(a = parse_unary(p)))
    return NULL;
  p->depth--;
  return node(p, A_NEG, &t, a, NULL, NULL);
}

/* product = unary { (* | /) unary } */
static rt__ast *parse_product(parser *p) {
  rt__ast *a = parse_unary(p);
  while (a && (p->tok.kind == TK_STAR || p->tok.kind == TK_SLASH)) {
    rt__token t = p->tok;
    rt__ast *b;
    if (advance(p) || !(b = parse_unary(p)))
      return NULL;
    if (!(a = node(p, A_ARITH, &t, a, b, NULL)))
      return NULL;
    a->op = t.kind == TK_STAR ? OP_MUL : OP_DIV;
  }
  return a;
}

/* sum = product { (+ | -) product } */
static rt__ast *parse_sum(parser *p) {
  rt__ast *a = parse_product(p);
  while (a && (p->tok.kind == TK_PLUS || p->tok.kind == TK_MINUS)) {
    rt__token t = p->tok;
    rt__ast *b;
    if (advance(p) || !(b = parse_product(p)))
      return NULL;
    if (!(a = node(p, A_ARITH, &t, a, b, NULL)))
      return NULL;
    a->op = t.kind == TK_PLUS ? OP_ADD : OP_SUB;
  }
  return a;
}

/* ( sum { , sum } ) after `in`; n is the A_IN node. */
static int parse_list(parser *p, rt__ast *n) {
  if (p->tok.kind != TK_LPAREN)
    return syntax_error(p, "'(' after 'in'");
  if (advance(p))
    return p->err->code;
  rt__ast *first = NULL, *last = NULL;
  size_t count = 0;
  for (;;) {
    rt__ast *v = parse_sum(p);
    if (!v)
      return p->err->code;
    if (++count > RT_RULE_MAX_LIST)
      return rt_error_set(p->err, RT_EPARSE,
                          "syntax error at %d:%d: too many values in the list of 'in' "
                          "(at most %d)",
                          v->line, v->col, RT_RULE_MAX_LIST);
    if (last)
      last->next = v;
    else
      first = v;
    last = v;
    if (p->tok.kind == TK_RPAREN)
      break;
    if (p->tok.kind != TK_COMMA)
      return syntax_error(p, "',' or ')' in the list of 'in'");
    if (advance(p))
      return p->err->code;
  }
  if (advance(p) || take_list(p, n, first, count))
    return p->err->code;
  if (n->a->height + 1 > n->height)
    n->height = n->a->height + 1;
  return n->height > RT_RULE_MAX_DEPTH ? too_deep(p, n->line, n->col) : 0;
}

/* predicate = sum [ cmp sum | [not] between sum and sum | [not] in ( list )
 *                 | is [not] null | [not] (like | contains | starts_with | ends_with) sum ] */
static rt__ast *parse_predicate(parser *p) {
  rt__ast *x = parse_sum(p);
  if (!x)
    return NULL;
  rt__token t = p->tok;
  switch (t.kind) {
  case TK_EQ:
  case TK_NE:
  case TK_LT:
  case TK_LE:
  case TK_GT:
  case TK_GE: {
    rt__ast *b, *n;
    if (advance(p) || !(b = parse_sum(p)) || !(n = node(p, A_CMP, &t, x, b, NULL)))
      return NULL;
    n->op = (uint8_t)(CMP_EQ + (t.kind - TK_EQ));
    return n;
  }
  case TK_IS: {
    int neg = 0;
    if (advance(p))
      return NULL;
    if (p->tok.kind == TK_NOT) {
      neg = 1;
      if (advance(p))
        return NULL;
    }
    if (p->tok.kind != TK_NULL) {
      syntax_error(p, neg ? "'null' after 'is not'" : "'null' or 'not null' after 'is'");
      return NULL;
    }
    rt__ast *n = node(p, A_ISNULL, &t, x, NULL, NULL);
    if (!n || advance(p))
      return NULL;
    n->neg = (uint8_t)neg;
    return n;
  }
  default:
    break;
  }
  int neg = 0;
  if (t.kind == TK_NOT) {
    neg = 1;
    if (advance(p))
      return NULL;
    t = p->tok;
  }
  switch (t.kind) {
  case TK_BETWEEN: {
    rt__ast *lo, *hi, *n;
    if (advance(p) || !(lo = parse_sum(p)))
      return NULL;
    if (p->tok.kind != TK_AND) {
      syntax_error(p, "'and' after the lower bound of 'between'");
      return NULL;
    }
    if (advance(p) || !(hi = parse_sum(p)) || !(n = node(p, A_BETWEEN, &t, x, lo, hi)))
      return NULL;
    n->neg = (uint8_t)neg;
    return n;
  }
  case TK_IN: {
    rt__ast *n = node(p, A_IN, &t, x, NULL, NULL);
    if (!n || advance(p) || parse_list(p, n))
      return NULL;
    n->neg = (uint8_t)neg;
    return n;
  }
  case TK_LIKE:
  case TK_CONTAINS:
  case TK_STARTS_WITH:
  case TK_ENDS_WITH: {
    rt__ast *b, *n;
    if (advance(p) || !(b = parse_sum(p)) || !(n = node(p, A_MATCH, &t, x, b, NULL)))
      return NULL;
    n->op = t.kind == TK_LIKE          ? MATCH_LIKE
            : t.kind == TK_CONTAINS    ? MATCH_CONTAINS
            : t.kind == TK_STARTS_WITH ? MATCH_STARTS
                                       : MATCH_ENDS;
    n->neg = (uint8_t)neg;
    return n;
  }
  default:
    if (neg) {
      syntax_error(p, "'between', 'in', 'like', 'contains', 'starts_with' or 'ends_with' "
                      "after 'not'");
      return NULL;
    }
    return x;
  }
}

/* not_expr = not not_expr | predicate */
static rt__ast *parse_not(parser *p) {
  if (p->tok.kind != TK_NOT)
    return parse_predicate(p);
  rt__token t = p->tok;
  if (++p->depth > RT_RULE_MAX_DEPTH) {
    too_deep(p, t.line, t.col);
    return NULL;
  }
  rt__ast *a;
  if (advance(p) || !(a = parse_not(p)))
    return NULL;
  p->depth--;
  return node(p, A_NOT, &t, a, NULL, NULL);
}

/* and_expr = not_expr { and not_expr }, or_expr = and_expr { or and_expr }: a list node when
 * there is more than one operand. */
static rt__ast *parse_list_of(parser *p, int or) {
  rt__ast *first = or ? parse_list_of(p, 0) : parse_not(p);
  if (!first)
    return NULL;
  rt__tk sep = or ? TK_OR : TK_AND;
  if (p->tok.kind != sep)
    return first;
  rt__ast *n = node(p, or ? A_OR : A_AND, &p->tok, NULL, NULL, NULL), *last = first;
  size_t count = 1;
  if (!n)
    return NULL;
  while (p->tok.kind == sep) {
    rt__ast *b;
    if (advance(p) || !(b = or ? parse_list_of(p, 0) : parse_not(p)))
      return NULL;
    last->next = b;
    last = b;
    count++;
  }
  return take_list(p, n, first, count) ? NULL : n;
}

/* or_expr inside the parenthesis just read (p->prev), one level deeper. */
static rt__ast *parse_or(parser *p) {
  if (++p->depth > RT_RULE_MAX_DEPTH) {
    too_deep(p, p->prev.line, p->prev.col);
    return NULL;
  }
  rt__ast *n = parse_list_of(p, 1);
  p->depth--;
  return n;
}

int rt__rule_parse(const char *text, rt__rarena *arena, rt__ast **out, rt_error *err) {
  rt_error local;
  parser p;
  memset(&p, 0, sizeof p);
  p.arena = arena;
  p.err = err ? err : &local;
  rt_error_clear(p.err);
  *out = NULL;
  size_t len = strlen(text);
  if (len > RT_RULE_MAX_LEN)
    return rt_error_set(err, RT_EPARSE, "the rule is too long (%zu bytes; at most %d)", len,
                        RT_RULE_MAX_LEN);
  rt__rule_lex_init(&p.lx, text);
  if (rt__rule_lex(&p.lx, &p.tok, p.err))
    return p.err->code;
  if (p.tok.kind == TK_END)
    return rt_error_set(err, RT_EPARSE, "syntax error at %d:%d: the rule is empty", p.tok.line,
                        p.tok.col);
  rt__ast *n = parse_list_of(&p, 1); /* the top level is not a level of nesting */
  if (!n)
    return p.err->code;
  if (p.tok.kind == TK_RPAREN)
    return rt_error_set(err, RT_EPARSE, "syntax error at %d:%d: unmatched ')'", p.tok.line,
                        p.tok.col);
  if (p.tok.kind != TK_END)
    return syntax_error(&p, "'and', 'or' or end of rule");
  *out = n;
  return 0;
}
