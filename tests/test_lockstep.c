/* tests/test_lockstep.c - several simulations over one read of a trace
 * (sim/engine/lockstep.h): the source is read once whatever the number of
 * simulations, and every simulation's results (totals, flush records,
 * timeline intervals, marks, tlb_flush events, errors) are those of a run
 * of its own, however small the blocks the tee reads. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/machine.h"
#include "../models/policy.h"
#include "../sim/engine/lockstep.h"
#include "../sim/io/trace.h"
#include "clirun.h"
#include "harness.h"

#define MAX_SIMS 32

/* A source counting the ops it gives. */
struct counting {
    struct trace_src up;
    u64 calls;                          /* next() calls */
};

static int counting_next(void *ctx, struct trace_op *op, struct sim_err *err)
{
    struct counting *c = ctx;

    c->calls++;
    return c->up.next(c->up.ctx, op, err);
}

static double counting_progress(const void *ctx)
{
    const struct counting *c = ctx;

    return c->up.progress(c->up.ctx);
}

static void counting_close(void *ctx)
{
    struct counting *c = ctx;

    c->up.close(c->up.ctx);
}

/* What a run reported, folded into a few numbers. */
struct digest {
    u64 hash;                           /* FNV-1a over every hook call */
    u64 calls;
    struct sim_totals t;
    cycles_t end;
    u64 p50, p99;
    int rc;
    struct sim_err err;
};

static void mix(struct digest *d, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        d->hash = (d->hash ^ b[i]) * 0x100000001b3ull;
    d->calls++;
}

static void on_flush(void *arg, const struct flush_rec *r)
{
    struct digest *d = arg;
    u64 v[] = { r->t_call, r->t_request, r->t_done, r->initiator, (u64)r->mm, r->start, r->end,
                r->pages, r->full, r->freed_tables, r->targets, r->icr_writes, r->skipped_lazy,
                r->skipped_other, r->line };

    mix(d, v, sizeof(v));
    mix(d, r->cause, strlen(r->cause));
}

static void on_interval(void *arg, cycles_t t0, cycles_t t1, const struct sim_totals *delta)
{
    struct digest *d = arg;

    mix(d, &t0, sizeof(t0));
    mix(d, &t1, sizeof(t1));
    mix(d, delta, sizeof(*delta));
}

static void on_mark(void *arg, cycles_t t, const char *label)
{
    struct digest *d = arg;

    mix(d, &t, sizeof(t));
    mix(d, label, strlen(label));
}

static void on_tlb_event(void *arg, cycles_t t, u32 cpu, s64 mm, bool idle,
                         enum tlb_flush_reason r, s64 pages)
{
    struct digest *d = arg;
    u64 v[] = { t, cpu, (u64)mm, idle, r, (u64)pages };

    mix(d, v, sizeof(v));
}

static void machine_for(struct machine *m, const struct trace_header *hdr)
{
    machine_init(m);
    m->cpus = hdr->cpus;
}

static struct sim *make_sim(const char *path, const struct machine *m,
                            const struct trace_header *hdr, u32 pol, struct trace_src src,
                            struct digest *d)
{
    struct sim_err err = { 0 };
    struct sim *s;
    struct sim_config cfg = {
        .m = m, .pol = &flush_policies[pol], .src = src, .hdr = hdr, .trace_path = path,
        .hooks = { .arg = d, .flush = on_flush, .interval = on_interval, .mark = on_mark,
                   .tlb_event = on_tlb_event },
        .interval = 50000,
    };

    memset(d, 0, sizeof(*d));
    d->hash = 0xcbf29ce484222325ull;
    cr_assert_eq(sim_create(&cfg, &s, &err), 0, "%s", err.msg);
    return s;
}

static void finish(struct digest *d, struct sim *s)
{
    sim_totals(s, &d->t);
    d->end = sim_end_cycles(s);
    d->p50 = hist_quantile(sim_latency(s), 0.5);
    d->p99 = hist_quantile(sim_latency(s), 0.99);
    sim_destroy(s);
}

/* Policy pol on its own reader. */
static void run_alone(const char *path, u32 pol, struct digest *d)
{
    struct trace_reader *r;
    struct trace_header hdr;
    struct machine m;
    struct sim_err err = { 0 };

    cr_assert_eq(trace_open(path, &r, &hdr, &err), 0, "%s", err.msg);
    machine_for(&m, &hdr);
    struct sim *s = make_sim(path, &m, &hdr, pol, trace_src(r), d);
    d->rc = sim_run(s, CYCLES_NEVER, &d->err);
    finish(d, s);
}

/* Policies pols[0..n) in lockstep over one counted read of path; returns
 * the number of next() calls the source got. */
