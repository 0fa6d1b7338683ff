/* tests/test_kvm.c - the host side of a VM (models/kvm.h, sim/engine/host.c):
 * kvm_flush_remote_tlbs() by kicks and by the Hyper-V enlightened flush,
 * TDX private-page removal with TLB tracking, VPID on and off, a vCPU
 * migration, INVEPT/INVVPID, and the bad input only the engine can see.
 *
 * machine_init defaults used below (cycles): kick exit 1000, VM entry 700,
 * request 30 per vCPU, EPT zap 60 and write-protect 40 per 4K page, INVEPT
 * single 400 / all 600, host csd_lock 110 + llist_add 130 per target, host
 * ICR write 100 (x2APIC physical: one per target), IPI delivery 1500,
 * csd_lock_wait 200 per target, hypercall 2500, Hyper-V list flush 300 per
 * page; TDX: BLOCK 3000 and REMOVE 6000 per page, TRACK 2500, TD exit 3000,
 * TD entry 3000.  One socket, no entry spread, no APIC shorthand.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../models/kvm.h"
#include "../models/policy.h"
#include "clirun.h"
#include "harness.h"

#define HDR4 "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":4}\n"
#define MM1 "{\"op\":\"mm_new\",\"mm\":1}\n" \
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x40000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
#define RUN4 "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n" \
    "{\"op\":\"switch\",\"cpu\":2,\"mm\":1}\n{\"op\":\"switch\",\"cpu\":3,\"mm\":1}\n"
#define STREAM1(t) "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x400000\",\"stride\":4096," \
    "\"count\":64,\"kind\":\"r\"" t "}\n"

/* CPUs 0-3 run mm 1; CPU 1 touches 64 pages; CPU 3 is preempted; at
 * 100000 the host does `op` on CPU 0's physical CPU; CPU 1 touches the
 * pages again at 200000; CPU 3 runs again at 300000. */
static void host_trace(char *buf, size_t n, const char *op)
{
    snprintf(buf, n, HDR4 MM1 RUN4 STREAM1("")
             "{\"op\":\"vcpu_preempt\",\"cpu\":3,\"t\":1000}\n"
             "%s\n" STREAM1(",\"t\":200000")
             "{\"op\":\"vcpu_run\",\"cpu\":3,\"t\":300000}\n", op);
}

#define ZAP2 "{\"op\":\"host_zap\",\"cpu\":0,\"gpa\":\"0x100000\",\"len\":\"0x2000\",\"t\":100000}"
#define BASE_SETS "virt.enabled=true", "ipi.irq_entry_spread_cycles=0", "sockets=1", \
    "apic.mode=x2apic-phys", "apic.shorthand=false"

static const struct flush_policy *linux_policy(void)
{
    const struct flush_policy *p = flush_policy_find("linux");
    cr_assert(p);
    return p;
}

static void run(struct h_run *h, const char *op, const char *const *sets)
{
    static char text[4096];

    host_trace(text, sizeof(text), op);
    cr_assert_eq(h_run(h, text, linux_policy(), sets), 0, "%s", h->err.msg);
}

static const struct cpu_stats *st(const struct h_run *h, u32 cpu)
{
    return &sim_cpu(h->s, cpu)->st;
}

/* ---- kvm_flush_remote_tlbs() by kicks ----------------------------------- */

