/* tests/test_import.c - ftrace and lackey importers.
 *
 * The shipped samples (traces/samples/, recorded on a real machine) import
 * and read back; hand-written snippets pin each mapping rule (switch, lazy,
 * idle, syscalls, flush attribution, lifecycles, timestamps); bad lines are
 * skipped and counted, or an error with FILE:LINE in strict mode; mutated
 * inputs never crash.  Runs with cwd = tests/.
 */
#include <criterion/criterion.h>

#include "harness.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../sim/io/import.h"
#include "../sim/io/trace.h"

#define SAMPLES "../traces/samples/"

/* ===== Helpers =========================================================== */


static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

#define MAX_OPS 20000
struct rec {
    enum trace_op_type type;
    u32 cpu;
    s64 mm;
    u64 va, len, t;
    u32 flags;
    u8 prot, kind, page_shift;
};

struct readback {
    struct trace_header hdr;
    u64 ops;
    u64 by_type[OP__COUNT];
    struct rec *r;                      /* the first MAX_OPS ops */
    u64 bad_access;                     /* lackey: accesses outside the maps */
};

/* Read the trace back; with check_maps, every access must be in a map. */
static void read_back(const char *path, struct readback *b, bool check_maps)
{
    struct trace_reader *r;
    struct trace_op op;
    struct sim_err err = { 0, "" };
    int rc;
    u64 (*maps)[2] = calloc(MAX_OPS, sizeof(*maps));
    size_t nmaps = 0;

    memset(b, 0, sizeof(*b));
    b->r = calloc(MAX_OPS, sizeof(*b->r));
    cr_assert(maps && b->r);
    cr_assert_eq(trace_open(path, &r, &b->hdr, &err), SIM_OK, "%s", err.msg);
    while ((rc = trace_next(r, &op, &err)) == 1) {
        if (b->ops < MAX_OPS) {
            struct rec *x = &b->r[b->ops];
            x->type = op.type;
            x->cpu = op.cpu;
            x->mm = op.mm;
            x->va = op.va;
            x->len = op.len;
            x->t = op.t;
            x->flags = op.flags;
            x->prot = op.prot;
            x->kind = op.kind;
            x->page_shift = op.page_shift;
        }
        b->ops++;
        b->by_type[op.type]++;
        if (op.type == OP_MAP && nmaps < MAX_OPS) {
            maps[nmaps][0] = op.va;
            maps[nmaps++][1] = op.va + op.len;
        }
        if (check_maps && op.type == OP_ACCESS) {
            for (u32 i = 0; i < op.nr_va; i++) {
                u64 va = op.vas ? op.vas[i] : op.va;
                bool in = false;
                for (size_t m = 0; m < nmaps && !in; m++)
                    in = va >= maps[m][0] && va < maps[m][1];
                b->bad_access += !in;
            }
        }
    }
    trace_close(r);
    free(maps);
    cr_assert_eq(rc, 0, "%s: %s", path, err.msg);
}

static int do_import(const char *fmt, const char *in, const char *out, bool strict,
                     u32 cpus, struct import_stats *st, struct sim_err *err)
{
    struct import_opts o = { .strict = strict, .freq_mhz = 0, .cpus = cpus };
    return import_file(fmt, in, out, &o, st, err);
}

static u64 count(const struct readback *b, enum trace_op_type t) { return b->by_type[t]; }

static const struct rec *nth(const struct readback *b, enum trace_op_type t, u64 n)
{
    for (u64 i = 0; i < b->ops && i < MAX_OPS; i++)
        if (b->r[i].type == t && n-- == 0)
            return &b->r[i];
    return NULL;
}

TestSuite(import, .init = h_tmpdir_setup, .fini = h_tmpdir_teardown, .timeout = 30);

/* ===== Shipped samples =================================================== */

