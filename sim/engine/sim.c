/* sim/engine/sim.c - the simulation engine: address spaces, reading, the
 * per-CPU run loop, barriers, the timeline and the public API.  See sim.h
 * for the time model; shootdown.c and ops.c hold the rest.
 */
#include "sim_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int sim_fail(struct sim *s, int code, u64 line, const char *field, const char *msg)
{
    if (!s->fail) {
        s->fail = code;
        sim_err_set(&s->err, code, "%s:%llu: %s: %s", s->path,
                    (unsigned long long)line, field, msg);
    }
    return code;
}

int sim_fail_err(struct sim *s, u64 line, const char *field, const struct sim_err *e)
{
    return sim_fail(s, e->code ? e->code : SIM_EINVAL, line, field, e->msg);
}

/* ==== address spaces ===================================================== */

static u32 mm_hash_of(s64 id)
{
    u64 h = (u64)id * 0x9e3779b97f4a7c15ull;
    return (u32)(h >> (64 - MM_HASH_BITS));
}

struct mm *sim_mm_lookup(struct sim *s, s64 id)
{
    if (id == MM_KERNEL)
        return &s->init_mm;
    for (u32 i = mm_hash_of(id);; i = (i + 1) & (MM_HASH_SIZE - 1)) {
        if (!s->mm_hash[i].mm)
            return NULL;
        if (s->mm_hash[i].id == id)
            return s->mm_hash[i].mm;
    }
}

static void mm_hash_insert(struct sim *s, struct mm *mm)
{
    u32 i = mm_hash_of(mm->id);

    while (s->mm_hash[i].mm)
        i = (i + 1) & (MM_HASH_SIZE - 1);
    s->mm_hash[i] = (struct mm_hslot){ mm->id, mm };
}

/* Linear probing deletion with backward shift (no tombstones). */
static void mm_hash_remove(struct sim *s, s64 id)
{
    u32 i = mm_hash_of(id), j;

    while (s->mm_hash[i].id != id || !s->mm_hash[i].mm)
        i = (i + 1) & (MM_HASH_SIZE - 1);
    s->mm_hash[i].mm = NULL;
    for (j = (i + 1) & (MM_HASH_SIZE - 1); s->mm_hash[j].mm;
         j = (j + 1) & (MM_HASH_SIZE - 1)) {
        u32 home = mm_hash_of(s->mm_hash[j].id);
        bool move = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (move) {
            s->mm_hash[i] = s->mm_hash[j];
            s->mm_hash[j].mm = NULL;
            i = j;
        }
    }
}

static int mm_create(struct sim *s, const struct trace_op *op)
{
    struct mm *mm;
    struct sim_err e = { 0 };
    u16 idx;
    int rc;

    /* The most recently released index, else the lowest never used. */
    if (s->nr_free_idx)
        idx = s->free_idx[s->nr_free_idx - 1];
    else if (s->mm_idx_high < TRACE_MAX_MMS)
        idx = (u16)(s->mm_idx_high + 1);
    else
        return sim_fail(s, SIM_ELIMIT, op->line, "mm", "too many live address spaces");
    mm = malloc(sizeof(*mm));
    if (!mm)
        return sim_fail(s, SIM_ENOMEM, op->line, "mm", "out of memory");
    rc = mm_init(mm, op->mm, idx, s->next_ctx_id++, &s->ptc, &s->m, &s->init_mm, &e);
    if (rc) {
        free(mm);
        return sim_fail_err(s, op->line, "mm", &e);
    }
    if (s->nr_free_idx)
        s->nr_free_idx--;
    /* init_new_context(): the first trim is a second after creation. */
    s->env.now = s->now;
    mm->next_trim_cpumask = flush_jiffies(&s->env) + s->m.hz;
    s->mm_by_idx[mm->idx] = mm;
    if (mm->idx > s->mm_idx_high)
        s->mm_idx_high = mm->idx;
    mm_hash_insert(s, mm);
    return SIM_OK;
}

void sim_mm_release(struct sim *s, struct mm *mm)
{
    mm_hash_remove(s, mm->id);
    s->mm_by_idx[mm->idx] = NULL;
    s->free_idx[s->nr_free_idx++] = mm->idx;
    mm_free_global_asid(&s->env, mm);   /* destroy_context() */
    mm_destroy(mm);
    free(mm);
}

/* ==== reading ============================================================ */

/* ev_schedule, failing the run (it only fails when the heap cannot grow). */
void sim_schedule(struct sim *s, struct ev *e, cycles_t when)
{
    if (ev_schedule(&s->q, e, when))
        sim_fail(s, SIM_ENOMEM, 0, "sim", "out of memory (event queue)");
}

/* A helper's result: a failure it returned without recording it (a raw
 * SIM_E* code) fails the run, so every loop sees s->fail. */
static void sim_check(struct sim *s, int rc)
{
    if (rc < 0 && !s->fail)
        sim_fail(s, rc, 0, "sim", sim_strerror(rc));
}

