/* sim/cli/record.c - `tlbsim record`: run a program under valgrind's lackey
 * (every memory reference, every syscall, every thread switch) and, where
 * perf can record them, the kernel's events of the same run; turn the result
 * into one trace.
 *
 *   1. probe perf, event by event (sched_switch, tlb_flush, task_newtask,
 *      page_fault_user): what cannot be recorded is said and left out;
 *   2. run  [perf record -e ... --] valgrind --tool=lackey --trace-mem=yes
 *           --trace-syscalls=yes --trace-sched=yes --log-file=DIR/lackey.%p
 *           PROG ARGS   (the program's own output goes to the terminal);
 *   3. perf script -> DIR/perf.txt: per kernel thread, the CPU it spent most
 *      time on (for --placement kernel), and the kernel's counts of flushes,
 *      faults and new tasks for the process, printed beside the import;
 *   4. import the root process's lackey log (import_lackey_mt.c), streamed
 *      from the file in two passes, into OUT.
 *
 * Child processes (fork) get their own lackey.PID log and are not imported.
 * DIR is a fresh temporary directory, removed at the end unless --keep.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../io/import.h"
#include "../io/u64map.h"

#define REC_MAX_ARGS  4096
#define REC_MAX_PLACE 4096              /* kernel threads placed at most */
#define REC_CPU_BITS  12                /* CPU ids (< 1024) in a times key */

static const char *const rec_events[] = {
    "sched:sched_switch", "tlb:tlb_flush", "task:task_newtask", "exceptions:page_fault_user",
};
#define REC_NR_EVENTS ARRAY_SIZE(rec_events)

struct rec {
    char dir[4096];                     /* the temporary directory */
    const char *out;                    /* -o */
    u32 cpus;                           /* --cpus, 0: one CPU per thread */
    bool kernel_place;                  /* --placement kernel */
    bool no_kernel;                     /* --no-kernel */
    bool keep;                          /* --keep */
    bool ev_ok[REC_NR_EVENTS];          /* perf can record it */
    char ev_why[REC_NR_EVENTS][128];    /* why not */
    u32 nev;                            /* events recorded */
    u64 pid;                            /* the root process (valgrind's pid) */
    struct u64map times;                /* tid << REC_CPU_BITS | cpu -> ns it ran there */
    u64 flush_reason[6];                /* tlb_flush of the process, by reason */
    u64 faults, newtasks;               /* page_fault_user, task_newtask of the process */
};

/* ===== Processes ========================================================= */

static bool rec_in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[4096];

    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0;
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t n = strcspn(p, ":");
        if (n && n + strlen(prog) + 2 < sizeof(buf)) {
            snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog);
            if (access(buf, X_OK) == 0)
                return true;
        }
        p += n + (p[n] == ':');
    }
    return false;
}

/* Run argv; stdout/stderr to these files when given.  The exit status, or
 * 128 + signal, or -1 when it could not be started. */
static int rec_spawn(const char *const argv[], const char *out, const char *errf)
{
    pid_t pid = fork();
    int st;

    if (pid < 0)
        return -1;
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        if (out) {
            int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2(fd, 1) < 0)
                _exit(127);
            close(fd);
        }
        if (errf) {
            int fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2(fd, 2) < 0)
                _exit(127);
            close(fd);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void rec_path(const struct rec *r, char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", r->dir, name);
}

