/* sim/engine/sim.c - the simulation engine.  See sim.h for the time model.
 *
 * Layout: reading (the read-ahead window and barriers), the per-CPU run
 * loop, interrupts (call_single_queue and acknowledgements), the initiator's
 * side of a shootdown, the ops, and the public API.
 */
#include "sim.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../models/apic.h"
#include "ev.h"

#define WINDOW_OPS_DEFAULT 65536u
#define WINDOW_ADDRS (1u << 22)         /* buffered access addresses (32 MiB) */
#define MM_HASH_BITS 17                 /* > 2 * TRACE_MAX_MMS slots */
#define MM_HASH_SIZE (1u << MM_HASH_BITS)
#define USER_VA_END (1ull << 56)        /* above any lower-half address */

/* One queued flush request on a target (the kernel's call_single_data). */
struct csd {
    struct csd *next;
    struct shootdown *sd;
    cycles_t sent, arrival;
};

/* The initiator's side of one flush request (pooled: a deferred request
 * outlives the op that made it). */
struct shootdown {
    struct flush_tlb_info info;
    struct flush_rec rec;
    struct mmu_gather gather;           /* pages and tables freed when done */
    struct mm *mm;                      /* NULL for kernel and batched flushes */
    struct mm **mms;                    /* batched: one entry per batched op */
    u32 nr_mms, cap_mms;
    u32 pending;                        /* acknowledgements outstanding */
    cycles_t local_done;                /* the initiator's own part finished */
    cycles_t last_ack;                  /* latest acknowledgement seen */
    bool exit_mm;                       /* mm_exit: tear the mm down when done */
    struct shootdown *next_free;
    struct shootdown *all_next;         /* every one allocated, for teardown */
};

/* A CPU's pending arch_tlbbatch (policy "batched"). */
struct tlbbatch {
    struct shootdown *sd;               /* gathers frames and mms; NULL: empty */
    struct cpumask cpumask;             /* union of the mms' cpumasks */
    u64 pages;
    cycles_t start;                     /* first page added */
};

struct sim_cpu {
    struct cpu hw;                      /* models/cpu.h state; hw.now is the clock */
    struct sim *s;
    struct ev run_ev;                   /* the CPU's next turn */
    bool starved;                       /* nothing queued: no run event until input */
    bool spinning;                      /* waiting for its shootdown's acks */

    /* trace ops in program order */
    struct trace_op *q;                 /* ring of q_cap (power of two) */
    u32 q_head, q_len, q_cap;
    u64 *ring;                          /* access addresses, FIFO like q */
    size_t r_head, r_len, r_cap;
    struct trace_op cur;                /* op being executed */
    bool has_cur, started, gap_busy, waiting_busy;
    cycles_t start_at;                  /* when cur may start */
    u64 idx;                            /* references of cur done */

    struct mm *task_mm;                 /* current task's mm; NULL: kernel thread */
    bool idle;                          /* in an idle op (C-state) */
    u8 cstate;
    bool preempted;                     /* vCPU descheduled by the host */
    bool pv_flush_pending;              /* KVM_VCPU_FLUSH_TLB set while preempted */
    cycles_t irqs_off_until;

    struct csd *irq_head;               /* pending requests, by arrival */
    struct csd *deferred;               /* lazy-deferred invalidations, FIFO */
    cycles_t tick_at;                   /* next tick that handles them */
    struct shootdown *sd_wait;          /* the flush it spins on */
    struct tlbbatch batch;
};

struct mm_hslot { s64 id; struct mm *mm; };

struct sim {
    struct machine m;
    const struct flush_policy *pol;
    struct trace_reader *r;
    struct trace_header hdr;
    const char *path;
    struct sim_hooks hooks;
    struct ev_queue q;
    cycles_t now;                       /* time of the last event fired */
    u32 nr_cpus;
    struct sim_cpu *cpus;
    struct sim_cpu *running;            /* CPU whose run loop is active */
    cycles_t *arrival;                  /* scratch, nr_cpus */
    struct cpu **cpu_ptrs;              /* env.cpus */

    struct frame_alloc frames;
    struct pt_ctx ptc;
    struct mm init_mm;
    struct mm_hslot *mm_hash;           /* trace id -> mm */
    struct mm **mm_by_idx;              /* idx -> mm (1..TRACE_MAX_MMS) */
    u16 *free_idx;
    u32 nr_free_idx;
    u64 next_ctx_id;

    struct flush_env env;
    struct sim_totals eng;              /* engine counters (cpu part unused) */
    struct hist lat;
    struct csd *csd_free;
    struct shootdown *sd_free;
    struct shootdown *sd_all;

    /* reading */
    u32 window_ops;
    u32 buffered_ops;
    size_t buffered_addrs;
    bool eof;
    bool has_barrier;
    struct trace_op barrier;
    char barrier_label[TRACE_MAX_LABEL + 1];

    cycles_t last_op_end;               /* latest clock at which a trace op ended */

    /* timeline */
    cycles_t interval, interval_t0;
    struct sim_totals last;

    bool check;
    u64 checks;
    int fail;
    struct sim_err err;
    volatile sig_atomic_t stop;
};

static int fail(struct sim *s, int code, u64 line, const char *field, const char *msg)
{
    if (!s->fail) {
        s->fail = code;
        sim_err_set(&s->err, code, "%s:%llu: %s: %s", s->path,
                    (unsigned long long)line, field, msg);
    }
    return code;
}

static int fail_err(struct sim *s, u64 line, const char *field, const struct sim_err *e)
{
    return fail(s, e->code ? e->code : SIM_EINVAL, line, field, e->msg);
}

/* ==== address spaces ===================================================== */

static u32 mm_hash_of(s64 id)
{
    u64 h = (u64)id * 0x9e3779b97f4a7c15ull;
    return (u32)(h >> (64 - MM_HASH_BITS));
}

static struct mm *mm_lookup(struct sim *s, s64 id)
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
    int rc;

    if (!s->nr_free_idx)
        return fail(s, SIM_ELIMIT, op->line, "mm", "too many live address spaces");
    mm = malloc(sizeof(*mm));
    if (!mm)
        return fail(s, SIM_ENOMEM, op->line, "mm", "out of memory");
    rc = mm_init(mm, op->mm, s->free_idx[s->nr_free_idx - 1], s->next_ctx_id++,
                 &s->ptc, &s->m, &s->init_mm, &e);
    if (rc) {
        free(mm);
        return fail_err(s, op->line, "mm", &e);
    }
    s->nr_free_idx--;
    /* init_new_context(): the first trim is a second after creation. */
    s->env.now = s->now;
    mm->next_trim_cpumask = flush_jiffies(&s->env) + s->m.hz;
    s->mm_by_idx[mm->idx] = mm;
    mm_hash_insert(s, mm);
    return SIM_OK;
}

static void mm_release(struct sim *s, struct mm *mm)
{
    mm_hash_remove(s, mm->id);
    s->mm_by_idx[mm->idx] = NULL;
    s->free_idx[s->nr_free_idx++] = mm->idx;
    mm_destroy(mm);
    free(mm);
}

/* ==== reading ============================================================ */

static bool op_is_barrier(const struct trace_op *op)
{
    return op->type == OP_MM_NEW || op->type == OP_MM_EXIT || op->type == OP_MARK ||
           (op->type == OP_MAP && !(op->flags & OPF_CPU));
}