static u64 run_lockstep(const char *path, const u32 *pols, u32 n, u32 block_ops,
                        struct digest *d)
{
    struct trace_reader *r;
    struct trace_header hdr;
    struct machine m;
    struct sim_err err = { 0 }, errs[MAX_SIMS];
    struct src_tee *t;
    struct sim *sims[MAX_SIMS];
    int rcs[MAX_SIMS];
    struct counting *c = calloc(1, sizeof(*c));

    cr_assert(c && n <= MAX_SIMS);
    cr_assert_eq(trace_open(path, &r, &hdr, &err), 0, "%s", err.msg);
    machine_for(&m, &hdr);
    c->up = trace_src(r);
    struct trace_src counted = { c, counting_next, counting_progress, counting_close };
    cr_assert_eq(src_tee_create(counted, n, block_ops, &t, &err), 0, "%s", err.msg);
    for (u32 i = 0; i < n; i++)
        sims[i] = make_sim(path, &m, &hdr, pols[i], src_tee_branch(t, i), &d[i]);
    memset(errs, 0, sizeof(errs));
    cr_assert_eq(lockstep_run(t, sims, n, 1000000, NULL, NULL, rcs, errs), SIM_OK);
    u64 ops = src_tee_ops_read(t), calls = c->calls;
    src_tee_put(t);
    for (u32 i = 0; i < n; i++) {
        d[i].rc = rcs[i];
        d[i].err = errs[i];
        finish(&d[i], sims[i]);
    }
    cr_expect_eq(calls, ops + 1, "the tee made %llu calls for %llu ops",
                 (unsigned long long)calls, (unsigned long long)ops);
    free(c);                            /* closed with the tee */
    return calls;
}

static u64 count_ops(const char *path)
{
    struct trace_reader *r;
    struct trace_op op;
    struct sim_err err = { 0 };
    u64 n = 0;

    cr_assert_eq(trace_open(path, &r, NULL, &err), 0, "%s", err.msg);
    while (trace_next(r, &op, &err) > 0)
        n++;
    trace_close(r);
    return n;
}

static void expect_same(const struct digest *a, const struct digest *b, const char *what)
{
    cr_expect_eq(a->rc, b->rc, "%s: rc %d vs %d", what, a->rc, b->rc);
    cr_expect_str_eq(a->err.msg, b->err.msg, "%s: error", what);
    cr_expect_eq(a->calls, b->calls, "%s: %llu vs %llu hook calls", what,
                 (unsigned long long)a->calls, (unsigned long long)b->calls);
    cr_expect_eq(a->hash, b->hash, "%s: hook calls differ", what);
    cr_expect(!memcmp(&a->t, &b->t, sizeof(a->t)), "%s: totals differ", what);
    cr_expect_eq(a->end, b->end, "%s: end cycles", what);
    cr_expect(a->p50 == b->p50 && a->p99 == b->p99, "%s: latency quantiles", what);
}

static const char *trace_path(char *buf, size_t len)
{
    snprintf(buf, len, "../traces/default.jsonl");
    return buf;
}

/* Every policy at once: each op is read from the source once (plus the
 * call that finds the end), not once per simulation. */
Test(lockstep, reads_each_op_once, .timeout = 300)
{
    char path[64];
    u32 pols[MAX_SIMS], n = (u32)flush_nr_policies;
    struct digest *d = calloc(MAX_SIMS, sizeof(*d));
    u64 ops = count_ops(trace_path(path, sizeof(path)));

    cr_assert(d && n >= 2 && n <= MAX_SIMS);
    for (u32 i = 0; i < n; i++)
        pols[i] = i;
    cr_expect_eq(run_lockstep(path, pols, n, 0, d), ops + 1, "%llu ops", (unsigned long long)ops);
    for (u32 i = 0; i < n; i++)
        cr_expect_eq(d[i].t.ops, ops, "%s ran %llu of %llu ops", flush_policies[i].name,
                     (unsigned long long)d[i].t.ops, (unsigned long long)ops);
    free(d);
}

/* Every policy's results in lockstep are those of its own run, with the
 * default blocks and with blocks of 1 and 7 ops (the simulations pause for
 * input at every op: after barriers, mid read-ahead, in every state). */
Test(lockstep, equals_separate_runs_for_every_policy, .timeout = 600)
{
    static const u32 blocks[] = { 0, 1, 7 };
    char path[64], what[96];
    u32 pols[MAX_SIMS], n = (u32)flush_nr_policies;
    struct digest *alone = calloc(MAX_SIMS, sizeof(*alone)),
                  *ls = calloc(MAX_SIMS, sizeof(*ls));

    cr_assert(alone && ls && n <= MAX_SIMS);
    trace_path(path, sizeof(path));
    for (u32 i = 0; i < n; i++) {
        pols[i] = i;
        run_alone(path, i, &alone[i]);
        cr_assert_eq(alone[i].rc, 0, "%s: %s", flush_policies[i].name, alone[i].err.msg);
        cr_assert_gt(alone[i].calls, 100, "%s: too few hook calls to compare",
                     flush_policies[i].name);
    }
    for (size_t b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++) {
        run_lockstep(path, pols, n, blocks[b], ls);
        for (u32 i = 0; i < n; i++) {
            snprintf(what, sizeof(what), "%s, blocks of %u ops", flush_policies[i].name,
                     blocks[b]);
            expect_same(&alone[i], &ls[i], what);
        }
    }
    free(alone);
    free(ls);
}

