/* tests/test_timing.c - shootdown costs as smp_call_function_many_cond()
 * pays them (models/smp.h) and the paravirtual flush rules, in scenarios
 * small enough to compute by hand.  These test model behaviour, not the
 * speed of the simulator.
 *
 * machine_init defaults used below (cycles): flush_request 400, cond 20,
 * csd_lock 110, llist_add 130, ICR write 100, delivery 1500 (3000 across
 * sockets), irq entry 400, csd_read 150, info line 110 (busy 40 per
 * reader), handler 150, INVLPG 260, ack (csd_lock_wait read) 200, one more
 * 200 per line moved between sockets, VM exit 2500, hypercall 2500; the
 * entry spread is set to 0 where a figure is computed exactly.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/smp.h"
#include "../sim/engine/sim_priv.h"     /* irqs_taken per CPU */
#include "../sim/io/model_load.h"
#include "harness.h"

#define HDR "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":%u}\n"
#define MM1 "{\"op\":\"mm_new\",\"mm\":1}\n" \
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x40000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"

static const struct flush_policy *P(const char *name)
{
    const struct flush_policy *p = flush_policy_find(name);
    cr_assert(p, "policy %s", name);
    return p;
}

/* n CPUs all running mm 1; CPU 0 zaps one page at cycle 100000. */
static char *zap_trace(u32 n)
{
    size_t cap = 256 + 48 * (size_t)n;
    char *t = malloc(cap);
    size_t len;

    cr_assert(t);
    len = (size_t)snprintf(t, cap, HDR MM1, n);
    for (u32 i = 0; i < n; i++)
        len += (size_t)snprintf(t + len, cap - len, "{\"op\":\"switch\",\"cpu\":%u,\"mm\":1}\n", i);
    snprintf(t + len, cap - len, "{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x401000\","
             "\"len\":\"0x1000\",\"t\":100000}\n");
    return t;
}

static u64 zap_latency(u32 n, const char *machine, const char *const *sets,
                       const struct flush_policy *pol)
{
    char *text = zap_trace(n);
    struct h_run h;
    u64 lat;

    cr_assert_eq(h_run_machine(&h, text, pol, machine, sets), 0, "%s", h.err.msg);
    cr_assert_eq(h.nr_fl, 1);
    cr_assert_eq(h.fl[0].targets, n - 1);
    lat = h.fl[0].t_done - h.fl[0].t_request;
    h_done(&h);
    free(text);
    return lat;
}

/* ---- one target, term by term ------------------------------------------ */

Test(timing, one_target_same_socket_term_by_term)
{
    static const char *const s[] = { "ipi.irq_entry_spread_cycles=0", "sockets=1", NULL };

    /* 400 request + 20 should_flush_tlb(CPU 1) + 110 csd_lock + 130
     * llist_add + 100 ICR + 1500 delivery + 400 entry + 150 csd read + 110
     * info line + (150 + 260) flush_tlb_func + 200 csd_lock_wait = 3530. */
    cr_expect_eq(zap_latency(2, NULL, s, P("linux")), 3530);
}

Test(timing, one_target_across_sockets_pays_each_line_once_more)
{
    static const char *const s[] = { "ipi.irq_entry_spread_cycles=0", "sockets=2", NULL };

    /* As above, with CPU 1 on the other socket: delivery 3000 instead of
     * 1500, and csd_lock, llist_add, csd read, info line and the
     * csd_lock_wait read each move a line across: 5 x 200.
     * 3530 + 1500 + 1000 = 6030. */
    cr_expect_eq(zap_latency(2, NULL, s, P("linux")), 6030);
}

Test(timing, three_targets_queue_then_send_then_wait_in_cpumask_order)
{
    static const char *const s[] = { "ipi.irq_entry_spread_cycles=0", "sockets=1",
                                     "apic.mode=x2apic-phys", "apic.shorthand=false", NULL };

    /* Initiator: 400 + 3 x 20 cond + 3 x (110 + 130) queue = 1180, then
     * ICR writes at +100, +200, +300.  Targets arrive 1500 later and
     * read the csd (150) and the info line, which serves one reader per
     * 40 cycles: they reach it 100 apart, so nobody queues (110 each).
     * CPU 3 (last written) unlocks at 1180 + 300 + 1500 + 400 + 150 + 110
     * + 410 = 4050; CPU 1 at 3850, CPU 2 at 3950.  csd_lock_wait walks
     * CPUs 1, 2, 3: max(3850 + 600, 3950 + 400, 4050 + 200) = 4450. */
    cr_expect_eq(zap_latency(4, NULL, s, P("linux")), 4450);
}