static void wake_at(struct sim *s, struct sim_cpu *sc, cycles_t t)
{
    if (s->running == sc)
        return;                         /* its own loop will see the change */
    if (t < sc->hw.now)
        t = sc->hw.now;
    if (!ev_queued(&sc->run_ev) || sc->run_ev.when > t)
        ev_schedule(&s->q, &sc->run_ev, t);
}

static int grow_ring(struct sim_cpu *sc, size_t need)
{
    size_t cap = sc->r_cap ? sc->r_cap : 64;
    u64 *n;

    while (cap < sc->r_len + need)
        cap *= 2;
    if (cap == sc->r_cap)
        return SIM_OK;
    n = malloc(cap * sizeof(*n));
    if (!n)
        return SIM_ENOMEM;
    for (size_t i = 0; i < sc->r_len; i++)
        n[i] = sc->ring[(sc->r_head + i) & (sc->r_cap - 1)];
    free(sc->ring);
    sc->ring = n;
    sc->r_head = 0;
    sc->r_cap = cap;
    return SIM_OK;
}

static int grow_q(struct sim_cpu *sc)
{
    u32 cap = sc->q_cap ? sc->q_cap * 2 : 16;
    struct trace_op *n = malloc(cap * sizeof(*n));

    if (!n)
        return SIM_ENOMEM;
    for (u32 i = 0; i < sc->q_len; i++)
        n[i] = sc->q[(sc->q_head + i) & (sc->q_cap - 1)];
    free(sc->q);
    sc->q = n;
    sc->q_head = 0;
    sc->q_cap = cap;
    return SIM_OK;
}

static int enqueue(struct sim *s, const struct trace_op *op)
{
    struct sim_cpu *sc = &s->cpus[op->cpu];
    struct trace_op *slot;

    if (sc->q_len == sc->q_cap && grow_q(sc))
        return fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
    if (op->type == OP_ACCESS) {
        if (grow_ring(sc, op->nr_va))
            return fail(s, SIM_ENOMEM, op->line, "va", "out of memory");
        for (u32 i = 0; i < op->nr_va; i++)
            sc->ring[(sc->r_head + sc->r_len + i) & (sc->r_cap - 1)] = op->vas[i];
        sc->r_len += op->nr_va;
        s->buffered_addrs += op->nr_va;
    }
    slot = &sc->q[(sc->q_head + sc->q_len++) & (sc->q_cap - 1)];
    *slot = *op;
    slot->vas = NULL;
    slot->label = NULL;
    s->buffered_ops++;
    if (sc->starved) {
        sc->starved = false;
        wake_at(s, sc, s->now);
    }
    return SIM_OK;
}

/* Read ahead until the window is full, the file ends, or a barrier op
 * comes (it waits in s->barrier until everything before it is done). */
static int pump(struct sim *s)
{
    struct trace_op op;
    int rc;

    while (!s->eof && !s->has_barrier && !s->fail &&
           s->buffered_ops < s->window_ops && s->buffered_addrs < WINDOW_ADDRS) {
        rc = trace_next(s->r, &op, &s->err);
        if (rc < 0)
            return s->fail = rc;
        if (rc == 0) {
            s->eof = true;
            break;
        }
        if (op_is_barrier(&op)) {
            s->barrier = op;
            s->barrier.vas = NULL;
            if (op.type == OP_MARK) {
                snprintf(s->barrier_label, sizeof(s->barrier_label), "%s", op.label);
                s->barrier.label = s->barrier_label;
            }
            s->has_barrier = true;
            break;
        }
        if ((rc = enqueue(s, &op)))
            return rc;
    }
    return SIM_OK;
}

static bool fetch_op(struct sim *s, struct sim_cpu *sc)
{
    if (!sc->q_len)
        return false;
    sc->cur = sc->q[sc->q_head];
    sc->q_head = (sc->q_head + 1) & (sc->q_cap - 1);
    sc->q_len--;
    s->buffered_ops--;
    sc->has_cur = true;
    sc->started = false;
    sc->idx = 0;
    return true;
}

static void op_done(struct sim *s, struct sim_cpu *sc)
{
    if (sc->cur.type == OP_ACCESS) {
        sc->r_head = (sc->r_head + sc->cur.nr_va) & (sc->r_cap - 1);
        sc->r_len -= sc->cur.nr_va;
        s->buffered_addrs -= sc->cur.nr_va;
    }
    sc->has_cur = false;
    s->eng.ops++;
    if (sc->hw.now > s->last_op_end)
        s->last_op_end = sc->hw.now;
}

/* ==== interrupts ========================================================= */

static cycles_t irq_time(const struct sim_cpu *sc)
{
    cycles_t t = CYCLES_NEVER;

    if (sc->preempted)
        return CYCLES_NEVER;
    if (sc->irq_head)
        t = sc->irq_head->arrival;
    if (sc->deferred && sc->tick_at < t)
        t = sc->tick_at;                /* the tick that runs deferred work */
    if (t != CYCLES_NEVER && t < sc->irqs_off_until)
        t = sc->irqs_off_until;
    return t;
}

static struct csd *csd_get(struct sim *s)
{
    struct csd *c = s->csd_free;

    if (c) {
        s->csd_free = c->next;
        return c;
    }
    return malloc(sizeof(*c));
}

static void csd_put(struct sim *s, struct csd *c)
{
    c->next = s->csd_free;
    s->csd_free = c;
}

static int post_csd(struct sim *s, struct sim_cpu *tc, struct shootdown *sd,
                    cycles_t sent, cycles_t arrival)
{
    struct csd *c = csd_get(s), **pp = &tc->irq_head;

    if (!c)
        return SIM_ENOMEM;
    *c = (struct csd){ .sd = sd, .sent = sent, .arrival = arrival };
    while (*pp && (*pp)->arrival <= arrival)
        pp = &(*pp)->next;
    c->next = *pp;
    *pp = c;
    if (irq_time(tc) != CYCLES_NEVER)
        wake_at(s, tc, irq_time(tc));
    return SIM_OK;
}

static void sd_complete(struct sim *s, struct shootdown *sd);

static void sd_ack(struct sim *s, struct shootdown *sd, cycles_t when)
{
    when += s->m.ack_cycles;
    if (when > sd->last_ack)
        sd->last_ack = when;
    if (--sd->pending == 0)
        sd_complete(s, sd);
}

static cycles_t cstate_exit(const struct sim *s, const struct sim_cpu *sc)
{
    if (!sc->idle)
        return 0;
    return sc->cstate >= 6 ? s->m.c6_exit_cycles : s->m.c1_exit_cycles;
}

/* ---- lazy-deferred invalidation (LATR) ----------------------------------- */

/* Invalidate what a deferred request asked of this CPU: its pages when the
 * mm is loaded here (a lazy CPU too: its TLB still holds them). */
static cycles_t deferred_invalidate(struct sim *s, struct sim_cpu *sc,
                                    const struct shootdown *sd)
{
    struct cpu *c = &sc->hw;
    const struct flush_tlb_info *f = &sd->info;
    cycles_t cost = s->m.handler_cycles;

    if (c->loaded_mm != sd->mm)
        return cost;
    if (f->end == TLB_FLUSH_ALL) {
        cpu_flush_tlb_local(c);
        c->st.flush_full++;
        return cost + s->m.cr3_flush_cycles;
    }
    for (u64 a = f->start; a < f->end; a += 1ull << f->stride_shift) {
        cpu_invlpg(c, a);
        c->st.flush_pages++;
        cost += s->m.invlpg_cycles;
    }
    return cost;
}

