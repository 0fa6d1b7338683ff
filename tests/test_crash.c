/* tests/test_crash.c - crash consistency of `tlbsim run --out DIR` and its lock.
 *
 *   kills         a three-policy run killed (SIGKILL, SIGINT, SIGTERM; to the
 *                 process or its process group) at spread-out moments of
 *                 its life, alternately writing two different output sets:
 *                 after every kill DIR holds exactly one complete set, the
 *                 previous or the new one, file for file, and nothing else.
 *                 TLBSIM_CRASH_KILLS=N sets the number of kills (default 30;
 *                 tests/crash-consistency.sh runs 300).
 *   lock_*        a second writer is refused while the first runs; a lock
 *                 file naming a dead pid is taken over.
 *   disk_full*    a full tmpfs: run, tlbviz screenshots, and the files of
 *                 probe, calibrate, validate and record: exit 1 or 2, the
 *                 path and the errno text, the previous outputs intact.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "clirun.h"

static const char *const set_files[] = {
    "cpus.csv", "flushes.csv", "summary.csv", "summary.json", "timeline.csv",
};
#define NR_SET (sizeof(set_files) / sizeof(set_files[0]))

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* True when every file of the set in dir a equals the one in dir b. */
static bool same_set(const char *a, const char *b)
{
    for (size_t i = 0; i < NR_SET; i++) {
        char pa[PATH_MAX], pb[PATH_MAX];
        size_t na = 0, nb = 0;
        snprintf(pa, sizeof(pa), "%s/%s", a, set_files[i]);
        snprintf(pb, sizeof(pb), "%s/%s", b, set_files[i]);
        char *x = cli_slurp(pa, &na), *y = cli_slurp(pb, &nb);
        bool eq = x && y && na == nb && !memcmp(x, y, na);
        free(x);
        free(y);
        if (!eq)
            return false;
    }
    return true;
}

/* The two configurations: B has no STLB, so every file differs from A. */
static const char *const cfg_a[] = { "run", "t.jsonl", "--policy", "linux,linux-4.14,broadcast",
                                     "-q", NULL };
static const char *const cfg_b[] = { "run", "t.jsonl", "--policy", "linux,linux-4.14,broadcast",
                                     "-q", "--set", "tlb.stlb.entries=0", NULL };

/* argv = cfg + --out OUT --jobs JOBS */
static void fill(const char **argv, const char *const *cfg, const char *out, const char *jobs)
{
    size_t i = 0;

    for (; cfg[i]; i++)
        argv[i] = cfg[i];
    argv[i++] = "--out";
    argv[i++] = out;
    argv[i++] = "--jobs";
    argv[i++] = jobs;
    argv[i] = NULL;
}

static void run_ok(const struct cli_ws *ws, const char *const *cfg, const char *out)
{
    const char *argv[16];
    struct cli_res *r = malloc(sizeof(*r));

    cr_assert(r);
    fill(argv, cfg, out, "2");
    cli_run(ws, argv, 300, r);
    cr_assert_eq(r->status, 0, "%s", r->err);
    free(r);
}

/* Wait for the whole process group of pid to be gone (stray workers). */
static void reap_group(pid_t pid)
{
    int st;

    kill(-pid, SIGKILL);
    waitpid(pid, &st, 0);
    for (double t0 = now_s(); kill(-pid, 0) == 0 && now_s() - t0 < 10;)
        usleep(2000);
}