/* The read-ahead buffers grow to megabytes (WINDOW_ADDRS addresses, up to
 * WINDOW_OPS_DEFAULT ops).  From BIG_BUF bytes on they are mapped 2 MiB
 * aligned and advised for transparent huge pages: one fault per 2 MiB
 * instead of 512, which matters for every run of `--policy all` (each a
 * fresh child process).  With many CPUs (s->pcpu), those below
 * SMALL_BUF (a CPU's rings: the window split between the CPUs, about
 * 10 KB each at 1024) come from the per-CPU arena, huge-page advised too,
 * and go back to it when they double; the rest from malloc, which gives
 * the memory back when they double.  Where a buffer lives follows from its
 * size and s->pcpu, so buf_free needs only the size. */
#define BIG_BUF ARENA_HUGE
#define SMALL_BUF (512u << 10)

static void *buf_alloc(struct sim *s, size_t bytes)
{
    if (bytes < SMALL_BUF && s->pcpu)
        return arena_get(&s->pcpu[0], bytes);
    if (bytes < BIG_BUF)
        return malloc(bytes);
    return arena_map_huge((bytes + BIG_BUF - 1) & ~(size_t)(BIG_BUF - 1));
}

static void buf_free(struct sim *s, void *p, size_t bytes)
{
    if (!p)
        return;
    if (bytes < SMALL_BUF && s->pcpu)
        arena_put(&s->pcpu[0], p, bytes);
    else if (bytes < BIG_BUF)
        free(p);
    else
        munmap(p, (bytes + BIG_BUF - 1) & ~(size_t)(BIG_BUF - 1));
}

static int grow_ring(struct sim_cpu *sc, size_t need)
{
    size_t cap = sc->r_cap ? sc->r_cap : 64;
    u64 *n;

    while (cap < sc->r_len + need)
        cap *= 2;
    if (cap == sc->r_cap)
        return SIM_OK;
    n = buf_alloc(sc->s, cap * sizeof(*n));
    if (!n)
        return SIM_ENOMEM;
    for (size_t i = 0; i < sc->r_len; i++)
        n[i] = sc->ring[(sc->r_head + i) & (sc->r_cap - 1)];
    buf_free(sc->s, sc->ring, sc->r_cap * sizeof(*n));
    sc->ring = n;
    sc->r_head = 0;
    sc->r_cap = cap;
    return SIM_OK;
}

/* A CPU's op ring holds its q_len queued ops from q_head on and, while
 * an op runs (has_cur), that op: cur points at its slot, the one before
 * q_head.  So the ring is full at q_len + has_cur == q_cap. */
static inline bool q_full(const struct sim_cpu *sc)
{
    return sc->q_len + sc->has_cur == sc->q_cap;
}

static __attribute__((noinline)) int grow_q(struct sim_cpu *sc)
{
    u32 cap = sc->q_cap ? sc->q_cap * 2 : 16;
    struct trace_op *n = buf_alloc(sc->s, cap * sizeof(*n));
    u32 live = sc->q_len + sc->has_cur, first = sc->q_head - sc->has_cur;

    if (!n)
        return SIM_ENOMEM;
    for (u32 i = 0; i < live; i++)
        n[i] = sc->q[(first + i) & (sc->q_cap - 1)];
    buf_free(sc->s, sc->q, sc->q_cap * sizeof(*n));
    sc->q = n;
    sc->q_head = sc->has_cur;
    if (sc->has_cur)
        sc->cur = &n[0];
    sc->q_cap = cap;
    return SIM_OK;
}

/* The slot the next op queued on sc goes to (room made first). */
static inline __attribute__((always_inline)) struct trace_op *q_tail(struct sim_cpu *sc)
{
    if (q_full(sc) && grow_q(sc))
        return NULL;
    return &sc->q[(sc->q_head + sc->q_len) & (sc->q_cap - 1)];
}

/* Queue op, just decoded into the tail slot of s->last_q, on its CPU:
 * in place when that is the CPU, else copied to the CPU's tail. */
static int enqueue(struct sim *s, struct trace_op *op)
{
    struct sim_cpu *sc = &s->cpus[op->cpu];
    struct trace_op *slot = sc == s->last_q ? op : q_tail(sc);

    if (!slot)
        return sim_fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
    if (op->type == OP_ACCESS) {
        u32 n = op->nr_va;
        if (sc->r_len + n > sc->r_cap && grow_ring(sc, n))
            return sim_fail(s, SIM_ENOMEM, op->line, "va", "out of memory");
        size_t cap = sc->r_cap, at = (sc->r_head + sc->r_len) & (cap - 1);
        if (n <= 4) {                   /* short arrays: no memcpy call */
            for (u32 i = 0; i < n; i++)
                sc->ring[(at + i) & (cap - 1)] = op->vas[i];
        } else {                        /* two copies around the wrap */
            size_t first = n < cap - at ? n : cap - at;
            memcpy(sc->ring + at, op->vas, first * sizeof(u64));
            memcpy(sc->ring, op->vas + first, (n - first) * sizeof(u64));
        }
        sc->r_len += n;
        s->buffered_addrs += n;
    }
    sc->q_len++;
    if (slot != op)
        *slot = *op;
    slot->vas = NULL;
    slot->label = NULL;
    s->last_q = sc;
    s->buffered_ops++;
    if (sc->starved) {
        sc->starved = false;
        sim_wake_at(s, sc, s->now);
    }
    return SIM_OK;
}

/* Read ahead until the window is full, the file ends, or a barrier op
 * comes (it waits in s->barrier until everything before it is done).
 * Each op is decoded straight into the tail slot of the CPU that took the
 * previous one (traces give a CPU runs of ops), so most ops are never
 * copied; one for another CPU, or a barrier, is copied from there. */
