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
 *
 * Layout for speed (docs/performance.md): besides the entries, every
 * structure keeps a dense copy of their tags (t->tags, 8 bytes a way), so a
 * probe reads one or two cache lines instead of ways * 48 bytes and compares
 * the ways without a data-dependent branch (the hit way of a random page is
 * unpredictable, and a mispredicted loop exit cost more than the rest of the
 * hit).  Per-size valid counts let a probe skip a page size the structure
 * holds no entry of (the 2M half of an STLB in a 4K-only workload).
 *
 * Storage: the entries of set s are set_e[s][0 .. ways).  A small
 * structure keeps them in one flat array (t->e, set-major).  A large one
 * (an STLB) is sparse: a set's block of ways gets memory at the set's first
 * fill, from a span promised at init (arena.h arena_reserve: the arena's,
 * shared by a simulation's CPUs, or the structure's own), so the memory
 * touched is that of the sets used, packed, whatever the geometry (256
 * CPUs each filling 32 of 128 STLB sets touched 1,282 scattered 4 KiB
 * pages; docs/performance.md).  A set's first block holds TLB_FIRST_WAYS
 * ways; the fill of a way beyond them moves the set to a block of all its
 * ways (ways fill lowest invalid first, so a set holding k entries uses
 * ways below k; the shoot benchmark's sets hold about 4).  Where a set
 * stores no entry (no block, or a way beyond its first block) its tags are
 * invalid, so probes, which compare tags first, never reach missing
 * storage.  A bitmap of the sets that may hold valid entries (t->live)
 * lets flushes and counts visit only those.
 */
#ifndef TLBSIM_TLB_H
#define TLBSIM_TLB_H

#include "arena.h"
#include "base.h"

enum tlb_repl { TLB_REPL_LRU = 0, TLB_REPL_PLRU = 1, TLB_REPL_RANDOM = 2 };

#define TLB_MAX_SIZES 3                 /* page sizes one structure can hold */
#define TLB_FIRST_WAYS 4                /* ways in a sparse set's first block (192 B) */
/* Every valid tag has bit 63 (TLB_TAG_VALID) set and an empty way holds 0,
 * so a structure's arrays start out as plain zeroed memory, and a large
 * one's entries need no memory at all until its sets are filled (1024
 * CPUs' STLBs would be 72 MB; "Storage" below). */
#define TLB_TAG_INVALID 0ull
#define TLB_TAG_VALID (1ull << 63)
/* With PCIDs (cpu.pcid) a tag also says whose entry it is: the 12-bit PCID
 * is XORed into tag bits 50..61, and a global entry (which matches under
 * every PCID) carries TLB_TAG_GLOBAL instead.  The page part of a tag only
 * reaches bit 54 for a 4K page of an upper-half address, and for a
 * canonical address its bits 48..54 are copies of bit 47 (va bit 56), so
 * the XOR stays one-to-one.  The tag spaces (asid_tag, global_tag) carry
 * TLB_TAG_VALID, so a tag is (page part ^ space) with bit 63 set.
 * PCID-less, the space is TLB_TAG_VALID alone. */
#define TLB_TAG_PCID_SHIFT 50
#define TLB_TAG_GLOBAL (1ull << 62)
#define TLB_PCID_MASK 0xfffu

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
    u8  shift;                          /* page shift of this entry */
    u8  global : 1;                     /* PTE_G was set: survives CR3 writes */
    u8  dirty : 1;                      /* D was set at fill: writes need no A/D assist */
    u8  ept_wp : 1;                     /* virt.ept: the guest allows writes, the EPT leaf did
                                         * not: pte's RW is cleared (a write is an EPT violation) */
};
/* 48 bytes: a 4-way set is three cache lines (it was 56 with byte flags). */
_Static_assert(sizeof(struct tlb_entry) == 48, "struct tlb_entry grew");

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
    struct tlb_entry **set_e;           /* per set: its ways' entries; NULL until the first
                                         * fill of the set when sparse */
    struct tlb_entry *e;                /* flat: sets * ways entries, set-major (set_e[s] ==
                                         * e + s * ways); NULL when sparse */
    u64 *tags;                          /* sets * ways: tags[s * ways + w] == set_e[s][w].tag
                                         * (TLB_TAG_INVALID where not stored), for probes */
    u64 *live;                          /* bit s: set s may hold a valid entry (flushes
                                         * visit these) */
    u64 *grown;                         /* sparse: bit s: set s's block holds all ways */
    struct arena_chunk *span;           /* sparse: where set blocks come from (arena_take) */
    u32 nr_blocks;                      /* sparse: sets given a block so far */
    u32 small_ways;                     /* ways of a set's first block (sparse: TLB_FIRST_WAYS
                                         * or fewer; flat: all) */
    u64 asid_tag;                       /* TLB_TAG_VALID | current PCID << TLB_TAG_PCID_SHIFT */
    u64 global_tag;                     /* TLB_TAG_VALID | TLB_TAG_GLOBAL with PCIDs, else 0 */
    bool own_span;                      /* span is this structure's own mapping (no arena) */
    bool in_arena;                      /* the arrays (a flat e too) belong to an arena */
    u8  *plru;                          /* PLRU state per set (bytes per set = plru_bytes) */
    u32 sets, ways, set_mask;           /* set_mask = sets-1 when a power of two, else 0 */
    bool set_mod;                       /* sets is not a power of two: index by modulo */
    u32 plru_bytes;
    u8  nr_sizes;
    u8  shifts[TLB_MAX_SIZES];
    /* 4K pages only, 4 ways, a power-of-two set count, true LRU, flat:
     * the common L1, which cpu_access() probes without tlb_lookup()'s
     * loops (it indexes t->e directly). */
    bool lru4_4k;
    enum tlb_repl repl;
    u64 clock;                          /* LRU use counter */
    u64 rng;                            /* random replacement state */
    u32 nr_valid;                       /* valid entries now */
    bool may_global;                    /* a global entry was filled since the structure was
                                         * last empty: else a CR3 flush needs no entry's
                                         * global bit (no read of the cold entries) */
    u32 nr_valid_size[TLB_MAX_SIZES];   /* of which of each size index */
    struct tlb_stats st;
};