/* Run every deferred request queued on sc (at a tick or a context switch),
 * starting at sc's clock.  Returns the cycles spent. */
static cycles_t run_deferred(struct sim *s, struct sim_cpu *sc)
{
    cycles_t t = sc->hw.now, cost = 0;

    while (sc->deferred) {
        struct csd *q = sc->deferred;

        sc->deferred = q->next;
        cost += deferred_invalidate(s, sc, q->sd);
        s->eng.deferred_invalidations++;
        sd_ack(s, q->sd, t + cost);
        csd_put(s, q);
    }
    sc->tick_at = CYCLES_NEVER;
    return cost;
}

static void post_deferred(struct sim *s, struct sim_cpu *tc, struct shootdown *sd)
{
    struct csd *c = csd_get(s), **pp = &tc->deferred;
    u64 tick = s->m.deferred_tick_cycles;

    *c = (struct csd){ .sd = sd, .sent = tc->hw.now, .arrival = CYCLES_NEVER };
    while (*pp)
        pp = &(*pp)->next;
    *pp = c;
    if (tc->tick_at == CYCLES_NEVER) {
        /* The next scheduler tick of that CPU (ticks staggered per CPU). */
        cycles_t base = s->now > tc->hw.now ? s->now : tc->hw.now;
        cycles_t phase = (tick / s->nr_cpus) * tc->hw.id;
        tc->tick_at = ((base + tick - phase) / tick) * tick + phase;
        if (tc->tick_at <= base)
            tc->tick_at += tick;
    }
    if (irq_time(tc) != CYCLES_NEVER)
        wake_at(s, tc, irq_time(tc));
}

/* The flush IPI handler: drain call_single_queue, acknowledging each
 * request after its flush_tlb_func (or before it, with early-ack).  A due
 * tick runs the deferred invalidations. */
static void handle_irqs(struct sim *s, struct sim_cpu *sc)
{
    struct cpu *c = &sc->hw;
    cycles_t t = c->now, cost = s->m.irq_entry_cycles + cstate_exit(s, sc);
    u32 handled = 0;

    while (sc->irq_head && sc->irq_head->arrival <= t + cost) {
        struct csd *q = sc->irq_head;
        struct shootdown *sd = q->sd;

        sc->irq_head = q->next;
        csd_put(s, q);
        s->env.now = t + cost;
        cycles_t early = t + cost;      /* early-ack: before the flush work */
        cost += flush_tlb_func(&s->env, c, &sd->info, false);
        c->st.ipis_received++;
        handled++;
        /* Acknowledged after flush_tlb_func returns (the csd unlock), or,
         * with early-ack, at its start; the handler runs no user code in
         * between, so both are safe. */
        sd_ack(s, sd, s->pol->early_ack ? early : t + cost);
    }
    if (sc->deferred && sc->tick_at <= t + cost) {
        c->now = t + cost;
        cost += run_deferred(s, sc);
    }
    cost += s->m.irq_exit_cycles;
    c->now = t + cost;
    if (s->hooks.irq)
        s->hooks.irq(s->hooks.arg, c->id, t, t + cost, handled);
    c->st.handler_cycles += cost;
    c->st.busy_cycles += cost;
    if (sc->started && sc->gap_busy)
        sc->start_at += cost;           /* the interrupted work resumes after */
}

/* ==== shootdowns: the initiator ========================================= */

static void trace_hook(void *arg, u32 cpu, enum tlb_flush_reason r, s64 pages)
{
    struct sim *s = arg;
    struct sim_cpu *sc = &s->cpus[cpu];

    if (s->hooks.tlb_event)
        s->hooks.tlb_event(s->hooks.arg, sc->hw.now, cpu,
                           sc->task_mm ? sc->task_mm->id : -1, sc->idle, r, pages);
}

static struct shootdown *sd_get(struct sim *s)
{
    struct shootdown *sd = s->sd_free;

    if (sd) {
        s->sd_free = sd->next_free;
    } else {
        if (!(sd = calloc(1, sizeof(*sd))))
            return NULL;
        sd->all_next = s->sd_all;
        s->sd_all = sd;
        mmu_gather_init(&sd->gather);
    }
    /* A recycled one had mmu_gather_finish(): empty, array kept. */
    sd->nr_mms = 0;
    sd->pending = 0;
    sd->last_ack = 0;
    sd->exit_mm = false;
    sd->mm = NULL;
    return sd;
}

static void sd_put(struct sim *s, struct shootdown *sd)
{
    sd->next_free = s->sd_free;
    s->sd_free = sd;
}

static void release_lazy_users(struct sim *s, struct mm *mm)
{
    for (u32 i = 0; i < s->nr_cpus; i++)
        if (s->cpus[i].hw.loaded_mm == mm)
            switch_mm_irqs_off(&s->env, &s->cpus[i].hw, &s->init_mm);
}

static bool check_completion(struct sim *s, const struct shootdown *sd)
{
    if (!s->check || !sd->mm || s->pol->transport != XPORT_IPI)
        return true;
    /* Once a shootdown completes, no non-lazy CPU running the mm is behind
     * the generation it asked for (style.md rule 15). */
    for (u32 i = 0; i < s->nr_cpus; i++) {
        const struct cpu *c = &s->cpus[i].hw;
        if (c->loaded_mm == sd->mm && !c->is_lazy &&
            c->tlb_gen < sd->info.new_tlb_gen)
            return false;
    }
    return true;
}

static void sd_complete(struct sim *s, struct shootdown *sd)
{
    struct sim_cpu *ic = &s->cpus[sd->info.initiating_cpu];
    cycles_t t = sd->last_ack > sd->local_done ? sd->last_ack : sd->local_done;

    sd->rec.t_done = t;
    if (sd->rec.targets) {
        s->eng.shootdowns++;
        hist_add(&s->lat, t - sd->rec.t_request);
    }
    if (!check_completion(s, sd))
        fail(s, SIM_EINTERNAL, sd->rec.line, "invariant",
             "a CPU running the mm is behind the completed flush's tlb_gen");
    if (s->hooks.flush)
        s->hooks.flush(s->hooks.arg, &sd->rec);
    if (sd->mm)
        sd->mm->flush_inflight--;
    for (u32 i = 0; i < sd->nr_mms; i++)
        sd->mms[i]->flush_inflight--;
    mmu_gather_finish(&s->ptc, &sd->gather);
    if (sd->exit_mm) {
        release_lazy_users(s, sd->mm);
        mm_release(s, sd->mm);
    }
    if (ic->sd_wait == sd) {
        ic->sd_wait = NULL;
        if (t > sd->local_done)
            ic->hw.st.spin_cycles += t - sd->local_done;
        if (ic->hw.now < t)
            ic->hw.now = t;
        if (ic->spinning) {
            ic->spinning = false;
            wake_at(s, ic, ic->hw.now);
        }
    }
    sd_put(s, sd);
}

/* Send the request to every target by IPI (native or KVM PV send-IPI). */
static int deliver_ipis(struct sim *s, struct sim_cpu *sc, struct shootdown *sd,
                        const struct flush_targets *tg, cycles_t at,
                        struct apic_send *snd)
{
    u32 cpu;

