/* sim/engine/ev.c - intrusive binary heap ordered by (when, seq).  The
 * order is total (seq is unique), so the order events come out in does not
 * depend on how the heap arranges them. */
#include "ev.h"

#include <stdlib.h>

void ev_init(struct ev *e, ev_fn *fn, void *owner)
{
    e->when = 0;
    e->seq = 0;
    e->heap_idx = EV_UNQUEUED;
    e->fn = fn;
    e->owner = owner;
}

int ev_queue_init(struct ev_queue *q)
{
    q->cap = 64;
    q->nr = 0;
    q->next_seq = 0;
    q->nr_fired = 0;
    q->heap = malloc(q->cap * sizeof(*q->heap));
    return q->heap ? SIM_OK : SIM_ENOMEM;
}

void ev_queue_destroy(struct ev_queue *q)
{
    free(q->heap);
    q->heap = NULL;
    q->nr = q->cap = 0;
}

static inline bool before(const struct ev *a, const struct ev *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void place(struct ev_queue *q, struct ev *e, u32 i)
{
    q->heap[i] = e;
    e->heap_idx = i;
}

static void sift_up(struct ev_queue *q, u32 i)
{
    struct ev *e = q->heap[i];

    while (i > 0) {
        u32 p = (i - 1) / 2;
        if (!before(e, q->heap[p]))
            break;
        place(q, q->heap[p], i);
        i = p;
    }
    place(q, e, i);
}

static void sift_down(struct ev_queue *q, u32 i)
{
    struct ev *e = q->heap[i];

    for (;;) {
        u32 l = 2 * i + 1, r = l + 1, m = i;
        const struct ev *best = e;

        if (l < q->nr && before(q->heap[l], best))
            m = l, best = q->heap[l];
        if (r < q->nr && before(q->heap[r], best))
            m = r;
        if (m == i)
            break;
        place(q, q->heap[m], i);
        i = m;
    }
    place(q, e, i);
}

/* Remove the first event: move the earlier child up into the hole until it
 * reaches the bottom, then put the last event there and sift it up (Floyd's
 * variant: one comparison per level instead of two, and the last event
 * usually belongs near the bottom anyway). */
static void remove_first(struct ev_queue *q)
{
    struct ev *last = q->heap[--q->nr];
    u32 i = 0, n = q->nr;

    q->heap[0]->heap_idx = EV_UNQUEUED;
    if (!n)
        return;
    for (;;) {
        u32 l = 2 * i + 1;

        if (l >= n)
            break;
        if (l + 1 < n && before(q->heap[l + 1], q->heap[l]))
            l++;
        place(q, q->heap[l], i);
        i = l;
    }
    place(q, last, i);
    sift_up(q, i);
}

static void remove_at(struct ev_queue *q, u32 i)
{
    struct ev *last = q->heap[--q->nr];

    q->heap[i]->heap_idx = EV_UNQUEUED;
    if (i == q->nr)
        return;
    place(q, last, i);
    sift_down(q, i);
    sift_up(q, last->heap_idx);
}

int ev_schedule(struct ev_queue *q, struct ev *e, cycles_t when)
{
    if (ev_queued(e)) {                 /* new key in place, then up or down */
        u32 i = e->heap_idx;

        e->when = when;
        e->seq = q->next_seq++;
        if (i > 0 && before(e, q->heap[(i - 1) / 2]))
            sift_up(q, i);
        else
            sift_down(q, i);
        return SIM_OK;
    }
    if (q->nr == q->cap) {
        struct ev **h = realloc(q->heap, 2 * q->cap * sizeof(*h));
        if (!h)
            return SIM_ENOMEM;
        q->heap = h;
        q->cap *= 2;
    }
    e->when = when;
    e->seq = q->next_seq++;
    place(q, e, q->nr++);
    sift_up(q, e->heap_idx);
    return SIM_OK;
}

void ev_cancel(struct ev_queue *q, struct ev *e)
{
    if (ev_queued(e))
        remove_at(q, e->heap_idx);
}

struct ev *ev_pop(struct ev_queue *q)
{
    struct ev *e;

    if (!q->nr)
        return NULL;
    e = q->heap[0];
    remove_first(q);
    q->nr_fired++;
    return e;
}