/* A bad line reaches every simulation at its op, with the reader's own
 * message, as in a run of its own. */
Test(lockstep, bad_line_fails_every_simulation_as_alone, .init = h_tmpdir_setup,
     .fini = h_tmpdir_teardown)
{
    char line[4096], src[64];
    const char *bad = h_tmp_path("bad.jsonl");
    FILE *in = fopen(trace_path(src, sizeof(src)), "r"), *out = fopen(bad, "w");
    u32 pols[3] = { 0, 1, 2 }, k = 0;
    struct digest alone, ls[3];

    cr_assert(in && out);
    while (fgets(line, sizeof(line), in) && k < 3000)
        fputs(++k == 2500 ? "{\"op\":\"access\",\"cpu\":99,\"va\":\"0x1000\",\"kind\":\"r\"}\n"
                          : line, out);
    fclose(in);
    fclose(out);
    run_lockstep(bad, pols, 3, 5, ls);
    for (u32 i = 0; i < 3; i++) {
        run_alone(bad, pols[i], &alone);
        cr_expect_lt(alone.rc, 0);
        cr_expect(strstr(alone.err.msg, ":2500: cpu:"), "%s", alone.err.msg);
        expect_same(&alone, &ls[i], flush_policies[pols[i]].name);
    }
}

/* ===== tlbsim run --policy all ================================================ */

/* Lines 2.. of file (the rows without the header) appended to *acc. */
static void append_rows(char **acc, size_t *len, const char *file)
{
    size_t n;
    char *x = cli_slurp(file, &n), *rows;

    cr_assert(x, "%s missing", file);
    rows = strchr(x, '\n');
    rows = rows ? rows + 1 : x + n;
    *acc = realloc(*acc, *len + strlen(rows) + 1);
    cr_assert(*acc);
    memcpy(*acc + *len, rows, strlen(rows) + 1);
    *len += strlen(rows);
    free(x);
}

/* `--policy all -j 1 --repeat REPEAT` writes, per file, the rows that
 * separate runs of each policy write, in policy order. */
static void cli_all_vs_separate(const char *repeat)
{
    static const char *const files[] = { "summary.csv", "cpus.csv", "flushes.csv",
                                         "timeline.csv" };
    struct cli_res *r = malloc(sizeof(*r));
    char p[PATH_MAX];
    char *sep[4] = { 0 };
    size_t sep_len[4] = { 0 };
    struct cli_ws ws;

    cr_assert(r);
    cli_ws_init(&ws);
    cli_write_default_head(&ws, "t.jsonl", 6000);
    const char *all[] = { "run", "t.jsonl", "--policy", "all", "-j", "1", "--repeat", repeat,
                          "--out", "all", "-q", NULL };
    cli_run(&ws, all, 900, r);
    cr_assert_eq(r->status, 0, "%s", r->err);
    for (size_t i = 0; i < flush_nr_policies; i++) {
        const char *one[] = { "run", "t.jsonl", "--policy", flush_policies[i].name, "-j", "1",
                              "--repeat", repeat, "--out", "one", "-q", NULL };
        cli_run(&ws, one, 900, r);
        cr_assert_eq(r->status, 0, "%s: %s", flush_policies[i].name, r->err);
        for (int f = 0; f < 4; f++) {
            snprintf(p, sizeof(p), "%s/one/%s", ws.dir, files[f]);
            append_rows(&sep[f], &sep_len[f], p);
        }
    }
    for (int f = 0; f < 4; f++) {
        size_t n;
        char *x;

        snprintf(p, sizeof(p), "%s/all/%s", ws.dir, files[f]);
        x = cli_slurp(p, &n);
        cr_assert(x, "%s missing", p);
        const char *rows = strchr(x, '\n') + 1;
        cr_expect(sep_len[f] > 0 && strlen(rows) == sep_len[f] && !strcmp(rows, sep[f]),
                  "%s: --policy all differs from the separate runs (%zu vs %zu bytes)",
                  files[f], strlen(rows), sep_len[f]);
        free(x);
        free(sep[f]);
    }
    cli_ws_done(&ws);
    free(r);
}

/* One group: every policy in lockstep on the JSON trace itself. */
Test(lockstep, cli_policy_all_equals_separate_runs, .timeout = 900)
{
    cli_all_vs_separate("1");
}

/* 24 runs: two groups of 12, each in lockstep on the binary copy. */
Test(lockstep, cli_policy_all_repeat_equals_separate_runs, .timeout = 900)
{
    cli_all_vs_separate("2");
}
