/* sim/engine/host.c - the host side of the VM the trace runs in: the host
 * zapping or write-protecting guest-physical memory and flushing with
 * kvm_flush_remote_tlbs(), TDX private-page removal with TLB tracking, a
 * vCPU moving to another physical CPU, and the kicks those send.  Rules and
 * costs are models/kvm.{c,h}; this file applies them in time.
 *
 * A host op on CPU i is work of the host on the physical CPU that runs
 * vCPU i: a running vCPU i leaves guest mode for it (one VM exit) and
 * re-enters after it, serving its own pending requests at that entry; a
 * preempted vCPU i stays preempted (the host's time still lands on the
 * CPU's clock).  Other vCPUs in guest mode (every one not preempted: the
 * model's guest idle does not exit, as elsewhere) are kicked; the kick's
 * arrival is computed when the host sends it and the vCPU takes it when
 * its clock gets there (up to sim.quantum late, like any interrupt).  The
 * host's wait for the acknowledgements is computed from the arrivals.
 */
#include "sim_priv.h"

#include <inttypes.h>
#include <stdio.h>

/* The vCPUs other than self that are in guest mode. */
static void in_guest_others(const struct sim *s, const struct sim_cpu *self, struct cpumask *m)
{
    cpumask_clear(m);
    for (u32 i = 0; i < s->nr_cpus; i++)
        if (i != self->hw.id && !s->cpus[i].preempted)
            cpumask_set_cpu(i, m);
}

/* kvm_make_all_cpus_request() from sc's physical CPU at t: the kicked vCPUs
 * take their IPI at its arrival.  Returns the host's cycles. */
static cycles_t kick_all(struct sim *s, struct sim_cpu *sc, const struct cpumask *in_guest,
                         cycles_t t)
{
    struct smp_send snd;
    cycles_t lat = kvm_make_all_cpus_request(&s->m, sc->hw.id, s->nr_cpus, in_guest,
                                             kvm_exit_cycles(&s->m), t, s->arrival, &snd);
    u32 cpu;

    for_each_cpu(cpu, in_guest, s->nr_cpus) {
        struct sim_cpu *tc = &s->cpus[cpu];
        if (s->arrival[cpu] < tc->kvm.kick_at)
            tc->kvm.kick_at = s->arrival[cpu];
        sim_wake_at(s, tc, tc->kvm.kick_at);
    }
    return lat;
}

/* kvm_flush_remote_tlbs() (range: kvm_flush_remote_tlbs_range(), as the
 * dirty-logging path calls it) from sc's physical CPU at t.  Returns the
 * host's cycles. */
static cycles_t remote_flush(struct sim *s, struct sim_cpu *sc, bool range, u64 gpa,
                             u64 len, cycles_t t)
{
    struct cpumask in_guest;

    in_guest_others(s, sc, &in_guest);
    if (s->m.host_flush == HOST_FLUSH_HV) {
        /* hv_flush_remote_tlbs(_range): L0 drops the EPT root's mappings
         * everywhere; nobody is kicked, no request is left pending. */
        for (u32 i = 0; i < s->nr_cpus; i++) {
            if (range)
                kvm_drop_gpa_range(&s->cpus[i].hw, gpa, len);
            else
                cpu_flush_tlb_global(&s->cpus[i].hw);
        }
        return kvm_hv_flush_cycles(&s->m, range, len >> PAGE_SHIFT_4K,
                                   cpumask_weight(&in_guest) > 0);
    }
    for (u32 i = 0; i < s->nr_cpus; i++) {
        s->cpus[i].kvm.req_tlb_flush = true;    /* KVM_REQ_TLB_FLUSH on every vCPU */
        s->cpus[i].hw.host_flush_pending = true;
    }
    return kick_all(s, sc, &in_guest, t);
}

/* tdx_sept_remove_private_spte() for [gpa, gpa + len), batched as the TDX
 * module ABI's TLB-tracking sequence allows: TDH.MEM.RANGE.BLOCK per 4K
 * page, one TDH.MEM.TRACK (epoch + 1), every vCPU out of the TD
 * (KVM_REQ_OUTSIDE_GUEST_MODE, which waits too), TDH.MEM.PAGE.REMOVE per
 * page.  (Linux runs the sequence once per leaf it zaps: a trace of one
 * tdx_remove per page models that.)  Returns the host's cycles. */
