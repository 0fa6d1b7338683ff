/* models/cpu.h - one logical CPU: its TLB hierarchy, paging-structure
 * caches, Linux's per-CPU TLB state, and the memory-reference path.
 *
 * Hardware (PCID-less):
 *   L1 DTLB: one structure per page size (4K, 2M, 1G);  L1 ITLB: 4K, 2M;
 *   STLB: 4K and 2M in one array (1G too when tlb.stlb.holds_1g), else a
 *   separate 1G STLB;  PSCs: PML5E, PML4E, PDPTE, PDE caches, indexed by
 *   level (psc[5] .. psc[2]).
 *   A reference probes its L1; a miss probes the STLB (stlb_hit_cycles), a
 *   miss there walks the page tables through the PSCs; fills go to the STLB
 *   and the L1.  MOV CR3 drops every non-global TLB entry and every PSC
 *   entry; INVLPG drops the page's entries at every level (global ones too)
 *   and, as the SDM says (vol. 3, 4.10.4.1), all PSC entries.
 *
 * Linux state (cpu_tlbstate; PCID-less only ctxs[0] matters, with cpu.pcid
 * see struct tlb_context and docs/model.md):
 *   loaded_mm, is_lazy, ctx_id and tlb_gen of ctxs[0].
 *
 *       ACTIVE (loaded_mm = M, in mm_cpumask(M), !is_lazy)
 *         | enter_lazy_tlb            ^ switch_mm_irqs_off(M): flush iff
 *         v                           |   M->tlb_gen moved (4.20+)
 *       LAZY (loaded_mm = M, is_lazy) -+
 *         | leave_mm / flush IPI with freed_tables (lazy receiver)
 *         v
 *       INIT (loaded_mm = init_mm, in no user mask)
 *
 * Staleness: every TLB entry remembers the leaf entry it came from, that
 * entry's value, the table page's generation, the frame's generation and
 * its address space's pte_epoch.  After any change in that address space
 * a hit takes the slow path once, which compares the cached translation
 * with the page tables: the same frame (not freed meanwhile) and no lost
 * permission refreshes the entry; otherwise the reference used a
 * translation that no longer exists: stale_accesses when the frame was
 * freed or no flush of the mm is in flight, racy_accesses when it raced
 * with a flush still in flight (legal: Linux frees only after the flush).
 *
 * Under virt.ept an entry is a combined translation: its permissions are
 * the guest's AND the EPT leaf's (SDM vol. 3C 28.3.1), so an entry filled
 * while the EPT leaf lacked W has pte's RW cleared (ept_wp) and a write
 * through it is an EPT violation (dirty logging, ept_write_fault).  The
 * host changing the EPT bumps the pte_epoch of every mm (the engine), so
 * the same one-compare check sends each entry to the re-check once, which
 * then also asks the EPT: the guest-physical page unmapped, mapped at
 * another size, or write-protected while the entry allows writes is a
 * removed translation too (racy while host_flush_pending).
 */
#ifndef TLBSIM_CPU_H
#define TLBSIM_CPU_H

#include "base.h"
#include "ept.h"
#include "frame.h"
#include "machine.h"
#include "mm.h"
#include "tlb.h"

#define CPU_STALE_LOG 4                 /* first stale references remembered per CPU */
/* arch/x86/include/asm/tlbflush.h (4.14+): ASIDs 0..5 per CPU; the CR3
 * PCID of ASID n is kern_pcid(n) = n + 1 (PCID 0 is left to code that
 * does not know about PCIDs). */
#define TLB_NR_DYN_ASIDS 6
/* PTI (4.15+, asm/tlbflush.h): the user half of ASID n runs with
 * user_pcid(n) = kern_pcid(n) | 1 << PTI_USER_PCID_BIT (CR3 bit 11). */
#define PTI_USER_PCID_BIT 11
/* 6.15+ arch/x86/mm/tlb.c: MAX_ASID_AVAILABLE = (1 << (12 - PTI bit)) - 2;
 * global ASIDs are [TLB_NR_DYN_ASIDS, MAX_ASID_AVAILABLE). */
#define MAX_ASID_AVAILABLE(pti) ((1u << (12 - ((pti) ? 1 : 0))) - 2)

static inline u16 kern_pcid(u16 asid) { return (u16)(asid + 1); }
static inline u16 user_pcid(u16 asid) { return (u16)(kern_pcid(asid) | 1u << PTI_USER_PCID_BIT); }
static inline bool is_dyn_asid(u16 asid) { return asid < TLB_NR_DYN_ASIDS; }

