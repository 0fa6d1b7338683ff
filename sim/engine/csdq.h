/* sim/engine/csdq.h - one CPU's call_single_queue: the flush requests
 * queued on it and not yet handled, taken in (arrival, posting order).
 *
 * What the queue sees: every initiator posts in time order, but a
 * request's arrival on this CPU is its posting time plus a delay that
 * depends on the initiator (its socket, this CPU's place in its mask) and
 * on whether the llist_add() sent an IPI (arrival after the initiator's
 * whole queueing loop and the APIC delivery) or found the queue non-empty
 * (arrival at the llist_add(), or with the pending interrupt).  The
 * requests are therefore a few interleaved streams, each nearly in order,
 * with the llist_add() times interleaved the same way.  At 256 CPUs in the
 * shoot scenario 42% of the posts could not go at the tail of one sorted
 * queue (in arrival or in llist_add() order) and 19% belonged more than 16
 * places before it.
 *
 * So the queue is a handful of runs (patience sorting): each run holds
 * requests in (arrival, posting order) and in llist_add() order both, in a
 * FIFO of segments; a new request is appended to the run whose last request
 * is the latest one not after it in both orders (or starts a new run), and
 * only when every run is taken and none fits does it go to a binary heap.
 * The first request is the earliest of the run heads and the heap's top
 * (kept, and worked out again when a request leaves), and the earliest
 * llist_add() the earliest of the run heads' and of the heap's (a min-heap
 * of them, with a min-heap of removed times that cancel when they reach
 * its top; worked out when asked).  A push is one pass over the runs'
 * tails; a pop compares the next head of its run with the second-earliest
 * head, or makes a pass over the heads; no request is ever moved.  The
 * order is total (the posting number is unique), so it does not depend on
 * which run holds a request.
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

/* A piece of a run: runs grow and shrink by segments, which every CPU's
 * queue takes from and returns to one pool, so memory follows the
 * requests queued in all (a fresh page costs a fault) rather than the sum
 * of each queue's largest size. */
#define CSDQ_SEG 64u

struct csd_seg {
    struct csd_seg *next;               /* the run's next, or in the pool's free list */
    struct csd c[CSDQ_SEG];
};

struct csd_pool {
    struct csd_node *free;
    struct csd_slab *slabs;             /* newest first; nodes are carved from the head */
    struct csd_seg *free_segs;          /* every segment not in a run */
    /* Where segments and the queues' heap arrays come from: an arena
     * (huge-page advised, arrays reused by size; segments stay until
     * arena_destroy) or, when NULL, malloc. */
    struct arena *arena;
};

struct csd_node *csd_pool_get(struct csd_pool *p);     /* NULL when out of memory */
void csd_pool_put(struct csd_pool *p, struct csd_node *n);
void csd_pool_destroy(struct csd_pool *p);             /* after every csdq_destroy */

/* Runs per queue: beyond them a request that fits none goes to the heap.
 * The shoot scenario at 4 to 1024 CPUs, every policy, uses at most 6 and
 * never the heap. */
#define CSDQ_RUNS 8u

/* A min-heap of times. */
struct csdq_heap64 {
    cycles_t *t;
    u32 nr, cap;
};

/* Requests in (arrival, seq) order and in llist_add() order both: a FIFO
 * of segments, hs->next ... up to ts.  An empty run keeps its segment. */
struct csdq_run {
    struct csd *head;                   /* the first; NULL when empty */
    struct csd *head_end;               /* hs->c + CSDQ_SEG */
    struct csd_seg *hs, *ts;            /* the head's and the tail's segment */
    u32 to;                             /* next free slot of ts */
    u32 len;
};

struct csdq {
    /* What every push reads first, together. */
    u32 nr_runs;                        /* runs[0 .. nr_runs) are non-empty */
    u32 len;                            /* requests queued, runs and heap */
    u32 next_seq;
    u32 first_run;                      /* the run holding first, CSDQ_RUNS: the heap */
    cycles_t first_not;                 /* ~first->arrival, 0 when empty (a zeroed
                                         * queue reads CYCLES_NEVER) */
    const struct csd *first;            /* by (arrival, seq); NULL when empty */
    struct {
        cycles_t arrival, queued;       /* of each run's last request */
    } last[CSDQ_RUNS];
    const struct csd *second;           /* the earliest of the other runs' heads and the
                                         * heap's top (NULL: none) */
    /* runs[CSDQ_RUNS] stays empty: first_run indexes it when first is in
     * the heap, and its len of 0 sends csdq_pop to the slow path. */
    struct csdq_run runs[CSDQ_RUNS + 1];
    struct csd *heap;                   /* requests fitting no run, a min-heap by (arrival, seq) */
    u32 nr_heap, cap_heap;
    struct csdq_heap64 out;             /* llist_add() times of the heap's requests */
    struct csdq_heap64 gone;            /* removed from the heap, still in out */
};