Test(crash, kills, .timeout = 600)
{
    static const int sigs[] = { SIGKILL, SIGINT, SIGTERM };
    const char *env = getenv("TLBSIM_CRASH_KILLS");
    int kills = env && atoi(env) > 0 ? atoi(env) : 30;
    char a[PATH_MAX], b[PATH_MAX], out[PATH_MAX], names[4096];
    struct cli_ws ws;
    double dur;
    int n_old = 0, n_new = 0, n_done = 0;

    cli_ws_init(&ws);
    cli_write_default_head(&ws, "t.jsonl", 2000);
    run_ok(&ws, cfg_a, "a");
    run_ok(&ws, cfg_b, "b");
    cli_path(&ws, "a", a, sizeof(a));
    cli_path(&ws, "b", b, sizeof(b));
    cli_path(&ws, "out", out, sizeof(out));
    cr_assert(!same_set(a, b));
    double t0 = now_s();
    run_ok(&ws, cfg_a, "out");
    dur = now_s() - t0;

    srand(19);
    for (int i = 0; i < kills; i++) {
        const char *argv[16];
        int sig = sigs[i % 3], st;
        bool group = (i / 3) % 2;
        /* moments spread over the whole run and a little past its end */
        useconds_t delay = (useconds_t)(dur * 1.2e6 * (double)rand() / RAND_MAX);
        const char *prev = same_set(a, out) ? a : same_set(b, out) ? b : NULL;

        cr_assert(prev, "kill %d: out is neither set before the run", i);
        bool to_b = prev == a;          /* each run writes the other set */
        fill(argv, to_b ? cfg_b : cfg_a, "out", i % 4 < 2 ? "1" : "2");
        pid_t pid = cli_spawn(&ws, argv);
        usleep(delay);
        kill(group ? -pid : pid, sig);
        st = 0;
        waitpid(pid, &st, 0);
        reap_group(pid);
        bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        const char *now = same_set(a, out) ? a : same_set(b, out) ? b : NULL;
        cr_assert(now, "kill %d (signal %d to the %s after %u us): out is a mix of sets", i,
                  sig, group ? "group" : "process", (unsigned)delay);
        if (ok)
            cr_assert_eq(now, to_b ? b : a, "kill %d: exit 0 but the old set", i);
        else
            cr_assert(WIFSIGNALED(st) || WEXITSTATUS(st) == 130,
                      "kill %d: status %d", i, st);
        n_done += ok;
        n_old += now == prev && !ok;
        n_new += now != prev;
        cli_list_dir(out, names, sizeof(names));
        cr_assert_str_eq(names, "cpus.csv\nflushes.csv\nsummary.csv\nsummary.json\n"
                         "timeline.csv\n", "kill %d: out holds\n%s", i, names);
    }
    /* A clean run afterwards leaves one generation and no scratch entries. */
    run_ok(&ws, cfg_a, "out");
    cli_list_dir(ws.dir, names, sizeof(names));
    cr_expect(strstr(names, ".out.lock") == NULL && strstr(names, ".out.lnk") == NULL,
              "scratch left beside out:\n%s", names);
    int gens = 0;
    for (char *p = names; (p = strstr(p, ".out.")); p++)
        gens++;
    cr_expect_eq(gens, 1, "generation directories beside out:\n%s", names);
    cr_log_info("crash: %d kills: %d left the old set, %d the new set (%d runs finished "
                "first); run time %.3f s\n", kills, n_old, n_new, n_done, dur);
    printf("crash: %d kills: %d left the old set, %d the new set (%d runs finished first); "
           "run time %.3f s\n", kills, n_old, n_new, n_done, dur);
    cli_ws_done(&ws);
}

/* ===== the lock ========================================================== */

Test(crash, lock_refuses_second_writer, .timeout = 120)
{
    const char *argv[] = { "run", "t.jsonl", "-q", "--out", "out", NULL };
    struct cli_res *r = malloc(sizeof(*r));
    char lock[PATH_MAX];
    struct cli_ws ws;

    cr_assert(r);
    cli_ws_init(&ws);
    cli_write_default_head(&ws, "t.jsonl", 200);
    cli_run(&ws, argv, 300, r);
    cr_assert_eq(r->status, 0, "%s", r->err);
    /* Hold the lock as a live writer would (this process, flock + pid). */
    cli_path(&ws, ".out.lock", lock, sizeof(lock));
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(flock(fd, LOCK_EX), 0);
    dprintf(fd, "%ld\n", (long)getpid());
    cli_run(&ws, argv, 300, r);
    char want[512];
    snprintf(want, sizeof(want), "tlbsim: out: --out: in use by another tlbsim (pid %ld, "
             "lock ./.out.lock); try again when it has finished\n", (long)getpid());
    cr_expect_eq(r->status, 2, "exit %d: %s", r->status, r->err);
    cr_expect_str_eq(r->err, want);
    close(fd);
    /* Now the pid in the file is stale (nobody holds the lock): taken over. */
    cli_run(&ws, argv, 300, r);
    cr_expect_eq(r->status, 0, "stale lock not taken over: %s", r->err);
    cr_expect(access(lock, F_OK) != 0, "lock file left after the run");
    cli_ws_done(&ws);
    free(r);
}

/* A run and a sweep --merge ... and two real runs: the second of two
 * concurrent runs into one DIR is refused while the first still runs. */
