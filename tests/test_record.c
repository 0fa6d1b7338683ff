/* tests/test_record.c - `tlbsim record` end to end, and the threaded lackey
 * form it produces (import_lackey_mt.c) on hand-written logs.
 *
 *   munmap_threads    tests/progs/munmap_threads.c (4 threads, the main one
 *                     munmaps a buffer all of them wrote) recorded with
 *                     --cpus 4: under linux flush_requests > 0 and
 *                     ipis_sent > 0; --policy all gives at least three
 *                     different shootdown_cycles_mean.  Skipped (with the
 *                     reason) without valgrind or cc.
 *   lackey_mt_*       small logs in valgrind's exact layout (SCHED and SYSCALL
 *                     lines, a SCHED message glued to a SYSCALL line, async
 *                     completions, a result on its own line) -> the exact ops.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../sim/io/import.h"
#include "clirun.h"
#include "harness.h"

static bool have(const char *prog)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

/* The value of column col in every data row of CSV text, as strings. */
static int csv_column(const char *csv, const char *col, char vals[][32], int max)
{
    const char *p = csv, *nl = strchr(p, '\n');
    int idx = -1, i = 0, n = 0;

    for (const char *c = p; c < nl; i++) {
        size_t len = strcspn(c, ",\n");
        if (len == strlen(col) && !strncmp(c, col, len))
            idx = i;
        c += len + (c[len] == ',');
    }
    if (idx < 0)
        return -1;
    for (p = nl + 1; *p && n < max; p = strchr(p, '\n') + 1) {
        const char *c = p;
        for (i = 0; i < idx; i++)
            c += strcspn(c, ",\n") + 1;
        snprintf(vals[n++], 32, "%.*s", (int)strcspn(c, ",\n"), c);
        if (!strchr(p, '\n'))
            break;
    }
    return n;
}

static char *run_summary(struct cli_ws *ws, const char *policy, const char *out)
{
    const char *argv[] = { "run", "r.jsonl", "--policy", policy, "--out", out, NULL };
    struct cli_res *r = calloc(1, sizeof(*r));
    char p[512];
    char *csv;

    cli_run(ws, argv, 300, r);
    cr_assert_eq(r->status, 0, "run --policy %s: %s", policy, r->err);
    free(r);
    snprintf(p, sizeof(p), "%s/summary.csv", out);
    csv = cli_slurp(cli_path(ws, p, (char[512]){ 0 }, 512), NULL);
    cr_assert(csv, "no summary.csv");
    return csv;
}

Test(record, munmap_threads, .timeout = 600)
{
    struct cli_ws ws;
    struct cli_res *r = calloc(1, sizeof(*r));
    char src[PATH_MAX], prog[600], cmd[PATH_MAX + 700], vals[16][32];
    const char *rec[] = { "record", "-o", "r.jsonl", "--cpus", "4", "--", "./prog", NULL };

    if (!have("valgrind"))
        cr_skip_test("valgrind is not installed (apt-get install valgrind)");
    if (!have("cc"))
        cr_skip_test("no C compiler to build tests/progs/munmap_threads.c");
    cli_ws_init(&ws);
    cli_path(&ws, "prog", prog, sizeof(prog));
    snprintf(cmd, sizeof(cmd), "cc -O1 -pthread -o %s %s", prog,
             cli_repo("tests/progs/munmap_threads.c", src, sizeof(src)));
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    cli_run(&ws, rec, 600, r);
    cr_assert_eq(r->status, 0, "record: %s", r->err);
    cr_expect(strstr(r->err, "4 threads on 4 CPUs"), "%s", r->err);
    if (strstr(r->err, "the kernel saw"))       /* perf could record: its events were read */
        cr_expect(!strstr(r->err, "page faults 0,"), "%s", r->err);

    char *csv = run_summary(&ws, "linux", "o1");
    cr_assert_eq(csv_column(csv, "flush_requests", vals, 16), 1);
    cr_expect_gt(strtoull(vals[0], NULL, 10), 0, "flush_requests %s", vals[0]);
    cr_assert_eq(csv_column(csv, "ipis_sent", vals, 16), 1);
    cr_expect_gt(strtoull(vals[0], NULL, 10), 0, "ipis_sent %s", vals[0]);
    free(csv);

    csv = run_summary(&ws, "all", "o2");
    int n = csv_column(csv, "shootdown_cycles_mean", vals, 16), distinct = 0;
    cr_assert_geq(n, 3);
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < i && strcmp(vals[j], vals[i]))
            j++;
        distinct += j == i;
    }
    cr_expect_geq(distinct, 3, "%d different shootdown_cycles_mean:\n%s", distinct, csv);
    free(csv);
    free(r);
    cli_ws_done(&ws);
}

