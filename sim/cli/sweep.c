/* sim/cli/sweep.c - `tlbsim sweep`: one `tlbsim run` per point of a grid.
 *
 * A grid is the cartesian product of --grid KEY=V1,V2,... axes (policy,
 * machine, cpus or any model key that --set accepts).  Points are numbered
 * in nested-loop order, the first axis outermost, and point N runs as
 *
 *     tlbsim run TRACE --policy P --machine M --set K=V... --out DIR/points/NNNN
 *
 * in a child process (this very binary, through /proc/self/exe), up to
 * --jobs at once (the job pool of jobs.h).  The same command lines can instead be written out for GNU
 * parallel or a Slurm array (--emit-jobs), and `--merge DIR` later assembles
 * what the points wrote.  Merging reads the points in number order, so the
 * merged CSV is byte-identical whatever --jobs was or wherever the points ran.
 *
 * A `seed` axis (or --repeat N, which adds seed=S..S+N-1 as the last axis,
 * S the spec's seed or the model's sim.seed) reaches the workload generator
 * (the spec's seed: one trace per seed) and the model (--set sim.seed=V).
 *
 * DIR layout:
 *   points.csv           the plan: point,grid.KEY1,grid.KEY2,...
 *   traces/              traces generated from a workload spec (one per CPU
 *                        count; under traces/seedV/ per seed with a seed axis)
 *   points/NNNN/         one `tlbsim run --out` each, plus run.log
 *   sweep_summary.csv    point,grid.KEY...,<summary.csv columns>
 *   sweep_flushes.csv    point,grid.KEY...,<flushes.csv columns>
 *   sweep_stats.csv      with a seed axis: mean, sd, 95% CI over the seeds
 *
 * Grid values cannot hold commas or quotes (the command line splits on
 * commas), so points.csv needs no CSV quoting and is read back by splitting.
 */
#include "cli.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../models/machine.h"
#include "../../models/policy.h"
#include "../io/csv.h"
#include "../io/model_load.h"
#include "../io/trace.h"
#include "../io/wl_spec.h"
#include "jobs.h"
#include "sweep.h"

#define bad sweep_bad

#define SWEEP_MAX_AXES   16
#define SWEEP_MAX_VALUES 1024             /* values of one axis */
#define SWEEP_MAX_SETS   256              /* fixed --set overrides */
#define SWEEP_MAX_ARGS   (16 + 2 * (SWEEP_MAX_SETS + SWEEP_MAX_AXES))

enum axis_kind {
    AX_POLICY,                            /* --policy */
    AX_MACHINE,                           /* --machine */
    AX_CPUS,                              /* spec: regenerate; trace: --set cpus=N */
    AX_SET,                               /* --set KEY=V */
    AX_SEED,                              /* spec: regenerate; and --set sim.seed=V */
};

struct axis {
    const char *key;                      /* as given; points into argv */
    enum axis_kind kind;
    const char *val[SWEEP_MAX_VALUES];    /* points into argv (or policy names) */
    u32 n;                                /* values */
    u32 stride;                           /* points between two values */
};

enum job_format { FMT_PARALLEL, FMT_SLURM };

struct sweep {
    const char *input;                    /* trace or workload spec, as given */
    char input_abs[SWEEP_PATH];           /* absolute, for the job lines */
    bool is_spec;
    u32 input_cpus;                       /* trace header's CPUs, or the spec's */
    struct axis ax[SWEEP_MAX_AXES];
    u32 nr_ax;
    const char *machine;                  /* fixed --machine; NULL: default */
    const char *sets[SWEEP_MAX_SETS];     /* fixed --set KEY=V */
    u32 nr_sets;
    const char *out;                      /* --out DIR */
    char out_abs[SWEEP_PATH];
    const char *emit;                     /* --emit-jobs FILE, or NULL */
    enum job_format format;
    const char *bin;                      /* --bin: tlbsim path in the job lines */
    char self[SWEEP_PATH];                /* this executable */
    const char *interval;                 /* --interval, passed through */
    u32 jobs;                             /* local workers */
    bool quiet;
    u32 repeat;                           /* --repeat N (0: not given) */
    char seed_val[SWEEP_MAX_VALUES][24];  /* the seed axis values of --repeat */
    u32 nr_points;
};

/* One command line with its strings in a private pool. */
struct cmdline {
    char *argv[SWEEP_MAX_ARGS + 1];       /* NULL-terminated */
    int argc;
    char pool[65536];                     /* the strings */
    size_t used;                          /* bytes of pool in use */
};