static cycles_t tdx_remove(struct sim *s, struct sim_cpu *sc, u64 pages, cycles_t t)
{
    cycles_t cost = pages * s->m.tdx_block_cycles + s->m.tdx_track_cycles;
    struct cpumask in_guest;

    s->vm.tdx_epoch++;
    s->vm.tracks++;
    s->eng.tdx_tracks++;
    for (u32 i = 0; i < s->nr_cpus; i++)
        s->cpus[i].hw.host_flush_pending = true;        /* until TDH.VP.ENTER flushes */
    in_guest_others(s, sc, &in_guest);
    cost += kick_all(s, sc, &in_guest, t + cost);
    return cost + pages * s->m.tdx_remove_cycles;
}

/* Bad input the trace checker cannot see: it needs the machine. */
static int host_op_check(struct sim *s, const struct trace_op *op)
{
    const char *name = trace_op_name(op->type);
    char msg[160];

    if (!s->m.virt) {
        snprintf(msg, sizeof(msg), "%s needs a virtualized machine (virt.enabled true)", name);
        return sim_fail(s, SIM_EINVAL, op->line, "op", msg);
    }
    if (op->type == OP_TDX_REMOVE && !s->m.tdx) {
        snprintf(msg, sizeof(msg), "%s needs a TDX guest (virt.tdx true)", name);
        return sim_fail(s, SIM_EINVAL, op->line, "op", msg);
    }
    if (op->type == OP_VCPU_MIGRATE)
        return SIM_OK;
    /* The VM's guest-physical memory: the EPT's [0, gpa_end) with
     * virt.ept, else the guest's physical width (paging.maxphyaddr minus
     * paging.keyid_bits). */
    unsigned bits = machine_phys_bits(&s->m);
    u64 end = s->m.ept ? s->ept.gpa_end : 1ull << bits;
    if (op->gpa >= end || op->len > end - op->gpa) {
        snprintf(msg, sizeof(msg), "range 0x%" PRIx64 "+0x%" PRIx64 " is outside the VM's "
                 "guest-physical memory [0, 0x%" PRIx64 ")", op->gpa, op->len, end);
        return sim_fail(s, SIM_ERANGE, op->line, "gpa", msg);
    }
    return SIM_OK;
}

/* vmx_vcpu_load_vmcs() on a new physical CPU: KVM_REQ_TLB_FLUSH.  A running
 * vCPU is moved now (exit, entry on the new CPU with the flush); a
 * preempted one flushes when it next runs. */
static cycles_t vcpu_migrate(struct sim *s, struct sim_cpu *sc)
{
    sc->kvm.req_tlb_flush = true;
    sc->hw.st.vcpu_migrations++;
    return 0;
}

void host_ept_changed(struct sim *s)
{
    mm_pte_changed(&s->init_mm);
    for (u32 i = 1; i <= s->mm_idx_high; i++)
        if (s->mm_by_idx[i])
            mm_pte_changed(s->mm_by_idx[i]);
}

/* The EPT side of a host op (virt.ept): clear the leaves (zap, TDX
 * removal) or their write permission.  Returns the leaves changed, or the
 * 4K pages of the range without EPT (nothing to look at: every page
 * counts and the flush always runs).  *flush: whether KVM would flush. */
static int ept_change(struct sim *s, const struct trace_op *op, struct mmu_gather *g,
                      u64 *leaves, bool *flush)
{
    struct sim_err e = { 0 };
    bool reduced = false;
    int rc;

    *leaves = op->len >> PAGE_SHIFT_4K;
    *flush = true;
    if (!s->m.ept)
        return SIM_OK;
    if (op->type == OP_HOST_WRPROTECT)
        rc = ept_wrprotect(&s->ept, op->gpa, op->len, &reduced, g, &e);
    else
        rc = ept_unmap(&s->ept, op->gpa, op->len, g, &e);
    if (rc)
        return sim_fail_err(s, op->line, "gpa", &e);
    *leaves = g->nr_ptes;
    /* kvm_unmap_gfn_range / the write-protect walk ask for a flush only
     * when an entry changed. */
    *flush = op->type == OP_HOST_WRPROTECT ? reduced : g->nr_ptes > 0;
    if (*flush)
        host_ept_changed(s);
    return SIM_OK;
}

