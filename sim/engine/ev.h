/* sim/engine/ev.h - the event queue: an intrusive binary min-heap.
 *
 * Events live inside their owners (a CPU's run event, a timer), so
 * scheduling never allocates once the heap array has grown to the number of
 * live events.  Order is total and deterministic: (when, seq), seq assigned
 * at schedule time (libuv timers).  Rescheduling a queued event moves it and
 * gives it a new seq; cancelling removes it at once.
 */
#ifndef TLBSIM_EV_H
#define TLBSIM_EV_H

#include "../../models/base.h"

struct ev;
typedef void ev_fn(void *owner, struct ev *e);

struct ev {
    cycles_t when;
    u64 seq;
    u32 heap_idx;                       /* EV_UNQUEUED when not in the heap */
    ev_fn *fn;
    void *owner;
};
#define EV_UNQUEUED UINT32_MAX

struct ev_queue {
    struct ev **heap;
    u32 nr, cap;
    u64 next_seq;
    u64 nr_fired;                       /* events popped so far */
};

void ev_init(struct ev *e, ev_fn *fn, void *owner);
int  ev_queue_init(struct ev_queue *q);
void ev_queue_destroy(struct ev_queue *q);
/* Insert or move; SIM_ENOMEM only when the heap cannot grow. */
int  ev_schedule(struct ev_queue *q, struct ev *e, cycles_t when);
void ev_cancel(struct ev_queue *q, struct ev *e);
/* Remove and return the first event, or NULL. */
struct ev *ev_pop(struct ev_queue *q);

static inline bool ev_queued(const struct ev *e) { return e->heap_idx != EV_UNQUEUED; }
static inline cycles_t ev_next_time(const struct ev_queue *q)
{
    return q->nr ? q->heap[0]->when : CYCLES_NEVER;
}

#endif
