/* tests/test_cpu.c - the walker and the TLB hierarchy of one CPU against
 * a brute-force translation of the page tables, paging-structure caches
 * shortening walks, and what INVLPG and CR3 writes invalidate. */
#include <criterion/criterion.h>
#include <string.h>

#include "../models/cpu.h"
#include "../models/mm.h"

struct env {
    struct machine m;
    struct frame_alloc fa;
    struct pt_ctx ptc;
    struct mm init, a, b;
    struct cpu c;
    struct sim_err err;
};

static struct env E;

static void setup(void)
{
    memset(&E, 0, sizeof(E));
    machine_init(&E.m);
    cr_assert_eq(frame_alloc_init(&E.fa, 46, 0, &E.err), 0, "%s", E.err.msg);
    cr_assert_eq(pt_ctx_init(&E.ptc, &E.fa, 0), 0);
    cr_assert_eq(mm_init(&E.init, -1, 0, 1, &E.ptc, &E.m, NULL, &E.err), 0, "%s", E.err.msg);
    cr_assert_eq(mm_init(&E.a, 1, 1, 2, &E.ptc, &E.m, &E.init, &E.err), 0, "%s", E.err.msg);
    cr_assert_eq(mm_init(&E.b, 2, 2, 3, &E.ptc, &E.m, &E.init, &E.err), 0, "%s", E.err.msg);
    cr_assert_eq(cpu_init(&E.c, 0, &E.m, &E.fa, &E.init, &E.err), 0, "%s", E.err.msg);
    cpu_write_cr3(&E.c, &E.a);
}

static void teardown(void)
{
    cpu_destroy(&E.c);
    mm_destroy(&E.a);
    mm_destroy(&E.b);
    mm_destroy(&E.init);
    pt_ctx_destroy(&E.ptc);
    frame_alloc_destroy(&E.fa);
}

TestSuite(cpu, .init = setup, .fini = teardown);

#define K4 0x1000ull
#define M2 0x200000ull
#define G1 0x40000000ull

static void map(struct mm *mm, u64 va, u64 len, unsigned shift, unsigned prot, bool global)
{
    cr_assert_eq(mm_map(mm, va, len, shift, prot, true, global, &E.err), 0, "%s", E.err.msg);
}

/* The TLB entry a reference filled must hold the translation a
 * brute-force walk finds: same leaf, same frame, same size. */
static void expect_translation(u64 va)
{
    unsigned level;
    struct pt_page *table;
    u64 *leaf = pt_walk(&E.c.loaded_mm->pt, va, &level, &table);
    struct tlb *l1 = &E.c.l1d[level - 1];
    struct tlb_entry *e = tlb_lookup(l1, va);

    cr_assert(leaf, "0x%llx mapped", (unsigned long long)va);
    cr_assert(e, "0x%llx in the L1 DTLB for its size", (unsigned long long)va);
    cr_expect_eq(e->ptep, leaf);
    cr_expect_eq(e->pte & PTE_ADDR_MASK, *leaf & PTE_ADDR_MASK);
    cr_expect_eq(e->shift, 12 + 9 * (level - 1));
}

Test(cpu, walker_matches_brute_force_for_every_page_size)
{
    u64 x = 7;

    map(&E.a, 0x10000000, 64 * K4, 12, 3, false);
    map(&E.a, 0x40000000, 8 * M2, 21, 3, false);
    map(&E.a, 0x80000000, 2 * G1, 30, 3, false);
    for (int i = 0; i < 2000; i++) {
        u64 va;
        x = x * 6364136223846793005ull + 1;
        switch ((x >> 40) % 3) {
        case 0:  va = 0x10000000 + ((x >> 8) % (64 * K4)); break;
        case 1:  va = 0x40000000 + ((x >> 8) % (8 * M2)); break;
        default: va = 0x80000000 + ((x >> 8) % (2 * G1)); break;
        }
        cpu_access(&E.c, va, (x >> 50) & 1 ? 'w' : 'r');
        expect_translation(va);
    }
    cr_expect_eq(E.c.st.bad_accesses, 0);
    cr_expect_eq(E.c.st.stale_accesses, 0);
    cr_expect(cpu_check(&E.c));
}

