/* sim/viz/viz_png.c - a minimal PNG writer (no zlib).
 *
 * PNG (RFC 2083 / ISO 15948): signature, IHDR (8-bit RGB, no interlace),
 * one IDAT, IEND.  The image data (filter byte 0, then RGB, per row) goes
 * into a zlib stream (RFC 1950) holding one deflate block (RFC 1951) with
 * the *fixed* Huffman codes (3.2.6), so no code tables are written:
 *
 *   LZ77   hash chains over 3-byte prefixes (head[] / prev[], a 32 KiB
 *          window), greedy longest match, at most MAX_CHAIN candidates a
 *          position.  A frame is mostly runs of one colour (a match one
 *          pixel = 3 bytes back) and rows repeating the row above (a match
 *          3 * w + 1 bytes back), so a typical 1280x800 frame of ~3 MiB
 *          shrinks about 50x, to some 60 KiB, in 20-40 ms (MAX_CHAIN 16:
 *          43x; 8: 35x, barely faster);
 *   codes  literals 0-143 take 8 bits, 144-255 9 bits; a match costs 7-8
 *          bits of length code, 5 of distance code, and their extra bits.
 *
 * Fallback: if the compressed stream would not be smaller (noise costs up
 * to 9 bits a byte), or its tables cannot be allocated, the data goes out
 * in *stored* blocks (3.2.4: BTYPE 00, at most 65535 bytes each), about 3
 * bytes a pixel, which every reader accepts.
 * Checksums: CRC-32 (poly 0xEDB88320) per chunk, Adler-32 over the raw data.
 * Not thread-safe (tables built on first use).
 */
#include "viz_priv.h"
#include "../io/crc32.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORED_MAX 65535u               /* bytes per stored deflate block */
#define WIN_SIZE   32768u               /* deflate window; the largest distance */
#define WIN_MASK   (WIN_SIZE - 1)
#define HASH_BITS  15
#define HASH_SIZE  (1u << HASH_BITS)
#define MIN_MATCH  3
#define MAX_MATCH  258
#define MAX_CHAIN  48                   /* candidates per position: ratio vs time */

/* ==== checksums ===================================================================== */

static u32 adler32(const u8 *p, size_t n)
{
    u32 a = 1, b = 0;

    while (n) {
        size_t k = n < 5552 ? n : 5552;     /* no u32 overflow before the modulo */
        n -= k;
        while (k--) {
            a += *p++;
            b += a;
        }
        a %= 65521u;
        b %= 65521u;
    }
    return b << 16 | a;
}

static void put_be32(u8 *p, u32 v)
{
    p[0] = (u8)(v >> 24);
    p[1] = (u8)(v >> 16);
    p[2] = (u8)(v >> 8);
    p[3] = (u8)v;
}

/* ==== deflate: fixed Huffman codes ====================================================== */

struct bitw {                           /* LSB-first bit writer (RFC 1951 3.1.1) */
    u8 *p;
    size_t n, cap;                      /* bytes written (may pass cap: overflow), room */
    u64 acc;                            /* pending bits */
    int nacc;                           /* how many */
};

static void put_bits(struct bitw *w, u32 v, int n)
{
    w->acc |= (u64)v << w->nacc;
    w->nacc += n;
    while (w->nacc >= 8) {
        if (w->n < w->cap)
            w->p[w->n] = (u8)w->acc;
        w->n++;
        w->acc >>= 8;
        w->nacc -= 8;
    }
}

static void flush_bits(struct bitw *w)
{
    if (w->nacc)
        put_bits(w, 0, 8 - w->nacc);
}

static const u16 len_base[29] = {
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
    35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
};
static const u8 len_extra[29] = {
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
};
static const u16 dist_base[30] = {
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
    1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
};
static const u8 dist_extra[30] = {
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
};

static u16 lit_code[288];               /* fixed literal/length codes, bit-reversed */
static u8 lit_len[288];
static u8 len_sym[MAX_MATCH + 1];       /* match length -> index into len_base */
static u8 dist_code[30];                /* 5-bit distance codes, bit-reversed */
static bool fixed_ready;

static u32 reverse(u32 code, int n)
{
    u32 r = 0;

    for (int i = 0; i < n; i++, code >>= 1)
        r = r << 1 | (code & 1);
    return r;
}

static void fixed_init(void)
{
    for (u32 s = 0; s < 288; s++) {
        u32 code = s < 144 ? 0x30 + s : s < 256 ? 0x190 + s - 144
                 : s < 280 ? s - 256 : 0xc0 + s - 280;
        lit_len[s] = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
        lit_code[s] = (u16)reverse(code, lit_len[s]);
    }
    for (u32 l = MIN_MATCH, i = 0; l <= MAX_MATCH; l++) {
        while (i + 1 < 29 && len_base[i + 1] <= l)
            i++;
        len_sym[l] = (u8)i;
    }
    for (u32 d = 0; d < 30; d++)
        dist_code[d] = (u8)reverse(d, 5);
    fixed_ready = true;
}

