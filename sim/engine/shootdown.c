/* sim/engine/shootdown.c - interrupts (call_single_queue, acknowledgements,
 * lazy-deferred ticks) and the initiator's side of a flush request through
 * every transport: APIC IPIs, KVM PV, Hyper-V, hardware broadcast, deferred,
 * and arch_tlbbatch batches.  This file schedules; the rules (target choice,
 * transports, invalidation) are models/flush.c's and the costs of a
 * cross-CPU call models/smp.c's and models/apic.c's.
 *
 * Cost per flush request: one csd per target onto that CPU's queue of
 * pending requests (csdq.h: O(1) when posted in arrival order, O(log
 * pending) otherwise) plus cpumask scans.
 */
#include "sim_priv.h"

#include <stdlib.h>

/* ==== interrupts ========================================================= */

/* sd_irq_time() when the first queued request arrives at t. */
static inline cycles_t irq_time_from(const struct sim_cpu *sc, cycles_t t)
{
    if (sc->preempted)
        return CYCLES_NEVER;
    if (sc->deferred && sc->tick_at < t)
        t = sc->tick_at;                /* the tick that runs deferred work */
    if (t < sc->irqs_off_until)         /* never true for CYCLES_NEVER */
        t = sc->irqs_off_until;
    if (sc->kvm.kick_at < t)
        t = sc->kvm.kick_at;            /* a host IPI exits whatever the guest's IF */
    return t;
}

cycles_t sd_irq_time(const struct sim_cpu *sc)
{
    return irq_time_from(sc, csdq_first_arrival(&sc->csdq));
}

/* Queue a request on tc's call_single_queue (csdq.h: in (arrival, posting
 * order), O(1) when posted in arrival order).  ipi: the llist_add() found
 * the queue empty and an IPI arrives at `arrival`; otherwise `arrival` is
 * the llist_add() and the csd rides on the interrupt already pending
 * (kernel/smp.c: only the first queuer sends). */
static int post_csd(struct sim *s, u32 cpu, struct shootdown *sd,
                    cycles_t sent, cycles_t arrival, bool ipi, cycles_t wait_before)
{
    struct sim_cpu *tc = &s->cpus[cpu];
    cycles_t added = ipi ? sent : arrival;  /* llist_add() (IPI'd: end of the loop) */
    cycles_t first_at = csdq_first_arrival(&tc->csdq), irq;

    /* Without an IPI of its own it is drained by the pending interrupt
     * (flush_smp_call_function_queue() takes the whole llist). */
    if (!ipi && first_at != CYCLES_NEVER && first_at > arrival)
        arrival = first_at;
    struct csd c = { .sd = sd, .arrival = arrival, .queued = added, .ipi = ipi,
                     .wait_before = wait_before };

    if (csdq_push(&tc->csdq, &s->csds, &c))
        return SIM_ENOMEM;
    if (added < s->queued_since[cpu])   /* the earliest of the held ones */
        s->queued_since[cpu] = added;
    /* The first request now: c (posted last, so first only when it
     * arrives strictly earlier) or the one before. */
    irq = irq_time_from(tc, arrival < first_at ? arrival : first_at);
    if (irq != CYCLES_NEVER)
        sim_wake_at(s, tc, irq);
    return SIM_OK;
}

static void sd_complete(struct sim *s, struct shootdown *sd);

static void sd_ack_done(struct sim *s, struct shootdown *sd, cycles_t done)
{
    if (done > sd->last_ack)
        sd->last_ack = done;
    if (--sd->pending == 0)
        sd_complete(s, sd);
}

/* A deferred invalidation done at `when`: seen one line transfer later
 * (nobody spins on it). */
static void sd_ack(struct sim *s, struct shootdown *sd, cycles_t when)
{
    sd_ack_done(s, sd, when + s->m.ack_cycles);
}

/* csd_unlock() at `unlock`: the initiator's csd_lock_wait() walk over the
 * targets in cpumask order reaches its end no earlier than this. */
static void sd_ack_csd(struct sim *s, struct shootdown *sd, cycles_t unlock,
                       cycles_t wait_before)
{
    sd_ack_done(s, sd, smp_wait_done(unlock, sd->wait_total, wait_before));
}

