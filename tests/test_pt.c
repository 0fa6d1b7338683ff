/* tests/test_pt.c - x86-64 page tables (models/pt.c).
 *
 * Part 1: unit tests, one behaviour each (leaf formats, errors, gathers,
 * kernel sharing, limits, rollback, 5-level paging).
 * Part 2, the brute-force reference model, is tests/test_pt_ref.c.
 */
#include <criterion/criterion.h>

#include "../models/pt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_pt.h"

struct pt_env_s E;
static bool env_live;                   /* E is set up and not yet released */

void pt_env_setup(unsigned levels, unsigned maxphy, u64 max_frames, u64 max_tables)
{
    memset(&E, 0, sizeof(E));
    cr_assert_eq(frame_alloc_init(&E.fa, maxphy, max_frames, &E.err), SIM_OK, "%s", E.err.msg);
    cr_assert_eq(pt_ctx_init(&E.ctx, &E.fa, max_tables), SIM_OK);
    cr_assert_eq(pt_init(&E.kpt, &E.ctx, levels, NULL, &E.err), SIM_OK, "%s", E.err.msg);
    cr_assert_eq(pt_init(&E.upt, &E.ctx, levels, &E.kpt, &E.err), SIM_OK, "%s", E.err.msg);
    mmu_gather_init(&E.g);
    env_live = true;
}

static void setup4(void) { pt_env_setup(4, 46, 0, 0); }

/* Release the environment; report what was still live.  Criterion ignores
 * assertions in .fini, so each test ends with pt_env_done(), which asserts
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

void pt_env_done(void)
{
    env_release();
    cr_assert_eq(leaked_tables, 0, "table pages leaked: %llu", (unsigned long long)leaked_tables);
    cr_assert_eq(leaked_frames, 0, "frames leaked: %llu", (unsigned long long)leaked_frames);
}

void pt_env_teardown(void)
{
    env_release();
}

TestSuite(pt, .init = setup4, .fini = pt_env_teardown);

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
    cr_assert_eq(*e & ~PTE_ADDR_MASK, PTE_P | UFL | PTE_NX, "no A/D/PS on a new PTE");
    cr_assert_eq(pt_page_of(e), tab, "pt_page_of(ptep) finds the table page");
    e = pt_walk(&E.upt, UVA + M2 + 12345, &lvl, &tab);
    cr_assert(e && lvl == 2 && tab->level == 2);
    cr_assert_eq(*e & ~PTE_ADDR_MASK, PTE_P | PTE_US | PTE_PS);
    cr_assert_eq((*e >> 12) & 511, 0, "2M frame aligned");
    e = pt_walk(&E.upt, UVA + G1 + G1 - 1, &lvl, &tab);
    cr_assert(e && lvl == 3 && tab->level == 3);
    cr_assert_eq(*e & ~PTE_ADDR_MASK, PTE_P | UFL | PTE_G | PTE_PS);
    cr_assert_eq((*e >> 12) & (G1 / K4 - 1), 0, "1G frame aligned");
    cr_assert_null(pt_walk(&E.upt, UVA + 2 * K4, NULL, NULL));
    cr_assert_null(pt_walk(&E.upt, UVA + 2 * G1, NULL, NULL));
    /* tables: PDPT, PD, PT + the 1G leaf's PDPT is shared: 3 + roots. */
    cr_assert_eq(E.ctx.nr_table_pages, 2 + 3);
    cr_assert_eq(E.fa.nr_live, 2 + 512 + G1 / K4 + E.ctx.nr_table_pages);
    pt_env_done();
}

/* The second child table of a table brings a unit of child pointers; the
 * first one moves into it, and unmapping keeps both reachable until gone. */
Test(pt, second_child_table_gets_a_pointer_unit)
{
    struct pt_page *pd, *pt_a, *pt_b;

    map_ok(&E.upt, UVA, K4, 12, UFL);
    pd = pt_table_at(&E.upt, UVA, 2);
    pt_a = pt_table_at(&E.upt, UVA, 1);
    cr_assert(pd && !pd->child && pd->child1 == pt_a);
    map_ok(&E.upt, UVA + 5 * M2, K4, 12, UFL);
    pt_b = pt_table_at(&E.upt, UVA + 5 * M2, 1);
    cr_assert(pd->child && !pd->child1, "two children: pointer unit");
    cr_assert_eq(pt_child(pd, pt_index(UVA, 2)), pt_a);
    cr_assert_eq(pt_child(pd, pt_index(UVA + 5 * M2, 2)), pt_b);
    cr_assert_null(pt_child(pd, pt_index(UVA + M2, 2)));
    cr_assert_eq(pt_page_of(&pt_b->e[7]), pt_b);
    cr_assert(pt_check(&E.upt));
    unmap_ok(&E.upt, UVA, K4);
    cr_assert_null(pt_child(pd, pt_index(UVA, 2)));
    cr_assert_eq(pt_child(pd, pt_index(UVA + 5 * M2, 2)), pt_b);
    cr_assert(pt_check(&E.upt));
    mmu_gather_finish(&E.ctx, &E.g);
    pt_env_done();
}

