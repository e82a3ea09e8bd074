/* rule_internal.h - what the files of the rule language share (not a public API).
 *
 * The pipeline: lex.c cuts the text into tokens, parse.c builds a syntax tree (rt__ast),
 * check.c checks its types and lowers it into a tree of vector operations (rt__rnode), folding
 * constants and inlining in_segment; text.c answers text tests once per dictionary entry;
 * eval.c runs the operations over blocks of customers (and one customer at a time); format.c
 * prints the syntax tree back as text. All the trees live in one arena owned by the rule. */
#ifndef RETAIN_RULE_INTERNAL_H
#define RETAIN_RULE_INTERNAL_H

#include <retain/error.h>
#include <retain/rule.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* ---- arena: many small allocations freed at once ---- */

typedef struct rt__rchunk rt__rchunk;
typedef struct rt__rarena {
  rt__rchunk *head;
} rt__rarena;

/* n zeroed bytes aligned to 16, or NULL when out of memory. */
void *rt__rarena_alloc(rt__rarena *a, size_t n);
/* A NUL-terminated copy of s[0..n), or NULL. */
char *rt__rarena_strndup(rt__rarena *a, const char *s, size_t n);
void rt__rarena_free(rt__rarena *a);

/* ---- tokens (lex.c) ---- */

typedef enum rt__tk {
  TK_END, TK_NUMBER, TK_DURATION, TK_STRING, TK_IDENT,
  /* keywords, matched without regard to case */
  TK_AND, TK_OR, TK_NOT, TK_IN, TK_IS, TK_NULL, TK_LIKE, TK_BETWEEN, TK_TRUE, TK_FALSE,
  TK_NOW, TK_TODAY, TK_CONTAINS, TK_STARTS_WITH, TK_ENDS_WITH,
  /* punctuation */
  TK_LPAREN, TK_RPAREN, TK_COMMA, TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH,
  TK_EQ, TK_NE, TK_LT, TK_LE, TK_GT, TK_GE
} rt__tk;

typedef struct rt__token {
  rt__tk kind;
  const char *start; /* the token's bytes in the text (a string with its quotes) */
  size_t len;
  int line, col;     /* of the first byte, 1-based */
  double num;        /* NUMBER: its value; DURATION: days */
  double amount;     /* DURATION: the number as written ("1.5" of 1.5w) */
  char unit;         /* DURATION: 'd', 'w', 'm' or 'y' */
} rt__token;

typedef struct rt__lexer {
  const char *text, *p;
  const char *line_start;
  int line;
} rt__lexer;

void rt__rule_lex_init(rt__lexer *lx, const char *text);
/* The next token into *t; RT_EPARSE (err set: "syntax error at L:C: ...") for a character
 * that starts no token, an unterminated string or a malformed number. */
int rt__rule_lex(rt__lexer *lx, rt__token *t, rt_error *err);
/* "end of rule", "string 'abc'", "'>='": the token as an error message names it. */
void rt__rule_tok_describe(const rt__token *t, char *buf, size_t n);

/* ---- syntax tree (parse.c) ---- */

typedef enum rt__ak {
  A_NUMBER, A_STRING, A_BOOL, A_NULL, A_NOW, A_FIELD, A_SEGMENT, /* primaries */
  A_NEG, A_ARITH,                                               /* values */
  A_CMP, A_BETWEEN, A_IN, A_ISNULL, A_MATCH,                    /* predicates */
  A_AND, A_OR, A_NOT                                            /* conditions */
} rt__ak;

/* Operators of A_ARITH, A_CMP and A_MATCH. */
enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV };
enum { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };
enum { MATCH_LIKE, MATCH_CONTAINS, MATCH_STARTS, MATCH_ENDS };

