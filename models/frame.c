/* models/frame.c - physical frame allocator with per-frame generations.
 *
 * Workload profile: frame_get/frame_put run on map, populate, unmap and
 * migrate, never on the memory-reference hot path; frame_gen() runs on
 * every TLB fill and must stay O(1).
 *
 * Two rules keep memory bounded by the frames actually handed out, whatever
 * a trace asks for:
 *  - free lists are rings whose capacity is reserved in frame_get (capacity
 *    >= queued + outstanding units), so frame_put never allocates and
 *    cannot fail;
 *  - generations live in one chunk per 1 GiB region of physical space.  A
 *    chunk is as coarse as the smallest unit ever handed out in its region:
 *    1 counter for a region holding one 1 GiB unit, 512 for 2 MiB units,
 *    262144 (1 MiB) once a 4 KiB unit appears.  The top-level array grows on
 *    demand up to MAXPHYADDR / 1 GiB pointers (32 MiB at 52 bits).
 *
 * Units never split or coalesce: a pfn keeps the order it was first carved
 * with, so a generation is always found at the granularity of its unit.
 */
#include "frame.h"

#include "arena.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define GEN_REGION_SHIFT 18             /* pfns per chunk: 1 GiB of 4 KiB frames */
#define GEN_REGION_PFNS  (1ull << GEN_REGION_SHIFT)
#define FREE_RING_MIN    16             /* first ring capacity, in units */

/* FIFO of freed unit base pfns for one order. */
struct frame_free_list {
    u64 *q;                             /* ring storage, cap entries */
    u64 head;                           /* index of the oldest entry */
    u64 len;                            /* queued units */
    u64 cap;                            /* power of two; >= len + nr_out */
    u64 nr_out;                         /* units of this order handed out now */
};

static inline unsigned order_shift(enum frame_order order)
{
    return 9u * (unsigned)order;        /* log2 of 4 KiB frames per unit */
}

static inline u64 order_frames(enum frame_order order)
{
    return 1ull << order_shift(order);
}

static inline u64 round_up_pfn(u64 pfn, u64 align)
{
    return (pfn + align - 1) & ~(align - 1);
}

/* ===== free-list rings ===================================================== */

/* Make room for `need` entries in total; the queue order is preserved. */
static int ring_reserve(struct frame_free_list *fl, u64 need)
{
    u64 cap = fl->cap ? fl->cap : FREE_RING_MIN;
    u64 *q;

    if (need <= fl->cap)
        return SIM_OK;
    while (cap < need)
        cap <<= 1;
    q = malloc(cap * sizeof(*q));
    if (!q)
        return SIM_ENOMEM;
    for (u64 i = 0; i < fl->len; i++)
        q[i] = fl->q[(fl->head + i) & (fl->cap - 1)];
    free(fl->q);
    fl->q = q;
    fl->head = 0;
    fl->cap = cap;
    return SIM_OK;
}

static void ring_push(struct frame_free_list *fl, u64 pfn)
{
    assert(fl->len < fl->cap);          /* reserved by frame_get */
    fl->q[(fl->head + fl->len) & (fl->cap - 1)] = pfn;
    fl->len++;
}

static u64 ring_pop(struct frame_free_list *fl)
{
    u64 pfn = fl->q[fl->head];

    assert(fl->len > 0);
    fl->head = (fl->head + 1) & (fl->cap - 1);
    fl->len--;
    return pfn;
}

/* ===== sparse generation table ============================================= */
/* chunk[0] holds the chunk's grain (log2 pfns per counter: 0, 9 or 18);
 * chunk[1 + (offset >> grain)] is the counter of the unit at that offset. */

static size_t chunk_bytes(unsigned grain)
{
    return (1 + (GEN_REGION_PFNS >> grain)) * sizeof(u32);
}

/* A chunk of 4 KiB units is 1 MiB, of which a run usually touches a page
 * or two (frames are carved from the bottom up): arena_kvzalloc maps it
 * untouched instead of zeroing it all. */
static u32 *chunk_new(unsigned grain)
{
    u32 *c = arena_kvzalloc(chunk_bytes(grain));

    if (c)
        c[0] = grain;
    return c;
}

static void chunk_free(u32 *c)
{
    if (c)
        arena_kvfree(c, chunk_bytes(c[0]));
}

/* Re-express a chunk at a finer grain, keeping every counter at its pfn
 * (the new chunk is zeroed: only the counters that moved are written). */
