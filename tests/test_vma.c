/* tests/test_vma.c - virtual memory areas (models/vma.c).
 *
 * Unit tests for insert/remove/protect/find and their errors, plus a random
 * sequence checked against a page array that names each page's area. */
#include <criterion/criterion.h>

#include "../models/vma.h"

#define K4 0x1000ull
#define M2 0x200000ull
#define BASE 0x40000000ull              /* 1 GiB: every test area lies above */

static struct vma_set s;
static struct sim_err err;

static void fini(void)
{
    vma_set_destroy(&s);
}

TestSuite(vma, .fini = fini);

static void insert_ok(u64 start, u64 end, u64 flags, unsigned shift)
{
    cr_assert_eq(vma_insert(&s, start, end, flags, shift, &err), SIM_OK, "%s", err.msg);
}

static void expect_area(u64 va, u64 start, u64 end, u64 flags)
{
    const struct vma *v = vma_find(&s, va);

    cr_assert_not_null(v, "no area at 0x%llx", (unsigned long long)va);
    cr_assert(v->start == start && v->end == end && v->flags == flags,
              "at 0x%llx: [0x%llx, 0x%llx) flags %llu", (unsigned long long)va,
              (unsigned long long)v->start, (unsigned long long)v->end,
              (unsigned long long)v->flags);
}

Test(vma, insert_find_and_overlap)
{
    vma_set_init(&s, 0);
    insert_ok(BASE + 10 * K4, BASE + 20 * K4, 1, 12);
    insert_ok(BASE, BASE + 5 * K4, 2, 12);
    insert_ok(BASE + 20 * K4, BASE + 21 * K4, 3, 12);
    cr_assert_eq(s.nr, 3);
    cr_assert(s.v[0].start < s.v[1].start && s.v[1].start < s.v[2].start, "sorted");
    expect_area(BASE + 19 * K4 + 7, BASE + 10 * K4, BASE + 20 * K4, 1);
    cr_assert_null(vma_find(&s, BASE + 5 * K4), "end is exclusive");
    cr_assert_null(vma_find(&s, 0));
    cr_assert_eq(vma_insert(&s, BASE + 4 * K4, BASE + 11 * K4, 0, 12, &err), SIM_EEXIST);
    cr_assert_eq(vma_insert(&s, BASE + 15 * K4, BASE + 16 * K4, 0, 12, &err), SIM_EEXIST);
    cr_assert_eq(s.nr, 3, "failed insert changes nothing");
}

Test(vma, insert_rejects_bad_arguments)
{
    vma_set_init(&s, 0);
    cr_assert_eq(vma_insert(&s, BASE, BASE, 0, 12, &err), SIM_EINVAL, "empty");
    cr_assert_eq(vma_insert(&s, BASE + 1, BASE + K4, 0, 12, &err), SIM_EINVAL);
    cr_assert_eq(vma_insert(&s, BASE + K4, BASE + M2 + K4, 0, 21, &err), SIM_EINVAL,
                 "2M area must be 2M aligned");
    cr_assert_eq(vma_insert(&s, BASE, BASE + K4, 0, 13, &err), SIM_EINVAL);
    cr_assert(strstr(err.msg, "page_shift") != NULL, "%s", err.msg);
    cr_assert_eq(s.nr, 0);
}

Test(vma, remove_splits_and_spans)
{
    vma_set_init(&s, 0);
    insert_ok(BASE, BASE + 10 * K4, 1, 12);
    insert_ok(BASE + 10 * K4, BASE + 20 * K4, 2, 12);
    cr_assert_eq(vma_remove(&s, BASE + 3 * K4, BASE + 5 * K4, &err), SIM_OK);
    cr_assert_eq(s.nr, 3, "hole punched in one area");
    expect_area(BASE, BASE, BASE + 3 * K4, 1);
    expect_area(BASE + 5 * K4, BASE + 5 * K4, BASE + 10 * K4, 1);
    cr_assert_eq(vma_remove(&s, BASE + 8 * K4, BASE + 12 * K4, &err), SIM_OK);
    expect_area(BASE + 7 * K4, BASE + 5 * K4, BASE + 8 * K4, 1);
    expect_area(BASE + 12 * K4, BASE + 12 * K4, BASE + 20 * K4, 2);
    cr_assert_null(vma_find(&s, BASE + 9 * K4));
    cr_assert_eq(vma_remove(&s, 0, BASE, &err), SIM_OK, "nothing there: fine");
    cr_assert_eq(vma_remove(&s, 0, BASE + 0x10000000, &err), SIM_OK);
    cr_assert_eq(s.nr, 0);
}

