/* tests/test_tlb.c - models/tlb.c against the brute-force oracle, plus
 * targeted tests of the contract's corners.
 *
 * The differential part follows SQLite's sqlite3BitvecBuiltinTest: a seeded
 * random program of lookups, fills and flushes runs on the model and on
 * tests/ref/tlb_ref.c, and every observable result is compared as it
 * happens: hit or miss, which set and way, the payload, every eviction,
 * nr_valid; then the whole array and the stats at checkpoints.  Lookups
 * (with a fill on most misses) dominate, as they do in the simulator.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../models/tlb.h"
#include "ref/tlb_ref.h"

static const char *const repl_name[] = { "lru", "plru", "random" };

/* Page-table slots for ptep payloads: real pointers, never dereferenced. */
static u64 fake_pt[512];

struct geom {
    const char *name;
    u32 entries, ways;
    u8 nr_sizes;
    u8 shifts[TLB_MAX_SIZES];
};

static struct tlb_config cfg_of(const struct geom *g)
{
    struct tlb_config c = { .entries = g->entries, .ways = g->ways, .nr_sizes = g->nr_sizes };

    memcpy(c.shifts, g->shifts, sizeof(c.shifts));
    return c;
}

/* ===== Differential fuzzing ============================================== */

struct fuzz {
    const struct geom *g;
    enum tlb_repl repl;
    u64 seed;
    unsigned op;                        /* current op, for messages */
    u64 rng;                            /* drives the program, not the TLB */
    struct tlb t;
    struct tlb_ref r;
};

#define FZ_FMT "%s/%s seed %llu op %u: "
#define FZ_ARGS(f) (f)->g->name, repl_name[(f)->repl], (unsigned long long)(f)->seed, (f)->op

static u64 fz_rand(struct fuzz *f, u64 n) { return sim_rand_next(&f->rng) % n; }

/* An address at one of the structure's granularities, drawn from about
 * three times as many pages as fit, so sets conflict and pages repeat.
 * Some land in the kernel half so the top VPN bits are exercised. */
static u64 fz_va(struct fuzz *f)
{
    unsigned k = (unsigned)fz_rand(f, f->g->nr_sizes);
    unsigned shift = f->g->shifts[k];
    u64 span = 3ull * f->g->entries + 8;
    u64 va = fz_rand(f, span) << shift | (sim_rand_next(&f->rng) & ((1ull << shift) - 1));

    if (fz_rand(f, 8) == 0)
        va |= 0xffff800000000000ull;
    return va;
}

static unsigned fz_shift(struct fuzz *f)
{
    if (fz_rand(f, 64) == 0)
        return 13;                      /* not held: fill must refuse */
    return f->g->shifts[fz_rand(f, f->g->nr_sizes)];
}

static void expect_same(struct fuzz *f, const struct tlb_entry *e,
                        const struct tlb_ref_entry *re, const char *what)
{
    cr_assert(e->tag == (TLB_TAG_VALID | re->vpn << 3 | re->size), FZ_FMT "%s: tag %#llx, ref vpn %#llx size %u",
              FZ_ARGS(f), what, (unsigned long long)e->tag,
              (unsigned long long)re->vpn, re->size);
    cr_assert(e->shift == re->shift && e->ptep == re->ptep && e->pte == re->pte &&
              e->ptgen == re->ptgen && e->fgen == re->fgen && e->mm == re->mm &&
              !!e->global == re->global && !!e->dirty == re->dirty, FZ_FMT "%s: payload differs", FZ_ARGS(f), what);
}

static void expect_at(struct fuzz *f, const struct tlb_entry *e, u32 set, u32 way,
                      const char *what)
{
    const struct tlb_entry *at = tlb_entry_at(&f->t, set, way);

    cr_assert(at && e == at, FZ_FMT "%s: model entry %p, ref set %u way %u is %p", FZ_ARGS(f),
              what, (const void *)e, set, way, (const void *)at);
}

static bool fz_lookup(struct fuzz *f, u64 va)
{
    u32 set = 0, way = 0;
    struct tlb_entry *e = tlb_lookup(&f->t, va);
    const struct tlb_ref_entry *re = tlb_ref_lookup(&f->r, va, &set, &way);

    cr_assert((e != NULL) == (re != NULL), FZ_FMT "lookup %#llx: model %s, ref %s",
              FZ_ARGS(f), (unsigned long long)va, e ? "hit" : "miss", re ? "hit" : "miss");
    if (e) {
        expect_at(f, e, set, way, "lookup");
        expect_same(f, e, re, "lookup");
    }
    return e != NULL;
}

static void fz_fill(struct fuzz *f, u64 va, unsigned shift)
{
    struct tlb_entry src = {
        .ptep = &fake_pt[fz_rand(f, ARRAY_SIZE(fake_pt))],
        .pte = sim_rand_next(&f->rng),
        .ptgen = (u32)sim_rand_next(&f->rng),
        .fgen = (u32)sim_rand_next(&f->rng),
        .mm = (u16)fz_rand(f, 4),
        .global = fz_rand(f, 8) == 0,
        .dirty = fz_rand(f, 2) == 0,
        .tag = 0x5a5a, .shift = 7, .stamp = 99,   /* junk: tlb_fill must set these */
    };
    struct tlb_ref_entry rsrc = {
        .ptep = src.ptep, .pte = src.pte, .ptgen = src.ptgen, .fgen = src.fgen,
        .mm = src.mm, .global = src.global, .dirty = src.dirty,
    };
    struct tlb_entry ev;
    struct tlb_ref_entry rev;
    u32 set = 0, way = 0;
    struct tlb_entry *e = tlb_fill(&f->t, va, shift, &src, &ev);
    bool filled = tlb_ref_fill(&f->r, va, shift, &rsrc, &rev, &set, &way);

    cr_assert((e != NULL) == filled, FZ_FMT "fill %#llx/%u: model %p, ref %d",
              FZ_ARGS(f), (unsigned long long)va, shift, (void *)e, filled);
    cr_assert((ev.tag != TLB_TAG_INVALID) == rev.valid, FZ_FMT "fill: model %s, ref %s",
              FZ_ARGS(f), ev.tag != TLB_TAG_INVALID ? "evicted" : "did not evict",
              rev.valid ? "evicted" : "did not evict");
    if (!e)
        return;
    expect_at(f, e, set, way, "fill");
    expect_same(f, e, tlb_ref_at(&f->r, set, way), "fill");
    if (rev.valid)
        expect_same(f, &ev, &rev, "evicted");
}

