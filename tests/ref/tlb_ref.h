/* tests/ref/tlb_ref.h - brute-force oracle for models/tlb.c.
 *
 * Same observable contract as tlb.h (set = VPN mod sets, one probe per page
 * size, smallest first; an invalid way is filled before any victim; LRU,
 * tree PLRU for power-of-two ways and bit-PLRU otherwise, or seeded random
 * replacement), written the obvious way instead of the fast way: entries
 * keep (size, vpn) instead of a packed tag, the set index is always a
 * modulo, LRU is an explicit recency list per set, tree PLRU is an explicit
 * array of node flags walked leaf-to-root on a use, bit-PLRU is a bool per
 * way, and counts are recomputed by scanning.  Slow on purpose; tests only.
 */
#ifndef TLBSIM_TLB_REF_H
#define TLBSIM_TLB_REF_H

#include "../../models/tlb.h"           /* enum tlb_repl only */

struct tlb_ref_entry {
    bool valid;                         /* false: empty way */
    unsigned size;                      /* index into the shifts */
    unsigned shift;                     /* page shift */
    u64 vpn;                            /* va >> shift */
    const u64 *ptep;                    /* payload, copied verbatim */
    u64 pte;
    u32 ptgen, fgen;
    u16 mm;
    bool global;
    bool dirty;
};

struct tlb_ref_set {
    struct tlb_ref_entry *way;          /* [ways] */
    u32 *recency;                       /* LRU: way numbers, most recent first */
    bool *toward_right;                 /* tree PLRU: [1..ways-1], victim side */
    bool *mru;                          /* bit-PLRU: [ways] */
};

struct tlb_ref {
    u32 sets, ways;                     /* sets == 0: absent structure */
    unsigned nr_sizes;
    unsigned shifts[TLB_MAX_SIZES];
    enum tlb_repl repl;
    bool tree;                          /* PLRU flavour: ways is a power of two */
    u64 rng;                            /* same splitmix64 stream as the model */
    struct tlb_ref_set *set;            /* [sets] */
    u32 live;                           /* valid entries, kept by each op */
    u64 fills, evictions, invalidated;  /* what the model's stats should say */
};

/* 0 on success, -1 if out of memory.  The geometry is trusted. */
int  tlb_ref_init(struct tlb_ref *r, u32 entries, u32 ways, unsigned nr_sizes,
                  const u8 *shifts, enum tlb_repl repl, u64 seed);
void tlb_ref_destroy(struct tlb_ref *r);

/* Hit: the entry (replacement state updated), its set and way; else NULL. */
const struct tlb_ref_entry *tlb_ref_lookup(struct tlb_ref *r, u64 va,
                                           u32 *set, u32 *way);
/* false if the structure is absent or does not hold shift.  *evicted gets
 * the valid entry pushed out, or valid = false. */
bool tlb_ref_fill(struct tlb_ref *r, u64 va, unsigned shift,
                  const struct tlb_ref_entry *payload,
                  struct tlb_ref_entry *evicted, u32 *set, u32 *way);
void tlb_ref_flush_all(struct tlb_ref *r, bool include_global);
void tlb_ref_flush_va(struct tlb_ref *r, u64 va);
void tlb_ref_flush_mm(struct tlb_ref *r, u16 mm);

/* Valid entries, counted by a full scan (r->live is the running count). */
u32  tlb_ref_nr_valid(const struct tlb_ref *r);
const struct tlb_ref_entry *tlb_ref_at(const struct tlb_ref *r, u32 set, u32 way);

#endif
