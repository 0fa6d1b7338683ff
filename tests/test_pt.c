/* tests/test_pt.c - x86-64 page tables (models/pt.c).
 *
 * Part 1: unit tests, one behaviour each (leaf formats, errors, gathers,
 * kernel sharing, limits, rollback, 5-level paging).
 * Part 2: a brute-force reference model (style rule 16).  Random map /
 * unmap / zap / protect / migrate / populate sequences with all three page
 * sizes run on a pt and on a flat list of leaves and tables; after every
 * operation the two are compared through pt_walk, pt_table_at, pt_check,
 * the gather and the frame counts.  ref_selftest proves the comparison can
 * fail by corrupting the tables on purpose (SQLite's opcode 5).
 */
#include <criterion/criterion.h>

#include "../models/pt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K4 (1ull << 12)
#define M2 (1ull << 21)
#define G1 (1ull << 30)
#define UVA 0x00007f0000000000ull       /* user window, 1 GiB aligned */
#define KVA 0xffff888000000000ull       /* kernel window (direct-map style) */
#define UFL (PTE_RW | PTE_US)
#define PROT (PTE_RW | PTE_US | PTE_NX)

struct env {
    struct frame_alloc fa;
    struct pt_ctx ctx;
    struct pt kpt, upt;                 /* kernel pt and one user pt */
    struct mmu_gather g;
    struct sim_err err;
};

static struct env E;
static bool env_live;                   /* E is set up and not yet released */

static void env_setup(unsigned levels, unsigned maxphy, u64 max_frames, u64 max_tables)
{
    memset(&E, 0, sizeof(E));
    cr_assert_eq(frame_alloc_init(&E.fa, maxphy, max_frames, &E.err), SIM_OK, "%s", E.err.msg);
    cr_assert_eq(pt_ctx_init(&E.ctx, &E.fa, max_tables), SIM_OK);
    cr_assert_eq(pt_init(&E.kpt, &E.ctx, levels, NULL, &E.err), SIM_OK, "%s", E.err.msg);
    cr_assert_eq(pt_init(&E.upt, &E.ctx, levels, &E.kpt, &E.err), SIM_OK, "%s", E.err.msg);
    mmu_gather_init(&E.g);
    env_live = true;
}

static void setup4(void) { env_setup(4, 46, 0, 0); }

/* Release the environment; report what was still live.  Criterion ignores
 * assertions in .fini, so each test ends with env_done(), which asserts
 * that everything handed out came back (pt_destroy frees tables and
 * frames, the gather frees what it holds); .fini only cleans up after a
 * test that failed early. */
static u64 leaked_tables, leaked_frames;

static void env_release(void)
{
    if (!env_live)
        return;
    env_live = false;
    mmu_gather_finish(&E.ctx, &E.g);
    mmu_gather_destroy(&E.g);
    pt_destroy(&E.upt);
    pt_destroy(&E.kpt);
    leaked_tables = E.ctx.nr_table_pages;
    leaked_frames = E.fa.nr_live;
    pt_ctx_destroy(&E.ctx);
    frame_alloc_destroy(&E.fa);
}

static void env_done(void)
{
    env_release();
    cr_assert_eq(leaked_tables, 0, "table pages leaked: %llu", (unsigned long long)leaked_tables);
    cr_assert_eq(leaked_frames, 0, "frames leaked: %llu", (unsigned long long)leaked_frames);
}

static void teardown(void)
{
    env_release();
}

TestSuite(pt, .init = setup4, .fini = teardown);

/* ===== helpers ============================================================= */

static void map_ok(struct pt *pt, u64 va, u64 len, unsigned shift, u64 flags)
{
    int rc = pt_map(pt, va, len, shift, flags, true, &E.err);

    cr_assert_eq(rc, SIM_OK, "map 0x%llx+0x%llx: %s", (unsigned long long)va,
                 (unsigned long long)len, E.err.msg);
}

static int map_rc(struct pt *pt, u64 va, u64 len, unsigned shift)
{
    return pt_map(pt, va, len, shift, UFL, true, &E.err);
}

static void unmap_ok(struct pt *pt, u64 va, u64 len)
{
    int rc = pt_unmap(pt, va, len, &E.g, &E.err);

    cr_assert_eq(rc, SIM_OK, "unmap 0x%llx+0x%llx: %s", (unsigned long long)va,
                 (unsigned long long)len, E.err.msg);
}

static unsigned walk_level(const struct pt *pt, u64 va)
{
    unsigned lvl = 0;

    return pt_walk(pt, va, &lvl, NULL) ? lvl : 0;
}

/* State that an error must leave untouched. */
struct snap {
    u64 nr_live, nr_tables, root_present;
    u64 e[8];                           /* leaf entries at the probe addresses, 0: none */
};

static void snap_take(struct snap *s, const struct pt *pt, const u64 *va, size_t n)
{
    memset(s, 0, sizeof(*s));
    s->nr_live = E.fa.nr_live;
    s->nr_tables = E.ctx.nr_table_pages;
    s->root_present = pt->root->nr_present;
    for (size_t k = 0; k < n && k < ARRAY_SIZE(s->e); k++) {
        u64 *e = pt_walk(pt, va[k], NULL, NULL);

        s->e[k] = e ? *e : 0;
    }
}

static void expect_unchanged(const struct snap *was, const struct pt *pt, const u64 *va,
                             size_t n, const char *what)
{
    struct snap now;

    snap_take(&now, pt, va, n);
    cr_assert(pt_check(pt), "%s: pt_check", what);
    cr_assert_eq(now.nr_live, was->nr_live, "%s: frames changed", what);
    cr_assert_eq(now.nr_tables, was->nr_tables, "%s: table pages changed", what);
    cr_assert_eq(now.root_present, was->root_present, "%s: root changed", what);
    for (size_t k = 0; k < n; k++)
        cr_assert_eq(now.e[k], was->e[k], "%s: entry %zu changed", what, k);
    cr_assert(E.g.nr_frames == 0 && E.g.nr_ptes == 0 && !E.g.tables && !E.g.freed_tables,
              "%s: gather touched", what);
}

/* ===== part 1: unit tests ================================================== */

Test(pt, leaf_formats_for_each_page_size)
{
    unsigned lvl;
    struct pt_page *tab;
    u64 *e;

    map_ok(&E.upt, UVA, 2 * K4, 12, UFL | PTE_NX);
    map_ok(&E.upt, UVA + M2, M2, 21, PTE_US);
    map_ok(&E.upt, UVA + G1, G1, 30, UFL | PTE_G);
    cr_assert(pt_check(&E.upt));

    e = pt_walk(&E.upt, UVA + K4 + 5, &lvl, &tab);
    cr_assert(e && lvl == 1 && tab->level == 1);
    cr_assert_eq(*e & ~PTE_PFN_MASK, PTE_P | UFL | PTE_NX, "no A/D/PS on a new PTE");
    cr_assert_eq((struct pt_page *)((uintptr_t)e & ~(uintptr_t)4095), tab,
                 "ptep & ~4095 finds the table page");
    e = pt_walk(&E.upt, UVA + M2 + 12345, &lvl, &tab);
    cr_assert(e && lvl == 2 && tab->level == 2);
    cr_assert_eq(*e & ~PTE_PFN_MASK, PTE_P | PTE_US | PTE_PS);
    cr_assert_eq((*e >> 12) & 511, 0, "2M frame aligned");
    e = pt_walk(&E.upt, UVA + G1 + G1 - 1, &lvl, &tab);
    cr_assert(e && lvl == 3 && tab->level == 3);
    cr_assert_eq(*e & ~PTE_PFN_MASK, PTE_P | UFL | PTE_G | PTE_PS);
    cr_assert_eq((*e >> 12) & (G1 / K4 - 1), 0, "1G frame aligned");
    cr_assert_null(pt_walk(&E.upt, UVA + 2 * K4, NULL, NULL));
    cr_assert_null(pt_walk(&E.upt, UVA + 2 * G1, NULL, NULL));
    /* tables: PDPT, PD, PT + the 1G leaf's PDPT is shared: 3 + roots. */
    cr_assert_eq(E.ctx.nr_table_pages, 2 + 3);
    cr_assert_eq(E.fa.nr_live, 2 + 512 + G1 / K4 + E.ctx.nr_table_pages);
    env_done();
}