static void sample_ok(const char *fmt, const char *name, u32 cpus, struct readback *b)
{
    char in[128];
    const char *out = h_tmp_path("sample.jsonl");
    struct import_stats st;
    struct sim_err err = { 0, "" };

    snprintf(in, sizeof(in), SAMPLES "%s", name);
    cr_assert_eq(do_import(fmt, in, out, true, 0, &st, &err), SIM_OK, "%s: %s", name, err.msg);
    cr_expect_eq(st.skipped, 0, "%s: %llu skipped", name, (unsigned long long)st.skipped);
    cr_expect_gt(st.events, 0);
    cr_expect_eq(st.cpus, cpus);
    read_back(out, b, !strcmp(fmt, "lackey"));
    cr_expect_eq(b->hdr.cpus, cpus);
    cr_expect_eq(b->ops, st.ops);
}

Test(import, ftrace_raw_sample)
{
    struct readback b;

    sample_ok("ftrace", "ftrace-raw.txt", 2, &b);
    cr_expect_str_eq(b.hdr.source, "ftrace (raw)");
    cr_expect_gt(count(&b, OP_SWITCH), 0);
    cr_expect_gt(count(&b, OP_ACCESS), 0);
    cr_expect_gt(count(&b, OP_FLUSH), 0);
    cr_expect_eq(count(&b, OP_ZAP), 7);     /* demo.c: 3 x 2 madvise(DONTNEED), + glibc freeing a thread stack */
    cr_expect_gt(count(&b, OP_UNMAP), 0);
    cr_expect_gt(count(&b, OP_PROTECT), 0);
    cr_expect_gt(count(&b, OP_MM_EXIT), 0);
    free(b.r);
}

Test(import, trace_cmd_report_sample)
{
    struct readback b;

    sample_ok("ftrace", "trace-cmd-report.txt", 2, &b);
    cr_expect_str_eq(b.hdr.source, "ftrace (trace-cmd report)");
    cr_expect_gt(count(&b, OP_SWITCH), 0);
    cr_expect_gt(count(&b, OP_FLUSH), 0);
    cr_expect_gt(count(&b, OP_ZAP), 0);
    cr_expect_gt(count(&b, OP_MM_EXIT), 0);
    free(b.r);
}

Test(import, perf_script_sample)
{
    struct readback b;

    sample_ok("ftrace", "perf-script.txt", 2, &b);
    cr_expect_str_eq(b.hdr.source, "ftrace (perf script)");
    cr_expect_gt(count(&b, OP_SWITCH), 0);
    cr_expect_gt(count(&b, OP_ZAP), 0);
    cr_expect_gt(count(&b, OP_UNMAP), 0);
    free(b.r);
}

Test(import, lackey_sample_accesses_land_in_mapped_pages)
{
    struct readback b;
    struct import_stats st;
    struct sim_err err = { 0, "" };

    sample_ok("lackey", "lackey.txt", 1, &b);
    cr_expect_eq(b.bad_access, 0);
    cr_expect_eq(count(&b, OP_MM_NEW), 1);
    cr_expect_gt(count(&b, OP_MAP), 0);
    cr_expect_gt(count(&b, OP_ACCESS), 0);
    /* the program's code is mapped executable, its array writable */
    bool x = false, w = false;
    for (u64 i = 0; i < b.ops; i++) {
        if (b.r[i].type != OP_MAP)
            continue;
        x |= (b.r[i].prot & PROT_X) != 0;
        w |= (b.r[i].prot & PROT_W) != 0;
    }
    cr_expect(x && w);
    free(b.r);
    /* --cpus only widens the header; everything still runs on cpu 0 */
    cr_assert_eq(do_import("lackey", SAMPLES "lackey.txt", h_tmp_path("l4.jsonl"), false, 4,
                           &st, &err), SIM_OK, "%s", err.msg);
    read_back(h_tmp_path("l4.jsonl"), &b, true);
    cr_expect_eq(b.hdr.cpus, 4);
    free(b.r);
}

/* ===== ftrace rules, on hand-written lines =============================== */

static void import_text(const char *fmt, const char *text, struct readback *b,
                        struct import_stats *st)
{
    const char *in = h_tmp_path("in.txt"), *out = h_tmp_path("out.jsonl");
    struct sim_err err = { 0, "" };

