/* bench/gen.c - deterministic input traces for the benchmark (bench/run.sh).
 *
 *   gen SCENARIO FORMAT OUT REFS [CPUS]
 *
 * SCENARIO  hot      one CPU, 32 hot 4K pages (128 KiB): every reference
 *                    hits the L1 DTLB (64 entries, 4 ways) once warm
 *           hot1     as hot, but one address per access op (a plain "va",
 *                    no array): the per-op cost of reading and dispatching
 *           random   one CPU, random 4K pages over 1 GiB: L1 and STLB
 *                    misses, page walks through the paging-structure caches
 *           shoot    CPUS CPUs running one mm; each CPU in turn does 1000
 *                    references in its own 32 hot pages, then asks for a
 *                    one-page flush (flush_tlb_mm_range): one flush request
 *                    per 1000 references, CPUS-1 IPIs each
 *           mms      REFS address spaces with small footprints, one after
 *                    another on one CPU: each maps and populates MMS_PAGES
 *                    4K pages, the CPU switches to it and references each
 *                    page once; the oldest exits when TRACE_MAX_MMS are live
 *                    (REFS counts address spaces here, not references)
 * FORMAT    bin | jsonl, or for the peers table (bench/peers.sh; hot and
 *           random only, the same addresses and kinds as the trace):
 *           din       Dinero IV's text input: "LABEL ADDRESS" lines, label
 *                     0 for a read and 1 for a write, address in hex
 *           champsim  ChampSim's uncompressed trace: one 64-byte
 *                     input_instr per reference (ip, branch flags, 2
 *                     destination and 4 source registers, 2 destination
 *                     and 4 source memory addresses), no registers used
 * REFS      references in the trace (shoot: the last op may flush after fewer)
 *
 * Addresses are 8-byte aligned, drawn from splitmix64 with a fixed seed, so
 * the same arguments always give the same bytes.  Access ops carry arrays of
 * ARRAY_REFS addresses (1000 for shoot); three ops in four read, one writes.
 * The trace goes through sim/io/trace.h's writer, which checks every op as
 * the reader does.  Exit status: 0 ok, 1 error (message on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sim/io/trace.h"

#define ARRAY_REFS  4096u               /* addresses per access op (hot, random) */
#define SHOOT_REFS  1000u               /* references per flush (shoot) */
#define HOT_PAGES   32u                 /* fits the 64-entry L1 DTLB */
#define USER_BASE   0x100000000000ull   /* 16 TiB: user half, 1 GiB aligned */
#define RANDOM_SPAN (1ull << 30)        /* 1 GiB */
#define GEN_SEED    0x7eb5eedull
#define MMS_PAGES   4u                  /* pages per address space (mms) */

struct gen {
    struct trace_writer *w;
    struct sim_err err;
    u64 rng;
    u64 *vas;                           /* one access op's addresses */
};

static int put(struct gen *g, struct trace_op *op)
{
    return trace_write(g->w, op, &g->err);
}

static int op_mm_new(struct gen *g, s64 mm)
{
    struct trace_op op = { .type = OP_MM_NEW, .mm = mm };
    return put(g, &op);
}

static int op_map(struct gen *g, s64 mm, u64 va, u64 len)
{
    struct trace_op op = { .type = OP_MAP, .mm = mm, .va = va, .len = len,
                           .page_shift = 12, .prot = PROT_R | PROT_W,
                           .flags = OPF_POPULATE };
    return put(g, &op);
}

static int op_mm_exit(struct gen *g, s64 mm)
{
    struct trace_op op = { .type = OP_MM_EXIT, .flags = OPF_CPU, .cpu = 0, .mm = mm };
    return put(g, &op);
}

static int op_switch(struct gen *g, u32 cpu, s64 mm)
{
    struct trace_op op = { .type = OP_SWITCH, .flags = OPF_CPU, .cpu = cpu, .mm = mm };
    return put(g, &op);
}

static int op_flush(struct gen *g, u32 cpu, s64 mm, u64 va)
{
    struct trace_op op = { .type = OP_FLUSH, .flags = OPF_CPU, .cpu = cpu, .mm = mm,
                           .va = va, .len = 4096, .stride_shift = 12 };
    return put(g, &op);
}

