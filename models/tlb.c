/* models/tlb.c - one set-associative translation cache: geometry, fills,
 * replacement and flushes.  The hit path is tlb_lookup() in tlb.h.
 *
 * Workload profile: on a warm machine lookups outnumber fills by one to
 * three orders of magnitude, and flushes are rarer still but touch every
 * entry.  So a fill scans one set (O(ways)), a flush scans the whole array
 * (O(entries)), and nothing here keeps side indexes that the hit path would
 * have to maintain.
 *
 * Indexing (the contract, tlb.h): an entry for a page of 1 << shift bytes
 * lives in set (va >> shift) mod sets, and its tag is
 * (va >> shift) << 3 | size index, where the size index is the position of
 * shift in cfg->shifts, XORed with the tag space (TLB_TAG_VALID, and the
 * PCID or global bits; tlb.h).  An empty way's tag is 0, so the arrays
 * start zeroed: big ones are mapped from the kernel's zero pages.  Two sizes can therefore cache the same address at
 * once (a 4K and a 2M entry), which is what INVLPG has to cope with.
 *
 * Replacement state, per set:
 *   LRU     entry->stamp = t->clock at the entry's last use (fill or hit).
 *           Every use takes a fresh ++clock, so stamps never tie and the
 *           victim, the smallest stamp, is unique: true LRU.
 *   PLRU    ways a power of two: tree PLRU, ways-1 node bits in heap order
 *           (root = node 1, children of n are 2n and 2n+1; bit 0 unused).
 *           A node bit says which half the next victim comes from
 *           (0 = left, 1 = right); a use points every node on its path
 *           away from the used way.
 *           other way counts: bit-PLRU (MRU bits), one bit per way.  A use
 *           sets the way's bit; if that sets them all, every other bit is
 *           cleared.  The victim is the lowest-index way with a clear bit.
 *   RANDOM  victim = sim_rand_next(&t->rng) % ways, so a seed replays.
 * An invalid way is always filled before any victim is chosen, so flushes
 * leave the replacement state alone (as hardware does): the state of an
 * invalid way is overwritten by the fill that revalidates it.
 *
 * Speed (docs/performance.md): every tag is kept twice, in its entry (the
 * API's view, which tests and tlbviz read) and in the dense t->tags array
 * that probes, fills and flushes scan; set_tag() writes both and
 * tlb_check() compares them.  nr_valid_size[] counts valid entries per
 * size so that probes and INVLPGs skip sizes with none.  LRU victims are
 * found with conditional moves: the oldest way of a set is as random as
 * the references, and a branch on it mispredicted half the time.
 *
 * Storage (tlb.h): entries are reached through set_e[set], flat or sparse
 * alike.  A sparse set gets its block in tlb_fill() (arena_take from the
 * span reserved at init, so it cannot fail), and every fill marks its set
 * in t->live.  Flushes that scan the whole structure visit the live sets
 * only and unmark those they leave empty; INVLPG-like flushes leave the
 * bit (it means "may hold").  A CPU of the shoot benchmark fills 32 of its
 * STLB's 128 sets and flushes it fully about 36 times.
 */
#include "tlb.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_DEBUG_TLB 0                 /* 1: tlb_check() says what it rejects */
#define TLB_SPARSE_MIN (64u << 10)      /* structures whose entries and tags take this
                                         * much are sparse: their sets get entries on
                                         * first fill (an STLB's 72 KiB; a 64-entry L1
                                         * is 3.5 KiB and every reference uses it) */

/* ===== Small helpers ===================================================== */

static bool is_pow2(u32 x) { return x && !(x & (x - 1)); }

/* The tag of (set, way), in both copies (the entry and the dense probe
 * array); the set has its block. */
static void set_tag(struct tlb *t, u32 set, u32 way, u64 tag)
{
    t->set_e[set][way].tag = tag;
    t->tags[(size_t)set * t->ways + way] = tag;
}

static u32 live_words(u32 sets) { return (sets + 63) / 64; }

static void live_mark(struct tlb *t, u32 set) { t->live[set >> 6] |= 1ull << (set & 63); }

static bool live_has(const struct tlb *t, u32 set) { return t->live[set >> 6] >> (set & 63) & 1; }

static bool grown(const struct tlb *t, u32 set) { return t->grown[set >> 6] >> (set & 63) & 1; }

