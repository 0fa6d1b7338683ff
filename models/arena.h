/* models/arena.h - zeroed memory for the per-CPU structures of one
 * simulation, in big mappings advised for transparent huge pages.
 *
 * Why (docs/performance.md, issue 16): a machine of 1024 CPUs holds about
 * 100 KB of TLB arrays per CPU plus its CPU state, request queues and
 * read-ahead buffers.  Allocated one by one with malloc (or one mmap per
 * STLB), each CPU's memory is first touched a 4 KiB page at a time, and on
 * a virtual machine whose guest page tables the host shadows a page fault
 * costs 10 to 15 us: 32,000 faults were 40% of a 1024-CPU run.  An arena
 * maps 2 MiB-aligned chunks with madvise(MADV_HUGEPAGE), so one fault maps
 * 2 MiB where transparent huge pages are enabled (always, or madvise as
 * on most distributions); without them the memory is plain pages, touched
 * lazily as before.  The price is resident memory: a huge page is all
 * there once any byte of it is touched, so structures a CPU barely uses
 * (most of its STLB) count in full.
 *
 * Three kinds of blocks, all 64-byte aligned:
 *   arena_alloc  zeroed (fresh from a chunk, never reused), kept until
 *                arena_destroy: TLB arrays, the CPU array, ring segments;
 *   arena_get    a power of two of at least the bytes asked for, contents
 *                undefined, which arena_put hands back to be reused by
 *                the next arena_get of that size: arrays that double;
 *   arena_take   zeroed, from a span that arena_reserve promised earlier:
 *                memory a structure may need later but cannot fail to get
 *                then (an STLB set's entries at its first fill, in the
 *                reference path).  A span is shared by whoever reserved in
 *                it, and blocks are handed out in the order they are taken,
 *                so the memory touched is what was taken, packed, whatever
 *                was promised: 256 CPUs' STLBs promise 25 MB and take
 *                1.6 MB (docs/performance.md).
 * Not thread-safe (one arena per simulation, one thread each).  Nothing
 * is ever returned to the kernel before arena_destroy.
 */
#ifndef TLBSIM_ARENA_H
#define TLBSIM_ARENA_H

#include "base.h"

#define ARENA_ALIGN 64u                 /* every block: a cache line */
#define ARENA_HUGE (2u << 20)           /* x86-64 huge page: chunk alignment */
#define ARENA_CLASSES 40                /* arena_get sizes 64 B .. 2^45 B */

/* One mapping.  The list lives outside the chunks (malloc): a head
 * written into a chunk would make the kernel supply its first huge page
 * even when no block in it is ever used. */
struct arena_chunk {
    struct arena_chunk *next;
    u8 *base;
    size_t len;                         /* mapped bytes */
    size_t promised;                    /* spans: bytes arena_reserve promised */
    size_t taken;                       /* spans: bytes arena_take handed out */
};

struct arena {
    struct arena_chunk *chunks;         /* newest first */
    u8 *next;                           /* unused part of the newest chunk */
    size_t left;
    size_t chunk_bytes;                 /* size of the next chunk (doubles to 64 MiB) */
    size_t mapped;                      /* bytes mapped in all (reports, tests) */
    void *free[ARENA_CLASSES];          /* blocks given back, by size class */
    struct arena_chunk *spans;          /* arena_reserve's chunks, newest first */
    size_t span_bytes;                  /* size of the next span (doubles to 64 MiB) */
};

/* A zeroed arena is an empty one; nothing is mapped before the first block. */
void *arena_alloc(struct arena *a, size_t bytes);   /* zeroed; NULL when out of memory */
void *arena_get(struct arena *a, size_t bytes);     /* NULL when out of memory */
void  arena_put(struct arena *a, void *p, size_t bytes);   /* p from arena_get(bytes); NULL ok */
/* Promise n blocks of size bytes (each rounded up to ARENA_ALIGN) to be
 * taken later with arena_take from the span returned, which lives until
 * arena_destroy; NULL when out of memory (the only failure: taking what
 * was promised cannot fail).  Only address space is used until blocks are
 * taken. */
struct arena_chunk *arena_reserve(struct arena *a, size_t n, size_t size);
/* A zeroed block of size bytes from span c, within what was promised in
 * it (asserted).  Never NULL, never a system call beyond the page faults
 * of first touch. */
void *arena_take(struct arena_chunk *c, size_t size);
/* A span of its own for a structure without an arena: n blocks of size
 * bytes in a plain mapping (4 KiB pages, touched lazily), all promised;
 * NULL when out of memory.  arena_span_free unmaps it (NULL-safe). */
struct arena_chunk *arena_span_map(size_t n, size_t size);
void  arena_span_free(struct arena_chunk *c);

/* Unmap everything; the arena is empty again.  NULL-safe. */
void  arena_destroy(struct arena *a);

/* An anonymous mapping of len bytes (a multiple of ARENA_HUGE) aligned to
 * ARENA_HUGE and advised for huge pages; NULL when out of memory.  Undo
 * with munmap(p, len).  Also used for buffers too big for a chunk. */
void *arena_map_huge(size_t len);
/* The same without the advice: 4 KiB pages, each first touched on use. */
void *arena_map_aligned(size_t len);

/* Zeroed memory for big arrays used sparsely (a histogram, a generation
 * table, an index), like the kernel's kvzalloc(): from ARENA_KV_MAP_MIN
 * bytes on an anonymous mapping of its own, whose pages cost nothing
 * until touched (calloc of memory malloc reuses writes every page of it
 * first: 12 to 18 us a page on a shadow-paged VM), below that calloc.
 * NULL when out of memory.  arena_kvfree takes the size given to
 * arena_kvzalloc; NULL is fine. */
#define ARENA_KV_MAP_MIN (64u << 10)
void *arena_kvzalloc(size_t bytes);
void  arena_kvfree(void *p, size_t bytes);

#endif
