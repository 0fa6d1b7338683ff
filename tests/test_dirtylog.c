/* tests/test_dirtylog.c - dirty logging through the engine: host_wrprotect
 * makes EPT leaves read-only, a guest write to one takes an EPT violation
 * that gives W back (ept_dirty_faults), so vm_migrate's later rounds
 * re-protect what the guest dirtied; and a host EPT change that no flush
 * covered shows as stale_accesses (models/cpu.h, sim/engine/host.c).
 * Model-level costs term by term: tests/test_ept_walk.c.
 *
 * machine_init defaults used below (cycles): write-protect 40 per 4K EPT
 * leaf, request 30 per vCPU, host csd_lock 110 + llist_add 130 per target,
 * host ICR write 100, IPI delivery 1500, kick exit 1000, csd_lock_wait 200
 * per target.  Runs with cwd = tests/.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sim/engine/sim_priv.h"     /* the EPT, host_ept_changed */
#include "../sim/io/trace.h"
#include "../sim/io/wl_spec.h"
#include "../workloads/wl.h"
#include "clirun.h"
#include "harness.h"

#define SETS "virt.enabled=true", "virt.ept=true", "ipi.irq_entry_spread_cycles=0", \
    "sockets=1", "apic.mode=x2apic-phys", "apic.shorthand=false"

static const struct flush_policy *linux_policy(void)
{
    const struct flush_policy *p = flush_policy_find("linux");
    cr_assert(p);
    return p;
}

/* EPT leaves of guest-physical [0, len) that allow writes. */
static u64 writable_leaves(const struct ept *ept, u64 len)
{
    u64 n = 0;

    for (u64 gpa = 0; gpa < len; gpa += 0x1000) {
        bool w = false;
        if (ept_leaf_perm(ept, gpa, &w, NULL) && w)
            n++;
    }
    return n;
}

/* 2 vCPUs of one mm; guest-physical [0, 2M) backed by 4K EPT leaves, every
 * guest frame inside it.  CPU 1 reads 4 pages; at 100000 the host
 * write-protects all of [0, 2M) on CPU 0's physical CPU (`op`, or a mark);
 * at 200000 CPU 1 writes pages 0 and 2, page 0 again, and reads 1 and 3. */
#define HDR2 "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n" \
    "{\"op\":\"ept_map\",\"gpa\":\"0x0\",\"len\":\"0x200000\",\"page\":\"4k\"}\n" \
    "{\"op\":\"mm_new\",\"mm\":1}\n" \
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x40000\",\"page\":\"4k\",\"prot\":\"rw\"}\n" \
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
#define WP_ALL "{\"op\":\"host_wrprotect\",\"cpu\":0,\"gpa\":\"0x0\",\"len\":\"0x200000\",\"t\":100000}"

static void four_pages(struct h_run *h, const char *op)
{
    static const char *const s[] = { SETS, NULL };
    static char text[2048];

    snprintf(text, sizeof(text), HDR2
             "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x400000\",\"stride\":4096,\"count\":4,\"kind\":\"r\"}\n"
             "%s\n"
             "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x400000\",\"stride\":8192,\"count\":2,\"kind\":\"w\",\"t\":200000}\n"
             "{\"op\":\"access\",\"cpu\":1,\"va\":[\"0x400000\"],\"kind\":\"w\"}\n"
             "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x401000\",\"stride\":8192,\"count\":2,\"kind\":\"r\"}\n",
             op);
    cr_assert_eq(h_run(h, text, linux_policy(), s), 0, "%s", h->err.msg);
}

Test(dirtylog, two_of_four_pages_written_two_dirty_faults)
{
    struct h_run h;

    four_pages(&h, WP_ALL);
    /* Host: 512 leaves x 40, then the kick round for CPU 1: 2 x 30
     * requests + 240 queueing + 100 ICR + 1500 delivery + 1000 exit + 200
     * csd_lock_wait = 3100. */
    cr_expect_eq(h.t.host_flush_cycles, 512 * 40 + 3100);
    cr_expect_eq(h.s->ept.st.wrprotected, 512);
    cr_expect_eq(h.t.cpu.ept_dirty_faults, 2);
    cr_expect_eq(h.t.cpu.ept_spurious_faults, 0);
    cr_expect_eq(h.t.cpu.bad_accesses, 0);
    cr_expect_eq(h.t.cpu.stale_accesses, 0);
    /* The writes succeeded: exactly their two leaves are writable again. */
    cr_expect_eq(writable_leaves(&h.s->ept, 0x200000), 2);
    cr_expect_eq(h.s->ept.st.dirty_faults, 2);
    h_done(&h);

    four_pages(&h, "{\"op\":\"mark\",\"label\":\"no dirty logging\"}");
    cr_expect_eq(h.t.cpu.ept_dirty_faults, 0);
    cr_expect_eq(writable_leaves(&h.s->ept, 0x200000), 512);
    h_done(&h);
}

/* CPU 1 writes 64 pages, and again at 200000.  At 100000 the host
 * write-protects all of guest memory: with the host_wrprotect op (its
 * flush kicks CPU 1), or behind the engine's back with the EPT change and
 * the epoch move but no flush (a host that forgot kvm_flush_remote_tlbs). */
#define WRITE64(t) "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x400000\",\"stride\":4096," \
    "\"count\":64,\"kind\":\"w\"" t "}\n"