    apic_send_ipi_mask(&s->m, sc->hw.id, &tg->mask, s->pol->transport == XPORT_PV_KVM,
                       at, s->arrival, snd);
    for_each_cpu(cpu, &tg->mask, s->nr_cpus)
        if (post_csd(s, &s->cpus[cpu], sd, at, s->arrival[cpu]))
            return SIM_ENOMEM;
    return SIM_OK;
}

/* kvm_flush_tlb_multi(): a preempted vCPU is not IPI'd; KVM_VCPU_FLUSH_TLB
 * makes it flush everything when the host runs it again. */
static void pv_kvm_filter(struct sim *s, struct flush_targets *tg)
{
    u32 cpu;

    for_each_cpu(cpu, &tg->mask, s->nr_cpus) {
        struct sim_cpu *tc = &s->cpus[cpu];
        if (!tc->preempted)
            continue;
        tc->pv_flush_pending = true;
        cpumask_clear_cpu(cpu, &tg->mask);
        tg->nr--;
        s->eng.pv_skipped_preempted++;
    }
}

/* Work done on a target by the hypervisor (Hyper-V) or by hardware
 * (broadcast): the target's TLB changes without its CPU running a handler,
 * and its tlb_gen does not move. */
static void remote_invalidate(struct sim *s, struct sim_cpu *tc, const struct flush_tlb_info *f)
{
    struct cpu *c = &tc->hw;
    unsigned shift = f->kernel ? PAGE_SHIFT_4K : f->stride_shift;

    if (!f->kernel && f->mm && c->loaded_mm != f->mm)
        return;                         /* PCID-less: no entries of it here */
    if (f->end == TLB_FLUSH_ALL) {
        if (f->kernel)
            cpu_flush_tlb_global(c);
        else
            cpu_flush_tlb_local(c);
        c->st.flush_full++;
        return;
    }
    for (u64 a = f->start; a < f->end; a += 1ull << shift) {
        cpu_invlpg(c, a);
        c->st.flush_pages++;
    }
}

static u64 range_units(const struct flush_tlb_info *f)
{
    return f->end == TLB_FLUSH_ALL ? 0 : (f->end - f->start) >> f->stride_shift;
}

/* HvFlushVirtualAddressSpace (full) or HvFlushVirtualAddressList (range):
 * one hypercall; the hypervisor flushes the targets and returns when done. */
static cycles_t deliver_hyperv(struct sim *s, struct shootdown *sd,
                               const struct flush_targets *tg)
{
    const struct flush_tlb_info *f = &sd->info;
    cycles_t work = f->end == TLB_FLUSH_ALL ? s->m.cr3_flush_cycles
                                            : range_units(f) * s->m.hv_flush_page_cycles;
    u32 cpu;

    for_each_cpu(cpu, &tg->mask, s->nr_cpus)
        remote_invalidate(s, &s->cpus[cpu], f);
    s->eng.hypercalls++;
    /* The host reaches running targets with its own (cheap, unvirtualised)
     * IPIs; the hypercall returns after the slowest. */
    return s->m.hypercall_cycles + (tg->nr ? s->m.ipi_delivery_cycles : 0) + work;
}

/* broadcast_tlb_flush(): INVLPGB in chunks of invlpgb_count_max pages (one
 * per huge page beyond 2M strides), then TLBSYNC. */
static cycles_t deliver_broadcast(struct sim *s, struct sim_cpu *sc, struct shootdown *sd,
                                  const struct flush_targets *tg)
{
    const struct flush_tlb_info *f = &sd->info;
    u64 units = range_units(f), n;
    u32 cpu;

    if (f->end == TLB_FLUSH_ALL)
        n = 1;
    else if (f->stride_shift > PAGE_SHIFT_2M)
        n = units;
    else
        n = (units + s->m.invlpgb_count_max - 1) / s->m.invlpgb_count_max;
    for_each_cpu(cpu, &tg->mask, s->nr_cpus)
        remote_invalidate(s, &s->cpus[cpu], f);
    remote_invalidate(s, sc, f);        /* INVLPGB covers the issuing CPU too */
    s->eng.broadcasts += n;
    return n * s->m.invlpgb_cycles + s->m.tlbsync_cycles;
}

/* Broadcast and Hyper-V flush every CPU that may hold entries: those the
 * policy would IPI (lazy skipped unless freed_tables); a target that runs
 * another mm holds none (PCID-less), so it is dropped. */
static void keep_holders(struct sim *s, const struct flush_tlb_info *f, struct flush_targets *tg)
{
    u32 cpu;

    if (f->kernel)
        return;
    for_each_cpu(cpu, &tg->mask, s->nr_cpus)
        if (f->mm && s->cpus[cpu].hw.loaded_mm != f->mm) {
            cpumask_clear_cpu(cpu, &tg->mask);
            tg->nr--;
        }
}

/* flush_tlb_mm_range() (mm set), flush_tlb_kernel_range() (kernel) or
 * arch_tlbbatch_flush() (batch mask given) on initiator sc at its clock,
 * through the policy's transport.  sd carries the gather. */