Test(vma, huge_areas_cannot_be_cut_mid_page)
{
    vma_set_init(&s, 0);
    insert_ok(BASE, BASE + 4 * M2, 5, 21);
    cr_assert_eq(vma_remove(&s, BASE + K4, BASE + M2, &err), SIM_EINVAL);
    cr_assert(strstr(err.msg, "splits") != NULL, "%s", err.msg);
    cr_assert_eq(vma_protect(&s, BASE, BASE + M2 + K4, 1, 0, &err), SIM_EINVAL);
    cr_assert_eq(s.nr, 1);
    expect_area(BASE, BASE, BASE + 4 * M2, 5);
    cr_assert_eq(vma_remove(&s, BASE + M2, BASE + 2 * M2, &err), SIM_OK);
    cr_assert_eq(s.nr, 2);
    cr_assert_eq(vma_find(&s, BASE + 2 * M2)->page_shift, 21);
}

Test(vma, protect_splits_edges_and_skips_holes)
{
    vma_set_init(&s, 0);
    insert_ok(BASE, BASE + 4 * K4, 1, 12);
    insert_ok(BASE + 6 * K4, BASE + 10 * K4, 1, 12);
    cr_assert_eq(vma_protect(&s, BASE + 2 * K4, BASE + 8 * K4, 7, 0, &err), SIM_OK);
    cr_assert_eq(s.nr, 4);
    expect_area(BASE, BASE, BASE + 2 * K4, 1);
    expect_area(BASE + 3 * K4, BASE + 2 * K4, BASE + 4 * K4, 7);
    cr_assert_null(vma_find(&s, BASE + 5 * K4), "the hole stays a hole");
    expect_area(BASE + 6 * K4, BASE + 6 * K4, BASE + 8 * K4, 7);
    expect_area(BASE + 9 * K4, BASE + 8 * K4, BASE + 10 * K4, 1);
    cr_assert_eq(vma_protect(&s, BASE + K4, BASE + 2 * K4, 9, 0, &err), SIM_OK);
    expect_area(BASE + K4, BASE + K4, BASE + 2 * K4, 9);
    cr_assert_eq(s.nr, 5);
}

Test(vma, limit_gives_elimit_and_no_change)
{
    vma_set_init(&s, 2);
    insert_ok(BASE, BASE + 4 * K4, 1, 12);
    insert_ok(BASE + 8 * K4, BASE + 12 * K4, 1, 12);
    cr_assert_eq(vma_insert(&s, BASE + 20 * K4, BASE + 21 * K4, 0, 12, &err), SIM_ELIMIT);
    cr_assert_eq(vma_remove(&s, BASE + K4, BASE + 2 * K4, &err), SIM_ELIMIT,
                 "punching a hole needs a third area");
    cr_assert_eq(vma_protect(&s, BASE + K4, BASE + 2 * K4, 3, 0, &err), SIM_ELIMIT);
    cr_assert_eq(s.nr, 2);
    expect_area(BASE + K4, BASE, BASE + 4 * K4, 1);
    cr_assert_eq(vma_remove(&s, BASE, BASE + 2 * K4, &err), SIM_OK, "trimming is fine");
    cr_assert_eq(vma_protect(&s, BASE + 8 * K4, BASE + 12 * K4, 3, 0, &err), SIM_OK);
}

/* ---- random sequence against a page array ------------------------------ */
/* The window has NPAGES 4K pages; id[p] names the area holding page p (0:
 * none).  Every area gets a fresh id, so a split is visible as a new id. */

enum { NPAGES = 2048, OPS = 3000, MAXV = 32 };

struct ref {
    unsigned id[NPAGES];
    u64 flags[NPAGES];
    u8 shift[NPAGES];
    unsigned next_id;
};

static u64 pva(size_t p) { return BASE + p * K4; }

static size_t ref_count(const struct ref *r)
{
    size_t n = 0;

    for (size_t p = 0; p < NPAGES; p++)
        n += r->id[p] && (p == 0 || r->id[p - 1] != r->id[p]);
    return n;
}

/* Is a cut at page p legal (not inside a huge page of an area)? */
static bool ref_cut_ok(const struct ref *r, size_t p)
{
    if (p == 0 || p >= NPAGES || !r->id[p] || r->id[p - 1] != r->id[p])
        return true;
    return (pva(p) & ((1ull << r->shift[p]) - 1)) == 0;
}

/* Split the area straddling page p: pages from p on get a fresh id. */
static void ref_cut(struct ref *r, size_t p)
{
    unsigned old;

    if (p == 0 || p >= NPAGES || !r->id[p] || r->id[p - 1] != r->id[p])
        return;
    old = r->id[p];
    for (r->next_id++; p < NPAGES && r->id[p] == old; p++)
        r->id[p] = r->next_id;
}

