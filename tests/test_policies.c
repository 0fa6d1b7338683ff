/* tests/test_policies.c - each flush policy's defining behaviour in a
 * scenario small enough to compute by hand (machine_init defaults:
 * flush_request 400, icr_write 100, delivery 1500, irq entry 400, handler
 * 150, INVLPG 260, irq exit 300, ack 200, smp.* as tests/test_timing.c, INVLPGB 100 x 8 pages, TLBSYNC
 * 1500, hypercall 2500, quantum 0). */
#include <criterion/criterion.h>
#include <stdio.h>

#include "harness.h"

#define HDR(n) "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":" #n "}\n"
#define MM1 "{\"op\":\"mm_new\",\"mm\":1}\n" \
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x40000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
#define SW(c) "{\"op\":\"switch\",\"cpu\":" #c ",\"mm\":1}\n"

static const struct flush_policy *P(const char *name)
{
    const struct flush_policy *p = flush_policy_find(name);
    cr_assert(p, "policy %s", name);
    return p;
}

/* Two CPUs run mm 1; CPU 0 unmaps 4 pages (one flush, one target). */
static const char one_target[] =
    HDR(2) MM1 SW(0) SW(1)
    "{\"op\":\"access\",\"cpu\":1,\"va\":\"0x401000\",\"kind\":\"r\"}\n"
    "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x4000\",\"t\":10000}\n";

Test(policies, every_policy_is_listed_and_distinct)
{
    cr_expect_geq(flush_nr_policies, 9);
    for (size_t i = 0; i < flush_nr_policies; i++)
        for (size_t j = i + 1; j < flush_nr_policies; j++)
            cr_expect_str_neq(flush_policies[i].name, flush_policies[j].name);
}

Test(policies, early_ack_saves_exactly_the_remote_flush_work)
{
    struct h_run a, b;
    u64 la, lb;

    static const char *const s[] = { "ipi.irq_entry_spread_cycles=0", NULL };

    cr_assert_eq(h_run(&a, one_target, P("linux"), s), 0, "%s", a.err.msg);
    la = a.fl[0].t_done - a.fl[0].t_request;
    h_done(&a);
    cr_assert_eq(h_run(&b, one_target, P("early-ack"), s), 0, "%s", b.err.msg);
    lb = b.fl[0].t_done - b.fl[0].t_request;
    cr_expect_eq(b.t.cpu.stale_accesses, 0);
    h_done(&b);
    /* linux: 400 request + 20 should_flush_tlb + 110 csd_lock + 130
     * llist_add + 100 ICR + 1500 delivery + 400 entry + 150 csd read + 110
     * info line + (150 + 4 x 260) flush + 200 csd_lock_wait = 4310;
     * early-ack unlocks the csd before the flush. */
    cr_expect_eq(la, 4310);
    cr_expect_eq(la - lb, 150 + 4 * 260);
}

