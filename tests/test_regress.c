/* tests/test_regress.c - hostile input, end to end through build/tlbsim.
 *
 * Every class of bad input the reliability work (issue 8) names gets at
 * least one case here: the real binary runs on it and must exit with status
 * 2 and exactly one line on stderr, "tlbsim: " followed by the message
 * below, which names the file, the line (or record) and the field.  A
 * failed command must also leave no file behind (no half output, no
 * temporary file).  docs/bad-input.md is this table in prose; regenerate
 * its rows with
 *
 *     cd tests && TLBSIM=../build/tlbsim TLBSIM_BAD_INPUT_TABLE=/tmp/rows.md \
 *         ../build/run-tests --filter 'regress/table'
 *
 * The second part replays the fuzzers' regression corpus
 * (tests/fuzz/regress/TARGET/: every input that once crashed, hung or
 * broke an oracle) through the matching tlbsim command: exit 0 or 2, never
 * a crash, a sanitizer report (under `make asan`) or an internal error.
 *
 * In the `text` of a case, ' stands for " (JSON is unreadable otherwise).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../sim/io/stream.h"
#include "clirun.h"

struct bad_case {
    const char *cls;                    /* class of bad input (a docs table group) */
    const char *what;                   /* the example, in words */
    const char *args;                   /* tlbsim arguments, split at spaces */
    const char *file;                   /* input written into the workspace, or NULL */
    const char *text;                   /* its content (' stands for "), or NULL: gen */
    void (*gen)(const struct cli_ws *ws, const char *file);
    const char *expect;                 /* stderr after "tlbsim: ", without the newline */
};

/* ===== inputs ============================================================= */

#define HDR "{'format':'tlbsim-trace','version':1,'cpus':2}\n"
/* an address space 1 with 2 MiB mapped at 0x7f0000000000, running on cpu 0 */
#define PRE HDR "{'op':'mm_new','mm':1}\n" \
    "{'op':'map','mm':1,'va':'0x7f0000000000','len':'0x200000','page':'4k','prot':'rw'}\n" \
    "{'op':'switch','cpu':0,'mm':1}\n"
#define OK_TRACE HDR "{'op':'mm_new','mm':1}\n"

static void gen_long_line(const struct cli_ws *ws, const char *file)
{
    size_t n = (1u << 20) + 64;
    char *s = malloc(n + 128);

    cr_assert(s);
    int k = snprintf(s, 128, "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
                             "{\"op\":\"mark\",\"label\":\"");
    memset(s + k, 'a', n);
    strcpy(s + k + n, "\"}\n");
    cli_write_str(ws, file, s);
    free(s);
}

static void gen_big_array(const struct cli_ws *ws, const char *file)
{
    size_t n = 65537;
    char *s = malloc(n * 2 + 512), *p = s;

    cr_assert(s);
    p += sprintf(p, "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
                    "{\"op\":\"mm_new\",\"mm\":1}\n{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
                    "{\"op\":\"access\",\"cpu\":0,\"kind\":\"r\",\"va\":[");
    for (size_t i = 0; i < n; i++) {
        *p++ = '0';
        *p++ = ',';
    }
    strcpy(p - 1, "]}\n");
    cli_write_str(ws, file, s);
    free(s);
}

static void gen_deep_nesting(const struct cli_ws *ws, const char *file)
{
    size_t d = 100000;
    char *s = malloc(2 * d + 256), *p = s;

    cr_assert(s);
    p += sprintf(p, "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
                    "{\"op\":\"mark\",\"label\":");
    memset(p, '[', d);
    memset(p + d, ']', d);
    strcpy(p + 2 * d, "}\n");
    cli_write_str(ws, file, s);
    free(s);
}

static void gen_nul_byte(const struct cli_ws *ws, const char *file)
{
    static const char s[] = "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
                            "{\"op\":\"mark\",\"label\":\"a\0b\"}\n";

    cli_write(ws, file, s, sizeof(s) - 1);
}

static void gen_model_too_big(const struct cli_ws *ws, const char *file)
{
    size_t n = (1u << 20) + 1;
    char *s = malloc(n + 1);

    cr_assert(s);
    memset(s, ' ', n);
    s[0] = '{';
    s[n - 1] = '}';
    s[n] = 0;
    cli_write_str(ws, file, s);
    free(s);
}

static void gen_model_deep(const struct cli_ws *ws, const char *file)
{
    size_t d = 100000;
    char *s = malloc(2 * d + 16);

    cr_assert(s);
    s[0] = '{';
    strcpy(s + 1, "\"cpus\":");
    memset(s + 8, '[', d);
    memset(s + 8 + d, ']', d);
    strcpy(s + 8 + 2 * d, "}");
    cli_write_str(ws, file, s);
    free(s);
}

static void gen_model_nul(const struct cli_ws *ws, const char *file)
{
    static const char s[] = "{\"cpus\":4,\n\"name\":\"a\0\"}";

    cli_write(ws, file, s, sizeof(s) - 1);
}

/* ---- binary traces ------------------------------------------------------ */

static uint32_t crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;

    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}

/* A well-formed binary trace of OK_TRACE plus a few ops (via tlbsim convert). */
static uint8_t *good_binary(const struct cli_ws *ws, size_t *n)
{
    static const char *argv[] = { "convert", "good.jsonl", "good.tlbt", NULL };
    struct cli_res r;
    char p[PATH_MAX];
    uint8_t *b;

    cli_write_str(ws, "good.jsonl",
                  "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
                  "{\"op\":\"mm_new\",\"mm\":1}\n"
                  "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x200000\","
                  "\"page\":\"4k\",\"prot\":\"rw\"}\n"
                  "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
                  "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x7f0000001000\",\"kind\":\"r\"}\n");
    cli_run(ws, argv, 60, &r);
    cr_assert_eq(r.status, 0, "convert failed: %s", r.err);
    b = (uint8_t *)cli_slurp(cli_path(ws, "good.tlbt", p, sizeof(p)), n);
    unlink(p);
    unlink(cli_path(ws, "good.jsonl", p, sizeof(p)));
    cr_assert(b && *n > 40);
    return b;
}

static void gen_bin_crc(const struct cli_ws *ws, const char *file)
{
    size_t n;
    uint8_t *b = good_binary(ws, &n);

    b[n - 20] ^= 0x40;                  /* a byte of the last block's payload */
    cli_write(ws, file, b, n);
    free(b);
}

static void gen_bin_truncated(const struct cli_ws *ws, const char *file)
{
    size_t n;
    uint8_t *b = good_binary(ws, &n);

    cli_write(ws, file, b, n - 13);     /* without the end block */
    free(b);
}

static void gen_bin_trailing(const struct cli_ws *ws, const char *file)
{
    size_t n;
    uint8_t *b = good_binary(ws, &n);

    b = realloc(b, n + 3);
    cr_assert(b);
    memcpy(b + n, "xyz", 3);
    cli_write(ws, file, b, n + 3);
    free(b);
}

/* A binary header claiming 5000 CPUs, with a correct checksum. */
static void gen_bin_cpus(const struct cli_ws *ws, const char *file)
{
    uint8_t b[64] = "TLBT\1\0\0\0";
    uint8_t payload[] = { 0x88, 0x27, 48, 0, 0 };        /* varint 5000, 48, "", "" */

    put32(b + 8, sizeof(payload));
    memcpy(b + 12, payload, sizeof(payload));
    put32(b + 12 + sizeof(payload), crc32(b, 12 + sizeof(payload)));
    cli_write(ws, file, b, 16 + sizeof(payload));
}

/* ---- compressed inputs ------------------------------------------------------ */

/* A 2,000-access trace (PRE, then distinct addresses), compressed with c;
 * malloc'd, *n bytes.  The compressors are deterministic. */
