/* alloc.c - rt_malloc and friends: the single allocation path, with a failure-injection hook
 * used by the allocation-failure tests (SQLite's OOM loop idea). */
#include <retain/alloc.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static atomic_long fail_after = -1;

static atomic_long fail_once = -1;

static int should_fail(void) {
  if (atomic_load_explicit(&fail_once, memory_order_relaxed) >= 0 &&
      atomic_fetch_sub_explicit(&fail_once, 1, memory_order_relaxed) == 0)
    return 1; /* the one failure; the counter goes on below 0: no more */
  long n = atomic_load_explicit(&fail_after, memory_order_relaxed);
  if (n < 0)
    return 0;
  if (n == 0)
    return 1;
  atomic_fetch_sub_explicit(&fail_after, 1, memory_order_relaxed);
  return 0;
}

void rt_alloc_fail_after(long n) { atomic_store(&fail_after, n); }

void rt_alloc_fail_nth(long n) { atomic_store(&fail_once, n); }

/* Big blocks (column arrays of millions of rows) are asked to live on transparent huge pages:
 * one page fault per 2 MiB instead of 512, and fewer TLB misses. A hint the kernel may
 * ignore; glibc serves such blocks from their own mappings, so nothing else shares them. */
#define BIG_BLOCK ((size_t)8 << 20)
static void *hint_big(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
  if (p && n >= BIG_BLOCK) {
    uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
    uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)4095;
    if (e > a)
      madvise((void *)a, e - a, MADV_HUGEPAGE);
  }
#endif
  return p;
}

void *rt_malloc(size_t n) { return should_fail() ? NULL : hint_big(malloc(n ? n : 1), n); }

void *rt_calloc(size_t count, size_t size) {
  return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *rt_realloc(void *p, size_t n) {
  return should_fail() ? NULL : hint_big(realloc(p, n ? n : 1), n);
}

void *rt_reallocarray(void *p, size_t count, size_t size) {
  if (size && count > SIZE_MAX / size)
    return NULL;
  return rt_realloc(p, count * size);
}

void rt_free(void *p) { free(p); }

void *rt__calloc_big(size_t count, size_t size) {
  if (size && count > SIZE_MAX / size)
    return NULL;
  size_t n = count * size;
  if (n < ((size_t)4 << 20))
    return rt_calloc(count, size);
  if (should_fail())
    return NULL;
  /* Large randomly accessed tables (hash slots) run at half the speed on 4 KiB pages: every
   * lookup is a TLB miss. Ask for transparent huge pages; the kernel may still say no. */
  size_t align = (size_t)2 << 20;
  void *p = NULL;
  if (posix_memalign(&p, align, (n + align - 1) / align * align))
    return NULL;
#ifdef MADV_HUGEPAGE
  madvise(p, (n + align - 1) / align * align, MADV_HUGEPAGE);
#endif
  memset(p, 0, n);
  return p;
}

char *rt_strndup(const char *s, size_t n) {
  char *d = rt_malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

char *rt_strdup(const char *s) { return rt_strndup(s, strlen(s)); }
