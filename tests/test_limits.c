/* tests/test_limits.c - every size limit at the limit and one past it.
 *
 * Each limit of docs/bad-input.md ("Limits") is one named constant; each
 * case below runs the real build/tlbsim twice on generated input: once
 * exactly at the limit (accepted: exit 0, or, where no valid input can
 * reach the limit, refused for something else than the limit, which shows
 * the limit let it through) and once one past it (exit 2 and exactly the
 * one line given here).  Inputs are generated small: tiny TLBs, check
 * instead of run where the limit is the reader's.  Limits whose at-limit
 * run is too expensive for the suite have only the past case here; the
 * at-limit run is recorded in docs/bad-input.md with its time and memory.
 *
 * The docs table is generated from these cases:
 *
 *     cd tests && TLBSIM=../build/tlbsim TLBSIM_LIMITS_TABLE=/tmp/limits.md \
 *         ../build/run-tests --filter 'limits/table'
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../models/machine.h"
#include "../sim/io/crc32.h"
#include "../sim/io/meas.h"
#include "../sim/io/model_load.h"
#include "../sim/io/stream.h"
#include "../sim/io/trace_priv.h"
#include "../sim/io/wl_spec.h"
#include "../sim/trace_op.h"
#include "clirun.h"

struct lim_case {
    const char *what;                   /* the limit, in words */
    const char *constant;               /* its one named constant */
    const char *limit;                  /* the limit, as the docs say it */
    const char *args;                   /* tlbsim arguments, split at spaces; %s: val */
    const char *at_val, *past_val;      /* substituted for %s in args */
    void (*gen)(const struct cli_ws *ws, bool past);
    const char *at_expect;              /* NULL: exit 0 at the limit; else its one line */
    const char *past_expect;            /* stderr after "tlbsim: " one past the limit */
    const char *at_note;                /* set: the at-limit run is not in the suite (why) */
    const char *(*val)(bool past);      /* set: substituted for %s in args instead */
};

/* ===== growing text ======================================================= */

struct buf {
    char *s;
    size_t n, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
    va_list ap;

    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        cr_assert(k >= 0);
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        b->cap = (b->cap + (size_t)k + 1) * 2;
        cr_assert((b->s = realloc(b->s, b->cap)));
    }
}

static void bpad(struct buf *b, char ch, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = b->n + n + 1;
        cr_assert((b->s = realloc(b->s, b->cap)));
    }
    memset(b->s + b->n, ch, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void bsave(struct buf *b, const struct cli_ws *ws, const char *name)
{
    cli_write(ws, name, b->s, b->n);
    free(b->s);
    b->s = NULL;
    b->n = b->cap = 0;
}

/* FILE: pre, n times ch, post. */
static void gen_padded(const struct cli_ws *ws, const char *file, const char *pre, char ch,
                       size_t n, const char *post)
{
    struct buf b = { 0 };

    bprintf(&b, "%s", pre);
    bpad(&b, ch, n);
    bprintf(&b, "%s", post);
    bsave(&b, ws, file);
}

/* ===== traces ============================================================= */

#define HDR "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
/* an address space 1 with 2 MiB mapped at 0x7f0000000000, running on cpu 0 */
#define PRE HDR "{\"op\":\"mm_new\",\"mm\":1}\n" \
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x200000\"," \
    "\"page\":\"4k\",\"prot\":\"rw\"}\n{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"

static void gen_hdr_cpus(const struct cli_ws *ws, bool past)
{
    struct buf b = { 0 };

    bprintf(&b, "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":%d}\n",
            MACHINE_MAX_CPUS + past);
    bsave(&b, ws, "t.jsonl");
}

static void gen_line(const struct cli_ws *ws, bool past)
{
    static const char op[] = "{\"op\":\"mark\",\"label\":\"x\"";  /* blanks, then '}' */

    gen_padded(ws, "t.jsonl", HDR "{\"op\":\"mark\",\"label\":\"x\"", ' ',
               TRACE_MAX_LINE + past - strlen(op) - 1, "}\n");
}

/* A mark whose label nests DEPTH levels in all (the object is the first). */
static void gen_depth(const struct cli_ws *ws, bool past)
{
    struct buf b = { 0 };
    int arrays = TRACE_MAX_DEPTH + past - 1;

    bprintf(&b, HDR "{\"op\":\"mark\",\"label\":");
    bpad(&b, '[', (size_t)arrays);
    bpad(&b, ']', (size_t)arrays);
    bprintf(&b, "}\n");
    bsave(&b, ws, "t.jsonl");
}

