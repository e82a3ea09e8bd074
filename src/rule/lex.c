/* lex.c - the tokens of the rule language (docs/RULES.md, "Lexical structure").
 *
 * The lexer hands out one token at a time; the parser keeps one token of lookahead. Numbers
 * are converted here (durations to days); strings are returned with their quotes and undone
 * by the parser, which owns the memory. Every error names the line and byte column. */
#include "rule/rule_internal.h"

#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Keywords, matched without regard to case. */
static const struct {
  const char *word;
  rt__tk kind;
} keywords[] = {
    {"and", TK_AND},
    {"or", TK_OR},
    {"not", TK_NOT},
    {"in", TK_IN},
    {"is", TK_IS},
    {"null", TK_NULL},
    {"like", TK_LIKE},
    {"between", TK_BETWEEN},
    {"true", TK_TRUE},
    {"false", TK_FALSE},
    {"now", TK_NOW},
    {"today", TK_TODAY},
    {"contains", TK_CONTAINS},
    {"starts_with", TK_STARTS_WITH},
    {"ends_with", TK_ENDS_WITH},
};

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_alnum(int c) { return is_alpha(c) || is_digit(c); }
static int lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

void rt__rule_lex_init(rt__lexer *lx, const char *text) {
  lx->text = lx->p = lx->line_start = text;
  lx->line = 1;
}

static int col_of(const rt__lexer *lx, const char *p) { return (int)(p - lx->line_start) + 1; }

static int lex_error(const rt__lexer *lx, const char *at, rt_error *err, const char *what) {
  return rt_error_set(err, RT_EPARSE, "syntax error at %d:%d: %s", lx->line, col_of(lx, at), what);
}

/* Skips blanks, newlines and # comments (to the end of the line). */
static void skip_space(rt__lexer *lx) {
  for (;;) {
    char c = *lx->p;
    if (c == '\n') {
      lx->p++;
      lx->line++;
      lx->line_start = lx->p;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      lx->p++;
    } else if (c == '#') {
      while (*lx->p && *lx->p != '\n')
        lx->p++;
    } else {
      return;
    }
  }
}

/* A number: digits [. digits] [e [+-] digits], or digits [. digits] followed at once by a
 * duration unit. The value of the number part goes to t->num. */
static int lex_number(rt__lexer *lx, rt__token *t, rt_error *err) {
  const char *s = lx->p, *p = s;
  char msg[160];
  int exp = 0;
  while (is_digit(*p))
    p++;
  if (*p == '.' && is_digit(p[1])) {
    p++;
    while (is_digit(*p))
      p++;
  }
  if ((*p == 'e' || *p == 'E') &&
      (is_digit(p[1]) || ((p[1] == '+' || p[1] == '-') && is_digit(p[2])))) {
    p += 2;
    while (is_digit(*p))
      p++;
    exp = 1;
  }
  const char *num_end = p;
  char unit = 0;
  if (!exp && *p && strchr("dwmyDWMY", *p) && !is_alnum(p[1]) && p[1] != '.') {
    unit = (char)lower(*p);
    p++;
  }
  if (is_alnum(*p) || (*p == '.' && is_alnum(p[1]))) {
    const char *e = p;
    while (is_alnum(*e) || (*e == '.' && is_alnum(e[1])))
      e++;
    snprintf(msg, sizeof msg,
             "invalid number '%.*s' (a duration is a number and one of the units d, w, m, y: "
             "30d, 4w, 6m, 1y)",
             (int)RT_MIN(e - s, 40), s);
    return lex_error(lx, s, err, msg);
  }
  double v;
  if (num_end - s > 60 || rt__parse_double(s, (size_t)(num_end - s), &v) != 0) {
    snprintf(msg, sizeof msg, "number '%.*s' is out of range", (int)RT_MIN(num_end - s, 40), s);
    return lex_error(lx, s, err, msg);
  }
  t->start = s;
  t->len = (size_t)(p - s);
  t->kind = unit ? TK_DURATION : TK_NUMBER;
  t->num = v;
  if (unit) {
    static const char units[] = "dwmy";
    static const double days[] = {1, 7, 30, 365};
    t->unit = unit;
    t->amount = v;
    t->num = v * days[strchr(units, unit) - units];
  }
  lx->p = p;
  return 0;
}