static int flush_request(struct sim *s, struct sim_cpu *sc, struct shootdown *sd,
                         struct mm *mm, u64 start, u64 end, u8 stride_shift,
                         bool freed_tables, const struct trace_op *op,
                         const struct cpumask *batch_mask)
{
    struct cpu *c = &sc->hw;
    const struct flush_policy *pol = s->pol;
    cycles_t t0 = c->now, cost = s->m.flush_request_cycles;
    struct flush_targets tg;
    struct apic_send snd = { 0 };
    bool local_first = !pol->concurrent_local, spin = true;
    const struct cpumask *mask = batch_mask ? batch_mask : mm ? &mm->cpumask : NULL;
    u32 cpu, others;
    enum flush_transport xp = pol->transport;

    /* LATR defers only what frees memory (munmap, MADV_DONTNEED,
     * migration); permission changes, explicit and kernel flushes, and
     * exits still need the synchronous path. */
    if (xp == XPORT_DEFERRED &&
        !(op && (op->type == OP_UNMAP || op->type == OP_ZAP || op->type == OP_MIGRATE)))
        xp = XPORT_IPI;
    s->env.now = t0;
    if (batch_mask)
        sd->info = (struct flush_tlb_info){ .mm = NULL, .start = 0, .end = TLB_FLUSH_ALL,
                                            .new_tlb_gen = TLB_GENERATION_INVALID,
                                            .initiating_cpu = c->id };
    else if (mm)
        flush_tlb_info_init(&s->env, &sd->info, mm, start, end, stride_shift,
                            freed_tables, c->id);
    else
        flush_tlb_kernel_info_init(&s->env, &sd->info, start, end, c->id);
    sd->mm = mm;
    s->eng.flush_requests++;
    if (mm)
        mm->flush_inflight++;
    flush_choose_targets(&s->env, &sd->info, mask, &tg);
    others = mask ? cpumask_weight(mask) - cpumask_test_cpu(c->id, mask) : 0;
    if (others && xp != XPORT_DEFERRED && xp != XPORT_BROADCAST) {
        /* native_flush_tlb_multi() runs (and counts) whenever another CPU
         * is in the mask, even if every one of them is then skipped. */
        c->st.nr_tlb_remote_flush++;
        trace_hook(s, c->id, TLB_REMOTE_SEND_IPI,
                   sd->info.end == TLB_FLUSH_ALL ? -1
                   : (s64)((sd->info.end - sd->info.start) >> PAGE_SHIFT_4K));
    }
    if (local_first && tg.local)
        cost += flush_tlb_func(&s->env, c, &sd->info, true);
    switch (xp) {
    case XPORT_PV_KVM:
        pv_kvm_filter(s, &tg);
        /* fall through */
    case XPORT_IPI:
        if (tg.nr) {
            if (deliver_ipis(s, sc, sd, &tg, t0 + cost, &snd))
                return fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
            cost += snd.send_cycles;
        }
        break;
    case XPORT_HYPERV:
        keep_holders(s, &sd->info, &tg);
        cost += deliver_hyperv(s, sd, &tg);
        snd.writes = 1;                 /* one hypercall */
        spin = false;
        break;
    case XPORT_BROADCAST:
        /* INVLPGB reaches every CPU, lazy ones included: the targets are
         * simply the CPUs that hold entries of the mm. */
        if (mm && !sd->info.kernel) {
            cpumask_clear(&tg.mask);
            tg.nr = tg.skipped_lazy = tg.skipped_other = 0;
            for (cpu = 0; cpu < s->nr_cpus; cpu++)
                if (cpu != c->id && s->cpus[cpu].hw.loaded_mm == mm) {
                    cpumask_set_cpu(cpu, &tg.mask);
                    tg.nr++;
                }
        }
        cost += deliver_broadcast(s, sc, sd, &tg);
        tg.local = false;               /* the broadcast covered it */
        spin = false;
        break;
    case XPORT_DEFERRED:
        /* Every other CPU in the mask, lazy or not, will invalidate at its
         * next tick or context switch: nobody is interrupted. */
        {
            cpumask_clear(&tg.mask);
            tg.nr = 0;
            for_each_cpu(cpu, mask, s->nr_cpus)
                if (cpu != c->id) {
                    cpumask_set_cpu(cpu, &tg.mask);
                    tg.nr++;
                }
            tg.skipped_lazy = tg.skipped_other = 0;
            tg.local = mm && c->loaded_mm == mm;
        }
        break;
    }
    if (!local_first && tg.local)
        cost += flush_tlb_func(&s->env, c, &sd->info, true);

    sd->rec = (struct flush_rec){
        .t_request = t0, .initiator = c->id, .mm = mm ? mm->id : -1,
        .cause = op ? trace_op_name(op->type) : "batch", .start = start, .end = end,
        .pages = end == TLB_FLUSH_ALL ? 0 : (end - start) >> PAGE_SHIFT_4K,
        .full = sd->info.end == TLB_FLUSH_ALL, .freed_tables = freed_tables,
        .targets = tg.nr, .icr_writes = snd.writes,
        .skipped_lazy = tg.skipped_lazy, .skipped_other = tg.skipped_other,
        .line = op ? op->line : 0,
    };
    if (s->hooks.flush_start)
        s->hooks.flush_start(s->hooks.arg, &sd->rec, &tg.mask, &tg.lazy);
    if (xp == XPORT_IPI || xp == XPORT_PV_KVM)
        s->eng.ipis_sent += tg.nr;
    s->eng.icr_writes += snd.writes;
    s->eng.ipis_skipped_lazy += tg.skipped_lazy;
    s->eng.ipis_skipped_other += tg.skipped_other;
    c->now = t0 + cost;
    c->st.busy_cycles += cost;
    sd->local_done = c->now;
    if (xp == XPORT_DEFERRED && tg.nr) {
        sd->pending = tg.nr;
        if (pol->free_after == FREE_AT_ONCE)
            mmu_gather_finish(&s->ptc, &sd->gather);
        for_each_cpu(cpu, &tg.mask, s->nr_cpus)
            post_deferred(s, &s->cpus[cpu], sd);
        return SIM_OK;                  /* the initiator goes on */
    }
    if (!spin || !tg.nr) {
        sd->pending = 0;
        sd_complete(s, sd);
        return SIM_OK;
    }
    sd->pending = tg.nr;
    sc->sd_wait = sd;
    sc->spinning = true;
    return SIM_OK;
}

/* ---- batched flushes (arch_tlbbatch) -------------------------------------- */

static int batch_flush(struct sim *s, struct sim_cpu *sc)
{
    struct tlbbatch *b = &sc->batch;
    struct shootdown *sd = b->sd;
    struct cpumask mask = b->cpumask;

    b->sd = NULL;
    b->pages = 0;
    cpumask_clear(&b->cpumask);
    return flush_request(s, sc, sd, NULL, 0, TLB_FLUSH_ALL, PAGE_SHIFT_4K, false, NULL, &mask);
}

/* try_to_unmap_one() with TTU_BATCH_FLUSH: the PTEs changed, tlb_gen moved
 * (arch_tlbbatch_add_pending), the flush waits for the batch. */
static int batch_add(struct sim *s, struct sim_cpu *sc, struct mm *mm,
                     struct mmu_gather *g, const struct trace_op *op)
{
    struct tlbbatch *b = &sc->batch;
    struct shootdown *sd = b->sd;

    if (!sd) {
        if (!(sd = b->sd = sd_get(s)))
            return fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
        b->start = sc->hw.now;
    }
    if (sd->nr_mms == sd->cap_mms) {
        u32 cap = sd->cap_mms ? 2 * sd->cap_mms : 8;
        struct mm **n = realloc(sd->mms, cap * sizeof(*n));
        if (!n)
            return fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
        sd->mms = n;
        sd->cap_mms = cap;
    }
    sd->mms[sd->nr_mms++] = mm;
    mm->flush_inflight++;
    inc_mm_tlb_gen(mm);
    for (u32 w = 0; w < CPUMASK_WORDS; w++)
        b->cpumask.bits[w] |= mm->cpumask.bits[w];
    /* Move the frames over: they are freed after the batch's flush. */
    for (size_t i = 0; i < g->nr_frames; i++) {
        if (sd->gather.nr_frames == sd->gather.cap_frames) {
            size_t cap = sd->gather.cap_frames ? 2 * sd->gather.cap_frames : 64;
            u64 *n = realloc(sd->gather.frames, cap * sizeof(*n));
            if (!n)
                return fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
            sd->gather.frames = n;
            sd->gather.cap_frames = cap;
        }
        sd->gather.frames[sd->gather.nr_frames++] = g->frames[i];
    }
    b->pages += g->nr_ptes;
    s->eng.batched_pages += g->nr_ptes;
    g->nr_frames = 0;
    mmu_gather_finish(&s->ptc, g);
    if (b->pages >= s->m.batch_pages)
        return batch_flush(s, sc);
    return SIM_OK;
}

static bool batch_due(const struct sim *s, const struct sim_cpu *sc)
{
    return sc->batch.sd && sc->hw.now - sc->batch.start >= s->m.batch_window_cycles;
}

/* ==== ops ================================================================= */

