/* sim/io/import_lackey_mt.c - lackey with --trace-syscalls=yes (and
 * --trace-sched=yes): threads on CPUs, syscalls as ops, time from the
 * instruction count.
 *
 * Valgrind runs one guest thread at a time (its big lock).  The log says
 * which one: "SCHED[TID]: acquired lock" lines (--trace-sched=yes) and the
 * TID of every SYSCALL line; the references that follow belong to that
 * thread.  The importer turns this serialised run back into a multi-CPU
 * trace:
 *
 *   thread      valgrind thread TID runs on CPU (TID - 1) mod cpus, or on the
 *               CPU import_opts.thread_cpu gives it (tlbsim record, from the
 *               kernel's sched_switch events); all threads share mm 1
 *   time        t = guest instructions executed so far, all threads, in
 *               valgrind's order, x LK_CYCLES_PER_INSN: the serialised
 *               interleaving is kept, threads never overlap in time
 *   blocking    a thread in a sleeping syscall (futex wait, nanosleep, poll,
 *               wait4, ...) leaves its CPU idle (lazy TLB) unless another
 *               runnable thread shares the CPU; it switches back at its next op
 *   munmap      -> unmap    mprotect -> protect    madvise DONTNEED... -> zap
 *   mremap      -> unmap of the part that moved away or was cut off
 *   brk         shrinking -> unmap of the released pages
 *   mmap        MAP_FIXED over pages still mapped -> unmap first
 *   fork        (clone without CLONE_VM) -> flush all of the parent's mm: the
 *               copy write-protects its private pages (dup_mmap ends with
 *               flush_tlb_mm(oldmm)); the child process is not followed
 *   execve      -> the old mm exits (its CPUs go idle first), a new mm follows
 *   exit        -> the thread's CPU goes idle;  exit_group -> every CPU of the
 *               mm goes idle, then mm_exit
 *
 * Mappings: a page is mapped (4K, populate:false, rx/rwx/rw by what the whole
 * log did to it) right before the first reference that needs it, so it
 * faults in on first touch as in the real run; an munmap/mremap/brk that
 * removes it clears that, and the next touch maps it again.  The pages of
 * a real mapping that were never touched are never mapped.
 */
#include "import_lackey.h"

#include <stdlib.h>
#include <string.h>

#define LK_CYCLES_PER_INSN 1            /* XXX: estimate (IPC 1); lackey has no timing */
#define LK_CLONE_VM       0x100ull
#define LK_CLONE_VFORK    0x4000ull
#define LK_CLONE_THREAD   0x10000ull
#define LK_MAP_FIXED      0x10ull
#define LK_FUTEX_CMD_MASK 0x7full       /* without FUTEX_PRIVATE_FLAG / CLOCK_REALTIME */

enum lk_th_state { TH_NEW = 0, TH_RUN, TH_BLOCKED, TH_DEAD };

struct lk_thread {
    u8 state;                           /* enum lk_th_state */
    bool has_pend;                      /* pend holds a syscall awaiting its result */
    bool reserved;                      /* created by a clone, not run yet */
    u32 cpu;                            /* where it runs */
    u64 ktid;                           /* kernel thread id (clone's result), 0 unknown */
    struct lk_sys pend;                 /* that syscall */
};

struct lk_cpu {
    s64 cur;                            /* the mm it runs, or MM_NULL (idle, never run) */
    u64 last_t;                         /* last t written for it */
};

struct lkm {
    struct imp *im;
    struct u64map *ps;                 /* touched pages, their flags, LK_MAPPED */
    u32 cpus;                           /* header cpus */
    u32 nth;                            /* th[] entries (max tid + 1) */
    struct lk_thread *th;
    struct lk_cpu *cpu;                 /* [cpus] */
    u64 pid;                            /* the traced process (first SYSCALL/SCHED pid) */
    u64 active_pid;                     /* whose lines these are right now */
    u32 cur;                            /* running thread id, 0 before the first */
    s64 mm;                             /* the process's mm id, -1 after exit_group */
    u64 insns;                          /* guest instructions so far */
    u64 brk;                            /* program break, 0 unknown */
    u32 nthreads;                       /* threads seen */
    u32 placed;                         /* of which placed by import_opts.tid_cpu */
    struct lk_batch b;                  /* pending references of thread cur */
};

