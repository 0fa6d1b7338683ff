/* tests/test_pt_ref.c - x86-64 page tables (models/pt.c) against a
 * brute-force reference model (style rule 16).  Random map / unmap / zap /
 * protect / migrate / populate sequences with all three page sizes run on a
 * pt and on a flat list of leaves and tables; after every operation the two
 * are compared through pt_walk, pt_table_at, pt_check, the gather and the
 * frame counts.  ref_selftest proves the comparison can fail by corrupting
 * the tables on purpose (SQLite's opcode 5).  Environment: test_pt.h. */
#include <criterion/criterion.h>

#include "test_pt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(pt_ref, .fini = pt_env_teardown);

/* ===== part 2: brute-force reference model ================================= */
/* The reference is two flat lists: the leaves (va, level, pfn, entry bits)
 * and the tables (level, base) that must exist.  Its rules come from the
 * contract in pt.h, written the slow and obvious way: linear scans, no
 * radix walk.  Tables: a leaf needs one table per level from its own up to
 * below the root; an unmap frees, deepest first, every table whose span it
 * touched and that no longer holds a leaf or a table (never the root, never
 * a table right below the kernel root). */

enum { REF_LEAVES = 4096, REF_TABLES = 2048, REF_PROBES = 64 };

struct ref_leaf { u64 va; unsigned level; u64 pfn, bits; };
struct ref_table { u64 base; unsigned level; };

struct ref {
    struct pt *pt;                      /* pt under test */
    struct pt *viewer;                  /* a user pt that must see kernel leaves, or NULL */
    u64 win, win_len;                   /* where ops land */
    bool kernel;                        /* pt is the kernel pt */
    struct ref_leaf leaf[REF_LEAVES];
    size_t nl;
    struct ref_table tab[REF_TABLES];
    size_t nt;
};

/* What the gather must hold after one op. */
struct ref_gather {
    u64 frames[REF_LEAVES];             /* pfn << 2 | order, any order */
    size_t nr_frames;
    u64 nr_ptes, nr_tables, start, end;
    unsigned stride;
};

static struct ref R;
static struct ref_gather X;
static u64 rng;

static u64 lsize(unsigned level) { return 1ull << (12 + 9 * (level - 1)); }
static u64 tspan(unsigned level) { return lsize(level + 1); }
static u64 last_of(u64 va, u64 len) { return va + len - 1; }

static bool spans_overlap(u64 a, u64 alast, u64 b, u64 blast)
{
    return a <= blast && b <= alast;
}

static long ref_leaf_at(u64 va)
{
    for (size_t k = 0; k < R.nl; k++)
        if (va >= R.leaf[k].va && va - R.leaf[k].va < lsize(R.leaf[k].level))
            return (long)k;
    return -1;
}

static long ref_table_find(unsigned level, u64 base)
{
    for (size_t k = 0; k < R.nt; k++)
        if (R.tab[k].level == level && R.tab[k].base == base)
            return (long)k;
    return -1;
}

static void ref_table_need(unsigned level, u64 va)
{
    u64 base = va & ~(tspan(level) - 1);

    if (ref_table_find(level, base) < 0) {
        cr_assert_lt(R.nt, REF_TABLES, "reference table list full");
        R.tab[R.nt++] = (struct ref_table){ base, level };
    }
}

/* The pt.h argument rules, restated. */
static bool ref_range_ok(u64 va, u64 len, u64 align)
{
    unsigned bits = R.pt->va_bits;

    if (!len || ((va | len) & (align - 1)) || va + len <= va)
        return false;
    if (!va_canonical(va, bits) || !va_canonical(last_of(va, len), bits))
        return false;
    return va_is_kernel(va) == R.kernel && va_is_kernel(last_of(va, len)) == R.kernel;
}

static void xg_reset(void)
{
    memset(&X, 0, sizeof(X));
    X.stride = 12;
}

