/* tests/test_stats.c - the statistics of repeated runs (sim/cli/stats.c)
 * against hand-computed examples, and sweep_stats.csv through the binary. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sim/cli/stats.h"

/* x = 2 4 4 4 5 5 7 9: mean 40/8 = 5; squared deviations 9+1+1+1+0+0+4+16 = 32,
 * sd = sqrt(32/7) = 2.1380899; t(0.975, 7) = 2.3646243 (Student's table);
 * ci95 = 2.3646243 * sqrt(32/7) / sqrt(8) = 2.3646243 * sqrt(4/7) = 1.7874879. */
Test(stats, ci_of_a_hand_computed_sample)
{
    static const double x[] = { 2, 4, 4, 4, 5, 5, 7, 9 };
    struct stats_sum s;

    stats_of(x, 8, &s);
    cr_assert_eq(s.n, 8);
    cr_assert_float_eq(s.mean, 5.0, 1e-12);
    cr_assert_float_eq(s.sd, sqrt(32.0 / 7.0), 1e-12);
    cr_assert_float_eq(s.sd, 2.1380899, 1e-7);
    cr_assert_float_eq(s.ci95, 1.7874879, 1e-7);
}

/* Two samples: the interval is t(1) = 12.706 standard errors wide on each side:
 * 1 and 3 give mean 2, sd sqrt(2), se 1, ci95 12.7062047. */
Test(stats, two_samples_and_one)
{
    static const double x[] = { 1, 3 };
    struct stats_sum s;

    stats_of(x, 2, &s);
    cr_assert_float_eq(s.mean, 2.0, 1e-12);
    cr_assert_float_eq(s.ci95, 12.706204736, 1e-9);
    stats_of(x, 1, &s);
    cr_assert_float_eq(s.mean, 1.0, 1e-12);
    cr_assert(isnan(s.sd) && isnan(s.ci95));
}

Test(stats, t_table_and_interpolation)
{
    cr_assert_float_eq(stats_t95(1), 12.706204736, 1e-9);
    cr_assert_float_eq(stats_t95(4), 2.776445105, 1e-9);
    cr_assert_float_eq(stats_t95(4.9), 2.776445105, 1e-9);     /* rounded down */
    cr_assert_float_eq(stats_t95(30), 2.042272456, 1e-9);
    cr_assert_float_eq(stats_t95(120), 1.979930405, 1e-9);
    /* df 50 between the table's 40 and 60, linear in 1/df: exact t is 2.0085591 */
    cr_assert(fabs(stats_t95(50) - 2.0085591) < 2.0085591e-3);
    cr_assert(fabs(stats_t95(1e9) - 1.959964) < 1e-5);
    cr_assert(isnan(stats_t95(0.5)));
}

/* a = 1..5, b = 6..10: variances 2.5 each, se = sqrt(0.5 + 0.5) = 1, t = -5,
 * Welch df = 1 / (2 * 0.25 / 4) = 8, t(8) = 2.306: significant.  a against
 * 2..6 (t = -1): not. */
Test(stats, welch_t_test)
{
    static const double a[] = { 1, 2, 3, 4, 5 }, b[] = { 6, 7, 8, 9, 10 }, c[] = { 2, 3, 4, 5, 6 };
    static const double k1[] = { 7, 7, 7 }, k2[] = { 8, 8, 8 };
    struct stats_sum sa, sb, sc, s1, s2;
    double t, df;

    stats_of(a, 5, &sa);
    stats_of(b, 5, &sb);
    stats_of(c, 5, &sc);
    cr_assert_eq(stats_welch(&sa, &sb, &t, &df), 1);
    cr_assert_float_eq(t, -5.0, 1e-12);
    cr_assert_float_eq(df, 8.0, 1e-12);
    cr_assert_eq(stats_welch(&sa, &sc, &t, &df), 0);
    cr_assert_float_eq(t, -1.0, 1e-12);
    /* no spread: different exactly when the means differ */
    stats_of(k1, 3, &s1);
    stats_of(k2, 3, &s2);
    cr_assert_eq(stats_welch(&s1, &s2, NULL, NULL), 1);
    cr_assert_eq(stats_welch(&s1, &s1, NULL, NULL), 0);
    stats_of(k1, 1, &s1);
    cr_assert_eq(stats_welch(&s1, &s2, NULL, NULL), -1);
}
