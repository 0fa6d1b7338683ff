/* models/smp.c - smp_call_function_many_cond() costs (see smp.h). */
#include "smp.h"

/* smp_line() for a target on the same (far 0) or another socket. */
static cycles_t line_cost(const struct machine *m, u32 far, u32 base)
{
    return base + (far ? m->smp_cross_socket_line_cycles : 0);
}

void smp_costs_init(const struct machine *m, u32 self, struct smp_costs *k)
{
    k->near = machine_socket_span(m, self);
    for (u32 f = 0; f < 2; f++) {
        k->queue[f] = line_cost(m, f, m->smp_csd_lock_cycles) +
                      line_cost(m, f, m->smp_llist_add_cycles);
        k->wait[f] = line_cost(m, f, m->ack_cycles);
        k->read[f] = line_cost(m, f, m->smp_csd_read_cycles);
        k->info[f] = line_cost(m, f, m->smp_info_line_cycles);
    }
}

void smp_call_function_many_cond(const struct machine *m, u32 self,
                                 const struct cpumask *targets, u32 nr_cond,
                                 bool pv_ipi, cycles_t t0, const cycles_t *queued_since,
                                 cycles_t *arrival, struct smp_send *out)
{
    struct apic_send snd = { 0 };
    struct cpumask *ipi = &out->ipi;
    cycles_t queue = (cycles_t)nr_cond * m->smp_cond_cycles, wait = 0;
    struct smp_costs k;
    u32 cpu;

    smp_costs_init(m, self, &k);
    *ipi = *targets;
    for_each_cpu_word(cpu, targets, m->cpus) {
        u32 far = smp_far(&k, cpu);

        queue += k.queue[far];
        wait += k.wait[far];
        /* llist_add() onto a non-empty queue returns false: no IPI. */
        if (queued_since && queued_since[cpu] <= t0 + queue) {
            cpumask_clear_cpu(cpu, ipi);
            arrival[cpu] = t0 + queue;
        }
    }
    /* The IPIs go out after the whole queueing loop (one send for all). */
    out->nr_ipi = cpumask_weight(ipi);
    if (out->nr_ipi)
        apic_send_ipi_mask(m, self, ipi, pv_ipi, t0 + queue, arrival, &snd);
    out->writes = snd.writes;
    out->queue_cycles = queue;
    out->send_cycles = queue + snd.send_cycles;
    out->wait_total = wait;
}

cycles_t smp_target_read(const struct machine *m, u32 self, u32 cpu,
                         struct smp_info_line *line, cycles_t t)
{
    struct smp_costs k;

    smp_costs_init(m, self, &k);
    return smp_target_read_k(m, &k, cpu, line, t);
}

cycles_t smp_irq_entry_spread(const struct machine *m, u32 cpu, u64 n)
{
    u64 st = m->seed ^ ((u64)cpu * 0xd1b54a32d192ed03ull) ^ (n * 0x8cb92ba72f3d8dd7ull);
    u64 u = sim_rand_next(&st) >> 48;   /* uniform, 16 bits */

    return (2 * (u64)m->irq_entry_spread_cycles * u) >> 16;
}

cycles_t smp_virt_entry_cycles(const struct machine *m)
{
    if (!m->virt)
        return 0;
    return (m->posted_interrupts ? 0 : m->vmexit_cycles) + (m->eoi_exit ? m->vmexit_cycles : 0);
}
