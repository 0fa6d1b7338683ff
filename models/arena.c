/* models/arena.c - chunked, huge-page-advised memory for one simulation
 * (see arena.h). */
#include "arena.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK_FIRST ARENA_HUGE          /* first chunk: one huge page */
#define CHUNK_MAX (64u << 20)           /* chunks double up to this */
/* First span: address space for the promises of about 340 skylake-sp
 * STLBs (96 KiB each: a first block and a block of all ways per set), so
 * that up to that many CPUs' used sets share the first huge pages (at 256
 * CPUs they take 1.6 MB: one huge page); only what is taken is ever
 * touched, so a big first span costs address space alone. */
#define SPAN_FIRST (32u << 20)

/* A block given back, linked through its first bytes. */
struct arena_free {
    struct arena_free *next;
};

/* len bytes of fresh anonymous memory: zero, and no page of it costs
 * anything until touched.  NULL when out of memory. */
static void *map_zero(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

void *arena_map_aligned(size_t len)
{
    u8 *p = map_zero(len + ARENA_HUGE);

    if (!p)
        return NULL;
    size_t head = (size_t)(-(uintptr_t)p & (ARENA_HUGE - 1));
    if (head)
        munmap(p, head);
    if (ARENA_HUGE - head)
        munmap(p + head + len, ARENA_HUGE - head);
    return p + head;
}

void *arena_map_huge(size_t len)
{
    void *p = arena_map_aligned(len);

    if (p)
        madvise(p, len, MADV_HUGEPAGE); /* advice only: no huge pages is fine */
    return p;
}

void *arena_kvzalloc(size_t bytes)
{
    if (bytes < ARENA_KV_MAP_MIN)
        return calloc(1, bytes ? bytes : 1);
    return map_zero(bytes);
}

void arena_kvfree(void *p, size_t bytes)
{
    if (!p)
        return;
    if (bytes < ARENA_KV_MAP_MIN)
        free(p);
    else
        munmap(p, bytes);
}

static size_t round_up(size_t x, size_t to) { return (x + to - 1) & ~(to - 1); }

/* Size class of a block of bytes (>= 1): the k with 64 << k >= bytes. */
static unsigned size_class(size_t bytes)
{
    if (bytes <= ARENA_ALIGN)
        return 0;
    return (unsigned)(64 - __builtin_clzll((unsigned long long)(bytes - 1))) - 6;
}

/* A new chunk of at least bytes at the head of *list: huge pages, at
 * least *next_len (first, then doubling up to CHUNK_MAX); NULL when out
 * of memory. */
static struct arena_chunk *map_chunk(struct arena *a, struct arena_chunk **list,
                                     size_t *next_len, size_t first, size_t bytes)
{
    size_t len;
    struct arena_chunk *c;

    if (!(c = calloc(1, sizeof(*c))))
        return NULL;
    if (!*next_len)
        *next_len = first;
    len = round_up(bytes ? bytes : 1, ARENA_HUGE);
    if (len < *next_len)
        len = *next_len;
    if (!(c->base = arena_map_huge(len))) {
        free(c);
        return NULL;
    }
    c->next = *list;
    c->len = len;
    *list = c;
    a->mapped += len;
    if (*next_len < CHUNK_MAX)
        *next_len *= 2;
    return c;
}

/* Room for bytes (a multiple of ARENA_ALIGN) in a new chunk.  What was
 * left of the previous one is abandoned: at most the largest block asked
 * for, and never written, so it costs address space only. */
static bool new_chunk(struct arena *a, size_t bytes)
{
    struct arena_chunk *c;

    if (bytes > SIZE_MAX / 2 ||
        !(c = map_chunk(a, &a->chunks, &a->chunk_bytes, CHUNK_FIRST, bytes)))
        return false;
    a->next = c->base;
    a->left = c->len;
    return true;
}

void *arena_alloc(struct arena *a, size_t bytes)
{
    void *p;

    if (bytes > SIZE_MAX / 2)
        return NULL;
    bytes = round_up(bytes ? bytes : 1, ARENA_ALIGN);
    if (bytes > a->left && !new_chunk(a, bytes))
        return NULL;
    p = a->next;
    a->next += bytes;
    a->left -= bytes;
    return p;
}

void *arena_get(struct arena *a, size_t bytes)
{
    unsigned k = size_class(bytes ? bytes : 1);
    struct arena_free *f;

    if (k >= ARENA_CLASSES)
        return NULL;
    if ((f = a->free[k])) {
        a->free[k] = f->next;
        return f;
    }
    return arena_alloc(a, (size_t)ARENA_ALIGN << k);
}

void arena_put(struct arena *a, void *p, size_t bytes)
{
    unsigned k = size_class(bytes ? bytes : 1);
    struct arena_free *f = p;

    if (!p)
        return;
    f->next = a->free[k];
    a->free[k] = f;
}

/* ===== Spans: promised now, taken later ================================= */

/* Bytes of n blocks of size each, or 0 when that does not fit a size_t. */
static size_t span_need(size_t n, size_t size)
{
    size_t b;

    if (size > SIZE_MAX / 2)
        return 0;
    b = round_up(size ? size : 1, ARENA_ALIGN);
    return n && b > (SIZE_MAX / 4) / n ? 0 : n * b;
}

struct arena_chunk *arena_reserve(struct arena *a, size_t n, size_t size)
{
    size_t need = span_need(n, size);
    struct arena_chunk *c = a->spans;

    if (!need && n)
        return NULL;
    /* A new span if need be; what the previous one has not promised is
     * left as address space only (nothing there is ever touched). */
    if (!c || c->len - c->promised < need)
        c = map_chunk(a, &a->spans, &a->span_bytes, SPAN_FIRST, need);
    if (c)
        c->promised += need;
    return c;
}

void *arena_take(struct arena_chunk *c, size_t size)
{
    size_t b = round_up(size ? size : 1, ARENA_ALIGN);
    void *p = c->base + c->taken;

    assert(b <= c->promised && c->taken <= c->promised - b);
    c->taken += b;
    return p;
}

struct arena_chunk *arena_span_map(size_t n, size_t size)
{
    size_t need = span_need(n, size);
    struct arena_chunk *c;
    void *p;

    if (!need || !(c = calloc(1, sizeof(*c))))
        return NULL;
    if (!(p = map_zero(need))) {
        free(c);
        return NULL;
    }
    c->base = p;
    c->len = c->promised = need;
    return c;
}

void arena_span_free(struct arena_chunk *c)
{
    if (!c)
        return;
    munmap(c->base, c->len);
    free(c);
}

/* Unmap a list of chunks (spans or not: the same mapping and record). */
static void unmap_all(struct arena_chunk *c)
{
    while (c) {
        struct arena_chunk *next = c->next;
        arena_span_free(c);
        c = next;
    }
}

void arena_destroy(struct arena *a)
{
    if (!a)
        return;
    unmap_all(a->chunks);
    unmap_all(a->spans);
    memset(a, 0, sizeof(*a));
}