Test(crash, lock_two_runs, .timeout = 300)
{
    static const char long_trace[] =
        "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":1}\n"
        "{\"op\":\"mm_new\",\"mm\":1}\n"
        "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x200000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
        "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
        "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x7f0000000000\",\"stride\":8,\"count\":4294967296,\"kind\":\"r\"}\n";
    const char *a1[] = { "run", "long.jsonl", "-q", "--out", "out", NULL };
    const char *a2[] = { "run", "long.jsonl", "-q", "--out", "out/", NULL };
    struct cli_res *r = malloc(sizeof(*r));
    char lock[PATH_MAX];
    struct cli_ws ws;

    cr_assert(r);
    cli_ws_init(&ws);
    cli_write_str(&ws, "long.jsonl", long_trace);
    cli_path(&ws, ".out.lock", lock, sizeof(lock));
    pid_t pid = cli_spawn(&ws, a1);
    for (double t0 = now_s(); access(lock, F_OK) && now_s() - t0 < 60;)
        usleep(10000);
    usleep(100000);
    cli_run(&ws, a2, 300, r);
    kill(-pid, SIGINT);
    reap_group(pid);
    cr_expect_eq(r->status, 2, "second writer: exit %d: %s", r->status, r->err);
    cr_expect(strstr(r->err, "in use by another tlbsim (pid ") != NULL, "%s", r->err);
    cli_ws_done(&ws);
    free(r);
}

/* ===== a full file system ================================================ */

/* Mount a tmpfs of size_kb at ws/fs; false (with the reason in why) where
 * that is not permitted (not root, no CAP_SYS_ADMIN, no mount binary). */
static bool mount_tmpfs(const struct cli_ws *ws, unsigned size_kb, char *why, size_t len)
{
    char fs[PATH_MAX], cmd[PATH_MAX + 128];

    cli_path(ws, "fs", fs, sizeof(fs));
    mkdir(fs, 0777);
    snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=%uk tmpfs '%s' 2>/dev/null", size_kb, fs);
    if (geteuid() != 0 || system(cmd) != 0) {
        snprintf(why, len, "cannot mount a small tmpfs here (needs root with CAP_SYS_ADMIN)");
        return false;
    }
    return true;
}

static void umount_tmpfs(const struct cli_ws *ws)
{
    char fs[PATH_MAX], cmd[PATH_MAX + 32];

    snprintf(cmd, sizeof(cmd), "umount '%s'", cli_path(ws, "fs", fs, sizeof(fs)));
    cr_expect_eq(system(cmd), 0, "%s failed", cmd);
}

/* Out of space while writing the new set: exit 1 or 2 with the path and
 * "No space left on device", the previous set intact and no new
 * generation left behind.  Then the same for a tlbviz screenshot. */
