/* tests/ref/tlb_ref.c - the brute-force TLB oracle (see tlb_ref.h).
 *
 * Deliberately shares no code with models/tlb.c: a different entry layout,
 * a plain modulo for the set, per-set arrays of bools instead of packed
 * bits, and a recency list instead of stamps.  Only the PRNG function is
 * shared, because "random" replacement is only checkable if both sides draw
 * the same numbers at the same moments (one draw per eviction).
 */
#include "tlb_ref.h"

#include <stdlib.h>
#include <string.h>

static bool ref_pow2(u32 x)
{
    u32 ones = 0;

    for (u32 b = x; b; b >>= 1)
        ones += b & 1;
    return ones == 1;
}

static void ref_free_sets(struct tlb_ref *r)
{
    for (u32 s = 0; r->set && s < r->sets; s++) {
        free(r->set[s].way);
        free(r->set[s].recency);
        free(r->set[s].toward_right);
        free(r->set[s].mru);
    }
    free(r->set);
}

int tlb_ref_init(struct tlb_ref *r, u32 entries, u32 ways, unsigned nr_sizes,
                 const u8 *shifts, enum tlb_repl repl, u64 seed)
{
    memset(r, 0, sizeof(*r));
    r->repl = repl;
    r->rng = seed;
    if (entries == 0)
        return 0;
    r->ways = ways;
    r->sets = entries / ways;
    r->nr_sizes = nr_sizes;
    for (unsigned i = 0; i < nr_sizes; i++)
        r->shifts[i] = shifts[i];
    r->tree = ref_pow2(ways);
    if (!(r->set = calloc(r->sets, sizeof(*r->set))))
        return -1;
    for (u32 s = 0; s < r->sets; s++) {
        struct tlb_ref_set *st = &r->set[s];

        st->way = calloc(ways, sizeof(*st->way));
        st->recency = calloc(ways, sizeof(*st->recency));
        st->toward_right = calloc(ways, sizeof(*st->toward_right));
        st->mru = calloc(ways, sizeof(*st->mru));
        if (!st->way || !st->recency || !st->toward_right || !st->mru) {
            tlb_ref_destroy(r);
            return -1;
        }
        for (u32 w = 0; w < ways; w++)
            st->recency[w] = w;
    }
    return 0;
}

void tlb_ref_destroy(struct tlb_ref *r)
{
    ref_free_sets(r);
    memset(r, 0, sizeof(*r));
}

/* ===== Replacement, the obvious way ====================================== */

static void ref_use(struct tlb_ref *r, struct tlb_ref_set *st, u32 way)
{
    if (r->repl == TLB_REPL_LRU) {
        u32 pos = 0;

        while (st->recency[pos] != way)
            pos++;
        memmove(&st->recency[1], &st->recency[0], pos * sizeof(u32));
        st->recency[0] = way;
    } else if (r->repl == TLB_REPL_PLRU && r->tree) {
        /* Leaf-to-root: each ancestor now points at the sibling subtree. */
        for (u32 n = r->ways + way; n > 1; n /= 2)
            st->toward_right[n / 2] = (n % 2 == 0);
    } else if (r->repl == TLB_REPL_PLRU) {
        u32 set_bits = 0;

        st->mru[way] = true;
        for (u32 w = 0; w < r->ways; w++)
            set_bits += st->mru[w];
        if (set_bits == r->ways) {
            for (u32 w = 0; w < r->ways; w++)
                st->mru[w] = (w == way);
        }
    }
}

static u32 ref_victim(struct tlb_ref *r, const struct tlb_ref_set *st)
{
    if (r->repl == TLB_REPL_LRU)
        return st->recency[r->ways - 1];
    if (r->repl == TLB_REPL_PLRU && r->tree) {
        /* Narrow the way range [lo, hi) by halves, as the node flags say. */
        u32 lo = 0, hi = r->ways, node = 1;

        while (hi - lo > 1) {
            u32 mid = lo + (hi - lo) / 2;

            if (st->toward_right[node]) {
                lo = mid;
                node = node * 2 + 1;
            } else {
                hi = mid;
                node = node * 2;
            }
        }
        return lo;
    }
    if (r->repl == TLB_REPL_PLRU) {
        for (u32 w = 0; w < r->ways; w++)
            if (!st->mru[w])
                return w;
        return 0;                       /* cannot happen: never all set */
    }
    return (u32)(sim_rand_next(&r->rng) % r->ways);
}