Test(timing, readers_of_the_info_line_queue_behind_each_other)
{
    static const char *const s[] = { "ipi.irq_entry_spread_cycles=0", "sockets=1",
                                     "smp.info_share_cycles=1000", NULL };

    /* Three targets reached by one shorthand write at the same cycle: the
     * info line serves them 1000 apart.  1180 queue (400 + 3 x 20 + 3 x
     * 240) + 100 ICR + 1500 + 400 + 150 = 3330 to reach the line; unlocks
     * at 3330 + 110 + 410 = 3850, then 4850 and 5850 (CPUs 1, 2, 3 in
     * event order); CPU 3's is last: 5850 + 200 = 6050. */
    cr_expect_eq(zap_latency(4, NULL, s, P("linux")), 6050);
}

/* A handler drains its whole queue in one step, so the engine may run a
 * read of a request's info line at a later cycle before another target's
 * read at an earlier one.  The earlier reader must not wait for that
 * future reservation (it did: with 16 threads flushing each other in
 * tlb_flush2_threads, targets waited 2,589 cycles per csd on average where
 * 150 + 110 + a few 40s were due).  Defaults: csd_read 150, info line 110,
 * busy 40 per reader; one socket. */
Test(timing, info_line_reader_never_waits_for_a_later_reader)
{
    struct machine m;
    struct smp_info_line line = { 0 };

    machine_init(&m);
    m.cpus = 4;
    /* CPU 1 at 10000: first reader, 150 + 110. */
    cr_expect_eq(smp_target_read(&m, 0, 1, &line, 10000), 260);
    /* CPU 2 at 1000, run later by the engine: it came first in time, so
     * it is served at 1150 without waiting for the line's 10150..10190. */
    cr_expect_eq(smp_target_read(&m, 0, 2, &line, 1000), 260);
    /* CPU 3 at 10000, in order after CPU 1: queues behind it, 10190 + 110. */
    cr_expect_eq(smp_target_read(&m, 0, 3, &line, 10000), 300);
}

/* ---- latency rises with the targets ------------------------------------ */

static const char *const shipped[] = {
    "../models/skylake-sp.json", "../models/sapphire-rapids.json", "../models/zen3.json",
    "../models/zen4.json", "../models/kvm-guest-skylake.json",
};

/* The scenario of the issue: a one-page zap with every CPU running the mm,
 * cpus = N on two sockets, for N = 2..64, every APIC mode with and without
 * the all-but-self shorthand, on every shipped machine. */
Test(timing, latency_rises_strictly_with_targets_everywhere, .timeout = 120)
{
    static const char *const modes[] = { "xapic-flat", "x2apic-phys", "x2apic-cluster" };

    for (size_t mi = 0; mi < ARRAY_SIZE(shipped); mi++)
        for (size_t a = 0; a < ARRAY_SIZE(modes); a++)
            for (int sh = 0; sh < 2; sh++) {
                char mode[64], shorthand[64], cpus[32];
                const char *sets[] = { "sockets=2", mode, shorthand, cpus, NULL };
                u64 prev = 0;

                snprintf(mode, sizeof(mode), "apic.mode=%s", modes[a]);
                snprintf(shorthand, sizeof(shorthand), "apic.shorthand=%s", sh ? "true" : "false");
                for (u32 n = 2; n <= 64; n++) {
                    snprintf(cpus, sizeof(cpus), "cpus=%u", n);
                    u64 lat = zap_latency(n, shipped[mi], sets, P("linux"));
                    cr_expect_gt(lat, prev, "%s %s %s: %u CPUs %llu cycles, %u CPUs %llu",
                                 shipped[mi], mode, shorthand, n, (unsigned long long)lat,
                                 n - 1, (unsigned long long)prev);
                    prev = lat;
                }
            }
}

