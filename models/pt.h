/* models/pt.h - x86-64 page tables (4-level, optionally 5-level).
 *
 * Real radix tables: every table page holds 512 64-bit entries with the
 * architectural bits below.  A table page also keeps, beside the entries,
 * the pointers to its child tables (a real walker follows the physical
 * address; we keep the pointer, pt_child(), so a walk never searches) and a
 * count of present entries, so an emptied table can be freed.
 *
 * Kernel mappings ("mm":"kernel") live in one kernel pt (init_mm's).  Every
 * user pt shares the kernel's upper-half top-level entries, as Linux's
 * sync_global_pgds() does: pt_walk() of a kernel address in a user pt reads
 * the kernel pt's top-level entry.  User mappings must be in the lower
 * canonical half, kernel mappings in the upper half.
 *
 * Table pages are never returned to malloc while the simulation runs: a
 * freed table page goes to the gather (struct mmu_gather) and is recycled
 * only when the caller finishes the gather after the TLB flush, exactly as
 * Linux frees page tables only after the shootdown (tlb_remove_table).
 * TLB entries may therefore keep pointers to leaf entries (ptep) safely;
 * a table page's `gen` is bumped when it is recycled.
 */
#ifndef TLBSIM_PT_H
#define TLBSIM_PT_H

#include "base.h"
#include "frame.h"

/* Architectural entry bits (Intel SDM vol. 3, 4.5). */
#define PTE_P    (1ull << 0)            /* present */
#define PTE_RW   (1ull << 1)            /* writable */
#define PTE_US   (1ull << 2)            /* user */
#define PTE_A    (1ull << 5)            /* accessed */
#define PTE_D    (1ull << 6)            /* dirty (leaf only) */
#define PTE_PS   (1ull << 7)            /* page size: 2M in a PDE, 1G in a PDPTE */
#define PTE_G    (1ull << 8)            /* global (leaf only) */
#define PTE_NX   (1ull << 63)           /* no execute */
/* Bits 51:12, the physical-address field (SDM vol. 3A 4.5: M-1:12 with
 * M = MAXPHYADDR, the bits above M reserved).  With TME-MK or TDX its top
 * paging.keyid_bits bits are the KeyID (Intel Architecture Memory
 * Encryption Technologies Specification, 336907, "KeyID usage": the KeyID
 * takes the upper bits of the physical address, their number set by
 * IA32_TME_ACTIVATE[35:32]), so this is frame | KeyID, never a frame: take
 * a frame with pte_pfn() / pte_frame_mask(), which stop at the allocator's
 * width, as the kernel's PTE_PFN_MASK stops at physical_mask (shrunk by
 * SME's C-bit, the TDX guest's shared bit, and by the KeyID bits in the
 * TME-MK series' mktme_keyid_mask). */
#define PTE_ADDR_MASK 0x000ffffffffff000ull
#define PTE_AD_MASK  (PTE_A | PTE_D)

/* The frame bits of an entry: [12, pa_bits), pa_bits being the width the
 * frame allocator was given (machine_phys_bits(): paging.maxphyaddr minus
 * paging.keyid_bits), so a KeyID above them never leaks into a frame. */
static inline u64 pte_frame_mask(const struct frame_alloc *fa)
{
    return (fa->max_pfn - 1) << PAGE_SHIFT_4K;
}

/* The frame number an entry points at (its KeyID dropped). */
static inline u64 pte_pfn(const struct frame_alloc *fa, u64 pte)
{
    return (pte >> PAGE_SHIFT_4K) & (fa->max_pfn - 1);
}

/* Levels are numbered as the SDM does: 1 = PT (PTE), 2 = PD (PDE),
 * 3 = PDPT (PDPTE), 4 = PML4, 5 = PML5. */
#define PT_MAX_LEVELS 5

/* A table page's bookkeeping.  The 512 entries live in a 4 KiB unit of a
 * table slab (PT_SLAB_BYTES, aligned to its size), and the slab's first
 * units hold one struct pt_page per unit, so the table owning an entry is
 * found from the entry's address alone (pt_page_of()).  Child pointers: a
 * table with at most one child table keeps it in child1; the second child
 * gets the table a unit of 512 pointers (child).  A small address space
 * (one table per level) thus costs 4 KiB per table, as its entries do,
 * instead of 12 KiB. */
