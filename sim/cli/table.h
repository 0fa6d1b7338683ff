/* sim/cli/table.h - a whole RFC 4180 CSV file in memory, for the readers of
 * tlbsim's own outputs (report, the statistics of repeated runs).
 *
 * table_load() reads the file, unquotes every field in place and indexes
 * the cells; the first row is the header.  Columns are found by name. */
#ifndef TLBSIM_TABLE_H
#define TLBSIM_TABLE_H

#include "../../models/base.h"

#define TABLE_MAX_BYTES (1ull << 31)    /* a CSV larger than this is not an input */

struct table {
    char *text;                         /* the file, unquoted in place */
    char **cell;                        /* (nrows + 1) * ncols: the header row first */
    u32 ncols;                          /* header fields */
    u32 nrows;                          /* data rows */
};

/* Load path.  SIM_ENOENT when absent (no message); other errors print one
 * line "tlbsim: PATH[:LINE]: what" on stderr and return SIM_EPARSE, SIM_EIO,
 * SIM_ELIMIT or SIM_ENOMEM. */
int table_load(const char *path, struct table *t);
void table_free(struct table *t);

/* Column index of name, or -1. */
int table_col(const struct table *t, const char *name);
/* Cell of data row `row` (0-based) in column col; "" when col < 0. */
const char *table_cell(const struct table *t, u32 row, int col);
/* The cell as a number; NAN when the column is absent or the cell is empty
 * or not a number. */
double table_num(const struct table *t, u32 row, const char *name);
double table_num_at(const struct table *t, u32 row, int col);

#endif
