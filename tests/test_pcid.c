/* tests/test_pcid.c - PCID-tagged TLBs and Linux's dynamic ASIDs
 * (cpu.pcid, policy linux-pcid), in scenarios computed by hand from
 * choose_new_asid() and switch_mm_irqs_off() (arch/x86/mm/tlb.c, 4.14+). */
#include <criterion/criterion.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sim/io/wl_spec.h"
#include "clirun.h"
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

/* PTI's deferred user flush (linux-pcid-pti; invalidate_user_asid(),
 * native_flush_tlb_one_user(), SWITCH_TO_USER_CR3).  CPUs 0 and 1 run mm 1
 * in ASID 1 (kernel PCID 2, user PCID 2 | 0x800).  Each first switch
 * flushes ASID 1, whose user half is flushed at the return to user space:
 * one deferred flush per CPU.  CPU 0 reads pages A and B (2 walks).  CPU 1
 * write-protects A: its IPI interrupts CPU 0 in user space; CPU 0's
 * flush_tlb_func() INVLPGs A in the kernel PCID, then
 *   with INVPCID: INVPCID type 0 drops A of the user PCID; the return to
 *     user is NOFLUSH, and CPU 0's second reads walk for A only (3 walks,
 *     1 deferred flush);
 *   without: invalidate_user_asid() marks the user PCID, and the return
 *     from the interrupt flushes all of it: A and B walk again (4 walks,
 *     2 deferred flushes).  CPU 1's own partial flush is deferred the same
 *     way (2 deferred flushes on CPU 1 without INVPCID, 1 with). */
static const char pti_partial[] =
    HDR(2) MM(1)
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x401000\",\"kind\":\"r\"}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x402000\",\"kind\":\"r\"}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1,\"t\":10000}\n"
    "{\"op\":\"protect\",\"cpu\":1,\"mm\":1,\"va\":\"0x401000\",\"len\":\"0x1000\",\"prot\":\"r\",\"t\":20000}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x401000\",\"kind\":\"r\",\"t\":100000}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x402000\",\"kind\":\"r\"}\n";

Test(pcid, pti_defers_the_user_flush_to_the_return_to_user_space)
{
    static const char *const no_invpcid[] = { "cpu.invpcid=false", NULL };
    struct h_run h;
    const struct cpu *c0, *c1;

    cr_assert_eq(h_run(&h, pti_partial, P("linux-pcid-pti"), NULL), 0, "%s", h.err.msg);
    c0 = sim_cpu(h.s, 0);
    c1 = sim_cpu(h.s, 1);
    cr_expect_eq(c0->st.ipis_received, 1);
    cr_expect_eq(c0->st.user_asid_deferred_flushes, 1, "the switch's only");
    cr_expect_eq(c0->st.walks, 3, "A again, B still cached under the user PCID");
    cr_expect_eq(c1->st.user_asid_deferred_flushes, 1);
    cr_expect_eq(c0->cr3_pcid, user_pcid(1), "back in user space, user PCID 0x802");
    cr_expect(!c0->in_kernel);
    cr_expect_eq(h.t.cpu.stale_accesses, 0);
    h_done(&h);

    cr_assert_eq(h_run(&h, pti_partial, P("linux-pcid-pti"), no_invpcid), 0, "%s", h.err.msg);
    c0 = sim_cpu(h.s, 0);
    c1 = sim_cpu(h.s, 1);
    cr_expect_eq(c0->st.user_asid_deferred_flushes, 2, "the switch's and the IPI's");
    cr_expect_eq(c0->st.walks, 4, "the whole user PCID went at the return");
    cr_expect_eq(c1->st.user_asid_deferred_flushes, 2, "the switch's and its own flush's");
    cr_expect_eq(h.t.cpu.stale_accesses, 0);
    h_done(&h);

    /* linux-pcid (no PTI) on the same trace: nothing deferred; INVLPG
     * drops A from the only PCID. */
    cr_assert_eq(h_run(&h, pti_partial, P("linux-pcid"), no_invpcid), 0, "%s", h.err.msg);
    c0 = sim_cpu(h.s, 0);
    cr_expect_eq(c0->st.user_asid_deferred_flushes, 0);
    cr_expect_eq(c0->st.walks, 3);
    cr_expect_eq(c0->cr3_pcid, kern_pcid(1));
    h_done(&h);
}

