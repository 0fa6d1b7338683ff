/* tests/test_ept_walk.c - two-dimensional walks (virt.ept, models/cpu.c):
 * reference counts worked out by hand, the combined TLB entry size for
 * every guest/host page-size pair, EPT violations, and the walker against
 * a brute-force 2D walker on random mappings. */
#include <criterion/criterion.h>
#include <string.h>

#include "../models/cpu.h"
#include "../models/mm.h"

#define K4 0x1000ull
#define M2 0x200000ull
#define G1 0x40000000ull
#define VA 0x100000000000ull            /* user address, 1G aligned */

struct env {
    struct machine m;
    struct frame_alloc fa;
    struct pt_ctx ptc;
    struct ept ept;
    struct mm init, a;
    struct cpu c;
    struct sim_err err;
    bool up;
};

static struct env E;

static void machine_ept(struct machine *m, unsigned glevels, unsigned elevels, bool pscs)
{
    machine_init(m);
    m->virt = true;
    m->ept = true;
    m->paging_levels = glevels;
    m->ept_levels = elevels;
    m->maxphyaddr = glevels == 5 || elevels == 5 ? 52 : 46;
    if (!pscs) {
        m->psc_pml5.entries = m->psc_pml4.entries = m->psc_pdpt.entries = m->psc_pd.entries = 0;
        m->ept_psc_pml5.entries = m->ept_psc_pml4.entries = 0;
        m->ept_psc_pdpt.entries = m->ept_psc_pd.entries = 0;
    }
}

static void up(void)
{
    struct machine *m = &E.m;

    cr_assert_eq(frame_alloc_init(&E.fa, machine_phys_bits(m), 0, &E.err), 0, "%s", E.err.msg);
    cr_assert_eq(pt_ctx_init(&E.ptc, &E.fa, 0), 0);
    cr_assert_eq(ept_init(&E.ept, m, &E.err), 0, "%s", E.err.msg);
    cr_assert_eq(mm_init(&E.init, -1, 0, 1, &E.ptc, m, NULL, &E.err), 0, "%s", E.err.msg);
    cr_assert_eq(mm_init(&E.a, 1, 1, 2, &E.ptc, m, &E.init, &E.err), 0, "%s", E.err.msg);
    cr_assert_eq(cpu_init(&E.c, 0, m, &E.fa, &E.init, &E.err), 0, "%s", E.err.msg);
    cr_assert_eq(cpu_set_ept(&E.c, &E.ept, &E.err), 0, "%s", E.err.msg);
    cpu_write_cr3(&E.c, &E.a);
    E.up = true;
}

static void setup(void)
{
    memset(&E, 0, sizeof(E));
    machine_ept(&E.m, 4, 4, true);
}

static void teardown(void)
{
    if (!E.up)
        return;
    cr_expect(cpu_check(&E.c));
    cr_expect(ept_check(&E.ept));
    cpu_destroy(&E.c);
    mm_destroy(&E.a);
    mm_destroy(&E.init);
    ept_destroy(&E.ept);
    pt_ctx_destroy(&E.ptc);
    frame_alloc_destroy(&E.fa);
}

TestSuite(ept_walk, .init = setup, .fini = teardown);

static void map(u64 va, u64 len, unsigned shift)
{
    cr_assert_eq(mm_map(&E.a, va, len, shift, 3 /* r, w */, true, false, &E.err), 0,
                 "%s", E.err.msg);
}

static void ept_map_ok(u64 gpa, u64 len, unsigned shift)
{
    cr_assert_eq(ept_map(&E.ept, gpa, len, shift, &E.err), 0, "%s", E.err.msg);
}

/* Entries read by the walks of one reference (both dimensions). */
static u64 refs_of(u64 va)
{
    u64 before = E.c.st.walk_refs + E.c.st.ept_walk_refs;

    cpu_access(&E.c, va, 'r');
    return E.c.st.walk_refs + E.c.st.ept_walk_refs - before;
}