static int pump(struct sim *s)
{
    int rc;

    while (!s->eof && !s->has_barrier && !s->fail &&
           s->buffered_ops < s->window_ops && s->buffered_addrs < WINDOW_ADDRS) {
        struct trace_op *op = q_tail(s->last_q);
        if (!op)
            return sim_fail(s, SIM_ENOMEM, 0, "op", "out of memory");
        rc = s->src.next(s->src.ctx, op, &s->err);
        if (rc < 0)
            return s->fail = rc;
        if (rc == TRACE_SRC_WAIT) {     /* sim_step returns; the read resumes here */
            s->need_input = true;
            break;
        }
        if (rc == 0) {
            s->eof = true;
            break;
        }
        if (trace_op_is_barrier(op)) {
            s->barrier = *op;
            s->barrier.vas = NULL;
            if (op->type == OP_MARK) {
                snprintf(s->barrier_label, sizeof(s->barrier_label), "%s", op->label);
                s->barrier.label = s->barrier_label;
            }
            s->has_barrier = true;
            break;
        }
        if ((rc = enqueue(s, op)))
            return rc;
    }
    return SIM_OK;
}

/* The next queued op becomes cur; its slot stays taken until op_done. */
static inline __attribute__((always_inline)) bool fetch_op(struct sim *s, struct sim_cpu *sc)
{
    if (!sc->q_len)
        return false;
    sc->cur = &sc->q[sc->q_head];
    sc->q_head = (sc->q_head + 1) & (sc->q_cap - 1);
    sc->q_len--;
    s->buffered_ops--;
    sc->has_cur = true;
    sc->started = false;
    sc->idx = 0;
    return true;
}

static inline __attribute__((always_inline)) void op_done(struct sim *s, struct sim_cpu *sc)
{
    if (sc->cur->type == OP_ACCESS) {
        sc->r_head = (sc->r_head + sc->cur->nr_va) & (sc->r_cap - 1);
        sc->r_len -= sc->cur->nr_va;
        s->buffered_addrs -= sc->cur->nr_va;
    }
    sc->has_cur = false;
    s->eng.ops++;
    if (sc->hw.now > s->last_op_end)
        s->last_op_end = sc->hw.now;
}

/* ==== the run loop ======================================================= */

static void go_wait_input(struct sim *s, struct sim_cpu *sc)
{
    sc->starved = true;
    if (sd_irq_time(sc) != CYCLES_NEVER)
        sim_schedule(s, &sc->run_ev, sd_irq_time(sc) > sc->hw.now ? sd_irq_time(sc) : sc->hw.now);
}

/* Start time of cur: `t` is the earliest start (idle until then), `gap`
 * is busy work before it. */
static inline __attribute__((always_inline)) void op_begin(struct sim_cpu *sc)
{
    const struct trace_op *op = sc->cur;
    cycles_t now = sc->hw.now;

    sc->started = true;
    sc->gap_busy = false;
    sc->start_at = now;
    if (op->flags & OPF_T) {
        sc->s->eng.timed_ops++;
        if (op->t > now)
            sc->start_at = op->t;
    } else if (op->flags & OPF_GAP) {
        sc->start_at = now + op->gap;
        sc->gap_busy = !sc->idle;       /* after `idle`, the gap is idle time */
    }
}

static void wake_from_idle(struct sim *s, struct sim_cpu *sc)
{
    cycles_t x = sd_cstate_exit(s, sc);

    sc->idle = false;
    sc->hw.now += x;
    sc->hw.st.busy_cycles += x;
}

static void account_wait(struct sim_cpu *sc, cycles_t until)
{
    if (until <= sc->hw.now)
        return;
    if (sc->waiting_busy)
        sc->hw.st.busy_cycles += until - sc->hw.now;
    else
        sc->hw.st.idle_cycles += until - sc->hw.now;
    sc->hw.now = until;
}

/* What cpu_run does after one step. */
enum cpu_next {
    CPU_STEP,                           /* take another step */
    CPU_YIELD,                          /* stop; cpu_yield reschedules it */
    CPU_PARKED,                         /* stop; the step already rescheduled or parked it */
};

/* The bounds of one cpu_run, refreshed before every step. */
struct cpu_turn {
    cycles_t popped;                    /* when the run event fired */
    cycles_t horizon;                   /* the next other event */
    cycles_t limit;                     /* horizon + sim.quantum: how far references may run */
};

/* Nothing queued: flush a pending batch at the end of the CPU's work, or
 * park the CPU until input arrives (go_wait_input). */
static enum cpu_next step_no_op(struct sim *s, struct sim_cpu *sc, const struct cpu_turn *tn)
{
    if (sc->batch.sd) {
        if (sc->hw.now > tn->popped && sc->hw.now >= tn->horizon)
            return CPU_YIELD;
        sim_check(s, sd_batch_flush(s, sc));
        return CPU_STEP;
    }
    go_wait_input(s, sc);
    return CPU_PARKED;
}

/* The op starts later (`t`, or a `gap` of work): wait in place when the
 * start (or the next interrupt) is within the limit, else sleep until it. */
