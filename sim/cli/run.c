/* sim/cli/run.c - `tlbsim run`: one simulation per policy, outputs to CSV.
 *
 * The runs (each policy and, with --repeat N, each of its N seeds) are
 * split into groups of consecutive runs: --jobs of them (at most one per
 * run), or more to keep each within GROUP_MAX runs.  With --jobs > 1 and
 * several groups, each is a process of the job pool of jobs.h (up to
 * --jobs at once); else they run in turn.  A group reads the trace once
 * for all its runs, which go in lockstep (sim/engine/lockstep.h).  Every
 * run writes its rows to part files in a private directory under --out,
 * and the parent assembles summary.csv, cpus.csv, flushes.csv and
 * timeline.csv in policy order, so the output is the same whatever the
 * number of workers.  All files are renamed into place at the end; an error
 * or an interrupt leaves the previous outputs untouched.
 *
 * Repeats: run r (0-based) of a policy uses sim.seed = S + r, S the
 * model's sim.seed after --set.  summary.csv gets every run's row;
 * cpus.csv, flushes.csv and timeline.csv the first run's (r = 0, the run
 * without --repeat); summary_stats.csv the mean, standard deviation and 95%
 * confidence interval of every cost column per policy (stats.h).
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../models/machine.h"
#include "../../models/policy.h"
#include "../engine/lockstep.h"
#include "../engine/sim.h"
#include "../io/columns.h"
#include "../io/csv.h"
#include "../io/model_load.h"
#include "../io/outdir.h"
#include "../io/stream.h"
#include "../io/summary_json.h"
#include "../io/trace.h"
#include "../io/version.h"
#include "jobs.h"
#include "stats.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define ON_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#else
#define ON_VALGRIND() false
#endif

#define MAX_POLICIES 32
#define MAX_SETS 256
#define MAX_REPEAT 1000
#define PROGRESS_TTY_S  0.5             /* seconds between progress updates on a TTY */
#define PROGRESS_LOG_S  2.0             /* ... between --progress lines elsewhere */
#define PROGRESS_CYCLES 50000000        /* simulated cycles between progress checks */
#define GROUP_MAX 16                    /* simulations one process runs in lockstep */

struct run_opts {
    const char *trace;
    const char *input;                  /* what the runs read: NULL (trace) or its binary copy */
    u64 input_line;                     /* the copy's first op is this line of the trace */
    const char *machine;                /* path or shipped name; NULL: default */
    const char *policies[MAX_POLICIES];
    u32 nr_policies;
    const char *sets[MAX_SETS];
    u32 nr_sets;
    const char *out;
    cycles_t interval;
    bool check;
    bool tlb_log;
    bool quiet;
    bool progress;                      /* --progress: lines on stderr even without a TTY */
    u32 jobs;
    u32 repeat;                         /* runs per policy (--repeat), >= 1 */
    const struct machine *m;            /* loaded once for m_cpus trace CPUs: each run copies it */
    u32 m_cpus;
};

/* This process's simulations, read by the signal handler. */
static struct sim *volatile running_sims[GROUP_MAX];

/* jobs_signals() hook, in the handler: stop this process's simulations. */
static void stop_running_sims(void)
{
    for (u32 i = 0; i < GROUP_MAX; i++)
        if (running_sims[i])
            sim_interrupt(running_sims[i]);
}

/* ---- output rows ------------------------------------------------------ */

struct run_out {
    FILE *flushes, *timeline, *tlblog;
    const char *policy;
    u32 freq_mhz;
    u64 nr_flush;
    u64 nr_event;
};

static void hook_flush(void *arg, const struct flush_rec *r)
{
    struct run_out *o = arg;
    bool all = r->end == UINT64_MAX;

    fprintf(o->flushes, "%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%u,%" PRId64 ",%s,"
            "%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%d,%d,%d,%u,%u,%u,%u,%" PRIu64 "\n",
            o->policy, o->nr_flush++, r->t_request, r->t_done, r->t_done - r->t_request,
            r->initiator, r->mm, r->cause, all ? 0 : r->start, all ? 0 : r->end, r->pages,
            all, r->full, r->freed_tables, r->targets, r->icr_writes, r->skipped_lazy,
            r->skipped_other, r->line);
}

static void hook_interval(void *arg, cycles_t t0, cycles_t t1, const struct sim_totals *d)
{
    struct run_out *o = arg;

    fprintf(o->timeline, "%s,%" PRIu64 ",%" PRIu64 ",interval,,%" PRIu64 ",%" PRIu64 ",%" PRIu64
            ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
            ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
            o->policy, t0, t1, d->cpu.accesses, d->cpu.l1d_misses + d->cpu.l1i_misses,
            d->cpu.stlb_misses, d->cpu.walks, d->cpu.page_faults, d->flush_requests,
            d->shootdowns, d->ipis_sent, d->ipis_skipped_lazy, d->cpu.task_switch_flushes,
            d->cpu.flush_full, d->cpu.flush_pages, d->cpu.stale_accesses);
}

static void hook_mark(void *arg, cycles_t t, const char *label)
{
    struct run_out *o = arg;

    fprintf(o->timeline, "%s,%" PRIu64 ",%" PRIu64 ",mark,", o->policy, t, t);
    csv_str(o->timeline, label);
    fputs(",,,,,,,,,,,,,\n", o->timeline);
}

/* trace-cmd report's layout: comm-pid [cpu] sec.usec: tlb_flush: fields */
static void hook_tlb_event(void *arg, cycles_t t, u32 cpu, s64 mm, bool idle,
                           enum tlb_flush_reason r, s64 pages)
{
    struct run_out *o = arg;
    u64 us = t / o->freq_mhz;
    char comm[48];

