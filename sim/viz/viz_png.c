/* sim/viz/viz_png.c - a minimal PNG writer (no zlib).
 *
 * PNG (RFC 2083 / ISO 15948): signature, IHDR (8-bit RGB, no interlace),
 * one IDAT, IEND.  The image data is a zlib stream (RFC 1950) of *stored*
 * deflate blocks (RFC 1951 3.2.4: BTYPE 00, at most 65535 bytes each), so
 * the file is about 3 bytes per pixel: a 1280x800 frame is ~3 MiB.  That is
 * the price of carrying no compressor; every PNG reader accepts it.
 * Checksums: CRC-32 (poly 0xEDB88320) per chunk, Adler-32 over the raw data.
 */
#include "viz_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORED_MAX 65535u               /* bytes per stored deflate block */

static u32 crc_table[256];
static bool crc_ready;

static void crc_init(void)
{
    for (u32 n = 0; n < 256; n++) {
        u32 c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
    crc_ready = true;
}

static u32 crc32_update(u32 crc, const u8 *p, size_t n)
{
    if (!crc_ready)
        crc_init();
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

struct buf { u8 *p; size_t n, cap; };

static void put_be32(u8 *p, u32 v)
{
    p[0] = (u8)(v >> 24);
    p[1] = (u8)(v >> 16);
    p[2] = (u8)(v >> 8);
    p[3] = (u8)v;
}

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

/* The zlib stream of the filtered rows (filter byte 0 + RGB per row),
 * written straight into z (sized by the caller). */
static size_t zlib_stored(const struct viz_fb *fb, u8 *z)
{
    size_t raw = (size_t)fb->h * (1 + 3 * (size_t)fb->w), done = 0, n = 0;
    u32 a = 1, bsum = 0;                /* Adler-32 halves */
    size_t row = 0, col = 0;            /* position in the raw stream: row, byte in row */
    size_t rowlen = 1 + 3 * (size_t)fb->w;

    z[n++] = 0x78;                      /* CM 8, CINFO 7 (32K window) */
    z[n++] = 0x01;                      /* FLEVEL 0; 0x7801 % 31 == 0 */
    while (done < raw || raw == 0) {
        size_t len = raw - done > STORED_MAX ? STORED_MAX : raw - done;
        z[n++] = done + len == raw ? 1 : 0;     /* BFINAL, BTYPE 00 */
        z[n++] = (u8)len;
        z[n++] = (u8)(len >> 8);
        z[n++] = (u8)~len;
        z[n++] = (u8)(~len >> 8);
        for (size_t i = 0; i < len; i++) {
            u8 byte;
            if (col == 0) {
                byte = 0;               /* filter: none */
            } else {
                u32 px = fb->px[row * (size_t)fb->w + (col - 1) / 3];
                byte = (u8)(px >> (16 - 8 * ((col - 1) % 3)));
            }
            z[n++] = byte;
            a = (a + byte) % 65521u;
            bsum = (bsum + a) % 65521u;
            if (++col == rowlen) {
                col = 0;
                row++;
            }
        }
        done += len;
        if (raw == 0)
            break;
    }
    put_be32(z + n, bsum << 16 | a);
    return n + 4;
}

int viz_png_encode(const struct viz_fb *fb, u8 **out, size_t *len)
{
    static const u8 sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    size_t raw = (size_t)fb->h * (1 + 3 * (size_t)fb->w);
    size_t zcap = 2 + raw + 5 * (raw / STORED_MAX + 1) + 4;
    struct buf b = { 0 };
    u8 ihdr[13], *z;

    *out = NULL;
    *len = 0;
    b.cap = sizeof(sig) + (12 + 13) + (12 + zcap) + 12;
    b.p = malloc(b.cap);
    z = malloc(zcap);
    if (!b.p || !z) {
        free(b.p);
        free(z);
        return SIM_ENOMEM;
    }
    memcpy(b.p, sig, sizeof(sig));
    b.n = sizeof(sig);
    put_be32(ihdr, (u32)fb->w);
    put_be32(ihdr + 4, (u32)fb->h);
    ihdr[8] = 8;                        /* bit depth */
    ihdr[9] = 2;                        /* colour type: RGB */
    ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, adaptive filtering, no interlace */
    chunk(&b, "IHDR", ihdr, sizeof(ihdr));
    size_t zn = zlib_stored(fb, z);
    assert(zn <= zcap);
    chunk(&b, "IDAT", z, zn);
    chunk(&b, "IEND", NULL, 0);
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
    ok = (fclose(f) == 0) && ok;
    free(data);
    if (!ok) {
        remove(tmp);
        return sim_err_set(err, SIM_EIO, "%s: write failed", tmp);
    }
    if (rename(tmp, path)) {
        rc = sim_err_set(err, SIM_EIO, "%s: cannot rename into place: %s", path,
                         strerror(errno));
        remove(tmp);
        return rc;
    }
    return SIM_OK;
}
