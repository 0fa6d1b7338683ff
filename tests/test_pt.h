/* tests/test_pt.h - the page-table test environment shared by test_pt.c
 * (unit tests) and test_pt_ref.c (the brute-force reference model). */
#ifndef TLBSIM_TEST_PT_H
#define TLBSIM_TEST_PT_H

#include "../models/pt.h"

#define K4 (1ull << 12)
#define M2 (1ull << 21)
#define G1 (1ull << 30)
#define UVA 0x00007f0000000000ull       /* user window, 1 GiB aligned */
#define KVA 0xffff888000000000ull       /* kernel window (direct-map style) */
#define UFL (PTE_RW | PTE_US)
#define PROT (PTE_RW | PTE_US | PTE_NX)

struct pt_env_s {
    struct frame_alloc fa;
    struct pt_ctx ctx;
    struct pt kpt, upt;                 /* kernel pt and one user pt */
    struct mmu_gather g;
    struct sim_err err;
};

extern struct pt_env_s E;               /* the environment of the running test */

/* Build E: a frame allocator, a table context, a kernel and a user pt. */
void pt_env_setup(unsigned levels, unsigned maxphy, u64 max_frames, u64 max_tables);
/* Release E and assert that every table and frame came back. */
void pt_env_done(void);
/* .fini: release E after a test that failed early. */
void pt_env_teardown(void);

#endif