/* Whole-array and stats comparison, plus the model's own invariant check. */
static void fz_checkpoint(struct fuzz *f)
{
    cr_assert(tlb_check(&f->t), FZ_FMT "tlb_check failed", FZ_ARGS(f));
    cr_assert(tlb_count_valid(&f->t, NULL) == tlb_ref_nr_valid(&f->r) &&
              f->r.live == tlb_ref_nr_valid(&f->r), FZ_FMT "count_valid", FZ_ARGS(f));
    for (u32 s = 0; s < f->t.sets; s++) {
        for (u32 w = 0; w < f->t.ways; w++) {
            const struct tlb_entry *e = tlb_entry_at(&f->t, s, w);
            const struct tlb_ref_entry *re = tlb_ref_at(&f->r, s, w);
            u64 tag = f->t.tags[(size_t)s * f->t.ways + w];

            cr_assert((tag != TLB_TAG_INVALID) == re->valid && (!e || e->tag == tag),
                      FZ_FMT "set %u way %u validity", FZ_ARGS(f), s, w);
            if (re->valid)
                expect_same(f, e, re, "array");
        }
    }
    cr_assert(f->t.st.fills == f->r.fills && f->t.st.evictions == f->r.evictions &&
              f->t.st.invalidated == f->r.invalidated,
              FZ_FMT "stats fills %llu/%llu evictions %llu/%llu invalidated %llu/%llu",
              FZ_ARGS(f), (unsigned long long)f->t.st.fills, (unsigned long long)f->r.fills,
              (unsigned long long)f->t.st.evictions, (unsigned long long)f->r.evictions,
              (unsigned long long)f->t.st.invalidated, (unsigned long long)f->r.invalidated);
}

/* One step of the program.  Full flushes are rare enough (about once per
 * two structure-fulls of ops) that big structures still fill up and evict. */
static void fz_step(struct fuzz *f)
{
    u64 r = fz_rand(f, 100);
    u64 rare = fz_rand(f, 2ull * f->g->entries + 64);

    if (rare < 2) {                     /* CR3 write, or global flush */
        tlb_flush_all(&f->t, rare == 1);
        tlb_ref_flush_all(&f->r, rare == 1);
    } else if (rare == 2) {
        u16 mm = (u16)fz_rand(f, 4);

        tlb_flush_mm(&f->t, mm);
        tlb_ref_flush_mm(&f->r, mm);
    } else if (r < 80) {                /* an access: lookup, fill most misses */
        u64 va = fz_va(f);

        if (!fz_lookup(f, va) && fz_rand(f, 4))
            fz_fill(f, va, fz_shift(f));
    } else if (r < 92) {                /* blind fill: may overwrite in place */
        fz_fill(f, fz_va(f), fz_shift(f));
    } else {
        u64 va = fz_va(f);

        tlb_flush_va(&f->t, va);
        tlb_ref_flush_va(&f->r, va);
    }
    cr_assert(f->t.nr_valid == f->r.live, FZ_FMT "nr_valid %u, ref %u",
              FZ_ARGS(f), f->t.nr_valid, f->r.live);
}

/* a: take the arrays from this arena (tlb_init_in), else tlb_init. */
static void fuzz_one(const struct geom *g, enum tlb_repl repl, u64 seed, unsigned nops,
                     struct arena *a)
{
    struct fuzz f = { .g = g, .repl = repl, .seed = seed, .rng = seed * 7919 + 1 };
    struct tlb_config c = cfg_of(g);
    struct sim_err err = { 0 };
    unsigned every = g->entries <= 64 ? 1 : 127;   /* checkpoints are O(entries * ways) */

    cr_assert(tlb_init_in(&f.t, &c, repl, seed, a, &err) == SIM_OK, "%s: %s", g->name, err.msg);
    cr_assert(tlb_ref_init(&f.r, g->entries, g->ways, g->nr_sizes, g->shifts, repl, seed) == 0);
    for (f.op = 0; f.op < nops; f.op++) {
        fz_step(&f);
        if (f.op % every == 0)
            fz_checkpoint(&f);
    }
    fz_checkpoint(&f);
    cr_assert(f.t.st.evictions > 0 || g->entries == 0, "%s/%s: program never evicted",
              g->name, repl_name[repl]);
    tlb_ref_destroy(&f.r);
    tlb_destroy(&f.t);
}

static void fuzz_geom(const struct geom *g, struct arena *a)
{
    unsigned nops = 8000 + g->entries * 6;         /* ~15 refills of the largest */

    for (int repl = TLB_REPL_LRU; repl <= TLB_REPL_RANDOM; repl++)
        for (u64 seed = 1; seed <= 2; seed++)
            fuzz_one(g, (enum tlb_repl)repl, seed, nops, a);
}