/* ===== Ops =============================================================== */

static u64 lkm_t(struct lkm *m, u32 cpu)
{
    u64 t = m->insns * LK_CYCLES_PER_INSN;

    if (t < m->cpu[cpu].last_t)
        t = m->cpu[cpu].last_t;
    m->cpu[cpu].last_t = t;
    return t;
}

static struct trace_op lkm_op(struct lkm *m, enum trace_op_type type, u32 cpu)
{
    struct trace_op op;

    memset(&op, 0, sizeof(op));
    op.type = type;
    op.flags = OPF_CPU | OPF_T;
    op.cpu = cpu;
    op.mm = m->mm;
    op.t = lkm_t(m, cpu);
    return op;
}

static int lkm_put(struct lkm *m, const struct trace_op *op)
{
    int rc = imp_emit(m->im, op);
    return rc < 0 ? rc : SIM_OK;
}

/* The CPU runs the process's mm (after idle, or for the first time). */
static int lkm_run_cpu(struct lkm *m, u32 cpu)
{
    struct trace_op op;

    if (m->cpu[cpu].cur == m->mm)
        return SIM_OK;
    op = lkm_op(m, OP_SWITCH, cpu);
    m->cpu[cpu].cur = m->mm;
    return lkm_put(m, &op);
}

static int lkm_idle(struct lkm *m, u32 cpu)
{
    struct trace_op op;

    if (m->cpu[cpu].cur == MM_NULL)
        return SIM_OK;
    op = lkm_op(m, OP_IDLE, cpu);
    m->cpu[cpu].cur = MM_NULL;
    return lkm_put(m, &op);
}

/* An op of the running thread, after its pending references. */
static int lkm_begin(struct lkm *m, u32 *cpu)
{
    int rc;

    if ((rc = lk_flush(m->im, &m->b)))
        return rc;
    *cpu = m->th[m->cur].cpu;
    return lkm_run_cpu(m, *cpu);
}

/* ===== Threads =========================================================== */

/* Recorded placement by kernel thread id, else thread N on CPU (N-1) mod cpus. */
static u32 lkm_place(struct lkm *m, u32 tid)
{
    const struct import_opts *o = m->im->o;
    u64 ktid = tid == 1 && !m->th[tid].ktid ? m->pid : m->th[tid].ktid;

    for (u32 i = 0; ktid && i < o->nr_tid_cpu; i++)
        if (o->tid_cpu[i].tid == ktid) {
            m->placed++;
            return o->tid_cpu[i].cpu % m->cpus;
        }
    return (tid - 1) % m->cpus;
}

/* A thread clone returned ktid: valgrind gave the child the lowest free
 * thread slot (VG_(alloc_ThreadState)). */
static void lkm_clone_thread(struct lkm *m, u64 ktid)
{
    for (u32 i = 1; i < m->nth; i++) {
        struct lk_thread *t = &m->th[i];
        if (!t->reserved && (t->state == TH_NEW || t->state == TH_DEAD) && i != m->cur) {
            t->reserved = true;
            t->ktid = ktid;
            return;
        }
    }
}

/* Thread tid runs from here on. */
static int lkm_switch_thread(struct lkm *m, u32 tid)
{
    struct lk_thread *t;
    int rc;

    if ((tid == m->cur && m->th[tid].state != TH_DEAD) || !tid || tid >= m->nth)
        return SIM_OK;
    if ((rc = lk_flush(m->im, &m->b)))
        return rc;
    m->cur = tid;
    t = &m->th[tid];
    if (t->state == TH_NEW || t->state == TH_DEAD) {    /* ids are reused */
        if (!t->reserved)
            t->ktid = 0;
        t->reserved = false;
        t->state = TH_RUN;
        t->cpu = lkm_place(m, tid);
        t->has_pend = false;
        m->nthreads++;
    }
    m->b.cpu = t->cpu;
    return SIM_OK;
}

/* Thread tid stops running (sleeps or exits): its CPU idles unless another
 * runnable thread is placed there. */
static int lkm_stop_thread(struct lkm *m, u32 tid, u8 state)
{
    u32 cpu = m->th[tid].cpu;
    int rc;

    if ((rc = lk_flush(m->im, &m->b)))
        return rc;
    m->th[tid].state = state;
    for (u32 i = 1; i < m->nth; i++)
        if (m->th[i].state == TH_RUN && m->th[i].cpu == cpu)
            return SIM_OK;
    return lkm_idle(m, cpu);
}

