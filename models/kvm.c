/* models/kvm.c - VM transitions, INVEPT/INVVPID and the host's remote
 * flush costs (see kvm.h for the rules and their sources). */
#include "kvm.h"

void kvm_vcpu_init(struct kvm_vcpu *v)
{
    *v = (struct kvm_vcpu){ .kick_at = CYCLES_NEVER };
}

/* ==== flush instructions ================================================== */

cycles_t vmx_invept(const struct machine *m, struct cpu *c, enum invept_type type)
{
    /* Single-context drops the mappings of one EPTP, all-context of every
     * EPTP; this vCPU's entries are all of its one EPTP, so both drop all. */
    cpu_flush_tlb_global(c);
    return type == INVEPT_SINGLE_CONTEXT ? m->invept_single_cycles : m->invept_global_cycles;
}

/* INVVPID type 0 (SDM vol. 2): the linear and combined mappings of va for
 * the VPID, under every PCID, global ones included. */
static void invvpid_addr(struct cpu *c, u64 va)
{
    if (c->pcid)
        for (u16 pcid = 0; pcid <= TLB_NR_DYN_ASIDS; pcid++)
            cpu_invpcid(c, INVPCID_TYPE_INDIV_ADDR, pcid, va);
    cpu_invlpg(c, va);                  /* the current PCID and global entries, PSCs */
}

cycles_t vmx_invvpid(const struct machine *m, struct cpu *c, enum invvpid_type type, u64 va)
{
    switch (type) {
    case INVVPID_INDIV_ADDR:
        invvpid_addr(c, va);
        return m->invvpid_addr_cycles;
    case INVVPID_SINGLE_CONTEXT:
        cpu_flush_tlb_global(c);
        return m->invvpid_single_cycles;
    case INVVPID_ALL_CONTEXT:
        break;
    }
    cpu_flush_tlb_global(c);
    return m->invvpid_all_cycles;
}

/* ==== transitions ========================================================= */

/* Without VPID a VM exit or entry invalidates every mapping of VPID 0. */
static void transition_flush(const struct machine *m, struct cpu *c, u32 n)
{
    if (m->vpid || !n)
        return;
    cpu_flush_tlb_global(c);
    c->st.vmx_transition_flushes += n;
}

void kvm_vcpu_exit(const struct machine *m, struct cpu *c)
{
    transition_flush(m, c, 1);
}

void kvm_vcpu_exits_taken(const struct machine *m, struct cpu *c, u32 n)
{
    transition_flush(m, c, 2 * n);      /* each: one exit, one entry */
}

cycles_t kvm_vcpu_enter(const struct machine *m, const struct kvm_vm *vm,
                        struct kvm_vcpu *v, struct cpu *c)
{
    cycles_t cost = 0;
    bool flushed = false;

    if (v->req_tlb_flush) {
        /* kvm_vcpu_flush_tlb_all() -> vmx_flush_tlb_all(): with EPT,
         * ept_sync_global() (INVEPT all-context). */
        v->req_tlb_flush = false;
        cost += vmx_invept(m, c, INVEPT_ALL_CONTEXT);
        flushed = true;
    }
    if (m->tdx && v->tdx_epoch != vm->tdx_epoch) {
        /* TDH.VP.ENTER: the TD epoch moved since this vCPU last entered;
         * the TDX module flushes its TLB context (once, however many
         * TRACKs it missed).  Cost: an INVEPT single-context (estimate). */
        v->tdx_epoch = vm->tdx_epoch;
        if (!flushed)
            cost += vmx_invept(m, c, INVEPT_SINGLE_CONTEXT);
        flushed = true;
    }
    if (flushed) {
        c->st.vcpu_entry_flushes++;
        c->host_flush_pending = false;  /* the host's change has reached this vCPU */
    }
    transition_flush(m, c, 1);
    return cost;
}

/* ==== the host CPU ======================================================== */

cycles_t kvm_make_all_cpus_request(const struct machine *m, u32 self, u32 nr_vcpus,
                                   const struct cpumask *in_guest, cycles_t exit_cycles,
                                   cycles_t t0, cycles_t *arrival, struct smp_send *snd)
{
    /* The host sends with its own APIC: no ICR-write trap. */
    struct machine host = *m;
    cycles_t req = (cycles_t)nr_vcpus * m->request_cycles, start, done, before = 0;
    u32 cpu;

    host.virt = false;
    *snd = (struct smp_send){ 0 };
    if (!cpumask_weight(in_guest))
        return req;
    smp_call_function_many_cond(&host, self, in_guest, 0, false, t0 + req, NULL, arrival, snd);
    /* csd_lock_wait() on each kicked CPU in cpumask order: it unlocks when
     * its VM exit is done and the host ran ack_kick(). */
    start = t0 + req + snd->send_cycles;
    done = start + snd->wait_total;
    for_each_cpu(cpu, in_guest, m->cpus) {
        cycles_t w = smp_wait_done(arrival[cpu] + exit_cycles, snd->wait_total, before);
        before += smp_wait_cycles(&host, self, cpu);
        if (w > done)
            done = w;
    }
    return done - t0;
}

cycles_t kvm_hv_flush_cycles(const struct machine *m, bool range, u64 pages, bool others_run)
{
    cycles_t work = range ? pages * m->hv_flush_page_cycles : m->invept_single_cycles;

    /* L0 reaches the physical CPUs that run this guest with its own
     * (unvirtualised) IPIs; the hypercall returns after them. */
    return m->hypercall_cycles + (others_run ? m->ipi_delivery_cycles : 0) + work;
}

void kvm_drop_gpa_range(struct cpu *c, u64 gpa, u64 len)
{
    struct tlb *t[] = { &c->l1d[0], &c->l1d[1], &c->l1d[2], &c->l1i[0], &c->l1i[1],
                        &c->stlb, &c->stlb1g };

    for (unsigned i = 0; i < ARRAY_SIZE(t); i++)
        tlb_flush_frames(t[i], gpa, gpa + len, pte_frame_mask(c->frames));
    for (unsigned l = 2; l <= PT_MAX_LEVELS; l++)
        tlb_flush_all(&c->psc[l], true);
}