/* One access op of n addresses in [base, base + span), 8-byte aligned: an
 * array, or a plain "va" when n is 1. */
static int op_access(struct gen *g, u32 cpu, u64 base, u64 span, u32 n, u64 seq)
{
    for (u32 i = 0; i < n; i++)
        g->vas[i] = base + (sim_rand_next(&g->rng) % span & ~7ull);
    struct trace_op op = { .type = OP_ACCESS, .flags = OPF_CPU | OPF_VA_ARRAY, .cpu = cpu,
                           .kind = seq % 4 == 3 ? 'w' : 'r', .vas = g->vas, .nr_va = n,
                           .va = g->vas[0] };
    if (n == 1) {
        op.flags = OPF_CPU;
        op.vas = NULL;
        op.nr_va = 1;
    }
    return put(g, &op);
}

/* One CPU, one mm mapping span bytes, refs references in ops of per_op. */
static int gen_single(struct gen *g, u64 span, u64 refs, u32 per_op)
{
    int rc;

    if ((rc = op_mm_new(g, 1)) || (rc = op_map(g, 1, USER_BASE, span)) ||
        (rc = op_switch(g, 0, 1)))
        return rc;
    for (u64 done = 0, seq = 0; done < refs; done += per_op, seq++)
        if ((rc = op_access(g, 0, USER_BASE, span,
                            refs - done < per_op ? (u32)(refs - done) : per_op, seq)))
            return rc;
    return SIM_OK;
}

static int gen_shoot(struct gen *g, u32 cpus, u64 refs)
{
    const u64 region = (u64)HOT_PAGES << 12;
    int rc;

    if ((rc = op_mm_new(g, 1)) || (rc = op_map(g, 1, USER_BASE, region * cpus)))
        return rc;
    for (u32 c = 0; c < cpus; c++)
        if ((rc = op_switch(g, c, 1)))
            return rc;
    for (u64 done = 0, seq = 0; done < refs; done += SHOOT_REFS, seq++) {
        u32 c = (u32)(seq % cpus);
        u64 base = USER_BASE + region * c;
        u32 n = refs - done < SHOOT_REFS ? (u32)(refs - done) : SHOOT_REFS;
        if ((rc = op_access(g, c, base, region, n, seq / cpus)) ||
            (rc = op_flush(g, c, 1, base + (sim_rand_next(&g->rng) % HOT_PAGES << 12))))
            return rc;
    }
    return SIM_OK;
}

/* nr address spaces of MMS_PAGES pages each, at most TRACE_MAX_MMS live. */
static int gen_mms(struct gen *g, u64 nr)
{
    const u64 span = (u64)MMS_PAGES << 12;
    int rc;

    for (u64 i = 1; i <= nr; i++) {
        if (i > TRACE_MAX_MMS && (rc = op_mm_exit(g, (s64)(i - TRACE_MAX_MMS))))
            return rc;
        if ((rc = op_mm_new(g, (s64)i)) || (rc = op_map(g, (s64)i, USER_BASE, span)) ||
            (rc = op_switch(g, 0, (s64)i)))
            return rc;
        for (u32 p = 0; p < MMS_PAGES; p++)
            g->vas[p] = USER_BASE + ((u64)p << 12) + (sim_rand_next(&g->rng) & 0xff8);
        struct trace_op op = { .type = OP_ACCESS, .flags = OPF_CPU | OPF_VA_ARRAY, .cpu = 0,
                               .kind = 'r', .vas = g->vas, .nr_va = MMS_PAGES, .va = g->vas[0] };
        if ((rc = put(g, &op)))
            return rc;
    }
    return SIM_OK;
}

/* The address stream of gen_single() for the peers, in their own formats:
 * the same draws from the same seed, so the same addresses and kinds. */