/* 6.15+ global ASIDs (broadcast-asid).  linux.hz = 100000 makes a jiffy
 * 25,000 cycles, so consider_global_asid()'s sampling test (pid & 31 ==
 * jiffies & 31, with the mm id for the pid) passes for mm 1 at t = 30,000
 * (jiffy 1).  CPUs 0-4 run mm 1 on dynamic ASID 1.
 *   t=30000   CPU 0 write-protects B: IPIs to CPUs 1-4 (4 > 3 CPUs run
 *             mm 1), then consider_global_asid(): the first allocation
 *             resets the ASID space (one INVLPGB flushing every
 *             non-global entry everywhere) and hands out ASID 6.
 *   t=100000  CPU 0 write-protects C: one INVLPGB on PCID 7; every CPU
 *             still runs mm 1 on ASID 1, so finish_asid_transition()
 *             IPIs mm_cpumask and each CPU reloads CR3 with ASID 6.
 *   t=200000  CPU 4 reads A (fills under PCID 7), then runs mm 2.
 *   t=300000  CPU 0 write-protects A: one INVLPGB on PCID 7 reaches CPU
 *             4, which is not running mm 1, with no IPI; CPUs 0-3 are
 *             all on ASID 6: the transition ends.
 *   t=400000  CPU 4 comes back to mm 1: ASID 6 with no flush (NOFLUSH);
 *             its read of A walks, because the INVLPGB dropped A.
 * CPU 4: 2 IPIs, walks 3 (2 without the protect at 300000). */
#define GLOBAL_ASID(extra) HDR(5) MM(1) MM(2) \
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n" \
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n" \
    "{\"op\":\"switch\",\"cpu\":2,\"mm\":1}\n" \
    "{\"op\":\"switch\",\"cpu\":3,\"mm\":1}\n" \
    "{\"op\":\"switch\",\"cpu\":4,\"mm\":1}\n" \
    "{\"op\":\"access\",\"cpu\":4,\"va\":\"0x401000\",\"kind\":\"r\"}\n" \
    "{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x402000\",\"len\":\"0x1000\",\"prot\":\"r\",\"t\":30000}\n" \
    "{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x403000\",\"len\":\"0x1000\",\"prot\":\"r\",\"t\":100000}\n" \
    "{\"op\":\"access\",\"cpu\":4,\"va\":\"0x401000\",\"kind\":\"r\",\"t\":200000}\n" \
    "{\"op\":\"switch\",\"cpu\":4,\"mm\":2,\"t\":210000}\n" \
    extra \
    "{\"op\":\"switch\",\"cpu\":4,\"mm\":1,\"t\":400000}\n" \
    "{\"op\":\"access\",\"cpu\":4,\"va\":\"0x401000\",\"kind\":\"r\"}\n"
static const char global_asid_flush[] = GLOBAL_ASID(
    "{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x401000\",\"len\":\"0x1000\",\"prot\":\"r\",\"t\":300000}\n");
static const char global_asid_noflush[] = GLOBAL_ASID("");

Test(pcid, global_asid_at_the_threshold_and_invlpgb_reaching_an_idle_holder)
{
    static const char *const hz[] = { "linux.hz=100000", NULL };
    struct h_run h;
    const struct cpu *c4;

    cr_assert_eq(h_run(&h, global_asid_flush, P("broadcast-asid"), hz), 0, "%s", h.err.msg);
    c4 = sim_cpu(h.s, 4);
    cr_expect_eq(h.t.cpu.global_asids_assigned, 1);
    cr_expect_eq(sim_cpu(h.s, 0)->st.global_asids_assigned, 1, "CPU 0's flush assigned it");
    cr_expect_eq(h.t.broadcasts, 3, "the reset, then one per protect of mm 1 with ASID 6");
    cr_expect_eq(h.t.ipis_sent, 8, "4 for B, 4 to move CPUs 1-4 onto ASID 6, none for A");
    cr_expect_eq(c4->st.ipis_received, 2);
    cr_expect_eq(c4->loaded_mm_asid, 6, "the first global ASID is TLB_NR_DYN_ASIDS");
    cr_expect_eq(c4->cr3_pcid, kern_pcid(6));
    cr_expect_eq(c4->st.walks, 3, "INVLPGB dropped A while CPU 4 ran mm 2");
    cr_expect_eq(h.t.cpu.stale_accesses, 0);
    for (u32 i = 0; i < 4; i++)
        cr_expect_eq(sim_cpu(h.s, i)->loaded_mm_asid, 6, "CPU %u on ASID 6", i);
    h_done(&h);

    cr_assert_eq(h_run(&h, global_asid_noflush, P("broadcast-asid"), hz), 0, "%s", h.err.msg);
    c4 = sim_cpu(h.s, 4);
    cr_expect_eq(c4->st.walks, 2, "A survived under PCID 7 while CPU 4 ran mm 2");
    cr_expect_eq(c4->st.ipis_received, 2);
    h_done(&h);

    /* Not sampled (mm 1 at jiffy 0): no global ASID, IPIs as linux-pcid. */
    static const char *const slow[] = { "linux.hz=1000", NULL };
    cr_assert_eq(h_run(&h, global_asid_flush, P("broadcast-asid"), slow), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.cpu.global_asids_assigned, 0);
    cr_expect_eq(h.t.broadcasts, 0);
    cr_expect_eq(h.t.cpu.stale_accesses, 0);
    h_done(&h);
}

/* No policy with PCID may use a translation that no longer exists: 0
 * stale_accesses under every PCID policy (linux-pcid, linux-pcid-pti,
 * broadcast-asid) on the bundled trace and on every workload spec's
 * default output.  The variants must also have run their mechanism
 * somewhere (NOFLUSH switches, deferred user flushes, a global ASID), so
 * a policy that silently fell back to PCID-less rules fails here. */
