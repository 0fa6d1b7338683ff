/* tests/test_unix.c - `-` for stdin/stdout, compressed inputs and outputs,
 * --version, --help, --progress and summary.json, end to end.
 *
 *   stream_*        the stream module in process: every codec round-trips
 *                   (also concatenated), detection ignores the name, the
 *                   bomb guard's limits at and one past the limit.
 *   bomb_refused    a zstd trace expanding past STREAM_MAX_RATIO: one line,
 *                   exit 2.
 *   corrupt_*, truncated_*   damaged .gz/.xz/.zst traces and recordings (also
 *                   through a pipe): one line naming the file, exit 2.
 *   run_*, check_*, convert_*, import_*, gen_*   each command through a pipe
 *                   and through each compressed form gives the bytes of the
 *                   plain-file run (only the input's name may differ).
 *
 * Runs with cwd = tests/ and TLBSIM = ../build/tlbsim (see clirun.h).
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../models/machine.h"
#include "../sim/io/stream.h"
#include "clirun.h"

static const enum stream_codec codecs[] = { STREAM_GZIP, STREAM_XZ, STREAM_ZSTD };
static const char *const suffix[] = { "", ".gz", ".xz", ".zst" };

/* ===== helpers ============================================================ */

/* Write data compressed with c to path (appending when append). */
static void write_codec(const char *path, const void *data, size_t n, enum stream_codec c,
                        bool append)
{
    struct sim_err err = { 0 };
    struct stream_w *w;
    int fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);

    cr_assert(fd >= 0, "cannot create %s", path);
    cr_assert_eq(stream_w_open(fd, c, &w, &err), 0, "%s", err.msg);
    cr_assert_eq(stream_w_write(w, data, n, &err), 0, "%s", err.msg);
    cr_assert_eq(stream_w_finish(w, &err), 0, "%s", err.msg);
    stream_w_free(w);
    cr_assert_eq(close(fd), 0);
}

/* The decompressed contents of path (malloc'd, NUL-terminated). */
static char *read_codec(const char *path, size_t *n, enum stream_codec *c)
{
    struct sim_err err = { 0 };
    struct stream *s;
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    long k;

    cr_assert_eq(stream_open(path, "file", &s, &err), 0, "%s", err.msg);
    for (;;) {
        if (cap - len < 65536 + 1)
            cr_assert(buf = realloc(buf, cap *= 2));
        if ((k = stream_read(s, buf + len, 65536, &err)) <= 0)
            break;
        len += (size_t)k;
    }
    cr_assert_eq(k, 0, "%s: %s", path, err.msg);
    if (c)
        *c = stream_codec(s);
    stream_close(s);
    buf[len] = 0;
    if (n)
        *n = len;
    return buf;
}

/* ws/dst = ws/src compressed with c. */
static void compress_ws(const struct cli_ws *ws, const char *src, const char *dst,
                        enum stream_codec c)
{
    char ps[PATH_MAX], pd[PATH_MAX];
    size_t n;
    char *data = cli_slurp(cli_path(ws, src, ps, sizeof(ps)), &n);

    cr_assert(data, "%s missing", ps);
    write_codec(cli_path(ws, dst, pd, sizeof(pd)), data, n, c, false);
    free(data);
}

static void copy_repo(const struct cli_ws *ws, const char *rel, const char *name)
{
    char p[PATH_MAX];
    size_t n;
    char *data = cli_slurp(cli_repo(rel, p, sizeof(p)), &n);

    cr_assert(data, "%s missing", rel);
    cli_write(ws, name, data, n);
    free(data);
}

static void mkdir_ws(const struct cli_ws *ws, const char *name)
{
    char p[PATH_MAX];
    cr_assert_eq(mkdir(cli_path(ws, name, p, sizeof(p)), 0755), 0);
}

static char *slurp_ws(const struct cli_ws *ws, const char *name, size_t *n)
{
    char p[PATH_MAX];
    char *s = cli_slurp(cli_path(ws, name, p, sizeof(p)), n);

    cr_assert(s, "%s missing", p);
    return s;
}

