/* tests/test_cli.c - determinism and outputs of `tlbsim run`, end to end.
 *
 *   golden_csv        the runs of tests/golden/cases.txt (the default trace
 *                     and the imported samples, a few policies each) give
 *                     the CSVs of tests/golden/NAME/ byte for byte.  After an
 *                     intentional model change: tests/golden/update.sh.
 *   jobs_identical    every policy at once with --jobs 1, 2 and 4: the same
 *                     bytes in all four files.
 *   sig*              SIGINT / SIGTERM during a long run: exit 130, one line
 *                     "interrupted", the previous outputs untouched and no
 *                     temporary file left, with one worker and with several.
 *   out_*, trace_*    an --out that cannot be written and a trace that is a
 *                     directory: exit 2 before anything is written.
 *
 * Runs with cwd = tests/ and TLBSIM = ../build/tlbsim (see clirun.h).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clirun.h"

static const char *const out_files[] = { "summary.csv", "cpus.csv", "flushes.csv", "timeline.csv" };
#define NR_OUT (sizeof(out_files) / sizeof(out_files[0]))

/* Compare DIR_A/F with DIR_B/F for every output file; describe the first
 * difference in msg (empty when all are identical). */
static void compare_outputs(const char *a, const char *b, char *msg, size_t len)
{
    msg[0] = 0;
    for (size_t i = 0; i < NR_OUT && !msg[0]; i++) {
        char pa[PATH_MAX], pb[PATH_MAX];
        size_t na, nb, k = 0, line = 1;
        char *x, *y;

        snprintf(pa, sizeof(pa), "%s/%s", a, out_files[i]);
        snprintf(pb, sizeof(pb), "%s/%s", b, out_files[i]);
        x = cli_slurp(pa, &na);
        y = cli_slurp(pb, &nb);
        if (!x || !y) {
            snprintf(msg, len, "%.900s missing", !x ? pa : pb);
        } else if (na != nb || memcmp(x, y, na)) {
            while (k < na && k < nb && x[k] == y[k])
                line += x[k++] == '\n';
            size_t s = k;
            while (s > 0 && x[s - 1] != '\n')
                s--;
            snprintf(msg, len, "%.400s differs from %.400s at line %zu:\n  %.*s\n  %.*s", pb, pa, line,
                     (int)strcspn(x + s, "\n"), x + s, (int)strcspn(y + s, "\n"), y + s);
        }
        free(x);
        free(y);
    }
}

/* ===== golden CSVs ======================================================== */

Test(cli, golden_csv, .timeout = 900)
{
    FILE *f = fopen("golden/cases.txt", "r");
    char line[1024];
    int runs = 0;

    cr_assert(f, "tests/golden/cases.txt missing (cwd must be tests/)");
    while (fgets(line, sizeof(line), f)) {
        char name[64], input[256], format[16], policies[256], in[PATH_MAX], trace[PATH_MAX];
        char golden[PATH_MAX], out[PATH_MAX], msg[2048], machine[256], model[PATH_MAX];
        int nf;
        struct cli_res *r = malloc(sizeof(*r));
        struct cli_ws ws;

        cr_assert(r);
        if (line[0] == '#' || (nf = sscanf(line, "%63s %255s %15s %255s %255s", name, input,
                                           format, policies, machine)) < 4) {
            free(r);
            continue;
        }
        cli_ws_init(&ws);
        cli_repo(input, in, sizeof(in));
        if (!strcmp(format, "-")) {
            snprintf(trace, sizeof(trace), "%s", in);
        } else {
            snprintf(trace, sizeof(trace), "%s.jsonl", name);
            const char *imp[] = { "import", format, in, "-o", trace, NULL };
            cli_run(&ws, imp, 300, r);
            cr_assert_eq(r->status, 0, "%s: import failed: %s", name, r->err);
        }
        const char *run[] = { "run", trace, "--policy", policies, "--out", "out", "-q",
                              NULL, NULL, NULL };
        if (nf == 5) {                  /* optional MACHINE: a repository-relative model */
            cli_repo(machine, model, sizeof(model));
            run[7] = "--machine";
            run[8] = model;
        }
        cli_run(&ws, run, 600, r);
        cr_assert_eq(r->status, 0, "%s: run failed: %s", name, r->err);
        snprintf(golden, sizeof(golden), "golden/%s", name);
        compare_outputs(golden, cli_path(&ws, "out", out, sizeof(out)), msg, sizeof(msg));
        cr_expect_str_empty(msg, "%s: output differs from the golden CSV (after an intentional "
                            "change: tests/golden/update.sh)\n%s", name, msg);
        cli_ws_done(&ws);
        free(r);
        runs++;
    }
    fclose(f);
    cr_assert_geq(runs, 5, "tests/golden/cases.txt lists only %d runs", runs);
}