Test(pt, non_leaf_entries_point_at_their_tables)
{
    struct pt_page *pd, *ptt;

    map_ok(&E.upt, UVA, K4, 12, UFL);
    pd = pt_table_at(&E.upt, UVA, 2);
    ptt = pt_table_at(&E.upt, UVA, 1);
    cr_assert(pd && ptt && pd->level == 2 && ptt->level == 1);
    cr_assert_eq(pd->e[pt_index(UVA, 2)], ptt->pfn << 12 | PTE_P | PTE_RW | PTE_US | PTE_A);
    cr_assert_eq(pd->child[pt_index(UVA, 2)], ptt);
    cr_assert_eq(pd->nr_present, 1);
    cr_assert_eq(pt_table_at(&E.upt, UVA, 4), E.upt.root);
    cr_assert_null(pt_table_at(&E.upt, UVA + G1, 1), "absent path");
    cr_assert_null(pt_table_at(&E.upt, UVA, 0));
    cr_assert_null(pt_table_at(&E.upt, UVA, 5));
    map_ok(&E.upt, UVA + M2, M2, 21, UFL);
    cr_assert_null(pt_table_at(&E.upt, UVA + M2, 1), "path ends in a 2M leaf");
    env_done();
}

Test(pt, bad_arguments_are_einval_and_change_nothing)
{
    u64 va[] = { UVA, UVA + M2 };
    struct snap s;

    map_ok(&E.upt, UVA, K4, 12, UFL);
    snap_take(&s, &E.upt, va, 2);
    cr_assert_eq(map_rc(&E.upt, UVA + 0x800, K4, 12), SIM_EINVAL, "unaligned va");
    cr_assert_eq(map_rc(&E.upt, UVA + M2, K4, 21), SIM_EINVAL, "len not 2M");
    cr_assert_eq(map_rc(&E.upt, UVA + K4, M2, 21), SIM_EINVAL, "va not 2M");
    cr_assert_eq(map_rc(&E.upt, UVA, 0, 12), SIM_EINVAL, "empty");
    cr_assert_eq(map_rc(&E.upt, UVA, K4, 13), SIM_EINVAL, "page size");
    cr_assert_eq(map_rc(&E.upt, 0x0000800000000000ull, K4, 12), SIM_EINVAL, "non-canonical");
    cr_assert_eq(map_rc(&E.upt, 0x00007ffffffff000ull, 2 * K4, 12), SIM_EINVAL,
                 "runs off the user half");
    cr_assert_eq(map_rc(&E.upt, KVA, K4, 12), SIM_EINVAL, "kernel va in a user pt");
    cr_assert(strstr(E.err.msg, "kernel") != NULL, "%s", E.err.msg);
    cr_assert_eq(map_rc(&E.kpt, UVA + M2, K4, 12), SIM_EINVAL, "user va in the kernel pt");
    cr_assert_eq(map_rc(&E.kpt, 0xfffffffffffff000ull, K4, 12), SIM_EINVAL,
                 "ends at 2^64: the gather's end would wrap");
    cr_assert_eq(pt_map(&E.upt, UVA + M2, K4, 12, PTE_PS, true, &E.err), SIM_EINVAL, "flags");
    cr_assert_eq(pt_unmap(&E.upt, UVA + 1, K4, &E.g, &E.err), SIM_EINVAL);
    cr_assert_eq(pt_zap(&E.upt, KVA, K4, &E.g, &E.err), SIM_EINVAL);
    cr_assert_eq(pt_migrate(&E.upt, UVA, 0, &E.g, &E.err), SIM_EINVAL);
    cr_assert_eq(pt_protect(&E.upt, 0x0000800000000000ull, K4, 0, NULL, &E.g, &E.err),
                 SIM_EINVAL);
    cr_assert_eq(pt_populate(&E.upt, UVA, 20, UFL, &E.err), SIM_EINVAL);
    expect_unchanged(&s, &E.upt, va, 2, "bad arguments");
    env_done();
}

Test(pt, overlap_is_eexist_and_changes_nothing)
{
    u64 va[] = { UVA, UVA + M2, UVA + G1, UVA + G1 + M2, UVA + 3 * G1 };
    struct snap s;

    map_ok(&E.upt, UVA, K4, 12, UFL);
    map_ok(&E.upt, UVA + M2, M2, 21, UFL);
    map_ok(&E.upt, UVA + G1, G1, 30, UFL);
    snap_take(&s, &E.upt, va, 5);
    cr_assert_eq(map_rc(&E.upt, UVA, M2, 21), SIM_EEXIST, "2M over a 4K page");
    cr_assert_eq(map_rc(&E.upt, UVA + M2 + K4, K4, 12), SIM_EEXIST, "4K inside a 2M page");
    cr_assert_eq(map_rc(&E.upt, UVA + G1 + M2, M2, 21), SIM_EEXIST, "2M inside a 1G page");
    cr_assert_eq(map_rc(&E.upt, 0, G1, 30), SIM_OK, "disjoint 1G is fine");
    unmap_ok(&E.upt, 0, G1);
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert_eq(map_rc(&E.upt, UVA - 4 * K4, 8 * K4, 12), SIM_EEXIST,
                 "overlap at the end of a longer range");
    cr_assert(strstr(E.err.msg, "already mapped") != NULL, "%s", E.err.msg);
    cr_assert_eq(map_rc(&E.upt, UVA + 3 * G1, G1, 30), SIM_OK);
    unmap_ok(&E.upt, UVA + 3 * G1, G1);
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert_eq(map_rc(&E.upt, UVA, 2 * G1, 30), SIM_EEXIST, "1G over tables with leaves");
    expect_unchanged(&s, &E.upt, va, 5, "overlap");
    cr_assert_eq(pt_populate(&E.upt, UVA + 5, 12, UFL, &E.err), SIM_EEXIST);
    env_done();
}

Test(pt, populate_false_records_nothing)
{
    u64 tables = E.ctx.nr_table_pages, live = E.fa.nr_live;

    cr_assert_eq(pt_map(&E.upt, UVA, 1ull << 40, 30, UFL, false, &E.err), SIM_OK, "%s",
                 E.err.msg);
    cr_assert_eq(pt_map(&E.upt, 0x1000, 1ull << 46, 12, UFL, false, &E.err), SIM_OK);
    cr_assert_eq(E.ctx.nr_table_pages, tables);
    cr_assert_eq(E.fa.nr_live, live);
    cr_assert_eq(E.upt.root->nr_present, 0);
    cr_assert_null(pt_walk(&E.upt, UVA, NULL, NULL));
    /* The fault handler fills one leaf at a time. */
    cr_assert_eq(pt_populate(&E.upt, UVA + M2 + 77, 21, UFL, &E.err), SIM_OK, "%s", E.err.msg);
    cr_assert_eq(walk_level(&E.upt, UVA + M2), 2);
    cr_assert_eq(walk_level(&E.upt, UVA + 2 * M2), 0);
    cr_assert_eq(pt_populate(&E.upt, UVA + 3 * K4 + 1, 12, UFL, &E.err), SIM_OK);
    cr_assert_eq(walk_level(&E.upt, UVA + 3 * K4), 1);
    /* populate=false still refuses to overlap what is present. */
    cr_assert_eq(pt_map(&E.upt, UVA, G1, 30, UFL, false, &E.err), SIM_EEXIST);
    cr_assert(pt_check(&E.upt));
    env_done();
}

/* freed_tables is set exactly when an unmap detaches a table, and every
 * detached table is in the gather (not yet back in the pool). */