static int op_change(struct sim *s, struct sim_cpu *sc, const struct trace_op *op)
{
    struct mm *mm = mm_lookup(s, op->mm);
    struct shootdown *sd;
    struct mmu_gather *g;
    struct sim_err e = { 0 };
    bool reduced = false, flush;
    int rc;

    if (!mm)
        return fail(s, SIM_ENOENT, op->line, "mm", "address space does not exist");
    if (!(sd = sd_get(s)))
        return fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
    g = &sd->gather;
    switch (op->type) {
    case OP_UNMAP:
        rc = pt_unmap(&mm->pt, op->va, op->len, g, &e);
        if (!rc)
            rc = vma_remove(&mm->vmas, op->va, op->va + op->len, &e);
        flush = g->nr_ptes > 0;
        break;
    case OP_ZAP:
        rc = pt_zap(&mm->pt, op->va, op->len, g, &e);
        flush = g->nr_ptes > 0;
        break;
    case OP_MIGRATE:
        rc = pt_migrate(&mm->pt, op->va, op->len, g, &e);
        flush = g->nr_ptes > 0;
        break;
    default: {
        u64 f = mm_prot_flags(op->prot, !va_is_kernel(op->va), false);
        rc = pt_protect(&mm->pt, op->va, op->len, f, &reduced, g, &e);
        if (!rc)
            rc = vma_protect(&mm->vmas, op->va, op->va + op->len, f, &e);
        /* Upgrades need no flush: x86 re-walks on the spurious fault. */
        flush = reduced;
        break;
    }
    }
    if (!rc && g->nr_ptes)
        mm_pte_changed(mm);
    if (rc || !flush) {
        mmu_gather_finish(&s->ptc, g);
        sd_put(s, sd);
        return rc ? fail_err(s, op->line, "va", &e) : SIM_OK;
    }
    if (s->pol->batch && op->type == OP_MIGRATE) {
        rc = batch_add(s, sc, mm, g, op);
        sd_put(s, sd);
        return rc;
    }
    return flush_request(s, sc, sd, mm, g->start, g->end, (u8)g->stride_shift,
                         g->freed_tables, op, NULL);
}
static int op_flush(struct sim *s, struct sim_cpu *sc, const struct trace_op *op)
{
    struct mm *mm = mm_lookup(s, op->mm);
    bool all = op->flags & OPF_ALL;
    struct shootdown *sd;

    if (!mm)
        return fail(s, SIM_ENOENT, op->line, "mm", "address space does not exist");
    if (!(sd = sd_get(s)))
        return fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
    return flush_request(s, sc, sd, mm, all ? 0 : op->va,
                         all ? TLB_FLUSH_ALL : op->va + op->len,
                         op->stride_shift ? op->stride_shift : PAGE_SHIFT_4K,
                         op->flags & OPF_FREED_TABLES, op, NULL);
}

static int op_kflush(struct sim *s, struct sim_cpu *sc, const struct trace_op *op)
{
    struct shootdown *sd = sd_get(s);

    if (!sd)
        return fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
    return flush_request(s, sc, sd, NULL, op->va, op->va + op->len, PAGE_SHIFT_4K,
                         false, op, NULL);
}

/* A context switch is also where LATR runs its deferred invalidations. */
static void switch_point(struct sim *s, struct sim_cpu *sc)
{
    if (sc->deferred) {
        cycles_t cost = run_deferred(s, sc);
        sc->hw.now += cost;
        sc->hw.st.busy_cycles += cost;
    }
}

static int op_switch(struct sim *s, struct sim_cpu *sc, const struct trace_op *op)
{
    struct cpu *c = &sc->hw;
    u32 cost;

    switch_point(s, sc);
    if (op->mm == MM_NULL) {
        sc->task_mm = NULL;
        enter_lazy_tlb(&s->env, c);
        return SIM_OK;
    }
    sc->task_mm = mm_lookup(s, op->mm);
    if (!sc->task_mm)
        return fail(s, SIM_ENOENT, op->line, "mm", "address space does not exist");
    s->env.now = c->now;
    cost = switch_mm_irqs_off(&s->env, c, sc->task_mm);
    c->now += cost;
    c->st.busy_cycles += cost;
    return SIM_OK;
}

static void op_idle(struct sim *s, struct sim_cpu *sc, const struct trace_op *op)
{
    struct cpu *c = &sc->hw;

    switch_point(s, sc);
    sc->task_mm = NULL;
    enter_lazy_tlb(&s->env, c);
    sc->idle = true;
    sc->cstate = op->cstate ? op->cstate : 1;
    if (sc->cstate >= 6 && s->m.c6_leave_mm) {
        /* cpuidle_enter_state(): CPUIDLE_FLAG_TLB_FLUSHED states leave_mm(). */
        u32 cost = leave_mm(&s->env, c);
        c->now += cost;
        c->st.busy_cycles += cost;
    }
}

static void op_vcpu_run(struct sim *s, struct sim_cpu *sc)
{
    struct cpu *c = &sc->hw;

    sc->preempted = false;
    if (sc->pv_flush_pending) {
        /* record_steal_time(): KVM_VCPU_FLUSH_TLB set while preempted. */
        sc->pv_flush_pending = false;
        cpu_flush_tlb_local(c);
        c->st.flush_full++;
        c->now += s->m.vcpu_resume_flush_cycles;
        c->st.busy_cycles += s->m.vcpu_resume_flush_cycles;
    }
    if (irq_time(sc) != CYCLES_NEVER)
        wake_at(s, sc, irq_time(sc));
}

static int op_map(struct sim *s, const struct trace_op *op)
{
    struct mm *mm = mm_lookup(s, op->mm);
    struct sim_err e = { 0 };

    if (!mm)
        return fail(s, SIM_ENOENT, op->line, "mm", "address space does not exist");
    if (mm_map(mm, op->va, op->len, op->page_shift, op->prot,
               op->flags & OPF_POPULATE, op->flags & OPF_GLOBAL, &e))
        return fail_err(s, op->line, "va", &e);
    return SIM_OK;
}

static int exec_global(struct sim *s, struct sim_cpu *sc, const struct trace_op *op)
{
    switch (op->type) {
    case OP_SWITCH:
        return op_switch(s, sc, op);
    case OP_IDLE:
        op_idle(s, sc, op);
        return SIM_OK;
    case OP_MAP:
        return op_map(s, op);
    case OP_UNMAP:
    case OP_PROTECT:
    case OP_ZAP:
    case OP_MIGRATE:
        return op_change(s, sc, op);
    case OP_FLUSH:
        return op_flush(s, sc, op);
    case OP_KFLUSH:
        return op_kflush(s, sc, op);
    case OP_VCPU_PREEMPT:
        sc->preempted = true;
        return SIM_OK;
    case OP_VCPU_RUN:
        op_vcpu_run(s, sc);
        return SIM_OK;
    default:
        return fail(s, SIM_EINTERNAL, op->line, "op", "not a CPU op");
    }
}

/* A pending batch must be flushed before this op (its window expired, or
 * the op flushes too: flush_tlb_batched_pending()). */
static bool batch_flush_first(const struct sim *s, const struct sim_cpu *sc,
                              const struct trace_op *op)
{
    if (!sc->batch.sd)
        return false;
    if (batch_due(s, sc))
        return true;
    switch (op->type) {
    case OP_UNMAP: case OP_PROTECT: case OP_ZAP: case OP_FLUSH: case OP_KFLUSH:
        return true;
    default:
        return false;
    }
}

static bool op_is_local(const struct trace_op *op)
{
    return op->type == OP_ACCESS || op->type == OP_STREAM || op->type == OP_IRQS_OFF;
}

/* References until the op ends or the clock reaches stop.  The hot loop:
 * no event queue, no allocation, no logging. */