/* ===== Operations ======================================================== */

static bool ref_matches(const struct tlb_ref_entry *e, unsigned size, u64 vpn)
{
    return e->valid && e->size == size && e->vpn == vpn;
}

const struct tlb_ref_entry *tlb_ref_lookup(struct tlb_ref *r, u64 va,
                                           u32 *set, u32 *way)
{
    for (unsigned i = 0; i < r->nr_sizes && r->sets; i++) {
        u64 vpn = va >> r->shifts[i];
        u32 s = (u32)(vpn % r->sets);
        struct tlb_ref_set *st = &r->set[s];

        for (u32 w = 0; w < r->ways; w++) {
            if (ref_matches(&st->way[w], i, vpn)) {
                ref_use(r, st, w);
                *set = s;
                *way = w;
                return &st->way[w];
            }
        }
    }
    return NULL;
}

bool tlb_ref_fill(struct tlb_ref *r, u64 va, unsigned shift,
                  const struct tlb_ref_entry *payload,
                  struct tlb_ref_entry *evicted, u32 *set, u32 *way)
{
    unsigned size = 0;
    struct tlb_ref_set *st;
    u64 vpn;
    u32 s, w;

    evicted->valid = false;
    while (size < r->nr_sizes && r->shifts[size] != shift)
        size++;
    if (!r->sets || size == r->nr_sizes)
        return false;
    vpn = va >> shift;
    s = (u32)(vpn % r->sets);
    st = &r->set[s];
    for (w = 0; w < r->ways && !ref_matches(&st->way[w], size, vpn); w++)
        ;
    if (w == r->ways)                   /* not present: first empty way */
        for (w = 0; w < r->ways && st->way[w].valid; w++)
            ;
    if (w == r->ways) {                 /* set full: evict */
        w = ref_victim(r, st);
        *evicted = st->way[w];
        r->evictions++;
    } else if (!st->way[w].valid) {
        r->live++;
    }
    st->way[w] = *payload;
    st->way[w].valid = true;
    st->way[w].size = size;
    st->way[w].shift = shift;
    st->way[w].vpn = vpn;
    ref_use(r, st, w);
    r->fills++;
    *set = s;
    *way = w;
    return true;
}

static void ref_kill(struct tlb_ref *r, struct tlb_ref_entry *e)
{
    e->valid = false;
    r->live--;
    r->invalidated++;
}

void tlb_ref_flush_all(struct tlb_ref *r, bool include_global)
{
    for (u32 s = 0; s < r->sets; s++)
        for (u32 w = 0; w < r->ways; w++)
            if (r->set[s].way[w].valid && (include_global || !r->set[s].way[w].global))
                ref_kill(r, &r->set[s].way[w]);
}

void tlb_ref_flush_va(struct tlb_ref *r, u64 va)
{
    /* Brute force: every entry of any size whose page contains va. */
    for (u32 s = 0; s < r->sets; s++) {
        for (u32 w = 0; w < r->ways; w++) {
            struct tlb_ref_entry *e = &r->set[s].way[w];

            if (e->valid && e->vpn == va >> e->shift)
                ref_kill(r, e);
        }
    }
}

void tlb_ref_flush_mm(struct tlb_ref *r, u16 mm)
{
    for (u32 s = 0; s < r->sets; s++)
        for (u32 w = 0; w < r->ways; w++)
            if (r->set[s].way[w].valid && !r->set[s].way[w].global &&
                r->set[s].way[w].mm == mm)
                ref_kill(r, &r->set[s].way[w]);
}

u32 tlb_ref_nr_valid(const struct tlb_ref *r)
{
    u32 n = 0;

    for (u32 s = 0; s < r->sets; s++)
        for (u32 w = 0; w < r->ways; w++)
            n += r->set[s].way[w].valid;
    return n;
}

const struct tlb_ref_entry *tlb_ref_at(const struct tlb_ref *r, u32 set, u32 way)
{
    return &r->set[set].way[way];
}
