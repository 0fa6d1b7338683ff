/* sim/io/import_champsim.c - ChampSim binary instruction traces -> one CPU,
 * one mm.
 *
 * A ChampSim trace (the DPC-3 / CRC-2 trace sets, or any Pin tracer output
 * built on ChampSim's inc/trace_instruction.h) is a sequence of 64-byte
 * little-endian records, struct input_instr:
 *
 *     offset  size  field
 *          0     8  ip                          instruction address
 *          8     1  is_branch                   0 or 1
 *          9     1  branch_taken                0 or 1
 *         10     2  destination_registers[2]
 *         12     4  source_registers[4]
 *         16    16  destination_memory[2]       written addresses, 0 = none
 *         32    32  source_memory[4]            read addresses, 0 = none
 *
 * Each record becomes, in this order: a fetch of ip (access x), the reads
 * (access r) and the writes (access w) of its non-zero addresses;
 * consecutive references of one kind share an access op (at most LK_BATCH).
 * The record has no operand sizes, so a reference touches one page.
 *
 * Mappings are synthesised as for lackey (import_lackey.c): a first pass
 * collects the touched 4K pages, and runs of consecutive pages of one class
 * become map ops before the first reference (rx, rwx when also written, rw
 * for data), populate:false, so that the first touch of each page faults.
 * ChampSim traces carry no time, no threads and no syscalls.
 *
 * Checks: a record with is_branch or branch_taken above 1, or an address
 * outside the user half, is skipped (an error with --strict), named by its
 * record number; a file whose length is not a multiple of 64 ends in a
 * truncated record, always an error ("FILE: record N: truncated").
 * Compressed traces (.xz as the trace sets ship, .gz, .zst) and "-" are read
 * through the stream layer (import_file opens them), like every input.
 */
#include "import_lackey.h"

#include <string.h>

#define CS_RECORD 64                    /* sizeof(struct input_instr) */
#define CS_NR_DST 2                     /* NUM_INSTR_DESTINATIONS */
#define CS_NR_SRC 4                     /* NUM_INSTR_SOURCES */

struct cs_instr {
    u64 ip;
    u8 is_branch, branch_taken;
    u64 dst[CS_NR_DST];                 /* destination_memory */
    u64 src[CS_NR_SRC];                 /* source_memory */
};

static u64 cs_le64(const u8 *p)
{
    u64 v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void cs_decode(const u8 *b, struct cs_instr *in)
{
    in->ip = cs_le64(b);
    in->is_branch = b[8];
    in->branch_taken = b[9];
    for (int i = 0; i < CS_NR_DST; i++)
        in->dst[i] = cs_le64(b + 16 + 8 * i);
    for (int i = 0; i < CS_NR_SRC; i++)
        in->src[i] = cs_le64(b + 32 + 8 * i);
}

/* 1 = a record in *in, 0 = end of file, < 0 = error (truncated, read error). */
static int cs_next(struct imp *im, struct cs_instr *in)
{
    u8 b[CS_RECORD];
    size_t n = fread(b, 1, sizeof(b), im->f);

    if (n < sizeof(b) && ferror(im->f))
        return imp_read_error(im);
    if (n == 0)
        return 0;
    im->line++;
    im->st->lines += !im->quiet;
    if (n < sizeof(b))
        return sim_err_set(im->err, SIM_EPARSE, "%s: record %llu: truncated (%zu of %d bytes)",
                           im->in, (unsigned long long)im->line, n, CS_RECORD);
    cs_decode(b, in);
    return 1;
}

static bool cs_user(u64 va)
{
    return va < LK_USER_TOP;
}

/* NULL when the record is usable, else why not. */
static const char *cs_check(const struct cs_instr *in)
{
    if (in->is_branch > 1 || in->branch_taken > 1)
        return "not a ChampSim record (is_branch and branch_taken must be 0 or 1)";
    if (!cs_user(in->ip))
        return "ip is not a user-space address";
    for (int i = 0; i < CS_NR_DST; i++)
        if (!cs_user(in->dst[i]))
            return "destination_memory is not a user-space address";
    for (int i = 0; i < CS_NR_SRC; i++)
        if (!cs_user(in->src[i]))
            return "source_memory is not a user-space address";
    return NULL;
}

/* ===== Pass 1: pages ===================================================== */

static int cs_touch(struct imp *im, struct u64map *ps, u64 va, u8 fl)
{
    if (va && ps_add(ps, va >> 12, fl))
        return sim_err_set(im->err, SIM_ENOMEM, "%s: out of memory", im->in);
    return SIM_OK;
}

static int cs_scan(struct imp *im, struct u64map *ps)
{
    struct cs_instr in;
    const char *why;
    int rc;

    while ((rc = cs_next(im, &in)) == 1) {
        if ((why = cs_check(&in))) {
            if ((rc = imp_skip(im, "%s", why)))
                return rc;
            continue;
        }
        im->st->events++;
        rc = cs_touch(im, ps, in.ip, LK_X);
        for (int i = 0; i < CS_NR_SRC && !rc; i++)
            rc = cs_touch(im, ps, in.src[i], 0);
        for (int i = 0; i < CS_NR_DST && !rc; i++)
            rc = cs_touch(im, ps, in.dst[i], LK_W);
        if (rc)
            return rc;
    }
    return rc;
}

/* ===== Pass 2: references ================================================ */

static int cs_refs(struct imp *im)
{
    struct lk_batch b = { .n = 0 };
    struct cs_instr in;
    int rc;

    while ((rc = cs_next(im, &in)) == 1) {
        if (cs_check(&in))
            continue;
        if (in.ip && (rc = lk_add(im, &b, 'x', in.ip)))
            return rc;
        for (int i = 0; i < CS_NR_SRC; i++)
            if (in.src[i] && (rc = lk_add(im, &b, 'r', in.src[i])))
                return rc;
        for (int i = 0; i < CS_NR_DST; i++)
            if (in.dst[i] && (rc = lk_add(im, &b, 'w', in.dst[i])))
                return rc;
    }
    return rc < 0 ? rc : lk_flush(im, &b);
}

int import_champsim(struct imp *im)
{
    struct u64map ps = { 0 };
    int rc;

    if ((rc = cs_scan(im, &ps)))
        goto out;
    if (!im->st->events) {
        rc = sim_err_set(im->err, SIM_EPARSE, "%s: no usable ChampSim record (64-byte "
                         "input_instr records)", im->in);
        goto out;
    }
    if ((rc = lk_one_cpu_start(im, &ps, "champsim")))
        goto out;
    rc = cs_refs(im);
out:
    u64map_free(&ps);
    return rc < 0 ? rc : SIM_OK;
}