/* Validates the geometry (entries % ways, ways <= entries, sizes sane) and
 * allocates.  SIM_EINVAL with a message naming the bad value. */
int  tlb_init(struct tlb *t, const struct tlb_config *cfg, enum tlb_repl repl,
              u64 seed, struct sim_err *err);
/* The same with the arrays taken from arena a (kept until arena_destroy;
 * a NULL a is tlb_init): a simulation's CPUs share one arena. */
int  tlb_init_in(struct tlb *t, const struct tlb_config *cfg, enum tlb_repl repl,
                 u64 seed, struct arena *a, struct sim_err *err);
void tlb_destroy(struct tlb *t);        /* NULL-safe on a zeroed struct */

static inline bool tlb_present(const struct tlb *t) { return t->sets != 0; }

static inline u32 tlb_set_of(const struct tlb *t, u64 vpn)
{
    return unlikely(t->set_mod) ? (u32)(vpn % t->sets) : (u32)(vpn & t->set_mask);
}

/* The entry at (set, way), or NULL when the set stores no entry there (a
 * sparse structure's set never filled, or a way beyond its first block:
 * the tag there is invalid).  Walks over a structure read t->tags and
 * take an entry only where the tag is valid, which always has one. */
static inline struct tlb_entry *tlb_entry_at(const struct tlb *t, u32 set, u32 way)
{
    struct tlb_entry *b = t->set_e[set];

    if (!b || (way >= t->small_ways && !(t->grown[set >> 6] >> (set & 63) & 1)))
        return NULL;
    return b + way;
}

/* PLRU/LRU update of the valid entry at (set, way). */
void tlb_touch_way(struct tlb *t, u32 set, u32 way);