/* ===== References ======================================================== */

static int lkm_map_page(struct lkm *m, u64 pg)
{
    u64 *fl = u64map_get(m->ps, pg);
    struct trace_op op;
    u32 cpu;
    int rc;

    if (!fl || (*fl & LK_MAPPED))
        return SIM_OK;
    if ((rc = lkm_begin(m, &cpu)))
        return rc;
    /* A barrier: an earlier unmap of the page, or another thread's use of
     * it, may be on a CPU that runs late; they must all come first. */
    memset(&op, 0, sizeof(op));
    op.type = OP_MAP;
    op.mm = m->mm;
    op.va = pg << 12;
    op.len = 4096;
    op.page_shift = PAGE_SHIFT_4K;
    op.prot = lk_prot((u8)*fl);
    *fl |= LK_MAPPED;
    return lkm_put(m, &op);
}

static int lkm_add(struct lkm *m, char kind, u64 va)
{
    struct lk_batch *b = &m->b;
    int rc;

    if ((rc = lkm_map_page(m, va >> 12)))
        return rc;
    if (b->n && (b->kind != kind || b->n == LK_BATCH) && (rc = lk_flush(m->im, b)))
        return rc;
    if (!b->n) {
        if ((rc = lkm_run_cpu(m, b->cpu)))
            return rc;
        b->has_t = true;
        b->t = lkm_t(m, b->cpu);
    }
    return lk_add(m->im, b, kind, va);
}

static int lkm_ref(struct lkm *m, const struct lk_ref *r)
{
    u64 last = r->va + r->size - 1;
    int rc;

    if (m->active_pid != m->pid || m->mm < 0)
        return SIM_OK;                          /* another process, or after exit */
    if (!m->cur && (rc = lkm_switch_thread(m, 1)))
        return rc;                              /* no thread named yet: the first */
    if (m->th[m->cur].state == TH_BLOCKED)
        m->th[m->cur].state = TH_RUN;
    if ((rc = lkm_add(m, r->kind, r->va)) ||
        ((last >> 12) != (r->va >> 12) && (rc = lkm_add(m, r->kind, last & ~4095ull))))
        return rc;
    m->insns += r->kind == 'x';                 /* instruction N starts at cycle N - 1 */
    return SIM_OK;
}

/* ===== Syscalls ========================================================== */

/* Whether a touched page of [va, va + len) is mapped; clear: not any more. */
static bool lkm_mapped(struct lkm *m, u64 va, u64 len, bool clear)
{
    u64 first = va >> 12, n = len >> 12;
    bool any = false;

    if (n <= m->ps->n) {
        for (u64 i = 0; i < n; i++) {
            u64 *fl = u64map_get(m->ps, first + i);
            if (fl && (*fl & LK_MAPPED)) {
                *fl &= clear ? ~(u64)LK_MAPPED : ~0ull;
                any = true;
            }
        }
        return any;
    }
    for (size_t i = 0; i < m->ps->cap; i++) {
        u64 pg = m->ps->k[i] - 1;
        if (m->ps->k[i] && pg >= first && pg - first < n && (m->ps->v[i] & LK_MAPPED)) {
            m->ps->v[i] &= clear ? ~(u64)LK_MAPPED : ~0ull;
            any = true;
        }
    }
    return any;
}

/* unmap/protect/zap of [va, va + len) on the running thread's CPU. */
static int lkm_range(struct lkm *m, enum trace_op_type type, u64 va, u64 len, u8 prot)
{
    struct trace_op op;
    u32 cpu;
    int rc;

    len = (len + 4095) & ~4095ull;
    if (!len || (va & 4095) || va >= LK_USER_TOP || len > LK_USER_TOP - va)
        return SIM_OK;                          /* the kernel refused it too */
    if ((rc = lkm_begin(m, &cpu)))
        return rc;
    if (type == OP_UNMAP)
        lkm_mapped(m, va, len, true);
    op = lkm_op(m, type, cpu);
    op.va = va;
    op.len = len;
    op.prot = prot;
    return lkm_put(m, &op);
}