typedef struct rt__ast rt__ast;
struct rt__ast {
  uint8_t kind;        /* rt__ak */
  uint8_t op;          /* OP_*, CMP_* or MATCH_* */
  uint8_t neg;         /* `not` in the predicate; A_BOOL: the value; A_NOW: 1 for `today` */
  char unit;           /* A_NUMBER written as a duration: its unit, else 0 */
  int line, col;       /* the token the node is named after (operator, literal, name) */
  int height;          /* levels of operators below: 0 for a leaf */
  double num;          /* A_NUMBER (in days for a duration) */
  double amount;       /* A_NUMBER duration: the number as written */
  const char *str;     /* A_STRING value, A_FIELD and A_SEGMENT name (NUL-terminated) */
  size_t len;
  rt__ast *a, *b, *c;  /* operands: A_NEG a; A_ARITH, A_CMP, A_MATCH a b; A_BETWEEN a b c;
                          A_IN, A_ISNULL, A_NOT a */
  rt__ast **items;     /* A_IN values, A_AND and A_OR operands */
  size_t nitems;
  rt__ast *next;       /* list building in the parser */
};

/* Parses text into *out (nodes and strings in arena). RT_EPARSE with position on syntax
 * errors and exceeded limits, RT_EINVAL for an unknown function, RT_ENOMEM. */
int rt__rule_parse(const char *text, rt__rarena *arena, rt__ast **out, rt_error *err);

/* ---- compiled operations (check.c builds, eval.c runs) ---- */

typedef enum rt__rop {
  /* values: a double per customer, NAN = missing */
  R_CONST,   /* c */
  R_NUMCOL,  /* col->num */
  R_DATECOL, /* col->day as doubles */
  R_ARITH,   /* a arith b (arith: OP_*) */
  R_NEG,     /* -a */
  /* conditions: a bit per customer */
  R_FALSE, R_TRUE,
  R_AND, R_OR, /* kids[0..nkids) */
  R_NOT,       /* the complement of a */
  R_CMP,       /* a cmp b, or a cmp c when b is NULL; false when either is missing */
  R_RANGE,     /* lo <= a <= hi; neg: a < lo or a > hi (a present) */
  R_IRANGE,    /* ints[i] in [ilo, ihi]; neg: present and outside (ilo > INT32_MIN). ints is
                  a DATE column's day or a NUMBER column's i32: INT32_MIN = missing */
  R_IN,        /* a is one of list[0..nlist); neg: a present and none of them */
  R_IIN,       /* ints[i] is one of ilist[0..nlist) (sorted, none INT32_MIN); neg: present
                  and none of them */
  R_PRESENT,   /* a is not missing; or, with col set, col's text code is */
  R_TEXTEQ,    /* col's code is code; neg: present and not code */
  R_TEXTSET,   /* col's code is in the bitset set (over 0..ndict) */
  R_TEXTCMP    /* rank[col code] cmp rank2[col2 code], both present */
} rt__rop;

typedef struct rt__rnode rt__rnode;
struct rt__rnode {
  uint8_t op;            /* rt__rop */
  uint8_t arith, cmp;    /* OP_*, CMP_* */
  uint8_t neg;
  rt__rnode *a, *b;
  rt__rnode **kids;
  size_t nkids;
  const rt_column *col, *col2;
  double c, lo, hi;
  int32_t ilo, ihi;
  uint32_t code;
  const uint64_t *set;
  const double *list;
  const int32_t *ints, *ilist; /* R_IRANGE, R_IIN */
  size_t nlist;
  const uint32_t *rank, *rank2;
  size_t off;            /* scratch bytes where the node's block output (values) or temporary
                            words (R_AND, R_OR) live; set by rt__rule_plan */
};

/* The compiled rule (rt_rule of rule.h). */
struct rt_rule {
  rt__rarena arena;       /* every node, table and string below */
  const rt_rule_env *env;
  size_t n;
  rt__ast *ast;           /* the parsed text, for rt_rule_format */
  rt__rnode *root;        /* a condition */
  size_t scratch;         /* bytes of scratch one block of evaluation needs */
  const char **fields;    /* names read, in order of first use */
  size_t nfields;
  int uses_clock;
  const char **warnings;  /* rt_rule_warning's sentences (in the arena) */
  size_t nwarnings, capwarnings;
};