/* The way of `set_tags` (ways tags) holding tag, or -1.  The ways are
 * compared into a bit mask and the lowest match is taken, so the only
 * branch is "any match", which is predictable (hit or miss), unlike the
 * exit of a one-way-at-a-time loop.  Common way counts get a loop of fixed
 * length, which the compiler unrolls (two ways per SIMD compare: SSE4.1
 * when the build allows it, else SSE2, which every x86-64 CPU has, so plain
 * `make` gets the SIMD path without -march or runtime dispatch).  These
 * helpers are always inlined: at -O2 GCC kept tlb_find_way() out of line,
 * which cost plain `make` about 5% on random pages.  Tags are unique in a
 * set (tlb_check), so the lowest match is the match. */
#if defined(__SSE4_1__)                 /* x86-64-v2 and up: the release build */
#include <smmintrin.h>
/* Bit w set when set_tags[w] == tag, for n (even) ways: two per compare. */
static sim_always_inline u32 tlb_match_mask(const u64 *set_tags, u32 n, u64 tag)
{
    __m128i t = _mm_set1_epi64x((long long)tag);
    u32 m = 0;

    for (u32 w = 0; w < n; w += 2) {
        __m128i x = _mm_loadu_si128((const __m128i *)(set_tags + w));
        m |= (u32)_mm_movemask_pd(_mm_castsi128_pd(_mm_cmpeq_epi64(x, t))) << w;
    }
    return m;
}
#elif defined(__SSE2__)                 /* every x86-64: what plain `make` builds */
#include <emmintrin.h>
/* The same with SSE2 only, which has no 64-bit compare: compare the 32-bit
 * halves, AND each half with its neighbour (pshufd swaps them), and take
 * the sign bit of each 64-bit lane.  Two more instructions per two ways
 * than SSE4.1, and no runtime dispatch: every x86-64 CPU has SSE2. */
static sim_always_inline u32 tlb_match_mask(const u64 *set_tags, u32 n, u64 tag)
{
    __m128i t = _mm_set1_epi64x((long long)tag);
    u32 m = 0;

    for (u32 w = 0; w < n; w += 2) {
        __m128i x = _mm_loadu_si128((const __m128i *)(set_tags + w));
        __m128i eq = _mm_cmpeq_epi32(x, t);
        eq = _mm_and_si128(eq, _mm_shuffle_epi32(eq, _MM_SHUFFLE(2, 3, 0, 1)));
        m |= (u32)_mm_movemask_pd(_mm_castsi128_pd(eq)) << w;
    }
    return m;
}
#else
static sim_always_inline u32 tlb_match_mask(const u64 *set_tags, u32 n, u64 tag)
{
    u32 m = 0;

    for (u32 w = 0; w < n; w++)
        m |= (u32)(set_tags[w] == tag) << w;
    return m;
}
#endif

/* The first of n ways (a constant where it is inlined) holding tag, or -1. */
static inline int tlb_find_fixed(const u64 *set_tags, u32 n, u64 tag)
{
    u32 m = tlb_match_mask(set_tags, n, tag);

    return m ? (int)__builtin_ctz(m) : -1;
}

static sim_always_inline int tlb_find_way(const u64 *set_tags, u32 ways, u64 tag)
{
    switch (ways) {
    case 4: {                           /* the L1s: four scalar compares beat SSE here */
        u32 m = (u32)(set_tags[0] == tag) | (u32)(set_tags[1] == tag) << 1 |
                (u32)(set_tags[2] == tag) << 2 | (u32)(set_tags[3] == tag) << 3;
        return m ? (int)__builtin_ctz(m) : -1;
    }
    case 8:  return tlb_find_fixed(set_tags, 8, tag);
    case 12: return tlb_find_fixed(set_tags, 12, tag);
    case 16: return tlb_find_fixed(set_tags, 16, tag);
    }
    u32 w = 0;
    for (; w + 4 <= ways; w += 4) {
        unsigned m = (unsigned)(set_tags[w] == tag) |
                     (unsigned)(set_tags[w + 1] == tag) << 1 |
                     (unsigned)(set_tags[w + 2] == tag) << 2 |
                     (unsigned)(set_tags[w + 3] == tag) << 3;
        if (m)
            return (int)(w + (u32)__builtin_ctz(m));
    }
    for (; w < ways; w++)
        if (set_tags[w] == tag)
            return (int)w;
    return -1;
}