cycles_t sd_cstate_exit(const struct sim *s, const struct sim_cpu *sc)
{
    if (!sc->idle)
        return 0;
    return sc->cstate >= 6 ? s->m.c6_exit_cycles : s->m.c1_exit_cycles;
}

/* ---- lazy-deferred invalidation (LATR) ----------------------------------- */

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
    for (const struct csd_node *q = sc->deferred; q; q = q->next) {
        const struct flush_tlb_info *f = &q->c.sd->info;
        if (c->loaded_mm == q->c.sd->mm)
            pages += f->end == TLB_FLUSH_ALL ? UINT32_MAX : (f->end - f->start) >> f->stride_shift;
    }
    full = pages > s->m.flush_ceiling;
    if (full) {
        cpu_flush_tlb_local(c);
        c->st.flush_full++;
        cost += s->m.cr3_flush_cycles;
    }
    while (sc->deferred) {
        struct csd_node *q = sc->deferred;

        sc->deferred = q->next;
        if (!full)
            cost += flush_deferred_invalidate(&s->env, c, &q->c.sd->info, q->c.sd->mm);
        s->eng.deferred_invalidations++;
        sd_ack(s, q->c.sd, t + cost);
        csd_pool_put(&s->csds, q);
    }
    sc->deferred_tail = NULL;
    sc->tick_at = CYCLES_NEVER;
    return cost;
}

static int post_deferred(struct sim *s, struct sim_cpu *tc, struct shootdown *sd)
{
    struct csd_node *c = csd_pool_get(&s->csds);
    u64 tick = s->m.deferred_tick_cycles;

    if (!c)
        return SIM_ENOMEM;
    c->c = (struct csd){ .sd = sd, .queued = tc->hw.now, .arrival = CYCLES_NEVER };
    c->next = NULL;
    if (tc->deferred_tail)
        tc->deferred_tail->next = c;
    else
        tc->deferred = c;
    tc->deferred_tail = c;
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
    return SIM_OK;
}

/* The flush IPI handler: interrupt entry (with its seeded spread, and the
 * VM exits of a vCPU without APICv), then drain call_single_queue:
 * read each csd and the flush_tlb_info line, flush_tlb_func, csd_unlock
 * (or unlock first, with early-ack).  A due tick runs the deferred
 * invalidations. */
void sd_handle_irqs(struct sim *s, struct sim_cpu *sc)
{
    struct cpu *c = &sc->hw;
    cycles_t t = c->now, cost = s->m.irq_entry_cycles + sd_cstate_exit(s, sc);
    const struct csd *q = sd_first_csd(sc);
    bool ipi = q && q->arrival <= t, from_user;
    u32 handled = 0;

    if (ipi) {
        cost += smp_irq_entry_spread(&s->m, c->id, sc->irqs_taken++) +
                smp_virt_entry_cycles(&s->m);
        /* Without VPID the interrupt's VM exits flush (models/kvm.h). */
        if (s->m.virt)
            kvm_vcpu_exits_taken(&s->m, c, (u32)!s->m.posted_interrupts + (u32)s->m.eoi_exit);
    }
    cost += pti_enter_kernel(&s->env, c, &from_user);
    while ((q = sd_first_csd(sc)) && q->arrival <= t + cost) {
        struct shootdown *sd = q->sd;
        cycles_t wait_before = q->wait_before;

        csdq_pop(&sc->csdq, &s->csds);
        cost += smp_target_read_k(&s->m, &sd->costs, c->id, &sd->info_line, t + cost);
        s->env.now = t + cost;
        cycles_t early = t + cost;      /* early-ack: before the flush work */
        cost += flush_tlb_func(&s->env, c, &sd->info, false);
        c->st.ipis_received++;
        handled++;
        /* csd_unlock() after flush_tlb_func returns, or, with early-ack,
         * at its start; the handler runs no user code in between, so both
         * are safe. */
        sd_ack_csd(s, sd, s->pol->early_ack ? early : t + cost, wait_before);
    }
    /* Nothing in the loop reads it (no flush request is made there). */
    if (handled)
        s->queued_since[c->id] = csdq_queued_since(&sc->csdq);
    if (sc->deferred && sc->tick_at <= t + cost) {
        c->now = t + cost;
        cost += sd_run_deferred(s, sc);
    }
    if (from_user)                      /* the interrupt came from user space */
        cost += pti_return_to_user(&s->env, c);
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
    sd->wait_total = 0;
    sd->info_line = (struct smp_info_line){ 0 };
    sd->exit_mm = false;
    sd->pti_from_user = false;
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
        /* A CPU on a global ASID is kept current by INVLPGB, not tlb_gen. */
        if (c->loaded_mm == sd->mm && !c->is_lazy && is_dyn_asid(c->loaded_mm_asid) &&
            c->tlb_gen < sd->info.new_tlb_gen)
            return false;
    }
    return true;
}

