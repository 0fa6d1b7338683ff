/* sim/engine/csdq.c - a CPU's queue of flush requests (see csdq.h). */
#include "csdq.h"

#include <stdlib.h>
#include <string.h>

/* ==== node slabs ========================================================= */

struct csd_node *csd_pool_get(struct csd_pool *p)
{
    struct csd_node *n = p->free;
    struct csd_slab *sl = p->slabs;

    if (n) {
        p->free = n->next;
        return n;
    }
    if (!sl || sl->used == sl->cap) {
        /* Slabs double up to 64K nodes: as many mallocs as doublings. */
        u32 cap = sl ? (sl->cap < 65536 ? 2 * sl->cap : sl->cap) : 64;
        struct csd_slab *ns = malloc(sizeof(*ns) + (size_t)cap * sizeof(ns->n[0]));

        if (!ns)
            return NULL;
        ns->next = sl;
        ns->used = 0;
        ns->cap = cap;
        p->slabs = sl = ns;
    }
    return &sl->n[sl->used++];
}

void csd_pool_put(struct csd_pool *p, struct csd_node *n)
{
    n->next = p->free;
    p->free = n;
}

void csd_pool_destroy(struct csd_pool *p)
{
    while (p->slabs) {
        struct csd_slab *n = p->slabs->next;
        free(p->slabs);
        p->slabs = n;
    }
    while (p->free_segs && !p->arena) {
        struct csd_seg *n = p->free_segs->next;
        free(p->free_segs);
        p->free_segs = n;
    }
    p->free_segs = NULL;
    p->free = NULL;
}

/* Memory for the rings and heaps from arena a, or malloc when a is NULL;
 * given back with the same size. */
static void *mem_get(struct arena *a, size_t bytes)
{
    return a ? arena_get(a, bytes) : malloc(bytes);
}

static void mem_put(struct arena *a, void *x, size_t bytes)
{
    if (a)
        arena_put(a, x, bytes);
    else
        free(x);
}

static struct csd_seg *seg_get(struct csd_pool *p)
{
    struct csd_seg *g = p->free_segs;

    if (!g)
        return p->arena ? arena_alloc(p->arena, sizeof(*g)) : malloc(sizeof(*g));
    p->free_segs = g->next;
    return g;
}

static void seg_put(struct csd_pool *p, struct csd_seg *g)
{
    g->next = p->free_segs;
    p->free_segs = g;
}

/* ==== the queue ========================================================== */

/* Room for `need` elements of `size` bytes in *arr (capacity *cap,
 * doubling from 16), nr of them in use.  Only those are copied: a fresh
 * page costs a fault, and the spare capacity of a heap that rarely fills
 * (`gone`) is never touched. */
static int grow(struct arena *a, void **arr, u32 *cap, u32 nr, u32 need, size_t size)
{
    u32 n = *cap ? *cap : 16;
    void *p;

    while (n < need)
        if ((n *= 2) < need / 2)
            return SIM_ENOMEM;          /* wrapped */
    if (!(p = mem_get(a, (size_t)n * size)))
        return SIM_ENOMEM;
    if (nr)
        memcpy(p, *arr, (size_t)nr * size);
    mem_put(a, *arr, (size_t)*cap * size);
    *arr = p;
    *cap = n;
    return SIM_OK;
}

static inline int reserve(struct arena *a, void **arr, u32 *cap, u32 nr, u32 need,
                          size_t size)
{
    return need <= *cap ? SIM_OK : grow(a, arr, cap, nr, need, size);
}

void csdq_destroy(struct csdq *q, struct csd_pool *p)
{
    for (u32 i = 0; i < CSDQ_RUNS; i++) {
        struct csdq_run *r = &q->runs[i];
        struct csd_seg *g = r->hs;

        while (g) {                     /* an empty run holds one, hs == ts */
            struct csd_seg *n = g == r->ts ? NULL : g->next;
            seg_put(p, g);
            g = n;
        }
    }
    mem_put(p->arena, q->heap, (size_t)q->cap_heap * sizeof(*q->heap));
    mem_put(p->arena, q->out.t, (size_t)q->out.cap * sizeof(*q->out.t));
    free(q->gone.t);                    /* never in the arena: heap_reserve */
    *q = (struct csdq){ 0 };
}

/* ---- binary min-heaps of `size`-byte elements (inlined per type) ------ */

typedef bool heap_less(const void *a, const void *b);

static inline void heap_add(void *base, u32 *nr, const void *x, size_t size, heap_less *less)
{
    u8 *h = base;
    u32 i;

    for (i = (*nr)++; i > 0 && less(x, h + (size_t)((i - 1) / 2) * size); i = (i - 1) / 2)
        memcpy(h + (size_t)i * size, h + (size_t)((i - 1) / 2) * size, size);
    memcpy(h + (size_t)i * size, x, size);
}

/* Remove the first: the earlier child moves up until the last element
 * fits the hole. */
static inline void heap_remove_first(void *base, u32 *nr, size_t size, heap_less *less)
{
    u8 *h = base;
    u32 i = 0, n = --*nr;
    const u8 *last = h + (size_t)n * size;

    if (!n)
        return;
    for (;;) {
        u32 l = 2 * i + 1;

        if (l >= n)
            break;
        if (l + 1 < n && less(h + (size_t)(l + 1) * size, h + (size_t)l * size))
            l++;
        if (!less(h + (size_t)l * size, last))
            break;
        memcpy(h + (size_t)i * size, h + (size_t)l * size, size);
        i = l;
    }
    memcpy(h + (size_t)i * size, last, size);
}