Test(pt, unmap_frees_tables_exactly_when_they_empty)
{
    u64 before = E.ctx.nr_table_pages;

    map_ok(&E.upt, UVA, K4, 12, UFL);
    map_ok(&E.upt, UVA + 5 * K4, K4, 12, UFL);
    cr_assert_eq(E.ctx.nr_table_pages, before + 3);
    unmap_ok(&E.upt, UVA, K4);
    cr_assert(!E.g.freed_tables && E.g.nr_tables == 0, "PT still holds a page");
    cr_assert_eq(E.g.nr_frames, 1);
    mmu_gather_finish(&E.ctx, &E.g);
    unmap_ok(&E.upt, UVA + 4 * K4, 4 * K4);
    cr_assert(E.g.freed_tables, "last page gone: PT, PD and PDPT emptied");
    cr_assert_eq(E.g.nr_tables, 3);
    cr_assert_eq(E.ctx.nr_table_pages, before + 3, "gathered tables are still live");
    cr_assert_null(pt_table_at(&E.upt, UVA, 3));
    cr_assert_eq(E.upt.root->nr_present, 0, "the root is never freed");
    cr_assert_null(E.ctx.pool, "nothing recycled before the flush");
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert_eq(E.ctx.nr_table_pages, before);
    cr_assert_not_null(E.ctx.pool);
    cr_assert(pt_check(&E.upt));
    unmap_ok(&E.upt, UVA, G1);
    cr_assert(!E.g.freed_tables && E.g.nr_ptes == 0, "nothing there");
    env_done();
}

Test(pt, zap_keeps_tables_and_unmap_frees_them_later)
{
    struct pt_page *ptt;

    map_ok(&E.upt, UVA, 4 * K4, 12, UFL);
    ptt = pt_table_at(&E.upt, UVA, 1);
    cr_assert_eq(pt_zap(&E.upt, UVA, M2, &E.g, &E.err), SIM_OK, "%s", E.err.msg);
    cr_assert(!E.g.freed_tables && E.g.nr_tables == 0);
    cr_assert_eq(E.g.nr_ptes, 4);
    cr_assert_eq(E.g.nr_frames, 4);
    cr_assert_null(pt_walk(&E.upt, UVA, NULL, NULL));
    cr_assert_eq(pt_table_at(&E.upt, UVA, 1), ptt, "zap keeps the empty PT");
    cr_assert_eq(ptt->nr_present, 0);
    mmu_gather_finish(&E.ctx, &E.g);
    /* An empty PT where a 2M leaf would go is in the way, like Linux, which
     * only installs a huge PMD over pmd_none(). */
    cr_assert_eq(map_rc(&E.upt, UVA, M2, 21), SIM_EEXIST);
    cr_assert(strstr(E.err.msg, "page table") != NULL, "%s", E.err.msg);
    map_ok(&E.upt, UVA + K4, K4, 12, UFL);
    cr_assert_eq(pt_table_at(&E.upt, UVA, 1), ptt, "a kept table is reused");
    unmap_ok(&E.upt, UVA, 2 * K4);
    cr_assert(E.g.freed_tables && E.g.nr_tables == 3);
    mmu_gather_finish(&E.ctx, &E.g);
    map_ok(&E.upt, UVA, 4 * K4, 12, UFL);
    cr_assert_eq(pt_zap(&E.upt, UVA, 4 * K4, &E.g, &E.err), SIM_OK);
    mmu_gather_finish(&E.ctx, &E.g);
    unmap_ok(&E.upt, UVA + M2, K4);
    cr_assert(!E.g.freed_tables, "the empty PT lies outside the range");
    unmap_ok(&E.upt, UVA + 8 * K4, K4);
    cr_assert(E.g.freed_tables && E.g.nr_ptes == 0 && E.g.nr_tables == 3,
              "an already empty table touched by an unmap is freed");
    cr_assert_eq(E.g.stride_shift, 12);
    env_done();
}

Test(pt, partial_huge_page_is_einval)
{
    u64 va[] = { UVA, UVA + G1 };
    struct snap s;
    bool reduced = true;

    map_ok(&E.upt, UVA, M2, 21, UFL);
    map_ok(&E.upt, UVA + G1, G1, 30, UFL);
    snap_take(&s, &E.upt, va, 2);
    cr_assert_eq(pt_unmap(&E.upt, UVA + K4, K4, &E.g, &E.err), SIM_EINVAL);
    cr_assert(strstr(E.err.msg, "partly") != NULL, "%s", E.err.msg);
    cr_assert_eq(pt_unmap(&E.upt, UVA - K4, M2, &E.g, &E.err), SIM_EINVAL);
    cr_assert_eq(pt_zap(&E.upt, UVA + G1, M2, &E.g, &E.err), SIM_EINVAL);
    cr_assert_eq(pt_protect(&E.upt, UVA, M2 + G1, 0, &reduced, &E.g, &E.err), SIM_EINVAL);
    cr_assert(!reduced);
    cr_assert_eq(pt_migrate(&E.upt, UVA + G1 + M2, M2, &E.g, &E.err), SIM_EINVAL);
    expect_unchanged(&s, &E.upt, va, 2, "partial huge");
    unmap_ok(&E.upt, UVA - G1, 3 * G1);
    cr_assert_eq(E.g.nr_ptes, 2);
    env_done();
}

Test(pt, gather_range_and_stride)
{
    map_ok(&E.upt, UVA, G1, 30, UFL);
    map_ok(&E.upt, UVA + G1, M2, 21, UFL);
    map_ok(&E.upt, UVA + G1 + 2 * M2, K4, 12, UFL);
    cr_assert_eq(E.g.stride_shift, 12, "initial stride");
    cr_assert_eq(pt_zap(&E.upt, UVA, G1, &E.g, &E.err), SIM_OK);
    cr_assert_eq(E.g.stride_shift, 30);
    cr_assert(E.g.start == UVA && E.g.end == UVA + G1 && E.g.nr_ptes == 1);
    cr_assert_eq(E.g.frames[0] & 3, FRAME_1G);
    unmap_ok(&E.upt, UVA + G1, M2);
    cr_assert_eq(E.g.stride_shift, 21, "accumulates: smallest leaf so far");
    cr_assert(E.g.start == UVA && E.g.end == UVA + G1 + M2 && E.g.nr_ptes == 2);
    unmap_ok(&E.upt, UVA + G1, G1);
    cr_assert_eq(E.g.stride_shift, 12);
    cr_assert_eq(E.g.end, UVA + G1 + 2 * M2 + K4);
    cr_assert_eq(E.g.nr_frames, 3);
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert(E.g.start == E.g.end && E.g.nr_ptes == 0 && E.g.stride_shift == 12,
              "finish resets the gather");
    env_done();
}

Test(pt, finish_bumps_frame_and_table_generations)
{
    struct pt_page *ptt;
    u64 pfn, tpfn;
    u32 tgen;

    map_ok(&E.upt, UVA, K4, 12, UFL);
    pfn = *pt_walk(&E.upt, UVA, NULL, &ptt) >> 12 & (PTE_PFN_MASK >> 12);
    tpfn = ptt->pfn;
    tgen = ptt->gen;
    unmap_ok(&E.upt, UVA, K4);
    cr_assert_eq(frame_gen(&E.fa, pfn), 0, "not freed before the flush");
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert_eq(frame_gen(&E.fa, pfn), 1);
    cr_assert_eq(frame_gen(&E.fa, tpfn), 1, "the table's frame is freed too");
    cr_assert_eq(ptt->gen, tgen + 1, "recycled table page: gen bumped");
    cr_assert_eq(ptt->nr_present, 0);
    /* The pool hands the page out again, zeroed, gen kept. */
    map_ok(&E.upt, UVA + 3 * G1, K4, 12, UFL);
    cr_assert_eq(pt_table_at(&E.upt, UVA + 3 * G1, 3)->gen
                 + pt_table_at(&E.upt, UVA + 3 * G1, 2)->gen
                 + pt_table_at(&E.upt, UVA + 3 * G1, 1)->gen, 3, "pool pages reused");
    cr_assert(pt_check(&E.upt));
    env_done();
}

