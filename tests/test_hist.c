/* tests/test_hist.c - sim/engine/hist.c: every quantile against a
 * brute-force one (the nearest-rank sample of the sorted samples, rounded
 * down to its bucket's lower bound, computed here from the bucket rule in
 * hist.h), on random data from 0 to UINT64_MAX; and the counters' pages:
 * only the blocks that hold a sample are ever touched, by hist_add or by
 * hist_quantile. */
#include "../sim/engine/hist.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static u64 rng_next(u64 *s)             /* splitmix64 */
{
    u64 z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int cmp_u64(const void *a, const void *b)
{
    u64 x = *(const u64 *)a, y = *(const u64 *)b;

    return x < y ? -1 : x > y;
}

/* The bucket rule, written independently: exact below 2^16, above it the
 * leading 9 bits (the top bit and 8 sub-bucket bits) are kept. */
static u64 bucket_floor(u64 v)
{
    unsigned msb;

    if (v < (1ull << 16))
        return v;
    msb = 63 - (unsigned)__builtin_clzll(v);
    return v & ~((1ull << (msb - 8)) - 1);
}

static u64 brute_quantile(const u64 *sorted, u64 n, double q)
{
    u64 rank = (u64)ceil(q * (double)n);

    if (rank < 1)
        rank = 1;
    return bucket_floor(sorted[rank - 1]);
}

/* One random sample; kind picks the distribution. */
static u64 sample(u64 *s, unsigned kind)
{
    u64 r = rng_next(s);

    switch (kind) {
    case 0:  return r;                                  /* uniform: mostly huge */
    case 1:  return r >> (rng_next(s) % 64);            /* every magnitude */
    case 2:  return r % 70000;                          /* around the exact range's end */
    case 3:  return (r & 3) == 0 ? 0 : (r & 3) == 1 ? UINT64_MAX : r >> 40;   /* extremes */
    default: return 2000 + r % 50;                      /* shootdown-like: a few buckets */
    }
}

Test(hist, quantiles_match_a_sorted_array)
{
    static const u64 sizes[] = { 1, 2, 3, 10, 100, 999, 1000, 4096, 20000 };
    static const double qs[] = { 0, 1e-9, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99,
                                 0.999, 0.9999, 1 };
    u64 seed = 42, checked = 0;

    for (unsigned kind = 0; kind < 5; kind++)
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            u64 n = sizes[k], sum = 0, max = 0;
            u64 *v = malloc(n * sizeof(*v));
            struct hist h;

            cr_assert_not_null(v);
            cr_assert_eq(hist_init(&h), SIM_OK);
            for (u64 i = 0; i < n; i++) {
                v[i] = sample(&seed, kind);
                if (i == 0 && kind == 3)
                    v[i] = 0;           /* 0 and the top value in every extreme set */
                if (i == 1 && kind == 3)
                    v[i] = UINT64_MAX;
                hist_add(&h, v[i]);
                sum += v[i];
                max = v[i] > max ? v[i] : max;
            }
            qsort(v, n, sizeof(*v), cmp_u64);
            cr_assert_eq(h.n, n);
            cr_assert_eq(h.sum, sum);
            cr_assert_eq(h.max, max);
            for (size_t qi = 0; qi < sizeof(qs) / sizeof(qs[0]); qi++) {
                cr_assert_eq(hist_quantile(&h, qs[qi]), brute_quantile(v, n, qs[qi]),
                             "kind %u, n %llu, q %g", kind, (unsigned long long)n, qs[qi]);
                checked++;
            }
            for (unsigned t = 0; t < 50; t++) {     /* random quantiles too */
                double q = (double)(rng_next(&seed) >> 11) / 9007199254740992.0;
                cr_assert_eq(hist_quantile(&h, q), brute_quantile(v, n, q),
                             "kind %u, n %llu, q %.17g", kind, (unsigned long long)n, q);
            }
            hist_destroy(&h);
            cr_assert_null(h.b);
            free(v);
        }
    cr_assert_eq(checked, 5 * 9 * 13);
}

Test(hist, empty_is_zero)
{
    struct hist h;

    cr_assert_eq(hist_init(&h), SIM_OK);
    cr_assert_eq(hist_quantile(&h, 0.5), 0);
    cr_assert_eq(hist_quantile(&h, 1), 0);
    hist_destroy(&h);
    hist_destroy(&h);                   /* twice is fine */
}

/* Resident pages of the counters (mincore counts a page mapped by a read
 * as well as one written). */
static size_t resident(const struct hist *h)
{
    static unsigned char vec[HIST_BLOCKS + 1];
    size_t len = (size_t)HIST_BUCKETS * sizeof(u64), n = 0;

    cr_assert_eq(sysconf(_SC_PAGESIZE), 4096);
    cr_assert_eq(mincore(h->b, len, vec), 0);
    for (size_t i = 0; i < (len + 4095) / 4096; i++)
        n += vec[i] & 1;
    return n;
}

Test(hist, only_blocks_with_samples_are_touched)
{
    static const u64 vals[] = { 0, 1, 511, 2000, 2047, 1ull << 40, (1ull << 40) + 5, UINT64_MAX };
    struct hist h;

    cr_assert_eq(hist_init(&h), SIM_OK);
    cr_assert_eq(resident(&h), 0, "nothing touched before the first sample");
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        hist_add(&h, vals[i]);
    /* blocks 0 (0..511), 3 (2000, 2047), 1<<40's and UINT64_MAX's */
    cr_assert_eq(resident(&h), 4);
    for (unsigned k = 0; k <= 100; k++)
        (void)hist_quantile(&h, k / 100.0);
    cr_assert_eq(resident(&h), 4, "hist_quantile read a block without samples");
    cr_assert_eq(hist_quantile(&h, 1), UINT64_MAX & ~((1ull << 55) - 1));
    cr_assert_eq(hist_quantile(&h, 0.5), 2000);
    hist_destroy(&h);
}