/* cpu_tlbstate.ctxs[]: which mm an ASID last held, and how current. */
struct tlb_context {
    u64 ctx_id;                         /* 0: never used */
    u64 tlb_gen;
};

/* INVPCID types (SDM vol. 2, INVPCID). */
enum invpcid_type {
    INVPCID_TYPE_INDIV_ADDR = 0,        /* one address, one PCID, not globals */
    INVPCID_TYPE_SINGLE_CTXT = 1,       /* one PCID, not globals */
    INVPCID_TYPE_ALL_INCL_GLOBAL = 2,   /* everything */
    INVPCID_TYPE_ALL_NON_GLOBAL = 3,    /* every PCID, not globals */
};

struct cpu_stats {
    u64 accesses;                       /* references */
    u64 l1d_hits, l1d_misses;           /* kinds r, w */
    u64 l1i_hits, l1i_misses;           /* kind x */
    u64 stlb_hits, stlb_misses;
    u64 walks, walk_cycles;             /* page walks and their cycles */
    u64 psc_hits[PT_MAX_LEVELS + 1];    /* walks shortened by psc[level] */
    u64 psc_stale;                      /* PSC hits on a freed or changed table */
    u64 page_faults;                    /* minor faults (populate:false) */
    u64 spurious_faults;                /* permission upgrade not yet in the TLB */
    u64 bad_accesses;                   /* no mapping or no permission: SIGSEGV */
    u64 setad_assists;                  /* first write through a clean entry */
    u64 stale_accesses;                 /* hit on a removed/changed translation */
    u64 racy_accesses;                  /* same, while its flush was in flight */
    u64 flush_full;                     /* full flushes done by flush handling */
    u64 flush_pages;                    /* INVLPGs done by flush handling */
    u64 task_switch_flushes;            /* CR3 writes on context switch */
    u64 task_switch_noflush;            /* PCID: switches to another mm that kept its ASID (NOFLUSH) */
    u64 asid_recycle_flushes;           /* PCID: switches that took an ASID from another mm */
    u64 user_asid_deferred_flushes;     /* PTI: user PCIDs flushed on the return to user space */
    u64 global_asids_assigned;          /* INVLPGB: global ASIDs this CPU's flushes handed out */
    u64 ipis_received;                  /* TLB-flush IPIs handled */
    u64 nr_tlb_remote_flush;            /* vmstat counters, this CPU's share */
    u64 nr_tlb_remote_flush_received;
    u64 nr_tlb_local_flush_all;
    u64 nr_tlb_local_flush_one;
    u64 busy_cycles;                    /* cycles of work (refs, walks, handlers, flushes) */
    u64 handler_cycles;                 /* cycles in flush IPI handlers */
    u64 spin_cycles;                    /* cycles waiting for acknowledgements */
    u64 idle_cycles;                    /* cycles idle or waiting for input */
    u64 walk_refs;                      /* guest paging-structure entries read by walks */
    u64 ept_walk_refs;                  /* virt.ept: EPT entries read by walks */
    u64 ept_walk_cycles;                /* virt.ept: their cycles (part of walk_cycles) */
    u64 ept_psc_hits;                   /* virt.ept: EPT translations shortened by an EPT PSC */
    u64 ept_violations;                 /* virt.ept: EPT violations (host mapped 4K on demand) */
    u64 ept_dirty_faults;               /* virt.ept: writes to a write-protected EPT leaf (W restored, page logged dirty) */
    u64 ept_spurious_faults;            /* virt.ept: writes through a read-only combined entry whose EPT leaf is writable again */
    /* host side (models/kvm.h) */
    u64 vcpu_kicks;                     /* kick IPIs that took this vCPU out of guest mode */
    u64 vcpu_entry_flushes;             /* KVM_REQ_TLB_FLUSH or TD epoch flushes at entry */
    u64 vmx_transition_flushes;         /* VPID off: VM exits and entries that flushed */
    u64 vcpu_migrations;                /* moves to another physical CPU */
};

struct stale_rec { u64 va; cycles_t when; u16 mm; u8 kind; u8 freed; };

struct cpu {
    u32 id;
    const struct machine *m;
    struct frame_alloc *frames;         /* for frame generations */
    struct mm *init_mm;                 /* kernel page tables and areas */
    struct arena *arena;                /* [CPU_ARENAS]: where the TLB arrays live (NULL: malloc/mmap) */

