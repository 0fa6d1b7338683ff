/* models/policy.h - TLB flush policies: which kernel rules apply and how a
 * flush reaches other CPUs.
 *
 * A policy is data plus a small interface, split along the four questions
 * every shootdown answers:
 *   target choice   - which CPUs of the mask get work (flush_choose_targets,
 *                     driven by lazy_skip / lazy_cpumask / transport);
 *   delivery        - how the work gets there (transport: APIC IPIs, KVM PV,
 *                     Hyper-V hypercall, hardware broadcast, deferral);
 *   receiver action - what a target does (flush_tlb_func and its version
 *                     rules: tlb_gen catch-up, stride, lazy handling);
 *   deferral        - when freed pages may be reused (free_after).
 * The engine composes them with time; models/flush.c holds the rules.
 */
#ifndef TLBSIM_POLICY_H
#define TLBSIM_POLICY_H

#include "base.h"

enum flush_transport {
    XPORT_IPI = 0,                      /* smp_call_function_many_cond over the APIC */
    XPORT_PV_KVM,                       /* kvm_flush_tlb_multi: skip preempted vCPUs */
    XPORT_HYPERV,                       /* HvFlushVirtualAddress{Space,List}: no guest IPIs */
    XPORT_BROADCAST,                    /* INVLPGB + TLBSYNC / RAR: no IPIs */
    XPORT_DEFERRED,                     /* LATR-style: remote CPUs invalidate at their tick */
};

/* When gathered frames and tables are freed. */
enum free_after {
    FREE_AFTER_FLUSH = 0,               /* when the initiator's flush completes (Linux) */
    FREE_AFTER_ALL_INVALIDATED,         /* when every remote CPU has invalidated (deferred, safe) */
    FREE_AT_ONCE,                       /* immediately (unsafe: shows the hazard) */
};

struct flush_policy {
    const char *name;
    const char *desc;                   /* one line for `tlbsim policies` */
    const char *source;                 /* where the rules come from */
    /* kernel rules */
    bool lazy_skip;                     /* 4.20+: should_flush_tlb skips lazy CPUs unless freed_tables */
    bool lazy_gen_check;                /* 4.20+: leaving lazy mode for the same mm checks tlb_gen */
    bool concurrent_local;              /* 5.13+: local flush after sending, overlapping remote work */
    bool lazy_cpumask;                  /* 6.13+: no cpumask clear on switch; WRONG_CPU; trim */
    bool gen_early_exit;                /* 6.0+: return if f->new_tlb_gen <= local tlb_gen */
    bool stride;                        /* 4.20+: flush in stride units; 4.14: huge pages flush all */
    /* delivery and receiver */
    enum flush_transport transport;
    bool early_ack;                     /* ack before flushing (EuroSys'20) */
    bool batch;                         /* unmaps batched: arch_tlbbatch, one full flush per CPU */
    enum free_after free_after;
    bool pcid;                          /* forces cpu.pcid on: dynamic ASIDs (4.14+) */
    bool pti;                           /* forces cpu.pti on: user/kernel PCID pairs (4.15+) */
    bool global_asid;                   /* 6.15+: global ASIDs, INVLPGB for mms on > 3 CPUs */
};

extern const struct flush_policy flush_policies[];
extern const size_t flush_nr_policies;

/* NULL if unknown. */
const struct flush_policy *flush_policy_find(const char *name);

#endif