/* Cold, no caches: (g + 1)(e + 1) - 1 entries. */
static void cold_count(unsigned g, unsigned e, u64 want)
{
    machine_ept(&E.m, g, e, false);
    up();
    map(VA, K4, 12);
    ept_map_ok(0, 64 * M2, 12);         /* every guest frame, 4K EPT leaves */
    cr_expect_eq(refs_of(VA), want, "%u on %u", g, e);
    cr_expect_eq(E.c.st.walk_refs, g);
    cr_expect_eq(E.c.st.ept_walk_refs, want - g);
    cr_expect_eq(E.c.st.ept_violations, 0);
    /* Without PSCs every walk is cold: the next page costs as much. */
    map(VA + K4, K4, 12);
    cpu_flush_tlb_local(&E.c);
    cr_expect_eq(refs_of(VA + K4), want);
}

Test(ept_walk, cold_4_on_4_is_24) { cold_count(4, 4, 24); }
Test(ept_walk, cold_4_on_5_is_29) { cold_count(4, 5, 29); }
Test(ept_walk, cold_5_on_4_is_29) { cold_count(5, 4, 29); }
Test(ept_walk, cold_5_on_5_is_35) { cold_count(5, 5, 35); }

/* The cycles of that cold walk: 4 guest entries at walk.* and 20 EPT
 * entries at ept.*: per guest level, the EPT PML4E, PDPTE, PDE and PTE. */
Test(ept_walk, cold_cycles_term_by_term)
{
    machine_ept(&E.m, 4, 4, false);
    up();
    map(VA, K4, 12);
    ept_map_ok(0, 64 * M2, 12);
    u64 ept_one = 4 + 4 + 12 + 20;                     /* one EPT translation: 40 */
    u64 guest = 4 + 4 + 12 + 20;                       /* PML4E, PDPTE, PDE, PTE: 40 */
    cr_expect_eq(cpu_access(&E.c, VA, 'r'),
                 1 + E.m.stlb_hit_cycles + guest + 5 * ept_one);   /* 1 + 9 + 40 + 200 */
    cr_expect_eq(E.c.st.walk_cycles, guest + 5 * ept_one);
    cr_expect_eq(E.c.st.ept_walk_cycles, 5 * ept_one);
}

/* With the caches on, worked out by hand.  Every guest frame here (the
 * four guest tables and the data pages) comes from the bump allocator
 * below pfn 512, i.e. inside guest-physical [0, 2M), and the EPT maps that
 * with 4K leaves under one EPT page table.
 *  First reference: the guest PML4's gpa: EPT PML4E, PDPTE, PDE, PTE (4),
 *  filling the EPT PML4E, PDPTE and PDE caches; read the guest PML4E (1);
 *  the PDPT's gpa hits the EPT PDE cache: EPT PTE only (1), read the PDPTE
 *  (1); likewise PD (1 + 1), PT (1 + 1), and the data page's gpa (1).
 *  4 + 2 + 2 + 2 + 2 + 1 = 12: 4 guest, 8 EPT, 4 EPT PSC hits.
 *  Second reference, next 4K page of the same guest page table: the guest
 *  PDE cache hit names the guest PT with its host address (combined entry):
 *  read the PTE (1); the data page's gpa hits the EPT PDE cache: EPT PTE
 *  (1).  2 in all. */
