/* models/flush.h - Linux x86 TLB flush rules, in the kernel's words.
 *
 * Pure state transitions with their cycle costs; the engine decides when
 * they happen.  Every function follows the kernel function of the same name
 * in arch/x86/mm/tlb.c (6.x-late unless the policy selects older rules; see
 * models/policy.h and ../shared/reference/linux-tlb.md A3-A8).
 */
#ifndef TLBSIM_FLUSH_H
#define TLBSIM_FLUSH_H

#include "base.h"
#include "cpu.h"
#include "cpumask.h"
#include "mm.h"
#include "policy.h"

#define TLB_FLUSH_ALL UINT64_MAX
#define TLB_GENERATION_INVALID 0

/* include/linux/mm_types.h, in this order. */
enum tlb_flush_reason {
    TLB_FLUSH_ON_TASK_SWITCH = 0,
    TLB_REMOTE_SHOOTDOWN = 1,
    TLB_LOCAL_SHOOTDOWN = 2,
    TLB_LOCAL_MM_SHOOTDOWN = 3,
    TLB_REMOTE_SEND_IPI = 4,
    TLB_REMOTE_WRONG_CPU = 5,
};
const char *tlb_flush_reason_str(enum tlb_flush_reason r);

struct flush_tlb_info {
    struct mm *mm;                      /* NULL: every mm (batched) or kernel */
    u64 start, end;                     /* end == TLB_FLUSH_ALL: full flush */
    u64 new_tlb_gen;                    /* TLB_GENERATION_INVALID for mm == NULL */
    u32 initiating_cpu;
    u8  stride_shift;
    bool freed_tables;
    bool trim_cpumask;                  /* 6.13+: IPI stale CPUs so they leave the mask */
    bool kernel;                        /* flush_tlb_kernel_range: global entries too */
};

/* 6.15+ global ASIDs (policy broadcast-asid), arch/x86/mm/tlb.c:
 * global_asid_used/global_asid_freed bitmaps, last_global_asid,
 * global_asid_available.  One per simulation (the kernel's are global). */
#define GLOBAL_ASID_WORDS ((4096 + 63) / 64)
/* consider_global_asid(): "mm_active_cpus_exceeds(mm, 3)", a global ASID
 * once the mm runs (loaded, not lazy) on 4 or more CPUs. */
#define GLOBAL_ASID_CPU_THRESHOLD 3
struct global_asid_space {
    u64 used[GLOBAL_ASID_WORDS];
    u64 freed[GLOBAL_ASID_WORDS];       /* released, reusable after the next reset */
    u16 max;                            /* MAX_ASID_AVAILABLE (4094, 2046 with PTI) */
    u16 last;                           /* last_global_asid */
    u32 available;                      /* global_asid_available */
};

/* The world the rules act on. */
struct flush_env {
    struct cpu **cpus;                  /* by CPU number */
    u32 nr_cpus;
    struct mm *init_mm;
    const struct machine *m;
    const struct flush_policy *pol;
    cycles_t now;                       /* for jiffies (trim) */
    /* tlb:tlb_flush tracepoint; may be NULL */
    void (*trace)(void *arg, u32 cpu, enum tlb_flush_reason r, s64 pages);
    void *trace_arg;
    struct global_asid_space gas;       /* broadcast-asid only */
};

/* jiffies at env->now (HZ = machine linux.hz). */
u64  flush_jiffies(const struct flush_env *env);

/* switch_mm_irqs_off(): load next (init_mm for leave_mm).  Returns cycles. */
u32  switch_mm_irqs_off(struct flush_env *env, struct cpu *c, struct mm *next);
/* enter_lazy_tlb(): a kernel thread borrows the loaded mm; no CR3 write. */
void enter_lazy_tlb(struct flush_env *env, struct cpu *c);
/* leave_mm(): deep idle drops a lazily borrowed mm.  Returns cycles. */
u32  leave_mm(struct flush_env *env, struct cpu *c);

/* First half of flush_tlb_mm_range(): bump tlb_gen, apply the ceiling
 * (in stride units), decide trim.  start/end in bytes; end may be
 * TLB_FLUSH_ALL. */
void flush_tlb_info_init(struct flush_env *env, struct flush_tlb_info *f,
                         struct mm *mm, u64 start, u64 end, u8 stride_shift,
                         bool freed_tables, u32 cpu);