static void xg_leaf(const struct ref_leaf *l, bool frame)
{
    u64 end = l->va + lsize(l->level);
    unsigned shift = 12 + 9 * (l->level - 1);

    if (frame)
        X.frames[X.nr_frames++] = l->pfn << 2 | (l->level - 1);
    X.stride = X.nr_ptes ? (shift < X.stride ? shift : X.stride) : shift;
    if (X.start == X.end) {
        X.start = l->va;
        X.end = end;
    } else {
        X.start = l->va < X.start ? l->va : X.start;
        X.end = end > X.end ? end : X.end;
    }
    X.nr_ptes++;
}

/* ---- the reference's operations: predicted rc, and the new state ---- */

static int ref_map_check(u64 va, u64 len, unsigned level)
{
    if (!ref_range_ok(va, len, lsize(level)))
        return SIM_EINVAL;
    for (size_t k = 0; k < R.nl; k++)
        if (spans_overlap(va, last_of(va, len), R.leaf[k].va,
                          R.leaf[k].va + lsize(R.leaf[k].level) - 1))
            return SIM_EEXIST;
    /* A huge leaf cannot go where a (possibly empty) table hangs. */
    for (u64 off = 0; level > 1 && off < len; off += lsize(level))
        if (ref_table_find(level - 1, va + off) >= 0)
            return SIM_EEXIST;
    return SIM_OK;
}

/* Record the leaves pt_map made (their frames come from the allocator, so
 * read them back) and the tables they need. */
static void ref_map_apply(u64 va, u64 len, unsigned level, u64 flags)
{
    for (u64 off = 0; off < len; off += lsize(level)) {
        u64 *e = pt_walk(R.pt, va + off, NULL, NULL);

        cr_assert_not_null(e, "mapped leaf 0x%llx missing", (unsigned long long)(va + off));
        cr_assert_lt(R.nl, REF_LEAVES, "reference leaf list full");
        R.leaf[R.nl++] = (struct ref_leaf){ va + off, level, pte_pfn(&E.fa, *e),
                                            flags | PTE_P | (level > 1 ? PTE_PS : 0) };
        for (unsigned t = level; t < R.pt->levels; t++)
            ref_table_need(t, va + off);
    }
}

/* Leaves in [va, last]; SIM_EINVAL if one sticks out. */
static int ref_range_leaves(u64 va, u64 len)
{
    if (!ref_range_ok(va, len, K4))
        return SIM_EINVAL;
    for (size_t k = 0; k < R.nl; k++) {
        u64 a = R.leaf[k].va, alast = a + lsize(R.leaf[k].level) - 1;

        if (spans_overlap(va, last_of(va, len), a, alast) &&
            (a < va || alast > last_of(va, len)))
            return SIM_EINVAL;
    }
    return SIM_OK;
}

static bool ref_inside(const struct ref_leaf *l, u64 va, u64 len)
{
    return l->va >= va && l->va + lsize(l->level) - 1 <= last_of(va, len);
}

static bool ref_table_empty(const struct ref_table *t)
{
    u64 lo = t->base, hi = t->base + tspan(t->level) - 1;

    for (size_t k = 0; k < R.nl; k++)
        if (R.leaf[k].level == t->level && R.leaf[k].va >= lo && R.leaf[k].va <= hi)
            return false;
    for (size_t k = 0; k < R.nt; k++)
        if (R.tab[k].level == t->level - 1 && R.tab[k].base >= lo && R.tab[k].base <= hi)
            return false;
    return true;
}

static void ref_free_tables(u64 va, u64 len)
{
    for (unsigned level = 1; level < R.pt->levels; level++) {
        if (R.kernel && level == R.pt->levels - 1)
            break;                      /* shared below the kernel root */
        for (size_t k = 0; k < R.nt; k++) {
            struct ref_table *t = &R.tab[k];

            if (t->level != level || !spans_overlap(va, last_of(va, len), t->base,
                                                    t->base + tspan(level) - 1))
                continue;
            if (ref_table_empty(t)) {
                R.tab[k--] = R.tab[--R.nt];
                X.nr_tables++;
            }
        }
    }
}