int host_op(struct sim *s, struct sim_cpu *sc, const struct trace_op *op)
{
    struct cpu *c = &sc->hw;
    bool in_guest = !sc->preempted;
    cycles_t cost = 0, host = 0, t;
    struct mmu_gather g;
    u64 pages = 0;
    bool flush = false;
    int rc;

    if ((rc = host_op_check(s, op)))
        return rc;
    mmu_gather_init(&g);
    if (op->type != OP_VCPU_MIGRATE && (rc = ept_change(s, op, &g, &pages, &flush))) {
        mmu_gather_destroy(&g);
        return rc;
    }
    if (in_guest) {                     /* the host takes this physical CPU */
        kvm_vcpu_exit(&s->m, c);
        cost += kvm_exit_cycles(&s->m);
    }
    t = c->now + cost;
    switch (op->type) {
    case OP_HOST_ZAP:                   /* MMU notifier / kvm_tdp_mmu_zap_sp */
        host = pages * s->m.host_zap_pte_cycles;
        if (flush)
            host += remote_flush(s, sc, false, op->gpa, op->len, t + host);
        break;
    case OP_HOST_WRPROTECT:             /* dirty logging: write-protect, range flush */
        host = pages * s->m.wrprotect_pte_cycles;
        if (flush)
            host += remote_flush(s, sc, true, op->gpa, op->len, t + host);
        break;
    case OP_TDX_REMOVE:
        if (flush)
            host = tdx_remove(s, sc, pages, t);
        break;
    default:
        host = vcpu_migrate(s, sc);
        break;
    }
    if (op->type != OP_VCPU_MIGRATE) {
        s->eng.host_zaps++;
        s->eng.host_flush_cycles += host;
    }
    /* The host frees the pages once the flush returned: every vCPU is out
     * of guest mode or flushed (mmu_notifier / tdx_track semantics). */
    if (s->m.ept)
        ept_gather_finish(&s->ept, &g);
    mmu_gather_destroy(&g);
    cost += host;
    if (in_guest)
        cost += kvm_vcpu_enter(&s->m, &s->vm, &sc->kvm, c) + kvm_entry_cycles(&s->m);
    c->now += cost;
    c->st.busy_cycles += cost;
    return SIM_OK;
}

void host_take_kick(struct sim *s, struct sim_cpu *sc)
{
    struct cpu *c = &sc->hw;
    cycles_t cost;

    sc->kvm.kick_at = CYCLES_NEVER;
    kvm_vcpu_exit(&s->m, c);
    cost = kvm_exit_cycles(&s->m) + kvm_vcpu_enter(&s->m, &s->vm, &sc->kvm, c) +
           kvm_entry_cycles(&s->m);
    c->st.vcpu_kicks++;
    c->now += cost;
    c->st.busy_cycles += cost;
    if (sc->started && sc->gap_busy)
        sc->start_at += cost;           /* the interrupted work resumes after */
}

void host_vcpu_out(struct sim *s, struct sim_cpu *sc)
{
    /* The deschedule is a VM exit: a kick still on its way finds the vCPU
     * out of guest mode (its request stays pending). */
    sc->kvm.kick_at = CYCLES_NEVER;
    if (s->m.virt)
        kvm_vcpu_exit(&s->m, &sc->hw);
}

void host_vcpu_in(struct sim *s, struct sim_cpu *sc)
{
    cycles_t cost;

    if (!s->m.virt)
        return;
    cost = kvm_vcpu_enter(&s->m, &s->vm, &sc->kvm, &sc->hw);
    sc->hw.now += cost;
    sc->hw.st.busy_cycles += cost;
}