static void gen_array(const struct cli_ws *ws, bool past)
{
    struct buf b = { 0 };

    bprintf(&b, PRE "{\"op\":\"access\",\"cpu\":0,\"kind\":\"r\",\"va\":[139586437120");
    for (u32 i = 1; i < TRACE_MAX_ARRAY + (u32)past; i++)
        bprintf(&b, ",%llu", 139586437120ull + 64 * (i % 32768));
    bprintf(&b, "]}\n");
    bsave(&b, ws, "t.jsonl");
}

static void gen_count(const struct cli_ws *ws, bool past)
{
    struct buf b = { 0 };

    bprintf(&b, PRE "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x7f0000000000\",\"stride\":1,"
            "\"count\":\"0x%llx\",\"kind\":\"r\"}\n", (unsigned long long)TRACE_MAX_COUNT + past);
    bsave(&b, ws, "t.jsonl");
}

static void gen_cycles(const struct cli_ws *ws, bool past)
{
    struct buf b = { 0 };

    bprintf(&b, HDR "{\"op\":\"irqs_off\",\"cpu\":0,\"cycles\":\"0x%llx\"}\n",
            (unsigned long long)TRACE_MAX_CYCLES + past);
    bsave(&b, ws, "t.jsonl");
}

static void gen_label(const struct cli_ws *ws, bool past)
{
    gen_padded(ws, "t.jsonl", HDR "{\"op\":\"mark\",\"label\":\"", 'a',
               TRACE_MAX_LABEL + past, "\"}\n");
}

static void gen_name(const struct cli_ws *ws, bool past)
{
    gen_padded(ws, "t.jsonl", "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2,\"name\":\"",
               'a', TRACE_MAX_NAME + past, "\"}\n");
}

static void gen_mm_id(const struct cli_ws *ws, bool past)
{
    struct buf b = { 0 };

    bprintf(&b, HDR "{\"op\":\"mm_new\",\"mm\":%llu}\n", (1ull << 53) + past);
    bsave(&b, ws, "t.jsonl");
}

static void gen_mms(const struct cli_ws *ws, bool past)
{
    struct buf b = { 0 };

    bprintf(&b, HDR);
    for (u32 i = 1; i <= TRACE_MAX_MMS + (u32)past; i++)
        bprintf(&b, "{\"op\":\"mm_new\",\"mm\":%u}\n", i);
    bprintf(&b, "{\"op\":\"switch\",\"cpu\":0,\"mm\":%u}\n", TRACE_MAX_MMS);
    bsave(&b, ws, "t.jsonl");
}

/* limits.max_vmas=4 (the case's args): four mappings, or five. */
static void gen_vmas(const struct cli_ws *ws, bool past)
{
    struct buf b = { 0 };

    bprintf(&b, HDR "{\"op\":\"mm_new\",\"mm\":1}\n");
    for (u32 i = 0; i < 4u + past; i++)
        bprintf(&b, "{\"op\":\"map\",\"mm\":1,\"va\":\"0x%llx\",\"len\":\"0x1000\","
                "\"page\":\"4k\",\"prot\":\"rw\"}\n", 0x7f0000000000ull + 0x2000ull * i);
    bsave(&b, ws, "t.jsonl");
}

/* ===== compressed input: decoder memory ==================================== */

#define OK_TEXT HDR "{\"op\":\"mm_new\",\"mm\":1}\n"

/* A zstd frame by hand: no content size, so the header's window descriptor
 * is all the decoder knows.  At the limit: 2^27 bytes (exponent 17,
 * mantissa 0); past it: the next window a frame can declare, 2^27 + 2^24
 * (mantissa 1).  One raw block holds a valid trace. */
static void gen_zstd_window(const struct cli_ws *ws, bool past)
{
    u8 f[256] = { 0x28, 0xb5, 0x2f, 0xfd, 0x00 };
    size_t n = strlen(OK_TEXT), k = 5;
    u32 bh = 1u | 0u << 1 | (u32)n << 3;        /* last block, raw, size */

    f[k++] = (u8)((STREAM_MAX_WINDOW_LOG - 10) << 3 | past);
    f[k++] = (u8)bh;
    f[k++] = (u8)(bh >> 8);
    f[k++] = (u8)(bh >> 16);
    memcpy(f + k, OK_TEXT, n);
    cli_write(ws, "t.jsonl.zst", f, k + n);
}

