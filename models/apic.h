/* models/apic.h - what sending an IPI multicast costs and when each target
 * sees it.
 *
 * The initiator writes the ICR once per destination the APIC mode needs
 * (../shared/reference/linux-tlb.md A13): xAPIC flat logical 1 write for up
 * to 8 CPUs (Linux uses physflat beyond, one write per target), x2APIC
 * physical one per target, x2APIC cluster one per cluster of 16 touched,
 * and the all-but-self shorthand 1 write when every other CPU is targeted.
 * Writes are serial; a target's IPI leaves with the write that names it and
 * arrives after the same-socket or cross-socket delivery latency.  In a
 * guest each ICR write is a VM exit (virt.vmexit_cycles) unless the PV
 * send-IPI hypercall is used: one hypercall per 128-APIC-id window.
 * APIC ids equal CPU numbers here.
 */
#ifndef TLBSIM_APIC_H
#define TLBSIM_APIC_H

#include "base.h"
#include "cpumask.h"
#include "machine.h"

struct apic_send {
    u32 writes;                         /* ICR writes (or hypercalls) */
    cycles_t send_cycles;               /* initiator time spent sending */
};

/* Sends to `targets` (self excluded) starting at t0; fills arrival[cpu] for
 * each target.  pv_ipi: use KVM_HC_SEND_IPI windows instead of ICR writes. */
void apic_send_ipi_mask(const struct machine *m, u32 self,
                        const struct cpumask *targets, bool pv_ipi,
                        cycles_t t0, cycles_t *arrival, struct apic_send *out);

/* Latency from the initiator's write to the target's APIC. */
static inline cycles_t apic_delivery(const struct machine *m, u32 from, u32 to)
{
    return machine_socket_of(m, from) == machine_socket_of(m, to)
               ? m->ipi_delivery_cycles : m->ipi_cross_socket_cycles;
}

#endif
