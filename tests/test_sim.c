/* tests/test_sim.c - scenarios with hand-computable answers for every
 * Linux TLB rule the engine models (issue: shootdown model), run through
 * the real engine with invariant checking on. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define HDR(n) "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":" #n "}\n"
#define MM1_16 "{\"op\":\"mm_new\",\"mm\":1}\n" \
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x10000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"

static const struct flush_policy *linux_ = NULL, *l414 = NULL;

static void setup(void)
{
    linux_ = flush_policy_find("linux");
    l414 = flush_policy_find("linux-4.14");
    cr_assert(linux_ && l414);
}

TestSuite(sim, .init = setup);

/* CPU 1 goes lazy, CPU 0 unmaps one page (no table freed). */
static const char lazy_one_page[] =
    HDR(2) MM1_16
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x400000\",\"kind\":\"r\"}\n"
    "{\"op\":\"access\",\"cpu\":1,\"va\":\"0x401000\",\"kind\":\"r\"}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":null}\n"
    "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x1000\",\"t\":10000}\n";

Test(sim, lazy_cpu_is_skipped)
{
    struct h_run h;

    cr_assert_eq(h_run(&h, lazy_one_page, linux_, NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.flush_requests, 1);
    cr_expect_eq(h.t.ipis_sent, 0);
    cr_expect_eq(h.t.ipis_skipped_lazy, 1);
    cr_expect_eq(h.t.shootdowns, 0);
    cr_expect(sim_cpu(h.s, 1)->is_lazy);
    cr_expect_eq(sim_cpu(h.s, 1)->loaded_mm->id, 1, "lazy CPU keeps the mm loaded");
    cr_expect_eq(h.t.cpu.nr_tlb_remote_flush, 1, "native_flush_tlb_multi still ran");
    h_done(&h);
}

Test(sim, linux_414_ipis_lazy_cpu_which_leaves_mm)
{
    struct h_run h;

    cr_assert_eq(h_run(&h, lazy_one_page, l414, NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.ipis_sent, 1);
    cr_expect_eq(h.t.ipis_skipped_lazy, 0);
    cr_expect_eq(h.t.shootdowns, 1);
    cr_expect_eq(sim_cpu(h.s, 1)->loaded_mm->id, -1, "lazy receiver switched to init_mm");
    cr_expect(!sim_cpu(h.s, 1)->is_lazy);
    cr_expect_eq(sim_cpu(h.s, 1)->st.task_switch_flushes, 2);
    h_done(&h);
}

Test(sim, freed_tables_forces_ipi_to_lazy_cpu)
{
    static const char t[] =
        HDR(2) MM1_16
        "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
        "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
        "{\"op\":\"access\",\"cpu\":1,\"va\":\"0x401000\",\"kind\":\"r\"}\n"
        "{\"op\":\"switch\",\"cpu\":1,\"mm\":null}\n"
        "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x10000\",\"t\":10000}\n";
    struct h_run h;

    cr_assert_eq(h_run(&h, t, linux_, NULL), 0, "%s", h.err.msg);
    cr_assert_eq(h.nr_fl, 1);
    cr_expect(h.fl[0].freed_tables, "every PTE of the table went: it is freed");
    cr_expect_eq(h.t.ipis_sent, 1);
    cr_expect_eq(h.t.ipis_skipped_lazy, 0);
    cr_expect_eq(sim_cpu(h.s, 1)->loaded_mm->id, -1, "lazy CPU dropped to init_mm");
    cr_expect_eq(sim_cpu(h.s, 1)->st.task_switch_flushes, 2);
    h_done(&h);
}

static const char catch_up_fmt[] =
    HDR(2) MM1_16
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":null}\n"
    "%s"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1,\"t\":50000}\n";

static u64 cpu1_switch_flushes(const char *middle, const struct flush_policy *pol)
{
    char t[2048];
    struct h_run h;
    u64 n;

    snprintf(t, sizeof(t), catch_up_fmt, middle);
    cr_assert_eq(h_run(&h, t, pol, NULL), 0, "%s", h.err.msg);
    n = sim_cpu(h.s, 1)->st.task_switch_flushes;
    h_done(&h);
    return n;
}

Test(sim, return_from_lazy_flushes_only_if_tlb_gen_moved)
{
    const char *unmap =
        "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x1000\",\"t\":10000}\n";

    cr_expect_eq(cpu1_switch_flushes("", linux_), 1, "unchanged mm: no flush on return");
    cr_expect_eq(cpu1_switch_flushes(unmap, linux_), 2, "tlb_gen moved: one catch-up flush");
}

static void ceiling_case(unsigned pages, bool expect_full)
{
    char t[2048];
    struct h_run h;

    snprintf(t, sizeof(t),
             HDR(2)
             "{\"op\":\"mm_new\",\"mm\":1}\n"
             "{\"op\":\"map\",\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x40000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
             "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
             "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
             "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x%x\",\"t\":10000}\n",
             pages * 4096);
    cr_assert_eq(h_run(&h, t, linux_, NULL), 0, "%s", h.err.msg);
    cr_assert_eq(h.nr_fl, 1);
    cr_expect_eq(h.fl[0].full, expect_full, "%u pages", pages);
    cr_expect_eq(h.fl[0].pages, pages);
    if (expect_full) {
        cr_expect_eq(sim_cpu(h.s, 1)->st.flush_full, 1);
        cr_expect_eq(sim_cpu(h.s, 1)->st.flush_pages, 0);
        cr_expect_eq(h.t.cpu.nr_tlb_local_flush_all, 1);
    } else {
        cr_expect_eq(sim_cpu(h.s, 1)->st.flush_full, 0);
        cr_expect_eq(sim_cpu(h.s, 1)->st.flush_pages, pages);
        cr_expect_eq(h.t.cpu.nr_tlb_local_flush_one, pages);
    }
    h_done(&h);
}

Test(sim, ceiling_33_pages_partial_34_full)
{
    ceiling_case(33, false);
    ceiling_case(34, true);
}

Test(sim, two_concurrent_generations_become_one_full_flush)
{
    static const char t[] =
        HDR(3) MM1_16
        "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
        "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
        "{\"op\":\"switch\",\"cpu\":2,\"mm\":1}\n"
        "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x1000\",\"t\":10000}\n"
        "{\"op\":\"unmap\",\"cpu\":1,\"mm\":1,\"va\":\"0x408000\",\"len\":\"0x1000\",\"t\":10000}\n";
    struct h_run h;
    const struct cpu *c2;

    cr_assert_eq(h_run(&h, t, linux_, NULL), 0, "%s", h.err.msg);
    c2 = sim_cpu(h.s, 2);
    cr_expect_eq(c2->st.ipis_received, 2, "both requests reach CPU 2");
    cr_expect_eq(c2->st.flush_full, 1, "gen 1 arrives when the mm is at gen 2: full flush");
    cr_expect_eq(c2->st.flush_pages, 0, "gen 2 then finds CPU 2 current");
    cr_expect_eq(c2->tlb_gen, 2);
    h_done(&h);
}

Test(sim, kernel_flush_reaches_idle_cpus)
{
    static const char t[] =
        HDR(4)
        "{\"op\":\"idle\",\"cpu\":1}\n"
        "{\"op\":\"idle\",\"cpu\":2,\"cstate\":6}\n"
        "{\"op\":\"idle\",\"cpu\":3}\n"
        "{\"op\":\"kflush\",\"cpu\":0,\"va\":\"0xffffffff81000000\",\"len\":\"0x2000\",\"t\":10000}\n";
    struct h_run h;

    cr_assert_eq(h_run(&h, t, linux_, NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.ipis_sent, 3);
    for (u32 i = 1; i < 4; i++)
        cr_expect_eq(sim_cpu(h.s, i)->st.ipis_received, 1, "cpu %u", i);
    cr_expect_eq(h.t.icr_writes, 1, "all-but-self shorthand");
    cr_assert_eq(h.nr_fl, 1);
    /* The C6 CPU pays its exit latency before it can acknowledge. */
    cr_expect_geq(h.fl[0].t_done - h.fl[0].t_request, h.m.c6_exit_cycles);
    h_done(&h);
}

Test(sim, global_entries_survive_cr3_writes)
{
    static const char t[] =
        HDR(1)
        "{\"op\":\"mm_new\",\"mm\":1}\n"
        "{\"op\":\"mm_new\",\"mm\":2}\n"
        "{\"op\":\"map\",\"mm\":\"kernel\",\"va\":\"0xffffffff81000000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rx\",\"global\":true}\n"
        "{\"op\":\"map\",\"mm\":\"kernel\",\"va\":\"0xffffffff82000000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
        "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
        "{\"op\":\"access\",\"cpu\":0,\"va\":[\"0xffffffff81000000\",\"0xffffffff82000000\"],\"kind\":\"r\"}\n"
        "{\"op\":\"switch\",\"cpu\":0,\"mm\":2}\n"
        "{\"op\":\"access\",\"cpu\":0,\"va\":[\"0xffffffff81000000\",\"0xffffffff82000000\"],\"kind\":\"r\"}\n";
    struct h_run h;

    cr_assert_eq(h_run(&h, t, linux_, NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.cpu.task_switch_flushes, 2);
    cr_expect_eq(h.t.cpu.l1d_hits, 1, "the global entry survived the CR3 write");
    cr_expect_eq(h.t.cpu.l1d_misses, 3);
    h_done(&h);
}

/* ---- timing -------------------------------------------------------------- */

static u64 unmap_latency(unsigned cpus, const char *const *sets)
{
    char t[16384];
    int n = snprintf(t, sizeof(t), "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":%u}\n" MM1_16,
                     cpus);
    struct h_run h;
    u64 lat;

    for (unsigned i = 0; i < cpus; i++)
        n += snprintf(t + n, sizeof(t) - (size_t)n, "{\"op\":\"switch\",\"cpu\":%u,\"mm\":1}\n", i);
    snprintf(t + n, sizeof(t) - (size_t)n,
             "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x1000\",\"t\":100000}\n");
    cr_assert_eq(h_run(&h, t, linux_, sets), 0, "%s", h.err.msg);
    cr_assert_eq(h.nr_fl, 1);
    cr_assert_eq(h.fl[0].targets, cpus - 1);
    lat = h.fl[0].t_done - h.fl[0].t_request;
    h_done(&h);
    return lat;
}

Test(sim, more_targets_never_finish_sooner)
{
    static const char *const sets[] = { "sockets=2", "apic.shorthand=false", NULL };
    u64 prev = 0;

    for (unsigned n = 2; n <= 64; n *= 2) {
        u64 lat = unmap_latency(n, sets);
        cr_expect_geq(lat, prev, "%u CPUs: %llu < %llu", n, (unsigned long long)lat,
                      (unsigned long long)prev);
        prev = lat;
    }
}

Test(sim, x2apic_physical_costs_more_than_cluster_for_wide_multicast)
{
    static const char *const phys[] = { "apic.mode=x2apic-phys", "apic.shorthand=false", NULL };
    static const char *const clus[] = { "apic.mode=x2apic-cluster", "apic.shorthand=false", NULL };
    u64 lp = unmap_latency(32, phys), lc = unmap_latency(32, clus);

    cr_expect_gt(lp, lc, "phys %llu cluster %llu", (unsigned long long)lp, (unsigned long long)lc);
}

/* ---- safety ---------------------------------------------------------------- */

/* CPU 1 caches page X, goes lazy; CPU 0 unmaps X (skipping the lazy CPU),
 * the frame is freed; CPU 1 returns to the mm and touches X again. */
static const char stale_trace[] =
    HDR(2) MM1_16
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"access\",\"cpu\":1,\"va\":\"0x401000\",\"kind\":\"r\"}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":null}\n"
    "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x401000\",\"len\":\"0x1000\",\"t\":10000}\n"
    "{\"op\":\"map\",\"cpu\":0,\"mm\":1,\"va\":\"0x401000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1,\"t\":50000}\n"
    "{\"op\":\"access\",\"cpu\":1,\"va\":\"0x401000\",\"kind\":\"r\"}\n";

Test(sim, linux_policies_show_no_stale_access)
{
    struct h_run h;

    cr_assert_eq(h_run(&h, stale_trace, linux_, NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.cpu.stale_accesses, 0);
    h_done(&h);
    cr_assert_eq(h_run(&h, stale_trace, l414, NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.cpu.stale_accesses, 0);
    h_done(&h);
}

Test(sim, broken_policy_shows_stale_accesses)
{
    /* Lazy CPUs skipped (4.20+) but no tlb_gen check on return (4.14):
     * a mix no kernel ever shipped, and unsafe. */
    struct flush_policy broken = *linux_;
    struct h_run h;

    broken.name = "broken";
    broken.lazy_gen_check = false;
    cr_assert_eq(h_run(&h, stale_trace, &broken, NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.cpu.stale_accesses, 1);
    cr_expect_eq(sim_cpu(h.s, 1)->nr_stale_log, 1);
    cr_expect_eq(sim_cpu(h.s, 1)->stale_log[0].va, 0x401000);
    h_done(&h);
}

Test(sim, mm_exit_frees_everything_and_flushes_lazy_users)
{
    static const char t[] =
        HDR(2) MM1_16
        "{\"op\":\"mm_new\",\"mm\":2}\n"
        "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
        "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
        "{\"op\":\"access\",\"cpu\":1,\"va\":\"0x401000\",\"kind\":\"w\"}\n"
        "{\"op\":\"switch\",\"cpu\":1,\"mm\":null}\n"
        "{\"op\":\"switch\",\"cpu\":0,\"mm\":2}\n"
        "{\"op\":\"mm_exit\",\"cpu\":0,\"mm\":1}\n"
        "{\"op\":\"mark\",\"label\":\"after exit\"}\n";
    struct h_run h;

    cr_assert_eq(h_run(&h, t, linux_, NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.nr_marks, 1);
    cr_expect_str_eq(h.marks[0], "after exit");
    cr_assert_geq(h.nr_fl, 1);
    cr_expect(h.fl[h.nr_fl - 1].freed_tables);
    cr_expect_eq(sim_cpu(h.s, 1)->loaded_mm->id, -1, "the lazy borrower left the dead mm");
    h_done(&h);
}

/* ---- the contract's LRU check ------------------------------------------------ */

#include "ref/tlb_ref.h"

Test(sim, l1d_misses_match_true_lru_reference)
{
    static char t[1 << 20];
    static const char *const sets[] = { "tlb.replacement=lru", NULL };
    const u8 shift[] = { 12 };
    struct tlb_ref ref;
    struct h_run h;
    u64 x = 12345, misses = 0;
    int n;

    n = snprintf(t, sizeof(t), HDR(1)
                 "{\"op\":\"mm_new\",\"mm\":1}\n"
                 "{\"op\":\"map\",\"mm\":1,\"va\":\"0x10000000\",\"len\":\"0x100000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
                 "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n");
    cr_assert_eq(tlb_ref_init(&ref, 64, 4, 1, shift, TLB_REPL_LRU, 1), 0);
    for (int line = 0; line < 200; line++) {
        n += snprintf(t + n, sizeof(t) - (size_t)n, "{\"op\":\"access\",\"cpu\":0,\"kind\":\"r\",\"va\":[");
        for (int i = 0; i < 50; i++) {
            u64 va;
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            /* a skewed mix: hot set of 48 pages plus the whole 256 */
            va = 0x10000000 + (((x >> 33) % 100 < 70 ? (x >> 20) % 48 : (x >> 20) % 256) << 12)
                 + ((x >> 8) & 0xff8);
            n += snprintf(t + n, sizeof(t) - (size_t)n, "%s\"0x%llx\"", i ? "," : "",
                          (unsigned long long)va);
            u32 set, way;
            if (!tlb_ref_lookup(&ref, va, &set, &way)) {
                struct tlb_ref_entry p = { 0 }, ev;
                misses++;
                tlb_ref_fill(&ref, va, 12, &p, &ev, &set, &way);
            }
        }
        n += snprintf(t + n, sizeof(t) - (size_t)n, "]}\n");
    }
    cr_assert_eq(h_run(&h, t, linux_, sets), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.cpu.accesses, 200 * 50);
    cr_expect_eq(h.t.cpu.l1d_misses, misses, "engine %llu, reference LRU %llu",
                 (unsigned long long)h.t.cpu.l1d_misses, (unsigned long long)misses);
    h_done(&h);
    tlb_ref_destroy(&ref);
}

/* 6.13+: a CPU that switched to another mm stays in mm_cpumask; flushes
 * skip it, except that at most once a second (HZ jiffies) one of them
 * carries trim_cpumask and the IPI makes it leave the mask. */
Test(sim, lazy_cpumask_trim_once_a_second)
{
    static const char t[] =
        HDR(2) MM1_16
        "{\"op\":\"mm_new\",\"mm\":2}\n"
        "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
        "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
        "{\"op\":\"switch\",\"cpu\":1,\"mm\":2}\n"
        "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x1000\",\"t\":10000}\n"
        "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x401000\",\"len\":\"0x1000\",\"t\":3000000000}\n"
        "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x402000\",\"len\":\"0x1000\",\"t\":3100000000}\n";
    struct h_run h;

    cr_assert_eq(h_run(&h, t, linux_, NULL), 0, "%s", h.err.msg);
    cr_assert_eq(h.nr_fl, 3);
    cr_expect_eq(h.fl[0].targets, 0);
    cr_expect_eq(h.fl[0].skipped_other, 1, "stale CPU skipped within the first second");
    cr_expect_eq(h.fl[1].targets, 1, "after a second: the trim IPI");
    cr_expect_eq(h.fl[2].targets + h.fl[2].skipped_other, 0, "CPU 1 left the mask");
    h_done(&h);
    /* 4.14 cleared the bit at the switch: never a target. */
    cr_assert_eq(h_run(&h, t, l414, NULL), 0, "%s", h.err.msg);
    for (u32 i = 0; i < 3; i++)
        cr_expect_eq(h.fl[i].targets, 0);
    h_done(&h);
}

/* Address-space indices: the lowest never used, except that the most
 * recently released one is taken first (sim.c keeps only the released
 * ones on a stack; the order is what a full list of free indices gave). */
Test(sim, mm_indices_reuse_the_latest_released_first)
{
    static const char t[] =
        HDR(1)
        "{\"op\":\"mm_new\",\"mm\":10}\n"
        "{\"op\":\"mm_new\",\"mm\":20}\n"
        "{\"op\":\"mm_new\",\"mm\":30}\n"
        "{\"op\":\"mm_new\",\"mm\":40}\n"
        "{\"op\":\"mm_new\",\"mm\":50}\n"
        "{\"op\":\"mm_exit\",\"cpu\":0,\"mm\":20}\n"
        "{\"op\":\"mm_exit\",\"cpu\":0,\"mm\":40}\n"
        "{\"op\":\"mm_new\",\"mm\":60}\n"
        "{\"op\":\"mm_new\",\"mm\":70}\n"
        "{\"op\":\"mm_new\",\"mm\":80}\n"
        "{\"op\":\"mm_exit\",\"cpu\":0,\"mm\":10}\n"
        "{\"op\":\"mm_new\",\"mm\":90}\n";
    static const s64 want[] = { -1, 90, 70, 30, 60, 50, 80 };     /* by index */
    struct h_run h;

    cr_assert_eq(h_run(&h, t, linux_, NULL), 0, "%s", h.err.msg);
    for (u16 i = 1; i < sizeof(want) / sizeof(want[0]); i++)
        cr_expect_eq(sim_mm_id(h.s, i), want[i], "index %u: mm %lld", i,
                     (long long)sim_mm_id(h.s, i));
    cr_expect_eq(sim_mm_id(h.s, 7), -2, "index 7 never used");
    h_done(&h);
}