/* ws/a and ws/b hold the same bytes (decompressed when compressed). */
static void expect_same_file(const struct cli_ws *ws, const char *a, const char *b)
{
    char pa[PATH_MAX], pb[PATH_MAX];
    size_t na, nb;
    char *x = read_codec(cli_path(ws, a, pa, sizeof(pa)), &na, NULL);
    char *y = read_codec(cli_path(ws, b, pb, sizeof(pb)), &nb, NULL);

    cr_expect(na == nb && !memcmp(x, y, na), "%s (%zu bytes) differs from %s (%zu bytes)",
              b, nb, a, na);
    free(x);
    free(y);
}

/* ws/name is compressed with c (by content). */
static void expect_codec(const struct cli_ws *ws, const char *name, enum stream_codec c)
{
    char p[PATH_MAX];
    enum stream_codec got;

    free(read_codec(cli_path(ws, name, p, sizeof(p)), NULL, &got));
    cr_expect_eq(got, c, "%s written as %s", name, stream_codec_name(got));
}

/* s without its first line (a trace header naming the input). */
static const char *after_first_line(const char *s)
{
    const char *nl = strchr(s, '\n');
    return nl ? nl + 1 : s;
}


/* A workspace (with the default trace's first `lines` lines as t.jsonl
 * when lines > 0) and a result buffer; end() releases both. */
static struct cli_res *begin(struct cli_ws *ws, unsigned lines);
static void end(struct cli_ws *ws, struct cli_res *r)
{
    cli_ws_done(ws);
    free(r);
}

/* Run argv in ws and require exit status 0. */
static void run_ok(const struct cli_ws *ws, const char *const *argv, struct cli_res *r)
{
    cli_run(ws, argv, 300, r);
    cr_assert_eq(r->status, 0, "%s %s: exit %d: %s", argv[0], argv[1], r->status, r->err);
}

static void run_stdin_ok(const struct cli_ws *ws, const char *const *argv, const char *in,
                         struct cli_res *r)
{
    cli_run_stdin(ws, argv, in, 300, r);
    cr_assert_eq(r->status, 0, "%s %s <%s: exit %d: %s", argv[0], argv[1], in, r->status, r->err);
}

/* ===== the stream module ================================================== */

Test(unix, stream_roundtrip_every_codec)
{
    struct cli_ws ws;
    char p[PATH_MAX], *text = malloc(300000);
    size_t n = 0;

    cr_assert(text);
    for (unsigned i = 0; n < 299000; i++)      /* compressible, not trivial */
        n += (size_t)snprintf(text + n, 300000 - n, "{\"op\":\"access\",\"va\":\"0x%x\"}\n",
                              i * 2654435761u);
    cli_ws_init(&ws);
    cli_path(&ws, "data.txt", p, sizeof(p));    /* no suffix: detected by content */
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
        enum stream_codec c;
        size_t got;

        write_codec(p, text, n, codecs[i], false);
        char *back = read_codec(p, &got, &c);
        cr_expect_eq(c, codecs[i], "%s detected as %s", stream_codec_name(codecs[i]),
                     stream_codec_name(c));
        cr_expect(got == n && !memcmp(back, text, n), "%s: %zu bytes back of %zu",
                  stream_codec_name(codecs[i]), got, n);
        free(back);
        write_codec(p, text, n, codecs[i], true);       /* two members / streams / frames */
        back = read_codec(p, &got, NULL);
        cr_expect(got == 2 * n && !memcmp(back, text, n) && !memcmp(back + n, text, n),
                  "%s concatenated: %zu bytes back of %zu", stream_codec_name(codecs[i]),
                  got, 2 * n);
        free(back);
    }
    write_codec(p, text, n, STREAM_PLAIN, false);
    enum stream_codec c;
    free(read_codec(p, NULL, &c));
    cr_expect_eq(c, STREAM_PLAIN);
    cli_ws_done(&ws);
    free(text);
}