/* An xz stream written by tlbsim's own writer, its LZMA2 dictionary size
 * then raised in the block header (and the header's CRC-32 redone): the
 * decoder needs the dictionary plus about 100 KiB.  Under the limit: the
 * largest dictionary below it (96 MiB, property 29); past it: 128 MiB
 * (property 30), which with the decoder's state needs more than 2^27. */
static void gen_xz_window(const struct cli_ws *ws, bool past)
{
    char p[PATH_MAX];
    struct sim_err err = { 0 };
    struct stream_w *w;
    size_t n, hl;
    int fd = open(cli_path(ws, "t.jsonl.xz", p, sizeof(p)), O_WRONLY | O_CREAT | O_TRUNC, 0644);

    cr_assert(fd >= 0);
    cr_assert_eq(stream_w_open(fd, STREAM_XZ, &w, &err), 0, "%s", err.msg);
    cr_assert_eq(stream_w_write(w, OK_TEXT, strlen(OK_TEXT), &err), 0, "%s", err.msg);
    cr_assert_eq(stream_w_finish(w, &err), 0, "%s", err.msg);
    stream_w_free(w);
    close(fd);
    u8 *b = (u8 *)cli_slurp(p, &n);
    cr_assert(b && n > 24);
    hl = ((size_t)b[12] + 1) * 4;               /* block header after the 12-byte stream header */
    cr_assert(12 + hl < n && b[13] == 0x00 && b[14] == 0x21 && b[15] == 0x01,
              "one LZMA2 filter, no sizes, in the block header");
    b[16] = past ? 30 : 29;
    u32 crc = crc32_update(0, b + 12, hl - 4);
    for (int i = 0; i < 4; i++)
        b[12 + hl - 4 + (size_t)i] = (u8)(crc >> (8 * i));
    cli_write(ws, "t.jsonl.xz", b, n);
    free(b);
}

/* ===== model files, workload specs ========================================= */

/* A valid model, padded with blanks to the byte limit (or one past it). */
static void gen_model_bytes(const struct cli_ws *ws, bool past)
{
    gen_padded(ws, "m.json", "{\"cpus\":2}", ' ', MODEL_MAX_BYTES + past - strlen("{\"cpus\":2}"),
               "");
}

static void gen_model_members(const struct cli_ws *ws, bool past)
{
    struct buf b = { 0 };

    bprintf(&b, "{\"_0\":\"doc\"");
    for (int i = 1; i < MODEL_MAX_MEMBERS + past; i++)
        bprintf(&b, ",\"_%d\":\"doc\"", i);
    bprintf(&b, "}");
    bsave(&b, ws, "m.json");
}

/* "tlb._aaa...": a documentation member whose dotted key is as long as a
 * key may be (MODEL_MAX_PATH - 1 bytes), or one byte longer. */
static void gen_model_key(const struct cli_ws *ws, bool past)
{
    gen_padded(ws, "m.json", "{\"tlb\":{\"_", 'a', MODEL_MAX_PATH - 1 + past - strlen("tlb._"),
               "\":\"doc\"}}");
}

/* Nesting: "tlb" { "stlb" { "_doc": [ [ ... ] ] } }: three objects, then
 * arrays up to the depth. */
static void gen_model_depth(const struct cli_ws *ws, bool past)
{
    struct buf b = { 0 };
    size_t arrays = MODEL_MAX_DEPTH + past - 3;

    bprintf(&b, "{\"tlb\":{\"stlb\":{\"_doc\":");
    bpad(&b, '[', arrays);
    bpad(&b, ']', arrays);
    bprintf(&b, "}}}");
    bsave(&b, ws, "m.json");
}

static void gen_spec_bytes(const struct cli_ws *ws, bool past)
{
    static const char spec[] = "{\"workload\":\"jit\",\"iterations\":2}";

    gen_padded(ws, "s.json", spec, ' ', WL_SPEC_MAX_BYTES + past - strlen(spec), "");
}

/* ===== measurement files (tlbsim probe output) ============================== */

#define MEAS_HEAD "{\"format\":\"tlbsim-measurements\",\"version\":1," \
    "\"environment\":{\"kind\":\"kvm\"},\"cases\":["