static int chunk_refine(u32 **slot, unsigned grain)
{
    u32 *old = *slot, *c = chunk_new(grain);
    unsigned step = old[0] - grain;

    if (!c)
        return SIM_ENOMEM;
    for (u64 i = 0; i < (GEN_REGION_PFNS >> old[0]); i++)
        if (old[1 + i])
            c[1 + (i << step)] = old[1 + i];
    chunk_free(old);
    *slot = c;
    return SIM_OK;
}

static int gen_top_grow(struct frame_alloc *fa, u64 region)
{
    u64 max_regions = (fa->max_pfn + GEN_REGION_PFNS - 1) >> GEN_REGION_SHIFT;
    u64 n = fa->nr_gen_chunks ? fa->nr_gen_chunks : 1;
    u32 **top;

    while (n <= region)
        n <<= 1;
    if (n > max_regions)
        n = max_regions;
    assert(region < n);
    top = realloc(fa->gen_chunks, n * sizeof(*top));
    if (!top)
        return SIM_ENOMEM;
    memset(top + fa->nr_gen_chunks, 0, (n - fa->nr_gen_chunks) * sizeof(*top));
    fa->gen_chunks = top;
    fa->nr_gen_chunks = n;
    return SIM_OK;
}

/* Make sure the counter of unit (pfn, order) exists, so frame_put can bump
 * it without allocating. */
static int gen_reserve(struct frame_alloc *fa, u64 pfn, enum frame_order order)
{
    u64 region = pfn >> GEN_REGION_SHIFT;
    unsigned grain = order_shift(order);
    u32 **slot;
    int rc;

    if (region >= fa->nr_gen_chunks && (rc = gen_top_grow(fa, region)))
        return rc;
    slot = &fa->gen_chunks[region];
    if (!*slot)
        return (*slot = chunk_new(grain)) ? SIM_OK : SIM_ENOMEM;
    if ((*slot)[0] > grain)
        return chunk_refine(slot, grain);
    return SIM_OK;
}

static u32 *gen_slot(const struct frame_alloc *fa, u64 pfn)
{
    u64 region = pfn >> GEN_REGION_SHIFT, off = pfn & (GEN_REGION_PFNS - 1);
    u32 *c;

    if (region >= fa->nr_gen_chunks || !(c = fa->gen_chunks[region]))
        return NULL;
    if (off & ((1ull << c[0]) - 1))     /* not a unit base at this grain: never handed out */
        return NULL;
    return &c[1 + (off >> c[0])];
}

u32 frame_gen(const struct frame_alloc *fa, u64 pfn)
{
    const u32 *g = gen_slot(fa, pfn);

    return g ? *g : 0;
}

/* ===== allocation ========================================================== */

int frame_alloc_init(struct frame_alloc *fa, unsigned maxphyaddr,
                     u64 limit_frames, struct sim_err *err)
{
    memset(fa, 0, sizeof(*fa));
    if (maxphyaddr < 36 || maxphyaddr > 52)
        return sim_err_set(err, SIM_EINVAL,
                           "maxphyaddr: %u is outside 36..52", maxphyaddr);
    fa->max_pfn = 1ull << (maxphyaddr - PAGE_SHIFT_4K);
    fa->limit_frames = limit_frames ? limit_frames : fa->max_pfn;
    for (unsigned o = 0; o < ARRAY_SIZE(fa->free); o++) {
        fa->free[o] = calloc(1, sizeof(*fa->free[o]));
        if (!fa->free[o]) {
            frame_alloc_destroy(fa);
            return sim_err_set(err, SIM_ENOMEM, "frame allocator: out of memory");
        }
    }
    return SIM_OK;
}

void frame_alloc_destroy(struct frame_alloc *fa)
{
    if (!fa)
        return;
    for (u64 i = 0; i < fa->nr_gen_chunks; i++)
        chunk_free(fa->gen_chunks[i]);
    free(fa->gen_chunks);
    for (unsigned o = 0; o < ARRAY_SIZE(fa->free); o++) {
        if (fa->free[o])
            free(fa->free[o]->q);
        free(fa->free[o]);
    }
    memset(fa, 0, sizeof(*fa));
}

/* Oldest freed unit of this order, if any. */
static int get_from_free_list(struct frame_alloc *fa, enum frame_order order,
                              u64 *pfn)
{
    struct frame_free_list *fl = fa->free[order];
    int rc = gen_reserve(fa, fl->q[fl->head], order);

    if (rc)
        return rc;
    *pfn = ring_pop(fl);                /* len + nr_out unchanged: no ring growth */
    return SIM_OK;
}

/* Carve a naturally aligned unit from the bump pointer.  The frames skipped
 * to align it are not lost: they join the 4K free list up to the next 2 MiB
 * boundary and the 2M free list beyond (at most 511 + 511 entries). */
