/* sim/engine/sim.h - the simulation: time, CPUs running ahead, and the
 * timed shootdown protocol, driven by a trace.
 *
 * One simulation serves the CLI, the visualizer and the tests:
 *   sim_create()  loads nothing itself: it takes a machine, a policy and an
 *                 source of ops (sim/trace_op.h; sim/io/trace.h: trace_src)
 *                 and owns it;
 *   sim_step()    fires one event;  sim_run() runs to the end;
 *   sim_totals()  sums the counters;  hooks report flush rows, timeline
 *                 intervals, marks and tlb_flush tracepoint events as they
 *                 happen (the CLI turns them into CSV, tlbviz into pictures).
 *
 * Time.  Every CPU has its own clock.  Memory references are local: a CPU
 * runs through them without touching the event queue until its clock passes
 * the next global event by more than sim.quantum cycles, or an interrupt is
 * due.  Ops that touch shared state (switch, idle, map with cpu, unmap,
 * protect, zap, migrate, flush, kflush, vcpu_*) run only when their CPU's
 * clock is the earliest event, so shared state changes in (time, seq)
 * order.  Ops without a CPU (mm_new, map without cpu, mm_exit, mark) are
 * barriers: every earlier line completes first and every CPU's later work
 * starts no earlier than the barrier's time.  With sim.quantum = 0 the
 * interleaving of references and shared-state changes is exact.
 */
#ifndef TLBSIM_SIM_H
#define TLBSIM_SIM_H

#include "../../models/base.h"
#include "../../models/cpu.h"
#include "../../models/flush.h"
#include "../../models/machine.h"
#include "../../models/policy.h"
#include "../trace_op.h"
#include "hist.h"

/* Counters of a whole run (CPU counters summed, plus the engine's). */
struct sim_totals {
    struct cpu_stats cpu;               /* summed over CPUs */
    u64 flush_requests;                 /* flush_tlb_mm_range / kernel / batch requests */
    u64 shootdowns;                     /* requests that sent work to other CPUs */
    u64 ipis_sent;                      /* TLB-flush IPIs delivered to other CPUs */
    u64 icr_writes;                     /* ICR writes (or PV hypercalls) to send them */
    u64 ipis_skipped_lazy;              /* CPUs in the mask skipped because lazy */
    u64 ipis_skipped_other;             /* CPUs in the mask skipped: running another mm */
    u64 pv_skipped_preempted;           /* pv-kvm: preempted vCPUs flagged instead */
    u64 hypercalls;                     /* pv flush hypercalls */
    u64 broadcasts;                     /* INVLPGB instructions */
    u64 deferred_invalidations;         /* lazy-deferred: remote invalidations at ticks */
    u64 batched_pages;                  /* batched: pages whose flush was batched */
    u64 ops;                            /* trace ops executed */
    u64 timed_ops;                      /* ops carrying a `t` timestamp (recorded traces) */
    u64 barriers;                       /* barrier ops */
    u64 marks;
    u64 events;                         /* engine events fired */
    u64 vcpu_forced_runs;               /* preempted vCPUs the host resumed for a barrier */
    u64 host_zaps;                      /* host_zap, host_wrprotect, tdx_remove ops */
    u64 host_flush_cycles;              /* the host CPU's cycles in them (work + remote flush) */
    u64 tdx_tracks;                     /* TDH.MEM.TRACK calls (TD epoch increments) */
};

/* One flush request (flushes.csv). */
struct flush_rec {
    cycles_t t_call;                    /* start of the system call that made it: t_request
                                         * minus the kernel.* work of its zap, unmap or
                                         * protect op; t_request for other causes */
    cycles_t t_request;                 /* initiator clock at the request */
    cycles_t t_done;                    /* every target acknowledged (or local done) */
    u32 initiator;
    s64 mm;                             /* trace id; -1: kernel range or batch (all mms) */
    const char *cause;                  /* trace op name: unmap, zap, flush, kflush... */
    u64 start, end;                     /* requested range; end == TLB_FLUSH_ALL for full */
    u64 pages;                          /* requested pages (4K), 0 when all */
    bool full;                          /* flushed as a full flush (after the ceiling) */
    bool freed_tables;
    u32 targets;                        /* remote CPUs that got work */
    u32 icr_writes;
    u32 skipped_lazy, skipped_other;
    u64 line;                           /* trace line of the op */
};