Test(timing, entry_spread_is_seeded_per_cpu_and_bounded)
{
    struct machine m;
    u64 sum = 0;

    machine_init(&m);
    for (u32 cpu = 0; cpu < 1000; cpu++) {
        cycles_t x = smp_irq_entry_spread(&m, cpu, 0);
        cr_expect_lt(x, 2 * m.irq_entry_spread_cycles);
        cr_expect_eq(x, smp_irq_entry_spread(&m, cpu, 0), "deterministic");
        sum += x;
    }
    cr_expect(sum > 1000 * 80 && sum < 1000 * 120, "mean near the key: %llu", (unsigned long long)sum);
    m.seed = 2;
    u32 same = 0;
    for (u32 cpu = 0; cpu < 100; cpu++) {
        struct machine m1;
        machine_init(&m1);
        same += smp_irq_entry_spread(&m1, cpu, 0) == smp_irq_entry_spread(&m, cpu, 0);
    }
    cr_expect_lt(same, 10, "another seed gives other draws");
}

/* ---- published orderings (linux-tlb.md IPI-1..4) ----------------------- */

/* 80 vCPUs of the KVM guest, shorthand off (the benchmark's kernels sent
 * per destination): a flush to every other vCPU is broadcast. */
Test(timing, guest_broadcast_physical_over_cluster_over_pv_hypercall)
{
    static const char *const phys[] = { "cpus=80", "apic.shorthand=false", "apic.mode=x2apic-phys", NULL };
    static const char *const clus[] = { "cpus=80", "apic.shorthand=false", "apic.mode=x2apic-cluster", NULL };
    const char *g = "../models/kvm-guest-skylake.json";
    u64 p = zap_latency(80, g, phys, P("linux"));
    u64 c = zap_latency(80, g, clus, P("linux"));
    u64 pv = zap_latency(80, g, clus, P("pv-kvm"));

    /* 79 trapped ICR writes > 5 (one per cluster of 16) > 1 hypercall. */
    cr_expect_gt(p, c, "physical %llu, cluster %llu", (unsigned long long)p, (unsigned long long)c);
    cr_expect_gt(c, pv, "cluster %llu, PV %llu", (unsigned long long)c, (unsigned long long)pv);
}

Test(timing, guest_unicast_physical_equals_cluster)
{
    static const char *const phys[] = { "cpus=2", "apic.mode=x2apic-phys", NULL };
    static const char *const clus[] = { "cpus=2", "apic.mode=x2apic-cluster", NULL };
    const char *g = "../models/kvm-guest-skylake.json";

    cr_expect_eq(zap_latency(2, g, phys, P("linux")), zap_latency(2, g, clus, P("linux")));
}

/* ---- the paravirtual fixes ---------------------------------------------- */

static const char *const virt0[] = { "virt.enabled=true", "ipi.irq_entry_spread_cycles=0",
                                     "sockets=1", NULL };

/* CPU 1 is a preempted vCPU from 5000 to 200000; CPU 0 flushes one kernel
 * page at 10000. */
static const char kflush_preempted[] =
    "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":3}\n" MM1
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":2,\"mm\":1}\n"
    "{\"op\":\"vcpu_preempt\",\"cpu\":1,\"t\":5000}\n"
    "{\"op\":\"vcpu_run\",\"cpu\":1,\"t\":200000}\n"
    "{\"op\":\"kflush\",\"cpu\":0,\"va\":\"0xffffffff81000000\",\"len\":\"0x1000\",\"t\":10000}\n";

/* flush_tlb_kernel_range() is on_each_cpu(): no condition, no PV skip.
 * Both targets get a csd; CPU 1 runs its handler when the host resumes it
 * at 200000: 400 entry + 150 csd read + 110 info line + 150 handler + 260
 * INVLPG = unlock at 201070; csd_lock_wait reads CPU 1's csd then CPU 2's:
 * 201070 + 200 + 200 = 201470, latency 191470 from the request at 10000. */