Test(ept_walk, psc_hits_shorten_both_dimensions)
{
    up();
    map(VA, 2 * K4, 12);
    ept_map_ok(0, M2, 12);
    cr_assert_lt(E.fa.next_pfn, 512);
    cr_expect_eq(refs_of(VA), 12);
    cr_expect_eq(E.c.st.walk_refs, 4);
    cr_expect_eq(E.c.st.ept_walk_refs, 8);
    cr_expect_eq(E.c.st.ept_psc_hits, 4);
    cr_expect_eq(refs_of(VA + K4), 2);
    cr_expect_eq(E.c.st.psc_hits[2], 1);
    cr_expect_eq(E.c.st.ept_psc_hits, 5);
    /* A guest CR3 write drops the guest PSCs, not the EPT ones
     * (guest-physical mappings, SDM vol. 3C 28.3.3.1): the guest walk is
     * full again, each EPT translation one EPT PTE: 4 + 5. */
    cpu_write_cr3(&E.c, &E.a);
    cr_expect_eq(refs_of(VA), 9);
    /* INVEPT drops those too: back to 12. */
    cpu_invept(&E.c);
    cr_expect_eq(refs_of(VA), 12);
}

/* An EPT violation per guest-physical page first touched: the four guest
 * tables and the data page, each mapped 4K on demand. */
Test(ept_walk, violations_map_4k_on_demand)
{
    u32 cost;

    up();
    map(VA, K4, 12);
    cost = cpu_access(&E.c, VA, 'r');
    cr_expect_eq(E.c.st.ept_violations, 5);
    cr_expect_eq(E.ept.st.violations, 5);
    cr_expect_geq(cost, 5 * E.m.ept_violation_cycles);
    cr_expect_eq(E.c.st.bad_accesses, 0);
    /* All backed now: the same reference after a flush takes none. */
    cpu_invept(&E.c);
    cpu_access(&E.c, VA, 'r');
    cr_expect_eq(E.c.st.ept_violations, 5);
}

/* A TLB entry holds the combined translation at the smaller of the guest
 * and host page sizes, for each of the 9 pairs. */
static void pair(unsigned gshift, unsigned hshift)
{
    unsigned want = gshift < hshift ? gshift : hshift;
    unsigned level;
    struct pt_page *table;
    u64 *leaf, gpa, off = (1ull << gshift) - K4;        /* last 4K of the guest page */

    up();
    map(VA, 1ull << gshift, gshift);
    leaf = pt_walk(&E.a.pt, VA, &level, &table);
    cr_assert(leaf);
    gpa = *leaf & pte_frame_mask(&E.fa);
    /* The host maps the GiB holding the guest page with hshift leaves;
     * the guest tables are mapped on demand (4K) if they lie elsewhere. */
    ept_map_ok(gpa & ~(G1 - 1), G1, hshift);
    cpu_access(&E.c, VA + off, 'r');
    for (unsigned k = 0; k < 3; k++) {
        struct tlb_entry *e = tlb_lookup(&E.c.l1d[k], VA + off);
        if (k == (want - 12) / 9) {
            cr_assert(e, "guest %u host %u: no entry in the %u-shift L1", gshift, hshift, want);
            cr_expect_eq(e->shift, want, "guest %u host %u", gshift, hshift);
        } else {
            cr_expect_null(e, "guest %u host %u: entry in L1 %u", gshift, hshift, k);
        }
    }
    /* The guest page's first 4K: a hit iff the combined page covers it
     * too, i.e. iff it is as large as the guest page. */
    u64 walks = E.c.st.walks;
    cpu_access(&E.c, VA, 'r');
    cr_expect_eq(E.c.st.walks - walks, want < gshift ? 1u : 0u,
                 "guest %u host %u", gshift, hshift);
}

Test(ept_walk, combined_4k_4k) { pair(12, 12); }
Test(ept_walk, combined_4k_2m) { pair(12, 21); }
Test(ept_walk, combined_4k_1g) { pair(12, 30); }
Test(ept_walk, combined_2m_4k) { pair(21, 12); }
Test(ept_walk, combined_2m_2m) { pair(21, 21); }
Test(ept_walk, combined_2m_1g) { pair(21, 30); }
Test(ept_walk, combined_1g_4k) { pair(30, 12); }
Test(ept_walk, combined_1g_2m) { pair(30, 21); }
Test(ept_walk, combined_1g_1g) { pair(30, 30); }