static void rec_first_line(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");

    buf[0] = '\0';
    if (f) {
        while (fgets(buf, (int)cap, f) && (buf[0] == '\n' || !strncmp(buf, "  ", 2)))
            ;
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = '\0';
}

/* ===== Kernel events (perf) ============================================== */

static void rec_probe(struct rec *r)
{
    char data[4200], log[4200], old[4200];

    rec_path(r, data, sizeof(data), "probe.data");
    rec_path(r, log, sizeof(log), "probe.log");
    rec_path(r, old, sizeof(old), "probe.data.old");
    if (r->no_kernel || !rec_in_path("perf")) {
        for (size_t i = 0; i < REC_NR_EVENTS; i++)
            snprintf(r->ev_why[i], sizeof(r->ev_why[i]), "%s",
                     r->no_kernel ? "--no-kernel" : "perf is not installed");
        return;
    }
    const char *all[] = { "perf", "record", "-q", "-o", data, "-e", rec_events[0], "-e",
                          rec_events[1], "-e", rec_events[2], "-e", rec_events[3], "--", "true",
                          NULL };
    _Static_assert(REC_NR_EVENTS == 4, "the probe names every event");
    bool all_ok = rec_spawn(all, "/dev/null", log) == 0;  /* the usual case: one probe */
    for (size_t i = 0; i < REC_NR_EVENTS; i++) {
        const char *argv[] = { "perf", "record", "-q", "-o", data, "-e", rec_events[i],
                               "--", "true", NULL };
        int st = all_ok ? 0 : rec_spawn(argv, "/dev/null", log);
        r->ev_ok[i] = st == 0;
        r->nev += st == 0;
        if (st != 0) {
            rec_first_line(log, r->ev_why[i], sizeof(r->ev_why[i]));
            if (!r->ev_why[i][0])
                snprintf(r->ev_why[i], sizeof(r->ev_why[i]), "perf record exited with %d", st);
        }
    }
    unlink(data);
    unlink(old);
    unlink(log);
}

static int rec_time_add(struct rec *r, u64 tid, u32 cpu, u64 ns)
{
    u64 *v;

    if (tid >> 40)
        return SIM_OK;
    if (!(v = u64map_slot(&r->times, tid << REC_CPU_BITS | cpu)))
        return SIM_ENOMEM;
    *v += ns;
    return SIM_OK;
}

static bool rec_field(const char *s, const char *key, u64 *v)
{
    const char *p = strstr(s, key);
    char *end;

    if (!p)
        return false;
    *v = strtoull(p + strlen(key), &end, 10);
    return end != p + strlen(key);
}

/* One `perf script -F comm,pid,tid,cpu,time,event,trace` line:
 *   COMM PID/TID [CPU] SEC.FRAC: SYS:EVENT: FIELDS
 * on[]/since[]: the thread on each CPU since when (sched_switch). */
static int rec_perf_line(struct rec *r, const char *s, u64 *on, u64 *since, u32 ncpu)
{
    const char *b = strstr(s, " ["), *slash, *ev;
    u64 pid = 0, cpu, sec, frac = 0, ns, prev, next;
    char *end;
    int nd = 0;

    if (!b)
        return SIM_OK;
    for (slash = b; slash > s && slash[-1] == ' '; slash--)    /* columns are padded */
        ;
    for (; slash > s && slash[-1] != ' '; slash--)
        ;
    pid = strtoull(slash, &end, 10);
    cpu = strtoull(b + 2, &end, 10);
    if (*end != ']' || cpu >= ncpu)
        return SIM_OK;
    sec = strtoull(end + 1, &end, 10);
    if (*end == '.')
        for (end++; *end >= '0' && *end <= '9'; end++, nd++)
            if (nd < 9)
                frac = frac * 10 + (u64)(*end - '0');
    for (; nd < 9; nd++)
        frac *= 10;
    ns = sec * 1000000000ull + frac;
    if (*end != ':')
        return SIM_OK;
    ev = end + 1;
    while (*ev == ' ' || *ev == '\t')
        ev++;
    if (!strncmp(ev, "sched:sched_switch:", 19) && rec_field(ev, "prev_pid=", &prev) &&
        rec_field(ev, "next_pid=", &next)) {
        int rc = on[cpu] == prev && prev ? rec_time_add(r, prev, (u32)cpu, ns - since[cpu]) : SIM_OK;
        on[cpu] = next;
        since[cpu] = ns;
        return rc;
    }
    if (pid != r->pid)
        return SIM_OK;
    if (!strncmp(ev, "tlb:tlb_flush:", 14)) {
        const char *p = strrchr(ev, '(');
        u64 reason = p ? strtoull(p + 1, NULL, 10) : 99;
        if (reason < ARRAY_SIZE(r->flush_reason))
            r->flush_reason[reason]++;
    } else if (!strncmp(ev, "exceptions:page_fault_user:", 27)) {
        r->faults++;
    } else if (!strncmp(ev, "task:task_newtask:", 18)) {
        r->newtasks++;
    }
    return SIM_OK;
}

static int rec_perf_read(struct rec *r)
{
    char data[4200], txt[4200], line[4096];
    u64 on[1024] = { 0 }, since[1024] = { 0 };
    int rc = SIM_OK;
    FILE *f;

    rec_path(r, data, sizeof(data), "perf.data");
    rec_path(r, txt, sizeof(txt), "perf.txt");
    const char *argv[] = { "perf", "script", "-i", data, "-F", "comm,pid,tid,cpu,time,event,trace",
                           NULL };
    if (rec_spawn(argv, txt, "/dev/null") != 0 || !(f = fopen(txt, "r"))) {
        fprintf(stderr, "tlbsim: record: perf script failed; kernel events left out\n");
        r->nev = 0;
        return SIM_OK;
    }
    while (rc == SIM_OK && fgets(line, sizeof(line), f))
        rc = rec_perf_line(r, line, on, since, 1024);
    fclose(f);
    return rc;
}

/* ===== The lackey log of the root process ================================ */

/* lackey.PID files; the root is the one whose parent is none of the others. */
static int rec_find_log(struct rec *r, char *path, size_t cap)
{
    u64 pids[256], parents[256];
    size_t n = 0;
    DIR *d = opendir(r->dir);
    struct dirent *e;

    if (!d)
        return -1;
    while ((e = readdir(d)) && n < ARRAY_SIZE(pids)) {
        char p[4400], line[512];
        FILE *f;
        if (strncmp(e->d_name, "lackey.", 7))
            continue;
        pids[n] = strtoull(e->d_name + 7, NULL, 10);
        parents[n] = 0;
        snprintf(p, sizeof(p), "%s/%s", r->dir, e->d_name);
        if ((f = fopen(p, "r"))) {
            for (int i = 0; i < 16 && fgets(line, sizeof(line), f); i++) {
                const char *q = strstr(line, "Parent PID: ");
                if (q)
                    parents[n] = strtoull(q + 12, NULL, 10);
            }
            fclose(f);
        }
        n++;
    }
    closedir(d);
    for (size_t i = 0; i < n; i++) {
        bool child = false;
        for (size_t j = 0; j < n; j++)
            child |= parents[i] == pids[j];
        if (!child) {
            r->pid = pids[i];
            snprintf(path, cap, "%s/lackey.%llu", r->dir, (unsigned long long)pids[i]);
            if (n > 1)
                fprintf(stderr, "tlbsim: record: %zu child process%s not imported (their logs: "
                        "%s/lackey.*)\n", n - 1, n > 2 ? "es" : "", r->keep ? r->dir : "--keep");
            return 0;
        }
    }
    return -1;
}

/* Per kernel thread, the CPU it ran on longest (ties: the lower CPU). */
static u32 rec_placement(const struct rec *r, struct import_tid_cpu *tc, u32 cap)
{
    u64 best[REC_MAX_PLACE];
    u32 n = 0;

    for (size_t i = 0; i < r->times.cap; i++) {
        u64 key = r->times.k[i] - 1, ns = r->times.v[i];
        u64 tid = key >> REC_CPU_BITS;
        u32 cpu = (u32)(key & ((1u << REC_CPU_BITS) - 1)), j;
        if (!r->times.k[i])
            continue;
        for (j = 0; j < n && tc[j].tid != tid; j++)
            ;
        if (j == n) {
            if (n == cap)
                continue;
            tc[n] = (struct import_tid_cpu){ tid, cpu };
            best[n++] = ns;
        } else if (ns > best[j] || (ns == best[j] && cpu < tc[j].cpu)) {
            tc[j].cpu = cpu;
            best[j] = ns;
        }
    }
    return n;
}

static void rec_report_kernel(const struct rec *r)
{
    static const char *const reason[] = {
        "task switch", "remote shootdown", "local shootdown", "local mm shootdown",
        "remote ipi send", "remote wrong cpu",
    };

    for (size_t i = 0; i < REC_NR_EVENTS; i++)
        if (!r->ev_ok[i])
            fprintf(stderr, "tlbsim: record: kernel event %s unavailable: %s\n", rec_events[i],
                    r->ev_why[i]);
    if (!r->nev)
        return;
    fprintf(stderr, "tlbsim: record: the kernel saw for pid %llu (valgrind's own work "
            "included):", (unsigned long long)r->pid);
    for (size_t i = 0; i < ARRAY_SIZE(reason); i++)
        if (r->flush_reason[i])
            fprintf(stderr, " tlb_flush %s %llu,", reason[i], (unsigned long long)r->flush_reason[i]);
    fprintf(stderr, " page faults %llu, new tasks %llu\n", (unsigned long long)r->faults,
            (unsigned long long)r->newtasks);
}

/* ===== The command ======================================================= */

static void rec_cleanup(const struct rec *r)
{
    DIR *d;
    struct dirent *e;

    if (!r->dir[0] || r->keep || !(d = opendir(r->dir)))
        return;
    while ((e = readdir(d))) {
        char p[4400];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof(p), "%s/%s", r->dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(r->dir);
}

static int rec_usage(FILE *f)
{
    fputs("usage: tlbsim record [-o OUT] [--cpus N] [--placement spread|kernel]\n"
          "                     [--no-kernel] [--keep] -- PROG [ARGS...]\n"
          "Run PROG under valgrind (lackey: every memory reference, syscall and thread\n"
          "switch) and, where perf can record them, the kernel's sched_switch,\n"
          "tlb_flush, task_newtask and page_fault_user events of the same run; write\n"
          "one trace (default OUT: PROG.jsonl).  Threads share one mm; munmap, mprotect,\n"
          "madvise, mremap, brk, fork, execve and exit become ops in each thread's stream.\n"
          "  --cpus N          the trace's CPUs (default: one per thread)\n"
          "  --placement P     spread (default): thread N on CPU (N-1) mod cpus;\n"
          "                    kernel: each thread on the CPU the kernel ran it on longest\n"
          "  --no-kernel       do not record kernel events\n"
          "  --keep            keep the raw logs (the directory is printed)\n"
          "What is exact and what is approximated: docs/importers.md.\n", f);
    return f == stdout ? EXIT_OK : EXIT_BADINPUT;
}

static int rec_parse(int argc, char **argv, struct rec *r)
{
    static const struct option lopts[] = {
        { "output", required_argument, 0, 'o' }, { "cpus", required_argument, 0, 'c' },
        { "placement", required_argument, 0, 'p' }, { "no-kernel", no_argument, 0, 'n' },
        { "keep", no_argument, 0, 'k' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    char *end;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "+o:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'o': r->out = optarg; break;
        case 'n': r->no_kernel = true; break;
        case 'k': r->keep = true; break;
        case 'h': rec_usage(stdout); return -1;
        case 'p':
            if (strcmp(optarg, "spread") && strcmp(optarg, "kernel")) {
                cli_error("record: --placement takes spread or kernel");
                return EXIT_BADINPUT;
            }
            r->kernel_place = !strcmp(optarg, "kernel");
            break;
        case 'c': {
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || !*optarg || v == 0 || v > 1024) {
                fprintf(stderr, "tlbsim: record: --cpus: '%s' is not in [1, 1024]\n", optarg);
                return EXIT_BADINPUT;
            }
            r->cpus = (u32)v;
            break;
        }
        default:
            return rec_usage(stderr);
        }
    }
    if (optind >= argc || argc - optind > REC_MAX_ARGS) {
        cli_error(optind >= argc ? "record: no program to run (tlbsim record [-o OUT] [--cpus N] "
                                   "-- PROG [ARGS...])" : "record: too many arguments");
        return EXIT_BADINPUT;
    }
    return EXIT_OK;
}

/* valgrind (under perf record when it can record something) + the program. */
static int rec_run(struct rec *r, char **prog)
{
    static const char *const vg[] = {
        "valgrind", "--tool=lackey", "--trace-mem=yes", "--trace-syscalls=yes",
        "--trace-sched=yes",
    };
    const char *argv[REC_MAX_ARGS + 32];
    char logopt[4300], data[4200], evs[REC_NR_EVENTS][80];
    size_t n = 0;

    snprintf(logopt, sizeof(logopt), "--log-file=%s/lackey.%%p", r->dir);
    rec_path(r, data, sizeof(data), "perf.data");
    if (r->nev) {
        argv[n++] = "perf";
        argv[n++] = "record";
        argv[n++] = "-q";
        argv[n++] = "-o";
        argv[n++] = data;
        for (size_t i = 0; i < REC_NR_EVENTS; i++)
            if (r->ev_ok[i]) {
                snprintf(evs[i], sizeof(evs[i]), "-e%s", rec_events[i]);
                argv[n++] = evs[i];
            }
        argv[n++] = "--";
    }
    for (size_t i = 0; i < ARRAY_SIZE(vg); i++)
        argv[n++] = vg[i];
    argv[n++] = logopt;
    while (*prog)
        argv[n++] = *prog++;
    argv[n] = NULL;
    return rec_spawn(argv, NULL, NULL);
}

static int rec_import(struct rec *r, const char *log)
{
    struct import_tid_cpu tc[REC_MAX_PLACE];
    struct import_opts io = { .cpus = r->cpus };
    struct import_stats st;
    struct sim_err err = { 0 };
    int rc;

    if (r->kernel_place) {
        io.nr_tid_cpu = rec_placement(r, tc, REC_MAX_PLACE);
        io.tid_cpu = tc;
        for (u32 i = 0; i < io.nr_tid_cpu; i++)
            fprintf(stderr, "tlbsim: record: the kernel ran thread %llu longest on CPU %u\n",
                    (unsigned long long)tc[i].tid, tc[i].cpu);
        if (!io.nr_tid_cpu)
            fprintf(stderr, "tlbsim: record: --placement kernel: no sched_switch events were "
                    "recorded; threads are spread instead\n");
    }
    rc = import_file("lackey", log, r->out, &io, &st, &err);
    if (rc) {
        cli_error(err.msg);
        return cli_exit_code(rc);
    }
    import_stats_print(&st, r->keep ? log : "valgrind log", stderr);
    return EXIT_OK;
}

int cmd_record(int argc, char **argv)
{
    struct rec r;
    char log[4400], outbuf[4200];
    const char *tmp = getenv("TMPDIR");
    int rc, st;

    memset(&r, 0, sizeof(r));
    if ((rc = rec_parse(argc, argv, &r)))
        return rc < 0 ? EXIT_OK : rc;
    char **prog = argv + optind;
    if (!rec_in_path("valgrind")) {
        cli_error("record: valgrind is not installed (Debian: apt-get install valgrind)");
        return EXIT_BADINPUT;
    }
    if (!rec_in_path(prog[0])) {
        fprintf(stderr, "tlbsim: record: %s: no such program\n", prog[0]);
        return EXIT_BADINPUT;
    }
    if (!r.out) {
        const char *b = strrchr(prog[0], '/');
        snprintf(outbuf, sizeof(outbuf), "%s.jsonl", b ? b + 1 : prog[0]);
        r.out = outbuf;
    }
    snprintf(r.dir, sizeof(r.dir), "%s/tlbsim-record.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(r.dir)) {
        fprintf(stderr, "tlbsim: record: cannot create %s: %s\n", r.dir, strerror(errno));
        return EXIT_INTERNAL;
    }
    rec_probe(&r);
    signal(SIGINT, SIG_IGN);                    /* the child stops; we clean up */
    st = rec_run(&r, prog);
    signal(SIGINT, SIG_DFL);
    if (st == 128 + SIGINT) {
        rec_cleanup(&r);
        return EXIT_INTERRUPTED;
    }
    if (st < 0 || rec_find_log(&r, log, sizeof(log))) {
        fprintf(stderr, "tlbsim: record: valgrind did not run %s (no log)\n", prog[0]);
        rec_cleanup(&r);
        return EXIT_BADINPUT;
    }
    if (st)
        fprintf(stderr, "tlbsim: record: %s exited with status %d\n", prog[0], st);
    rc = r.nev ? rec_perf_read(&r) : SIM_OK;
    if (rc)
        cli_error("record: out of memory");
    rec_report_kernel(&r);
    rc = rc ? EXIT_INTERNAL : rec_import(&r, log);
    if (r.keep)
        fprintf(stderr, "tlbsim: record: raw logs kept in %s\n", r.dir);
    rec_cleanup(&r);
    u64map_free(&r.times);
    return rc;
}
