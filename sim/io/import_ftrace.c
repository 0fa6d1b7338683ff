/* sim/io/import_ftrace.c - ftrace / trace-cmd / perf script text -> trace.
 *
 * Accepted line layouts (one event per line; the parser looks for the
 * "[CPU]" column and does not depend on column widths):
 *
 *   trace-cmd report   COMM-PID [CPU] SEC.USEC: EVENT: FIELDS
 *   raw ftrace         COMM-PID [(TGID)] [CPU] FLAGS SEC.USEC: EVENT: FIELDS
 *   perf script        COMM PID[/TID] [CPU] SEC.USEC: [PERIOD] SYS:EVENT: FIELDS
 *
 * Raw ftrace prints syscalls as "sys_mmap(addr: 0, len: 1000, ...)" and
 * "sys_mmap -> 0x7f...", the others as "sys_enter_mmap: addr: 0x..." and
 * "sys_exit_mmap: 0x...".  sched_switch comes in the kernel layout
 * ("prev_comm=... ==> next_comm=...") or the libtraceevent plugin layout
 * ("comm:pid [prio] S ==> comm:pid [prio]").
 *
 * Two passes.  The first only finds the CPU count (highest CPU id, "#P:N"
 * or "cpus=N"), the earliest timestamp (t = 0) and each pid's tgid when the
 * input has one (perf's PID/TID, ftrace's record-tgid column).  The second
 * turns events into ops:
 *
 *   sched_switch      -> switch (user task: its mm), switch null (kernel
 *                        thread), idle (pid 0)
 *   task_newtask      CLONE_VM: the child shares the parent's mm
 *   sched_process_fork  a new process: a new mm, the parent's known
 *                        mappings copied into it when it first runs
 *   sched_process_exec  a new mm for the task; the old one exits when no
 *                        task uses it any more
 *   sched_process_exit  the task leaves its mm; the last one out tears it
 *                        down: switch null, mm_exit
 *   sys_exit_mmap     -> map (MAP_FIXED over known mappings: unmap first)
 *   sys_exit_munmap   -> unmap    sys_exit_mprotect -> protect
 *   sys_exit_madvise  -> zap (DONTNEED, FREE, REMOVE, PAGEOUT, DONTNEED_LOCKED)
 *   page_fault_user   -> access (the page mapped first if unknown)
 *   tlb_flush         requests (reasons 2, 3, 4) not explained by a
 *                     syscall above (or by exit/exec) -> flush; the
 *                     receiving side (0, 1, 5) is the simulator's business
 *
 * Ranges an munmap/mprotect/madvise touches that the trace never showed
 * being mapped existed before the recording: they are mapped first (rw,
 * populated up to IMP_FILL_POPULATE_MAX), so the op has something to act on.
 * Each op carries t = (timestamp - first timestamp) * freq_mhz.
 */
#include "import_ftrace_priv.h"
#include "u64map.h"

#include <stdlib.h>
#include <string.h>

#define IMP_USER_TOP          (1ull << 47)
#define IMP_FILL_POPULATE_MAX (64ull << 20)
#define IMP_FLUSH_PAIR_NS     20000     /* SEND_IPI + LOCAL_MM of one request */
#define IMP_FLUSH_MAX_PAGES   (1ull << 20)
#define IMP_MAX_T             (1ull << 53)      /* t stays an exact JSON integer */

#define CLONE_THREAD_FLAG  0x10000ull
#define MAP_FIXED_FLAG     0x10ull
#define MAP_LOCKED_FLAG    0x2000ull
#define MAP_POPULATE_FLAG  0x8000ull
#define MAP_HUGETLB_FLAG   0x40000ull

/* ===== Interval sets: the known mappings of one mm ======================= */

struct iv {
    u64 s, e;                           /* [s, e), 4K aligned */
    u8 prot;                            /* PROT_* */
    u8 shift;                           /* page shift */
    bool guess;                         /* made up by the importer (pre-existing) */
};

struct ivset {
    struct iv *v;                       /* sorted, disjoint */
    size_t n, cap;                      /* used, allocated */
};

/* First interval with e > a. */
static size_t iv_first(const struct ivset *s, u64 a)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->v[mid].e <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int iv_insert_at(struct ivset *s, size_t i, struct iv x)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        struct iv *nv = realloc(s->v, ncap * sizeof(*nv));
        if (!nv)
            return SIM_ENOMEM;
        s->v = nv;
        s->cap = ncap;
    }
    memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
    s->v[i] = x;
    s->n++;
    return SIM_OK;
}

/* Split so that no interval straddles a. */
static int iv_split(struct ivset *s, u64 a)
{
    size_t i = iv_first(s, a);

    if (i < s->n && s->v[i].s < a) {
        struct iv hi = s->v[i];
        hi.s = a;
        s->v[i].e = a;
        return iv_insert_at(s, i + 1, hi);
    }
    return SIM_OK;
}

static int iv_remove(struct ivset *s, u64 a, u64 b)
{
    size_t i, j;

    if (!s->n)
        return SIM_OK;
    if (iv_split(s, a) || iv_split(s, b))
        return SIM_ENOMEM;
    i = iv_first(s, a);
    for (j = i; j < s->n && s->v[j].e <= b; j++)
        ;
    memmove(&s->v[i], &s->v[j], (s->n - j) * sizeof(*s->v));
    s->n -= j - i;
    return SIM_OK;
}

static int iv_add(struct ivset *s, u64 a, u64 b, u8 prot, u8 shift, bool guess)
{
    struct iv x = { a, b, prot, shift, guess };

    return iv_insert_at(s, iv_first(s, a), x);
}

