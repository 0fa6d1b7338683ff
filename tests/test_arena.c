/* tests/test_arena.c - models/arena.c: zeroed, aligned, non-overlapping
 * blocks across chunks, reuse by size class, untouched memory left alone,
 * requests too big for the address space refused; and where tlb_init_in
 * puts a structure's arrays. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "../models/arena.h"
#include "../models/tlb.h"

static bool inside(const void *p, const void *lo, size_t len)
{
    return (uintptr_t)p >= (uintptr_t)lo && (uintptr_t)p < (uintptr_t)lo + len;
}

Test(arena, blocks_are_zeroed_aligned_and_disjoint)
{
    enum { N = 3000 };
    static u8 *blk[N];
    static size_t len[N];
    struct arena a = { 0 };

    /* 3000 blocks of up to 12 KB: about 18 MB, so several chunks. */
    for (u32 i = 0; i < N; i++) {
        len[i] = 1 + (i * 7919u) % 12000;
        blk[i] = arena_alloc(&a, len[i]);
        cr_assert_not_null(blk[i]);
        cr_assert_eq((uintptr_t)blk[i] % ARENA_ALIGN, 0, "block %u not aligned", i);
        for (size_t b = 0; b < len[i]; b++)
            cr_assert_eq(blk[i][b], 0, "block %u byte %zu not zero", i, b);
        memset(blk[i], (int)(i & 0xff) | 1, len[i]);
    }
    for (u32 i = 0; i < N; i++)         /* no later block overwrote an earlier one */
        for (size_t b = 0; b < len[i]; b++)
            cr_assert_eq(blk[i][b], (u8)((i & 0xff) | 1), "block %u byte %zu", i, b);
    cr_assert_geq(a.mapped, (size_t)18 << 20);
    cr_assert_eq(a.mapped % ARENA_HUGE, 0);
    arena_destroy(&a);
    cr_assert_eq(a.mapped, 0);
    cr_assert_null(a.chunks);
}

Test(arena, get_reuses_blocks_of_the_same_class)
{
    struct arena a = { 0 };
    void *p = arena_get(&a, 100);       /* class 128 */
    void *q, *r, *t;

    cr_assert_not_null(p);
    arena_put(&a, p, 100);
    q = arena_get(&a, 128);
    cr_assert_eq(q, p, "a 128-byte block should reuse the 100-byte one");
    r = arena_get(&a, 128);
    cr_assert(r && r != q, "a block is handed out once");
    arena_put(&a, q, 128);
    arena_put(&a, r, 128);
    cr_assert_eq(arena_get(&a, 65), r);
    cr_assert_eq(arena_get(&a, 127), q);
    t = arena_get(&a, 129);             /* class 256: a fresh block */
    cr_assert(t && t != p && t != r);
    arena_put(&a, t, 129);
    cr_assert_eq(arena_get(&a, 200), t, "each class keeps its own blocks");
    arena_put(&a, NULL, 64);            /* NULL is fine */
    arena_destroy(&a);
}

/* Resident pages of one chunk or span. */
static size_t resident_pages_of(const struct arena_chunk *c)
{
    static unsigned char vec[(64u << 20) >> 12];
    size_t n = 0;

    cr_assert_leq(c->len >> 12, sizeof(vec));
    cr_assert_eq(mincore(c->base, c->len, vec), 0);
    for (size_t i = 0; i < c->len >> 12; i++)
        n += vec[i] & 1;
    return n;
}

/* Pages of the arena's memory resident now. */
static size_t resident_pages(const struct arena *a)
{
    size_t n = 0;

    for (const struct arena_chunk *c = a->chunks; c; c = c->next)
        n += resident_pages_of(c);
    return n;
}

/* The arena writes nothing into its chunks (no heads, no links until a
 * block is given back), so memory no one uses never becomes resident:
 * a kind of TLB array no CPU fills costs no page. */
Test(arena, unused_blocks_and_chunks_stay_untouched)
{
    struct arena a = { 0 };
    const size_t mib = (size_t)1 << 20;
    u8 *p = NULL;

    for (u32 i = 0; i < 12; i++)                         /* 12 MiB: chunks of 2, 4, 8 */
        cr_assert_not_null(p = arena_alloc(&a, mib));
    cr_assert_not_null(a.chunks->next->next);
    cr_assert_eq(resident_pages(&a), 0, "the arena wrote to its own memory");
    p[0] = 1;
    cr_assert_gt(resident_pages(&a), 0);
    arena_destroy(&a);
}

Test(arena, impossible_sizes_fail_cleanly)
{
    struct arena a = { 0 };

    cr_assert_null(arena_alloc(&a, SIZE_MAX));
    cr_assert_null(arena_alloc(&a, SIZE_MAX / 2 + 1));
    cr_assert_null(arena_get(&a, SIZE_MAX));
    cr_assert_null(arena_get(&a, (size_t)1 << 62));
    cr_assert_not_null(arena_alloc(&a, 1), "a failed request must leave the arena usable");
    arena_destroy(&a);
    arena_destroy(NULL);
}