    write_file(in, text);
    cr_assert_eq(do_import(fmt, in, out, false, 0, st, &err), SIM_OK, "%s", err.msg);
    read_back(out, b, !strcmp(fmt, "lackey"));
}

Test(import, switches_kernel_threads_and_idle)
{
    struct readback b;
    struct import_stats st;

    import_text("ftrace",
        "# tracer: nop\n"
        "           bash-100   [000] d..2.   10.000000: sched_switch: prev_comm=bash prev_pid=100 prev_prio=120 prev_state=S ==> next_comm=kworker/0:1 next_pid=7 next_prio=120\n"
        "    kworker/0:1-7     [000] d..2.   10.000010: sched_switch: prev_comm=kworker/0:1 prev_pid=7 prev_prio=120 prev_state=I ==> next_comm=swapper/0 next_pid=0 next_prio=120\n"
        "         <idle>-0     [000] d..2.   10.000020: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=bash next_pid=100 next_prio=120\n"
        "         <idle>-0     [001] d..2.   10.000030: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=Web Content next_pid=200 next_prio=120\n",
        &b, &st);
    cr_expect_eq(st.skipped, 0);
    cr_expect_eq(b.hdr.cpus, 2);
    const struct rec *s0 = nth(&b, OP_SWITCH, 0), *s1 = nth(&b, OP_SWITCH, 1);
    cr_assert(s0 && s1);
    cr_expect_eq(s0->mm, MM_NULL);          /* kworker: lazy */
    cr_expect_eq(count(&b, OP_IDLE), 1);
    cr_expect_geq(s1->mm, 1);               /* bash: a user mm */
    cr_expect_eq(count(&b, OP_MM_NEW), 2);  /* bash, "Web Content" */
    /* t: 10 us after the first event at 2500 MHz = 25000 cycles */
    cr_expect_eq(s0->t, 0);
    cr_expect_eq(nth(&b, OP_IDLE, 0)->t, 25000);
    free(b.r);
}

Test(import, plugin_layout_and_perf_layout)
{
    struct readback b;
    struct import_stats st;

    import_text("ftrace",
        "cpus=2\n"
        "          bash-100   [001]    10.000000: sched_switch:         bash:100 [120] S ==> ksoftirqd/1:20 [120]\n"
        "   ksoftirqd/1-20    [001]    10.000005: sched_switch:         ksoftirqd/1:20 [120] S ==> my prog:300 [120]\n",
        &b, &st);
    cr_expect_eq(st.skipped, 0);
    cr_expect_eq(nth(&b, OP_SWITCH, 0)->mm, MM_NULL);
    cr_expect_geq(nth(&b, OP_SWITCH, 1)->mm, 1);
    free(b.r);
    import_text("ftrace",
        "        my prog  300/301  [000]  10.000000:  sched:sched_switch: prev_comm=my prog prev_pid=301 prev_prio=120 prev_state=S ==> next_comm=my prog next_pid=300 next_prio=120\n"
        "        my prog  300/300  [000]  10.000100:  sched:sched_switch: prev_comm=my prog prev_pid=300 prev_prio=120 prev_state=S ==> next_comm=my prog next_pid=301 next_prio=120\n",
        &b, &st);
    cr_expect_eq(st.skipped, 0);
    cr_expect_eq(count(&b, OP_MM_NEW), 1);  /* 300 and 301 are one process */
    free(b.r);
}