static int iv_set_prot(struct ivset *s, u64 a, u64 b, u8 prot)
{
    if (iv_split(s, a) || iv_split(s, b))
        return SIM_ENOMEM;
    for (size_t i = iv_first(s, a); i < s->n && s->v[i].s < b; i++)
        s->v[i].prot = prot;
    return SIM_OK;
}

static struct iv *iv_lookup(const struct ivset *s, u64 a)
{
    size_t i = iv_first(s, a);

    return i < s->n && s->v[i].s <= a ? &s->v[i] : NULL;
}

/* ===== Importer state ==================================================== */

enum task_kind { TK_UNKNOWN = 0, TK_USER, TK_KTHREAD, TK_IDLE };
enum sc_nr { SC_NONE = 0, SC_MMAP, SC_MUNMAP, SC_MPROTECT, SC_MADVISE, SC_EXIT, SC_EXEC };

struct task {
    s64 pid;                            /* key */
    s64 tgid;                           /* -1 unknown */
    s64 mm;                             /* mm id in use, -1 none yet */
    s64 fork_mm;                        /* forked from this mm: copy its mappings */
    u8 kind;                            /* enum task_kind */
    u8 sc;                              /* syscall in progress (enum sc_nr) */
    bool dead;                          /* sched_process_exit seen */
    bool born;                          /* task_newtask seen for this incarnation */
    bool leaving;                       /* in exit/exec: its flushes are explained */
    u64 args[6];                        /* syscall arguments */
};

struct imm {
    bool live;                          /* mm_new written, mm_exit not yet */
    u32 users;                          /* live tasks using it */
    s64 tgid;                           /* the process it belongs to */
    struct ivset vmas;                  /* known mappings */
};

struct fcpu {
    s64 pid;                            /* current task as far as we know, -1 unknown */
    s64 cur;                            /* running user mm (as the checker sees it) or MM_NULL */
    s64 lazy;                           /* user mm left loaded under a kernel thread, -1 none */
    u64 last_ns;                        /* last timestamp on this CPU */
    u64 last_t;                         /* last t written on this CPU */
    u64 fl_ns;                          /* last flush request turned into an op: time */
    s64 fl_pages;                       /* its pages (-1 = all) */
    int fl_reason;                      /* its reason; -1: none */
};


struct ft {
    struct imp *im;                     /* input, output, stats */
    u32 cpus;                           /* header cpus */
    u64 ns0;                            /* earliest timestamp */
    struct fcpu *cpu;                   /* [cpus] */
    struct task *tasks;                 /* indexed through pid2task */
    size_t ntasks, tasks_cap;           /* used, allocated */
    struct u64map pid2task;
    struct u64map pid2tgid;             /* from pass 1 */
    struct u64map tgid2mm;              /* live process -> mm id */
    struct imm *mms;                    /* [id - 1] */
    size_t nmms, mms_cap;               /* used (= last id), allocated */
    u64 t;                              /* t of the event being handled */
    int style;                          /* 0 trace-cmd, 1 raw ftrace, 2 perf */
    struct ft_infer inf;                /* pass 1 inference, --pid/--comm/--tgid-map */
};

/* handler results besides SIM_OK (used) and < 0 (error) */
#define EV_IGNORED 1

/* ===== Kernel-thread heuristics ========================================== */

bool kthread_comm(const char *comm)
{
    static const char *const prefix[] = {
        "kworker/", "ksoftirqd/", "migration/", "cpuhp/", "idle_inject/", "watchdog/",
        "irq/", "rcu_", "rcuc/", "rcuog/", "rcuop/", "rcuos/", "jbd2/", "scsi_eh_",
        "scsi_tmf_", "kswapd", "kcompactd", "khugepaged", "kthreadd", "kauditd",
        "khungtaskd", "oom_reaper", "kdevtmpfs", "ksmd", "writeback", "kblockd",
        "kintegrityd", "kthrotld", "mm_percpu_wq", "ipv6_addrconf", "kstrp",
        "psimon", "nvme-", "napi/", "pool_workqueue", "netns", "ext4-rsv-conver",
        "xfsaild/", "xfs-", "btrfs-", "kvm-nx-lpage-re", "kvm-pit/",
    };

    for (size_t i = 0; i < ARRAY_SIZE(prefix); i++)
        if (!strncmp(comm, prefix[i], strlen(prefix[i])))
            return true;
    return false;
}

/* ===== Tasks and mms ===================================================== */

static struct task *task_get(struct ft *ft, s64 pid)
{
    u64 idx;

    if (u64map_lookup(&ft->pid2task, (u64)pid, &idx))
        return &ft->tasks[idx];
    if (ft->ntasks == ft->tasks_cap) {
        size_t ncap = ft->tasks_cap ? ft->tasks_cap * 2 : 256;
        struct task *nt = realloc(ft->tasks, ncap * sizeof(*nt));
        if (!nt)
            return NULL;
        ft->tasks = nt;
        ft->tasks_cap = ncap;
    }
    if (u64map_put(&ft->pid2task, (u64)pid, ft->ntasks))
        return NULL;
    struct task *t = &ft->tasks[ft->ntasks++];
    memset(t, 0, sizeof(*t));
    t->pid = pid;
    t->tgid = -1;
    t->mm = -1;
    t->fork_mm = -1;
    if (u64map_lookup(&ft->pid2tgid, (u64)pid, &idx))
        t->tgid = (s64)idx;
    return t;
}

/* A fresh incarnation of pid (fork, newtask). */
static struct task *task_reset(struct ft *ft, s64 pid)
{
    struct task *t = task_get(ft, pid);
    u64 tg;