Test(pcid, no_stale_access_under_any_pcid_policy_on_shipped_inputs, .timeout = 240,
     .init = h_tmpdir_setup, .fini = h_tmpdir_teardown)
{
    u64 noflush[16] = { 0 }, deferred[16] = { 0 }, global[16] = { 0 };
    const char *gen = h_tmp_path("wl.jsonl");
    struct sim_err err = { 0 };
    u32 nr_pcid = 0;
    glob_t g;

    cr_assert_eq(glob("../workloads/*.json", 0, NULL, &g), 0);
    for (size_t i = 0; i <= g.gl_pathc; i++) {
        const char *in = i < g.gl_pathc ? g.gl_pathv[i] : "../traces/default.jsonl";
        char *text;
        size_t n;

        if (i < g.gl_pathc) {
            cr_assert_eq(wl_spec_generate(in, gen, &err), SIM_OK, "%s: %s", in, err.msg);
            text = cli_slurp(gen, &n);
        } else {
            text = cli_slurp(in, &n);
        }
        cr_assert(text, "%s", in);
        nr_pcid = 0;
        for (size_t p = 0; p < flush_nr_policies; p++) {
            const struct flush_policy *pol = &flush_policies[p];
            struct h_run h;

            if (!pol->pcid)
                continue;
            cr_assert_lt(nr_pcid, 16);
            /* the host-side VM workloads (vm_*) back their guest with ept_map; virt.tdx
             * for tdx_remove (host_zap then acts on a TD's shared memory) */
            static const char *const ept_sets[] = { "virt.enabled=true", "virt.ept=true",
                                                     "virt.tdx=true", NULL };
            const char *const *sets = strstr(text, "\"op\":\"ept_map\"") ? ept_sets : NULL;
            cr_assert_eq(h_run(&h, text, pol, sets), 0, "%s %s: %s", in, pol->name, h.err.msg);
            cr_expect_eq(h.t.cpu.stale_accesses, 0, "%s under %s", in, pol->name);
            noflush[nr_pcid] += h.t.cpu.task_switch_noflush;
            deferred[nr_pcid] += h.t.cpu.user_asid_deferred_flushes;
            global[nr_pcid] += h.t.cpu.global_asids_assigned;
            nr_pcid++;
            h_done(&h);
        }
        free(text);
    }
    globfree(&g);
    cr_assert_geq(nr_pcid, 3, "linux-pcid, linux-pcid-pti, broadcast-asid");
    for (size_t p = 0, k = 0; p < flush_nr_policies; p++) {
        const struct flush_policy *pol = &flush_policies[p];

        if (!pol->pcid)
            continue;
        cr_expect_gt(noflush[k], 0, "%s never kept an ASID", pol->name);
        cr_expect_eq(deferred[k] > 0, pol->pti, "%s: deferred user flushes", pol->name);
        cr_expect_eq(global[k] > 0, pol->global_asid, "%s: global ASIDs", pol->name);
        k++;
    }
}

/* The comparison: on traces/default.jsonl the report says what PCID, PTI
 * and global ASIDs changed, by their counters, and its mechanism table has
 * their columns. */
Test(pcid, report_explains_the_pcid_variants, .timeout = 120)
{
    struct cli_ws ws;
    struct cli_res *r = malloc(sizeof(*r));
    char trace[PATH_MAX], path[PATH_MAX + 32];
    const char *run[] = { "run", cli_repo("traces/default.jsonl", trace, sizeof(trace)),
                          "--policy", "linux,linux-pcid,linux-pcid-pti,broadcast-asid",
                          "--out", "c", "-q", NULL };
    const char *rep[] = { "report", "c", NULL };
    char *md;

    cr_assert(r);
    cli_ws_init(&ws);
    cli_run(&ws, run, 100, r);
    cr_assert_eq(r->status, 0, "%s", r->err);
    cli_run(&ws, rep, 30, r);
    cr_assert_eq(r->status, 0, "%s", r->err);
    md = cli_slurp(cli_path(&ws, "c/report.md", path, sizeof(path)), NULL);
    cr_assert(md);
    cr_expect(strstr(md, "loaded CR3 with NOFLUSH (`task_switch_noflush`"), "%s", md);
    cr_expect(strstr(md, "returns to user space flushed the user PCID"));
    cr_expect(strstr(md, "mms got a global ASID (`global_asids_assigned`)"));
    cr_expect(strstr(md, "| `user_asid_deferred_flushes` |"));
    cr_expect(strstr(md, "**Not available on this machine:** `skylake-sp` has no broadcast"));
    /* linux's own paragraph has none of it. */
    const char *lin = strstr(md, "- **`linux`**"), *next = lin ? strstr(lin + 1, "\n- **") : NULL;
    cr_assert(lin && next);
    cr_expect(!memmem(lin, (size_t)(next - lin), "NOFLUSH", 7));
    free(md);
    free(r);
    cli_ws_done(&ws);
}