Test(policies, broadcast_sends_no_ipi_and_waits_for_tlbsync)
{
    struct h_run h;

    cr_assert_eq(h_run(&h, one_target, P("broadcast"), NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.ipis_sent, 0);
    cr_expect_eq(h.t.broadcasts, 1, "4 pages fit one INVLPGB of 8");
    cr_expect_eq(h.fl[0].targets, 1);
    cr_expect_eq(h.fl[0].t_done - h.fl[0].t_request, 400 + 100 + 1500);
    cr_expect_eq(sim_cpu(h.s, 1)->st.flush_pages, 4, "the target's TLB was invalidated");
    cr_expect_eq(sim_cpu(h.s, 1)->st.ipis_received, 0);
    h_done(&h);
}

Test(policies, pv_hyperv_flushes_through_one_hypercall)
{
    struct h_run h;

    cr_assert_eq(h_run(&h, one_target, P("pv-hyperv"), NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.ipis_sent, 0);
    cr_expect_eq(h.t.hypercalls, 1);
    cr_expect_eq(sim_cpu(h.s, 1)->st.flush_pages, 4);
    cr_expect_eq(sim_cpu(h.s, 1)->st.handler_cycles, 0, "no guest handler ran");
    h_done(&h);
}

/* CPU 1 is a preempted vCPU when CPU 0 unmaps; the host runs it again at
 * cycle 200000. */
static const char preempted[] =
    HDR(3) MM1 SW(0) SW(1) SW(2)
    "{\"op\":\"access\",\"cpu\":1,\"va\":\"0x401000\",\"kind\":\"r\"}\n"
    "{\"op\":\"vcpu_preempt\",\"cpu\":1,\"t\":5000}\n"
    "{\"op\":\"vcpu_run\",\"cpu\":1,\"t\":200000}\n"
    "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x1000\",\"t\":10000}\n";

Test(policies, pv_kvm_skips_preempted_vcpus)
{
    static const char *const virt[] = { "virt.enabled=true", NULL };
    struct h_run a, b;

    cr_assert_eq(h_run(&a, preempted, P("linux"), virt), 0, "%s", a.err.msg);
    cr_expect_eq(a.t.ipis_sent, 2);
    cr_expect_geq(a.fl[0].t_done, 200000, "native: waits for the preempted vCPU");
    h_done(&a);
    cr_assert_eq(h_run(&b, preempted, P("pv-kvm"), virt), 0, "%s", b.err.msg);
    cr_expect_eq(b.t.ipis_sent, 1);
    cr_expect_eq(b.t.pv_skipped_preempted, 1);
    cr_expect_lt(b.fl[0].t_done, 200000, "PV: done before the vCPU runs again");
    cr_expect_eq(sim_cpu(b.s, 1)->st.flush_full, 1, "KVM_VCPU_FLUSH_TLB on entry");
    cr_expect_eq(b.t.cpu.stale_accesses, 0);
    h_done(&b);
}

/* CPU 0 migrates four single pages that CPU 1 also maps. */
static const char four_migrations[] =
    HDR(2) MM1 SW(0) SW(1)
    "{\"op\":\"access\",\"cpu\":1,\"va\":[\"0x400000\",\"0x401000\",\"0x402000\",\"0x403000\"],\"kind\":\"r\"}\n"
    "{\"op\":\"migrate\",\"cpu\":0,\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x1000\",\"t\":10000}\n"
    "{\"op\":\"migrate\",\"cpu\":0,\"mm\":1,\"va\":\"0x401000\",\"len\":\"0x1000\"}\n"
    "{\"op\":\"migrate\",\"cpu\":0,\"mm\":1,\"va\":\"0x402000\",\"len\":\"0x1000\"}\n"
    "{\"op\":\"migrate\",\"cpu\":0,\"mm\":1,\"va\":\"0x403000\",\"len\":\"0x1000\"}\n";

Test(policies, batched_makes_one_full_flush_per_cpu_per_batch)
{
    static const char *const b4[] = { "policy.batched.pages=4", NULL };
    struct h_run a, b;

    cr_assert_eq(h_run(&a, four_migrations, P("linux"), b4), 0, "%s", a.err.msg);
    cr_expect_eq(a.t.flush_requests, 4);
    cr_expect_eq(a.t.ipis_sent, 4);
    cr_expect_eq(sim_cpu(a.s, 1)->st.flush_pages, 4);
    h_done(&a);
    cr_assert_eq(h_run(&b, four_migrations, P("batched"), b4), 0, "%s", b.err.msg);
    cr_expect_eq(b.t.flush_requests, 1);
    cr_expect_eq(b.t.ipis_sent, 1);
    cr_expect_eq(b.t.batched_pages, 4);
    cr_expect_eq(sim_cpu(b.s, 1)->st.flush_full, 1, "one full flush for the batch");
    cr_expect_eq(sim_cpu(b.s, 1)->st.flush_pages, 0);
    cr_expect_eq(b.t.cpu.stale_accesses, 0);
    h_done(&b);
}

/* CPU 1 keeps using page 0x401000 while CPU 0 zaps it and writes it again
 * (a new frame: the old one is freed, the FIFO hands it out again). */
static const char zap_reuse[] =
    HDR(2) MM1 SW(0) SW(1)
    "{\"op\":\"access\",\"cpu\":1,\"va\":\"0x401000\",\"kind\":\"r\"}\n"
    "{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":\"0x401000\",\"len\":\"0x1000\",\"t\":10000}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x401000\",\"kind\":\"w\"}\n"
    "{\"op\":\"access\",\"cpu\":1,\"va\":\"0x401000\",\"kind\":\"r\",\"t\":100000}\n";

Test(policies, lazy_deferred_sends_no_ipi_and_invalidates_at_the_tick)
{
    struct h_run h;

    cr_assert_eq(h_run(&h, zap_reuse, P("lazy-deferred"), NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.ipis_sent, 0);
    cr_expect_eq(h.t.deferred_invalidations, 1);
    cr_expect_eq(h.t.cpu.stale_accesses, 0, "the old frame is not freed before the tick");
    cr_expect_eq(h.t.cpu.racy_accesses, 1, "CPU 1 still reads the old frame");
    cr_assert_geq(h.nr_fl, 1);
    cr_expect_geq(h.fl[0].t_done, h.m.deferred_tick_cycles / 2, "done at CPU 1's tick");
    h_done(&h);
}

Test(policies, lazy_deferred_unsafe_shows_the_hazard)
{
    struct h_run h;

    cr_assert_eq(h_run(&h, zap_reuse, P("lazy-deferred-unsafe"), NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.ipis_sent, 0);
    cr_expect_eq(h.t.cpu.stale_accesses, 1, "CPU 1 read a freed (reused) frame");
    h_done(&h);
}

Test(policies, linux_is_safe_on_the_same_hazard_trace)
{
    struct h_run h;

    cr_assert_eq(h_run(&h, zap_reuse, P("linux"), NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.ipis_sent, 1);
    cr_expect_eq(h.t.cpu.stale_accesses, 0);
    cr_expect_eq(h.t.cpu.racy_accesses, 0);
    h_done(&h);
}

#include <stdlib.h>
#include <unistd.h>

#include "../sim/io/wl_spec.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    cr_assert(f, "%s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    cr_assert(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* The shipped heap_reuse workload: trimmed chunks are reused by other
 * threads.  Only the policy that frees before invalidating shows stale
 * accesses; its safe twin shows them as racy. */
Test(policies, heap_reuse_shows_the_deferred_free_hazard, .timeout = 60)
{
    char out[] = "/tmp/tlbsim-heap-XXXXXX";
    struct sim_err err = { 0 };
    struct h_run h;
    char *text;
    int fd = mkstemp(out);

    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(wl_spec_generate("../workloads/heap_reuse.json", out, &err), 0, "%s", err.msg);
    text = slurp(out);
    cr_assert_eq(h_run(&h, text, P("linux"), NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.cpu.stale_accesses, 0);
    h_done(&h);
    cr_assert_eq(h_run(&h, text, P("lazy-deferred"), NULL), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.cpu.stale_accesses, 0);
    cr_expect_gt(h.t.cpu.racy_accesses, 0);
    h_done(&h);
    cr_assert_eq(h_run(&h, text, P("lazy-deferred-unsafe"), NULL), 0, "%s", h.err.msg);
    cr_expect_gt(h.t.cpu.stale_accesses, 0);
    h_done(&h);
    free(text);
    unlink(out);
}
