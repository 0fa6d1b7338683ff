/* tests/test_sweep.c - the comparison workflow end to end, through the real
 * binary ($TLBSIM, default ../build/tlbsim; cwd is tests/): `tlbsim sweep`
 * (grid rows, determinism whatever --jobs, job lists for GNU parallel and
 * Slurm, --merge), `tlbsim report` and plots/make-plots.sh with and without
 * gnuplot.  Every test works in its own scratch directory (h_tmpdir_*). */
#include <criterion/criterion.h>
#include "harness.h"
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Two CPUs share an mm; an unmap and a zap make shootdowns; a mark whose
 * label needs CSV quoting reaches timeline.csv. */
static const char tiny_trace[] =
    "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2,\"name\":\"tiny\",\"source\":\"test\"}\n"
    "{\"op\":\"mm_new\",\"mm\":1}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x10000000\",\"len\":\"0x10000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x10000000\",\"stride\":4096,\"count\":16,\"kind\":\"r\"}\n"
    "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x10000000\",\"stride\":4096,\"count\":16,\"kind\":\"w\"}\n"
    "{\"op\":\"mark\",\"label\":\"unmap, \\\"half\\\"\"}\n"
    "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x10008000\",\"len\":\"0x8000\"}\n"
    "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x10000000\",\"stride\":4096,\"count\":8,\"kind\":\"r\"}\n"
    "{\"op\":\"zap\",\"cpu\":1,\"mm\":1,\"va\":\"0x10000000\",\"len\":\"0x4000\"}\n"
    "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x10000000\",\"stride\":4096,\"count\":8,\"kind\":\"r\"}\n";

static const char tiny_spec[] =
    "{\"workload\":\"tlb_flush2\",\"mode\":\"threads\",\"cpus\":2,\"iterations\":20,"
    "\"seed\":1,\"wss\":\"64K\",\"page\":\"4k\",\"gap\":100}\n";

/* ---- helpers ------------------------------------------------------------------ */