Test(arena, huge_mappings_are_aligned)
{
    u8 *p = arena_map_huge(2 * ARENA_HUGE);

    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % ARENA_HUGE, 0);
    p[0] = 1;
    p[2 * ARENA_HUGE - 1] = 1;
    cr_assert_eq(munmap(p, 2 * ARENA_HUGE), 0);
}

/* tlb_init_in: a small structure wholly in the arena; a large one's tags,
 * set pointers and live bits in it too, and its entries in a span of the
 * arena, a block per set at the set's first fill (tlb.h "Storage"). */
Test(arena, tlb_arrays_in_an_arena)
{
    struct arena a = { 0 };
    struct tlb l1 = { 0 }, stlb = { 0 };
    struct sim_err err = { 0 };
    struct tlb_config c1 = { .entries = 64, .ways = 4, .nr_sizes = 1, .shifts = { 12 } };
    struct tlb_config c2 = { .entries = 1536, .ways = 12, .nr_sizes = 2, .shifts = { 12, 21 } };
    struct tlb_entry *e;

    cr_assert_eq(tlb_init_in(&l1, &c1, TLB_REPL_PLRU, 1, &a, &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(tlb_init_in(&stlb, &c2, TLB_REPL_LRU, 1, &a, &err), SIM_OK, "%s", err.msg);
    cr_assert(l1.in_arena && l1.e && !l1.span);
    cr_assert(inside(l1.e, a.chunks->base, a.chunks->len) &&
              inside(l1.plru, a.chunks->base, a.chunks->len));
    cr_assert(stlb.in_arena && !stlb.e && stlb.span == a.spans && !stlb.own_span);
    cr_assert(inside(stlb.tags, a.chunks->base, a.chunks->len) &&
              inside(stlb.set_e, a.chunks->base, a.chunks->len),
              "STLB tags and set pointers should be in the arena");
    cr_assert_eq(a.spans->promised, 128 * (4 + 12) * sizeof(struct tlb_entry));
    cr_assert_eq(a.spans->taken, 0);
    for (u32 i = 0; i < 1536; i++)
        cr_assert(stlb.tags[i] == TLB_TAG_INVALID && !tlb_entry_at(&stlb, i / 12, i % 12));
    cr_assert_not_null(e = tlb_fill(&stlb, 0x7000, 12, NULL, NULL));
    cr_assert(e == tlb_entry_at(&stlb, 7, 0) && (u8 *)stlb.set_e[7] == a.spans->base);
    cr_assert_eq(a.spans->taken, TLB_FIRST_WAYS * sizeof(struct tlb_entry));
    cr_assert_not_null(tlb_lookup(&stlb, 0x7123));
    cr_assert(tlb_check(&stlb) && tlb_check(&l1));
    tlb_destroy(&l1);
    tlb_destroy(&stlb);
    arena_destroy(&a);
}

/* arena_reserve/arena_take: blocks zeroed, packed in the order taken,
 * never beyond what was promised in their span; a promise the newest span
 * cannot hold opens another; nothing is touched before it is taken. */
Test(arena, reserved_blocks_are_packed_and_untouched_until_taken)
{
    struct arena a = { 0 };
    struct arena_chunk *s1, *s2, *s3;
    u8 *p, *q;
    unsigned char vec[1];

    cr_assert_not_null(s1 = arena_reserve(&a, 100, 576));
    cr_assert_not_null(s2 = arena_reserve(&a, 10, 100));     /* rounded to 128 each */
    cr_assert(s1 == s2 && s1->promised == 100 * 576 + 10 * 128 && s1->taken == 0);
    cr_assert_eq(resident_pages_of(s1), 0, "a promise touched memory");
    p = arena_take(s2, 100);
    q = arena_take(s1, 576);
    cr_assert(p == s1->base && q == p + 128 && s1->taken == 128 + 576);
    for (u32 i = 0; i < 576; i++)
        cr_assert_eq(q[i], 0);
    q[575] = 1;
    cr_assert_eq(mincore(s1->base, 4096, vec), 0);
    cr_assert(vec[0] & 1);
    cr_assert_not_null(s3 = arena_reserve(&a, 1, s1->len));  /* more than is left */
    cr_assert(s3 != s1 && a.spans == s3 && s3->next == s1 && s3->len >= s1->len);
    cr_assert_null(arena_reserve(&a, SIZE_MAX / 8, 64), "impossible promise");
    arena_destroy(&a);
    cr_assert_null(a.spans);
}

/* A span of its own (a structure without an arena): all promised. */
Test(arena, own_span_holds_what_was_asked)
{
    struct arena_chunk *c = arena_span_map(3, 576);
    u8 *b[3];

    cr_assert_not_null(c);
    cr_assert(c->promised == 3 * 576 && c->taken == 0);
    for (u32 i = 0; i < 3; i++)
        b[i] = arena_take(c, 576);
    cr_assert(b[1] == b[0] + 576 && b[2] == b[1] + 576 && c->taken == c->promised);
    b[2][575] = 1;
    arena_span_free(c);
    arena_span_free(NULL);
    cr_assert_null(arena_span_map(0, 576));
}