    if (mm >= 0)
        snprintf(comm, sizeof(comm), "mm%" PRId64 "-%" PRId64, mm, 1000 + mm);
    else if (idle)
        snprintf(comm, sizeof(comm), "<idle>-0");
    else
        snprintf(comm, sizeof(comm), "kworker/%u:1-%u", cpu, 100 + cpu);
    /* Prefixed with a sort key: CPUs run ahead, trace-cmd prints in time
     * order; sort_tlblog() orders and strips the key. */
    fprintf(o->tlblog, "%020" PRIu64 " %012" PRIu64 "\t%16s [%03u] %" PRIu64 ".%06" PRIu64
            ": tlb_flush:            pages:%" PRId64 " reason:%s (%d)\n", t, o->nr_event++,
            comm, cpu, us / 1000000, us % 1000000, pages, tlb_flush_reason_str(r), (int)r);
}

#define TLBLOG_SORT_MAX (256u << 20)    /* sort in memory up to this size */

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Order a tlblog part file by (cycle, sequence) and drop the keys. */
static int sort_tlblog(const char *path, struct sim_err *err)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL, **lines = NULL, *p;
    size_t n = 0, nl = 0;
    long size;
    int rc = SIM_OK;

    if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        if (f)
            fclose(f);
        return sim_err_set(err, SIM_EIO, "%s: cannot read", path);
    }
    if ((size_t)size > TLBLOG_SORT_MAX) {
        fclose(f);
        fprintf(stderr, "tlbsim: warning: tlb_flush.txt over %u MiB is left in simulation order\n",
                TLBLOG_SORT_MAX >> 20);
        return SIM_OK;
    }
    buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        rc = sim_err_set(err, SIM_EIO, "%s: cannot read", path);
        goto out;
    }
    buf[size] = 0;
    for (p = buf; *p; p++)
        nl += *p == '\n';
    lines = malloc((nl + 1) * sizeof(*lines));
    if (!lines) {
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory sorting %s", path);
        goto out;
    }
    for (p = buf; *p; ) {
        char *e = strchr(p, '\n');
        lines[n++] = p;
        if (!e)
            break;
        *e = 0;
        p = e + 1;
    }
    qsort(lines, n, sizeof(*lines), cmp_line);
    fclose(f);
    f = fopen(path, "w");
    if (!f) {
        rc = sim_err_set(err, SIM_EIO, "%s: cannot rewrite", path);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char *tab = strchr(lines[i], '\t');
        fprintf(f, "%s\n", tab ? tab + 1 : lines[i]);
    }
    if (ferror(f))
        rc = sim_err_set(err, SIM_EIO, "%s: write failed", path);
out:
    if (f)
        fclose(f);
    free(buf);
    free(lines);
    return rc;
}

/* ---- summary ------------------------------------------------------------ */

static const char flushes_header[] =
    "policy,seq,t_request,t_done,latency,initiator,mm,cause,start,end,pages,all,full,"
    "freed_tables,targets,icr_writes,skipped_lazy,skipped_other,line\n";

static const char timeline_header[] =
    "policy,t_start,t_end,kind,label,accesses,l1_misses,stlb_misses,walks,page_faults,"
    "flush_requests,shootdowns,ipis_sent,ipis_skipped_lazy,task_switch_flushes,flush_full,"
    "flush_pages,stale_accesses\n";

static void write_summary(FILE *f, const char *trace, const struct machine *m,
                          const char *policy, struct sim *s)
{
    struct summary_row row;

    col_summary_fill(&row, trace, m, policy, s);
    col_csv_row(f, summary_cols, summary_nr_cols, &row);
}

static void write_cpus(FILE *f, const char *policy, struct sim *s)
{
    struct cpu_row row;

    for (u32 i = 0; i < sim_nr_cpus(s); i++) {
        col_cpu_fill(&row, policy, s, i);
        col_csv_row(f, cpus_cols, cpus_nr_cols, &row);
    }
}

/* Most ops carry a `t` timestamp (a recorded trace): run time follows the
 * trace, not the policy. */
static bool trace_pins_time(const struct sim_totals *t)
{
    return t->timed_ops > 0 && t->timed_ops * 2 >= t->ops;
}

static void print_human(FILE *f, const char *policy, struct sim *s)
{
    struct sim_totals t;
    const struct hist *h = sim_latency(s);
    const struct cpu_stats *c = &t.cpu;
    u64 data = c->l1d_hits + c->l1d_misses;

    sim_totals(s, &t);
    if (trace_pins_time(&t)) {
        /* Recorded traces: every op waits for its timestamp, so the end (cycles)
         * is the last timestamp under every policy; the cost is in these. */
        fprintf(f, "%-12s handler %" PRIu64 "  spin %" PRIu64 "  busy %" PRIu64
                " cycles (all CPUs)\n", policy, c->handler_cycles, c->spin_cycles,
                c->busy_cycles);
        fprintf(f, "%-12s run time %" PRIu64 " cycles, pinned by the trace's timestamps "
                "(the same for every policy)\n", "", sim_end_cycles(s));
        fprintf(f, "%-12s %" PRIu64 " refs  L1D miss %5.2f%%  STLB miss %6" PRIu64
                "  walks %8" PRIu64 "\n", "", c->accesses,
                data ? 100.0 * (double)c->l1d_misses / (double)data : 0.0, c->stlb_misses,
                c->walks);
    } else {
        fprintf(f, "%-12s %14" PRIu64 " cycles  %12" PRIu64 " refs  L1D miss %5.2f%%  STLB miss %6"
                PRIu64 "  walks %8" PRIu64 "\n", policy, sim_end_cycles(s), c->accesses,
                data ? 100.0 * (double)c->l1d_misses / (double)data : 0.0, c->stlb_misses,
                c->walks);
    }
    fprintf(f, "%-12s flushes %" PRIu64 " (shootdowns %" PRIu64 ")  IPIs %" PRIu64
            " (lazy skipped %" PRIu64 ")  latency p50 %" PRIu64 " p99 %" PRIu64
            " cycles  stale %" PRIu64 "\n", "", t.flush_requests, t.shootdowns, t.ipis_sent,
            t.ipis_skipped_lazy, hist_quantile(h, 0.5), hist_quantile(h, 0.99), c->stale_accesses);
    for (u32 i = 0; i < sim_nr_cpus(s); i++) {
        const struct cpu *cp = sim_cpu(s, i);
        for (u32 k = 0; k < cp->nr_stale_log; k++)
            fprintf(f, "%-12s stale: cpu %u cycle %" PRIu64 " %c 0x%" PRIx64 " (%s)\n", "", i,
                    cp->stale_log[k].when, cp->stale_log[k].kind, cp->stale_log[k].va,
                    cp->stale_log[k].freed ? "frame freed" : "translation changed");
    }
}

