/* workloads/wl.h - synthetic workload generators.
 *
 * Each generator turns a plain struct of parameters into a stream of trace
 * ops (sim/trace_op.h) handed to a wl_emit_fn, deterministically: the same
 * parameters and seed give the same ops.  The JSON spec files under
 * workloads/ are parsed by sim/io/wl_spec.c (the only layer that may use
 * cJSON) into a struct wl_params, and its wl_generate() writes the ops to a
 * trace file; workloads/ itself does no I/O.
 *
 * Every generated trace is valid for `tlbsim check`: address spaces are
 * created before use and torn down only once no CPU runs them, a CPU always
 * switches to a user mm before touching user addresses, mappings never
 * overlap, and a range is only ever unmapped, zapped or re-protected in the
 * program order of the one CPU that owns it, so no CPU can race an access
 * into a hole.  Docs: docs/workloads.md.
 */
#ifndef TLBSIM_WL_H
#define TLBSIM_WL_H

#include "../models/base.h"

#define WL_MAX_CPUS       1024          /* = MACHINE_MAX_CPUS */
#define WL_MAX_ITERATIONS 100000000ull  /* per CPU */
#define WL_MAX_WSS        (1ull << 40)  /* bytes of one working set */
#define WL_MAX_TASKS      4096
#define WL_MAX_GAP        (1ull << 40)  /* cycles */
#define WL_NAME_MAX       128

enum wl_mode {
    WL_MODE_THREADS = 0,                /* all CPUs run threads of one mm */
    WL_MODE_PROCESSES = 1,              /* each CPU runs its own mm */
};

/* Optional keys: a workload lists the ones it reads in wl_desc.keys; a spec
 * giving any other optional key is rejected (a typo must not go unnoticed).
 * workload, name, description, cpus, iterations, seed, wss, page and gap are
 * common to every workload. */
#define WLK_MODE           (1u << 0)
#define WLK_ACCESSES       (1u << 1)
#define WLK_TASKS          (1u << 2)
#define WLK_KTHREAD_PCT    (1u << 3)
#define WLK_IDLE_PCT       (1u << 4)
#define WLK_BATCH_PAGES    (1u << 5)
#define WLK_PERIOD         (1u << 6)
#define WLK_MIGRATE_PAGES  (1u << 7)
#define WLK_PREEMPT_PCT    (1u << 8)
#define WLK_PREEMPT_CYCLES (1u << 9)
#define WLK_CODE_PAGES     (1u << 10)

struct wl_params {
    char name[WL_NAME_MAX];             /* trace header name; "" = workload name */
    enum wl_mode mode;                  /* WLK_MODE */
    u32 cpus;                           /* 1..WL_MAX_CPUS */
    u64 iterations;                     /* steps per CPU, 1..WL_MAX_ITERATIONS */
    u64 seed;                           /* PRNG seed (splitmix64) */
    u64 wss;                            /* working-set bytes, rounded up to the page size */
    u8  page_shift;                     /* 12, 21 or 30: page size of the working set */
    u64 gap;                            /* mean cycles of non-memory work between ops */
    u32 accesses;                       /* WLK_ACCESSES: references per step, 1..4096 */
    u32 tasks;                          /* WLK_TASKS: user processes (server) */
    u32 kthread_pct;                    /* WLK_KTHREAD_PCT: % of slices in a kernel thread */
    u32 idle_pct;                       /* WLK_IDLE_PCT: % of slices idle */
    u32 batch_pages;                    /* WLK_BATCH_PAGES: pages per mmap/munmap */
    u32 period;                         /* WLK_PERIOD: steps between the workload's special op */
    u32 migrate_pages;                  /* WLK_MIGRATE_PAGES: pages per NUMA migration */
    u32 preempt_pct;                    /* WLK_PREEMPT_PCT: % of steps a vCPU is preempted */
    u64 preempt_cycles;                 /* WLK_PREEMPT_CYCLES: mean host-side run time */
    u32 code_pages;                     /* WLK_CODE_PAGES: 4K pages of JIT code cache */
};

struct wl_out;                          /* the emitter; wl_impl.h */
typedef int wl_gen_fn(struct wl_out *o, const struct wl_params *p);

struct wl_desc {
    const char *name;                   /* "tlb_flush2", ... (the spec's "workload") */
    const char *summary;                /* one line for listings */
    u32 keys;                           /* WLK_* this workload reads */
    wl_gen_fn *gen;
    void (*defaults)(struct wl_params *p);  /* workload-specific defaults */
};

/* The workload called name, or NULL. */
const struct wl_desc *wl_find(const char *name);
/* The table of every workload; *nr gets its length. */
const struct wl_desc *wl_list(size_t *nr);
/* Fill p with the common defaults, then d's own. */
void wl_params_init(struct wl_params *p, const struct wl_desc *d);
/* Check p against d's limits.  SIM_EINVAL with err->msg = "KEY: what". */
int  wl_params_check(const struct wl_params *p, const struct wl_desc *d,
                     struct sim_err *err);
/* Where the ops go: SIM_OK, or a negative SIM_E* code with err set, which
 * stops the generator (the code is what wl_run returns). */
struct trace_op;
typedef int wl_emit_fn(void *ctx, const struct trace_op *op, struct sim_err *err);
/* Check p against d (SIM_EINVAL, "KEY: what"), then *out = p with wss
 * rounded up to the page size and an empty name replaced by d's. */
int  wl_prepare(const struct wl_desc *d, const struct wl_params *p, struct wl_params *out,
                struct sim_err *err);
/* Run d's generator on p (from wl_prepare) for a trace of p->cpus CPUs:
 * every op goes to emit(ctx, ...).  SIM_OK or the first error. */
int  wl_run(const struct wl_desc *d, const struct wl_params *p, wl_emit_fn *emit, void *ctx,
            struct sim_err *err);

/* The key name of one WLK_* bit ("mode", "accesses", ...). */
const char *wl_key_name(u32 wlk_bit);

#endif