/* flush_tlb_kernel_range()'s info: ceiling in pages, no generation. */
void flush_tlb_kernel_info_init(struct flush_env *env, struct flush_tlb_info *f,
                                u64 start, u64 end, u32 cpu);

/* should_flush_tlb() of the policy's kernel version, for one CPU: the
 * definition.  flush_choose_targets() applies the same rule with its
 * per-request tests hoisted out of the loop; tests/test_pertarget.c
 * checks the two against each other. */
bool should_flush_tlb(const struct flush_env *env, u32 cpu,
                      const struct flush_tlb_info *f);

struct flush_targets {
    struct cpumask mask;                /* remote CPUs that get the request */
    u32 nr;                             /* weight of mask */
    bool local;                         /* the initiator runs flush_tlb_func itself */
    struct cpumask lazy;                /* the CPUs skipped because lazy */
    u32 skipped_lazy;                   /* in the cpumask, skipped because lazy */
    u32 skipped_other;                  /* in the cpumask, skipped: running another mm */
    struct cpumask preempted;           /* pv-kvm: skipped, KVM_VCPU_FLUSH_TLB set */
    u32 skipped_preempted;              /* weight of preempted */
    u32 examined;                       /* remote CPUs a condition was evaluated for */
};

/* Which transport a request takes, by what asked for it. */
enum flush_cause {
    FLUSH_CAUSE_FREE,                   /* munmap, MADV_DONTNEED, migration: memory changes hands */
    FLUSH_CAUSE_OTHER,                  /* mprotect, explicit flush, mm exit */
    FLUSH_CAUSE_KERNEL,                 /* flush_tlb_kernel_range() */
    FLUSH_CAUSE_BATCH,                  /* arch_tlbbatch_flush() */
};
/* The policy's transport for a cause: LATR defers only what frees memory;
 * flush_tlb_kernel_range() is on_each_cpu(), IPIs through the guest's IPI
 * path, never the PV flush_tlb_multi() hooks (kvm, Hyper-V). */
enum flush_transport flush_transport_for(const struct flush_policy *pol,
                                         enum flush_cause cause);

/* Target choice of flush_tlb_mm_range / native_flush_tlb_multi (or of
 * flush_tlb_kernel_range when f->kernel: every online CPU). */
void flush_choose_targets(const struct flush_env *env,
                          const struct flush_tlb_info *f,
                          const struct cpumask *cpumask,
                          struct flush_targets *t);
/* kvm_flush_tlb_multi(): every remote CPU of the mask whose vCPU is
 * preempted (KVM_VCPU_PREEMPTED, tested first, lazy or not) is skipped
 * and flagged KVM_VCPU_FLUSH_TLB; native_flush_tlb_multi() chooses among
 * the rest.  Not for kernel flushes (they are on_each_cpu()). */
void flush_choose_targets_pv_kvm(const struct flush_env *env,
                                 const struct flush_tlb_info *f,
                                 const struct cpumask *cpumask,
                                 const struct cpumask *preempted,
                                 struct flush_targets *t);
/* Hyper-V and broadcast flush TLBs without running the targets: drop the
 * targets that hold no entry of f->mm (PCID-less: running another mm). */
void flush_keep_holders(const struct flush_env *env, const struct flush_tlb_info *f,
                        struct flush_targets *t);
/* Every other CPU in mask, or (holders_of set) every other CPU that has
 * holders_of loaded: the transports that skip no one (deferred, broadcast). */
void flush_target_all(const struct flush_env *env, u32 self, const struct cpumask *mask,
                      const struct mm *holders_of, struct flush_targets *t);

/* INVLPG every (1 << shift) bytes of [start, end) on c (flush_pages
 * counted); returns the number of INVLPGs. */
u64  flush_invlpg_range(struct cpu *c, u64 start, u64 end, unsigned shift);
/* What the hypervisor (Hyper-V) or the hardware (INVLPGB) does to a
 * target's TLB for f: no handler runs and its tlb_gen does not move. */
void flush_remote_invalidate(struct cpu *c, const struct flush_tlb_info *f);
/* A lazy-deferred (LATR) request run on c at a tick or context switch:
 * its pages when mm is loaded here.  Returns cycles. */
