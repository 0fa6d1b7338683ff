/* sim/engine/hist.c - log-linear histogram. */
#include "hist.h"

#include <math.h>
#include <stdlib.h>

int hist_init(struct hist *h)
{
    h->b = calloc(HIST_BUCKETS, sizeof(*h->b));
    h->n = h->sum = h->max = 0;
    return h->b ? SIM_OK : SIM_ENOMEM;
}

void hist_destroy(struct hist *h)
{
    free(h->b);
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
    h->b[bucket_of(v)]++;
    h->n++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

u64 hist_quantile(const struct hist *h, double q)
{
    u64 rank, seen = 0;

    if (!h->n)
        return 0;
    rank = (u64)ceil(q * (double)h->n);
    if (rank < 1)
        rank = 1;
    for (u32 i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank)
            return bucket_low(i);
    }
    return h->max;
}