static void ref_unmap(u64 va, u64 len, bool free_tables)
{
    for (size_t k = 0; k < R.nl; k++) {
        if (!ref_inside(&R.leaf[k], va, len))
            continue;
        xg_leaf(&R.leaf[k], true);
        R.leaf[k--] = R.leaf[--R.nl];
    }
    if (free_tables)
        ref_free_tables(va, len);
}

static bool ref_protect(u64 va, u64 len, u64 flags)
{
    bool reduced = false;

    for (size_t k = 0; k < R.nl; k++) {
        struct ref_leaf *l = &R.leaf[k];
        u64 nb = (l->bits & ~PROT) | (flags & PROT);

        if (!ref_inside(l, va, len) || nb == l->bits)
            continue;
        reduced |= ((l->bits & (PTE_RW | PTE_US)) & ~nb) || ((nb & PTE_NX) && !(l->bits & PTE_NX));
        l->bits = nb;
        xg_leaf(l, false);
    }
    return reduced;
}

/* New frames come from the allocator: read them back, they must differ. */
static void ref_migrate(u64 va, u64 len)
{
    for (size_t k = 0; k < R.nl; k++) {
        struct ref_leaf *l = &R.leaf[k];
        u64 *e;

        if (!ref_inside(l, va, len))
            continue;
        xg_leaf(l, true);
        e = pt_walk(R.pt, l->va, NULL, NULL);
        cr_assert_not_null(e);
        cr_assert_neq(pte_pfn(&E.fa, *e), l->pfn, "migrate kept the frame");
        l->pfn = pte_pfn(&E.fa, *e);
    }
}

/* ---- comparison ---- */

static char why[256];

#define FAIL(...) do { snprintf(why, sizeof(why), __VA_ARGS__); return why; } while (0)

/* k: the reference leaf holding va if known, else -1 to search. */
static const char *cmp_one(u64 va, long k)
{
    unsigned lvl = 0;
    u64 *e = pt_walk(R.pt, va, &lvl, NULL);

    if (k < 0)
        k = ref_leaf_at(va);
    if (R.viewer && pt_walk(R.viewer, va, NULL, NULL) != e)
        FAIL("0x%llx: user pt sees another kernel entry", (unsigned long long)va);
    if (k < 0) {
        if (e)
            FAIL("0x%llx: mapped, reference says not", (unsigned long long)va);
        return NULL;
    }
    if (!e)
        FAIL("0x%llx: not mapped, reference says level %u", (unsigned long long)va,
             R.leaf[k].level);
    if (lvl != R.leaf[k].level || *e != (R.leaf[k].pfn << 12 | R.leaf[k].bits))
        FAIL("0x%llx: entry 0x%llx level %u, reference 0x%llx level %u",
             (unsigned long long)va, (unsigned long long)*e, lvl,
             (unsigned long long)(R.leaf[k].pfn << 12 | R.leaf[k].bits), R.leaf[k].level);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    u64 x = *(const u64 *)a, y = *(const u64 *)b;

    return (x > y) - (x < y);
}

