/* tests/test_util.c - the small shared utilities of sim/io: CRC-32 against
 * its published check value, and the u64 map against a brute-force list. */
#include "../sim/io/crc32.h"
#include "../sim/io/u64map.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

Test(util, crc32_check_value_and_chaining)
{
    const u8 *s = (const u8 *)"123456789";
    u8 big[1000];

    cr_expect_eq(crc32_update(0, s, 9), 0xcbf43926u);     /* the CRC-32 check value */
    cr_expect_eq(crc32_update(0, NULL, 0), 0u);
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (u8)(i * 131 + 7);
    /* Any split gives the same CRC (the 8-byte path and the byte path agree). */
    u32 whole = crc32_update(0, big, sizeof(big));
    for (size_t cut = 0; cut <= 17; cut++)
        cr_expect_eq(crc32_update(crc32_update(0, big, cut), big + cut, sizeof(big) - cut),
                     whole, "split at %zu", cut);
}

/* Random puts and gets against a plain array of (key, value). */
Test(util, u64map_matches_a_list)
{
    enum { N = 5000 };
    static u64 keys[N], vals[N];
    struct u64map m = { 0 };
    u64 x = 12345, v;
    size_t n = 0;

    for (int step = 0; step < 20000; step++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        u64 key = (x >> 33) % 3000 * (step & 1 ? 1 : 4096);     /* dense and sparse keys */
        size_t i;
        for (i = 0; i < n && keys[i] != key; i++)
            ;
        if (x & 0x100) {
            cr_assert_eq(u64map_put(&m, key, x), SIM_OK);
            if (i == n)
                keys[n++] = key;
            vals[i] = x;
        } else {
            bool found = u64map_lookup(&m, key, &v);
            cr_assert_eq(found, i < n, "key %llu", (unsigned long long)key);
            if (found)
                cr_assert_eq(v, vals[i]);
        }
    }
    cr_expect_eq(m.n, n);
    size_t seen = 0;
    for (size_t i = 0; i < m.cap; i++)
        seen += m.k[i] != 0;
    cr_expect_eq(seen, n);
    u64 *p = u64map_slot(&m, UINT64_MAX - 1);               /* largest key: inserted as 0 */
    cr_assert(p);
    cr_expect_eq(*p, 0u);
    cr_expect_null(u64map_get(&m, UINT64_MAX - 2));
    u64map_free(&m);
    cr_expect_null(u64map_get(&m, 1));
}
