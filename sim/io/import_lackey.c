/* sim/io/import_lackey.c - valgrind lackey --trace-mem=yes -> one CPU, one mm.
 *
 * Lackey prints one line per memory reference of the guest program:
 *
 *     I  04016a0e,3        instruction fetch (address, size)   -> access x
 *      L 1ffefffe18,8      load                                -> access r
 *      S 1ffefffe10,8      store                               -> access w
 *      M 0421f3a8,4        modify (load + store, same address) -> access w
 *
 * plus valgrind's own "==PID== ..." messages.  Two passes: the first
 * collects the 4K pages the program touched (and whether they were executed
 * or written), so the trace can map them before the first access; the
 * second writes the references in order, consecutive ones of the same kind
 * batched into one access op (at most IMP_LK_BATCH addresses).
 *
 * Mappings: each run of consecutive touched pages of one class becomes one
 * map op: rx (rwx if also written) for executed pages, rw for the others,
 * populate:false so that first touches fault as they did in the real run
 * (lackey traces start at the first instruction, in ld.so).  The real
 * program's mappings were larger; pages it never touched are left out.
 * A reference that straddles a page boundary touches both pages.
 */
#include "import_priv.h"
#include "u64map.h"

#include <stdlib.h>
#include <string.h>

#define IMP_LK_BATCH 64
#define LK_X 1u
#define LK_W 2u
#define LK_USER_TOP (1ull << 47)

/* ===== Lines ============================================================= */

enum { LK_IGNORE = 0, LK_REF = 1, LK_BAD = -1 };

struct lk_ref {
    char kind;                          /* 'x', 'r' or 'w' */
    u64 va, size;                       /* size >= 1 */
};

static int lk_parse(const char *s, struct lk_ref *r, const char **why)
{
    const char *p = imp_skip_ws(s);
    u64 size;

    if (!*p || !strncmp(p, "==", 2) || !strncmp(p, "--", 2) || !strncmp(p, "**", 2) ||
        !strncmp(p, "SB ", 3) || *p == '#')
        return LK_IGNORE;
    switch (*p) {
    case 'I': r->kind = 'x'; break;
    case 'L': r->kind = 'r'; break;
    case 'S': r->kind = 'w'; break;
    case 'M': r->kind = 'w'; break;
    default:
        *why = "not a lackey line (expected I, L, S or M)";
        return LK_BAD;
    }
    if (p[1] != ' ' && p[1] != '\t') {
        *why = "not a lackey line (expected I, L, S or M)";
        return LK_BAD;
    }
    p = imp_skip_ws(p + 1);
    if (!(p = imp_parse_hex(p, &r->va)) || *p != ',') {
        *why = "bad address (expected HEX,SIZE)";
        return LK_BAD;
    }
    if (!(p = imp_parse_dec(p + 1, &size)) || *imp_skip_ws(p)) {
        *why = "bad size (expected HEX,SIZE)";
        return LK_BAD;
    }
    if (size > 4096) {
        *why = "size above 4096 bytes";
        return LK_BAD;
    }
    r->size = size ? size : 1;
    if (r->va >= LK_USER_TOP || r->va + r->size > LK_USER_TOP) {
        *why = "not a user-space address";
        return LK_BAD;
    }
    return LK_REF;
}

/* ===== Pass 1: pages ===================================================== */

static int lk_scan(struct imp *im, struct u64map *ps)
{
    struct lk_ref r;
    const char *why = "";
    int rc;

    while ((rc = imp_getline(im)) == 1) {
        switch (lk_parse(im->buf, &r, &why)) {
        case LK_IGNORE:
            im->st->ignored++;
            break;
        case LK_BAD:
            if ((rc = imp_skip(im, "%s", why)))
                return rc;
            break;
        default: {
            u8 fl = r.kind == 'x' ? LK_X : r.kind == 'w' ? LK_W : 0;
            u64 *v;
            im->st->events++;
            for (u64 pg = r.va >> 12; pg <= (r.va + r.size - 1) >> 12; pg++)
                if (!(v = u64map_slot(ps, pg)))
                    return sim_err_set(im->err, SIM_ENOMEM, "%s: out of memory", im->in);
                else
                    *v |= fl;
        }
        }
    }
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    u64 x = *(const u64 *)a, y = *(const u64 *)b;
    return x < y ? -1 : x > y;
}

static u8 lk_prot(u8 fl)
{
    if (fl & LK_X)
        return (u8)(PROT_R | PROT_X | ((fl & LK_W) ? PROT_W : 0));
    return PROT_R | PROT_W;
}