static uint8_t *compressed_trace(const struct cli_ws *ws, enum stream_codec c, size_t *n)
{
    char p[PATH_MAX], *text = malloc(200000);
    size_t len = 0;
    struct sim_err err = { 0 };
    struct stream_w *w;

    cr_assert(text);
    len += (size_t)snprintf(text, 1000, "%s", PRE);
    for (char *q = text; *q; q++)
        if (*q == '\'')
            *q = '"';
    for (unsigned i = 0; i < 2000; i++)
        len += (size_t)snprintf(text + len, 200000 - len,
                                "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x%llx\",\"kind\":\"r\"}\n",
                                0x7f0000000000ull + (i * 4160ull) % 0x200000);
    int fd = open(cli_path(ws, "z.tmp", p, sizeof(p)), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(stream_w_open(fd, c, &w, &err), 0, "%s", err.msg);
    cr_assert_eq(stream_w_write(w, text, len, &err), 0, "%s", err.msg);
    cr_assert_eq(stream_w_finish(w, &err), 0, "%s", err.msg);
    stream_w_free(w);
    close(fd);
    free(text);
    uint8_t *b = (uint8_t *)cli_slurp(p, n);
    unlink(p);
    cr_assert(b && *n > 100);
    return b;
}

static void gen_cut(const struct cli_ws *ws, const char *file, enum stream_codec c)
{
    size_t n;
    uint8_t *b = compressed_trace(ws, c, &n);

    cli_write(ws, file, b, n / 2);
    free(b);
}

static void gen_gz_cut(const struct cli_ws *ws, const char *file) { gen_cut(ws, file, STREAM_GZIP); }
static void gen_xz_cut(const struct cli_ws *ws, const char *file) { gen_cut(ws, file, STREAM_XZ); }
static void gen_zst_cut(const struct cli_ws *ws, const char *file) { gen_cut(ws, file, STREAM_ZSTD); }

/* gzip: a flipped bit in the CRC-32 trailer; xz, zstd: 16 bytes in the
 * middle overwritten (both check each block). */
static void gen_damaged(const struct cli_ws *ws, const char *file, enum stream_codec c)
{
    size_t n;
    uint8_t *b = compressed_trace(ws, c, &n);

    if (c == STREAM_GZIP)
        b[n - 6] ^= 0x10;
    else
        memset(b + n / 2, 0x55, 16);
    cli_write(ws, file, b, n);
    free(b);
}

static void gen_gz_bad(const struct cli_ws *ws, const char *file) { gen_damaged(ws, file, STREAM_GZIP); }
static void gen_xz_bad(const struct cli_ws *ws, const char *file) { gen_damaged(ws, file, STREAM_XZ); }
static void gen_zst_bad(const struct cli_ws *ws, const char *file) { gen_damaged(ws, file, STREAM_ZSTD); }

/* A lackey recording, gzip'd and cut short. */
static void gen_lackey_gz_cut(const struct cli_ws *ws, const char *file)
{
    char text[64 * 1000], p[PATH_MAX];
    size_t len = 0;
    struct sim_err err = { 0 };
    struct stream_w *w;

    for (unsigned i = 0; i < 1000; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, " L %08x,8\n", 0x4000000 + i * 72);
    int fd = open(cli_path(ws, file, p, sizeof(p)), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(stream_w_open(fd, STREAM_GZIP, &w, &err), 0, "%s", err.msg);
    cr_assert_eq(stream_w_write(w, text, len, &err), 0, "%s", err.msg);
    cr_assert_eq(stream_w_finish(w, &err), 0, "%s", err.msg);
    stream_w_free(w);
    off_t size = lseek(fd, 0, SEEK_END);
    cr_assert_eq(ftruncate(fd, size / 2), 0);
    close(fd);
}

/* More than STREAM_RATIO_FLOOR bytes of one repeated access line, zstd'd:
 * it expands more than STREAM_MAX_RATIO times. */
static void gen_zst_bomb(const struct cli_ws *ws, const char *file)
{
    static const char line[] = "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x7f0000001000\",\"kind\":\"r\"}\n";
    char p[PATH_MAX], head[1000], *chunk = malloc(1 << 20);
    struct sim_err err = { 0 };
    struct stream_w *w;
    size_t n = 0;

    cr_assert(chunk);
    snprintf(head, sizeof(head), "%s", PRE);
    for (char *q = head; *q; q++)
        if (*q == '\'')
            *q = '"';
    while (n + sizeof(line) < (1 << 20)) {
        memcpy(chunk + n, line, sizeof(line) - 1);
        n += sizeof(line) - 1;
    }
    int fd = open(cli_path(ws, file, p, sizeof(p)), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(stream_w_open(fd, STREAM_ZSTD, &w, &err), 0, "%s", err.msg);
    cr_assert_eq(stream_w_write(w, head, strlen(head), &err), 0, "%s", err.msg);
    for (u64 total = 0; total <= STREAM_RATIO_FLOOR + (4u << 20); total += n)
        cr_assert_eq(stream_w_write(w, chunk, n, &err), 0, "%s", err.msg);
    cr_assert_eq(stream_w_finish(w, &err), 0, "%s", err.msg);
    stream_w_free(w);
    close(fd);
    free(chunk);
}

/* ===== the cases ============================================================ */

#define RUN "run t.jsonl -q --out out"

static struct bad_case cases[] = {
    /* ---- CPU count -------------------------------------------------------- */
    { "CPU count", "header with 0 CPUs", "check t.jsonl", "t.jsonl",
      "{'format':'tlbsim-trace','version':1,'cpus':0}\n", NULL,
      "t.jsonl:1: cpus: must be at least 1" },
    { "CPU count", "header with more than 1024 CPUs", "check t.jsonl", "t.jsonl",
      "{'format':'tlbsim-trace','version':1,'cpus':1025}\n", NULL,
      "t.jsonl:1: cpus: 1025 exceeds the limit of 1024" },
    { "CPU count", "negative CPU count", "check t.jsonl", "t.jsonl",
      "{'format':'tlbsim-trace','version':1,'cpus':-1}\n", NULL,
      "t.jsonl:1: cpus: -1 is negative" },
    { "CPU count", "CPU id not below the header's count", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mm_new','mm':1}\n{'op':'switch','cpu':2,'mm':1}\n", NULL,
      "t.jsonl:3: cpu: 2 is not below the header's cpus (2)" },
    { "CPU count", "binary header with 5000 CPUs", "check t.tlbt", "t.tlbt", NULL,
      gen_bin_cpus, "t.tlbt: cpus: 5000 exceeds the limit of 1024" },
    { "CPU count", "--set cpus beyond the limit", "run ok.jsonl -q --out out --set cpus=1025",
      NULL, NULL, NULL, "--set: cpus: 1025 is outside [1, 1024]" },
    { "CPU count", "model file with 2000 CPUs", "run ok.jsonl -q --out out --machine ./m.json",
      "m.json", "{'cpus':2000}", NULL, "./m.json:1: cpus: 2000 is outside [1, 1024]" },
    { "CPU count", "1024 CPUs with a 2^20-entry STLB (about 80 GB of TLBs)",
      "run ok.jsonl -q --out out --set cpus=1024 --set tlb.stlb.entries=1048576 "
      "--set tlb.stlb.ways=16", NULL, NULL, NULL,
      "tlb: 1024 CPUs x 1048874 entries each exceeds 16777216 TLB entries in all" },
    { "CPU count", "import --cpus 0", "import lackey r.txt -o o.jsonl --cpus 0", "r.txt",
      "I  04000000,3\n", NULL, "import: bad number '0'" },

    /* ---- line length, array length, nesting, file size -------------------- */
    { "line length", "a trace line of 1 MiB + 90 bytes", "check t.jsonl", "t.jsonl", NULL,
      gen_long_line, "t.jsonl:2: line longer than 1048576 bytes" },
    { "array length", "an access array of 65,537 addresses", "check t.jsonl", "t.jsonl",
      NULL, gen_big_array,
      "t.jsonl:4: va: array of more than 65536 addresses exceeds the limit" },
    { "array length", "an empty access array", "check t.jsonl", "t.jsonl",
      PRE "{'op':'access','cpu':0,'va':[],'kind':'r'}\n", NULL,
      "t.jsonl:5: va: empty array (an access needs an address)" },
    { "nesting", "100,000 nested arrays in a trace line", "check t.jsonl", "t.jsonl", NULL,
      gen_deep_nesting, "t.jsonl:2: JSON nested deeper than 64 levels (column 85)" },
    { "nesting", "an object as a field value", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mark','label':{'a':1}}\n", NULL,
      "t.jsonl:2: label: expected a string, got an object" },
    { "nesting", "100,000 nested arrays in a model file",
      "run ok.jsonl -q --out out --machine ./m.json", "m.json", NULL, gen_model_deep,
      "./m.json:1: JSON nested deeper than 8 levels (byte offset 15)" },
    { "file size", "model file over 1 MiB", "run ok.jsonl -q --out out --machine ./m.json",
      "m.json", NULL, gen_model_too_big,
      "./m.json: larger than 1048576 bytes; not a model file" },
    { "string length", "mark label over 128 bytes", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mark','label':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}\n",
      NULL, "t.jsonl:2: label: 164 bytes exceeds the limit of 128" },

    /* ---- address ranges --------------------------------------------------- */
    { "address range", "non-canonical address", "check t.jsonl", "t.jsonl",
      PRE "{'op':'access','cpu':0,'va':'0x800000000000','kind':'r'}\n", NULL,
      "t.jsonl:5: va: address 0x800000000000 is not canonical" },
    { "address range", "non-canonical address in an array", "check t.jsonl", "t.jsonl",
      PRE "{'op':'access','cpu':0,'va':['0x1000','0xffff7fffffffffff'],'kind':'r'}\n", NULL,
      "t.jsonl:5: va[1]: address 0xffff7fffffffffff is not canonical" },
    { "address range", "range running out of the user half", "check t.jsonl", "t.jsonl",
      PRE "{'op':'unmap','cpu':0,'mm':1,'va':'0x7ffffffff000','len':'0x2000'}\n", NULL,
      "t.jsonl:5: len: range 0x7ffffffff000+0x2000 leaves the canonical half" },
    { "address range", "range wrapping around 2^64", "check t.jsonl", "t.jsonl",
      PRE "{'op':'kflush','cpu':0,'va':'0xfffffffffffff000','len':'0x2000'}\n", NULL,
      "t.jsonl:5: len: range 0xfffffffffffff000+0x2000 leaves the canonical half" },
    { "address range", "unaligned 2M mapping", "check t.jsonl", "t.jsonl",
      PRE "{'op':'map','mm':1,'va':'0x7f0000201000','len':'0x200000','page':'2m','prot':'rw'}\n",
      NULL, "t.jsonl:5: va: 0x7f0000201000 is not 2m-aligned" },
    { "address range", "user mapping at a kernel address", "check t.jsonl", "t.jsonl",
      PRE "{'op':'map','mm':1,'va':'0xffff888000000000','len':'0x1000','page':'4k','prot':'rw'}\n",
      NULL, "t.jsonl:5: va: 0xffff888000000000 is a kernel address; a user map needs a "
            "user (lower-half) address" },
    { "address range", "kflush of a user range", "check t.jsonl", "t.jsonl",
      PRE "{'op':'kflush','cpu':0,'va':'0x1000','len':'0x1000'}\n", NULL,
      "t.jsonl:5: va: 0x1000 is a user address; kflush needs a kernel (upper-half) address" },
    { "address range", "stream that jumps the non-canonical hole (found in review)",
      "check t.jsonl", "t.jsonl",
      PRE "{'op':'stream','cpu':0,'va':'0x1000','stride':'0x100000000000','count':'0x100000',"
      "'kind':'r'}\n", NULL,
      "t.jsonl:5: count: the stream leaves the canonical range (last address "
      "0xfffff00000001000)" },
    { "address range", "user access on a CPU with no address space", "check t.jsonl", "t.jsonl",
      HDR "{'op':'access','cpu':1,'va':'0x1000','kind':'r'}\n", NULL,
      "t.jsonl:2: cpu 1 runs no user address space: va 0x1000 is a user address (switch the "
      "cpu to an mm first)" },

    /* ---- mapping sizes ---------------------------------------------------- */
    { "mapping size", "empty mapping", "check t.jsonl", "t.jsonl",
      PRE "{'op':'map','mm':1,'va':'0x1000','len':'0x0','page':'4k','prot':'rw'}\n", NULL,
      "t.jsonl:5: len: must be greater than 0" },
    { "mapping size", "length not a multiple of the page", "check t.jsonl", "t.jsonl",
      PRE "{'op':'map','mm':1,'va':'0x1000','len':'0x1001','page':'4k','prot':'rw'}\n", NULL,
      "t.jsonl:5: len: 0x1001 is not a multiple of 4k" },
    { "mapping size", "populating the whole user half with 4K pages", RUN, "t.jsonl",
      HDR "{'op':'mm_new','mm':1}\n"
      "{'op':'map','mm':1,'va':'0x0','len':'0x800000000000','page':'4k','prot':'rw'}\n", NULL,
      "t.jsonl:3: va: page tables: mapping needs 67240192 more table pages, limit 262144" },
    { "mapping size", "populating the whole user half with 1G pages", RUN, "t.jsonl",
      HDR "{'op':'mm_new','mm':1}\n"
      "{'op':'map','mm':1,'va':'0x0','len':'0x800000000000','page':'1g','prot':'rw'}\n", NULL,
      "t.jsonl:3: va: frames: mapping needs 34359738624 4K frames, 16777214 left under "
      "limits.max_frames" },

    { "mapping size", "a map over a live mapping (run only: check does not track mappings)",
      RUN, "t.jsonl",
      PRE "{'op':'map','cpu':0,'mm':1,'va':'0x7f0000100000','len':'0x1000','page':'4k',"
      "'prot':'r'}\n", NULL,
      "t.jsonl:5: va: vma [0x7f0000100000, 0x7f0000101000): overlaps "
      "[0x7f0000000000, 0x7f0000200000)" },

    /* ---- stream counts ----------------------------------------------------- */
    { "stream count", "count 0", "check t.jsonl", "t.jsonl",
      PRE "{'op':'stream','cpu':0,'va':'0x7f0000000000','stride':64,'count':0,'kind':'r'}\n",
      NULL, "t.jsonl:5: count: must be at least 1" },
    { "stream count", "count above 2^32", "check t.jsonl", "t.jsonl",
      PRE "{'op':'stream','cpu':0,'va':'0x7f0000000000','stride':64,'count':'0x100000001',"
      "'kind':'r'}\n", NULL, "t.jsonl:5: count: 4294967297 exceeds the limit of 4294967296" },
    { "stream count", "stride 0", "check t.jsonl", "t.jsonl",
      PRE "{'op':'stream','cpu':0,'va':'0x7f0000000000','stride':0,'count':4,'kind':'r'}\n",
      NULL, "t.jsonl:5: stride: must be at least 1 byte" },
    { "stream count", "stride x count overflows 64 bits", "check t.jsonl", "t.jsonl",
      PRE "{'op':'stream','cpu':0,'va':'0x7f0000000000','stride':'0xffffffffffffffff',"
      "'count':4,'kind':'r'}\n", NULL,
      "t.jsonl:5: count: the stream runs past the end of the address space" },
    { "stream count", "irqs_off for 0 cycles", "check t.jsonl", "t.jsonl",
      HDR "{'op':'irqs_off','cpu':0,'cycles':0}\n", NULL,
      "t.jsonl:2: cycles: must be greater than 0" },

    /* ---- time --------------------------------------------------------------- */
    { "time", "a start time beyond 2^60 cycles", "check t.jsonl", "t.jsonl",
      HDR "{'op':'idle','cpu':0,'t':'0x1000000000000001'}\n", NULL,
      "t.jsonl:2: t: 1152921504606846977 is beyond 2^60 cycles" },
    { "time", "irqs_off for 2^64 - 1 cycles", "check t.jsonl", "t.jsonl",
      HDR "{'op':'irqs_off','cpu':0,'cycles':'0xffffffffffffffff'}\n", NULL,
      "t.jsonl:2: cycles: 18446744073709551615 is beyond 2^60 cycles" },

    /* ---- numbers ------------------------------------------------------------ */
    { "number beyond 2^64", "17 hex digits", "check t.jsonl", "t.jsonl",
      PRE "{'op':'access','cpu':0,'va':'0x10000000000000000','kind':'r'}\n", NULL,
      "t.jsonl:5: va: \"0x10000000000000000\" has more than 16 hex digits" },
    { "number beyond 2^64", "integer 2^64", "check t.jsonl", "t.jsonl",
      PRE "{'op':'access','cpu':0,'va':18446744073709551616,'kind':'r'}\n", NULL,
      "t.jsonl:5: va: 18446744073709551616 is above 2^53 (write large values as hex strings)" },
    { "number beyond 2^64", "integer 2^53 + 1 (not exact as a double)", "check t.jsonl",
      "t.jsonl", PRE "{'op':'access','cpu':0,'va':9007199254740993,'kind':'r'}\n", NULL,
      "t.jsonl:5: va: 9007199254740993 is above 2^53 (write large values as hex strings)" },
    { "number beyond 2^64", "model value 2^64", "run ok.jsonl -q --out out --machine ./m.json",
      "m.json", "{'sim':{'seed':18446744073709551616}}", NULL,
      "./m.json:1: sim.seed: 1.8446744073709552e+19 is too large (at most 2^53; use a "
      "\"0x...\" string)" },
    { "number beyond 2^64", "model hex string of 17 digits",
      "run ok.jsonl -q --out out --machine ./m.json", "m.json",
      "{'sim':{'seed':'0x10000000000000000'}}", NULL,
      "./m.json:1: sim.seed: expected a non-negative integer, got \"0x10000000000000000\"" },
    { "number beyond 2^64", "--set value 2^64",
      "run ok.jsonl -q --out out --set sim.seed=18446744073709551616", NULL, NULL, NULL,
      "--set: sim.seed: expected a non-negative integer, got \"18446744073709551616\"" },
    { "number beyond 2^64", "workload spec value 2^64", "gen s.json -o o.jsonl", "s.json",
      "{'workload':'jit','iterations':18446744073709551616}", NULL,
      "s.json: iterations: out of range" },
    { "number", "negative value", "check t.jsonl", "t.jsonl",
      PRE "{'op':'access','cpu':0,'va':-4096,'kind':'r'}\n", NULL,
      "t.jsonl:5: va: -4096 is negative" },
    { "number", "fraction", "check t.jsonl", "t.jsonl",
      PRE "{'op':'access','cpu':0,'va':4096.5,'kind':'r'}\n", NULL,
      "t.jsonl:5: va: 4096.5 is not an integer" },
    { "number", "decimal string", "check t.jsonl", "t.jsonl",
      PRE "{'op':'access','cpu':0,'va':'4096','kind':'r'}\n", NULL,
      "t.jsonl:5: va: \"4096\" is not a hex string (\"0x...\")" },
    { "number", "leading zero", "check t.jsonl", "t.jsonl",
      PRE "{'op':'access','cpu':0,'va':0123,'kind':'r'}\n", NULL,
      "t.jsonl:5: va: 0123 is not a valid JSON number" },
    { "NaN / infinity", "NaN in a trace", "check t.jsonl", "t.jsonl",
      PRE "{'op':'access','cpu':0,'va':NaN,'kind':'r'}\n", NULL,
      "t.jsonl:5: truncated or malformed JSON (column 29)" },
    { "NaN / infinity", "Infinity in a trace", "check t.jsonl", "t.jsonl",
      PRE "{'op':'access','cpu':0,'va':Infinity,'kind':'r'}\n", NULL,
      "t.jsonl:5: truncated or malformed JSON (column 29)" },
    { "NaN / infinity", "1e400 (overflows a double)", "check t.jsonl", "t.jsonl",
      PRE "{'op':'access','cpu':0,'va':1e400,'kind':'r'}\n", NULL,
      "t.jsonl:5: va: 1e400 is above 2^53 (write large values as hex strings)" },
    { "NaN / infinity", "1e400 in a model file",
      "run ok.jsonl -q --out out --machine ./m.json", "m.json",
      "{'tlb':{'stlb':{'entries':1e400}}}", NULL,
      "./m.json:1: tlb.stlb.entries: inf is too large (at most 2^53; use a \"0x...\" string)" },
    { "NaN / infinity", "NaN in a model file", "run ok.jsonl -q --out out --machine ./m.json",
      "m.json", "{'tlb':{'stlb':{'entries':NaN}}}", NULL, "./m.json:1: invalid JSON" },
    { "NaN / infinity", "--set nan", "run ok.jsonl -q --out out --set tlb.stlb.entries=nan",
      NULL, NULL, NULL, "--set: tlb.stlb.entries: expected a non-negative integer, got \"nan\"" },
    { "NaN / infinity", "--set inf", "run ok.jsonl -q --out out --set cpus=inf", NULL, NULL,
      NULL, "--set: cpus: expected a non-negative integer, got \"inf\"" },

    /* ---- duplicate keys --------------------------------------------------- */
    { "duplicate key", "header key twice", "check t.jsonl", "t.jsonl",
      "{'format':'tlbsim-trace','version':1,'cpus':2,'cpus':2}\n", NULL,
      "t.jsonl:1: cpus: duplicate key" },
    { "duplicate key", "op field twice (same value)", "check t.jsonl", "t.jsonl",
      PRE "{'op':'access','cpu':0,'cpu':0,'va':'0x7f0000000000','kind':'r'}\n", NULL,
      "t.jsonl:5: cpu: duplicate key" },
    { "duplicate key", "op key twice", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mark','op':'mark','label':'x'}\n", NULL, "t.jsonl:2: op: duplicate key" },
    { "duplicate key", "model member twice", "run ok.jsonl -q --out out --machine ./m.json",
      "m.json", "{'cpus':4,\n'cpus':4}", NULL, "./m.json:2: cpus: duplicate member" },
    { "duplicate key", "model key set twice through two spellings",
      "run ok.jsonl -q --out out --machine ./m.json", "m.json",
      "{'tlb':{'stlb.entries':64,\n'stlb':{'entries':64}}}", NULL,
      "./m.json:2: tlb.stlb.entries: set twice (first on line 1)" },
    { "duplicate key", "workload spec key twice", "gen s.json -o o.jsonl", "s.json",
      "{'workload':'jit','seed':1,'seed':2}", NULL, "s.json: seed: duplicate key" },

    /* ---- UTF-8 -------------------------------------------------------------- */
    { "invalid UTF-8", "overlong encoding C0 AF", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mark','label':'\xc0\xaf'}\n", NULL, "t.jsonl:2: invalid UTF-8 (column 23)" },
    { "invalid UTF-8", "UTF-16 surrogate ED A0 80", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mark','label':'\xed\xa0\x80'}\n", NULL, "t.jsonl:2: invalid UTF-8 (column 23)" },
    { "invalid UTF-8", "code point above U+10FFFF", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mark','label':'\xf4\x90\x80\x80'}\n", NULL,
      "t.jsonl:2: invalid UTF-8 (column 23)" },
    { "invalid UTF-8", "stray continuation byte outside a string", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mark',\x80'label':'a'}\n", NULL,
      "t.jsonl:2: invalid UTF-8 or stray byte (column 14)" },
    { "invalid UTF-8", "lone surrogate escape \\ud800", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mark','label':'a\\ud800'}\n", NULL,
      "t.jsonl:2: truncated or malformed JSON (column 24)" },
    { "invalid UTF-8", "header name", "check t.jsonl", "t.jsonl",
      "{'format':'tlbsim-trace','version':1,'cpus':2,'name':'\xff'}\n", NULL,
      "t.jsonl:1: invalid UTF-8 (column 55)" },
    { "invalid UTF-8", "model file", "run ok.jsonl -q --out out --machine ./m.json", "m.json",
      "{'cpus':4,\n'name':'\xc0\xaf'}", NULL, "./m.json:2: invalid UTF-8 (byte offset 19)" },
    { "invalid UTF-8", "--set name", "run ok.jsonl -q --out out --set name=a\xff", NULL, NULL,
      NULL, "--set: name: invalid UTF-8" },
    { "control bytes", "NUL byte in a trace line", "check t.jsonl", "t.jsonl", NULL,
      gen_nul_byte, "t.jsonl:2: control character 0x00 in a string (column 24)" },
    { "control bytes", "\\u0000 escape", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mark','label':'a\\u0000'}\n", NULL,
      "t.jsonl:2: \\u0000 is not allowed in strings (column 24)" },
    { "control bytes", "NUL byte in a model file",
      "run ok.jsonl -q --out out --machine ./m.json", "m.json", NULL, gen_model_nul,
      "./m.json:2: NUL byte in a model file" },

    /* ---- syntax and structure ---------------------------------------------- */
    { "syntax", "last line cut off", "check t.jsonl", "t.jsonl",
      PRE "{'op':'access','cpu':0,'va':'0x7f00", NULL,
      "t.jsonl:5: truncated or malformed JSON (column 30)" },
    { "syntax", "trailing characters after the object", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mark','label':'x'} x\n", NULL,
      "t.jsonl:2: malformed JSON: trailing characters (column 27)" },
    { "syntax", "a line that is an array", "check t.jsonl", "t.jsonl", HDR "[1,2]\n", NULL,
      "t.jsonl:2: the line is not a JSON object" },
    { "syntax", "empty file", "check t.jsonl", "t.jsonl", "", NULL,
      "t.jsonl: header: missing (no header line; the file is empty)" },
    { "syntax", "header missing", "check t.jsonl", "t.jsonl", "{'op':'mm_new','mm':1}\n", NULL,
      "t.jsonl:1: header: missing (the first line must be "
      "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":N})" },
    { "syntax", "second header", "check t.jsonl", "t.jsonl", HDR HDR, NULL,
      "t.jsonl:2: format: a second header line (the header must be the first line only)" },
    { "syntax", "unknown op", "check t.jsonl", "t.jsonl", HDR "{'op':'mmap','mm':1}\n", NULL,
      "t.jsonl:2: op: unknown op \"mmap\"" },
    { "syntax", "unknown field", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mm_new','mm':1,'pid':7}\n", NULL, "t.jsonl:2: pid: unknown field for mm_new" },
    { "syntax", "missing field", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mm_new','mm':1}\n{'op':'switch','cpu':0}\n", NULL,
      "t.jsonl:3: mm: missing (required by switch)" },
    { "syntax", "wrong type", "check t.jsonl", "t.jsonl", HDR "{'op':'mm_new','mm':'1'}\n",
      NULL, "t.jsonl:2: mm: expected an integer id, got a string" },
    { "syntax", "both t and gap", "check t.jsonl", "t.jsonl",
      HDR "{'op':'idle','cpu':0,'t':5,'gap':5}\n", NULL,
      "t.jsonl:2: gap: t and gap are exclusive (give one)" },
    { "syntax", "unsupported version", "check t.jsonl", "t.jsonl",
      "{'format':'tlbsim-trace','version':2,'cpus':2}\n", NULL,
      "t.jsonl:1: version: unsupported version 2 (this build reads version 1)" },

    /* ---- address-space lifetimes ------------------------------------------- */
    { "address space", "mm never created", "check t.jsonl", "t.jsonl",
      HDR "{'op':'switch','cpu':0,'mm':7}\n", NULL,
      "t.jsonl:2: mm 7: address space was never created" },
    { "address space", "mm used after exit", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mm_new','mm':1}\n{'op':'mm_exit','cpu':0,'mm':1}\n"
      "{'op':'switch','cpu':0,'mm':1}\n", NULL, "t.jsonl:4: mm 1: address space has exited" },
    { "address space", "mm_exit while a CPU runs it", "check t.jsonl", "t.jsonl",
      PRE "{'op':'mm_exit','cpu':1,'mm':1}\n", NULL,
      "t.jsonl:5: mm 1: address space is still running on cpu 0 (switch that cpu away first)" },
    { "address space", "mm id above 2^53", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mm_new','mm':9007199254740993}\n", NULL,
      "t.jsonl:2: mm: 9007199254740993 is above 2^53 (write large values as hex strings)" },

    /* ---- binary traces ------------------------------------------------------ */
    { "binary trace", "a flipped bit in a block", "check t.tlbt", "t.tlbt", NULL, gen_bin_crc,
      "t.tlbt:1: block: checksum mismatch in block 0 (records 1..4, byte offset 20): "
      "corrupted file" },
    { "binary trace", "end block missing (file cut short)", "check t.tlbt", "t.tlbt", NULL,
      gen_bin_truncated, "t.tlbt:5: end: truncated file (no end block after 4 records)" },
    { "binary trace", "bytes after the end block", "check t.tlbt", "t.tlbt", NULL,
      gen_bin_trailing, "t.tlbt:5: end: trailing data after the end block (byte offset 80)" },

    /* ---- compressed input (sim/io/stream.c) ------------------------------- */
    { "compressed input", "gzip trace cut short", "check t.jsonl.gz", "t.jsonl.gz", NULL,
      gen_gz_cut, "t.jsonl.gz:962: truncated gzip stream: unexpected end of file" },
    { "compressed input", "xz trace cut short", "check t.jsonl.xz", "t.jsonl.xz", NULL,
      gen_xz_cut, "t.jsonl.xz:794: truncated xz stream: unexpected end of file" },
    { "compressed input", "zstd trace cut short", "check t.jsonl.zst", "t.jsonl.zst", NULL,
      gen_zst_cut,
      "t.jsonl.zst: truncated zstd stream: unexpected end of file" },
    { "compressed input", "zstd content under a plain name, cut short (detected by content)",
      "run t.jsonl -q --out out", "t.jsonl", NULL, gen_zst_cut,
      "t.jsonl: truncated zstd stream: unexpected end of file" },
    { "compressed input", "gzip trace with a damaged CRC-32", "check t.jsonl.gz", "t.jsonl.gz",
      NULL, gen_gz_bad, "t.jsonl.gz: corrupt gzip data: incorrect data check" },
    { "compressed input", "xz trace with damaged data", "convert t.jsonl.xz o.tlbt",
      "t.jsonl.xz", NULL, gen_xz_bad,
      "t.jsonl.xz: corrupt xz data: compressed data is corrupt" },
    { "compressed input", "zstd trace with damaged data", "check t.jsonl.zst", "t.jsonl.zst",
      NULL, gen_zst_bad,
      "t.jsonl.zst: corrupt zstd data: Restored data doesn't match checksum" },
    { "compressed input", "gzip recording cut short", "import lackey r.txt.gz -o o.jsonl",
      "r.txt.gz", NULL, gen_lackey_gz_cut,
      "r.txt.gz:491: truncated gzip stream: unexpected end of file" },
    { "compressed input", "zstd trace expanding more than 1024 times past 32 MiB (a bomb)",
      "check t.jsonl.zst", "t.jsonl.zst", NULL, gen_zst_bomb,
      "t.jsonl.zst:588673: zstd data expands more than 1024 times (decompression bomb?); "
      "decompress it yourself if it is genuine" },

    /* ---- virtualization: EPT and KeyID bits ------------------------------- */
    { "virtualization", "ept_map on a machine without virt.ept", RUN, "t.jsonl",
      HDR "{'op':'ept_map','gpa':'0x0','len':'0x200000','page':'2m'}\n", NULL,
      "t.jsonl:2: op: ept_map needs a machine with virt.ept true (try --set virt.ept=true)" },
    { "virtualization", "guest-physical range outside the VM",
      RUN " --set virt.enabled=true --set virt.ept=true", "t.jsonl",
      HDR "{'op':'ept_map','gpa':'0x3fffffe00000','len':'0x400000','page':'2m'}\n", NULL,
      "t.jsonl:2: gpa: [0x3fffffe00000, 0x400000200000) is outside the VM's guest-physical "
      "memory [0, 0x400000000000)" },
    { "virtualization", "ept_map over a mapped range",
      RUN " --set virt.enabled=true --set virt.ept=true", "t.jsonl",
      HDR "{'op':'ept_map','gpa':'0x0','len':'0x200000','page':'2m'}\n"
      "{'op':'ept_map','gpa':'0x1000','len':'0x1000','page':'4k'}\n", NULL,
      "t.jsonl:3: gpa: [0x1000, 0x2000) overlaps a present EPT mapping (map it before the "
      "guest touches it, or unmap it first)" },
    { "virtualization", "unaligned gpa", "check t.jsonl", "t.jsonl",
      HDR "{'op':'ept_map','gpa':'0x1000','len':'0x200000','page':'2m'}\n", NULL,
      "t.jsonl:2: gpa: 0x1000 is not aligned to the 2m page" },
    { "virtualization", "virt.ept without virt.enabled", "run ok.jsonl -q --out out --set virt.ept=true",
      NULL, NULL, NULL,
      "virt.ept: needs virt.enabled true (EPT translates a guest's memory)" },
    { "virtualization", "KeyID bits leaving fewer than 36 physical bits",
      "run ok.jsonl -q --out out --set paging.keyid_bits=11", NULL, NULL, NULL,
      "paging.keyid_bits: 11 KeyID bits of 46-bit MAXPHYADDR leave 35 physical address bits, "
      "fewer than 36" },
    { "virtualization", "KeyID bits in a model file", "run ok.jsonl -q --out out --machine ./m.json",
      "m.json", "{'paging':{'maxphyaddr':40,'keyid_bits':6}}", NULL,
      "./m.json:1: paging.keyid_bits: 6 KeyID bits of 40-bit MAXPHYADDR leave 34 physical "
      "address bits, fewer than 36" },

    { "virtualization", "64 GiB of frames with KeyID bits leaving 36 address bits",
      "run t.jsonl -q --out out --set paging.maxphyaddr=40 --set paging.keyid_bits=4 "
      "--set limits.max_frames=0x10000000", "t.jsonl",
      HDR "{'op':'mm_new','mm':1}\n"
      "{'op':'map','mm':1,'va':'0x100000000000','len':'0x1000000000','page':'1g','prot':'rw'}\n",
      NULL, "t.jsonl:3: va: frames: MAXPHYADDR exhausted (16777216 frames)" },
    { "virtualization", "a KeyID on a machine without KeyID bits", RUN, "t.jsonl",
      HDR "{'op':'mm_new','mm':1}\n"
      "{'op':'map','mm':1,'va':'0x1000','len':'0x1000','page':'4k','prot':'rw','keyid':5}\n",
      NULL, "t.jsonl:3: keyid: KeyID 5 needs 3 KeyID bits; the machine has none (try --set "
      "paging.keyid_bits=3)" },
    { "virtualization", "a KeyID beyond paging.keyid_bits",
      RUN " --set paging.keyid_bits=3", "t.jsonl",
      HDR "{'op':'mm_new','mm':1}\n"
      "{'op':'map','mm':1,'va':'0x1000','len':'0x1000','page':'4k','prot':'rw','keyid':7}\n"
      "{'op':'map','mm':1,'va':'0x2000','len':'0x1000','page':'4k','prot':'rw','keyid':8}\n",
      NULL, "t.jsonl:4: keyid: KeyID 8 needs 4 KeyID bits; the machine's paging.keyid_bits 3 "
      "allow KeyIDs 0..7" },
    { "virtualization", "a KeyID above 16 bits", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mm_new','mm':1}\n"
      "{'op':'map','mm':1,'va':'0x1000','len':'0x1000','page':'4k','prot':'rw',"
      "'keyid':65536}\n", NULL,
      "t.jsonl:3: keyid: 65536 is above 65535, the largest KeyID (paging.keyid_bits is at "
      "most 16)" },
    { "virtualization", "a KeyID as a hex string", "check t.jsonl", "t.jsonl",
      HDR "{'op':'mm_new','mm':1}\n"
      "{'op':'map','mm':1,'va':'0x1000','len':'0x1000','page':'4k','prot':'rw',"
      "'keyid':'0x5'}\n", NULL, "t.jsonl:3: keyid: expected an integer, got a string" },
    { "virtualization", "a KeyID on an op other than map", "check t.jsonl", "t.jsonl",
      PRE "{'op':'protect','cpu':0,'mm':1,'va':'0x7f0000000000','len':'0x1000','prot':'r',"
      "'keyid':1}\n", NULL, "t.jsonl:5: keyid: unknown field for protect" },

    /* ---- machine models and --set ---------------------------------------- */
    { "model file", "unknown key", "run ok.jsonl -q --out out --machine ./m.json", "m.json",
      "{'tlb':{'l3':{'entries':4}}}", NULL,
      "./m.json:1: tlb.l3: unknown key (see `tlbsim run --help-keys` or "
      "docs/models.md)" },
    { "model file", "wrong type", "run ok.jsonl -q --out out --machine ./m.json", "m.json",
      "{'cpus':'four'}", NULL, "./m.json:1: cpus: expected a non-negative integer, got a string" },
    { "model file", "geometry that does not divide", "run ok.jsonl -q --out out --machine ./m.json",
      "m.json", "{'tlb':{'stlb':{'entries':1536,'ways':7}}}", NULL,
      "./m.json:1: tlb.stlb: 1536 entries cannot be split into sets of 7 ways" },
    { "model file", "text after the object", "run ok.jsonl -q --out out --machine ./m.json",
      "m.json", "{'cpus':4} x", NULL, "./m.json:1: text after the JSON object" },
    { "model file", "not an object", "run ok.jsonl -q --out out --machine ./m.json", "m.json",
      "[1]", NULL, "./m.json:1: a model file is one JSON object, got an array" },
    { "model file", "truncated", "run ok.jsonl -q --out out --machine ./m.json", "m.json",
      "{'cpus':4,\n'tlb':{", NULL, "./m.json:2: invalid JSON: unexpected end of file (truncated?)" },
    { "--set", "no '='", "run ok.jsonl -q --out out --set cpus", NULL, NULL, NULL,
      "--set: expected KEY=VALUE, got 'cpus'" },
    { "--set", "unknown key", "run ok.jsonl -q --out out --set tlb.l3.entries=4", NULL, NULL,
      NULL, "--set: unknown key 'tlb.l3.entries' (see `tlbsim run --help-keys`)" },
    { "--set", "empty value", "run ok.jsonl -q --out out --set cpus=", NULL, NULL, NULL,
      "--set: cpus: expected a non-negative integer, got \"\"" },
    { "--set", "negative value", "run ok.jsonl -q --out out --set tlb.stlb.entries=-1", NULL,
      NULL, NULL, "--set: tlb.stlb.entries: expected a non-negative integer, got \"-1\"" },
    { "--set", "bad enum", "run ok.jsonl -q --out out --set tlb.replacement=fifo", NULL, NULL,
      NULL, "--set: tlb.replacement: expected lru, plru or random, got \"fifo\"" },
    { "--set", "ways that do not divide entries", "run ok.jsonl -q --out out --set "
      "tlb.l1d.4k.ways=3", NULL, NULL, NULL,
      "tlb.l1d.4k: 64 entries cannot be split into sets of 3 ways" },

    /* ---- importers ---------------------------------------------------------- */
    { "importer", "lackey line that is not lackey (strict)",
      "import lackey r.txt -o o.jsonl --strict", "r.txt", "I  04000000,3\nX 1234\n", NULL,
      "r.txt:2: not a lackey line (expected I, L, S or M)" },
    { "importer", "ftrace input with no event", "import ftrace r.txt -o o.jsonl", "r.txt",
      "hello\n", NULL,
      "r.txt: no trace events found (expected trace-cmd report, ftrace or perf script text)" },
    { "importer", "unknown format", "import ktrace r.txt -o o.jsonl", "r.txt", "x\n", NULL,
      "import: unknown format \"ktrace\" (ftrace, lackey, champsim)" },
    { "importer", "ChampSim trace cut inside a record", "import champsim r.bin -o o.jsonl",
      "r.bin", "x", NULL, "r.bin: record 1: truncated (1 of 64 bytes)" },
    { "importer", "ftrace-only option on a lackey recording",
      "import lackey r.txt -o o.jsonl --pid 5", "r.txt", "I  04000000,3\n", NULL,
      "--pid, --comm and --tgid-map are for ftrace recordings" },

    /* ---- files that are not files ---------------------------------------- */
    { "not a file", "trace is a directory (check)", "check d", NULL, NULL, NULL,
      "d: is a directory, not a trace file" },
    { "not a file", "trace is a directory (run)", "run d -q --out out", NULL, NULL, NULL,
      "d: is a directory, not a trace file" },
    { "not a file", "convert input is a directory", "convert d o.tlbt", NULL, NULL, NULL,
      "d: is a directory, not a trace file" },
    { "not a file", "model is a directory", "run ok.jsonl -q --out out --machine ./d", NULL,
      NULL, NULL, "./d: is a directory, not a model file" },
    { "not a file", "import input is a directory", "import ftrace d -o o.jsonl", NULL, NULL,
      NULL, "d: is a directory, not a recording" },
    { "not a file", "workload spec is a directory", "gen d -o o.jsonl", NULL, NULL, NULL,
      "d: is a directory, not a workload spec" },
    { "unreadable", "trace does not exist", "check none.jsonl", NULL, NULL, NULL,
      "none.jsonl: cannot open: No such file or directory" },
    { "unreadable", "model does not exist", "run ok.jsonl -q --out out --machine ./none.json",
      NULL, NULL, NULL, "./none.json: no such model file" },
    { "unreadable", "shipped model name unknown", "run ok.jsonl -q --out out --machine nehalem",
      NULL, NULL, NULL,
      "model 'nehalem' not found (looked in $TLBSIM_MODELS, <exe>/../models, ./models, "
      "../models); pass --machine FILE or set TLBSIM_MODELS" },
    { "unreadable", "recording does not exist", "import lackey none.txt -o o.jsonl", NULL,
      NULL, NULL, "none.txt: cannot open: No such file or directory" },

    /* ---- outputs that cannot be written ------------------------------------ */
    { "unwritable output", "--out under a regular file", "run ok.jsonl -q --out f/out", "f",
      "x", NULL, "f/out: --out: cannot create directory: Not a directory" },
    { "unwritable output", "--out is a regular file", "run ok.jsonl -q --out f", "f", "x",
      NULL, "f: --out: not a directory" },
    { "unwritable output", "convert output under a regular file", "convert ok.jsonl f/o.tlbt",
      "f", "x", NULL, "f/o.tlbt.tmp: cannot create: Not a directory" },
    { "unwritable output", "convert output is a directory", "convert ok.jsonl d", NULL, NULL,
      NULL, "d.tmp: cannot rename to d: Is a directory" },
    { "unwritable output", "import output under a regular file",
      "import lackey r.txt -o f/o.jsonl", "f", "x", NULL,
      "f/o.jsonl.tmp: cannot create: Not a directory" },
    { "unwritable output", "gen output under a regular file", "gen s.json -o f/o.jsonl", "f",
      "x", NULL, "f/o.jsonl.tmp: cannot create: Not a directory" },

    /* ---- usage ------------------------------------------------------------ */
    { "usage", "unknown command", "simulate t.jsonl", NULL, NULL, NULL,
      "unknown command 'simulate' (see `tlbsim --help`)" },
    { "usage", "record without a program", "record -o o.jsonl", NULL, NULL, NULL,
      "record: no program to run (tlbsim record [-o OUT] [--cpus N] -- PROG [ARGS...])" },
    { "usage", "run without a trace", "run", NULL, NULL, NULL,
      "run: missing TRACE (see `tlbsim run --help`)" },
    { "usage", "unknown policy", "run ok.jsonl -q --out out --policy linux,bsd", NULL, NULL,
      NULL, "--policy: unknown policy 'bsd' (see `tlbsim policies`)" },
    { "usage", "--jobs 0", "run ok.jsonl -q --out out --jobs 0", NULL, NULL, NULL,
      "--jobs: expected an integer >= 1, got '0'" },
    { "usage", "--interval not a number", "run ok.jsonl -q --out out --interval 1e5", NULL,
      NULL, NULL, "--interval: expected an integer >= 1, got '1e5'" },
};

/* ===== running one case ================================================= */

/* Write the case's input: ' becomes ", except in generated inputs. */
static void write_input(const struct cli_ws *ws, const struct bad_case *c)
{
    if (c->gen) {
        c->gen(ws, c->file);
    } else if (c->file) {
        char *s = strdup(c->text);
        cr_assert(s);
        for (char *p = s; *p; p++)
            if (*p == '\'')
                *p = '"';
        cli_write_str(ws, c->file, s);
        free(s);
    }
}

/* Run one case in a fresh workspace; fills r and reports whether the
 * command left any new file (the 'out' directory may exist, empty). */
static void run_case(const struct bad_case *c, struct cli_res *r, char *leftover, size_t len)
{
    struct cli_ws ws;
    char args[512], before[4096], after[4096], p[PATH_MAX];
    const char *argv[32];

    cli_ws_init(&ws);
    cli_write_str(&ws, "ok.jsonl",
                  "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
                  "{\"op\":\"mm_new\",\"mm\":1}\n");
    cli_write_str(&ws, "s.json", "{\"workload\":\"jit\",\"iterations\":2}");
    cli_write_str(&ws, "r.txt", "I  04000000,3\n");
    mkdir(cli_path(&ws, "d", p, sizeof(p)), 0755);
    write_input(&ws, c);
    cli_list_dir(ws.dir, before, sizeof(before));
    snprintf(args, sizeof(args), "%s", c->args);
    cli_split_args(args, argv, 32);
    cli_run(&ws, argv, 300, r);
    rmdir(cli_path(&ws, "out", p, sizeof(p)));  /* only if empty */
    cli_list_dir(ws.dir, after, sizeof(after));
    leftover[0] = 0;
    if (strcmp(before, after))
        snprintf(leftover, len, "before:\n%safter:\n%s", before, after);
    cli_ws_done(&ws);
}

/* Criterion workers are fresh processes: parameters must not hold pointers
 * (the image may sit elsewhere), so the parameter is an index into cases[]. */
ParameterizedTestParameters(regress, bad_input)
{
    static size_t idx[sizeof(cases) / sizeof(cases[0])];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(size_t *i, regress, bad_input, .timeout = 600)
{
    const struct bad_case *c = &cases[*i];
    struct cli_res *r = malloc(sizeof(*r));
    char want[1024], leftover[8300];

    cr_assert(r);
    run_case(c, r, leftover, sizeof(leftover));
    snprintf(want, sizeof(want), "tlbsim: %s\n", c->expect);
    cr_expect_eq(r->status, 2, "[%s: %s] `tlbsim %s`: exit %d, "
                 "stderr: %s", c->cls, c->what, c->args, r->status, r->err);
    cr_expect_eq(cli_lines(r->err), 1, "[%s: %s] stderr is not one line: %s", c->cls, c->what,
                 r->err);
    cr_expect_str_eq(r->err, want, "[%s: %s] `tlbsim %s`:\n  got:  %s  want: %s", c->cls,
                     c->what, c->args, r->err, want);
    cr_expect_str_empty(leftover, "[%s: %s] the failed command left files:\n%s", c->cls,
                        c->what, leftover);
    free(r);
}

/* ===== the documentation table ============================================= */

/* s as inline code; quotes: ' stands for " (a case's text). */
static void md_code(FILE *f, const char *s, size_t max, bool quotes)
{
    size_t n = 0;

    fputc('`', f);
    for (; *s && n < max; s++, n++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\'' && quotes)
            fputc('"', f);
        else if (ch == '|')
            fputs("\\|", f);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch < 0x20 || ch >= 0x80)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
    if (*s)
        fputs("...", f);
    fputc('`', f);
}

Test(regress, table, .timeout = 1200)
{
    const char *path = getenv("TLBSIM_BAD_INPUT_TABLE");
    struct cli_res *r;
    FILE *f;

    if (!path)
        return;                         /* only when asked to write the docs table */
    f = fopen(path, "w");
    r = malloc(sizeof(*r));
    cr_assert(f && r);
    fputs("| class | example | command | message on stderr | exit |\n"
          "|---|---|---|---|---|\n", f);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_case *c = &cases[i];
        char leftover[8300], line[4096], msg[8192];

        run_case(c, r, leftover, sizeof(leftover));
        snprintf(msg, sizeof(msg), "%s", r->err);
        msg[strcspn(msg, "\n")] = 0;
        fprintf(f, "| %s | %s", c->cls, c->what);
        if (c->text && c->file && strchr(c->args, '.') && strstr(c->args, c->file)) {
            fputs(": ", f);
            md_code(f, cli_last_line(c->text, line, sizeof(line)), 100, true);
        }
        fputs(" | ", f);
        md_code(f, c->args, 200, false);
        fputs(" | ", f);
        md_code(f, msg, 300, false);
        fprintf(f, " | %d |\n", r->status);
    }
    fclose(f);
    free(r);
}

/* ===== the fuzzers' regression corpus ======================================== */

/* The tlbsim command that feeds a regression input to the same parser as
 * the fuzz target did. */
static int corpus_argv(const char *target, const char *file, const char **argv,
                       char *sets, size_t setlen)
{
    int n = 0;

    if (!strcmp(target, "trace_jsonl") || !strcmp(target, "trace_bin")) {
        argv[n++] = "check";
        argv[n++] = file;
    } else if (!strcmp(target, "sim")) {
        /* one run per policy (sets holds the name): a run stops at its first error */
        argv[n++] = "run";
        argv[n++] = file;
        argv[n++] = "-q";
        argv[n++] = "--check";
        argv[n++] = "--policy";
        argv[n++] = sets;
        argv[n++] = "--out";
        argv[n++] = "out";
    } else if (!strncmp(target, "import_", 7)) {
        argv[n++] = "import";
        argv[n++] = !strcmp(target, "import_lackey_sys") ? "lackey" : target + 7;
        argv[n++] = file;
        argv[n++] = "-o";
        argv[n++] = "o.jsonl";
    } else if (!strcmp(target, "model")) {
        argv[n++] = "run";
        argv[n++] = "ok.jsonl";
        argv[n++] = "-q";
        argv[n++] = "--out";
        argv[n++] = "out";
        argv[n++] = "--machine";
        argv[n++] = file;
    } else if (!strcmp(target, "set")) {
        /* each line of the input is one --set argument */
        char *text = cli_slurp(file, NULL), *save = NULL;
        argv[n++] = "run";
        argv[n++] = "ok.jsonl";
        argv[n++] = "-q";
        argv[n++] = "--out";
        argv[n++] = "out";
        snprintf(sets, setlen, "%s", text ? text : "");
        free(text);
        for (char *l = strtok_r(sets, "\n", &save); l && n < 60; l = strtok_r(NULL, "\n", &save)) {
            argv[n++] = "--set";
            argv[n++] = l;
        }
    } else if (!strcmp(target, "wlspec")) {
        argv[n++] = "gen";
        argv[n++] = file;
        argv[n++] = "-o";
        argv[n++] = "o.jsonl";
    } else {
        return -1;
    }
    argv[n] = NULL;
    return n;
}

Test(regress, fuzz_corpus, .timeout = 1200)
{
    static const char *const targets[] = {
        "trace_jsonl", "trace_bin", "import_ftrace", "import_lackey", "import_lackey_sys",
        "import_champsim", "model", "set", "wlspec", "sim",
    };
    struct cli_res *r = malloc(sizeof(*r));
    char *sets = malloc(65536), policies[32][32];
    int total = 0, nr_pol = 0;

    cr_assert(r && sets);
    {
        static const char *const argv[] = { "policies", NULL };
        struct cli_ws ws;
        char *save = NULL;

        cli_ws_init(&ws);
        cli_run(&ws, argv, 60, r);
        cli_ws_done(&ws);
        cr_assert_eq(r->status, 0);
        for (char *l = strtok_r(r->out, "\n", &save); l && nr_pol < 32;
             l = strtok_r(NULL, "\n", &save))
            if (sscanf(l, "%31s", policies[nr_pol]) == 1)
                nr_pol++;
        cr_assert_gt(nr_pol, 0);
    }
    for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
        char dir[PATH_MAX];
        struct dirent **de;
        int n;

        snprintf(dir, sizeof(dir), "fuzz/regress/%s", targets[t]);
        if ((n = scandir(dir, &de, NULL, alphasort)) < 0)
            continue;
        for (int i = 0; i < n; i++) {
            char file[PATH_MAX];
            const char *argv[64];
            struct cli_ws ws;

            if (de[i]->d_name[0] == '.' || !realpath(dir, file)) {
                free(de[i]);
                continue;
            }
            snprintf(file + strlen(file), sizeof(file) - strlen(file), "/%s", de[i]->d_name);
            free(de[i]);
            cli_ws_init(&ws);
            cli_write_str(&ws, "ok.jsonl",
                          "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
                          "{\"op\":\"mm_new\",\"mm\":1}\n");
            /* the sim target runs under every policy, the others once */
            bool is_sim = !strcmp(targets[t], "sim");
            for (int p = 0; p < (is_sim ? nr_pol : 1); p++) {
                if (is_sim)
                    snprintf(sets, 65536, "%s", policies[p]);
                cr_assert_geq(corpus_argv(targets[t], file, argv, sets, 65536), 0);
                cli_run(&ws, argv, 300, r);
                cr_expect(r->status == 0 || r->status == 2, "%s/%s%s%s: exit %d (want 0 or 2): "
                          "%s", targets[t], strrchr(file, '/') + 1, is_sim ? " --policy " : "",
                          is_sim ? sets : "", r->status, r->err);
                if (r->status == 2)
                    cr_expect_eq(cli_lines(r->err), 1, "%s/%s: stderr is not one line: %s",
                                 targets[t], strrchr(file, '/') + 1, r->err);
            }
            cli_ws_done(&ws);
            total++;
        }
        free(de);
    }
    free(sets);
    free(r);
    cr_log_info("replayed %d regression inputs", total);
}