static int get_from_bump(struct frame_alloc *fa, enum frame_order order,
                         u64 *pfn, struct sim_err *err)
{
    u64 n = order_frames(order), base = round_up_pfn(fa->next_pfn, n);
    u64 mid = base, n4k, n2m;
    struct frame_free_list *f4k = fa->free[FRAME_4K], *f2m = fa->free[FRAME_2M];
    int rc;

    if (base > fa->max_pfn || fa->max_pfn - base < n)
        return sim_err_set(err, SIM_ELIMIT,
                           "frames: MAXPHYADDR exhausted (%" PRIu64 " frames)",
                           fa->max_pfn);
    if (order == FRAME_1G)
        mid = round_up_pfn(fa->next_pfn, order_frames(FRAME_2M));
    n4k = mid - fa->next_pfn;
    n2m = (base - mid) >> order_shift(FRAME_2M);
    if ((rc = ring_reserve(f4k, f4k->len + f4k->nr_out + n4k + (order == FRAME_4K))) ||
        (rc = ring_reserve(f2m, f2m->len + f2m->nr_out + n2m + (order == FRAME_2M))) ||
        (rc = ring_reserve(fa->free[FRAME_1G], fa->free[FRAME_1G]->len +
                           fa->free[FRAME_1G]->nr_out + (order == FRAME_1G))) ||
        (rc = gen_reserve(fa, base, order)))
        return sim_err_set(err, rc, "frames: out of memory");
    for (u64 p = fa->next_pfn; p < mid; p++)
        ring_push(f4k, p);
    for (u64 p = mid; p < base; p += order_frames(FRAME_2M))
        ring_push(f2m, p);
    fa->next_pfn = base + n;
    *pfn = base;
    return SIM_OK;
}

/* The common case of frame_get: a 4 KiB frame from the bump pointer
 * when nothing has to be carved around it (no 4K frame is free), the
 * 4K ring already has room for it and its region's chunk is at 4K grain.
 * Everything get_from_bump would check or reserve is in place, so it only
 * takes the frame (a 128 MiB populate at 1024 CPUs took 130 instructions
 * per frame through the general path).  False: take the general path. */
static inline bool get_4k_bumped(struct frame_alloc *fa, u64 *pfn)
{
    struct frame_free_list *fl = fa->free[FRAME_4K];
    u64 p = fa->next_pfn, region = p >> GEN_REGION_SHIFT;
    const u32 *c;

    if (fl->len || fl->nr_out >= fl->cap || p >= fa->max_pfn ||
        fa->nr_live >= fa->limit_frames || region >= fa->nr_gen_chunks ||
        !(c = fa->gen_chunks[region]) || c[0] != 0)
        return false;
    fa->next_pfn = p + 1;
    fl->nr_out++;
    if (++fa->nr_live > fa->peak_live)
        fa->peak_live = fa->nr_live;
    *pfn = p;
    return true;
}

int frame_get(struct frame_alloc *fa, enum frame_order order, u64 *pfn,
              struct sim_err *err)
{
    u64 n = order_frames(order);
    int rc;

    assert(order <= FRAME_1G);
    if (order == FRAME_4K && get_4k_bumped(fa, pfn))
        return SIM_OK;
    if (fa->nr_live > fa->limit_frames || fa->limit_frames - fa->nr_live < n)
        return sim_err_set(err, SIM_ELIMIT,
                           "frames: limit of %" PRIu64 " live 4K frames reached (limits.max_frames)",
                           fa->limit_frames);
    if (fa->free[order]->len) {
        if ((rc = get_from_free_list(fa, order, pfn)))
            return sim_err_set(err, rc, "frames: out of memory");
    } else if ((rc = get_from_bump(fa, order, pfn, err))) {
        return rc;
    }
    fa->free[order]->nr_out++;
    fa->nr_live += n;
    if (fa->nr_live > fa->peak_live)
        fa->peak_live = fa->nr_live;
    return SIM_OK;
}

void frame_put(struct frame_alloc *fa, enum frame_order order, u64 pfn)
{
    struct frame_free_list *fl = fa->free[order];
    u64 n = order_frames(order);
    u32 *gen = gen_slot(fa, pfn);

    /* Freeing what frame_get never returned is our bug, not bad input. */
    assert((pfn & (n - 1)) == 0 && pfn + n <= fa->next_pfn);
    assert(gen && fl->nr_out > 0 && fa->nr_live >= n);
    (*gen)++;
    ring_push(fl, pfn);
    fl->nr_out--;
    fa->nr_live -= n;
}