Test(unix, stream_expansion_limit)
{
    u64 k = STREAM_RATIO_FLOOR / STREAM_MAX_RATIO + 1;  /* k * ratio is past the floor */

    cr_expect(stream_expansion_ok(1, STREAM_RATIO_FLOOR), "at the floor");
    cr_expect(!stream_expansion_ok(1, STREAM_RATIO_FLOOR + 1), "one past the floor, ratio huge");
    cr_expect(stream_expansion_ok(k, k * STREAM_MAX_RATIO), "exactly at the ratio");
    cr_expect(!stream_expansion_ok(k, k * STREAM_MAX_RATIO + 1), "one byte past the ratio");
}

Test(unix, stream_codec_by_suffix)
{
    cr_expect_eq(stream_codec_for_name("a.jsonl.gz"), STREAM_GZIP);
    cr_expect_eq(stream_codec_for_name("a.tlbt.xz"), STREAM_XZ);
    cr_expect_eq(stream_codec_for_name("dir.zst/a.jsonl.zst"), STREAM_ZSTD);
    cr_expect_eq(stream_codec_for_name("a.jsonl"), STREAM_PLAIN);
    cr_expect_eq(stream_codec_for_name(".gz"), STREAM_PLAIN);
}

/* ===== bad compressed input =============================================== */

/* A trace of about `bytes` bytes of identical access lines. */
static char *repetitive_trace(size_t bytes, size_t *n)
{
    static const char head[] =
        "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":1}\n"
        "{\"op\":\"mm_new\",\"mm\":1}\n"
        "{\"op\":\"map\",\"mm\":1,\"va\":\"0x1000\",\"len\":\"0x1000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
        "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n";
    static const char line[] = "{\"op\":\"access\",\"cpu\":0,\"va\":\"0x1000\",\"kind\":\"r\"}\n";
    char *s = malloc(bytes + sizeof(head) + sizeof(line));
    size_t len = sizeof(head) - 1;

    cr_assert(s);
    memcpy(s, head, len);
    while (len < bytes) {
        memcpy(s + len, line, sizeof(line) - 1);
        len += sizeof(line) - 1;
    }
    *n = len;
    return s;
}

Test(unix, bomb_refused, .timeout = 300)
{
    static const char *const argv[] = { "check", "bomb.jsonl.zst", NULL };
    struct cli_res *r = malloc(sizeof(*r));
    struct cli_ws ws;
    struct stat st;
    char p[PATH_MAX];
    size_t n;
    char *text = repetitive_trace(STREAM_RATIO_FLOOR + (8u << 20), &n);

    cr_assert(r);
    cli_ws_init(&ws);
    write_codec(cli_path(&ws, "bomb.jsonl.zst", p, sizeof(p)), text, n, STREAM_ZSTD, false);
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_gt((u64)n, (u64)st.st_size * STREAM_MAX_RATIO,
                 "the test input expands only %zu / %lld times", n, (long long)st.st_size);
    cli_run(&ws, argv, 300, r);
    cr_expect_eq(r->status, 2, "exit %d: %s", r->status, r->err);
    cr_expect_eq(cli_lines(r->err), 1, "%s", r->err);
    cr_expect(strstr(r->err, "tlbsim: bomb.jsonl.zst:") == r->err &&
              strstr(r->err, "zstd data expands more than 1024 times (decompression bomb?)"),
              "%s", r->err);
    cli_ws_done(&ws);
    free(text);
    free(r);
}

static struct cli_res *begin(struct cli_ws *ws, unsigned lines)
{
    struct cli_res *r = malloc(sizeof(*r));

    cr_assert(r);
    cli_ws_init(ws);
    if (lines)
        cli_write_default_head(ws, "t.jsonl", lines);
    return r;
}

/* Run argv (with stdin from in_pipe when not NULL) and expect one line
 * starting with `start` and holding `has`, exit 2. */
