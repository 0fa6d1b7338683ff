/* sim/engine/hist.c - log-linear histogram. */
#include "hist.h"

#include <math.h>
#include <string.h>

#include "../../models/arena.h"

_Static_assert(HIST_BUCKETS % (1u << HIST_BLOCK_BITS) == 0, "whole blocks");

#define HIST_BYTES ((size_t)HIST_BUCKETS * sizeof(u64))

int hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->b = arena_kvzalloc(HIST_BYTES);
    return h->b ? SIM_OK : SIM_ENOMEM;
}

void hist_destroy(struct hist *h)
{
    arena_kvfree(h->b, HIST_BYTES);
    h->b = NULL;
}

static u32 bucket_of(u64 v)
{
    unsigned msb, oct;

    if (v < HIST_EXACT)
        return (u32)v;
    msb = 63 - (unsigned)__builtin_clzll(v);
    oct = msb - HIST_EXACT_BITS;
    return HIST_EXACT + (oct << HIST_SUB_BITS) +
           (u32)((v >> (msb - HIST_SUB_BITS)) & ((1u << HIST_SUB_BITS) - 1));
}

static u64 bucket_low(u32 b)
{
    unsigned oct, sub;

    if (b < HIST_EXACT)
        return b;
    oct = (b - HIST_EXACT) >> HIST_SUB_BITS;
    sub = (b - HIST_EXACT) & ((1u << HIST_SUB_BITS) - 1);
    return ((u64)((1u << HIST_SUB_BITS) | sub)) << (oct + HIST_EXACT_BITS - HIST_SUB_BITS);
}

void hist_add(struct hist *h, u64 v)
{
    u32 i = bucket_of(v), blk = i >> HIST_BLOCK_BITS;

    h->b[i]++;
    h->used[blk / 64] |= 1ull << (blk % 64);
    h->n++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

/* The first bucket at which the running count reaches rank; the blocks
 * without a sample (all zero) are skipped unread. */
u64 hist_quantile(const struct hist *h, double q)
{
    u64 rank, seen = 0;

    if (!h->n)
        return 0;
    rank = (u64)ceil(q * (double)h->n);
    if (rank < 1)
        rank = 1;
    for (u32 blk = 0; blk < HIST_BLOCKS; blk++) {
        if (!(h->used[blk / 64] >> (blk % 64) & 1))
            continue;
        for (u32 i = blk << HIST_BLOCK_BITS; i < (blk + 1) << HIST_BLOCK_BITS; i++) {
            seen += h->b[i];
            if (seen >= rank)
                return bucket_low(i);
        }
    }
    return h->max;
}