Test(record, usage_and_missing_program)
{
    struct cli_ws ws;
    struct cli_res r;
    const char *none[] = { "record", NULL };
    const char *help[] = { "record", "--help", NULL };
    const char *missing[] = { "record", "--", "./no-such-program", NULL };
    const char *badcpus[] = { "record", "--cpus", "0", "--", "true", NULL };

    cli_ws_init(&ws);
    cli_run(&ws, none, 30, &r);
    cr_expect_eq(r.status, 2);
    cli_run(&ws, help, 30, &r);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "--placement"), "%s", r.out);
    cli_run(&ws, badcpus, 30, &r);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "--cpus"), "%s", r.err);
    if (have("valgrind")) {
        cli_run(&ws, missing, 30, &r);
        cr_expect_eq(r.status, 2);
        cr_expect(strstr(r.err, "./no-such-program: no such program"), "%s", r.err);
    }
    cli_ws_done(&ws);
}

/* ===== The threaded lackey form on hand-written logs ===================== */

static char *import_mt(const char *log, u32 cpus, struct import_stats *st)
{
    struct import_opts o = { .cpus = cpus, .strict = true };
    struct sim_err err = { 0 };
    char in[256], out[300];
    char *text;

    snprintf(in, sizeof(in), "%s", h_tmpfile(log, ".txt"));
    snprintf(out, sizeof(out), "%s.jsonl", in);
    cr_assert_eq(import_file("lackey", in, out, &o, st, &err), SIM_OK, "%s", err.msg);
    text = cli_slurp(out, NULL);
    unlink(in);
    unlink(out);
    cr_assert(text);
    return text;
}

/* Two threads: thread 1 maps (mmap, not yet touched), both write, thread 2
 * blocks in a futex wait (its CPU idles), thread 1 munmaps (a barrier map
 * brings the page back at its next touch), zaps it, fails an mprotect
 * (ignored), forks (a full flush; the result comes on its own line) and
 * exits the process. */
static const char mt_log[] =
    "==100== Lackey, an example Valgrind tool\n"
    "--100--   SCHED[1]:  acquired lock (thread_wrapper(starting new thread))\n"
    "I  00400000,3\n"
    "SYSCALL[100,1](9) sys_mmap ( 0x0, 8192, 3, 34, 4294967295, 0 ) --> [pre-success] Success(0x5000000) \n"
    " S 05000000,8\n"
    "SYSCALL[100,1](56) sys_clone ( 3d0f00, 0x1, 0x2, 0x3, 0x4 ) --> [pre-success] Success(0x65) --100--   SCHED[1]: releasing lock (VG_(vg_yield)) -> VgTs_Yielding\n"
    "--100--   SCHED[2]:  acquired lock (thread_wrapper(starting new thread))\n"
    " L 05001000,4\n"
    "SYSCALL[100,2](202) sys_futex ( 0x10c084, 128, 0, 0x0, 0x0 ) --> [async] ... \n"
    "--100--   SCHED[2]: releasing lock (VG_(client_syscall)[async]) -> VgTs_WaitSys\n"
    "--100--   SCHED[1]:  acquired lock (VG_(vg_yield))\n"
    "SYSCALL[100,1](11) sys_munmap ( 0x5000000, 8192 )[sync] --> Success(0x0) \n"
    "SYSCALL[100,1](9) sys_mmap ( 0x0, 4096, 3, 34, 4294967295, 0 ) --> [pre-success] Success(0x5000000) \n"
    " M 05000000,8\n"
    "SYSCALL[100,1](28) sys_madvise ( 0x5000000, 4096, 4 ) --> [async] ... \n"
    "SYSCALL[100,1](28) ... [async] --> Success(0x0) \n"
    "SYSCALL[100,1](10) sys_mprotect ( 0x5000000, 4096, 0 )[sync] --> Failure(0xc) \n"
    "SYSCALL[100,1](57) sys_fork ( )\n"
    " --> [pre-success] Success(0x66) \n"
    "SYSCALL[100,1](231) exit_group( 0 ) --> [pre-success] Success(0x0) \n"
    "==100== Exit code: 0\n";

