/* tests/fuzz/fuzz_trace_bin.c - the binary ("TLBT") trace reader.
 *
 * Input: the bytes of a .tlbt file.  Every input runs twice: as is (which
 * mostly exercises the framing and CRC checks) and with every CRC and the
 * end block's record total recomputed, so that mutations reach the header
 * payload, the varint decoder and the op checks behind the checksums.  The
 * valid prefix is then round-tripped through the JSONL writer.
 */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

static uint32_t crc_table[256];

static uint32_t crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;

    if (!crc_table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t v = i;
            for (int k = 0; k < 8; k++)
                v = v & 1 ? 0xedb88320u ^ (v >> 1) : v >> 1;
            crc_table[i] = v;
        }
    while (n--)
        c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i); }

/* Recompute the header CRC, each block's CRC and the end block's total as far
 * as the framing can be followed. */
static void fix_crcs(uint8_t *b, size_t n)
{
    size_t pos, hlen;
    uint64_t total = 0;

    if (n < 16 || memcmp(b, "TLBT", 4))
        return;
    hlen = le32(b + 8);
    if (hlen > n - 16)
        return;
    put32(b + 12 + hlen, crc32(b, 12 + hlen));
    for (pos = 16 + hlen; pos < n;) {
        if (b[pos] == 'B' && n - pos >= 13) {
            size_t len = le32(b + pos + 5);
            if (len > n - pos - 13)
                return;
            total += le32(b + pos + 1);
            put32(b + pos + 9 + len, crc32(b + pos, 9 + len));
            pos += 13 + len;
        } else if (b[pos] == 'E' && n - pos >= 13) {
            for (int i = 0; i < 8; i++)
                b[pos + 1 + i] = (uint8_t)(total >> 8 * i);
            put32(b + pos + 9, crc32(b + pos, 9));
            return;
        } else {
            return;
        }
    }
}

static void read_all(const char *path)
{
    struct trace_reader *r;
    struct trace_op op;
    struct sim_err err = { 0 };
    int rc;

    if (trace_open(path, &r, NULL, &err)) {
        if (!err.msg[0])
            fz_fail("trace_open failed without a message");
        return;
    }
    while ((rc = trace_next(r, &op, &err)) > 0)
        ;
    if (rc < 0 && !err.msg[0])
        fz_fail("trace_next failed without a message");
    trace_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[256];
    uint8_t *fixed;

    if (!path[0])
        fz_path(path, sizeof(path), "in.tlbt");
    fz_write(path, data, size);
    read_all(path);
    if (!(fixed = malloc(size ? size : 1)))
        return 0;
    memcpy(fixed, data, size);
    fix_crcs(fixed, size);
    fz_write(path, fixed, size);
    free(fixed);
    read_all(path);
    fz_roundtrip(path, TRACE_FMT_JSONL, 100000);
    return 0;
}