static enum cpu_next step_wait_start(struct sim *s, struct sim_cpu *sc,
                                     const struct cpu_turn *tn, cycles_t irq)
{
    cycles_t until = sc->start_at < irq ? sc->start_at : irq;

    sc->waiting_busy = sc->gap_busy;
    if (until > tn->limit) {
        sim_schedule(s, &sc->run_ev, until);
        return CPU_PARKED;
    }
    account_wait(sc, until);
    sc->waiting_busy = false;
    return CPU_STEP;
}

/* An op on shared state runs only when this CPU is the earliest event. */
static enum cpu_next step_global(struct sim *s, struct sim_cpu *sc, const struct cpu_turn *tn)
{
    if (sc->hw.now > tn->popped && sc->hw.now >= tn->horizon)
        return CPU_YIELD;                       /* someone else goes first */
    if (op_batch_flush_first(s, sc, sc->cur)) {
        sim_check(s, sd_batch_flush(s, sc));
        return CPU_STEP;
    }
    sim_check(s, op_exec_global(s, sc, sc->cur));
    op_done(s, sc);
    return CPU_STEP;
}

/* Whether the CPU's next queued op can follow the one just done inside
 * step_local, skipping cpu_step: it is references (access or stream) with
 * no start time or gap, and every check cpu_step makes before step_local
 * would pass (no interrupt or host kick due, not spinning, idle or
 * preempted).  References change none of that state, nor the event queue,
 * so the irq time and the turn's bounds stay as cpu_step computed them. */
static bool next_refs_follow(const struct sim_cpu *sc, cycles_t irq)
{
    if (!sc->q_len || sc->hw.now >= irq || sc->spinning || sc->idle || sc->preempted)
        return false;
    const struct trace_op *op = &sc->q[sc->q_head];
    return (op->type == OP_ACCESS || op->type == OP_STREAM) &&
           !(op->flags & (OPF_T | OPF_GAP));
}

/* References (or irqs_off) run ahead up to the limit or the next interrupt
 * (irq: sd_irq_time).  The earliest CPU always makes progress (one
 * reference at least), even with sim.quantum = 0 and another CPU at the
 * same cycle.  A run of reference ops goes on here, op after op, while
 * next_refs_follow() says cpu_step would do just that. */
static enum cpu_next step_local(struct sim *s, struct sim_cpu *sc, const struct cpu_turn *tn,
                                cycles_t irq)
{
    struct cpu *c = &sc->hw;

    for (;;) {
        if (c->now >= tn->limit && c->now > tn->popped)
            return CPU_YIELD;
        cycles_t stop = tn->limit < irq ? tn->limit : irq;
        if (stop <= c->now)
            stop = c->now + 1;
        bool irqs_off = sc->cur->type == OP_IRQS_OFF;       /* it moves irq */
        if (!op_exec_local(sc, stop))
            return CPU_STEP;
        op_done(s, sc);
        if (irqs_off || !next_refs_follow(sc, irq))
            return CPU_STEP;
        fetch_op(s, sc);
        op_begin(sc);
    }
}

/* One step: due interrupts first, then the current op (fetched and begun
 * as needed). */
static enum cpu_next cpu_step(struct sim *s, struct sim_cpu *sc, struct cpu_turn *tn)
{
    struct cpu *c = &sc->hw;

    /* Events this loop creates (IPIs, acks) move the horizon. */
    tn->horizon = ev_next_time(&s->q);
    tn->limit = tn->horizon >= CYCLES_NEVER - s->m.quantum ? CYCLES_NEVER
                                                           : tn->horizon + s->m.quantum;
    if (sc->kvm.kick_at <= c->now && !sc->preempted) {
        host_take_kick(s, sc);          /* a host IPI: VM exit, re-entry */
        return CPU_STEP;
    }
    cycles_t irq = sd_irq_time(sc);
    if (irq <= c->now) {
        sd_handle_irqs(s, sc);
        return CPU_STEP;
    }
    if (sc->spinning)
        return CPU_YIELD;
    if (!sc->has_cur && !fetch_op(s, sc))
        return step_no_op(s, sc, tn);
    if (!sc->started)
        op_begin(sc);
    if (c->now < sc->start_at)
        return step_wait_start(s, sc, tn, irq);
    if (sc->idle)
        wake_from_idle(s, sc);
    if (sc->preempted && sc->cur->type != OP_VCPU_RUN && !trace_op_is(sc->cur, TOP_HOST)) {
        op_vcpu_run(s, sc);             /* the host resumed it implicitly */
        irq = sd_irq_time(sc);
    }
    if (trace_op_is(sc->cur, TOP_LOCAL))
        return step_local(s, sc, tn, irq);
    return step_global(s, sc, tn);
}

/* The CPU stops for another CPU: a spinning initiator sleeps until its
 * next interrupt (an ack or a flush request wakes it), any other CPU runs
 * again at its own clock. */
static void cpu_yield(struct sim *s, struct sim_cpu *sc)
{
    if (sc->spinning) {
        if (sd_irq_time(sc) != CYCLES_NEVER)
            sim_schedule(s, &sc->run_ev,
                         sd_irq_time(sc) > sc->hw.now ? sd_irq_time(sc) : sc->hw.now);
        return;
    }
    if (!s->fail)
        sim_schedule(s, &sc->run_ev, sc->hw.now);
}