/* Probe every page size the structure holds (smallest first) for va in one
 * tag space (tlb->asid_tag or tlb->global_tag). */
static sim_always_inline struct tlb_entry *tlb_probe(struct tlb *t, u64 va, u64 space)
{
    for (unsigned s = 0; s < t->nr_sizes; s++) {
        if (!t->nr_valid_size[s])
            continue;
        u64 vpn = va >> t->shifts[s];
        u64 tag = (vpn << 3 | s) ^ space;
        u32 si = tlb_set_of(t, vpn);
        size_t base = (size_t)si * t->ways;
        int w = tlb_find_way(t->tags + base, t->ways, tag);

        if (w >= 0) {
            struct tlb_entry *e = t->set_e[si] + (u32)w;
            if (t->repl == TLB_REPL_LRU)
                e->stamp = ++t->clock;
            else if (t->repl == TLB_REPL_PLRU)
                tlb_touch_way(t, si, (u32)w);
            return e;
        }
    }
    return NULL;
}

/* Look va up in every page size the structure holds (smallest first).
 * Returns the entry (replacement state updated) or NULL.  Does not count:
 * callers count hits and misses where they know the access kind.  An
 * absent structure has nr_sizes 0, and a size with no valid entry is not
 * probed (it could only miss, and a miss changes no state).  With PCIDs an
 * entry of the current PCID is looked for first, then a global one;
 * PCID-less (global_tag 0) the second probe never runs. */
static sim_always_inline struct tlb_entry *tlb_lookup(struct tlb *t, u64 va)
{
    struct tlb_entry *e = tlb_probe(t, va, t->asid_tag);

    if (unlikely(!e && t->global_tag))
        e = tlb_probe(t, va, t->global_tag);
    return e;
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

/* CR3 write (include_global=false: non-global entries only) or global
 * flush; with PCIDs, of every PCID (INVPCID types 3 and 2). */
void tlb_flush_all(struct tlb *t, bool include_global);
/* INVLPG: drop every entry, of any size, global or not, mapping va (with
 * PCIDs: of the current PCID, and global ones). */
void tlb_flush_va(struct tlb *t, u64 va);

/* ---- PCIDs (cpu.pcid) ---- */
/* Turn PCID tagging on (before any fill) or off. */
void tlb_set_pcid_mode(struct tlb *t, bool on);
/* The PCID later lookups and fills use (CR3 bits 11:0). */
static inline void tlb_set_pcid(struct tlb *t, u16 pcid)
{
    t->asid_tag = TLB_TAG_VALID | (u64)(pcid & TLB_PCID_MASK) << TLB_TAG_PCID_SHIFT;
}
/* Non-global entries of pcid: a CR3 write without NOFLUSH, INVPCID type 1. */
void tlb_flush_pcid(struct tlb *t, u16 pcid);
/* Non-global entries of pcid mapping va: INVPCID type 0. */
void tlb_flush_va_pcid(struct tlb *t, u64 va, u16 pcid);
/* The PCID a valid entry belongs to; -1 for a global entry in PCID mode. */
int  tlb_entry_pcid(const struct tlb *t, const struct tlb_entry *e);
/* Drop entries filled for address space mm (non-global). */
void tlb_flush_mm(struct tlb *t, u16 mm);
/* Drop entries (any space, global too) whose frame overlaps [lo, hi): a
 * flush by guest-physical address (HvFlushGuestPhysicalAddressList).
 * frame_mask: the frame bits of an entry's pte (pt.h pte_frame_mask(),
 * which leaves out the KeyID). */
void tlb_flush_frames(struct tlb *t, u64 lo, u64 hi, u64 frame_mask);

/* Occupancy for reports and the visualizer. */
u32  tlb_count_valid(const struct tlb *t, bool *has_global);
/* Valid entries (global ones too) filled for address space mm. */
u32  tlb_count_mm(const struct tlb *t, u16 mm);
/* Invariant checker: tags in the right set, no duplicate tags, nr_valid,
 * each set's storage (tags only where it stores entries, blocks inside
 * what their span handed out), live and may_global bits. */
bool tlb_check(const struct tlb *t);

#endif
