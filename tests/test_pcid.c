/* tests/test_pcid.c - PCID-tagged TLBs and Linux's dynamic ASIDs
 * (cpu.pcid, policy linux-pcid), in scenarios computed by hand from
 * choose_new_asid() and switch_mm_irqs_off() (arch/x86/mm/tlb.c, 4.14+). */
#include <criterion/criterion.h>
#include <stdio.h>

#include "harness.h"

#define HDR(n) "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":" #n "}\n"
#define MM(n) "{\"op\":\"mm_new\",\"mm\":" #n "}\n" \
    "{\"op\":\"map\",\"mm\":" #n ",\"va\":\"0x400000\",\"len\":\"0x40000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
/* CPU 0 switches to mm n and reads one page of it. */
#define RUN(n) "{\"op\":\"switch\",\"cpu\":0,\"mm\":" #n "}\n" \
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x401000\",\"kind\":\"r\"}\n"

static const struct flush_policy *P(const char *name)
{
    const struct flush_policy *p = flush_policy_find(name);
    cr_assert(p, "policy %s", name);
    return p;
}

/* 7 mms on one CPU with 6 ASIDs.  Boot leaves init_mm in ASID 0 and
 * next_asid = 1.
 *   1..5        ASIDs 1..5, never used: 5 flushes
 *   6           next_asid 6 wraps to ASID 0, init_mm's: flush, recycled
 *   1..6        every slot still names its mm at its tlb_gen: 6 NOFLUSH
 *   7           ASID 1 (mm 1's): flush, recycled
 *   2           still ASID 2: NOFLUSH
 *   1, 2, 3     ASIDs 2, 3, 4 (of mms 2, 3, 4): 3 flushes, recycled
 * = 10 flushes (5 recycling), 7 switches without a flush.  Walks: one per
 * flushed switch (the read finds nothing of its PCID), none after a
 * NOFLUSH switch (the 6 pages share an L1 set but fit the STLB) = 10.
 * PCID-less, each of the 17 switches flushes and each read walks. */
static const char seven_mms[] =
    HDR(1) MM(1) MM(2) MM(3) MM(4) MM(5) MM(6) MM(7)
    RUN(1) RUN(2) RUN(3) RUN(4) RUN(5) RUN(6)
    RUN(1) RUN(2) RUN(3) RUN(4) RUN(5) RUN(6)
    RUN(7) RUN(2) RUN(1) RUN(2) RUN(3);

Test(pcid, seven_mms_cycle_through_six_asids)
{
    struct h_run h;
    const struct cpu *c;

    cr_assert_eq(h_run(&h, seven_mms, P("linux-pcid"), NULL), 0, "%s", h.err.msg);
    c = sim_cpu(h.s, 0);
    cr_expect_eq(c->st.task_switch_flushes, 10);
    cr_expect_eq(c->st.task_switch_noflush, 7);
    cr_expect_eq(c->st.asid_recycle_flushes, 5);
    cr_expect_eq(c->st.walks, 10);
    cr_expect_eq(c->loaded_mm_asid, 4, "mm 3 ended in ASID 4");
    cr_expect_eq(c->cr3_pcid, 5, "kern_pcid(4) = 5");
    cr_expect_eq(c->next_asid, 5);
    cr_expect_eq(h.t.cpu.stale_accesses, 0);
    h_done(&h);

    cr_assert_eq(h_run(&h, seven_mms, P("linux"), NULL), 0, "%s", h.err.msg);
    c = sim_cpu(h.s, 0);
    cr_expect_eq(c->st.task_switch_flushes, 17);
    cr_expect_eq(c->st.task_switch_noflush, 0);
    cr_expect_eq(c->st.asid_recycle_flushes, 0);
    cr_expect_eq(c->st.walks, 17);
    h_done(&h);
}

/* CPU 0 runs mm 1 (ASID 1), reads page 0x401000, moves to mm 2 (ASID 2).
 * While it is away CPU 1 runs mm 1 and write-protects page 0x401000 of it
 * (tlb_gen of mm 1 moves on by one; CPU 0 is not running mm 1, so
 * nothing flushes its ASID 1).  CPU 0 then comes back to mm 1: the slot
 * still names mm 1 but at the older tlb_gen, so the switch flushes ASID 1
 * (catch-up, not a recycle) and the read walks again.  Without the
 * mprotect the same return is a NOFLUSH switch and the read hits. */
#define AWAY(extra) HDR(2) MM(1) MM(2) \
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n" \
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x401000\",\"kind\":\"r\"}\n" \
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":2}\n" \
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1,\"t\":10000}\n" extra \
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1,\"t\":100000}\n" \
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x401000\",\"kind\":\"r\"}\n"
static const char away_changed[] = AWAY(
    "{\"op\":\"protect\",\"cpu\":1,\"mm\":1,\"va\":\"0x401000\",\"len\":\"0x1000\",\"prot\":\"r\",\"t\":20000}\n");
static const char away_unchanged[] = AWAY("");

Test(pcid, return_to_an_mm_whose_tlb_gen_moved_catches_up)
{
    struct h_run h;
    const struct cpu *c;

    cr_assert_eq(h_run(&h, away_changed, P("linux-pcid"), NULL), 0, "%s", h.err.msg);
    c = sim_cpu(h.s, 0);
    cr_expect_eq(c->st.task_switch_flushes, 3, "ASID 1, ASID 2, catch-up of ASID 1");
    cr_expect_eq(c->st.task_switch_noflush, 0);
    cr_expect_eq(c->st.asid_recycle_flushes, 0);
    cr_expect_eq(c->st.walks, 2);
    cr_expect_eq(c->loaded_mm_asid, 1);
    cr_expect_eq(c->tlb_gen, c->loaded_mm->tlb_gen, "caught up with mm 1");
    cr_expect_eq(h.t.cpu.stale_accesses, 0);
    h_done(&h);

    cr_assert_eq(h_run(&h, away_unchanged, P("linux-pcid"), NULL), 0, "%s", h.err.msg);
    c = sim_cpu(h.s, 0);
    cr_expect_eq(c->st.task_switch_flushes, 2);
    cr_expect_eq(c->st.task_switch_noflush, 1);
    cr_expect_eq(c->st.walks, 1, "the entry of ASID 1 survived the time away");
    h_done(&h);
}
