/* models/ept.h - one VM's extended page tables (EPT): guest-physical to
 * host-physical, 4 or 5 levels, 4K/2M/1G leaves.  Not thread-safe.
 *
 * Address spaces (docs/models.md, "EPT"):
 *   guest-physical  the simulator's frame numbers ARE guest-physical frame
 *                   numbers: every guest page-table page and data frame that
 *                   models/frame.c hands out at pfn N sits at gpa N << 12.
 *                   The VM's guest-physical memory is [0, gpa_end), with
 *                   gpa_end = 2^(guest physical bits), capped at 2^47 under
 *                   4-level EPT (the lower half of the 48-bit space the
 *                   4-level EPT translates, SDM vol. 3C 28.2.2; the model
 *                   keeps EPT tables in pt.c's lower half).
 *   host-physical   a second frame allocator, private to the EPT: ept_map()
 *                   takes host frames of the mapping's size (a 2M host
 *                   mapping is one 2 MiB host unit, THP backing; 4K is
 *                   4K backing), EPT table pages take 4K host frames.
 *
 * The tables reuse pt.c's radix tables and its entry layout, which lines
 * up with EPT's for what the model needs: bit 0 read (x86 P), bit 1 write
 * (x86 RW), bit 2 execute (stored where x86 has U/S), bit 7 a 2M/1G leaf
 * (SDM vol. 3C 28.2.2, Tables 28-1..28-6).  EPT accessed/dirty flags (bits
 * 8 and 9, EPTP bit 6) are not modelled: the walker never sets them.
 *
 * The zap (ept_unmap) clears leaves and KEEPS the (possibly empty) EPT
 * tables, as KVM's tdp_mmu_zap_leafs() does for an MMU-notifier unmap
 * (arch/x86/kvm/mmu/tdp_mmu.c, kvm_tdp_mmu_unmap_gfn_range); tables go
 * only with the whole EPT (ept_destroy), as when KVM frees a root.  So
 * cached upper-level EPT entries stay valid across a zap: only leaves
 * (and the combined TLB entries built from them) go stale.
 *
 * Every change of a present EPT entry bumps `epoch` (as mm_pte_changed()
 * does for guest tables): a cached translation filled under an older
 * epoch must be re-checked before use.
 */
#ifndef TLBSIM_EPT_H
#define TLBSIM_EPT_H

#include "base.h"
#include "frame.h"
#include "machine.h"
#include "pt.h"

/* EPT leaf permissions in pt.c's layout (see above). */
#define EPT_R PTE_P
#define EPT_W PTE_RW
#define EPT_X PTE_US

struct ept_stats {
    u64 maps;                           /* ept_map calls that mapped something */
    u64 unmaps;                         /* ept_unmap calls */
    u64 wrprotects;                     /* ept_wrprotect calls */
    u64 violations;                     /* EPT violations fixed by ept_fault_in */
    u64 prefaults;                      /* pages mapped by ept_prefault */
    u64 wrprotected;                    /* leaves ept_wrprotect took W from */
    u64 dirty_faults;                   /* leaves ept_write_fault gave W back (pages logged dirty) */
};

struct ept {
    struct frame_alloc host;            /* host-physical frames */
    struct pt_ctx ptc;                  /* EPT table pages */
    struct pt upper;                    /* empty pt owning the upper half (pt.c's rule) */
    struct pt pt;                       /* the EPT: guest-physical in its lower half */
    unsigned levels;                    /* 4 or 5 (ept.levels) */
    unsigned gpa_bits;                  /* guest physical address width */
    u64 gpa_end;                        /* exclusive end of guest-physical memory */
    u32 epoch;                          /* bumped whenever a present EPT entry changes */
    struct ept_stats st;
    /* Guest-physical ranges the host has zapped (ept_unmap), sorted and
     * merged: ept.prefault's "backed before the trace" no longer holds
     * there, so a touch takes a real EPT violation (ept_prefault_allowed). */
    struct ept_range { u64 start, end; } *zapped;
    u32 nr_zapped, cap_zapped;
};

/* Build an empty EPT for machine m: ept.levels levels, guest and host
 * physical width paging.maxphyaddr minus paging.keyid_bits, host frames
 * and tables bounded by limits.max_frames and limits.max_table_pages.
 * SIM_OK or SIM_E* with a message; on error nothing needs destroying. */
int  ept_init(struct ept *ept, const struct machine *m, struct sim_err *err);
void ept_destroy(struct ept *ept);      /* frees everything; NULL is a no-op */

/* Whether [gpa, gpa + len) is non-empty and inside the VM's guest-physical
 * memory [0, gpa_end). */
bool ept_range_ok(const struct ept *ept, u64 gpa, u64 len);
/* The same check with a message ("gpa: ..."), plus alignment to
 * 1 << align_shift (12, 21 or 30) of gpa and len.  SIM_OK or SIM_EINVAL. */
int  ept_check_range(const struct ept *ept, u64 gpa, u64 len, unsigned align_shift,
                     struct sim_err *err);

