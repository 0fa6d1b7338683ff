/* workloads/wl_impl.h - the emitter the generators share (internal).
 *
 * Every helper appends one op through the caller's wl_emit_fn.  Errors are sticky: the
 * first failure is kept in o->rc and later calls do nothing, so a generator
 * writes its loops without checking each call and returns wl_done(o) at the
 * end (the same trick as a FILE's error flag).
 *
 * Timing: wl_think()/wl_work() add "other work" to a per-CPU pending gap,
 * which the next op of that CPU carries as "gap" and then clears.
 *
 * Address layout (all canonical, 48-bit):
 *   WL_USER_BASE + n * slot    user regions; slots are 1 GiB aligned, so any
 *                              page size fits; a slot is reused after its
 *                              munmap, like Linux's top-down allocator does
 *   WL_KERNEL_BASE             a direct-map-like kernel region, mapped once
 *                              into every mm with global entries
 */
#ifndef TLBSIM_WL_IMPL_H
#define TLBSIM_WL_IMPL_H

#include "wl.h"
#include "../sim/trace_op.h"

#define WL_USER_BASE    0x100000000000ull   /* 16 TiB */
#define WL_SLOT_ALIGN   (1ull << 30)
#define WL_KERNEL_BASE  0xffff888000000000ull
#define WL_KERNEL_LEN   (64ull << 20)       /* 2M pages */
#define WL_MAX_VA_BATCH 64                  /* addresses per access op */

struct wl_out {
    wl_emit_fn *emit;                   /* the output */
    void *emit_ctx;                     /* its argument */
    struct sim_err *err;                /* where the first error goes */
    int rc;                             /* first error (sticky) */
    u64 rng;                            /* splitmix64 state */
    u64 *pend_gap;                      /* per CPU: cycles the next op carries */
    u32 cpus;                           /* header cpus */
    u64 gap_mean;                       /* p->gap */
    u64 ops;                            /* ops written */
    u64 next_slot;                      /* bump allocator for user regions */
    s64 next_mm;                        /* next fresh mm id */
};

static inline u64 wl_rand(struct wl_out *o) { return sim_rand_next(&o->rng); }
/* Uniform in [0, n); n > 0.  n <= 2^40 here: the modulo bias is below 2^-24. */
static inline u64 wl_below(struct wl_out *o, u64 n) { return wl_rand(o) % n; }
static inline bool wl_pct(struct wl_out *o, u32 pct) { return wl_below(o, 100) < pct; }
static inline u64 wl_page(const struct wl_params *p) { return 1ull << p->page_shift; }
static inline u64 wl_round_up(u64 v, u64 a) { return (v + a - 1) & ~(a - 1); }
static inline u64 wl_npages(const struct wl_params *p) { return p->wss >> p->page_shift; }

/* A fresh 1 GiB-aligned user range of at least len bytes. */
u64  wl_va_alloc(struct wl_out *o, u64 len);
s64  wl_mm_alloc(struct wl_out *o);

/* Timing */
void wl_work(struct wl_out *o, u32 cpu, u64 cycles);
void wl_think(struct wl_out *o, u32 cpu);   /* gap_mean, jittered +-50% */

/* Ops.  cpu < 0 for a map makes it a barrier (no "cpu" field). */
void wl_mm_new(struct wl_out *o, s64 mm);
void wl_mm_exit(struct wl_out *o, u32 cpu, s64 mm);
void wl_map(struct wl_out *o, int cpu, s64 mm, u64 va, u64 len, unsigned shift,
            unsigned prot, bool populate);
void wl_map_kernel(struct wl_out *o);
void wl_unmap(struct wl_out *o, u32 cpu, s64 mm, u64 va, u64 len);
void wl_protect(struct wl_out *o, u32 cpu, s64 mm, u64 va, u64 len, unsigned prot);
void wl_zap(struct wl_out *o, u32 cpu, s64 mm, u64 va, u64 len);
void wl_migrate(struct wl_out *o, u32 cpu, s64 mm, u64 va, u64 len);
void wl_flush(struct wl_out *o, u32 cpu, s64 mm, u64 va, u64 len, unsigned stride_shift);
void wl_access(struct wl_out *o, u32 cpu, const u64 *vas, u32 n, char kind);
void wl_access1(struct wl_out *o, u32 cpu, u64 va, char kind);
void wl_stream(struct wl_out *o, u32 cpu, u64 va, u64 stride, u64 count, char kind);
void wl_switch(struct wl_out *o, u32 cpu, s64 mm);       /* MM_NULL: kernel thread */
void wl_idle(struct wl_out *o, u32 cpu, u8 cstate);      /* cstate 0: not given */
void wl_vcpu(struct wl_out *o, u32 cpu, bool run);
void wl_mark(struct wl_out *o, const char *label);
/* Host side of a VM (barrier ept_map; host ops on vCPU cpu's physical CPU). */
void wl_ept_map(struct wl_out *o, u64 gpa, u64 len, unsigned shift);
void wl_host(struct wl_out *o, enum trace_op_type t, u32 cpu, u64 gpa, u64 len);

/* The end of every generator: a "teardown" mark (a barrier: every CPU is
 * done first), then every CPU switches to a kernel thread, so the
 * generator's mm_exit ops find no CPU running their mm. */
void wl_teardown(struct wl_out *o);

/* n random references into [va, va + len) (len > 0), batched by kind. */
void wl_random_refs(struct wl_out *o, u32 cpu, u64 va, u64 len, u32 n,
                    u32 write_pct);
/* n instruction fetches at random lines of [va, va + len). */
void wl_fetch(struct wl_out *o, u32 cpu, u64 va, u64 len, u32 n);
/* Kernel-thread work: n references into the kernel region. */
void wl_kernel_refs(struct wl_out *o, u32 cpu, u32 n);

static inline int wl_done(struct wl_out *o) { return o->rc; }

/* Generators (one file per family). */
int wl_gen_tlb_flush(struct wl_out *o, const struct wl_params *p);
int wl_gen_munmap_storm(struct wl_out *o, const struct wl_params *p);
int wl_gen_server(struct wl_out *o, const struct wl_params *p);
int wl_gen_fork_exec(struct wl_out *o, const struct wl_params *p);
int wl_gen_numa(struct wl_out *o, const struct wl_params *p);
int wl_gen_jit(struct wl_out *o, const struct wl_params *p);
int wl_gen_virt(struct wl_out *o, const struct wl_params *p);
int wl_gen_heap_reuse(struct wl_out *o, const struct wl_params *p);
int wl_gen_vm_reclaim(struct wl_out *o, const struct wl_params *p);
int wl_gen_vm_reclaim_tdx(struct wl_out *o, const struct wl_params *p);
int wl_gen_vm_migrate(struct wl_out *o, const struct wl_params *p);

void wl_defaults_tlb_flush1(struct wl_params *p);
void wl_defaults_tlb_flush2(struct wl_params *p);
void wl_defaults_tlb_flush3(struct wl_params *p);
void wl_defaults_munmap_storm(struct wl_params *p);
void wl_defaults_server(struct wl_params *p);
void wl_defaults_fork_exec(struct wl_params *p);
void wl_defaults_numa(struct wl_params *p);
void wl_defaults_jit(struct wl_params *p);
void wl_defaults_virt(struct wl_params *p);
void wl_defaults_heap_reuse(struct wl_params *p);
void wl_defaults_vm_reclaim(struct wl_params *p);
void wl_defaults_vm_reclaim_tdx(struct wl_params *p);
void wl_defaults_vm_migrate(struct wl_params *p);

#endif