static void expect_kflush_waits(const char *pol, u64 hypercalls)
{
    struct h_run h;

    cr_assert_eq(h_run(&h, kflush_preempted, P(pol), virt0), 0, "%s", h.err.msg);
    cr_assert_eq(h.nr_fl, 1);
    cr_expect_eq(h.fl[0].targets, 2, "%s: every other CPU", pol);
    cr_expect_eq(h.t.ipis_sent, 2, "%s: IPIs, not hypervisor flushes", pol);
    cr_expect_eq(h.t.pv_skipped_preempted, 0, "%s: a kernel flush skips no one", pol);
    cr_expect_eq(h.t.hypercalls, hypercalls, "%s", pol);
    cr_expect_eq(h.fl[0].t_done - h.fl[0].t_request, 191470, "%s: waits for the vCPU", pol);
    cr_expect_eq(sim_cpu(h.s, 1)->st.ipis_received, 1);
    h_done(&h);
}

Test(timing, pv_kvm_kernel_flush_waits_for_the_preempted_vcpu)
{
    /* The send is the guest's IPI path: one KVM_HC_SEND_IPI. */
    expect_kflush_waits("pv-kvm", 1);
}

Test(timing, pv_hyperv_kernel_flush_is_ipis)
{
    /* Native IPIs: one shorthand ICR write (a VM exit), no hypercall. */
    expect_kflush_waits("pv-hyperv", 0);
}

/* CPU 1 ran mm 1, went lazy (kernel thread), then the host preempted it;
 * CPU 2 runs mm 1.  CPU 0 zaps one page at 10000. */
static const char lazy_preempted[] =
    "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":3}\n" MM1
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":2,\"mm\":1}\n"
    "{\"op\":\"access\",\"cpu\":1,\"va\":\"0x401000\",\"kind\":\"r\"}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":null}\n"
    "{\"op\":\"vcpu_preempt\",\"cpu\":1,\"t\":5000}\n"
    "{\"op\":\"vcpu_run\",\"cpu\":1,\"t\":200000}\n"
    "{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x401000\",\"len\":\"0x1000\",\"t\":10000}\n";

Test(timing, pv_kvm_counts_a_lazy_preempted_vcpu_as_preempted)
{
    struct h_run h;

    cr_assert_eq(h_run(&h, lazy_preempted, P("pv-kvm"), virt0), 0, "%s", h.err.msg);
    cr_assert_eq(h.nr_fl, 1);
    cr_expect_eq(h.t.pv_skipped_preempted, 1, "KVM_VCPU_PREEMPTED is tested first");
    cr_expect_eq(h.t.ipis_skipped_lazy, 0);
    cr_expect_eq(h.fl[0].skipped_lazy, 0);
    cr_expect_eq(h.fl[0].targets, 1);
    /* 400 request + 2 x 20 steal_time tests (CPUs 1, 2) + 20
     * should_flush_tlb(CPU 2) + 240 queue + 2500 KVM_HC_SEND_IPI + 1500
     * delivery + 400 entry + 260 csd and info + 410 flush + 200 wait =
     * 5970. */
    cr_expect_eq(h.fl[0].t_done - h.fl[0].t_request, 5970);
    cr_expect_eq(sim_cpu(h.s, 1)->st.flush_full, 1, "KVM_VCPU_FLUSH_TLB on entry");
    h_done(&h);
}

/* A global kernel page is in CPU 1's TLB when the host preempts it; a
 * skipped user flush sets KVM_VCPU_FLUSH_TLB; after vcpu_run CPU 1 reads
 * the kernel page again. */
static const char global_after_entry[] =
    "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n" MM1
    "{\"op\":\"map\",\"mm\":\"kernel\",\"va\":\"0xffffffff81000000\",\"len\":\"0x1000\","
    "\"page\":\"4k\",\"prot\":\"rw\",\"global\":true}\n"
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"access\",\"cpu\":1,\"va\":\"0xffffffff81000000\",\"kind\":\"r\"}\n"
    "{\"op\":\"vcpu_preempt\",\"cpu\":1,\"t\":5000}\n"
    "{\"op\":\"vcpu_run\",\"cpu\":1,\"t\":200000}\n"
    "{\"op\":\"access\",\"cpu\":1,\"va\":\"0xffffffff81000000\",\"kind\":\"r\"}\n"
    "{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x401000\",\"len\":\"0x1000\",\"t\":10000}\n";