    /* hardware */
    struct tlb l1d[3];                  /* 4K, 2M, 1G */
    struct tlb l1i[2];                  /* 4K, 2M */
    struct tlb stlb;                    /* 4K + 2M (+ 1G) */
    struct tlb stlb1g;                  /* 1G when separate */
    struct tlb psc[PT_MAX_LEVELS + 1];  /* [2]=PDE .. [5]=PML5E; [0],[1] unused */
    /* virt.ept (cpu_set_ept): the VM's EPT and the EPT paging-structure
     * caches, indexed by guest-physical address like psc[] by linear
     * address.  ept NULL: one-dimensional walks. */
    struct ept *ept;
    struct tlb ept_psc[PT_MAX_LEVELS + 1];
    /* The host changed the EPT and the flush that covers this vCPU has not
     * reached it yet (KVM_REQ_TLB_FLUSH pending, a TD epoch ahead): a hit on
     * a translation the change removed is racy, not stale.  Set by the
     * engine, cleared by the entry flush (kvm_vcpu_enter). */
    bool host_flush_pending;

    /* cpu_tlbstate */
    struct mm *loaded_mm;               /* whose page tables CR3 points at */
    bool is_lazy;                       /* cpu_tlbstate_shared.is_lazy */
    u64 ctx_id;                         /* ctxs[loaded_mm_asid].ctx_id, live copy */
    u64 tlb_gen;                        /* ctxs[loaded_mm_asid].tlb_gen, live copy */
    /* PCID (machine cpu.pcid): the other ASIDs; ctxs[loaded_mm_asid] is
     * only written when the CPU switches ASID (ctx_id/tlb_gen above are
     * the loaded one's values).  PCID-less: loaded_mm_asid stays 0. */
    bool pcid;                          /* CR4.PCIDE */
    u16 loaded_mm_asid;
    u16 next_asid;                      /* round robin for choose_new_asid */
    u16 cr3_pcid;                       /* PCID in CR3 now */
    struct tlb_context ctxs[TLB_NR_DYN_ASIDS];
    /* PTI (machine cpu.pti, with pcid): user references run under
     * user_pcid(loaded_mm_asid); in_kernel says which half CR3 holds now. */
    bool pti;
    bool invpcid;                       /* X86_FEATURE_INVPCID */
    bool in_kernel;                     /* CR3 holds the kernel PCID (boot, idle, kernel threads, handlers) */
    bool invalidate_other;              /* cpu_tlbstate.invalidate_other */
    /* cpu_tlbstate.user_pcid_flush_mask, bit kern_pcid(asid); sized for
     * global ASIDs too (Linux widened it in 2025 for PTI with INVLPGB). */
    u64 user_pcid_flush_mask[2048 / 64];

    cycles_t now;                       /* the CPU's clock, for stale records */
    struct cpu_stats st;
    struct stale_rec stale_log[CPU_STALE_LOG];
    u32 nr_stale_log;
};

int  cpu_init(struct cpu *c, u32 id, const struct machine *m,
              struct frame_alloc *frames, struct mm *init_mm,
              struct sim_err *err);
/* The same with every TLB and PSC array (EPT PSCs too) taken from the
 * arenas a[0 .. CPU_ARENAS-1] (arena.h: huge-page advised; a NULL a is
 * cpu_init).  a[0] gets what every reference uses (the L1 DTLB for 4K
 * pages, the STLB's tags, the PSCs), a[CPU_ARENA_RARE] what only some
 * workloads touch (the L1 ITLB, the 2M and 1G L1 DTLBs, the 1G STLB, the
 * EPT PSCs): with many CPUs each kind lies together, so a kind no CPU
 * uses never costs a page.  The arenas outlive the CPU; cpu_destroy
 * leaves their memory to arena_destroy. */
#define CPU_ARENAS 2
#define CPU_ARENA_RARE 1
int  cpu_init_in(struct cpu *c, u32 id, const struct machine *m,
                 struct frame_alloc *frames, struct mm *init_mm,
                 struct arena *a, struct sim_err *err);
void cpu_destroy(struct cpu *c);
/* Make the CPU a vCPU of the VM whose EPT is ept (virt.ept): its walks
 * become two-dimensional and it gets EPT PSCs (ept.psc.*).  Call once,
 * after cpu_init. */
int  cpu_set_ept(struct cpu *c, struct ept *ept, struct sim_err *err);