struct pt_page {
    u64 *e;                             /* the 512 entries (a slab unit) */
    struct pt_page **child;             /* child table of e[i], once there were two; else NULL */
    struct pt_page *child1;             /* without `child`: the only child table (or NULL) */
    u64 pfn;                            /* frame holding this table */
    u32 gen;                            /* bumped on recycle */
    u16 nr_present;                     /* present entries in e[] */
    u16 child1_idx;                     /* index of child1 in e[] */
    u8  level;                          /* 1..5 */
    struct pt_page *next_free;          /* pool / gather link */
};

#define PT_SLAB_BYTES (2u << 20)        /* 512 units of 4 KiB, aligned to 2 MiB */
#define PT_UNIT_SHIFT 12

/* The table page holding the entry that ptep points at. */
static inline struct pt_page *pt_page_of(const u64 *ptep)
{
    uintptr_t slab = (uintptr_t)ptep & ~(uintptr_t)(PT_SLAB_BYTES - 1);

    return (struct pt_page *)slab + (((uintptr_t)ptep - slab) >> PT_UNIT_SHIFT);
}

/* The child table of entry i (NULL when e[i] is not a present non-leaf). */
static inline struct pt_page *pt_child(const struct pt_page *t, unsigned i)
{
    if (t->child)
        return t->child[i];
    return t->child1_idx == i ? t->child1 : NULL;
}

/* Shared state of all page tables of one simulation: the frame allocator
 * and the table slabs with their free units and recycled table pages. */
struct pt_ctx {
    struct frame_alloc *frames;
    struct pt_page *pool;               /* recycled table pages (zeroed), linked by next_free */
    struct pt_page *units;              /* free 4 KiB units (zeroed), linked by next_free */
    u64 nr_units;                       /* length of that list */
    void **slabs;                       /* every slab, freed by pt_ctx_destroy */
    size_t nr_slabs, cap_slabs;
    u32 slab_next;                      /* next never-used unit of the newest slab */
    u64 nr_table_pages;                 /* live (attached or gathered) */
    u64 max_table_pages;                /* limit; SIM_ELIMIT beyond */
    unsigned keyid_shift;               /* first KeyID bit: the frames' width (pa_bits) */
    u64 keyid_mask;                     /* the KeyID bits of an entry; 0 without KeyIDs */
};

struct pt {
    struct pt_ctx *ctx;
    struct pt_page *root;               /* PML4 (or PML5) */
    const struct pt *kernel;            /* kernel pt for the upper half; NULL if this is it */
    unsigned levels;                    /* 4 or 5 */
    unsigned va_bits;                   /* 48 or 57 */
};

/* Pages and tables released by an unmap/zap/migrate, to be freed once the
 * flush that covers them has completed (Linux's struct mmu_gather). */
struct mmu_gather {
    u64 *frames;                        /* (pfn << 2 | order) of freed data frames */
    size_t nr_frames, cap_frames;
    struct pt_page *tables;             /* detached table pages */
    u64 nr_tables;
    u64 start, end;                     /* range whose PTEs changed; start==end: none */
    unsigned stride_shift;              /* tlb_get_unmap_shift(): smallest leaf level touched */
    bool freed_tables;                  /* any table page detached */
    u64 nr_ptes;                        /* leaf entries cleared or changed */
};

int  pt_ctx_init(struct pt_ctx *ctx, struct frame_alloc *fa, u64 max_table_pages);
/* KeyID bits (paging.keyid_bits, 0..16) directly above the frame bits of
 * every entry: [pa_bits, pa_bits + keyid_bits).  0 after pt_ctx_init.
 * SIM_EINVAL when they would pass bit 51. */
int  pt_ctx_set_keyid_bits(struct pt_ctx *ctx, unsigned keyid_bits);
/* The entry bits of KeyID k (k must fit the KeyID bits). */
static inline u64 pt_keyid_bits(const struct pt_ctx *ctx, u32 k)
{
    return ((u64)k << ctx->keyid_shift) & ctx->keyid_mask;
}
/* The KeyID of an entry. */
static inline u32 pt_keyid(const struct pt_ctx *ctx, u64 e)
{
    return (u32)((e & ctx->keyid_mask) >> ctx->keyid_shift);
}
void pt_ctx_destroy(struct pt_ctx *ctx);   /* frees the slabs */