Test(pt, non_leaf_entries_point_at_their_tables)
{
    struct pt_page *pd, *ptt;

    map_ok(&E.upt, UVA, K4, 12, UFL);
    pd = pt_table_at(&E.upt, UVA, 2);
    ptt = pt_table_at(&E.upt, UVA, 1);
    cr_assert(pd && ptt && pd->level == 2 && ptt->level == 1);
    cr_assert_eq(pd->e[pt_index(UVA, 2)], ptt->pfn << 12 | PTE_P | PTE_RW | PTE_US | PTE_A);
    cr_assert_eq(pt_child(pd, pt_index(UVA, 2)), ptt);
    cr_assert_null(pd->child, "one child: no pointer unit yet");
    cr_assert_eq(pd->nr_present, 1);
    cr_assert_eq(pt_table_at(&E.upt, UVA, 4), E.upt.root);
    cr_assert_null(pt_table_at(&E.upt, UVA + G1, 1), "absent path");
    cr_assert_null(pt_table_at(&E.upt, UVA, 0));
    cr_assert_null(pt_table_at(&E.upt, UVA, 5));
    map_ok(&E.upt, UVA + M2, M2, 21, UFL);
    cr_assert_null(pt_table_at(&E.upt, UVA + M2, 1), "path ends in a 2M leaf");
    pt_env_done();
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
    pt_env_done();
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
    pt_env_done();
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
    pt_env_done();
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
    pt_env_done();
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
    pt_env_done();
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
    pt_env_done();
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
    pt_env_done();
}

Test(pt, finish_bumps_frame_and_table_generations)
{
    struct pt_page *ptt;
    u64 pfn, tpfn;
    u32 tgen;

    map_ok(&E.upt, UVA, K4, 12, UFL);
    pfn = pte_pfn(&E.fa, *pt_walk(&E.upt, UVA, NULL, &ptt));
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
    pt_env_done();
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
    cr_assert_eq(*e & ~PTE_ADDR_MASK, PTE_P | PTE_RW);
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert_eq(pt_protect(&E.upt, UVA, K4, PTE_RW | PTE_G, &reduced, &E.g, &E.err), SIM_OK);
    cr_assert(!reduced && E.g.nr_ptes == 0, "G is not a permission: nothing changed");
    cr_assert(pt_check(&E.upt));
    pt_env_done();
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
    cr_assert_neq(pte_pfn(&E.fa, *e), pte_pfn(&E.fa, old4k));
    cr_assert_eq(*e & ~PTE_ADDR_MASK, old4k & ~PTE_ADDR_MASK, "flags and A/D kept");
    e = pt_walk(&E.upt, UVA + M2, NULL, NULL);
    cr_assert_neq(pte_pfn(&E.fa, *e), pte_pfn(&E.fa, old2m));
    cr_assert_eq((*e >> 12) & 511, 0, "new 2M frame aligned");
    cr_assert(E.g.nr_frames == 2 && E.g.nr_ptes == 2 && !E.g.freed_tables);
    cr_assert_eq(E.g.frames[0], pte_pfn(&E.fa, old4k) << 2 | FRAME_4K);
    cr_assert_eq(E.g.frames[1], pte_pfn(&E.fa, old2m) << 2 | FRAME_2M);
    mmu_gather_finish(&E.ctx, &E.g);
    cr_assert_eq(frame_gen(&E.fa, pte_pfn(&E.fa, old4k)), 1);
    cr_assert(pt_check(&E.upt));
    pt_env_done();
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
    pt_env_done();
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
    pt_env_done();
}

Test(pt, init_checks_kernel_pt)
{
    struct pt bad;

    cr_assert_eq(pt_init(&bad, &E.ctx, 3, NULL, &E.err), SIM_EINVAL);
    cr_assert_eq(pt_init(&bad, &E.ctx, 5, &E.kpt, &E.err), SIM_EINVAL, "levels differ");
    cr_assert_eq(pt_init(&bad, &E.ctx, 4, &E.upt, &E.err), SIM_EINVAL, "not a kernel pt");
    pt_env_done();
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
    pt_env_done();
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
    pt_env_done();
}

/* Tests below build their own environment (other MAXPHYADDR or levels). */
TestSuite(pt_env, .fini = pt_env_teardown);

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

    pt_env_setup(4, 36, 0, 0);
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
    pt_env_done();
}

Test(pt_env, maxphyaddr_exhaustion_rolls_migrate_back)
{
    u64 va[] = { UVA, UVA + G1, UVA + 2 * G1 };
    struct snap s;

    pt_env_setup(4, 36, 0, 0);
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
    pt_env_done();
}

/* ---- 5-level paging ---- */

Test(pt_env, five_level_paging)
{
    u64 hi = 0x00aa000000000000ull;     /* needs LA57: above 2^47 */
    u64 khi = 0xff11000000000000ull;    /* LA57 direct map */
    struct pt four;
    unsigned lvl;

    pt_env_setup(5, 52, 0, 0);
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
    pt_env_done();
}