/* ---- flush primitives (hardware) ---------------------------------------- */
/* MOV CR3 to mm's tables: non-global entries and PSCs dropped. */
void cpu_write_cr3(struct cpu *c, struct mm *mm);
/* Reload CR3 (local full flush). */
void cpu_flush_tlb_local(struct cpu *c);
/* CR4.PGE toggle: everything, global entries included. */
void cpu_flush_tlb_global(struct cpu *c);
/* INVLPG va (with PCIDs: the current PCID's entries and global ones). */
void cpu_invlpg(struct cpu *c, u64 va);
/* MOV CR3 with PCIDs: load mm's tables with PCID pcid; without the
 * NOFLUSH bit (CR3 bit 63) the non-global TLB and PSC entries of pcid are
 * dropped (SDM vol. 3, 4.10.4.1).  PCID-less: cpu_write_cr3(). */
void cpu_load_cr3(struct cpu *c, struct mm *mm, u16 pcid, bool noflush);
/* INVPCID (CR4.PCIDE=1): va is used by type 0 only. */
void cpu_invpcid(struct cpu *c, enum invpcid_type type, u16 pcid, u64 va);
/* INVEPT for the VM's EPT (single-context or global: the model has one
 * VM): every guest-physical and combined mapping goes, i.e. every TLB
 * entry (all are combined under EPT), every guest PSC entry and every
 * EPT PSC entry (SDM vol. 3C 28.3.3.1). */
void cpu_invept(struct cpu *c);

/* ---- memory references ---------------------------------------------------- */
u32 cpu_access_slow(struct cpu *c, u64 va, u8 kind, struct tlb_entry *hit);

/* Nothing in the entry's address space changed since the entry was filled
 * or last re-checked: one compare of epochs (mm_pte_changed()). */
static inline bool cpu_entry_current(const struct cpu *c, const struct tlb_entry *e)
{
    return e->epoch == (e->global ? c->init_mm : c->loaded_mm)->pte_epoch;
}

/* One reference of kind 'r', 'w' or 'x' at va in the loaded address space.
 * Returns the cycles it took.  The L1 hit is inline; everything else is in
 * cpu_access_slow().  A 4-way LRU 4K L1 (tlb->lru4_4k, the usual one) is
 * probed here directly: the same tag, set, stamp and result as
 * tlb_lookup() in fewer instructions, the way found by a mask and a bit
 * scan. */
static sim_always_inline u32 cpu_access(struct cpu *c, u64 va, u8 kind)
{
    struct tlb *t = kind == 'x' ? &c->l1i[0] : &c->l1d[0];
    struct tlb_entry *e;

    c->st.accesses++;
    if (likely(t->lru4_4k)) {
        u64 vpn = va >> PAGE_SHIFT_4K;
        size_t base = (size_t)(vpn & t->set_mask) * 4;
        u32 m = tlb_match_mask(t->tags + base, 4, (vpn << 3) ^ t->asid_tag);

        e = NULL;
        if (m) {
            e = t->e + base + (u32)__builtin_ctz(m);
            e->stamp = ++t->clock;
        } else if (unlikely(t->global_tag)) {
            e = tlb_lookup(t, va);              /* a global entry (PCIDs) */
        }
    } else {
        e = tlb_lookup(t, va);
    }
    if (likely(e && cpu_entry_current(c, e) &&
               (kind != 'w' || ((e->pte & PTE_RW) && e->dirty)) &&
               (kind != 'x' || !(e->pte & PTE_NX)))) {
        if (kind == 'x')
            c->st.l1i_hits++;
        else
            c->st.l1d_hits++;
        return c->m->access_cycles;
    }
    return cpu_access_slow(c, va, kind, e);
}

/* n references of kind at va[0..n), one after another, each exactly as
 * cpu_access() with c->now set to the clock before it and advanced by its
 * cost; stops early when the clock reaches stop (no reference when it
 * already has).  Returns how many were made.  The engine's reference
 * loop: L1 hits are probed with the structure's fields and the counters
 * in registers, and after a miss the host caches are warmed for a
 * reference a few ahead (cpu_prefetch). */
u32 cpu_access_run(struct cpu *c, const u64 *va, u32 n, cycles_t stop, u8 kind);

/* Host-cache hint for a reference the CPU will make soon (the engine
 * passes one a few references ahead while references miss): starts the
 * host loads of the leaf page-table entry and of the STLB set that its walk
 * and fill will need, so they overlap with the current miss instead of
 * following it.  Reads only: no simulated state (A bits, replacement,
 * counters) changes, so results do not depend on whether or when it is
 * called. */
void cpu_prefetch(const struct cpu *c, u64 va);

/* Occupancy of this CPU's TLBs by address-space index (for reports). */
u32 cpu_tlb_entries_for(const struct cpu *c, u16 mm_idx);

/* Invariant checker over every structure. */
bool cpu_check(const struct cpu *c);

#endif