Test(kvm, host_zap_kicks_running_vcpus_term_by_term)
{
    static const char *const s[] = { BASE_SETS, NULL };
    struct h_run h;

    run(&h, ZAP2, s);
    /* Host: 2 x 60 zap + 4 x 30 requests + 2 x (110 + 130) queueing +
     * 100 ICR write (CPU 1's, the first) + 1500 delivery + 1000 CPU 1's
     * exit until ack_kick + 2 x 200 csd_lock_wait = 3720.  CPU 2's ack
     * (one ICR write later, 200 less wait after it) is 100 earlier. */
    cr_expect_eq(h.t.host_flush_cycles, 3720);
    cr_expect_eq(h.t.host_zaps, 1);
    /* Who is kicked: CPUs 1 and 2 (in guest mode); not CPU 0 (the host
     * runs on it) nor CPU 3 (preempted: flushes at its next entry). */
    cr_expect_eq(st(&h, 0)->vcpu_kicks, 0);
    cr_expect_eq(st(&h, 1)->vcpu_kicks, 1);
    cr_expect_eq(st(&h, 2)->vcpu_kicks, 1);
    cr_expect_eq(st(&h, 3)->vcpu_kicks, 0);
    cr_expect_eq(h.t.cpu.vcpu_kicks, 2);
    /* Every vCPU serves KVM_REQ_TLB_FLUSH at one entry: 0 after the host
     * work, 1 and 2 after their kick, 3 at vcpu_run. */
    for (u32 i = 0; i < 4; i++)
        cr_expect_eq(st(&h, i)->vcpu_entry_flushes, 1, "cpu %u", i);
    /* CPU 0: 1000 exit + 3720 host + 600 INVEPT all-context + 700 entry. */
    cr_expect_eq(sim_cpu(h.s, 0)->now, 100000 + 1000 + 3720 + 600 + 700);
    /* CPU 1 refills every page it had: 64 walks before, 64 after. */
    cr_expect_eq(st(&h, 1)->walks, 128);
    cr_expect_eq(h.t.cpu.stale_accesses, 0);
    h_done(&h);
}

Test(kvm, kicked_vcpu_pays_exit_flush_entry)
{
    static const char *const s[] = { BASE_SETS, NULL };
    struct h_run a, b;

    /* The same run with and without the zap: CPU 2, which makes no
     * references, works exactly its kick longer: 1000 exit + 600 INVEPT
     * all-context + 700 entry. */
    run(&a, ZAP2, s);
    run(&b, "{\"op\":\"mark\",\"label\":\"no zap\"}", s);
    cr_expect_eq(st(&a, 2)->busy_cycles - st(&b, 2)->busy_cycles, 1000 + 600 + 700);
    cr_expect_eq(st(&b, 1)->walks, 64, "without the zap, nothing to refill");
    h_done(&a);
    h_done(&b);
}

/* ---- with the EPT (virt.ept): what changed decides the flush ------------- */

#define EPT_SETS BASE_SETS, "virt.ept=true"
#define EPTMAP(page) "{\"op\":\"ept_map\",\"gpa\":\"0x40000000\",\"len\":\"0x200000\"," \
    "\"page\":\"" page "\"}\n"

Test(kvm, ept_zap_counts_leaves_and_flushes_only_when_one_went)
{
    static const char *const s[] = { EPT_SETS, NULL };
    struct h_run h;

    /* Two 4K EPT leaves zapped: the same 3720 as without EPT (2 x 60 +
     * the 3600 of the kick round). */
    run(&h, EPTMAP("4k") "{\"op\":\"host_zap\",\"cpu\":0,\"gpa\":\"0x40000000\","
                         "\"len\":\"0x2000\",\"t\":100000}", s);
    cr_expect_eq(h.t.host_flush_cycles, 3720);
    cr_expect_eq(h.t.cpu.vcpu_kicks, 2);
    h_done(&h);

    /* One 2M leaf holds the same range: the zap must take the whole leaf
     * (a partial huge leaf is refused), one leaf cleared: 60 + 3600. */
    run(&h, EPTMAP("2m") "{\"op\":\"host_zap\",\"cpu\":0,\"gpa\":\"0x40000000\","
                         "\"len\":\"0x200000\",\"t\":100000}", s);
    cr_expect_eq(h.t.host_flush_cycles, 60 + 3600);
    h_done(&h);

    /* Nothing mapped there: no leaf changed, so no kvm_flush_remote_tlbs. */
    run(&h, "{\"op\":\"host_zap\",\"cpu\":0,\"gpa\":\"0x50000000\",\"len\":\"0x2000\","
            "\"t\":100000}", s);
    cr_expect_eq(h.t.host_zaps, 1);
    cr_expect_eq(h.t.host_flush_cycles, 0);
    cr_expect_eq(h.t.cpu.vcpu_kicks, 0);
    cr_expect_eq(h.t.cpu.vcpu_entry_flushes, 0);
    h_done(&h);
}