/* cpu_run - the run event of one CPU: the engine's central loop.
 *
 * Catch the CPU's clock up to the event time, then take steps (cpu_step)
 * until one says stop.  A step handles the flush interrupts that are due,
 * or fetches the CPU's next op, waits for its start time, or runs it:
 * references run ahead of global time by at most sim.quantum cycles past
 * the next event (the limit), and an op on shared state runs only while
 * this CPU is the earliest event (the horizon), so shared state changes in
 * (time, seq) order.  Each step returns the next action:
 *
 *   CPU_STEP    go on (state changed: an op ran, an interrupt was handled);
 *   CPU_YIELD   another event comes first, or the CPU spins for acks:
 *               cpu_yield reschedules it (at its clock, or its next irq);
 *   CPU_PARKED  the step rescheduled the CPU itself (start time beyond the
 *               limit) or parked it until input arrives (nothing queued).
 *
 * A failure (s->fail) stops the loop after the step that set it.  While it
 * runs, s->running is sc, so sim_wake_at leaves this CPU alone. */
static void cpu_run(void *owner, struct ev *e)
{
    struct sim_cpu *sc = owner;
    struct sim *s = sc->s;
    struct cpu_turn tn = { .popped = e->when };
    enum cpu_next next = CPU_STEP;

    account_wait(sc, tn.popped);
    sc->waiting_busy = false;
    s->running = sc;
    while (!s->fail && (next = cpu_step(s, sc, &tn)) == CPU_STEP)
        ;
    s->running = NULL;
    if (next != CPU_PARKED)
        cpu_yield(s, sc);
}

/* ==== barriers ============================================================ */

static bool barrier_ready(const struct sim *s)
{
    for (u32 i = 0; i < s->nr_cpus; i++) {
        const struct sim_cpu *sc = &s->cpus[i];
        if (sc->q_len || sc->has_cur || sc->spinning || csdq_len(&sc->csdq) || sc->batch.sd)
            return false;
    }
    return true;
}

static int run_barrier(struct sim *s)
{
    struct trace_op *op = &s->barrier;
    struct sim_err e = { 0 };
    cycles_t t = s->now;
    struct mm *mm;
    int rc = SIM_OK;

    for (u32 i = 0; i < s->nr_cpus; i++)
        if (s->cpus[i].hw.now > t)
            t = s->cpus[i].hw.now;
    if ((op->flags & OPF_T) && op->t > t)
        t = op->t;
    for (u32 i = 0; i < s->nr_cpus; i++) {
        s->cpus[i].waiting_busy = false;
        account_wait(&s->cpus[i], t);
    }
    s->now = t;
    if (t > s->last_op_end)
        s->last_op_end = t;
    s->has_barrier = false;
    s->eng.barriers++;
    s->eng.ops++;
    switch (op->type) {
    case OP_MM_NEW:
        rc = mm_create(s, op);
        break;
    case OP_MAP:
        rc = op_map(s, op);
        break;
    case OP_EPT_MAP:
        rc = op_ept_map(s, op);
        break;
    case OP_MARK:
        s->eng.marks++;
        if (s->hooks.mark)
            s->hooks.mark(s->hooks.arg, t, op->label);
        break;
    case OP_MM_EXIT: {
        struct sim_cpu *sc = &s->cpus[op->cpu];
        struct shootdown *sd;

        mm = sim_mm_lookup(s, op->mm);
        if (!mm)
            return sim_fail(s, SIM_ENOENT, op->line, "mm", "address space does not exist");
        /* Deferred invalidations still queued may name this mm: run them
         * all now, as the exiting task's IPI-free path cannot wait. */
        for (u32 i = 0; i < s->nr_cpus; i++)
            op_switch_point(s, &s->cpus[i]);
        if (!(sd = sd_get(s)))
            return sim_fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
        /* exit_mmap(): unmap everything, free the tables, then
         * flush_tlb_mm() (full, freed_tables) before the pages go. */
        if (pt_unmap(&mm->pt, 0, 1ull << (mm->pt.va_bits - 1), &sd->gather, &e)) {
            sd_put(s, sd);
            return sim_fail_err(s, op->line, "mm", &e);
        }
        mm_pte_changed(mm);
        sd->exit_mm = true;
        rc = sd_flush_request(s, sc, sd, mm, 0, TLB_FLUSH_ALL, PAGE_SHIFT_4K, true, op, NULL);
        break;
    }
    default:
        rc = sim_fail(s, SIM_EINTERNAL, op->line, "op", "not a barrier op");
    }
    return rc;
}

/* ==== timeline ============================================================ */

static void totals_sub(struct sim_totals *d, const struct sim_totals *a,
                       const struct sim_totals *b)
{
    const u64 *pa = (const u64 *)a, *pb = (const u64 *)b;
    u64 *pd = (u64 *)d;

    _Static_assert(sizeof(struct sim_totals) % sizeof(u64) == 0, "totals are u64s");
    for (size_t i = 0; i < sizeof(*d) / sizeof(u64); i++)
        pd[i] = pa[i] - pb[i];
}

/* Runs of empty intervals longer than this become one row: a trace that
 * jumps far ahead in time must not produce a row per interval of nothing. */
#define EMPTY_RUN_MAX 1000