static bool run_refs(struct sim_cpu *sc, cycles_t stop)
{
    struct cpu *c = &sc->hw;
    const struct trace_op *op = &sc->cur;
    cycles_t now = c->now, t0 = now;
    u64 i = sc->idx;
    u8 kind = op->kind;

    if (op->type == OP_STREAM) {
        u64 n = op->count, va = op->va + i * op->stride;
        for (; i < n && now < stop; i++, va += op->stride)
            now += cpu_access(c, va, kind);
    } else {
        u64 n = op->nr_va;
        size_t mask = sc->r_cap - 1, h = sc->r_head;
        for (; i < n && now < stop; i++) {
            c->now = now;
            now += cpu_access(c, sc->ring[(h + i) & mask], kind);
        }
    }
    c->st.busy_cycles += now - t0;
    c->now = now;
    sc->idx = i;
    return i == (op->type == OP_STREAM ? op->count : op->nr_va);
}

static bool exec_local(struct sim_cpu *sc, cycles_t stop)
{
    struct cpu *c = &sc->hw;

    if (sc->cur.type == OP_IRQS_OFF) {
        sc->irqs_off_until = c->now + sc->cur.cycles;
        c->now += sc->cur.cycles;
        c->st.busy_cycles += sc->cur.cycles;
        return true;
    }
    return run_refs(sc, stop);
}

/* ==== the run loop ======================================================= */

static void go_wait_input(struct sim *s, struct sim_cpu *sc)
{
    sc->starved = true;
    if (irq_time(sc) != CYCLES_NEVER)
        ev_schedule(&s->q, &sc->run_ev, irq_time(sc) > sc->hw.now ? irq_time(sc) : sc->hw.now);
}

/* Start time of cur: `t` is the earliest start (idle until then), `gap`
 * is busy work before it. */
static void op_begin(struct sim_cpu *sc)
{
    const struct trace_op *op = &sc->cur;
    cycles_t now = sc->hw.now;

    sc->started = true;
    sc->gap_busy = false;
    sc->start_at = now;
    if (op->flags & OPF_T) {
        if (op->t > now)
            sc->start_at = op->t;
    } else if (op->flags & OPF_GAP) {
        sc->start_at = now + op->gap;
        sc->gap_busy = true;
    }
}