Test(cpu, paging_structure_caches_shorten_walks)
{
    const u32 *lc = E.m.walk_level_cycles;
    u64 before;

    map(&E.a, 0x10000000, 16 * K4, 12, 3, false);
    cpu_access(&E.c, 0x10000000, 'r');
    cr_expect_eq(E.c.st.walk_cycles, lc[4] + lc[3] + lc[2] + lc[1], "cold: four levels");
    before = E.c.st.walk_cycles;
    cpu_access(&E.c, 0x10001000, 'r');          /* same 2M region: PDE cache hit */
    cr_expect_eq(E.c.st.walk_cycles - before, lc[1], "PDE cached: the PTE alone");
    cr_expect_eq(E.c.st.psc_hits[2], 1);
    /* Another 2M region of the same 1G: the PDPTE cache gives the PD. */
    map(&E.a, 0x10200000, K4, 12, 3, false);
    before = E.c.st.walk_cycles;
    cpu_access(&E.c, 0x10200000, 'r');
    cr_expect_eq(E.c.st.walk_cycles - before, lc[2] + lc[1], "PDPTE cached: PDE and PTE");
    cr_expect_eq(E.c.st.psc_hits[3], 1);
}

Test(cpu, invlpg_drops_the_page_and_every_psc_entry)
{
    const u32 *lc = E.m.walk_level_cycles;
    u64 before, misses;

    map(&E.a, 0x10000000, 16 * K4, 12, 3, false);
    cpu_access(&E.c, 0x10000000, 'r');
    cpu_access(&E.c, 0x10001000, 'r');
    cpu_invlpg(&E.c, 0x10000000);
    misses = E.c.st.l1d_misses;
    cpu_access(&E.c, 0x10001000, 'r');
    cr_expect_eq(E.c.st.l1d_misses, misses, "the other page still hits");
    before = E.c.st.walk_cycles;
    cpu_access(&E.c, 0x10000000, 'r');
    cr_expect_eq(E.c.st.l1d_misses, misses + 1, "the invalidated page misses");
    cr_expect_eq(E.c.st.stlb_misses, 3, "in the STLB too");
    cr_expect_eq(E.c.st.walk_cycles - before, lc[4] + lc[3] + lc[2] + lc[1],
                 "SDM 4.10.4.1: INVLPG emptied the paging-structure caches");
}

Test(cpu, invlpg_drops_a_2m_entry_covering_the_address)
{
    u64 misses;

    map(&E.a, 0x40000000, M2, 21, 3, false);
    cpu_access(&E.c, 0x40000000, 'r');
    cpu_invlpg(&E.c, 0x40123000);
    misses = E.c.st.l1d_misses;
    cpu_access(&E.c, 0x40000000, 'r');
    cr_expect_eq(E.c.st.l1d_misses, misses + 1);
}

