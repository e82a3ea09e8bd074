/* columns.h - what the churn modules share about a table's columns: widening it (events.c,
 * attrs.c) and a column's median (what is typical of it: model.c, reasons.c). */
#ifndef RETAIN_CHURN_COLUMNS_H
#define RETAIN_CHURN_COLUMNS_H

#include <retain/churn.h>
#include <retain/model.h>

/* rowof[store id] = row + 1 for the table's customers (0: not a row); *nids its length. NULL
 * when out of memory. */
uint32_t *rt__rows_by_store_id(const rt_model *m, const uint32_t *customer, size_t n,
                               size_t *nids);
/* Replaces t's matrix and names by wider ones (nc columns, t's first, then the new): the old
 * names move over, the old arrays are freed. */
void rt__ctable_widen(rt_ctable *t, float *x, char **names, size_t nc);

/* The median of column j over t's rows, missing values left out (NAN when all are missing, or
 * out of memory). */
double rt__ctable_median(const rt_ctable *t, size_t j);

#endif
