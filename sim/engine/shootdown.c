/* sim/engine/shootdown.c - interrupts (call_single_queue, acknowledgements,
 * lazy-deferred ticks) and the initiator's side of a flush request through
 * every transport: APIC IPIs, KVM PV, Hyper-V, hardware broadcast, deferred,
 * and arch_tlbbatch batches.
 */
#include "sim_priv.h"

#include <stdlib.h>

/* ==== interrupts ========================================================= */

cycles_t sd_irq_time(const struct sim_cpu *sc)
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
    if (sd_irq_time(tc) != CYCLES_NEVER)
        sim_wake_at(s, tc, sd_irq_time(tc));
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

cycles_t sd_cstate_exit(const struct sim *s, const struct sim_cpu *sc)
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
    cycles_t cost = 0;

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
cycles_t sd_run_deferred(struct sim *s, struct sim_cpu *sc)
{
    struct cpu *c = &sc->hw;
    cycles_t t = c->now, cost = s->m.handler_cycles;
    u64 pages = 0;
    bool full;

    /* Many queued ranges cost more one page at a time than a CR3 reload:
     * past the kernel's flush ceiling, flush everything once. */
    for (const struct csd *q = sc->deferred; q; q = q->next) {
        const struct flush_tlb_info *f = &q->sd->info;
        if (c->loaded_mm == q->sd->mm)
            pages += f->end == TLB_FLUSH_ALL ? UINT32_MAX : (f->end - f->start) >> f->stride_shift;
    }
    full = pages > s->m.flush_ceiling;
    if (full) {
        cpu_flush_tlb_local(c);
        c->st.flush_full++;
        cost += s->m.cr3_flush_cycles;
    }
    while (sc->deferred) {
        struct csd *q = sc->deferred;

        sc->deferred = q->next;
        if (!full)
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
    if (sd_irq_time(tc) != CYCLES_NEVER)
        sim_wake_at(s, tc, sd_irq_time(tc));
}

/* The flush IPI handler: drain call_single_queue, acknowledging each
 * request after its flush_tlb_func (or before it, with early-ack).  A due
 * tick runs the deferred invalidations. */
void sd_handle_irqs(struct sim *s, struct sim_cpu *sc)
{
    struct cpu *c = &sc->hw;
    cycles_t t = c->now, cost = s->m.irq_entry_cycles + sd_cstate_exit(s, sc);
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
        cost += sd_run_deferred(s, sc);
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

void sd_trace_hook(void *arg, u32 cpu, enum tlb_flush_reason r, s64 pages)
{
    struct sim *s = arg;
    struct sim_cpu *sc = &s->cpus[cpu];

    if (s->hooks.tlb_event)
        s->hooks.tlb_event(s->hooks.arg, sc->hw.now, cpu,
                           sc->task_mm ? sc->task_mm->id : -1, sc->idle, r, pages);
}

struct shootdown *sd_get(struct sim *s)
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

void sd_put(struct sim *s, struct shootdown *sd)
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
        sim_fail(s, SIM_EINTERNAL, sd->rec.line, "invariant",
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
        sim_mm_release(s, sd->mm);
    }
    if (ic->sd_wait == sd) {
        ic->sd_wait = NULL;
        if (t > sd->local_done)
            ic->hw.st.spin_cycles += t - sd->local_done;
        if (ic->hw.now < t)
            ic->hw.now = t;
        if (ic->spinning) {
            ic->spinning = false;
            sim_wake_at(s, ic, ic->hw.now);
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

    bool pv = s->pol->transport == XPORT_PV_KVM;

    apic_send_ipi_mask(&s->m, sc->hw.id, &tg->mask, pv, at, s->arrival, snd);
    if (pv)
        s->eng.hypercalls += snd->writes;   /* KVM_HC_SEND_IPI */
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

    if (!tg->nr)
        return 0;                       /* nobody else to flush: no hypercall */
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

/* Targets of transports that skip no one: every other CPU in the mask
 * (deferred) or every other CPU holding the mm (broadcast). */
static void target_all(struct sim *s, u32 self, const struct cpumask *mask,
                       struct mm *holders_of, struct flush_targets *tg)
{
    cpumask_clear(&tg->mask);
    cpumask_clear(&tg->lazy);
    tg->nr = tg->skipped_lazy = tg->skipped_other = 0;
    for (u32 cpu = 0; cpu < s->nr_cpus; cpu++) {
        bool in = holders_of ? s->cpus[cpu].hw.loaded_mm == holders_of
                             : cpumask_test_cpu(cpu, mask);
        if (cpu != self && in) {
            cpumask_set_cpu(cpu, &tg->mask);
            tg->nr++;
        }
    }
}

/* What the transport costs the initiator: *cost is work (busy), *wait is
 * time blocked until remote TLBs are clean (hypercall, TLBSYNC).  Returns
 * true when the initiator must then spin for acknowledgements. */
static bool deliver(struct sim *s, struct sim_cpu *sc, struct shootdown *sd,
                    enum flush_transport xp, struct flush_targets *tg,
                    const struct cpumask *mask, cycles_t *cost, cycles_t *wait,
                    struct apic_send *snd)
{
    struct cpu *c = &sc->hw;
    struct mm *mm = sd->mm;

    switch (xp) {
    case XPORT_PV_KVM:
        pv_kvm_filter(s, tg);
        /* fall through */
    case XPORT_IPI:
        if (tg->nr) {
            if (deliver_ipis(s, sc, sd, tg, c->now + *cost, snd))
                return sim_fail(s, SIM_ENOMEM, sd->rec.line, "op", "out of memory"), false;
            *cost += snd->send_cycles;
        }
        return true;
    case XPORT_HYPERV:
        keep_holders(s, &sd->info, tg);
        *wait = deliver_hyperv(s, sd, tg);
        snd->writes = tg->nr ? 1 : 0;   /* one hypercall */
        return false;
    case XPORT_BROADCAST:
        /* INVLPGB reaches every CPU, lazy ones included. */
        if (mm && !sd->info.kernel)
            target_all(s, c->id, NULL, mm, tg);
        *wait = deliver_broadcast(s, sc, sd, tg);
        *cost += *wait - s->m.tlbsync_cycles;   /* issuing INVLPGBs is work */
        *wait = s->m.tlbsync_cycles;
        tg->local = false;              /* the broadcast covered it */
        return false;
    case XPORT_DEFERRED:
        /* Every other CPU in the mask, lazy or not, invalidates at its next
         * tick or context switch: nobody is interrupted. */
        target_all(s, c->id, mask, NULL, tg);
        tg->local = mm && c->loaded_mm == mm;
        return false;
    }
    return false;
}

static void account_request(struct sim *s, const struct shootdown *sd,
                             enum flush_transport xp, const struct flush_targets *tg,
                             const struct apic_send *snd)
{
    if (s->hooks.flush_start)
        s->hooks.flush_start(s->hooks.arg, &sd->rec, &tg->mask, &tg->lazy);
    if (xp == XPORT_IPI || xp == XPORT_PV_KVM)
        s->eng.ipis_sent += tg->nr;
    s->eng.icr_writes += snd->writes;
    s->eng.ipis_skipped_lazy += tg->skipped_lazy;
    s->eng.ipis_skipped_other += tg->skipped_other;
}

static void info_init(struct sim *s, struct shootdown *sd, struct mm *mm, u64 start,
                      u64 end, u8 stride_shift, bool freed_tables, u32 cpu, bool batch)
{
    if (batch)                          /* arch_tlbbatch_flush(): every mm, all */
        sd->info = (struct flush_tlb_info){ .mm = NULL, .start = 0, .end = TLB_FLUSH_ALL,
                                            .new_tlb_gen = TLB_GENERATION_INVALID,
                                            .initiating_cpu = cpu };
    else if (mm)
        flush_tlb_info_init(&s->env, &sd->info, mm, start, end, stride_shift,
                            freed_tables, cpu);
    else
        flush_tlb_kernel_info_init(&s->env, &sd->info, start, end, cpu);
}

/* LATR defers only what frees memory (munmap, MADV_DONTNEED, migration);
 * permission changes, explicit and kernel flushes, and exits stay
 * synchronous. */
static enum flush_transport transport_for(const struct flush_policy *pol,
                                          const struct trace_op *op)
{
    if (pol->transport == XPORT_DEFERRED &&
        !(op && trace_op_is(op, TOP_FREES)))
        return XPORT_IPI;
    return pol->transport;
}

/* flush_tlb_mm_range() (mm set), flush_tlb_kernel_range() (mm NULL) or
 * arch_tlbbatch_flush() (batch mask given) on initiator sc at its clock,
 * through the policy's transport.  sd carries the gather. */
int sd_flush_request(struct sim *s, struct sim_cpu *sc, struct shootdown *sd,
                     struct mm *mm, u64 start, u64 end, u8 stride_shift,
                     bool freed_tables, const struct trace_op *op,
                     const struct cpumask *batch_mask)
{
    struct cpu *c = &sc->hw;
    enum flush_transport xp = transport_for(s->pol, op);
    cycles_t t0 = c->now, cost = s->m.flush_request_cycles, wait = 0;
    struct flush_targets tg;
    struct apic_send snd = { 0 };
    bool local_first = !s->pol->concurrent_local, spin;
    const struct cpumask *mask = batch_mask ? batch_mask : mm ? &mm->cpumask : NULL;
    u32 cpu;

    s->env.now = t0;
    info_init(s, sd, mm, start, end, stride_shift, freed_tables, c->id, batch_mask != NULL);
    sd->mm = mm;
    sd->rec = (struct flush_rec){
        .t_request = t0, .initiator = c->id, .mm = mm ? mm->id : -1,
        .cause = op ? trace_op_name(op->type) : "batch", .start = start, .end = end,
        .pages = end == TLB_FLUSH_ALL ? 0 : (end - start) >> PAGE_SHIFT_4K,
        .full = sd->info.end == TLB_FLUSH_ALL, .freed_tables = freed_tables,
        .line = op ? op->line : 0,
    };
    s->eng.flush_requests++;
    if (mm)
        mm->flush_inflight++;
    flush_choose_targets(&s->env, &sd->info, mask, &tg);
    if (mask && cpumask_weight(mask) > cpumask_test_cpu(c->id, mask) &&
        xp != XPORT_DEFERRED && xp != XPORT_BROADCAST) {
        /* native_flush_tlb_multi() runs (and counts) whenever another CPU
         * is in the mask, even if every one of them is then skipped. */
        c->st.nr_tlb_remote_flush++;
        sd_trace_hook(s, c->id, TLB_REMOTE_SEND_IPI,
                      sd->info.end == TLB_FLUSH_ALL ? -1
                      : (s64)((sd->info.end - sd->info.start) >> PAGE_SHIFT_4K));
    }
    if (local_first && tg.local)
        cost += flush_tlb_func(&s->env, c, &sd->info, true);
    spin = deliver(s, sc, sd, xp, &tg, mask, &cost, &wait, &snd);
    if (s->fail)
        return s->fail;
    if (!local_first && tg.local)
        cost += flush_tlb_func(&s->env, c, &sd->info, true);
    sd->rec.targets = tg.nr;
    sd->rec.icr_writes = snd.writes;
    sd->rec.skipped_lazy = tg.skipped_lazy;
    sd->rec.skipped_other = tg.skipped_other;
    account_request(s, sd, xp, &tg, &snd);
    c->now = t0 + cost + wait;
    c->st.busy_cycles += cost;
    c->st.spin_cycles += wait;
    sd->local_done = c->now;
    if (xp == XPORT_DEFERRED && tg.nr) {
        sd->pending = tg.nr;
        if (s->pol->free_after == FREE_AT_ONCE)
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

int sd_batch_flush(struct sim *s, struct sim_cpu *sc)
{
    struct tlbbatch *b = &sc->batch;
    struct shootdown *sd = b->sd;
    struct cpumask mask = b->cpumask;

    b->sd = NULL;
    b->pages = 0;
    cpumask_clear(&b->cpumask);
    return sd_flush_request(s, sc, sd, NULL, 0, TLB_FLUSH_ALL, PAGE_SHIFT_4K, false, NULL, &mask);
}

/* try_to_unmap_one() with TTU_BATCH_FLUSH: the PTEs changed, tlb_gen moved
 * (arch_tlbbatch_add_pending), the flush waits for the batch. */
int sd_batch_add(struct sim *s, struct sim_cpu *sc, struct mm *mm,
                     struct mmu_gather *g, const struct trace_op *op)
{
    struct tlbbatch *b = &sc->batch;
    struct shootdown *sd = b->sd;

    if (!sd) {
        if (!(sd = b->sd = sd_get(s)))
            return sim_fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
        b->start = sc->hw.now;
    }
    if (sd->nr_mms == sd->cap_mms) {
        u32 cap = sd->cap_mms ? 2 * sd->cap_mms : 8;
        struct mm **n = realloc(sd->mms, cap * sizeof(*n));
        if (!n)
            return sim_fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
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
                return sim_fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
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
        return sd_batch_flush(s, sc);
    return SIM_OK;
}

bool sd_batch_due(const struct sim *s, const struct sim_cpu *sc)
{
    return sc->batch.sd && sc->hw.now - sc->batch.start >= s->m.batch_window_cycles;
}
