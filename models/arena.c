/* models/arena.c - chunked, huge-page-advised memory for one simulation
 * (see arena.h). */
#include "arena.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK_FIRST ARENA_HUGE          /* first chunk: one huge page */
#define CHUNK_MAX (64u << 20)           /* chunks double up to this */

/* A block given back, linked through its first bytes. */
struct arena_free {
    struct arena_free *next;
};

void *arena_map_aligned(size_t len)
{
    u8 *p = mmap(NULL, len + ARENA_HUGE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED)
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
    void *p;

    if (bytes < ARENA_KV_MAP_MIN)
        return calloc(1, bytes ? bytes : 1);
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
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

/* Room for bytes (a multiple of ARENA_ALIGN) in a new chunk.  What was
 * left of the previous one is abandoned: at most the largest block asked
 * for, and never written, so it costs address space only. */
static bool new_chunk(struct arena *a, size_t bytes)
{
    size_t len;
    struct arena_chunk *c;

    if (bytes > SIZE_MAX / 2 || !(c = malloc(sizeof(*c))))
        return false;
    if (!a->chunk_bytes)
        a->chunk_bytes = CHUNK_FIRST;
    len = round_up(bytes, ARENA_HUGE);
    if (len < a->chunk_bytes)
        len = a->chunk_bytes;
    if (!(c->base = arena_map_huge(len))) {
        free(c);
        return false;
    }
    c->next = a->chunks;
    c->len = len;
    a->chunks = c;
    a->next = c->base;
    a->left = len;
    a->mapped += len;
    if (a->chunk_bytes < CHUNK_MAX)
        a->chunk_bytes *= 2;
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

void arena_destroy(struct arena *a)
{
    if (!a)
        return;
    while (a->chunks) {
        struct arena_chunk *c = a->chunks;
        a->chunks = c->next;
        munmap(c->base, c->len);
        free(c);
    }
    memset(a, 0, sizeof(*a));
}