/* One measured munmap case whose trace unmaps a page it touched; `extra`
 * more trace lines (marks) before the unmap.  The caller closes the case. */
static void meas_case(struct buf *b, u32 i, u32 pages, u32 threads, u32 extra)
{
    bprintf(b, "%s{\"name\":\"c%u\",\"op\":\"munmap\",\"pages\":%u,\"siblings\":\"%s\","
            "\"threads\":%u,\"status\":\"ok\",\"repeats\":1,\"iterations\":1,"
            "\"ns_per_call\":{\"median\":100},\"trace\":["
            "\"{\\\"format\\\":\\\"tlbsim-trace\\\",\\\"version\\\":1,\\\"cpus\\\":%u}\","
            "\"{\\\"op\\\":\\\"mm_new\\\",\\\"mm\\\":1}\","
            "\"{\\\"op\\\":\\\"map\\\",\\\"mm\\\":1,\\\"va\\\":\\\"0x7f0000000000\\\","
            "\\\"len\\\":\\\"0x1000\\\",\\\"page\\\":\\\"4k\\\",\\\"prot\\\":\\\"rw\\\"}\","
            "\"{\\\"op\\\":\\\"switch\\\",\\\"cpu\\\":0,\\\"mm\\\":1}\","
            "\"{\\\"op\\\":\\\"access\\\",\\\"cpu\\\":0,\\\"va\\\":\\\"0x7f0000000000\\\","
            "\\\"kind\\\":\\\"w\\\"}\"",
            i ? "," : "", i, pages, threads ? "spin" : "none", threads, threads + 1);
    for (u32 k = 0; k < extra; k++)
        bprintf(b, ",\"{\\\"op\\\":\\\"mark\\\",\\\"label\\\":\\\"l%u\\\"}\"", k);
    bprintf(b, ",\"{\\\"op\\\":\\\"unmap\\\",\\\"cpu\\\":0,\\\"mm\\\":1,"
            "\\\"va\\\":\\\"0x7f0000000000\\\",\\\"len\\\":\\\"0x1000\\\"}\"]}");
}

#define MEAS_CASE_LINES 6               /* trace lines of meas_case without extras */

static void gen_meas_cases(const struct cli_ws *ws, bool past)
{
    struct buf b = { 0 };

    bprintf(&b, MEAS_HEAD);
    meas_case(&b, 0, 1, 0, 0);
    for (u32 i = 1; i < MEAS_MAX_CASES + (u32)past; i++)    /* skipped: nothing to simulate */
        bprintf(&b, ",{\"name\":\"c%u\",\"op\":\"munmap\",\"pages\":1,\"siblings\":\"spin\","
                "\"threads\":1,\"status\":\"skipped\",\"reason\":\"r\"}", i);
    bprintf(&b, "]}");
    bsave(&b, ws, "m.json");
}

/* A file of one case (see meas_case). */
static void gen_meas_one(const struct cli_ws *ws, u32 pages, u32 threads, u32 extra)
{
    struct buf b = { 0 };

    bprintf(&b, MEAS_HEAD);
    meas_case(&b, 0, pages, threads, extra);
    bprintf(&b, "]}");
    bsave(&b, ws, "m.json");
}

static void gen_meas_lines(const struct cli_ws *ws, bool past)
{
    gen_meas_one(ws, 1, 0, MEAS_MAX_LINES + (u32)past - MEAS_CASE_LINES);
}

static void gen_meas_pages(const struct cli_ws *ws, bool past)
{
    gen_meas_one(ws, MEAS_MAX_PAGES + (u32)past, 0, 0);
}

static void gen_meas_threads(const struct cli_ws *ws, bool past)
{
    gen_meas_one(ws, 1, MEAS_MAX_THREADS + (u32)past, 0);
}

/* The byte limit is checked on the file's size before reading: a sparse
 * file one byte past it costs nothing. */
static void gen_meas_bytes(const struct cli_ws *ws, bool past)
{
    char p[PATH_MAX];
    FILE *f = fopen(cli_path(ws, "m.json", p, sizeof(p)), "wb");

    cr_assert(past && f);
    cr_assert_eq(ftruncate(fileno(f), (off_t)MEAS_MAX_BYTES + 1), 0);
    fclose(f);
}

/* ===== long argument lists ================================================= */

static char arg_text[8192];

