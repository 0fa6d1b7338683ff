/* sim/io/meas.c - measurement cases: names and the equivalent traces.
 *
 * The trace of a case mirrors what the probe's threads do (sim/cli/probe.c):
 *
 *   CPU 0            the measuring thread: per iteration, write every page,
 *                    then the timed call (zap, unmap, or protect to "r");
 *                    munmap maps the range again first, mprotect restores
 *                    "rw" after (untimed; the simulator flushes only
 *                    permission reductions, Linux flushes after it too);
 *   CPU 1..threads   siblings: switch to the mm and stay (spin: mm loaded,
 *                    not lazy), or switch and go idle (sleep: lazy TLB).
 *
 * The range starts 2 MiB-aligned, so its page table holds nothing else and
 * munmap frees it (freed_tables), as the probe's MAP_FIXED_NOREPLACE range
 * does.  Lines are canonical JSON, written without cJSON.
 */
#include "meas.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEAS_VA 0x7f0000000000ull       /* 1 GiB-aligned: alone in its page table */

const char *const meas_reason_names[MEAS_NR_REASONS] = {
    "task_switch", "remote_shootdown", "local_shootdown", "local_mm_shootdown",
    "remote_send_ipi",
};
const char *const meas_op_names[MEAS_NR_OPS] = { "madvise", "munmap", "mprotect" };
const char *const meas_sib_names[MEAS_NR_SIBS] = { "none", "spin", "sleep" };

void meas_case_name(struct meas_case *c)
{
    if (c->sib == MEAS_SIB_NONE)
        snprintf(c->name, sizeof(c->name), "%s-%up-none", meas_op_names[c->op], c->pages);
    else
        snprintf(c->name, sizeof(c->name), "%s-%up-%s%u", meas_op_names[c->op], c->pages,
                 meas_sib_names[c->sib], c->threads);
}

/* ---- building the lines ------------------------------------------------- */

struct lines {
    char **v;
    u32 n, cap;
};

static int add_line(struct lines *l, const char *text)
{
    if (l->n == l->cap) {
        u32 cap = l->cap ? l->cap * 2 : 32;
        char **v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return SIM_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(text)))
        return SIM_ENOMEM;
    l->n++;
    return SIM_OK;
}

