/* tests/test_ev.c - the event queue (sim/engine/ev.c): order by (when,
 * seq), cancel, reschedule, growth past the initial capacity, all checked
 * against a brute-force model (scan a list for the smallest (when, seq)). */
#include "../sim/engine/ev.h"

#include <criterion/criterion.h>
#include <stdlib.h>

static void nop(void *owner, struct ev *e) { (void)owner; (void)e; }

Test(ev, equal_times_fire_in_schedule_order)
{
    struct ev_queue q;
    struct ev e[5];

    cr_assert_eq(ev_queue_init(&q), SIM_OK);
    for (int i = 0; i < 5; i++) {
        ev_init(&e[i], nop, NULL);
        cr_assert_eq(ev_schedule(&q, &e[i], i == 2 ? 5 : 10), SIM_OK);
    }
    cr_expect_eq(ev_next_time(&q), 5);
    cr_expect_eq(ev_pop(&q), &e[2]);
    for (int i = 0; i < 5; i++)
        if (i != 2)
            cr_expect_eq(ev_pop(&q), &e[i], "tie broken by seq: expected e[%d]", i);
    cr_expect_null(ev_pop(&q));
    cr_expect_eq(ev_next_time(&q), CYCLES_NEVER);
    cr_expect_eq(q.nr_fired, 5);
    ev_queue_destroy(&q);
}

Test(ev, reschedule_moves_and_takes_a_new_seq)
{
    struct ev_queue q;
    struct ev a, b, c;

    cr_assert_eq(ev_queue_init(&q), SIM_OK);
    ev_init(&a, nop, NULL);
    ev_init(&b, nop, NULL);
    ev_init(&c, nop, NULL);
    ev_schedule(&q, &a, 10);
    ev_schedule(&q, &b, 10);
    ev_schedule(&q, &c, 30);
    ev_schedule(&q, &a, 10);            /* same time, but now after b */
    ev_schedule(&q, &c, 1);             /* earlier */
    cr_expect_eq(q.nr, 3, "rescheduling does not duplicate");
    cr_expect_eq(ev_pop(&q), &c);
    cr_expect_eq(ev_pop(&q), &b);
    cr_expect_eq(ev_pop(&q), &a);
    cr_expect(!ev_queued(&a));
    ev_queue_destroy(&q);
}

Test(ev, cancel_removes_at_once)
{
    struct ev_queue q;
    struct ev a, b;

    cr_assert_eq(ev_queue_init(&q), SIM_OK);
    ev_init(&a, nop, NULL);
    ev_init(&b, nop, NULL);
    ev_schedule(&q, &a, 1);
    ev_schedule(&q, &b, 2);
    ev_cancel(&q, &a);
    cr_expect(!ev_queued(&a));
    ev_cancel(&q, &a);                  /* cancelling twice is harmless */
    cr_expect_eq(q.nr, 1);
    cr_expect_eq(ev_next_time(&q), 2);
    cr_expect_eq(ev_pop(&q), &b);
    ev_queue_destroy(&q);
}

/* Random schedule / reschedule / cancel / pop against a brute-force list,
 * with more live events than the initial heap capacity (64). */
Test(ev, random_operations_match_a_brute_force_model)
{
    enum { N = 300 };
    static struct ev e[N];
    static u64 seq_of[N];               /* model: seq of a queued event */
    static cycles_t when_of[N];
    static bool queued[N];
    struct ev_queue q;
    u64 x = 99, seq = 0;

    cr_assert_eq(ev_queue_init(&q), SIM_OK);
    for (int i = 0; i < N; i++)
        ev_init(&e[i], nop, &e[i]);
    for (int step = 0; step < 20000; step++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int i = (int)((x >> 33) % N), op = (int)((x >> 20) % 8);
        if (op < 5) {                   /* schedule or reschedule */
            cycles_t w = (x >> 40) % 50;
            cr_assert_eq(ev_schedule(&q, &e[i], w), SIM_OK);
            queued[i] = true;
            when_of[i] = w;
            seq_of[i] = seq++;
        } else if (op == 5) {
            ev_cancel(&q, &e[i]);
            queued[i] = false;
        } else {                        /* pop: the model's minimum */
            int best = -1;
            for (int k = 0; k < N; k++)
                if (queued[k] && (best < 0 || when_of[k] < when_of[best] ||
                                  (when_of[k] == when_of[best] && seq_of[k] < seq_of[best])))
                    best = k;
            struct ev *got = ev_pop(&q);
            if (best < 0) {
                cr_assert_null(got);
                continue;
            }
            cr_assert_eq(got, &e[best], "step %d: popped the wrong event", step);
            cr_assert_eq(got->when, when_of[best]);
            queued[best] = false;
        }
        size_t live = 0;
        for (int k = 0; k < N; k++)
            live += queued[k];
        cr_assert_eq(q.nr, live, "step %d", step);
    }
    cr_expect_gt(q.cap, 64, "the heap grew past its first capacity");
    ev_queue_destroy(&q);
}
