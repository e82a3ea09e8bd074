/* alloc.h - the one allocation pair of libretain.
 *
 * Everything the library allocates goes through these, so memory returned by a libretain call
 * is freed with rt_free (or the object's own _free function) and tests can inject failures. */
#ifndef RETAIN_ALLOC_H
#define RETAIN_ALLOC_H

#include <stddef.h>

void *rt_malloc(size_t n);
void *rt_calloc(size_t count, size_t size);
void *rt_realloc(void *p, size_t n);
/* Grows an array of count elements of size bytes; NULL (p untouched) on overflow or failure. */
void *rt_reallocarray(void *p, size_t count, size_t size);
void rt_free(void *p); /* p may be NULL */
char *rt_strdup(const char *s);
char *rt_strndup(const char *s, size_t n);

/* Test hook: after n more successful allocations, every allocation fails (n < 0 disables). */
void rt_alloc_fail_after(long n);
/* Test hook: the allocation after n more successful ones fails, and only that one (n < 0:
 * none) - a transient failure, which code that gives up at the first one never meets. */
void rt_alloc_fail_nth(long n);

#endif
