/* tests/test_import_infer.c - `tlbsim import ftrace` without a TGID column:
 * which tasks share an mm (IPI pairing, clone(), --tgid-map) and the
 * --pid / --comm filters.  Inputs are small hand-written `trace-cmd report`
 * texts in its exact layout; the imported traces run through the engine. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../sim/io/import.h"
#include "clirun.h"
#include "harness.h"

#define HDR "cpus=2\n"                                                                      \
    "          <idle>-0     [000]   100.000100: sched_switch:         swapper/0:0 [120] R ==> demo:500 [120]\n" \
    "          <idle>-0     [001]   100.000105: sched_switch:         swapper/1:0 [120] R ==> demo:501 [120]\n" \
    "            demo-500   [000]   100.000200: page_fault_user:      address=0x7f0000000000 ip=0x400000 error_code=0x6\n" \
    "            demo-501   [001]   100.000210: page_fault_user:      address=0x7f0000001000 ip=0x400000 error_code=0x6\n"

/* Thread 500 munmaps; its IPI reaches thread 501 on CPU 1 3 us later. */
static const char pair_txt[] = HDR
    "            demo-500   [000]   100.000300: sys_enter_munmap:     addr: 0x7f0000000000, len: 0x00002000\n"
    "            demo-500   [000]   100.000305: tlb_flush:            pages=2 reason=remote ipi send (4)\n"
    "            demo-501   [001]   100.000308: tlb_flush:            pages=2 reason=remote shootdown (1)\n"
    "            demo-500   [000]   100.000309: tlb_flush:            pages=2 reason=local mm shootdown (3)\n"
    "            demo-500   [000]   100.000312: sys_exit_munmap:      0x0\n";

/* The same munmap, and no shootdown on CPU 1 (another process there). */
static const char nopair_txt[] = HDR
    "            demo-500   [000]   100.000300: sys_enter_munmap:     addr: 0x7f0000000000, len: 0x00002000\n"
    "            demo-500   [000]   100.000309: tlb_flush:            pages=2 reason=local mm shootdown (3)\n"
    "            demo-500   [000]   100.000312: sys_exit_munmap:      0x0\n";

/* 500 clones 502 (CLONE_VM|CLONE_THREAD...) which then faults on CPU 1. */
static const char clone_txt[] = HDR
    "            demo-500   [000]   100.000300: sys_enter_clone:      clone_flags: 0x00000000003d0f00, newsp: 0x7f0000010000, parent_tidptr: 0x0, child_tidptr: 0x0, tls: 0x0\n"
    "            demo-500   [000]   100.000320: sys_exit_clone:       0x1f6\n"
    "            demo-501   [001]   100.000330: sched_switch:         demo:501 [120] S ==> demo:502 [120]\n"
    "            demo-502   [001]   100.000340: page_fault_user:      address=0x7f0000002000 ip=0x400000 error_code=0x6\n";

/* A third process (bash) runs on CPU 1 and munmaps something of its own. */
static const char filter_txt[] = HDR
    "            demo-501   [001]   100.000300: sched_switch:         demo:501 [120] S ==> bash:600 [120]\n"
    "            bash-600   [001]   100.000310: sys_enter_munmap:     addr: 0x7f1000000000, len: 0x00001000\n"
    "            bash-600   [001]   100.000320: sys_exit_munmap:      0x0\n"
    "            bash-600   [001]   100.000330: page_fault_user:      address=0x7f1000004000 ip=0x400000 error_code=0x6\n";

struct imp_out {
    int rc;
    struct import_stats st;
    struct sim_err err;
    char *text;                         /* the trace (malloc'd), NULL on failure */
};

static void imp(const char *txt, struct import_opts *o, struct imp_out *r)
{
    char in[256], out[300];

    memset(r, 0, sizeof(*r));
    snprintf(in, sizeof(in), "%s", h_tmpfile(txt, ".txt"));
    snprintf(out, sizeof(out), "%s.jsonl", in);
    o->strict = true;
    r->rc = import_file("ftrace", in, out, o, &r->st, &r->err);
    r->text = r->rc ? NULL : cli_slurp(out, NULL);
    unlink(in);
    unlink(out);
}