    if (!t)
        return NULL;
    memset(t, 0, sizeof(*t));
    t->pid = pid;
    t->tgid = u64map_lookup(&ft->pid2tgid, (u64)pid, &tg) ? (s64)tg : -1;
    t->mm = -1;
    t->fork_mm = -1;
    return t;
}

static void task_classify(struct task *t, const char *comm)
{
    if (t->kind != TK_UNKNOWN)
        return;
    if (t->pid == 0)
        t->kind = TK_IDLE;
    else if (t->pid == KTHREADD_PID || kthread_comm(comm))
        t->kind = TK_KTHREAD;
    else
        t->kind = TK_USER;
}

static struct imm *mm_of(struct ft *ft, s64 id)
{
    return id >= 1 && (size_t)id <= ft->nmms ? &ft->mms[id - 1] : NULL;
}

static bool mm_live(struct ft *ft, s64 id)
{
    struct imm *m = mm_of(ft, id);
    return m && m->live;
}

static struct trace_op op_at(struct ft *ft, enum trace_op_type type, int cpu, s64 mm)
{
    struct trace_op op;

    memset(&op, 0, sizeof(op));
    op.type = type;
    op.mm = mm;
    if (cpu >= 0) {
        struct fcpu *c = &ft->cpu[cpu];
        op.flags = OPF_CPU | OPF_T;
        op.cpu = (u32)cpu;
        op.t = ft->t > c->last_t ? ft->t : c->last_t;
        c->last_t = op.t;
    }
    return op;
}

/* Write op; a refusal (skip) is fine for the caller, errors are not. */
static int put(struct ft *ft, const struct trace_op *op)
{
    int rc = imp_emit(ft->im, op);
    return rc < 0 ? rc : SIM_OK;
}

static int emit_map(struct ft *ft, int cpu, s64 mm, u64 va, u64 len, u8 shift,
                    u8 prot, bool populate)
{
    struct trace_op op = op_at(ft, OP_MAP, cpu, mm);

    op.va = va;
    op.len = len;
    op.page_shift = shift;
    op.prot = prot;
    if (populate)
        op.flags |= OPF_POPULATE;
    return put(ft, &op);
}

static int emit_range(struct ft *ft, enum trace_op_type type, u32 cpu, s64 mm,
                      u64 va, u64 len, u8 prot)
{
    struct trace_op op = op_at(ft, type, (int)cpu, mm);

    op.va = va;
    op.len = len;
    op.prot = prot;
    return put(ft, &op);
}

static int emit_switch(struct ft *ft, u32 cpu, s64 mm)
{
    struct trace_op op = op_at(ft, OP_SWITCH, (int)cpu, mm);
    struct fcpu *c = &ft->cpu[cpu];

    if (mm == MM_NULL && c->cur != MM_NULL)
        c->lazy = c->cur;
    else if (mm != MM_NULL)
        c->lazy = -1;
    c->cur = mm;
    return put(ft, &op);
}

/* A new mm for process tgid; copies fork_mm's known mappings (barriers). */
static int mm_create(struct ft *ft, s64 tgid, s64 fork_mm, s64 *id)
{
    struct trace_op op;
    struct imm *m;
    int rc;

    if (ft->nmms == ft->mms_cap) {
        size_t ncap = ft->mms_cap ? ft->mms_cap * 2 : 64;
        struct imm *nm = realloc(ft->mms, ncap * sizeof(*nm));
        if (!nm)
            return sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory");
        ft->mms = nm;
        ft->mms_cap = ncap;
    }
    *id = (s64)ft->nmms + 1;
    m = &ft->mms[ft->nmms++];
    memset(m, 0, sizeof(*m));
    m->live = true;
    m->tgid = tgid;
    if (u64map_put(&ft->tgid2mm, (u64)tgid, (u64)*id))
        return sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory");
    op = op_at(ft, OP_MM_NEW, -1, *id);
    if ((rc = put(ft, &op)))
        return rc;
    struct imm *src = mm_of(ft, fork_mm);
    if (!src || !src->live)
        return SIM_OK;
    for (size_t i = 0; i < src->vmas.n; i++) {
        struct iv x = src->vmas.v[i];
        m = &ft->mms[*id - 1];
        if (iv_insert_at(&m->vmas, m->vmas.n, x))
            return sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory");
        if ((rc = emit_map(ft, -1, *id, x.s, x.e - x.s, x.shift, x.prot,
                           x.e - x.s <= IMP_FILL_POPULATE_MAX)))
            return rc;
        src = mm_of(ft, fork_mm);
    }
    return SIM_OK;
}

/* The mm a user task runs, created on first use. */
static int task_mm(struct ft *ft, struct task *t, s64 *out)
{
    s64 pid = t->pid, tgid = t->tgid >= 0 ? t->tgid : t->pid, fork_mm = t->fork_mm, id;
    u64 v;
    int rc;

    if (mm_live(ft, t->mm)) {
        *out = t->mm;
        return SIM_OK;
    }
    if (!fi_kept(&ft->inf, tgid)) {
        tgid = IMP_OTHERS_TGID;                 /* dropped by --pid/--comm */
        fork_mm = -1;
    }
    if (u64map_lookup(&ft->tgid2mm, (u64)tgid, &v) && mm_live(ft, (s64)v)) {
        id = (s64)v;
    } else {
        if ((rc = mm_create(ft, tgid, fork_mm, &id)))
            return rc;
    }
    t = task_get(ft, pid);                      /* mm_create may not move tasks, but be safe */
    t->mm = id;
    mm_of(ft, id)->users++;
    *out = id;
    return SIM_OK;
}