Test(crash, disk_full, .timeout = 300)
{
    const char *small[] = { "run", "s.jsonl", "-q", "--out", "fs/out", "--policy",
                            "linux,broadcast", NULL };
    const char *big[] = { "run", "t.jsonl", "-q", "--out", "fs/out", "--policy",
                          "linux,linux-4.14,broadcast", "--tlb-log", NULL };
    const char *prev_argv[] = { "run", "s.jsonl", "-q", "--out", "prev", "--policy",
                                "linux,broadcast", NULL };
    struct cli_res *r = malloc(sizeof(*r));
    char why[256], out[PATH_MAX], prev[PATH_MAX], names[4096], fs[PATH_MAX];
    struct cli_ws ws;

    cr_assert(r);
    cli_ws_init(&ws);
    if (!mount_tmpfs(&ws, 256, why, sizeof(why))) {
        cli_ws_done(&ws);
        free(r);
        cr_skip_test("%s", why);
    }
    cli_write_default_head(&ws, "t.jsonl", 24000);            /* the whole default trace: > 1 MB of output */
    {
        char p[PATH_MAX];
        size_t n, k = 0;
        char *t = cli_slurp(cli_path(&ws, "t.jsonl", p, sizeof(p)), &n);
        cr_assert(t);
        for (int l = 0; k < n && l < 200; k++)
            l += t[k] == '\n';
        cli_write(&ws, "s.jsonl", t, k);
        free(t);
    }
    cli_run(&ws, small, 300, r);
    cr_assert_eq(r->status, 0, "the small run does not fit a 256 KiB tmpfs: %s", r->err);
    cli_run(&ws, prev_argv, 300, r);
    cr_assert_eq(r->status, 0, "%s", r->err);
    cli_run(&ws, big, 300, r);
    cr_expect(r->status == 1 || r->status == 2, "exit %d on a full disk: %s", r->status, r->err);
    cr_expect(strstr(r->err, "No space left on device") && strstr(r->err, "fs/"),
              "message without the path or errno text: %s", r->err);
    cr_expect_eq(cli_lines(r->err), 1, "%s", r->err);
    cr_expect(same_set(cli_path(&ws, "prev", prev, sizeof(prev)),
                       cli_path(&ws, "fs/out", out, sizeof(out))), "previous outputs changed");
    cli_list_dir(cli_path(&ws, "fs", fs, sizeof(fs)), names, sizeof(names));
    cr_expect_str_eq(names, ".out.1\nout\n", "left on the full file system:\n%s", names);

    /* tlbviz: a screenshot that fits, then a full disk (a filler file). */
    const char *tlbviz = getenv("TLBVIZ");
    if (tlbviz && access(tlbviz, X_OK) == 0) {
        char shot[PATH_MAX], cmd[3 * PATH_MAX], filler[PATH_MAX], *a, *b;
        size_t na, nb;
        cli_path(&ws, "fs/shot.png", shot, sizeof(shot));
        snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' s.jsonl --screenshot fs/shot.png "
                 "--size 640x400 >/dev/null 2>&1", ws.dir, tlbviz[0] == '/' ? tlbviz :
                 realpath(tlbviz, filler));
        cr_assert_eq(system(cmd), 0, "%s", cmd);
        a = cli_slurp(shot, &na);
        snprintf(cmd, sizeof(cmd), "dd if=/dev/zero of='%s' bs=4k 2>/dev/null; true",
                 cli_path(&ws, "fs/filler", filler, sizeof(filler)));
        cr_assert_eq(system(cmd), 0);
        snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' s.jsonl --screenshot fs/shot.png "
                 "--size 1280x800 --at 50%% >/dev/null 2>'%s/vizerr'", ws.dir,
                 tlbviz[0] == '/' ? tlbviz : realpath(tlbviz, filler), ws.root);
        int st = system(cmd);
        snprintf(cmd, sizeof(cmd), "%s/vizerr", ws.root);
        char *e = cli_slurp(cmd, NULL);
        cr_expect(WIFEXITED(st) && (WEXITSTATUS(st) == 1 || WEXITSTATUS(st) == 2),
                  "tlbviz on a full disk: status %d", st);
        cr_expect(e && strstr(e, "fs/shot.png") && strstr(e, "No space left on device"),
                  "tlbviz message: %s", e ? e : "(none)");
        b = cli_slurp(shot, &nb);
        cr_expect(a && b && na == nb && !memcmp(a, b, na), "previous screenshot changed");
        free(a);
        free(b);
        free(e);
    }
    umount_tmpfs(&ws);
    cli_ws_done(&ws);
    free(r);
}

/* A command whose output goes to a full file system: exit 1 or 2, its last
 * stderr line names the output (`path` or its temporary name) and says
 * "No space left on device", the previous output is unchanged byte for
 * byte, and the file system holds what it held before. */
static void expect_full(const struct cli_ws *ws, const char *const *argv, const char *path,
                        const char *before_names)
{
    struct cli_res *r = malloc(sizeof(*r));
    char p[PATH_MAX], line[1024], names[4096], fs[PATH_MAX];
    size_t na, nb;
    char *a, *b;

    if (!r)
        return;
    a = cli_slurp(cli_path(ws, path, p, sizeof(p)), &na);
    cr_expect(a, "no previous %s", path);
    cli_run(ws, argv, 300, r);
    cli_last_line(r->err, line, sizeof(line));
    cr_expect(r->status == 1 || r->status == 2, "%s on a full disk: exit %d: %s", argv[0],
              r->status, r->err);
    cr_expect(strstr(line, path) && strstr(line, "No space left on device"),
              "%s: last line without the path %s or the errno text: %s", argv[0], path, line);
    b = cli_slurp(p, &nb);
    cr_expect(b && na == nb && !memcmp(a, b, na), "%s: previous %s changed", argv[0], path);
    cli_list_dir(cli_path(ws, "fs", fs, sizeof(fs)), names, sizeof(names));
    cr_expect_str_eq(names, before_names, "%s: left on the full file system:\n%s", argv[0],
                     names);
    free(a);
    free(b);
    free(r);
}

