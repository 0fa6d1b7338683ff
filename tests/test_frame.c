/* tests/test_frame.c - the physical frame allocator (models/frame.c).
 *
 * Unit tests for alignment, FIFO reuse, limits and generations, plus a
 * random sequence checked against a brute-force list of live units. */
#include <criterion/criterion.h>

#include "../models/frame.h"

#include <stdlib.h>

#define UNIT(o) (1ull << (9 * (o)))

static struct frame_alloc fa;
static struct sim_err err;

static void init_fa(unsigned maxphy, u64 limit)
{
    cr_assert_eq(frame_alloc_init(&fa, maxphy, limit, &err), SIM_OK, "%s", err.msg);
}

static void fini(void)
{
    frame_alloc_destroy(&fa);
}

TestSuite(frame, .fini = fini);

static u64 get(enum frame_order o)
{
    u64 pfn = ~0ull;
    int rc = frame_get(&fa, o, &pfn, &err);

    cr_assert_eq(rc, SIM_OK, "frame_get(order %d): %s", (int)o, err.msg);
    cr_assert_eq(pfn & (UNIT(o) - 1), 0, "pfn 0x%llx not aligned for order %d",
                 (unsigned long long)pfn, (int)o);
    return pfn;
}

Test(frame, init_rejects_bad_maxphyaddr)
{
    cr_assert_eq(frame_alloc_init(&fa, 35, 0, &err), SIM_EINVAL);
    cr_assert(strstr(err.msg, "maxphyaddr") != NULL, "%s", err.msg);
    cr_assert_eq(frame_alloc_init(&fa, 53, 0, &err), SIM_EINVAL);
    init_fa(36, 0);
    cr_assert_eq(fa.max_pfn, 1ull << 24);
    cr_assert_eq(fa.limit_frames, 1ull << 24, "limit 0 means as MAXPHYADDR allows");
}

Test(frame, bump_then_fifo_reuse)
{
    u64 a, b, c;

    init_fa(40, 0);
    a = get(FRAME_4K);
    b = get(FRAME_4K);
    c = get(FRAME_4K);
    cr_assert(a == 0 && b == 1 && c == 2);
    frame_put(&fa, FRAME_4K, b);
    frame_put(&fa, FRAME_4K, a);
    cr_assert_eq(get(FRAME_4K), b, "oldest freed frame comes back first");
    cr_assert_eq(get(FRAME_4K), a);
    cr_assert_eq(get(FRAME_4K), 3, "then the bump pointer");
    cr_assert_eq(fa.nr_live, 4);
}

Test(frame, huge_units_are_aligned_and_gaps_reused)
{
    u64 p2m, p1g;

    init_fa(40, 0);
    cr_assert_eq(get(FRAME_4K), 0);
    p2m = get(FRAME_2M);
    cr_assert_eq(p2m, 512, "2M unit skips to the next 2 MiB boundary");
    p1g = get(FRAME_1G);
    cr_assert_eq(p1g, UNIT(2), "1G unit skips to the next 1 GiB boundary");
    cr_assert_eq(fa.nr_live, 1 + 512 + UNIT(2));
    /* The skipped frames are handed out again, in address order. */
    cr_assert_eq(get(FRAME_4K), 1);
    cr_assert_eq(get(FRAME_2M), 1024, "2M gap units below the 1G unit");
    cr_assert_eq(fa.next_pfn, 2 * UNIT(2));
}

Test(frame, generations_bump_on_put)
{
    u64 a, h;

    init_fa(40, 0);
    a = get(FRAME_4K);
    h = get(FRAME_2M);
    cr_assert_eq(frame_gen(&fa, a), 0);
    cr_assert_eq(frame_gen(&fa, 12345678), 0, "never used");
    frame_put(&fa, FRAME_4K, a);
    frame_put(&fa, FRAME_2M, h);
    cr_assert_eq(frame_gen(&fa, a), 1);
    cr_assert_eq(frame_gen(&fa, h), 1);
    cr_assert_eq(get(FRAME_2M), h);
    frame_put(&fa, FRAME_2M, h);
    cr_assert_eq(frame_gen(&fa, h), 2);
    cr_assert_eq(frame_gen(&fa, h + 1), 0, "inside a unit is not a unit base");
}

/* A region first used for 2M units, then for 4K frames, keeps its counters
 * when its generation chunk is refined. */
Test(frame, generation_chunk_refinement_keeps_counts)
{
    u64 h;

    init_fa(40, 0);
    h = get(FRAME_2M);
    cr_assert_eq(h, 0);
    frame_put(&fa, FRAME_2M, h);
    frame_put(&fa, FRAME_2M, get(FRAME_2M));
    cr_assert_eq(frame_gen(&fa, 0), 2);
    cr_assert_eq(get(FRAME_4K), 512, "same 1 GiB region, finer unit");
    cr_assert_eq(frame_gen(&fa, 0), 2);
    frame_put(&fa, FRAME_4K, 512);
    cr_assert_eq(frame_gen(&fa, 512), 1);
    cr_assert_eq(frame_gen(&fa, 0), 2);
}