static void expect_one_line(const struct cli_ws *ws, const char *const *argv, const char *in_pipe,
                            const char *start, const char *has)
{
    struct cli_res *r = malloc(sizeof(*r));

    cr_assert(r);
    if (in_pipe)
        cli_run_stdin(ws, argv, in_pipe, 120, r);
    else
        cli_run(ws, argv, 120, r);
    cr_expect_eq(r->status, 2, "%s %s: exit %d: %s", argv[0], argv[1], r->status, r->err);
    cr_expect_eq(cli_lines(r->err), 1, "%s", r->err);
    cr_expect(strncmp(r->err, start, strlen(start)) == 0 && strstr(r->err, has),
              "want \"%s...%s\", got: %s", start, has, r->err);
    free(r);
}

Test(unix, truncated_streams, .timeout = 300)
{
    struct cli_ws ws;

    cli_ws_init(&ws);
    cli_write_default_head(&ws, "t.jsonl", 4000);
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
        char name[64], want[128], has[128], p[PATH_MAX];
        size_t n;
        const char *cname = stream_codec_name(codecs[i]);

        snprintf(name, sizeof(name), "t.jsonl%s", suffix[codecs[i]]);
        compress_ws(&ws, "t.jsonl", name, codecs[i]);
        char *z = slurp_ws(&ws, name, &n);
        cli_write(&ws, name, z, n / 2);                 /* cut in the middle */
        free(z);
        snprintf(want, sizeof(want), "tlbsim: %s:", name);
        snprintf(has, sizeof(has), ": truncated %s stream: unexpected end of file", cname);
        const char *check[] = { "check", name, NULL };
        expect_one_line(&ws, check, NULL, want, has);
        const char *run[] = { "run", name, "-q", "--out", "o", NULL };
        expect_one_line(&ws, run, NULL, want, has);
        const char *pipe_check[] = { "check", "-", NULL };
        expect_one_line(&ws, pipe_check, name, "tlbsim: <stdin>:", has);
        cr_expect(access(cli_path(&ws, "o/summary.csv", p, sizeof(p)), F_OK) != 0,
                  "a failed run wrote outputs");
    }
    cli_ws_done(&ws);
}

Test(unix, corrupt_streams, .timeout = 300)
{
    struct cli_ws ws;

    cli_ws_init(&ws);
    cli_write_default_head(&ws, "t.jsonl", 4000);
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
        char name[64], want[128], has[128];
        size_t n;

        snprintf(name, sizeof(name), "t.jsonl%s", suffix[codecs[i]]);
        snprintf(want, sizeof(want), "tlbsim: %s:", name);
        compress_ws(&ws, "t.jsonl", name, codecs[i]);
        char *z = slurp_ws(&ws, name, &n);
        /* Damage in the middle: xz and zstd check each block; a gzip member
         * is only checked at its end, so garbage may reach the JSON parser
         * first.  Either way: one line naming the file, exit 2. */
        memset(z + n / 2, 0x55, 64);
        cli_write(&ws, name, z, n);
        const char *check[] = { "check", name, NULL };
        expect_one_line(&ws, check, NULL, want, codecs[i] == STREAM_GZIP ? ": " : ": corrupt");
        /* Damage every codec detects as such: gzip's CRC-32 trailer. */
        free(z);
        compress_ws(&ws, "t.jsonl", name, codecs[i]);
        z = slurp_ws(&ws, name, &n);
        if (codecs[i] == STREAM_GZIP)
            z[n - 6] ^= 0x5a;
        else
            memset(z + n / 2, 0x55, 64);
        cli_write(&ws, name, z, n);
        free(z);
        snprintf(has, sizeof(has), ": corrupt %s data: ", stream_codec_name(codecs[i]));
        expect_one_line(&ws, check, NULL, want, has);
        const char *conv[] = { "convert", name, "o.tlbt", NULL };
        expect_one_line(&ws, conv, NULL, want, has);
    }
    cli_ws_done(&ws);
}

