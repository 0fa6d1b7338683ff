/* models/smp.h - what a synchronous cross-CPU function call costs, step by
 * step as kernel/smp.c smp_call_function_many_cond() pays it.  Pure cost
 * functions; the engine (sim/engine/shootdown.c) schedules the steps.
 *
 * The initiator, for every CPU of the mask (cpumask order):
 *   should_flush_tlb()  smp.cond_cycles          (on_each_cpu_cond_mask only)
 *   csd_lock()          smp.csd_lock_cycles      the csd line comes back from
 *                                                the target that unlocked it
 *   llist_add()         smp.llist_add_cycles     onto the target's
 *                                                call_single_queue
 * llist_add() returns true only when the queue was empty; only those targets
 * get an IPI (cfd->cpumask_ipi).  A target whose queue already holds another
 * initiator's csd gets none: its pending interrupt drains both.
 * then sends (models/apic.h: one ICR write, or one per target or cluster,
 * or PV hypercalls) to the targets that need one, runs its own
 * flush_tlb_func(), and then
 *   csd_lock_wait()     ipi.ack_cycles           each target's csd in turn,
 *                                                in cpumask order
 * Each target: interrupt entry (ipi.irq_entry_cycles plus a seeded spread,
 * smp_irq_entry_spread()), llist_del_all() and the csd (smp.csd_read_cycles),
 * the flush_tlb_info line every target reads (smp.info_line_cycles, readers
 * queue for smp.info_share_cycles each), flush_tlb_func(), csd_unlock().
 * A line moved between sockets costs smp.cross_socket_line_cycles more.
 *
 * Sources: kernel/smp.c (smp_call_function_many_cond, csd_lock,
 * csd_lock_wait, flush_smp_call_function_queue), arch/x86/mm/tlb.c
 * (native_flush_tlb_multi), ../shared/reference/linux-tlb.md A6.
 */
#ifndef TLBSIM_SMP_H
#define TLBSIM_SMP_H

#include "apic.h"
#include "base.h"
#include "cpumask.h"
#include "machine.h"

/* One cache-line transfer of `base` cycles between from's and to's cores. */
static inline cycles_t smp_line(const struct machine *m, u32 from, u32 to, u32 base)
{
    return base + (machine_socket_of(m, from) == machine_socket_of(m, to)
                       ? 0 : m->smp_cross_socket_line_cycles);
}

/* csd_lock() + llist_add() for one target. */
static inline cycles_t smp_queue_cycles(const struct machine *m, u32 self, u32 cpu)
{
    return smp_line(m, self, cpu, m->smp_csd_lock_cycles) +
           smp_line(m, self, cpu, m->smp_llist_add_cycles);
}

/* csd_lock_wait() on one target whose csd is already unlocked. */
static inline cycles_t smp_wait_cycles(const struct machine *m, u32 self, u32 cpu)
{
    return smp_line(m, self, cpu, m->ack_cycles);
}

/* The per-target costs of one initiator's request, worked out once per
 * request: [0] for a target on the initiator's socket, [1] across (each
 * the same sum of smp_line() terms as the functions above). */
struct smp_costs {
    struct socket_span near;            /* the initiator's socket */
    cycles_t queue[2];                  /* smp_queue_cycles */
    cycles_t wait[2];                   /* smp_wait_cycles */
    cycles_t read[2];                   /* the csd (smp.csd_read_cycles) */
    cycles_t info[2];                   /* the info line (smp.info_line_cycles) */
};

void smp_costs_init(const struct machine *m, u32 self, struct smp_costs *k);

/* 1 when cpu is on another socket than the initiator, else 0. */
static inline u32 smp_far(const struct smp_costs *k, u32 cpu)
{
    return !socket_span_has(k->near, cpu);
}