static void put_sym(struct bitw *w, u32 s)
{
    put_bits(w, lit_code[s], lit_len[s]);
}

static void put_match(struct bitw *w, u32 len, u32 dist)
{
    u32 li = len_sym[len], di = 0, lo = 0, hi = 29;

    while (lo <= hi) {                  /* the last dist_base[] <= dist */
        u32 mid = (lo + hi) / 2;
        if (dist_base[mid] <= dist) {
            di = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    put_sym(w, 257 + li);
    if (len_extra[li])
        put_bits(w, len - len_base[li], len_extra[li]);
    put_bits(w, dist_code[di], 5);
    if (dist_extra[di])
        put_bits(w, dist - dist_base[di], dist_extra[di]);
}

/* ==== deflate: LZ77 ==================================================================== */

struct lz {
    const u8 *in;
    size_t n;
    s64 *head;                          /* HASH_SIZE: newest position with that hash, -1 */
    s64 *prev;                          /* WIN_SIZE: the previous one, by position & WIN_MASK */
};

static u32 hash3(const u8 *p)
{
    return ((u32)p[0] << 16 | (u32)p[1] << 8 | p[2]) * 2654435761u >> (32 - HASH_BITS);
}

static void insert(struct lz *z, size_t pos)
{
    u32 h;

    if (pos + MIN_MATCH > z->n)
        return;
    h = hash3(z->in + pos);
    z->prev[pos & WIN_MASK] = z->head[h];
    z->head[h] = (s64)pos;
}

/* Longest match for pos among the chain's candidates (0 if none); *dist
 * gets its distance.  Candidates come newest first, so ties keep the
 * nearest (the cheapest distance code). */
static u32 longest(const struct lz *z, size_t pos, u32 *dist)
{
    size_t max = z->n - pos < MAX_MATCH ? z->n - pos : MAX_MATCH;
    s64 cand = z->head[hash3(z->in + pos)];
    u32 best = 0;
    const u8 *p = z->in + pos;

    for (int chain = 0; cand >= 0 && chain < MAX_CHAIN; chain++) {
        size_t c = (size_t)cand;
        if (pos - c > WIN_SIZE)
            break;
        const u8 *q = z->in + c;
        if (q[best] == p[best] && q[0] == p[0]) {
            u32 l = 0;
            while (l < max && q[l] == p[l])
                l++;
            if (l > best) {
                best = l;
                *dist = (u32)(pos - c);
                if (l == max)
                    break;
            }
        }
        cand = z->prev[c & WIN_MASK];
    }
    return best >= MIN_MATCH ? best : 0;
}

/* One final fixed-Huffman block of in[0, n) into out (room cap).  Returns
 * the bytes written, or 0 when it does not fit or memory is short. */
static size_t deflate_fixed(const u8 *in, size_t n, u8 *out, size_t cap)
{
    struct lz z = { .in = in, .n = n };
    struct bitw w = { .p = out, .cap = cap };
    u32 len, dist = 0;

    z.head = malloc(HASH_SIZE * sizeof(*z.head));
    z.prev = malloc(WIN_SIZE * sizeof(*z.prev));
    if (!z.head || !z.prev) {
        free(z.head);
        free(z.prev);
        return 0;
    }
    if (!fixed_ready)
        fixed_init();
    memset(z.head, 0xff, HASH_SIZE * sizeof(*z.head));
    put_bits(&w, 1, 1);                 /* BFINAL */
    put_bits(&w, 1, 2);                 /* BTYPE 01: fixed codes */
    for (size_t i = 0; i < n && w.n <= cap;) {
        len = i + MIN_MATCH <= n ? longest(&z, i, &dist) : 0;
        if (!len) {
            put_sym(&w, in[i]);
            insert(&z, i++);
            continue;
        }
        put_match(&w, len, dist);
        for (size_t e = i + len; i < e; i++)
            insert(&z, i);
    }
    put_sym(&w, 256);                   /* end of block */
    flush_bits(&w);
    free(z.head);
    free(z.prev);
    return w.n <= cap ? w.n : 0;
}

/* ==== zlib stream and PNG chunks ========================================================= */

/* Stored blocks of in[0, n) into out (sized by stored_size()). */
static size_t deflate_stored(const u8 *in, size_t n, u8 *out)
{
    size_t done = 0, o = 0;

    do {
        size_t len = n - done > STORED_MAX ? STORED_MAX : n - done;
        out[o++] = done + len == n ? 1 : 0;     /* BFINAL, BTYPE 00 */
        out[o++] = (u8)len;
        out[o++] = (u8)(len >> 8);
        out[o++] = (u8)~len;
        out[o++] = (u8)(~len >> 8);
        memcpy(out + o, in + done, len);
        o += len;
        done += len;
    } while (done < n);
    return o;
}

static size_t stored_size(size_t n)
{
    return n + 5 * (n / STORED_MAX + 1);
}

/* The filtered rows: filter byte 0 (none), then R, G, B per pixel. */
static void raw_rows(const struct viz_fb *fb, u8 *raw)
{
    for (int y = 0; y < fb->h; y++) {
        const u32 *px = fb->px + (size_t)y * (size_t)fb->w;
        *raw++ = 0;
        for (int x = 0; x < fb->w; x++) {
            *raw++ = (u8)(px[x] >> 16);
            *raw++ = (u8)(px[x] >> 8);
            *raw++ = (u8)px[x];
        }
    }
}

/* The zlib stream of raw[0, n) into z (room: 2 + stored_size(n) + 4):
 * compressed when that is smaller, else stored. */
static size_t zlib_stream(const u8 *raw, size_t n, u8 *z)
{
    size_t stored = stored_size(n), len;

    z[0] = 0x78;                        /* CM 8, CINFO 7 (32K window) */
    z[1] = 0x01;                        /* FLEVEL 0; 0x7801 % 31 == 0 */
    len = deflate_fixed(raw, n, z + 2, stored - 1);
    if (!len)
        len = deflate_stored(raw, n, z + 2);
    put_be32(z + 2 + len, adler32(raw, n));
    return 2 + len + 4;
}

struct buf { u8 *p; size_t n, cap; };

/* Append one chunk: length, type, data, CRC over type and data. */
static void chunk(struct buf *b, const char type[4], const u8 *data, size_t len)
{
    u8 *c = b->p + b->n;

    put_be32(c, (u32)len);
    memcpy(c + 4, type, 4);
    if (len)
        memcpy(c + 8, data, len);
    put_be32(c + 8 + len, crc32_update(0, c + 4, len + 4));
    b->n += len + 12;
}

int viz_png_encode(const struct viz_fb *fb, u8 **out, size_t *len)
{
    static const u8 sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    size_t nraw = (size_t)fb->h * (1 + 3 * (size_t)fb->w);
    size_t zcap = 2 + stored_size(nraw) + 4;
    struct buf b = { 0 };
    u8 ihdr[13], *z, *raw;

    *out = NULL;
    *len = 0;
    b.cap = sizeof(sig) + (12 + 13) + (12 + zcap) + 12;
    b.p = malloc(b.cap);
    z = malloc(zcap);
    raw = malloc(nraw ? nraw : 1);
    if (!b.p || !z || !raw) {
        free(b.p);
        free(z);
        free(raw);
        return SIM_ENOMEM;
    }
    raw_rows(fb, raw);
    memcpy(b.p, sig, sizeof(sig));
    b.n = sizeof(sig);
    put_be32(ihdr, (u32)fb->w);
    put_be32(ihdr + 4, (u32)fb->h);
    ihdr[8] = 8;                        /* bit depth */
    ihdr[9] = 2;                        /* colour type: RGB */
    ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, adaptive filtering, no interlace */
    chunk(&b, "IHDR", ihdr, sizeof(ihdr));
    size_t zn = zlib_stream(raw, nraw, z);
    assert(zn <= zcap);
    chunk(&b, "IDAT", z, zn);
    chunk(&b, "IEND", NULL, 0);
    free(raw);
    free(z);
    *out = b.p;
    *len = b.n;
    return SIM_OK;
}

int viz_png_write(const char *path, const struct viz_fb *fb, struct sim_err *err)
{
    char tmp[4096];
    u8 *data;
    size_t len;
    FILE *f;
    int rc;

    if ((rc = viz_png_encode(fb, &data, &len)))
        return sim_err_set(err, rc, "%s: out of memory encoding the PNG", path);
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        free(data);
        return sim_err_set(err, SIM_EINVAL, "%s: path too long", path);
    }
    f = fopen(tmp, "wb");
    if (!f) {
        rc = sim_err_set(err, SIM_EIO, "%s: cannot create: %s", path, strerror(errno));
        free(data);
        return rc;
    }
    bool ok = fwrite(data, 1, len, f) == len;
    int e = ok ? 0 : errno;
    if (fclose(f) && ok) {
        ok = false;
        e = errno;
    }
    free(data);
    if (!ok) {
        remove(tmp);
        return sim_err_set(err, SIM_EIO, "%s: write failed: %s", path, strerror(e ? e : EIO));
    }
    if (rename(tmp, path)) {
        rc = sim_err_set(err, SIM_EIO, "%s: cannot rename into place: %s", path,
                         strerror(errno));
        remove(tmp);
        return rc;
    }
    return SIM_OK;
}