Test(import, syscalls_become_map_unmap_protect_zap)
{
    struct readback b;
    struct import_stats st;

    import_text("ftrace",
        "  p-50 [000] 1.000000: sys_enter_mmap: addr: 0x00000000, len: 0x00003000, prot: 0x00000003, flags: 0x00000022, fd: 0xffffffff, off: 0x00000000\n"
        "  p-50 [000] 1.000002: sys_exit_mmap: 0x7f0000000000\n"
        "  p-50 [000] 1.000003: sys_enter_mprotect: start: 0x7f0000000000, len: 0x00001000, prot: 0x00000001\n"
        "  p-50 [000] 1.000004: tlb_flush: pages=1 reason=local mm shootdown (3)\n"
        "  p-50 [000] 1.000005: sys_exit_mprotect: 0x0\n"
        "  p-50 [000] 1.000006: sys_enter_madvise: start: 0x7f0000001000, len_in: 0x00001000, behavior: 0x00000004\n"
        "  p-50 [000] 1.000007: sys_exit_madvise: 0x0\n"
        "  p-50 [000] 1.000008: sys_enter_madvise: start: 0x7f0000001000, len_in: 0x00001000, behavior: 0x00000003\n"
        "  p-50 [000] 1.000009: sys_exit_madvise: 0x0\n"
        "  p-50 [000] 1.000010: sys_mmap(addr: 0, len: 1000, prot: 3, flags: 22, fd: ffffffff, off: 0)\n"
        "  p-50 [000] 1.000011: sys_mmap -> 0xfffffffffffffff4\n"
        "  p-50 [000] 1.000012: sys_munmap(addr: 0x7f0000000000, len: 0x3000)\n"
        "  p-50 [000] 1.000013: sys_munmap -> 0x0\n"
        "  p-50 [000] 1.000014: sys_enter_munmap: addr: 0x7e0000000000, len: 0x00002000\n"
        "  p-50 [000] 1.000015: sys_exit_munmap: 0x0\n",
        &b, &st);
    cr_expect_eq(st.skipped, 0);
    const struct rec *m = nth(&b, OP_MAP, 0);
    cr_assert_not_null(m);
    cr_expect_eq(m->va, 0x7f0000000000ull);
    cr_expect_eq(m->len, 0x3000);
    cr_expect_eq(m->prot, PROT_R | PROT_W);
    cr_expect(!(m->flags & OPF_POPULATE));
    cr_expect_eq(nth(&b, OP_PROTECT, 0)->prot, PROT_R);
    cr_expect_eq(count(&b, OP_ZAP), 1);     /* MADV_WILLNEED (3) clears nothing */
    cr_expect_eq(count(&b, OP_UNMAP), 2);
    cr_expect_eq(count(&b, OP_FLUSH), 0);   /* the flush belonged to mprotect */
    /* the munmap of a range never seen mapped maps it first */
    cr_expect_eq(count(&b, OP_MAP), 2);
    cr_expect_eq(nth(&b, OP_MAP, 1)->va, 0x7e0000000000ull);
    free(b.r);
}

Test(import, unexplained_flushes_become_flush_ops)
{
    struct readback b;
    struct import_stats st;

    import_text("ftrace",
        "  p-50 [000] 1.000000: page_fault_user: address=0x7f0000000010 ip=0x401000 error_code=0x7\n"
        "  p-50 [000] 1.000001: tlb_flush: pages:1 reason:local MM shootdown (3)\n"
        "  p-50 [000] 1.000002: tlb_flush: pages:-1 reason:remote IPI send (4)\n"
        "  p-50 [000] 1.000003: tlb_flush: pages:-1 reason:local MM shootdown (3)\n"
        "  p-50 [000] 1.000100: tlb_flush: pages:-1 reason:flush on task switch (0)\n"
        "  q-60 [001] 1.000101: tlb_flush: pages:-1 reason:remote shootdown (1)\n"
        "  p-50 [000] 1.000200: tlb_flush: pages:0 reason:local MM shootdown (3)\n",
        &b, &st);
    cr_expect_eq(st.skipped, 0);
    cr_expect_eq(count(&b, OP_ACCESS), 1);
    cr_expect_eq(nth(&b, OP_ACCESS, 0)->kind, 'w');
    cr_expect_eq(count(&b, OP_FLUSH), 2);   /* the page, then IPI+local of one request */
    cr_expect_eq(nth(&b, OP_FLUSH, 0)->len, 4096);
    cr_expect(nth(&b, OP_FLUSH, 1)->flags & OPF_ALL);
    free(b.r);
}