struct sim_hooks {
    void *arg;
    void (*flush)(void *arg, const struct flush_rec *r);
    /* Interval [t0, t1) of the timeline with the totals' change over it. */
    void (*interval)(void *arg, cycles_t t0, cycles_t t1,
                     const struct sim_totals *delta);
    void (*mark)(void *arg, cycles_t t, const char *label);
    /* A flush request as it is sent (t_done not known yet): the CPUs that
     * get it and the lazy CPUs of the mask that were skipped. */
    void (*flush_start)(void *arg, const struct flush_rec *r,
                        const struct cpumask *targets, const struct cpumask *lazy);
    /* A flush interrupt on cpu from t0 to t1 handling nr requests (nr 0: a
     * tick that ran deferred invalidations). */
    void (*irq)(void *arg, u32 cpu, cycles_t t0, cycles_t t1, u32 nr);
    /* tlb:tlb_flush tracepoint, with the task the CPU runs. */
    void (*tlb_event)(void *arg, cycles_t t, u32 cpu, s64 mm, bool idle,
                      enum tlb_flush_reason r, s64 pages);
};

struct sim_config {
    const struct machine *m;            /* copied */
    const struct flush_policy *pol;
    struct trace_src src;               /* the ops; owned by the sim from sim_create on */
    const struct trace_header *hdr;
    const char *trace_path;             /* for error messages */
    struct sim_hooks hooks;             /* any member may be NULL */
    cycles_t interval;                  /* timeline interval; 0 = none */
    bool check_invariants;              /* run the checkers after every event */
    u32 window_ops;                     /* read-ahead bound; 0 = default */
};

/* What a CPU is doing, for the visualizer and the invariant checkers. */
enum sim_cpu_state {
    SCPU_RUN,                           /* running its trace */
    SCPU_WAIT_INPUT,                    /* nothing queued (or finished) */
    SCPU_SPIN,                          /* waiting for shootdown acks */
    SCPU_IDLE,                          /* idle op: in a C-state */
    SCPU_PREEMPTED,                     /* vCPU descheduled by the host */
};

struct sim;

/* SIM_EINVAL when the trace needs more CPUs than the machine allows. */
int  sim_create(const struct sim_config *cfg, struct sim **out, struct sim_err *err);
void sim_destroy(struct sim *s);        /* closes the source */

/* Fire one event.  Returns 1 if more remain, 0 when the run is over, or a
 * negative SIM_E* code (bad trace line: err names file, line, field).
 * SIM_NEED_INPUT: the source answered TRACE_SRC_WAIT before the step could
 * run; nothing was lost, call again once the source has more ops. */
int  sim_step(struct sim *s, struct sim_err *err);
#define SIM_NEED_INPUT 2
/* Run until the global time reaches `until` (CYCLES_NEVER: the end), the
 * run ends (0), fails (< 0) or needs input (SIM_NEED_INPUT). */
int  sim_run(struct sim *s, cycles_t until, struct sim_err *err);
/* Ask a running sim_run to stop at the next event (signal-safe). */
void sim_interrupt(struct sim *s);

void sim_totals(const struct sim *s, struct sim_totals *t);
const struct hist *sim_latency(const struct sim *s);    /* shootdown latencies */
cycles_t sim_now(const struct sim *s);                  /* global time */
cycles_t sim_end_cycles(const struct sim *s);           /* when the last trace op ended */
u32  sim_nr_cpus(const struct sim *s);
const struct cpu *sim_cpu(const struct sim *s, u32 i);
enum sim_cpu_state sim_cpu_state(const struct sim *s, u32 i);
s64  sim_cpu_task_mm(const struct sim *s, u32 i);       /* trace mm id, or -1 for a kernel thread */
/* Trace id of the address space with TLB-entry index idx (struct
 * tlb_entry.mm); -1 for init_mm, -2 when no live mm has it. */
s64  sim_mm_id(const struct sim *s, u16 idx);
/* C-state of an idle CPU (1 or 6), 0 when not idle. */
u8   sim_cpu_cstate(const struct sim *s, u32 i);
/* Whether CPU i's next op waits: *until is its start cycle (CYCLES_NEVER
 * when not waiting) and *busy tells a `gap` of work from idling for `t`. */
void sim_cpu_waiting(const struct sim *s, u32 i, cycles_t *until, bool *busy);
/* IPIs in flight: fills up to max (from, to, sent, arrival). */
struct sim_ipi { u32 from, to; cycles_t sent, arrival; };
u32  sim_ipis_in_flight(const struct sim *s, struct sim_ipi *out, u32 max);
double sim_progress(const struct sim *s);               /* fraction of the trace read */

#endif
