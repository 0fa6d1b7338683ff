/* sim/engine/hist.h - bounded latency histogram for percentiles.
 *
 * Exact below HIST_EXACT cycles; above, 256 sub-buckets per power of two
 * (relative error < 0.4%).  Memory is fixed whatever the number of samples,
 * so a shootdown-heavy trace of any length runs in the same space.
 */
#ifndef TLBSIM_HIST_H
#define TLBSIM_HIST_H

#include "../../models/base.h"

#define HIST_EXACT_BITS 16
#define HIST_EXACT (1u << HIST_EXACT_BITS)
#define HIST_SUB_BITS 8
#define HIST_OCTAVES (64 - HIST_EXACT_BITS)
#define HIST_BUCKETS (HIST_EXACT + HIST_OCTAVES * (1u << HIST_SUB_BITS))

struct hist {
    u64 *b;                             /* HIST_BUCKETS counters */
    u64 n, sum, max;
};

int  hist_init(struct hist *h);
void hist_destroy(struct hist *h);
void hist_add(struct hist *h, u64 v);
/* Value at quantile q in [0,1] (nearest rank; lower bound of its bucket). */
u64  hist_quantile(const struct hist *h, double q);

#endif