static void wake_from_idle(struct sim *s, struct sim_cpu *sc)
{
    cycles_t x = cstate_exit(s, sc);

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

static void cpu_run(void *owner, struct ev *e)
{
    struct sim_cpu *sc = owner;
    struct sim *s = sc->s;
    struct cpu *c = &sc->hw;
    cycles_t popped = e->when, horizon, limit;

    account_wait(sc, popped);
    sc->waiting_busy = false;
    s->running = sc;
    while (!s->fail) {
        /* Events this loop creates (IPIs, acks) move the horizon. */
        horizon = ev_next_time(&s->q);
        limit = horizon >= CYCLES_NEVER - s->m.quantum ? CYCLES_NEVER : horizon + s->m.quantum;
        if (irq_time(sc) <= c->now) {
            handle_irqs(s, sc);
            continue;
        }
        if (sc->spinning)
            break;
        if (!sc->has_cur && !fetch_op(s, sc)) {
            if (sc->batch.sd) {         /* end of this CPU's work: flush the batch */
                if (c->now > popped && c->now >= horizon)
                    break;
                batch_flush(s, sc);
                continue;
            }
            s->running = NULL;
            go_wait_input(s, sc);
            return;
        }
        if (!sc->started)
            op_begin(sc);
        if (c->now < sc->start_at) {
            cycles_t until = sc->start_at < irq_time(sc) ? sc->start_at : irq_time(sc);
            if (until > limit) {
                sc->waiting_busy = sc->gap_busy;
                s->running = NULL;
                ev_schedule(&s->q, &sc->run_ev, until);
                return;
            }
            sc->waiting_busy = sc->gap_busy;
            account_wait(sc, until);
            sc->waiting_busy = false;
            continue;
        }
        if (sc->idle)
            wake_from_idle(s, sc);
        if (sc->preempted && sc->cur.type != OP_VCPU_RUN)
            op_vcpu_run(s, sc);         /* the host resumed it implicitly */
        if (!op_is_local(&sc->cur)) {
            if (c->now > popped && c->now >= horizon)
                break;                  /* someone else goes first */
            if (batch_flush_first(s, sc, &sc->cur)) {
                batch_flush(s, sc);
                continue;
            }
            exec_global(s, sc, &sc->cur);
            op_done(s, sc);
            continue;
        }
        if (c->now >= limit && c->now > popped)
            break;
        /* The earliest CPU always makes progress (one reference at least),
         * even with sim.quantum = 0 and another CPU at the same cycle. */
        cycles_t stop = limit < irq_time(sc) ? limit : irq_time(sc);
        if (stop <= c->now)
            stop = c->now + 1;
        if (exec_local(sc, stop))
            op_done(s, sc);
    }
    s->running = NULL;
    if (sc->spinning) {
        if (irq_time(sc) != CYCLES_NEVER)
            ev_schedule(&s->q, &sc->run_ev, irq_time(sc) > c->now ? irq_time(sc) : c->now);
        return;
    }
    if (!s->fail)
        ev_schedule(&s->q, &sc->run_ev, c->now);
}

/* ==== barriers ============================================================ */

static bool barrier_ready(const struct sim *s)
{
    for (u32 i = 0; i < s->nr_cpus; i++) {
        const struct sim_cpu *sc = &s->cpus[i];
        if (sc->q_len || sc->has_cur || sc->spinning || sc->irq_head || sc->batch.sd)
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
        mm = mm_lookup(s, op->mm);
        if (!mm)
            return fail(s, SIM_ENOENT, op->line, "mm", "address space does not exist");
        if (mm_map(mm, op->va, op->len, op->page_shift, op->prot,
                   op->flags & OPF_POPULATE, op->flags & OPF_GLOBAL, &e))
            rc = fail_err(s, op->line, "va", &e);
        break;
    case OP_MARK:
        s->eng.marks++;
        if (s->hooks.mark)
            s->hooks.mark(s->hooks.arg, t, op->label);
        break;
    case OP_MM_EXIT: {
        struct sim_cpu *sc = &s->cpus[op->cpu];
        struct shootdown *sd;

        mm = mm_lookup(s, op->mm);
        if (!mm)
            return fail(s, SIM_ENOENT, op->line, "mm", "address space does not exist");
        /* Deferred invalidations still queued may name this mm: run them
         * all now, as the exiting task's IPI-free path cannot wait. */
        for (u32 i = 0; i < s->nr_cpus; i++)
            switch_point(s, &s->cpus[i]);
        if (!(sd = sd_get(s)))
            return fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
        /* exit_mmap(): unmap everything, free the tables, then
         * flush_tlb_mm() (full, freed_tables) before the pages go. */
        if (pt_unmap(&mm->pt, 0, 1ull << (mm->pt.va_bits - 1), &sd->gather, &e)) {
            sd_put(s, sd);
            return fail_err(s, op->line, "mm", &e);
        }
        mm_pte_changed(mm);
        sd->exit_mm = true;
        rc = flush_request(s, sc, sd, mm, 0, TLB_FLUSH_ALL, PAGE_SHIFT_4K, true, op, NULL);
        break;
    }
    default:
        rc = fail(s, SIM_EINTERNAL, op->line, "op", "not a barrier op");
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
        fail(s, SIM_EINTERNAL, 0, "invariant", "mm_cpumask/loaded_mm/tlb_gen check failed");
        return;
    }
    if (++s->checks % 256)
        return;
    for (u32 i = 0; i < s->nr_cpus; i++)
        if (!cpu_check(&s->cpus[i].hw)) {
            fail(s, SIM_EINTERNAL, 0, "invariant", "TLB structure check failed");
            return;
        }
    if (!pt_check(&s->init_mm.pt))
        fail(s, SIM_EINTERNAL, 0, "invariant", "kernel page-table check failed");
    for (u32 i = 1; i <= TRACE_MAX_MMS; i++)
        if (s->mm_by_idx[i] && !pt_check(&s->mm_by_idx[i]->pt)) {
            fail(s, SIM_EINTERNAL, 0, "invariant", "page-table check failed");
            return;
        }
}

/* ==== public API =========================================================== */

static int cpus_init(struct sim *s, struct sim_err *err)
{
    s->cpus = calloc(s->nr_cpus, sizeof(*s->cpus));
    s->arrival = calloc(s->nr_cpus, sizeof(*s->arrival));
    s->cpu_ptrs = calloc(s->nr_cpus, sizeof(*s->cpu_ptrs));
    if (!s->cpus || !s->arrival || !s->cpu_ptrs)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    for (u32 i = 0; i < s->nr_cpus; i++) {
        struct sim_cpu *sc = &s->cpus[i];
        int rc = cpu_init(&sc->hw, i, &s->m, &s->frames, &s->init_mm, err);
        if (rc)
            return rc;
        sc->s = s;
        sc->starved = true;
        sc->tick_at = CYCLES_NEVER;
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
    s->r = cfg->reader;
    s->hdr = *cfg->hdr;
    s->path = cfg->trace_path ? cfg->trace_path : "trace";
    s->hooks = cfg->hooks;
    s->interval = cfg->interval;
    s->check = cfg->check_invariants;
    s->window_ops = cfg->window_ops ? cfg->window_ops : WINDOW_OPS_DEFAULT;
    s->nr_cpus = s->m.cpus;
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
    if ((rc = frame_alloc_init(&s->frames, s->m.maxphyaddr, s->m.max_frames, err)))
        goto out;
    if ((rc = pt_ctx_init(&s->ptc, &s->frames, s->m.max_table_pages))) {
        sim_err_set(err, rc, "page tables: cannot initialise");
        goto out;
    }
    if ((rc = mm_init(&s->init_mm, MM_KERNEL, MM_INIT_IDX, 1, &s->ptc, &s->m, NULL, err)))
        goto out;
    s->next_ctx_id = 2;
    s->mm_hash = calloc(MM_HASH_SIZE, sizeof(*s->mm_hash));
    s->mm_by_idx = calloc(TRACE_MAX_MMS + 1, sizeof(*s->mm_by_idx));
    s->free_idx = malloc(TRACE_MAX_MMS * sizeof(*s->free_idx));
    if (!s->mm_hash || !s->mm_by_idx || !s->free_idx) {
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
        goto out;
    }
    for (u32 i = 0; i < TRACE_MAX_MMS; i++)     /* hand out low indices first */
        s->free_idx[i] = (u16)(TRACE_MAX_MMS - i);
    s->nr_free_idx = TRACE_MAX_MMS;
    if ((rc = cpus_init(s, err)))
        goto out;
    s->env = (struct flush_env){ .cpus = s->cpu_ptrs, .nr_cpus = s->nr_cpus,
                                 .init_mm = &s->init_mm, .m = &s->m, .pol = s->pol,
                                 .trace = trace_hook, .trace_arg = s };
    *out = s;
    return SIM_OK;
out:
    s->r = NULL;                        /* the caller still owns it on failure */
    sim_destroy(s);
    return rc;
}

void sim_destroy(struct sim *s)
{
    if (!s)
        return;
    for (u32 i = 0; s->cpus && i < s->nr_cpus; i++) {
        struct sim_cpu *sc = &s->cpus[i];
        while (sc->irq_head) {
            struct csd *n = sc->irq_head->next;
            free(sc->irq_head);
            sc->irq_head = n;
        }
        while (sc->deferred) {
            struct csd *n = sc->deferred->next;
            free(sc->deferred);
            sc->deferred = n;
        }
        cpu_destroy(&sc->hw);
        free(sc->q);
        free(sc->ring);
    }
    while (s->csd_free) {
        struct csd *n = s->csd_free->next;
        free(s->csd_free);
        s->csd_free = n;
    }
    while (s->sd_all) {
        struct shootdown *n = s->sd_all->all_next;
        mmu_gather_destroy(&s->sd_all->gather);
        free(s->sd_all->mms);
        free(s->sd_all);
        s->sd_all = n;
    }
    for (u32 i = 1; s->mm_by_idx && i <= TRACE_MAX_MMS; i++)
        if (s->mm_by_idx[i]) {
            mm_destroy(s->mm_by_idx[i]);
            free(s->mm_by_idx[i]);
        }
    if (s->ptc.frames)
        mm_destroy(&s->init_mm);
    pt_ctx_destroy(&s->ptc);
    frame_alloc_destroy(&s->frames);
    free(s->mm_hash);
    free(s->mm_by_idx);
    free(s->free_idx);
    free(s->cpus);
    free(s->arrival);
    free(s->cpu_ptrs);
    hist_destroy(&s->lat);
    ev_queue_destroy(&s->q);
    trace_close(s->r);
    free(s);
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
    if (s->has_barrier && barrier_ready(s)) {
        run_barrier(s);
        pump(s);
        goto out;
    }
    pump(s);
    if (s->fail)
        goto failed;
    e = ev_pop(&s->q);
    if (!e) {
        if (s->has_barrier && barrier_ready(s))
            goto out;
        if (s->eof && !s->has_barrier)
            return finish(s);
        if (s->has_barrier)
            return sim_err_set(err, SIM_EINTERNAL, "%s: barrier never became ready", s->path);
        goto out;
    }
    if (e->when > s->now)
        s->now = e->when;
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
        if (rc <= 0)
            return rc;
    }
    return 1;
}

void sim_interrupt(struct sim *s) { s->stop = 1; }

void sim_totals(const struct sim *s, struct sim_totals *t)
{
    *t = s->eng;
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

void sim_cpu_waiting(const struct sim *s, u32 i, cycles_t *until, bool *busy)
{
    const struct sim_cpu *sc = &s->cpus[i];
    bool waiting = sc->has_cur && sc->started && sc->start_at > sc->hw.now;

    *until = waiting ? sc->start_at : CYCLES_NEVER;
    *busy = waiting && sc->gap_busy;
}

u32 sim_ipis_in_flight(const struct sim *s, struct sim_ipi *out, u32 max)
{
    u32 n = 0;

    for (u32 i = 0; i < s->nr_cpus; i++)
        for (const struct csd *c = s->cpus[i].irq_head; c && n < max; c = c->next)
            out[n++] = (struct sim_ipi){ c->sd->info.initiating_cpu, i, c->sent, c->arrival };
    return n;
}

double sim_progress(const struct sim *s)
{
    u64 size = trace_size(s->r);

    return size ? (double)trace_bytes_read(s->r) / (double)size : 0.0;
}
