/* sim/engine/hist.h - bounded latency histogram for percentiles.
 *
 * Exact below HIST_EXACT cycles; above, 256 sub-buckets per power of two
 * (relative error < 0.4%).  Memory is fixed whatever the number of samples,
 * so a shootdown-heavy trace of any length runs in the same space.
 *
 * The 608 KiB of counters are one zeroed mapping (arena_kvzalloc) whose
 * pages cost nothing until a sample lands in them: a run's latencies
 * usually fill a few of the 152 blocks of 512 buckets (4 KiB each).
 * `used` marks the blocks holding a sample, so that hist_quantile() reads
 * only those (a read of an untouched page would map it as well).
 */
#ifndef TLBSIM_HIST_H
#define TLBSIM_HIST_H

#include "../../models/base.h"

#define HIST_EXACT_BITS 16
#define HIST_EXACT (1u << HIST_EXACT_BITS)
#define HIST_SUB_BITS 8
#define HIST_OCTAVES (64 - HIST_EXACT_BITS)
#define HIST_BUCKETS (HIST_EXACT + HIST_OCTAVES * (1u << HIST_SUB_BITS))
#define HIST_BLOCK_BITS 9               /* 512 counters: one 4 KiB page */
#define HIST_BLOCKS (HIST_BUCKETS >> HIST_BLOCK_BITS)

struct hist {
    u64 *b;                             /* HIST_BUCKETS counters */
    u64 used[(HIST_BLOCKS + 63) / 64];  /* bit k: block k has a sample */
    u64 n, sum, max;
};

int  hist_init(struct hist *h);         /* SIM_OK or SIM_ENOMEM */
void hist_destroy(struct hist *h);
void hist_add(struct hist *h, u64 v);   /* never allocates */
/* Value at quantile q in [0,1] (nearest rank; lower bound of its bucket). */
u64  hist_quantile(const struct hist *h, double q);

#endif
