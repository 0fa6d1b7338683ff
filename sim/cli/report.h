/* sim/cli/report.h - `tlbsim report`'s shared state, between report.c (the
 * tables, one paragraph per policy, figures) and report_why.c (mechanisms
 * that do not apply to the machine, where the waits moved, pinned time, and
 * the significance of repeated runs). */
#ifndef TLBSIM_REPORT_H
#define TLBSIM_REPORT_H

#include <stdio.h>

#include "../../models/base.h"
#include "table.h"

struct report {
    const char *dir;                    /* OUTDIR */
    const char *title;                  /* --title, or NULL */
    const char *plots;                  /* --plots DIR (default OUTDIR/plots) */
    const char *output;                 /* --output FILE (default OUTDIR/report.md) */
    const char *baseline;               /* --baseline, or NULL: linux, else row 0 */
    struct table sum;                   /* summary.csv, or with repeats the means of
                                         * summary_stats.csv under the plain names */
    struct table raw;                   /* with repeats: summary.csv itself (else ncols 0) */
    struct table fl;                    /* flushes.csv (ncols 0 when absent) */
    struct table tl;                    /* timeline.csv (ncols 0 when absent) */
    u32 base;                           /* baseline row of sum */
    u32 runs;                           /* runs per policy (1 without --repeat) */
    int virt;                           /* machine model's virt.enabled; -1 unknown */
    int bcast_hw;                       /* its broadcast.hw; -1 unknown */
    bool pinned;                        /* the trace's timestamps set the run time */
    FILE *f;                            /* the report being written */
};

#define S(row, name) table_num(&r->sum, (row), (name))

/* report.c */
const char *policy_of(const struct report *r, u32 row);
const char *fmt_int(double v, char *buf, size_t len);
const char *fmt_change(double v, double base, bool in_paren, char *buf, size_t len);

/* report_why.c */
/* Load summary_stats.csv when summary.csv holds repeated runs (r->sum then
 * holds the means); read the machine model's virt.enabled and broadcast.hw;
 * decide r->pinned.  Returns 0 or an exit status (message printed). */
int why_load(struct report *r);
void why_free(struct report *r);
/* "**Run time is pinned by the trace.** ..." when r->pinned. */
void why_pinned_intro(struct report *r);
/* A policy whose mechanism has no counterpart on this machine: a bold
 * sentence saying so (nothing otherwise). */
void why_not_applicable(struct report *r, u32 i);
/* Where the time moved against the baseline (handler, spin, idle, busy), and
 * for early-ack which waits moved where. */
void why_waits(struct report *r, u32 i);
/* With repeats: mean +- CI per key column and Welch's t-test against the
 * baseline, as a section. */
void why_significance(struct report *r);

#endif
