/* sim/io/trace_bin.c - the compact binary trace form ("TLBT", version 1).
 *
 * Layout (all integers little-endian; full description in traces/FORMAT.md):
 *
 *   file   := header block* end
 *   header := "TLBT" u8 version(1) u8 0 u16 0 u32 hlen payload[hlen] u32 crc
 *             payload = varint cpus, varint va_bits, varint n, name[n],
 *                       varint n, source[n]; crc covers everything before it
 *   block  := 'B' u32 nr_records u32 len record[nr_records] (len bytes) u32 crc
 *   end    := 'E' u64 total_records u32 crc
 *
 * A record is u8 type, varint flags, then only the fields the type and the
 * flags call for.  Addresses are zigzag varints of the difference from the
 * previous address of the same CPU (ops without a cpu share one extra
 * predictor slot); `t` is a zigzag delta from the previous `t`.  Every block
 * starts with all predictors at 0, so a block decodes on its own and a
 * damaged block cannot corrupt the next one.
 *
 * Cost: an access record with a nearby address is 5-7 bytes against 50-60
 * for its JSON line.  Decoding does no allocation: addresses go to the
 * reader's vas buffer, labels to its label buffer.
 *
 * The decoder only turns bytes into a struct trace_op; whether the op makes
 * sense is decided by trace_check_op(), the same function the JSON reader
 * uses.
 */
#include "trace_priv.h"
#include "crc32.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ===== little-endian, varints, zigzag ==================================== */

static void put_le32(u8 *p, u32 v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (u8)(v >> (8 * i));
}