/* Data frames and table frames are all distinct and the counts add up. */
static const char *cmp_frames(void)
{
    static u64 iv[REF_LEAVES + REF_TABLES][2];
    size_t n = 0;
    u64 frames = 0;

    for (size_t k = 0; k < R.nl; k++) {
        iv[n][0] = R.leaf[k].pfn;
        iv[n++][1] = lsize(R.leaf[k].level) >> 12;
        frames += lsize(R.leaf[k].level) >> 12;
    }
    for (size_t k = 0; k < R.nt; k++) {
        struct pt_page *t = pt_table_at(R.pt, R.tab[k].base, R.tab[k].level);

        if (!t || t->level != R.tab[k].level)
            FAIL("table level %u at 0x%llx missing", R.tab[k].level,
                 (unsigned long long)R.tab[k].base);
        iv[n][0] = t->pfn;
        iv[n++][1] = 1;
    }
    qsort(iv, n, sizeof(iv[0]), cmp_u64);
    for (size_t k = 1; k < n; k++)
        if (iv[k - 1][0] + iv[k - 1][1] > iv[k][0])
            FAIL("frame 0x%llx used twice", (unsigned long long)iv[k][0]);
    if (E.ctx.nr_table_pages != R.nt + 2)
        FAIL("%llu table pages, reference %zu + 2 roots",
             (unsigned long long)E.ctx.nr_table_pages, R.nt);
    if (E.fa.nr_live != frames + E.ctx.nr_table_pages)
        FAIL("%llu live frames, reference %llu", (unsigned long long)E.fa.nr_live,
             (unsigned long long)(frames + E.ctx.nr_table_pages));
    return NULL;
}

static const char *ref_compare(void)
{
    const char *w;

    if (!pt_check(R.pt) || (R.viewer && !pt_check(R.viewer)))
        FAIL("pt_check");
    for (size_t k = 0; k < R.nl; k++)
        if ((w = cmp_one(R.leaf[k].va + sim_rand_next(&rng) % lsize(R.leaf[k].level), (long)k)))
            return w;
    for (int k = 0; k < REF_PROBES; k++) {
        u64 r = sim_rand_next(&rng), va = R.win - M2 + r % (R.win_len + 2 * M2);

        if (va_canonical(va, R.pt->va_bits) && (w = cmp_one(va, -1)))
            return w;
    }
    return cmp_frames();
}

static void check_gather(int op, const struct mmu_gather *g)
{
    static u64 got[REF_LEAVES];

    cr_assert_eq(g->nr_frames, X.nr_frames, "op %d: gather frames", op);
    cr_assert_eq(g->nr_ptes, X.nr_ptes, "op %d: gather nr_ptes", op);
    cr_assert_eq(g->nr_tables, X.nr_tables, "op %d: gather tables", op);
    cr_assert_eq(g->freed_tables, X.nr_tables > 0, "op %d: freed_tables", op);
    cr_assert(g->start == X.start && g->end == X.end, "op %d: gather range", op);
    cr_assert_eq(g->stride_shift, X.stride, "op %d: stride", op);
    if (g->nr_frames)
        memcpy(got, g->frames, g->nr_frames * sizeof(*got));
    qsort(got, g->nr_frames, sizeof(*got), cmp_u64);
    qsort(X.frames, X.nr_frames, sizeof(*X.frames), cmp_u64);
    cr_assert_arr_eq(got, X.frames, X.nr_frames * sizeof(*got), "op %d: gathered frames", op);
}

/* After the flush: every gathered frame and table page moves one gen on. */
static void finish_gather(int op)
{
    static u64 pfn[REF_LEAVES];
    static u32 fgen[REF_LEAVES];
    static struct { struct pt_page *t; u32 gen; } tg[REF_TABLES];
    size_t nf = E.g.nr_frames, nt = 0;

    for (size_t k = 0; k < nf; k++) {
        pfn[k] = E.g.frames[k] >> 2;
        fgen[k] = frame_gen(&E.fa, pfn[k]);
    }
    for (struct pt_page *t = E.g.tables; t; t = t->next_free) {
        tg[nt].t = t;
        tg[nt++].gen = t->gen;
    }
    mmu_gather_finish(&E.ctx, &E.g);
    for (size_t k = 0; k < nf; k++)
        cr_assert_eq(frame_gen(&E.fa, pfn[k]), fgen[k] + 1, "op %d: frame gen not bumped", op);
    for (size_t k = 0; k < nt; k++)
        cr_assert_eq(tg[k].t->gen, tg[k].gen + 1, "op %d: table gen not bumped", op);
}