/* ---- one run -------------------------------------------------------------- */

static int load_machine(const struct run_opts *o, u32 trace_cpus, struct machine *m,
                        struct sim_err *err)
{
    if (o->m && o->m_cpus == trace_cpus) {  /* the same file, overrides and CPUs */
        *m = *o->m;
        return SIM_OK;
    }
    machine_init(m);
    return model_load_for_run(o->machine, o->sets, o->nr_sets, trace_cpus, m, err);
}

/* On a TTY (unless --quiet): one line rewritten in place.  With --progress
 * and stderr not a TTY: one line per PROGRESS_LOG_S seconds of wall time,
 * and a last one at the end (final = true), for batch logs. */
static void progress(const struct run_opts *o, const char *policy, struct sim *s,
                     struct timespec *last, bool final)
{
    bool tty = isatty(2), log = o->progress && !tty;
    struct timespec now;
    struct sim_totals t;

    if (!log && (o->quiet || !tty || final))
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!final && now.tv_sec - last->tv_sec + (now.tv_nsec - last->tv_nsec) / 1e9 <
                  (log ? PROGRESS_LOG_S : PROGRESS_TTY_S))
        return;
    *last = now;
    sim_totals(s, &t);
    fprintf(stderr, "%s%s: %5.1f%% of trace, %" PRIu64 " refs, %" PRIu64 " flushes%s",
            log ? "tlbsim: " : "\r", policy, final ? 100.0 : 100.0 * sim_progress(s),
            t.cpu.accesses, t.flush_requests, log ? "\n" : "   ");
}

/* Job n's part file DIR/N.SUFFIX, opened for writing into *f. */
static int open_part(FILE **f, const char *dir, u32 n, const char *suffix, struct sim_err *err)
{
    char p[4200];

    snprintf(p, sizeof(p), "%s/%u.%s", dir, n, suffix);
    if (!(*f = fopen(p, "w")))
        return sim_err_set(err, SIM_EIO, "%s: cannot create: %s", p, strerror(errno));
    return SIM_OK;
}

/* Close part file f (may be NULL); a write error (disk full, I/O error)
 * becomes rc when rc is still SIM_OK. */
static int close_part(FILE *f, const char *dir, int rc, struct sim_err *err)
{
    int bad;

    if (!f)
        return rc;
    errno = 0;
    bad = ferror(f);
    if (fclose(f))
        bad = 1;
    if (bad && !rc)
        rc = sim_err_set(err, SIM_EIO, "%s: write failed: %s", dir,
                         strerror(errno ? errno : EIO));
    return rc;
}

/* Tearing a simulation down gives back one by one what the process's exit
 * gives back at once: every CPU's TLB arrays and request queues, every
 * frame of the page tables to the free lists (5 to 6 ms of a one-flush
 * run at 1024 CPUs; docs/performance.md).  A process that exits after its
 * runs (a worker of the pool, or the last group run here) leaves its
 * simulations to exit, still reachable from kept_sims.  Under a leak
 * checker (AddressSanitizer, valgrind) they are destroyed as before, so
 * that a real leak still shows. */
static bool keep_for_exit;
static struct sim *kept_sims[GROUP_MAX];
static u32 nr_kept;

static bool leak_checked(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#else
    return ON_VALGRIND();
#endif
}

static void sim_done(struct sim *s)
{
    if (s && keep_for_exit && nr_kept < GROUP_MAX && !leak_checked()) {
        kept_sims[nr_kept++] = s;
        return;
    }
    sim_destroy(s);
}

/* One run in progress: policy n / repeat with seed offset n % repeat;
 * rows go to part files DIR/N.* (only .summary after the first repeat). */
struct job {
    u32 n, rep;
    const char *policy;
    struct machine m;
    struct sim *s;
    struct run_out out;
    FILE *fs, *fc;
    struct timespec last;               /* last progress line */
    bool shown;                         /* a progress line is on the TTY */
};

/* Finish job j, whose run ended with rc (SIM_OK: it ran to the end; its
 * rows are written): close its part files, free it.  Returns rc or a
 * write error. */
static int job_end(const struct run_opts *o, const char *dir, struct job *j, int rc,
                   struct sim_err *err)
{
    char p[4200];

    if (rc == SIM_OK) {
        progress(o, j->policy, j->s, &j->last, true);
        write_summary(j->fs, o->trace, &j->m, j->policy, j->s);
        if (j->fc)
            write_cpus(j->fc, j->policy, j->s);
        if (!o->quiet && j->rep == 0)
            print_human(stdout, j->policy, j->s);
    }
    rc = close_part(j->out.flushes, dir, rc, err);
    rc = close_part(j->out.timeline, dir, rc, err);
    rc = close_part(j->out.tlblog, dir, rc, err);
    if (j->out.tlblog && !rc) {
        snprintf(p, sizeof(p), "%s/%u.tlblog", dir, j->n);
        rc = sort_tlblog(p, err);
    }
    rc = close_part(j->fs, dir, rc, err);
    rc = close_part(j->fc, dir, rc, err);
    sim_done(j->s);
    j->s = NULL;
    return rc;
}