Test(timing, flush_on_vcpu_entry_drops_global_entries)
{
    struct h_run h;
    const struct cpu *c;

    cr_assert_eq(h_run(&h, global_after_entry, P("pv-kvm"), virt0), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.pv_skipped_preempted, 1);
    c = sim_cpu(h.s, 1);
    cr_expect_eq(c->st.flush_full, 1);
    /* First read: an L1 miss and a walk.  Second read after
     * kvm_vcpu_flush_tlb_guest(): the global entry is gone, so again. */
    cr_expect_eq(c->st.l1d_misses, 2);
    cr_expect_eq(c->st.walks, 2);
    h_done(&h);
}

/* ---- the guest model against its one fitted measurement ----------------- */

/* A 2-vCPU guest on one socket: CPU 0 touches one page and madvise()s it
 * away, 20 times; CPU 1 spins in the same process.  The measurement the
 * guest model's exit costs are fitted to: about 7.5 us per round. */
Test(timing, kvm_guest_round_lands_near_the_measurement)
{
    static const char *const s[] = { "cpus=2", "sockets=1", NULL };
    size_t cap = 200000, len;
    char *t = malloc(cap);
    struct h_run h;

    cr_assert(t);
    len = (size_t)snprintf(t, cap, HDR MM1 "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
                           "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n", 2u);
    for (int i = 0; i < 1000; i++)
        len += (size_t)snprintf(t + len, cap - len, "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x420000\","
                                "\"stride\":8,\"count\":512,\"kind\":\"r\"}\n");
    for (int i = 0; i < 20; i++)
        len += (size_t)snprintf(t + len, cap - len,
                                "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x401000\",\"kind\":\"w\"}\n"
                                "{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x401000\",\"len\":\"0x1000\"}\n");
    cr_assert_lt(len, cap);
    cr_assert_eq(h_run_machine(&h, t, P("linux"), "../models/kvm-guest-skylake.json", s), 0,
                 "%s", h.err.msg);
    cr_assert_eq(h.nr_fl, 20);
    cr_expect_eq(h.t.ipis_sent, 20);
    u64 per = (h.fl[19].t_request - h.fl[0].t_request) / 19;
    /* 7.5 us at 2.5 GHz = 18750 cycles; within 10%. */
    cr_expect(per > 16875 && per < 20625, "%llu cycles per round", (unsigned long long)per);
    h_done(&h);
    free(t);
}

/* ---- two initiators, one target: llist_add() onto a non-empty queue ---- */

Test(timing, second_initiator_queues_behind_the_pending_ipi)
{
    static const char *const s[] = { "ipi.irq_entry_spread_cycles=0", "sockets=1",
                                     "apic.mode=x2apic-phys", "apic.shorthand=false", NULL };
    const char *text = "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":3}\n" MM1
        "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
        "{\"op\":\"switch\",\"cpu\":2,\"mm\":1}\n"
        "{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x401000\",\"len\":\"0x1000\",\"t\":100000}\n"
        "{\"op\":\"zap\",\"cpu\":1,\"mm\":1,\"va\":\"0x402000\",\"len\":\"0x1000\",\"t\":101500}\n";
    struct h_run h;

    cr_assert_eq(h_run(&h, text, P("linux"), s), 0, "%s", h.err.msg);
    cr_assert_eq(h.nr_fl, 2);
    /* A (CPU 0, t 100000): 400 request + 2 x 20 cond; llist_add to CPU 1
     * at 100680 and to CPU 2 at 100920 (240 each); both queues empty: ICR
     * writes at 101020 and 101120, arrivals 102520 (CPU 1), 102620 (CPU 2).
     * B (CPU 1, t 101500): llist_add to CPU 0 at 102180 (empty: IPI) and to
     * CPU 2 at 102420, where A's csd has waited since 100920: llist_add()
     * returns false, no IPI.  B writes the ICR once (CPU 0, at 102520,
     * arrival 104020) where it used to write it twice. */
    cr_expect_eq(h.fl[0].icr_writes, 2);
    cr_expect_eq(h.fl[1].icr_writes, 1);
    /* B's local flush_tlb_func at 102520: CPU 1 is at gen 0, the mm at 2
     * (A's and B's): a full flush, 150 + 96 -> B's request ends at 102766,
     * and CPU 1 takes A's IPI (due 102520) at once: 400 entry + 150 csd +
     * 110 A's info line (first reader) + 150 (already at gen 2) -> unlock
     * A at 103576.
     * CPU 2's one interrupt at 102620: 400 entry + 150 csd; A's info line
     * serves CPU 1 until 103356 (40 per reader), then 110 -> 103466; A's
     * flush asks gen 1 of an mm at gen 2 from gen 0: full, 150 + 96 ->
     * unlock A at 103712.  B's csd (no IPI of its own) in the same drain:
     * 150 + 110 + 150 (caught up) -> unlock B at 104122.
     * A's csd_lock_wait (CPUs 1, 2, 200 each): max(103576 + 400,
     * 103712 + 200) = 103976: latency 3976.
     * CPU 0 (spinning) takes B's IPI at 104020: 400 + 150 + 110 + 410
     * (gen 1 -> 2: one INVLPG) -> 105090.  B's wait (CPUs 0, 2):
     * max(105090 + 400, 104122 + 200) = 105490: latency 3990. */
    cr_expect_eq(h.fl[0].t_done - h.fl[0].t_request, 3976);
    cr_expect_eq(h.fl[1].t_done - h.fl[1].t_request, 3990);
    /* One interrupt on CPU 2 for both requests; three in all. */
    cr_expect_eq(h.s->cpus[2].irqs_taken, 1);
    cr_expect_eq(h.s->cpus[0].irqs_taken + h.s->cpus[1].irqs_taken + h.s->cpus[2].irqs_taken, 3);
    h_done(&h);
}