Test(pt, protect_reports_reduced_permissions)
{
    bool reduced;
    u64 *e;

    map_ok(&E.upt, UVA, 2 * K4, 12, UFL);
    map_ok(&E.upt, UVA + M2, M2, 21, PTE_US);
    cr_assert_eq(pt_protect(&E.upt, UVA, 4 * M2, PTE_US, &reduced, &E.g, &E.err), SIM_OK);
    cr_assert(reduced, "RW lost");
    cr_assert_eq(E.g.nr_ptes, 2, "only the two PTEs changed");
    cr_assert_eq(E.g.stride_shift, 12);
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert_eq(pt_protect(&E.upt, UVA, 4 * M2, UFL, &reduced, &E.g, &E.err), SIM_OK);
    cr_assert(!reduced, "only gained RW");
    cr_assert_eq(E.g.nr_ptes, 3);
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert_eq(pt_protect(&E.upt, UVA + M2, M2, UFL | PTE_NX, &reduced, &E.g, &E.err), SIM_OK);
    cr_assert(reduced, "NX added");
    cr_assert(E.g.stride_shift == 21 && E.g.start == UVA + M2 && E.g.end == UVA + 2 * M2);
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert_eq(pt_protect(&E.upt, UVA, K4, PTE_RW, &reduced, &E.g, &E.err), SIM_OK);
    cr_assert(reduced, "US lost");
    e = pt_walk(&E.upt, UVA, NULL, NULL);
    cr_assert_eq(*e & ~PTE_PFN_MASK, PTE_P | PTE_RW);
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert_eq(pt_protect(&E.upt, UVA, K4, PTE_RW | PTE_G, &reduced, &E.g, &E.err), SIM_OK);
    cr_assert(!reduced && E.g.nr_ptes == 0, "G is not a permission: nothing changed");
    cr_assert(pt_check(&E.upt));
    env_done();
}

Test(pt, migrate_moves_leaves_to_new_frames)
{
    u64 *e, old4k, old2m;

    map_ok(&E.upt, UVA, K4, 12, UFL | PTE_NX);
    map_ok(&E.upt, UVA + M2, M2, 21, UFL);
    *pt_walk(&E.upt, UVA, NULL, NULL) |= PTE_A | PTE_D;    /* as the walker would */
    old4k = *pt_walk(&E.upt, UVA, NULL, NULL);
    old2m = *pt_walk(&E.upt, UVA + M2, NULL, NULL);
    cr_assert_eq(pt_migrate(&E.upt, UVA, G1, &E.g, &E.err), SIM_OK, "%s", E.err.msg);
    e = pt_walk(&E.upt, UVA, NULL, NULL);
    cr_assert_neq(*e & PTE_PFN_MASK, old4k & PTE_PFN_MASK);
    cr_assert_eq(*e & ~PTE_PFN_MASK, old4k & ~PTE_PFN_MASK, "flags and A/D kept");
    e = pt_walk(&E.upt, UVA + M2, NULL, NULL);
    cr_assert_neq(*e & PTE_PFN_MASK, old2m & PTE_PFN_MASK);
    cr_assert_eq((*e >> 12) & 511, 0, "new 2M frame aligned");
    cr_assert(E.g.nr_frames == 2 && E.g.nr_ptes == 2 && !E.g.freed_tables);
    cr_assert_eq(E.g.frames[0], (old4k & PTE_PFN_MASK) >> 10 | FRAME_4K);
    cr_assert_eq(E.g.frames[1], (old2m & PTE_PFN_MASK) >> 10 | FRAME_2M);
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert_eq(frame_gen(&E.fa, (old4k & PTE_PFN_MASK) >> 12), 1);
    cr_assert(pt_check(&E.upt));
    env_done();
}

/* A range of 2^47 bytes must cost what is present, not what is absent. */
Test(pt, huge_ranges_visit_only_present_entries, .timeout = 5)
{
    u64 top = 1ull << 47;

    for (u64 va = K4; va < top; va += top / 64)
        map_ok(&E.upt, va, K4, 12, UFL);
    map_ok(&E.upt, top - G1, G1, 30, UFL);
    cr_assert_eq(pt_map(&E.upt, 0, top - G1, 12, UFL, false, &E.err), SIM_EEXIST);
    cr_assert_eq(pt_protect(&E.upt, 0, top, PTE_US, NULL, &E.g, &E.err), SIM_OK, "%s",
                 E.err.msg);
    cr_assert_eq(E.g.nr_ptes, 65);
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert_eq(pt_migrate(&E.upt, 0, top, &E.g, &E.err), SIM_OK);
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert_eq(pt_zap(&E.upt, 0, top, &E.g, &E.err), SIM_OK);
    cr_assert_eq(E.g.nr_ptes, 65);
    mmu_gather_finish(&E.ctx, &E.g);
    unmap_ok(&E.upt, 0, top);
    cr_assert_eq(E.g.nr_ptes, 0);
    cr_assert_eq(E.g.nr_tables, 64 * 3 + 1, "every emptied table freed");
    cr_assert_eq(E.upt.root->nr_present, 0);
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert_eq(E.ctx.nr_table_pages, 2);
    env_done();
}

/* ---- kernel sharing ---- */

Test(pt, kernel_mappings_visible_from_every_user_pt)
{
    struct pt late;
    unsigned lvl;
    u64 *ke, *ue, *le;

    /* E.upt exists before the kernel mapping, `late` after it. */
    map_ok(&E.kpt, KVA, 2 * K4, 12, PTE_RW | PTE_G);
    map_ok(&E.kpt, KVA + G1, G1, 30, PTE_RW | PTE_G);
    cr_assert_eq(pt_init(&late, &E.ctx, 4, &E.kpt, &E.err), SIM_OK);
    ke = pt_walk(&E.kpt, KVA + K4, &lvl, NULL);
    ue = pt_walk(&E.upt, KVA + K4, NULL, NULL);
    le = pt_walk(&late, KVA + K4, NULL, NULL);
    cr_assert(ke && lvl == 1 && ue == ke && le == ke, "same kernel PTE from every pt");
    cr_assert_eq(pt_walk(&late, KVA + G1 + 5, &lvl, NULL),
                 pt_walk(&E.kpt, KVA + G1, NULL, NULL));
    cr_assert_eq(lvl, 3);
    /* pt_table_at: the root is the pt's own (what CR3 holds); below it the
     * path runs through the kernel's tables. */
    cr_assert_eq(pt_table_at(&late, KVA, 4), late.root);
    cr_assert_eq(pt_table_at(&late, KVA, 3), pt_table_at(&E.kpt, KVA, 3));
    cr_assert_eq(pt_table_at(&E.upt, KVA, 1), pt_table_at(&E.kpt, KVA, 1));
    cr_assert_eq(late.root->nr_present, 0, "user roots hold no kernel entries");
    cr_assert(pt_check(&late) && pt_check(&E.upt) && pt_check(&E.kpt));
    /* A user mapping stays private. */
    map_ok(&late, UVA, K4, 12, UFL);
    cr_assert_null(pt_walk(&E.upt, UVA, NULL, NULL));
    cr_assert_null(pt_walk(&E.kpt, UVA, NULL, NULL));
    /* Kernel unmap: gone everywhere; the PDPT under the kernel root stays. */
    unmap_ok(&E.kpt, KVA, 2 * K4);
    cr_assert(E.g.freed_tables && E.g.nr_tables == 2, "PT and PD freed, not the PDPT");
    cr_assert_null(pt_walk(&late, KVA, NULL, NULL));
    cr_assert_not_null(pt_table_at(&late, KVA, 3));
    mmu_gather_finish(&E.ctx, &E.g);
    unmap_ok(&E.kpt, KVA, 2 * G1);
    cr_assert(!E.g.freed_tables, "kernel top-level tables are never freed");
    cr_assert_not_null(pt_table_at(&E.kpt, KVA, 3));
    mmu_gather_finish(&E.ctx, &E.g);
    pt_destroy(&late);
    env_done();
}