/* A zeroed csdq is an empty one; destroying returns its segments to p. */
void csdq_destroy(struct csdq *q, struct csd_pool *p);
/* The general cases of csdq_push and csdq_pop (below): a new run or
 * segment, the heap, a run that empties or leaves a segment.  run: what
 * csdq_run_for gave. */
int  csdq_push_slow(struct csdq *q, struct csd_pool *p, const struct csd *c, u32 run);
void csdq_pop_slow(struct csdq *q, struct csd_pool *p);

static inline u32 csdq_len(const struct csdq *q) { return q->len; }

/* (arrival, seq) order.  Posting numbers wrap at 2^32: two requests
 * queued together are fewer than 2^31 postings apart. */
static inline bool csd_before(const struct csd *a, const struct csd *b)
{
    return a->arrival < b->arrival || (a->arrival == b->arrival && (int32_t)(a->seq - b->seq) < 0);
}

/* The run for a request arriving at `arrival`, queued at `queued`: the
 * one whose last request is the latest while after it in neither order
 * (a request posted later sorts after an equal arrival), else a new one
 * (nr_runs), else CSDQ_RUNS: the heap. */
static inline u32 csdq_run_for(const struct csdq *q, cycles_t arrival, cycles_t queued)
{
    u32 best = q->nr_runs < CSDQ_RUNS ? q->nr_runs : CSDQ_RUNS;
    cycles_t best_at = 0;

    for (u32 i = 0; i < q->nr_runs; i++) {
        if (q->last[i].arrival <= arrival && q->last[i].queued <= queued &&
            q->last[i].arrival >= best_at) {
            best = i;
            best_at = q->last[i].arrival;
        }
    }
    return best;
}

/* The first request (the earliest of the run heads and the heap's top)
 * and the second (the earliest of the others outside first's run). */
static inline void csdq_rescan(struct csdq *q)
{
    const struct csd *f = q->nr_heap ? &q->heap[0] : NULL, *sec = NULL;
    u32 fr = CSDQ_RUNS;

    for (u32 i = 0; i < q->nr_runs; i++) {
        const struct csd *h = q->runs[i].head;

        if (!f || csd_before(h, f)) {
            sec = f;
            f = h;
            fr = i;
        } else if (!sec || csd_before(h, sec)) {
            sec = h;
        }
    }
    q->first = f;
    q->first_not = f ? ~f->arrival : 0;
    q->second = sec;
    q->first_run = fr;
}

/* Queue *c (its seq is assigned here); SIM_ENOMEM when nothing can grow
 * (the queue is then unchanged).  Inline: the common case, an append to a
 * non-empty run with room in its tail segment.  The new request comes
 * after that run's head, so it is not the first. */
static inline int csdq_push(struct csdq *q, struct csd_pool *p, const struct csd *c)
{
    u32 i = csdq_run_for(q, c->arrival, c->queued);

    if (i < q->nr_runs && q->runs[i].to < CSDQ_SEG) {
        struct csdq_run *r = &q->runs[i];
        struct csd *d = &r->ts->c[r->to++];

        *d = *c;
        d->seq = q->next_seq++;
        r->len++;
        q->last[i].arrival = c->arrival;
        q->last[i].queued = c->queued;
        q->len++;
        return SIM_OK;
    }
    return csdq_push_slow(q, p, c, i);
}

/* Remove the first request (the queue must not be empty).  Inline: the
 * common case, a run's head with more behind it in the same segment; the
 * other heads stay, so the next in that run is first unless `second`
 * comes before it. */
static inline void csdq_pop(struct csdq *q, struct csd_pool *p)
{
    struct csdq_run *r = &q->runs[q->first_run];

    if (r->len > 1 && r->head + 1 != r->head_end) {
        r->head++;
        r->len--;
        q->len--;
        if (!q->second || csd_before(r->head, q->second)) {
            q->first = r->head;
            q->first_not = ~r->head->arrival;
        } else {
            csdq_rescan(q);
        }
        return;
    }
    csdq_pop_slow(q, p);
}

/* The first request by (arrival, seq), or NULL.  Valid until the next
 * push or pop. */
static inline const struct csd *csdq_first(const struct csdq *q) { return q->first; }

/* Its arrival, CYCLES_NEVER if none (without reading the request). */
static inline cycles_t csdq_first_arrival(const struct csdq *q) { return ~q->first_not; }

/* The earliest llist_add() of the queued requests, CYCLES_NEVER if none:
 * the earliest of the run heads' (each run's earliest) and the heap's. */
static inline cycles_t csdq_queued_since(const struct csdq *q)
{
    cycles_t t = q->nr_heap ? q->out.t[0] : CYCLES_NEVER;

    for (u32 i = 0; i < q->nr_runs; i++)
        if (q->runs[i].head->queued < t)
            t = q->runs[i].head->queued;
    return t;
}

/* Call fn for every queued request, in no particular order, until it
 * returns false. */
void csdq_for_each(const struct csdq *q, bool (*fn)(void *arg, const struct csd *c), void *arg);

#endif