/* ===== --jobs ================================================================= */

Test(cli, jobs_identical, .timeout = 900)
{
    static const char *const jobs[] = { "1", "2", "4" };
    struct cli_res *r = malloc(sizeof(*r));
    char trace[PATH_MAX], dir[3][PATH_MAX], msg[2048];
    struct cli_ws ws;

    cr_assert(r);
    cli_ws_init(&ws);
    cli_repo("traces/default.jsonl", trace, sizeof(trace));
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "out-j%s", jobs[i]);
        const char *argv[] = { "run", trace, "--policy", "all", "--jobs", jobs[i], "--out",
                               name, "-q", NULL };
        cli_run(&ws, argv, 900, r);
        cr_assert_eq(r->status, 0, "--jobs %s failed: %s", jobs[i], r->err);
        cli_path(&ws, name, dir[i], sizeof(dir[i]));
    }
    for (int i = 1; i < 3; i++) {
        compare_outputs(dir[0], dir[i], msg, sizeof(msg));
        cr_expect_str_empty(msg, "--jobs 1 vs --jobs %s: %s", jobs[i], msg);
    }
    cli_ws_done(&ws);
    free(r);
}

/* ===== interrupted runs ====================================================== */

/* Two CPUs streaming 2^32 references each: minutes of work, so the run is
 * certainly still going when the signal comes. */
static const char long_trace[] =
    "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
    "{\"op\":\"mm_new\",\"mm\":1}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x200000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x7f0000000000\",\"stride\":8,\"count\":4294967296,\"kind\":\"r\"}\n"
    "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x7f0000000000\",\"stride\":8,\"count\":4294967296,\"kind\":\"w\"}\n"
    "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x200000\"}\n";