Test(pt, init_checks_kernel_pt)
{
    struct pt bad;

    cr_assert_eq(pt_init(&bad, &E.ctx, 3, NULL, &E.err), SIM_EINVAL);
    cr_assert_eq(pt_init(&bad, &E.ctx, 5, &E.kpt, &E.err), SIM_EINVAL, "levels differ");
    cr_assert_eq(pt_init(&bad, &E.ctx, 4, &E.upt, &E.err), SIM_EINVAL, "not a kernel pt");
    env_done();
}

/* ---- limits and rollback ---- */

Test(pt, table_limit_is_elimit_and_changes_nothing)
{
    u64 va[] = { UVA, UVA + G1 };
    struct snap s;
    struct pt extra;

    E.ctx.max_table_pages = E.ctx.nr_table_pages + 3;
    map_ok(&E.upt, UVA, K4, 12, UFL);
    snap_take(&s, &E.upt, va, 2);
    cr_assert_eq(map_rc(&E.upt, UVA + G1, K4, 12), SIM_ELIMIT, "needs a PD and a PT");
    cr_assert(strstr(E.err.msg, "table") != NULL, "%s", E.err.msg);
    cr_assert_eq(map_rc(&E.upt, UVA, 2 * G1, 21), SIM_EEXIST, "overlap is found first");
    cr_assert_eq(map_rc(&E.upt, UVA + K4, K4, 12), SIM_OK, "no new table: fine");
    unmap_ok(&E.upt, UVA + K4, K4);
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert_eq(pt_init(&extra, &E.ctx, 4, &E.kpt, &E.err), SIM_ELIMIT);
    expect_unchanged(&s, &E.upt, va, 2, "table limit");
    env_done();
}

Test(pt, frame_limit_is_elimit_and_changes_nothing)
{
    u64 va[] = { UVA, UVA + M2 };
    struct snap s;

    E.fa.limit_frames = E.fa.nr_live + 3 + 600;
    map_ok(&E.upt, UVA, K4, 12, UFL);
    snap_take(&s, &E.upt, va, 2);
    cr_assert_eq(map_rc(&E.upt, UVA + M2, 2 * M2, 21), SIM_ELIMIT);
    cr_assert(strstr(E.err.msg, "frames") != NULL, "%s", E.err.msg);
    cr_assert_eq(map_rc(&E.upt, UVA + G1, G1, 30), SIM_ELIMIT);
    cr_assert_eq(map_rc(&E.upt, 0, 1ull << 46, 12), SIM_ELIMIT, "fails fast, no loop");
    expect_unchanged(&s, &E.upt, va, 2, "frame limit");
    map_ok(&E.upt, UVA + M2, M2, 21, UFL);
    cr_assert_eq(pt_migrate(&E.upt, UVA, G1, &E.g, &E.err), SIM_ELIMIT);
    cr_assert_eq(E.g.nr_frames, 0);
    env_done();
}

/* Tests below build their own environment (other MAXPHYADDR or levels). */
TestSuite(pt_env, .fini = teardown);

/* Use up 1G frames so that the limit (all of MAXPHYADDR) still says yes
 * while MAXPHYADDR has only `leave` aligned GiBs left: frame_get fails
 * half-way through and the operation must roll back.  36 bits = 64 GiB. */
static u64 eaten[64];
static size_t nr_eaten;

static void eat_1g_capacity(unsigned leave)
{
    u64 pfns[512];

    for (int k = 0; k < 512; k++)       /* 1 GiB of 2M units, freed again */
        cr_assert_eq(frame_get(&E.fa, FRAME_2M, &pfns[k], &E.err), SIM_OK);
    for (int k = 0; k < 512; k++)
        frame_put(&E.fa, FRAME_2M, pfns[k]);
    while (E.fa.max_pfn - E.fa.next_pfn >= (u64)(leave + 1) << 18)
        cr_assert_eq(frame_get(&E.fa, FRAME_1G, &eaten[nr_eaten++], &E.err), SIM_OK);
}

static void give_back_1g(void)
{
    while (nr_eaten)
        frame_put(&E.fa, FRAME_1G, eaten[--nr_eaten]);
}

Test(pt_env, maxphyaddr_exhaustion_rolls_map_back)
{
    u64 va[] = { UVA, UVA + G1, UVA + 2 * G1, UVA + 3 * G1 };
    u64 fresh = 0x0000100000000000ull;  /* a PML4 slot with no tables yet */
    struct snap s;

    env_setup(4, 36, 0, 0);
    map_ok(&E.upt, UVA, K4, 12, UFL);
    eat_1g_capacity(2);
    snap_take(&s, &E.upt, va, 4);
    cr_assert_eq(map_rc(&E.upt, UVA + G1, 3 * G1, 30), SIM_ELIMIT, "2 fit, the 3rd fails");
    cr_assert(strstr(E.err.msg, "MAXPHYADDR") != NULL, "%s", E.err.msg);
    expect_unchanged(&s, &E.upt, va, 4, "rolled back map");
    cr_assert_eq(map_rc(&E.upt, fresh, 3 * G1, 30), SIM_ELIMIT);
    cr_assert_null(pt_table_at(&E.upt, fresh, 3), "the new PDPT is rolled back too");
    expect_unchanged(&s, &E.upt, va, 4, "rolled back map with new tables");
    map_ok(&E.upt, UVA + G1, 2 * G1, 30, UFL);
    cr_assert(pt_check(&E.upt));
    give_back_1g();
    env_done();
}

Test(pt_env, maxphyaddr_exhaustion_rolls_migrate_back)
{
    u64 va[] = { UVA, UVA + G1, UVA + 2 * G1 };
    struct snap s;

    env_setup(4, 36, 0, 0);
    map_ok(&E.upt, UVA, K4, 12, UFL);
    map_ok(&E.upt, UVA + G1, 2 * G1, 30, UFL);
    eat_1g_capacity(1);
    snap_take(&s, &E.upt, va, 3);
    cr_assert_eq(pt_migrate(&E.upt, UVA, 3 * G1, &E.g, &E.err), SIM_ELIMIT,
                 "4K and one 1G move, the second 1G does not");
    expect_unchanged(&s, &E.upt, va, 3, "rolled back migrate");
    cr_assert_eq(E.g.start, E.g.end, "gather restored");
    cr_assert_eq(pt_migrate(&E.upt, UVA, 2 * G1, &E.g, &E.err), SIM_OK, "%s", E.err.msg);
    cr_assert_eq(E.g.nr_frames, 2);
    mmu_gather_finish(&E.ctx, &E.g);
    give_back_1g();
    env_done();
}

/* ---- 5-level paging ---- */

