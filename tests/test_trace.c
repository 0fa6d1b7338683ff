/* tests/test_trace.c - trace reader/writer: round trips in both formats,
 * JSONL -> binary -> JSONL byte identity, and one table of bad inputs, each
 * with the error code, line and field it must report. */
#include "../sim/io/trace.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ===== fixture: a private temporary directory (tests/harness.h) ======== */

TestSuite(trace, .init = h_tmpdir_setup, .fini = h_tmpdir_teardown, .timeout = 20);

static const char *tpath(const char *name) { return h_tmp_path(name); }

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    cr_assert_eq(fread(buf, 1, (size_t)sz, f), (size_t)sz);
    buf[sz] = '\0';
    fclose(f);
    *n = (size_t)sz;
    return buf;
}

/* Read a whole trace: SIM_OK, or the first error code with err filled. */
static int read_all(const char *path, u64 *nops, struct sim_err *err)
{
    struct trace_reader *r;
    struct trace_header h;
    struct trace_op op;
    int rc;

    *nops = 0;
    if ((rc = trace_open(path, &r, &h, err)))
        return rc;
    while ((rc = trace_next(r, &op, err)) == 1)
        (*nops)++;
    trace_close(r);
    return rc;
}

/* ===== op construction and comparison =================================== */

static u64 vas_pool[64][8];
static int vas_used;

static struct trace_op mk(enum trace_op_type t, u32 flags)
{
    struct trace_op op;

    memset(&op, 0, sizeof(op));
    op.type = t;
    op.flags = flags;
    if (t == OP_MAP)
        op.flags |= OPF_POPULATE;
    if (t == OP_FLUSH)
        op.stride_shift = 12;
    return op;
}

static struct trace_op mk_cpu(enum trace_op_type t, u32 cpu, u32 flags)
{
    struct trace_op op = mk(t, flags | OPF_CPU);
    op.cpu = cpu;
    return op;
}

static struct trace_op mk_access(u32 cpu, char kind, int n, const u64 *v, bool array)
{
    struct trace_op op = mk_cpu(OP_ACCESS, cpu, array ? OPF_VA_ARRAY : 0);
    u64 *dst = vas_pool[vas_used++];

    memcpy(dst, v, sizeof(u64) * (size_t)n);
    op.vas = dst;
    op.nr_va = (u32)n;
    op.va = v[0];
    op.kind = (u8)kind;
    return op;
}

static void expect_op_eq(const struct trace_op *a, const struct trace_op *b, int i)
{
    cr_expect_eq(a->type, b->type, "op %d: type %d != %d", i, a->type, b->type);
    cr_expect_eq(a->flags, b->flags, "op %d: flags 0x%x != 0x%x", i, a->flags, b->flags);
    cr_expect_eq(a->cpu, b->cpu, "op %d: cpu", i);
    cr_expect_eq(a->mm, b->mm, "op %d: mm", i);
    cr_expect_eq(a->va, b->va, "op %d: va", i);
    cr_expect_eq(a->len, b->len, "op %d: len", i);
    cr_expect_eq(a->stride, b->stride, "op %d: stride", i);
    cr_expect_eq(a->count, b->count, "op %d: count", i);
    cr_expect_eq(a->cycles, b->cycles, "op %d: cycles", i);
    cr_expect_eq(a->t, b->t, "op %d: t", i);
    cr_expect_eq(a->gap, b->gap, "op %d: gap", i);
    cr_expect_eq(a->kind, b->kind, "op %d: kind", i);
    cr_expect_eq(a->page_shift, b->page_shift, "op %d: page_shift", i);
    cr_expect_eq(a->prot, b->prot, "op %d: prot", i);
    cr_expect_eq(a->stride_shift, b->stride_shift, "op %d: stride_shift", i);
    cr_expect_eq(a->cstate, b->cstate, "op %d: cstate", i);
    cr_expect_eq(a->keyid, b->keyid, "op %d: keyid", i);
    cr_expect_eq(a->nr_va, b->nr_va, "op %d: nr_va", i);
    for (u32 k = 0; k < a->nr_va && k < b->nr_va; k++)
        cr_expect_eq(a->vas[k], b->vas[k], "op %d: vas[%u]", i, k);
    cr_expect_eq(!a->label, !b->label, "op %d: label presence", i);
    if (a->label && b->label)
        cr_expect_str_eq(a->label, b->label, "op %d: label", i);
}

#define KVA 0xffff888000000000ull

/* Every op type and every optional field, in a valid order. */
static int all_ops(struct trace_op *ops)
{
    int n = 0;
    struct trace_op o;

    vas_used = 0;
    o = mk(OP_MM_NEW, 0); o.mm = 1; ops[n++] = o;
    o = mk(OP_MM_NEW, OPF_T); o.mm = 2; o.t = 7; ops[n++] = o;
    o = mk(OP_MAP, OPF_T); o.mm = 1; o.va = 0x400000; o.len = 0x400000;
    o.page_shift = 21; o.prot = PROT_R | PROT_X; o.t = 100; ops[n++] = o;
    o = mk_cpu(OP_MAP, 1, OPF_GLOBAL); o.flags &= ~OPF_POPULATE; o.mm = MM_KERNEL;
    o.va = KVA; o.len = 0x40000000; o.page_shift = 30; o.prot = PROT_R | PROT_W; ops[n++] = o;
    o = mk(OP_MAP, OPF_GAP); o.mm = 2; o.va = 0x7f0000000000; o.len = 0x10000;
    o.page_shift = 12; o.prot = PROT_R | PROT_W | PROT_X; o.gap = 5; ops[n++] = o;
    o = mk(OP_MAP, OPF_KEYID); o.mm = 2; o.va = 0x7f0040000000; o.len = 0x200000;
    o.page_shift = 21; o.prot = PROT_R | PROT_W; o.keyid = 5; ops[n++] = o;
    o = mk_cpu(OP_MAP, 3, OPF_KEYID); o.flags &= ~OPF_POPULATE; o.mm = 1;
    o.va = 0x40000000; o.len = 0x1000; o.page_shift = 12; o.prot = PROT_R;
    o.keyid = TRACE_MAX_KEYID; ops[n++] = o;
    o = mk_cpu(OP_SWITCH, 0, 0); o.mm = 1; ops[n++] = o;
    o = mk_cpu(OP_SWITCH, 1, OPF_T); o.mm = 2; o.t = 50; ops[n++] = o;
    ops[n++] = mk_access(0, 'x', 1, (u64[]){ 0x400123 }, false);
    o = mk_access(1, 'w', 3, (u64[]){ 0x7f0000000040, 0x7f0000001000, KVA + 0x1000 }, true);
    o.flags |= OPF_T; o.t = 1000; ops[n++] = o;
    ops[n++] = mk_access(0, 'r', 1, (u64[]){ 0x400000 }, true);
    ops[n++] = mk_access(2, 'r', 1, (u64[]){ KVA }, false);     /* kernel: no mm needed */
    o = mk_cpu(OP_STREAM, 1, OPF_GAP); o.va = 0x7f0000000000; o.stride = 64; o.count = 1024;
    o.kind = 'r'; o.gap = 10; ops[n++] = o;
    o = mk_cpu(OP_STREAM, 3, 0); o.va = KVA; o.stride = 4096; o.count = 10; o.kind = 'w';
    ops[n++] = o;
    o = mk_cpu(OP_PROTECT, 1, 0); o.mm = 2; o.va = 0x7f0000000000; o.len = 0x1000;
    o.prot = PROT_R; ops[n++] = o;
    o = mk_cpu(OP_ZAP, 1, 0); o.mm = 2; o.va = 0x7f0000001000; o.len = 0x2000; ops[n++] = o;
    o = mk_cpu(OP_MIGRATE, 0, 0); o.mm = 1; o.va = 0x400000; o.len = 0x1000; ops[n++] = o;
    o = mk_cpu(OP_UNMAP, 1, 0); o.mm = 2; o.va = 0x7f0000000000; o.len = 0x10000; ops[n++] = o;
    o = mk_cpu(OP_FLUSH, 0, OPF_STRIDE | OPF_FREED_TABLES); o.mm = 1; o.va = 0x400000;
    o.len = 0x200000; o.stride_shift = 21; ops[n++] = o;
    o = mk_cpu(OP_FLUSH, 0, OPF_ALL); o.mm = 1; ops[n++] = o;
    o = mk_cpu(OP_FLUSH, 2, OPF_STRIDE); o.mm = 2; o.va = 0x1000; o.len = 0x1000;
    o.stride_shift = 30; ops[n++] = o;
    o = mk_cpu(OP_KFLUSH, 2, 0); o.va = KVA; o.len = 0x1000; ops[n++] = o;
    o = mk_cpu(OP_IRQS_OFF, 3, 0); o.cycles = 5000; ops[n++] = o;
    ops[n++] = mk_cpu(OP_VCPU_PREEMPT, 2, 0);
    o = mk_cpu(OP_VCPU_RUN, 2, OPF_T); o.t = 99999999999999999ull; ops[n++] = o;  /* > 2^53 */
    o = mk_cpu(OP_IDLE, 1, OPF_CSTATE); o.cstate = 6; ops[n++] = o;
    ops[n++] = mk_cpu(OP_IDLE, 3, 0);
    o = mk_cpu(OP_IDLE, 2, OPF_CSTATE | OPF_GAP); o.cstate = 1; o.gap = 1ull << 60; ops[n++] = o;
    o = mk(OP_MARK, 0); o.label = "phase 2: \"quoted\" \\ \n\t\x01 \xc3\xbcn\xc3\xaf" "c\xc3\xb6"
                                  "d\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"; ops[n++] = o;
    o = mk(OP_MARK, 0); o.label = ""; ops[n++] = o;
    o = mk_cpu(OP_SWITCH, 0, 0); o.mm = MM_NULL; ops[n++] = o;
    o = mk_cpu(OP_MM_EXIT, 2, 0); o.mm = 1; ops[n++] = o;
    o = mk_cpu(OP_MM_EXIT, 3, 0); o.mm = 2; ops[n++] = o;
    o = mk(OP_MM_NEW, 0); o.mm = 1; ops[n++] = o;                       /* id reuse */
    o = mk(OP_MM_NEW, 0); o.mm = (s64)(1ull << 53); ops[n++] = o;       /* largest id */
    o = mk_cpu(OP_STREAM, 2, 0); o.va = KVA; o.stride = 1; o.count = 1ull << 32; o.kind = 'x';
    ops[n++] = o;
    return n;
}