static bool time_before(const void *a, const void *b)
{
    return *(const cycles_t *)a < *(const cycles_t *)b;
}

static void heap64_push(struct csdq_heap64 *h, cycles_t t)
{
    heap_add(h->t, &h->nr, &t, sizeof(t), time_before);
}

static void heap64_pop(struct csdq_heap64 *h)
{
    heap_remove_first(h->t, &h->nr, sizeof(*h->t), time_before);
}

static bool csd_before_v(const void *a, const void *b)
{
    return csd_before(a, b);
}

/* ---- the heap: requests that fit no run ------------------------------------ */

/* Room for one more request in the heap; `gone` as large as `out` (every
 * time in it is also in `out`, which holds the live ones too), so that
 * removing never allocates.  `gone`
 * rarely holds more than a few, so it comes from malloc, whose untouched
 * capacity costs nothing: in the arena its huge pages would be zeroed
 * whole. */
static int heap_reserve(struct csdq *q, struct arena *a)
{
    u32 held = q->out.nr + 1;

    if (reserve(a, (void **)&q->heap, &q->cap_heap, q->nr_heap, q->nr_heap + 1,
                sizeof(*q->heap)) ||
        reserve(a, (void **)&q->out.t, &q->out.cap, q->out.nr, held, sizeof(*q->out.t)) ||
        reserve(NULL, (void **)&q->gone.t, &q->gone.cap, q->gone.nr, held, sizeof(*q->gone.t)))
        return SIM_ENOMEM;
    return SIM_OK;
}

/* Remove the heap's first request: its llist_add() time leaves `out` at
 * once if it is the earliest there, else once it becomes the earliest. */
static void heap_pop_first(struct csdq *q)
{
    cycles_t t = q->heap[0].queued;

    heap_remove_first(q->heap, &q->nr_heap, sizeof(*q->heap), csd_before_v);
    if (q->out.t[0] == t)
        heap64_pop(&q->out);
    else
        heap64_push(&q->gone, t);
    while (q->gone.nr && q->gone.t[0] == q->out.t[0]) {
        heap64_pop(&q->out);
        heap64_pop(&q->gone);
    }
}

/* ---- runs ------------------------------------------------------------------ */

/* Append c to run r (a segment at hand: run_room). */
static struct csd *run_append(struct csdq_run *r, const struct csd *c)
{
    struct csd *d = &r->ts->c[r->to++];

    *d = *c;
    if (!r->len++) {
        r->head = d;
        r->head_end = r->hs->c + CSDQ_SEG;
    }
    return d;
}

/* A free slot at r's tail: a segment for an empty run that has none, or a
 * new one linked after a full tail. */
static int run_room(struct csdq_run *r, struct csd_pool *p)
{
    struct csd_seg *g;

    if (r->len ? r->to < CSDQ_SEG : r->hs != NULL)
        return SIM_OK;
    if (!(g = seg_get(p)))
        return SIM_ENOMEM;
    if (r->len) {
        r->ts->next = g;
        r->ts = g;
    } else {
        r->hs = r->ts = g;
    }
    r->to = 0;
    return SIM_OK;
}

/* Remove r's head; an emptied run keeps its segment (rewound) and trades
 * places with the last non-empty one. */
static void run_pop(struct csdq *q, struct csd_pool *p, u32 i)
{
    struct csdq_run *r = &q->runs[i];

    if (--r->len == 0) {
        struct csdq_run empty = *r;

        empty.head = NULL;
        empty.to = 0;
        *r = q->runs[--q->nr_runs];
        q->runs[q->nr_runs] = empty;
        q->last[i] = q->last[q->nr_runs];
    } else if (++r->head == r->head_end) {
        struct csd_seg *n = r->hs->next;

        seg_put(p, r->hs);
        r->hs = n;
        r->head = n->c;
        r->head_end = n->c + CSDQ_SEG;
    }
}

int csdq_push_slow(struct csdq *q, struct csd_pool *p, const struct csd *c, u32 i)
{
    struct csd x = *c;

    x.seq = q->next_seq;
    if (i < CSDQ_RUNS) {
        if (run_room(&q->runs[i], p))
            return SIM_ENOMEM;
        if (i == q->nr_runs)
            q->nr_runs++;
        run_append(&q->runs[i], &x);
        q->last[i].arrival = x.arrival;
        q->last[i].queued = x.queued;
    } else {
        if (heap_reserve(q, p->arena))
            return SIM_ENOMEM;
        heap_add(q->heap, &q->nr_heap, &x, sizeof(x), csd_before_v);
        heap64_push(&q->out, x.queued);
    }
    q->next_seq++;
    q->len++;
    csdq_rescan(q);                     /* a new head, or the heap moved */
    return SIM_OK;
}

void csdq_pop_slow(struct csdq *q, struct csd_pool *p)
{
    if (q->first_run < CSDQ_RUNS)
        run_pop(q, p, q->first_run);
    else
        heap_pop_first(q);
    q->len--;
    csdq_rescan(q);
}

void csdq_for_each(const struct csdq *q, bool (*fn)(void *arg, const struct csd *c), void *arg)
{
    for (u32 i = 0; i < q->nr_runs; i++) {
        const struct csdq_run *r = &q->runs[i];
        const struct csd_seg *g = r->hs;
        const struct csd *c = r->head;

        for (u32 k = 0; k < r->len; k++) {
            if (c == g->c + CSDQ_SEG) {
                g = g->next;
                c = g->c;
            }
            if (!fn(arg, c++))
                return;
        }
    }
    for (u32 k = 0; k < q->nr_heap; k++)
        if (!fn(arg, &q->heap[k]))
            return;
}