Test(frame, limit_gives_enomem_and_no_change)
{
    u64 pfn = 77;

    init_fa(40, 1000);
    for (int i = 0; i < 1000; i++)
        get(FRAME_4K);
    cr_assert_eq(frame_get(&fa, FRAME_4K, &pfn, &err), SIM_ELIMIT);
    cr_assert(strstr(err.msg, "limit") != NULL, "%s", err.msg);
    cr_assert_eq(pfn, 77);
    cr_assert_eq(fa.nr_live, 1000);
    frame_put(&fa, FRAME_4K, 5);
    cr_assert_eq(frame_get(&fa, FRAME_2M, &pfn, &err), SIM_ELIMIT, "512 > 1 left");
    cr_assert_eq(fa.peak_live, 1000);
    cr_assert_eq(fa.nr_live, 999);
}

/* MAXPHYADDR 36 bits is 64 GiB: 64 1G units.  A 4K frame at pfn 0 pushes
 * the first 1G unit to 1 GiB, so only 63 fit although the limit (all of
 * MAXPHYADDR) would allow a 64th once the 4K frame is freed. */
Test(frame, maxphyaddr_exhaustion)
{
    u64 pfn;

    init_fa(36, 0);
    cr_assert_eq(get(FRAME_4K), 0);
    for (u64 i = 1; i < 64; i++)
        cr_assert_eq(get(FRAME_1G), i * UNIT(2));
    cr_assert_eq(frame_get(&fa, FRAME_1G, &pfn, &err), SIM_ELIMIT);
    cr_assert(strstr(err.msg, "limit") != NULL, "%s", err.msg);
    frame_put(&fa, FRAME_4K, 0);
    cr_assert_eq(frame_get(&fa, FRAME_1G, &pfn, &err), SIM_ELIMIT);
    cr_assert(strstr(err.msg, "MAXPHYADDR") != NULL, "%s", err.msg);
    cr_assert_eq(fa.nr_live, 63 * UNIT(2), "failed gets change nothing");
    cr_assert_eq(get(FRAME_4K), 1, "the 4K gap is still usable");
    cr_assert_leq(fa.nr_gen_chunks, 64, "generation table bounded by MAXPHYADDR");
    frame_put(&fa, FRAME_1G, 63 * UNIT(2));
    cr_assert_eq(get(FRAME_1G), 63 * UNIT(2));
}

/* High-address 1G units must not make the generation table dense. */
Test(frame, sparse_generation_table)
{
    init_fa(52, 0);
    for (int i = 0; i < 300; i++)
        frame_put(&fa, FRAME_1G, get(FRAME_1G));
    cr_assert_eq(fa.nr_live, 0);
    for (u64 r = 0; r < fa.nr_gen_chunks; r++)
        if (fa.gen_chunks[r])
            cr_assert_eq(fa.gen_chunks[r][0], 18, "one counter per 1G region");
}

/* ---- random sequence against a list of live units ---------------------- */

struct live { u64 pfn; int order; };

static bool overlaps(const struct live *l, size_t n, u64 pfn, int order)
{
    for (size_t k = 0; k < n; k++)
        if (pfn < l[k].pfn + UNIT(l[k].order) && l[k].pfn < pfn + UNIT(order))
            return true;
    return false;
}

/* Expected generation of a base pfn: how many puts it has seen. */
struct gen_ref { u64 pfn; u32 puts; };

static u32 *gen_ref_slot(struct gen_ref *g, size_t *n, u64 pfn)
{
    for (size_t k = 0; k < *n; k++)
        if (g[k].pfn == pfn)
            return &g[k].puts;
    g[*n] = (struct gen_ref){ pfn, 0 };
    return &g[(*n)++].puts;
}

Test(frame, random_against_reference)
{
    enum { OPS = 4000, MAXLIVE = 256 };
    static struct live live[MAXLIVE];
    static struct gen_ref gens[OPS];
    size_t nlive = 0, ngens = 0;
    u64 seed = 42, frames = 0;

    init_fa(38, 3 * UNIT(2));           /* small: 256 GiB space, 3 GiB live */
    for (int op = 0; op < OPS; op++) {
        u64 r = sim_rand_next(&seed);
        int order = (r % 16 == 0) ? 2 : (r % 4 == 0) ? 1 : 0;

        if (nlive && (nlive == MAXLIVE || r % 3 == 0)) {
            size_t k = (r >> 8) % nlive;

            frame_put(&fa, (enum frame_order)live[k].order, live[k].pfn);
            (*gen_ref_slot(gens, &ngens, live[k].pfn))++;
            frames -= UNIT(live[k].order);
            live[k] = live[--nlive];
        } else {
            u64 pfn;
            int rc = frame_get(&fa, (enum frame_order)order, &pfn, &err);

            if (frames + UNIT(order) > fa.limit_frames) {
                cr_assert_eq(rc, SIM_ELIMIT, "op %d: limit not enforced", op);
                continue;
            }
            cr_assert_eq(rc, SIM_OK, "op %d: %s", op, err.msg);
            cr_assert_eq(pfn & (UNIT(order) - 1), 0, "op %d: unaligned", op);
            cr_assert(pfn + UNIT(order) <= fa.max_pfn, "op %d: beyond MAXPHYADDR", op);
            cr_assert(!overlaps(live, nlive, pfn, order), "op %d: pfn 0x%llx handed out twice",
                      op, (unsigned long long)pfn);
            live[nlive++] = (struct live){ pfn, order };
            frames += UNIT(order);
        }
        cr_assert_eq(fa.nr_live, frames, "op %d: nr_live", op);
    }
    for (size_t k = 0; k < ngens; k++)
        cr_assert_eq(frame_gen(&fa, gens[k].pfn), gens[k].puts, "gen of 0x%llx",
                     (unsigned long long)gens[k].pfn);
}