static int lkm_fork_flush(struct lkm *m)
{
    struct trace_op op;
    u32 cpu;
    int rc;

    if ((rc = lkm_begin(m, &cpu)))
        return rc;
    op = lkm_op(m, OP_FLUSH, cpu);
    op.flags |= OPF_ALL;
    return lkm_put(m, &op);
}

/* exit_group / execve: every CPU leaves the mm, then it exits. */
static int lkm_mm_end(struct lkm *m, bool exec)
{
    struct trace_op op;
    u32 cpu;
    int rc;

    if ((rc = lkm_begin(m, &cpu)))
        return rc;
    for (u32 c = 0; c < m->cpus; c++)
        if ((rc = lkm_idle(m, c)))
            return rc;
    for (u32 i = 1; i < m->nth; i++)
        if (i != m->cur || !exec)
            m->th[i].state = m->th[i].state == TH_NEW ? TH_NEW : TH_DEAD;
    op = lkm_op(m, OP_MM_EXIT, cpu);
    if ((rc = lkm_put(m, &op)))
        return rc;
    lkm_mapped(m, 0, LK_USER_TOP, true);
    if (!exec) {
        m->mm = -1;
        return SIM_OK;
    }
    memset(&op, 0, sizeof(op));
    op.type = OP_MM_NEW;
    op.mm = ++m->mm;
    m->brk = 0;
    return imp_emit_must(m->im, &op);
}

static bool lkm_sleeps(const struct lk_sys *y)
{
    static const char *const names[] = {
        "nanosleep", "clock_nanosleep", "poll", "ppoll", "select", "pselect6", "epoll_wait",
        "epoll_pwait", "epoll_pwait2", "wait4", "waitid", "pause", "rt_sigsuspend",
        "rt_sigtimedwait",
    };

    if (!strcmp(y->name, "futex")) {
        u64 cmd = y->nargs > 1 ? y->args[1] & LK_FUTEX_CMD_MASK : 1;
        /* WAIT, LOCK_PI, WAIT_BITSET, WAIT_REQUEUE_PI, LOCK_PI2 */
        return cmd == 0 || cmd == 6 || cmd == 9 || cmd == 11 || cmd == 13;
    }
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (!strcmp(y->name, names[i]))
            return true;
    return false;
}

/* A syscall of the running thread returned y->ret (y->ok). */
static int lkm_apply(struct lkm *m, const struct lk_sys *y)
{
    const char *n = y->name;
    const u64 *a = y->args;

    if (!y->ok || m->mm < 0)
        return SIM_OK;
    if (!strcmp(n, "munmap") && y->nargs >= 2)
        return lkm_range(m, OP_UNMAP, a[0], a[1], 0);
    if ((!strcmp(n, "mprotect") || !strcmp(n, "pkey_mprotect")) && y->nargs >= 3)
        return lkm_range(m, OP_PROTECT, a[0], a[1], imp_prot_of(a[2]));
    if (!strcmp(n, "madvise") && y->nargs >= 3)
        return imp_madvise_zaps(a[2]) ? lkm_range(m, OP_ZAP, a[0], a[1], 0) : SIM_OK;
    if (!strcmp(n, "mmap") && y->nargs >= 4 && (a[3] & LK_MAP_FIXED)) {
        u64 len = (a[1] + 4095) & ~4095ull;             /* replaces what was there */
        bool ok = y->ret < LK_USER_TOP && len <= LK_USER_TOP - y->ret;
        return ok && lkm_mapped(m, y->ret, len, false) ? lkm_range(m, OP_UNMAP, y->ret, len, 0)
                                                        : SIM_OK;
    }
    if (!strcmp(n, "mremap") && y->nargs >= 3) {
        u64 oldlen = (a[1] + 4095) & ~4095ull, newlen = (a[2] + 4095) & ~4095ull;
        if (y->ret != a[0])
            return lkm_range(m, OP_UNMAP, a[0], oldlen, 0);
        return newlen < oldlen ? lkm_range(m, OP_UNMAP, a[0] + newlen, oldlen - newlen, 0) : SIM_OK;
    }
    if (!strcmp(n, "brk")) {
        u64 old = (m->brk + 4095) & ~4095ull, now = (y->ret + 4095) & ~4095ull;
        int rc = m->brk && now < old ? lkm_range(m, OP_UNMAP, now, old - now, 0) : SIM_OK;
        m->brk = y->ret;
        return rc;
    }
    if (!strcmp(n, "clone") && y->nargs >= 1 && (a[0] & LK_CLONE_THREAD) && y->ret) {
        lkm_clone_thread(m, y->ret);
        return SIM_OK;
    }
    if ((!strcmp(n, "clone") && y->nargs >= 1 && !(a[0] & (LK_CLONE_VM | LK_CLONE_VFORK)) && y->ret) ||
        (!strcmp(n, "fork") && y->ret))
        return lkm_fork_flush(m);
    if (!strcmp(n, "execve") || !strcmp(n, "execveat"))
        return lkm_mm_end(m, true);
    if (!strcmp(n, "exit"))
        return lkm_stop_thread(m, m->cur, TH_DEAD);
    if (!strcmp(n, "exit_group"))
        return lkm_mm_end(m, false);
    return SIM_OK;
}