/* ept.prefault backs guest memory "before the trace", but not a range the
 * host zapped since: its next touch is a real EPT violation.  CPU 1's 64
 * pages and their 4 guest table pages all sit in the VM's first GiB. */
Test(kvm, prefault_does_not_back_a_zapped_range_again)
{
    static const char *const s[] = { EPT_SETS, "ept.prefault=true", NULL };
    struct h_run h;

    /* The host zaps an unrelated GiB: nothing was mapped there, and the
     * re-touch of CPU 1's pages is still free. */
    run(&h, "{\"op\":\"host_zap\",\"cpu\":0,\"gpa\":\"0x40000000\",\"len\":\"0x40000000\","
            "\"t\":100000}", s);
    cr_expect_eq(h.t.cpu.ept_violations, 0);
    h_done(&h);

    /* The host zaps the first GiB: the 64 data pages and the 4 table pages
     * fault back in, one 4K violation each. */
    run(&h, "{\"op\":\"host_zap\",\"cpu\":0,\"gpa\":\"0x0\",\"len\":\"0x40000000\","
            "\"t\":100000}", s);
    cr_expect_eq(h.t.cpu.ept_violations, 64 + 4);
    h_done(&h);
}

Test(kvm, ept_wrprotect_flushes_once_per_permission_lost)
{
    static const char *const s[] = { EPT_SETS, NULL };
    static const char wp[] = "{\"op\":\"host_wrprotect\",\"cpu\":0,\"gpa\":\"0x40000000\","
                             "\"len\":\"0x200000\",\"t\":100000}";
    struct h_run h;

    /* One 2M leaf loses W: 40 + 3600; the second pass changes nothing and
     * does not flush. */
    static char two[512];
    snprintf(two, sizeof(two), EPTMAP("2m") "%s\n%s", wp,
             "{\"op\":\"host_wrprotect\",\"cpu\":0,\"gpa\":\"0x40000000\","
             "\"len\":\"0x200000\",\"t\":150000}");
    run(&h, two, s);
    cr_expect_eq(h.t.host_zaps, 2);
    cr_expect_eq(h.t.host_flush_cycles, 40 + 3600);
    cr_expect_eq(h.t.cpu.vcpu_kicks, 2);
    h_done(&h);
}

/* ---- the Hyper-V enlightened flush ------------------------------------- */

Test(kvm, hv_enlightened_flush_kicks_nobody)
{
    static const char *const s[] = { BASE_SETS, "virt.host_flush=hv-enlightened", NULL };
    struct h_run h;

    run(&h, ZAP2, s);
    /* 2 x 60 zap + 2500 hypercall + 1500 one host IPI delivery (CPUs 1, 2
     * run) + 400 INVEPT single-context for the address space = 4520. */
    cr_expect_eq(h.t.host_flush_cycles, 4520);
    cr_expect_eq(h.t.cpu.vcpu_kicks, 0);
    cr_expect_eq(h.t.cpu.vcpu_entry_flushes, 0, "no request is left pending");
    /* CPU 0: 1000 exit + 4520 + 700 entry, no flush of its own. */
    cr_expect_eq(sim_cpu(h.s, 0)->now, 100000 + 1000 + 4520 + 700);
    cr_expect_eq(st(&h, 1)->walks, 128, "L0 dropped CPU 1's entries all the same");
    h_done(&h);
}

