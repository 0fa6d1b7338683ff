/* sim/cli/probe.c - `tlbsim probe`: measure what TLB flushes cost on the
 * Linux machine at hand, unprivileged, and write one measurement file.
 *
 * A case is one system call, timed on CPU 0 (the first CPU of the affinity
 * mask) call by call:
 *
 *   madvise   touch N pages, madvise(MADV_DONTNEED)    (zap: flush, tables kept)
 *   munmap    mmap N pages, touch, munmap              (unmap: flush, table freed)
 *   mprotect  touch N pages, mprotect(PROT_READ), then PROT_READ|PROT_WRITE again
 *
 * with 0..k sibling threads of the process pinned to the next CPUs, each
 * either spinning in user space (its CPU keeps the mm loaded: flushes must
 * reach it) or sleeping in futex_wait (its CPU goes idle in lazy TLB mode).
 * Per case: ns per call (median, p10, p90 over the repeats; each repeat is
 * the median of its `iterations` calls, so preempted calls do not count), the TLB and CAL rows of /proc/interrupts
 * over the case, and tlb:tlb_flush events by reason when tracefs can be
 * used (a private instance, removed at the end).  What the machine does not
 * allow (too few CPUs, affinity refused, no /proc/interrupts, no tracefs)
 * is skipped with the reason in the file, never a failure.
 *
 * The ranges start 2 MiB-aligned so that their page table holds nothing
 * else, as in the equivalent traces (sim/io/meas.c).
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "../io/meas.h"

#define PROBE_MAX_SIBS MEAS_MAX_THREADS         /* one sibling per other CPU */
#define TRACE_ITERATIONS 8              /* calls in each equivalent trace */
#define REGION_ALIGN (2u << 20)
#define TRACEFS_BUFFER_KB 8192          /* per CPU, in the private instance */

static const u32 pages_full[] = { 1, 2, 8, 16, 32, 33, 34, 64 };
static const u32 pages_quick[] = { 1, 33, 34 };

struct probe_opts {
    const char *out;
    bool quick;
    u32 repeats, iterations, max_threads, rounds;
};

static volatile sig_atomic_t probe_stop;

static void on_signal(int sig)
{
    (void)sig;
    probe_stop = 1;
}

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ==== the environment ==================================================== */

#if defined(__x86_64__) || defined(__i386__)
static void cpuid_sig(u32 leaf, u32 *eax, char sig[13])
{
    u32 a, b, c, d;

    __cpuid(leaf, a, b, c, d);
    memcpy(sig, &b, 4);
    memcpy(sig + 4, &c, 4);
    memcpy(sig + 8, &d, 4);
    sig[12] = 0;
    *eax = a;
}

static void env_cpuid(struct meas_env *e)
{
    u32 a, b, c, d, max;
    char sig[13];

    __cpuid(1, a, b, c, d);
    e->pcid = (c >> 17) & 1;
    if (!((c >> 31) & 1)) {
        snprintf(e->kind, sizeof(e->kind), "bare-metal");
    } else {
        snprintf(e->kind, sizeof(e->kind), "other-hypervisor");
        cpuid_sig(0x40000000, &max, sig);
        snprintf(e->hv_signature, sizeof(e->hv_signature), "%s", sig);
        if (!strcmp(sig, "Microsoft Hv")) {
            snprintf(e->kind, sizeof(e->kind), "hyper-v");
            if (max >= 0x40000004) {
                __cpuid(0x40000004, a, b, c, d);
                e->hv_remote_flush = (a >> 2) & 1;  /* HV_X64_REMOTE_TLB_FLUSH_RECOMMENDED */
            }
        }
        /* Linux looks for KVM's leaves at 0x40000000 + k * 0x100
         * (hypervisor_cpuid_base), after another hypervisor's. */
        for (u32 base = 0x40000000; base < 0x40010000; base += 0x100) {
            cpuid_sig(base, &max, sig);
            if (!memcmp(sig, "KVMKVMKVM\0\0\0", 12) && max >= base + 1) {
                snprintf(e->kind, sizeof(e->kind), "kvm");
                snprintf(e->hv_signature, sizeof(e->hv_signature), "KVMKVMKVM");
                __cpuid(base + 1, a, b, c, d);
                e->kvm_pv_tlb_flush = (a >> 9) & 1;  /* KVM_FEATURE_PV_TLB_FLUSH */
                e->kvm_pv_send_ipi = (a >> 11) & 1;  /* KVM_FEATURE_PV_SEND_IPI */
                break;
            }
        }
    }
    __cpuid(0, max, b, c, d);
    if (max >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        e->invpcid = (b >> 10) & 1;
    }
    __cpuid(0x80000000, max, b, c, d);
    if (max >= 0x80000008) {
        __cpuid(0x80000008, a, b, c, d);
        e->invlpgb = (b >> 3) & 1;              /* AMD: INVLPGB and TLBSYNC */
    }
}
#else
static void env_cpuid(struct meas_env *e)
{
    snprintf(e->kind, sizeof(e->kind), "unknown");
}
#endif