static bool totals_zero(const struct sim_totals *d)
{
    const u64 *p = (const u64 *)d;

    for (size_t i = 0; i < sizeof(*d) / sizeof(u64); i++)
        if (p[i])
            return false;
    return true;
}

static void emit_intervals(struct sim *s, cycles_t upto, bool last)
{
    struct sim_totals now, d;

    if (!s->interval || !s->hooks.interval)
        return;
    while (upto >= s->interval_t0 + s->interval || (last && upto > s->interval_t0)) {
        cycles_t t1 = s->interval_t0 + s->interval;
        if (last && t1 > upto)
            t1 = upto;
        sim_totals(s, &now);
        totals_sub(&d, &now, &s->last);
        d.events = 0;                   /* the engine's own bookkeeping */
        if (totals_zero(&d) && upto - s->interval_t0 > EMPTY_RUN_MAX * s->interval)
            t1 = s->interval_t0 + (upto - s->interval_t0) / s->interval * s->interval;
        s->hooks.interval(s->hooks.arg, s->interval_t0, t1, &d);
        s->last = now;
        s->interval_t0 = t1;
        if (last && t1 == upto)
            break;
    }
}

/* ==== invariants ============================================================ */

static void check_invariants(struct sim *s)
{
    if (!flush_check_cpumasks(&s->env)) {
        sim_fail(s, SIM_EINTERNAL, 0, "invariant", "mm_cpumask/loaded_mm/tlb_gen check failed");
        return;
    }
    if (++s->checks % 256)
        return;
    for (u32 i = 0; i < s->nr_cpus; i++)
        if (!cpu_check(&s->cpus[i].hw)) {
            sim_fail(s, SIM_EINTERNAL, 0, "invariant", "TLB structure check failed");
            return;
        }
    if (!pt_check(&s->init_mm.pt))
        sim_fail(s, SIM_EINTERNAL, 0, "invariant", "kernel page-table check failed");
    if (s->m.ept && !ept_check(&s->ept))
        sim_fail(s, SIM_EINTERNAL, 0, "invariant", "EPT check failed");
    for (u32 i = 1; i <= s->mm_idx_high; i++)
        if (s->mm_by_idx[i] && !pt_check(&s->mm_by_idx[i]->pt)) {
            sim_fail(s, SIM_EINTERNAL, 0, "invariant", "page-table check failed");
            return;
        }
}

/* ==== public API =========================================================== */

static int cpus_init(struct sim *s, struct sim_err *err)
{
    s->pcpu = s->nr_cpus >= SIM_ARENA_MIN_CPUS ? s->arena : NULL;
    s->csds.arena = s->pcpu ? &s->pcpu[0] : NULL;
    s->cpus = s->pcpu ? arena_alloc(&s->pcpu[0], (size_t)s->nr_cpus * sizeof(*s->cpus))
                      : calloc(s->nr_cpus, sizeof(*s->cpus));     /* zeroed either way */
    s->arrival = calloc(s->nr_cpus, sizeof(*s->arrival));
    s->queued_since = calloc(s->nr_cpus, sizeof(*s->queued_since));
    s->cpu_ptrs = calloc(s->nr_cpus, sizeof(*s->cpu_ptrs));
    if (!s->cpus || !s->arrival || !s->queued_since || !s->cpu_ptrs)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    for (u32 i = 0; i < s->nr_cpus; i++) {
        struct sim_cpu *sc = &s->cpus[i];
        int rc = cpu_init_in(&sc->hw, i, &s->m, &s->frames, &s->init_mm, s->pcpu, err);
        if (!rc && s->m.ept)
            rc = cpu_set_ept(&sc->hw, &s->ept, err);
        if (rc)
            return rc;
        sc->s = s;
        sc->starved = true;
        sc->tick_at = CYCLES_NEVER;
        kvm_vcpu_init(&sc->kvm);
        s->cpu_ptrs[i] = &sc->hw;
        ev_init(&sc->run_ev, cpu_run, sc);
    }
    return SIM_OK;
}

