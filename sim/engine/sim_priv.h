/* sim/engine/sim_priv.h - the engine's internal state, shared by sim.c
 * (time, reading, the run loop, barriers, public API), shootdown.c
 * (interrupts and the initiator's side of every transport) and ops.c (what
 * each trace op does).  Not a public header: sim.h is the contract.
 */
#ifndef TLBSIM_SIM_PRIV_H
#define TLBSIM_SIM_PRIV_H

#include <signal.h>

#include "../../models/apic.h"
#include "../../models/arena.h"
#include "../../models/ept.h"
#include "../../models/kvm.h"
#include "../../models/smp.h"
#include "csdq.h"
#include "ev.h"
#include "sim.h"

/* From this many CPUs on, per-CPU memory comes from huge-page-advised
 * arenas (docs/performance.md, issue 16).  Below it a huge page holds the
 * memory of every CPU and more, and would only add resident memory.  The
 * line was 128 until the STLB entries and the start-up arrays stopped
 * costing faults of their own; measured then (1M references, 1000 flushes,
 * best of 9 interleaved, quiet): 8 and 16 CPUs the same CPU time either
 * way; 32 CPUs 0.052 -> 0.024 s, 64 CPUs 0.060 -> 0.026 s, for about
 * 12 MB more resident memory per simulation. */
#define SIM_ARENA_MIN_CPUS 32u
#define WINDOW_OPS_DEFAULT 65536u
#define WINDOW_ADDRS (1u << 19)         /* buffered access addresses (4 MiB) */
#define MM_HASH_BITS 17                 /* > 2 * TRACE_MAX_MMS slots */
#define MM_HASH_SIZE (1u << MM_HASH_BITS)
#define MM_HASH_BYTES (MM_HASH_SIZE * sizeof(struct mm_hslot))
#define MM_BY_IDX_BYTES ((TRACE_MAX_MMS + 1) * sizeof(struct mm *))

/* The initiator's side of one flush request (pooled: a deferred request
 * outlives the op that made it). */
struct shootdown {
    /* What every target's handler reads, together. */
    struct flush_tlb_info info;
    struct smp_costs costs;             /* per-target costs from the initiator (IPI'd) */
    struct smp_info_line info_line;     /* the flush_tlb_info line the targets read */
    cycles_t wait_total;                /* csd_lock_wait cycles over every target */
    cycles_t last_ack;                  /* latest acknowledgement seen (csd_lock_wait fold) */
    u32 pending;                        /* acknowledgements outstanding */
    u32 nr_mms, cap_mms;
    struct mm **mms;                    /* batched: one entry per batched op */
    struct flush_rec rec;
    struct mmu_gather gather;           /* pages and tables freed when done */
    struct mm *mm;                      /* NULL for kernel and batched flushes */
    cycles_t local_done;                /* the initiator's own part finished */
    bool exit_mm;                       /* mm_exit: tear the mm down when done */
    bool pti_from_user;                 /* PTI: the initiator returns to user space when done */
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
    bool starved;                       /* nothing queued: no run event until input */
    bool spinning;                      /* waiting for its shootdown's acks */

    /* trace ops in program order */
    struct trace_op *q;                 /* ring of q_cap (power of two) */
    u32 q_head, q_len, q_cap;
    u64 *ring;                          /* access addresses, FIFO like q */
    size_t r_head, r_len, r_cap;
    struct trace_op *cur;               /* op being executed (its slot in q) */
    bool has_cur, started, gap_busy, waiting_busy;
    cycles_t start_at;                  /* when cur may start */
    u64 idx;                            /* references of cur done */

    struct mm *task_mm;                 /* current task's mm; NULL: kernel thread */
    bool idle;                          /* in an idle op (C-state) */
    u8 cstate;
    bool preempted;                     /* vCPU descheduled by the host */
    bool pv_flush_pending;              /* KVM_VCPU_FLUSH_TLB set while preempted */
    struct kvm_vcpu kvm;                /* host side: pending requests, kick, TD epoch */
    cycles_t irqs_off_until;

    /* What a flush request reads of every target, together: from
     * preempted on, the interrupt time's inputs, the queue's header and
     * the run event (sim_wake_at). */
    struct csd_node *deferred;          /* lazy-deferred invalidations, FIFO */
    cycles_t tick_at;                   /* next tick that handles them */
    struct ev run_ev;                   /* the CPU's next turn */
    struct csdq csdq;                   /* pending requests by (arrival, posting order) */
    u64 irqs_taken;                     /* flush interrupts so far (entry-spread stream) */
    struct csd_node *deferred_tail;     /* deferred's last entry */
    struct shootdown *sd_wait;          /* the flush it spins on */
    struct tlbbatch batch;
};

struct mm_hslot { s64 id; struct mm *mm; };