Test(kvm, hv_list_flush_drops_only_the_range)
{
    static const char *const s[] = { BASE_SETS, "virt.host_flush=hv-enlightened", NULL };
    /* A range no frame of mm 1 lies in (the top of the 46-bit space). */
    static const char wp[] = "{\"op\":\"host_wrprotect\",\"cpu\":0,\"gpa\":\"0x3fffffffe000\","
                             "\"len\":\"0x2000\",\"t\":100000}";
    struct h_run h;

    run(&h, wp, s);
    /* 2 x 40 write-protect + 2500 + 1500 + 2 x 300 list pages = 4680. */
    cr_expect_eq(h.t.host_flush_cycles, 4680);
    cr_expect_eq(st(&h, 1)->walks, 64, "CPU 1's translations are outside the range");
    h_done(&h);

    /* Kick mode has no range flush: KVM_REQ_TLB_FLUSH drops everything. */
    static const char *const k[] = { BASE_SETS, NULL };
    run(&h, wp, k);
    cr_expect_eq(st(&h, 1)->walks, 128);
    cr_expect_eq(h.t.host_flush_cycles, 80 + 3600);
    h_done(&h);
}

/* ---- TDX ----------------------------------------------------------------- */

#define TDX_SETS BASE_SETS, "virt.tdx=true"
#define TDX2 "{\"op\":\"tdx_remove\",\"cpu\":0,\"gpa\":\"0x100000\",\"len\":\"0x2000\",\"t\":100000}"

Test(kvm, tdx_remove_blocks_tracks_kicks_removes_term_by_term)
{
    static const char *const s[] = { TDX_SETS, NULL };
    struct h_run h;

    run(&h, TDX2, s);
    /* 2 x 3000 BLOCK + 2500 TRACK, then the kick: 4 x 30 requests + 480
     * queueing + 100 ICR + 1500 delivery + 3000 TD exit + 400
     * csd_lock_wait = 5600, then 2 x 6000 REMOVE: 26100. */
    cr_expect_eq(h.t.host_flush_cycles, 6000 + 2500 + 5600 + 12000);
    cr_expect_eq(h.t.tdx_tracks, 1);
    cr_expect_eq(h.t.cpu.vcpu_kicks, 2);
    /* Each vCPU enters once with a stale epoch: 0, 1, 2 at once, 3 at
     * vcpu_run. */
    for (u32 i = 0; i < 4; i++)
        cr_expect_eq(st(&h, i)->vcpu_entry_flushes, 1, "cpu %u", i);
    /* CPU 0: 3000 TD exit + 26100 + 400 flush at TDH.VP.ENTER + 3000. */
    cr_expect_eq(sim_cpu(h.s, 0)->now, 100000 + 3000 + 26100 + 400 + 3000);
    h_done(&h);
}

Test(kvm, tdx_vcpu_preempted_across_two_tracks_flushes_once)
{
    static const char *const s[] = { TDX_SETS, NULL };
    static const char two[] = TDX2 "\n"
        "{\"op\":\"tdx_remove\",\"cpu\":0,\"gpa\":\"0x200000\",\"len\":\"0x1000\",\"t\":150000}";
    struct h_run h;

    run(&h, two, s);
    cr_expect_eq(h.t.tdx_tracks, 2);
    cr_expect_eq(st(&h, 3)->vcpu_entry_flushes, 1, "one flush for two epochs");
    cr_expect_eq(st(&h, 1)->vcpu_entry_flushes, 2, "kicked twice, flushed twice");
    cr_expect_eq(st(&h, 1)->vcpu_kicks, 2);
    h_done(&h);
}

/* ---- VPID ---------------------------------------------------------------- */

/* CPU 1 touches 16 pages, is preempted and run twice, touches them again,
 * then moves to another physical CPU and touches them a third time. */
static const char vpid_trace[] =
    HDR4 MM1 "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x400000\",\"stride\":4096,\"count\":16,\"kind\":\"r\"}\n"
    "{\"op\":\"vcpu_preempt\",\"cpu\":1,\"t\":10000}\n"
    "{\"op\":\"vcpu_run\",\"cpu\":1,\"t\":20000}\n"
    "{\"op\":\"vcpu_preempt\",\"cpu\":1,\"t\":30000}\n"
    "{\"op\":\"vcpu_run\",\"cpu\":1,\"t\":40000}\n"
    "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x400000\",\"stride\":4096,\"count\":16,\"kind\":\"r\"}\n"
    "{\"op\":\"vcpu_migrate\",\"cpu\":1,\"t\":50000}\n"
    "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x400000\",\"stride\":4096,\"count\":16,\"kind\":\"r\"}\n";

