/* tests/test_trace_fast.c - the binary reader's access fast path
 * (sim/io/trace_bin.c: dec_access_fast) against the general decoder and
 * trace_check_op(): the same ops and the same error and message, on valid
 * traces and on damaged ones whose block checksums were recomputed so the
 * decoder sees the damage, and hand-made access records with a correct
 * checksum that the checks must still reject. */
#include "../sim/io/crc32.h"
#include "../sim/io/trace_priv.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(trace_fast, .init = h_tmpdir_setup, .fini = h_tmpdir_teardown, .timeout = 60);

#define KBASE 0xffff888000000000ull

/* Everything a reader returns for a file: ops (hashed field by field,
 * addresses and label included), the final code and message. */
struct digest {
    u64 ops, hash;
    int rc;
    char msg[SIM_ERR_MSG];
};

static u64 mix(u64 h, u64 v) { return (h ^ v) * 0x100000001b3ull + (v >> 29); }

static void digest(const char *path, bool fast, struct digest *d)
{
    struct trace_reader *r = NULL;
    struct trace_op op;
    struct sim_err err = { 0 };

    memset(d, 0, sizeof(*d));
    trace_bin_fast = fast;
    d->rc = trace_open(path, &r, NULL, &err);
    while (!d->rc && (d->rc = trace_next(r, &op, &err)) == 1) {
        const u64 f[] = { op.type, op.flags, op.cpu, (u64)op.mm, op.va, op.len, op.gpa,
                          op.stride, op.count, op.cycles, op.t, op.gap, op.line, op.nr_va,
                          op.keyid, op.kind, op.page_shift, op.prot, op.stride_shift, op.cstate,
                          op.vas != NULL, op.label != NULL };
        for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
            d->hash = mix(d->hash, f[i]);
        for (u32 i = 0; op.vas && i < op.nr_va; i++)
            d->hash = mix(d->hash, op.vas[i]);
        for (const char *p = op.label; p && *p; p++)
            d->hash = mix(d->hash, (u8)*p);
        d->ops++;
        d->rc = 0;
    }
    if (d->rc < 0)
        snprintf(d->msg, sizeof(d->msg), "%s", err.msg);
    trace_close(r);
    trace_bin_fast = true;
}

static void expect_same(const char *path, const char *what)
{
    struct digest a, b;

    digest(path, true, &a);
    digest(path, false, &b);
    cr_expect_eq(a.ops, b.ops, "%s: %llu ops with the fast path, %llu without", what,
                 (unsigned long long)a.ops, (unsigned long long)b.ops);
    cr_expect_eq(a.hash, b.hash, "%s: ops differ", what);
    cr_expect_eq(a.rc, b.rc, "%s: code %d with the fast path, %d without (%s | %s)", what,
                 a.rc, b.rc, a.msg, b.msg);
    cr_expect_str_eq(a.msg, b.msg, "%s: messages differ", what);
}

static void put(struct trace_writer *w, struct trace_op *op)
{
    struct sim_err err = { 0 };

    cr_assert_eq(trace_write(w, op, &err), SIM_OK, "%s", err.msg);
}

/* Access records of every shape: single addresses and arrays (up to 100,
 * past the reader's first buffer), r/w/x, t and gap, user and kernel
 * addresses near and far (varints of 1 to 10 bytes), three CPUs of which
 * one runs no user address space, and a CPU that leaves its mm and comes
 * back (the user-address check follows the switches). */