/* ---- brute-force reference 2D walker ------------------------------------ */

/* EPT entries read to translate gpa with no caches: one per EPT level
 * down to the leaf. */
static unsigned ref_ept_refs(u64 gpa, unsigned *shift)
{
    unsigned level;

    cr_assert(ept_walk(&E.ept, gpa, &level, NULL), "gpa 0x%llx unmapped",
              (unsigned long long)gpa);
    *shift = 12 + 9 * (level - 1);
    return E.ept.levels - level + 1;
}

/* The reference walk of va: entries read (no caches) and the combined
 * shift, from brute-force walks of both page-table trees. */
static unsigned ref_walk(u64 va, unsigned *combined)
{
    const struct pt *pt = &E.a.pt;
    struct pt_page *t = pt->root;
    unsigned refs = 0, hs;

    for (unsigned l = pt->levels; ; l--) {
        unsigned i = pt_index(va, l);
        u64 ent = t->e[i];

        refs += ref_ept_refs((t->pfn << 12) | (i * 8u), &hs) + 1;
        cr_assert(ent & PTE_P);
        if (l == 1 || (ent & PTE_PS)) {
            unsigned gs = 12 + 9 * (l - 1);
            u64 gpa = ((ent & pte_frame_mask(&E.fa)) & ~((1ull << gs) - 1)) |
                      (va & ((1ull << gs) - 1));
            refs += ref_ept_refs(gpa, &hs);
            *combined = hs < gs ? hs : gs;
            return refs;
        }
        t = pt_child(t, i);
    }
}

Test(ept_walk, random_mappings_match_the_reference)
{
    struct rng { u64 s; } r = { 0x9e3779b97f4a7c15ull };
#define NEXT() (r.s ^= r.s << 13, r.s ^= r.s >> 7, r.s ^= r.s << 17, r.s)
    static const unsigned shifts[3] = { 12, 21, 30 };
    u64 vas[64];
    unsigned nr = 0;

    machine_ept(&E.m, 4, 4, false);
    up();
    /* Guest: 4K runs and 2M pages at random slots, one 1G page. */
    map(VA + 7 * G1, G1, 30);
    vas[nr++] = VA + 7 * G1 + (NEXT() % G1 & ~7ull);
    for (unsigned i = 0; i < 24; i++) {
        unsigned s = shifts[NEXT() % 2];
        u64 va = VA + (1 + i) * 4 * M2 + (s == 12 ? (NEXT() % 512) * K4 : 0);
        map(va, s == 12 ? 4 * K4 : M2, s);
        vas[nr++] = va + (NEXT() % (s == 12 ? 4 * K4 : M2) & ~7ull);
    }
    /* Host: every 2M of guest-physical [0, 2G) with a random leaf size
     * (a 1G leaf for a whole GiB now and then). */
    for (u64 gpa = 0; gpa < 2 * G1; ) {
        unsigned s = (gpa & (G1 - 1)) == 0 && NEXT() % 3 == 0 ? 30 : shifts[NEXT() % 2];
        u64 len = s == 30 ? G1 : M2;
        ept_map_ok(gpa, len, s);
        gpa += len;
    }
    cr_assert_leq(E.fa.next_pfn, 2 * (G1 >> 12), "guest frames beyond the EPT-mapped 2G");
    for (unsigned round = 0; round < 200; round++) {
        u64 va = vas[NEXT() % nr];
        unsigned want_shift, want = ref_walk(va, &want_shift);
        u64 walks = E.c.st.walks;

        cpu_flush_tlb_global(&E.c);
        cr_expect_eq(refs_of(va), want, "va 0x%llx", (unsigned long long)va);
        cr_expect_eq(E.c.st.walks - walks, 1);
        struct tlb_entry *e = tlb_lookup(&E.c.l1d[(want_shift - 12) / 9], va);
        cr_assert(e, "va 0x%llx: no %u-shift entry", (unsigned long long)va, want_shift);
        cr_expect_eq(e->shift, want_shift);
        cr_expect_eq(e->pte & PTE_ADDR_MASK,
                     *pt_walk(&E.a.pt, va, NULL, NULL) & PTE_ADDR_MASK);
    }
    cr_expect_eq(E.c.st.ept_violations, 0);
#undef NEXT
}