Test(import, fork_threads_exec_and_exit)
{
    struct readback b;
    struct import_stats st;

    import_text("ftrace",
        "  sh-10 [000] 1.000000: sys_enter_mmap: addr: 0x0, len: 0x2000, prot: 0x3, flags: 0x22, fd: 0xffffffff, off: 0x0\n"
        "  sh-10 [000] 1.000001: sys_exit_mmap: 0x7f0000000000\n"
        "  sh-10 [000] 1.000002: task_newtask: pid=11 comm=sh clone_flags=1200000 oom_score_adj=0\n"
        "  sh-10 [000] 1.000003: sched_process_fork: comm=sh pid=10 child_comm=sh child_pid=11\n"
        "  sh-10 [000] 1.000004: task_newtask: pid=12 comm=sh clone_flags=3d0f00 oom_score_adj=0\n"
        "  sh-10 [000] 1.000005: sched_switch: prev_comm=sh prev_pid=10 prev_prio=120 prev_state=S ==> next_comm=sh next_pid=11 next_prio=120\n"
        "  sh-11 [000] 1.000006: sys_enter_execve: filename: 0x1, argv: 0x2, envp: 0x3\n"
        "  sh-11 [000] 1.000007: tlb_flush: pages:-1 reason:local MM shootdown (3)\n"
        "  ls-11 [000] 1.000008: sched_process_exec: filename=/bin/ls pid=11 old_pid=11\n"
        "  ls-11 [000] 1.000009: sys_enter_exit_group: error_code: 0x0\n"
        "  ls-11 [000] 1.000010: sched_process_exit: comm=ls pid=11 prio=120 group_dead=true\n"
        "  ls-11 [000] 1.000011: sched_switch: prev_comm=ls prev_pid=11 prev_prio=120 prev_state=X ==> next_comm=sh next_pid=12 next_prio=120\n"
        "  sh-12 [000] 1.000012: sched_process_exit: comm=sh pid=12 prio=120 group_dead=false\n"
        "  sh-12 [000] 1.000013: sched_switch: prev_comm=sh prev_pid=12 prev_prio=120 prev_state=X ==> next_comm=sh next_pid=10 next_prio=120\n"
        "  sh-10 [000] 1.000014: sched_process_exit: comm=sh pid=10 prio=120 group_dead=true\n",
        &b, &st);
    cr_expect_eq(st.skipped, 0);
    /* sh (10, 12 shares it), the forked child 11, the image 11 exec'd */
    cr_expect_eq(count(&b, OP_MM_NEW), 3);
    cr_expect_eq(count(&b, OP_MM_EXIT), 3);
    cr_expect_eq(count(&b, OP_FLUSH), 0);   /* exec's teardown flush is explained */
    /* the child got a copy of sh's mapping */
    cr_expect_eq(count(&b, OP_MAP), 2);
    free(b.r);
}

Test(import, freq_option_scales_t)
{
    const char *in = h_tmp_path("f.txt"), *out = h_tmp_path("f.jsonl");
    struct import_opts o = { .strict = true, .freq_mhz = 1000, .cpus = 4 };
    struct import_stats st;
    struct sim_err err = { 0, "" };
    struct readback b;

    write_file(in,
        "  a-1 [000] 5.000000: sched_switch: prev_comm=a prev_pid=1 prev_prio=120 prev_state=S ==> next_comm=b next_pid=2 next_prio=120\n"
        "  b-2 [000] 5.001000: sched_switch: prev_comm=b prev_pid=2 prev_prio=120 prev_state=S ==> next_comm=a next_pid=1 next_prio=120\n");
    cr_assert_eq(import_file("ftrace", in, out, &o, &st, &err), SIM_OK, "%s", err.msg);
    read_back(out, &b, false);
    cr_expect_eq(b.hdr.cpus, 4);
    cr_expect_eq(nth(&b, OP_SWITCH, 1)->t, 1000000);   /* 1 ms at 1 GHz */
    free(b.r);
}

/* ===== Bad lines ========================================================= */

static const char *const good_lines =
    "  a-1 [000] 5.000000: sched_switch: prev_comm=a prev_pid=1 prev_prio=120 prev_state=S ==> next_comm=b next_pid=2 next_prio=120\n"
    "  b-2 [000] 5.000100: page_fault_user: address=0x7f0000001000 ip=0x401000 error_code=0x4\n"
    "  b-2 [000] 5.000200: sched_switch: prev_comm=b prev_pid=2 prev_prio=120 prev_state=S ==> next_comm=a next_pid=1 next_prio=120\n";