static void gen(const char *path, unsigned va_bits, u64 seed)
{
    struct trace_header h = { .version = 1, .cpus = 3, .va_bits = va_bits };
    u64 top = va_bits == 57 ? 1ull << 56 : 1ull << 47, vas[100], t = 0;
    struct trace_writer *w;
    struct sim_err err = { 0 };
    struct trace_op op;
    bool cpu1_user = true;

    cr_assert_eq(trace_writer_open(path, &h, TRACE_FMT_BINARY, &w, &err), SIM_OK, "%s", err.msg);
    op = (struct trace_op){ .type = OP_MM_NEW, .mm = 1 };
    put(w, &op);
    for (u32 c = 0; c < 2; c++) {
        op = (struct trace_op){ .type = OP_SWITCH, .flags = OPF_CPU, .cpu = c, .mm = 1 };
        put(w, &op);
    }
    for (int i = 0; i < 3000; i++) {
        u64 x = sim_rand_next(&seed);
        u32 cpu = (u32)(x % 3), k = (x >> 8) % 8 ? 1 : 1 + (u32)((x >> 11) % 100);
        if ((x >> 20) % 64 == 0) {
            cpu1_user = !cpu1_user;
            op = (struct trace_op){ .type = OP_SWITCH, .flags = OPF_CPU, .cpu = 1,
                                    .mm = cpu1_user ? 1 : MM_NULL };
            put(w, &op);
            continue;
        }
        if ((x >> 20) % 64 == 1) {
            /* A map with a KeyID: the next access decoded into the same
             * op must not keep its keyid. */
            op = (struct trace_op){ .type = OP_MAP, .flags = OPF_KEYID, .mm = 1,
                                    .va = 0x10000000 + (u64)i * 4096, .len = 4096,
                                    .page_shift = 12, .prot = PROT_R | PROT_W, .keyid = 5 };
            put(w, &op);
            continue;
        }
        bool user = (cpu == 0 || (cpu == 1 && cpu1_user)) && (x >> 27) % 4;
        for (u32 j = 0; j < k; j++) {
            u64 y = sim_rand_next(&seed), off = (y >> 3) % (j % 5 ? 1ull << 16 : top);
            vas[j] = user ? off : KBASE + (off & ((1ull << 40) - 1));
        }
        op = (struct trace_op){ .type = OP_ACCESS, .cpu = cpu, .vas = vas, .nr_va = k,
                                .va = vas[0], .kind = (u8)"rwx"[(x >> 30) % 3] };
        op.flags = OPF_CPU | (k > 1 || (x >> 33) % 4 == 0 ? OPF_VA_ARRAY : 0);
        if ((x >> 36) % 4 == 0) {
            op.flags |= OPF_T;
            op.t = t += (x >> 40) % 3 ? (x >> 40) & 1023 : 1ull << 59;
            if (t > TRACE_MAX_CYCLES)
                op.t = t = 0;
        } else if ((x >> 36) % 4 == 1) {
            op.flags |= OPF_GAP;
            op.gap = (x >> 42) % 5 ? (x >> 42) & 255 : TRACE_MAX_CYCLES;
        }
        put(w, &op);
    }
    cr_assert_eq(trace_writer_close(w, true, &err), SIM_OK, "%s", err.msg);
}