/* ept.prefault: guest memory backed (2M) before the trace.  Everything
 * here lies in guest-physical [0, 2M): one 2M EPT leaf, no violation, and
 * the walk reads what it would had the leaf been there all along: 3 EPT
 * entries (PML4E, PDPTE, the PDE leaf) for the guest PML4's address and
 * the PML4E; then for the PDPT, PD and PT one EPT PDE through the EPT
 * PDPTE cache and the guest entry; one EPT PDE for the data page:
 * 3 + 1 + 3 x 2 + 1 = 11. */
Test(ept_walk, prefault_maps_2m_without_violations)
{
    unsigned shift;

    E.m.ept_prefault = true;
    up();
    map(VA, K4, 12);
    cr_expect_eq(refs_of(VA), 11);
    cr_expect_eq(E.c.st.ept_walk_refs, 7);
    cr_expect_eq(E.c.st.ept_violations, 0);
    cr_expect_eq(E.ept.st.prefaults, 1);
    cr_expect(ept_translate(&E.ept, 0x1000, NULL, &shift));
    cr_expect_eq(shift, 21);
    cr_expect_not_null(tlb_lookup(&E.c.l1d[0], VA));   /* guest 4K on host 2M: 4K */
}

/* The zapped-range record behind ept.prefault (ept_prefault_allowed)
 * against a brute-force page bitmap: 300 random zaps of 1..8 pages over
 * 64 pages, the record merged and sorted, every page's answer equal. */
Test(ept, zapped_ranges_match_a_page_bitmap)
{
    struct machine m;
    struct ept e;
    struct sim_err err = { 0 };
    bool zapped[64] = { false };
    u64 x = 12345;

    machine_init(&m);
    m.virt = m.ept = true;
    cr_assert_eq(ept_init(&e, &m, &err), 0, "%s", err.msg);
    for (int round = 0; round < 300; round++) {
        struct mmu_gather g;
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        u64 first = (x >> 33) % 64, n = 1 + (x >> 20) % 8;
        if (first + n > 64)
            n = 64 - first;
        mmu_gather_init(&g);
        cr_assert_eq(ept_unmap(&e, first << 12, n << 12, &g, &err), 0, "%s", err.msg);
        ept_gather_finish(&e, &g);
        for (u64 p = first; p < first + n; p++)
            zapped[p] = true;
        for (u64 p = 0; p < 64; p++)
            cr_assert_eq(ept_prefault_allowed(&e, (p << 12) + 8), !zapped[p],
                         "round %d page %llu", round, (unsigned long long)p);
        for (u32 i = 1; i < e.nr_zapped; i++)
            cr_assert_gt(e.zapped[i].start, e.zapped[i - 1].end, "round %d: not merged", round);
    }
    cr_expect_eq(e.nr_zapped, 1);               /* 300 zaps cover all 64 pages */
    ept_destroy(&e);
}

/* ---- dirty logging: writes to write-protected EPT leaves ----------------
 *
 * Walks are made free here (every walk.* and ept.* read 0 cycles), so a
 * reference costs 1 (access) + 9 (STLB probe, on an L1 miss) + its faults:
 * a dirty fault is virt.kick_exit_cycles 1000 + ept.dirty_fault_cycles 300
 * + virt.entry_cycles 700 = 2000 (machine_init defaults). */

#define DIRTY_FAULT (1000 + 300 + 700)

static void free_walks(void)
{
    for (unsigned l = 1; l <= 5; l++)
        E.m.walk_level_cycles[l] = E.m.ept_walk_cycles[l] = 0;
}