/* PTI: the initiator's system call returns to user space once its flush
 * is done (SWITCH_TO_USER_CR3, with the deferred user flush). */
static void sd_pti_return(struct sim *s, struct sim_cpu *ic, struct shootdown *sd)
{
    cycles_t cost;

    if (!sd->pti_from_user)
        return;
    sd->pti_from_user = false;
    cost = pti_return_to_user(&s->env, &ic->hw);
    ic->hw.now += cost;
    ic->hw.st.busy_cycles += cost;
}

static void sd_complete(struct sim *s, struct shootdown *sd)
{
    struct sim_cpu *ic = &s->cpus[sd->info.initiating_cpu];
    cycles_t waited = sd->local_done + sd->wait_total;   /* csd_lock_wait reads every csd */
    cycles_t t = sd->last_ack > waited ? sd->last_ack : waited;

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
        sd_pti_return(s, ic, sd);
        if (ic->spinning) {
            ic->spinning = false;
            sim_wake_at(s, ic, ic->hw.now);
        }
    }
    sd_pti_return(s, ic, sd);
    sd_put(s, sd);
}

/* smp_call_function_many_cond(): queue a csd on every target, send the
 * IPIs (native, or KVM PV send-IPI under pv-kvm), costed by models/smp.c. */
static int deliver_ipis(struct sim *s, struct sim_cpu *sc, struct shootdown *sd,
                        const struct flush_targets *tg, cycles_t at,
                        struct smp_send *snd)
{
    u32 self = sc->hw.id, cpu;
    cycles_t before = 0;
    bool pv = s->pol->transport == XPORT_PV_KVM;

    /* When each target's call_single_queue became non-empty: the earliest
     * llist_add() of the csds it still holds (its handler empties it),
     * kept up to date by post_csd and the handler from here on, so that
     * a request reads one dense array instead of every target's queue. */
    if (!s->queued_since_set) {
        for (cpu = 0; cpu < s->nr_cpus; cpu++)
            s->queued_since[cpu] = csdq_queued_since(&s->cpus[cpu].csdq);
        s->queued_since_set = true;
    }
    smp_call_function_many_cond(&s->m, self, &tg->mask, tg->examined, pv, at,
                                s->queued_since, s->arrival, snd);
    if (pv)
        s->eng.hypercalls += snd->writes;   /* KVM_HC_SEND_IPI */
    sd->wait_total = snd->wait_total;
    smp_costs_init(&s->m, self, &sd->costs);
    for_each_cpu_word(cpu, &tg->mask, s->nr_cpus) {
        if (post_csd(s, cpu, sd, at + snd->queue_cycles, s->arrival[cpu],
                     cpumask_test_cpu(cpu, &snd->ipi), before))
            return SIM_ENOMEM;
        before += sd->costs.wait[smp_far(&sd->costs, cpu)];
    }
    return SIM_OK;
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
        flush_remote_invalidate(&s->cpus[cpu].hw, f);
    s->eng.hypercalls++;
    /* The host reaches running targets with its own (cheap, unvirtualised)
     * IPIs; the hypercall returns after the slowest. */
    return s->m.hypercall_cycles + (tg->nr ? s->m.ipi_delivery_cycles : 0) + work;
}

/* 6.15+ broadcast_tlb_flush() for an mm with a global ASID: INVLPGBs on its
 * PCID reach every CPU, running the mm or not, with no IPI; then
 * finish_asid_transition(): while a CPU still runs the mm on a dynamic
 * ASID, flush_tlb_multi(mm_cpumask) IPIs move the stragglers over (their
 * flush_tlb_func() reloads CR3 with the global ASID).  Then TLBSYNC.
 * Returns true when the initiator spins for those IPIs. */