/* No task uses mm any more: switch its CPUs away, then mm_exit on cpu. */
static int mm_teardown(struct ft *ft, u32 cpu, s64 id)
{
    struct imm *m = mm_of(ft, id);
    struct trace_op op;
    u64 v;
    int rc;

    if (!m || !m->live)
        return SIM_OK;
    for (u32 c = 0; c < ft->cpus; c++) {
        if (ft->cpu[c].cur == id && (rc = emit_switch(ft, c, MM_NULL)))
            return rc;
        if (ft->cpu[c].lazy == id)
            ft->cpu[c].lazy = -1;
    }
    op = op_at(ft, OP_MM_EXIT, (int)cpu, id);
    if ((rc = put(ft, &op)))
        return rc;
    m = mm_of(ft, id);
    m->live = false;
    free(m->vmas.v);
    memset(&m->vmas, 0, sizeof(m->vmas));
    if (u64map_lookup(&ft->tgid2mm, (u64)m->tgid, &v) && (s64)v == id)
        u64map_put(&ft->tgid2mm, (u64)m->tgid, 0);
    return SIM_OK;
}

static int task_leave_mm(struct ft *ft, struct task *t, u32 cpu)
{
    s64 id = t->mm;
    struct imm *m = mm_of(ft, id);

    t->mm = -1;
    if (!m || !m->live)
        return SIM_OK;
    if (m->users)
        m->users--;
    return m->users ? SIM_OK : mm_teardown(ft, cpu, id);
}

/* pid runs on cpu from now on.  from_switch: a real context switch. */
static int run_task(struct ft *ft, u32 cpu, s64 pid, const char *comm, bool from_switch)
{
    struct fcpu *c = &ft->cpu[cpu];
    struct task *t = task_get(ft, pid);
    s64 mm;
    int rc;

    if (!t)
        return sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory");
    if (t->dead && from_switch)
        t = task_reset(ft, pid);
    task_classify(t, comm);
    c->pid = pid;
    switch (t->kind) {
    case TK_IDLE:
        if (!from_switch)
            return SIM_OK;
        if (c->cur != MM_NULL)
            c->lazy = c->cur;
        c->cur = MM_NULL;
        {
            struct trace_op op = op_at(ft, OP_IDLE, (int)cpu, 0);
            return put(ft, &op);
        }
    case TK_KTHREAD:
        return from_switch || c->cur != MM_NULL ? emit_switch(ft, cpu, MM_NULL) : SIM_OK;
    default:
        if ((rc = task_mm(ft, t, &mm)))
            return rc;
        return from_switch || c->cur != mm ? emit_switch(ft, cpu, mm) : SIM_OK;
    }
}

/* The event's task is current on its CPU (infer a switch if we missed it). */
static int ensure_current(struct ft *ft, const struct fev *e)
{
    if (ft->cpu[e->cpu].pid == e->pid)
        return SIM_OK;
    return run_task(ft, e->cpu, e->pid, e->comm, false);
}

/* The current task, which must be a live user task. */
static int user_current(struct ft *ft, const struct fev *e, struct task **out, s64 *mm)
{
    struct task *t;
    int rc;

    if ((rc = ensure_current(ft, e)))
        return rc;
    t = task_get(ft, e->pid);
    if (!t)
        return sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory");
    if (t->dead || t->kind == TK_IDLE)
        return EV_IGNORED;
    if (t->kind != TK_USER) {
        t->kind = TK_USER;                      /* it made a syscall or faulted */
        if ((rc = run_task(ft, e->cpu, e->pid, e->comm, false)))
            return rc;
        t = task_get(ft, e->pid);
    }
    if ((rc = task_mm(ft, t, mm)))
        return rc;
    if (mm_of(ft, *mm)->tgid == IMP_OTHERS_TGID)
        return EV_IGNORED;                      /* a task --pid/--comm leaves out */
    *out = task_get(ft, e->pid);
    return SIM_OK;
}

/* ===== Scheduler events ================================================== */

static int ev_switch(struct ft *ft, const struct fev *e)
{
    char comm[64];
    s64 next;

    if (!parse_switch(e->body, &next, comm, sizeof(comm)) || next < 0)
        return imp_skip(ft->im, "sched_switch: cannot find next_pid");
    return run_task(ft, e->cpu, next, comm, true);
}

static int ev_newtask(struct ft *ft, const struct fev *e)
{
    s64 child, pmm = -1;
    u64 flags;
    struct task *p, *c;
    int rc;

    if (!kv_dec(e->body, "pid=", &child) || child <= 0 || !kv_hex(e->body, "clone_flags=", &flags))
        return imp_skip(ft->im, "task_newtask: cannot find pid= and clone_flags=");
    if ((rc = ensure_current(ft, e)))
        return rc;
    p = task_get(ft, e->pid);
    if (!p)
        return sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory");
    task_classify(p, e->comm);
    bool kthread = p->kind != TK_USER || p->pid == KTHREADD_PID;
    s64 ptgid = p->tgid >= 0 ? p->tgid : p->pid;
    if (!kthread && (flags & CLONE_VM_FLAG) && (rc = task_mm(ft, p, &pmm)))
        return rc;
    p = task_get(ft, e->pid);
    pmm = kthread ? -1 : (flags & CLONE_VM_FLAG) ? pmm : p->mm;
    if (!(c = task_reset(ft, child)))
        return sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory");
    c->born = true;
    c->kind = kthread ? TK_KTHREAD : TK_USER;
    if (kthread)
        return SIM_OK;
    if (flags & CLONE_VM_FLAG) {
        ft->inf.n_newtask++;
        c->tgid = (flags & CLONE_THREAD_FLAG) ? ptgid : child;
        c->mm = pmm;
        mm_of(ft, pmm)->users++;
    } else {
        c->tgid = child;
        c->fork_mm = pmm;
    }
    return SIM_OK;
}

