/* tests/test_viz_png.c - tlbviz's PNG writer, checked by decoding what it
 * wrote with a small inflate of our own (stored and fixed-Huffman blocks),
 * and the tlbviz command line, checked by running it.  Traces and helpers
 * come from test_viz.c (test_viz.h).
 */
#include <criterion/criterion.h>
#include <fcntl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../sim/io/stream.h"
#include "../sim/viz/viz.h"
#include "clirun.h"
#include "harness.h"
#include "test_viz.h"

TestSuite(vizpng, .init = h_tmpdir_setup, .fini = h_tmpdir_teardown);

static u32 be32(const u8 *p) { return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3]; }

static u32 crc32_ref(const u8 *p, size_t n)
{
    u32 c = 0xffffffffu;

    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

/* ---- a small inflate (RFC 1951): stored and fixed-Huffman blocks ---- */

struct inflate {
    const u8 *in;
    size_t n, bit;                      /* input, bits consumed */
    u8 *out;
    size_t len, cap;
    u32 btypes;                         /* bit 1 << BTYPE of every block seen */
};

static u32 getbits(struct inflate *z, int n)
{
    u32 v = 0;

    cr_assert_leq(z->bit + (size_t)n, z->n * 8, "deflate stream ends early");
    for (int i = 0; i < n; i++, z->bit++)
        v |= (u32)(z->in[z->bit >> 3] >> (z->bit & 7) & 1) << i;
    return v;
}

/* A fixed literal/length code, read MSB first (RFC 1951 3.2.6). */
static u32 fixed_sym(struct inflate *z)
{
    u32 code = 0;

    for (int len = 1; len <= 9; len++) {
        code = code << 1 | getbits(z, 1);
        if (len == 7 && code <= 0x17)
            return 256 + code;
        if (len == 8 && code >= 0x30 && code <= 0xbf)
            return code - 0x30;
        if (len == 8 && code >= 0xc0 && code <= 0xc7)
            return 280 + code - 0xc0;
        if (len == 9 && code >= 0x190)
            return 144 + code - 0x190;
    }
    cr_assert_fail("bad fixed code");
    return 0;
}

static void put_byte(struct inflate *z, u8 b)
{
    cr_assert_lt(z->len, z->cap, "more data than the image holds");
    z->out[z->len++] = b;
}

static void inflate_fixed(struct inflate *z)
{
    static const u16 lbase[29] = { 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35,
                                   43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258 };
    static const u8 lext[29] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3,
                                 4, 4, 4, 4, 5, 5, 5, 5, 0 };
    static const u16 dbase[30] = { 1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
                                   257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
                                   8193, 12289, 16385, 24577 };
    static const u8 dext[30] = { 0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8,
                                 9, 9, 10, 10, 11, 11, 12, 12, 13, 13 };

    for (;;) {
        u32 sym = fixed_sym(z);
        if (sym < 256) {
            put_byte(z, (u8)sym);
            continue;
        }
        if (sym == 256)
            return;
        cr_assert_leq(sym, 285, "length code");
        u32 len = lbase[sym - 257] + getbits(z, lext[sym - 257]), dc = 0;
        for (int i = 0; i < 5; i++)
            dc = dc << 1 | getbits(z, 1);
        cr_assert_lt(dc, 30, "distance code");
        u32 dist = dbase[dc] + getbits(z, dext[dc]);
        cr_assert_leq(dist, z->len, "distance before the start");
        cr_assert_leq(dist, 32768u);
        for (u32 i = 0; i < len; i++)
            put_byte(z, z->out[z->len - dist]);
    }
}

static void inflate_stored(struct inflate *z)
{
    z->bit = (z->bit + 7) & ~(size_t)7;
    u32 len = getbits(z, 16), nlen = getbits(z, 16);
    cr_assert_eq(len ^ 0xffff, nlen, "stored LEN/NLEN");
    for (u32 i = 0; i < len; i++)
        put_byte(z, (u8)getbits(z, 8));
}

/* Inflate a zlib stream into out (cap bytes); returns the bytes; checks
 * the header and Adler-32.  *btypes gets the block types seen. */