static u8 *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    u8 *b = malloc(*n);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void spill(const char *path, const u8 *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

static u32 le32(const u8 *p)
{
    return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

static void set_le32(u8 *p, u32 v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (u8)(v >> (8 * i));
}

/* Recompute every block checksum (traces/FORMAT.md: CRC32 of the tag,
 * counts and payload), so damage inside a block reaches the decoder. */
static void fix_checksums(u8 *b, size_t n)
{
    size_t at = 16 + le32(b + 8);

    while (at + 9 <= n && b[at] == TRACE_BIN_TAG_BLOCK) {
        size_t len = le32(b + at + 5);
        if (at + 9 + len + 4 > n)
            return;
        set_le32(b + at + 9 + len, crc32_update(0, b + at, 9 + len));
        at += 9 + len + 4;
    }
}

Test(trace_fast, agrees_with_the_general_path_on_valid_traces)
{
    gen(h_tmp_path("v48.tlbt"), 48, 1);
    gen(h_tmp_path("v57.tlbt"), 57, 2);
    expect_same(h_tmp_path("v48.tlbt"), "va_bits 48");
    expect_same(h_tmp_path("v57.tlbt"), "va_bits 57");

    struct digest d;
    digest(h_tmp_path("v48.tlbt"), true, &d);
    cr_expect_eq(d.rc, 0, "%s", d.msg);
    cr_expect_gt(d.ops, 2900);
}

/* Damaged records with valid checksums: bytes replaced or bits flipped
 * anywhere in the block payloads.  Both paths must accept the same ops and
 * stop at the same record with the same message. */
Test(trace_fast, agrees_with_the_general_path_on_damaged_records)
{
    u64 seed = 99;
    size_t n;
    int errors = 0, clean = 0;

    for (int f = 0; f < 2; f++) {
        const char *src = h_tmp_path(f ? "d57.tlbt" : "d48.tlbt");
        gen(src, f ? 57 : 48, 10 + (u64)f);
        u8 *orig = slurp(src, &n), *b = malloc(n);
        size_t first = 16 + le32(orig + 8) + 9;         /* first record byte */
        for (int it = 0; it < 600; it++) {
            memcpy(b, orig, n);
            int k = 1 + (int)(sim_rand_next(&seed) % 3);
            for (int j = 0; j < k; j++) {
                u64 x = sim_rand_next(&seed);
                size_t at = first + (size_t)(x % (n - first - 17));
                if ((x >> 40) & 1)
                    b[at] ^= (u8)(1u << ((x >> 41) & 7));
                else
                    b[at] = (u8)(x >> 48);
            }
            fix_checksums(b, n);
            const char *p = h_tmp_path("mut.tlbt");
            spill(p, b, n);
            char what[64];
            snprintf(what, sizeof(what), "file %d, mutation %d", f, it);
            expect_same(p, what);
            struct digest d;
            digest(p, true, &d);
            if (d.rc < 0)
                errors++;
            else
                clean++;
        }
        free(orig);
        free(b);
    }
    /* The damage must reach the checks both ways, or the test tests little. */
    cr_expect_gt(errors, 300, "%d damaged files rejected", errors);
    cr_expect_gt(clean, 20, "%d damaged files still read to the end", clean);
}

/* A hand-made binary file (cpus 2, va_bits 48) of one block of records,
 * with correct checksums. */
static void craft(const char *path, const u8 *rec, size_t rlen, u32 nrec)
{
    u8 f[256];
    size_t n = 0;

    memcpy(f, "TLBT\x01\0\0\0\x04\0\0\0\x02\x30\0\0", 16);
    set_le32(f + 16, crc32_update(0, f, 16));
    n = 20;
    f[n] = TRACE_BIN_TAG_BLOCK;
    set_le32(f + n + 1, nrec);
    set_le32(f + n + 5, (u32)rlen);
    memcpy(f + n + 9, rec, rlen);
    set_le32(f + n + 9 + rlen, crc32_update(0, f + n, 9 + rlen));
    n += 9 + rlen + 4;
    memset(f + n, 0, 13);
    f[n] = TRACE_BIN_TAG_END;
    f[n + 1] = (u8)nrec;
    set_le32(f + n + 9, crc32_update(0, f + n, 9));
    spill(path, f, n + 13);
}

static void expect_reject(const u8 *rec, size_t rlen, u32 nrec, int code, const char *want)
{
    const char *p = h_tmp_path("craft.tlbt");
    struct digest d;

    craft(p, rec, rlen, nrec);
    expect_same(p, want);
    digest(p, true, &d);
    cr_expect_eq(d.rc, code, "%s: code %d (%s)", want, d.rc, d.msg);
    cr_expect(strstr(d.msg, want) != NULL, "message \"%s\" lacks \"%s\"", d.msg, want);
}

/* Records the fast path would decode, had the checks not failed: every
 * one is rejected with the general checker's message. */
Test(trace_fast, hand_made_records_with_valid_checksums_are_rejected)
{
    /* access (7), flags, cpu, [t | gap], kind, [n], zigzag address deltas;
     * kernel addresses, so no address space is needed */
    static const u8 noncanon[] = { 7, 1, 0, 'r', 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40 };
    expect_reject(noncanon, sizeof(noncanon), 1, SIM_EPARSE,
                  "craft.tlbt:1: va: address 0x800000000000 is not canonical");
    static const u8 user[] = { 7, 1, 1, 'w', 0x80, 0x40 };
    expect_reject(user, sizeof(user), 1, SIM_EPARSE,
                  "craft.tlbt:1: cpu 1 runs no user address space");
    static const u8 kind[] = { 7, 1, 0, 'q', 0x01 };
    expect_reject(kind, sizeof(kind), 1, SIM_EPARSE, "craft.tlbt:1: kind: must be");
    static const u8 both[] = { 7, 7, 0, 2, 2, 'r', 0x01 };
    expect_reject(both, sizeof(both), 1, SIM_EPARSE, "craft.tlbt:1: gap: t and gap are exclusive");
    static const u8 gap[] = { 7, 5, 0, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10,
                              'r', 0x01 };
    expect_reject(gap, sizeof(gap), 1, SIM_ERANGE,
                  "craft.tlbt:1: gap: 1152921504606846977 is beyond");
    static const u8 flags[] = { 7, 0x11, 0, 'r', 0x01 };
    expect_reject(flags, sizeof(flags), 1, SIM_EPARSE,
                  "craft.tlbt:1: flags: 0x10 not valid for access");
    static const u8 none[] = { 7, 0x81, 0x04, 0, 'r', 0 };
    expect_reject(none, sizeof(none), 1, SIM_EPARSE,
                  "craft.tlbt:1: va: an access needs at least one address");
    /* a valid record first, then the bad one: the message names record 2 */
    static const u8 second[] = { 7, 1, 0, 'r', 0x01, 7, 1, 0, 'r', 0x82, 0x80, 0x80, 0x80, 0x80,
                                 0x80, 0x40 };
    expect_reject(second, sizeof(second), 2, SIM_EPARSE,
                  "craft.tlbt:2: va: address 0x800000000000 is not canonical");
}