struct ws {
    char dir[PATH_MAX];                 /* the test's private directory */
    char trace[PATH_MAX + 16];          /* dir/tiny.jsonl */
    char bin[PATH_MAX];                 /* absolute tlbsim */
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert(f, "cannot create %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static void ws_init(struct ws *w)
{
    const char *t = getenv("TLBSIM");

    h_tmpdir_setup();
    snprintf(w->dir, sizeof(w->dir), "%s", h_tmp_dir());
    if (!realpath(t ? t : "../build/tlbsim", w->bin))
        cr_assert_fail("TLBSIM=%s: not found (run from tests/ after make)",
                       t ? t : "../build/tlbsim");
    snprintf(w->trace, sizeof(w->trace), "%s/tiny.jsonl", w->dir);
    write_file(w->trace, tiny_trace);
}

/* Run a shell command (printf format) with stdout and stderr to DIR/out.txt;
 * returns the exit status. */
static int sh(const struct ws *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(const struct ws *w, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    int n, st;

    va_start(ap, fmt);
    n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    cr_assert(n > 0 && (size_t)n + PATH_MAX + 32 < sizeof(cmd));
    snprintf(cmd + n, sizeof(cmd) - (size_t)n, " >'%s/out.txt' 2>&1", w->dir);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The whole file, NUL-terminated (caller frees); NULL if unreadable. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    cr_assert(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static char *slurpf(const char *fmt, const char *a, const char *b)
{
    char p[PATH_MAX * 2];

    snprintf(p, sizeof(p), fmt, a, b);
    return slurp(p);
}

static int count_lines(const char *s)
{
    int n = 0;

    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

static bool exists(const char *dir, const char *rel)
{
    char p[PATH_MAX * 2];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    return stat(p, &st) == 0 && st.st_size > 0;
}

static void ws_done(struct ws *w)
{
    (void)w;
    h_tmpdir_teardown();
}

/* ---- sweep -------------------------------------------------------------------- */

Test(sweep, grid_2x2_gives_4_rows_with_grid_columns)
{
    static const char *const want[] = { "0,linux,2,tiny.jsonl,", "1,linux,4,tiny.jsonl,",
                                        "2,broadcast,2,tiny.jsonl,", "3,broadcast,4,tiny.jsonl," };
    struct ws w;
    char *csv, *line, *save;
    int n = 0;

    ws_init(&w);
    cr_assert_eq(sh(&w, "%s sweep %s --grid policy=linux,broadcast --grid cpus=2,4 --out %s/s -q",
                    w.bin, w.trace, w.dir), 0);
    csv = slurpf("%s/%s", w.dir, "s/sweep_summary.csv");
    cr_assert(csv);
    cr_assert_eq(count_lines(csv), 5, "header + 4 rows:\n%s", csv);
    cr_assert(!strncmp(csv, "point,grid.policy,grid.cpus,trace,machine,policy,cpus,cycles,",
                       strlen("point,grid.policy,grid.cpus,trace,machine,policy,cpus,cycles,")));
    for (line = strtok_r(csv, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
        char pol[32], cpus[8], expect[64];
        if (!n)
            continue;
        cr_assert(!strncmp(line, want[n - 1], strlen(want[n - 1])), "row %d: %s", n, line);
        /* the run's own policy and cpus columns agree with the grid */
        sscanf(want[n - 1], "%*[^,],%31[^,],%7[^,]", pol, cpus);
        snprintf(expect, sizeof(expect), ",%s,%s,", pol, cpus);
        cr_assert(strstr(line + strlen(want[n - 1]), expect), "row %d: %s", n, line);
    }
    free(csv);
    csv = slurpf("%s/%s", w.dir, "s/sweep_flushes.csv");
    cr_assert(csv && !strncmp(csv, "point,grid.policy,grid.cpus,policy,seq,", 39));
    free(csv);
    ws_done(&w);
}

Test(sweep, same_bytes_whatever_jobs)
{
    static const char grid[] = "--grid policy=linux,linux-4.14 --grid tlb.stlb.entries=0,1536";
    struct ws w;
    char *a, *b;

    ws_init(&w);
    cr_assert_eq(sh(&w, "%s sweep %s %s --out %s/j1 --jobs 1 -q", w.bin, w.trace, grid, w.dir), 0);
    cr_assert_eq(sh(&w, "%s sweep %s %s --out %s/j2 --jobs 2 -q", w.bin, w.trace, grid, w.dir), 0);
    a = slurpf("%s/%s", w.dir, "j1/sweep_summary.csv");
    b = slurpf("%s/%s", w.dir, "j2/sweep_summary.csv");
    cr_assert(a && b);
    cr_assert_eq(count_lines(a), 5);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
    a = slurpf("%s/%s", w.dir, "j1/sweep_flushes.csv");
    b = slurpf("%s/%s", w.dir, "j2/sweep_flushes.csv");
    cr_assert(a && b);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
    ws_done(&w);
}

Test(sweep, emit_parallel_then_merge_matches_local)
{
    static const char grid[] = "--grid policy=linux,pv-hyperv --grid cpus=2,4";
    struct ws w;
    char *jobs, *local, *merged;

    ws_init(&w);
    cr_assert_eq(sh(&w, "%s sweep %s %s --out %s/e --emit-jobs %s/jobs.txt --format parallel",
                    w.bin, w.trace, grid, w.dir, w.dir), 0);
    jobs = slurpf("%s/%s", w.dir, "jobs.txt");
    cr_assert(jobs);
    cr_assert_eq(count_lines(jobs), 4, "one line per point:\n%s", jobs);
    cr_assert(strstr(jobs, " run ") && strstr(jobs, "/points/0003"));
    free(jobs);
    /* Nothing ran yet: merging fails with a one-line message and exit 2. */
    cr_assert_eq(sh(&w, "%s sweep --merge %s/e", w.bin, w.dir), 2);
    /* What GNU parallel would do, one line at a time. */
    cr_assert_eq(sh(&w, "while read -r l; do sh -c \"$l\" || exit 1; done < %s/jobs.txt", w.dir), 0);
    cr_assert_eq(sh(&w, "%s sweep --merge %s/e -q", w.bin, w.dir), 0);
    cr_assert_eq(sh(&w, "%s sweep %s %s --out %s/l -q", w.bin, w.trace, grid, w.dir), 0);
    merged = slurpf("%s/%s", w.dir, "e/sweep_summary.csv");
    local = slurpf("%s/%s", w.dir, "l/sweep_summary.csv");
    cr_assert(merged && local);
    cr_assert_str_eq(merged, local);
    free(merged);
    free(local);
    ws_done(&w);
}

Test(sweep, emit_slurm_array_script)
{
    struct ws w;
    char *s, *line, *save;
    int points = 0;

    ws_init(&w);
    cr_assert_eq(sh(&w, "%s sweep %s --grid policy=linux,broadcast --grid cpus=2,4 --out %s/e "
                    "--emit-jobs %s/job.sbatch --format slurm -q", w.bin, w.trace, w.dir, w.dir), 0);
    s = slurpf("%s/%s", w.dir, "job.sbatch");
    cr_assert(s);
    cr_assert(strstr(s, "#SBATCH --array=0-3\n"), "%s", s);
    cr_assert(strstr(s, "$SLURM_ARRAY_TASK_ID"));
    for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int id, off = -1;
        if (sscanf(line, "%d) exec %n", &id, &off) == 1 && off > 0) {
            cr_assert_eq(id, points, "%s", line);
            cr_assert(strstr(line, " run "));
            points++;
        }
    }
    cr_assert_eq(points, 4, "one line per point");
    free(s);
    /* The task of array index 2 runs point 0002 and only that. */
    cr_assert_eq(sh(&w, "SLURM_ARRAY_TASK_ID=2 sh %s/job.sbatch", w.dir), 0);
    cr_assert(exists(w.dir, "e/points/0002/summary.csv"));
    cr_assert(!exists(w.dir, "e/points/0001/summary.csv"));
    cr_assert_eq(sh(&w, "SLURM_ARRAY_TASK_ID=7 sh %s/job.sbatch", w.dir), 2);
    ws_done(&w);
}

Test(sweep, workload_spec_is_generated_per_cpu_count)
{
    struct ws w;
    char spec[PATH_MAX + 16], *csv;

    ws_init(&w);
    snprintf(spec, sizeof(spec), "%s/tiny.json", w.dir);
    write_file(spec, tiny_spec);
    cr_assert_eq(sh(&w, "%s sweep %s --grid cpus=1,3 --grid policy=linux --out %s/s -q",
                    w.bin, spec, w.dir), 0);
    cr_assert(exists(w.dir, "s/traces/tiny-cpus1.jsonl"));
    cr_assert(exists(w.dir, "s/traces/tiny-cpus3.jsonl"));
    csv = slurpf("%s/%s", w.dir, "s/sweep_summary.csv");
    cr_assert(csv);
    cr_assert_eq(count_lines(csv), 3);
    cr_assert(strstr(csv, "\n0,1,linux,tiny-cpus1.jsonl,skylake-sp,linux,1,"), "%s", csv);
    cr_assert(strstr(csv, "\n1,3,linux,tiny-cpus3.jsonl,skylake-sp,linux,3,"), "%s", csv);
    free(csv);
    ws_done(&w);
}

Test(sweep, bad_input_is_exit_2_with_one_line)
{
    static const char *const bad[] = {
        "", "--grid policy=linux", "%s", "%s --grid policy=nope", "%s --grid no.such.key=1",
        "%s --grid cpus=1", "%s --grid policy", "%s --grid policy=linux --grid policy=linux",
        "%s --grid tlb.stlb.entries=x", "%s --grid policy=linux --jobs 0",
        "%s --grid policy=linux --format slurm", "%s --grid policy=linux --bogus",
        "--merge /nonexistent/dir",
    };
    struct ws w;

    ws_init(&w);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char args[PATH_MAX * 2], *out;
        snprintf(args, sizeof(args), bad[i], w.trace);
        cr_assert_eq(sh(&w, "%s sweep %s --out %s/o", w.bin, args, w.dir), 2, "sweep %s", args);
        out = slurpf("%s/%s", w.dir, "out.txt");
        cr_assert(out && count_lines(out) == 1 && !strncmp(out, "tlbsim: ", 8),
                  "sweep %s: %s", args, out);
        free(out);
    }
    cr_assert_eq(sh(&w, "%s sweep --help", w.bin), 0);
    ws_done(&w);
}

/* Statistics over seeds, hand-computed: three seeds with cycles 10, 12, 17 give
 * mean 13, sd sqrt((9 + 1 + 16) / 2) = 3.606, ci95 = t(2) 4.3027 * 3.606 / sqrt(3)
 * = 8.957; `seed` and `point` are dropped, text columns kept. */
Test(sweep, merge_writes_stats_over_seeds)
{
    static const char *const rows[] = { "10,1", "12,2", "17,3", "5,1" };
    struct ws w;
    char p[PATH_MAX * 2], *st;

    ws_init(&w);
    snprintf(p, sizeof(p), "%s/m/points.csv", w.dir);
    cr_assert_eq(sh(&w, "mkdir -p %s/m/points/0000 %s/m/points/0001 %s/m/points/0002 "
                    "%s/m/points/0003", w.dir, w.dir, w.dir, w.dir), 0);
    write_file(p, "point,grid.policy,grid.seed\n0,a,1\n1,a,2\n2,a,3\n3,b,1\n");
    for (int i = 0; i < 4; i++) {
        char text[256];
        snprintf(p, sizeof(p), "%s/m/points/%04d/summary.csv", w.dir, i);
        snprintf(text, sizeof(text), "trace,policy,cpus,cycles,seed\nt.jsonl,%s,2,%s\n",
                 i < 3 ? "a" : "b", rows[i]);
        write_file(p, text);
        snprintf(p, sizeof(p), "%s/m/points/%04d/flushes.csv", w.dir, i);
        write_file(p, "policy,seq\n");
    }
    cr_assert_eq(sh(&w, "%s sweep --merge %s/m", w.bin, w.dir), 0);
    st = slurpf("%s/%s", w.dir, "m/sweep_stats.csv");
    cr_assert(st);
    cr_assert_str_eq(st, "grid.policy,trace,policy,cpus,runs,t95,cycles_mean,cycles_sd,"
                         "cycles_ci95\n"
                         "a,t.jsonl,a,2,3,4.302653,13.000,3.606,8.957\n"
                         "b,t.jsonl,b,2,1,,5.000,,\n");
    free(st);
    ws_done(&w);
}

Test(sweep, repeat_gives_ci_columns_and_seed_reaches_the_generator)
{
    struct ws w;
    char spec[PATH_MAX + 16], *st, *sum, *t1, *t2;

    ws_init(&w);
    snprintf(spec, sizeof(spec), "%s/wl.json", w.dir);
    write_file(spec, tiny_spec);
    cr_assert_eq(sh(&w, "%s sweep %s --grid policy=linux,early-ack --repeat 3 --out %s/r -q",
                    w.bin, spec, w.dir), 0);
    st = slurpf("%s/%s", w.dir, "r/sweep_stats.csv");
    sum = slurpf("%s/%s", w.dir, "r/sweep_summary.csv");
    cr_assert(st && sum);
    cr_assert_eq(count_lines(st), 3, "%s", st);
    cr_assert_eq(count_lines(sum), 7);
    cr_assert(strstr(st, ",runs,t95,cycles_mean,cycles_sd,cycles_ci95,"), "%s", st);
    cr_assert(strstr(sum, "point,grid.policy,grid.seed,"));
    /* seeds 1..3 (the spec's seed is 1) regenerate the trace and set sim.seed */
    t1 = slurpf("%s/%s", w.dir, "r/traces/seed1/wl.jsonl");
    t2 = slurpf("%s/%s", w.dir, "r/traces/seed3/wl.jsonl");
    cr_assert(t1 && t2 && strcmp(t1, t2), "the seed does not reach the generator");
    cr_assert(strstr(sum, ",skylake-sp,linux,2,"));
    cr_assert(strstr(sum, ",3\n"), "sim.seed=3 not in the seed column: %s", sum);
    free(t1);
    free(t2);
    free(st);
    free(sum);
    /* --repeat with a seed axis, or with a --set sim.seed and a seed axis: usage errors */
    cr_assert_eq(sh(&w, "%s sweep %s --grid seed=1,2 --repeat 2 --out %s/x", w.bin, spec,
                    w.dir), 2);
    cr_assert_eq(sh(&w, "%s sweep %s --grid seed=1,2 --set sim.seed=4 --out %s/x", w.bin,
                    spec, w.dir), 2);
    cr_assert_eq(sh(&w, "%s sweep %s --grid seed=x --out %s/x", w.bin, spec, w.dir), 2);
    ws_done(&w);
}

/* run --repeat: every run in summary.csv with its own sim.seed (1, 2, 3), the
 * first run's rows in flushes.csv, and summary_stats.csv one row per policy;
 * a later run without --repeat removes the stale statistics. */
Test(run, repeat_writes_summary_stats)
{
    struct ws w;
    char *sum, *st, *fl1, *fl2;

    ws_init(&w);
    cr_assert_eq(sh(&w, "%s run %s --policy linux,broadcast --repeat 3 --jobs 2 "
                    "--set tlb.replacement=random --out %s/r -q", w.bin, w.trace, w.dir), 0);
    sum = slurpf("%s/%s", w.dir, "r/summary.csv");
    st = slurpf("%s/%s", w.dir, "r/summary_stats.csv");
    fl1 = slurpf("%s/%s", w.dir, "r/flushes.csv");
    cr_assert(sum && st && fl1);
    cr_assert_eq(count_lines(sum), 7);
    cr_assert_eq(count_lines(st), 3);
    cr_assert(strstr(st, ",policy,") && strstr(st, ",runs,t95,cycles_mean,cycles_sd,cycles_ci95,"));
    cr_assert(strstr(st, ",linux,2,") && strstr(st, ",broadcast,2,"), "%s", st);
    cr_assert(strstr(sum, ",1\n") && strstr(sum, ",2\n") && strstr(sum, ",3\n"));
    cr_assert_eq(sh(&w, "%s run %s --policy linux,broadcast --out %s/one -q", w.bin, w.trace,
                    w.dir), 0);
    fl2 = slurpf("%s/%s", w.dir, "one/flushes.csv");
    cr_assert_str_eq(fl1, fl2);         /* the first repeat is the run without --repeat */
    cr_assert_eq(sh(&w, "%s run %s --out %s/r -q", w.bin, w.trace, w.dir), 0);
    cr_assert(!exists(w.dir, "r/summary_stats.csv"));
    cr_assert_eq(sh(&w, "%s run %s --repeat 0 --out %s/r -q", w.bin, w.trace, w.dir), 2);
    free(sum);
    free(st);
    free(fl1);
    free(fl2);
    ws_done(&w);
}

/* ---- report and plots ------------------------------------------------------------ */

Test(report, mentions_every_policy)
{
    struct ws w;
    char *rep, *list, *line, *save;
    int n = 0;

    ws_init(&w);
    cr_assert_eq(sh(&w, "%s run %s --policy all --out %s/c -q", w.bin, w.trace, w.dir), 0);
    cr_assert_eq(sh(&w, "%s report %s/c --title 'Tiny test'", w.bin, w.dir), 0);
    rep = slurpf("%s/%s", w.dir, "c/report.md");
    cr_assert(rep);
    cr_assert(!strncmp(rep, "# Tiny test\n", 12));
    cr_assert(strstr(rep, "## Key counters"));
    cr_assert_eq(sh(&w, "%s policies", w.bin), 0);
    list = slurpf("%s/%s", w.dir, "out.txt");
    cr_assert(list);
    for (line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[64], tick[80];
        cr_assert_eq(sscanf(line, "%63s", name), 1);
        snprintf(tick, sizeof(tick), "- **`%s`**", name);
        cr_assert(strstr(rep, tick), "no paragraph for %s", name);
        n++;
    }
    cr_assert_geq(n, 9);
    free(list);
    free(rep);
    cr_assert_eq(sh(&w, "%s report %s/nothing-here", w.bin, w.dir), 2);
    cr_assert_eq(sh(&w, "%s report %s/c --baseline nope", w.bin, w.dir), 2);
    cr_assert_eq(sh(&w, "%s report", w.bin), 2);
    cr_assert_eq(sh(&w, "%s report --help", w.bin), 0);
    ws_done(&w);
}

/* `tlbsim run TRACE ARGS --out DIR/SUB`, then `tlbsim report DIR/SUB`: the report. */
static char *run_report(const struct ws *w, const char *args, const char *sub)
{
    char rel[64];

    cr_assert_eq(sh(w, "%s run %s %s --out %s/%s -q", w->bin, w->trace, args, w->dir, sub), 0);
    cr_assert_eq(sh(w, "%s report %s/%s", w->bin, w->dir, sub), 0);
    snprintf(rel, sizeof(rel), "%s/report.md", sub);
    return slurpf("%s/%s", w->dir, rel);
}

/* The report explains by mechanism: PV policies on a bare-metal model and
 * broadcast without INVLPGB/RAR are flagged (not on a guest / Zen 3 model),
 * early-ack says which waits moved where. */
Test(report, flags_void_comparisons_and_explains_early_ack)
{
    struct ws w;
    char *rep;

    ws_init(&w);
    rep = run_report(&w, "--policy linux,pv-kvm,pv-hyperv,broadcast,early-ack", "c");
    cr_assert(rep);
    cr_assert(strstr(rep, "**Comparison void on this machine:** `pv-kvm` models a KVM guest"), "%s", rep);
    cr_assert(strstr(rep, "**Comparison void on this machine:** `pv-hyperv`"));
    cr_assert(strstr(rep, "**Not available on this machine:** `skylake-sp` has no broadcast"));
    cr_assert(strstr(rep, "Early acknowledgement moves each target's ack"));
    cr_assert(strstr(rep, "Where the time moved (all CPUs, against `linux`): flush handlers"));
    free(rep);
    rep = run_report(&w, "--policy linux,pv-kvm --machine kvm-guest-skylake", "g");
    cr_assert(rep && !strstr(rep, "Comparison void"), "%s", rep);
    free(rep);
    rep = run_report(&w, "--policy linux,broadcast --machine zen3", "z");
    cr_assert(rep && !strstr(rep, "Not available on this machine"), "%s", rep);
    free(rep);
    ws_done(&w);
}

/* A timestamped trace pins the run time: the console and the report lead
 * with the cost columns and say why `cycles` is equal. */
Test(report, pinned_time_leads_with_costs)
{
    static const char timed[] =
        "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2,\"name\":\"timed\"}\n"
        "{\"op\":\"mm_new\",\"mm\":1}\n"
        "{\"op\":\"map\",\"mm\":1,\"va\":\"0x10000000\",\"len\":\"0x10000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
        "{\"op\":\"switch\",\"cpu\":0,\"mm\":1,\"t\":1000}\n"
        "{\"op\":\"switch\",\"cpu\":1,\"mm\":1,\"t\":1000}\n"
        "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x10000000\",\"stride\":4096,\"count\":16,\"kind\":\"r\",\"t\":2000}\n"
        "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x10008000\",\"len\":\"0x8000\",\"t\":100000}\n"
        "{\"op\":\"zap\",\"cpu\":1,\"mm\":1,\"va\":\"0x10000000\",\"len\":\"0x4000\",\"t\":200000}\n"
        "{\"op\":\"idle\",\"cpu\":0,\"t\":900000}\n"
        "{\"op\":\"idle\",\"cpu\":1,\"t\":1000000}\n";
    struct ws w;
    char path[PATH_MAX + 16], *out, *rep;

    ws_init(&w);
    snprintf(path, sizeof(path), "%s/timed.jsonl", w.dir);
    write_file(path, timed);
    cr_assert_eq(sh(&w, "%s run %s --policy linux,broadcast --jobs 1 --out %s/t", w.bin, path,
                    w.dir), 0);
    out = slurpf("%s/%s", w.dir, "out.txt");
    cr_assert(out && !strncmp(out, "linux        handler ", 21), "%s", out);
    cr_assert(strstr(out, "run time 1000000 cycles, pinned by the trace's timestamps"), "%s", out);
    free(out);
    cr_assert_eq(sh(&w, "%s report %s/t", w.bin, w.dir), 0);
    rep = slurpf("%s/%s", w.dir, "t/report.md");
    cr_assert(rep && strstr(rep, "**Run time is pinned by the trace.**  Every policy ends at "
                            "cycle 1,000,000"), "%s", rep);
    cr_assert(strstr(rep, "| policy | cycles lost per CPU | busy cycles per CPU |"));
    cr_assert(strstr(rep, "Run time is the trace's (pinned by its timestamps)."));
    free(rep);
    ws_done(&w);
}

/* Repeated runs: the report's means, intervals and Welch's t-test. */
Test(report, repeats_state_significance)
{
    struct ws w;
    char *rep;

    ws_init(&w);
    rep = run_report(&w, "--policy linux,broadcast --repeat 3 --set ipi.irq_entry_spread_cycles=0", "r");
    cr_assert(rep && strstr(rep, "3 runs per policy"), "%s", rep);
    cr_assert(strstr(rep, "## Repeated runs: spread and significance"));
    cr_assert(strstr(rep, "Welch's t-test"));
    cr_assert(strstr(rep, "- `broadcast`: significant: run time"), "%s", rep);
    /* lru replacement and no entry spread on a fixed trace: no spread, and
     * the report says why */
    cr_assert(strstr(rep, "Every run of a policy gave the same numbers"));
    free(rep);
    /* summary.csv with repeats but no statistics: bad input */
    cr_assert_eq(sh(&w, "rm %s/r/summary_stats.csv", w.dir), 0);
    cr_assert_eq(sh(&w, "%s report %s/r", w.bin, w.dir), 2);
    ws_done(&w);
}

Test(plots, without_gnuplot_skips_and_exits_0)
{
    struct ws w;
    char *out;

    ws_init(&w);
    cr_assert_eq(sh(&w, "%s run %s --policy linux,broadcast --out %s/c -q", w.bin, w.trace,
                    w.dir), 0);
    cr_assert_eq(sh(&w, "GNUPLOT=/nonexistent/gnuplot ../plots/make-plots.sh %s/c %s/c/plots",
                    w.dir, w.dir), 0);
    out = slurpf("%s/%s", w.dir, "out.txt");
    cr_assert(out && strstr(out, "gnuplot not found: skipping plots"), "%s", out);
    free(out);
    cr_assert(!exists(w.dir, "c/plots/policies_ipis.png"));
    /* The report then says how to get the figures. */
    cr_assert_eq(sh(&w, "%s report %s/c", w.bin, w.dir), 0);
    out = slurpf("%s/%s", w.dir, "c/report.md");
    cr_assert(out && strstr(out, "make plots"));
    free(out);
    cr_assert_eq(sh(&w, "../plots/make-plots.sh"), 2);
    ws_done(&w);
}

Test(plots, with_gnuplot_png_and_svg)
{
    static const char *const figs[] = {
        "policies_ipis", "policies_latency", "policies_cycles_lost", "policies_total_cost",
        "latency_cdf", "timeline_flushes",
    };
    struct ws w;
    char *png, *rep;

    if (system("command -v gnuplot >/dev/null 2>&1"))
        cr_skip_test("gnuplot is not installed");
    ws_init(&w);
    cr_assert_eq(sh(&w, "%s run %s --policy linux,linux-4.14,broadcast --interval 1000 "
                    "--out %s/c -q", w.bin, w.trace, w.dir), 0);
    cr_assert_eq(sh(&w, "../plots/make-plots.sh %s/c %s/c/plots", w.dir, w.dir), 0);
    for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++) {
        char rel[128];
        snprintf(rel, sizeof(rel), "c/plots/%s.png", figs[i]);
        cr_assert(exists(w.dir, rel), "%s", rel);
        png = slurpf("%s/%s", w.dir, rel);
        cr_assert(png && !memcmp(png, "\x89PNG", 4), "%s is not a PNG", rel);
        free(png);
        snprintf(rel, sizeof(rel), "c/plots/%s.svg", figs[i]);
        cr_assert(exists(w.dir, rel), "%s", rel);
    }
    cr_assert_eq(sh(&w, "%s report %s/c", w.bin, w.dir), 0);
    rep = slurpf("%s/%s", w.dir, "c/report.md");
    cr_assert(rep && strstr(rep, "](plots/latency_cdf.png)"), "%s", rep);
    free(rep);
    cr_assert(!exists(w.dir, "c/plots/policies_pcid.png"), "no PCID policy ran");
    /* With a PCID policy the PCID figure appears, and the report shows it. */
    cr_assert_eq(sh(&w, "%s run %s --policy linux,linux-pcid-pti --out %s/p -q", w.bin, w.trace,
                    w.dir), 0);
    cr_assert_eq(sh(&w, "../plots/make-plots.sh %s/p %s/p/plots", w.dir, w.dir), 0);
    cr_assert(exists(w.dir, "p/plots/policies_pcid.png"));
    cr_assert(exists(w.dir, "p/plots/policies_pcid.svg"));
    cr_assert_eq(sh(&w, "%s report %s/p", w.bin, w.dir), 0);
    rep = slurpf("%s/%s", w.dir, "p/report.md");
    cr_assert(rep && strstr(rep, "](plots/policies_pcid.png)"), "%s", rep);
    free(rep);
    /* A sweep over CPU counts gives the vs-CPU figures. */
    cr_assert_eq(sh(&w, "%s sweep %s --grid policy=linux,broadcast --grid cpus=2,4 --out %s/s -q",
                    w.bin, w.trace, w.dir), 0);
    cr_assert_eq(sh(&w, "../plots/make-plots.sh %s/s %s/s/plots", w.dir, w.dir), 0);
    cr_assert(exists(w.dir, "s/plots/sweep_ipis_vs_cpus.png"));
    cr_assert(exists(w.dir, "s/plots/sweep_latency_vs_cpus.svg"));
    /* The paper-size set: PDF and PNG. */
    cr_assert_eq(sh(&w, "../plots/make-plots.sh --paper %s/c %s/c/paper", w.dir, w.dir), 0);
    cr_assert(exists(w.dir, "c/paper/policies_total_cost.pdf"));
    cr_assert(exists(w.dir, "c/paper/timeline_flushes.png"));
    ws_done(&w);
}

/* A policy x seed sweep (no CPU axis) gives per-policy bars with error bars;
 * a seed sweep over CPU counts gives the vs-CPU lines with them. */
Test(plots, repeats_give_error_bar_figures)
{
    struct ws w;
    char spec[PATH_MAX + 16], *out;

    if (system("command -v gnuplot >/dev/null 2>&1"))
        cr_skip_test("gnuplot is not installed");
    ws_init(&w);
    snprintf(spec, sizeof(spec), "%s/wl.json", w.dir);
    write_file(spec, tiny_spec);
    cr_assert_eq(sh(&w, "%s sweep %s --grid policy=linux,early-ack --repeat 3 --out %s/r -q",
                    w.bin, spec, w.dir), 0);
    cr_assert_eq(sh(&w, "../plots/make-plots.sh %s/r %s/r/plots", w.dir, w.dir), 0);
    out = slurpf("%s/%s", w.dir, "out.txt");
    cr_assert(out && strstr(out, "policies_cycles_lost"), "%s", out);
    free(out);
    cr_assert(exists(w.dir, "r/plots/policies_total_cost.png"));
    cr_assert(exists(w.dir, "r/plots/policies_latency.svg"));
    /* the figure says its bars are confidence intervals */
    out = slurpf("%s/%s", w.dir, "r/plots/policies_total_cost.svg");
    cr_assert(out && strstr(out, "mean of 3 runs, bars: 95% CI"), "no CI subtitle");
    free(out);
    cr_assert_eq(sh(&w, "%s sweep %s --grid cpus=2,4 --grid policy=linux --repeat 2 --out %s/c -q",
                    w.bin, spec, w.dir), 0);
    cr_assert_eq(sh(&w, "../plots/make-plots.sh %s/c %s/c/plots", w.dir, w.dir), 0);
    cr_assert(exists(w.dir, "c/plots/sweep_ipis_vs_cpus.png"));
    ws_done(&w);
}
