/* tests/test_ept.c - the VM's EPT (models/ept.h): host mappings of
 * guest-physical ranges, the zap that keeps tables, write protection, the
 * on-demand EPT-violation mapping and the guest-physical range check. */
#include <criterion/criterion.h>
#include <string.h>

#include "../models/ept.h"

#define K4 0x1000ull
#define M2 0x200000ull
#define G1 0x40000000ull

static struct machine M;
static struct ept E;
static struct sim_err Err;

static void setup(void)
{
    memset(&E, 0, sizeof(E));
    memset(&Err, 0, sizeof(Err));
    machine_init(&M);
    M.virt = true;
    M.ept = true;
    cr_assert_eq(ept_init(&E, &M, &Err), SIM_OK, "%s", Err.msg);
}

static void teardown(void)
{
    cr_assert(ept_check(&E));
    ept_destroy(&E);
}

TestSuite(ept, .init = setup, .fini = teardown);

Test(ept, memory_is_the_guest_physical_width)
{
    /* 46-bit MAXPHYADDR, no KeyID bits: [0, 2^46). */
    cr_expect_eq(E.gpa_end, 1ull << 46);
    cr_expect(ept_range_ok(&E, 0, 1ull << 46));
    cr_expect(!ept_range_ok(&E, (1ull << 46) - K4, 2 * K4));
    cr_expect(!ept_range_ok(&E, 0, 0));
    cr_expect(!ept_range_ok(&E, UINT64_MAX - K4 + 1, K4));   /* would wrap */
    cr_expect_eq(ept_check_range(&E, 1ull << 46, K4, 12, &Err), SIM_EINVAL);
    cr_expect(strstr(Err.msg, "gpa: ") == Err.msg && strstr(Err.msg, "outside"), "%s", Err.msg);
    cr_expect_eq(ept_check_range(&E, M2 + K4, M2, 21, &Err), SIM_EINVAL);
    cr_expect(strstr(Err.msg, "not aligned"), "%s", Err.msg);
}

Test(ept, keyid_bits_shrink_the_guest_physical_space)
{
    ept_destroy(&E);
    M.keyid_bits = 6;
    cr_assert_eq(ept_init(&E, &M, &Err), SIM_OK, "%s", Err.msg);
    cr_expect_eq(E.gpa_bits, 40);
    cr_expect_eq(E.gpa_end, 1ull << 40);
    cr_expect(!ept_range_ok(&E, 1ull << 40, K4));
}

Test(ept, map_translates_at_the_host_page_size)
{
    u64 hpa, hpa2;
    unsigned shift;

    cr_assert_eq(ept_map(&E, 0, 4 * M2, 21, &Err), SIM_OK, "%s", Err.msg);
    cr_assert_eq(ept_map(&E, G1, 4 * K4, 12, &Err), SIM_OK, "%s", Err.msg);
    cr_assert(ept_translate(&E, M2 + 0x1234, &hpa, &shift));
    cr_expect_eq(shift, 21);
    cr_expect_eq(hpa & (M2 - 1), 0x1234);
    cr_assert(ept_translate(&E, G1 + K4 + 8, &hpa2, &shift));
    cr_expect_eq(shift, 12);
    cr_expect_eq(hpa2 & (K4 - 1), 8);
    cr_expect(!ept_translate(&E, G1 + 4 * K4, NULL, NULL));
    cr_expect_eq(E.st.maps, 2);
    /* A second map over a present leaf is refused, nothing changes. */
    cr_expect_eq(ept_map(&E, G1, K4, 12, &Err), SIM_EEXIST);
    cr_expect(strstr(Err.msg, "gpa: ") == Err.msg, "%s", Err.msg);
    cr_expect_eq(E.st.maps, 2);
}

Test(ept, unmap_clears_leaves_and_keeps_tables)
{
    struct mmu_gather g;
    u64 tables;
    u32 epoch = E.epoch;

    mmu_gather_init(&g);
    cr_assert_eq(ept_map(&E, G1, 8 * K4, 12, &Err), SIM_OK, "%s", Err.msg);
    tables = E.ptc.nr_table_pages;
    cr_assert_eq(ept_unmap(&E, G1, 8 * K4, &g, &Err), SIM_OK, "%s", Err.msg);
    cr_expect_eq(g.nr_ptes, 8);
    cr_expect_eq(g.nr_frames, 8);
    cr_expect(!g.freed_tables);
    cr_expect_eq(E.ptc.nr_table_pages, tables);      /* tdp_mmu_zap_leafs(): tables stay */
    cr_expect(!ept_translate(&E, G1, NULL, NULL));
    cr_expect_eq(E.epoch, epoch + 1);
    ept_gather_finish(&E, &g);
    mmu_gather_destroy(&g);
    /* An unmap of nothing changes no entry: the epoch stays. */
    mmu_gather_init(&g);
    cr_assert_eq(ept_unmap(&E, 0, M2, &g, &Err), SIM_OK, "%s", Err.msg);
    cr_expect_eq(E.epoch, epoch + 1);
    mmu_gather_destroy(&g);
}