/* The outputs of probe, calibrate, validate and record on a full disk. */
Test(crash, disk_full_probe_calibrate_validate_record, .timeout = 600)
{
    char why[256], meas[PATH_MAX], p[PATH_MAX], names[4096], cmd[2 * PATH_MAX];
    struct cli_res *r = malloc(sizeof(*r));
    struct cli_ws ws;

    cr_assert(r);
    cli_repo("tests/fuzz/seed/meas/probe-quick.json", meas, sizeof(meas));
    cli_ws_init(&ws);
    if (!mount_tmpfs(&ws, 256, why, sizeof(why))) {
        cli_ws_done(&ws);
        free(r);
        cr_skip_test("%s", why);
    }
    /* From here on no cr_assert: a failed step must still unmount. */
    const char *cal[] = { "calibrate", meas, "--machine", "skylake-sp", "-o", "fs/c.json",
                          NULL };
    const char *val[] = { "validate", meas, "--machine", "skylake-sp", "--out", "fs/v", NULL };
    const char *probe[] = { "probe", "--quick", "--repeats", "1", "--iterations", "2",
                            "--max-threads", "2", "-o", "fs/m.json", NULL };
    const char *rec[] = { "record", "-o", "fs/r.jsonl", "--", "/bin/true", NULL };
    bool have_valgrind = system("valgrind --version >/dev/null 2>&1") == 0;

    /* the previous outputs, while there is room; then fill the file system */
    cli_run(&ws, cal, 300, r);
    cr_expect_eq(r->status, 0, "calibrate: %s", r->err);
    if (r->status)
        goto out;
    cli_run(&ws, val, 300, r);
    cr_expect_eq(r->status, 0, "validate: %s", r->err);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && printf '{}\\n' >'%s/fs/r.jsonl' && "
             "{ dd if=/dev/zero of='%s/fs/filler' bs=4k 2>/dev/null; true; }", meas,
             cli_path(&ws, "fs/m.json", p, sizeof(p)), ws.dir, ws.dir);
    cr_expect_eq(system(cmd), 0, "%s", cmd);
    cli_list_dir(cli_path(&ws, "fs", p, sizeof(p)), names, sizeof(names));
    cr_expect_str_eq(names, "c.json\nfiller\nm.json\nr.jsonl\nv\n");
    if (r->status || strcmp(names, "c.json\nfiller\nm.json\nr.jsonl\nv\n"))
        goto out;

    expect_full(&ws, cal, "fs/c.json", names);
    expect_full(&ws, val, "fs/v/validation.csv", names);
    expect_full(&ws, probe, "fs/m.json", names);
    if (have_valgrind)
        expect_full(&ws, rec, "fs/r.jsonl", names);
    else
        cr_log_warn("record on a full disk skipped: valgrind is not installed");
out:
    umount_tmpfs(&ws);
    cli_ws_done(&ws);
    free(r);
}

/* ===== limits at the edge ================================================ */

/* The CPU limit itself (1024) runs: every CPU touches a shared page, then
 * one unmap shoots down all of them; 1025 is refused (test_regress.c). */
Test(limits, cpus_1024_run, .timeout = 300)
{
    const char *argv[] = { "run", "c.jsonl", "-q", "--out", "out", NULL };
    struct cli_res *r = malloc(sizeof(*r));
    size_t cap = 1u << 20, n = 0;
    char *t = malloc(cap), p[PATH_MAX];
    struct cli_ws ws;

    cr_assert(r && t);
    cli_ws_init(&ws);
    n += (size_t)snprintf(t + n, cap - n,
                          "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":1024}\n"
                          "{\"op\":\"mm_new\",\"mm\":1}\n"
                          "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x10000\","
                          "\"page\":\"4k\",\"prot\":\"rw\"}\n");
    for (int c = 0; c < 1024; c++)
        n += (size_t)snprintf(t + n, cap - n,
                              "{\"op\":\"switch\",\"cpu\":%d,\"mm\":1}\n"
                              "{\"op\":\"access\",\"cpu\":%d,\"va\":\"0x7f0000001000\","
                              "\"kind\":\"w\"}\n", c, c);
    n += (size_t)snprintf(t + n, cap - n, "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,"
                          "\"va\":\"0x7f0000000000\",\"len\":\"0x10000\"}\n");
    cli_write(&ws, "c.jsonl", t, n);
    free(t);
    cli_run(&ws, argv, 300, r);
    cr_assert_eq(r->status, 0, "1024 CPUs: %s", r->err);
    char *s = cli_slurp(cli_path(&ws, "out/cpus.csv", p, sizeof(p)), NULL);
    cr_assert(s);
    cr_expect_eq(cli_lines(s), 1025, "cpus.csv: a header and one row per CPU");
    free(s);
    cli_ws_done(&ws);
    free(r);
}