/* Guest-physical address of va in mm a. */
static u64 gpa_of(u64 va)
{
    u64 *pte = pt_walk(&E.a.pt, va, NULL, NULL);

    cr_assert(pte, "va 0x%llx unmapped", (unsigned long long)va);
    return (*pte & pte_frame_mask(&E.fa)) | (va & (K4 - 1));
}

static void wrprotect_ok(u64 gpa, u64 len)
{
    struct mmu_gather g;

    mmu_gather_init(&g);
    cr_assert_eq(ept_wrprotect(&E.ept, gpa, len, NULL, &g, &E.err), 0, "%s", E.err.msg);
    mmu_gather_destroy(&g);
}

static bool host_writable(u64 va)
{
    bool w = false;

    cr_assert(ept_leaf_perm(&E.ept, gpa_of(va), &w, NULL));
    return w;
}

/* Four pages write-protected, two written: two dirty faults, each write
 * then succeeds; reads take none. */
Test(ept_walk, dirty_faults_give_write_back_term_by_term)
{
    struct tlb_entry *e;

    cr_assert_eq(E.m.kick_exit_cycles + E.m.ept_dirty_fault_cycles + E.m.entry_cycles,
                 DIRTY_FAULT);
    free_walks();
    up();
    map(VA, 4 * K4, 12);
    ept_map_ok(0, M2, 12);
    cr_assert_lt(E.fa.next_pfn, 512);
    for (u64 i = 0; i < 4; i++)
        wrprotect_ok(gpa_of(VA + i * K4), K4);
    cr_expect_eq(E.ept.st.wrprotected, 4);
    /* A read: no fault, a read-only combined entry (guest RW AND EPT R). */
    cr_expect_eq(cpu_access(&E.c, VA + K4, 'r'), 1 + 9);
    e = tlb_lookup(&E.c.l1d[0], VA + K4);
    cr_assert(e);
    cr_expect(e->ept_wp);
    cr_expect_eq(e->pte & PTE_RW, 0);
    /* Page 0, not cached: the walk finds the EPT leaf read-only. */
    cr_expect_eq(cpu_access(&E.c, VA, 'w'), 1 + 9 + 1000 + 300 + 700);
    cr_expect(host_writable(VA));
    cr_expect(*pt_walk(&E.a.pt, VA, NULL, NULL) & PTE_D, "the write happened");
    cr_expect_eq(cpu_access(&E.c, VA, 'w'), 1, "the second write: an L1 hit");
    /* Page 2 read first: the read-only entry hits, the violation drops
     * it, the retried write misses the L1 and walks. */
    cr_expect_eq(cpu_access(&E.c, VA + 2 * K4, 'r'), 1 + 9);
    cr_expect_eq(cpu_access(&E.c, VA + 2 * K4, 'w'), 1 + DIRTY_FAULT + 9);
    cr_expect_eq(cpu_access(&E.c, VA + 2 * K4, 'w'), 1);
    cr_expect_eq(cpu_access(&E.c, VA + K4, 'r'), 1);
    cr_expect_eq(cpu_access(&E.c, VA + 3 * K4, 'r'), 1 + 9);
    cr_expect_eq(E.c.st.ept_dirty_faults, 2);
    cr_expect_eq(E.ept.st.dirty_faults, 2);
    cr_expect_eq(E.c.st.ept_spurious_faults, 0);
    cr_expect_eq(E.c.st.ept_violations, 0);
    cr_expect_eq(E.c.st.bad_accesses, 0);
    cr_expect(!host_writable(VA + K4));
    cr_expect(!host_writable(VA + 3 * K4));
}

/* Another vCPU's fault made the leaf writable while this CPU held the
 * read-only translation: its write is a spurious violation (KVM finds the
 * SPTE writable and returns), then succeeds. */
