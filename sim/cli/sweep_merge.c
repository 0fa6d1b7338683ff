/* sim/cli/sweep_merge.c - `tlbsim sweep --merge DIR` (see sweep.h): the
 * points' summary.csv and flushes.csv, in point order, each row prefixed with
 * its plan row (point,grid.KEY...), so the result is byte-identical whatever
 * --jobs was or wherever the points ran; and the statistics over a seed axis. */
#include "sweep.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../io/csv.h"
#include "../io/outdir.h"
#include "cli.h"
#include "stats.h"

#define bad sweep_bad

struct plan {
    char *header;                         /* "point,grid.a,grid.b" */
    char **rows;                          /* "N,va,vb" */
    u32 *point;                           /* N of each row */
    u32 n;
};

static void plan_free(struct plan *pl)
{
    for (u32 i = 0; i < pl->n; i++)
        free(pl->rows[i]);
    free(pl->rows);
    free(pl->point);
    free(pl->header);
}

static int read_plan(const char *dir, struct plan *pl)
{
    char path[SWEEP_PATH + 16], *line = NULL, *end;
    size_t cap = 0;
    ssize_t len;
    u32 lineno = 0;
    FILE *f;
    int rc = 0;

    memset(pl, 0, sizeof(*pl));
    snprintf(path, sizeof(path), "%s/points.csv", dir);
    if (!(f = fopen(path, "r")))
        return bad("%s: cannot read (not a sweep directory?): %s", path, strerror(errno));
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (lineno == 1) {
            if (strncmp(line, "point", 5) || (line[5] && line[5] != ',')) {
                rc = bad("%s:1: not a sweep plan (expected a 'point' column)", path);
                break;
            }
            pl->header = strdup(line);
            continue;
        }
        if (!(pl->n & (pl->n - 1)) || !pl->n) {
            u32 ncap = pl->n ? pl->n * 2 : 16;
            char **r = realloc(pl->rows, ncap * sizeof(*r));
            u32 *pt = r ? realloc(pl->point, ncap * sizeof(*pt)) : NULL;
            if (r)
                pl->rows = r;
            if (!r || !pt) {
                rc = EXIT_INTERNAL;
                break;
            }
            pl->point = pt;
        }
        unsigned long v = strtoul(line, &end, 10);
        if (end == line || (*end && *end != ',') || v >= SWEEP_MAX_POINTS) {
            rc = bad("%s:%u: point: not a point number", path, lineno);
            break;
        }
        pl->point[pl->n] = (u32)v;
        pl->rows[pl->n++] = strdup(line);
    }
    free(line);
    fclose(f);
    if (!rc && (!pl->header || !pl->n))
        rc = bad("%s: no points", path);
    return rc;
}

/* Append DIR/points/NNNN/NAME to out with the plan row in front of each line. */
static int merge_one(FILE *out, const char *dir, const struct plan *pl, u32 i,
                     const char *name, char **header)
{
    char path[SWEEP_PATH + 64], *line = NULL;
    size_t cap = 0;
    ssize_t len;
    FILE *f;
    int rc = 0;
    bool first = true;

    snprintf(path, sizeof(path), "%s/points/%04u/%s", dir, pl->point[i], name);
    if (!(f = fopen(path, "r")))
        return bad("%s: missing: point %u has not run (or failed; see its run.log)", path,
                   pl->point[i]);
    while ((len = getline(&line, &cap, f)) > 0) {
        if (first) {
            first = false;
            if (!*header) {
                *header = strdup(line);
                fprintf(out, "%s,%s", pl->header, line);
            } else if (strcmp(*header, line)) {
                rc = bad("%s:1: columns differ from the first point's", path);
                break;
            }
            continue;
        }
        fprintf(out, "%s,%s", pl->rows[i], line);
        if (line[len - 1] != '\n')
            fputc('\n', out);
    }
    free(line);
    fclose(f);
    if (!rc && first)
        rc = bad("%s: empty", path);
    return rc;
}

static int merge_file(const char *dir, const struct plan *pl, const char *name,
                      const char *merged)
{
    struct csv_file cf;
    struct sim_err err = { 0 };
    char *header = NULL;
    int rc;

    if ((rc = csv_open(&cf, dir, merged, &err)))
        return bad("%s", err.msg);
    for (u32 i = 0; i < pl->n && !rc; i++)
        rc = merge_one(cf.f, dir, pl, i, name, &header);
    free(header);
    if (rc) {
        csv_abort(&cf);
        return rc;
    }
    if (csv_commit(&cf, &err))
        return bad("%s", err.msg);
    return 0;
}

static bool has_seed_axis(const struct plan *pl)
{
    const char *h = strstr(pl->header, ",grid.seed");

    return h && (h[10] == ',' || !h[10]);
}

/* sweep_stats.csv over the seeds when the plan has a seed axis (a stale
 * one from an earlier sweep in DIR is removed otherwise). */
static int merge_stats(const char *dir, const struct plan *pl)
{
    struct sim_err err = { 0 };
    char p[SWEEP_PATH + 32];

    if (has_seed_axis(pl)) {
        if (stats_write_csv(dir, "sweep_summary.csv", "sweep_stats.csv", &err))
            return bad("%s", err.msg);
        return 0;
    }
    snprintf(p, sizeof(p), "%s/sweep_stats.csv", dir);
    if (unlink(p) && errno != ENOENT)
        return bad("%s: cannot remove: %s", p, strerror(errno));
    return 0;
}

int sweep_merge(const char *dir, bool quiet)
{
    struct plan pl;
    struct outdir od;
    struct sim_err err = { 0 };
    int rc;

    /* the same lock as `tlbsim run --out DIR` (outdir.h): one writer */
    if (outdir_lock(&od, dir, &err))
        return bad("%s", err.msg);
    if ((rc = read_plan(dir, &pl)))
        goto out;
    if ((rc = merge_file(dir, &pl, "summary.csv", "sweep_summary.csv")))
        goto out;
    if ((rc = merge_file(dir, &pl, "flushes.csv", "sweep_flushes.csv")))
        goto out;
    if ((rc = merge_stats(dir, &pl)))
        goto out;
    if (!quiet)
        printf("wrote %s/sweep_summary.csv (%u rows), %s/sweep_flushes.csv%s\n", dir, pl.n, dir,
               has_seed_axis(&pl) ? ", sweep_stats.csv" : "");
out:
    plan_free(&pl);
    outdir_unlock(&od);
    return rc;
}
