/* models/apic.c - IPI multicast cost (linux-tlb.md A6, A13). */
#include "apic.h"

static cycles_t write_cost(const struct machine *m, bool pv_ipi)
{
    if (pv_ipi)
        return m->hypercall_cycles;
    /* Without IPI virtualisation a guest's ICR write traps to the host. */
    return m->virt ? m->vmexit_cycles : m->icr_write_cycles;
}

/* Key of the ICR write that carries an IPI to cpu: targets with the same
 * key share one write. */
static u32 write_key(const struct machine *m, u32 cpu, bool pv_ipi, bool flat)
{
    if (pv_ipi)
        return cpu / m->pv_ipi_window;
    if (flat)
        return 0;
    switch (m->apic_mode) {
    case APIC_X2APIC_CLUSTER: return cpu >> 4;
    default:                  return cpu;
    }
}

void apic_send_ipi_mask(const struct machine *m, u32 self,
                        const struct cpumask *targets, bool pv_ipi,
                        cycles_t t0, cycles_t *arrival, struct apic_send *out)
{
    u32 n = cpumask_weight(targets), cpu;
    cycles_t per = write_cost(m, pv_ipi), t = t0;
    bool flat = m->apic_mode == APIC_XAPIC_FLAT && m->cpus <= 8;
    bool shorthand = !pv_ipi && m->apic_shorthand && n == m->cpus - 1 && n > 1;
    u32 last_key = UINT32_MAX;
    /* apic_delivery(), worked out once: same socket or not. */
    struct socket_span near = machine_socket_span(m, self);
    cycles_t delivery[2] = { m->ipi_delivery_cycles, m->ipi_cross_socket_cycles };

    out->writes = 0;
    if (shorthand || (flat && n)) {
        /* One write reaches every target. */
        t += per;
        out->writes = 1;
        for_each_cpu_word(cpu, targets, m->cpus)
            arrival[cpu] = t + delivery[!socket_span_has(near, cpu)];
    } else {
        /* Targets in ascending order; one write per new key (cluster,
         * PV window or single CPU). */
        for_each_cpu_word(cpu, targets, m->cpus) {
            u32 key = write_key(m, cpu, pv_ipi, false);

            if (key != last_key) {
                t += per;
                out->writes++;
                last_key = key;
            }
            arrival[cpu] = t + delivery[!socket_span_has(near, cpu)];
        }
    }
    out->send_cycles = t - t0;
}