/* ---- the system call's own work, and INVLPG under shadow paging ---------- */

/* One CPU.  zap (madvise) of 2 pages at 100000: kernel work 1000 + 2 x 100
 * before the request (t_call 100000, t_request 101200); the request: 400
 * + flush_tlb_func 150 + 2 x (260 INVLPG + 500 shadow sync, the table is
 * kept) = 2070.  munmap of 2 pages that are all of their 2 MiB region at
 * 200000: 3000 + 2 x 300 before; 400 + 150 + 2 x 260 = 1070 (the emptied
 * table is freed before the flush: nothing to sync).  mprotect to read of
 * 2 pages at 300000: 2000 + 2 x 50; 400 + 150 + 2 x 760 = 2070. */
Test(timing, kernel_work_precedes_the_request_and_shadow_sync_needs_a_table)
{
    static const char *const s[] = { "kernel.zap_call_cycles=1000", "kernel.zap_pte_cycles=100",
                                     "kernel.unmap_call_cycles=3000", "kernel.unmap_pte_cycles=300",
                                     "kernel.mprotect_call_cycles=2000",
                                     "kernel.mprotect_pte_cycles=50",
                                     "virt.invlpg_sync_cycles=500", NULL };
    const char *text = "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":1}\n"
        "{\"op\":\"mm_new\",\"mm\":1}\n"
        "{\"op\":\"map\",\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x2000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
        "{\"op\":\"map\",\"mm\":1,\"va\":\"0x600000\",\"len\":\"0x2000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
        "{\"op\":\"map\",\"mm\":1,\"va\":\"0x800000\",\"len\":\"0x2000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
        "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
        "{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x2000\",\"t\":100000}\n"
        "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x600000\",\"len\":\"0x2000\",\"t\":200000}\n"
        "{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x800000\",\"len\":\"0x2000\",\"prot\":\"r\",\"t\":300000}\n";
    struct h_run h;

    cr_assert_eq(h_run(&h, text, P("linux"), s), 0, "%s", h.err.msg);
    cr_assert_eq(h.nr_fl, 3);
    cr_expect_eq(h.fl[0].t_call, 100000);
    cr_expect_eq(h.fl[0].t_request, 101200);
    cr_expect_eq(h.fl[0].t_done - h.fl[0].t_request, 2070);
    cr_expect_eq(h.fl[1].t_call, 200000);
    cr_expect_eq(h.fl[1].t_request, 203600);
    cr_expect_eq(h.fl[1].t_done - h.fl[1].t_request, 1070);
    cr_expect_eq(h.fl[2].t_call, 300000);
    cr_expect_eq(h.fl[2].t_request, 302100);
    cr_expect_eq(h.fl[2].t_done - h.fl[2].t_request, 2070);
    h_done(&h);
}