struct smp_send {
    u32 writes;                         /* ICR writes (or PV send-IPI hypercalls) */
    u32 nr_ipi;                         /* targets whose llist_add() found the queue empty */
    struct cpumask ipi;                 /* those targets (cfd->cpumask_ipi) */
    cycles_t queue_cycles;              /* cond + csd_lock + llist_add, every target */
    cycles_t send_cycles;               /* queue_cycles + the IPI sends */
    cycles_t wait_total;                /* sum of smp_wait_cycles over the targets */
};

/* The initiator's side up to the last IPI sent: nr_cond CPUs examined by a
 * condition, every target queued, then the IPIs sent from t0 + queue time.
 * queued_since[cpu] (NULL: every queue empty) is when cpu's call_single_queue
 * last became non-empty and still is, CYCLES_NEVER when empty.  A target
 * whose llist_add() (at t0 + the queue cycles up to and including it) comes
 * no earlier gets no IPI and arrival[cpu] = that llist_add() time (the
 * engine then waits for the pending interrupt); every other target gets
 * arrival[cpu] = its IPI's APIC arrival. */
void smp_call_function_many_cond(const struct machine *m, u32 self,
                                 const struct cpumask *targets, u32 nr_cond,
                                 bool pv_ipi, cycles_t t0, const cycles_t *queued_since,
                                 cycles_t *arrival, struct smp_send *out);

/* The flush_tlb_info line that every target of one request reads. */
struct smp_info_line {
    cycles_t busy_until;                /* the line serves the next reader from here */
    cycles_t last_at;                   /* when the latest reader (in time) asked for it */
};

/* A target of initiator `self` reaches the csd and the info line at t:
 * returns the cycles until it has both (queueing behind earlier readers).
 * Readers need not come in time order: a handler drains its whole queue
 * in one step, so it may read a line at a time past another target's
 * read that the engine runs later.  A reader earlier than the latest one
 * is served without waiting (it came first; the later readers' waits were
 * reckoned without it, a small underestimate); it never waits for a
 * reservation made in its future. */
cycles_t smp_target_read(const struct machine *m, u32 self, u32 cpu,
                         struct smp_info_line *line, cycles_t t);

/* smp_target_read() with the initiator's costs worked out (smp_costs). */
static inline cycles_t smp_target_read_k(const struct machine *m, const struct smp_costs *k,
                                         u32 cpu, struct smp_info_line *line, cycles_t t)
{
    u32 far = smp_far(k, cpu);
    cycles_t at = t + k->read[far], start = at;

    if (at >= line->last_at) {          /* in time order: queue behind the others */
        if (line->busy_until > start)
            start = line->busy_until;
        line->busy_until = start + m->smp_info_share_cycles;
        line->last_at = at;
    }
    return start + k->info[far] - t;
}

/* The extra interrupt-entry latency of cpu's n-th interrupt: uniform in
 * [0, 2 x ipi.irq_entry_spread_cycles), mean the key, deterministic from
 * sim.seed, cpu and n (one stream per CPU, consumed in the order it takes
 * interrupts), so adding a target never changes another's draw.  The
 * slowest of N targets gets N/(N+1) of the range on average: it grows with
 * N.  Bounded on purpose: a range below one target's queueing and waiting
 * cost keeps latency strictly rising with the target count. */
cycles_t smp_irq_entry_spread(const struct machine *m, u32 cpu, u64 n);

/* What a vCPU pays per interrupt beyond native entry, before the callbacks
 * run: a VM exit when interrupts are not posted (the host kicks it and
 * injects on entry) and one when the EOI write traps (sysvec_call_function
 * writes the EOI first, arch/x86/kernel/smp.c).  0 on bare metal. */
cycles_t smp_virt_entry_cycles(const struct machine *m);

/* csd_lock_wait() over the targets in cpumask order: target k (unlocked at
 * u_k, with wait_before_k the wait cycles of the targets before it) makes
 * the initiator done no earlier than u_k + (wait_total - wait_before_k);
 * the initiator starts waiting at local_done and reads every csd once. */
static inline cycles_t smp_wait_done(cycles_t unlock, cycles_t wait_total,
                                     cycles_t wait_before)
{
    return unlock + (wait_total - wait_before);
}

#endif