/* Ways set si has storage for (its tags beyond them are invalid). */
static u32 ways_stored(const struct tlb *t, u32 si)
{
    return !t->set_e[si] ? 0 : t->e || grown(t, si) ? t->ways : t->small_ways;
}

static size_t block_bytes(u32 ways)
{
    return ((size_t)ways * sizeof(struct tlb_entry) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

/* The first set from `set` on that may hold a valid entry, or t->sets. */
static u32 next_live(const struct tlb *t, u32 set)
{
    u32 nw = live_words(t->sets);

    for (u32 wi = set >> 6; wi < nw; wi++) {
        u64 m = t->live[wi];

        if (wi == set >> 6)
            m &= ~0ull << (set & 63);
        if (m)
            return wi * 64 + (u32)__builtin_ctzll(m);
    }
    return t->sets;
}

static u8 *plru_of(const struct tlb *t, u32 set)
{
    return t->plru + (size_t)set * t->plru_bytes;
}

static unsigned bit_get(const u8 *b, u32 i) { return b[i >> 3] >> (i & 7) & 1; }

static void bit_put(u8 *b, u32 i, unsigned v)
{
    if (v)
        b[i >> 3] |= (u8)(1u << (i & 7));
    else
        b[i >> 3] &= (u8)~(1u << (i & 7));
}

/* Position of shift in t->shifts, or -1 if the structure does not hold it. */
static int size_index(const struct tlb *t, unsigned shift)
{
    for (unsigned s = 0; s < t->nr_sizes; s++)
        if (t->shifts[s] == shift)
            return (int)s;
    return -1;
}

/* ===== Geometry ========================================================== */

static bool shift_allowed(unsigned shift)
{
    /* 4K, 2M, 1G pages; 512G and 256T regions when the structure is a
     * PML4/PML5 paging-structure cache. */
    return shift == 12 || shift == 21 || shift == 30 || shift == 39 || shift == 48;
}

static int check_config(const struct tlb_config *cfg, enum tlb_repl repl,
                        struct sim_err *err)
{
    if ((unsigned)repl > TLB_REPL_RANDOM)
        return sim_err_set(err, SIM_EINVAL, "repl: %d (must be lru, plru or random)",
                           (int)repl);
    if (cfg->entries == 0)
        return SIM_OK;                  /* absent: nothing else matters */
    if (cfg->ways == 0)
        return sim_err_set(err, SIM_EINVAL, "ways: 0 (must be at least 1)");
    if (cfg->ways > cfg->entries)
        return sim_err_set(err, SIM_EINVAL, "ways: %u exceeds entries (%u)",
                           cfg->ways, cfg->entries);
    if (cfg->entries % cfg->ways)
        return sim_err_set(err, SIM_EINVAL,
                           "entries: %u cannot be split into sets of %u ways",
                           cfg->entries, cfg->ways);
    if (cfg->nr_sizes < 1 || cfg->nr_sizes > TLB_MAX_SIZES)
        return sim_err_set(err, SIM_EINVAL, "nr_sizes: %u (must be 1..%d)",
                           cfg->nr_sizes, TLB_MAX_SIZES);
    for (unsigned s = 0; s < cfg->nr_sizes; s++) {
        if (!shift_allowed(cfg->shifts[s]))
            return sim_err_set(err, SIM_EINVAL,
                               "shifts[%u]: %u (must be 12, 21, 30, 39 or 48)",
                               s, cfg->shifts[s]);
        if (s && cfg->shifts[s] <= cfg->shifts[s - 1])
            return sim_err_set(err, SIM_EINVAL,
                               "shifts[%u]: %u not above shifts[%u] (%u); "
                               "sizes must be strictly increasing",
                               s, cfg->shifts[s], s - 1, cfg->shifts[s - 1]);
    }
    return SIM_OK;
}

/* Tags, set pointers, live and grown bits, zeroed (an empty way's tag is 0), in
 * one block from the arena (a simulation's CPUs: huge pages) or the heap,
 * with a small structure's entries in front of them.  A large structure's
 * entries come set by set from a span: the arena's, where every CPU's
 * blocks are packed in the order of first fills, or a mapping of its own
 * (4 KiB pages, touched as sets are filled).  Before, each STLB was a
 * mapping of its own, set-major: 256 CPUs' 32 used sets touched 1,282
 * pages, 12 to 14 us each on a shadow-paged VM, and 256 munmaps at the
 * end (docs/performance.md). */
static int alloc_arrays(struct tlb *t, struct arena *a)
{
    size_t n = (size_t)t->sets * t->ways;
    size_t eb = n * sizeof(*t->e), tb = n * sizeof(*t->tags);
    size_t pb = (size_t)t->sets * sizeof(*t->set_e), lb = live_words(t->sets) * sizeof(u64);
    bool sparse = eb + tb >= TLB_SPARSE_MIN;
    size_t bytes = (sparse ? 0 : eb) + tb + pb + 2 * lb, per_set;
    u8 *p;

    t->in_arena = a != NULL;
    bytes = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    /* Cache-line aligned, as the arena's blocks are: a 12-way set's tags
     * (96 bytes) then span two lines, not three (random pages: 4% more
     * L1 misses with malloc's 16-byte alignment, by cachegrind). */
    if ((p = a ? arena_alloc(a, bytes) : aligned_alloc(ARENA_ALIGN, bytes)) == NULL)
        return SIM_ENOMEM;
    if (!a)
        memset(p, 0, bytes);
    if (!sparse) {                      /* entries first: the block's alignment */
        t->e = (struct tlb_entry *)p;
        p += eb;
    }
    t->tags = (u64 *)p;
    t->set_e = (struct tlb_entry **)(p + tb);
    t->live = (u64 *)(p + tb + pb);
    t->grown = t->live + lb / sizeof(u64);
    t->small_ways = t->ways;
    if (!sparse) {
        for (u32 s = 0; s < t->sets; s++)
            t->set_e[s] = t->e + (size_t)s * t->ways;
        return SIM_OK;
    }
    /* Each set may take a first block and then one of all its ways: the
     * promise covers both, so no fill can fail (only address space is
     * promised; what is touched is what the fills take). */
    if (t->ways > TLB_FIRST_WAYS)
        t->small_ways = TLB_FIRST_WAYS;
    per_set = block_bytes(t->ways) + (t->small_ways < t->ways ? block_bytes(t->small_ways) : 0);
    t->own_span = a == NULL;
    t->span = a ? arena_reserve(a, t->sets, per_set) : arena_span_map(t->sets, per_set);
    return t->span ? SIM_OK : SIM_ENOMEM;
}

/* Storage for way w of sparse set si, which has none: the set's first
 * block (TLB_FIRST_WAYS ways), or for a way beyond it a block of all
 * ways, into which the first block's entries move (the old one is left
 * behind).  Taken from what init promised, so it cannot fail. */
static __attribute__((noinline)) struct tlb_entry *set_block(struct tlb *t, u32 si, u32 w)
{
    struct tlb_entry *old = t->set_e[si], *b;
    bool all = w >= t->small_ways;

    assert(t->span && !t->e && (!old || (all && !grown(t, si))));
    b = arena_take(t->span, block_bytes(all ? t->ways : t->small_ways));
    if (old)
        memcpy(b, old, t->small_ways * sizeof(*b));
    else
        t->nr_blocks++;
    if (all)
        t->grown[si >> 6] |= 1ull << (si & 63);
    return t->set_e[si] = b;
}

int tlb_init(struct tlb *t, const struct tlb_config *cfg, enum tlb_repl repl,
             u64 seed, struct sim_err *err)
{
    return tlb_init_in(t, cfg, repl, seed, NULL, err);
}

int tlb_init_in(struct tlb *t, const struct tlb_config *cfg, enum tlb_repl repl,
                u64 seed, struct arena *a, struct sim_err *err)
{
    int rc;

    memset(t, 0, sizeof(*t));           /* a failed init leaves t destroyable */
    t->asid_tag = TLB_TAG_VALID;        /* PCID-less: the one tag space */
    if (!cfg)
        return sim_err_set(err, SIM_EINVAL, "tlb: no configuration");
    if ((rc = check_config(cfg, repl, err)))
        return rc;
    t->repl = repl;
    t->rng = seed;
    if (cfg->entries == 0)
        return SIM_OK;                  /* sets == 0: tlb_present() is false */

    t->ways = cfg->ways;
    t->sets = cfg->entries / cfg->ways;
    /* sets == 1 also gets mask 0, which tlb_set_of() takes as "set 0". */
    t->set_mask = is_pow2(t->sets) ? t->sets - 1 : 0;
    t->set_mod = !is_pow2(t->sets);
    t->nr_sizes = cfg->nr_sizes;
    memcpy(t->shifts, cfg->shifts, cfg->nr_sizes);  /* the rest stay 0 */
    if (alloc_arrays(t, a))
        goto err;
    t->lru4_4k = t->nr_sizes == 1 && t->shifts[0] == 12 && t->ways == 4 && !t->set_mod &&
                 repl == TLB_REPL_LRU && t->e;
    if (repl == TLB_REPL_PLRU) {
        /* Tree: node bits 1..ways-1; MRU bits: 0..ways-1.  Both fit in ways bits. */
        t->plru_bytes = (t->ways + 7) / 8;
        t->plru = a ? arena_alloc(a, (size_t)t->sets * t->plru_bytes)
                    : calloc(t->sets, t->plru_bytes);
        if (t->plru == NULL)
            goto err;
    }
    return SIM_OK;

err:
    tlb_destroy(t);
    return sim_err_set(err, SIM_ENOMEM, "tlb: out of memory for %u entries",
                       cfg->entries);
}

void tlb_destroy(struct tlb *t)
{
    if (!t)
        return;
    /* What came from an arena goes with it (arena_destroy). */
    if (t->own_span)
        arena_span_free(t->span);
    if (!t->in_arena) {
        free(t->e ? (void *)t->e : (void *)t->tags);  /* the block's start */
        free(t->plru);
    }
    memset(t, 0, sizeof(*t));
}

/* ===== Replacement ======================================================= */

static void tree_touch(u8 *b, u32 ways, u32 way)
{
    u32 node = 1;

    for (unsigned l = (unsigned)__builtin_ctz(ways); l-- > 0;) {
        unsigned dir = way >> l & 1;    /* 0: way is in the left half */
        bit_put(b, node, !dir);         /* next victim from the other half */
        node = 2 * node + dir;
    }
}

static u32 tree_victim(const u8 *b, u32 ways)
{
    u32 node = 1;

    while (node < ways)
        node = 2 * node + bit_get(b, node);
    return node - ways;                 /* leaves ways..2*ways-1 are the ways */
}

static bool mru_all_set(const u8 *b, u32 ways)
{
    u32 full = ways / 8, rem = ways & 7;

    for (u32 i = 0; i < full; i++)
        if (b[i] != 0xff)
            return false;
    return !rem || (b[full] & ((1u << rem) - 1)) == (1u << rem) - 1;
}

static void mru_touch(u8 *b, u32 ways, u32 bytes, u32 way)
{
    bit_put(b, way, 1);
    if (mru_all_set(b, ways)) {         /* saturated: restart with only this way */
        memset(b, 0, bytes);
        bit_put(b, way, 1);
    }
}

static u32 mru_victim(const u8 *b, u32 ways)
{
    for (u32 w = 0; w < ways; w++)
        if (!bit_get(b, w))
            return w;
    assert(!"bit-PLRU: every MRU bit set");  /* mru_touch never leaves that */
    return 0;
}

void tlb_touch_way(struct tlb *t, u32 set, u32 way)
{
    assert(set < t->sets && way < t->ways);
    if (t->repl == TLB_REPL_LRU) {
        t->set_e[set][way].stamp = ++t->clock;
    } else if (t->repl == TLB_REPL_PLRU) {
        if (is_pow2(t->ways))
            tree_touch(plru_of(t, set), t->ways, way);
        else
            mru_touch(plru_of(t, set), t->ways, t->plru_bytes, way);
    }
}

static u32 lru_victim(const struct tlb_entry *set, u32 ways)
{
    u32 v = 0;
    u64 oldest = set[0].stamp;

    /* Conditional moves, not a branch: which way holds the minimum so far
     * is as unpredictable as the references were. */
    for (u32 w = 1; w < ways; w++) {
        u64 st = set[w].stamp;
        bool older = st < oldest;
        v = older ? w : v;
        oldest = older ? st : oldest;
    }
    return v;
}

/* Way that receives tag in set si: the same page if present, else the first
 * invalid way, else the policy's victim (which is valid; the set is full,
 * so it has its block). */
static u32 choose_way(struct tlb *t, u32 si, u64 tag)
{
    const u64 *tags = t->tags + (size_t)si * t->ways;
    int w = tlb_find_way(tags, t->ways, tag);

    if (w >= 0)
        return (u32)w;
    /* A full structure (the steady state) has no invalid way to look for. */
    if (t->nr_valid < t->sets * t->ways &&
        (w = tlb_find_way(tags, t->ways, TLB_TAG_INVALID)) >= 0)
        return (u32)w;                  /* the first invalid way */
    switch (t->repl) {
    case TLB_REPL_LRU:
        return lru_victim(t->set_e[si], t->ways);
    case TLB_REPL_PLRU:
        return is_pow2(t->ways) ? tree_victim(plru_of(t, si), t->ways)
                                : mru_victim(plru_of(t, si), t->ways);
    case TLB_REPL_RANDOM:
        break;
    }
    return (u32)(sim_rand_next(&t->rng) % t->ways);
}

/* ===== Fill ============================================================== */

struct tlb_entry *tlb_fill(struct tlb *t, u64 va, unsigned shift,
                           const struct tlb_entry *src,
                           struct tlb_entry *evicted)
{
    int s;

    if (evicted)
        evicted->tag = TLB_TAG_INVALID;
    if (unlikely(!t->sets) || (s = size_index(t, shift)) < 0)
        return NULL;

    u64 vpn = va >> shift;
    bool global = src && src->global;
    /* PCID-less (global_tag 0), a global entry lives in the one space. */
    u64 tag = (vpn << 3 | (u64)s) ^ (global && t->global_tag ? t->global_tag : t->asid_tag);
    u32 si = tlb_set_of(t, vpn);
    u32 w = choose_way(t, si, tag);
    struct tlb_entry *blk = t->set_e[si];
    u64 old = t->tags[(size_t)si * t->ways + w];   /* == the entry's tag; read here, the
                                                     * entry's page is first touched by
                                                     * the write below */

    if (old == TLB_TAG_INVALID) {
        /* Only an invalid way can lack storage (a sparse set's first fill,
         * or its first way beyond the first block). */
        if (unlikely(!blk || (w >= t->small_ways && !grown(t, si))))
            blk = set_block(t, si, w);
        t->nr_valid++;
        t->nr_valid_size[s]++;
        live_mark(t, si);               /* (a set with a valid way is marked already) */
    } else if (old != tag) {            /* a different page: eviction */
        if (evicted)
            *evicted = blk[w];
        t->st.evictions++;
        t->nr_valid_size[old & 7]--;
        t->nr_valid_size[s]++;
    }
    struct tlb_entry *e = &blk[w];

    /* Whole-struct copy so every payload field (and any added later, like
     * dirty) travels; then the fields that belong to this structure. */
    *e = src ? *src : (struct tlb_entry){ 0 };
    set_tag(t, si, w, tag);
    t->may_global |= global;            /* (not e->global: no load after the stores) */
    e->shift = (u8)shift;
    e->stamp = 0;
    if (t->repl == TLB_REPL_LRU)        /* a fill is a use: LRU stamp, PLRU bits */
        e->stamp = ++t->clock;
    else
        tlb_touch_way(t, si, w);
    t->st.fills++;
    return e;
}

/* ===== Flushes =========================================================== */

static void drop(struct tlb *t, u32 si, u32 w)
{
    u64 tag = t->tags[(size_t)si * t->ways + w];

    /* (Not the entry's tag: asserts stay on in release builds, and a flush
     * would wait on every cold entry's line; tlb_check compares them.) */
    assert(tag != TLB_TAG_INVALID && t->nr_valid > 0 && t->nr_valid_size[tag & 7] > 0);
    t->nr_valid_size[tag & 7]--;
    set_tag(t, si, w, TLB_TAG_INVALID);
    if (!--t->nr_valid)
        t->may_global = false;
    t->st.invalidated++;
}

/* Which valid entries a whole-structure flush drops: the arguments of its
 * match function. */
struct drop_rule;
typedef bool drop_match(const struct tlb *t, u64 tag, const struct tlb_entry *e,
                        const struct drop_rule *r);
struct drop_rule {
    bool include_global;                /* flush_all */
    u64 space;                          /* flush_pcid */
    u16 mm;                             /* flush_mm */
    u64 lo, hi, frame_mask;             /* flush_frames */
};

/* Drop the valid entries match() takes, visiting the live sets only (the
 * dense tags first, an entry only when its tag is valid), and unmark the
 * sets left empty.  Inlined into each flush with a constant match, which
 * is inlined in turn. */
static sim_always_inline void drop_where(struct tlb *t, drop_match *match,
                                         const struct drop_rule *r)
{
    u32 nw = live_words(t->sets);

    if (!t->nr_valid)                   /* (most flushes of the small structures) */
        return;
    for (u32 wi = 0; wi < nw && t->nr_valid; wi++) {
        for (u64 m = t->live[wi]; m; m &= m - 1) {
            u32 si = wi * 64 + (u32)__builtin_ctzll(m);
            const u64 *tags = t->tags + (size_t)si * t->ways;
            bool kept = false;

            for (u32 w = 0; w < t->ways; w++) {
                if (tags[w] == TLB_TAG_INVALID)
                    continue;
                if (match(t, tags[w], &t->set_e[si][w], r))
                    drop(t, si, w);
                else
                    kept = true;
            }
            if (!kept)
                t->live[wi] &= ~(m & -m);
        }
    }
}

static bool match_all(const struct tlb *t, u64 tag, const struct tlb_entry *e,
                      const struct drop_rule *r)
{
    (void)tag;
    return r->include_global || !t->may_global || !e->global;
}

/* CR3 write or global flush: one pass over the live sets. */
void tlb_flush_all(struct tlb *t, bool include_global)
{
    if (!t->sets)
        return;
    t->st.flush_all++;
    drop_where(t, match_all, &(struct drop_rule){ .include_global = include_global });
}

/* Drop the entries mapping va whose tag is in space (one probe per size: a
 * 2M entry covering va is in the set of va >> 21, not of va >> 12).  There
 * is at most one match per size (no duplicate tags), but scanning the
 * whole set keeps this right even if not.  keep_global: leave a match
 * alone when it is global (PCID-less, globals share the PCID's space). */
static void flush_va_space(struct tlb *t, u64 va, u64 space, bool keep_global)
{
    for (unsigned s = 0; s < t->nr_sizes; s++) {
        if (!t->nr_valid_size[s])
            continue;                   /* nothing of this size to drop */
        u64 vpn = va >> t->shifts[s];
        u64 tag = (vpn << 3 | s) ^ space;
        u32 si = tlb_set_of(t, vpn);
        const u64 *tags = t->tags + (size_t)si * t->ways;

        for (u32 w = 0; w < t->ways; w++)
            if (tags[w] == tag && !(keep_global && t->set_e[si][w].global))
                drop(t, si, w);
    }
}

void tlb_flush_va(struct tlb *t, u64 va)
{
    if (!t->sets)
        return;
    t->st.flush_va++;
    flush_va_space(t, va, t->asid_tag, false);
    if (t->global_tag)                  /* PCIDs: global entries live apart */
        flush_va_space(t, va, t->global_tag, false);
}

/* ===== PCIDs ============================================================= */

void tlb_set_pcid_mode(struct tlb *t, bool on)
{
    assert(t->nr_valid == 0 || (t->global_tag != 0) == on);
    t->global_tag = on ? TLB_TAG_VALID | TLB_TAG_GLOBAL : 0;
    if (!on)
        t->asid_tag = TLB_TAG_VALID;
}

/* The tag space of a valid tag (TLB_TAG_VALID and the PCID/global bits):
 * what is left above bit 47 once the page part (copies of tag bit 47 for a
 * 4K page, see tlb.h) is removed. */
static u64 tag_space(const struct tlb *t, u64 tag)
{
    u64 page_hi = t->shifts[tag & 7] == 12 && (tag >> 47 & 1) ? 0x7full << 48 : 0;

    return (tag ^ page_hi) & ~((1ull << 48) - 1);
}

int tlb_entry_pcid(const struct tlb *t, const struct tlb_entry *e)
{
    u64 sp = tag_space(t, e->tag);

    if (t->global_tag && sp == t->global_tag)
        return -1;
    return (int)(sp >> TLB_TAG_PCID_SHIFT & TLB_PCID_MASK);
}

static bool match_pcid(const struct tlb *t, u64 tag, const struct tlb_entry *e,
                       const struct drop_rule *r)
{
    return !e->global && tag_space(t, tag) == r->space;
}

void tlb_flush_pcid(struct tlb *t, u16 pcid)
{
    if (!t->sets)
        return;
    t->st.flush_all++;
    drop_where(t, match_pcid, &(struct drop_rule){
        .space = TLB_TAG_VALID | (u64)(pcid & TLB_PCID_MASK) << TLB_TAG_PCID_SHIFT });
}

void tlb_flush_va_pcid(struct tlb *t, u64 va, u16 pcid)
{
    if (!t->sets)
        return;
    t->st.flush_va++;
    flush_va_space(t, va, TLB_TAG_VALID | (u64)(pcid & TLB_PCID_MASK) << TLB_TAG_PCID_SHIFT,
                   true);
}

static bool match_mm(const struct tlb *t, u64 tag, const struct tlb_entry *e,
                     const struct drop_rule *r)
{
    (void)t, (void)tag;
    return !e->global && e->mm == r->mm;
}

void tlb_flush_mm(struct tlb *t, u16 mm)
{
    if (t->sets)
        drop_where(t, match_mm, &(struct drop_rule){ .mm = mm });
}

static bool match_frames(const struct tlb *t, u64 tag, const struct tlb_entry *e,
                         const struct drop_rule *r)
{
    u64 f = e->pte & r->frame_mask, end = f + (1ull << e->shift);

    (void)t, (void)tag;
    return f < r->hi && end > r->lo;
}

void tlb_flush_frames(struct tlb *t, u64 lo, u64 hi, u64 frame_mask)
{
    if (t->sets)
        drop_where(t, match_frames, &(struct drop_rule){ .lo = lo, .hi = hi,
                                                         .frame_mask = frame_mask });
}

/* ===== Reports and the invariant checker ================================= */

u32 tlb_count_valid(const struct tlb *t, bool *has_global)
{
    u32 count = 0;
    bool g = false;

    for (u32 si = next_live(t, 0); si < t->sets; si = next_live(t, si + 1)) {
        for (u32 w = 0; w < t->ways; w++) {
            if (t->tags[(size_t)si * t->ways + w] != TLB_TAG_INVALID) {
                count++;
                g = g || t->set_e[si][w].global;
            }
        }
    }
    if (has_global)
        *has_global = g;
    return count;
}

u32 tlb_count_mm(const struct tlb *t, u16 mm)
{
    u32 count = 0;

    for (u32 si = next_live(t, 0); si < t->sets; si = next_live(t, si + 1))
        for (u32 w = 0; w < t->ways; w++)
            if (t->tags[(size_t)si * t->ways + w] != TLB_TAG_INVALID &&
                t->set_e[si][w].mm == mm)
                count++;
    return count;
}

#define CHECK(cond, ...) do {                                           \
        if (!(cond)) {                                                  \
            if (SIM_DEBUG_TLB)                                          \
                fprintf(stderr, "tlb_check: " __VA_ARGS__), fputc('\n', stderr); \
            return false;                                               \
        }                                                               \
    } while (0)

/* One valid entry at (si, w): right set, right size, no later duplicate. */
static bool check_entry(const struct tlb *t, u32 si, u32 w)
{
    const struct tlb_entry *set = t->set_e[si], *e = &set[w];
    unsigned s = (unsigned)(e->tag & 7);

    CHECK(s < t->nr_sizes, "set %u way %u: size index %u", si, w, s);
    CHECK(e->shift == t->shifts[s], "set %u way %u: shift %u, tag says %u",
          si, w, e->shift, t->shifts[s]);
    u64 sp = tag_space(t, e->tag), page = e->tag ^ sp;

    CHECK(sp & TLB_TAG_VALID, "set %u way %u: tag %#llx lacks the valid bit",
          si, w, (unsigned long long)e->tag);
    sp &= ~TLB_TAG_VALID;
    CHECK(!(sp & ~((u64)TLB_PCID_MASK << TLB_TAG_PCID_SHIFT | TLB_TAG_GLOBAL)),
          "set %u way %u: tag %#llx has bits outside the page, PCID and global fields",
          si, w, (unsigned long long)e->tag);
    CHECK(!sp || t->global_tag, "set %u way %u: PCID bits in a PCID-less structure", si, w);
    CHECK((sp == TLB_TAG_GLOBAL) == (t->global_tag && e->global),
          "set %u way %u: global bit %u, tag space %#llx", si, w, e->global,
          (unsigned long long)sp);
    CHECK(tlb_set_of(t, page >> 3) == si, "set %u way %u: tag belongs in set %u",
          si, w, tlb_set_of(t, page >> 3));
    if (t->repl == TLB_REPL_LRU)
        CHECK(e->stamp && e->stamp <= t->clock, "set %u way %u: stamp %llu, clock %llu",
              si, w, (unsigned long long)e->stamp, (unsigned long long)t->clock);
    for (u32 w2 = w + 1; w2 < t->ways; w2++) {
        u64 tag2 = t->tags[(size_t)si * t->ways + w2];  /* == set[w2].tag where stored */
        CHECK(tag2 != e->tag, "set %u: ways %u and %u share a tag", si, w, w2);
        if (t->repl == TLB_REPL_LRU && tag2 != TLB_TAG_INVALID)
            CHECK(set[w2].stamp != e->stamp, "set %u: ways %u and %u share a stamp",
                  si, w, w2);
    }
    return true;
}

/* Bit-PLRU: never all bits set (mru_touch clears them), no stray bits. */
static bool check_mru(const struct tlb *t, u32 si)
{
    const u8 *b = plru_of(t, si);

    CHECK(!mru_all_set(b, t->ways), "set %u: every MRU bit set", si);
    for (u32 i = t->ways; i < t->plru_bytes * 8; i++)
        CHECK(!bit_get(b, i), "set %u: MRU bit %u beyond %u ways", si, i, t->ways);
    return true;
}

/* Set si's storage: flat, its place in t->e; sparse, none, a first block
 * or one of all ways, wholly inside what the span handed out, and no valid
 * tag in a way it does not store (a block given to two sets fails
 * tlb_check's tag comparison as soon as either holds an entry). */
static bool check_storage(const struct tlb *t, u32 si)
{
    const struct tlb_entry *b = t->set_e[si];
    const u64 *tags = t->tags + (size_t)si * t->ways;
    u32 n = ways_stored(t, si);

    if (t->e) {
        CHECK(b == t->e + (size_t)si * t->ways, "set %u: not at its place in the flat array", si);
        return true;
    }
    for (u32 w = n; w < t->ways; w++)
        CHECK(tags[w] == TLB_TAG_INVALID, "set %u way %u: a tag but no storage", si, w);
    CHECK(b || !grown(t, si), "set %u: grown without a block", si);
    CHECK(!b || ((const u8 *)b >= t->span->base &&
                 (const u8 *)(b + n) <= t->span->base + t->span->taken &&
                 ((const u8 *)b - t->span->base) % ARENA_ALIGN == 0),
          "set %u: block %p outside what its span handed out", si, (const void *)b);
    return true;
}

bool tlb_check(const struct tlb *t)
{
    u32 n = 0, blocks = 0, per_size[TLB_MAX_SIZES] = { 0 };

    if (!t->sets)
        return t->e == NULL && t->tags == NULL && t->set_e == NULL && t->nr_valid == 0;
    CHECK(t->ways && t->nr_sizes >= 1 && t->nr_sizes <= TLB_MAX_SIZES, "bad geometry");
    CHECK(t->set_mask == (is_pow2(t->sets) ? t->sets - 1 : 0) && t->set_mod == !is_pow2(t->sets),
          "set_mask %u for %u sets", t->set_mask, t->sets);
    for (u32 si = 0; si < t->sets; si++) {
        const struct tlb_entry *b = t->set_e[si];

        if (!check_storage(t, si))
            return false;
        blocks += b != NULL;
        for (u32 w = 0; w < ways_stored(t, si); w++) {
            u64 tag = t->tags[(size_t)si * t->ways + w];
            CHECK(tag == b[w].tag, "set %u way %u: probe tag %#llx, entry tag %#llx",
                  si, w, (unsigned long long)tag, (unsigned long long)b[w].tag);
            if (tag == TLB_TAG_INVALID)
                continue;
            n++;
            CHECK(live_has(t, si), "set %u way %u: valid, but the set is not marked live", si, w);
            if (!check_entry(t, si, w))
                return false;
            per_size[tag & 7]++;
        }
        if (t->repl == TLB_REPL_PLRU && !is_pow2(t->ways) && !check_mru(t, si))
            return false;
    }
    CHECK(t->e || blocks == t->nr_blocks, "%u sets have blocks, %u were taken",
          blocks, t->nr_blocks);
    CHECK(n == t->nr_valid, "nr_valid %u, counted %u", t->nr_valid, n);
    bool g = false;
    tlb_count_valid(t, &g);
    CHECK(t->may_global || !g, "a global entry, but may_global is false");
    for (unsigned s = 0; s < TLB_MAX_SIZES; s++)
        CHECK(per_size[s] == t->nr_valid_size[s], "size %u: nr_valid_size %u, counted %u",
              s, t->nr_valid_size[s], per_size[s]);
    return true;
}
