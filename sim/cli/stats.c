/* sim/cli/stats.c - statistics of repeated runs (see stats.h). */
#include "stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/columns.h"
#include "../io/csv.h"
#include "table.h"

/* t(0.975, df), df = 1..30: Student's table (checked against a numerical
 * integration of the t density to 1e-9). */
static const double t95_small[30] = {
    12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836, 2.446911851,
    2.364624252, 2.306004135, 2.262157163, 2.228138852, 2.200985160, 2.178812830,
    2.160368656, 2.144786688, 2.131449546, 2.119905299, 2.109815578, 2.100922040,
    2.093024054, 2.085963447, 2.079613845, 2.073873068, 2.068657610, 2.063898562,
    2.059538553, 2.055529439, 2.051830516, 2.048407142, 2.045229642, 2.042272456,
};

/* Larger df: table points, interpolated linearly in 1/df; df = 0 stands for infinity. */
static const struct { double df, t; } t95_large[] = {
    { 30, 2.042272456 }, { 40, 2.021075390 }, { 60, 2.000297822 }, { 120, 1.979930405 },
    { 0, 1.959963985 },
};

double stats_t95(double df)
{
    if (!(df >= 1))
        return NAN;
    df = floor(df);
    if (df <= 30)
        return t95_small[(int)df - 1];
    for (size_t i = 0;; i++) {
        double hi = t95_large[i + 1].df;            /* the last entry has hi 0: always taken */
        if (!hi || df <= hi) {
            double a = 1 / t95_large[i].df, b = hi ? 1 / hi : 0;
            return t95_large[i].t + (a - 1 / df) / (a - b) * (t95_large[i + 1].t - t95_large[i].t);
        }
    }
}

void stats_of(const double *x, u32 n, struct stats_sum *s)
{
    double sum = 0, sq = 0;

    s->n = n;
    for (u32 i = 0; i < n; i++)
        sum += x[i];
    s->mean = n ? sum / n : NAN;
    for (u32 i = 0; i < n; i++)
        sq += (x[i] - s->mean) * (x[i] - s->mean);
    s->sd = n >= 2 ? sqrt(sq / (n - 1)) : NAN;
    s->ci95 = n >= 2 ? stats_t95(n - 1) * s->sd / sqrt(n) : NAN;
}

int stats_welch(const struct stats_sum *a, const struct stats_sum *b, double *t, double *df)
{
    double va, vb, se, d;

    if (a->n < 2 || b->n < 2)
        return -1;
    va = a->sd * a->sd / a->n;
    vb = b->sd * b->sd / b->n;
    se = sqrt(va + vb);
    if (se == 0) {
        if (t)
            *t = a->mean == b->mean ? 0 : INFINITY;
        if (df)
            *df = NAN;
        return a->mean != b->mean;
    }
    d = (va + vb) * (va + vb) / (va * va / (a->n - 1) + vb * vb / (b->n - 1));
    if (t)
        *t = (a->mean - b->mean) / se;
    if (df)
        *df = d;
    return fabs(a->mean - b->mean) / se > stats_t95(d);
}

/* ==== stats_write_csv ============================================================== */

enum stat_role { ROLE_DROP, ROLE_KEY, ROLE_STAT };

/* A column's role, from summary.csv's column table (sim/io/columns.h): text
 * columns identify the group, numeric ones get statistics, except the
 * configuration columns, which identify it too, and the seed, which is what
 * varies.  A sweep's own columns: grid.* identify, point and grid.seed go.
 * A column the table does not know (another writer's) is text or number by
 * its cells. */
static enum stat_role role_of(const struct table *t, int c)
{
    static const char *const config[] = { "cpus", "freq_mhz", "quantum" };
    const char *name = t->cell[c];

    if (!strcmp(name, "point") || !strcmp(name, "seed") || !strcmp(name, "grid.seed"))
        return ROLE_DROP;
    if (!strncmp(name, "grid.", 5))
        return ROLE_KEY;
    for (size_t i = 0; i < sizeof(config) / sizeof(config[0]); i++)
        if (!strcmp(name, config[i]))
            return ROLE_KEY;
    for (size_t i = 0; i < summary_nr_cols; i++)
        if (!strcmp(name, summary_cols[i].name))
            return summary_cols[i].type == COL_TEXT ? ROLE_KEY : ROLE_STAT;
    for (u32 r = 0; r < t->nrows; r++)
        if (isnan(table_num_at(t, r, c)))
            return ROLE_KEY;
    return ROLE_STAT;
}