Test(import, malformed_and_inconsistent_lines_are_skipped_and_counted)
{
    const char *in = h_tmp_path("bad.txt"), *out = h_tmp_path("bad.jsonl");
    struct import_stats st;
    struct sim_err err = { 0, "" };
    struct readback b;
    char text[4096];

    snprintf(text, sizeof(text), "%s%s%s%s%s%s%s",
             good_lines,
             "this is not a trace line\n",                                          /* 4 */
             "  b-2 [003] 5.000300: sched_switch: prev_comm=b ==> next_comm=a\n",    /* 5: cpu 3 >= 2 */
             "  b-2 [000] 4.000000: page_fault_user: address=0x7f0000001000 ip=0x1 error_code=0x4\n", /* 6: time */
             "  b-2 [000] 5.000400: tlb_flush: reason:remote\n",                      /* 7 */
             "  b-2 [000] 5.000500: page_fault_user: address=nowhere ip=0x1 error_code=0x4\n", /* 8 */
             "  b-2 [001] 5.000600: sched_switch: prev_comm=b prev_pid=2 prev_prio=120 prev_state=S ==> next_comm=c next_pid=3 next_prio=120\n");
    write_file(in, text);
    cr_assert_eq(do_import("ftrace", in, out, false, 2, &st, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(st.lines, 9);
    cr_expect_eq(st.skipped, 5);
    cr_assert_eq(st.nr_first, 5);
    u64 want[] = { 4, 5, 6, 7, 8 };
    for (int i = 0; i < 5; i++) {
        cr_expect_eq(st.first[i].line, want[i], "skip %d at line %llu (%s)", i,
                     (unsigned long long)st.first[i].line, st.first[i].reason);
        cr_expect_neq(st.first[i].reason[0], '\0');
    }
    read_back(out, &b, false);
    cr_expect_eq(count(&b, OP_ACCESS), 1);
    free(b.r);

    /* the summary names the file, the count and the lines */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    import_stats_print(&st, in, f);
    fclose(f);
    cr_expect(strstr(buf, "5 lines skipped") != NULL, "%s", buf);
    cr_expect(strstr(buf, ":4:") != NULL, "%s", buf);
    free(buf);

    /* strict: the first bad line is an error naming FILE:LINE, no output */
    unlink(out);
    cr_expect_eq(do_import("ftrace", in, out, true, 2, &st, &err), SIM_EPARSE);
    char want_msg[200];
    snprintf(want_msg, sizeof(want_msg), "%s:4:", in);
    cr_expect(strstr(err.msg, want_msg) == err.msg, "%s", err.msg);
    cr_expect(!exists(out));
}

Test(import, lackey_bad_lines)
{
    struct readback b;
    struct import_stats st;
    const char *in = h_tmp_path("lk.txt"), *out = h_tmp_path("lk.jsonl");
    struct sim_err err = { 0, "" };

    import_text("lackey",
        "==1== Lackey, an example Valgrind tool\n"
        "I  00401000,3\n"
        " L 7ff0000ff8,8\n"
        " S 00403ffe,4\n"                   /* straddles two pages */
        " M 00403000,1\n"
        "hello from the program\n"          /* 6 */
        " X 00401000,1\n"                   /* 7 */
        "I  zz,3\n"                         /* 8 */
        " L 00401000\n"                     /* 9 */
        " L 00401000,99999\n"               /* 10 */
        " S ffff800000000000,8\n"           /* 11: kernel address */
        "==1== Exit code: 0\n",
        &b, &st);
    cr_expect_eq(st.events, 4);
    cr_expect_eq(st.skipped, 6);
    cr_expect_eq(st.first[0].line, 6);
    cr_expect_eq(st.first[5].line, 11);
    cr_expect_eq(b.bad_access, 0);
    cr_expect_eq(count(&b, OP_ACCESS), 3); /* x, r, w (S + M batched, two pages) */
    const struct rec *w = nth(&b, OP_ACCESS, 2);
    cr_expect_eq(w->kind, 'w');
    free(b.r);

    write_file(in, " L 00401000,8\nbogus\n");
    cr_expect_eq(do_import("lackey", in, out, true, 0, &st, &err), SIM_EPARSE);
    cr_expect(strstr(err.msg, ":2:") != NULL, "%s", err.msg);
    cr_expect(!exists(out));
}

Test(import, bad_calls)
{
    struct sim_err err = { 0, "" };
    struct import_stats st;
    const char *in = h_tmp_path("e.txt"), *out = h_tmp_path("e.jsonl");

    cr_expect_eq(do_import("strace", SAMPLES "lackey.txt", out, false, 0, &st, &err), SIM_EINVAL);
    cr_expect_eq(do_import("ftrace", "../traces/samples/none.txt", out, false, 0, &st, &err), SIM_EIO);
    write_file(in, "");
    cr_expect_eq(do_import("ftrace", in, out, false, 0, &st, &err), SIM_EPARSE);
    cr_expect_eq(do_import("lackey", in, out, false, 0, &st, &err), SIM_EPARSE);
    cr_expect(!exists(out));
    /* a lackey file is not ftrace */
    cr_expect_eq(do_import("ftrace", SAMPLES "lackey.txt", out, false, 0, &st, &err), SIM_EPARSE);
}

Test(import, over_long_line_is_skipped)
{
    const char *in = h_tmp_path("long.txt"), *out = h_tmp_path("long.jsonl");
    struct import_stats st;
    struct sim_err err = { 0, "" };
    size_t n = IMPORT_MAX_LINE + 100;
    char *text = malloc(n + strlen(good_lines) + 2);

    cr_assert_not_null(text);
    strcpy(text, good_lines);
    size_t at = strlen(text);
    memset(text + at, 'x', n);
    strcpy(text + at + n, "\n");
    write_file(in, text);
    free(text);
    cr_assert_eq(do_import("ftrace", in, out, false, 0, &st, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(st.skipped, 1);
    cr_expect_eq(st.first[0].line, 4);
}

/* ===== Robustness: mutated samples never crash =========================== */

static void mutate_and_import(const char *fmt, const char *sample, u64 seed)
{
    FILE *f = fopen(sample, "rb");
    char *buf;
    long n;
    u64 s = seed;

    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    for (int round = 0; round < 6; round++) {
        const char *in = h_tmp_path("m.txt"), *out = h_tmp_path("m.jsonl");
        char *copy = malloc((size_t)n + 1);
        struct import_stats st;
        struct sim_err err = { 0, "" };
        memcpy(copy, buf, (size_t)n);
        for (int k = 0; k < 40; k++) {          /* flip, drop or duplicate bytes */
            u64 r = sim_rand_next(&s);
            size_t at = (size_t)(r % (u64)n);
            static const char junk[] = " :[]()=-0x9\n\tfZ,>";
            copy[at] = junk[(r >> 32) % (sizeof(junk) - 1)];
        }
        FILE *o = fopen(in, "wb");
        fwrite(copy, 1, (size_t)n, o);
        fclose(o);
        free(copy);
        int rc = do_import(fmt, in, out, false, 0, &st, &err);
        cr_expect(rc == SIM_OK || rc == SIM_EPARSE, "%s round %d: rc %d %s", sample, round, rc, err.msg);
        if (rc == SIM_OK) {
            struct readback b;
            read_back(out, &b, false);
            free(b.r);
        }
        unlink(out);
    }
    free(buf);
}

Test(import, mutated_inputs_never_crash)
{
    mutate_and_import("ftrace", SAMPLES "ftrace-raw.txt", 1);
    mutate_and_import("ftrace", SAMPLES "trace-cmd-report.txt", 2);
    mutate_and_import("ftrace", SAMPLES "perf-script.txt", 3);
    mutate_and_import("lackey", SAMPLES "lackey.txt", 4);
}