Test(cpu, cr3_write_keeps_only_global_entries)
{
    const u32 *lc = E.m.walk_level_cycles;
    u64 hits, before;

    map(&E.init, 0xffffffff81000000ull, K4, 12, 5, true);     /* global, rx */
    map(&E.init, 0xffffffff82000000ull, K4, 12, 3, false);    /* not global */
    map(&E.a, 0x10000000, K4, 12, 3, false);
    map(&E.b, 0x10000000, K4, 12, 3, false);
    cpu_access(&E.c, 0xffffffff81000000ull, 'r');
    cpu_access(&E.c, 0xffffffff82000000ull, 'r');
    cpu_access(&E.c, 0x10000000, 'r');
    cpu_write_cr3(&E.c, &E.b);
    hits = E.c.st.l1d_hits;
    cpu_access(&E.c, 0xffffffff81000000ull, 'r');
    cr_expect_eq(E.c.st.l1d_hits, hits + 1, "global entry survived");
    cpu_access(&E.c, 0xffffffff82000000ull, 'r');
    cr_expect_eq(E.c.st.l1d_hits, hits + 1, "non-global kernel entry dropped");
    before = E.c.st.walk_cycles;
    cpu_access(&E.c, 0x10000000, 'r');
    cr_expect_eq(E.c.st.l1d_hits, hits + 1, "user entry dropped");
    cr_expect_eq(E.c.st.walk_cycles - before, lc[4] + lc[3] + lc[2] + lc[1],
                 "the PSCs were emptied too");
    expect_translation(0x10000000);     /* mm b's frame, not mm a's */
    cpu_flush_tlb_global(&E.c);
    cpu_access(&E.c, 0xffffffff81000000ull, 'r');
    cr_expect_eq(E.c.st.l1d_hits, hits + 1, "a global flush drops globals too");
}

/* A write through a read-only entry that only needs a re-check (something
 * else in the address space changed) is one protection fault while the page
 * is still read-only: not also a "spurious" fault of an upgrade that did not
 * happen, and the fault is charged once. */
Test(cpu, recheck_of_a_read_only_entry_faults_once)
{
    u32 plain, cost;

    map(&E.a, 0x10000000, K4, 12, 1, false);                  /* read-only */
    cpu_access(&E.c, 0x10000000, 'r');
    plain = cpu_access(&E.c, 0x10000000, 'w');                /* fault, no re-check */
    mm_pte_changed(&E.a);               /* an unrelated PTE of the mm changed */
    cost = cpu_access(&E.c, 0x10000000, 'w');
    cr_expect_eq(E.c.st.bad_accesses, 2);
    cr_expect_eq(E.c.st.spurious_faults, 0);
    cr_expect_eq(cost, plain, "one fault_cycles, not two");
    /* A real upgrade (the page became writable) is one spurious fault. */
    map(&E.a, 0x20000000, K4, 12, 1, false);
    cpu_access(&E.c, 0x20000000, 'r');
    *pt_walk(&E.a.pt, 0x20000000, NULL, NULL) |= PTE_RW;
    mm_pte_changed(&E.a);
    cost = cpu_access(&E.c, 0x20000000, 'w');
    cr_expect_eq(E.c.st.spurious_faults, 1);
    cr_expect_eq(E.c.st.bad_accesses, 2);
}

Test(cpu, permissions_dirty_assist_and_faults)
{
    map(&E.a, 0x10000000, K4, 12, 1, false);                  /* read-only */
    cpu_access(&E.c, 0x10000000, 'r');
    cpu_access(&E.c, 0x10000000, 'w');
    cr_expect_eq(E.c.st.bad_accesses, 1, "write to a read-only page");
    cpu_access(&E.c, 0x10000000, 'x');
    cr_expect_eq(E.c.st.bad_accesses, 2, "fetch from an NX page");
    map(&E.a, 0x20000000, K4, 12, 3, false);
    cpu_access(&E.c, 0x20000000, 'r');
    cpu_access(&E.c, 0x20000000, 'w');
    cr_expect_eq(E.c.st.setad_assists, 1, "first write through a clean entry");
    cpu_access(&E.c, 0x20000000, 'w');
    cr_expect_eq(E.c.st.setad_assists, 1);
    cpu_access(&E.c, 0x30000000, 'r');
    cr_expect_eq(E.c.st.bad_accesses, 3, "no mapping at all");
    cr_assert_eq(mm_map(&E.a, 0x50000000, 4 * K4, 12, 3, false, false, &E.err), 0);
    cpu_access(&E.c, 0x50001000, 'w');
    cr_expect_eq(E.c.st.page_faults, 1, "populate:false faults in on first touch");
    expect_translation(0x50001000);
}