int sim_create(const struct sim_config *cfg, struct sim **out, struct sim_err *err)
{
    struct sim *s = calloc(1, sizeof(*s));
    int rc;

    *out = NULL;
    if (!s)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    s->m = *cfg->m;
    s->pol = cfg->pol;
    if (s->pol->pcid)
        s->m.pcid = true;               /* linux-pcid: the variant with PCID on */
    if (s->pol->pti)
        s->m.pti = true;                /* linux-pcid-pti */
    s->src = cfg->src;
    s->hdr = *cfg->hdr;
    s->path = cfg->trace_path ? cfg->trace_path : "trace";
    s->hooks = cfg->hooks;
    s->interval = cfg->interval;
    s->check = cfg->check_invariants;
    s->window_ops = cfg->window_ops ? cfg->window_ops : WINDOW_OPS_DEFAULT;
    s->nr_cpus = s->m.cpus;
    if (s->m.pti && !s->m.pcid) {
        rc = sim_err_set(err, SIM_EINVAL,
                         "cpu.pti: needs cpu.pcid (PTI without PCID, a full flush at every "
                         "kernel entry and exit, is not modelled; add --set cpu.pcid=true)");
        goto out;
    }
    if (s->hdr.cpus > s->m.cpus) {
        rc = sim_err_set(err, SIM_EINVAL,
                         "%s: cpus: the trace needs %u CPUs but machine '%s' has %u (try --set cpus=%u)",
                         s->path, s->hdr.cpus, s->m.name, s->m.cpus, s->hdr.cpus);
        goto out;
    }
    if ((rc = ev_queue_init(&s->q)) || (rc = hist_init(&s->lat))) {
        sim_err_set(err, rc, "out of memory");
        goto out;
    }
    if ((rc = frame_alloc_init(&s->frames, machine_phys_bits(&s->m), s->m.max_frames, err)))
        goto out;
    if (s->m.ept && (rc = ept_init(&s->ept, &s->m, err)))
        goto out;
    if ((rc = pt_ctx_init(&s->ptc, &s->frames, s->m.max_table_pages)) ||
        (rc = pt_ctx_set_keyid_bits(&s->ptc, s->m.keyid_bits))) {
        sim_err_set(err, rc, "page tables: cannot initialise");
        goto out;
    }
    if ((rc = mm_init(&s->init_mm, MM_KERNEL, MM_INIT_IDX, 1, &s->ptc, &s->m, NULL, err)))
        goto out;
    s->next_ctx_id = 2;
    /* Sized for TRACE_MAX_MMS address spaces, touched as they are used. */
    s->mm_hash = arena_kvzalloc(MM_HASH_BYTES);
    s->mm_by_idx = arena_kvzalloc(MM_BY_IDX_BYTES);
    s->free_idx = malloc(TRACE_MAX_MMS * sizeof(*s->free_idx));
    if (!s->mm_hash || !s->mm_by_idx || !s->free_idx) {
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = cpus_init(s, err)))
        goto out;
    s->last_q = &s->cpus[0];
    s->env = (struct flush_env){ .cpus = s->cpu_ptrs, .nr_cpus = s->nr_cpus,
                                 .init_mm = &s->init_mm, .m = &s->m, .pol = s->pol,
                                 .trace = sd_trace_hook, .trace_arg = s };
    global_asid_space_init(&s->env.gas, s->m.pti);
    *out = s;
    return SIM_OK;
out:
    s->src.close = NULL;                /* the caller still owns it on failure */
    sim_destroy(s);
    return rc;
}

void sim_destroy(struct sim *s)
{
    if (!s)
        return;
    for (u32 i = 0; s->cpus && i < s->nr_cpus; i++) {
        struct sim_cpu *sc = &s->cpus[i];
        csdq_destroy(&sc->csdq, &s->csds);
        cpu_destroy(&sc->hw);
        buf_free(s, sc->q, sc->q_cap * sizeof(*sc->q));
        buf_free(s, sc->ring, sc->r_cap * sizeof(*sc->ring));
    }
    csd_pool_destroy(&s->csds);
    while (s->sd_all) {
        struct shootdown *n = s->sd_all->all_next;
        mmu_gather_finish(&s->ptc, &s->sd_all->gather);  /* tables back to the pool */
        mmu_gather_destroy(&s->sd_all->gather);
        free(s->sd_all->mms);
        free(s->sd_all);
        s->sd_all = n;
    }
    for (u32 i = 1; s->mm_by_idx && i <= s->mm_idx_high; i++)
        if (s->mm_by_idx[i]) {
            mm_destroy(s->mm_by_idx[i]);
            free(s->mm_by_idx[i]);
        }
    if (s->ptc.frames)
        mm_destroy(&s->init_mm);
    pt_ctx_destroy(&s->ptc);
    frame_alloc_destroy(&s->frames);
    ept_destroy(&s->ept);
    arena_kvfree(s->mm_hash, MM_HASH_BYTES);
    arena_kvfree(s->mm_by_idx, MM_BY_IDX_BYTES);
    free(s->free_idx);
    if (!s->pcpu)
        free(s->cpus);
    free(s->arrival);
    free(s->queued_since);
    free(s->cpu_ptrs);
    hist_destroy(&s->lat);
    ev_queue_destroy(&s->q);
    for (unsigned i = 0; i < CPU_ARENAS; i++)
        arena_destroy(&s->arena[i]);    /* with pcpu: cpus[] and everything per CPU */
    if (s->src.close)
        s->src.close(s->src.ctx);
    free(s);
}

/* A barrier waits for every earlier line, but a flush may be waiting for a
 * vCPU that only a later line resumes: the trace contradicts itself.  The
 * host resumes such vCPUs (as it eventually would), so the run goes on.
 * Returns true if it resumed one. */
static bool resume_blocking_vcpus(struct sim *s)
{
    bool any = false;

    for (u32 i = 0; i < s->nr_cpus; i++) {
        struct sim_cpu *sc = &s->cpus[i];
        if (sc->preempted && csdq_len(&sc->csdq)) {
            s->eng.vcpu_forced_runs++;
            op_vcpu_run(s, sc);
            any = true;
        }
    }
    return any;
}

static int finish(struct sim *s)
{
    cycles_t t = s->now;

    for (u32 i = 0; i < s->nr_cpus; i++)
        if (s->cpus[i].hw.now > t)
            t = s->cpus[i].hw.now;
    emit_intervals(s, t, true);
    return 0;
}

