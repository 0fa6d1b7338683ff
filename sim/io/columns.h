/* sim/io/columns.h - the columns of summary.csv and cpus.csv, as tables.
 *
 * One table per file: {name, type, offset into a flat row struct}.  The CSV
 * header, every row and the test that docs/output.md documents every column
 * all read the table, and so can any other writer of the same data (e.g. a
 * JSON summary): iterate the table, read each cell with col_u64/col_f64/
 * col_text.  Adding a column = one field in the row struct, one table row
 * (in file order), and its line in docs/output.md.
 *
 * The row structs are filled from a finished simulation by col_summary_fill
 * and col_cpu_fill; they hold copies, so they outlive nothing.
 */
#ifndef TLBSIM_COLUMNS_H
#define TLBSIM_COLUMNS_H

#include <stddef.h>
#include <stdio.h>

#include "../../models/base.h"
#include "../../models/machine.h"
#include "../engine/sim.h"

enum col_type {
    COL_TEXT,                           /* const char *, CSV-quoted when needed */
    COL_U32,                            /* u32, decimal */
    COL_U64,                            /* u64, decimal */
    COL_F1,                             /* double, one decimal ("%.1f") */
};

struct col {
    const char *name;                   /* header cell */
    enum col_type type;
    size_t off;                         /* offset of the value in the row struct */
};

/* One summary.csv row: one policy's run. */
struct summary_row {
    const char *trace;                  /* base name of the trace file */
    const char *machine;                /* the model's name */
    const char *policy;
    u32 cpus;                           /* simulated CPUs */
    cycles_t cycles;                    /* sim_end_cycles */
    struct sim_totals t;                /* sim_totals */
    double lat_mean;                    /* shootdown latency: mean (0 without shootdowns) */
    u64 lat_p50, lat_p99, lat_max;      /* ... its quantiles and maximum */
    u32 freq_mhz, quantum;              /* model values that shape the run */
    u64 seed;
};

/* One cpus.csv row: one CPU of one policy's run. */
struct cpu_row {
    const char *policy;
    u32 cpu;
    struct cpu_stats st;
};

extern const struct col summary_cols[];
extern const size_t summary_nr_cols;
extern const struct col cpus_cols[];
extern const size_t cpus_nr_cols;

/* Fill r from the finished simulation s of machine m (trace: path or name;
 * its directories are dropped). */
void col_summary_fill(struct summary_row *r, const char *trace, const struct machine *m,
                      const char *policy, const struct sim *s);
void col_cpu_fill(struct cpu_row *r, const char *policy, const struct sim *s, u32 cpu);

/* Cell values (the column's type must match). */
static inline u64 col_u64(const struct col *c, const void *row)
{
    const char *p = (const char *)row + c->off;
    return c->type == COL_U32 ? *(const u32 *)(const void *)p : *(const u64 *)(const void *)p;
}
static inline double col_f64(const struct col *c, const void *row)
{
    return *(const double *)(const void *)((const char *)row + c->off);
}
static inline const char *col_text(const struct col *c, const void *row)
{
    return *(const char *const *)(const void *)((const char *)row + c->off);
}

/* The header line, and one row, of a CSV file with columns cols[0..n). */
void col_csv_header(FILE *f, const struct col *cols, size_t n);
void col_csv_row(FILE *f, const struct col *cols, size_t n, const void *row);

#endif