static int lkm_sys(struct lkm *m, struct lk_sys *y)
{
    struct lk_thread *t;
    int rc;

    if (y->state == LS_CONT_DONE) {             /* " --> RESULT" of the running thread */
        if (m->active_pid != m->pid || !m->cur || !m->th[m->cur].has_pend ||
            m->th[m->cur].pend.state != LS_CONT)
            return SIM_OK;
        t = &m->th[m->cur];
        t->has_pend = false;
        t->pend.ok = y->ok;
        t->pend.ret = y->ret;
        return lkm_apply(m, &t->pend);
    }
    if (!m->pid)
        m->pid = y->pid;
    m->active_pid = y->pid;
    if (y->pid != m->pid || y->tid >= m->nth)
        return SIM_OK;
    if ((rc = lkm_switch_thread(m, (u32)y->tid)))
        return rc;
    t = &m->th[m->cur];
    switch (y->state) {
    case LS_DONE:
        return lkm_apply(m, y);
    case LS_ASYNC_DONE:
        t->state = TH_RUN;
        if (!t->has_pend || t->pend.nr != y->nr)
            return SIM_OK;                      /* its start came before the log */
        t->has_pend = false;
        t->pend.ok = y->ok;
        t->pend.ret = y->ret;
        return lkm_apply(m, &t->pend);
    default:                                    /* LS_ASYNC, LS_CONT */
        t->pend = *y;
        t->has_pend = true;
        return y->state == LS_ASYNC && lkm_sleeps(y) ? lkm_stop_thread(m, m->cur, TH_BLOCKED)
                                                     : SIM_OK;
    }
}

static int lkm_part(struct lkm *m, const char *s)
{
    struct lk_line l;
    const char *why;

    switch (lk_parse(s, &l, &why)) {
    case LK_REF:
        return lkm_ref(m, &l.ref);
    case LK_SYS:
        return lkm_sys(m, &l.sys);
    case LK_SCHED:
        if (!m->pid)
            m->pid = l.pid;
        m->active_pid = l.pid;
        return l.pid == m->pid ? lkm_switch_thread(m, (u32)l.tid) : SIM_OK;
    default:
        return SIM_OK;
    }
}

/* ===== Pass 1: which pages some syscall unmaps ============================ */

static int lk_scan_range(struct lk_scan *sc, u64 va, u64 len)
{
    if (!len || va >= LK_USER_TOP)
        return SIM_OK;
    if (sc->nrng == sc->caprng) {
        size_t ncap = sc->caprng ? sc->caprng * 2 : 64;
        u64 (*n)[2] = realloc(sc->rng, ncap * sizeof(*n));
        if (!n)
            return SIM_ENOMEM;
        sc->rng = n;
        sc->caprng = ncap;
    }
    sc->rng[sc->nrng][0] = va & ~4095ull;
    sc->rng[sc->nrng][1] = len > LK_USER_TOP - va ? LK_USER_TOP : (va + len + 4095) & ~4095ull;
    sc->nrng++;
    return SIM_OK;
}