Test(pt_env, five_level_paging)
{
    u64 hi = 0x00aa000000000000ull;     /* needs LA57: above 2^47 */
    u64 khi = 0xff11000000000000ull;    /* LA57 direct map */
    struct pt four;
    unsigned lvl;

    env_setup(5, 52, 0, 0);
    cr_assert_eq(E.upt.va_bits, 57);
    map_ok(&E.upt, hi, K4, 12, UFL);
    map_ok(&E.upt, hi + G1, G1, 30, UFL);
    map_ok(&E.kpt, khi, M2, 21, PTE_RW);
    cr_assert(pt_walk(&E.upt, hi + 9, &lvl, NULL) && lvl == 1);
    cr_assert(pt_walk(&E.upt, hi + G1 + 9, &lvl, NULL) && lvl == 3);
    cr_assert(pt_walk(&E.upt, khi + 9, &lvl, NULL) && lvl == 2, "kernel via the PML5");
    cr_assert_eq(pt_table_at(&E.upt, hi, 5), E.upt.root);
    cr_assert_eq(pt_table_at(&E.upt, hi, 4)->level, 4);
    cr_assert_eq(pt_table_at(&E.upt, khi, 4), pt_table_at(&E.kpt, khi, 4));
    cr_assert_eq(map_rc(&E.upt, 0x0100000000000000ull, K4, 12), SIM_EINVAL, "not 57-bit canonical");
    cr_assert(pt_check(&E.upt) && pt_check(&E.kpt));
    unmap_ok(&E.upt, hi, 2 * G1);
    cr_assert_eq(E.g.nr_tables, 4, "PT, PD, PDPT and PML4 under the PML5");
    mmu_gather_finish(&E.ctx, &E.g);
    unmap_ok(&E.kpt, khi, M2);
    cr_assert_eq(E.g.nr_tables, 2, "PD, PDPT; the PML4 below the kernel PML5 stays");
    mmu_gather_finish(&E.ctx, &E.g);
    /* The same high address is not canonical with 4 levels. */
    {
        struct pt k4;

        cr_assert_eq(pt_init(&k4, &E.ctx, 4, NULL, &E.err), SIM_OK);
        cr_assert_eq(pt_init(&four, &E.ctx, 4, &k4, &E.err), SIM_OK);
        cr_assert_eq(map_rc(&four, hi, K4, 12), SIM_EINVAL);
        cr_assert_null(pt_walk(&four, hi, NULL, NULL));
        pt_destroy(&four);
        pt_destroy(&k4);
    }
    env_done();
}

/* ===== part 2: brute-force reference model ================================= */
/* The reference is two flat lists: the leaves (va, level, pfn, entry bits)
 * and the tables (level, base) that must exist.  Its rules come from the
 * contract in pt.h, written the slow and obvious way: linear scans, no
 * radix walk.  Tables: a leaf needs one table per level from its own up to
 * below the root; an unmap frees, deepest first, every table whose span it
 * touched and that no longer holds a leaf or a table (never the root, never
 * a table right below the kernel root). */

enum { REF_LEAVES = 4096, REF_TABLES = 2048, REF_PROBES = 64 };

struct ref_leaf { u64 va; unsigned level; u64 pfn, bits; };
struct ref_table { u64 base; unsigned level; };

struct ref {
    struct pt *pt;                      /* pt under test */
    struct pt *viewer;                  /* a user pt that must see kernel leaves, or NULL */
    u64 win, win_len;                   /* where ops land */
    bool kernel;                        /* pt is the kernel pt */
    struct ref_leaf leaf[REF_LEAVES];
    size_t nl;
    struct ref_table tab[REF_TABLES];
    size_t nt;
};

/* What the gather must hold after one op. */
struct ref_gather {
    u64 frames[REF_LEAVES];             /* pfn << 2 | order, any order */
    size_t nr_frames;
    u64 nr_ptes, nr_tables, start, end;
    unsigned stride;
};

static struct ref R;
static struct ref_gather X;
static u64 rng;

static u64 lsize(unsigned level) { return 1ull << (12 + 9 * (level - 1)); }
static u64 tspan(unsigned level) { return lsize(level + 1); }
static u64 last_of(u64 va, u64 len) { return va + len - 1; }

static bool spans_overlap(u64 a, u64 alast, u64 b, u64 blast)
{
    return a <= blast && b <= alast;
}

static long ref_leaf_at(u64 va)
{
    for (size_t k = 0; k < R.nl; k++)
        if (va >= R.leaf[k].va && va - R.leaf[k].va < lsize(R.leaf[k].level))
            return (long)k;
    return -1;
}

static long ref_table_find(unsigned level, u64 base)
{
    for (size_t k = 0; k < R.nt; k++)
        if (R.tab[k].level == level && R.tab[k].base == base)
            return (long)k;
    return -1;
}

static void ref_table_need(unsigned level, u64 va)
{
    u64 base = va & ~(tspan(level) - 1);

    if (ref_table_find(level, base) < 0) {
        cr_assert_lt(R.nt, REF_TABLES, "reference table list full");
        R.tab[R.nt++] = (struct ref_table){ base, level };
    }
}

/* The pt.h argument rules, restated. */
static bool ref_range_ok(u64 va, u64 len, u64 align)
{
    unsigned bits = R.pt->va_bits;

    if (!len || ((va | len) & (align - 1)) || va + len <= va)
        return false;
    if (!va_canonical(va, bits) || !va_canonical(last_of(va, len), bits))
        return false;
    return va_is_kernel(va) == R.kernel && va_is_kernel(last_of(va, len)) == R.kernel;
}

static void xg_reset(void)
{
    memset(&X, 0, sizeof(X));
    X.stride = 12;
}

static void xg_leaf(const struct ref_leaf *l, bool frame)
{
    u64 end = l->va + lsize(l->level);
    unsigned shift = 12 + 9 * (l->level - 1);

    if (frame)
        X.frames[X.nr_frames++] = l->pfn << 2 | (l->level - 1);
    X.stride = X.nr_ptes ? (shift < X.stride ? shift : X.stride) : shift;
    if (X.start == X.end) {
        X.start = l->va;
        X.end = end;
    } else {
        X.start = l->va < X.start ? l->va : X.start;
        X.end = end > X.end ? end : X.end;
    }
    X.nr_ptes++;
}

/* ---- the reference's operations: predicted rc, and the new state ---- */

static int ref_map_check(u64 va, u64 len, unsigned level)
{
    if (!ref_range_ok(va, len, lsize(level)))
        return SIM_EINVAL;
    for (size_t k = 0; k < R.nl; k++)
        if (spans_overlap(va, last_of(va, len), R.leaf[k].va,
                          R.leaf[k].va + lsize(R.leaf[k].level) - 1))
            return SIM_EEXIST;
    /* A huge leaf cannot go where a (possibly empty) table hangs. */
    for (u64 off = 0; level > 1 && off < len; off += lsize(level))
        if (ref_table_find(level - 1, va + off) >= 0)
            return SIM_EEXIST;
    return SIM_OK;
}

/* Record the leaves pt_map made (their frames come from the allocator, so
 * read them back) and the tables they need. */
static void ref_map_apply(u64 va, u64 len, unsigned level, u64 flags)
{
    for (u64 off = 0; off < len; off += lsize(level)) {
        u64 *e = pt_walk(R.pt, va + off, NULL, NULL);

        cr_assert_not_null(e, "mapped leaf 0x%llx missing", (unsigned long long)(va + off));
        cr_assert_lt(R.nl, REF_LEAVES, "reference leaf list full");
        R.leaf[R.nl++] = (struct ref_leaf){ va + off, level, (*e & PTE_PFN_MASK) >> 12,
                                            flags | PTE_P | (level > 1 ? PTE_PS : 0) };
        for (unsigned t = level; t < R.pt->levels; t++)
            ref_table_need(t, va + off);
    }
}

/* Leaves in [va, last]; SIM_EINVAL if one sticks out. */
static int ref_range_leaves(u64 va, u64 len)
{
    if (!ref_range_ok(va, len, K4))
        return SIM_EINVAL;
    for (size_t k = 0; k < R.nl; k++) {
        u64 a = R.leaf[k].va, alast = a + lsize(R.leaf[k].level) - 1;

        if (spans_overlap(va, last_of(va, len), a, alast) &&
            (a < va || alast > last_of(va, len)))
            return SIM_EINVAL;
    }
    return SIM_OK;
}

static bool ref_inside(const struct ref_leaf *l, u64 va, u64 len)
{
    return l->va >= va && l->va + lsize(l->level) - 1 <= last_of(va, len);
}

static bool ref_table_empty(const struct ref_table *t)
{
    u64 lo = t->base, hi = t->base + tspan(t->level) - 1;

    for (size_t k = 0; k < R.nl; k++)
        if (R.leaf[k].level == t->level && R.leaf[k].va >= lo && R.leaf[k].va <= hi)
            return false;
    for (size_t k = 0; k < R.nt; k++)
        if (R.tab[k].level == t->level - 1 && R.tab[k].base >= lo && R.tab[k].base <= hi)
            return false;
    return true;
}

