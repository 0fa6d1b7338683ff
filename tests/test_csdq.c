/* tests/test_csdq.c - a CPU's queue of flush requests (sim/engine/csdq.c):
 * the first request by (arrival, posting order) and the earliest
 * llist_add() time, checked after every operation against a brute-force
 * model (a list scanned for both), on arrival patterns that exercise the
 * runs (in order, a little out of order, interleaved streams, runs that
 * empty and come back), the heap beside them (far out of order) and
 * ties. */
#include "../sim/engine/csdq.h"

#include <criterion/criterion.h>
#include <stdlib.h>

struct model {
    struct csd c[4096];                 /* wait_before: the request's id */
    bool live[4096];
    u32 nr;
};

static const struct csd *model_first(const struct model *m)
{
    const struct csd *best = NULL;

    for (u32 i = 0; i < m->nr; i++)
        if (m->live[i] && (!best || csd_before(&m->c[i], best)))
            best = &m->c[i];
    return best;
}

static cycles_t model_queued_since(const struct model *m)
{
    cycles_t t = CYCLES_NEVER;

    for (u32 i = 0; i < m->nr; i++)
        if (m->live[i] && m->c[i].queued < t)
            t = m->c[i].queued;
    return t;
}

struct visit {
    u64 sum;
    u32 n;
};

static bool visit_one(void *arg, const struct csd *c)
{
    struct visit *v = arg;

    v->sum += c->wait_before + 1;
    v->n++;
    return true;
}

static void check(const struct csdq *q, const struct model *m)
{
    const struct csd *want = model_first(m), *got = csdq_first(q);
    u32 live = 0;

    for (u32 i = 0; i < m->nr; i++)
        live += m->live[i];
    cr_assert_eq(csdq_len(q), live);
    cr_assert_eq(csdq_queued_since(q), model_queued_since(m));
    cr_assert_eq(csdq_first_arrival(q), want ? want->arrival : CYCLES_NEVER);
    if (!want) {
        cr_assert_null(got);
        return;
    }
    cr_assert_not_null(got);
    cr_assert_eq(got->wait_before, want->wait_before, "first: request %llu, expected %llu",
                 (unsigned long long)got->wait_before, (unsigned long long)want->wait_before);
    cr_assert_eq(got->arrival, want->arrival);
    /* Every live request is visited by csdq_for_each, once. */
    struct visit v = { 0 };
    u64 want_sum = 0;
    csdq_for_each(q, visit_one, &v);
    for (u32 i = 0; i < m->nr; i++)
        if (m->live[i])
            want_sum += m->c[i].wait_before + 1;
    cr_assert_eq(v.n, live);
    cr_assert_eq(v.sum, want_sum);
}