static int count(const char *s, const char *needle)
{
    int n = 0;

    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static u64 shootdowns(const char *trace)
{
    struct h_run h;
    u64 n;

    cr_assert_eq(h_run(&h, trace, flush_policy_find("linux"), NULL), 0, "%s", h.err.msg);
    n = h.t.shootdowns;
    h_done(&h);
    return n;
}

/* The bug: send on CPU 0, answer on CPU 1, yet 0 shootdowns under linux. */
Test(import_infer, ipi_pairing_joins_threads)
{
    struct import_opts o = { 0 };
    struct imp_out r;

    imp(pair_txt, &o, &r);
    cr_assert_eq(r.rc, 0, "%s", r.err.msg);
    cr_expect_eq(count(r.text, "\"op\":\"mm_new\""), 1, "%s", r.text);
    cr_expect(strstr(r.st.note, "IPI pairing 1 (first: pid 501 answered pid 500's IPI on cpu 1"),
              "%s", r.st.note);
    cr_expect_eq(shootdowns(r.text), 1);
    free(r.text);

    imp(nopair_txt, &o, &r);
    cr_assert_eq(r.rc, 0, "%s", r.err.msg);
    cr_expect_eq(count(r.text, "\"op\":\"mm_new\""), 2, "%s", r.text);
    cr_expect(strstr(r.st.note, "IPI pairing 0"), "%s", r.st.note);
    cr_expect_eq(shootdowns(r.text), 0);
    free(r.text);
}

Test(import_infer, clone_syscall_shares_mm)
{
    struct import_opts o = { 0 };
    struct imp_out r;

    imp(clone_txt, &o, &r);
    cr_assert_eq(r.rc, 0, "%s", r.err.msg);
    /* 500 and 502 share mm 1; 501 (no evidence) has its own */
    cr_expect_eq(count(r.text, "\"op\":\"mm_new\""), 2, "%s", r.text);
    cr_expect(strstr(r.text, "{\"op\":\"switch\",\"cpu\":1,\"mm\":1,"), "%s", r.text);
    cr_expect(strstr(r.st.note, "clone() 1"), "%s", r.st.note);
    free(r.text);
}

Test(import_infer, tgid_map, .init = h_tmpdir_setup, .fini = h_tmpdir_teardown)
{
    struct import_opts o = { 0 };
    struct imp_out r;
    const char *map = h_tmp_path("map.txt");
    FILE *f = fopen(map, "w");

    fputs("# pid tgid\n501 500\n", f);
    fclose(f);
    o.tgid_map = map;
    imp(nopair_txt, &o, &r);
    cr_assert_eq(r.rc, 0, "%s", r.err.msg);
    cr_expect_eq(count(r.text, "\"op\":\"mm_new\""), 1, "%s", r.text);
    cr_expect(strstr(r.st.note, "--tgid-map 1"), "%s", r.st.note);
    cr_expect_eq(shootdowns(r.text), 1);
    free(r.text);

    f = fopen(map, "w");
    fputs("501 500\n502 x\n", f);
    fclose(f);
    imp(nopair_txt, &o, &r);
    cr_expect_eq(r.rc, SIM_EPARSE);
    cr_expect(strstr(r.err.msg, "map.txt:2: tgid-map: expected \"PID TGID\""), "%s", r.err.msg);
}

Test(import_infer, pid_and_comm_filters)
{
    struct import_opts o = { 0 };
    struct imp_out r;

    imp(filter_txt, &o, &r);                    /* no filter: bash's munmap is in */
    cr_assert_eq(r.rc, 0, "%s", r.err.msg);
    cr_expect_eq(count(r.text, "\"op\":\"unmap\""), 1, "%s", r.text);
    cr_expect_eq(count(r.text, "\"op\":\"mm_new\""), 3, "%s", r.text);
    free(r.text);

    o.pid = 500;                                /* 500 alone; 501 and bash dropped */
    imp(filter_txt, &o, &r);
    cr_assert_eq(r.rc, 0, "%s", r.err.msg);
    cr_expect_eq(count(r.text, "\"op\":\"unmap\""), 0, "%s", r.text);
    cr_expect_eq(count(r.text, "\"op\":\"access\""), 1, "%s", r.text);
    cr_expect_eq(count(r.text, "\"op\":\"mm_new\""), 2, "kept + placeholder:\n%s", r.text);
    cr_expect(strstr(r.st.note, "keep 1 process,"), "%s", r.st.note);
    free(r.text);

    o.pid = 0;                                  /* both demo threads (pairing-free: 2 mms) */
    o.comm = "demo";
    imp(filter_txt, &o, &r);
    cr_assert_eq(r.rc, 0, "%s", r.err.msg);
    cr_expect_eq(count(r.text, "\"op\":\"unmap\""), 0, "%s", r.text);
    cr_expect_eq(count(r.text, "\"op\":\"access\""), 2, "%s", r.text);
    cr_expect(strstr(r.st.note, "keep 2 processes"), "%s", r.st.note);
    free(r.text);

    o.comm = "nosuch";
    imp(filter_txt, &o, &r);
    cr_expect_eq(r.rc, SIM_EINVAL);
    cr_expect(strstr(r.err.msg, "--comm nosuch: no task of that name"), "%s", r.err.msg);
    o.comm = NULL;
    o.pid = 4242;
    imp(filter_txt, &o, &r);
    cr_expect_eq(r.rc, SIM_EINVAL);
    cr_expect(strstr(r.err.msg, "--pid 4242: no event of that task"), "%s", r.err.msg);
}

Test(import_infer, filters_are_for_ftrace)
{
    struct import_opts o = { .pid = 1 };
    struct import_stats st;
    struct sim_err err = { 0 };
    char in[256];

    snprintf(in, sizeof(in), "%s", h_tmpfile("I  04000000,3\n", ".txt"));
    cr_expect_eq(import_file("lackey", in, "/tmp/tlbsim-test-never.jsonl", &o, &st, &err), SIM_EINVAL);
    cr_expect(strstr(err.msg, "are for ftrace"), "%s", err.msg);
    unlink(in);
}
