/* schema_sqlite.h - the SQLite schema migrations (schema_sqlite.c), used by store_sqlite.c. */
#ifndef RETAIN_SCHEMA_SQLITE_H
#define RETAIN_SCHEMA_SQLITE_H

#include <retain/error.h>

#include <sqlite3.h>

/* The newest schema version this build knows. */
int rt__sqlite_latest_version(void);

/* Brings db up to the latest version: reads schema_migrations and applies the missing steps in
 * one write transaction. RT_ESCHEMA when the database is newer than this build; a read-only
 * open (read_only) of an older database is refused with RT_ESTORE. *version is the version the
 * database is at afterwards. path is only for messages. */
int rt__sqlite_migrate(sqlite3 *db, const char *path, int read_only, int *version,
                       rt_error *err);

/* Whether an SQLite result code (extended or not) means the file is damaged: SQLITE_CORRUPT
 * (a page does not hold what it should) or SQLITE_NOTADB (the header is not SQLite's). */
int rt__sqlite_is_damage(int code);
/* Fills err (RT_ESTORE) with the message every damaged store gets: what SQLite found (code,
 * detail) and what to do - restore a backup, or recover what is left with sqlite3's .recover.
 * A missing header (SQLITE_NOTADB) may also be a file that never was a store: it says both. */
int rt__sqlite_damaged(const char *path, int code, const char *detail, rt_error *err);

/* The indexes that bulk mode drops and rebuilds: the unique ones on ext_id and the
 * by-customer ones of the bulk-loaded tables. Only a unique one can fail to rebuild for a
 * duplicate key. */
typedef struct rt__sqlite_index {
  const char *table;
  const char *name;
  int unique;
  const char *create_sql;
} rt__sqlite_index;
#define RT__SQLITE_BULK_INDEXES 5
extern const rt__sqlite_index rt__sqlite_bulk_indexes[RT__SQLITE_BULK_INDEXES];

#endif
