/* csv_internal.h - test hooks of the CSV reader (src/io/csv.c); not part of the public API.
 * The unit tests and the fuzz target shrink the read size so that records are cut by chunk
 * boundaries at every byte. */
#ifndef RETAIN_CSV_INTERNAL_H
#define RETAIN_CSV_INTERNAL_H

#include <retain/csv.h>
#include <stddef.h>

/* Sets how many bytes each read() of a file reader asks for (4 MiB by default; n >= 1). Call it
 * right after rt_csv_open_file, before the first rt_csv_next; memory readers ignore it. */
void rt__csv_set_chunk(rt_csv *c, size_t n);

#endif