/* Set job n up to read src (which it owns from here on, also on failure)
 * of a trace with header hdr.  Returns a SIM_E* code. */
static int job_start(const struct run_opts *o, u32 n, const char *dir, struct trace_src src,
                     const struct trace_header *hdr, struct job *j, struct sim_err *err)
{
    const char *policy = o->policies[n / o->repeat];
    u32 rep = n % o->repeat;
    int rc;

    *j = (struct job){ .n = n, .rep = rep, .policy = policy, .out = { .policy = policy } };
    if ((rc = load_machine(o, hdr->cpus, &j->m, err)))
        goto out;
    j->m.seed += rep;                   /* the documented derivation: S + r */
    j->out.freq_mhz = j->m.freq_mhz;
    if ((rc = open_part(&j->fs, dir, n, "summary", err)) ||
        (rep == 0 && ((rc = open_part(&j->out.flushes, dir, n, "flushes", err)) ||
                      (rc = open_part(&j->out.timeline, dir, n, "timeline", err)) ||
                      (rc = open_part(&j->fc, dir, n, "cpus", err)))) ||
        (o->tlb_log && rep == 0 && (rc = open_part(&j->out.tlblog, dir, n, "tlblog", err))))
        goto out;
    struct sim_config cfg = {
        .m = &j->m, .pol = flush_policy_find(policy), .src = src, .hdr = hdr,
        .trace_path = o->trace,
        .hooks = { .arg = &j->out, .flush = j->out.flushes ? hook_flush : NULL,
                   .interval = j->out.timeline ? hook_interval : NULL,
                   .mark = j->out.timeline ? hook_mark : NULL,
                   .tlb_event = j->out.tlblog ? hook_tlb_event : NULL },
        .interval = o->interval, .check_invariants = o->check,
    };
    if ((rc = sim_create(&cfg, &j->s, err)))
        goto out;
    clock_gettime(CLOCK_MONOTONIC, &j->last);
    return SIM_OK;
out:
    if (src.close)
        src.close(src.ctx);
    return job_end(o, dir, j, rc, err);
}

/* After a stretch of job j's run: its progress line. */
static void job_progress(const struct run_opts *o, struct job *j)
{
    struct timespec before = j->last;

    progress(o, j->policy, j->s, &j->last, false);
    j->shown |= j->last.tv_sec != before.tv_sec || j->last.tv_nsec != before.tv_nsec;
}

/* The trace as cmd_run opened it to read its header, kept for the first
 * open of the trace in this process: opening it again cost a second 256 KiB
 * buffer filled by read(2), up to 64 fresh pages.  Closed before the job
 * pool forks, so that no two processes share its file offset. */
static struct trace_reader *kept_reader;
static struct trace_header kept_hdr;

static int open_trace(const char *path, struct trace_reader **r, struct trace_header *hdr,
                      struct sim_err *err)
{
    if (!kept_reader)
        return trace_open(path, r, hdr, err);
    *r = kept_reader;                   /* just past the header, as trace_open leaves it */
    *hdr = kept_hdr;
    kept_reader = NULL;
    return SIM_OK;
}

static void kept_reader_close(void)
{
    if (kept_reader)
        trace_close(kept_reader);
    kept_reader = NULL;
}

/* Open what the runs read: the trace, or its binary copy. */
static int open_input(const struct run_opts *o, struct trace_reader **r,
                      struct trace_header *hdr, struct sim_err *err)
{
    int rc = o->input ? trace_open(o->input, r, hdr, err) : open_trace(o->trace, r, hdr, err);

    if (!rc && o->input)
        trace_set_first_line(*r, o->input_line);
    return rc;
}

/* Run job n alone, reading the input itself.  Returns a SIM_E* code. */
static int run_one(const struct run_opts *o, u32 n, const char *dir, struct sim_err *err)
{
    struct trace_reader *r;
    struct trace_header hdr;
    struct job j;
    int rc;

    if ((rc = open_input(o, &r, &hdr, err)) ||
        (rc = job_start(o, n, dir, trace_src(r), &hdr, &j, err)))
        return rc;
    running_sims[0] = j.s;
    if (jobs_interrupted)               /* a signal before running_sims was set */
        sim_interrupt(j.s);
    while ((rc = sim_run(j.s, sim_now(j.s) + PROGRESS_CYCLES, err)) > 0)
        job_progress(o, &j);
    running_sims[0] = NULL;
    if (!o->quiet && isatty(2) && j.shown)
        fputs("\r\033[K", stderr);
    return job_end(o, dir, &j, rc, err);
}

struct group {
    const struct run_opts *o;
    struct job *jobs;
};

static void group_ran(void *arg, u32 i)
{
    struct group *g = arg;

    job_progress(g->o, &g->jobs[i]);
}

/* Run jobs first .. first + nr - 1 (nr <= GROUP_MAX) in lockstep over one
 * read of the input (lockstep.h).  The outcome is what running them one
 * after another would give: the rows and stdout summaries of the jobs
 * before the first that fails, and that one's error. */
static int run_group(const struct run_opts *o, u32 first, u32 nr, const char *dir,
                     struct sim_err *err)
{
    struct trace_reader *r;
    struct trace_header hdr;
    struct src_tee *t;
    struct job *jobs;
    struct sim **sims;
    struct sim_err *errs;
    int *rcs, rc;
    u32 started = 0;
    bool shown = false;