Test(ept_walk, stale_read_only_entry_takes_a_spurious_violation)
{
    free_walks();
    up();
    map(VA, K4, 12);
    ept_map_ok(0, M2, 12);
    wrprotect_ok(gpa_of(VA), K4);
    cr_expect_eq(cpu_access(&E.c, VA, 'r'), 1 + 9);
    cr_expect_eq(ept_write_fault(&E.ept, gpa_of(VA)), EPT_WP_FAST);
    cr_expect_eq(cpu_access(&E.c, VA, 'w'), 1 + DIRTY_FAULT + 9);
    cr_expect_eq(E.c.st.ept_spurious_faults, 1);
    cr_expect_eq(E.c.st.ept_dirty_faults, 0);
    cr_expect_eq(cpu_access(&E.c, VA, 'w'), 1);
}

/* A write-protected 2M leaf: KVM's fast path does not fix huge leaves
 * under dirty logging; the slow path costs a full ept.violation_cycles. */
Test(ept_walk, huge_leaf_dirty_fault_takes_the_slow_path)
{
    free_walks();
    up();
    map(VA, 2 * K4, 12);
    ept_map_ok(0, M2, 21);
    wrprotect_ok(0, M2);
    cr_expect_eq(cpu_access(&E.c, VA, 'w'), 1 + 9 + 10000);
    cr_expect_eq(E.c.st.ept_dirty_faults, 1);
    cr_expect(host_writable(VA + K4), "XXX: the whole 2M leaf is writable again");
}

/* Staleness against the EPT: the host write-protects page 0 and zaps
 * page 1 while this CPU caches both, and moves every mm's epoch (the
 * engine's host_ept_changed), but no flush reaches the CPU. */
Test(ept_walk, host_change_without_flush_is_stale_with_flush_pending_racy)
{
    struct mmu_gather g;

    up();
    map(VA, 2 * K4, 12);
    ept_map_ok(0, M2, 12);
    cpu_access(&E.c, VA, 'w');
    cpu_access(&E.c, VA + K4, 'r');
    u64 gpa1 = gpa_of(VA + K4);
    wrprotect_ok(gpa_of(VA), K4);
    mmu_gather_init(&g);
    cr_assert_eq(ept_unmap(&E.ept, gpa1, K4, &g, &E.err), 0, "%s", E.err.msg);
    ept_gather_finish(&E.ept, &g);
    mmu_gather_destroy(&g);
    /* Without the epoch move the hit path does not look (it costs one
     * compare per hit, as for guest changes). */
    cpu_access(&E.c, VA, 'w');
    cr_expect_eq(E.c.st.stale_accesses, 0);
    mm_pte_changed(&E.a);
    mm_pte_changed(&E.init);
    /* A write through an entry the EPT no longer allows to write (the
     * dirty log misses it), a read of a page the host took away. */
    cpu_access(&E.c, VA, 'w');
    cpu_access(&E.c, VA + K4, 'r');
    cr_expect_eq(E.c.st.stale_accesses, 2);
    cr_expect_eq(E.c.st.ept_dirty_faults, 0);
    /* The same while the host's flush is on its way: racy, not stale. */
    E.c.host_flush_pending = true;
    cpu_access(&E.c, VA, 'w');
    cpu_access(&E.c, VA + K4, 'r');
    cr_expect_eq(E.c.st.racy_accesses, 2);
    cr_expect_eq(E.c.st.stale_accesses, 2);
    /* Once flushed: the write faults and is logged, the read faults the
     * page back in; nothing stale. */
    cpu_invept(&E.c);
    E.c.host_flush_pending = false;
    cpu_access(&E.c, VA, 'w');
    cpu_access(&E.c, VA + K4, 'r');
    cr_expect_eq(E.c.st.ept_dirty_faults, 1);
    cr_expect_eq(E.c.st.ept_violations, 1);
    cr_expect_eq(E.c.st.stale_accesses, 2);
}