static int add_fmt(struct lines *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_fmt(struct lines *l, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return add_line(l, buf);
}

/* {"op":"access","cpu":0,"va":[every page],"kind":"w"} */
static int add_touch(struct lines *l, u32 pages)
{
    size_t cap = 64 + (size_t)pages * 20, n;
    char *buf = malloc(cap);
    int rc;

    if (!buf)
        return SIM_ENOMEM;
    n = (size_t)snprintf(buf, cap, "{\"op\":\"access\",\"cpu\":0,\"va\":[");
    for (u32 i = 0; i < pages; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s\"0x%" PRIx64 "\"", i ? "," : "",
                              (u64)(MEAS_VA + ((u64)i << PAGE_SHIFT_4K)));
    snprintf(buf + n, cap - n, "],\"kind\":\"w\"}");
    rc = add_line(l, buf);
    free(buf);
    return rc;
}

static int add_iteration(struct lines *l, const struct meas_case *c, u64 len)
{
    const char *range = "\"mm\":1,\"va\":\"0x7f0000000000\"";
    int rc = SIM_OK;

    if (c->op == MEAS_MUNMAP)
        rc = add_fmt(l, "{\"op\":\"map\",\"cpu\":0,%s,\"len\":\"0x%" PRIx64
                     "\",\"page\":\"4k\",\"prot\":\"rw\"}", range, len);
    if (!rc)
        rc = add_touch(l, c->pages);
    if (rc)
        return rc;
    switch (c->op) {
    case MEAS_MADVISE:
        return add_fmt(l, "{\"op\":\"zap\",\"cpu\":0,%s,\"len\":\"0x%" PRIx64 "\"}", range, len);
    case MEAS_MUNMAP:
        return add_fmt(l, "{\"op\":\"unmap\",\"cpu\":0,%s,\"len\":\"0x%" PRIx64 "\"}", range, len);
    case MEAS_MPROTECT:
        if ((rc = add_fmt(l, "{\"op\":\"protect\",\"cpu\":0,%s,\"len\":\"0x%" PRIx64
                          "\",\"prot\":\"r\"}", range, len)))
            return rc;
        return add_fmt(l, "{\"op\":\"protect\",\"cpu\":0,%s,\"len\":\"0x%" PRIx64
                       "\",\"prot\":\"rw\"}", range, len);
    default:
        return SIM_EINVAL;
    }
}

static void lines_free(char **v, u32 n)
{
    for (u32 i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int meas_case_trace(struct meas_case *c, u32 iterations, struct sim_err *err)
{
    struct lines l = { 0 };
    u64 len = (u64)c->pages << PAGE_SHIFT_4K;
    int rc;

    if (c->pages == 0 || c->pages > MEAS_MAX_PAGES || c->threads > MEAS_MAX_THREADS ||
        (c->sib == MEAS_SIB_NONE) != (c->threads == 0) || iterations == 0 ||
        iterations > MEAS_MAX_LINES / 4)
        return sim_err_set(err, SIM_EINVAL, "%s: case cannot be expressed as a trace", c->name);
    rc = add_fmt(&l, "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":%u,\"name\":\"%s\","
                 "\"source\":\"tlbsim probe\"}", c->threads + 1, c->name);
    if (!rc)
        rc = add_fmt(&l, "{\"op\":\"mm_new\",\"mm\":1}");
    if (!rc && c->op != MEAS_MUNMAP)
        rc = add_fmt(&l, "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x%" PRIx64
                     "\",\"page\":\"4k\",\"prot\":\"rw\"}", len);
    for (u32 cpu = 0; !rc && cpu <= c->threads; cpu++) {
        rc = add_fmt(&l, "{\"op\":\"switch\",\"cpu\":%u,\"mm\":1}", cpu);
        if (!rc && cpu && c->sib == MEAS_SIB_SLEEP)
            rc = add_fmt(&l, "{\"op\":\"idle\",\"cpu\":%u}", cpu);
    }
    for (u32 i = 0; !rc && i < iterations; i++)
        rc = add_iteration(&l, c, len);
    if (rc) {
        lines_free(l.v, l.n);
        return sim_err_set(err, rc, "%s: out of memory building its trace", c->name);
    }
    lines_free(c->trace, c->nr_trace);
    c->trace = l.v;
    c->nr_trace = l.n;
    return SIM_OK;
}

int meas_case_add(struct meas *m, const struct meas_case *c, struct sim_err *err)
{
    struct meas_case *v;

    if (m->nr_cases >= MEAS_MAX_CASES)
        return sim_err_set(err, SIM_ELIMIT, "more than %u cases", MEAS_MAX_CASES);
    if (!(v = realloc(m->cases, (m->nr_cases + 1) * sizeof(*v))))
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    m->cases = v;
    m->cases[m->nr_cases++] = *c;      /* takes the trace lines and rep_ns */
    return SIM_OK;
}

void meas_case_free(struct meas_case *c)
{
    lines_free(c->trace, c->nr_trace);
    free(c->rep_ns);
    c->trace = NULL;
    c->nr_trace = 0;
    c->rep_ns = NULL;
    c->nr_rep = 0;
}

void meas_free(struct meas *m)
{
    for (u32 i = 0; i < m->nr_cases; i++)
        meas_case_free(&m->cases[i]);
    free(m->cases);
    m->cases = NULL;
    m->nr_cases = 0;
}

void meas_names_free(char **names, u32 nr)
{
    lines_free(names, nr);
}

/* ---- pooling runs --------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void meas_sort(double *v, u32 n)
{
    qsort(v, n, sizeof(v[0]), cmp_double);
}

double meas_quantile(const double *sorted, u32 n, double q)
{
    double pos = q * (n - 1);
    u32 i = (u32)pos;

    return i + 1 < n ? sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]) : sorted[n - 1];
}

static const struct meas_case *pool_find(const struct meas *m, const char *name)
{
    for (u32 i = 0; i < m->nr_cases; i++)
        if (!strcmp(m->cases[i].name, name))
            return &m->cases[i];
    return NULL;
}

/* c (a copy of runs[0]'s case, trace not yet copied) gets the pooled values. */
static int pool_case(const struct meas *runs, u32 n, struct meas_case *c)
{
    u32 total = 0, k = 0, missing = 0;
    double *v, *sorted;

    for (u32 r = 0; r < n; r++) {
        const struct meas_case *x = pool_find(&runs[r], c->name);
        if (!x || x->skipped)
            missing = missing ? missing : r + 1;
        else
            total += x->nr_rep ? x->nr_rep : 3;
    }
    c->rep_ns = NULL;
    c->nr_rep = 0;
    if (missing) {
        c->skipped = true;
        snprintf(c->reason, sizeof(c->reason), "not measured in every run (run %u)", missing);
        return SIM_OK;
    }
    if (!(v = malloc(sizeof(double) * total)) || !(sorted = malloc(sizeof(double) * total))) {
        free(v);
        return SIM_ENOMEM;
    }
    for (u32 r = 0; r < n; r++) {
        const struct meas_case *x = pool_find(&runs[r], c->name);
        if (x->nr_rep) {
            memcpy(v + k, x->rep_ns, sizeof(double) * x->nr_rep);
            k += x->nr_rep;
        } else {
            v[k++] = x->ns_p10;
            v[k++] = x->ns_median;
            v[k++] = x->ns_p90;
        }
    }
    memcpy(sorted, v, sizeof(double) * total);
    meas_sort(sorted, total);
    c->ns_median = meas_quantile(sorted, total, 0.5);
    c->ns_p10 = meas_quantile(sorted, total, 0.1);
    c->ns_p90 = meas_quantile(sorted, total, 0.9);
    free(sorted);
    c->rep_ns = v;
    c->nr_rep = c->repeats = total;
    return SIM_OK;
}

int meas_pool(const struct meas *runs, u32 n, struct meas *out, struct sim_err *err)
{
    int rc = SIM_OK;

    memset(out, 0, sizeof(*out));
    memcpy(out->date, runs[0].date, sizeof(out->date));
    out->quick = runs[0].quick;
    out->rounds = runs[0].rounds;
    out->env = runs[0].env;
    if (runs[0].nr_cases && !(out->cases = calloc(runs[0].nr_cases, sizeof(*out->cases))))
        return sim_err_set(err, SIM_ENOMEM, "out of memory pooling %u runs", n);
    for (u32 i = 0; i < runs[0].nr_cases && !rc; i++) {
        struct meas_case *c = &out->cases[out->nr_cases];
        *c = runs[0].cases[i];
        c->trace = NULL;
        c->nr_trace = 0;
        c->rep_ns = NULL;
        c->nr_rep = 0;
        out->nr_cases++;
        if (!c->skipped)
            rc = pool_case(runs, n, c);
        c->trace = rc ? NULL : calloc(runs[0].cases[i].nr_trace ? runs[0].cases[i].nr_trace : 1,
                                      sizeof(char *));
        if (!rc && !c->trace)
            rc = SIM_ENOMEM;
        for (u32 j = 0; !rc && j < runs[0].cases[i].nr_trace; j++, c->nr_trace++)
            if (!(c->trace[j] = strdup(runs[0].cases[i].trace[j])))
                rc = SIM_ENOMEM;
    }
    if (rc) {
        meas_free(out);
        return sim_err_set(err, rc, "out of memory pooling %u runs", n);
    }
    return SIM_OK;
}
