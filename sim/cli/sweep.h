/* sim/cli/sweep.h - `tlbsim sweep`'s parts: planning and running the points
 * (sweep.c) and merging what they wrote (sweep_merge.c). */
#ifndef TLBSIM_SWEEP_H
#define TLBSIM_SWEEP_H

#include "../../models/base.h"

#define SWEEP_MAX_POINTS 100000
#define SWEEP_PATH       4096

/* "tlbsim: sweep: MESSAGE" on stderr; returns EXIT_BADINPUT. */
int sweep_bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --merge DIR: DIR/sweep_summary.csv and sweep_flushes.csv from the points'
 * outputs in plan order, and sweep_stats.csv when the plan has a seed axis.
 * Returns an exit status. */
int sweep_merge(const char *dir, bool quiet);

#endif
