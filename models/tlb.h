/* models/tlb.h - one set-associative translation cache.
 *
 * The same structure serves the TLBs (L1 DTLB per page size, L1 ITLB, the
 * shared STLB holding 4K and 2M together) and the paging-structure caches
 * (a PDE cache is a "TLB" of 2 MiB regions whose payload is a PD entry).
 *
 * Geometry: E entries, W ways, E/W sets.  An entry for a page of 1 << shift
 * bytes lives in set (va >> shift) mod sets (the contract's rule); a
 * structure that holds several page sizes probes one set per size.
 * Replacement: true LRU (a per-structure use counter stamped into the entry),
 * tree PLRU when W is a power of two and bit-PLRU (MRU bits) otherwise, or
 * random from a seeded PRNG.  An entries value of 0 means "absent": every
 * lookup misses and fills are dropped.
 *
 * PCID-less semantics are the caller's job through the flush calls:
 * tlb_flush_all(t, false) for a CR3 write (globals survive),
 * tlb_flush_all(t, true) for a global flush, tlb_flush_va() for INVLPG.
 *
 * The hit path (tlb_lookup) is inline, allocation-free and division-free
 * when the set count is a power of two; fills and flushes are out of line.
 */
#ifndef TLBSIM_TLB_H
#define TLBSIM_TLB_H

#include "base.h"

enum tlb_repl { TLB_REPL_LRU = 0, TLB_REPL_PLRU = 1, TLB_REPL_RANDOM = 2 };

#define TLB_MAX_SIZES 3                 /* page sizes one structure can hold */
#define TLB_TAG_INVALID UINT64_MAX

/* One cached translation (or, in a PSC, one cached upper-level entry). */
struct tlb_entry {
    u64 tag;                            /* (va >> shift) << 3 | size index; TLB_TAG_INVALID when empty */
    const u64 *ptep;                    /* entry in the page table that produced it */
    u64 pte;                            /* its value at fill, A/D bits masked out */
    u64 stamp;                          /* LRU: last use; unused otherwise */
    u32 ptgen;                          /* gen of the table page holding ptep */
    u32 fgen;                           /* frame generation at fill */
    u32 epoch;                          /* owner mm's pte_epoch at fill or last check */
    u16 mm;                             /* address-space id that filled it (viz, stats) */
    u8  global;                         /* PTE_G was set: survives CR3 writes */
    u8  shift;                          /* page shift of this entry */
    u8  dirty;                          /* D was set at fill: writes need no A/D assist */
};

struct tlb_config {
    u32 entries;                        /* 0: structure absent */
    u32 ways;                           /* 1..entries; entries % ways == 0 */
    u8  nr_sizes;                       /* how many page sizes it holds */
    u8  shifts[TLB_MAX_SIZES];          /* e.g. {12, 21} for an STLB */
};

struct tlb_stats {
    u64 hits, misses, fills, evictions;
    u64 flush_all, flush_va, invalidated;   /* calls and entries dropped */
};

struct tlb {
    struct tlb_entry *e;                /* sets * ways entries, set-major */
    u8  *plru;                          /* PLRU state per set (bytes per set = plru_bytes) */
    u32 sets, ways, set_mask;           /* set_mask = sets-1 when a power of two, else 0 */
    u32 plru_bytes;
    u8  nr_sizes;
    u8  shifts[TLB_MAX_SIZES];
    enum tlb_repl repl;
    u64 clock;                          /* LRU use counter */
    u64 rng;                            /* random replacement state */
    u32 nr_valid;                       /* valid entries now */
    struct tlb_stats st;
};

/* Validates the geometry (entries % ways, ways <= entries, sizes sane) and
 * allocates.  SIM_EINVAL with a message naming the bad value. */
int  tlb_init(struct tlb *t, const struct tlb_config *cfg, enum tlb_repl repl,
              u64 seed, struct sim_err *err);
void tlb_destroy(struct tlb *t);        /* NULL-safe on a zeroed struct */

static inline bool tlb_present(const struct tlb *t) { return t->sets != 0; }

static inline u32 tlb_set_of(const struct tlb *t, u64 vpn)
{
    return likely(t->set_mask || t->sets == 1) ? (u32)(vpn & t->set_mask)
                                               : (u32)(vpn % t->sets);
}

void tlb_touch_slow(struct tlb *t, struct tlb_entry *e);  /* PLRU/LRU update */
/* Same, for a caller that already knows where the entry sits: no division
 * to recover (set, way) from the pointer, so the hit path can use it. */
void tlb_touch_way(struct tlb *t, u32 set, u32 way);

/* Look va up in every page size the structure holds (smallest first).
 * Returns the entry (replacement state updated) or NULL.  Does not count:
 * callers count hits and misses where they know the access kind. */
static inline struct tlb_entry *tlb_lookup(struct tlb *t, u64 va)
{
    if (unlikely(!t->sets))             /* absent structure: always a miss */
        return NULL;
    for (unsigned s = 0; s < t->nr_sizes; s++) {
        u64 vpn = va >> t->shifts[s];
        u64 tag = vpn << 3 | s;
        u32 si = tlb_set_of(t, vpn);
        struct tlb_entry *set = t->e + (size_t)si * t->ways;

        for (u32 w = 0; w < t->ways; w++) {
            if (set[w].tag == tag) {
                if (t->repl == TLB_REPL_LRU)
                    set[w].stamp = ++t->clock;
                else if (t->repl == TLB_REPL_PLRU)
                    tlb_touch_way(t, si, w);
                return &set[w];
            }
        }
    }
    return NULL;
}

/* Insert a translation for the page of size 1 << shift containing va (shift
 * must be one the structure holds, else nothing happens and NULL is
 * returned).  An existing entry for the same page is overwritten in place.
 * Otherwise a victim is chosen (an invalid way first); if a valid entry is
 * evicted and `evicted` is not NULL it receives a copy, and when nothing is
 * evicted evicted->tag is set to TLB_TAG_INVALID.  `src` supplies the
 * payload (ptep, pte, ptgen, fgen, mm, global, dirty: the whole struct is
 * copied); tag, shift and stamp are set here.  src may be NULL (zero payload). */
struct tlb_entry *tlb_fill(struct tlb *t, u64 va, unsigned shift,
                           const struct tlb_entry *src,
                           struct tlb_entry *evicted);

/* CR3 write (include_global=false: non-global entries only) or global flush. */
void tlb_flush_all(struct tlb *t, bool include_global);
/* INVLPG: drop every entry, of any size, global or not, mapping va. */
void tlb_flush_va(struct tlb *t, u64 va);
/* Drop entries filled for address space mm (non-global). */
void tlb_flush_mm(struct tlb *t, u16 mm);

/* Occupancy for reports and the visualizer. */
u32  tlb_count_valid(const struct tlb *t, bool *has_global);
/* Invariant checker: tags in the right set, no duplicate tags, nr_valid. */
bool tlb_check(const struct tlb *t);

#endif