static size_t zlib_inflate(const u8 *in, size_t n, u8 *out, size_t cap, u32 *btypes)
{
    struct inflate z = { .in = in + 2, .n = n - 6, .out = out, .cap = cap };
    u32 final, a = 1, b = 0;

    cr_assert_geq(n, 6);
    cr_assert_eq(in[0] & 0x0f, 8, "CM deflate");
    cr_assert_eq((in[0] * 256 + in[1]) % 31, 0, "zlib header check");
    do {
        final = getbits(&z, 1);
        u32 type = getbits(&z, 2);
        z.btypes |= 1u << type;
        if (type == 0)
            inflate_stored(&z);
        else if (type == 1)
            inflate_fixed(&z);
        else
            cr_assert_fail("block type %u: we write stored and fixed blocks only", type);
    } while (!final);
    cr_assert_eq((z.bit + 7) / 8, n - 6, "the Adler-32 follows the last block");
    for (size_t i = 0; i < z.len; i++) {
        a = (a + out[i]) % 65521;
        b = (b + a) % 65521;
    }
    cr_assert_eq(be32(in + n - 4), b << 16 | a, "Adler-32");
    *btypes = z.btypes;
    return z.len;
}

/* Decode our own PNG (chunk CRCs, IHDR, one or more IDAT, IEND), compare
 * its pixels with fb, and return the block types of its stream. */
static u32 png_check(const struct viz_fb *fb, const u8 *png, size_t len)
{
    size_t off = 8, nraw = (size_t)fb->h * (1 + 3 * (size_t)fb->w), nz = 0;
    u8 *raw = malloc(nraw), *zs = malloc(len);
    bool ihdr = false, iend = false;
    u32 btypes = 0;

    cr_assert(raw && zs);
    cr_assert_eq(memcmp(png, "\x89PNG\r\n\x1a\n", 8), 0);
    while (off + 12 <= len && !iend) {
        u32 n = be32(png + off);
        const u8 *type = png + off + 4, *data = png + off + 8;
        cr_assert_leq(off + 12 + n, len);
        cr_assert_eq(be32(png + off + 8 + n), crc32_ref(type, n + 4), "chunk CRC");
        if (!memcmp(type, "IHDR", 4)) {
            cr_assert_eq(be32(data), (u32)fb->w);
            cr_assert_eq(be32(data + 4), (u32)fb->h);
            cr_assert_eq(data[8], 8);
            cr_assert_eq(data[9], 2);
            ihdr = true;
        } else if (!memcmp(type, "IDAT", 4)) {
            memcpy(zs + nz, data, n);
            nz += n;
        } else if (!memcmp(type, "IEND", 4)) {
            iend = true;
        }
        off += 12 + n;
    }
    cr_assert(ihdr && iend && nz);
    cr_assert_eq(off, len, "nothing after IEND");
    cr_assert_eq(zlib_inflate(zs, nz, raw, nraw, &btypes), nraw);
    for (int y = 0; y < fb->h; y++) {
        const u8 *row = raw + (size_t)y * (1 + 3 * (size_t)fb->w);
        cr_assert_eq(row[0], 0, "filter none");
        for (int x = 0; x < fb->w; x++) {
            u32 px = (u32)row[1 + 3 * x] << 16 | (u32)row[2 + 3 * x] << 8 | row[3 + 3 * x];
            cr_assert_eq(px, fb->px[y * fb->w + x], "pixel %d,%d", x, y);
        }
    }
    free(raw);
    free(zs);
    return btypes;
}

