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

void csdq_destroy(struct csdq *q, struct csd_pool *p)
{
    for (u32 i = 0; i < q->nr_segs; i++)
        if (q->segs[i])
            seg_put(p, q->segs[i]);
    mem_put(p->arena, q->segs, (size_t)q->nr_segs * sizeof(*q->segs));
    mem_put(p->arena, q->heap, (size_t)q->cap_heap * sizeof(*q->heap));
    mem_put(p->arena, q->queued.ring, (size_t)q->queued.cap * sizeof(*q->queued.ring));
    mem_put(p->arena, q->queued.out.t, (size_t)q->queued.out.cap * sizeof(*q->queued.out.t));
    free(q->queued.gone.t);             /* never in the arena: times_reserve */
    *q = (struct csdq){ 0 };
}

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

/* Double a ring of `size`-byte elements, unwrapped to start at 0. */
static int ring_grow(struct arena *a, void **ring, u32 *head, u32 len, u32 *cap,
                     size_t size)
{
    u32 n = *cap ? 2 * *cap : 16, first = len < *cap - *head ? len : *cap - *head;
    u8 *r, *old = *ring;

    if (n <= *cap || !(r = mem_get(a, (size_t)n * size)))
        return SIM_ENOMEM;
    if (len) {
        memcpy(r, old + (size_t)*head * size, (size_t)first * size);
        memcpy(r + (size_t)first * size, old, (size_t)(len - first) * size);
    }
    mem_put(a, old, (size_t)*cap * size);
    *ring = r;
    *head = 0;
    *cap = n;
    return SIM_OK;
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

/* ---- times ------------------------------------------------------------------ */

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

/* Room for one more time; `gone` as large as everything held (every time
 * in it is also in the ring or `out`), so that removing never allocates.
 * `gone` rarely holds more than a few, so it comes from malloc, whose
 * untouched capacity costs nothing: in the arena its huge pages would be
 * zeroed whole (8 MB of them at 1024 CPUs). */
static int times_reserve(struct csdq_times *m, struct arena *a)
{
    u32 held = m->len + m->out.nr + 1;

    if (m->len == m->cap &&
        ring_grow(a, (void **)&m->ring, &m->head, m->len, &m->cap, sizeof(*m->ring)))
        return SIM_ENOMEM;
    if (reserve(a, (void **)&m->out.t, &m->out.cap, m->out.nr, m->out.nr + 1,
                sizeof(*m->out.t)) ||
        reserve(NULL, (void **)&m->gone.t, &m->gone.cap, m->gone.nr, held, sizeof(*m->gone.t)))
        return SIM_ENOMEM;
    return SIM_OK;
}

/* Insert t (times_reserve first): into the ring from its tail, or into
 * `out` when more than CSDQ_SHIFT_MAX later ones are already held. */
static void times_push(struct csdq_times *m, cycles_t t)
{
    u32 mask = m->cap - 1, k = 0;

    if (m->len > CSDQ_SHIFT_MAX && m->ring[(m->head + m->len - 1 - CSDQ_SHIFT_MAX) & mask] > t)
        k = CSDQ_SHIFT_MAX + 1;
    while (k < m->len && k <= CSDQ_SHIFT_MAX && m->ring[(m->head + m->len - 1 - k) & mask] > t)
        k++;
    if (k > CSDQ_SHIFT_MAX) {
        heap64_push(&m->out, t);
        return;
    }
    for (u32 i = m->len; i > m->len - k; i--)
        m->ring[(m->head + i) & mask] = m->ring[(m->head + i - 1) & mask];
    m->ring[(m->head + m->len - k) & mask] = t;
    m->len++;
}

static void times_pop_min(struct csdq_times *m)
{
    if (m->len && (!m->out.nr || m->ring[m->head] <= m->out.t[0])) {
        m->head = (m->head + 1) & (m->cap - 1);
        m->len--;
    } else {
        heap64_pop(&m->out);
    }
}

/* One request queued at t was taken out: one t leaves, at once if it is
 * the earliest, else once it becomes the earliest. */
static void times_remove(struct csdq *q, cycles_t t)
{
    struct csdq_times *m = &q->queued;

    if (csdq_queued_since(q) == t)
        times_pop_min(m);
    else
        heap64_push(&m->gone, t);
    while (m->gone.nr && csdq_queued_since(q) == m->gone.t[0]) {
        times_pop_min(m);
        heap64_pop(&m->gone);
    }
}

/* ---- the requests in arrival order ---------------------------------------- */

static bool csd_before_v(const void *a, const void *b)
{
    return csd_before(a, b);
}

static void heap_push(struct csdq *q, const struct csd *c)
{
    heap_add(q->heap, &q->nr_heap, c, sizeof(*c), csd_before_v);
}

static void heap_pop(struct csdq *q)
{
    heap_remove_first(q->heap, &q->nr_heap, sizeof(*q->heap), csd_before_v);
}

/* Room for one more csd in the ring and a segment at its tail. */
static int ring_reserve(struct csdq *q, struct csd_pool *p)
{
    u32 tail;

    if (!q->nr_segs || q->len + 1 > (q->nr_segs - 1) * CSDQ_SEG) {
        /* Twice the segments, in ring order from the head's. */
        u32 n = q->nr_segs ? 2 * q->nr_segs : 2, first = q->head / CSDQ_SEG;
        struct csd_seg **g;

        if (n <= q->nr_segs || !(g = mem_get(p->arena, (size_t)n * sizeof(*g))))
            return SIM_ENOMEM;
        for (u32 i = 0; i < q->nr_segs; i++)
            g[i] = q->segs[(first + i) & (q->nr_segs - 1)];
        memset(g + q->nr_segs, 0, (size_t)(n - q->nr_segs) * sizeof(*g));
        mem_put(p->arena, q->segs, (size_t)q->nr_segs * sizeof(*q->segs));
        q->segs = g;
        q->nr_segs = n;
        q->head %= CSDQ_SEG;
    }
    tail = ((q->head + q->len) & (q->nr_segs * CSDQ_SEG - 1)) / CSDQ_SEG;
    if (!q->segs[tail] && !(q->segs[tail] = seg_get(p)))
        return SIM_ENOMEM;
    return SIM_OK;
}

int csdq_push_slow(struct csdq *q, struct csd_pool *p, const struct csd *c)
{
    struct csd x = *c;

    x.seq = q->next_seq;
    if (times_reserve(&q->queued, p->arena) || ring_reserve(q, p))
        return SIM_ENOMEM;
    /* Its place in the ring: behind every request arriving no later (they
     * were posted earlier), at most CSDQ_SHIFT_MAX from the tail. */
    if (q->len > CSDQ_SHIFT_MAX &&
        csdq_slot(q, q->head + q->len - 1 - CSDQ_SHIFT_MAX)->arrival > x.arrival) {
        if (reserve(p->arena, (void **)&q->heap, &q->cap_heap, q->nr_heap, q->nr_heap + 1,
                    sizeof(*q->heap)))
            return SIM_ENOMEM;
        heap_push(q, &x);
    } else {
        /* At most CSDQ_SHIFT_MAX arrive later (the ring is sorted): move
         * them up by one from the tail, walking pointers within a
         * segment, and put x in the hole. */
        u32 pos = q->head + q->len;
        struct csd *hole = csdq_slot(q, pos);

        while (pos != q->head) {
            struct csd *prev = pos % CSDQ_SEG ? hole - 1 : csdq_slot(q, pos - 1);

            if (prev->arrival <= x.arrival)
                break;
            *hole = *prev;
            hole = prev;
            pos--;
        }
        *hole = x;
        q->len++;
    }
    times_push(&q->queued, x.queued);
    q->next_seq++;
    return SIM_OK;
}

void csdq_pop_slow(struct csdq *q, struct csd_pool *p)
{
    const struct csd *first = csdq_first(q);
    cycles_t t = first->queued;

    if (q->len && first == csdq_slot(q, q->head)) {
        u32 h = q->head & (q->nr_segs * CSDQ_SEG - 1);

        q->head = (h + 1) & (q->nr_segs * CSDQ_SEG - 1);
        q->len--;
        if (q->head % CSDQ_SEG == 0) {          /* left a segment: back to the pool */
            seg_put(p, q->segs[h / CSDQ_SEG]);
            q->segs[h / CSDQ_SEG] = NULL;
        }
    } else {
        heap_pop(q);
    }
    times_remove(q, t);
}