/* Customers per evaluation block: scratch values are RT__RULE_BLOCK doubles. */
#define RT__RULE_BLOCK 1024
/* From this many customers rt_rule_eval uses 2 threads. */
#define RT__RULE_PARALLEL_MIN ((size_t)1 << 16)

/* Assigns scratch offsets to the nodes under root; returns the bytes needed. */
size_t rt__rule_plan(rt__rnode *root);

/* ---- shared scalar semantics: one definition for folding, the vector and scalar paths ---- */

/* a arith b; division by zero is missing (the + 0.0 / + NAN form vectorises). */
static inline double rt__rule_arith(int op, double a, double b) {
  switch (op) {
  case OP_ADD:
    return a + b;
  case OP_SUB:
    return a - b;
  case OP_MUL:
    return a * b;
  default:
    return a / b + (b == 0 ? NAN : 0.0);
  }
}

/* a cmp b on doubles: false when either is missing (NAN). */
static inline int rt__rule_cmp(int cmp, double a, double b) {
  switch (cmp) {
  case CMP_EQ:
    return a == b;
  case CMP_NE:
    return a < b || a > b;
  case CMP_LT:
    return a < b;
  case CMP_LE:
    return a <= b;
  case CMP_GT:
    return a > b;
  default:
    return a >= b;
  }
}

/* The operator with its operands swapped (a < b is b > a). */
static inline int rt__rule_cmp_mirror(int cmp) {
  static const uint8_t m[] = {CMP_EQ, CMP_NE, CMP_GT, CMP_GE, CMP_LT, CMP_LE};
  return m[cmp];
}

/* The signs of (a - b) a comparison accepts, as bits: 1 for a < b, 2 for a = b, 4 for
 * a > b. Used where ordering is of integers (text ranks). */
static inline unsigned rt__rule_cmp_signs(int cmp) {
  static const uint8_t s[] = {2, 5, 1, 3, 4, 6};
  return s[cmp];
}

extern const char *const rt__rule_cmp_text[6];   /* "=", "!=", "<", ... */
extern const char *const rt__rule_match_text[4]; /* "like", "contains", ... */

/* ---- text (text.c) ---- */

/* 1 if s matches the pattern of kind (MATCH_*) p: like's % is any run of bytes, _ one
 * character (a whole UTF-8 sequence), \ makes the next character literal; the other kinds
 * compare bytes. Runs in O(len(s) * len(p)) at worst. */
int rt__rule_text_match(int kind, const char *s, const char *p, size_t plen);

/* Per text column, the dictionary's codes sorted by their strings: built once per compile. */
typedef struct rt__textindex {
  uint32_t *sorted; /* codes ordered by strcmp of their strings */
  size_t n;
} rt__textindex;
int rt__rule_text_index(const rt_column *col, rt__textindex *ix);
void rt__rule_text_index_free(rt__textindex *ix);
/* The codes whose string equals s: sorted[*first .. *first + count) (count 0 if none). */
size_t rt__rule_text_find(const rt_column *col, const rt__textindex *ix, const char *s,
                          size_t *first);
/* Ranks of the entries of two dictionaries in their merged order (equal strings get equal
 * ranks): ra has a->ndict entries, rb b->ndict. */
int rt__rule_text_ranks(const rt_column *a, const rt__textindex *ia, const rt_column *b,
                        const rt__textindex *ib, uint32_t *ra, uint32_t *rb);

/* ---- evaluation (eval.c) ---- */

/* The condition c for customers lo..lo+len-1 (len <= RT__RULE_BLOCK), bit k of out[k / 64]
 * for customer lo + k; bits past len in the last word are unspecified. scratch has the bytes
 * rt__rule_plan asked for. */
void rt__rule_cond_block(const rt__rnode *c, size_t lo, size_t len, uint64_t *out, char *scratch);
/* The condition, or the value, for one customer. */
int rt__rule_cond_at(const rt__rnode *c, size_t i);
double rt__rule_value_at(const rt__rnode *v, size_t i);

#endif