Test(unix, truncated_recording, .timeout = 300)
{
    struct cli_ws ws;
    size_t n;

    cli_ws_init(&ws);
    copy_repo(&ws, "traces/samples/lackey.txt", "lackey.txt");
    compress_ws(&ws, "lackey.txt", "lackey.txt.xz", STREAM_XZ);
    char *z = slurp_ws(&ws, "lackey.txt.xz", &n);
    cli_write(&ws, "lackey.txt.xz", z, n - n / 3);
    free(z);
    const char *argv[] = { "import", "lackey", "lackey.txt.xz", "-o", "o.jsonl", NULL };
    expect_one_line(&ws, argv, NULL, "tlbsim: lackey.txt.xz:",
                    ": truncated xz stream: unexpected end of file");
    char p[PATH_MAX];
    cr_expect(access(cli_path(&ws, "o.jsonl", p, sizeof(p)), F_OK) != 0, "o.jsonl written");
    cli_ws_done(&ws);
}

/* ===== round trips: run ==================================================== */

static const char *const run_files[] = { "summary.csv", "cpus.csv", "flushes.csv", "timeline.csv" };

/* Every output of ws/a equals ws/b's; in summary.csv the first cell of each
 * row (the trace's name) is skipped when skip_trace. */
static void expect_same_outputs(const struct cli_ws *ws, const char *a, const char *b,
                                bool skip_trace)
{
    for (size_t i = 0; i < sizeof(run_files) / sizeof(run_files[0]); i++) {
        char na[PATH_MAX], nb[PATH_MAX];
        snprintf(na, sizeof(na), "%s/%s", a, run_files[i]);
        snprintf(nb, sizeof(nb), "%s/%s", b, run_files[i]);
        char *x = slurp_ws(ws, na, NULL), *y = slurp_ws(ws, nb, NULL);
        if (skip_trace && i == 0) {                     /* drop the first cell of each row */
            for (char *row = strchr(x, '\n'), *row2 = strchr(y, '\n'); row && row2;
                 row = strchr(row + 1, '\n'), row2 = strchr(row2 + 1, '\n')) {
                char *c1 = strchr(row, ','), *c2 = strchr(row2, ',');
                if (!c1 || !c2)
                    break;
                memmove(row + 1, c1, strlen(c1) + 1);
                memmove(row2 + 1, c2, strlen(c2) + 1);
            }
        }
        cr_expect_str_eq(x, y, "%s differs from %s", nb, na);
        free(x);
        free(y);
    }
}

Test(unix, run_pipe_and_compressed_identical, .timeout = 600)
{
    struct cli_ws ws;
    struct cli_res *r = begin(&ws, 12000);

    const char *plain[] = { "run", "t.jsonl", "-q", "--policy", "linux,broadcast", "-j", "2",
                            "--out", "o-plain", NULL };
    run_ok(&ws, plain, r);
    /* stdin: a pipe, read once for two policy workers */
    const char *pipe[] = { "run", "-", "-q", "--policy", "linux,broadcast", "-j", "2",
                           "--out", "o-pipe", NULL };
    run_stdin_ok(&ws, pipe, "t.jsonl", r);
    expect_same_outputs(&ws, "o-plain", "o-pipe", true);
    char *sum = slurp_ws(&ws, "o-pipe/summary.csv", NULL);
    cr_expect(strstr(sum, "\n-,"), "the trace column of a stdin run is '-': %s", sum);
    free(sum);
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
        char dir[64], name[64], out[64], in2[64];
        const char *s = suffix[codecs[i]] + 1;

        /* the same name, compressed content: detected by content, same bytes */
        snprintf(dir, sizeof(dir), "%s", s);
        mkdir_ws(&ws, dir);
        snprintf(name, sizeof(name), "%s/t.jsonl", s);
        compress_ws(&ws, "t.jsonl", name, codecs[i]);
        snprintf(out, sizeof(out), "o-%s", s);
        const char *argv[] = { "run", name, "-q", "--policy", "linux,broadcast", "-j", "2",
                               "--out", out, NULL };
        run_ok(&ws, argv, r);
        expect_same_outputs(&ws, "o-plain", out, false);
        /* compressed through the pipe */
        snprintf(in2, sizeof(in2), "t.jsonl%s", suffix[codecs[i]]);
        compress_ws(&ws, "t.jsonl", in2, codecs[i]);
        snprintf(out, sizeof(out), "o-pipe-%s", s);
        const char *argv2[] = { "run", "-", "-q", "--out", out, "--policy", "linux,broadcast",
                                NULL };
        run_stdin_ok(&ws, argv2, in2, r);
        expect_same_outputs(&ws, "o-plain", out, true);
    }
    end(&ws, r);
}