static int ev_fork(struct ft *ft, const struct fev *e)
{
    s64 child, ppid;
    struct task *p, *c;

    if (!kv_dec(e->body, "child_pid=", &child) || child <= 0)
        return imp_skip(ft->im, "sched_process_fork: cannot find child_pid=");
    if (!kv_dec(e->body, "pid=", &ppid))
        ppid = e->pid;
    c = task_get(ft, child);
    if (c && c->born && !c->dead)
        return SIM_OK;                          /* task_newtask said it all */
    p = task_get(ft, ppid);
    if (!p)
        return sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory");
    task_classify(p, ppid == e->pid ? e->comm : "");
    bool kthread = p->kind != TK_USER || p->pid == KTHREADD_PID;
    s64 pmm = p->mm;
    if (!(c = task_reset(ft, child)))
        return sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory");
    c->kind = kthread ? TK_KTHREAD : TK_USER;
    c->tgid = c->tgid >= 0 ? c->tgid : child;
    c->fork_mm = kthread ? -1 : pmm;
    return SIM_OK;
}

static int ev_exec(struct ft *ft, const struct fev *e)
{
    s64 pid, mm;
    struct task *t;
    int rc;

    if (!kv_dec(e->body, "pid=", &pid) || pid <= 0)
        return imp_skip(ft->im, "sched_process_exec: cannot find pid=");
    if ((rc = ensure_current(ft, e)))
        return rc;
    t = task_get(ft, pid);
    if (!t)
        return sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory");
    s64 old = t->mm;
    s64 tgid = t->tgid >= 0 ? t->tgid : pid;
    if (!fi_kept(&ft->inf, tgid))
        return EV_IGNORED;                      /* stays in the placeholder mm */
    t->kind = TK_USER;
    t->leaving = false;
    t->sc = SC_NONE;
    t->fork_mm = -1;
    t->mm = -1;
    if ((rc = mm_create(ft, tgid, -1, &mm)))
        return rc;
    t = task_get(ft, pid);
    t->mm = mm;
    mm_of(ft, mm)->users++;
    if (ft->cpu[e->cpu].pid == pid && (rc = emit_switch(ft, e->cpu, mm)))
        return rc;
    struct imm *m = mm_of(ft, old);
    if (m && m->live && m->users && --m->users == 0)
        return mm_teardown(ft, e->cpu, old);
    return SIM_OK;
}

static int ev_exit(struct ft *ft, const struct fev *e)
{
    s64 pid;
    struct task *t;
    int rc;

    if (!kv_dec(e->body, "pid=", &pid))
        return imp_skip(ft->im, "sched_process_exit: cannot find pid=");
    t = task_get(ft, pid);
    if (!t)
        return sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory");
    if (t->dead)
        return EV_IGNORED;
    t->dead = true;
    t->sc = SC_NONE;
    if ((rc = task_leave_mm(ft, t, e->cpu)))
        return rc;
    return SIM_OK;
}

/* ===== Syscalls ========================================================== */

static enum sc_nr sc_lookup(const char *name)
{
    if (!strcmp(name, "mmap"))
        return SC_MMAP;
    if (!strcmp(name, "munmap"))
        return SC_MUNMAP;
    if (!strcmp(name, "mprotect") || !strcmp(name, "pkey_mprotect"))
        return SC_MPROTECT;
    if (!strcmp(name, "madvise"))
        return SC_MADVISE;
    if (!strcmp(name, "exit") || !strcmp(name, "exit_group"))
        return SC_EXIT;
    if (!strcmp(name, "execve") || !strcmp(name, "execveat"))
        return SC_EXEC;
    return SC_NONE;
}

/* Map the parts of [va, va+len) no known mapping covers (pre-existing). */
static int fill_gaps(struct ft *ft, u32 cpu, s64 mm, u64 va, u64 len)
{
    u64 a = va, end = va + len;
    int rc;

    while (a < end) {
        struct imm *m = mm_of(ft, mm);
        size_t i = iv_first(&m->vmas, a);
        u64 gap_end = i < m->vmas.n && m->vmas.v[i].s < end ? m->vmas.v[i].s : end;
        if (i < m->vmas.n && m->vmas.v[i].s <= a) {
            a = m->vmas.v[i].e;
            continue;
        }
        if (iv_add(&m->vmas, a, gap_end, PROT_R | PROT_W, PAGE_SHIFT_4K, true))
            return sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory");
        if ((rc = emit_map(ft, (int)cpu, mm, a, gap_end - a, PAGE_SHIFT_4K, PROT_R | PROT_W,
                           gap_end - a <= IMP_FILL_POPULATE_MAX)))
            return rc;
        a = gap_end;
    }
    return SIM_OK;
}

/* Known mappings overlapping [va, va+len) go first (MAP_FIXED replaces). */
static int unmap_known(struct ft *ft, u32 cpu, s64 mm, u64 va, u64 len)
{
    struct imm *m = mm_of(ft, mm);
    u64 end = va + len;
    int rc;

    for (size_t i = iv_first(&m->vmas, va); i < m->vmas.n && m->vmas.v[i].s < end; i++) {
        struct iv x = m->vmas.v[i];
        u64 a = x.s > va ? x.s : va, b = x.e < end ? x.e : end;
        u64 ps = 1ull << x.shift;
        a &= ~(ps - 1);
        b = (b + ps - 1) & ~(ps - 1);
        if ((rc = emit_range(ft, OP_UNMAP, cpu, mm, a, b - a, 0)))
            return rc;
        m = mm_of(ft, mm);
    }
    return iv_remove(&m->vmas, va, end) ? sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory")
                                          : SIM_OK;
}