static int deliver_ipis(struct sim *s, struct sim_cpu *sc, struct shootdown *sd,
                        const struct flush_targets *tg, cycles_t at,
                        struct smp_send *snd);

static bool deliver_global_asid(struct sim *s, struct sim_cpu *sc, struct shootdown *sd,
                                struct flush_targets *tg, cycles_t *cost, cycles_t *wait,
                                struct smp_send *snd)
{
    u64 n = flush_global_asid_invalidate(&s->env, &sd->info);

    s->eng.broadcasts += n;
    *cost += n * s->m.invlpgb_cycles;
    *wait = s->m.tlbsync_cycles;
    if (!finish_asid_transition(&s->env, sd->mm)) {
        /* Targets, as for broadcast: the other CPUs running the mm (the
         * INVLPGBs reach the rest too); nobody runs a handler. */
        flush_target_all(&s->env, sc->hw.id, NULL, sd->mm, tg);
        return false;
    }
    /* native_flush_tlb_multi() counts and sends to all of mm_cpumask. */
    sc->hw.st.nr_tlb_remote_flush++;
    flush_choose_targets(&s->env, &sd->info, &sd->mm->cpumask, tg);
    if (deliver_ipis(s, sc, sd, tg, sc->hw.now + *cost, snd)) {
        sim_fail(s, SIM_ENOMEM, sd->rec.line, "op", "out of memory");
        return false;
    }
    *cost += snd->send_cycles;
    s->eng.ipis_sent += tg->nr;
    return true;
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
        flush_remote_invalidate(&s->cpus[cpu].hw, f);
    flush_remote_invalidate(&sc->hw, f);        /* INVLPGB covers the issuing CPU too */
    s->eng.broadcasts += n;
    return n * s->m.invlpgb_cycles + s->m.tlbsync_cycles;
}

/* What the transport costs the initiator: *cost is work (busy), *wait is
 * time blocked until remote TLBs are clean (hypercall, TLBSYNC).  Returns
 * true when the initiator must then spin for acknowledgements. */
static bool deliver(struct sim *s, struct sim_cpu *sc, struct shootdown *sd,
                    enum flush_transport xp, struct flush_targets *tg,
                    const struct cpumask *mask, cycles_t *cost, cycles_t *wait,
                    struct smp_send *snd)
{
    struct cpu *c = &sc->hw;
    struct mm *mm = sd->mm;

    switch (xp) {
    case XPORT_PV_KVM:
    case XPORT_IPI:
        /* With no target left the condition scan is still paid. */
        if (deliver_ipis(s, sc, sd, tg, c->now + *cost, snd))
            return sim_fail(s, SIM_ENOMEM, sd->rec.line, "op", "out of memory"), false;
        *cost += snd->send_cycles;
        if (s->m.virt)                  /* trapped ICR writes or send-IPI hypercalls */
            kvm_vcpu_exits_taken(&s->m, c, snd->writes);
        return true;
    case XPORT_HYPERV:
        flush_keep_holders(&s->env, &sd->info, tg);
        *wait = deliver_hyperv(s, sd, tg);
        snd->writes = tg->nr ? 1 : 0;   /* one hypercall */
        if (s->m.virt)
            kvm_vcpu_exits_taken(&s->m, c, snd->writes);
        return false;
    case XPORT_BROADCAST:
        if (mm && mm->global_asid && s->pol->global_asid)
            return deliver_global_asid(s, sc, sd, tg, cost, wait, snd);
        /* INVLPGB reaches every CPU, lazy ones included. */
        if (mm && !sd->info.kernel)
            flush_target_all(&s->env, c->id, NULL, mm, tg);
        *wait = deliver_broadcast(s, sc, sd, tg);
        *cost += *wait - s->m.tlbsync_cycles;   /* issuing INVLPGBs is work */
        *wait = s->m.tlbsync_cycles;
        tg->local = false;              /* the broadcast covered it */
        return false;
    case XPORT_DEFERRED:
        /* Every other CPU in the mask, lazy or not, invalidates at its next
         * tick or context switch: nobody is interrupted. */
        flush_target_all(&s->env, c->id, mask, NULL, tg);
        tg->local = mm && c->loaded_mm == mm;
        return false;
    }
    return false;
}