int lk_scan_sys(struct lk_scan *sc, const struct lk_sys *y)
{
    const u64 *a = y->args;

    if (y->state != LS_DONE || !y->ok)
        return SIM_OK;
    if (!strcmp(y->name, "munmap") && y->nargs >= 2)
        return lk_scan_range(sc, a[0], a[1]);
    if (!strcmp(y->name, "mremap") && y->nargs >= 2)
        return lk_scan_range(sc, a[0], a[1]);
    if (!strcmp(y->name, "mmap") && y->nargs >= 4 && (a[3] & LK_MAP_FIXED))
        return lk_scan_range(sc, y->ret, a[1]);
    if (!strcmp(y->name, "brk")) {
        u64 old = sc->brk;
        sc->brk = y->ret;
        return old > y->ret ? lk_scan_range(sc, y->ret, old - y->ret) : SIM_OK;
    }
    if (!strcmp(y->name, "execve") || !strcmp(y->name, "execveat"))
        sc->exec = true;
    return SIM_OK;
}

static int cmp_rng(const void *a, const void *b)
{
    const u64 *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Touched pages inside an unmapped range get LK_DYN: mapped on demand. */
static void lk_mark_dynamic(struct u64map *ps, struct lk_scan *sc)
{
    size_t n = 0;

    if (sc->nrng)                                       /* qsort(NULL, 0) is undefined */
        qsort(sc->rng, sc->nrng, sizeof(*sc->rng), cmp_rng);
    for (size_t i = 0; i < sc->nrng; i++) {             /* merge */
        if (n && sc->rng[i][0] <= sc->rng[n - 1][1]) {
            if (sc->rng[i][1] > sc->rng[n - 1][1])
                sc->rng[n - 1][1] = sc->rng[i][1];
        } else {
            sc->rng[n][0] = sc->rng[i][0];
            sc->rng[n][1] = sc->rng[i][1];
            n++;
        }
    }
    for (size_t i = 0; i < ps->cap; i++) {
        u64 va = (ps->k[i] - 1) << 12;
        size_t lo = 0, hi = n;
        if (!ps->k[i])
            continue;
        while (lo < hi) {                               /* first range with end > va */
            size_t mid = (lo + hi) / 2;
            if (sc->rng[mid][1] <= va)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (sc->exec || (lo < n && sc->rng[lo][0] <= va))
            ps->v[i] |= LK_DYN;
    }
}

/* ===== Entry ============================================================= */

int lk_mt_import(struct imp *im, struct u64map *ps, struct lk_scan *sc)
{
    u32 max_tid = sc->max_tid;
    struct lkm m;
    struct trace_op op;
    int rc;

    memset(&m, 0, sizeof(m));
    m.im = im;
    m.ps = ps;
    m.mm = 1;
    m.nth = max_tid + 2;                        /* thread 1 exists even with no TID seen */
    m.cpus = im->o->cpus ? im->o->cpus : max_tid < 1 ? 1 : max_tid > 1024 ? 1024 : max_tid;
    m.th = calloc(m.nth, sizeof(*m.th));
    m.cpu = calloc(m.cpus, sizeof(*m.cpu));
    if (!m.th || !m.cpu) {
        rc = sim_err_set(im->err, SIM_ENOMEM, "%s: out of memory", im->in);
        goto out;
    }
    for (u32 c = 0; c < m.cpus; c++)
        m.cpu[c].cur = MM_NULL;
    if ((rc = imp_open_out(im, m.cpus, imp_basename(im->in), "lackey")))
        goto out;
    memset(&op, 0, sizeof(op));
    op.type = OP_MM_NEW;
    op.mm = 1;
    lk_mark_dynamic(ps, sc);
    if ((rc = imp_emit_must(im, &op)) || (rc = lk_map_regions(im, ps)) ||
        (rc = imp_rewind(im, true)))
        goto out;
    while ((rc = imp_getline(im)) == 1) {
        char *msg = lk_split(im->buf);
        if ((rc = lkm_part(&m, im->buf)) || (msg && (rc = lkm_part(&m, msg))))
            break;
    }
    if (rc == 0)
        rc = lk_flush(im, &m.b);
    snprintf(im->st->note, sizeof(im->st->note),
             "%u thread%s on %u CPU%s (%u placed as recorded, the others: thread N on "
             "CPU (N-1) mod cpus), %llu guest instructions", m.nthreads,
             m.nthreads == 1 ? "" : "s", m.cpus, m.cpus == 1 ? "" : "s", m.placed,
             (unsigned long long)m.insns);
out:
    free(m.th);
    free(m.cpu);
    return rc;
}