static bool same_group(const struct table *t, const enum stat_role *role, u32 a, u32 b)
{
    for (u32 c = 0; c < t->ncols; c++)
        if (role[c] == ROLE_KEY && strcmp(table_cell(t, a, (int)c), table_cell(t, b, (int)c)))
            return false;
    return true;
}

static void put_num6(FILE *f, double v)
{
    if (!isnan(v))
        fprintf(f, "%.6f", v);
}

static void put_num(FILE *f, double v)
{
    if (!isnan(v))
        fprintf(f, "%.3f", v);
}

static void write_group(FILE *f, const struct table *t, const enum stat_role *role,
                        const u32 *rows, u32 n, double *x)
{
    bool first = true;

    for (u32 c = 0; c < t->ncols; c++)
        if (role[c] == ROLE_KEY) {
            fputs(first ? "" : ",", f);
            csv_str(f, table_cell(t, rows[0], (int)c));
            first = false;
        }
    fprintf(f, "%s%u,", first ? "" : ",", n);
    put_num6(f, n >= 2 ? stats_t95(n - 1) : NAN);
    for (u32 c = 0; c < t->ncols; c++) {
        struct stats_sum s;
        if (role[c] != ROLE_STAT)
            continue;
        for (u32 i = 0; i < n; i++)
            x[i] = table_num_at(t, rows[i], (int)c);
        stats_of(x, n, &s);
        fputc(',', f);
        put_num(f, s.mean);
        fputc(',', f);
        put_num(f, s.sd);
        fputc(',', f);
        put_num(f, s.ci95);
    }
    fputc('\n', f);
}

static void write_header(FILE *f, const struct table *t, const enum stat_role *role)
{
    bool first = true;

    for (u32 c = 0; c < t->ncols; c++)
        if (role[c] == ROLE_KEY) {
            fprintf(f, "%s%s", first ? "" : ",", t->cell[c]);
            first = false;
        }
    fprintf(f, "%sruns,t95", first ? "" : ",");
    for (u32 c = 0; c < t->ncols; c++)
        if (role[c] == ROLE_STAT)
            fprintf(f, ",%s_mean,%s_sd,%s_ci95", t->cell[c], t->cell[c], t->cell[c]);
    fputc('\n', f);
}

int stats_write_csv(const char *dir, const char *in, const char *out, struct sim_err *err)
{
    struct table t;
    struct csv_file cf;
    enum stat_role *role = NULL;
    u32 *rows = NULL;
    bool *done = NULL;
    double *x = NULL;
    char path[4200];
    int rc;

    snprintf(path, sizeof(path), "%s/%s", dir, in);
    if ((rc = table_load(path, &t)))
        return sim_err_set(err, rc, "%s: cannot read for statistics", path);
    role = calloc(t.ncols, sizeof(*role));
    rows = calloc(t.nrows + 1, sizeof(*rows));
    done = calloc(t.nrows + 1, sizeof(*done));
    x = calloc(t.nrows + 1, sizeof(*x));
    if (!role || !rows || !done || !x) {
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory computing statistics");
        goto out;
    }
    for (u32 c = 0; c < t.ncols; c++)
        role[c] = role_of(&t, (int)c);
    if ((rc = csv_open(&cf, dir, out, err)))
        goto out;
    write_header(cf.f, &t, role);
    for (u32 r = 0; r < t.nrows; r++) {
        u32 n = 0;
        if (done[r])
            continue;
        for (u32 q = r; q < t.nrows; q++)
            if (!done[q] && same_group(&t, role, r, q)) {
                done[q] = true;
                rows[n++] = q;
            }
        write_group(cf.f, &t, role, rows, n, x);
    }
    rc = csv_commit(&cf, err);
out:
    free(role);
    free(rows);
    free(done);
    free(x);
    table_free(&t);
    return rc;
}