/* "--set sim.seed=0 --set sim.seed=1 ...": 256 overrides, or 257. */
static const char *val_sets(bool past)
{
    size_t n = 0;

    for (int i = 0; i < 256 + past; i++)
        n += (size_t)snprintf(arg_text + n, sizeof(arg_text) - n, " --set sim.seed=%d", i);
    return arg_text;
}

/* "1,2,...,N": the values of one --grid axis. */
static const char *seq(int count)
{
    size_t n = 0;

    for (int i = 1; i <= count; i++)
        n += (size_t)snprintf(arg_text + n, sizeof(arg_text) - n, "%s%d", i > 1 ? "," : "", i);
    return arg_text;
}

/* A model name of 63 bytes, or 64. */
static const char *val_name(bool past)
{
    memset(arg_text, 'n', MACHINE_NAME_MAX - 1 + past);
    arg_text[MACHINE_NAME_MAX - 1 + past] = 0;
    return arg_text;
}

static const char *val_grid_values(bool past) { return seq(1024 + past); }

/* 16 axes of one value each, or 17: model keys any number is valid for. */
static const char *val_grid_axes(bool past)
{
    static const char *const keys[] = {
        "walk.pml5_cycles", "walk.pml4_cycles", "walk.pdpt_cycles", "walk.pd_cycles",
        "walk.pt_cycles", "walk.setad_cycles", "walk.fault_cycles", "cost.access_cycles",
        "cost.invlpg_cycles", "cost.cr3_flush_cycles", "cost.global_flush_cycles",
        "cost.flush_request_cycles", "cost.switch_mm_cycles", "ipi.delivery_cycles",
        "ipi.cross_socket_cycles", "ipi.irq_entry_cycles", "ipi.irq_exit_cycles",
    };
    size_t n = 0;

    for (int i = 0; i < 16 + past; i++)
        n += (size_t)snprintf(arg_text + n, sizeof(arg_text) - n, " --grid %s=1", keys[i]);
    return arg_text;
}

/* 1000 x 100 points, or the fewest above 100,000 two axes of at most 1024
 * values can make: 113 x 885 = 100,005. */
static const char *val_grid_points(bool past)
{
    static char text[16384];

    snprintf(text, sizeof(text), "--grid sim.seed=%s", seq(past ? 113 : 1000));
    size_t n = strlen(text);
    snprintf(text + n, sizeof(text) - n, " --grid walk.pt_cycles=%s", seq(past ? 885 : 100));
    return text;
}

/* ===== the cases ============================================================ */

#define RUN "run ok.jsonl -q --out out "