static u64 rnd(u64 *s)
{
    u64 z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* What a pattern used: the most runs and heap entries held at once. */
struct use {
    u32 runs, heap;
};

/* jitter: how far a request may arrive before the latest posted one;
 * spread: range of llist_add() time before arrival; streams: requests
 * come from that many interleaved streams, stream k arriving k * 2000
 * cycles later (as a CPU sees initiators on other sockets, or IPI'd
 * requests beside ones that found its queue non-empty). */
static struct use run_in(u64 seed, u64 jitter, u64 spread, u32 pop_every, u32 streams,
                         struct arena *a)
{
    static struct model m;
    struct csdq q = { 0 };
    struct csd_pool pool = { .arena = a };
    u64 s = seed, now = 1000000;
    struct use u = { 0 };

    m.nr = 0;
    for (u32 i = 0; i < 4000; i++) {
        now += rnd(&s) % 50;
        cycles_t arrival = now - (jitter ? rnd(&s) % jitter : 0);
        if (streams)
            arrival += rnd(&s) % streams * 2000;
        if (rnd(&s) % 8 == 0 && m.nr)
            arrival = m.c[rnd(&s) % m.nr].arrival;       /* a tie */
        struct csd c = { .arrival = arrival, .queued = arrival - rnd(&s) % (spread + 1),
                         .wait_before = i };
        cr_assert_eq(csdq_push(&q, &pool, &c), SIM_OK);
        c.seq = i;                      /* csdq_push numbers them 0, 1, ... */
        m.c[m.nr] = c;
        m.live[m.nr++] = true;
        check(&q, &m);
        u.runs = q.nr_runs > u.runs ? q.nr_runs : u.runs;
        u.heap = q.nr_heap > u.heap ? q.nr_heap : u.heap;
        if (rnd(&s) % pop_every == 0) {
            for (u32 n = (u32)(rnd(&s) % 4); n-- && csdq_len(&q);) {
                const struct csd *f = model_first(&m);
                m.live[f - m.c] = false;
                csdq_pop(&q, &pool);
                check(&q, &m);
            }
        }
    }
    while (csdq_len(&q)) {
        const struct csd *f = model_first(&m);
        m.live[f - m.c] = false;
        csdq_pop(&q, &pool);
        check(&q, &m);
    }
    cr_assert_eq(csdq_queued_since(&q), CYCLES_NEVER);
    csdq_destroy(&q, &pool);
    csd_pool_destroy(&pool);
    return u;
}

static struct use run(u64 seed, u64 jitter, u64 spread, u32 pop_every, u32 streams)
{
    return run_in(seed, jitter, spread, pop_every, streams, NULL);
}

/* The same with the memory from an arena, as the engine has it: the
 * heaps reuse each other's blocks as they double. */
static void run_arena(u64 seed, u64 jitter, u64 spread, u32 pop_every)
{
    struct arena a = { 0 };

    run_in(seed, jitter, spread, pop_every, 0, &a);
    cr_assert_gt(a.mapped, 0);
    arena_destroy(&a);
}

Test(csdq, in_order_posts)              { run(1, 0, 0, 2, 0); }
Test(csdq, slightly_out_of_order)       { run(2, 200, 300, 2, 0); }
Test(csdq, far_out_of_order_uses_heap)
{
    struct use u = run(3, 100000, 100000, 3, 0);
    cr_assert_eq(u.runs, CSDQ_RUNS);
    cr_assert_gt(u.heap, 0);
}
Test(csdq, long_queues)                 { run(4, 3000, 50, 50, 0); }
Test(csdq, llist_add_times_unordered)   { run(5, 50, 1000000, 2, 0); }
Test(csdq, interleaved_streams_fill_runs)
{
    struct use u = run(6, 0, 0, 3, 4);
    cr_assert_gt(u.runs, 1);
}
Test(csdq, interleaved_streams_long)    { run(7, 20, 20, 40, 6); }
Test(csdq, long_queues_in_an_arena)     { run_arena(4, 3000, 50, 50); }
Test(csdq, heap_in_an_arena)            { run_arena(3, 100000, 100000, 3); }

Test(csdq, equal_arrivals_go_in_posting_order)
{
    struct csdq q = { 0 };
    struct csd_pool pool = { 0 };

    /* Each request arrives before every earlier one, so each starts a run
     * until the runs are taken; the rest go to the heap.  Requests arriving
     * at the same cycle, in runs and in the heap, still come out in posting
     * order. */
    for (u32 i = 0; i < CSDQ_RUNS + 4; i++)
        cr_assert_eq(csdq_push(&q, &pool, &(struct csd){ .arrival = 1000 - i, .queued = 50,
                                                   .wait_before = i }), SIM_OK);
    cr_assert_eq(q.nr_runs, CSDQ_RUNS);
    cr_assert_eq(q.nr_heap, 4, "no run fits: in the heap");
    for (u32 i = 0; i < CSDQ_RUNS + 4; i++)
        cr_assert_eq(csdq_push(&q, &pool, &(struct csd){ .arrival = 10, .queued = 5 + i,
                                                   .wait_before = 900 + i }), SIM_OK);
    cr_assert_eq(csdq_queued_since(&q), 5);
    for (u32 i = 0; i < CSDQ_RUNS + 4; i++) {
        cr_assert_eq(csdq_first(&q)->wait_before, 900 + i);
        cr_assert_eq(csdq_queued_since(&q), 5 + i);
        csdq_pop(&q, &pool);
    }
    for (u32 i = CSDQ_RUNS + 4; i-- > 0;) {
        cr_assert_eq(csdq_first(&q)->wait_before, i);
        cr_assert_eq(csdq_queued_since(&q), 50);
        csdq_pop(&q, &pool);
    }
    cr_assert_null(csdq_first(&q));
    cr_assert_eq(csdq_queued_since(&q), CYCLES_NEVER);
    csdq_destroy(&q, &pool);
    csd_pool_destroy(&pool);
}