/* Runs of consecutive pages of one protection -> map ops (barriers). */
static int lk_map_regions(struct imp *im, const struct u64map *ps)
{
    u64 *pg = malloc((ps->n ? ps->n : 1) * sizeof(*pg));
    size_t n = 0;
    int rc = SIM_OK;

    if (!pg)
        return sim_err_set(im->err, SIM_ENOMEM, "%s: out of memory", im->in);
    for (size_t i = 0; i < ps->cap; i++)
        if (ps->k[i])
            pg[n++] = (ps->k[i] - 1) << 4 | lk_prot((u8)ps->v[i]);
    qsort(pg, n, sizeof(*pg), cmp_u64);
    for (size_t i = 0; i < n && rc >= 0;) {
        size_t j = i + 1;
        while (j < n && (pg[j] >> 4) == (pg[j - 1] >> 4) + 1 && (pg[j] & 15) == (pg[i] & 15))
            j++;
        struct trace_op op = { .type = OP_MAP, .mm = 1, .page_shift = PAGE_SHIFT_4K };
        op.va = (pg[i] >> 4) << 12;
        op.len = (u64)(j - i) << 12;
        op.prot = (u8)(pg[i] & 15);
        rc = imp_emit(im, &op);
        i = j;
    }
    free(pg);
    return rc < 0 ? rc : SIM_OK;
}

/* ===== Pass 2: references ================================================ */

struct lk_batch {
    u64 va[IMP_LK_BATCH];               /* pending addresses */
    u32 n;                              /* how many */
    char kind;                          /* their kind */
};

static int lk_flush(struct imp *im, struct lk_batch *b)
{
    struct trace_op op = { .type = OP_ACCESS, .flags = OPF_CPU, .cpu = 0 };
    int rc;

    if (!b->n)
        return SIM_OK;
    op.va = b->va[0];
    op.vas = b->va;
    op.nr_va = b->n;
    op.kind = (u8)b->kind;
    if (b->n > 1)
        op.flags |= OPF_VA_ARRAY;
    b->n = 0;
    rc = imp_emit(im, &op);
    return rc < 0 ? rc : SIM_OK;
}

static int lk_add(struct imp *im, struct lk_batch *b, char kind, u64 va)
{
    int rc;

    if ((b->n && b->kind != kind) || b->n == IMP_LK_BATCH)
        if ((rc = lk_flush(im, b)))
            return rc;
    b->kind = kind;
    b->va[b->n++] = va;
    return SIM_OK;
}

static int lk_refs(struct imp *im)
{
    struct lk_batch b = { .n = 0 };
    struct lk_ref r;
    const char *why;
    int rc;

    while ((rc = imp_getline(im)) == 1) {
        if (lk_parse(im->buf, &r, &why) != LK_REF)
            continue;
        u64 last = r.va + r.size - 1;
        if ((rc = lk_add(im, &b, r.kind, r.va)))
            return rc;
        if ((last >> 12) != (r.va >> 12) && (rc = lk_add(im, &b, r.kind, last & ~4095ull)))
            return rc;
    }
    return rc < 0 ? rc : lk_flush(im, &b);
}

int import_lackey(struct imp *im)
{
    struct u64map ps = { 0 };  /* page number -> LK_* flags */
    struct trace_op op;
    int rc;

    if ((rc = lk_scan(im, &ps)))
        goto out;
    if (!im->st->events) {
        rc = sim_err_set(im->err, SIM_EPARSE, "%s: no lackey references found "
                         "(expected lines like \"I  0400a0e,3\" and \" L 1ffefffe18,8\")", im->in);
        goto out;
    }
    if ((rc = imp_open_out(im, im->o->cpus ? im->o->cpus : 1, imp_basename(im->in), "lackey")))
        goto out;
    memset(&op, 0, sizeof(op));
    op.type = OP_MM_NEW;
    op.mm = 1;
    if ((rc = imp_emit_must(im, &op)) || (rc = lk_map_regions(im, &ps)))
        goto out;
    memset(&op, 0, sizeof(op));
    op.type = OP_SWITCH;
    op.flags = OPF_CPU;
    op.mm = 1;
    if ((rc = imp_emit_must(im, &op)))
        goto out;
    if ((rc = imp_rewind(im, true)) == SIM_OK)
        rc = lk_refs(im);
out:
    u64map_free(&ps);
    return rc < 0 ? rc : SIM_OK;
}