static const char small_trace[] =
    "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
    "{\"op\":\"mm_new\",\"mm\":1}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x10000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"access\",\"cpu\":1,\"va\":\"0x7f0000001000\",\"kind\":\"r\"}\n"
    "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x10000\"}\n";

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* True once DIR holds an entry starting with prefix (the run's part files). */
static bool has_entry(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    bool found = false;

    if (!d)
        return false;
    while (!found && (de = readdir(d)))
        found = !strncmp(de->d_name, prefix, strlen(prefix));
    closedir(d);
    return found;
}

/* Make previous outputs in ws/out and keep a copy in ws/prev. */
static void previous_outputs(const struct cli_ws *ws)
{
    static const char *const a1[] = { "run", "small.jsonl", "--out", "out", "-q", NULL };
    static const char *const a2[] = { "run", "small.jsonl", "--out", "prev", "-q", NULL };
    struct cli_res *r = malloc(sizeof(*r));

    cr_assert(r);
    cli_write_str(ws, "small.jsonl", small_trace);
    cli_run(ws, a1, 300, r);
    cr_assert_eq(r->status, 0, "%s", r->err);
    cli_run(ws, a2, 300, r);
    cr_assert_eq(r->status, 0, "%s", r->err);
    free(r);
}

/* Start a long run writing to ws/out, wait until it simulates (its part
 * directory exists), deliver sig to the process (group: to its whole
 * process group, as a terminal's ^C does), and check the aftermath. */
static void interrupt_run(int sig, bool group, const char *policies, const char *jobs)
{
    const char *argv[] = { "run", "long.jsonl", "--out", "out", "-q", "--policy", policies,
                           "--jobs", jobs, NULL };
    struct cli_res *r = malloc(sizeof(*r));
    char out[PATH_MAX], prev[PATH_MAX], msg[2048], names[4096], want[4096];
    struct cli_ws ws;
    double t0;
    pid_t pid;
    int st = 0;

    cr_assert(r);
    cli_ws_init(&ws);
    previous_outputs(&ws);
    cli_write_str(&ws, "long.jsonl", long_trace);
    cli_path(&ws, "out", out, sizeof(out));
    cli_path(&ws, "prev", prev, sizeof(prev));
    cli_list_dir(out, want, sizeof(want));

    /* The run works in the next generation directory beside out (the
     * previous run made out -> .out.1). */
    char gen[PATH_MAX];
    cli_path(&ws, ".out.2", gen, sizeof(gen));
    pid = cli_spawn(&ws, argv);
    for (t0 = now_s(); !has_entry(gen, ".tlbsim-parts") && now_s() - t0 < 60;)
        usleep(20000);
    cr_assert(has_entry(gen, ".tlbsim-parts"), "the run did not start within 60 s");
    usleep(300000);                     /* let it get well into the streams */
    cr_assert_eq(kill(group ? -pid : pid, sig), 0);

    /* A clean stop takes milliseconds; give it 20 s, then kill it. */
    for (t0 = now_s(); now_s() - t0 < 20 && waitpid(pid, &st, WNOHANG) == 0;)
        usleep(20000);
    if (waitpid(pid, &st, WNOHANG) == 0) {
        kill(-pid, SIGKILL);
        cli_wait(&ws, pid, r);
        cli_ws_done(&ws);
        free(r);
        cr_assert_fail("signal %d to the %s: tlbsim still running 20 s later (--jobs %s, "
                       "policies %s)", sig, group ? "process group" : "process", jobs, policies);
    }
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    {
        char p[PATH_MAX], *e;
        snprintf(p, sizeof(p), "%s/stderr", ws.root);
        e = cli_slurp(p, NULL);
        snprintf(r->err, sizeof(r->err), "%s", e ? e : "");
        free(e);
    }
    cr_expect_eq(r->status, 130, "exit status %d after signal %d (want 130): %s", r->status,
                 sig, r->err);
    cr_expect_str_eq(r->err, "tlbsim: interrupted; previous outputs left intact\n");
    compare_outputs(prev, out, msg, sizeof(msg));
    cr_expect_str_empty(msg, "previous outputs changed: %s", msg);
    cli_list_dir(out, names, sizeof(names));
    cr_expect_str_eq(names, want, "files left in --out after the interrupt:\n%s", names);
    cr_expect(access(gen, F_OK) != 0, "%s left after the interrupt", gen);
    kill(-pid, SIGKILL);                /* stray workers, if any */
    cli_ws_done(&ws);
    free(r);
}

Test(cli, sigint_single, .timeout = 300) { interrupt_run(SIGINT, false, "linux", "1"); }
Test(cli, sigterm_single, .timeout = 300) { interrupt_run(SIGTERM, false, "linux", "1"); }
Test(cli, sigint_group_workers, .timeout = 300)
{
    interrupt_run(SIGINT, true, "linux,linux-4.14,broadcast", "2");
}
Test(cli, sigterm_workers, .timeout = 300)
{
    interrupt_run(SIGTERM, false, "linux,linux-4.14,broadcast", "2");
}
/* One process running three policies in lockstep (sim/engine/lockstep.h). */
Test(cli, sigint_lockstep, .timeout = 300)
{
    interrupt_run(SIGINT, false, "linux,linux-4.14,broadcast", "1");
}

/* A trace that goes bad half way, after outputs were started: exit 2 and
 * the previous outputs untouched. */
Test(cli, error_midway_keeps_outputs, .timeout = 300)
{
    static const char *const argv[] = { "run", "bad.jsonl", "--out", "out", "-q", "--policy",
                                        "linux,linux-4.14", NULL };
    struct cli_res *r = malloc(sizeof(*r));
    char out[PATH_MAX], prev[PATH_MAX], msg[2048], names[4096];
    struct cli_ws ws;
    char *bad;

    cr_assert(r);
    cli_ws_init(&ws);
    previous_outputs(&ws);
    bad = malloc(sizeof(small_trace) + 128);
    cr_assert(bad);
    snprintf(bad, sizeof(small_trace) + 128, "%s{\"op\":\"access\",\"cpu\":0,\"va\":\"0x1\","
             "\"kind\":\"q\"}\n", small_trace);
    cli_write_str(&ws, "bad.jsonl", bad);
    free(bad);
    cli_run(&ws, argv, 300, r);
    cr_expect_eq(r->status, 2, "exit %d: %s", r->status, r->err);
    cr_expect_str_eq(r->err, "tlbsim: bad.jsonl:8: kind: \"q\" is not \"r\", \"w\" or \"x\"\n");
    compare_outputs(cli_path(&ws, "prev", prev, sizeof(prev)),
                    cli_path(&ws, "out", out, sizeof(out)), msg, sizeof(msg));
    cr_expect_str_empty(msg, "previous outputs changed: %s", msg);
    cli_list_dir(out, names, sizeof(names));
    cr_expect_str_eq(names, "cpus.csv\nflushes.csv\nsummary.csv\nsummary.json\ntimeline.csv\n",
                     "files left in --out:\n%s", names);
    cli_ws_done(&ws);
    free(r);
}

/* A successful run leaves exactly the output files: no temporary names. */
Test(cli, success_leaves_no_temporaries, .timeout = 300)
{
    static const char *const argv[] = { "run", "small.jsonl", "--out", "o", "-q", "--policy",
                                        "linux,linux-4.14", "--tlb-log", NULL };
    struct cli_res *r = malloc(sizeof(*r));
    char out[PATH_MAX], names[4096];
    struct cli_ws ws;

    cr_assert(r);
    cli_ws_init(&ws);
    cli_write_str(&ws, "small.jsonl", small_trace);
    cli_run(&ws, argv, 300, r);
    cr_assert_eq(r->status, 0, "%s", r->err);
    cli_list_dir(cli_path(&ws, "o", out, sizeof(out)), names, sizeof(names));
    cr_expect_str_eq(names, "cpus.csv\nflushes.csv\nsummary.csv\nsummary.json\ntimeline.csv\n"
                     "tlb_flush.txt\n");
    cli_ws_done(&ws);
    free(r);
}

/* ===== check ================================================================ */

/* `check` of a valid trace in both forms: exit 0 and the one-line summary. */
Test(cli, check_valid_jsonl_and_binary, .timeout = 300)
{
    struct cli_res *r = malloc(sizeof(*r));
    char trace[PATH_MAX];
    struct cli_ws ws;

    cr_assert(r);
    cli_ws_init(&ws);
    cli_repo("traces/default.jsonl", trace, sizeof(trace));
    const char *conv[] = { "convert", trace, "d.tlbt", NULL };
    cli_run(&ws, conv, 300, r);
    cr_assert_eq(r->status, 0, "convert: %s", r->err);
    const char *c1[] = { "check", trace, NULL };
    cli_run(&ws, c1, 300, r);
    cr_expect_eq(r->status, 0, "check: %s", r->err);
    cr_expect(strstr(r->out, ": valid tlbsim trace v1 (JSON Lines): 8 CPUs, 23990 ops, "),
              "check said: %s", r->out);
    const char *c2[] = { "check", "d.tlbt", NULL };
    cli_run(&ws, c2, 300, r);
    cr_expect_eq(r->status, 0, "check: %s", r->err);
    cr_expect(strstr(r->out, "d.tlbt: valid tlbsim trace v1 (binary): 8 CPUs, 23990 ops, "),
              "check said: %s", r->out);
    cli_ws_done(&ws);
    free(r);
}

/* ===== outputs that cannot be written, traces that are not files ============ */

static void expect_bad(const char *const *argv, const char *want)
{
    struct cli_res *r = malloc(sizeof(*r));
    struct cli_ws ws;
    char p[PATH_MAX];

    cr_assert(r);
    cli_ws_init(&ws);
    cli_write_str(&ws, "small.jsonl", small_trace);
    cli_write_str(&ws, "file", "not a directory\n");
    mkdir(cli_path(&ws, "dir", p, sizeof(p)), 0755);
    cli_run(&ws, argv, 300, r);
    cr_expect_eq(r->status, 2, "exit %d: %s", r->status, r->err);
    cr_expect_str_eq(r->err, want);
    cli_ws_done(&ws);
    free(r);
}

Test(cli, out_under_a_file)
{
    static const char *const argv[] = { "run", "small.jsonl", "--out", "file/out", "-q", NULL };
    expect_bad(argv, "tlbsim: file/out: --out: cannot create directory: Not a directory\n");
}

Test(cli, out_is_a_file)
{
    static const char *const argv[] = { "run", "small.jsonl", "--out", "file", "-q", NULL };
    expect_bad(argv, "tlbsim: file: --out: not a directory\n");
}

Test(cli, out_read_only)
{
    static const char *const argv[] = { "run", "small.jsonl", "--out", "ro", "-q", NULL };
    struct cli_res *r = malloc(sizeof(*r));
    struct cli_ws ws;
    char p[PATH_MAX];

    if (geteuid() == 0) {
        free(r);
        cr_skip_test("root ignores directory permissions (out_under_a_file covers the path)");
    }
    cr_assert(r);
    cli_ws_init(&ws);
    cli_write_str(&ws, "small.jsonl", small_trace);
    mkdir(cli_path(&ws, "ro", p, sizeof(p)), 0555);
    cli_run(&ws, argv, 300, r);
    cr_expect_eq(r->status, 2, "exit %d: %s", r->status, r->err);
    cr_expect_str_eq(r->err, "tlbsim: ro: --out: directory is not writable\n");
    cli_ws_done(&ws);
    free(r);
}

Test(cli, trace_is_a_directory)
{
    static const char *const argv[] = { "run", "dir", "--out", "out", "-q", NULL };
    expect_bad(argv, "tlbsim: dir: is a directory, not a trace file\n");
}

Test(cli, check_of_a_directory)
{
    static const char *const argv[] = { "check", "dir", NULL };
    expect_bad(argv, "tlbsim: dir: is a directory, not a trace file\n");
}
