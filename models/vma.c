/* models/vma.c - sorted array of the virtual memory areas of one mm.
 *
 * Workload profile: vma_find() runs on every page fault (binary search);
 * insert/remove/protect run on map, munmap and mprotect records and pay a
 * memmove of the tail, O(n).  XXX: a tree (Linux's maple tree) would make
 * edits O(log n); traces with ~10^5 areas and heavy churn would want it.
 *
 * Edits are check-then-mutate: cut points are validated and capacity is
 * reserved before the array changes, so on error the set is unchanged.
 * Adjacent areas with equal attributes are not merged (Linux's vma_merge
 * would be): the set keeps exactly the boundaries the trace produced.
 */
#include "vma.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void vma_set_init(struct vma_set *s, size_t max)
{
    memset(s, 0, sizeof(*s));
    s->max = max;
}

void vma_set_destroy(struct vma_set *s)
{
    if (!s)
        return;
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* Index of the first area whose end is above va (s->nr if none). */
static size_t first_ending_after(const struct vma_set *s, u64 va)
{
    size_t lo = 0, hi = s->nr;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (s->v[mid].end > va)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

const struct vma *vma_find(const struct vma_set *s, u64 va)
{
    size_t i = first_ending_after(s, va);

    return (i < s->nr && s->v[i].start <= va) ? &s->v[i] : NULL;
}

/* Room for `extra` more areas, within the configured maximum (0: none). */
static int vma_reserve(struct vma_set *s, size_t extra, struct sim_err *err)
{
    size_t cap = s->cap ? s->cap : 16;
    struct vma *v;

    if (s->max && (extra > s->max || s->nr > s->max - extra))
        return sim_err_set(err, SIM_ELIMIT, "vmas: limit of %zu areas reached", s->max);
    if (s->nr + extra <= s->cap)
        return SIM_OK;
    while (cap < s->nr + extra)
        cap *= 2;
    if (!(v = realloc(s->v, cap * sizeof(*v))))
        return sim_err_set(err, SIM_ENOMEM, "vmas: out of memory");
    s->v = v;
    s->cap = cap;
    return SIM_OK;
}

/* Replace areas [i, j) by the n areas in `with` (capacity reserved). */
static void vma_splice(struct vma_set *s, size_t i, size_t j,
                       const struct vma *with, size_t n)
{
    memmove(&s->v[i + n], &s->v[j], (s->nr - j) * sizeof(*s->v));
    memcpy(&s->v[i], with, n * sizeof(*with));
    s->nr = s->nr - (j - i) + n;
}

static int check_bounds(u64 start, u64 end, u64 align, struct sim_err *err)
{
    if (start >= end)
        return sim_err_set(err, SIM_EINVAL, "vma [0x%" PRIx64 ", 0x%" PRIx64 "): empty",
                           start, end);
    if ((start | end) & (align - 1))
        return sim_err_set(err, SIM_EINVAL, "vma [0x%" PRIx64 ", 0x%" PRIx64
                           "): not aligned to 0x%" PRIx64, start, end, align);
    return SIM_OK;
}

int vma_insert(struct vma_set *s, u64 start, u64 end, u64 flags,
               unsigned page_shift, struct sim_err *err)
{
    struct vma n = { .start = start, .end = end, .flags = flags, .page_shift = (u8)page_shift };
    size_t i;
    int rc;

    if (page_shift != 12 && page_shift != 21 && page_shift != 30)
        return sim_err_set(err, SIM_EINVAL, "page_shift: %u is not 12, 21 or 30", page_shift);
    if ((rc = check_bounds(start, end, 1ull << page_shift, err)))
        return rc;
    i = first_ending_after(s, start);
    if (i < s->nr && s->v[i].start < end)
        return sim_err_set(err, SIM_EEXIST, "vma [0x%" PRIx64 ", 0x%" PRIx64
                           "): overlaps [0x%" PRIx64 ", 0x%" PRIx64 ")",
                           start, end, s->v[i].start, s->v[i].end);
    if ((rc = vma_reserve(s, 1, err)))
        return rc;
    vma_splice(s, i, i, &n, 1);
    return SIM_OK;
}

/* A cut at va inside area a must fall on a's page boundary: an area of
 * huge pages cannot be split in the middle of a page. */
static int check_cut(const struct vma *a, u64 va, struct sim_err *err)
{
    if (va <= a->start || va >= a->end || !(va & ((1ull << a->page_shift) - 1)))
        return SIM_OK;
    return sim_err_set(err, SIM_EINVAL, "va 0x%" PRIx64 ": splits a %u KiB page of vma "
                       "[0x%" PRIx64 ", 0x%" PRIx64 ")", va,
                       (1u << a->page_shift) >> 10, a->start, a->end);
}

/* The areas [*i, *j) overlapping [start, end); checks both cut points. */
static int touched(const struct vma_set *s, u64 start, u64 end, size_t *i, size_t *j,
                   struct sim_err *err)
{
    int rc = check_bounds(start, end, 1ull << PAGE_SHIFT_4K, err);

    if (rc)
        return rc;
    *i = *j = first_ending_after(s, start);
    while (*j < s->nr && s->v[*j].start < end)
        (*j)++;
    if (*i == *j)
        return SIM_OK;
    if ((rc = check_cut(&s->v[*i], start, err)) || (rc = check_cut(&s->v[*j - 1], end, err)))
        return rc;
    return SIM_OK;
}

int vma_remove(struct vma_set *s, u64 start, u64 end, struct sim_err *err)
{
    struct vma keep[2];
    size_t i, j, n = 0;
    int rc;

    if ((rc = touched(s, start, end, &i, &j, err)) || i == j)
        return rc;
    if (s->v[i].start < start) {        /* head of the first area survives */
        keep[n] = s->v[i];
        keep[n++].end = start;
    }
    if (s->v[j - 1].end > end) {        /* tail of the last area survives */
        keep[n] = s->v[j - 1];
        keep[n++].start = end;
    }
    if (n > j - i && (rc = vma_reserve(s, n - (j - i), err)))
        return rc;                      /* a hole punched in one area */
    vma_splice(s, i, j, keep, n);
    return SIM_OK;
}

/* Holes inside [start, end) are skipped, as pt_protect skips absent
 * entries (Linux's mprotect would fail with ENOMEM instead). */
int vma_protect(struct vma_set *s, u64 start, u64 end, u64 flags, u64 keep,
                struct sim_err *err)
{
    size_t i, j, k, extra;
    int rc;

    if ((rc = touched(s, start, end, &i, &j, err)) || i == j)
        return rc;
    extra = (s->v[i].start < start) + (s->v[j - 1].end > end);
    if ((rc = vma_reserve(s, extra, err)))
        return rc;
    if (s->v[i].start < start) {        /* split off the head, keeping old flags */
        struct vma pair[2] = { s->v[i], s->v[i] };

        pair[0].end = pair[1].start = start;
        vma_splice(s, i, i + 1, pair, 2);
        i++, j++;
    }
    if (s->v[j - 1].end > end) {        /* split off the tail */
        struct vma pair[2] = { s->v[j - 1], s->v[j - 1] };

        pair[0].end = pair[1].start = end;
        vma_splice(s, j - 1, j, pair, 2);
    }
    for (k = i; k < j; k++)
        s->v[k].flags = (s->v[k].flags & keep) | flags;
    return SIM_OK;
}
