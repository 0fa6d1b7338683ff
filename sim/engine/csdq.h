/* sim/engine/csdq.h - one CPU's call_single_queue: the flush requests
 * queued on it and not yet handled, taken in (arrival, posting order).
 *
 * Requests come nearly in arrival order: initiators post in time order and
 * each one's IPIs leave after its queueing loop, so a request's arrival is
 * its posting time plus a delay that varies a little (socket, ICR write).
 * The queue is therefore a sorted ring of requests stored inline: a new
 * request is inserted from the tail (a few moves when it arrives slightly
 * before the last ones), the first is taken from the head, and memory is
 * read in order.  A request that would land more than CSDQ_SHIFT_MAX
 * places from the tail goes to a binary heap instead, so no insertion
 * costs more than O(CSDQ_SHIFT_MAX + log n); the first request is the
 * earlier of the ring's head and the heap's top.  The order is total (the
 * posting number is unique), so it does not depend on which part holds a
 * request.
 *
 * The earliest llist_add() time among the queued requests (when the queue
 * last became non-empty: smp_call_function_many_cond() sends no IPI to a
 * CPU whose queue is non-empty) is kept the same way: those times in a
 * sorted ring with a heap beside it, plus a min-heap of the times of
 * requests taken out that are not yet at the front (deletion by value:
 * equal fronts cancel).  Only the value is needed, and a handler usually
 * takes the request with the earliest time, which then leaves the ring's
 * head at once.
 */
#ifndef TLBSIM_CSDQ_H
#define TLBSIM_CSDQ_H

#include "../../models/arena.h"
#include "../../models/base.h"

struct shootdown;

/* One queued flush request on a target (the kernel's call_single_data). */
struct csd {
    cycles_t arrival;                   /* the handler may take it from here */
    cycles_t queued;                    /* its llist_add() onto call_single_queue */
    cycles_t wait_before;               /* csd_lock_wait cycles of the targets before it */
    struct shootdown *sd;
    u32 seq;                            /* posting order on this CPU (csdq_push; wraps) */
    bool ipi;                           /* that llist_add() sent an IPI (queue was empty) */
};

/* A lazy-deferred request (LATR), in a CPU's FIFO. */
struct csd_node {
    struct csd c;
    struct csd_node *next;              /* deferred FIFO and the free list */
};

/* Nodes come from slabs (no malloc per request; freed together). */
struct csd_slab {
    struct csd_slab *next;
    u32 used, cap;
    struct csd_node n[];
};

/* A piece of a ring: rings grow and shrink by segments, which every CPU's
 * queue takes from and returns to one pool, so memory follows the
 * requests queued in all (a fresh page costs a fault) rather than the sum
 * of each queue's largest size. */
#define CSDQ_SEG 64u

struct csd_seg {
    struct csd_seg *next;               /* in the pool's free list */
    struct csd c[CSDQ_SEG];
};

struct csd_pool {
    struct csd_node *free;
    struct csd_slab *slabs;             /* newest first; nodes are carved from the head */
    struct csd_seg *free_segs;          /* every segment not in a ring */
    /* Where segments and the queues' growing arrays come from: an arena
     * (huge-page advised, arrays reused by size; segments stay until
     * arena_destroy) or, when NULL, malloc. */
    struct arena *arena;
};

struct csd_node *csd_pool_get(struct csd_pool *p);     /* NULL when out of memory */
void csd_pool_put(struct csd_pool *p, struct csd_node *n);
void csd_pool_destroy(struct csd_pool *p);             /* after every csdq_destroy */

/* Farthest a new request is moved into the ring from its tail. */
#define CSDQ_SHIFT_MAX 16u

/* A min-heap of times. */
struct csdq_heap64 {
    cycles_t *t;
    u32 nr, cap;
};

/* llist_add() times of the queued requests: a sorted ring and a heap for
 * the ones too far out of order, and the times taken out but still held. */
struct csdq_times {
    cycles_t *ring;                     /* ascending from head */
    u32 head, len, cap;
    struct csdq_heap64 out;             /* the rest */
    struct csdq_heap64 gone;            /* removed, still in ring or out */
};

struct csdq {
    /* The ring, sorted by (arrival, seq) from head: position pos lives in
     * segs[pos / CSDQ_SEG mod nr_segs]; positions wrap at nr_segs *
     * CSDQ_SEG, and one segment's worth stays free, so the tail never
     * reaches the head's segment from behind. */
    struct csd_seg **segs;
    u32 nr_segs;                        /* a power of two (or 0) */
    u32 head, len;
    struct csd *heap;                   /* the other requests, a min-heap by (arrival, seq) */
    u32 nr_heap, cap_heap;
    struct csdq_times queued;           /* llist_add() of every queued request */
    u32 next_seq;
};