Test(ept, wrprotect_drops_write_only)
{
    struct mmu_gather g;
    bool reduced = false;
    unsigned level;
    u64 *e;

    mmu_gather_init(&g);
    cr_assert_eq(ept_map(&E, 0, M2, 21, &Err), SIM_OK, "%s", Err.msg);
    cr_assert_eq(ept_wrprotect(&E, 0, M2, &reduced, &g, &Err), SIM_OK, "%s", Err.msg);
    cr_expect(reduced);
    e = ept_walk(&E, 0x10, &level, NULL);
    cr_assert(e);
    cr_expect_eq(level, 2);
    cr_expect(*e & EPT_R);
    cr_expect(*e & EPT_X);
    cr_expect(!(*e & EPT_W));
    /* Again: nothing left to reduce. */
    cr_assert_eq(ept_wrprotect(&E, 0, M2, &reduced, &g, &Err), SIM_OK, "%s", Err.msg);
    cr_expect(!reduced);
    mmu_gather_destroy(&g);
}

Test(ept, violation_maps_4k_on_demand)
{
    unsigned shift;

    cr_assert_eq(ept_fault_in(&E, M2 + 0x1ff8, &Err), SIM_OK, "%s", Err.msg);
    cr_expect(ept_translate(&E, M2 + 0x1000, NULL, &shift));
    cr_expect_eq(shift, 12);
    cr_expect(!ept_translate(&E, M2, NULL, NULL));
    cr_expect_eq(E.st.violations, 1);
    cr_expect_eq(E.st.maps, 0);
}

Test(ept, five_levels)
{
    ept_destroy(&E);
    M.ept_levels = 5;
    M.maxphyaddr = 52;
    cr_assert_eq(ept_init(&E, &M, &Err), SIM_OK, "%s", Err.msg);
    cr_expect_eq(E.pt.levels, 5);
    cr_expect_eq(E.gpa_end, 1ull << 52);
    cr_assert_eq(ept_map(&E, (1ull << 51), G1, 30, &Err), SIM_OK, "%s", Err.msg);
    cr_expect(ept_translate(&E, (1ull << 51) + 5, NULL, NULL));
}

Test(ept, four_levels_cap_at_the_lower_half)
{
    ept_destroy(&E);
    M.maxphyaddr = 52;
    cr_assert_eq(ept_init(&E, &M, &Err), SIM_OK, "%s", Err.msg);
    cr_expect_eq(E.gpa_end, 1ull << 47);
}

/* paging.keyid_bits takes the KeyID from the top of MAXPHYADDR: frames
 * come from below 2^(46 - 6) and a leaf whose address reaches into the
 * KeyID field (KeyID 1: bit 40) fails the page-table check, as an address
 * beyond the reduced width. */
Test(ept, keyid_bits_bound_frames_and_pte_addresses)
{
    struct frame_alloc fa;
    struct pt_ctx ctx;
    struct pt kern, user;
    u64 *leaf;

    M.keyid_bits = 6;
    cr_assert_eq(machine_validate(&M, &Err), SIM_OK, "%s", Err.msg);
    cr_assert_eq(frame_alloc_init(&fa, machine_phys_bits(&M), 0, &Err), SIM_OK, "%s", Err.msg);
    cr_expect_eq(fa.max_pfn, 1ull << (40 - 12));
    cr_assert_eq(pt_ctx_init(&ctx, &fa, 0), SIM_OK);
    cr_assert_eq(pt_init(&kern, &ctx, 4, NULL, &Err), SIM_OK, "%s", Err.msg);
    cr_assert_eq(pt_init(&user, &ctx, 4, &kern, &Err), SIM_OK, "%s", Err.msg);
    cr_assert_eq(pt_map(&user, 0x1000, K4, 12, PTE_RW | PTE_US, true, &Err), SIM_OK, "%s",
                 Err.msg);
    cr_expect(pt_check(&user));
    leaf = pt_walk(&user, 0x1000, NULL, NULL);
    cr_assert(leaf);
    *leaf |= 1ull << 40;                /* KeyID 1 */
    cr_expect(!pt_check(&user));
    *leaf &= ~(1ull << 40);
    cr_expect(pt_check(&user));
    /* 10 KeyID bits would leave 36: the least allowed; 11 leave 35. */
    M.keyid_bits = 10;
    cr_expect_eq(machine_validate(&M, &Err), SIM_OK, "%s", Err.msg);
    M.keyid_bits = 11;
    cr_expect_eq(machine_validate(&M, &Err), SIM_EINVAL);
    cr_expect(strstr(Err.msg, "paging.keyid_bits: 11 KeyID bits") == Err.msg, "%s", Err.msg);
    M.keyid_bits = 0;
    pt_destroy(&user);
    pt_destroy(&kern);
    pt_ctx_destroy(&ctx);
    frame_alloc_destroy(&fa);
}