/* ===== round trips: check, convert, gen, import ============================= */

Test(unix, check_pipe_and_compressed, .timeout = 300)
{
    struct cli_ws ws;
    char want[512];
    struct cli_res *r = begin(&ws, 3000);

    const char *plain[] = { "check", "t.jsonl", NULL };
    run_ok(&ws, plain, r);
    snprintf(want, sizeof(want), "<stdin>%s", strchr(r->out, ':'));
    const char *pipe[] = { "check", "-", NULL };
    cli_run_stdin(&ws, pipe, "t.jsonl", 120, r);
    cr_expect_eq(r->status, 0, "%s", r->err);
    cr_expect_str_eq(r->out, want);
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
        char name[64];
        snprintf(name, sizeof(name), "t.jsonl%s", suffix[codecs[i]]);
        compress_ws(&ws, "t.jsonl", name, codecs[i]);
        cli_run_stdin(&ws, pipe, name, 120, r);
        cr_expect_eq(r->status, 0, "%s", r->err);
        cr_expect_str_eq(r->out, want);
    }
    end(&ws, r);
}

Test(unix, convert_pipe_and_compressed, .timeout = 300)
{
    struct cli_ws ws;
    char p[PATH_MAX];
    struct cli_res *r = begin(&ws, 3000);

    const char *plain[] = { "convert", "t.jsonl", "ref.tlbt", NULL };
    run_ok(&ws, plain, r);
    const char *back[] = { "convert", "ref.tlbt", "ref.jsonl", NULL };
    run_ok(&ws, back, r);
    /* stdout */
    const char *to_stdout[] = { "convert", "t.jsonl", "-", NULL };
    run_ok(&ws, to_stdout, r);
    char *a = slurp_ws(&ws, "ref.tlbt", NULL), *b;
    size_t na, nb;
    free(a);
    a = slurp_ws(&ws, "ref.tlbt", &na);
    snprintf(p, sizeof(p), "%s/stdout", ws.root);
    b = cli_slurp(p, &nb);
    cr_expect(b && na == nb && !memcmp(a, b, na), "convert t.jsonl - differs from ref.tlbt");
    free(a);
    free(b);
    /* stdin, binary in */
    const char *from_stdin[] = { "convert", "-", "pipe.jsonl", NULL };
    run_stdin_ok(&ws, from_stdin, "ref.tlbt", r);
    expect_same_file(&ws, "ref.jsonl", "pipe.jsonl");
    /* every compressed output, by suffix, and back */
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
        char zj[64], zb[64];
        snprintf(zj, sizeof(zj), "z.jsonl%s", suffix[codecs[i]]);
        snprintf(zb, sizeof(zb), "z.tlbt%s", suffix[codecs[i]]);
        const char *to_zj[] = { "convert", "ref.tlbt", zj, NULL };
        const char *to_zb[] = { "convert", zj, zb, NULL };
        run_ok(&ws, to_zj, r);
        run_ok(&ws, to_zb, r);
        expect_codec(&ws, zj, codecs[i]);
        expect_codec(&ws, zb, codecs[i]);
        expect_same_file(&ws, "ref.jsonl", zj);
        expect_same_file(&ws, "ref.tlbt", zb);
    }
    end(&ws, r);
}