/* The host maps [gpa, gpa + len) readable, writable and executable with
 * leaves of 1 << page_shift bytes (12, 21, 30), each backed by a fresh
 * host unit of that size.  SIM_EEXIST when part of the range is mapped
 * already; SIM_ELIMIT when host frames or tables run out.  On error
 * nothing is changed. */
int  ept_map(struct ept *ept, u64 gpa, u64 len, unsigned page_shift,
             struct sim_err *err);
/* The zap: clear every present leaf in [gpa, gpa + len), keeping the
 * tables.  Host frames go to g; finish g with ept_gather_finish() once
 * the flush that covers them has completed (INVEPT and the vCPU kicks,
 * KVM's kvm_flush_remote_tlbs()).  A huge leaf only partly inside the
 * range is SIM_EINVAL and nothing changes.  g->nr_ptes counts the leaves
 * cleared, g->start/end their range. */
int  ept_unmap(struct ept *ept, u64 gpa, u64 len, struct mmu_gather *g,
               struct sim_err *err);
/* Clear the write permission of every present leaf in [gpa, gpa + len)
 * (dirty logging, page tracking).  *reduced (may be NULL) is set when a
 * leaf lost write access; g records the range changed (no frames) and
 * g->nr_ptes, like st.wrprotected, the leaves that lost W: leaves
 * read-only already are not counted (ept_write_fault gives W back). */
int  ept_wrprotect(struct ept *ept, u64 gpa, u64 len, bool *reduced,
                   struct mmu_gather *g, struct sim_err *err);
/* What ept_write_fault found. */
enum ept_wp_fault {
    EPT_WP_SPURIOUS,                    /* the leaf is writable already */
    EPT_WP_FAST,                        /* a 4K leaf got W back (KVM's fast path) */
    EPT_WP_HUGE,                        /* a huge leaf got W back (KVM's slow path) */
    EPT_WP_NONE,                        /* gpa is not mapped: a not-present violation instead */
};
/* A guest write to gpa took an EPT violation because its translation
 * lacked W (dirty logging): KVM's fast_page_fault() (arch/x86/kvm/mmu/
 * mmu.c).  A leaf that is writable already is a spurious fault (another
 * vCPU fixed it; the faulting CPU had cached the read-only translation:
 * RET_PF_SPURIOUS).  Otherwise W comes back with one cmpxchg of the SPTE
 * and the gfn is logged dirty (fast_pf_fix_direct_spte ->
 * mark_page_dirty_in_slot); st.dirty_faults counts it.  A huge leaf is
 * not fixed by the fast path under dirty logging (KVM would lose 4K
 * granularity): the slow path maps the page 4K writable.  XXX: the model
 * gives W back to the whole huge leaf instead of splitting it.  Gaining W
 * needs no flush and leaves `epoch` alone. */
enum ept_wp_fault ept_write_fault(struct ept *ept, u64 gpa);
/* Whether the EPT maps gpa now and, if so, *writable and *page_shift (each
 * may be NULL) of its leaf. */
bool ept_leaf_perm(const struct ept *ept, u64 gpa, bool *writable, unsigned *page_shift);

/* Free what ept_unmap gathered (host frames' generations are bumped). */
void ept_gather_finish(struct ept *ept, struct mmu_gather *g);

/* EPT-violation handling: map the 4K page holding gpa on demand, as KVM's
 * fault path does (kvm_tdp_mmu_map; the model always maps 4K).  gpa must
 * be inside the VM and not mapped.  Counts st.violations. */
int  ept_fault_in(struct ept *ept, u64 gpa, struct sim_err *err);

/* The host had backed gpa before the guest touched it (ept.prefault): map
 * the 2M page holding gpa (THP backing, as KVM maps a huge page where the
 * host's mapping is huge, kvm_mmu_hugepage_adjust), or its 4K page when
 * part of that 2M is mapped already.  No violation is counted. */
int  ept_prefault(struct ept *ept, u64 gpa, struct sim_err *err);
/* Whether ept.prefault may back gpa silently: false once the host zapped
 * it (MMU-notifier unmap, tdx_remove), as the page is then really gone
 * from the host and its next touch faults it back in.  Binary search over
 * the zapped ranges: the walker's miss path only, never a TLB hit. */
bool ept_prefault_allowed(const struct ept *ept, u64 gpa);

/* Brute-force translation: the leaf entry for gpa and its level (1 = 4K,
 * 2 = 2M, 3 = 1G), NULL when not mapped; *table gets its table page. */
u64 *ept_walk(const struct ept *ept, u64 gpa, unsigned *level,
              struct pt_page **table);
/* gpa -> hpa; false when gpa is not mapped.  *page_shift (may be NULL)
 * gets the leaf size. */
bool ept_translate(const struct ept *ept, u64 gpa, u64 *hpa, unsigned *page_shift);

/* Invariant checker over the tables. */
bool ept_check(const struct ept *ept);

#endif
