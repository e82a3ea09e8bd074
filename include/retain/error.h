/* error.h - error codes and the error detail that every fallible libretain call can fill.
 *
 * Functions return int: 0 on success, a negative RT_E* code on failure. Where a human needs
 * more than the code ("orders.csv:812:3: invalid date '2023-13-45'"), the function takes an
 * rt_error * (which may be NULL) and writes the detail there. */
#ifndef RETAIN_ERROR_H
#define RETAIN_ERROR_H

#include <stddef.h>

#define RT_ERRNO_MAP(X)                                   \
  X(NOMEM, -1, "out of memory")                           \
  X(INVAL, -2, "invalid argument")                        \
  X(IO, -3, "input/output error")                         \
  X(PARSE, -4, "invalid input")                           \
  X(NOTFOUND, -5, "not found")                            \
  X(STORE, -6, "store error")                             \
  X(EXISTS, -7, "already exists")                         \
  X(RANGE, -8, "value out of range")                      \
  X(UNSUPPORTED, -9, "not supported")                     \
  X(SCHEMA, -10, "store schema is newer than this retain") \
  X(BUSY, -11, "store is busy")                           \
  X(EMPTY, -12, "no data")                                \
  X(ERASED, -13, "erased at the customer's request")

enum {
  RT_OK = 0,
#define RT__ERR_ENUM(name, val, msg) RT_E##name = (val),
  RT_ERRNO_MAP(RT__ERR_ENUM)
#undef RT__ERR_ENUM
};

/* The detail of the last failure. msg is always NUL-terminated. */
typedef struct rt_error {
  int code;       /* RT_E* code, 0 when unset */
  char msg[1024]; /* human-readable detail, "" when unset */
} rt_error;

/* The fixed text of an error code ("invalid input"); never NULL. */
const char *rt_strerror(int code);

/* Sets err (if not NULL) to code and a printf-style message; returns code so callers can write
 * `return rt_error_set(err, RT_EPARSE, "...")`. */
int rt_error_set(rt_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prefixes the existing message with a printf-style context ("orders.csv: " + msg). */
void rt_error_prefix(rt_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

void rt_error_clear(rt_error *err);

#endif