Test(unix, gen_to_stdout_and_compressed, .timeout = 300)
{
    struct cli_ws ws;
    char spec[PATH_MAX], p[PATH_MAX];
    struct cli_res *r = begin(&ws, 0);

    cli_repo("workloads/tlb_flush2_threads.json", spec, sizeof(spec));
    const char *plain[] = { "gen", spec, "-o", "g.jsonl", NULL };
    run_ok(&ws, plain, r);
    const char *to_stdout[] = { "gen", spec, "-o", "-", NULL };
    run_ok(&ws, to_stdout, r);
    size_t na, nb;
    char *a = slurp_ws(&ws, "g.jsonl", &na);
    snprintf(p, sizeof(p), "%s/stdout", ws.root);
    char *b = cli_slurp(p, &nb);
    cr_expect(b && na == nb && !memcmp(a, b, na), "gen -o - differs from gen -o g.jsonl");
    free(a);
    free(b);
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
        char name[64];
        snprintf(name, sizeof(name), "g.jsonl%s", suffix[codecs[i]]);
        const char *argv[] = { "gen", spec, "--output", name, NULL };
        run_ok(&ws, argv, r);
        expect_codec(&ws, name, codecs[i]);
        expect_same_file(&ws, "g.jsonl", name);
    }
    end(&ws, r);
}

/* import FORMAT: plain file, pipe with -o -, and each compressed form (the
 * same base name in a directory per codec, so the header's name matches). */
static void import_roundtrip(const char *format, const char *sample)
{
    struct cli_ws ws;
    char rel[PATH_MAX], p[PATH_MAX];
    struct cli_res *r = begin(&ws, 0);

    snprintf(rel, sizeof(rel), "traces/samples/%s", sample);
    copy_repo(&ws, rel, sample);
    const char *plain[] = { "import", format, sample, "-o", "ref.jsonl", NULL };
    run_ok(&ws, plain, r);
    char *ref = slurp_ws(&ws, "ref.jsonl", NULL);
    const char *pipe[] = { "import", format, "-", "-o", "-", NULL };
    run_stdin_ok(&ws, pipe, sample, r);
    snprintf(p, sizeof(p), "%s/stdout", ws.root);
    char *got = cli_slurp(p, NULL);
    cr_expect(got && strstr(got, "\"name\":\"<stdin>\""), "header of a stdin import: %.200s", got);
    cr_expect_str_eq(after_first_line(got), after_first_line(ref), "import %s - -o -", format);
    free(got);
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
        char dir[16], name[PATH_MAX], out[64];
        snprintf(dir, sizeof(dir), "%s", suffix[codecs[i]] + 1);
        mkdir_ws(&ws, dir);
        snprintf(name, sizeof(name), "%s/%s", dir, sample);
        compress_ws(&ws, sample, name, codecs[i]);
        snprintf(out, sizeof(out), "o.jsonl%s", suffix[codecs[i]]);
        const char *argv[] = { "import", format, name, "-o", out, NULL };
        run_ok(&ws, argv, r);
        expect_codec(&ws, out, codecs[i]);
        expect_same_file(&ws, "ref.jsonl", out);
    }
    free(ref);
    end(&ws, r);
}

Test(unix, import_ftrace_pipe_and_compressed, .timeout = 300)
{
    import_roundtrip("ftrace", "trace-cmd-report.txt");
}

Test(unix, import_lackey_pipe_and_compressed, .timeout = 300)
{
    import_roundtrip("lackey", "lackey.txt");
}

/* ===== --version, --help, --progress, summary.json ========================== */

Test(unix, version_and_help_everywhere)
{
    static const char *const cmds[] = { "run", "check", "policies", "import", "gen", "convert",
                                        "sweep", "report" };
    struct cli_ws ws;
    struct cli_res *r = begin(&ws, 0);

    const char *ver[] = { "--version", NULL };
    cli_run(&ws, ver, 30, r);
    cr_expect_eq(r->status, 0);
    cr_expect(!strncmp(r->out, "tlbsim ", 7) && cli_lines(r->out) == 1 && strlen(r->out) > 9,
              "--version: %s", r->out);
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        const char *argv[] = { cmds[i], "--help", NULL };
        cli_run(&ws, argv, 30, r);
        cr_expect_eq(r->status, 0, "%s --help: exit %d: %s", cmds[i], r->status, r->err);
        cr_expect(strstr(r->out, "usage: tlbsim ") == r->out, "%s --help: %.200s", cmds[i], r->out);
    }
    end(&ws, r);
}

