/* sim/cli/stats.h - statistics of repeated runs: mean, standard deviation
 * and a 95% confidence interval per cost column, and Welch's t-test.
 *
 * The interval is mean +- t(0.975, n-1) * sd / sqrt(n), sd the sample
 * standard deviation (n - 1 in the denominator), t Student's two-sided 95%
 * critical value: exact table values for 1..30 degrees of freedom and for
 * 40, 60 and 120; between those, linear in 1/df (the usual table
 * interpolation, within 0.1% of the exact quantile); 1.959964 beyond 120. */
#ifndef TLBSIM_STATS_H
#define TLBSIM_STATS_H

#include "../../models/base.h"

struct stats_sum {
    u32 n;                              /* samples */
    double mean;
    double sd;                          /* sample standard deviation; NAN when n < 2 */
    double ci95;                        /* half-width of the 95% interval; NAN when n < 2 */
};

/* Student's t two-sided 95% critical value for df >= 1 degrees of freedom
 * (a fractional df is rounded down: the conservative side). */
double stats_t95(double df);

/* Summary of x[0..n-1] (n >= 1). */
void stats_of(const double *x, u32 n, struct stats_sum *s);

/* Welch's t-test at the 5% level of mean(a) != mean(b).  Returns 1 when the
 * difference is significant, 0 when not, -1 when a side has fewer than 2
 * samples.  *t and *df (may be NULL) get the statistic and the
 * Welch-Satterthwaite degrees of freedom.  Two samples without spread
 * differ significantly exactly when their means differ (*df is then NAN). */
int stats_welch(const struct stats_sum *a, const struct stats_sum *b, double *t, double *df);

/* DIR/OUT from DIR/IN (a summary.csv or sweep_summary.csv): one row per
 * group of runs that differ only in their seed.  Columns come from IN's
 * header, typed by summary.csv's column table (sim/io/columns.h): `point`,
 * `seed` and `grid.seed` are dropped; text columns, `grid.*` columns and the
 * configuration columns cpus, freq_mhz and quantum identify the group and
 * are copied; every other column C becomes C_mean, C_sd and C_ci95.  After the group columns, `runs` counts the runs and
 * `t95` is the t value of their intervals (empty for one run), so a reader
 * can build the interval of a derived quantity (ci = t95 * sd / sqrt(runs)).
 * Groups come in the order of their first row.  Written whole or not at all.
 * Returns SIM_OK or a SIM_E* code with err set. */
int stats_write_csv(const char *dir, const char *in, const char *out, struct sim_err *err);

#endif