Test(dirtylog, skipped_host_flush_shows_stale_accesses)
{
    static const char *const s[] = { SETS, NULL };
    static const char with_op[] = HDR2 WRITE64("") WP_ALL "\n" WRITE64(",\"t\":200000");
    /* CPU 0's touch at 100000 gives the run an event there to stop at. */
    static const char no_op[] = HDR2 WRITE64("")
        "{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x43f000\"],\"kind\":\"r\",\"t\":100000}\n"
        WRITE64(",\"t\":200000");
    struct h_run h;
    struct mmu_gather g;
    bool reduced;

    cr_assert_eq(h_run(&h, with_op, linux_policy(), s), 0, "%s", h.err.msg);
    cr_expect_eq(h.t.cpu.stale_accesses, 0);
    cr_expect_eq(h.t.cpu.ept_dirty_faults, 64);
    h_done(&h);

    cr_assert_eq(h_open(&h, no_op, linux_policy(), NULL, s), 0, "%s", h.err.msg);
    cr_assert_geq(sim_run(h.s, 100000, &h.err), 0, "%s", h.err.msg);
    sim_totals(h.s, &h.t);
    cr_assert_eq(h.t.cpu.l1d_hits, 0, "stopped before the second pass");
    mmu_gather_init(&g);
    cr_assert_eq(ept_wrprotect(&h.s->ept, 0, 0x200000, &reduced, &g, &h.err), 0, "%s",
                 h.err.msg);
    mmu_gather_destroy(&g);
    cr_assert(reduced);
    host_ept_changed(h.s);
    cr_assert_geq(sim_run(h.s, CYCLES_NEVER, &h.err), 0, "%s", h.err.msg);
    sim_totals(h.s, &h.t);
    /* Every second write went through a writable entry the EPT no longer
     * allows: 64 writes the dirty log never saw. */
    cr_expect_eq(h.t.cpu.stale_accesses, 64);
    cr_expect_eq(h.t.cpu.ept_dirty_faults, 0);
    h_done(&h);
}

/* ---- vm_migrate ----------------------------------------------------------- */

struct rounds {
    u64 written[16];                    /* distinct 4K pages written in round r */
    u32 nr;                             /* rounds (host_wrprotect ops) */
    u64 leaves;                         /* 4K leaves of the ept_map */
};

static int cmp_u64(const void *a, const void *b)
{
    u64 x = *(const u64 *)a, y = *(const u64 *)b;
    return x < y ? -1 : x > y;
}

static u64 distinct(u64 *v, u64 n)
{
    u64 d = 0;

    qsort(v, n, sizeof(*v), cmp_u64);
    for (u64 i = 0; i < n; i++)
        d += i == 0 || v[i] != v[i - 1];
    return d;
}

/* From the trace alone: the pages each round writes (one vCPU, so trace
 * order is time order). */
static void count_rounds(const char *path, struct rounds *r)
{
    static u64 pages[1 << 16];
    struct trace_reader *rd;
    struct trace_header hdr;
    struct trace_op op;
    struct sim_err err = { 0 };
    u64 n = 0;

    memset(r, 0, sizeof(*r));
    cr_assert_eq(trace_open(path, &rd, &hdr, &err), 0, "%s", err.msg);
    while (trace_next(rd, &op, &err) == 1) {
        if (op.type == OP_EPT_MAP)
            r->leaves += op.len >> 12;
        if (op.type == OP_HOST_WRPROTECT) {
            if (r->nr)
                r->written[r->nr - 1] = distinct(pages, n);
            cr_assert_lt(r->nr, 16);
            r->nr++;
            n = 0;
        }
        if (op.type == OP_ACCESS && op.kind == 'w' && r->nr)
            for (u32 i = 0; i < op.nr_va; i++) {
                cr_assert_lt(n, sizeof(pages) / sizeof(pages[0]));
                pages[n++] = op.vas[i] >> 12;
            }
    }
    r->written[r->nr - 1] = distinct(pages, n);
    trace_close(rd);
}

/* One vCPU: every round's first write to a page faults once, and the next
 * round's host_wrprotect re-protects exactly the leaves the guest dirtied
 * (KVM_CLEAR_DIRTY_LOG re-protects the pages reported dirty). */
Test(dirtylog, vm_migrate_rounds_reprotect_what_the_guest_dirtied,
     .init = h_tmpdir_setup, .fini = h_tmpdir_teardown)
{
    const struct wl_desc *d = wl_find("vm_migrate");
    const char *path = h_tmp_path("mig.jsonl");
    struct sim_err err = { 0 };
    struct wl_params p;
    struct rounds r;
    struct h_run h;
    u64 faults = 0, reprotect = 0;

    cr_assert(d);
    wl_params_init(&p, d);
    p.cpus = 1;
    p.iterations = 16;                  /* rounds of 8, 4, 2, 1, 1 steps */
    p.wss = 1ull << 20;
    cr_assert_eq(wl_generate(d, &p, path, &err), 0, "%s", err.msg);
    count_rounds(path, &r);
    cr_assert_eq(r.nr, 5);
    for (u32 i = 0; i < r.nr; i++) {
        cr_assert_gt(r.written[i], 0, "round %u writes", i);
        faults += r.written[i];
        if (i + 1 < r.nr)
            reprotect += r.written[i];  /* protected again by round i + 1 */
    }
    char *text = cli_slurp(path, NULL);
    cr_assert_not_null(text);
    cr_assert_eq(h_run_machine(&h, text, linux_policy(), "../models/kvm-guest-skylake.json",
                               NULL), 0, "%s", h.err.msg);
    free(text);
    cr_expect_eq(h.t.cpu.ept_dirty_faults, faults);
    cr_expect_eq(h.t.cpu.ept_spurious_faults, 0);
    cr_expect_eq(h.s->ept.st.wrprotected, r.leaves + reprotect);
    cr_expect_gt(reprotect, 0, "later rounds write-protect something");
    cr_expect_eq(h.t.host_zaps, 5);
    cr_expect_eq(h.t.cpu.stale_accesses, 0);
    h_done(&h);
}