Test(kvm, vpid_on_keeps_entries_across_exits)
{
    static const char *const s[] = { BASE_SETS, NULL };
    struct h_run h;

    cr_assert_eq(h_run(&h, vpid_trace, linux_policy(), s), 0, "%s", h.err.msg);
    cr_expect_eq(st(&h, 1)->vmx_transition_flushes, 0);
    cr_expect_eq(st(&h, 1)->vcpu_migrations, 1);
    cr_expect_eq(st(&h, 1)->vcpu_entry_flushes, 1, "the migration only");
    cr_expect_eq(st(&h, 1)->walks, 16 + 0 + 16);
    h_done(&h);
}

Test(kvm, vpid_off_flushes_at_every_exit_and_entry)
{
    static const char *const s[] = { BASE_SETS, "virt.vpid=false", NULL };
    struct h_run h;

    cr_assert_eq(h_run(&h, vpid_trace, linux_policy(), s), 0, "%s", h.err.msg);
    /* Two preempt/run pairs (4) and the migration's exit and entry (2). */
    cr_expect_eq(st(&h, 1)->vmx_transition_flushes, 6);
    cr_expect_eq(st(&h, 1)->vcpu_entry_flushes, 1);
    cr_expect_eq(st(&h, 1)->walks, 16 + 16 + 16);
    h_done(&h);
}

Test(kvm, migration_while_preempted_flushes_at_the_next_run)
{
    static const char *const s[] = { BASE_SETS, NULL };
    static const char t[] =
        HDR4 MM1 "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
        "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x400000\",\"stride\":4096,\"count\":16,\"kind\":\"r\"}\n"
        "{\"op\":\"vcpu_preempt\",\"cpu\":1,\"t\":10000}\n"
        "{\"op\":\"vcpu_migrate\",\"cpu\":1,\"t\":20000}\n"
        "{\"op\":\"vcpu_run\",\"cpu\":1,\"t\":30000}\n"
        "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x400000\",\"stride\":4096,\"count\":16,\"kind\":\"r\"}\n";
    struct h_run h;

    cr_assert_eq(h_run(&h, t, linux_policy(), s), 0, "%s", h.err.msg);
    cr_expect_eq(st(&h, 1)->vcpu_entry_flushes, 1);
    cr_expect_eq(st(&h, 1)->walks, 32);
    h_done(&h);
}

/* ---- INVEPT / INVVPID ------------------------------------------------------ */

Test(kvm, invept_and_invvpid_costs_and_effects)
{
    static const char *const s[] = { BASE_SETS, NULL };
    static const char t[] =
        HDR4 MM1 "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
        "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x400000\",\"stride\":4096,\"count\":4,\"kind\":\"r\"}\n";
    struct h_run h;

    cr_assert_eq(h_run(&h, t, linux_policy(), s), 0, "%s", h.err.msg);
    struct cpu *c = (struct cpu *)sim_cpu(h.s, 1);
    u32 n0 = cpu_tlb_entries_for(c, c->loaded_mm->idx);
    cr_assert_gt(n0, 0);
    /* Type 0 drops one page (L1 and STLB copies), not the others. */
    cr_expect_eq(vmx_invvpid(&h.m, c, INVVPID_INDIV_ADDR, 0x401000), 260);
    u32 n1 = cpu_tlb_entries_for(c, c->loaded_mm->idx);
    cr_expect_lt(n1, n0);
    cr_expect_gt(n1, 0);
    cr_expect_eq(vmx_invvpid(&h.m, c, INVVPID_SINGLE_CONTEXT, 0), 400);
    cr_expect_eq(cpu_tlb_entries_for(c, c->loaded_mm->idx), 0);
    cr_expect_eq(vmx_invvpid(&h.m, c, INVVPID_ALL_CONTEXT, 0), 600);
    cr_expect_eq(vmx_invept(&h.m, c, INVEPT_SINGLE_CONTEXT), 400);
    cr_expect_eq(vmx_invept(&h.m, c, INVEPT_ALL_CONTEXT), 600);
    h_done(&h);
}