    if (nr == 1)
        return run_one(o, first, dir, err);
    jobs = calloc(nr, sizeof(*jobs));
    sims = calloc(nr, sizeof(*sims));
    errs = calloc(nr, sizeof(*errs));
    rcs = calloc(nr, sizeof(*rcs));
    if (!jobs || !sims || !errs || !rcs) {
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = open_input(o, &r, &hdr, err)) ||
        (rc = src_tee_create(trace_src(r), nr, 0, &t, err)))
        goto out;
    for (; started < nr; started++) {
        if ((rc = job_start(o, first + started, dir, src_tee_branch(t, started), &hdr,
                            &jobs[started], err)))
            break;
        sims[started] = jobs[started].s;
    }
    if (!rc) {
        struct group g = { o, jobs };

        for (u32 i = 0; i < nr; i++)
            running_sims[i] = sims[i];
        if (jobs_interrupted)           /* a signal before running_sims was set */
            for (u32 i = 0; i < nr; i++)
                sim_interrupt(sims[i]);
        lockstep_run(t, sims, nr, PROGRESS_CYCLES, group_ran, &g, rcs, errs);
        for (u32 i = 0; i < nr; i++)
            running_sims[i] = NULL;
    }
    src_tee_put(t);
    for (u32 i = 0; i < started; i++)
        shown |= jobs[i].shown;
    if (!o->quiet && isatty(2) && shown)
        fputs("\r\033[K", stderr);
    /* In job order; after the first failure the rest only close. */
    for (u32 i = 0; i < started; i++) {
        if (rc) {
            job_end(o, dir, &jobs[i], SIM_EINTR, &errs[i]);
            continue;
        }
        if ((rc = job_end(o, dir, &jobs[i], rcs[i], &errs[i])))
            *err = errs[i];
    }
out:
    free(jobs);
    free(sims);
    free(errs);
    free(rcs);
    return rc;
}

/* The jobs are split into groups of consecutive jobs, each run in
 * lockstep: as many groups as --jobs (at most one per job), or more so
 * that none has over GROUP_MAX jobs (their simulations are in memory
 * together); sizes differ by at most one.  Group g starts at job
 * group_first(g); group_first(nr_groups()) is the number of jobs. */
static u32 nr_groups(const struct run_opts *o)
{
    u32 n = o->nr_policies * o->repeat, g = o->jobs < n ? o->jobs : n;

    return g > (n + GROUP_MAX - 1) / GROUP_MAX ? g : (n + GROUP_MAX - 1) / GROUP_MAX;
}

static u32 group_first(const struct run_opts *o, u32 g)
{
    u32 n = o->nr_policies * o->repeat, groups = nr_groups(o);

    return (u32)((u64)n * g / groups);
}

/* ---- assembling the outputs ------------------------------------------------ */

static int append_file(FILE *to, const char *path)
{
    char buf[65536];
    size_t n;
    FILE *f = fopen(path, "r");

    if (!f)
        return SIM_EIO;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        if (fwrite(buf, 1, n, to) != n) {
            fclose(f);
            return SIM_EIO;
        }
    fclose(f);
    return SIM_OK;
}

/* summary.json from the summary part rows (the cells of summary.csv, named
 * by its column table). */
static int write_summary_json(const struct run_opts *o, const struct machine *m,
                              const char *dir, FILE *f, struct sim_err *err)
{
    const struct summary_json_info info = {
        .version = sim_version(), .trace = o->trace, .m = m, .repeat = o->repeat,
        .cols = summary_cols, .nr_cols = summary_nr_cols,
    };
    u32 nr = o->nr_policies * o->repeat;
    char **rows = calloc(nr, sizeof(*rows)), p[4200];
    int rc = rows ? SIM_OK : sim_err_set(err, SIM_ENOMEM, "out of memory");

    for (u32 n = 0; n < nr && !rc; n++) {
        snprintf(p, sizeof(p), "%s/%u.summary", dir, n);
        FILE *in = fopen(p, "r");
        size_t cap = 0;
        if (!in || getline(&rows[n], &cap, in) < 0)
            rc = sim_err_set(err, SIM_EIO, "%s: cannot read part file", p);
        if (in)
            fclose(in);
    }
    if (!rc && (rc = summary_json_write(f, &info, (const char *const *)rows, nr, err)))
        sim_err_prefix(err, "%s/summary.json: ", o->out);
    for (u32 n = 0; rows && n < nr; n++)
        free(rows[n]);
    free(rows);
    return rc;
}

static int assemble(const struct run_opts *o, const struct machine *m, const char *dir,
                    const char *dest, struct sim_err *err)
{
    static const struct {
        const char *name, *part, *header;
        const struct col *cols;             /* header from a column table */
        const size_t *nr_cols;
    } files[] = {
        { "summary.csv", "summary", NULL, summary_cols, &summary_nr_cols },
        { "cpus.csv", "cpus", NULL, cpus_cols, &cpus_nr_cols },
        { "flushes.csv", "flushes", flushes_header, NULL, NULL },
        { "timeline.csv", "timeline", timeline_header, NULL, NULL },
        { "tlb_flush.txt", "tlblog", NULL, NULL, NULL },
    };
    struct csv_file cf[ARRAY_SIZE(files) + 1];  /* + summary.json, committed with them */
    size_t nf = o->tlb_log ? ARRAY_SIZE(files) : ARRAY_SIZE(files) - 1, i;
    char p[4200];
    int rc = SIM_OK;

    memset(cf, 0, sizeof(cf));
    if (!(rc = csv_open(&cf[nf], dest, "summary.json", err)))
        rc = write_summary_json(o, m, dir, cf[nf].f, err);
    for (i = 0; i < nf && !rc; i++) {
        if ((rc = csv_open(&cf[i], dest, files[i].name, err)))
            break;
        if (files[i].header)
            fputs(files[i].header, cf[i].f);
        if (files[i].cols)
            col_csv_header(cf[i].f, files[i].cols, *files[i].nr_cols);
        /* summary: every run; the others: the first run of each policy */
        u32 step = i == 0 ? 1 : o->repeat;
        for (u32 n = 0; n < o->nr_policies * o->repeat && !rc; n += step) {
            snprintf(p, sizeof(p), "%s/%u.%s", dir, n, files[i].part);
            if (append_file(cf[i].f, p))
                rc = sim_err_set(err, SIM_EIO, "%s: cannot read part file", p);
        }
    }
    for (i = 0; i <= nf; i++) {
        if (rc)
            csv_abort(&cf[i]);
        else if ((rc = csv_commit(&cf[i], err)))
            for (size_t k = i + 1; k <= nf; k++)
                csv_abort(&cf[k]);
    }
    return rc;
}