static u32 rnd(u32 *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Noise does not compress: the writer falls back to stored blocks. */
Test(vizpng, png_noise_is_stored)
{
    struct viz_fb fb;
    u8 *png;
    size_t len;
    u32 seed = 12345;

    cr_assert_eq(viz_fb_init(&fb, 300, 250), SIM_OK);
    for (int i = 0; i < fb.w * fb.h; i++)
        fb.px[i] = rnd(&seed) & 0xffffff;
    cr_assert_eq(viz_png_encode(&fb, &png, &len), SIM_OK);
    cr_assert_eq(png_check(&fb, png, len), 1u << 0, "stored blocks only");
    cr_assert_lt(len, (size_t)fb.w * fb.h * 3 + 1024);
    free(png);
    viz_fb_free(&fb);
}

/* Flat areas, rows repeating the one above, patterns repeating far back
 * (up to the 32 KiB window and beyond), short runs and noise: one fixed
 * block that decodes to the same pixels. */
Test(vizpng, png_mixed_image_round_trip)
{
    struct viz_fb fb;
    u8 *png;
    size_t len;
    u32 seed = 777;

    cr_assert_eq(viz_fb_init(&fb, 997, 301), SIM_OK);
    for (int y = 0; y < fb.h; y++)
        for (int x = 0; x < fb.w; x++) {
            u32 *p = &fb.px[y * fb.w + x];
            if (x < 300)
                *p = 0x2040a0;                          /* flat */
            else if (x < 500)
                *p = (u32)((x / 7) * 0x010305) & 0xffffff;  /* same every row */
            else if (x < 700)
                *p = (u32)(((x * 31) ^ (y % 11) * 977) * 2654435761u) & 0xffffff;
            else if (x < 800)
                *p = rnd(&seed) & 0xff00ff;             /* noise */
            else
                *p = (u32)(x + y) & 1 ? 0xffffff : 0x000000;
        }
    cr_assert_eq(viz_png_encode(&fb, &png, &len), SIM_OK);
    cr_assert_eq(png_check(&fb, png, len), 1u << 1, "one fixed-Huffman block");
    cr_assert_lt(len, (size_t)fb.w * fb.h * 3 / 2);
    free(png);
    viz_fb_free(&fb);
}

/* A rendered frame compresses well over 20x and decodes exactly. */
Test(vizpng, png_frame_compresses)
{
    struct viz *v = open_trace(ipi_trace, NULL);
    struct viz_view view;
    struct viz_fb fb;
    struct sim_err err = { 0 };
    u8 *png;
    size_t len;

    cr_assert(step_to_ipi(v));
    viz_view_default(v, &view);
    view.hover_x = 700;
    view.hover_y = 300;
    render(v, &view, &fb);
    cr_assert_eq(viz_png_encode(&fb, &png, &len), SIM_OK);
    cr_assert_eq(png_check(&fb, png, len), 1u << 1, "compressed");
    cr_assert_lt(len * 20, (size_t)W * H * 3, "%zu bytes for a %dx%d frame", len, W, H);
    free(png);
    /* Written to a file: the same bytes. */
    char path[128];
    snprintf(path, sizeof(path), "%s/frame.png", h_tmp_dir());
    cr_assert_eq(viz_png_write(path, &fb, &err), SIM_OK, "%s", err.msg);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq((size_t)st.st_size, len);
    viz_fb_free(&fb);
    viz_close(v);
}

/* ==== the command line ================================================================ */

/* build/tlbviz: $TLBVIZ, else $TLBSIM with the name changed, else ../build. */
static const char *tlbviz_path(void)
{
    static char p[4096];
    const char *e = getenv("TLBVIZ"), *s = getenv("TLBSIM");

    if (e)
        return e;
    snprintf(p, sizeof(p), "%s", s ? s : "../build/tlbsim");
    char *slash = strrchr(p, '/');
    snprintf(slash ? slash + 1 : p, sizeof(p) - (size_t)(slash ? slash + 1 - p : 0), "tlbviz");
    return p;
}

static int run(const char *args)
{
    char cmd[8192];
    int st;

    snprintf(cmd, sizeof(cmd), "%s %s >%s/out.txt 2>%s/err.txt", tlbviz_path(), args,
             h_tmp_dir(), h_tmp_dir());
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void need_tlbviz(void)
{
    if (access(tlbviz_path(), X_OK))
        cr_skip_test("%s not built", tlbviz_path());
}

Test(vizpng, cli_screenshot_png_and_bmp)
{
    char args[1024], path[256];
    struct stat st;
    u8 head[24];
    FILE *f;

    need_tlbviz();
    const char *t = write_file("t.jsonl", ipi_trace);
    snprintf(path, sizeof(path), "%s/shot.png", h_tmp_dir());
    snprintf(args, sizeof(args), "'%s' --screenshot '%s' --at 50%% --size 800x500", t, path);
    cr_assert_eq(run(args), 0);
    f = fopen(path, "rb");
    cr_assert_not_null(f);
    cr_assert_eq(fread(head, 1, sizeof(head), f), sizeof(head));
    fclose(f);
    cr_assert_eq(memcmp(head, "\x89PNG\r\n\x1a\n", 8), 0);
    cr_assert_eq(be32(head + 16), 800);
    cr_assert_eq(be32(head + 20), 500);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_lt(st.st_size, 800 * 500 * 3 / 20, "compressed: %lld bytes", (long long)st.st_size);
    snprintf(path, sizeof(path), "%s/shot.bmp", h_tmp_dir());
    snprintf(args, sizeof(args), "'%s' --screenshot '%s' --at end -q", t, path);
    cr_assert_eq(run(args), 0);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_gt(st.st_size, 1280 * 800 * 3);
}

/* --screenshot honours --scale: the PNG holds exactly the frame the
 * library draws at that scale. */
Test(vizpng, cli_screenshot_scale)
{
    char args[1024], path[256];
    struct viz_opts o = { .trace = write_file("s.jsonl", skips_trace()), .quiet = true };
    struct viz_view view;
    struct viz_fb fb;
    struct sim_err err = { 0 };
    struct viz *v;

    need_tlbviz();
    snprintf(path, sizeof(path), "%s/scaled.png", h_tmp_dir());
    snprintf(args, sizeof(args), "'%s' --screenshot '%s' --at end --scale 2 -q", o.trace, path);
    cr_assert_eq(run(args), 0);
    cr_assert_eq(viz_open(&o, &v, &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(viz_seek(v, viz_end(v), &err), SIM_OK);
    viz_view_default(v, &view);
    view.scale = 2;
    render(v, &view, &fb);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static u8 png[4 << 20];
    size_t len = fread(png, 1, sizeof(png), f);
    fclose(f);
    png_check(&fb, png, len);
    viz_fb_free(&fb);
    viz_close(v);
    snprintf(args, sizeof(args), "'%s' --screenshot x.png --scale 5", o.trace);
    cr_assert_eq(run(args), 2);
    snprintf(args, sizeof(args), "'%s' --screenshot x.png --scale 0", o.trace);
    cr_assert_eq(run(args), 2);
    cr_assert_eq(run("--version"), 0);
}

/* --version prints "tlbviz VERSION"; a trace on stdin, xz-compressed
 * (`tlbviz - <t.jsonl.xz`), renders the plain file's screenshot byte for byte. */
Test(vizpng, cli_version_and_stdin)
{
    char args[2048], p[512], pa[512], pb[512], line[128] = "";
    struct sim_err err = { 0 };
    struct stream_w *w;
    size_t na, nb;

    need_tlbviz();
    cr_assert_eq(run("--version"), 0);
    snprintf(p, sizeof(p), "%s/out.txt", h_tmp_dir());
    FILE *f = fopen(p, "r");
    cr_assert(f && fgets(line, sizeof(line), f));
    fclose(f);
    cr_expect(!strncmp(line, "tlbviz ", 7) && strlen(line) > 9, "--version: %s", line);
    const char *t = write_file("t.jsonl", ipi_trace);
    snprintf(p, sizeof(p), "%s/t.jsonl.xz", h_tmp_dir());
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(stream_w_open(fd, STREAM_XZ, &w, &err), 0, "%s", err.msg);
    cr_assert_eq(stream_w_write(w, ipi_trace, strlen(ipi_trace), &err), 0, "%s", err.msg);
    cr_assert_eq(stream_w_finish(w, &err), 0, "%s", err.msg);
    stream_w_free(w);
    close(fd);
    snprintf(pa, sizeof(pa), "%s/a.png", h_tmp_dir());
    snprintf(pb, sizeof(pb), "%s/b.png", h_tmp_dir());
    snprintf(args, sizeof(args), "'%s' --screenshot '%s' --at end -q", t, pa);
    cr_assert_eq(run(args), 0);
    snprintf(args, sizeof(args), "- --screenshot '%s' --at end -q <'%s'", pb, p);
    cr_assert_eq(run(args), 0);
    char *a = cli_slurp(pa, &na), *b = cli_slurp(pb, &nb);
    cr_assert(a && b);
    cr_expect(na == nb && !memcmp(a, b, na), "the screenshot from stdin differs from the file's");
    free(a);
    free(b);
}

Test(vizpng, cli_errors_exit_2)
{
    char args[1024];

    need_tlbviz();
    const char *t = write_file("t.jsonl", lazy_trace);
    cr_assert_eq(run("--help"), 0);
    cr_assert_eq(run(""), 2, "missing TRACE");
    snprintf(args, sizeof(args), "'%s' --policy nope --screenshot x.png", t);
    cr_assert_eq(run(args), 2);
    snprintf(args, sizeof(args), "'%s' --at soon --screenshot x.png", t);
    cr_assert_eq(run(args), 2);
    snprintf(args, sizeof(args), "'%s' --set nope=1 --screenshot x.png", t);
    cr_assert_eq(run(args), 2);
    snprintf(args, sizeof(args), "'%s' --bogus", t);
    cr_assert_eq(run(args), 2);
    snprintf(args, sizeof(args), "'%s/none.jsonl' --screenshot x.png", h_tmp_dir());
    cr_assert_eq(run(args), 2);
    const char *bad = write_file("bad.jsonl", "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":1}\n"
                                              "{\"op\":\"access\",\"cpu\":5,\"va\":\"0x1000\",\"kind\":\"r\"}\n");
    snprintf(args, sizeof(args), "'%s' --screenshot '%s/x.png'", bad, h_tmp_dir());
    cr_assert_eq(run(args), 2);
}