u64  flush_deferred_invalidate(const struct flush_env *env, struct cpu *c,
                               const struct flush_tlb_info *f, const struct mm *mm);

/* flush_tlb_func(): the receiver's (or the initiator's local) work.
 * Returns the cycles of the flush work itself (no interrupt entry/exit).
 * flush_tlb_func_slow is the whole rule; flush_tlb_func (below) answers
 * its commonest case inline and leaves the rest to it. */
u32  flush_tlb_func_slow(struct flush_env *env, struct cpu *c,
                         const struct flush_tlb_info *f, bool local);

/* The common case first, with no call: a CPU running the mm on its
 * dynamic ASID that a concurrent flush already brought up to f's
 * generation (every test is one flush_tlb_func_slow makes, in its order,
 * and leads it to the same early return: tests/test_pertarget.c checks
 * the two against each other).  At hundreds of targets per request most
 * of them end here. */
static inline u32 flush_tlb_func(struct flush_env *env, struct cpu *c,
                                 const struct flush_tlb_info *f, bool local)
{
    const struct mm *loaded = c->loaded_mm;

    if (!f->kernel && (!f->mm || f->mm == loaded) && loaded != env->init_mm &&
        !(c->pcid && ((env->pol->global_asid && loaded->global_asid &&
                       c->loaded_mm_asid != loaded->global_asid) ||  /* mm_needs_global_asid */
                      !is_dyn_asid(c->loaded_mm_asid))) &&
        !c->is_lazy && env->pol->gen_early_exit &&
        f->new_tlb_gen != TLB_GENERATION_INVALID && f->new_tlb_gen <= c->tlb_gen) {
        if (!local)
            c->st.nr_tlb_remote_flush_received++;   /* before or after the mm test: once */
        return env->m->handler_cycles;
    }
    return flush_tlb_func_slow(env, c, f, local);
}

/* ---- PTI (cpu.pti, 4.15+) ------------------------------------------------ */
/* Kernel entry (syscall, interrupt) on c: SWITCH_TO_KERNEL_CR3 loads the
 * kernel PCID with NOFLUSH when c was in user space.  *from_user says
 * whether it was; the matching return is pti_return_to_user().  Returns
 * cycles (0 without PTI or when c already was in the kernel). */
u32  pti_enter_kernel(struct flush_env *env, struct cpu *c, bool *from_user);
/* Return to user space (SWITCH_TO_USER_CR3): the user PCID of the loaded
 * ASID, flushed (no NOFLUSH bit) when invalidate_user_asid() marked it in
 * user_pcid_flush_mask, else kept.  A kernel thread (lazy or init_mm)
 * stays in the kernel.  Returns cycles. */
u32  pti_return_to_user(struct flush_env *env, struct cpu *c);

/* ---- global ASIDs (6.15+, INVLPGB) --------------------------------------- */
void global_asid_space_init(struct global_asid_space *g, bool pti);
/* flush_tlb_mm_range() after an IPI flush: consider_global_asid(mm) on
 * CPU c.  Returns cycles; *invlpgbs counts the INVLPGBs of a reset of the
 * ASID space (reset_global_asid_space()). */
u32  consider_global_asid(struct flush_env *env, struct mm *mm, struct cpu *c,
                          u64 *invlpgbs);
/* destroy_context(): mm_free_global_asid(). */
void mm_free_global_asid(struct flush_env *env, struct mm *mm);
/* broadcast_tlb_flush()'s INVLPGBs as every CPU sees them: f's range (or
 * everything) of kern_pcid(global ASID), and of user_pcid() with PTI,
 * dropped on every CPU whatever it runs.  Returns the INVLPGB count. */
u64  flush_global_asid_invalidate(struct flush_env *env, const struct flush_tlb_info *f);
/* finish_asid_transition(): true when a CPU runs mm on a dynamic ASID
 * still (the caller then sends flush_tlb_multi(mm_cpumask) IPIs); else
 * the transition is over and cleared. */
bool finish_asid_transition(struct flush_env *env, struct mm *mm);

/* Invariant: a non-lazy CPU running mm is in mm_cpumask(mm). */
bool flush_check_cpumasks(const struct flush_env *env);

#endif