/* Several groups of runs (run_all: processes, or groups one after another)
 * on a JSON Lines trace: parse it once, into the binary form at BIN (in
 * the parts directory), for every group to read: decoding that is several
 * times cheaper than parsing JSON.  (One group reads the trace itself,
 * once for all its runs.)  Only
 * when the op lines are consecutive (no blank or comment lines between
 * ops), so that the runs can report the trace's own line numbers (*first:
 * the first op's line).  False when the trace is binary already or
 * anything fails: the runs then read the trace itself. */
static bool parse_once(const struct run_opts *o, const char *bin, u64 *first)
{
    struct trace_reader *r;
    struct trace_writer *w;
    struct trace_header hdr;
    struct trace_op op;
    struct sim_err e = { 0 };
    u64 n = 0;
    int rc;

    if (nr_groups(o) < 2 || o->input || open_trace(o->trace, &r, &hdr, &e))
        return false;
    rc = trace_format(r) == TRACE_FMT_JSONL ? trace_writer_open(bin, &hdr, TRACE_FMT_BINARY, &w, &e)
                                            : SIM_EINVAL;
    if (!rc) {
        while (!jobs_interrupted && (rc = trace_next(r, &op, &e)) > 0) {
            if (n++ == 0)
                *first = op.line;
            if (op.line != *first + n - 1 || (rc = trace_write(w, &op, &e)))
                break;
        }
        if (jobs_interrupted || rc > 0)
            rc = SIM_EINTR;
        rc = trace_writer_close(w, rc == SIM_OK, rc ? NULL : &e) ? SIM_EIO : rc;
    }
    trace_close(r);
    return rc == SIM_OK;
}

struct run_job {
    const struct run_opts *o;
    const char *dir;
};

/* In a child of the pool: run group n; a failure leaves DIR/N.error. */
static int run_child(void *arg, u32 n)
{
    const struct run_job *j = arg;
    struct sim_err e = { 0 };
    char p[4200];
    FILE *f;
    int c;

    keep_for_exit = true;               /* the worker exits after this group */
    c = run_group(j->o, group_first(j->o, n), group_first(j->o, n + 1) - group_first(j->o, n),
                  j->dir, &e);

    if (c) {
        /* overwrite the space run_all reserved: no new blocks on a full disk */
        snprintf(p, sizeof(p), "%s/%u.error", j->dir, n);
        if ((f = fopen(p, "r+"))) {
            fprintf(f, "%d\n%s\n", c, e.msg);
            fclose(f);
        }
    }
    return c ? 1 : 0;
}

/* Run every job (policy x repeat), in groups that each read the input
 * once; up to o->jobs groups at once in child processes. */
static int run_all(const struct run_opts *o, const char *dir, struct sim_err *err)
{
    u32 n = nr_groups(o);
    struct run_job job = { o, dir };
    int *st, rc = SIM_OK;
    char bin[4200];
    u64 first = 1;

    snprintf(bin, sizeof(bin), "%s/input.tlbt", dir);
    if (parse_once(o, bin, &first)) {
        struct run_opts once = *o;

        once.input = bin;
        once.input_line = first;
        rc = run_all(&once, dir, err);
        unlink(bin);
        if (rc == SIM_OK || rc == SIM_EINTR || jobs_interrupted)
            return rc;
        /* Run again on the trace itself: its messages name its own lines. */
        for (u32 i = 0; i < n; i++) {
            snprintf(bin, sizeof(bin), "%s/%u.error", dir, i);
            unlink(bin);
        }
        rc = SIM_OK;
    }

    if (n == 1 || o->jobs <= 1) {
        for (u32 g = 0; g < n && !rc; g++) {
            keep_for_exit = g + 1 == n; /* the rest of cmd_run needs no simulation */
            rc = run_group(o, group_first(o, g), group_first(o, g + 1) - group_first(o, g), dir,
                           err);
        }
        keep_for_exit = false;
        return rc;
    }
    kept_reader_close();                /* the workers open the trace themselves */
    if (!(st = calloc(n, sizeof(*st))))
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    /* Reserve each group's error file now, so a worker can still report
     * "No space left on device" when the disk fills up under it. */
    for (u32 i = 0; i < n && !rc; i++) {
        char p[4200], pad[SIM_ERR_MSG + 32];
        FILE *f;

        memset(pad, '\n', sizeof(pad));
        snprintf(p, sizeof(p), "%s/%u.error", dir, i);
        if (!(f = fopen(p, "w")) || fwrite(pad, 1, sizeof(pad), f) != sizeof(pad) ||
            fflush(f))
            rc = sim_err_set(err, SIM_EIO, "%s: cannot create: %s", p, strerror(errno));
        if (f && fclose(f) && !rc)
            rc = sim_err_set(err, SIM_EIO, "%s: cannot create: %s", p, strerror(errno));
    }
    if (rc) {
        free(st);
        return rc;
    }
    rc = jobs_run(n, o->jobs, run_child, &job, st, NULL, err);
    for (u32 i = 0; i < n && !rc; i++) {
        char p[4200], msg[SIM_ERR_MSG + 32] = "";
        int code = SIM_EINTERNAL;
        FILE *f;

        if (!st[i])
            continue;
        snprintf(p, sizeof(p), "%s/%u.error", dir, i);
        if ((f = fopen(p, "r"))) {
            if (fscanf(f, "%d\n", &code) != 1)
                code = SIM_EINTERNAL;
            if (!fgets(msg, sizeof(msg), f))
                msg[0] = 0;
            msg[strcspn(msg, "\n")] = 0;
            fclose(f);
        }
        rc = sim_err_set(err, code, "%s", msg[0] ? msg : "a policy run crashed");
    }
    free(st);
    return rc;
}