static bool user_range(u64 va, u64 len)
{
    return len && va < IMP_USER_TOP && len <= IMP_USER_TOP - va;
}

static int sc_mmap(struct ft *ft, const struct fev *e, const struct task *t, s64 mm, u64 ret)
{
    u64 flags = t->args[3];
    u8 shift = PAGE_SHIFT_4K;
    int rc;

    if (flags & MAP_HUGETLB_FLAG) {
        u64 hs = (flags >> 26) & 63;
        shift = hs == 30 ? PAGE_SHIFT_1G : PAGE_SHIFT_2M;
    }
    u64 ps = 1ull << shift, len = (t->args[1] + ps - 1) & ~(ps - 1);
    if ((ret & (ps - 1)) || !user_range(ret, len))
        return imp_skip(ft->im, "mmap: result 0x%llx (len 0x%llx) is not an aligned user range",
                        (unsigned long long)ret, (unsigned long long)t->args[1]);
    if ((rc = unmap_known(ft, e->cpu, mm, ret, len)))
        return rc;
    if (iv_add(&mm_of(ft, mm)->vmas, ret, ret + len, imp_prot_of(t->args[2]), shift, false))
        return sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory");
    return emit_map(ft, (int)e->cpu, mm, ret, len, shift, imp_prot_of(t->args[2]),
                    (flags & (MAP_POPULATE_FLAG | MAP_LOCKED_FLAG)) != 0);
}

static int sc_range(struct ft *ft, const struct fev *e, const struct task *t, s64 mm, u8 sc)
{
    u64 va = t->args[0], len = (t->args[1] + 4095) & ~4095ull;
    enum trace_op_type type = OP_UNMAP;
    int rc;

    if (sc == SC_MADVISE) {
        if (!imp_madvise_zaps(t->args[2]))
            return EV_IGNORED;                  /* no PTEs cleared */
        type = OP_ZAP;
    } else if (sc == SC_MPROTECT) {
        type = OP_PROTECT;
    }
    if (!len)
        return EV_IGNORED;
    if ((va & 4095) || !user_range(va, len))
        return imp_skip(ft->im, "%s: range 0x%llx+0x%llx is not an aligned user range",
                        trace_op_name(type), (unsigned long long)va, (unsigned long long)len);
    if ((rc = fill_gaps(ft, e->cpu, mm, va, len)))
        return rc;
    if ((rc = emit_range(ft, type, e->cpu, mm, va, len, imp_prot_of(t->args[2]))))
        return rc;
    struct ivset *s = &mm_of(ft, mm)->vmas;
    if (type == OP_UNMAP ? iv_remove(s, va, va + len)
                         : type == OP_PROTECT ? iv_set_prot(s, va, va + len, imp_prot_of(t->args[2])) : 0)
        return sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory");
    return SIM_OK;
}

static int ev_sys_enter(struct ft *ft, const struct fev *e, enum sc_nr sc)
{
    struct task *t;
    s64 mm;
    int rc = user_current(ft, e, &t, &mm);

    if (rc)
        return rc;
    if (sc == SC_EXIT || sc == SC_EXEC) {
        t->leaving = true;
        return SIM_OK;
    }
    memset(t->args, 0, sizeof(t->args));
    if (sc_args(e->body, t->args, 6) < (sc == SC_MUNMAP ? 2 : 3)) {
        t->sc = SC_NONE;
        return imp_skip(ft->im, "sys_enter: cannot read the arguments");
    }
    t->sc = (u8)sc;
    return SIM_OK;
}

static int ev_sys_exit(struct ft *ft, const struct fev *e, enum sc_nr sc)
{
    struct task *t;
    s64 mm;
    u64 ret;
    int rc;

    if (sc == SC_EXIT || sc == SC_EXEC)
        return EV_IGNORED;
    if (!imp_parse_hex(imp_skip_ws(e->body), &ret))
        return imp_skip(ft->im, "sys_exit: cannot read the return value");
    if ((rc = user_current(ft, e, &t, &mm)))
        return rc;
    if (t->sc != sc)
        return EV_IGNORED;                      /* its enter was before the trace */
    t->sc = SC_NONE;
    if (ret >= (u64)-4095)
        return EV_IGNORED;                      /* the syscall failed */
    struct task copy = *t;
    if (sc == SC_MMAP)
        return sc_mmap(ft, e, &copy, mm, ret);
    if (ret != 0)
        return EV_IGNORED;
    return sc_range(ft, e, &copy, mm, (u8)sc);
}

/* ===== Faults and flushes ================================================ */