static const struct trace_header hdr4 = { .version = 1, .cpus = 4, .name = "all-ops",
                                          .source = "test \"suite\"" };

static void write_ops(const char *path, enum trace_fmt fmt, const struct trace_header *h,
                      const struct trace_op *ops, int n)
{
    struct trace_writer *w;
    struct sim_err err = { 0 };

    cr_assert_eq(trace_writer_open(path, h, fmt, &w, &err), SIM_OK, "%s", err.msg);
    for (int i = 0; i < n; i++)
        cr_assert_eq(trace_write(w, &ops[i], &err), SIM_OK, "op %d: %s", i, err.msg);
    cr_assert_eq(trace_writer_close(w, true, &err), SIM_OK, "%s", err.msg);
}

static void check_ops(const char *path, enum trace_fmt fmt, const struct trace_op *ops, int n)
{
    struct trace_reader *r;
    struct trace_header h;
    struct trace_op op;
    struct sim_err err = { 0 };
    int i = 0, rc;

    cr_assert_eq(trace_open(path, &r, &h, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(trace_format(r), fmt);
    cr_expect_eq(h.cpus, 4);
    cr_expect_eq(h.version, 1);
    cr_expect_eq(h.va_bits, 48);
    cr_expect_str_eq(h.name, hdr4.name);
    cr_expect_str_eq(h.source, hdr4.source);
    while ((rc = trace_next(r, &op, &err)) == 1) {
        cr_assert_lt(i, n);
        expect_op_eq(&op, &ops[i], i);
        cr_expect_eq(op.line, (u64)i + (fmt == TRACE_FMT_JSONL ? 2 : 1));
        i++;
    }
    cr_expect_eq(rc, 0, "%s", err.msg);
    cr_expect_eq(i, n);
    cr_expect_eq(trace_bytes_read(r), trace_size(r));
    trace_close(r);
}

/* ===== round trips ======================================================= */

Test(trace, roundtrip_jsonl)
{
    struct trace_op ops[64];
    int n = all_ops(ops);

    write_ops(tpath("a.jsonl"), TRACE_FMT_JSONL, &hdr4, ops, n);
    check_ops(tpath("a.jsonl"), TRACE_FMT_JSONL, ops, n);
}

Test(trace, roundtrip_binary)
{
    struct trace_op ops[64];
    int n = all_ops(ops);

    write_ops(tpath("a.bin"), TRACE_FMT_BINARY, &hdr4, ops, n);
    check_ops(tpath("a.bin"), TRACE_FMT_BINARY, ops, n);
}

/* Read every op of `in` and write it to `out` in `fmt`. */
static void convert(const char *in, const char *out, enum trace_fmt fmt)
{
    struct trace_reader *r;
    struct trace_writer *w;
    struct trace_header h;
    struct trace_op op;
    struct sim_err err = { 0 };
    int rc;

    cr_assert_eq(trace_open(in, &r, &h, &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(trace_writer_open(out, &h, fmt, &w, &err), SIM_OK, "%s", err.msg);
    while ((rc = trace_next(r, &op, &err)) == 1)
        cr_assert_eq(trace_write(w, &op, &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_eq(trace_writer_close(w, true, &err), SIM_OK, "%s", err.msg);
    trace_close(r);
}

static void expect_same_file(const char *a, const char *b)
{
    size_t na, nb;
    char *x = read_bytes(a, &na), *y = read_bytes(b, &nb);

    cr_expect_eq(na, nb, "%s: %zu bytes, %s: %zu bytes", a, na, b, nb);
    cr_expect(na == nb && memcmp(x, y, na) == 0, "%s and %s differ", a, b);
    free(x);
    free(y);
}

Test(trace, jsonl_binary_jsonl_identity_all_ops)
{
    struct trace_op ops[64];
    int n = all_ops(ops);

    write_ops(tpath("a.jsonl"), TRACE_FMT_JSONL, &hdr4, ops, n);
    convert(tpath("a.jsonl"), tpath("b.bin"), TRACE_FMT_BINARY);
    convert(tpath("b.bin"), tpath("c.jsonl"), TRACE_FMT_JSONL);
    expect_same_file(tpath("a.jsonl"), tpath("c.jsonl"));
}

/* A deterministic access-heavy trace spanning several binary blocks. */
static void gen_big(const char *path, enum trace_fmt fmt, int nops)
{
    struct trace_header h = { .version = 1, .cpus = 8, .name = "big" };
    struct trace_writer *w;
    struct sim_err err = { 0 };
    struct trace_op op;
    u64 seed = 42, vas[16], t[8] = { 0 };

    cr_assert_eq(trace_writer_open(path, &h, fmt, &w, &err), SIM_OK, "%s", err.msg);
    for (u32 c = 0; c < 8; c++) {
        op = mk(OP_MM_NEW, 0); op.mm = c + 10;
        cr_assert_eq(trace_write(w, &op, &err), SIM_OK, "%s", err.msg);
        op = mk(OP_MAP, 0); op.mm = c + 10; op.va = 0x7f0000000000ull; op.len = 1ull << 30;
        op.page_shift = 12; op.prot = PROT_R | PROT_W;
        cr_assert_eq(trace_write(w, &op, &err), SIM_OK, "%s", err.msg);
        op = mk_cpu(OP_SWITCH, c, 0); op.mm = c + 10;
        cr_assert_eq(trace_write(w, &op, &err), SIM_OK, "%s", err.msg);
    }
    for (int i = 0; i < nops; i++) {
        u64 x = sim_rand_next(&seed);
        u32 cpu = (u32)(x & 7);
        u64 base = 0x7f0000000000ull + ((x >> 8) & 0xfffff) * 64;
        int k = (x >> 40) % 10 == 0 ? (int)((x >> 44) % 16) + 1 : 1;
        for (int j = 0; j < k; j++)
            vas[j] = base + (u64)j * 64;
        if ((x >> 50) % 50 == 0) {
            op = mk_cpu(OP_STREAM, cpu, OPF_GAP); op.va = base; op.stride = 64;
            op.count = 100; op.kind = 'r'; op.gap = x >> 58;
        } else if ((x >> 50) % 97 == 1) {
            op = mk_cpu(OP_FLUSH, cpu, 0); op.mm = cpu + 10; op.va = base & ~0xfffull;
            op.len = 0x1000;
        } else {
            op = mk_cpu(OP_ACCESS, cpu, k > 1 ? OPF_VA_ARRAY : 0);
            op.vas = vas; op.nr_va = (u32)k; op.va = vas[0];
            op.kind = "rwx"[(x >> 20) % 3];
            if ((x >> 24) & 1) {
                op.flags |= OPF_T;
                op.t = t[cpu] += (x >> 30) & 255;
            }
        }
        cr_assert_eq(trace_write(w, &op, &err), SIM_OK, "op %d: %s", i, err.msg);
    }
    cr_assert_eq(trace_writer_close(w, true, &err), SIM_OK, "%s", err.msg);
}

Test(trace, jsonl_binary_jsonl_identity_big)
{
    struct stat sj, sb;
    u64 n1, n2;
    struct sim_err err = { 0 };

    gen_big(tpath("big.jsonl"), TRACE_FMT_JSONL, 30000);
    convert(tpath("big.jsonl"), tpath("big.bin"), TRACE_FMT_BINARY);
    convert(tpath("big.bin"), tpath("big2.jsonl"), TRACE_FMT_JSONL);
    expect_same_file(tpath("big.jsonl"), tpath("big2.jsonl"));
    cr_assert_eq(stat(tpath("big.jsonl"), &sj), 0);
    cr_assert_eq(stat(tpath("big.bin"), &sb), 0);
    cr_expect_gt(sb.st_size, 3 * 65536, "spans several 64 KiB blocks");
    cr_expect_lt(sb.st_size * 5, sj.st_size, "binary %ld bytes vs JSONL %ld bytes",
                 (long)sb.st_size, (long)sj.st_size);
    cr_assert_eq(read_all(tpath("big.jsonl"), &n1, &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(read_all(tpath("big.bin"), &n2, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(n1, 30024);
    cr_expect_eq(n1, n2);
}

/* The binary writer produces the same bytes as converting its JSONL. */
Test(trace, binary_writer_matches_conversion)
{
    gen_big(tpath("g.jsonl"), TRACE_FMT_JSONL, 3000);
    gen_big(tpath("g.bin"), TRACE_FMT_BINARY, 3000);
    convert(tpath("g.jsonl"), tpath("g2.bin"), TRACE_FMT_BINARY);
    expect_same_file(tpath("g.bin"), tpath("g2.bin"));
}

/* ===== accepted inputs =================================================== */

#define HDR "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
#define PRE HDR "{\"op\":\"mm_new\",\"mm\":1}\n{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"

static void expect_valid(const char *text, u64 want_ops)
{
    struct sim_err err = { 0 };
    u64 n;

    write_bytes(tpath("ok.jsonl"), text, strlen(text));
    cr_assert_eq(read_all(tpath("ok.jsonl"), &n, &err), SIM_OK, "%s\n--- input:\n%s",
                 err.msg, text);
    cr_expect_eq(n, want_ops, "%s", text);
}

Test(trace, accepts_number_forms)
{
    struct trace_reader *r;
    struct trace_op op;
    struct sim_err err = { 0 };
    const char *text = PRE
        "{\"op\":\"access\",\"cpu\":0,\"va\":[4096,\"0xABCdef\",\"0X10\",4.096e3,40960e-1,"
        "0,-0,\"0xffffffffffffffff\",\"0x00007fffffffffff\"],\"kind\":\"r\"}\n"
        "{\"op\":\"vcpu_run\",\"cpu\":1,\"t\":9007199254740992}\n"
        "{\"op\":\"vcpu_run\",\"cpu\":1,\"gap\":\"0x0FFFFFFFFFFFFFFF\"}\n"
        "{\"op\":\"vcpu_run\",\"cpu\":1,\"gap\":\"0x1000000000000001\"}\n";

    write_bytes(tpath("n.jsonl"), text, strlen(text));
    cr_assert_eq(trace_open(tpath("n.jsonl"), &r, NULL, &err), SIM_OK, "%s", err.msg);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(trace_next(r, &op, &err), 1, "%s", err.msg);
    cr_assert_eq(trace_next(r, &op, &err), 1, "%s", err.msg);
    u64 want[] = { 4096, 0xabcdef, 0x10, 4096, 4096, 0, 0, UINT64_MAX, 0x7fffffffffffull };
    cr_assert_eq(op.nr_va, ARRAY_SIZE(want));
    for (u32 i = 0; i < op.nr_va; i++)
        cr_expect_eq(op.vas[i], want[i], "va[%u] = 0x%llx", i, (unsigned long long)op.vas[i]);
    cr_assert_eq(trace_next(r, &op, &err), 1, "%s", err.msg);
    cr_expect_eq(op.t, 1ull << 53);
    cr_expect_eq(op.flags, OPF_CPU | OPF_T);
    cr_assert_eq(trace_next(r, &op, &err), 1, "%s", err.msg);
    cr_expect_eq(op.gap, TRACE_MAX_CYCLES - 1, "uppercase hex, 16 digits");
    /* Beyond TRACE_MAX_CYCLES: clocks must stay far from wrapping. */
    cr_expect_eq(trace_next(r, &op, &err), SIM_ERANGE);
    cr_expect(strstr(err.msg, ":7: gap: ") != NULL, "%s", err.msg);
    trace_close(r);
}

Test(trace, accepts_comments_blank_crlf_bom_and_no_final_newline)
{
    expect_valid("\xef\xbb\xbf# a comment\n\n  \t\n" HDR "# another\r\n\r\n"
                 "{\"op\":\"mm_new\",\"mm\":1} \r\n"
                 "  # indented comment\n"
                 "{\"op\":\"mark\",\"label\":\"end\"}", 2);
}

Test(trace, accepts_extensions)
{
    /* map with cpu; flush stride given as bytes; idle cstate as a string;
     * va_bits 57 allows 5-level addresses */
    expect_valid("{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2,\"va_bits\":57}\n"
                 "{\"op\":\"mm_new\",\"mm\":3}\n"
                 "{\"op\":\"map\",\"cpu\":1,\"mm\":3,\"va\":\"0xff000000000000\",\"len\":4096,"
                 "\"page\":\"4k\",\"prot\":\"r\",\"populate\":true,\"global\":false}\n"
                 "{\"op\":\"flush\",\"cpu\":0,\"mm\":3,\"va\":\"0x1000\",\"len\":\"0x1000\","
                 "\"stride\":2097152,\"freed_tables\":false,\"all\":false}\n"
                 "{\"op\":\"idle\",\"cpu\":1,\"cstate\":\"C6\",\"gap\":3}\n"
                 "{\"op\":\"kflush\",\"cpu\":1,\"va\":\"0xff00000000000000\",\"len\":4096}\n", 5);
}

Test(trace, mm_tracking_follows_program_order)
{
    /* switch away, then exit; an id can be created again after exit */
    expect_valid(PRE "{\"op\":\"switch\",\"cpu\":0,\"mm\":null}\n"
                 "{\"op\":\"mm_exit\",\"cpu\":0,\"mm\":1}\n"
                 "{\"op\":\"mm_new\",\"mm\":1}\n"
                 "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
                 "{\"op\":\"access\",\"cpu\":1,\"va\":\"0x1000\",\"kind\":\"r\"}\n"
                 "{\"op\":\"idle\",\"cpu\":1}\n"
                 "{\"op\":\"mm_exit\",\"cpu\":0,\"mm\":1}\n", 9);
}

/* ===== rejected inputs: one table ======================================= */

struct bad_case {
    const char *name;                   /* what is wrong */
    const char *text;                   /* the whole file */
    int code;                           /* SIM_E* */
    const char *where;                  /* expected "LINE: FIELD" part of the message */
};

#define ACC(cpu, va) "{\"op\":\"access\",\"cpu\":" #cpu ",\"va\":" va ",\"kind\":\"r\"}\n"

static const struct bad_case bad_cases[] = {
    { "malformed JSON", PRE "{\"op\":\"access\",\"cpu\":0,,}\n", SIM_EPARSE,
      ":4: truncated or malformed JSON" },
    { "truncated object", PRE "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x1000\"", SIM_EPARSE,
      ":4: truncated or malformed JSON" },
    { "truncated line then more", PRE "{\"op\":\"access\",\"cpu\":0,\n" ACC(0, "4096"),
      SIM_EPARSE, ":4: truncated or malformed JSON" },
    { "trailing garbage", PRE ACC(0, "4096") "{\"op\":\"mm_new\",\"mm\":5} x\n", SIM_EPARSE,
      ":5: malformed JSON: trailing" },
    { "not an object", PRE "[1,2]\n", SIM_EPARSE, ":4: the line is not a JSON object" },
    { "NaN", PRE ACC(0, "NaN"), SIM_EPARSE, ":4: truncated or malformed JSON" },
    { "Infinity", PRE ACC(0, "Infinity"), SIM_EPARSE, ":4: truncated or malformed JSON" },
    { "leading zero", PRE ACC(0, "0123"), SIM_EPARSE, ":4: va: 0123 is not a valid JSON number" },
    { "cpu as string", PRE "{\"op\":\"access\",\"cpu\":\"0\",\"va\":4096,\"kind\":\"r\"}\n",
      SIM_EPARSE, ":4: cpu: expected an integer, got a string" },
    { "va as bool", PRE ACC(0, "true"), SIM_EPARSE,
      ":4: va: expected a hex string or an integer, got a boolean" },
    { "kind as number", PRE "{\"op\":\"access\",\"cpu\":0,\"va\":4096,\"kind\":1}\n",
      SIM_EPARSE, ":4: kind: expected" },
    { "populate not bool", PRE "{\"op\":\"map\",\"mm\":1,\"va\":4096,\"len\":4096,\"page\":\"4k\","
      "\"prot\":\"r\",\"populate\":1}\n", SIM_EPARSE, ":4: populate: expected true or false" },
    { "negative va", PRE ACC(0, "-4096"), SIM_EPARSE, ":4: va: -4096 is negative" },
    { "negative len", PRE "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":4096,\"len\":-4096}\n",
      SIM_EPARSE, ":4: len: -4096 is negative" },
    { "2^64", PRE ACC(0, "18446744073709551616"), SIM_EPARSE,
      ":4: va: 18446744073709551616 is above 2^53" },
    { "2^53+1", PRE ACC(0, "9007199254740993"), SIM_EPARSE, ":4: va: 9007199254740993 is above 2^53" },
    { "fraction", PRE ACC(0, "4096.5"), SIM_EPARSE, ":4: va: 4096.5 is not an integer" },
    { "exponent fraction", PRE ACC(0, "1.5e0"), SIM_EPARSE, ":4: va: 1.5e0 is not an integer" },
    { "big exponent", PRE ACC(0, "1e300"), SIM_EPARSE, ":4: va: 1e300 is above" },
    { "hex with sign", PRE ACC(0, "\"-0x1000\""), SIM_EPARSE, ":4: va: \"-0x1000\" is not a hex" },
    { "decimal string", PRE ACC(0, "\"4096\""), SIM_EPARSE, ":4: va: \"4096\" is not a hex string" },
    { "empty hex", PRE ACC(0, "\"0x\""), SIM_EPARSE, ":4: va: \"0x\" is not a hex string" },
    { "17 hex digits", PRE ACC(0, "\"0x00000000000001000\""), SIM_EPARSE,
      ":4: va: \"0x00000000000001000\" has more than 16 hex digits" },
    { "non-canonical", PRE ACC(0, "\"0x800000000000\""), SIM_EPARSE,
      ":4: va: address 0x800000000000 is not canonical" },
    { "non-canonical in array", PRE ACC(0, "[4096,\"0xffff7fffffffffff\"]"), SIM_EPARSE,
      ":4: va[1]: address 0xffff7fffffffffff is not canonical" },
    { "57-bit address in 48-bit trace", PRE ACC(0, "\"0x100000000000000\""), SIM_EPARSE,
      ":4: va: address 0x100000000000000 is not canonical" },
    { "unaligned map va", PRE "{\"op\":\"map\",\"mm\":1,\"va\":\"0x1001\",\"len\":4096,"
      "\"page\":\"4k\",\"prot\":\"rw\"}\n", SIM_EPARSE, ":4: va: 0x1001 is not 4k-aligned" },
    { "unaligned 2m len", PRE "{\"op\":\"map\",\"mm\":1,\"va\":\"0x200000\",\"len\":4096,"
      "\"page\":\"2m\",\"prot\":\"rw\"}\n", SIM_EPARSE, ":4: len: 0x1000 is not a multiple of 2m" },
    { "zero len", PRE "{\"op\":\"zap\",\"cpu\":0,\"mm\":1,\"va\":4096,\"len\":0}\n", SIM_EPARSE,
      ":4: len: must be greater than 0" },
    { "unaligned unmap", PRE "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":4097,\"len\":4096}\n",
      SIM_EPARSE, ":4: va: 0x1001 is not 4k-aligned" },
    { "range crosses the hole", PRE "{\"op\":\"migrate\",\"cpu\":0,\"mm\":1,"
      "\"va\":\"0x7ffffffff000\",\"len\":8192}\n", SIM_EPARSE, ":4: len: range 0x7ffffffff000" },
    { "kernel map in user half", PRE "{\"op\":\"map\",\"mm\":\"kernel\",\"va\":4096,\"len\":4096,"
      "\"page\":\"4k\",\"prot\":\"rw\"}\n", SIM_EPARSE, ":4: va: 0x1000 is a user address" },
    { "user map in kernel half", PRE "{\"op\":\"map\",\"mm\":1,\"va\":\"0xffff888000000000\","
      "\"len\":4096,\"page\":\"4k\",\"prot\":\"rw\"}\n", SIM_EPARSE,
      ":4: va: 0xffff888000000000 is a kernel address" },
    { "kflush of user address", PRE "{\"op\":\"kflush\",\"cpu\":0,\"va\":4096,\"len\":4096}\n",
      SIM_EPARSE, ":4: va: 0x1000 is a user address" },
    { "unknown op", PRE "{\"op\":\"jump\",\"cpu\":0}\n", SIM_EPARSE, ":4: op: unknown op \"jump\"" },
    { "op not a string", PRE "{\"op\":3}\n", SIM_EPARSE, ":4: op: expected a string" },
    { "op missing", PRE "{\"cpu\":0}\n", SIM_EPARSE, ":4: op: missing" },
    { "unknown field", PRE "{\"op\":\"access\",\"cpu\":0,\"va\":4096,\"kind\":\"r\",\"color\":1}\n",
      SIM_EPARSE, ":4: color: unknown field for access" },
    { "field of another op", PRE "{\"op\":\"access\",\"cpu\":0,\"va\":4096,\"kind\":\"r\","
      "\"len\":4096}\n", SIM_EPARSE, ":4: len: unknown field for access" },
    { "duplicate key", PRE "{\"op\":\"access\",\"cpu\":0,\"va\":4096,\"va\":8192,\"kind\":\"r\"}\n",
      SIM_EPARSE, ":4: va: duplicate key" },
    { "duplicate op", PRE "{\"op\":\"access\",\"op\":\"access\",\"cpu\":0,\"va\":4096,"
      "\"kind\":\"r\"}\n", SIM_EPARSE, ":4: op: duplicate key" },
    { "missing field", PRE "{\"op\":\"access\",\"cpu\":0,\"va\":4096}\n", SIM_EPARSE,
      ":4: kind: missing (required by access)" },
    { "cpu out of range", PRE ACC(2, "4096"), SIM_EPARSE,
      ":4: cpu: 2 is not below the header's cpus (2)" },
    { "huge cpu", PRE ACC(4294967296, "4096"), SIM_EPARSE, ":4: cpu: 4294967296 is not below" },
    { "mm never created", PRE "{\"op\":\"switch\",\"cpu\":1,\"mm\":7}\n", SIM_EPARSE,
      ":4: mm 7: address space was never created" },
    { "mm exited", PRE "{\"op\":\"mm_new\",\"mm\":2}\n{\"op\":\"mm_exit\",\"cpu\":1,\"mm\":2}\n"
      "{\"op\":\"unmap\",\"cpu\":1,\"mm\":2,\"va\":4096,\"len\":4096}\n", SIM_EPARSE,
      ":6: mm 2: address space has exited" },
    { "mm_new of a live id", PRE "{\"op\":\"mm_new\",\"mm\":1}\n", SIM_EPARSE,
      ":4: mm 1: address space already exists" },
    { "mm_exit while running", PRE "{\"op\":\"mm_exit\",\"cpu\":1,\"mm\":1}\n", SIM_EPARSE,
      ":4: mm 1: address space is still running on cpu 0" },
    { "mm id negative", PRE "{\"op\":\"mm_new\",\"mm\":-1}\n", SIM_EPARSE, ":4: mm: -1 is negative" },
    { "mm id as string", PRE "{\"op\":\"mm_new\",\"mm\":\"5\"}\n", SIM_EPARSE,
      ":4: mm: expected an integer id, got a string" },
    { "kernel mm on unmap", PRE "{\"op\":\"unmap\",\"cpu\":0,\"mm\":\"kernel\",\"va\":4096,"
      "\"len\":4096}\n", SIM_EPARSE, ":4: mm: \"kernel\" is only valid for map" },
    { "null mm on flush", PRE "{\"op\":\"flush\",\"cpu\":0,\"mm\":null,\"all\":true}\n",
      SIM_EPARSE, ":4: mm: null is only valid for switch" },
    { "access with no current mm", PRE ACC(1, "4096"), SIM_EPARSE,
      ":4: cpu 1 runs no user address space" },
    { "access after switch to null", PRE "{\"op\":\"switch\",\"cpu\":0,\"mm\":null}\n"
      ACC(0, "4096"), SIM_EPARSE, ":5: cpu 0 runs no user address space" },
    { "access after idle", PRE "{\"op\":\"idle\",\"cpu\":0}\n" ACC(0, "[\"0xffff888000000000\","
      "4096]"), SIM_EPARSE, ":5: cpu 0 runs no user address space" },
    { "stream with no current mm", PRE "{\"op\":\"stream\",\"cpu\":1,\"va\":4096,\"stride\":64,"
      "\"count\":2,\"kind\":\"r\"}\n", SIM_EPARSE, ":4: cpu 1 runs no user address space" },
    { "stream leaves canonical", PRE "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x7ffffffff000\","
      "\"stride\":4096,\"count\":2,\"kind\":\"r\"}\n", SIM_EPARSE,
      ":4: count: the stream leaves the canonical range" },
    { "stream overflows", PRE "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0xffff800000000000\","
      "\"stride\":\"0x1000000000000\",\"count\":4096,\"kind\":\"r\"}\n", SIM_EPARSE,
      ":4: count: the stream runs past the end" },
    { "stream stride 0", PRE "{\"op\":\"stream\",\"cpu\":0,\"va\":4096,\"stride\":0,\"count\":2,"
      "\"kind\":\"r\"}\n", SIM_EPARSE, ":4: stride: must be at least 1" },
    { "stream count 0", PRE "{\"op\":\"stream\",\"cpu\":0,\"va\":4096,\"stride\":8,\"count\":0,"
      "\"kind\":\"r\"}\n", SIM_EPARSE, ":4: count: must be at least 1" },
    { "stream count over limit", PRE "{\"op\":\"stream\",\"cpu\":0,\"va\":4096,\"stride\":1,"
      "\"count\":4294967297,\"kind\":\"r\"}\n", SIM_ELIMIT, ":4: count: 4294967297 exceeds" },
    { "empty va array", PRE ACC(0, "[]"), SIM_EPARSE, ":4: va: empty array" },
    { "va array of arrays", PRE ACC(0, "[[4096]]"), SIM_EPARSE, ":4: va[0]: expected a hex" },
    { "array va outside access", PRE "{\"op\":\"kflush\",\"cpu\":0,\"va\":[4096],\"len\":4096}\n",
      SIM_EPARSE, ":4: va: expected a hex string or an integer, got an array" },
    { "bad page", PRE "{\"op\":\"map\",\"mm\":1,\"va\":4096,\"len\":4096,\"page\":\"8k\","
      "\"prot\":\"rw\"}\n", SIM_EPARSE, ":4: page: \"8k\" is not" },
    { "bad prot", PRE "{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":4096,\"len\":4096,"
      "\"prot\":\"w\"}\n", SIM_EPARSE, ":4: prot: \"w\" is not" },
    { "bad kind", PRE "{\"op\":\"access\",\"cpu\":0,\"va\":4096,\"kind\":\"q\"}\n", SIM_EPARSE,
      ":4: kind: \"q\" is not" },
    { "t and gap together", PRE "{\"op\":\"vcpu_run\",\"cpu\":0,\"t\":5,\"gap\":3}\n",
      SIM_EPARSE, ":4: gap: t and gap are exclusive" },
    { "flush with all and va", PRE "{\"op\":\"flush\",\"cpu\":0,\"mm\":1,\"all\":true,"
      "\"va\":4096,\"len\":4096}\n", SIM_EPARSE, ":4: all: \"all\":true excludes va and len" },
    { "flush with neither", PRE "{\"op\":\"flush\",\"cpu\":0,\"mm\":1}\n", SIM_EPARSE,
      ":4: va: flush needs va and len" },
    { "flush with va only", PRE "{\"op\":\"flush\",\"cpu\":0,\"mm\":1,\"va\":4096}\n",
      SIM_EPARSE, ":4: len: missing" },
    { "flush bad stride", PRE "{\"op\":\"flush\",\"cpu\":0,\"mm\":1,\"all\":true,"
      "\"stride\":8192}\n", SIM_EPARSE, ":4: stride: must be 4096" },
    { "cstate 3", PRE "{\"op\":\"idle\",\"cpu\":0,\"cstate\":3}\n", SIM_EPARSE,
      ":4: cstate: must be 1 or 6" },
    { "irqs_off 0 cycles", PRE "{\"op\":\"irqs_off\",\"cpu\":0,\"cycles\":0}\n", SIM_EPARSE,
      ":4: cycles: must be greater than 0" },
    { "mark with cpu", PRE "{\"op\":\"mark\",\"label\":\"x\",\"cpu\":0}\n", SIM_EPARSE,
      ":4: cpu: unknown field for mark" },
    { "label too long", PRE "{\"op\":\"mark\",\"label\":\"0123456789012345678901234567890123456789"
      "01234567890123456789012345678901234567890123456789012345678901234567890123456789"
      "012345678\"}\n", SIM_ELIMIT, ":4: label: 129 bytes exceeds the limit of 128" },
    { "invalid UTF-8", PRE "{\"op\":\"mark\",\"label\":\"caf\xe9\"}\n", SIM_EPARSE,
      ":4: invalid UTF-8 (column 26)" },
    { "overlong UTF-8", PRE "{\"op\":\"mark\",\"label\":\"\xc0\xaf\"}\n", SIM_EPARSE,
      ":4: invalid UTF-8" },
    { "UTF-8 surrogate", PRE "{\"op\":\"mark\",\"label\":\"\xed\xa0\x80\"}\n", SIM_EPARSE,
      ":4: invalid UTF-8" },
    { "invalid UTF-8 in a key", PRE "{\"op\":\"mark\",\"\xff\":1,\"label\":\"x\"}\n", SIM_EPARSE,
      ":4: invalid UTF-8" },
    { "lone surrogate escape", PRE "{\"op\":\"mark\",\"label\":\"\\ud800\"}\n", SIM_EPARSE,
      ":4: truncated or malformed JSON" },
    { "NUL escape", PRE "{\"op\":\"mark\",\"label\":\"a\\u0000b\"}\n", SIM_EPARSE,
      ":4: \\u0000 is not allowed" },
    { "control byte in string", PRE "{\"op\":\"mark\",\"label\":\"a\x01\"}\n", SIM_EPARSE,
      ":4: control character 0x01 in a string" },
    { "control byte outside strings", PRE "{\"op\":\"mark\",\x0b\"label\":\"a\"}\n", SIM_EPARSE,
      ":4: control character 0x0b" },
    { "bad header version", "{\"format\":\"tlbsim-trace\",\"version\":2,\"cpus\":2}\n",
      SIM_EPARSE, ":1: version: unsupported version 2" },
    { "bad header format", "{\"format\":\"other\",\"version\":1,\"cpus\":2}\n", SIM_EPARSE,
      ":1: format: expected \"tlbsim-trace\"" },
    { "missing header", "{\"op\":\"mm_new\",\"mm\":1}\n", SIM_EPARSE, ":1: header: missing" },
    { "header after comments missing", "# c\n\n{\"op\":\"mm_new\",\"mm\":1}\n", SIM_EPARSE,
      ":3: header: missing" },
    { "empty file", "", SIM_EPARSE, "header: missing" },
    { "unknown header field", "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2,"
      "\"color\":\"red\"}\n", SIM_EPARSE, ":1: color: unknown header field" },
    { "header cpus missing", "{\"format\":\"tlbsim-trace\",\"version\":1}\n", SIM_EPARSE,
      ":1: cpus: missing" },
    { "header cpus 0", "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":0}\n", SIM_EPARSE,
      ":1: cpus: must be at least 1" },
    { "header cpus too many", "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":5000}\n",
      SIM_ELIMIT, ":1: cpus: 5000 exceeds the limit" },
    { "header bad va_bits", "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":1,"
      "\"va_bits\":52}\n", SIM_EPARSE, ":1: va_bits: must be 48 or 57" },
    { "header duplicate key", "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":1,"
      "\"cpus\":2}\n", SIM_EPARSE, ":1: cpus: duplicate key" },
    { "second header", PRE "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n",
      SIM_EPARSE, ":4: format: a second header line" },
    { "error line counts comments", PRE "# comment\n\n" ACC(0, "-1"), SIM_EPARSE,
      ":6: va: -1 is negative" },
};

static void expect_bad(const struct bad_case *c, const char *path)
{
    struct sim_err err = { 0 };
    char want[512];
    u64 n;

    int rc = read_all(path, &n, &err);
    if (getenv("TRACE_TEST_VERBOSE"))           /* to eyeball the messages */
        fprintf(stderr, "%-32s %s\n", c->name, err.msg);
    cr_expect_eq(rc, c->code, "[%s] code %d (%s), want %d; msg: %s", c->name, rc,
                 sim_strerror(rc), c->code, err.msg);
    snprintf(want, sizeof(want), "%s%s", path, c->where[0] == ':' ? c->where : "");
    cr_expect(strstr(err.msg, c->where[0] == ':' ? want : c->where) != NULL,
              "[%s] message \"%s\" lacks \"%s\"", c->name, err.msg, want);
    cr_expect(!strchr(err.msg, '\n'), "[%s] message spans lines", c->name);
}

Test(trace, bad_inputs_table)
{
    cr_assert_geq(ARRAY_SIZE(bad_cases), 40);
    for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
        const struct bad_case *c = &bad_cases[i];
        const char *path = tpath("bad.jsonl");
        write_bytes(path, c->text, strlen(c->text));
        expect_bad(c, path);
    }
}

/* Cases too big for a string literal. */
Test(trace, bad_huge_array_and_long_line)
{
    size_t cap = 4u << 20, n = 0;
    char *s = malloc(cap);
    const char *path = tpath("huge.jsonl");
    struct bad_case c = { "huge array", NULL, SIM_ELIMIT,
                          ":4: va: array of more than 65536 addresses" };

    n += (size_t)sprintf(s + n, "%s{\"op\":\"access\",\"cpu\":0,\"kind\":\"r\",\"va\":[", PRE);
    for (int i = 0; i <= TRACE_MAX_ARRAY; i++)
        n += (size_t)sprintf(s + n, "%s4096", i ? "," : "");
    n += (size_t)sprintf(s + n, "]}\n");
    write_bytes(path, s, n);
    expect_bad(&c, path);

    /* a line just over TRACE_MAX_LINE: an error, not a huge allocation */
    n = (size_t)sprintf(s, "%s{\"op\":\"mark\",\"label\":\"", PRE);
    memset(s + n, 'a', TRACE_MAX_LINE);
    n += TRACE_MAX_LINE;
    n += (size_t)sprintf(s + n, "\"}\n");
    write_bytes(path, s, n);
    c = (struct bad_case){ "long line", NULL, SIM_ELIMIT, ":4: line longer than 1048576 bytes" };
    expect_bad(&c, path);

    /* the same without a final newline */
    write_bytes(path, s, n - 1);
    expect_bad(&c, path);
    free(s);
}

Test(trace, bad_paths)
{
    struct trace_reader *r = (struct trace_reader *)1;
    struct sim_err err = { 0 };

    cr_expect_eq(trace_open(h_tmp_dir(), &r, NULL, &err), SIM_EIO);
    cr_expect_null(r);
    cr_expect(strstr(err.msg, "is a directory") != NULL, "%s", err.msg);
    cr_expect_eq(trace_open(tpath("nope.jsonl"), &r, NULL, &err), SIM_EIO);
    cr_expect(strstr(err.msg, "nope.jsonl: cannot open") != NULL, "%s", err.msg);
}

Test(trace, errors_are_sticky)
{
    struct trace_reader *r;
    struct trace_op op;
    struct sim_err err = { 0 }, err2 = { 0 };
    const char *text = PRE ACC(0, "-1") ACC(0, "4096");

    write_bytes(tpath("s.jsonl"), text, strlen(text));
    cr_assert_eq(trace_open(tpath("s.jsonl"), &r, NULL, &err), SIM_OK);
    cr_assert_eq(trace_next(r, &op, &err), 1);
    cr_assert_eq(trace_next(r, &op, &err), 1);
    cr_assert_eq(trace_next(r, &op, &err), SIM_EPARSE);
    cr_assert_eq(trace_next(r, &op, &err2), SIM_EPARSE);
    cr_expect_str_eq(err.msg, err2.msg);
    cr_expect_eq(trace_next(r, &op, NULL), SIM_EPARSE);
    trace_close(r);
}

/* ===== binary: corruption, truncation, shared semantic checks =========== */

/* An independent bitwise CRC32 to craft binary files by hand. */
static u32 ref_crc32(const u8 *p, size_t n)
{
    u32 c = 0xffffffffu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static size_t put32(u8 *p, u32 v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (u8)(v >> (8 * i));
    return 4;
}

static void expect_read_error(const char *path, int code, const char *what, u64 *nops)
{
    struct sim_err err = { 0 };
    int rc = read_all(path, nops, &err);

    cr_expect_eq(rc, code, "code %d, want %d: %s", rc, code, err.msg);
    cr_expect(strstr(err.msg, what) != NULL, "message \"%s\" lacks \"%s\"", err.msg, what);
}

static u32 get32(const u8 *p)
{
    return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

/* The writer's checksums (the folded PCLMULQDQ CRC on CPUs that have it,
 * the tables elsewhere) are the plain CRC32 of traces/FORMAT.md: every
 * block of a big file checks out against the bitwise reference. */
Test(trace, binary_block_checksums_are_plain_crc32)
{
    size_t n, at, blocks = 0;
    u8 *b;

    gen_big(tpath("k.bin"), TRACE_FMT_BINARY, 30000);
    b = (u8 *)read_bytes(tpath("k.bin"), &n);
    at = 12 + get32(b + 8);
    cr_assert_eq(get32(b + at), ref_crc32(b, at), "header checksum");
    for (at += 4; at < n && b[at] == 'B'; blocks++) {
        u32 len = get32(b + at + 5);
        cr_assert_leq(at + 9 + len + 4, n);
        cr_assert_eq(get32(b + at + 9 + len), ref_crc32(b + at, 9 + len), "block %zu", blocks);
        at += 9 + len + 4;
    }
    cr_assert_gt(blocks, 0);
    cr_assert(at < n && b[at] == 'E');
    free(b);
}

Test(trace, binary_corrupted_block)
{
    size_t n;
    u64 nops;

    gen_big(tpath("c.bin"), TRACE_FMT_BINARY, 30000);
    char *b = read_bytes(tpath("c.bin"), &n);
    b[n / 2] ^= 0x10;
    write_bytes(tpath("c.bin"), b, n);
    expect_read_error(tpath("c.bin"), SIM_EPARSE, "block: checksum mismatch in block", &nops);
    cr_expect_gt(nops, 1000, "records before the damaged block are still read");
    free(b);
}

Test(trace, binary_truncated)
{
    size_t n;
    u64 nops;

    gen_big(tpath("t.bin"), TRACE_FMT_BINARY, 30000);
    char *b = read_bytes(tpath("t.bin"), &n);
    write_bytes(tpath("t1.bin"), b, n - 20);             /* inside the last block */
    expect_read_error(tpath("t1.bin"), SIM_EPARSE, "truncated file", &nops);
    write_bytes(tpath("t2.bin"), b, n - 13);             /* end block missing */
    expect_read_error(tpath("t2.bin"), SIM_EPARSE, "no end block after 30024 records", &nops);
    cr_expect_eq(nops, 30024);
    write_bytes(tpath("t3.bin"), b, n - 5);              /* end block cut */
    expect_read_error(tpath("t3.bin"), SIM_EPARSE, "end: truncated file", &nops);
    write_bytes(tpath("t4.bin"), b, 10);                 /* header cut */
    expect_read_error(tpath("t4.bin"), SIM_EPARSE, "header: truncated file", &nops);
    b[n - 1] ^= 0x55;
    write_bytes(tpath("t5.bin"), b, n);                  /* end block checksum */
    expect_read_error(tpath("t5.bin"), SIM_EPARSE, "end: checksum mismatch", &nops);
    free(b);

    b = read_bytes(tpath("t.bin"), &n);
    b = realloc(b, n + 3);
    memcpy(b + n, "xyz", 3);
    write_bytes(tpath("t6.bin"), b, n + 3);              /* trailing garbage */
    expect_read_error(tpath("t6.bin"), SIM_EPARSE, "trailing data after the end block", &nops);
    b[13] ^= 1;                                           /* header checksum */
    write_bytes(tpath("t7.bin"), b, n);
    expect_read_error(tpath("t7.bin"), SIM_EPARSE, "header: checksum mismatch", &nops);
    b[13] ^= 1;
    b[4] = 2;                                             /* version */
    write_bytes(tpath("t8.bin"), b, n);
    expect_read_error(tpath("t8.bin"), SIM_EPARSE, "unsupported binary trace version 2", &nops);
    free(b);
}

/* A hand-made binary file: header (cpus 2) + one block of `rec`. */
static void craft_bin(const char *path, const u8 *rec, size_t rlen, u32 nrec)
{
    u8 f[256];
    size_t n = 0;

    memcpy(f, "TLBT\x01\0\0\0", 8);
    n = 8 + put32(f + 8, 4);
    memcpy(f + n, "\x02\x30\x00\x00", 4);                /* cpus 2, va_bits 48, "", "" */
    n += 4;
    n += put32(f + n, ref_crc32(f, n));
    size_t b0 = n;
    f[n++] = 'B';
    n += put32(f + n, nrec);
    n += put32(f + n, (u32)rlen);
    memcpy(f + n, rec, rlen);
    n += rlen;
    n += put32(f + n, ref_crc32(f + b0, n - b0));
    size_t e0 = n;
    f[n++] = 'E';
    for (int i = 0; i < 8; i++)
        f[n++] = (u8)(i == 0 ? nrec : 0);
    n += put32(f + n, ref_crc32(f + e0, 9));
    write_bytes(path, f, n);
}

Test(trace, binary_applies_the_same_checks)
{
    u64 nops;
    /* access (7), flags cpu (1), cpu 1, kind 'r', va zigzag(0x1000) = 0x2000 */
    static const u8 acc[] = { 7, 1, 1, 'r', 0x80, 0x40 };
    craft_bin(tpath("x.bin"), acc, sizeof(acc), 1);
    expect_read_error(tpath("x.bin"), SIM_EPARSE, "x.bin:1: cpu 1 runs no user address space",
                      &nops);

    /* mm_new 0 then switch cpu 5 */
    static const u8 sw[] = { 0, 0, 0, 9, 1, 5, 0 };
    craft_bin(tpath("y.bin"), sw, sizeof(sw), 2);
    expect_read_error(tpath("y.bin"), SIM_EPARSE, "y.bin:2: cpu: 5 is not below", &nops);

    /* unknown op type and a record cut short */
    static const u8 bad[] = { 42, 0 };
    craft_bin(tpath("z.bin"), bad, sizeof(bad), 1);
    expect_read_error(tpath("z.bin"), SIM_EPARSE, "z.bin:1: op: unknown op type 42", &nops);
    static const u8 cut[] = { 7, 1, 0, 'r' };
    craft_bin(tpath("w.bin"), cut, sizeof(cut), 1);
    expect_read_error(tpath("w.bin"), SIM_EPARSE, "w.bin:1: record: truncated", &nops);

    /* mark with invalid UTF-8 */
    static const u8 mark[] = { 16, 0, 2, 0xc0, 0xaf };
    craft_bin(tpath("m.bin"), mark, sizeof(mark), 1);
    expect_read_error(tpath("m.bin"), SIM_EPARSE, "m.bin:1: label: invalid UTF-8", &nops);

    /* keyid in a binary record: above 16 bits, and on an op without it */
    static const u8 mapk[] = { 0, 0, 2,                  /* mm_new 1 */
                               2, 0x88, 0x08, 2, 0x80, 0x40, 0x80, 0x20, 12, 3,
                               0x80, 0x80, 0x04 };       /* map ... keyid 65536 */
    craft_bin(tpath("k.bin"), mapk, sizeof(mapk), 2);
    expect_read_error(tpath("k.bin"), SIM_EPARSE, "k.bin:2: keyid: 65536 is above 65535",
                      &nops);
    static const u8 unk[] = { 0, 0, 2, 9, 1, 0, 2,      /* mm_new 1, switch cpu 0 */
                              3, 0x81, 0x08, 0, 2, 0x80, 0x40, 0x80, 0x20 };
    craft_bin(tpath("u.bin"), unk, sizeof(unk), 3);
    expect_read_error(tpath("u.bin"), SIM_EPARSE, "u.bin:3: flags:", &nops);

    /* the crafted format itself is right: a valid record reads */
    static const u8 ok[] = { 0, 0, 4 };                  /* mm_new 2 */
    struct sim_err err = { 0 };
    craft_bin(tpath("ok.bin"), ok, sizeof(ok), 1);
    cr_expect_eq(read_all(tpath("ok.bin"), &nops, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(nops, 1);
}

/* keyid came after version 1 shipped: it is an OPF_KEYID flag bit and a
 * varint at the end of the map body, so a file written before (no such
 * bit) reads as it did, with KeyID 0; a keyid of 0 reads as absent. */
Test(trace, binary_map_keyid_is_backward_compatible)
{
    /* mm_new 1; map (flags POPULATE) mm 1 va 0x1000 len 0x1000 4k rw, as
     * the writer of the first version lays it out; then the same map with
     * OPF_KEYID and keyid 5, and with keyid 0. */
    static const u8 rec[] = { 0, 0, 2,
                              2, 8, 2, 0x80, 0x40, 0x80, 0x20, 12, 3,
                              2, 0x88, 0x08, 2, 0x80, 0x40, 0x80, 0x20, 12, 3, 5,
                              2, 0x88, 0x08, 2, 0x80, 0x40, 0x80, 0x20, 12, 3, 0 };
    static const u32 want_keyid[] = { 0, 0, 5, 0 };
    struct trace_reader *r;
    struct trace_op op;
    struct sim_err err = { 0 };
    int i = 0, rc;

    craft_bin(tpath("old.bin"), rec, sizeof(rec), 4);
    cr_assert_eq(trace_open(tpath("old.bin"), &r, NULL, &err), SIM_OK, "%s", err.msg);
    while ((rc = trace_next(r, &op, &err)) == 1) {
        cr_assert_lt(i, 4);
        cr_expect_eq(op.keyid, want_keyid[i], "record %d: keyid %u", i + 1, op.keyid);
        if (op.type == OP_MAP)
            cr_expect_eq(op.flags, OPF_POPULATE | (want_keyid[i] ? OPF_KEYID : 0),
                         "record %d: flags 0x%x", i + 1, op.flags);
        i++;
    }
    cr_expect_eq(rc, 0, "%s", err.msg);
    cr_expect_eq(i, 4);
    trace_close(r);
}

/* ===== writer ============================================================ */

Test(trace, writer_commit_and_discard)
{
    struct trace_writer *w;
    struct trace_op op = mk(OP_MM_NEW, 0);
    struct sim_err err = { 0 };
    struct stat st;

    for (int fmt = 0; fmt < 2; fmt++) {
        cr_assert_eq(trace_writer_open(tpath("w.out"), &hdr4, (enum trace_fmt)fmt, &w, &err), 0);
        cr_assert_eq(trace_write(w, &op, &err), SIM_OK);
        cr_expect_eq(stat(tpath("w.out.tmp"), &st), 0, "writes go to PATH.tmp");
        cr_expect_neq(stat(tpath("w.out"), &st), 0, "nothing at PATH before commit");
        cr_assert_eq(trace_writer_close(w, false, &err), SIM_OK);
        cr_expect_neq(stat(tpath("w.out.tmp"), &st), 0, "discard removes the temp file");
        cr_expect_neq(stat(tpath("w.out"), &st), 0);
    }
    cr_expect_eq(trace_writer_close(NULL, true, &err), SIM_OK);
}

Test(trace, writer_rejects_invalid_ops)
{
    struct trace_writer *w;
    struct trace_op op = mk_access(0, 'r', 1, (u64[]){ 0x1000 }, false);
    struct sim_err err = { 0 };
    u64 n;

    cr_assert_eq(trace_writer_open(tpath("v.jsonl"), &hdr4, TRACE_FMT_JSONL, &w, &err), 0);
    cr_expect_eq(trace_write(w, &op, &err), SIM_EPARSE);
    cr_expect(strstr(err.msg, "v.jsonl:2: cpu 0 runs no user address space"), "%s", err.msg);
    op = mk(OP_MM_NEW, 0);
    op.mm = 3;
    cr_expect_eq(trace_write(w, &op, &err), SIM_OK, "the writer stays usable");
    cr_expect_eq(trace_writer_close(w, true, &err), SIM_OK);
    cr_expect_eq(read_all(tpath("v.jsonl"), &n, &err), SIM_OK);
    cr_expect_eq(n, 1);

    struct trace_header h = hdr4;
    h.cpus = 0;
    cr_expect_eq(trace_writer_open(tpath("v2.jsonl"), &h, TRACE_FMT_JSONL, &w, &err), SIM_EPARSE);
    cr_expect_null(w);
}

/* A JSON line is bounded, the binary form is not: the JSONL writer refuses
 * an array whose line would not read back, the binary writer takes it. */
Test(trace, writer_line_limit)
{
    static u64 vas[TRACE_MAX_ARRAY];
    struct trace_op ops[3];
    struct trace_writer *w;
    struct sim_err err = { 0 };
    u64 n;

    for (int i = 0; i < TRACE_MAX_ARRAY; i++)
        vas[i] = KVA + (u64)i * 4096;
    ops[0] = mk(OP_MM_NEW, 0); ops[0].mm = 1;
    ops[1] = mk_cpu(OP_ACCESS, 0, OPF_VA_ARRAY);
    ops[1].vas = vas; ops[1].nr_va = TRACE_MAX_ARRAY; ops[1].va = vas[0]; ops[1].kind = 'r';
    ops[2] = ops[1];
    ops[2].nr_va = 40000;                               /* 40000 * 21 bytes fits */
    write_ops(tpath("l.bin"), TRACE_FMT_BINARY, &hdr4, ops, 3);
    cr_expect_eq(read_all(tpath("l.bin"), &n, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(n, 3);

    cr_assert_eq(trace_writer_open(tpath("l.jsonl"), &hdr4, TRACE_FMT_JSONL, &w, &err), 0);
    cr_expect_eq(trace_write(w, &ops[0], &err), SIM_OK);
    cr_expect_eq(trace_write(w, &ops[1], &err), SIM_ELIMIT);
    cr_expect(strstr(err.msg, "l.jsonl:3: va: 65536 addresses make a JSON line"), "%s", err.msg);
    cr_expect_eq(trace_write(w, &ops[2], &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(trace_writer_close(w, true, &err), SIM_OK);
    cr_expect_eq(read_all(tpath("l.jsonl"), &n, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(n, 2);
}

/* The writer runs the reader's checks, so it can drive the mm table fast. */
Test(trace, mm_limits)
{
    struct trace_writer *w;
    struct trace_op op = mk(OP_MM_NEW, 0), ex = mk_cpu(OP_MM_EXIT, 0, 0);
    struct trace_op sw = mk_cpu(OP_SWITCH, 0, 0);
    struct sim_err err = { 0 };

    cr_assert_eq(trace_writer_open(tpath("mm.tlbt"), &hdr4, TRACE_FMT_BINARY, &w, &err), 0);
    for (s64 id = 0; id < TRACE_MAX_MMS; id++) {
        op.mm = id * 1000003;
        cr_assert_eq(trace_write(w, &op, &err), SIM_OK, "%s", err.msg);
    }
    op.mm = 5;
    cr_expect_eq(trace_write(w, &op, &err), SIM_ELIMIT);
    cr_expect(strstr(err.msg, "mm: more than 65535 address spaces live"), "%s", err.msg);
    for (s64 id = 0; id < TRACE_MAX_MMS; id++) {
        ex.mm = id * 1000003;
        cr_assert_eq(trace_write(w, &ex, &err), SIM_OK, "%s", err.msg);
    }
    for (s64 id = 0; id < 10000; id++) {                /* > 65536 exited: purge */
        op.mm = ex.mm = (s64)(1ull << 40) + id;
        cr_assert_eq(trace_write(w, &op, &err), SIM_OK, "%s", err.msg);
        cr_assert_eq(trace_write(w, &ex, &err), SIM_OK, "%s", err.msg);
    }
    sw.mm = (s64)(1ull << 40) + 9999;                   /* recent: still remembered */
    cr_expect_eq(trace_write(w, &sw, &err), SIM_EPARSE);
    cr_expect(strstr(err.msg, "has exited") && !strstr(err.msg, "never"), "%s", err.msg);
    sw.mm = 0;                                          /* purged */
    cr_expect_eq(trace_write(w, &sw, &err), SIM_EPARSE);
    cr_expect(strstr(err.msg, "mm 0: address space was never created or has exited"), "%s",
              err.msg);
    op.mm = 0;                                          /* ids can be reused */
    cr_expect_eq(trace_write(w, &op, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(trace_write(w, &sw, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(trace_writer_close(w, false, &err), SIM_OK);
}

Test(trace, canonical_jsonl_text)
{
    struct trace_op ops[4];
    size_t n;
    u64 va[2] = { 0x7f00000000c0ull, KVA };

    ops[0] = mk(OP_MM_NEW, 0); ops[0].mm = 9;
    ops[1] = mk_cpu(OP_SWITCH, 1, 0); ops[1].mm = 9;
    ops[2] = mk_access(1, 'w', 2, va, true); ops[2].flags |= OPF_GAP; ops[2].gap = 12;
    ops[3] = mk_cpu(OP_FLUSH, 1, OPF_ALL | OPF_STRIDE); ops[3].mm = 9; ops[3].stride_shift = 21;
    struct trace_header h = { .cpus = 2 };              /* version/va_bits default */
    write_ops(tpath("k.jsonl"), TRACE_FMT_JSONL, &h, ops, 4);
    char *s = read_bytes(tpath("k.jsonl"), &n);
    cr_expect_str_eq(s,
        "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
        "{\"op\":\"mm_new\",\"mm\":9}\n"
        "{\"op\":\"switch\",\"cpu\":1,\"mm\":9}\n"
        "{\"op\":\"access\",\"cpu\":1,\"va\":[\"0x7f00000000c0\",\"0xffff888000000000\"],"
        "\"kind\":\"w\",\"gap\":12}\n"
        "{\"op\":\"flush\",\"cpu\":1,\"mm\":9,\"stride\":\"2m\",\"all\":true}\n");
    free(s);
}

Test(trace, op_names)
{
    static const char *const names[OP__COUNT] = {
        "mm_new", "mm_exit", "map", "unmap", "protect", "zap", "migrate", "access",
        "stream", "switch", "idle", "flush", "kflush", "irqs_off", "vcpu_preempt",
        "vcpu_run", "mark", "ept_map", "host_zap", "host_wrprotect",
        "vcpu_migrate", "tdx_remove",
    };
    char text[256];
    struct sim_err err = { 0 };
    u64 n;

    for (int t = 0; t < OP__COUNT; t++) {
        cr_expect_str_eq(trace_op_name((enum trace_op_type)t), names[t]);
        /* the reader knows the name: an empty op fails on a field, not the name */
        snprintf(text, sizeof(text), HDR "{\"op\":\"%s\"}\n", names[t]);
        write_bytes(tpath("o.jsonl"), text, strlen(text));
        cr_expect_eq(read_all(tpath("o.jsonl"), &n, &err), SIM_EPARSE);
        cr_expect(strstr(err.msg, "o.jsonl:2: ") && strstr(err.msg, ": missing (required by ") &&
                  strstr(err.msg, names[t]), "%s: %s", names[t], err.msg);
    }
    cr_expect_str_eq(trace_op_name(OP__COUNT), "?");
}

Test(trace, format_detected_by_content)
{
    struct trace_op ops[64];
    struct trace_reader *r;
    struct sim_err err = { 0 };
    int n = all_ops(ops);

    write_ops(tpath("really-binary.jsonl"), TRACE_FMT_BINARY, &hdr4, ops, n);
    write_ops(tpath("really-json.tlbt"), TRACE_FMT_JSONL, &hdr4, ops, n);
    cr_assert_eq(trace_open(tpath("really-binary.jsonl"), &r, NULL, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(trace_format(r), TRACE_FMT_BINARY);
    trace_close(r);
    cr_assert_eq(trace_open(tpath("really-json.tlbt"), &r, NULL, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(trace_format(r), TRACE_FMT_JSONL);
    trace_close(r);
}

/* ===== robustness: mutated files never crash ============================= */

Test(trace, mutations_never_crash)
{
    struct trace_op ops[64];
    int nops = all_ops(ops);
    size_t nj, nb;
    u64 seed = 7, cnt;
    struct sim_err err;

    write_ops(tpath("m.jsonl"), TRACE_FMT_JSONL, &hdr4, ops, nops);
    write_ops(tpath("m.bin"), TRACE_FMT_BINARY, &hdr4, ops, nops);
    char *j = read_bytes(tpath("m.jsonl"), &nj), *b = read_bytes(tpath("m.bin"), &nb);
    char *buf = malloc(nj > nb ? nj : nb);
    for (int it = 0; it < 400; it++) {
        bool bin = it & 1;
        const char *src = bin ? b : j;
        size_t n = bin ? nb : nj;
        memcpy(buf, src, n);
        for (int k = 0; k < 1 + (int)(sim_rand_next(&seed) % 4); k++) {
            u64 x = sim_rand_next(&seed);
            buf[x % n] = (char)(x >> 32);
        }
        if (sim_rand_next(&seed) % 4 == 0)
            n = sim_rand_next(&seed) % n;
        write_bytes(tpath("mut"), buf, n);
        int rc = read_all(tpath("mut"), &cnt, &err);
        cr_assert(rc == SIM_OK || rc == SIM_EPARSE || rc == SIM_ELIMIT,
                  "unexpected code %d: %s", rc, err.msg);
    }
    free(buf);
    free(j);
    free(b);
}

/* ===== the fuzz dictionaries follow the op table ========================= */

/* Every op and field name of TRACE_OPS / TRACE_FIELDS is a token of the
 * JSON trace dictionaries, so a new op or field cannot be left out of the
 * fuzzers' vocabulary. */
Test(trace, fuzz_dicts_list_every_op_and_field)
{
    static const char *const dicts[] = { "fuzz/dict/trace_jsonl.dict", "fuzz/dict/sim.dict" };
    static char text[1 << 16];

    for (size_t d = 0; d < sizeof(dicts) / sizeof(dicts[0]); d++) {
        FILE *f = fopen(dicts[d], "rb");
        cr_assert(f, "%s missing", dicts[d]);
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[n] = '\0';
        char want[64];
        for (int t = 0; t < OP__COUNT; t++) {
            snprintf(want, sizeof(want), "\"\\\"%s\\\"\"\n", trace_op_name((enum trace_op_type)t));
            cr_expect(strstr(text, want), "%s lacks the op %s", dicts[d], want);
        }
        for (int k = 0; k < F__COUNT; k++) {
            snprintf(want, sizeof(want), "\"\\\"%s\\\"\"\n", trace_field_name((enum trace_field)k));
            cr_expect(strstr(text, want), "%s lacks the field %s", dicts[d], want);
        }
    }
}
