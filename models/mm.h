/* models/mm.h - an address space (struct mm_struct): page tables, areas and
 * the x86 TLB-flush bookkeeping of mm->context.
 *
 * tlb_gen is bumped before every flush request (inc_mm_tlb_gen); a CPU whose
 * ctxs[0].tlb_gen equals it holds no translation older than the page tables.
 * mm_cpumask is a superset of the CPUs that may hold entries of this mm
 * (lazy CPUs stay set; with lazy cpumask updates, 6.13+, CPUs that switched
 * away stay set too until an IPI trims them).
 */
#ifndef TLBSIM_MM_H
#define TLBSIM_MM_H

#include "base.h"
#include "cpumask.h"
#include "pt.h"
#include "vma.h"

#define MM_INIT_IDX 0                   /* init_mm (kernel page tables) */

struct mm {
    s64 id;                             /* trace id; -1 for init_mm */
    u16 idx;                            /* small index stored in TLB entries */
    u64 ctx_id;                         /* mm->context.ctx_id: unique, never reused */
    u64 tlb_gen;                        /* mm->context.tlb_gen */
    struct cpumask cpumask;             /* mm_cpumask(mm) */
    struct pt pt;                       /* page tables (pgd) */
    struct vma_set vmas;                /* mapped areas */
    cycles_t next_trim_cpumask;         /* 6.13+: no trim IPI before this cycle */
    u32 flush_inflight;                 /* flush requests whose invalidation is incomplete */
    u32 pte_epoch;                      /* bumped whenever a present entry changes */
    u16 global_asid;                    /* 6.15+ mm->context.global_asid: 0 = none */
    bool asid_transition;               /* 6.15+: some CPUs may still run it on a dynamic ASID */
};

/* Create an mm.  kernel: init_mm (whose upper half every mm shares), or NULL
 * to create init_mm itself.  ctx_id must be unique per simulation. */
int  mm_init(struct mm *mm, s64 id, u16 idx, u64 ctx_id, struct pt_ctx *ptc,
             const struct machine *m, const struct mm *kernel,
             struct sim_err *err);
void mm_destroy(struct mm *mm);

/* Any present entry of mm changed (unmap, zap, migrate, protect, exit):
 * every cached translation of it must be re-checked once (cpu.h). */
static inline void mm_pte_changed(struct mm *mm) { mm->pte_epoch++; }

/* inc_mm_tlb_gen(): returns the new generation. */
static inline u64 inc_mm_tlb_gen(struct mm *mm) { return ++mm->tlb_gen; }

/* Map with the trace's prot letters (PROT_R/W/X bits), page shift and
 * flags; user mappings get PTE_US, kernel ones may be global. */
int  mm_map(struct mm *mm, u64 va, u64 len, unsigned page_shift, unsigned prot,
            bool populate, bool global, struct sim_err *err);
/* mm_map with a TME-MK/TDX KeyID in every leaf (and in the area, so pages
 * faulted in later get it too).  SIM_EINVAL "keyid: ..." when it does not
 * fit the page tables' KeyID bits (pt_ctx_set_keyid_bits). */
int  mm_map_keyid(struct mm *mm, u64 va, u64 len, unsigned page_shift, unsigned prot,
                  bool populate, bool global, u32 keyid, struct sim_err *err);
/* Leaf flags for prot letters. */
u64  mm_prot_flags(unsigned prot, bool user, bool global);

#endif
