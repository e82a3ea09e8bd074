/* error.c - rt_strerror and the rt_error detail helpers. */
#include <retain/error.h>

#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *rt_strerror(int code) {
  switch (code) {
  case RT_OK:
    return "success";
#define RT__ERR_CASE(name, val, msg) \
  case RT_E##name:                   \
    return msg;
    RT_ERRNO_MAP(RT__ERR_CASE)
#undef RT__ERR_CASE
  default:
    return "unknown error";
  }
}

int rt_error_set(rt_error *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}

void rt_error_prefix(rt_error *err, const char *fmt, ...) {
  if (!err)
    return;
  char pre[512], old[sizeof err->msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pre, sizeof pre, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  rt__strjoin(err->msg, sizeof err->msg, pre, old, NULL);
}

void rt_error_clear(rt_error *err) {
  if (err) {
    err->code = 0;
    err->msg[0] = '\0';
  }
}