struct sim {
    struct machine m;
    const struct flush_policy *pol;
    struct trace_src src;               /* the ops (closed at sim_destroy) */
    struct trace_header hdr;
    const char *path;
    struct sim_hooks hooks;
    struct ev_queue q;
    cycles_t now;                       /* time of the last event fired */
    u32 nr_cpus;
    /* Per-CPU memory (models/arena.h) from SIM_ARENA_MIN_CPUS CPUs on:
     * [0] cpus[], the TLB arrays every reference uses, queues, small
     * read-ahead rings; [CPU_ARENA_RARE] the TLB arrays only some
     * workloads touch (cpu_init_in).  pcpu is arena then, else NULL
     * (malloc, calloc and mmap as for any other memory). */
    struct arena arena[CPU_ARENAS];
    struct arena *pcpu;
    struct sim_cpu *cpus;               /* in pcpu[0], or calloc */
    struct sim_cpu *running;            /* CPU whose run loop is active */
    cycles_t *arrival;                  /* scratch, nr_cpus */
    cycles_t *queued_since;             /* nr_cpus: csdq_queued_since of each CPU's queue, */
    bool queued_since_set;              /* kept from the first flush request on (shootdown.c) */
    struct cpumask preempted;           /* vCPUs the host has descheduled */
    struct kvm_vm vm;                   /* host side of the VM (models/kvm.h) */
    struct cpu **cpu_ptrs;              /* env.cpus */

    struct frame_alloc frames;          /* with virt.ept: guest-physical frames */
    struct pt_ctx ptc;
    struct ept ept;                     /* the VM's EPT (virt.ept); zeroed otherwise */
    struct mm init_mm;
    struct mm_hslot *mm_hash;           /* trace id -> mm */
    struct mm **mm_by_idx;              /* idx -> mm (1..TRACE_MAX_MMS) */
    u32 mm_idx_high;                    /* highest idx ever handed out: loops over mm_by_idx stop there */
    u16 *free_idx;                      /* released indices, the latest on top */
    u32 nr_free_idx;
    u64 next_ctx_id;

    struct flush_env env;
    struct sim_totals eng;              /* engine counters (cpu part unused) */
    struct hist lat;
    struct csd_pool csds;               /* ring segments and deferred requests */
    struct shootdown *sd_free;
    struct shootdown *sd_all;