static const struct lim_case cases[] = {
    { "CPUs in a trace header", "MACHINE_MAX_CPUS", "1024", "check t.jsonl", NULL, NULL,
      gen_hdr_cpus, NULL, "t.jsonl:1: cpus: 1025 exceeds the limit of 1024", NULL, NULL },
    { "CPUs of the machine (`--set cpus`, model files)", "MACHINE_MAX_CPUS", "1024",
      RUN "--set tlb.stlb.entries=0 --set cpus=%s", "1024", "1025", NULL, NULL,
      "--set: cpus: 1025 is outside [1, 1024]", NULL, NULL },
    { "TLB and paging-structure-cache entries over all CPUs", "MACHINE_MAX_TLB_ENTRIES",
      "2^24", RUN "--set cpus=1024 --set tlb.stlb.ways=1 --set tlb.stlb.entries=%s",
      "16086", "16087", NULL, NULL,
      "tlb: 1024 CPUs x 16385 entries each exceeds 16777216 TLB entries in all",
      "the run at the limit allocates 2^24 TLB entries: 6.7 s of wall time, 926 MB peak RSS "
      "on the shared build machine; `limits::tlb_entries_validate` checks the same model "
      "at the limit without building it", NULL },
    { "address spaces live at once", "TRACE_MAX_MMS", "65,535", "run t.jsonl -q --out out",
      NULL, NULL, gen_mms, NULL,
      "t.jsonl:65537: mm: more than 65535 address spaces live at once", NULL, NULL },
    { "address-space id", "TRACE_MAX_ID", "2^53", "check t.jsonl", NULL, NULL, gen_mm_id, NULL,
      "t.jsonl:2: mm: 9007199254740993 is above 2^53 (write large values as hex strings)",
      NULL, NULL },
    { "mappings per address space (a model key; here set to 4)", "limits.max_vmas",
      "the key, default 2^20", "run t.jsonl -q --out out --set limits.max_vmas=4", NULL, NULL,
      gen_vmas, NULL, "t.jsonl:7: va: vmas: limit of 4 areas reached", NULL, NULL },
    { "the `limits.max_vmas` key itself", "limits.max_vmas (models/machine.c)", "2^24",
      RUN "--set limits.max_vmas=%s", "16777216", "16777217", NULL, NULL,
      "--set: limits.max_vmas: 16777217 is outside [1, 16777216]", NULL, NULL },
    { "bytes per JSON trace line (without the newline)", "TRACE_MAX_LINE", "1 MiB",
      "check t.jsonl", NULL, NULL, gen_line, NULL,
      "t.jsonl:2: line longer than 1048576 bytes", NULL, NULL },
    { "JSON nesting of a trace line", "TRACE_MAX_DEPTH", "64 levels", "check t.jsonl",
      NULL, NULL, gen_depth, "t.jsonl:2: label: expected a string, got an array",
      "t.jsonl:2: JSON nested deeper than 64 levels (column 85)", NULL, NULL },
    { "addresses per `access`", "TRACE_MAX_ARRAY", "65,536", "check t.jsonl", NULL, NULL,
      gen_array, NULL, "t.jsonl:5: va: array of more than 65536 addresses exceeds the limit",
      NULL, NULL },
    { "references per `stream`", "TRACE_MAX_COUNT", "2^32", "check t.jsonl", NULL, NULL,
      gen_count, NULL, "t.jsonl:5: count: 4294967297 exceeds the limit of 4294967296", NULL, NULL },
    { "`t`, `gap`, `irqs_off` `cycles`", "TRACE_MAX_CYCLES", "2^60", "check t.jsonl", NULL,
      NULL, gen_cycles, NULL,
      "t.jsonl:2: cycles: 1152921504606846977 is beyond 2^60 cycles", NULL, NULL },
    { "bytes of a `mark` label", "TRACE_MAX_LABEL", "128", "check t.jsonl", NULL, NULL,
      gen_label, NULL, "t.jsonl:2: label: 129 bytes exceeds the limit of 128", NULL, NULL },
    { "bytes of the header's `name` and `source`", "TRACE_MAX_NAME", "127", "check t.jsonl",
      NULL, NULL, gen_name, NULL, "t.jsonl:1: name: 128 bytes exceeds the limit of 127", NULL, NULL },
    { "zstd window", "STREAM_MAX_WINDOW", "2^27 bytes (128 MiB)", "check t.jsonl.zst", NULL,
      NULL, gen_zstd_window, NULL, "t.jsonl.zst: zstd frame needs a window over 128 MiB", NULL, NULL },
    { "xz decoder memory (at the limit: a 96 MiB dictionary, the largest below it)",
      "STREAM_MAX_WINDOW", "2^27 bytes (128 MiB)", "check t.jsonl.xz", NULL, NULL,
      gen_xz_window, NULL, "t.jsonl.xz: xz stream needs more than 128 MiB to decode", NULL, NULL },
    { "model file size", "MODEL_MAX_BYTES", "1 MiB", RUN "--machine ./m.json", NULL, NULL,
      gen_model_bytes, NULL, "./m.json: larger than 1048576 bytes; not a model file", NULL, NULL },
    { "members of one model object", "MODEL_MAX_MEMBERS", "1024", RUN "--machine ./m.json",
      NULL, NULL, gen_model_members, NULL,
      "./m.json:1: (top level): more than 1024 members in one object", NULL, NULL },
    { "bytes of a dotted model key", "MODEL_MAX_PATH", "255", RUN "--machine ./m.json",
      NULL, NULL, gen_model_key, NULL,
      "./m.json:1: tlb: key of 256 bytes is longer than 255", NULL, NULL },
    { "JSON nesting of a model file", "MODEL_MAX_DEPTH", "8 levels", RUN "--machine ./m.json",
      NULL, NULL, gen_model_depth,
      "./m.json:1: tlb.stlb._doc: documentation must be a string or an array of strings, "
      "got an array", "./m.json:1: JSON nested deeper than 8 levels (byte offset 28)", NULL, NULL },
    { "workload spec size", "WL_SPEC_MAX_BYTES", "1 MiB", "gen s.json -o o.jsonl", NULL,
      NULL, gen_spec_bytes, NULL, "s.json: larger than 1048576 bytes; not a workload spec",
      NULL, NULL },
    { "cases per measurement file", "MEAS_MAX_CASES", "4096",
      "validate m.json --machine skylake-sp --out v", NULL, NULL, gen_meas_cases, NULL,
      "m.json: cases: more than 4096 cases", NULL, NULL },
    { "trace lines per measured case", "MEAS_MAX_LINES", "4096",
      "validate m.json --machine skylake-sp --out v", NULL, NULL, gen_meas_lines, NULL,
      "m.json: cases[0].trace: more than 4096 lines", NULL, NULL },
    { "pages per measured call", "MEAS_MAX_PAGES", "4096",
      "validate m.json --machine skylake-sp --out v", NULL, NULL, gen_meas_pages, NULL,
      "m.json: cases[0].pages: 4097 is out of range [1, 4096]", NULL, NULL },
    { "sibling threads per measured case", "MEAS_MAX_THREADS", "1023 (CPUs - 1)",
      "validate m.json --machine skylake-sp --out v", NULL, NULL, gen_meas_threads, NULL,
      "m.json: cases[0].threads: 1024 is out of range [0, 1023]", NULL, NULL },
    { "measurement file size", "MEAS_MAX_BYTES", "64 MiB",
      "validate m.json --machine skylake-sp --out v", NULL, NULL, gen_meas_bytes, NULL,
      "m.json: not a regular file of at most 67108864 bytes",
      "`validate` of a 64 MiB file (the probe seed padded with blanks) took 2.6 s of wall "
      "time, 68 MB peak RSS; the file one byte past the limit is sparse", NULL },
    { "`--set` overrides of one run", "MAX_SETS (sim/cli/run.c)", "256", RUN "%s", NULL, NULL,
      NULL, NULL, "--set: more than 256 overrides", NULL, val_sets },
    { "runs per policy (`--repeat`)", "MAX_REPEAT (sim/cli/run.c)", "1000",
      RUN "--set tlb.stlb.entries=0 --jobs 2 --repeat %s", "1000", "1001", NULL, NULL,
      "--repeat: at most 1000 runs per policy",
      "1000 runs of a two-line trace took 64 s of wall time (28 MB peak RSS) on the shared "
      "build machine; 1001 is refused before anything runs", NULL },
    { "worker processes (`--jobs`)", "JOBS_MAX (sim/cli/jobs.h)", "1024",
      RUN "--jobs %s", "1024", "1025", NULL, NULL, "--jobs: at most 1024 workers", NULL, NULL },
    { "values of one sweep axis", "SWEEP_MAX_VALUES (sim/cli/sweep.c)", "1024",
      "sweep ok.jsonl --emit-jobs j.txt -o sw --grid sim.seed=%s", NULL, NULL, NULL, NULL,
      "sweep: --grid sim.seed: at most 1024 values", NULL, val_grid_values },
    { "sweep axes", "SWEEP_MAX_AXES (sim/cli/sweep.c)", "16",
      "sweep ok.jsonl --emit-jobs j.txt -o sw %s", NULL, NULL, NULL, NULL,
      "sweep: --grid: at most 16 axes", NULL, val_grid_axes },
    { "sweep points (the product of the axes)", "SWEEP_MAX_POINTS (sim/cli/sweep.h)",
      "100,000", "sweep ok.jsonl --emit-jobs j.txt -o sw %s", NULL, NULL, NULL, NULL,
      "sweep: the grid has more than 100000 points",
      "writing the 100,000 commands of `--emit-jobs` took 90 s of wall time (11 s of CPU) "
      "on the shared build machine; one past it is the smallest grid above the limit "
      "(113 x 885 = 100,005), refused before anything is written", val_grid_points },
    { "model name (`name`, `--set name=`)", "MACHINE_NAME_MAX (models/machine.h)",
      "63 bytes", RUN "--set name=%s", NULL, NULL, NULL, NULL,
      "--set: name: longer than 63 bytes", NULL, val_name },
};