/* kvm_make_all_cpus_request() alone: nobody in guest mode costs the
 * requests only; the wait grows with the vCPUs kicked. */
Test(kvm, make_all_cpus_request_pure_costs)
{
    struct machine m;
    struct cpumask none, three;
    struct smp_send snd;
    cycles_t arrival[8];

    machine_init(&m);
    m.cpus = 8;
    m.apic_mode = APIC_X2APIC_PHYS;
    m.apic_shorthand = false;
    cpumask_clear(&none);
    cr_expect_eq(kvm_make_all_cpus_request(&m, 0, 8, &none, 1000, 0, arrival, &snd), 8 * 30);
    cpumask_clear(&three);
    for (u32 i = 1; i <= 3; i++)
        cpumask_set_cpu(i, &three);
    /* 240 requests + 3 x 240 queueing + 100 (CPU 1's write) + 1500 +
     * 1000 + 3 x 200 waits = 4160. */
    cr_expect_eq(kvm_make_all_cpus_request(&m, 0, 8, &three, 1000, 0, arrival, &snd), 4160);
    cr_expect_eq(snd.writes, 3);
}

/* ---- bad input ------------------------------------------------------------ */

static void expect_bad(const char *op, const char *const *sets, const char *want)
{
    static char text[4096];
    struct h_run h;

    host_trace(text, sizeof(text), op);
    cr_expect_neq(h_run(&h, text, linux_policy(), sets), 0);
    cr_expect(strstr(h.err.msg, want), "got: %s (want %s)", h.err.msg, want);
    cr_expect(strstr(h.err.msg, ".jsonl:10: "), "names line 10: %s", h.err.msg);
    h_done(&h);
}

Test(kvm, host_op_without_virt_is_bad_input)
{
    static const char *const s[] = { "sockets=1", NULL };

    expect_bad(ZAP2, s, "op: host_zap needs a virtualized machine (virt.enabled true)");
}

Test(kvm, tdx_op_without_tdx_is_bad_input)
{
    static const char *const s[] = { BASE_SETS, NULL };

    expect_bad(TDX2, s, "op: tdx_remove needs a TDX guest (virt.tdx true)");
}

Test(kvm, gpa_range_outside_the_vm_is_bad_input)
{
    static const char *const s[] = { BASE_SETS, NULL };

    expect_bad("{\"op\":\"host_zap\",\"cpu\":0,\"gpa\":\"0x3ffffffff000\",\"len\":\"0x2000\"}",
               s, "gpa: range 0x3ffffffff000+0x2000 is outside the VM's guest-physical memory "
               "[0, 0x400000000000)");
}

Test(kvm, unaligned_gpa_is_a_trace_error)
{
    static const char *const s[] = { BASE_SETS, NULL };

    expect_bad("{\"op\":\"host_wrprotect\",\"cpu\":0,\"gpa\":\"0x100800\",\"len\":\"0x1000\"}",
               s, "gpa: 0x100800 is not 4K-aligned");
}

/* The command line: one `FILE:LINE: FIELD: message` line, exit 2, no output. */
Test(kvm, cli_host_op_on_bare_metal_exits_2_with_one_line)
{
    struct cli_ws ws;
    struct cli_res *r = malloc(sizeof(*r));
    char out[512];

    cr_assert(r);
    cli_ws_init(&ws);
    cli_write_str(&ws, "t.jsonl", "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
                  "{\"op\":\"host_zap\",\"cpu\":0,\"gpa\":\"0x1000\",\"len\":\"0x1000\"}\n");
    const char *argv[] = { "run", "t.jsonl", "--out", "out", "-q", NULL };
    cli_run(&ws, argv, 60, r);
    cr_expect_eq(r->status, 2);
    cr_expect_str_eq(r->err, "tlbsim: t.jsonl:2: op: host_zap needs a virtualized machine "
                     "(virt.enabled true)\n");
    cr_expect(access(cli_path(&ws, "out", out, sizeof(out)), F_OK) != 0, "no output written");
    cli_ws_done(&ws);
    free(r);
}