/* A string in ' or " quotes; the quote character is written twice to stand for itself. */
static int lex_string(rt__lexer *lx, rt__token *t, rt_error *err) {
  const char *s = lx->p;
  char q = *s;
  const char *p = s + 1;
  int line = lx->line;
  const char *line_start = lx->line_start;
  for (;;) {
    if (*p == '\0') {
      char msg[96];
      snprintf(msg, sizeof msg, "unterminated string (no closing %c)", q);
      /* the position is where the string starts */
      rt__lexer at = *lx;
      at.line = line;
      at.line_start = line_start;
      return lex_error(&at, s, err, msg);
    }
    if (*p == q) {
      if (p[1] != q)
        break;
      p += 2;
      continue;
    }
    if (*p == '\n') {
      lx->line++;
      lx->line_start = p + 1;
    }
    p++;
  }
  t->kind = TK_STRING;
  t->start = s;
  t->len = (size_t)(p + 1 - s);
  lx->p = p + 1;
  return 0;
}

static int lex_word(rt__lexer *lx, rt__token *t) {
  const char *s = lx->p, *p = s;
  while (is_alnum(*p) || (*p == '.' && is_alnum(p[1])))
    p++;
  t->start = s;
  t->len = (size_t)(p - s);
  t->kind = TK_IDENT;
  for (size_t k = 0; k < RT_ARRAY_LEN(keywords); k++) {
    const char *w = keywords[k].word;
    size_t i = 0;
    while (i < t->len && w[i] && lower(s[i]) == w[i])
      i++;
    if (i == t->len && !w[i]) {
      t->kind = keywords[k].kind;
      break;
    }
  }
  lx->p = p;
  return 0;
}

/* Punctuation, longest first. */
static const struct {
  const char *text;
  rt__tk kind;
} puncts[] = {
    {"==", TK_EQ},   {"!=", TK_NE},  {"<>", TK_NE},   {"<=", TK_LE},    {">=", TK_GE},
    {"=", TK_EQ},    {"<", TK_LT},   {">", TK_GT},    {"(", TK_LPAREN}, {")", TK_RPAREN},
    {",", TK_COMMA}, {"+", TK_PLUS}, {"-", TK_MINUS}, {"*", TK_STAR},   {"/", TK_SLASH},
};

int rt__rule_lex(rt__lexer *lx, rt__token *t, rt_error *err) {
  skip_space(lx);
  memset(t, 0, sizeof *t);
  t->line = lx->line;
  t->col = col_of(lx, lx->p);
  t->start = lx->p;
  unsigned char c = (unsigned char)*lx->p;
  if (c == '\0') {
    t->kind = TK_END;
    return 0;
  }
  if (is_digit(c))
    return lex_number(lx, t, err);
  if (c == '\'' || c == '"')
    return lex_string(lx, t, err);
  if (is_alpha(c))
    return lex_word(lx, t);
  for (size_t k = 0; k < RT_ARRAY_LEN(puncts); k++) {
    size_t n = strlen(puncts[k].text);
    if (!strncmp(lx->p, puncts[k].text, n)) {
      t->kind = puncts[k].kind;
      t->len = n;
      lx->p += n;
      return 0;
    }
  }
  char msg[96];
  if (c >= 0x20 && c < 0x7F)
    snprintf(msg, sizeof msg, "unexpected character '%c'", c);
  else
    snprintf(msg, sizeof msg, "unexpected byte 0x%02X", c);
  return lex_error(lx, lx->p, err, msg);
}

void rt__rule_tok_describe(const rt__token *t, char *buf, size_t n) {
  const int max = 40;
  int len = (int)RT_MIN(t->len, (size_t)max);
  const char *more = t->len > (size_t)max ? "..." : "";
  if (t->kind == TK_END)
    snprintf(buf, n, "end of rule");
  else if (t->kind == TK_STRING)
    snprintf(buf, n, "string %.*s%s", len, t->start, more);
  else
    snprintf(buf, n, "'%.*s%s'", len, t->start, more);
}