Test(unix, progress_when_not_a_tty, .timeout = 300)
{
    struct cli_ws ws;
    struct cli_res *r = begin(&ws, 3000);

    const char *quiet[] = { "run", "t.jsonl", "--out", "o", NULL };
    run_ok(&ws, quiet, r);                      /* stderr is a file: no progress */
    cr_expect_str_empty(r->err);
    const char *prog[] = { "run", "t.jsonl", "--out", "o", "-q", "--progress", "--policy",
                           "linux,broadcast", NULL };
    run_ok(&ws, prog, r);
    cr_expect(strstr(r->err, "tlbsim: linux: 100.0% of trace, ") &&
              strstr(r->err, "tlbsim: broadcast: 100.0% of trace, ") && !strchr(r->err, '\r'),
              "stderr: %s", r->err);
    end(&ws, r);
}

/* summary.json: one run per policy, every machine key, every summary.csv
 * column with the cell's value. */
Test(unix, summary_json_matches_csv, .timeout = 300)
{
    struct cli_ws ws;
    struct cli_res *r = begin(&ws, 3000);

    const char *argv[] = { "run", "t.jsonl", "--out", "o", "-q", "--policy", "linux,pv-kvm",
                           "--set", "tlb.stlb.entries=768", NULL };
    run_ok(&ws, argv, r);
    char *js = slurp_ws(&ws, "o/summary.json", NULL), *csv = slurp_ws(&ws, "o/summary.csv", NULL);
    cJSON *doc = cJSON_Parse(js);
    cr_assert(doc, "summary.json does not parse");
    cr_expect_str_eq(cJSON_GetObjectItem(doc, "trace")->valuestring, "t.jsonl");
    cJSON *runs = cJSON_GetObjectItem(doc, "runs");
    cr_assert_eq(cJSON_GetArraySize(runs), 2);
    char *save, *hdr = strtok_r(csv, "\n", &save);
    const char *names[128];
    int nn = 0;
    for (char *s2, *c = strtok_r(hdr, ",", &s2); c && nn < 128; c = strtok_r(NULL, ",", &s2))
        names[nn++] = c;
    for (int i = 0; i < 2; i++) {
        cJSON *run = cJSON_GetArrayItem(runs, i);
        cJSON *cfg = cJSON_GetObjectItem(run, "config"), *cnt = cJSON_GetObjectItem(run, "counters");
        cr_expect_eq(cJSON_GetArraySize(cfg), (int)machine_nr_keys);
        cr_expect_eq(cJSON_GetObjectItem(cfg, "tlb.stlb.entries")->valuedouble, 768.0);
        cr_expect_eq(cJSON_GetArraySize(cnt), nn);
        char *row = strtok_r(NULL, "\n", &save), *s3;
        cr_assert(row);
        int k = 0;
        for (char *c = strtok_r(row, ",", &s3); c && k < nn; c = strtok_r(NULL, ",", &s3), k++) {
            cJSON *v = cJSON_GetObjectItem(cnt, names[k]);
            cr_assert(v, "counters lack %s", names[k]);
            if (cJSON_IsString(v)) {
                cr_expect_str_eq(v->valuestring, c, "%s", names[k]);
            } else {
                /* JSON numbers compare by value: the CSV's "4510.0" is
                 * cJSON's 4510. */
                cr_expect(cJSON_IsNumber(v), "%s is not a number", names[k]);
                cr_expect_eq(v->valuedouble, strtod(c, NULL), "%s: %s vs %g",
                             names[k], c, v->valuedouble);
            }
        }
        cr_expect_str_eq(cJSON_GetObjectItem(run, "policy")->valuestring, i ? "pv-kvm" : "linux");
    }
    cJSON_Delete(doc);
    free(js);
    free(csv);
    end(&ws, r);
}