/* levels: 4 or 5.  kernel: the kernel pt whose upper half is shared, or NULL
 * when creating the kernel pt itself. */
int  pt_init(struct pt *pt, struct pt_ctx *ctx, unsigned levels,
             const struct pt *kernel, struct sim_err *err);
/* Frees every table and every populated frame (used at mm_exit, after the
 * flush; kernel-half entries are not touched). */
void pt_destroy(struct pt *pt);

/* Map [va, va+len) with leaves of 1 << page_shift bytes (12, 21 or 30) and
 * the given leaf flags (PTE_RW, PTE_US, PTE_NX, PTE_G, and a KeyID as
 * pt_keyid_bits(); P and PS are added).  Table entries always get KeyID 0.
 * populate=false allocates nothing and leaves the entries absent (the first
 * access faults; see pt_populate).  Errors: unaligned va/len, not canonical,
 * wrong half, overlap with a present mapping (SIM_EEXIST), frames or table
 * limit exhausted.  On error nothing is changed. */
int  pt_map(struct pt *pt, u64 va, u64 len, unsigned page_shift, u64 flags,
            bool populate, struct sim_err *err);
/* Fault in one leaf of the given size at va with flags (the page fault
 * handler's job; va is rounded down to the page). */
int  pt_populate(struct pt *pt, u64 va, unsigned page_shift, u64 flags,
                 struct sim_err *err);

/* Clear every present leaf in [va, va+len); detach table pages that become
 * empty (not the root); record freed data frames and tables in g. A huge
 * leaf only partly inside the range is an error (SIM_EINVAL) and nothing is
 * changed. */
int  pt_unmap(struct pt *pt, u64 va, u64 len, struct mmu_gather *g,
              struct sim_err *err);
/* Like pt_unmap but keeps the (possibly empty) tables: MADV_DONTNEED. */
int  pt_zap(struct pt *pt, u64 va, u64 len, struct mmu_gather *g,
            struct sim_err *err);
/* Replace the permission bits (PTE_RW, PTE_NX, PTE_US) of every present leaf
 * in range; frame and KeyID stay (the kernel's pte_modify() keeps them).
 * *reduced is set when any leaf lost a permission (a flush is then
 * required); g->start/end/nr_ptes/stride_shift record what changed. */
int  pt_protect(struct pt *pt, u64 va, u64 len, u64 flags, bool *reduced,
                struct mmu_gather *g, struct sim_err *err);
/* Move every present leaf in range to a newly allocated frame of the same
 * size, keeping its KeyID; old frames go to g. */
int  pt_migrate(struct pt *pt, u64 va, u64 len, struct mmu_gather *g,
                struct sim_err *err);

/* Brute-force translation (no caches): returns the leaf entry pointer and its
 * level (1 = 4K, 2 = 2M, 3 = 1G) or NULL when va is not mapped (an absent
 * entry at some level).  *table receives the table page holding the leaf. */
u64 *pt_walk(const struct pt *pt, u64 va, unsigned *level,
             struct pt_page **table);
/* Entry pointer for va at a given level (5..1), following present non-leaf
 * entries; NULL when the path is absent or ends in a larger leaf.  Used by
 * the walker with its paging-structure caches. */
struct pt_page *pt_table_at(const struct pt *pt, u64 va, unsigned level);

void mmu_gather_init(struct mmu_gather *g);
/* Free the gathered frames and recycle the gathered tables (bumping their
 * gen).  Call after the flush covering them completed. */
void mmu_gather_finish(struct pt_ctx *ctx, struct mmu_gather *g);
void mmu_gather_destroy(struct mmu_gather *g);   /* frees the arrays only */

/* Invariant checker: counts, child pointers, levels.  Returns true if OK. */
bool pt_check(const struct pt *pt);

static inline unsigned pt_index(u64 va, unsigned level)
{
    return (unsigned)(va >> (PAGE_SHIFT_4K + 9 * (level - 1))) & 511;
}

#endif