    /* reading */
    u32 window_ops;
    u32 buffered_ops;
    size_t buffered_addrs;
    bool eof;
    bool need_input;                    /* the source said TRACE_SRC_WAIT mid-read */
    bool input_after_barrier;           /* ... in the read that follows a barrier */
    bool has_barrier;
    struct sim_cpu *last_q;             /* CPU the last op read went to (pump) */
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

/* ---- sim.c ---------------------------------------------------------------- */
/* Record the first error (FILE:LINE: FIELD: msg) and return its code. */
int  sim_fail(struct sim *s, int code, u64 line, const char *field, const char *msg);
/* ev_schedule on s->q; out of memory fails the run (sim_fail). */
void sim_schedule(struct sim *s, struct ev *e, cycles_t when);
int  sim_fail_err(struct sim *s, u64 line, const char *field, const struct sim_err *e);
struct mm *sim_mm_lookup(struct sim *s, s64 id);        /* NULL if not live */
void sim_mm_release(struct sim *s, struct mm *mm);      /* after mm_exit's flush */
/* Make sc run no later than t (never before its own clock).  Inline: a
 * flush calls it for every target, which usually has its turn already. */
static inline void sim_wake_at(struct sim *s, struct sim_cpu *sc, cycles_t t)
{
    if (s->running == sc)
        return;                         /* its own loop will see the change */
    if (ev_queued(&sc->run_ev) && sc->run_ev.when <= t)
        return;                         /* due no later anyway (the clock is not read) */
    if (t < sc->hw.now)
        t = sc->hw.now;
    if (!ev_queued(&sc->run_ev) || sc->run_ev.when > t)
        sim_schedule(s, &sc->run_ev, t);
}

/* ---- shootdown.c ------------------------------------------------------------ */
/* The earliest queued request on sc (NULL if none). */
static inline const struct csd *sd_first_csd(const struct sim_cpu *sc)
{
    return csdq_first(&sc->csdq);
}
cycles_t sd_irq_time(const struct sim_cpu *sc);         /* next deliverable interrupt */
cycles_t sd_cstate_exit(const struct sim *s, const struct sim_cpu *sc);
void sd_handle_irqs(struct sim *s, struct sim_cpu *sc); /* at sc's clock */
cycles_t sd_run_deferred(struct sim *s, struct sim_cpu *sc);
struct shootdown *sd_get(struct sim *s);                /* NULL when out of memory */
void sd_put(struct sim *s, struct shootdown *sd);
/* flush_tlb_mm_range() (mm), flush_tlb_kernel_range() (mm NULL) or
 * arch_tlbbatch_flush() (batch_mask) on sc at its clock. */
int  sd_flush_request(struct sim *s, struct sim_cpu *sc, struct shootdown *sd,
                      struct mm *mm, u64 start, u64 end, u8 stride_shift,
                      bool freed_tables, const struct trace_op *op,
                      const struct cpumask *batch_mask);
int  sd_batch_flush(struct sim *s, struct sim_cpu *sc);
int  sd_batch_add(struct sim *s, struct sim_cpu *sc, struct mm *mm,
                  struct mmu_gather *g, const struct trace_op *op);
bool sd_batch_due(const struct sim *s, const struct sim_cpu *sc);
void sd_trace_hook(void *arg, u32 cpu, enum tlb_flush_reason r, s64 pages);

/* ---- host.c ----------------------------------------------------------------- */
/* The host changed a present EPT entry: every mm's pte_epoch moves, so
 * each cached combined translation is re-checked once against the guest
 * tables and the EPT (models/cpu.h) -- the EPT epoch folded into the one
 * compare the TLB hit already makes. */
void host_ept_changed(struct sim *s);
/* host_zap, host_wrprotect, tdx_remove, vcpu_migrate on sc's physical CPU. */
int  host_op(struct sim *s, struct sim_cpu *sc, const struct trace_op *op);
/* A kick IPI is due on sc (kvm.kick_at <= its clock): exit, re-entry. */
void host_take_kick(struct sim *s, struct sim_cpu *sc);
/* The host deschedules (vcpu_preempt) / runs (vcpu_run) the vCPU. */
void host_vcpu_out(struct sim *s, struct sim_cpu *sc);
void host_vcpu_in(struct sim *s, struct sim_cpu *sc);

/* ---- ops.c ------------------------------------------------------------------ */
int  op_exec_global(struct sim *s, struct sim_cpu *sc, const struct trace_op *op);
bool op_batch_flush_first(const struct sim *s, const struct sim_cpu *sc,
                          const struct trace_op *op);
void op_switch_point(struct sim *s, struct sim_cpu *sc);  /* deferred work at a switch */
/* The kernel's work in the system call behind a zap, unmap or protect op
 * that changed nr_ptes present PTEs (kernel.* keys; 0 for other ops). */
cycles_t op_kernel_work(const struct machine *m, enum trace_op_type type, u64 nr_ptes);
void op_vcpu_run(struct sim *s, struct sim_cpu *sc);
int  op_map(struct sim *s, const struct trace_op *op);      /* barrier op, or on its cpu */

/* References until the op ends or the clock reaches stop.  The hot loop:
 * no event queue, no allocation, no logging.  Inline (with
 * op_exec_local) in the run loop, which calls it once per op. */
static inline bool op_run_refs(struct sim_cpu *sc, cycles_t stop)
{
    struct cpu *c = &sc->hw;
    const struct trace_op *op = sc->cur;
    cycles_t now = c->now, t0 = now;
    u64 i = sc->idx;
    u8 kind = op->kind;

    if (op->type == OP_STREAM) {
        u64 n = op->count, va = op->va + i * op->stride;
        for (; i < n && now < stop; i++, va += op->stride)
            now += cpu_access(c, va, kind);
        c->now = now;
    } else {
        /* The op's addresses are one or two runs of the ring (it wraps);
         * a single one (one-address ops) is cheaper without a run. */
        u64 n = op->nr_va;
        if (n - i == 1 && c->now < stop) {
            c->now += cpu_access(c, sc->ring[(sc->r_head + i) & (sc->r_cap - 1)], kind);
            i++;
        }
        while (i < n && c->now < stop) {
            size_t at = (sc->r_head + i) & (sc->r_cap - 1), left = sc->r_cap - at;
            i += cpu_access_run(c, sc->ring + at, (u32)(n - i < left ? n - i : left), stop,
                                kind);
        }
    }
    c->st.busy_cycles += c->now - t0;
    sc->idx = i;
    return i == (op->type == OP_STREAM ? op->count : op->nr_va);
}

/* Run sc's local op until it ends (true) or the clock reaches stop. */
static inline bool op_exec_local(struct sim_cpu *sc, cycles_t stop)
{
    struct cpu *c = &sc->hw;

    if (sc->cur->type == OP_IRQS_OFF) {
        sc->irqs_off_until = c->now + sc->cur->cycles;
        c->now += sc->cur->cycles;
        c->st.busy_cycles += sc->cur->cycles;
        return true;
    }
    return op_run_refs(sc, stop);
}
int  op_ept_map(struct sim *s, const struct trace_op *op);  /* barrier op */

#endif