#define FUZZ_TEST(id, ...)                                              \
    Test(tlb_fuzz, id) { static const struct geom g = { #id, __VA_ARGS__ }; fuzz_geom(&g, NULL); }

/* The same programs with the arrays in an arena, as a simulation's CPUs
 * have them: a small structure wholly in it, and an STLB whose entries
 * are mapped apart from its tags (tlb.c alloc_arrays). */
#define FUZZ_ARENA_TEST(id, ...)                                        \
    Test(tlb_fuzz, id) {                                                \
        static const struct geom g = { #id, __VA_ARGS__ };              \
        struct arena a = { 0 };                                         \
        fuzz_geom(&g, &a);                                              \
        cr_assert(a.mapped > 0, "nothing came from the arena");         \
        arena_destroy(&a);                                              \
    }

/*        name               entries ways sizes shifts */
FUZZ_TEST(full_assoc_16x16,   16,  16, 1, { 12 })           /* 1 set, tree PLRU */
FUZZ_TEST(full_assoc_12x12,   12,  12, 1, { 12 })           /* 1 set, bit-PLRU */
FUZZ_TEST(l1d_64x4,           64,   4, 1, { 12 })           /* 16 sets */
FUZZ_TEST(stlb_1536x12,     1536,  12, 1, { 12 })           /* 128 sets, bit-PLRU */
FUZZ_TEST(ways6_96,           96,   6, 1, { 12 })           /* 16 sets, bit-PLRU */
FUZZ_TEST(sets3_12x4,         12,   4, 1, { 12 })           /* modulo path, tree */
FUZZ_TEST(sets3_9x3,           9,   3, 1, { 12 })           /* modulo path, bit-PLRU */
FUZZ_TEST(direct_8x1,          8,   1, 1, { 12 })           /* direct mapped */
FUZZ_TEST(stlb_4k2m_1536x12, 1536, 12, 2, { 12, 21 })       /* the STLB */
FUZZ_TEST(stlb_4k2m_32x4,     32,   4, 2, { 12, 21 })       /* small: more 4K/2M overlap */
FUZZ_TEST(sets6_4k2m_24x4,    24,   4, 2, { 12, 21 })       /* modulo, two sizes */
FUZZ_TEST(sets3_3sizes_18x6,  18,   6, 3, { 12, 21, 30 })   /* modulo, three sizes */
FUZZ_TEST(psc_8x2,             8,   2, 3, { 30, 39, 48 })   /* PDPT/PML4/PML5 cache */
FUZZ_ARENA_TEST(arena_l1d_64x4,         64,  4, 1, { 12 })
FUZZ_ARENA_TEST(arena_stlb_4k2m_1536x12, 1536, 12, 2, { 12, 21 })

/* ===== Targeted tests ==================================================== */

static void init_ok(struct tlb *t, u32 entries, u32 ways, u8 nr_sizes, const u8 *shifts,
                    enum tlb_repl repl)
{
    struct tlb_config c = { .entries = entries, .ways = ways, .nr_sizes = nr_sizes };
    struct sim_err err = { 0 };

    memcpy(c.shifts, shifts, nr_sizes);
    cr_assert(tlb_init(t, &c, repl, 42, &err) == SIM_OK, "tlb_init: %s", err.msg);
}

static struct tlb_entry *fill(struct tlb *t, u64 va, unsigned shift, bool global, u16 mm)
{
    struct tlb_entry src = { .ptep = &fake_pt[va & 255], .pte = va, .mm = mm,
                             .global = global };

    return tlb_fill(t, va, shift, &src, NULL);
}

static const u8 k4[] = { 12 }, k4_2m[] = { 12, 21 };

Test(tlb, set_mask_follows_set_count)
{
    struct tlb t;

    init_ok(&t, 64, 4, 1, k4, TLB_REPL_LRU);        /* 16 sets */
    cr_assert(t.sets == 16 && t.set_mask == 15);
    tlb_destroy(&t);
    init_ok(&t, 12, 4, 1, k4, TLB_REPL_LRU);        /* 3 sets: modulo path */
    cr_assert(t.sets == 3 && t.set_mask == 0);
    tlb_destroy(&t);
    init_ok(&t, 8, 8, 1, k4, TLB_REPL_LRU);         /* 1 set, mask 0 */
    cr_assert(t.sets == 1 && t.set_mask == 0 && tlb_set_of(&t, 12345) == 0);
    tlb_destroy(&t);
}

/* The contract: set = VPN mod sets, for every size, whether or not the set
 * count is a power of two. */
Test(tlb, entry_lands_in_vpn_mod_sets)
{
    static const u32 geoms[][2] = { { 64, 4 }, { 12, 4 }, { 96, 6 }, { 8, 8 } };

    for (size_t g = 0; g < ARRAY_SIZE(geoms); g++) {
        struct tlb t;

        init_ok(&t, geoms[g][0], geoms[g][1], 2, k4_2m, TLB_REPL_PLRU);
        for (u64 vpn = 0; vpn < 40; vpn++) {
            unsigned shift = vpn & 1 ? 21 : 12;
            struct tlb_entry *e = fill(&t, (vpn * 7 + 3) << shift | 0x123, shift, false, 0);
            u64 want = (vpn * 7 + 3) % t.sets;

            cr_assert_not_null(e);
            cr_assert((u64)(e - t.e) / t.ways == want, "%u/%u vpn %llu: set %zu, want %llu",
                      geoms[g][0], geoms[g][1], (unsigned long long)vpn,
                      (size_t)(e - t.e) / t.ways, (unsigned long long)want);
            cr_assert(e->tag == (TLB_TAG_VALID | (vpn * 7 + 3) << 3 | (shift == 21)));
        }
        cr_assert(tlb_check(&t));
        tlb_destroy(&t);
    }
}

Test(tlb, refill_same_page_overwrites_in_place)
{
    struct tlb t;
    struct tlb_entry src = { .pte = 1 }, ev;

    init_ok(&t, 16, 4, 1, k4, TLB_REPL_LRU);
    struct tlb_entry *a = tlb_fill(&t, 0x5000, 12, &src, &ev);
    src.pte = 2;
    struct tlb_entry *b = tlb_fill(&t, 0x5fff, 12, &src, &ev);
    cr_assert(a == b && b->pte == 2 && ev.tag == TLB_TAG_INVALID);
    cr_assert(t.nr_valid == 1 && t.st.fills == 2 && t.st.evictions == 0);
    cr_assert(tlb_lookup(&t, 0x5abc) == b);
    tlb_destroy(&t);
}

Test(tlb, fill_of_unheld_size_is_refused)
{
    struct tlb t;

    init_ok(&t, 16, 4, 2, k4_2m, TLB_REPL_LRU);
    cr_assert_null(fill(&t, 0x40000000, 30, false, 0));
    cr_assert(t.nr_valid == 0 && t.st.fills == 0);
    tlb_destroy(&t);
}

Test(tlb, globals_survive_cr3_write_not_global_flush)
{
    struct tlb t;
    bool g;

    init_ok(&t, 64, 4, 2, k4_2m, TLB_REPL_PLRU);
    fill(&t, 0x1000, 12, false, 1);
    fill(&t, 0xffffffff81000000ull, 21, true, 1);   /* kernel text, PTE_G */
    fill(&t, 0xffff888000001000ull, 12, true, 1);
    tlb_flush_all(&t, false);                       /* MOV CR3 */
    cr_assert_null(tlb_lookup(&t, 0x1000));
    cr_assert_not_null(tlb_lookup(&t, 0xffffffff81012345ull));
    cr_assert_not_null(tlb_lookup(&t, 0xffff888000001000ull));
    cr_assert(tlb_count_valid(&t, &g) == 2 && g && t.nr_valid == 2);
    t.may_global = false;                           /* a CR3 write would drop them */
    cr_assert(!tlb_check(&t), "globals present, may_global false");
    t.may_global = true;
    tlb_flush_all(&t, true);                        /* CR4.PGE toggle */
    cr_assert_null(tlb_lookup(&t, 0xffffffff81012345ull));
    cr_assert(tlb_count_valid(&t, &g) == 0 && !g && t.nr_valid == 0);
    cr_assert(t.st.flush_all == 2 && t.st.invalidated == 3);
    cr_assert(!t.may_global, "empty: no global entry left");
    cr_assert(tlb_check(&t));
    tlb_destroy(&t);
}

Test(tlb, invlpg_drops_2m_entry_covering_4k_address)
{
    struct tlb t;

    init_ok(&t, 1536, 12, 2, k4_2m, TLB_REPL_LRU);
    fill(&t, 0x40200000, 21, true, 0);              /* 2M page, global */
    fill(&t, 0x40205000, 12, false, 0);             /* 4K alias of the flushed page */
    fill(&t, 0x40206000, 12, false, 0);             /* other 4K page in the region */
    tlb_flush_va(&t, 0x40205abc);
    cr_assert(t.nr_valid == 1 && t.st.invalidated == 2 && t.st.flush_va == 1);
    cr_assert_null(tlb_lookup(&t, 0x40205000));
    cr_assert_null(tlb_lookup(&t, 0x40300000));     /* the 2M entry is gone */
    cr_assert_not_null(tlb_lookup(&t, 0x40206000));
    cr_assert(tlb_check(&t));
    tlb_destroy(&t);
}

Test(tlb, flush_mm_keeps_globals_and_other_mms)
{
    struct tlb t;

    init_ok(&t, 64, 4, 1, k4, TLB_REPL_RANDOM);
    fill(&t, 0x1000, 12, false, 1);
    fill(&t, 0x2000, 12, false, 2);
    fill(&t, 0x3000, 12, true, 1);
    tlb_flush_mm(&t, 1);
    cr_assert_null(tlb_lookup(&t, 0x1000));
    cr_assert_not_null(tlb_lookup(&t, 0x2000));
    cr_assert_not_null(tlb_lookup(&t, 0x3000));
    cr_assert(t.nr_valid == 2 && t.st.invalidated == 1);
    tlb_destroy(&t);
}

Test(tlb, absent_structure)
{
    struct tlb t;
    struct tlb_config c = { .entries = 0 };         /* ways and sizes unused */
    struct tlb_entry ev = { .tag = 7 };
    bool g = true;

    cr_assert(tlb_init(&t, &c, TLB_REPL_PLRU, 1, NULL) == SIM_OK);
    cr_assert(!tlb_present(&t));
    cr_assert_null(tlb_lookup(&t, 0x1000));
    cr_assert_null(tlb_fill(&t, 0x1000, 12, NULL, &ev));
    cr_assert(ev.tag == TLB_TAG_INVALID);
    tlb_flush_all(&t, true);
    tlb_flush_va(&t, 0x1000);
    tlb_flush_mm(&t, 0);
    cr_assert(tlb_count_valid(&t, &g) == 0 && !g);
    cr_assert(tlb_check(&t));
    cr_assert(t.st.fills == 0 && t.st.flush_all == 0);
    tlb_destroy(&t);
    tlb_destroy(&t);                                /* zeroed: still safe */
    tlb_destroy(NULL);
}

static void expect_init_error(u32 entries, u32 ways, u8 nr_sizes, u8 s0, u8 s1,
                              enum tlb_repl repl, const char *needle)
{
    struct tlb t;
    struct tlb_config c = { entries, ways, nr_sizes, { s0, s1, 0 } };
    struct sim_err err = { 0 };

    cr_assert(tlb_init(&t, &c, repl, 0, &err) == SIM_EINVAL, "accepted (%s)", needle);
    cr_assert(err.code == SIM_EINVAL);
    cr_assert(strstr(err.msg, needle), "message \"%s\" lacks \"%s\"", err.msg, needle);
    cr_assert(t.e == NULL && t.sets == 0);          /* failed init leaves t zeroed */
    tlb_destroy(&t);
    cr_assert(tlb_init(&t, &c, repl, 0, NULL) == SIM_EINVAL);  /* err is optional */
}

Test(tlb, init_rejects_bad_geometry)
{
    expect_init_error(64, 0, 1, 12, 0, TLB_REPL_LRU, "ways: 0");
    expect_init_error(4, 8, 1, 12, 0, TLB_REPL_LRU, "ways: 8 exceeds entries (4)");
    expect_init_error(64, 5, 1, 12, 0, TLB_REPL_LRU,
                      "entries: 64 cannot be split into sets of 5 ways");
    expect_init_error(64, 4, 0, 12, 0, TLB_REPL_LRU, "nr_sizes: 0");
    expect_init_error(64, 4, 4, 12, 21, TLB_REPL_LRU, "nr_sizes: 4");
    expect_init_error(64, 4, 1, 13, 0, TLB_REPL_LRU, "shifts[0]: 13");
    expect_init_error(64, 4, 2, 12, 20, TLB_REPL_LRU, "shifts[1]: 20");
    expect_init_error(64, 4, 2, 21, 12, TLB_REPL_LRU, "shifts[1]: 12 not above shifts[0] (21)");
    expect_init_error(64, 4, 2, 21, 21, TLB_REPL_LRU, "strictly increasing");
    expect_init_error(64, 4, 1, 12, 0, (enum tlb_repl)7, "repl: 7");
}

Test(tlb, check_catches_corruption)
{
    struct tlb t;
    struct tlb_entry *a, *b, saved;

    init_ok(&t, 64, 4, 2, k4_2m, TLB_REPL_LRU);
    a = fill(&t, 0x1000, 12, false, 0);             /* vpn 1: set 1 */
    b = fill(&t, 0x11000, 12, false, 0);            /* vpn 17: set 1 too */
    fill(&t, 0x200000, 21, false, 0);
    cr_assert(tlb_check(&t));

    saved = *a;
    a->tag = TLB_TAG_VALID | 2ull << 3;             /* vpn 2 belongs in set 2 */
    cr_assert(!tlb_check(&t), "entry in the wrong set");
    *a = saved;
    b->tag = a->tag;                                /* duplicate page */
    cr_assert(!tlb_check(&t), "duplicate tag");
    b->tag = TLB_TAG_VALID | 17ull << 3;
    a->tag |= 5;                                    /* size index beyond nr_sizes */
    cr_assert(!tlb_check(&t), "bad size index");
    *a = saved;
    a->shift = 21;                                  /* shift disagrees with tag */
    cr_assert(!tlb_check(&t), "shift mismatch");
    *a = saved;
    t.nr_valid++;
    cr_assert(!tlb_check(&t), "nr_valid drift");
    t.nr_valid--;
    a->stamp = t.clock + 1;                         /* LRU stamp from the future */
    cr_assert(!tlb_check(&t), "stamp beyond clock");
    *a = saved;
    cr_assert(tlb_check(&t));
    tlb_destroy(&t);
}

Test(tlb, check_catches_saturated_mru_bits)
{
    struct tlb t;

    init_ok(&t, 12, 12, 1, k4, TLB_REPL_PLRU);      /* 12 ways: bit-PLRU */
    for (u64 p = 0; p < 12; p++)
        fill(&t, p << 12, 12, false, 0);
    cr_assert(tlb_check(&t));
    memset(t.plru, 0, t.plru_bytes);
    t.plru[0] = 0xff;
    t.plru[1] = 0x0f;                               /* all 12 MRU bits set */
    cr_assert(!tlb_check(&t));
    tlb_destroy(&t);
}

/* ===== Sparse storage ==================================================== */

/* A 1536 x 12 structure (skylake-sp's STLB: 128 sets) is sparse: a set
 * gets its block of 12 entries at its first fill.  These tests fill every
 * way of a few scattered sets with payloads that tell the entries apart,
 * so a block that is missing, shared or overlapping another shows up as a
 * lost payload, a failed lookup or a failed tlb_check. */
static const u32 sparse_sets[] = { 0, 5, 63, 64, 77, 127 };
#define SPARSE_WAYS 12u
#define SPARSE_N (ARRAY_SIZE(sparse_sets) * SPARSE_WAYS)
#define BLK_FIRST (TLB_FIRST_WAYS * sizeof(struct tlb_entry))  /* a set's first block */
#define BLK_ALL (SPARSE_WAYS * sizeof(struct tlb_entry))       /* then one of all ways */

struct sparse_rec {                     /* what one fill put where */
    u64 va, frame;
    u16 pcid, mm;
    bool global;
};

static void init_sparse(struct tlb *t, struct arena *a, enum tlb_repl repl)
{
    struct tlb_config c = { .entries = 1536, .ways = SPARSE_WAYS, .nr_sizes = 2,
                            .shifts = { 12, 21 } };
    struct sim_err err = { 0 };

    cr_assert(tlb_init_in(t, &c, repl, 42, a, &err) == SIM_OK, "%s", err.msg);
    cr_assert(t->e == NULL && t->span != NULL && t->sets == 128, "1536 x 12 should be sparse");
}

/* Every way of sparse_sets, PCIDs on: pages s + 128 k (all in set s),
 * two PCIDs, some global, three mms, frame = the fill's number. */
static void fill_scattered(struct tlb *t, struct sparse_rec *rec)
{
    tlb_set_pcid_mode(t, true);
    for (u32 i = 0; i < ARRAY_SIZE(sparse_sets); i++) {
        for (u32 k = 0; k < SPARSE_WAYS; k++) {
            struct sparse_rec *r = &rec[i * SPARSE_WAYS + k];
            u64 vpn = sparse_sets[i] + 128ull * k + (k % 5 == 4 ? 0xffff800000000ull : 0);
            struct tlb_entry src;

            *r = (struct sparse_rec){ .va = vpn << 12, .frame = (u64)(i * SPARSE_WAYS + k) << 12,
                                      .pcid = (u16)(1 + (k & 1)), .mm = (u16)(k % 3),
                                      .global = k % 5 == 4 };
            src = (struct tlb_entry){ .ptep = &fake_pt[k], .pte = r->frame, .mm = r->mm,
                                      .global = r->global };
            tlb_set_pcid(t, r->pcid);
            cr_assert_not_null(tlb_fill(t, r->va, 12, &src, NULL));
        }
    }
    cr_assert(t->nr_valid == SPARSE_N && tlb_check(t));
}

/* Each record's entry is there (lookup under its PCID finds its payload)
 * exactly when keep[i]; counts and the checker agree. */
static void expect_entries(struct tlb *t, const struct sparse_rec *rec, const bool *keep,
                           const char *what)
{
    u32 kept = 0;

    for (u32 i = 0; i < SPARSE_N; i++) {
        struct tlb_entry *e;

        tlb_set_pcid(t, rec[i].pcid);
        e = tlb_lookup(t, rec[i].va);
        cr_assert((e != NULL) == keep[i], "%s: entry %u (va %#llx) %s", what, i,
                  (unsigned long long)rec[i].va, e ? "kept" : "dropped");
        if (e)
            cr_assert(e->pte == rec[i].frame && e->mm == rec[i].mm &&
                      !!e->global == rec[i].global, "%s: entry %u: payload of another", what, i);
        kept += keep[i];
    }
    cr_assert(t->nr_valid == kept && tlb_count_valid(t, NULL) == kept,
              "%s: nr_valid %u, count %u, want %u", what, t->nr_valid,
              tlb_count_valid(t, NULL), kept);
    cr_assert(tlb_check(t), "%s: tlb_check", what);
}

static void sparse_blocks_are_disjoint(struct arena *a)
{
    struct tlb t;
    struct sparse_rec rec[SPARSE_N];
    bool keep[SPARSE_N];
    u32 used = 0;

    init_sparse(&t, a, TLB_REPL_LRU);
    for (u32 s = 0; s < t.sets; s++)
        cr_assert_null(t.set_e[s], "set %u has storage before any fill", s);
    fill_scattered(&t, rec);
    for (u32 s = 0; s < t.sets; s++) {
        bool filled = false;

        for (u32 i = 0; i < ARRAY_SIZE(sparse_sets); i++)
            filled = filled || sparse_sets[i] == s;
        cr_assert((t.set_e[s] != NULL) == filled, "set %u: storage %p", s, (void *)t.set_e[s]);
        for (u32 s2 = 0; filled && s2 < s; s2++)
            cr_assert(!t.set_e[s2] || t.set_e[s2] + SPARSE_WAYS <= t.set_e[s] ||
                      t.set_e[s] + SPARSE_WAYS <= t.set_e[s2], "sets %u and %u overlap", s2, s);
        used += filled;
    }
    cr_assert(t.nr_blocks == used && used == ARRAY_SIZE(sparse_sets));
    cr_assert_eq(t.span->taken, used * (BLK_FIRST + BLK_ALL),
                 "blocks are not packed in the span");
    for (u32 i = 0; i < SPARSE_N; i++)
        keep[i] = true;
    expect_entries(&t, rec, keep, "filled");
    cr_assert_eq(tlb_count_mm(&t, 1), SPARSE_N / 3);
    tlb_destroy(&t);
}

Test(tlb_sparse, scattered_sets_get_disjoint_packed_blocks)
{
    struct arena a = { 0 };

    sparse_blocks_are_disjoint(NULL);   /* a span of its own */
    sparse_blocks_are_disjoint(&a);     /* the arena's */
    arena_destroy(&a);
}

/* Two CPUs' structures in one arena share its span: their blocks come
 * from it in the order of first fills, packed, none twice. */
Test(tlb_sparse, structures_of_one_arena_pack_their_blocks_together)
{
    struct arena a = { 0 };
    struct tlb t[2];
    struct sparse_rec rec[2][SPARSE_N];
    bool keep[SPARSE_N];

    init_sparse(&t[0], &a, TLB_REPL_PLRU);
    init_sparse(&t[1], &a, TLB_REPL_PLRU);
    cr_assert(t[0].span == t[1].span);
    fill_scattered(&t[0], rec[0]);
    fill_scattered(&t[1], rec[1]);
    cr_assert_eq(t[0].span->taken, 2 * ARRAY_SIZE(sparse_sets) * (BLK_FIRST + BLK_ALL));
    for (u32 i = 0; i < ARRAY_SIZE(sparse_sets); i++)
        cr_assert(t[0].set_e[sparse_sets[i]] != t[1].set_e[sparse_sets[i]]);
    for (u32 i = 0; i < SPARSE_N; i++)
        keep[i] = true;
    expect_entries(&t[0], rec[0], keep, "first");
    expect_entries(&t[1], rec[1], keep, "second");
    tlb_destroy(&t[0]);
    tlb_destroy(&t[1]);
    arena_destroy(&a);
}

/* A set holding at most TLB_FIRST_WAYS entries keeps its small first
 * block; the fill of a way beyond it moves the entries to a block of all
 * ways, payloads intact. */
Test(tlb_sparse, sets_move_to_a_block_of_all_ways_when_they_need_it)
{
    struct tlb t;
    struct sparse_rec rec[SPARSE_N];
    bool keep[SPARSE_N];
    struct tlb_entry *first;

    init_sparse(&t, NULL, TLB_REPL_PLRU);
    fill_scattered(&t, rec);                        /* the records: every way of 6 sets */
    tlb_destroy(&t);
    init_sparse(&t, NULL, TLB_REPL_PLRU);
    tlb_set_pcid_mode(&t, true);
    for (u32 i = 0; i < SPARSE_N; i++) {
        struct tlb_entry src = { .pte = rec[i].frame, .mm = rec[i].mm, .global = rec[i].global };

        keep[i] = i % SPARSE_WAYS < TLB_FIRST_WAYS;
        tlb_set_pcid(&t, rec[i].pcid);
        if (keep[i])
            cr_assert_not_null(tlb_fill(&t, rec[i].va, 12, &src, NULL));
    }
    expect_entries(&t, rec, keep, "first blocks");
    cr_assert_eq(t.span->taken, ARRAY_SIZE(sparse_sets) * BLK_FIRST);
    cr_assert_null(tlb_entry_at(&t, 77, TLB_FIRST_WAYS), "a way the first block lacks");
    t.tags[5 * SPARSE_WAYS + TLB_FIRST_WAYS] = TLB_TAG_VALID | (5 + 128 * 9ull) << 3;
    cr_assert(!tlb_check(&t), "a tag in a way the set's block does not store");
    t.tags[5 * SPARSE_WAYS + TLB_FIRST_WAYS] = TLB_TAG_INVALID;
    first = t.set_e[77];
    for (u32 i = 4 * SPARSE_WAYS; i < 5 * SPARSE_WAYS; i++) {   /* all of set 77 */
        struct tlb_entry src = { .pte = rec[i].frame, .mm = rec[i].mm, .global = rec[i].global };

        tlb_set_pcid(&t, rec[i].pcid);
        if (!keep[i])
            cr_assert_not_null(tlb_fill(&t, rec[i].va, 12, &src, NULL));
        keep[i] = true;
    }
    cr_assert(t.set_e[77] != first && tlb_entry_at(&t, 77, SPARSE_WAYS - 1));
    cr_assert_eq(t.span->taken, ARRAY_SIZE(sparse_sets) * BLK_FIRST + BLK_ALL);
    cr_assert_eq(t.nr_blocks, ARRAY_SIZE(sparse_sets));
    expect_entries(&t, rec, keep, "set 77 moved");
    tlb_destroy(&t);
}

enum sparse_flush { SF_CR3, SF_GLOBAL, SF_VA, SF_VA_PCID, SF_PCID, SF_MM, SF_FRAMES };

/* Whether flush kind k drops record r (the documented semantics). */
static bool sparse_drops(enum sparse_flush k, const struct sparse_rec *r,
                         const struct sparse_rec *at)
{
    switch (k) {
    case SF_CR3:     return !r->global;
    case SF_GLOBAL:  return true;
    case SF_VA:      return r->va == at->va;
    case SF_VA_PCID: return r->va == at->va && !r->global && r->pcid == at->pcid;
    case SF_PCID:    return !r->global && r->pcid == 1;
    case SF_MM:      return !r->global && r->mm == 1;
    case SF_FRAMES:  return r->frame >= (20u << 12) && r->frame < (40u << 12);
    }
    return false;
}

static void sparse_flush(struct tlb *t, enum sparse_flush k, const struct sparse_rec *at)
{
    tlb_set_pcid(t, at->pcid);
    switch (k) {
    case SF_CR3:     tlb_flush_all(t, false); break;
    case SF_GLOBAL:  tlb_flush_all(t, true); break;
    case SF_VA:      tlb_flush_va(t, at->va); break;
    case SF_VA_PCID: tlb_flush_va_pcid(t, at->va, at->pcid); break;
    case SF_PCID:    tlb_flush_pcid(t, 1); break;
    case SF_MM:      tlb_flush_mm(t, 1); break;
    case SF_FRAMES:  tlb_flush_frames(t, 20u << 12, 40u << 12, ~0xfffull); break;
    }
}

/* Every kind of flush drops exactly its entries from the scattered sets;
 * the sets it empties are unmarked (a full flush leaves none marked), and
 * refilling them reuses their blocks. */
Test(tlb_sparse, every_flush_kind_on_scattered_sets)
{
    static const char *const name[] = { "cr3", "global", "va", "va_pcid", "pcid", "mm",
                                        "frames" };
    struct arena a = { 0 };

    for (int k = SF_CR3; k <= SF_FRAMES; k++) {
        struct tlb t;
        struct sparse_rec rec[SPARSE_N];
        bool keep[SPARSE_N];
        const struct sparse_rec *at = &rec[4 * SPARSE_WAYS + 3];   /* set 77, way 3 */

        init_sparse(&t, k & 1 ? &a : NULL, (enum tlb_repl)(k % 3));
        fill_scattered(&t, rec);
        sparse_flush(&t, (enum sparse_flush)k, at);
        for (u32 i = 0; i < SPARSE_N; i++)
            keep[i] = !sparse_drops((enum sparse_flush)k, &rec[i], at);
        expect_entries(&t, rec, keep, name[k]);
        tlb_flush_all(&t, true);
        for (u32 w = 0; w < (t.sets + 63) / 64; w++)
            cr_assert_eq(t.live[w], 0, "%s: sets still marked after a global flush", name[k]);
        fill_scattered(&t, rec);
        cr_assert_eq(t.nr_blocks, ARRAY_SIZE(sparse_sets), "%s: refill took new blocks", name[k]);
        tlb_destroy(&t);
    }
    arena_destroy(&a);
}

/* Put v in *slot, expect tlb_check to fail, put the old value back. */
static void expect_caught(struct tlb *t, struct tlb_entry **slot, struct tlb_entry *v,
                          const char *what)
{
    struct tlb_entry *old = *slot;

    *slot = v;
    cr_assert(!tlb_check(t), "tlb_check missed: %s", what);
    *slot = old;
}

/* The injected faults tlb_check must catch: a filled set that lost its
 * block, a block shared by two sets (one empty, or both filled), a block
 * from outside the span, a filled set not marked live. */
Test(tlb_sparse, check_catches_missing_shared_or_stray_blocks)
{
    struct tlb t;
    struct sparse_rec rec[SPARSE_N];
    static struct tlb_entry stray[SPARSE_WAYS];

    init_sparse(&t, NULL, TLB_REPL_LRU);
    fill_scattered(&t, rec);
    expect_caught(&t, &t.set_e[5], NULL, "filled set without a block");
    expect_caught(&t, &t.set_e[6], t.set_e[5], "empty set sharing a filled set's block");
    expect_caught(&t, &t.set_e[63], t.set_e[5], "two filled sets sharing a block");
    expect_caught(&t, &t.set_e[6], stray, "block from outside the span");
    t.live[0] &= ~(1ull << 5);
    cr_assert(!tlb_check(&t), "filled set not marked live");
    t.live[0] |= 1ull << 5;
    cr_assert(tlb_check(&t), "every fault undone");
    tlb_destroy(&t);
}

/* ===== Replacement policies, worked by hand ============================== */

/* One access in the simulator's style: a miss is followed by a fill. */
static bool access_page(struct tlb *t, u64 va)
{
    if (tlb_lookup(t, va))
        return true;
    fill(t, va, 12, false, 0);
    return false;
}

/* Textbook pathology: a cyclic sweep over ways+1 pages that share a set
 * always evicts the page needed next under true LRU, while ways pages fit. */
Test(tlb, lru_cyclic_sweep_over_ways_plus_one_always_misses)
{
    struct tlb t;
    unsigned hits = 0;

    init_ok(&t, 16, 4, 1, k4, TLB_REPL_LRU);        /* 4 sets of 4 ways */
    for (int round = 0; round < 50; round++)
        for (u64 p = 0; p < 5; p++)
            hits += access_page(&t, (p * 4) << 12);   /* vpn 0,4,..,16: set 0 */
    cr_assert(hits == 0, "%u hits", hits);
    cr_assert(t.st.evictions == 250 - 4);
    tlb_destroy(&t);

    init_ok(&t, 16, 4, 1, k4, TLB_REPL_LRU);
    hits = 0;
    for (int round = 0; round < 50; round++)
        for (u64 p = 0; p < 4; p++)
            hits += access_page(&t, (p * 4) << 12);
    cr_assert(hits == 200 - 4, "%u hits", hits);
    cr_assert(t.st.evictions == 0);
    tlb_destroy(&t);
}

Test(tlb, lru_evicts_least_recently_used)
{
    struct tlb t;
    struct tlb_entry ev, src = { 0 };

    init_ok(&t, 4, 4, 1, k4, TLB_REPL_LRU);
    for (u64 p = 0; p < 4; p++)
        fill(&t, p << 12, 12, false, 0);
    tlb_lookup(&t, 0x0000);                         /* order now 0 3 2 1 */
    tlb_lookup(&t, 0x1000);                         /* order now 1 0 3 2 */
    tlb_fill(&t, 0x9000, 12, &src, &ev);
    cr_assert(ev.tag == (TLB_TAG_VALID | 2ull << 3), "evicted %#llx", (unsigned long long)ev.tag);
    tlb_destroy(&t);
}

/* Tree PLRU, 4 ways.  After fills of ways 0..3 and a hit on way 0 the root
 * points right (0 was used), the right node points at 2 (3 was used last),
 * so way 2 goes next, not the true LRU way 1. */
Test(tlb, tree_plru_follows_node_bits)
{
    struct tlb t;
    struct tlb_entry ev, src = { 0 };

    init_ok(&t, 4, 4, 1, k4, TLB_REPL_PLRU);
    for (u64 p = 0; p < 4; p++)
        fill(&t, p << 12, 12, false, 0);
    tlb_lookup(&t, 0x0000);
    tlb_fill(&t, 0x9000, 12, &src, &ev);
    cr_assert(ev.tag == (TLB_TAG_VALID | 2ull << 3), "evicted %#llx", (unsigned long long)ev.tag);
    tlb_destroy(&t);
}

/* Bit-PLRU, 3 ways: filling a, b, c saturates the bits, so only c's stays;
 * a hit on a sets its bit, and the lowest clear bit is b's. */
Test(tlb, bit_plru_clears_on_saturation)
{
    struct tlb t;
    struct tlb_entry ev, src = { 0 };

    init_ok(&t, 3, 3, 1, k4, TLB_REPL_PLRU);
    for (u64 p = 0; p < 3; p++)
        fill(&t, p << 12, 12, false, 0);
    cr_assert(t.plru[0] == 0x4, "bits %#x", t.plru[0]);
    tlb_lookup(&t, 0x0000);
    cr_assert(t.plru[0] == 0x5, "bits %#x", t.plru[0]);
    tlb_fill(&t, 0x9000, 12, &src, &ev);
    cr_assert(ev.tag == (TLB_TAG_VALID | 1ull << 3), "evicted %#llx", (unsigned long long)ev.tag);
    cr_assert(tlb_check(&t));
    tlb_destroy(&t);
}

/* Random replacement replays from the seed and uses the documented draw. */
Test(tlb, random_replacement_is_seeded)
{
    struct tlb a, b;
    struct tlb_entry eva, evb, src = { 0 };
    u64 rng = 42;                                   /* init_ok's seed */

    init_ok(&a, 8, 8, 1, k4, TLB_REPL_RANDOM);
    init_ok(&b, 8, 8, 1, k4, TLB_REPL_RANDOM);
    for (u64 p = 0; p < 200; p++) {
        struct tlb_entry *e = tlb_fill(&a, p << 12, 12, &src, &eva);

        tlb_fill(&b, p << 12, 12, &src, &evb);
        cr_assert(eva.tag == evb.tag);
        if (p >= 8)                                 /* full: one draw per eviction */
            cr_assert((u64)(e - a.e) == sim_rand_next(&rng) % 8);
    }
    tlb_destroy(&a);
    tlb_destroy(&b);
}