static void ref_free_tables(u64 va, u64 len)
{
    for (unsigned level = 1; level < R.pt->levels; level++) {
        if (R.kernel && level == R.pt->levels - 1)
            break;                      /* shared below the kernel root */
        for (size_t k = 0; k < R.nt; k++) {
            struct ref_table *t = &R.tab[k];

            if (t->level != level || !spans_overlap(va, last_of(va, len), t->base,
                                                    t->base + tspan(level) - 1))
                continue;
            if (ref_table_empty(t)) {
                R.tab[k--] = R.tab[--R.nt];
                X.nr_tables++;
            }
        }
    }
}

static void ref_unmap(u64 va, u64 len, bool free_tables)
{
    for (size_t k = 0; k < R.nl; k++) {
        if (!ref_inside(&R.leaf[k], va, len))
            continue;
        xg_leaf(&R.leaf[k], true);
        R.leaf[k--] = R.leaf[--R.nl];
    }
    if (free_tables)
        ref_free_tables(va, len);
}

static bool ref_protect(u64 va, u64 len, u64 flags)
{
    bool reduced = false;

    for (size_t k = 0; k < R.nl; k++) {
        struct ref_leaf *l = &R.leaf[k];
        u64 nb = (l->bits & ~PROT) | (flags & PROT);

        if (!ref_inside(l, va, len) || nb == l->bits)
            continue;
        reduced |= ((l->bits & (PTE_RW | PTE_US)) & ~nb) || ((nb & PTE_NX) && !(l->bits & PTE_NX));
        l->bits = nb;
        xg_leaf(l, false);
    }
    return reduced;
}

/* New frames come from the allocator: read them back, they must differ. */
static void ref_migrate(u64 va, u64 len)
{
    for (size_t k = 0; k < R.nl; k++) {
        struct ref_leaf *l = &R.leaf[k];
        u64 *e;

        if (!ref_inside(l, va, len))
            continue;
        xg_leaf(l, true);
        e = pt_walk(R.pt, l->va, NULL, NULL);
        cr_assert_not_null(e);
        cr_assert_neq((*e & PTE_PFN_MASK) >> 12, l->pfn, "migrate kept the frame");
        l->pfn = (*e & PTE_PFN_MASK) >> 12;
    }
}

/* ---- comparison ---- */

static char why[256];

#define FAIL(...) do { snprintf(why, sizeof(why), __VA_ARGS__); return why; } while (0)

/* k: the reference leaf holding va if known, else -1 to search. */
static const char *cmp_one(u64 va, long k)
{
    unsigned lvl = 0;
    u64 *e = pt_walk(R.pt, va, &lvl, NULL);

    if (k < 0)
        k = ref_leaf_at(va);
    if (R.viewer && pt_walk(R.viewer, va, NULL, NULL) != e)
        FAIL("0x%llx: user pt sees another kernel entry", (unsigned long long)va);
    if (k < 0) {
        if (e)
            FAIL("0x%llx: mapped, reference says not", (unsigned long long)va);
        return NULL;
    }
    if (!e)
        FAIL("0x%llx: not mapped, reference says level %u", (unsigned long long)va,
             R.leaf[k].level);
    if (lvl != R.leaf[k].level || *e != (R.leaf[k].pfn << 12 | R.leaf[k].bits))
        FAIL("0x%llx: entry 0x%llx level %u, reference 0x%llx level %u",
             (unsigned long long)va, (unsigned long long)*e, lvl,
             (unsigned long long)(R.leaf[k].pfn << 12 | R.leaf[k].bits), R.leaf[k].level);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    u64 x = *(const u64 *)a, y = *(const u64 *)b;

    return (x > y) - (x < y);
}

/* Data frames and table frames are all distinct and the counts add up. */
static const char *cmp_frames(void)
{
    static u64 iv[REF_LEAVES + REF_TABLES][2];
    size_t n = 0;
    u64 frames = 0;

    for (size_t k = 0; k < R.nl; k++) {
        iv[n][0] = R.leaf[k].pfn;
        iv[n++][1] = lsize(R.leaf[k].level) >> 12;
        frames += lsize(R.leaf[k].level) >> 12;
    }
    for (size_t k = 0; k < R.nt; k++) {
        struct pt_page *t = pt_table_at(R.pt, R.tab[k].base, R.tab[k].level);

        if (!t || t->level != R.tab[k].level)
            FAIL("table level %u at 0x%llx missing", R.tab[k].level,
                 (unsigned long long)R.tab[k].base);
        iv[n][0] = t->pfn;
        iv[n++][1] = 1;
    }
    qsort(iv, n, sizeof(iv[0]), cmp_u64);
    for (size_t k = 1; k < n; k++)
        if (iv[k - 1][0] + iv[k - 1][1] > iv[k][0])
            FAIL("frame 0x%llx used twice", (unsigned long long)iv[k][0]);
    if (E.ctx.nr_table_pages != R.nt + 2)
        FAIL("%llu table pages, reference %zu + 2 roots",
             (unsigned long long)E.ctx.nr_table_pages, R.nt);
    if (E.fa.nr_live != frames + E.ctx.nr_table_pages)
        FAIL("%llu live frames, reference %llu", (unsigned long long)E.fa.nr_live,
             (unsigned long long)(frames + E.ctx.nr_table_pages));
    return NULL;
}

static const char *ref_compare(void)
{
    const char *w;

    if (!pt_check(R.pt) || (R.viewer && !pt_check(R.viewer)))
        FAIL("pt_check");
    for (size_t k = 0; k < R.nl; k++)
        if ((w = cmp_one(R.leaf[k].va + sim_rand_next(&rng) % lsize(R.leaf[k].level), (long)k)))
            return w;
    for (int k = 0; k < REF_PROBES; k++) {
        u64 r = sim_rand_next(&rng), va = R.win - M2 + r % (R.win_len + 2 * M2);

        if (va_canonical(va, R.pt->va_bits) && (w = cmp_one(va, -1)))
            return w;
    }
    return cmp_frames();
}

static void check_gather(int op, const struct mmu_gather *g)
{
    static u64 got[REF_LEAVES];

    cr_assert_eq(g->nr_frames, X.nr_frames, "op %d: gather frames", op);
    cr_assert_eq(g->nr_ptes, X.nr_ptes, "op %d: gather nr_ptes", op);
    cr_assert_eq(g->nr_tables, X.nr_tables, "op %d: gather tables", op);
    cr_assert_eq(g->freed_tables, X.nr_tables > 0, "op %d: freed_tables", op);
    cr_assert(g->start == X.start && g->end == X.end, "op %d: gather range", op);
    cr_assert_eq(g->stride_shift, X.stride, "op %d: stride", op);
    if (g->nr_frames)
        memcpy(got, g->frames, g->nr_frames * sizeof(*got));
    qsort(got, g->nr_frames, sizeof(*got), cmp_u64);
    qsort(X.frames, X.nr_frames, sizeof(*X.frames), cmp_u64);
    cr_assert_arr_eq(got, X.frames, X.nr_frames * sizeof(*got), "op %d: gathered frames", op);
}

/* After the flush: every gathered frame and table page moves one gen on. */
static void finish_gather(int op)
{
    static u64 pfn[REF_LEAVES];
    static u32 fgen[REF_LEAVES];
    static struct { struct pt_page *t; u32 gen; } tg[REF_TABLES];
    size_t nf = E.g.nr_frames, nt = 0;

    for (size_t k = 0; k < nf; k++) {
        pfn[k] = E.g.frames[k] >> 2;
        fgen[k] = frame_gen(&E.fa, pfn[k]);
    }
    for (struct pt_page *t = E.g.tables; t; t = t->next_free) {
        tg[nt].t = t;
        tg[nt++].gen = t->gen;
    }
    mmu_gather_finish(&E.ctx, &E.g);
    for (size_t k = 0; k < nf; k++)
        cr_assert_eq(frame_gen(&E.fa, pfn[k]), fgen[k] + 1, "op %d: frame gen not bumped", op);
    for (size_t k = 0; k < nt; k++)
        cr_assert_eq(tg[k].t->gen, tg[k].gen + 1, "op %d: table gen not bumped", op);
}