static int ev_fault(struct ft *ft, const struct fev *e)
{
    u64 addr, code;
    struct task *t;
    s64 mm;
    int rc;

    if (!kv_hex(e->body, "address=", &addr) || !kv_hex(e->body, "error_code=", &code))
        return imp_skip(ft->im, "page_fault_user: cannot read address= and error_code=");
    if (!user_range(addr, 1))
        return EV_IGNORED;                      /* vsyscall page and the like */
    if ((rc = user_current(ft, e, &t, &mm)))
        return rc;
    char kind = (code & 0x10) ? 'x' : (code & 2) ? 'w' : 'r';
    u8 need = kind == 'x' ? PROT_X : kind == 'w' ? PROT_W : PROT_R;
    struct imm *m = mm_of(ft, mm);
    struct iv *v = iv_lookup(&m->vmas, addr);
    if (!v) {
        u64 pg = addr & ~4095ull;
        u8 prot = kind == 'x' ? PROT_R | PROT_X : PROT_R | PROT_W;
        if (iv_add(&m->vmas, pg, pg + 4096, prot, PAGE_SHIFT_4K, true))
            return sim_err_set(ft->im->err, SIM_ENOMEM, "out of memory");
        if ((rc = emit_map(ft, (int)e->cpu, mm, pg, 4096, PAGE_SHIFT_4K, prot, false)))
            return rc;
    } else if (!(v->prot & need)) {
        if (!v->guess)
            return imp_skip(ft->im, "page_fault_user: %c access to a mapping without that right",
                            kind);
        u64 a = v->s, len = v->e - v->s;
        u8 prot = (u8)(v->prot | need | PROT_R);
        v->prot = prot;
        if ((rc = emit_range(ft, OP_PROTECT, e->cpu, mm, a, len, prot)))
            return rc;
    }
    struct trace_op op = op_at(ft, OP_ACCESS, (int)e->cpu, 0);
    op.va = addr;
    op.nr_va = 1;
    op.kind = (u8)kind;
    return put(ft, &op);
}

int flush_reason(const char *body)
{
    static const char *const names[] = {
        "flush on task switch", "remote shootdown", "local shootdown",
        "local mm shootdown", "remote ipi send", "remote wrong cpu",
    };
    const char *p = strrchr(body, '(');
    u64 v;

    if (p && imp_parse_dec(p + 1, &v) && v < 16)
        return (int)v;
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (strcasestr(body, names[i]))
            return (int)i;
    return -1;
}

/* The mm a flush on this CPU concerns: the user task's, else the lazy one. */
static s64 flush_mm(struct ft *ft, const struct fev *e, bool *explained)
{
    struct task *t = task_get(ft, e->pid);
    struct fcpu *c = &ft->cpu[e->cpu];

    *explained = false;
    if (t && t->kind == TK_USER) {
        if (t->dead || t->leaving || t->sc == SC_MMAP || t->sc == SC_MUNMAP ||
            t->sc == SC_MPROTECT || t->sc == SC_MADVISE) {
            *explained = true;
            return -1;
        }
        return mm_live(ft, t->mm) && mm_of(ft, t->mm)->tgid != IMP_OTHERS_TGID ? t->mm : -1;
    }
    return mm_live(ft, c->lazy) && mm_of(ft, c->lazy)->tgid != IMP_OTHERS_TGID ? c->lazy : -1;
}

static int ev_tlb_flush(struct ft *ft, const struct fev *e)
{
    s64 pages, mm;
    int reason = flush_reason(e->body), rc;
    bool explained;
    struct fcpu *c = &ft->cpu[e->cpu];

    if ((!kv_dec(e->body, "pages:", &pages) && !kv_dec(e->body, "pages=", &pages)) || reason < 0)
        return imp_skip(ft->im, "tlb_flush: cannot read pages and reason");
    if (reason != 2 && reason != 3 && reason != 4)
        return EV_IGNORED;                      /* switch or receiver side */
    if (pages == 0)
        return EV_IGNORED;                      /* nothing was flushed */
    if ((rc = ensure_current(ft, e)))
        return rc;
    mm = flush_mm(ft, e, &explained);
    if (explained || mm < 0)
        return EV_IGNORED;
    if (c->fl_reason >= 0 && c->fl_reason != reason && c->fl_pages == pages &&
        e->ns - c->fl_ns <= IMP_FLUSH_PAIR_NS) {
        c->fl_reason = -1;                      /* the other half of one request */
        return EV_IGNORED;
    }
    c->fl_reason = reason;
    c->fl_pages = pages;
    c->fl_ns = e->ns;
    struct trace_op op = op_at(ft, OP_FLUSH, (int)e->cpu, mm);
    if (pages < 0 || (u64)pages > IMP_FLUSH_MAX_PAGES) {
        op.flags |= OPF_ALL;
    } else {
        op.va = 0;                              /* XXX: the tracepoint has no address */
        op.len = (u64)pages << 12;
    }
    return put(ft, &op);
}

/* ===== Dispatch ========================================================== */

static int dispatch(struct ft *ft, const struct fev *e)
{
    const char *n = e->name;
    enum sc_nr sc;

    if (e->raw_sc)
        return (sc = sc_lookup(n + 4)) == SC_NONE ? EV_IGNORED
               : e->raw_sc == 1 ? ev_sys_enter(ft, e, sc) : ev_sys_exit(ft, e, sc);
    if (!strncmp(n, "sys_enter_", 10))
        return (sc = sc_lookup(n + 10)) == SC_NONE ? EV_IGNORED : ev_sys_enter(ft, e, sc);
    if (!strncmp(n, "sys_exit_", 9))
        return (sc = sc_lookup(n + 9)) == SC_NONE ? EV_IGNORED : ev_sys_exit(ft, e, sc);
    if (!strcmp(n, "sched_switch"))
        return ev_switch(ft, e);
    if (!strcmp(n, "task_newtask"))
        return ev_newtask(ft, e);
    if (!strcmp(n, "sched_process_fork"))
        return ev_fork(ft, e);
    if (!strcmp(n, "sched_process_exec"))
        return ev_exec(ft, e);
    if (!strcmp(n, "sched_process_exit"))
        return ev_exit(ft, e);
    if (!strcmp(n, "tlb_flush"))
        return ev_tlb_flush(ft, e);
    if (!strcmp(n, "page_fault_user"))
        return ev_fault(ft, e);
    return EV_IGNORED;
}