#define NR_CASES (sizeof(cases) / sizeof(cases[0]))

/* ===== running a case ======================================================== */

/* Run case c at the limit (past = false) or one past it, in a fresh workspace. */
static void run_case(const struct lim_case *c, bool past, struct cli_res *r)
{
    struct cli_ws ws;
    static char args[16384];
    const char *argv[1024];

    cli_ws_init(&ws);
    cli_write_str(&ws, "ok.jsonl", HDR "{\"op\":\"mm_new\",\"mm\":1}\n");
    if (c->gen)
        c->gen(&ws, past);
    snprintf(args, sizeof(args), c->args,
             c->val ? c->val(past) : past ? c->past_val : c->at_val);
    cr_assert(strlen(args) < sizeof(args) - 1, "arguments too long");
    cli_split_args(args, argv, 1024);
    cli_run(&ws, argv, 300, r);
    cli_ws_done(&ws);
}

ParameterizedTestParameters(limits, at_and_past)
{
    static size_t idx[NR_CASES];

    for (size_t i = 0; i < NR_CASES; i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, NR_CASES);
}

ParameterizedTest(size_t *i, limits, at_and_past, .timeout = 600)
{
    const struct lim_case *c = &cases[*i];
    struct cli_res *r = malloc(sizeof(*r));
    char want[1024];

    cr_assert(r);
    if (!c->at_note) {
        run_case(c, false, r);
        if (c->at_expect) {
            snprintf(want, sizeof(want), "tlbsim: %s\n", c->at_expect);
            cr_expect_eq(r->status, 2, "[%s] at the limit: exit %d: %s", c->what, r->status,
                         r->err);
            cr_expect_str_eq(r->err, want, "[%s] at the limit:\n  got:  %s  want: %s",
                             c->what, r->err, want);
        } else {
            cr_expect_eq(r->status, 0, "[%s] at the limit: exit %d: %s", c->what, r->status,
                         r->err);
        }
    }
    run_case(c, true, r);
    snprintf(want, sizeof(want), "tlbsim: %s\n", c->past_expect);
    cr_expect_eq(r->status, 2, "[%s] one past: exit %d: %s", c->what, r->status, r->err);
    cr_expect_str_eq(r->err, want, "[%s] one past:\n  got:  %s  want: %s", c->what, r->err,
                     want);
    free(r);
}