/* ---- random operations ---- */

enum op_kind { OP_MAP, OP_POPULATE, OP_UNMAP, OP_ZAP, OP_PROTECT, OP_MIGRATE };
static const char *const op_name[] = { "map", "populate", "unmap", "zap", "protect", "migrate" };

struct rop {
    enum op_kind kind;
    u64 va, len, flags;
    unsigned shift;
    bool populate;
};

static u64 rnd(u64 n) { return sim_rand_next(&rng) % n; }

static unsigned rand_shift(void)
{
    u64 r = rnd(10);

    return r < 6 ? 12 : r < 9 ? 21 : 30;
}

static u64 rand_va(unsigned align)
{
    return R.win + (rnd(R.win_len) & ~((1ull << align) - 1));
}

static u64 rand_flags(void)
{
    u64 r = rnd(16);

    return (r & 1 ? PTE_RW : 0) | (r & 2 ? PTE_NX : 0) | (r & 4 ? PTE_G : 0) |
           (!R.kernel && r != 8 ? PTE_US : 0);
}

/* Break an argument so the op must fail with SIM_EINVAL. */
static void rand_invalid(struct rop *o)
{
    switch (rnd(4)) {
    case 0: o->va += 0x800; break;
    case 1: o->len = 0; break;
    case 2: o->va = R.kernel ? UVA : KVA; break;
    default: o->va ^= 1ull << (R.pt->va_bits - 1); break;   /* not canonical */
    }
}

static struct rop rand_op(void)
{
    struct rop o = { .kind = (enum op_kind)rnd(6), .flags = rand_flags() };
    u64 r = rnd(100);

    if (r < 30 || (r < 40 && o.kind == OP_POPULATE))
        o.kind = OP_MAP;
    if (R.nl > REF_LEAVES - 64 && o.kind <= OP_POPULATE)
        o.kind = OP_UNMAP;
    o.shift = rand_shift();
    if (o.kind <= OP_POPULATE) {
        o.va = rand_va(o.shift);
        o.len = (1 + rnd(o.shift == 12 ? 16 : o.shift == 21 ? 3 : 2)) << o.shift;
        o.populate = rnd(8) != 0;
    } else {
        o.va = rand_va(rand_shift());
        o.len = (1 + rnd(o.shift == 12 ? 64 : o.shift == 21 ? 4 : 2)) << o.shift;
    }
    if (rnd(20) == 0)
        rand_invalid(&o);
    return o;
}

static int run_map(const struct rop *o)
{
    u64 va = o->va, len = o->len;
    unsigned level = (o->shift - 12) / 9 + 1;
    bool populate = o->populate;
    int want, rc;

    if (o->kind == OP_POPULATE) {
        va &= ~(lsize(level) - 1);
        len = lsize(level);
        populate = true;
        rc = pt_populate(R.pt, o->va, o->shift, o->flags, &E.err);
    } else {
        rc = pt_map(R.pt, va, len, o->shift, o->flags, populate, &E.err);
    }
    want = ref_map_check(va, len, level);
    if (!rc && !want && populate)
        ref_map_apply(va, len, level, o->flags);
    return rc == want ? rc : 1000 + want;
}

static int run_range(const struct rop *o)
{
    int want = ref_range_leaves(o->va, o->len), rc = SIM_OK;
    bool reduced = false;

    switch (o->kind) {
    case OP_UNMAP: rc = pt_unmap(R.pt, o->va, o->len, &E.g, &E.err); break;
    case OP_ZAP: rc = pt_zap(R.pt, o->va, o->len, &E.g, &E.err); break;
    case OP_PROTECT: rc = pt_protect(R.pt, o->va, o->len, o->flags, &reduced, &E.g, &E.err); break;
    default: rc = pt_migrate(R.pt, o->va, o->len, &E.g, &E.err); break;
    }
    if (rc != want)
        return 1000 + want;
    if (rc)
        return rc;
    if (o->kind == OP_UNMAP || o->kind == OP_ZAP)
        ref_unmap(o->va, o->len, o->kind == OP_UNMAP);
    else if (o->kind == OP_MIGRATE)
        ref_migrate(o->va, o->len);
    else if (ref_protect(o->va, o->len, o->flags) != reduced)
        return 2000;
    return SIM_OK;
}

static void run_op(int op, const struct rop *o)
{
    const char *w;
    int rc;

    xg_reset();
    rc = o->kind <= OP_POPULATE ? run_map(o) : run_range(o);
    cr_assert_lt(rc, 1000, "op %d %s 0x%llx+0x%llx shift %u: reference wants %d (%s)", op,
                 op_name[o->kind], (unsigned long long)o->va, (unsigned long long)o->len,
                 o->shift, rc - 1000, E.err.msg);
    check_gather(op, &E.g);
    finish_gather(op);
    w = ref_compare();
    cr_assert_null(w, "op %d %s 0x%llx+0x%llx: %s", op, op_name[o->kind],
                   (unsigned long long)o->va, (unsigned long long)o->len, w);
}

/* win: 4 GiB placed across a top-level boundary, so upper tables come and
 * go too. */
static void ref_run(unsigned levels, bool kernel, u64 win, u64 seed, int ops)
{
    env_setup(levels, levels == 5 ? 52 : 46, 0, 0);
    memset(&R, 0, sizeof(R));
    R.pt = kernel ? &E.kpt : &E.upt;
    R.viewer = kernel ? &E.upt : NULL;
    R.kernel = kernel;
    R.win = win;
    R.win_len = 4 * G1;
    rng = seed;
    for (int op = 0; op < ops; op++) {
        struct rop o = rand_op();

        run_op(op, &o);
    }
}

#define PML4_SPAN (1ull << 39)

Test(pt_env, reference_user_4level, .timeout = 20)
{
    ref_run(4, false, 0x00007f8000000000ull - 2 * G1, 1, 1200);
    env_done();
}

Test(pt_env, reference_kernel_4level, .timeout = 20)
{
    ref_run(4, true, KVA + PML4_SPAN - 2 * G1, 2, 1000);
    env_done();
}

Test(pt_env, reference_user_5level, .timeout = 20)
{
    ref_run(5, false, 0x00ab000000000000ull - 2 * G1, 3, 800);
    env_done();
}

Test(pt_env, reference_kernel_5level, .timeout = 20)
{
    ref_run(5, true, 0xff12000000000000ull - 2 * G1, 4, 800);
    env_done();
}

/* The comparison must be able to fail: corrupt the tables (and the
 * reference) on purpose and expect it to notice, then undo. */
Test(pt_env, ref_selftest_catches_injected_faults)
{
    struct pt_page *t;
    struct ref_leaf l;
    u64 *e, saved;

    ref_run(4, false, UVA, 5, 300);
    cr_assert_gt(R.nl, 0, "the run left some leaves");
    e = pt_walk(R.pt, R.leaf[0].va, NULL, &t);
    saved = *e;
    *e ^= PTE_NX;
    cr_assert_not_null(ref_compare(), "a changed permission must be noticed");
    *e = saved ^ lsize(R.leaf[0].level);        /* a neighbouring, aligned frame */
    cr_assert_not_null(ref_compare(), "a changed frame must be noticed");
    *e = saved;
    cr_assert_null(ref_compare());
    t->nr_present++;
    cr_assert_not_null(ref_compare(), "pt_check sees a wrong count");
    t->nr_present--;
    l = R.leaf[0];
    R.leaf[0] = R.leaf[--R.nl];
    cr_assert_not_null(ref_compare(), "a leaf the reference lost must be noticed");
    R.leaf[R.nl++] = l;
    cr_assert_null(ref_compare());
    env_done();
}