static u32 get_le32(const u8 *p)
{
    return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

static void put_le64(u8 *p, u64 v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (u8)(v >> (8 * i));
}

static u64 get_le64(const u8 *p)
{
    return (u64)get_le32(p) | (u64)get_le32(p + 4) << 32;
}

static inline u8 *put_varint(u8 *p, u64 v)
{
    while (v >= 0x80) {
        *p++ = (u8)(v | 0x80);
        v >>= 7;
    }
    *p++ = (u8)v;
    return p;
}

/* Zigzag on the two's complement difference: small |d| -> small code. */
static inline u64 zz_enc(u64 d) { return (d << 1) ^ (0 - (d >> 63)); }
static inline u64 zz_dec(u64 u) { return (u >> 1) ^ (0 - (u & 1)); }

/* A bounded decoding cursor: reading past the end sets `bad` and yields 0,
 * so a decoder checks once at the end instead of after every field. */
struct cur {
    const u8 *p;                        /* next byte */
    const u8 *end;                      /* end of the record area */
    bool bad;                           /* ran out of bytes or bad varint */
};

static inline u8 get_u8(struct cur *c)
{
    if (unlikely(c->p >= c->end)) {
        c->bad = true;
        return 0;
    }
    return *c->p++;
}

static inline u64 get_varint(struct cur *c)
{
    u64 v = 0;

    for (unsigned sh = 0; sh < 64; sh += 7) {
        if (unlikely(c->p >= c->end))
            break;
        u8 b = *c->p++;
        if (sh == 63 && b > 1)
            break;                      /* more than 64 bits */
        v |= (u64)(b & 0x7f) << sh;
        if (!(b & 0x80))
            return v;
    }
    c->bad = true;
    return 0;
}

/* get_varint() for a cursor known to hold at least VARINT_MAX more bytes,
 * so no byte needs a bounds check: the same value and the same `bad`
 * verdict (an overlong varint), only faster.  The address arrays of
 * access records, the bulk of a trace, are decoded with it. */
#define VARINT_MAX 10                   /* bytes of the longest 64-bit varint */

static inline u64 get_varint_fast(struct cur *c)
{
    const u8 *p = c->p;
    u64 x, b = *p, v;

    if (likely(b < 0x80)) {             /* one byte: flags, cpu, small deltas */
        c->p = p + 1;
        return b;
    }
    /* Up to 8 bytes at once, without a branch on the length: the first
     * byte with its top bit clear ends the varint; its 7-bit groups are
     * then packed by pairs of bytes, of 16-bit and of 32-bit lanes. */
    memcpy(&x, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    u64 ends = ~x & 0x8080808080808080ull;
    if (likely(ends)) {
        x &= (ends ^ (ends - 1)) & 0x7f7f7f7f7f7f7f7full;
        x = (x & 0x007f007f007f007full) | (x & 0x7f007f007f007f00ull) >> 1;
        x = (x & 0x00003fff00003fffull) | (x & 0x3fff00003fff0000ull) >> 2;
        x = (x & 0x000000000fffffffull) | (x & 0x0fffffff00000000ull) >> 4;
        c->p = p + (__builtin_ctzll(ends) >> 3) + 1;
        return x;
    }
    /* 9 or 10 bytes: one at a time */
    b = *p++;
    v = b & 0x7f;
    for (unsigned sh = 7; sh < 64; sh += 7) {
        b = *p++;
        if (sh == 63 && b > 1)
            break;                      /* more than 64 bits */
        v |= (b & 0x7f) << sh;
        if (!(b & 0x80)) {
            c->p = p;
            return v;
        }
    }
    c->p = p;
    c->bad = true;
    return 0;
}

/* The value of a varint of up to four bytes held in x's low bytes, the
 * bytes after its last one already masked off. */
static inline __attribute__((always_inline)) u32 varint_pack4(u32 x)
{
    x &= 0x7f7f7f7fu;
    x = (x & 0x007f007fu) | (x & 0x7f007f00u) >> 1;
    return (x & 0x00003fffu) | (x & 0x3fff0000u) >> 2;
}

/* get_varint_fast() for the address arrays, on a pointer in a register:
 * the same value and `bad` verdict.  A varint of up to four bytes (an
 * address delta below 2^27 after zigzag: +-64 MiB) is decoded in 32-bit
 * lanes, whose masks are immediates; a longer one as get_varint_fast()
 * does.  No branch on the length: one on whether it fits in four bytes,
 * which follows the trace's address spread and is predictable. */
static inline __attribute__((always_inline)) u64 varint_fast(const u8 **pp, bool *bad)
{
    const u8 *p = *pp;
    u32 x;

    memcpy(&x, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap32(x);
#endif
    u32 ends = ~x & 0x80808080u;
    if (likely(ends)) {
        *pp = p + ((unsigned)__builtin_ctz(ends) >> 3) + 1;
        return varint_pack4(x & (ends ^ (ends - 1)));
    }
    struct cur c = { p, NULL, false };
    u64 v = get_varint_fast(&c);
    *pp = c.p;
    *bad |= c.bad;
    return v;
}

/* ===== writer ============================================================ */

struct trace_bin_wr {
    u8 *blk;                            /* payload of the open block */
    size_t len;                         /* bytes in blk */
    size_t cap;                         /* allocated */
    u32 nrec;                           /* records in the open block */
    u64 total;                          /* records written */
    u64 *prev_va;                       /* [cpus + 1] address predictors */
    u32 nr_slots;                       /* cpus + 1 */
    u64 prev_t;                         /* t predictor */
};

static void preds_reset(u64 *prev_va, u32 nr_slots, u64 *prev_t)
{
    memset(prev_va, 0, sizeof(*prev_va) * nr_slots);
    *prev_t = 0;
}

void trace_bin_writer_free(struct trace_writer *w)
{
    if (!w->bin)
        return;
    free(w->bin->blk);
    free(w->bin->prev_va);
    free(w->bin);
    w->bin = NULL;
}

int trace_bin_write_header(struct trace_writer *w, struct sim_err *err)
{
    const struct trace_header *h = &w->hdr;
    struct trace_bin_wr *b = calloc(1, sizeof(*b));
    u8 buf[16 + TRACE_BIN_HDR_MAX], *p = buf + 12;

    if (!b)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    w->bin = b;
    b->nr_slots = h->cpus + 1;
    b->cap = TRACE_BIN_BLOCK_TARGET * 2;
    b->blk = malloc(b->cap);
    b->prev_va = calloc(b->nr_slots, sizeof(*b->prev_va));
    if (!b->blk || !b->prev_va)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    memcpy(buf, TRACE_BIN_MAGIC, 4);
    buf[4] = TRACE_BIN_VERSION;
    buf[5] = buf[6] = buf[7] = 0;
    p = put_varint(p, h->cpus);
    p = put_varint(p, h->va_bits);
    const char *s[2] = { h->name, h->source };
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(s[i]);                /* <= TRACE_MAX_NAME, checked */
        p = put_varint(p, n);
        memcpy(p, s[i], n);
        p += n;
    }
    put_le32(buf + 8, (u32)(p - buf - 12));
    put_le32(p, crc32_update(0, buf, (size_t)(p - buf)));
    return trace_w_append(w, buf, (size_t)(p - buf) + 4, err);
}

static int emit_block(struct trace_writer *w, struct sim_err *err)
{
    struct trace_bin_wr *b = w->bin;
    u8 head[9], tail[4];
    int rc;

    if (!b->nrec)
        return SIM_OK;
    head[0] = TRACE_BIN_TAG_BLOCK;
    put_le32(head + 1, b->nrec);
    put_le32(head + 5, (u32)b->len);
    put_le32(tail, crc32_update(crc32_update(0, head, 9), b->blk, b->len));
    if ((rc = trace_w_append(w, head, 9, err)) || (rc = trace_w_append(w, b->blk, b->len, err)) ||
        (rc = trace_w_append(w, tail, 4, err)))
        return rc;
    b->len = 0;
    b->nrec = 0;
    preds_reset(b->prev_va, b->nr_slots, &b->prev_t);
    return SIM_OK;
}

static inline u8 *enc_va(struct trace_bin_wr *b, u8 *p, u32 slot, u64 va)
{
    p = put_varint(p, zz_enc(va - b->prev_va[slot]));
    b->prev_va[slot] = va;
    return p;
}

/* ===== record body: the op's value fields in bin_order ================= */

/* Every value field but cpu, t and gap (those are in the record head, the
 * booleans in the flags), in the order a record body stores them.  This
 * order is part of the file format: a new field goes at the end. */
static const u8 bin_order[] = {
    F_MM, F_KIND, F_VA, F_LEN, F_STRIDE, F_COUNT, F_PAGE, F_PROT, F_CSTATE, F_CYCLES, F_LABEL,
    F_GPA, F_KEYID,
};

#define BIN_BODY (B(F_MM) | B(F_KIND) | B(F_VA) | B(F_LEN) | B(F_STRIDE) | B(F_COUNT) | \
                  B(F_PAGE) | B(F_PROT) | B(F_CSTATE) | B(F_CYCLES) | B(F_LABEL) | B(F_GPA) | \
                  B(F_KEYID))

/* The body fields op carries, as B(F_*) bits (flags already known): the
 * required ones, and the optional ones given (trace_op_has). */
static u32 bin_fields(const struct trace_op *op)
{
    const struct trace_op_desc *d = trace_op_desc(op->type);
    u32 m = d->req & BIN_BODY, opt = d->opt & BIN_BODY;

    while (opt) {
        const struct trace_field_desc *fd = trace_field_desc((enum trace_field)__builtin_ctz(opt));
        if ((!fd->flag || (op->flags & fd->flag)) && !(op->flags & fd->absent))
            m |= opt & -opt;
        opt &= opt - 1;
    }
    return m;
}

static u8 *enc_vas(struct trace_bin_wr *b, u8 *p, u32 slot, const struct trace_op *op)
{
    const u64 *vas = op->vas ? op->vas : &op->va;

    if (op->flags & OPF_VA_ARRAY)
        p = put_varint(p, op->nr_va);
    for (u32 i = 0; i < op->nr_va; i++)
        p = enc_va(b, p, slot, vas[i]);
    return p;
}

static u8 *enc_field(struct trace_bin_wr *b, u8 *p, u32 slot, const struct trace_op *op,
                     int f)
{
    u32 allowed = trace_op_desc(op->type)->flags;

    switch (f) {
    case F_MM:     return put_varint(p, zz_enc((u64)op->mm));
    case F_KIND:   *p++ = op->kind; return p;
    case F_VA:                                  /* access: an array */
        return allowed & OPF_VA_ARRAY ? enc_vas(b, p, slot, op) : enc_va(b, p, slot, op->va);
    case F_LEN:    return put_varint(p, op->len);
    case F_STRIDE:                              /* flush: a page shift */
        if (allowed & OPF_STRIDE) {
            *p++ = op->stride_shift;
            return p;
        }
        return put_varint(p, op->stride);
    case F_COUNT:  return put_varint(p, op->count);
    case F_PAGE:   *p++ = op->page_shift; return p;
    case F_PROT:   *p++ = op->prot; return p;
    case F_CSTATE: *p++ = op->cstate; return p;
    case F_CYCLES: return put_varint(p, op->cycles);
    case F_GPA:    return put_varint(p, op->gpa);
    case F_KEYID:  return put_varint(p, op->keyid);
    case F_LABEL: {
        size_t n = strlen(op->label);
        p = put_varint(p, n);
        memcpy(p, op->label, n);
        return p + n;
    }
    }
    return p;
}

static u8 *enc_body(struct trace_bin_wr *b, u8 *p, u32 slot, const struct trace_op *op)
{
    u32 m = bin_fields(op);

    for (size_t i = 0; m && i < sizeof(bin_order); i++)
        if (m & B(bin_order[i])) {
            m &= ~B(bin_order[i]);
            p = enc_field(b, p, slot, op, bin_order[i]);
        }
    return p;
}

int trace_bin_write_op(struct trace_writer *w, const struct trace_op *op, struct sim_err *err)
{
    struct trace_bin_wr *b = w->bin;
    size_t need = 96;

    if (op->flags & OPF_VA_ARRAY)
        need += (size_t)op->nr_va * 10;
    if (trace_op_has(op, F_LABEL))
        need += TRACE_MAX_LABEL;
    if (b->len + need > b->cap) {
        size_t nc = b->len + need + TRACE_BIN_BLOCK_TARGET;
        u8 *nb = realloc(b->blk, nc);
        if (!nb)
            return sim_err_set(err, SIM_ENOMEM, "out of memory");
        b->blk = nb;
        b->cap = nc;
    }
    u32 slot = (op->flags & OPF_CPU) ? op->cpu : w->hdr.cpus;
    u8 *p = b->blk + b->len;
    *p++ = (u8)op->type;
    p = put_varint(p, op->flags);
    if (op->flags & OPF_CPU)
        p = put_varint(p, op->cpu);
    if (op->flags & OPF_T) {
        p = put_varint(p, zz_enc(op->t - b->prev_t));
        b->prev_t = op->t;
    }
    if (op->flags & OPF_GAP)
        p = put_varint(p, op->gap);
    p = enc_body(b, p, slot, op);
    b->len = (size_t)(p - b->blk);
    b->nrec++;
    b->total++;
    return b->len >= TRACE_BIN_BLOCK_TARGET ? emit_block(w, err) : SIM_OK;
}

int trace_bin_write_end(struct trace_writer *w, struct sim_err *err)
{
    u8 end[13];
    int rc;

    if ((rc = emit_block(w, err)))
        return rc;
    end[0] = TRACE_BIN_TAG_END;
    put_le64(end + 1, w->bin->total);
    put_le32(end + 9, crc32_update(0, end, 9));
    return trace_w_append(w, end, sizeof(end), err);
}

/* ===== reader ============================================================ */

struct trace_bin_rd {
    struct cur blk;                     /* records of the current block (in r->in) */
    u32 left;                           /* records left in it */
    size_t block_bytes;                 /* its size, consumed once decoded */
    u64 block_off;                      /* its file offset, for messages */
    u64 block_no;                       /* 0-based */
    bool done;                          /* end block seen */
    u64 *prev_va;                       /* [cpus + 1] address predictors */
    u32 nr_slots;                       /* cpus + 1 */
    u64 prev_t;                         /* t predictor */
};

void trace_bin_free(struct trace_reader *r)
{
    if (!r->bin)
        return;
    free(r->bin->prev_va);
    free(r->bin);
    r->bin = NULL;
}

static int bin_hdr_payload(struct trace_reader *r, const u8 *p, size_t n, struct sim_err *err)
{
    struct cur c = { p, p + n, false };
    struct trace_header *h = &r->hdr;
    u64 cpus = get_varint(&c), va_bits = get_varint(&c);

    memset(h, 0, sizeof(*h));
    h->version = 1;
    h->cpus = cpus > UINT32_MAX ? UINT32_MAX : (u32)cpus;
    h->va_bits = va_bits > UINT32_MAX ? UINT32_MAX : (u32)va_bits;
    char *dst[2] = { h->name, h->source };
    for (int i = 0; i < 2; i++) {
        u64 len = get_varint(&c);
        if (c.bad || len > TRACE_MAX_NAME || len > (u64)(c.end - c.p))
            return sim_err_set(err, SIM_EPARSE, "%s: header: malformed (bad %s)", r->path,
                               i ? "source" : "name");
        memcpy(dst[i], c.p, len);
        dst[i][len] = '\0';
        c.p += len;
        if (memchr(dst[i], 0, len))
            return sim_err_set(err, SIM_EPARSE, "%s: header: %s contains a NUL byte",
                               r->path, i ? "source" : "name");
    }
    if (c.bad || c.p != c.end)
        return sim_err_set(err, SIM_EPARSE, "%s: header: malformed (%s)", r->path,
                           c.bad ? "truncated" : "trailing bytes");
    if (h->va_bits == 0)
        return sim_err_set(err, SIM_EPARSE, "%s: va_bits: must be 48 or 57", r->path);
    int rc = trace_check_header(h, err);
    if (rc)
        sim_err_prefix(err, "%s: ", r->path);
    return rc;
}

int trace_bin_open(struct trace_reader *r, struct sim_err *err)
{
    long n = trace_rd_need(&r->in, 12, err);
    const u8 *h;

    if (n < 12)
        goto trunc;
    h = r->in.buf + r->in.start;
    if (h[4] != TRACE_BIN_VERSION)
        return sim_err_set(err, SIM_EPARSE, "%s: header: unsupported binary trace version %u "
                           "(this build reads version %d)", r->path, h[4], TRACE_BIN_VERSION);
    if (h[5] || h[6] || h[7])
        return sim_err_set(err, SIM_EPARSE, "%s: header: reserved bytes are not zero", r->path);
    u32 hlen = get_le32(h + 8);
    if (hlen > TRACE_BIN_HDR_MAX)
        return sim_err_set(err, SIM_EPARSE, "%s: header: length %u is out of range "
                           "(corrupted file)", r->path, hlen);
    n = trace_rd_need(&r->in, 16 + (size_t)hlen, err);
    if (n < (long)(16 + hlen))
        goto trunc;
    h = r->in.buf + r->in.start;                /* the buffer may have moved */
    if (crc32_update(0, h, 12 + hlen) != get_le32(h + 12 + hlen))
        return sim_err_set(err, SIM_EPARSE, "%s: header: checksum mismatch (corrupted file)",
                           r->path);
    int rc = bin_hdr_payload(r, h + 12, hlen, err);
    if (rc)
        return rc;
    r->in.start += 16 + hlen;
    struct trace_bin_rd *b = calloc(1, sizeof(*b));
    if (!b || !(b->prev_va = calloc(r->hdr.cpus + 1, sizeof(*b->prev_va)))) {
        free(b);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    b->nr_slots = r->hdr.cpus + 1;
    r->bin = b;
    return SIM_OK;
trunc:
    if (n < 0) {
        sim_err_prefix(err, "%s: ", r->path);
        return (int)n;
    }
    return sim_err_set(err, SIM_EPARSE, "%s: header: truncated file", r->path);
}

static int bin_fail(struct trace_reader *r, struct sim_err *err, int code, u64 line,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int bin_fail(struct trace_reader *r, struct sim_err *err, int code, u64 line,
                    const char *fmt, ...)
{
    char msg[SIM_ERR_MSG];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sim_err_set(err, code, "%s:%" PRIu64 ": %s", r->path, line, msg);
}

/* An error of trace_rd_need (no prefix yet). */
static int bin_io_fail(struct trace_reader *r, long rc, struct sim_err *err)
{
    sim_err_prefix(err, "%s:%" PRIu64 ": ", r->path, r->line + 1);
    return (int)rc;
}

static int bin_read_end(struct trace_reader *r, struct trace_bin_rd *b, u64 off,
                        struct sim_err *err)
{
    long n = trace_rd_need(&r->in, 13, err);
    const u8 *p = r->in.buf + r->in.start;

    if (n < 0)
        return bin_io_fail(r, n, err);
    if (n < 13)
        return bin_fail(r, err, SIM_EPARSE, r->line + 1, "end: truncated file (end block at "
                        "byte offset %" PRIu64 " is cut short)", off);
    if (crc32_update(0, p, 9) != get_le32(p + 9))
        return bin_fail(r, err, SIM_EPARSE, r->line + 1, "end: checksum mismatch in the end "
                        "block at byte offset %" PRIu64 " (corrupted file)", off);
    if (get_le64(p + 1) != r->line)
        return bin_fail(r, err, SIM_EPARSE, r->line + 1, "end: the end block counts %" PRIu64
                        " records but the file holds %" PRIu64 " (records lost)",
                        get_le64(p + 1), r->line);
    r->in.start += 13;
    if ((n = trace_rd_need(&r->in, 1, err)) != 0)
        return n < 0 ? bin_io_fail(r, n, err) : bin_fail(r, err, SIM_EPARSE, r->line + 1, "end: trailing "
                                         "data after the end block (byte offset %" PRIu64 ")",
                                         off + 13);
    b->done = true;
    return SIM_OK;
}

/* Load the next block (or the end block) into r->in and verify it. */
static int bin_load_block(struct trace_reader *r, struct trace_bin_rd *b, struct sim_err *err)
{
    u64 off = trace_rd_offset(&r->in), first = r->line + 1;
    long n = trace_rd_need(&r->in, 9, err);

    if (n < 0)
        return bin_io_fail(r, n, err);
    if (n == 0)
        return bin_fail(r, err, SIM_EPARSE, first, "end: truncated file (no end block after "
                        "%" PRIu64 " records)", r->line);
    const u8 *p = r->in.buf + r->in.start;
    if (p[0] == TRACE_BIN_TAG_END)
        return bin_read_end(r, b, off, err);
    if (p[0] != TRACE_BIN_TAG_BLOCK)
        return bin_fail(r, err, SIM_EPARSE, first, "block: bad tag 0x%02x at byte offset "
                        "%" PRIu64 " (corrupted file)", p[0], off);
    if (n < 9)
        return bin_fail(r, err, SIM_EPARSE, first, "block: truncated file (block %" PRIu64
                        " at byte offset %" PRIu64 " is cut short)", b->block_no, off);
    u32 nrec = get_le32(p + 1), len = get_le32(p + 5);
    if (len > TRACE_BIN_MAX_BLOCK)
        return bin_fail(r, err, SIM_EPARSE, first, "block: length %u of block %" PRIu64
                        " is out of range (corrupted file)", len, b->block_no);
    size_t total = 9 + (size_t)len + 4;
    if ((n = trace_rd_need(&r->in, total, err)) < 0)
        return bin_io_fail(r, n, err);
    if ((size_t)n < total)
        return bin_fail(r, err, SIM_EPARSE, first, "block: truncated file (block %" PRIu64
                        " at byte offset %" PRIu64 " is cut short)", b->block_no, off);
    p = r->in.buf + r->in.start;
    if (crc32_update(0, p, 9 + len) != get_le32(p + 9 + len))
        return bin_fail(r, err, SIM_EPARSE, first, "block: checksum mismatch in block %" PRIu64
                        " (records %" PRIu64 "..%" PRIu64 ", byte offset %" PRIu64 "): "
                        "corrupted file", b->block_no, first, r->line + nrec, off);
    b->blk = (struct cur){ p + 9, p + 9 + len, false };
    b->left = nrec;
    b->block_bytes = total;
    b->block_off = off;
    b->block_no++;
    preds_reset(b->prev_va, b->nr_slots, &b->prev_t);
    return SIM_OK;
}

static inline u64 dec_va(struct trace_bin_rd *b, struct cur *c, u32 slot)
{
    return b->prev_va[slot] += zz_dec(get_varint(c));
}

static int dec_access(struct trace_reader *r, struct cur *c, u32 slot, struct trace_op *op,
                      struct sim_err *err)
{
    u64 nr = 1;

    if (op->flags & OPF_VA_ARRAY)
        nr = get_varint(c);
    if (c->bad)
        return SIM_OK;
    if (nr == 0)
        return sim_err_set(err, SIM_EPARSE, "va: an access needs at least one address");
    if (nr > TRACE_MAX_ARRAY)
        return sim_err_set(err, SIM_ELIMIT, "va: array of %" PRIu64 " addresses exceeds the "
                           "limit of %d", nr, TRACE_MAX_ARRAY);
    if (nr > (u64)(c->end - c->p)) {            /* every address takes >= 1 byte */
        c->bad = true;
        return SIM_OK;
    }
    if (trace_reader_vas(r, (u32)nr))
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    /* The bulk of the trace: predictor in a register, and no bounds check
     * per byte while VARINT_MAX bytes remain (then the checked decoder). */
    u64 va = r->bin->prev_va[slot], *out = r->vas;
    u32 i = 0;
    for (; i < (u32)nr && c->end - c->p >= VARINT_MAX; i++)
        out[i] = va += zz_dec(get_varint_fast(c));
    for (; i < (u32)nr; i++)
        out[i] = va += zz_dec(get_varint(c));
    r->bin->prev_va[slot] = va;
    op->vas = r->vas;
    op->nr_va = (u32)nr;
    op->va = r->vas[0];
    return SIM_OK;
}

static int dec_label(struct trace_reader *r, struct cur *c, struct trace_op *op,
                     struct sim_err *err)
{
    u64 n = get_varint(c);

    if (c->bad)
        return SIM_OK;
    if (n > TRACE_MAX_LABEL)
        return sim_err_set(err, SIM_ELIMIT, "label: %" PRIu64 " bytes exceeds the limit of %d",
                           n, TRACE_MAX_LABEL);
    if (n > (u64)(c->end - c->p)) {
        c->bad = true;
        return SIM_OK;
    }
    memcpy(r->label, c->p, n);
    r->label[n] = '\0';
    c->p += n;
    if (memchr(r->label, 0, n))
        return sim_err_set(err, SIM_EPARSE, "label: contains a NUL byte");
    op->label = r->label;
    return SIM_OK;
}

static int dec_field(struct trace_reader *r, struct cur *c, u32 slot, struct trace_op *op,
                     int f, struct sim_err *err)
{
    u32 allowed = trace_op_desc(op->type)->flags;

    switch (f) {
    case F_MM:     op->mm = (s64)zz_dec(get_varint(c)); return SIM_OK;
    case F_KIND:   op->kind = get_u8(c); return SIM_OK;
    case F_VA:                                  /* access: an array */
        if (allowed & OPF_VA_ARRAY)
            return dec_access(r, c, slot, op, err);
        op->va = dec_va(r->bin, c, slot);
        return SIM_OK;
    case F_LEN:    op->len = get_varint(c); return SIM_OK;
    case F_STRIDE:                              /* flush: a page shift */
        if (allowed & OPF_STRIDE)
            op->stride_shift = get_u8(c);
        else
            op->stride = get_varint(c);
        return SIM_OK;
    case F_COUNT:  op->count = get_varint(c); return SIM_OK;
    case F_PAGE:   op->page_shift = get_u8(c); return SIM_OK;
    case F_PROT:   op->prot = get_u8(c); return SIM_OK;
    case F_CSTATE: op->cstate = get_u8(c); return SIM_OK;
    case F_CYCLES: op->cycles = get_varint(c); return SIM_OK;
    case F_GPA:    op->gpa = get_varint(c); return SIM_OK;
    case F_KEYID: {
        u64 v = get_varint(c);
        return c->bad ? SIM_OK : trace_keyid_set(op, v, err);
    }
    case F_LABEL:  return dec_label(r, c, op, err);
    }
    return SIM_OK;
}

static int dec_body(struct trace_reader *r, struct cur *c, u32 slot, struct trace_op *op,
                    struct sim_err *err)
{
    u32 m = bin_fields(op);
    int rc;

    if (trace_op_desc(op->type)->flags & OPF_STRIDE)    /* flush: "stride" defaults to 4k */
        op->stride_shift = PAGE_SHIFT_4K;
    for (size_t i = 0; m && i < sizeof(bin_order); i++)
        if (m & B(bin_order[i])) {
            m &= ~B(bin_order[i]);
            if ((rc = dec_field(r, c, slot, op, bin_order[i], err)))
                return rc;
        }
    return SIM_OK;
}

/* Decode one record; err->msg has no prefix. */
static int dec_op(struct trace_reader *r, struct trace_op *op, struct sim_err *err)
{
    struct trace_bin_rd *b = r->bin;
    struct cur *c = &b->blk;
    int rc;

    memset(op, 0, sizeof(*op));
    u8 type = get_u8(c);
    u64 flags = get_varint(c);
    if (c->bad)
        goto bad;
    if (type >= OP__COUNT)
        return sim_err_set(err, SIM_EPARSE, "op: unknown op type %u (corrupted file?)", type);
    if (flags > UINT32_MAX)
        return sim_err_set(err, SIM_EPARSE, "flags: 0x%" PRIx64 " out of range", flags);
    op->type = (enum trace_op_type)type;
    op->flags = (u32)flags;
    if (op->flags & OPF_CPU) {
        u64 cpu = get_varint(c);
        if (cpu >= r->hdr.cpus && !c->bad)
            return sim_err_set(err, SIM_EPARSE, "cpu: %" PRIu64 " is not below the header's "
                               "cpus (%u)", cpu, r->hdr.cpus);
        op->cpu = (u32)cpu;
    }
    u32 slot = (op->flags & OPF_CPU) ? op->cpu : r->hdr.cpus;
    if (op->flags & OPF_T)
        op->t = b->prev_t += zz_dec(get_varint(c));
    if (op->flags & OPF_GAP)
        op->gap = get_varint(c);
    if ((rc = dec_body(r, c, slot, op, err)))
        return rc;
    if (!c->bad)
        return SIM_OK;
bad:
    return sim_err_set(err, SIM_EPARSE, "record: truncated or malformed record in block %" PRIu64
                       " (corrupted file)", b->block_no - 1);
}

/* ===== fast path: access records ======================================== */

bool trace_bin_fast = true;

/* Bytes an access record's head can take: type, flags, cpu, t, gap, kind
 * and the array length (five varints of at most VARINT_MAX bytes). */
#define ACCESS_HEAD_MAX (3 + 5 * VARINT_MAX)

static bool kind_ok(unsigned k) { return k == 'r' || k == 'w' || k == 'x'; }

/* The access op the fast paths decoded. */
static inline __attribute__((always_inline)) void set_access_op(struct trace_op *op, u32 flags,
                                                                 u32 cpu, u64 t, u64 gap,
                                                                 u64 line, const u64 *out,
                                                                 u32 nr, u8 kind)
{
    /* Every field, one store each (a memset of the op compiles to rep
     * stos at -O3, which costs more than the rest of this function).  A
     * new field of struct trace_op must be added here: the assertion
     * below fails when the struct changes size, but a field that fits in
     * padding does not change it (keyid did not), so check by hand too. */
    _Static_assert(sizeof(void *) != 8 || sizeof(struct trace_op) == 128,
                   "dec_access_fast() sets every field of struct trace_op");
    op->type = OP_ACCESS;
    op->flags = flags;
    op->cpu = cpu;
    op->mm = 0;
    op->va = out[0];
    op->len = op->gpa = op->stride = op->count = op->cycles = 0;
    op->t = t;
    op->gap = gap;
    op->line = line;
    op->vas = out;
    op->nr_va = nr;
    op->keyid = 0;
    op->kind = kind;
    op->page_shift = op->prot = op->stride_shift = op->cstate = 0;
    op->label = NULL;
}

/* The bulk of every trace, access records, decoded and checked in one pass
 * without the field tables: the same op as dec_op() and the same verdict
 * as trace_check_op() (check_flags and check_access) for every record it
 * accepts.  It accepts only records that pass every check; anything else
 * (another op, a failed check, a block to load, a record near the end of
 * its block) returns false with nothing consumed, and the general decoder
 * and the checker then handle the record and write any message.  Nothing
 * is committed (cursor, predictors, record count) before the record has
 * passed. */
static inline __attribute__((always_inline)) bool dec_access_fast(struct trace_reader *r,
                                                                   struct trace_op *op)
{
    struct trace_bin_rd *b = r->bin;
    struct cur *c = &b->blk;
    const u8 *p0 = c->p;

    if (!b->left || c->end - c->p < ACCESS_HEAD_MAX || *c->p != OP_ACCESS)
        return false;
    /* The commonest record of one-address traces: flags OPF_CPU alone, a
     * one-byte cpu, the kind and one user address (the same checks as
     * below, fewer of them needed); anything else takes the long way. */
    if (p0[1] == OPF_CPU && p0[2] < 0x80 && p0[2] < r->hdr.cpus && kind_ok(p0[3]) &&
        r->vas_cap && r->chk.cur_mm[p0[2]] >= 0) {
        const u8 *q = p0 + 4;
        bool bad = false;
        u32 cpu = p0[2];
        u64 va = b->prev_va[cpu] + zz_dec(varint_fast(&q, &bad));
        if (likely(!bad && !(va >> (r->chk.va_bits - 1)))) {
            c->p = q;
            b->prev_va[cpu] = va;
            b->left--;
            r->line++;
            r->vas[0] = va;
            set_access_op(op, OPF_CPU, cpu, 0, 0, r->line + r->line_base, r->vas, 1, p0[3]);
            return true;
        }
    }
    c->p++;
    u64 flags = get_varint_fast(c);
    if ((flags & ~(u64)(OPF_CPU | OPF_T | OPF_GAP | OPF_VA_ARRAY)) || !(flags & OPF_CPU) ||
        (flags & (OPF_T | OPF_GAP)) == (OPF_T | OPF_GAP))
        goto slow;
    u64 cpu = get_varint_fast(c), t = 0, gap = 0, nr = 1;
    if (cpu >= r->hdr.cpus)
        goto slow;
    if (flags & OPF_T) {
        t = b->prev_t + zz_dec(get_varint_fast(c));
        if (t > TRACE_MAX_CYCLES)
            goto slow;
    }
    if (flags & OPF_GAP) {
        gap = get_varint_fast(c);
        if (gap > TRACE_MAX_CYCLES)
            goto slow;
    }
    u8 kind = *c->p++;
    if (!kind_ok(kind))
        goto slow;
    if (flags & OPF_VA_ARRAY) {
        nr = get_varint_fast(c);
        if (nr == 0 || nr > TRACE_MAX_ARRAY || nr > (u64)(c->end - c->p))
            goto slow;
    }
    if (c->bad || (nr > r->vas_cap && trace_reader_vas(r, (u32)nr)))
        goto slow;
    /* Decode as dec_access() does; every address canonical, and a CPU
     * that touches a user address must run a user address space.  The
     * addresses are ORed together: when the OR is below the upper half
     * (the usual user-space trace), every one of them is canonical and a
     * user address, and only the CPU's address space is left to check;
     * otherwise each address is checked. */
    u64 va = b->prev_va[cpu], *out = r->vas, any = 0;
    u32 i = 0;
    const u8 *p = c->p;
    while (i < (u32)nr && c->end - p >= VARINT_MAX) {
        /* Two varints of up to four bytes each in one 8-byte word: the
         * cursor, whose every step waits on the load before it, moves
         * once per two addresses (the usual case for nearby addresses). */
        if (likely(i + 1 < (u32)nr)) {
            u64 x, ends, ends2;
            memcpy(&x, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            x = __builtin_bswap64(x);
#endif
            ends = ~x & 0x8080808080808080ull;
            ends2 = ends & (ends - 1);
            unsigned b1 = 8, b2 = 8;            /* last bytes of the two varints */
            if (likely(ends2)) {
                b1 = (unsigned)__builtin_ctzll(ends) >> 3;
                b2 = (unsigned)__builtin_ctzll(ends2) >> 3;
            }
            if (likely(b1 < 4 && b2 - b1 <= 4)) {
                u64 y = x >> (8 * b1 + 8), ey = ends >> (8 * b1 + 8);
                out[i] = va += zz_dec(varint_pack4((u32)(x & (ends ^ (ends - 1)))));
                any |= va;
                out[i + 1] = va += zz_dec(varint_pack4((u32)(y & (ey ^ (ey - 1)))));
                any |= va;
                p += b2 + 1;
                i += 2;
                continue;
            }
        }
        out[i++] = va += zz_dec(varint_fast(&p, &c->bad));
        any |= va;
    }
    c->p = p;
    for (; i < (u32)nr; i++) {
        out[i] = va += zz_dec(get_varint(c));
        any |= va;
    }
    if (c->bad)
        goto slow;
    if (any >> (r->chk.va_bits - 1)) {
        unsigned sh = 64 - r->chk.va_bits;
        u64 noncanon = 0, user = 0;
        for (i = 0; i < (u32)nr; i++) {
            noncanon |= (u64)((s64)(out[i] << sh) >> sh) ^ out[i];
            user |= ~out[i];
        }
        if (noncanon || ((user >> 63) && r->chk.cur_mm[cpu] < 0))
            goto slow;
    } else if (r->chk.cur_mm[cpu] < 0) {
        goto slow;
    }
    b->prev_va[cpu] = va;
    if (flags & OPF_T)
        b->prev_t = t;
    b->left--;
    r->line++;
    set_access_op(op, (u32)flags, (u32)cpu, t, gap, r->line + r->line_base, out, (u32)nr, kind);
    return true;
slow:
    c->p = p0;
    c->bad = false;
    return false;
}

/* trace_bin_next() past the fast path: block boundaries, the end, and
 * every record the fast path left to the general decoder. */
static __attribute__((noinline)) int bin_next_slow(struct trace_reader *r, struct trace_op *op,
                                                   struct sim_err *err)
{
    struct trace_bin_rd *b = r->bin;
    int rc;

    while (!b->left) {
        if (b->block_bytes) {
            if (b->blk.p != b->blk.end)
                return bin_fail(r, err, SIM_EPARSE, r->line, "block: %zu bytes after the last "
                                "record of block %" PRIu64 " (corrupted file)",
                                (size_t)(b->blk.end - b->blk.p), b->block_no - 1);
            r->in.start += b->block_bytes;
            b->block_bytes = 0;
        }
        if (b->done)
            return 0;
        if ((rc = bin_load_block(r, b, err)))
            return rc;
        if (trace_bin_fast && dec_access_fast(r, op))
            return 1;                   /* a block's first record */
    }
    b->left--;
    r->line++;
    return trace_reader_op_done(r, op, dec_op(r, op, err), err);
}

int trace_bin_next(struct trace_reader *r, struct trace_op *op, struct sim_err *err)
{
    if (likely(trace_bin_fast) && dec_access_fast(r, op))
        return 1;
    return bin_next_slow(r, op, err);
}

int trace_bin_src_next(void *ctx, struct trace_op *op, struct sim_err *err)
{
    struct trace_reader *r = ctx;

    if (likely(trace_bin_fast && !r->sticky) && dec_access_fast(r, op))
        return 1;
    return trace_next(r, op, err);
}