/* The TLB total at the limit, without allocating it: the check is in
 * machine_validate, which `run` calls before building anything. */
Test(limits, tlb_entries_validate)
{
    struct machine m;
    struct sim_err err = { 0 };

    machine_init(&m);
    cr_assert_eq(machine_set(&m, machine_key_find("cpus"), "1024", &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(machine_set(&m, machine_key_find("tlb.stlb.ways"), "1", &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(machine_set(&m, machine_key_find("tlb.stlb.entries"), "16086", &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(machine_validate(&m, &err), SIM_OK, "at the limit: %s", err.msg);
    cr_assert_eq(machine_set(&m, machine_key_find("tlb.stlb.entries"), "16087", &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(machine_validate(&m, &err), SIM_ELIMIT, "one past");
    cr_expect_str_eq(err.msg, "tlb: 1024 CPUs x 16385 entries each exceeds 16777216 TLB "
                     "entries in all");
}

/* ===== the documentation table ============================================= */

static void md_code(FILE *f, const char *s)
{
    fputc('`', f);
    for (; *s; s++)
        fputs(*s == '|' ? "\\|" : (char[2]){ *s, 0 }, f);
    fputc('`', f);
}

Test(limits, table, .timeout = 1200)
{
    const char *path = getenv("TLBSIM_LIMITS_TABLE");
    FILE *f;

    if (!path)
        return;                         /* only when asked to write the docs table */
    cr_assert((f = fopen(path, "w")));
    fputs("| limit | constant | value | at the limit | one past: message on stderr (exit 2) |\n"
          "|---|---|---|---|---|\n", f);
    for (size_t i = 0; i < NR_CASES; i++) {
        const struct lim_case *c = &cases[i];
        fprintf(f, "| %s | `%s` | %s | ", c->what, c->constant, c->limit);
        if (c->at_note)
            fprintf(f, "not in the suite: %s", c->at_note);
        else if (c->at_expect) {
            char msg[1024];
            snprintf(msg, sizeof(msg), "tlbsim: %s", c->at_expect);
            fputs("passes the limit, refused later: ", f);
            md_code(f, msg);
        } else
            fputs("accepted", f);
        fputs(" | ", f);
        char msg[1024];
        snprintf(msg, sizeof(msg), "tlbsim: %s", c->past_expect);
        md_code(f, msg);
        fputs(" |\n", f);
    }
    fclose(f);
}