/* "Hypervisor detected: X" from the kernel log, when it may be read. */
static void env_klog(struct meas_env *e)
{
    int len = klogctl(10, NULL, 0);     /* SYSLOG_ACTION_SIZE_BUFFER */
    char *buf, *p;

    if (len <= 0 || len > (64 << 20) || !(buf = malloc((size_t)len + 1)))
        return;
    len = klogctl(3, buf, len);         /* SYSLOG_ACTION_READ_ALL */
    if (len > 0) {
        buf[len] = 0;
        if ((p = strstr(buf, "Hypervisor detected: "))) {
            p += strlen("Hypervisor detected: ");
            size_t n = strcspn(p, "\r\n");
            snprintf(e->hv_kernel, sizeof(e->hv_kernel), "%.*s", (int)n, p);
        }
    }
    free(buf);
}

static void env_cpuinfo(struct meas_env *e)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[1024];

    while (f && fgets(line, sizeof(line), f)) {
        char *v = strchr(line, ':');
        if (!v)
            continue;
        v += 1 + (v[1] == ' ');
        v[strcspn(v, "\n")] = 0;
        if (!e->cpu_model[0] && !strncmp(line, "model name", 10))
            snprintf(e->cpu_model, sizeof(e->cpu_model), "%s", v);
        else if (e->cpu_mhz == 0 && !strncmp(line, "cpu MHz", 7))
            e->cpu_mhz = strtod(v, NULL);
    }
    if (f)
        fclose(f);
}

/* The 1-minute load average (/proc/loadavg), or -1. */
static double loadavg(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double l = -1;

    if (f && fscanf(f, "%lf", &l) != 1)
        l = -1;
    if (f)
        fclose(f);
    return l;
}

static double timer_cost(void)
{
    double t0 = now_ns(), t1 = t0;

    for (int i = 0; i < 1000; i++)
        t1 = now_ns();
    return (t1 - t0) / 1000.0;
}

/* ==== /proc/interrupts =================================================== */

/* Sum of the TLB and CAL rows over all CPUs; false when either is missing. */
static bool read_irqs(u64 *tlb, u64 *cal)
{
    FILE *f = fopen("/proc/interrupts", "r");
    char *line = NULL;
    size_t cap = 0;
    int found = 0;

    *tlb = *cal = 0;
    while (f && getline(&line, &cap, f) > 0) {
        char *p = line + strspn(line, " ");
        u64 *dst = !strncmp(p, "TLB:", 4) ? tlb : !strncmp(p, "CAL:", 4) ? cal : NULL;
        if (!dst)
            continue;
        found |= dst == tlb ? 1 : 2;
        for (p += 4;;) {
            char *end;
            unsigned long long v = strtoull(p, &end, 10);
            if (end == p)
                break;
            *dst += v;
            p = end;
        }
    }
    free(line);
    if (f)
        fclose(f);
    return found == 3;
}

/* ==== tracefs: a private instance with tlb:tlb_flush ===================== */

struct tracer {
    char dir[256];                      /* the instance; "" when unusable */
};

static int write_file(const char *path, const char *text, int flags)
{
    int fd = open(path, O_WRONLY | flags), ok;

    if (fd < 0)
        return -errno;
    ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    int e = errno;
    close(fd);
    return ok ? 0 : -e;
}

static void tracer_open(struct tracer *t, struct meas_env *e)
{
    static const char *const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
    char path[512], kb[32];
    int rc = -ENOENT;

    t->dir[0] = 0;
    for (size_t i = 0; i < ARRAY_SIZE(roots); i++) {
        snprintf(path, sizeof(path), "%s/events/tlb/tlb_flush", roots[i]);
        if (access(path, F_OK)) {
            if (errno == EACCES)
                rc = -EACCES;           /* there, but not for this user */
            continue;
        }
        snprintf(t->dir, sizeof(t->dir), "%s/instances/tlbsim-probe-%ld", roots[i], (long)getpid());
        if (mkdir(t->dir, 0700)) {
            rc = -errno;
            t->dir[0] = 0;
            break;
        }
        snprintf(kb, sizeof(kb), "%u", TRACEFS_BUFFER_KB);
        snprintf(path, sizeof(path), "%s/buffer_size_kb", t->dir);
        write_file(path, kb, 0);
        snprintf(path, sizeof(path), "%s/events/tlb/tlb_flush/enable", t->dir);
        if ((rc = write_file(path, "1", 0))) {
            rmdir(t->dir);
            t->dir[0] = 0;
        }
        break;
    }
    e->tracefs = t->dir[0] != 0;
    if (!e->tracefs)
        snprintf(e->tracefs_reason, sizeof(e->tracefs_reason), "%s",
                 rc == -ENOENT ? "no tracefs with tlb:tlb_flush (not mounted, or no such event)" :
                 rc == -EACCES || rc == -EPERM ?
                 "tracefs is not accessible to this user "
                 "(its events and instances need root or the tracefs group)" :
                 "tracefs instance could not be set up");
}