static void account_request(struct sim *s, const struct shootdown *sd,
                             enum flush_transport xp, const struct flush_targets *tg,
                             const struct smp_send *snd)
{
    if (s->hooks.flush_start)
        s->hooks.flush_start(s->hooks.arg, &sd->rec, &tg->mask, &tg->lazy);
    if (xp == XPORT_IPI || xp == XPORT_PV_KVM)
        s->eng.ipis_sent += tg->nr;
    s->eng.icr_writes += snd->writes;
    s->eng.ipis_skipped_lazy += tg->skipped_lazy;
    s->eng.ipis_skipped_other += tg->skipped_other;
    s->eng.pv_skipped_preempted += tg->skipped_preempted;
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

static enum flush_cause cause_of(const struct trace_op *op, const struct mm *mm)
{
    if (!op)
        return FLUSH_CAUSE_BATCH;
    if (!mm)
        return FLUSH_CAUSE_KERNEL;
    if (trace_op_is(op, TOP_FREES))
        return FLUSH_CAUSE_FREE;
    return FLUSH_CAUSE_OTHER;
}

/* kvm_flush_tlb_multi() (pv-kvm, user flushes) or native target choice. */
static void choose_targets(struct sim *s, struct shootdown *sd, enum flush_transport xp,
                           const struct cpumask *mask, struct flush_targets *tg)
{
    u32 cpu;

    if (xp != XPORT_PV_KVM || !mask) {
        flush_choose_targets(&s->env, &sd->info, mask, tg);
        return;
    }
    flush_choose_targets_pv_kvm(&s->env, &sd->info, mask, &s->preempted, tg);
    for_each_cpu(cpu, &tg->preempted, s->nr_cpus)
        s->cpus[cpu].pv_flush_pending = true;   /* KVM_VCPU_FLUSH_TLB */
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
    enum flush_transport xp = flush_transport_for(s->pol, cause_of(op, mm));
    cycles_t t0 = c->now, cost = s->m.flush_request_cycles, wait = 0;
    struct flush_targets tg;
    struct smp_send snd = { 0 };
    bool local_first = !s->pol->concurrent_local, spin;
    const struct cpumask *mask = batch_mask ? batch_mask : mm ? &mm->cpumask : NULL;
    u32 cpu;

    /* 6.15+: an mm with a global ASID is flushed by broadcast_tlb_flush(). */
    if (s->pol->global_asid && mm && mm->global_asid && !batch_mask)
        xp = XPORT_BROADCAST;
    s->env.now = t0;
    cost += pti_enter_kernel(&s->env, c, &sd->pti_from_user);   /* the system call */
    info_init(s, sd, mm, start, end, stride_shift, freed_tables, c->id, batch_mask != NULL);
    sd->mm = mm;
    sd->rec = (struct flush_rec){
        .t_call = t0 - (op ? op_kernel_work(&s->m, op->type, sd->gather.nr_ptes) : 0),
        .t_request = t0, .initiator = c->id, .mm = mm ? mm->id : -1,
        .cause = op ? trace_op_name(op->type) : "batch", .start = start, .end = end,
        .pages = end == TLB_FLUSH_ALL ? 0 : (end - start) >> PAGE_SHIFT_4K,
        .full = sd->info.end == TLB_FLUSH_ALL, .freed_tables = freed_tables,
        .line = op ? op->line : 0,
    };
    s->eng.flush_requests++;
    if (mm)
        mm->flush_inflight++;
    choose_targets(s, sd, xp, mask, &tg);
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
    if (s->pol->global_asid && mm && xp == XPORT_IPI &&
        cpumask_weight(mask) > cpumask_test_cpu(c->id, mask)) {
        /* After flush_tlb_multi(): consider_global_asid(). */
        u64 invlpgbs = 0;

        cost += consider_global_asid(&s->env, mm, c, &invlpgbs);
        s->eng.broadcasts += invlpgbs;
    }
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
        sd_pti_return(s, sc, sd);       /* the initiator goes on */
        sd->pending = tg.nr;
        if (s->pol->free_after == FREE_AT_ONCE)
            mmu_gather_finish(&s->ptc, &sd->gather);
        for_each_cpu(cpu, &tg.mask, s->nr_cpus)
            if (post_deferred(s, &s->cpus[cpu], sd))
                return sim_fail(s, SIM_ENOMEM, sd->rec.line, "op", "out of memory");
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