/* ---- random operations ---- */

enum op_kind { OP_MAP, OP_POPULATE, OP_UNMAP, OP_ZAP, OP_PROTECT, OP_MIGRATE };
static const char *const op_name[] = { "map", "populate", "unmap", "zap", "protect", "migrate" };

struct rop {
    enum op_kind kind;
    u64 va, len, flags;
    unsigned shift;
    bool populate;
};

static u64 rnd(u64 n) { return sim_rand_next(&rng) % n; }

static unsigned rand_shift(void)
{
    u64 r = rnd(10);

    return r < 6 ? 12 : r < 9 ? 21 : 30;
}

static u64 rand_va(unsigned align)
{
    return R.win + (rnd(R.win_len) & ~((1ull << align) - 1));
}

static u64 rand_flags(void)
{
    u64 r = rnd(16);

    return (r & 1 ? PTE_RW : 0) | (r & 2 ? PTE_NX : 0) | (r & 4 ? PTE_G : 0) |
           (!R.kernel && r != 8 ? PTE_US : 0);
}

/* Break an argument so the op must fail with SIM_EINVAL. */
static void rand_invalid(struct rop *o)
{
    switch (rnd(4)) {
    case 0: o->va += 0x800; break;
    case 1: o->len = 0; break;
    case 2: o->va = R.kernel ? UVA : KVA; break;
    default: o->va ^= 1ull << (R.pt->va_bits - 1); break;   /* not canonical */
    }
}

static struct rop rand_op(void)
{
    struct rop o = { .kind = (enum op_kind)rnd(6), .flags = rand_flags() };
    u64 r = rnd(100);

    if (r < 30 || (r < 40 && o.kind == OP_POPULATE))
        o.kind = OP_MAP;
    if (R.nl > REF_LEAVES - 64 && o.kind <= OP_POPULATE)
        o.kind = OP_UNMAP;
    o.shift = rand_shift();
    if (o.kind <= OP_POPULATE) {
        o.va = rand_va(o.shift);
        o.len = (1 + rnd(o.shift == 12 ? 16 : o.shift == 21 ? 3 : 2)) << o.shift;
        o.populate = rnd(8) != 0;
    } else {
        o.va = rand_va(rand_shift());
        o.len = (1 + rnd(o.shift == 12 ? 64 : o.shift == 21 ? 4 : 2)) << o.shift;
    }
    if (rnd(20) == 0)
        rand_invalid(&o);
    return o;
}

static int run_map(const struct rop *o)
{
    u64 va = o->va, len = o->len;
    unsigned level = (o->shift - 12) / 9 + 1;
    bool populate = o->populate;
    int want, rc;

    if (o->kind == OP_POPULATE) {
        va &= ~(lsize(level) - 1);
        len = lsize(level);
        populate = true;
        rc = pt_populate(R.pt, o->va, o->shift, o->flags, &E.err);
    } else {
        rc = pt_map(R.pt, va, len, o->shift, o->flags, populate, &E.err);
    }
    want = ref_map_check(va, len, level);
    if (!rc && !want && populate)
        ref_map_apply(va, len, level, o->flags);
    return rc == want ? rc : 1000 + want;
}

static int run_range(const struct rop *o)
{
    int want = ref_range_leaves(o->va, o->len), rc = SIM_OK;
    bool reduced = false;

    switch (o->kind) {
    case OP_UNMAP: rc = pt_unmap(R.pt, o->va, o->len, &E.g, &E.err); break;
    case OP_ZAP: rc = pt_zap(R.pt, o->va, o->len, &E.g, &E.err); break;
    case OP_PROTECT: rc = pt_protect(R.pt, o->va, o->len, o->flags, &reduced, &E.g, &E.err); break;
    default: rc = pt_migrate(R.pt, o->va, o->len, &E.g, &E.err); break;
    }
    if (rc != want)
        return 1000 + want;
    if (rc)
        return rc;
    if (o->kind == OP_UNMAP || o->kind == OP_ZAP)
        ref_unmap(o->va, o->len, o->kind == OP_UNMAP);
    else if (o->kind == OP_MIGRATE)
        ref_migrate(o->va, o->len);
    else if (ref_protect(o->va, o->len, o->flags) != reduced)
        return 2000;
    return SIM_OK;
}