static void tracer_close(struct tracer *t)
{
    char path[512];

    if (!t->dir[0])
        return;
    snprintf(path, sizeof(path), "%s/events/tlb/tlb_flush/enable", t->dir);
    write_file(path, "0", 0);
    rmdir(t->dir);
    t->dir[0] = 0;
}

static void tracer_clear(struct tracer *t)
{
    char path[512];

    if (t->dir[0]) {
        snprintf(path, sizeof(path), "%s/trace", t->dir);
        write_file(path, "", O_TRUNC);
    }
}

/* Lost events over all CPUs of the instance (per_cpu/cpuN/stats "overrun"). */
static u64 tracer_overrun(const struct tracer *t, u32 cpus)
{
    char path[512], line[256];
    u64 lost = 0;

    for (u32 cpu = 0; cpu < cpus; cpu++) {
        snprintf(path, sizeof(path), "%s/per_cpu/cpu%u/stats", t->dir, cpu);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof(line), f))
            if (!strncmp(line, "overrun:", 8))
                lost += strtoull(line + 8, NULL, 10);
        if (f)
            fclose(f);
    }
    return lost;
}

/* Count tlb_flush events of our threads (or of the idle task on our CPUs). */
static void tracer_count(struct tracer *t, const pid_t *tids, u32 nr_tids,
                         const int *cpus, u32 nr_cpus, u64 counts[MEAS_NR_REASONS])
{
    char path[512], *line = NULL;
    size_t cap = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/trace", t->dir);
    if (!(f = fopen(path, "r")))
        return;
    while (getline(&line, &cap, f) > 0) {
        char *br = strstr(line, " ["), *rs = strstr(line, "reason:"), *dash, *par;
        if (line[0] == '#' || !br || !rs || !strstr(line, "tlb_flush:"))
            continue;
        *br = 0;
        if (!(dash = strrchr(line, '-')) || !(par = strrchr(rs, '(')))
            continue;
        long tid = strtol(dash + 1, NULL, 10), cpu = strtol(br + 2, NULL, 10);
        long reason = strtol(par + 1, NULL, 10);
        bool ours = false, our_cpu = false;
        for (u32 i = 0; i < nr_tids; i++)
            ours |= tids[i] == tid;
        for (u32 i = 0; i < nr_cpus; i++)
            our_cpu |= cpus[i] == cpu;
        if ((ours || (tid == 0 && our_cpu)) && reason >= 0 && reason < MEAS_NR_REASONS)
            counts[reason]++;
    }
    free(line);
    fclose(f);
}

/* ==== sibling threads ==================================================== */

struct sib {
    pthread_t th;
    int cpu;                            /* pinned to */
    bool sleep;
    atomic_int ready;                   /* 1: pinned and running; -errno: failed */
    pid_t tid;
};

static atomic_int sib_stop;             /* spinners stop / futex word for sleepers */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("pause" ::: "memory");
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

static int pin_self(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set))
        return -errno;
    return sched_getcpu() == cpu ? 0 : -EAGAIN;
}