int sweep_bad(const char *fmt, ...)
{
    va_list ap;

    fputs("tlbsim: sweep: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_BADINPUT;
}

/* ==== the grid ================================================================ */

static const char *point_value(const struct sweep *s, u32 a, u32 p)
{
    return s->ax[a].val[(p / s->ax[a].stride) % s->ax[a].n];
}

static const struct axis *find_axis(const struct sweep *s, enum axis_kind k)
{
    for (u32 a = 0; a < s->nr_ax; a++)
        if (s->ax[a].kind == k)
            return &s->ax[a];
    return NULL;
}

static int axis_index(const struct sweep *s, enum axis_kind k)
{
    const struct axis *x = find_axis(s, k);
    return x ? (int)(x - s->ax) : -1;
}

static int add_value(struct axis *x, const char *v)
{
    if (!*v)
        return bad("--grid %s: empty value", x->key);
    if (strpbrk(v, "\"\r\n"))
        return bad("--grid %s: value '%s' holds a quote or newline", x->key, v);
    for (u32 i = 0; i < x->n; i++)
        if (!strcmp(x->val[i], v))
            return bad("--grid %s: value '%s' given twice", x->key, v);
    if (x->n == SWEEP_MAX_VALUES)
        return bad("--grid %s: at most %d values", x->key, SWEEP_MAX_VALUES);
    x->val[x->n++] = v;
    return 0;
}

static int check_value(const struct axis *x, const char *v)
{
    struct machine m;
    struct sim_err err = { 0 };
    char kv[512];
    char *end;

    switch (x->kind) {
    case AX_POLICY:
        if (!flush_policy_find(v))
            return bad("--grid policy: unknown policy '%s' (see `tlbsim policies`)", v);
        return 0;
    case AX_MACHINE: {
        char path[SWEEP_PATH];
        if (model_find(v, path, sizeof(path), &err))
            return bad("--grid machine: %s", err.msg);
        return 0;
    }
    case AX_CPUS: {
        unsigned long n = strtoul(v, &end, 10);
        if (*end || !*v || *v == '-' || n == 0 || n > MACHINE_MAX_CPUS)
            return bad("--grid cpus: '%s' is not a CPU count in 1..%d", v, MACHINE_MAX_CPUS);
        return 0;
    }
    case AX_SEED: {
        errno = 0;
        (void)strtoull(v, &end, 10);
        if (*end || !*v || *v == '-' || errno)
            return bad("--grid seed: '%s' is not an integer in 0..2^64-1", v);
        return 0;
    }
    case AX_SET:
        machine_init(&m);
        snprintf(kv, sizeof(kv), "%s=%s", x->key, v);
        if (model_set_override(&m, kv, &err))
            return bad("--grid %s: %s", x->key, err.msg);
        return 0;
    }
    return 0;
}

/* Parse "KEY=V1,V2,..." (arg is modified: commas become NULs). */
static int add_axis(struct sweep *s, char *arg)
{
    char *eq = strchr(arg, '='), *tok, *save;
    struct axis *x;
    int rc;

    if (!eq || eq == arg)
        return bad("--grid '%s': expected KEY=V1,V2,...", arg);
    if (s->nr_ax == SWEEP_MAX_AXES)
        return bad("--grid: at most %d axes", SWEEP_MAX_AXES);
    *eq = 0;
    for (u32 a = 0; a < s->nr_ax; a++)
        if (!strcmp(s->ax[a].key, arg))
            return bad("--grid %s: key given twice", arg);
    x = &s->ax[s->nr_ax];
    memset(x, 0, sizeof(*x));
    x->key = arg;
    x->kind = !strcmp(arg, "policy") ? AX_POLICY : !strcmp(arg, "machine") ? AX_MACHINE
            : !strcmp(arg, "cpus") ? AX_CPUS : !strcmp(arg, "seed") ? AX_SEED : AX_SET;
    for (tok = strtok_r(eq + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (x->kind == AX_POLICY && !strcmp(tok, "all")) {
            for (size_t i = 0; i < flush_nr_policies; i++)
                if ((rc = add_value(x, flush_policies[i].name)))
                    return rc;
            continue;
        }
        if ((rc = check_value(x, tok)) || (rc = add_value(x, tok)))
            return rc;
    }
    if (!x->n)
        return bad("--grid %s: no values", arg);
    s->nr_ax++;
    return 0;
}

/* Strides (last axis fastest) and the number of points. */
static int plan_points(struct sweep *s)
{
    u64 n = 1;

    for (u32 a = s->nr_ax; a-- > 0;) {
        s->ax[a].stride = (u32)n;
        n *= s->ax[a].n;
        if (n > SWEEP_MAX_POINTS)
            return bad("the grid has more than %d points", SWEEP_MAX_POINTS);
    }
    s->nr_points = (u32)n;
    return 0;
}

/* "policy=linux cpus=4" for messages. */
static void point_label(const struct sweep *s, u32 p, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = 0;
    for (u32 a = 0; a < s->nr_ax && used < len; a++) {
        int k = snprintf(buf + used, len - used, "%s%s=%s", a ? " " : "", s->ax[a].key,
                         point_value(s, a, p));
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

static int mkdir_p(const char *dir, struct sim_err *err);

/* ==== the input: trace or workload spec ======================================== */

static int open_input(struct sweep *s)
{
    struct sim_err terr = { 0 }, serr = { 0 };
    const struct wl_desc *d;
    struct wl_params wp;
    struct trace_reader *r;
    struct trace_header hdr;
    size_t len = strlen(s->input);

    if (!realpath(s->input, s->input_abs))
        return bad("%s: %s", s->input, strerror(errno));
    if (trace_open(s->input, &r, &hdr, &terr) == SIM_OK) {
        s->input_cpus = hdr.cpus;
        trace_close(r);
        return 0;
    }
    if (wl_spec_load(s->input, &d, &wp, &serr) == SIM_OK) {
        s->is_spec = true;
        s->input_cpus = wp.cpus;
        return 0;
    }
    /* Neither: name the error of what the file most looks like. */
    if (len > 5 && !strcmp(s->input + len - 5, ".json"))
        cli_error(serr.msg);
    else
        cli_error(terr.msg);
    return EXIT_BADINPUT;
}

/* DIR/traces[/seedV]/NAME[-cpusN].jsonl: the trace generated for a CPU count
 * (0: the spec's) and a seed value (NULL: no seed axis).  The file name does
 * not hold the seed, so the `trace` column of runs that differ only in their
 * seed is the same. */
static void spec_trace_path(const struct sweep *s, u32 cpus, const char *seed, char *buf,
                            size_t len)
{
    const char *base = strrchr(s->input, '/');
    char sub[40] = "";
    size_t n;

    base = base ? base + 1 : s->input;
    n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".json"))
        n -= 5;
    if (seed)
        snprintf(sub, sizeof(sub), "/seed%s", seed);
    /* setup() keeps out_abs and the input name short enough for len. */
    if (cpus)
        n = (size_t)snprintf(buf, len, "%s/traces%s/%.*s-cpus%u.jsonl", s->out_abs, sub,
                             (int)n, base, cpus);
    else
        n = (size_t)snprintf(buf, len, "%s/traces%s/%.*s.jsonl", s->out_abs, sub, (int)n, base);
    assert(n < len);
}

/* The trace point p runs. */
static void point_trace(const struct sweep *s, u32 p, char *buf, size_t len)
{
    int c = axis_index(s, AX_CPUS), k = axis_index(s, AX_SEED);

    if (!s->is_spec)
        snprintf(buf, len, "%s", s->input_abs);
    else
        spec_trace_path(s, c < 0 ? 0 : (u32)atoi(point_value(s, (u32)c, p)),
                        k < 0 ? NULL : point_value(s, (u32)k, p), buf, len);
}

/* Generate the spec's trace once per CPU count and seed into DIR/traces/. */
static int generate_traces(const struct sweep *s)
{
    const struct axis *x = find_axis(s, AX_CPUS), *y = find_axis(s, AX_SEED);
    char dir[SWEEP_PATH + 64], path[SWEEP_PATH];
    struct sim_err err = { 0 };
    const struct wl_desc *d;
    struct wl_params wp;
    int rc;

    if (!s->is_spec)
        return 0;
    for (u32 k = 0; k < (y ? y->n : 1); k++) {
        if (y)
            snprintf(dir, sizeof(dir), "%s/traces/seed%s", s->out_abs, y->val[k]);
        else
            snprintf(dir, sizeof(dir), "%s/traces", s->out_abs);
        if ((rc = mkdir_p(dir, &err)))
            goto fail;
        for (u32 i = 0; i < (x ? x->n : 1); i++) {
            if ((rc = wl_spec_load(s->input, &d, &wp, &err)))
                goto fail;
            if (x)
                wp.cpus = (u32)atoi(x->val[i]);
            if (y)
                wp.seed = strtoull(y->val[k], NULL, 10);
            spec_trace_path(s, x ? wp.cpus : 0, y ? y->val[k] : NULL, path, sizeof(path));
            if ((rc = wl_generate(d, &wp, path, &err)))
                goto fail;
        }
    }
    return 0;
fail:
    cli_error(err.msg);
    return cli_exit_code(rc);
}

/* ==== validation: every point's machine, before anything runs ===================== */

static bool sets_key(const struct sweep *s, const char *key)
{
    size_t n = strlen(key);

    for (u32 i = 0; i < s->nr_sets; i++)
        if (!strncmp(s->sets[i], key, n) && s->sets[i][n] == '=')
            return true;
    return false;
}

/* Axis a at point p as the --set KEY=V of its `tlbsim run` (into buf);
 * false when the axis is not passed as a --set. */
static bool axis_set(const struct sweep *s, u32 a, u32 p, char *buf, size_t len)
{
    const struct axis *x = &s->ax[a];

    if (x->kind == AX_SEED)
        snprintf(buf, len, "sim.seed=%s", point_value(s, a, p));
    else if (x->kind == AX_SET || (x->kind == AX_CPUS && !s->is_spec))
        snprintf(buf, len, "%s=%s", x->key, point_value(s, a, p));
    else
        return false;
    return true;
}

/* Point p's machine, loaded as `tlbsim run` will (model_load_for_run), and
 * the trace's CPUs checked against it (the policy does not matter). */
static int check_point(const struct sweep *s, u32 p, struct sim_err *err)
{
    int mi = axis_index(s, AX_MACHINE), ci = axis_index(s, AX_CPUS);
    const char *mname = mi >= 0 ? point_value(s, (u32)mi, p) : s->machine;
    const char *sets[SWEEP_MAX_SETS + SWEEP_MAX_AXES];
    char kv[SWEEP_MAX_AXES][512];
    u32 tcpus = s->input_cpus, n = 0;
    struct machine m;
    int rc;

    if (ci >= 0 && s->is_spec)
        tcpus = (u32)atoi(point_value(s, (u32)ci, p));
    for (u32 i = 0; i < s->nr_sets; i++)
        sets[n++] = s->sets[i];
    for (u32 a = 0; a < s->nr_ax; a++)
        if (axis_set(s, a, p, kv[a], sizeof(kv[a])))
            sets[n++] = kv[a];
    machine_init(&m);
    if ((rc = model_load_for_run(mname, sets, n, tcpus, &m, err)))
        return rc;
    if (m.cpus < tcpus)
        return sim_err_set(err, SIM_EINVAL, "cpus: the trace needs %u CPUs but the machine "
                           "has %u", tcpus, m.cpus);
    return SIM_OK;
}

static int check_points(const struct sweep *s)
{
    int pi = axis_index(s, AX_POLICY);

    for (u32 p = 0; p < s->nr_points; p++) {
        struct sim_err err = { 0 };
        char label[1024];
        int rc;

        if (pi >= 0 && (p / s->ax[pi].stride) % s->ax[pi].n)
            continue;                   /* same machine as the first policy's point */
        if ((rc = check_point(s, p, &err))) {
            point_label(s, p, label, sizeof(label));
            return bad("point %u (%s): %s", p, label, err.msg);
        }
    }
    return 0;
}

/* ==== command lines ============================================================ */

static void cl_add(struct cmdline *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cl_add(struct cmdline *c, const char *fmt, ...)
{
    size_t room = sizeof(c->pool) - c->used;
    va_list ap;
    int n;

    /* The limits on axes, sets and paths keep us far below both bounds. */
    assert(c->argc < SWEEP_MAX_ARGS && room > 1);
    va_start(ap, fmt);
    n = vsnprintf(c->pool + c->used, room, fmt, ap);
    va_end(ap);
    assert(n >= 0 && (size_t)n < room);
    c->argv[c->argc++] = c->pool + c->used;
    c->argv[c->argc] = NULL;
    c->used += (size_t)n + 1;
}

static void point_dir(const struct sweep *s, u32 p, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/points/%04u", s->out_abs, p);

    assert(n > 0 && (size_t)n < len);   /* setup() keeps out_abs short */
    (void)n;
}

/* The `tlbsim run` command of point p. */
static void point_cmdline(const struct sweep *s, u32 p, const char *bin, struct cmdline *c)
{
    char path[SWEEP_PATH];
    int mi = axis_index(s, AX_MACHINE);

    c->argc = 0;
    c->used = 0;
    cl_add(c, "%s", bin);
    cl_add(c, "run");
    point_trace(s, p, path, sizeof(path));
    cl_add(c, "%s", path);
    for (u32 a = 0; a < s->nr_ax; a++)
        if (s->ax[a].kind == AX_POLICY) {
            cl_add(c, "--policy");
            cl_add(c, "%s", point_value(s, a, p));
        }
    if (mi >= 0 || s->machine) {
        const char *m = mi >= 0 ? point_value(s, (u32)mi, p) : s->machine;
        struct stat st;
        /* A model file by relative path: absolute, for job lines run elsewhere. */
        if (!stat(m, &st) && S_ISREG(st.st_mode) && realpath(m, path))
            m = path;
        cl_add(c, "--machine");
        cl_add(c, "%s", m);
    }
    for (u32 i = 0; i < s->nr_sets; i++) {
        cl_add(c, "--set");
        cl_add(c, "%s", s->sets[i]);
    }
    for (u32 a = 0; a < s->nr_ax; a++)
        if (axis_set(s, a, p, path, sizeof(path))) {
            cl_add(c, "--set");
            cl_add(c, "%s", path);
        }
    if (s->interval) {
        cl_add(c, "--interval");
        cl_add(c, "%s", s->interval);
    }
    point_dir(s, p, path, sizeof(path));
    cl_add(c, "--out");
    cl_add(c, "%s", path);
    cl_add(c, "--jobs");
    cl_add(c, "1");
    cl_add(c, "--quiet");
}

/* Write one word for sh: bare when safe, else in single quotes. */
static void sh_word(FILE *f, const char *w)
{
    if (*w && strspn(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                        "_-+=.,/:@%") == strlen(w)) {
        fputs(w, f);
        return;
    }
    fputc('\'', f);
    for (; *w; w++)
        if (*w == '\'')
            fputs("'\\''", f);
        else
            fputc(*w, f);
    fputc('\'', f);
}

static void sh_cmdline(FILE *f, const struct cmdline *c)
{
    for (int i = 0; i < c->argc; i++) {
        if (i)
            fputc(' ', f);
        sh_word(f, c->argv[i]);
    }
}

/* ==== the plan: points.csv and the point directories ============================== */

static int make_dirs(const struct sweep *s)
{
    struct sim_err err = { 0 };
    char p[SWEEP_PATH + 16];

    snprintf(p, sizeof(p), "%s/points", s->out_abs);
    if (csv_mkdir(p, &err))
        return bad("%s", err.msg);
    for (u32 i = 0; i < s->nr_points; i++) {
        point_dir(s, i, p, sizeof(p));
        if (csv_mkdir(p, &err))
            return bad("%s", err.msg);
    }
    return 0;
}

static int write_plan(const struct sweep *s)
{
    struct csv_file cf;
    struct sim_err err = { 0 };
    int rc;

    if ((rc = csv_open(&cf, s->out_abs, "points.csv", &err)))
        goto fail;
    fputs("point", cf.f);
    for (u32 a = 0; a < s->nr_ax; a++)
        fprintf(cf.f, ",grid.%s", s->ax[a].key);
    fputc('\n', cf.f);
    for (u32 p = 0; p < s->nr_points; p++) {
        fprintf(cf.f, "%u", p);
        for (u32 a = 0; a < s->nr_ax; a++) {
            fputc(',', cf.f);
            csv_str(cf.f, point_value(s, a, p));
        }
        fputc('\n', cf.f);
    }
    if ((rc = csv_commit(&cf, &err)))
        goto fail;
    return 0;
fail:
    cli_error(err.msg);
    return cli_exit_code(rc);
}

/* ==== --emit-jobs ================================================================ */

static void emit_slurm_head(FILE *f, const struct sweep *s)
{
    fprintf(f, "#!/bin/sh\n"
               "# tlbsim sweep: %u points.  Submit with `sbatch THIS_FILE`; when every task\n"
               "# has finished, merge with `tlbsim sweep --merge ", s->nr_points);
    sh_word(f, s->out_abs);
    fprintf(f, "`.\n"
               "# The paths below must be visible on the compute nodes (shared file system).\n"
               "# Sites cap array sizes (MaxArraySize, often 1001): split larger sweeps.\n"
               "#SBATCH --job-name=tlbsim-sweep\n"
               "#SBATCH --array=0-%u\n"
               "#SBATCH --ntasks=1\n"
               "#SBATCH --cpus-per-task=1\n"
               "#SBATCH --output=%s/points/slurm-%%a.log\n"
               "case \"$SLURM_ARRAY_TASK_ID\" in\n", s->nr_points - 1, s->out_abs);
}

static int emit_jobs(const struct sweep *s)
{
    const char *bin = s->bin ? s->bin : s->self;
    struct cmdline *c = malloc(sizeof(*c));
    FILE *f;

    if (!c)
        return EXIT_INTERNAL;
    if (!(f = fopen(s->emit, "w"))) {
        free(c);
        return bad("%s: cannot create: %s", s->emit, strerror(errno));
    }
    if (s->format == FMT_SLURM)
        emit_slurm_head(f, s);
    for (u32 p = 0; p < s->nr_points; p++) {
        point_cmdline(s, p, bin, c);
        if (s->format == FMT_SLURM)
            fprintf(f, "%u) exec ", p);
        sh_cmdline(f, c);
        fputs(s->format == FMT_SLURM ? " ;;\n" : "\n", f);
    }
    if (s->format == FMT_SLURM)
        fputs("*) echo \"tlbsim sweep: no point $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\nesac\n", f);
    free(c);
    if (ferror(f) | fclose(f))
        return bad("%s: write failed", s->emit);
    if (s->format == FMT_SLURM)
        chmod(s->emit, 0755);
    if (!s->quiet)
        printf("wrote %s: %u jobs (%s); then: tlbsim sweep --merge %s\n", s->emit,
               s->nr_points, s->format == FMT_SLURM ? "sbatch it" : "parallel < it", s->out);
    return EXIT_OK;
}

/* ==== running the points locally ================================================= */

/* In a child of the pool: exec point p's `tlbsim run`, output to its run.log. */
static int point_child(void *arg, u32 p)
{
    const struct sweep *s = arg;
    struct cmdline *c = malloc(sizeof(*c));
    char log[SWEEP_PATH + 16];
    int fd;

    if (!c)
        return EXIT_INTERNAL;
    point_cmdline(s, p, s->self, c);
    point_dir(s, p, log, sizeof(log));
    strcat(log, "/run.log");
    fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execv(s->self, c->argv);
    fprintf(stderr, "tlbsim: sweep: cannot run %s: %s\n", s->self, strerror(errno));
    return EXIT_INTERNAL;
}

/* Last line of a point's run.log, for the error message. */
static void last_log_line(const struct sweep *s, u32 p, char *buf, size_t len)
{
    char path[SWEEP_PATH + 16], line[1024];
    FILE *f;

    snprintf(buf, len, "(no message)");
    point_dir(s, p, path, sizeof(path));
    strcat(path, "/run.log");
    if (!(f = fopen(path, "r")))
        return;
    while (fgets(line, sizeof(line), f))
        if (line[0] != '\n') {
            line[strcspn(line, "\n")] = 0;
            snprintf(buf, len, "%s", line);
        }
    fclose(f);
}

static int report_failures(const struct sweep *s, const int *status)
{
    char label[1024], msg[1024];
    u32 shown = 0, failed = 0;
    int code = 0;

    for (u32 p = 0; p < s->nr_points; p++) {
        if (!status[p])
            continue;
        failed++;
        if (!code)
            code = status[p] == EXIT_BADINPUT ? EXIT_BADINPUT : EXIT_INTERNAL;
        if (shown++ < 3) {
            point_label(s, p, label, sizeof(label));
            last_log_line(s, p, msg, sizeof(msg));
            fprintf(stderr, "tlbsim: sweep: point %u (%s) failed: %s\n", p, label, msg);
        }
    }
    fprintf(stderr, "tlbsim: sweep: %u of %u points failed (logs: %s/points/NNNN/run.log)\n",
            failed, s->nr_points, s->out);
    return code;
}

static void progress(void *arg, u32 done)
{
    const struct sweep *s = arg;

    if (s->quiet || !isatty(2))
        return;
    fprintf(stderr, "\rsweep: %u/%u points done ", done, s->nr_points);
    if (done == s->nr_points)
        fputs("\r\033[K", stderr);
}

static int run_points(const struct sweep *s)
{
    int *status = calloc(s->nr_points, sizeof(*status));
    struct sim_err err = { 0 };
    int rc;

    if (!status)
        return EXIT_INTERNAL;
    rc = jobs_run(s->nr_points, s->jobs, point_child, (void *)s, status, progress, &err);
    if (rc == SIM_EINTR) {
        cli_error("sweep: interrupted; merged outputs left as they were");
        rc = EXIT_INTERRUPTED;
    } else if (rc) {
        fprintf(stderr, "tlbsim: sweep: %s; the points that ran are in %s/points/\n", err.msg,
                s->out);
        rc = EXIT_INTERNAL;
    } else {
        for (u32 p = 0; p < s->nr_points && !rc; p++)
            if (status[p])
                rc = report_failures(s, status);
    }
    free(status);
    return rc;
}

/* ==== command line ================================================================ */

static void usage(FILE *f)
{
    fputs("usage: tlbsim sweep TRACE|SPEC.json --grid KEY=V1,V2,... [--grid ...] [options]\n"
          "       tlbsim sweep --merge DIR\n"
          "\n"
          "Run `tlbsim run` once per point of a parameter grid (the cartesian product\n"
          "of the --grid axes) and merge the results into DIR/sweep_summary.csv and\n"
          "DIR/sweep_flushes.csv: each row gets a `point` column and one `grid.KEY`\n"
          "column per axis in front of the columns of summary.csv / flushes.csv.\n"
          "Rows come in point order (first axis outermost), whatever --jobs is.\n"
          "\n"
          "  -g, --grid KEY=V1,V2,...  an axis; KEY is `policy` (`all`: every policy),\n"
          "                            `machine` (a model name or file), `cpus`, or any\n"
          "                            model key --set accepts (tlb.stlb.entries, ...),\n"
          "                            or `seed` (the spec's seed and sim.seed)\n"
          "  -o, --out DIR             sweep directory (default: out/sweep)\n"
          "  -j, --jobs N              points run in parallel (default: CPU count)\n"
          "  -m, --machine M           the machine for every point (unless a grid key)\n"
          "  -s, --set KEY=VALUE       a fixed override for every point (repeatable)\n"
          "  -r, --repeat N            N runs per point: adds the axis seed=S..S+N-1\n"
          "                            (S: the spec's seed, or the model's sim.seed)\n"
          "      --interval CYCLES     passed to `tlbsim run`\n"
          "      --emit-jobs FILE      do not run: write one command per point to FILE\n"
          "      --format parallel|slurm\n"
          "                            FILE is a plain list for GNU parallel (default)\n"
          "                            or an sbatch array script\n"
          "      --bin PATH            tlbsim path in the emitted commands (default:\n"
          "                            this binary's absolute path)\n"
          "      --merge DIR           only merge DIR/points/*/ (after --emit-jobs runs)\n"
          "  -q, --quiet               no progress or summary lines\n"
          "  -h, --help                this text\n"
          "\n"
          "A workload spec (workloads/*.json) is generated into DIR/traces/, once per\n"
          "value of a `cpus` axis.  With a trace, `cpus=N` becomes --set cpus=N (the\n"
          "trace's CPU count must not exceed N).  Every point is checked before any\n"
          "runs.  With a seed axis, DIR/sweep_stats.csv holds the mean, standard\n"
          "deviation and 95% confidence interval of every cost column over the seeds.\n"
          "Workflow and examples: docs/compare.md.\n", f);
}

/* --jobs, --repeat: an integer in 1..max. */
static int parse_count(const char *opt, const char *v, unsigned long max, u32 *out)
{
    char *end;
    unsigned long n = strtoul(v, &end, 10);

    if (!*v || *end || *v == '-' || n == 0 || n > max)
        return bad("%s: expected an integer in 1..%lu, got '%s'", opt, max, v);
    *out = (u32)n;
    return 0;
}

static int parse_interval(const char *v)
{
    char *end;
    unsigned long long n = strtoull(v, &end, 10);

    if (!*v || *end || *v == '-' || n == 0)
        return bad("--interval: expected an integer >= 1, got '%s'", v);
    return 0;
}

static int parse_args(struct sweep *s, int argc, char **argv, const char **merge_dir)
{
    static const struct option lopts[] = {
        { "grid", required_argument, 0, 'g' }, { "out", required_argument, 0, 'o' },
        { "jobs", required_argument, 0, 'j' }, { "machine", required_argument, 0, 'm' },
        { "set", required_argument, 0, 's' }, { "interval", required_argument, 0, 'I' },
        { "emit-jobs", required_argument, 0, 'E' }, { "format", required_argument, 0, 'F' },
        { "bin", required_argument, 0, 'B' }, { "merge", required_argument, 0, 'M' },
        { "quiet", no_argument, 0, 'q' }, { "help", no_argument, 0, 'h' },
        { "repeat", required_argument, 0, 'r' }, { 0, 0, 0, 0 },
    };
    bool have_format = false;
    int c, rc;

    optind = 1;
    opterr = 0;                         /* our own one-line messages */
    while ((c = getopt_long(argc, argv, "g:o:j:m:s:r:qh", lopts, NULL)) != -1) {
        switch (c) {
        case 'g': if ((rc = add_axis(s, optarg))) return rc; break;
        case 'o': s->out = optarg; break;
        case 'j': if ((rc = parse_count("--jobs", optarg, 1024, &s->jobs))) return rc; break;
        case 'm': s->machine = optarg; break;
        case 's':
            if (!strchr(optarg, '=') || s->nr_sets == SWEEP_MAX_SETS)
                return bad("--set '%s': expected KEY=VALUE", optarg);
            s->sets[s->nr_sets++] = optarg;
            break;
        case 'I': if ((rc = parse_interval(optarg))) return rc; s->interval = optarg; break;
        case 'E': s->emit = optarg; break;
        case 'F':
            have_format = true;
            if (!strcmp(optarg, "parallel"))
                s->format = FMT_PARALLEL;
            else if (!strcmp(optarg, "slurm"))
                s->format = FMT_SLURM;
            else
                return bad("--format: expected parallel or slurm, got '%s'", optarg);
            break;
        case 'B': s->bin = optarg; break;
        case 'M': *merge_dir = optarg; break;
        case 'r': if ((rc = parse_count("--repeat", optarg, 1000, &s->repeat))) return rc; break;
        case 'q': s->quiet = true; break;
        case 'h': usage(stdout); return -1;
        default:
            return bad("bad option '%s' (see `tlbsim sweep --help`)", argv[optind - 1]);
        }
    }
    if (have_format && !s->emit)
        return bad("--format needs --emit-jobs FILE");
    if (*merge_dir) {
        if (optind != argc || s->nr_ax || s->emit || s->repeat)
            return bad("--merge DIR takes no trace, --grid, --repeat or --emit-jobs");
        return 0;
    }
    if (optind != argc - 1)
        return bad(optind >= argc ? "missing TRACE or SPEC (see `tlbsim sweep --help`)"
                                  : "exactly one TRACE or SPEC expected");
    s->input = argv[optind];
    return 0;
}

/* Cross-option checks once the axes are known. */
static int check_axes(const struct sweep *s)
{
    if (!s->nr_ax)
        return bad("no --grid axis and no --repeat (e.g. --grid policy=linux,linux-4.14)");
    if (s->machine && find_axis(s, AX_MACHINE))
        return bad("--machine and --grid machine=... both given");
    for (u32 a = 0; a < s->nr_ax; a++)
        if ((s->ax[a].kind == AX_SET || s->ax[a].kind == AX_CPUS) && sets_key(s, s->ax[a].key))
            return bad("%s: both --set and --grid", s->ax[a].key);
    if (s->is_spec && sets_key(s, "cpus") && find_axis(s, AX_CPUS))
        return bad("cpus: both --set and --grid");
    if (find_axis(s, AX_SEED) && sets_key(s, "sim.seed"))
        return bad("seed: both --set sim.seed and --grid seed (the seed axis sets sim.seed)");
    return 0;
}

/* --repeat N: the axis seed=S..S+N-1 after the others, S the spec's seed or,
 * for a trace, the sim.seed of the fixed machine after --set. */
static int add_repeat_axis(struct sweep *s)
{
    struct sim_err err = { 0 };
    struct axis *x;
    u64 base;

    if (!s->repeat)
        return 0;
    if (find_axis(s, AX_SEED))
        return bad("--repeat and --grid seed both given (--repeat N is seed=S..S+N-1)");
    if (s->nr_ax == SWEEP_MAX_AXES)
        return bad("--grid: at most %d axes (with --repeat)", SWEEP_MAX_AXES);
    if (s->is_spec) {
        const struct wl_desc *d;
        struct wl_params wp;
        if (wl_spec_load(s->input, &d, &wp, &err))
            return bad("%s", err.msg);
        base = wp.seed;
    } else {
        struct machine m;
        machine_init(&m);
        if (model_load_for_run(s->machine, s->sets, s->nr_sets, s->input_cpus, &m, &err))
            return bad("%s", err.msg);
        base = m.seed;
    }
    x = &s->ax[s->nr_ax++];
    memset(x, 0, sizeof(*x));
    x->key = "seed";
    x->kind = AX_SEED;
    for (u32 r = 0; r < s->repeat; r++) {
        snprintf(s->seed_val[r], sizeof(s->seed_val[r]), "%" PRIu64, base + r);
        x->val[x->n++] = s->seed_val[r];
    }
    return 0;
}

/* mkdir -p: `--out out/sweep` works on a fresh checkout without out/. */
static int mkdir_p(const char *dir, struct sim_err *err)
{
    char p[SWEEP_PATH];
    size_t n = strlen(dir);

    if (n >= sizeof(p))
        return sim_err_set(err, SIM_EINVAL, "%s: --out: path too long", dir);
    memcpy(p, dir, n + 1);
    for (char *q = p + 1; *q; q++)
        if (*q == '/') {
            *q = 0;
            if (mkdir(p, 0777) && errno != EEXIST)
                return sim_err_set(err, SIM_EIO, "%s: --out: cannot create directory: %s", p,
                                   strerror(errno));
            *q = '/';
        }
    return csv_mkdir(p, err);
}

static int setup(struct sweep *s)
{
    struct sim_err err = { 0 };
    ssize_t n;
    int rc;

    if ((rc = add_repeat_axis(s)) || (rc = check_axes(s)) || (rc = plan_points(s)))
        return rc;
    n = readlink("/proc/self/exe", s->self, sizeof(s->self) - 1);
    if (n <= 0)
        return bad("cannot find the tlbsim executable (/proc/self/exe)");
    s->self[n] = 0;
    if (mkdir_p(s->out, &err))
        return bad("%s", err.msg);
    if (!realpath(s->out, s->out_abs))
        return bad("%s: %s", s->out, strerror(errno));
    if (strlen(s->out_abs) > SWEEP_PATH / 2 || strlen(s->input) > SWEEP_PATH / 4)
        return bad("%s: path too long", strlen(s->out_abs) > SWEEP_PATH / 2 ? s->out : s->input);
    if ((rc = check_points(s)) || (rc = generate_traces(s)) || (rc = make_dirs(s)))
        return rc;
    return write_plan(s);
}

int cmd_sweep(int argc, char **argv)
{
    struct sweep *s = calloc(1, sizeof(*s));
    const char *merge_dir = NULL;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int rc;

    if (!s)
        return EXIT_INTERNAL;
    s->out = "out/sweep";
    s->jobs = ncpu > 0 ? (u32)ncpu : 1;
    if ((rc = parse_args(s, argc, argv, &merge_dir))) {
        rc = rc < 0 ? EXIT_OK : rc;
        goto out;
    }
    if (merge_dir) {
        rc = sweep_merge(merge_dir, s->quiet);
        goto out;
    }
    if ((rc = open_input(s)) || (rc = setup(s)))
        goto out;
    if (s->emit) {
        rc = emit_jobs(s);
        goto out;
    }
    jobs_signals(NULL);
    if (!(rc = run_points(s)))
        rc = sweep_merge(s->out, s->quiet);
out:
    free(s);
    return rc;
}
