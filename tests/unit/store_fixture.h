/* store_fixture.h - what the unit tests that open real stores share: a temporary directory
 * for the test group, a fresh store path in it for each test, and opening and filling one.
 * Included by one test file each (static functions, one copy per test program). */
#ifndef RETAIN_TESTS_STORE_FIXTURE_H
#define RETAIN_TESTS_STORE_FIXTURE_H

#include <retain/store.h>

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];
static char dbpath[512];

/* The group's directory, /tmp/rt_test_TAG_XXXXXX; 0 or -1 (cmocka's group setup). */
static inline int fixture_dir_make(const char *tag) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/rt_test_%s_XXXXXX", tag);
  return mkdtemp(tmpdir) ? 0 : -1;
}

/* Removes the directory and the files in it. */
static inline int fixture_dir_remove(void) {
  DIR *d = opendir(tmpdir);
  if (!d)
    return -1;
  struct dirent *e;
  char p[600];
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
      unlink(p);
    }
  closedir(d);
  return rmdir(tmpdir);
}

/* A fresh database path in the directory for one test (its files removed). */
static inline const char *fresh(const char *name) {
  static const char *const suffix[] = {"", "-wal", "-shm"};
  char p[600];
  snprintf(dbpath, sizeof dbpath, "%s/%s.db", tmpdir, name);
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s%s", dbpath, suffix[i]);
    unlink(p);
  }
  return dbpath;
}

static inline rt_store *open_rw(const char *path) {
  rt_error err = {0};
  rt_store *st = NULL;
  rt_store_config cfg = {.path = path};
  if (rt_store_open(&cfg, &st, &err))
    fail_msg("open %s: %s", path, err.msg);
  return st;
}

/* The customer of external id ext, made if new. */
static inline int64_t cust(rt_store *st, const char *ext) {
  int64_t id = 0;
  int created;
  rt_error err = {0};
  if (rt_store_customer_upsert(st, ext, strlen(ext), 1000, &id, &created, &err))
    fail_msg("upsert %s: %s", ext, err.msg);
  return id;
}

#endif