static void *sib_main(void *arg)
{
    struct sib *s = arg;
    int rc = pin_self(s->cpu);

    s->tid = (pid_t)syscall(SYS_gettid);
    atomic_store(&s->ready, rc ? rc : 1);
    if (rc)
        return NULL;
    while (!atomic_load_explicit(&sib_stop, memory_order_relaxed)) {
        if (s->sleep)
            syscall(SYS_futex, &sib_stop, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
        else
            cpu_relax();
    }
    return NULL;
}

static void sibs_stop(struct sib *s, u32 n)
{
    atomic_store(&sib_stop, 1);
    syscall(SYS_futex, &sib_stop, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
    for (u32 i = 0; i < n; i++)
        pthread_join(s[i].th, NULL);
}

/* Start n siblings on cpus[1..n]; 0, or a reason in `why`. */
static int sibs_start(struct sib *s, u32 n, const int *cpus, bool sleep, char *why, size_t len)
{
    u32 started = 0;
    int rc = 0;

    atomic_store(&sib_stop, 0);
    for (u32 i = 0; i < n && !rc; i++) {
        s[i] = (struct sib){ .cpu = cpus[i + 1], .sleep = sleep };
        atomic_init(&s[i].ready, 0);
        if ((rc = pthread_create(&s[i].th, NULL, sib_main, &s[i]))) {
            snprintf(why, len, "pthread_create: %s", strerror(rc));
            break;
        }
        started++;
        while (!(rc = atomic_load(&s[i].ready)))
            sched_yield();
        if (rc < 0) {
            snprintf(why, len, "sched_setaffinity to CPU %d refused or not honoured: %s",
                     s[i].cpu, strerror(-rc));
        } else {
            rc = 0;
        }
    }
    if (rc) {
        sibs_stop(s, started);
        return -1;
    }
    if (sleep)                          /* let them reach futex_wait and their CPUs go idle */
        usleep(2000);
    return 0;
}

/* ==== one case =========================================================== */

static void touch(char *p, u32 pages)
{
    for (u32 i = 0; i < pages; i++)
        ((volatile char *)p)[(size_t)i << PAGE_SHIFT_4K] = (char)i;
}

/* A 2 MiB-aligned address with 2 MiB free around it. */
static char *aligned_hole(void)
{
    char *p = mmap(NULL, 3 * REGION_ALIGN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uintptr_t a;

    if (p == MAP_FAILED)
        return NULL;
    a = ((uintptr_t)p + REGION_ALIGN - 1) & ~(uintptr_t)(REGION_ALIGN - 1);
    munmap(p, 3 * REGION_ALIGN);
    return (char *)a;
}

static char *map_at(char *at, size_t len)
{
    char *p = mmap(at, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* One timed call; returns its ns, or a negative value with errno set. */
static double timed_call(enum meas_op op, char *at, u32 pages)
{
    size_t len = (size_t)pages << PAGE_SHIFT_4K;
    double t0, t1;
    int rc;

    if (op == MEAS_MUNMAP && !map_at(at, len))
        return -1;
    touch(at, pages);
    t0 = now_ns();
    switch (op) {
    case MEAS_MADVISE:  rc = madvise(at, len, MADV_DONTNEED); break;
    case MEAS_MUNMAP:   rc = munmap(at, len); break;
    default:            rc = mprotect(at, len, PROT_READ); break;
    }
    t1 = now_ns();
    if (!rc && op == MEAS_MPROTECT)
        rc = mprotect(at, len, PROT_READ | PROT_WRITE);
    return rc ? -1 : t1 - t0;
}

struct ctx {
    const struct probe_opts *o;
    struct meas_env *env;
    struct tracer tr;
    int cpus[PROBE_MAX_SIBS + 1];       /* allowed CPUs, ours first */
    u32 nr_cpus;
    struct sib sibs[PROBE_MAX_SIBS];
};

/* A case being measured, over the rounds: the counters are summed and the
 * per-case figures computed when the last round is done. */
struct pcase {
    struct meas_case c;
    u32 done;                           /* repeats measured so far (c.rep_ns[0..done)) */
    bool irqs;                          /* every round could read /proc/interrupts */
    u64 tlb, cal;                       /* their deltas, summed */
    bool events, complete;              /* tlb:tlb_flush counted in every round, no loss */
    u64 ev[MEAS_NR_REASONS];
};

/* Repeats `n` more calls' medians into pc->c.rep_ns; -1 with the reason on failure. */
static int time_repeats(const struct probe_opts *o, struct pcase *pc, char *at, u32 n)
{
    struct meas_case *c = &pc->c;
    double *calls = malloc(sizeof(double) * o->iterations);

    if (!calls) {
        snprintf(c->reason, sizeof(c->reason), "out of memory for %u call times", o->iterations);
        return -1;
    }
    for (u32 r = 0; r < n; r++) {
        for (u32 i = 0; i < o->iterations; i++) {
            if ((calls[i] = timed_call(c->op, at, c->pages)) < 0) {
                snprintf(c->reason, sizeof(c->reason), "%s failed: %s", meas_op_names[c->op],
                         strerror(errno));
                free(calls);
                return -1;
            }
        }
        /* The median call of the repeat: a call the scheduler preempted
         * (other tasks on a shared machine) does not move it. */
        meas_sort(calls, o->iterations);
        c->rep_ns[pc->done++] = meas_quantile(calls, o->iterations, 0.5);
    }
    free(calls);
    return 0;
}

/* Add one round's interrupt and tlb:tlb_flush counts to the case's sums. */
static void count_round(struct ctx *x, struct pcase *pc, bool irqs, u64 tlb0, u64 cal0)
{
    u64 tlb1, cal1;

    if (irqs && read_irqs(&tlb1, &cal1)) {
        pc->tlb += tlb1 - tlb0;
        pc->cal += cal1 - cal0;
    } else {
        pc->irqs = false;
    }
    if (!x->tr.dir[0]) {
        pc->events = false;
        return;
    }
    pid_t tids[PROBE_MAX_SIBS + 1];
    tids[0] = (pid_t)syscall(SYS_gettid);
    for (u32 i = 0; i < pc->c.threads; i++)
        tids[i + 1] = x->sibs[i].tid;
    tracer_count(&x->tr, tids, pc->c.threads + 1, x->cpus, pc->c.threads + 1, pc->ev);
    pc->complete &= tracer_overrun(&x->tr, x->env->cpus_online) == 0;
}

/* The case's figures from its repeats and sums, once every round is done. */
static void finish_case(struct ctx *x, struct pcase *pc)
{
    struct meas_case *c = &pc->c;
    double nr_calls = (double)pc->done * x->o->iterations;
    double *sorted = malloc(sizeof(double) * (pc->done ? pc->done : 1));

    if (!sorted) {
        c->skipped = true;
        snprintf(c->reason, sizeof(c->reason), "out of memory for %u repeat times", pc->done);
        return;
    }
    memcpy(sorted, c->rep_ns, sizeof(double) * pc->done);
    meas_sort(sorted, pc->done);
    c->repeats = c->nr_rep = pc->done;
    c->iterations = x->o->iterations;
    c->ns_median = meas_quantile(sorted, pc->done, 0.5);
    c->ns_p10 = meas_quantile(sorted, pc->done, 0.1);
    c->ns_p90 = meas_quantile(sorted, pc->done, 0.9);
    free(sorted);
    if ((c->have_irqs = pc->irqs)) {
        c->tlb_per_call = (double)pc->tlb / nr_calls;
        c->cal_per_call = (double)pc->cal / nr_calls;
    }
    if (!(c->have_events = pc->events)) {
        snprintf(c->events_reason, sizeof(c->events_reason), "%s", x->env->tracefs_reason);
        return;
    }
    c->events_complete = pc->complete;
    for (int r = 0; r < MEAS_NR_REASONS; r++)
        c->events_per_call[r] = (double)pc->ev[r] / nr_calls;
}

/* n repeats of the case on a fresh 2 MiB-aligned range; -1 with the reason. */
static int measure(struct ctx *x, struct pcase *pc, u32 n)
{
    struct meas_case *c = &pc->c;
    size_t len = (size_t)c->pages << PAGE_SHIFT_4K;
    char *at = aligned_hole();
    u64 tlb0 = 0, cal0 = 0;
    bool irqs = x->env->interrupts && read_irqs(&tlb0, &cal0);
    int rc;

    if (!at || (c->op != MEAS_MUNMAP && !map_at(at, len))) {
        snprintf(c->reason, sizeof(c->reason), "no 2 MiB-aligned free range: %s", strerror(errno));
        return -1;
    }
    tracer_clear(&x->tr);
    rc = time_repeats(x->o, pc, at, n);
    if (!rc)                            /* before the munmap below: not one of the calls */
        count_round(x, pc, irqs, tlb0, cal0);
    if (c->op != MEAS_MUNMAP || rc)
        munmap(at, len);
    return rc;
}

/* The case's reason to be skipped before anything runs, or false. */
static bool cannot_run(const struct ctx *x, struct meas_case *c)
{
    if (c->threads + 1 > x->nr_cpus)
        snprintf(c->reason, sizeof(c->reason), "needs %u CPUs in the affinity mask, there are %u",
                 c->threads + 1, x->nr_cpus);
    else if (c->threads + 1 > x->o->max_threads)
        snprintf(c->reason, sizeof(c->reason), "needs %u threads, --max-threads is %u",
                 c->threads + 1, x->o->max_threads);
    else
        return false;
    return true;
}

/* One round of one case: its share of the repeats, siblings started for it. */
static void run_round(struct ctx *x, struct pcase *pc, u32 n)
{
    struct meas_case *c = &pc->c;

    if (c->skipped || n == 0)
        return;
    if (sibs_start(x->sibs, c->threads, x->cpus, c->sib == MEAS_SIB_SLEEP,
                   c->reason, sizeof(c->reason))) {
        c->skipped = true;
        return;
    }
    c->skipped = measure(x, pc, n) != 0;
    sibs_stop(x->sibs, c->threads);
}

static void report_case(const struct meas_case *c)
{
    fprintf(stderr, "probe: %-22s %s", c->name, c->skipped ? "skipped: " : "");
    if (c->skipped)
        fprintf(stderr, "%s\n", c->reason);
    else
        fprintf(stderr, "%10.0f ns  (p10 %.0f, p90 %.0f)  TLB %.2f CAL %.2f /call\n",
                c->ns_median, c->ns_p10, c->ns_p90, c->tlb_per_call, c->cal_per_call);
}

/* Sibling counts: 1, 2, 4, ... and the largest, up to max. */
static u32 next_threads(u32 k, u32 max)
{
    return k == 0 ? 1 : k * 2 < max ? k * 2 : k < max ? max : max + 1;
}

/* The case list, in the order a round runs it: op, then sibling mode and
 * count, then pages, into v (when not NULL); returns its length. */
static u32 list_cases(const struct ctx *x, struct pcase *v)
{
    const u32 *pages = x->o->quick ? pages_quick : pages_full;
    u32 nr_pages = x->o->quick ? ARRAY_SIZE(pages_quick) : ARRAY_SIZE(pages_full);
    u32 max_sibs = x->o->max_threads - 1, n = 0;

    if (max_sibs < 1)
        max_sibs = 1;                   /* so that the skip shows on one CPU */
    if (max_sibs > PROBE_MAX_SIBS)
        max_sibs = PROBE_MAX_SIBS;
    for (int op = 0; op < MEAS_NR_OPS; op++)
        for (int sib = 0; sib < MEAS_NR_SIBS; sib++)
            for (u32 k = sib ? 1 : 0; k <= (sib ? max_sibs : 0); k = sib ? next_threads(k, max_sibs) : 1)
                for (u32 p = 0; p < nr_pages; p++, n++)
                    if (v)
                        v[n].c = (struct meas_case){ .op = (enum meas_op)op, .pages = pages[p],
                                                     .sib = (enum meas_sib)sib, .threads = k };
    return n;
}

/* Run a thread of the process on each other CPU once, before any case:
 * since Linux 6.13 a CPU stays in the mm's cpumask after the mm left it
 * (until a trim), so every `none` case, in every round, starts from the
 * same history -- the call goes through flush_tlb_multi() and sends no IPI
 * -- instead of the first cases seeing a one-CPU mask and the later ones
 * not. */
static void warm_up(struct ctx *x)
{
    u32 n = x->nr_cpus > x->o->max_threads ? x->o->max_threads : x->nr_cpus;
    char why[MEAS_TEXT_MAX];

    if (n > 1 && !sibs_start(x->sibs, n - 1, x->cpus, false, why, sizeof(why)))
        sibs_stop(x->sibs, n - 1);
}

/* Every case, --rounds times over the list: each round runs the next
 * repeats / rounds repeats of every case (the first repeats % rounds
 * rounds one more), so that slow drift of the machine reaches every case
 * alike. */
static int run_all(struct ctx *x, struct meas *m, struct sim_err *err)
{
    u32 n = list_cases(x, NULL), rounds = x->o->rounds;
    struct pcase *v = calloc(n, sizeof(*v));
    int rc = SIM_OK;

    if (!v)
        return sim_err_set(err, SIM_ENOMEM, "probe: out of memory for the case list");
    list_cases(x, v);
    warm_up(x);
    for (u32 i = 0; i < n; i++) {
        struct pcase *pc = &v[i];
        meas_case_name(&pc->c);
        pc->irqs = pc->events = pc->complete = true;
        pc->c.skipped = cannot_run(x, &pc->c);
        if (!pc->c.skipped && !(pc->c.rep_ns = calloc(x->o->repeats, sizeof(double)))) {
            rc = sim_err_set(err, SIM_ENOMEM, "probe: out of memory");
            break;
        }
    }
    for (u32 r = 0; r < rounds && !rc; r++) {
        if (rounds > 1)
            fprintf(stderr, "probe: round %u of %u\n", r + 1, rounds);
        for (u32 i = 0; i < n && !rc; i++) {
            struct meas_case *c = &v[i].c;
            if (probe_stop) {
                rc = sim_err_set(err, SIM_EINTR, "probe: interrupted");
                break;
            }
            run_round(x, &v[i], x->o->repeats / rounds + (r < x->o->repeats % rounds));
            if (r + 1 < rounds)
                continue;
            if (!c->skipped)
                finish_case(x, &v[i]);
            report_case(c);
        }
    }
    for (u32 i = 0; i < n; i++) {
        struct meas_case *c = &v[i].c;
        if (c->skipped) {               /* what a round measured before the skip is dropped */
            free(c->rep_ns);
            c->rep_ns = NULL;
        }
        if (!rc && !(rc = meas_case_trace(c, TRACE_ITERATIONS, err)) &&
            !(rc = meas_case_add(m, c, err)))
            continue;
        meas_case_free(c);
    }
    free(v);
    return rc;
}

/* ==== the command ======================================================== */

static void env_detect(struct ctx *x, struct meas_env *e)
{
    struct utsname u;
    cpu_set_t set;
    u64 a, b;

    env_cpuid(e);
    env_klog(e);
    env_cpuinfo(e);
    if (!uname(&u))
        snprintf(e->kernel, sizeof(e->kernel), "%s", u.release);
    e->cpus_online = (u32)sysconf(_SC_NPROCESSORS_ONLN);
    x->nr_cpus = 0;
    if (!sched_getaffinity(0, sizeof(set), &set))
        for (int i = 0; i < CPU_SETSIZE && x->nr_cpus <= PROBE_MAX_SIBS; i++)
            if (CPU_ISSET(i, &set))
                x->cpus[x->nr_cpus++] = i;
    e->cpus_allowed = x->nr_cpus;
    e->interrupts = read_irqs(&a, &b);
    e->timer_ns = timer_cost();
    e->load_start = loadavg();
}

/* The policy that fits what was found.  Spinning siblings hold the mm
 * loaded, so Linux must flush their CPUs: with no TLB interrupt at all the
 * hypervisor did it (a flush hypercall, as Hyper-V's; PVM does the same),
 * which the pv-hyperv policy models.  KVM's PV flush still IPIs running
 * vCPUs, so it shows TLB interrupts and gets pv-kvm. */
static void env_policy(struct meas_env *e, const struct meas *m)
{
    u32 spin = 0, quiet = 0;

    for (u32 i = 0; i < m->nr_cases; i++) {
        const struct meas_case *c = &m->cases[i];
        if (c->skipped || c->sib != MEAS_SIB_SPIN || !c->have_irqs)
            continue;
        spin++;
        quiet += c->tlb_per_call < 0.01;
    }
    e->flush_without_ipis = spin && quiet == spin;
    snprintf(e->policy, sizeof(e->policy), "%s",
             e->kvm_pv_tlb_flush ? "pv-kvm" : e->hv_remote_flush || e->flush_without_ipis ?
             "pv-hyperv" : "linux");
}

static int probe_usage(FILE *f, int status)
{
    fputs("usage: tlbsim probe [-o MEAS.json] [--quick] [--repeats N] [--iterations N]\n"
          "                    [--max-threads N] [--rounds N]\n"
          "Measure madvise(MADV_DONTNEED), munmap and mprotect of 1..64 pages on this\n"
          "Linux machine, with 0..N-1 sibling threads pinned to other CPUs, spinning\n"
          "(mm loaded) or sleeping (lazy TLB).  Records ns per call (median, p10 and\n"
          "p90 over the repeats of each repeat's median call), the TLB and CAL rows of\n"
          "/proc/interrupts, tlb:tlb_flush events when tracefs can be used, the\n"
          "environment (hypervisor, PCID, INVLPGB, CPU, kernel) and, per case, the\n"
          "equivalent tlbsim trace.  Cases the machine does not allow are skipped with\n"
          "a reason.  Runs unprivileged.\n"
          "  -o FILE          output (default meas.json), written whole or not at all\n"
          "  --quick          a few seconds: pages 1, 33, 34; 3 repeats of 20 calls\n"
          "  --repeats N      repeats per case (default 7; at most 1024)\n"
          "  --iterations N   calls per repeat (default 200)\n"
          "  --max-threads N  sibling counts 1, 2, 4, ... up to N-1 (default: the CPUs\n"
          "                   of the affinity mask; counts that need more CPUs than\n"
          "                   there are show as skipped)\n"
          "  --rounds N       run the whole case list N times, each case's repeats\n"
          "                   spread over the rounds, so that slow drift of the machine\n"
          "                   reaches every case alike (default 1: one case at a time;\n"
          "                   at most --repeats)\n"
          "Then: tlbsim calibrate MEAS.json --machine BASE -o MINE.json and\n"
          "tlbsim validate MEAS.json --machine MINE.json (docs/validation.md).\n", f);
    return status;
}

static int parse_u32(const char *s, u32 lo, u32 hi, u32 *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "tlbsim: probe: '%s' is not a number in %u..%u\n", s, lo, hi);
        return -1;
    }
    *out = (u32)v;
    return 0;
}

static int probe_opts(int argc, char **argv, struct probe_opts *o)
{
    static const struct option lopts[] = {
        { "quick", no_argument, 0, 'q' }, { "repeats", required_argument, 0, 'r' },
        { "iterations", required_argument, 0, 'i' },
        { "max-threads", required_argument, 0, 't' }, { "rounds", required_argument, 0, 'R' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    u32 rep = 0, it = 0, rounds = 1;
    int c;

    *o = (struct probe_opts){ .out = "meas.json" };
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'o': o->out = optarg; break;
        case 'q': o->quick = true; break;
        case 'r': if (parse_u32(optarg, 1, 1024, &rep)) return EXIT_BADINPUT; break;
        case 'i': if (parse_u32(optarg, 1, 1000000, &it)) return EXIT_BADINPUT; break;
        case 't': if (parse_u32(optarg, 1, PROBE_MAX_SIBS + 1, &o->max_threads))
                      return EXIT_BADINPUT;
                  break;
        case 'R': if (parse_u32(optarg, 1, 1024, &rounds)) return EXIT_BADINPUT; break;
        case 'h': return probe_usage(stdout, -1);
        default:  return probe_usage(stderr, EXIT_BADINPUT);
        }
    }
    if (optind != argc)
        return probe_usage(stderr, EXIT_BADINPUT);
    o->repeats = rep ? rep : o->quick ? 3 : 7;
    o->iterations = it ? it : o->quick ? 20 : 200;
    if (rounds > o->repeats) {
        fprintf(stderr, "tlbsim: probe: --rounds %u: more rounds than repeats (%u); each round "
                "runs every case at least once\n", rounds, o->repeats);
        return EXIT_BADINPUT;
    }
    o->rounds = rounds;
    return EXIT_OK;
}

int cmd_probe(int argc, char **argv)
{
    static struct ctx x;                /* large: sibling table */
    struct probe_opts o;
    struct meas m = { 0 };
    struct sim_err err = { 0 };
    struct sigaction sa = { .sa_handler = on_signal };
    cpu_set_t saved;
    time_t now = time(NULL);
    int rc = probe_opts(argc, argv, &o);

    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    x.o = &o;
    x.env = &m.env;
    m.quick = o.quick;
    m.rounds = o.rounds;
    strftime(m.date, sizeof(m.date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    env_detect(&x, &m.env);
    if (!o.max_threads)                 /* more than the CPUs: those cases show as skipped */
        o.max_threads = x.nr_cpus ? x.nr_cpus : 1;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sched_getaffinity(0, sizeof(saved), &saved);
    tracer_open(&x.tr, &m.env);
    fprintf(stderr, "probe: %s%s%s, %s, kernel %s, %u CPUs (%u allowed), PCID %s, INVLPGB %s, "
            "/proc/interrupts %s, tlb:tlb_flush %s\n", m.env.kind,
            m.env.hv_signature[0] ? " " : "", m.env.hv_signature, m.env.cpu_model,
            m.env.kernel, m.env.cpus_online, m.env.cpus_allowed, m.env.pcid ? "yes" : "no",
            m.env.invlpgb ? "yes" : "no", m.env.interrupts ? "yes" : "no",
            m.env.tracefs ? "yes" : m.env.tracefs_reason);
    if (m.env.load_start > 0.5 * x.nr_cpus)
        fprintf(stderr, "probe: load average %.1f on %u CPUs: other work will inflate and scatter "
                "these numbers; measure on a quiet machine (docs/validation.md)\n",
                m.env.load_start, x.nr_cpus);
    if (x.nr_cpus == 0 || pin_self(x.cpus[0]))
        rc = sim_err_set(&err, SIM_EINTERNAL, "probe: cannot run on CPU %d of the affinity mask",
                         x.nr_cpus ? x.cpus[0] : -1);
    else
        rc = run_all(&x, &m, &err);
    tracer_close(&x.tr);
    m.env.load_end = loadavg();
    sched_setaffinity(0, sizeof(saved), &saved);
    env_policy(&m.env, &m);
    if (!rc)
        rc = meas_write(o.out, &m, &err);
    meas_free(&m);
    if (rc) {
        cli_error(err.msg);
        return cli_exit_code(rc);
    }
    fprintf(stderr, "probe: wrote %s (policy %s%s)\n", o.out, m.env.policy,
            m.env.flush_without_ipis ? ": remote flushes without TLB interrupts, done by the hypervisor" : "");
    return EXIT_OK;
}