static void run_op(int op, const struct rop *o)
{
    const char *w;
    int rc;

    xg_reset();
    rc = o->kind <= OP_POPULATE ? run_map(o) : run_range(o);
    cr_assert_lt(rc, 1000, "op %d %s 0x%llx+0x%llx shift %u: reference wants %d (%s)", op,
                 op_name[o->kind], (unsigned long long)o->va, (unsigned long long)o->len,
                 o->shift, rc - 1000, E.err.msg);
    check_gather(op, &E.g);
    finish_gather(op);
    w = ref_compare();
    cr_assert_null(w, "op %d %s 0x%llx+0x%llx: %s", op, op_name[o->kind],
                   (unsigned long long)o->va, (unsigned long long)o->len, w);
}

/* win: 4 GiB placed across a top-level boundary, so upper tables come and
 * go too. */
static void ref_run(unsigned levels, bool kernel, u64 win, u64 seed, int ops)
{
    pt_env_setup(levels, levels == 5 ? 52 : 46, 0, 0);
    memset(&R, 0, sizeof(R));
    R.pt = kernel ? &E.kpt : &E.upt;
    R.viewer = kernel ? &E.upt : NULL;
    R.kernel = kernel;
    R.win = win;
    R.win_len = 4 * G1;
    rng = seed;
    for (int op = 0; op < ops; op++) {
        struct rop o = rand_op();

        run_op(op, &o);
    }
}

#define PML4_SPAN (1ull << 39)

Test(pt_ref, reference_user_4level, .timeout = 20)
{
    ref_run(4, false, 0x00007f8000000000ull - 2 * G1, 1, 1200);
    pt_env_done();
}

Test(pt_ref, reference_kernel_4level, .timeout = 20)
{
    ref_run(4, true, KVA + PML4_SPAN - 2 * G1, 2, 1000);
    pt_env_done();
}

Test(pt_ref, reference_user_5level, .timeout = 20)
{
    ref_run(5, false, 0x00ab000000000000ull - 2 * G1, 3, 800);
    pt_env_done();
}

Test(pt_ref, reference_kernel_5level, .timeout = 20)
{
    ref_run(5, true, 0xff12000000000000ull - 2 * G1, 4, 800);
    pt_env_done();
}

/* The comparison must be able to fail: corrupt the tables (and the
 * reference) on purpose and expect it to notice, then undo. */
Test(pt_ref, ref_selftest_catches_injected_faults)
{
    struct pt_page *t;
    struct ref_leaf l;
    u64 *e, saved;

    ref_run(4, false, UVA, 5, 300);
    cr_assert_gt(R.nl, 0, "the run left some leaves");
    e = pt_walk(R.pt, R.leaf[0].va, NULL, &t);
    saved = *e;
    *e ^= PTE_NX;
    cr_assert_not_null(ref_compare(), "a changed permission must be noticed");
    *e = saved ^ lsize(R.leaf[0].level);        /* a neighbouring, aligned frame */
    cr_assert_not_null(ref_compare(), "a changed frame must be noticed");
    *e = saved;
    cr_assert_null(ref_compare());
    t->nr_present++;
    cr_assert_not_null(ref_compare(), "pt_check sees a wrong count");
    t->nr_present--;
    l = R.leaf[0];
    R.leaf[0] = R.leaf[--R.nl];
    cr_assert_not_null(ref_compare(), "a leaf the reference lost must be noticed");
    R.leaf[R.nl++] = l;
    cr_assert_null(ref_compare());
    pt_env_done();
}