static const char mt_expect[] =
    "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2,\"name\":\"NAME\",\"source\":\"lackey\"}\n"
    "{\"op\":\"mm_new\",\"mm\":1}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rx\",\"populate\":false}\n"
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1,\"t\":0}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x400000\",\"kind\":\"x\",\"t\":0}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x5000000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\",\"populate\":false}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x5000000\",\"kind\":\"w\",\"t\":1}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1,\"t\":1}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x5001000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\",\"populate\":false}\n"
    "{\"op\":\"access\",\"cpu\":1,\"va\":\"0x5001000\",\"kind\":\"r\",\"t\":1}\n"
    "{\"op\":\"idle\",\"cpu\":1,\"t\":1}\n"
    "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x5000000\",\"len\":\"0x2000\",\"t\":1}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x5000000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\",\"populate\":false}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x5000000\",\"kind\":\"w\",\"t\":1}\n"
    "{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x5000000\",\"len\":\"0x1000\",\"t\":1}\n"
    "{\"op\":\"flush\",\"cpu\":0,\"mm\":1,\"all\":true,\"t\":1}\n"
    "{\"op\":\"idle\",\"cpu\":0,\"t\":1}\n"
    "{\"op\":\"mm_exit\",\"cpu\":0,\"mm\":1,\"t\":1}\n";

Test(record, lackey_mt_ops, .init = h_tmpdir_setup, .fini = h_tmpdir_teardown)
{
    struct import_stats st;
    char *got = import_mt(mt_log, 0, &st);
    const char *nl = strchr(got, '\n');

    cr_assert(nl);
    /* the header names the temporary file: compare everything else */
    cr_expect_str_eq(nl + 1, strchr(mt_expect, '\n') + 1);
    cr_expect_eq(st.cpus, 2);
    cr_expect_eq(st.skipped, 0);
    cr_expect(strstr(st.note, "2 threads on 2 CPUs"), "%s", st.note);
    free(got);
}

/* --cpus 1: both threads on CPU 0; the futex wait does not idle the CPU
 * while thread 1 is still runnable there. */
Test(record, lackey_mt_shared_cpu, .init = h_tmpdir_setup, .fini = h_tmpdir_teardown)
{
    struct import_stats st;
    char *got = import_mt(mt_log, 1, &st);

    cr_expect(!strstr(got, "\"cpu\":1"), "%s", got);
    cr_expect_eq(st.cpus, 1);
    const char *idle = strstr(got, "\"op\":\"idle\"");
    const char *unmap = strstr(got, "\"op\":\"unmap\"");
    cr_expect(idle && unmap && idle > unmap, "the only idle is exit_group's:\n%s", got);
    free(got);
}

/* A malformed SYSCALL line is an error in strict mode, with its line. */
Test(record, lackey_mt_bad_syscall, .init = h_tmpdir_setup, .fini = h_tmpdir_teardown)
{
    struct import_opts o = { .strict = true };
    struct import_stats st;
    struct sim_err err = { 0 };
    char in[256], out[300];

    snprintf(in, sizeof(in), "%s", h_tmpfile("I  00400000,3\nSYSCALL[100,x](9) sys_mmap ( 0x0 )\n", ".txt"));
    snprintf(out, sizeof(out), "%s.jsonl", in);
    cr_expect_eq(import_file("lackey", in, out, &o, &st, &err), SIM_EPARSE);
    cr_expect(strstr(err.msg, ":2: SYSCALL: cannot read [PID,TID](NR)"), "%s", err.msg);
    cr_expect(access(out, F_OK) != 0);
    unlink(in);
}