static int handle_line(struct ft *ft)
{
    struct imp *im = ft->im;
    struct fev e;
    const char *why = "";
    int style = 0, rc;

    memset(&e, 0, sizeof(e));
    rc = fl_parse(im->buf, &e, &style, &why);
    if (rc == 0) {
        im->st->ignored++;
        return SIM_OK;
    }
    if (rc < 0)
        return imp_skip(im, "%s", why);
    if (e.cpu >= ft->cpus)
        return imp_skip(im, "cpu %u is not below the trace's cpus (%u)", e.cpu, ft->cpus);
    if (e.ns < ft->cpu[e.cpu].last_ns)
        return imp_skip(im, "time goes backwards on cpu %u", e.cpu);
    u64 dns = e.ns - ft->ns0;
    if (dns / 1000 >= IMP_MAX_T / ft->im->freq_mhz)
        return imp_skip(im, "timestamp too far from the first one");
    ft->cpu[e.cpu].last_ns = e.ns;
    ft->t = dns / 1000 * ft->im->freq_mhz + dns % 1000 * ft->im->freq_mhz / 1000;
    u64 skipped = im->st->skipped;
    rc = dispatch(ft, &e);
    if (rc < 0)
        return rc;
    if (rc == EV_IGNORED)
        im->st->ignored++;
    else if (im->st->skipped == skipped)
        im->st->events++;
    return SIM_OK;
}

/* ===== Pass 1 ============================================================ */

static int scan(struct ft *ft, u32 *max_cpu, u32 *hint, u64 *nevents)
{
    struct imp *im = ft->im;
    struct fev e;
    const char *why;
    int rc, style;
    int styles[3] = { 0, 0, 0 };

    *max_cpu = 0;
    *hint = 0;
    *nevents = 0;
    ft->ns0 = UINT64_MAX;
    while ((rc = imp_getline(im)) == 1) {
        const char *p = imp_skip_ws(im->buf), *q;
        u64 v;
        if (*p == '#' && (q = strstr(p, "#P:")) && imp_parse_dec(q + 3, &v) && v <= 1024)
            *hint = (u32)v;
        if (!strncmp(p, "cpus=", 5) && imp_parse_dec(p + 5, &v) && v <= 1024)
            *hint = (u32)v;
        if (!strncmp(p, "# tracer:", 9))
            styles[1]++;
        style = 0;
        if (fl_parse(im->buf, &e, &style, &why) != 1)
            continue;
        if (ft->im->o->cpus && e.cpu >= ft->im->o->cpus)
            continue;
        styles[style]++;
        (*nevents)++;
        *max_cpu = e.cpu > *max_cpu ? e.cpu : *max_cpu;
        ft->ns0 = e.ns < ft->ns0 ? e.ns : ft->ns0;
        if (e.tgid >= 0 && e.pid > 0 && u64map_put(&ft->pid2tgid, (u64)e.pid, (u64)e.tgid))
            return sim_err_set(im->err, SIM_ENOMEM, "out of memory");
        if (fi_event(&ft->inf, &e))
            return sim_err_set(im->err, SIM_ENOMEM, "out of memory");
    }
    ft->style = styles[2] > styles[1] ? 2 : styles[1] ? 1 : 0;
    return rc;
}

static void ft_free(struct ft *ft)
{
    for (size_t i = 0; i < ft->nmms; i++)
        free(ft->mms[i].vmas.v);
    free(ft->mms);
    free(ft->tasks);
    free(ft->cpu);
    u64map_free(&ft->pid2task);
    u64map_free(&ft->pid2tgid);
    u64map_free(&ft->tgid2mm);
    fi_free(&ft->inf);
}

int import_ftrace(struct imp *im)
{
    static const char *const source[] = { "ftrace (trace-cmd report)", "ftrace (raw)", "ftrace (perf script)" };
    struct ft ft;
    u32 max_cpu, hint;
    u64 nev;
    int rc;

    memset(&ft, 0, sizeof(ft));
    ft.im = im;
    fi_init(&ft.inf, im, &ft.pid2tgid);
    im->quiet = true;
    if ((rc = scan(&ft, &max_cpu, &hint, &nev)))
        goto out;
    if (!nev) {
        rc = sim_err_set(im->err, SIM_EPARSE, "%s: no trace events found (expected "
                         "trace-cmd report, ftrace or perf script text)", im->in);
        goto out;
    }
    if ((rc = fi_apply(&ft.inf)))
        goto out;
    ft.cpus = im->o->cpus ? im->o->cpus : (hint > max_cpu ? hint : max_cpu + 1);
    ft.cpu = calloc(ft.cpus, sizeof(*ft.cpu));
    if (!ft.cpu) {
        rc = sim_err_set(im->err, SIM_ENOMEM, "out of memory");
        goto out;
    }
    for (u32 c = 0; c < ft.cpus; c++) {
        ft.cpu[c].pid = -1;
        ft.cpu[c].cur = MM_NULL;
        ft.cpu[c].lazy = -1;
        ft.cpu[c].fl_reason = -1;
    }
    if ((rc = imp_open_out(im, ft.cpus, imp_basename(im->in), source[ft.style])) ||
        (rc = imp_rewind(im, false)))
        goto out;
    while ((rc = imp_getline(im)) == 1)
        if ((rc = handle_line(&ft)))
            break;
    fi_note(&ft.inf, ft.nmms);
out:
    ft_free(&ft);
    return rc < 0 ? rc : SIM_OK;
}