/* A zeroed csdq is an empty one; destroying returns its segments to p. */
void csdq_destroy(struct csdq *q, struct csd_pool *p);
/* The general cases of csdq_push and csdq_pop (below): any order, growing. */
int  csdq_push_slow(struct csdq *q, struct csd_pool *p, const struct csd *c);
void csdq_pop_slow(struct csdq *q, struct csd_pool *p);

/* The csd at ring position pos. */
static inline struct csd *csdq_slot(const struct csdq *q, u32 pos)
{
    pos &= q->nr_segs * CSDQ_SEG - 1;
    return &q->segs[pos / CSDQ_SEG]->c[pos % CSDQ_SEG];
}

/* Queue *c (its seq is assigned here); SIM_ENOMEM when nothing can grow.
 * Inline: the common case, a request arriving and queued no earlier than
 * the ring's last ones, with room everywhere, goes at both tails (what
 * csdq_push_slow does then too); everything else goes there. */
static inline int csdq_push(struct csdq *q, struct csd_pool *p, const struct csd *c)
{
    struct csdq_times *m = &q->queued;
    u32 pos = q->head + q->len, off = pos % CSDQ_SEG;
    struct csd_seg *g;

    if (q->nr_segs && q->len + 1 <= (q->nr_segs - 1) * CSDQ_SEG &&
        m->len < m->cap && m->len + m->out.nr + 1 <= m->gone.cap &&
        (g = q->segs[(pos & (q->nr_segs * CSDQ_SEG - 1)) / CSDQ_SEG]) &&
        (!q->len || (off ? &g->c[off - 1] : csdq_slot(q, pos - 1))->arrival <= c->arrival) &&
        (!m->len || m->ring[(m->head + m->len - 1) & (m->cap - 1)] <= c->queued)) {
        struct csd *d = &g->c[off];

        *d = *c;
        d->seq = q->next_seq++;
        q->len++;
        m->ring[(m->head + m->len) & (m->cap - 1)] = c->queued;
        m->len++;
        return SIM_OK;
    }
    return csdq_push_slow(q, p, c);
}

/* Remove the first request, `first` (what csdq_first gives, non-NULL).
 * Inline: the common case, the ring's head (nothing in the heap) with its
 * llist_add() time the earliest and nothing held elsewhere, inside a
 * segment. */
static inline void csdq_pop_first(struct csdq *q, struct csd_pool *p, const struct csd *first)
{
    struct csdq_times *m = &q->queued;
    u32 h = q->head & (q->nr_segs * CSDQ_SEG - 1);

    if (!q->nr_heap && !m->out.nr && !m->gone.nr && (h + 1) % CSDQ_SEG &&
        m->ring[m->head] == first->queued) {
        q->head = h + 1;
        q->len--;
        m->head = (m->head + 1) & (m->cap - 1);
        m->len--;
        return;
    }
    csdq_pop_slow(q, p);
}

static inline u32 csdq_len(const struct csdq *q) { return q->len + q->nr_heap; }

/* (arrival, seq) order.  Posting numbers wrap at 2^32: two requests
 * queued together are fewer than 2^31 postings apart. */
static inline bool csd_before(const struct csd *a, const struct csd *b)
{
    return a->arrival < b->arrival || (a->arrival == b->arrival && (int32_t)(a->seq - b->seq) < 0);
}

/* The first request by (arrival, seq), or NULL. */
static inline const struct csd *csdq_first(const struct csdq *q)
{
    const struct csd *a = q->len ? csdq_slot(q, q->head) : NULL;

    if (q->nr_heap && (!a || csd_before(&q->heap[0], a)))
        return &q->heap[0];
    return a;
}

/* Remove the first request (csdq_first must be non-NULL). */
static inline void csdq_pop(struct csdq *q, struct csd_pool *p)
{
    csdq_pop_first(q, p, csdq_first(q));
}

/* The earliest llist_add() of the queued requests, CYCLES_NEVER if none. */
static inline cycles_t csdq_queued_since(const struct csdq *q)
{
    const struct csdq_times *m = &q->queued;
    cycles_t r = m->len ? m->ring[m->head] : CYCLES_NEVER;

    return m->out.nr && m->out.t[0] < r ? m->out.t[0] : r;
}

/* The i-th queued request in no particular order (i < csdq_len). */
static inline const struct csd *csdq_at(const struct csdq *q, u32 i)
{
    if (i < q->len)
        return csdq_slot(q, q->head + i);
    return &q->heap[i - q->len];
}

#endif