/* summary_stats.csv after --repeat, into the new generation DEST; without
 * it, a stale one from an earlier repeated run would describe other rows, so
 * it is not carried over (run_drop). */
static int write_stats(const struct run_opts *o, const char *dest, struct sim_err *err)
{
    if (o->repeat > 1)
        return stats_write_csv(dest, "summary.csv", "summary_stats.csv", err);
    return SIM_OK;
}

/* Files of an earlier run in DIR that the new set replaces or drops; the
 * rest (tlb_flush.txt without --tlb-log, figures, reports, subdirectories)
 * are carried over into the new generation. */
static const char *const run_drop[] = {
    "summary.csv", "summary.json", "cpus.csv", "flushes.csv", "timeline.csv",
    "summary_stats.csv",
};

/* ---- command line -------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: tlbsim run TRACE [options]\n"
          "\n"
          "Simulate TRACE (JSON Lines or binary, detected by content) on a machine\n"
          "model under one or more TLB flush policies and write CSV files.\n"
          "\n"
          "  -m, --machine FILE|NAME  machine model (default: models/skylake-sp.json);\n"
          "                           NAME looks in models/ (e.g. zen3, sapphire-rapids)\n"
          "  -p, --policy LIST        comma-separated policies (default: linux);\n"
          "                           `tlbsim policies` lists them; `all` runs every one\n"
          "  -o, --out DIR            output directory (default: out/); DIR becomes a\n"
          "                           symbolic link to .DIR.N beside it, switched to the\n"
          "                           new set of files in one rename; one writer at a\n"
          "                           time (lock .DIR.lock; docs/output.md)\n"
          "  -s, --set KEY=VALUE      override one model key (repeatable);\n"
          "                           --help-keys lists every key and its value\n"
          "      --interval CYCLES    timeline.csv interval (default 100000)\n"
          "      --tlb-log            also write tlb_flush.txt: tlb:tlb_flush events\n"
          "                           in trace-cmd report's text format\n"
          "      --check              run invariant checkers after every event (slow)\n"
          "  -j, --jobs N             runs in parallel (default: CPU count)\n"
          "  -r, --repeat N           N runs per policy with sim.seed S, S+1, ... S+N-1\n"
          "                           (S: the model's sim.seed); adds summary_stats.csv:\n"
          "                           mean, sd and 95% confidence interval per column\n"
          "  -q, --quiet              no summary and no progress on stderr\n"
          "      --progress           progress lines on stderr even when it is not a\n"
          "                           terminal (one per 2 s of wall time, and one at the end)\n"
          "      --help-keys          list the model keys and exit\n"
          "  -h, --help               this text\n"
          "\n"
          "Without --set cpus=N the machine gets as many CPUs as the trace header says.\n"
          "TRACE may be compressed (gzip, xz, zstd: detected by content) or `-` for\n"
          "stdin (copied once into DIR, so every run reads the same input).\n"
          "Outputs (documented in docs/output.md): summary.csv (one row per policy\n"
          "and repeat), summary.json (configuration and counters of each), cpus.csv,\n"
          "flushes.csv, timeline.csv (the first repeat's), and summary_stats.csv with\n"
          "--repeat.  On a fixed trace the seed drives the interrupt-entry spread\n"
          "(ipi.irq_entry_spread_cycles) and random TLB replacement; vary the workload\n"
          "itself with `tlbsim sweep SPEC.json --repeat N`.  Exit status: 0 ok, 2 bad\n"
          "input or usage, 1 internal error, 130 interrupted (previous outputs left\n"
          "intact).\n", f);
}

static int add_policies(struct run_opts *o, char *list)
{
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        if (!strcmp(tok, "all")) {
            for (size_t i = 0; i < flush_nr_policies && o->nr_policies < MAX_POLICIES; i++)
                o->policies[o->nr_policies++] = flush_policies[i].name;
            continue;
        }
        if (!flush_policy_find(tok)) {
            fprintf(stderr, "tlbsim: --policy: unknown policy '%s' (see `tlbsim policies`)\n", tok);
            return EXIT_BADINPUT;
        }
        for (u32 i = 0; i < o->nr_policies; i++)
            if (!strcmp(o->policies[i], tok)) {
                fprintf(stderr, "tlbsim: --policy: '%s' given twice\n", tok);
                return EXIT_BADINPUT;
            }
        if (o->nr_policies == MAX_POLICIES) {
            fprintf(stderr, "tlbsim: --policy: at most %d policies\n", MAX_POLICIES);
            return EXIT_BADINPUT;
        }
        o->policies[o->nr_policies++] = tok;
    }
    return 0;
}

static int parse_u64_arg(const char *opt, const char *v, u64 min, u64 *out)
{
    char *end;

    errno = 0;
    if (!*v || *v == '-')
        goto bad;
    *out = strtoull(v, &end, 10);
    if (errno || *end || *out < min)
        goto bad;
    return 0;
bad:
    fprintf(stderr, "tlbsim: %s: expected an integer >= %" PRIu64 ", got '%s'\n", opt, min, v);
    return EXIT_BADINPUT;
}

int cmd_run(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "machine", required_argument, 0, 'm' }, { "policy", required_argument, 0, 'p' },
        { "out", required_argument, 0, 'o' }, { "set", required_argument, 0, 's' },
        { "interval", required_argument, 0, 'I' }, { "tlb-log", no_argument, 0, 'T' },
        { "check", no_argument, 0, 'C' }, { "jobs", required_argument, 0, 'j' },
        { "quiet", no_argument, 0, 'q' }, { "help-keys", no_argument, 0, 'K' },
        { "repeat", required_argument, 0, 'r' }, { "progress", no_argument, 0, 'G' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    struct run_opts o = { .out = "out", .interval = 100000, .repeat = 1 };
    char dir[OUTDIR_PATH + 32], *plist = NULL;
    struct sim_err err = { 0 };
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    u64 v;
    int c, rc;

    o.jobs = ncpu > 0 ? (u32)ncpu : 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:p:o:s:j:r:qh", lopts, NULL)) != -1) {
        switch (c) {
        case 'm': o.machine = optarg; break;
        case 'p': plist = optarg; break;
        case 'o': o.out = optarg; break;
        case 's':
            if (o.nr_sets == MAX_SETS) {
                fprintf(stderr, "tlbsim: --set: more than %d overrides\n", MAX_SETS);
                return EXIT_BADINPUT;
            }
            o.sets[o.nr_sets++] = optarg;
            break;
        case 'I':
            if (parse_u64_arg("--interval", optarg, 1, &v))
                return EXIT_BADINPUT;
            o.interval = v;
            break;
        case 'T': o.tlb_log = true; break;
        case 'C': o.check = true; break;
        case 'j':
            if (parse_u64_arg("--jobs", optarg, 1, &v))
                return EXIT_BADINPUT;
            if (v > JOBS_MAX) {
                fprintf(stderr, "tlbsim: --jobs: at most %d workers\n", JOBS_MAX);
                return EXIT_BADINPUT;
            }
            o.jobs = (u32)v;
            break;
        case 'r':
            if (parse_u64_arg("--repeat", optarg, 1, &v))
                return EXIT_BADINPUT;
            if (v > MAX_REPEAT) {
                fprintf(stderr, "tlbsim: --repeat: at most %d runs per policy\n", MAX_REPEAT);
                return EXIT_BADINPUT;
            }
            o.repeat = (u32)v;
            break;
        case 'q': o.quiet = true; break;
        case 'G': o.progress = true; break;
        case 'K': {
            struct machine m;
            machine_init(&m);
            model_print_keys(stdout, &m);
            return EXIT_OK;
        }
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_BADINPUT;
        }
    }
    if (optind != argc - 1) {
        cli_error(optind >= argc ? "run: missing TRACE (see `tlbsim run --help`)"
                                 : "run: exactly one TRACE expected");
        return EXIT_BADINPUT;
    }
    o.trace = argv[optind];
    if (plist && (rc = add_policies(&o, plist)))
        return rc;
    if (!o.nr_policies)
        o.policies[o.nr_policies++] = "linux";

    /* One writer per output directory (outdir.h): refuse before reading
     * stdin or running anything. */
    struct outdir od;
    if ((rc = outdir_lock(&od, o.out, &err))) {
        cli_error(err.msg);
        return EXIT_BADINPUT;
    }
    /* stdin is read by every run: copy it once, beside the output directory
     * (that is where the space for big files is). */
    if (!strcmp(o.trace, "-") && (rc = stream_spool_stdin(od.parent, &err))) {
        outdir_unlock(&od);
        cli_error(err.msg);
        return cli_exit_code(rc);
    }
    /* Validate the machine and overrides once, before any output. */
    struct machine m;
    {
        struct trace_reader *r;
        struct trace_header hdr;

        if ((rc = trace_open(o.trace, &r, &hdr, &err))) {
            outdir_unlock(&od);
            cli_error(err.msg);
            return cli_exit_code(rc);
        }
        if ((rc = load_machine(&o, hdr.cpus, &m, &err))) {
            trace_close(r);
            outdir_unlock(&od);
            cli_error(err.msg);
            return cli_exit_code(rc);
        }
        o.m = &m;                       /* every run starts from a copy */
        o.m_cpus = hdr.cpus;
        kept_reader = r;                /* the first run reads on from here */
        kept_hdr = hdr;
    }
    /* Handlers first: a signal between mkdir and the run must still clean
     * up.  Parts and the new set go into a generation directory that DIR
     * is switched to in one rename at the end (outdir.h). */
    jobs_signals(stop_running_sims);
    if ((rc = outdir_begin(&od, &err))) {
        kept_reader_close();
        outdir_unlock(&od);
        cli_error(err.msg);
        return EXIT_BADINPUT;
    }
    snprintf(dir, sizeof(dir), "%s/.tlbsim-parts", od.gen);
    if (mkdir(dir, 0700)) {
        fprintf(stderr, "tlbsim: %s: cannot create: %s\n", dir, strerror(errno));
        kept_reader_close();
        outdir_abort(&od);
        outdir_unlock(&od);
        return EXIT_BADINPUT;
    }
    rc = run_all(&o, dir, &err);
    kept_reader_close();                /* not taken: an early failure */
    if (!rc && !jobs_interrupted)
        rc = assemble(&o, &m, dir, od.gen, &err);
    outdir_remove_tree(dir);
    if (!rc && !jobs_interrupted)
        rc = write_stats(&o, od.gen, &err);
    if (!rc && !jobs_interrupted)
        rc = outdir_commit(&od, run_drop, ARRAY_SIZE(run_drop), &err);
    outdir_abort(&od);                  /* nothing left to remove after a commit */
    outdir_unlock(&od);
    if (jobs_interrupted || rc == SIM_EINTR) {
        cli_error("interrupted; previous outputs left intact");
        return EXIT_INTERRUPTED;
    }
    if (rc) {
        cli_error(err.msg);
        return cli_exit_code(rc);
    }
    if (!o.quiet)
        printf("wrote %s/summary.csv, summary.json, cpus.csv, flushes.csv, timeline.csv%s%s\n",
               o.out,
               o.tlb_log ? ", tlb_flush.txt" : "", o.repeat > 1 ? ", summary_stats.csv" : "");
    return EXIT_OK;
}