int sim_step(struct sim *s, struct sim_err *err)
{
    struct ev *e;

    if (s->fail)
        goto failed;
    if (s->need_input) {                /* finish the read a step left short, then the step */
        s->need_input = false;
        sim_check(s, pump(s));
        if (s->need_input)
            return SIM_NEED_INPUT;
        if (s->input_after_barrier)
            goto out;
        goto pumped;
    }
    if (s->has_barrier && barrier_ready(s)) {
        sim_check(s, run_barrier(s));
        sim_check(s, pump(s));
        if ((s->input_after_barrier = s->need_input))
            return SIM_NEED_INPUT;
        goto out;
    }
    sim_check(s, pump(s));
    if (s->need_input) {
        s->input_after_barrier = false;
        return SIM_NEED_INPUT;
    }
pumped:
    if (s->fail)
        goto failed;
    e = ev_pop(&s->q);
    if (!e) {
        if (s->has_barrier && barrier_ready(s))
            goto out;
        if (s->eof && !s->has_barrier)
            return finish(s);
        if (s->has_barrier && resume_blocking_vcpus(s))
            goto out;
        if (s->has_barrier)
            return sim_err_set(err, SIM_EINTERNAL, "%s: barrier never became ready", s->path);
        goto out;
    }
    if (e->when > s->now)
        s->now = e->when;
    if (s->now >= s->interval_t0 + s->interval)     /* its loop's test, without a call */
        emit_intervals(s, s->now, false);
    e->fn(e->owner, e);
out:
    if (s->check && !s->fail)
        check_invariants(s);
    if (s->fail)
        goto failed;
    return 1;
failed:
    if (err)
        *err = s->err;
    return s->fail;
}

int sim_run(struct sim *s, cycles_t until, struct sim_err *err)
{
    int rc;

    while (s->now < until) {
        if (s->stop)
            return sim_err_set(err, SIM_EINTR, "interrupted");
        rc = sim_step(s, err);
        if (rc != 1)
            return rc;
    }
    return 1;
}

void sim_interrupt(struct sim *s) { s->stop = 1; }

void sim_totals(const struct sim *s, struct sim_totals *t)
{
    *t = s->eng;
    t->events = s->q.nr_fired;
    memset(&t->cpu, 0, sizeof(t->cpu));
    for (u32 i = 0; i < s->nr_cpus; i++) {
        const u64 *src = (const u64 *)&s->cpus[i].hw.st;
        u64 *dst = (u64 *)&t->cpu;

        _Static_assert(sizeof(struct cpu_stats) % sizeof(u64) == 0, "stats are u64s");
        for (size_t k = 0; k < sizeof(struct cpu_stats) / sizeof(u64); k++)
            dst[k] += src[k];
    }
}

const struct hist *sim_latency(const struct sim *s) { return &s->lat; }
cycles_t sim_now(const struct sim *s) { return s->now; }
u32 sim_nr_cpus(const struct sim *s) { return s->nr_cpus; }
const struct cpu *sim_cpu(const struct sim *s, u32 i) { return &s->cpus[i].hw; }
enum sim_cpu_state sim_cpu_state(const struct sim *s, u32 i)
{
    const struct sim_cpu *sc = &s->cpus[i];

    if (sc->preempted)
        return SCPU_PREEMPTED;
    if (sc->spinning)
        return SCPU_SPIN;
    if (sc->idle)
        return SCPU_IDLE;
    return sc->starved ? SCPU_WAIT_INPUT : SCPU_RUN;
}

cycles_t sim_end_cycles(const struct sim *s)
{
    return s->last_op_end;
}

s64 sim_cpu_task_mm(const struct sim *s, u32 i)
{
    return s->cpus[i].task_mm ? s->cpus[i].task_mm->id : -1;
}

s64 sim_mm_id(const struct sim *s, u16 idx)
{
    if (idx == MM_INIT_IDX)
        return -1;
    return s->mm_by_idx[idx] ? s->mm_by_idx[idx]->id : -2;  /* idx <= TRACE_MAX_MMS: u16 */
}

u8 sim_cpu_cstate(const struct sim *s, u32 i)
{
    return s->cpus[i].idle ? s->cpus[i].cstate : 0;
}

void sim_cpu_waiting(const struct sim *s, u32 i, cycles_t *until, bool *busy)
{
    const struct sim_cpu *sc = &s->cpus[i];
    bool waiting = sc->has_cur && sc->started && sc->start_at > sc->hw.now;

    *until = waiting ? sc->start_at : CYCLES_NEVER;
    *busy = waiting && sc->gap_busy;
}

struct ipis_in_flight {
    struct sim_ipi *out;
    u32 n, max, cpu;
};

static bool ipi_in_flight(void *arg, const struct csd *c)
{
    struct ipis_in_flight *f = arg;

    if (c->ipi)                         /* else queued behind another's IPI */
        f->out[f->n++] = (struct sim_ipi){ c->sd->info.initiating_cpu, f->cpu, c->queued,
                                           c->arrival };
    return f->n < f->max;
}

u32 sim_ipis_in_flight(const struct sim *s, struct sim_ipi *out, u32 max)
{
    struct ipis_in_flight f = { .out = out, .max = max };

    for (f.cpu = 0; f.cpu < s->nr_cpus && f.n < max; f.cpu++)
        csdq_for_each(&s->cpus[f.cpu].csdq, ipi_in_flight, &f);
    return f.n;
}

double sim_progress(const struct sim *s)
{
    return s->src.progress ? s->src.progress(s->src.ctx) : 0.0;
}