static int gen_peer(struct gen *g, u64 span, u64 refs, bool champsim, FILE *f)
{
    for (u64 done = 0, seq = 0; done < refs; done += ARRAY_REFS, seq++) {
        u32 n = refs - done < ARRAY_REFS ? (u32)(refs - done) : ARRAY_REFS;
        bool w = seq % 4 == 3;
        for (u32 i = 0; i < n; i++) {
            u64 va = USER_BASE + (sim_rand_next(&g->rng) % span & ~7ull);
            if (!champsim) {
                fprintf(f, "%d %llx\n", w ? 1 : 0, (unsigned long long)va);
                continue;
            }
            u8 rec[64] = { 0 };         /* struct input_instr, little-endian */
            u64 ip = 0x400000 + 4 * ((done + i) & 1023);
            memcpy(rec, &ip, 8);
            memcpy(rec + (w ? 16 : 32), &va, 8);    /* destination_memory[0] or source_memory[0] */
            fwrite(rec, 1, sizeof(rec), f);
        }
    }
    return ferror(f) ? sim_err_set(&g->err, SIM_EIO, "write failed") : SIM_OK;
}

static int usage(void)
{
    fprintf(stderr, "usage: gen hot|hot1|random|mms|shoot bin|jsonl OUT REFS [CPUS]\n"
                    "       gen hot|random din|champsim OUT REFS\n");
    return 1;
}

int main(int argc, char **argv)
{
    struct gen g = { .rng = GEN_SEED };
    struct trace_header hdr = { .version = 1, .cpus = 1 };
    enum trace_fmt fmt;
    u64 refs;
    int rc;

    if (argc < 5 || argc > 6)
        return usage();
    if (!strcmp(argv[2], "din") || !strcmp(argv[2], "champsim")) {
        FILE *f = fopen(argv[3], "wb");
        refs = strtoull(argv[4], NULL, 10);
        u64 span = !strcmp(argv[1], "hot") ? (u64)HOT_PAGES << 12 : RANDOM_SPAN;
        if (!f || !refs || (strcmp(argv[1], "hot") && strcmp(argv[1], "random")))
            return f ? (fclose(f), usage()) : (perror(argv[3]), 1);
        rc = gen_peer(&g, span, refs, argv[2][0] == 'c', f);
        if (fclose(f) || rc) {
            fprintf(stderr, "gen: %s: write failed\n", argv[3]);
            return 1;
        }
        return 0;
    }
    if (!strcmp(argv[2], "bin"))
        fmt = TRACE_FMT_BINARY;
    else if (!strcmp(argv[2], "jsonl"))
        fmt = TRACE_FMT_JSONL;
    else
        return usage();
    refs = strtoull(argv[4], NULL, 10);
    if (argc == 6)
        hdr.cpus = (u32)strtoul(argv[5], NULL, 10);
    if (!refs || !hdr.cpus)
        return usage();
    snprintf(hdr.name, sizeof(hdr.name), "bench-%s", argv[1]);
    snprintf(hdr.source, sizeof(hdr.source), "synthetic");
    if (!(g.vas = malloc(ARRAY_REFS * sizeof(*g.vas)))) {
        fprintf(stderr, "gen: out of memory\n");
        return 1;
    }
    rc = trace_writer_open(argv[3], &hdr, fmt, &g.w, &g.err);
    if (rc == SIM_OK) {
        if (!strcmp(argv[1], "hot"))
            rc = gen_single(&g, (u64)HOT_PAGES << 12, refs, ARRAY_REFS);
        else if (!strcmp(argv[1], "hot1"))
            rc = gen_single(&g, (u64)HOT_PAGES << 12, refs, 1);
        else if (!strcmp(argv[1], "random"))
            rc = gen_single(&g, RANDOM_SPAN, refs, ARRAY_REFS);
        else if (!strcmp(argv[1], "mms"))
            rc = gen_mms(&g, refs);
        else if (!strcmp(argv[1], "shoot"))
            rc = gen_shoot(&g, hdr.cpus, refs);
        else
            rc = sim_err_set(&g.err, SIM_EINVAL, "unknown scenario '%s'", argv[1]);
        int rc2 = trace_writer_close(g.w, rc == SIM_OK, rc ? NULL : &g.err);
        rc = rc ? rc : rc2;
    }
    free(g.vas);
    if (rc) {
        fprintf(stderr, "gen: %s\n", g.err.msg);
        return 1;
    }
    return 0;
}