static int ref_insert(struct ref *r, size_t p0, size_t p1, u64 flags, unsigned shift)
{
    for (size_t p = p0; p < p1; p++)
        if (r->id[p])
            return SIM_EEXIST;
    if (ref_count(r) + 1 > MAXV)
        return SIM_ELIMIT;
    r->next_id++;
    for (size_t p = p0; p < p1; p++) {
        r->id[p] = r->next_id;
        r->flags[p] = flags;
        r->shift[p] = (u8)shift;
    }
    return SIM_OK;
}

/* remove (protect == false) or protect [p0, p1) on r; SIM_* as vma_* would. */
static int ref_edit(struct ref *r, size_t p0, size_t p1, bool protect, u64 flags)
{
    struct ref t = *r;

    if (!ref_cut_ok(r, p0) || !ref_cut_ok(r, p1))
        return SIM_EINVAL;
    ref_cut(&t, p0);
    ref_cut(&t, p1);
    for (size_t p = p0; p < p1; p++) {
        if (!protect)
            t.id[p] = 0;
        else if (t.id[p])
            t.flags[p] = flags;
    }
    if (ref_count(&t) > MAXV)
        return SIM_ELIMIT;
    *r = t;
    return SIM_OK;
}

static void ref_compare(const struct ref *r, int op)
{
    cr_assert_eq(s.nr, ref_count(r), "op %d: %zu areas, reference %zu", op, s.nr, ref_count(r));
    for (size_t k = 0; k < s.nr; k++) {
        cr_assert(s.v[k].start < s.v[k].end, "op %d: empty area", op);
        cr_assert(k == 0 || s.v[k - 1].end <= s.v[k].start, "op %d: unsorted/overlap", op);
    }
    for (size_t a = 0, b; a < NPAGES; a = b) {  /* one run [a, b) of equal ids at a time */
        for (b = a + 1; b < NPAGES && r->id[b] == r->id[a]; b++)
            ;
        for (size_t p = a; p < b; p++) {
            const struct vma *v = vma_find(&s, pva(p) + (p * 37) % K4);

            if (!r->id[p]) {
                cr_assert_null(v, "op %d: page %zu should be unmapped", op, p);
                continue;
            }
            cr_assert_not_null(v, "op %d: page %zu should be mapped", op, p);
            cr_assert(v->start == pva(a) && v->end == pva(b), "op %d: page %zu bounds", op, p);
            cr_assert(v->flags == r->flags[p] && v->page_shift == r->shift[p],
                      "op %d: page %zu attributes", op, p);
        }
    }
}

/* huge: 2M-aligned ends; long: up to 1 MiB (edits), else up to 96 KiB. */
static void random_range(u64 *seed, size_t *p0, size_t *p1, bool huge, bool lng)
{
    u64 r = sim_rand_next(seed);
    size_t unit = huge ? 512 : 1, n = NPAGES / unit;

    *p0 = (r % n) * unit;
    *p1 = *p0 + (1 + (r >> 20) % (huge ? 2 : lng ? 256 : 24)) * unit;
    if (*p1 > NPAGES)
        *p1 = NPAGES;
}

Test(vma, random_against_reference)
{
    static struct ref r;
    u64 seed = 7;

    vma_set_init(&s, MAXV);
    for (int op = 0; op < OPS; op++) {
        u64 x = sim_rand_next(&seed), flags = x >> 60;
        int kind = (int)(x % 8), rc, want;  /* 0-3 insert, 4 remove, 5-7 protect */
        bool huge = (x >> 8) % 4 == 0;
        size_t p0, p1;

        random_range(&seed, &p0, &p1, huge, kind >= 4);
        if (kind < 4) {
            unsigned shift = huge ? 21 : 12;

            want = ref_insert(&r, p0, p1, flags, shift);
            rc = vma_insert(&s, pva(p0), pva(p1), flags, shift, &err);
        } else if (kind < 5) {
            want = ref_edit(&r, p0, p1, false, 0);
            rc = vma_remove(&s, pva(p0), pva(p1), &err);
        } else {
            want = ref_edit(&r, p0, p1, true, flags);
            rc = vma_protect(&s, pva(p0), pva(p1), flags, 0, &err);
        }
        cr_assert_eq(rc, want, "op %d kind %d [%zu, %zu): got %d want %d (%s)",
                     op, kind, p0, p1, rc, want, err.msg);
        ref_compare(&r, op);
    }
}
