/* sim/viz/viz_sim.c - driving the engine for tlbviz and keeping history.
 *
 * Two simulations of the same trace, machine and policy:
 *   the pre-pass  runs once to the end at open (and after a policy switch)
 *                 and keeps every flush request (struct viz_flush) and mark:
 *                 the timeline strip shows the whole run, and an initiator's
 *                 flush range and completion are known while its shootdown
 *                 is in flight;
 *   the live one  is stepped one engine event at a time; its hooks report
 *                 the exact parts, and after each event record_lane() turns
 *                 the change of every CPU's clock and counters into lane
 *                 history.
 *
 * What is exact, and from where:
 *   handler spans     the irq hook gives each flush interrupt's [t0, t1);
 *   skipped lazy CPUs the flush_start hook gives the lazy mask of a request;
 *   IPI handled time  the start of the interrupt that took it off the queue;
 *   waiting           sim_cpu_waiting(): the CPU's next op starts at `until`,
 *                     after `gap` work (busy) or idling for `t`;
 *   TLB entry owners  sim_mm_id() maps an entry's mm index to its trace id.
 *
 * What is laid out from counters.  Between the handler spans, the rest of a
 * CPU's stretch c0..c1 is laid out in the order the engine spends it: the
 * wait it was in at c0 (cpu_run() accounts it first: a `gap` as busy work,
 * a `t` as idle_cycles; drawn as the lane's tail showed it before the
 * event), the rest of the idle time, spinning (spin_cycles:
 * sd_complete() moves the initiator's clock), page walks (walk_cycles), then
 * the task's own work.  Each kind's share of the stretch is exact.  XXX:
 * walks are interleaved with TLB hits in reality but drawn as one block,
 * and a CPU that waits again inside one event (within sim.quantum) has
 * those waits drawn with the first.
 */
#include "viz_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../io/model_load.h"

#define PRUNE_EVERY 4096                /* events between history prunes */

/* ==== vectors ================================================================= */

static void vec_init(struct viz_vec *v, size_t size)
{
    memset(v, 0, sizeof(*v));
    v->size = size;
}

static void vec_free(struct viz_vec *v)
{
    free(v->a);
    vec_init(v, v->size);
}

static size_t vec_len(const struct viz_vec *v) { return v->n - v->head; }

/* Room for one more item at the end (moving live items to the front when
 * half the array is dead).  NULL when out of memory. */
static void *vec_push(struct viz_vec *v)
{
    if (v->n == v->cap) {
        if (v->head && v->head >= v->n / 2) {
            memmove(v->a, (char *)v->a + v->head * v->size, (v->n - v->head) * v->size);
            v->n -= v->head;
            v->dropped += v->head;
            v->head = 0;
        } else {
            size_t cap = v->cap ? v->cap * 2 : 256;
            void *a = realloc(v->a, cap * v->size);
            if (!a)
                return NULL;
            v->a = a;
            v->cap = cap;
        }
    }
    return (char *)v->a + v->n++ * v->size;
}

static void *vec_last(const struct viz_vec *v)
{
    return v->n > v->head ? (char *)v->a + (v->n - 1) * v->size : NULL;
}

static cycles_t key_at(const struct viz_vec *vec, size_t i, size_t off)
{
    cycles_t k;

    memcpy(&k, (const char *)vec->a + i * vec->size + off, sizeof(k));
    return k;
}

size_t viz_vec_lower(const struct viz_vec *vec, size_t off, cycles_t t)
{
    size_t lo = vec->head, hi = vec->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_at(vec, mid, off) < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ==== machine and trace (as `tlbsim run` does it) ================================ */

/* The same machine as `tlbsim run` builds for this trace. */
static int load_machine(const struct viz_opts *o, u32 trace_cpus, struct machine *m,
                        struct sim_err *err)
{
    return model_load_for_run(o->machine, o->sets, o->nr_sets, trace_cpus, m, err);
}

static int open_sim(struct viz *v, const struct sim_hooks *hooks, struct sim **out,
                    struct sim_err *err)
{
    struct trace_reader *r;
    struct trace_header hdr;
    int rc;

    *out = NULL;
    if ((rc = trace_open(v->o.trace, &r, &hdr, err)))
        return rc;
    struct sim_config cfg = {
        .m = &v->m, .pol = v->pol, .src = trace_src(r), .hdr = &hdr, .trace_path = v->o.trace,
        .hooks = *hooks,
    };
    if ((rc = sim_create(&cfg, out, err)))
        trace_close(r);
    return rc;
}

/* ==== the pre-pass ================================================================ */

static void pre_flush(void *arg, const struct flush_rec *r)
{
    struct viz *v = arg;
    struct viz_pre *p = &v->pre;

    if (p->nr_fl == VIZ_MAX_FLUSH_RECS) {
        p->fl_dropped++;
        return;
    }
    p->fl[p->nr_fl++] = (struct viz_flush){
        .t_request = r->t_request, .t_done = r->t_done, .start = r->start, .end = r->end,
        .pages = r->pages, .mm = r->mm, .cause = r->cause, .initiator = r->initiator,
        .targets = r->targets, .skipped_lazy = r->skipped_lazy,
        .skipped_other = r->skipped_other, .full = r->full, .freed_tables = r->freed_tables,
    };
    if (r->t_done - r->t_request > p->max_latency)
        p->max_latency = r->t_done - r->t_request;
}

static void pre_mark(void *arg, cycles_t t, const char *label)
{
    struct viz *v = arg;
    struct viz_pre *p = &v->pre;

    if (p->nr_marks == VIZ_MAX_MARKS)
        return;
    p->marks[p->nr_marks].t = t;
    snprintf(p->marks[p->nr_marks].label, sizeof(p->marks[0].label), "%s", label);
    p->nr_marks++;
}

static int cmp_flush(const void *a, const void *b)
{
    const struct viz_flush *x = a, *y = b;

    if (x->t_request != y->t_request)
        return x->t_request < y->t_request ? -1 : 1;
    return x->initiator < y->initiator ? -1 : x->initiator > y->initiator;
}

/* Cycles from a flush request on (up to the next one, or to the end of the
 * run) that lie within h after it: sum of min(gap, h). */
static cycles_t covered(const struct viz_pre *p, cycles_t h)
{
    cycles_t sum = 0;

    for (size_t i = 0; i < p->nr_fl; i++) {
        cycles_t next = i + 1 < p->nr_fl ? p->fl[i + 1].t_request : p->end;
        cycles_t gap = next > p->fl[i].t_request ? next - p->fl[i].t_request : 0;
        sum += gap < h ? gap : h;
    }
    return sum;
}

/* The fitted view (docs/tlbviz.md, "Fitting the view to the trace"):
 *   history  the narrowest h such that, at 3/4 of the cycles from the first
 *            flush request to the end, a request lies within h before: the
 *            history part of the chart (VIZ_NOW_FRAC of it) shows a flush
 *            most of the time, however sparse the trace;
 *   span     h / VIZ_NOW_FRAC, at least 8 median shootdowns (a shootdown
 *            stays wide enough to read) and 4,000 cycles; no flush at all:
 *            an eighth of the run;
 *   speed    the whole run in VIZ_FIT_PLAY_S seconds, or a span in 10 s
 *            when that is slower;
 *   then     the span is widened to VIZ_FIT_CROSS_S seconds of playing, so
 *            that nothing crosses the chart faster than that;
 * and the span never exceeds the run (if the run is 1,000 cycles or more). */
static void fit_view(struct viz_pre *p, const struct hist *lat)
{
    cycles_t end = p->end ? p->end : 1, span;

    if (p->nr_fl) {
        cycles_t first = p->fl[0].t_request, lo = 1, hi = end;
        cycles_t want = (cycles_t)((double)(end > first ? end - first : 0) * VIZ_FIT_COVER);
        while (lo < hi) {               /* covered() grows with h */
            cycles_t mid = lo + (hi - lo) / 2;
            if (covered(p, mid) >= want)
                hi = mid;
            else
                lo = mid + 1;
        }
        span = (cycles_t)((double)lo / VIZ_NOW_FRAC);
        if (lat->n && span < 8 * hist_quantile(lat, 0.5))
            span = 8 * hist_quantile(lat, 0.5);
        if (span < 4000)
            span = 4000;
    } else {
        span = end / 8 > 1000 ? end / 8 : 1000;
    }
    p->speed = (double)end / VIZ_FIT_PLAY_S;
    if (p->speed < (double)span / 10)
        p->speed = (double)span / 10;
    if (span < (cycles_t)(p->speed * VIZ_FIT_CROSS_S))
        span = (cycles_t)(p->speed * VIZ_FIT_CROSS_S);
    if (span > end && end >= 1000)
        span = end;
    p->span = span;
}

static void pre_summarise(struct viz_pre *p, const struct hist *lat)
{
    cycles_t end = p->end ? p->end : 1;

    qsort(p->fl, p->nr_fl, sizeof(*p->fl), cmp_flush);
    memset(p->strip_full, 0, sizeof(p->strip_full));
    memset(p->strip_part, 0, sizeof(p->strip_part));
    p->strip_max = 0;
    for (size_t i = 0; i < p->nr_fl; i++) {
        size_t b = (size_t)((double)p->fl[i].t_request / (double)end * VIZ_STRIP_BUCKETS);
        if (b >= VIZ_STRIP_BUCKETS)
            b = VIZ_STRIP_BUCKETS - 1;
        if (p->fl[i].full)
            p->strip_full[b]++;
        else
            p->strip_part[b]++;
        if (p->strip_full[b] + p->strip_part[b] > p->strip_max)
            p->strip_max = p->strip_full[b] + p->strip_part[b];
    }
    fit_view(p, lat);
}

static void progress(const struct viz *v, struct sim *s, bool last)
{
    if (v->o.quiet || !isatty(2))
        return;
    if (last)
        fputs("\r\033[K", stderr);
    else
        fprintf(stderr, "\rtlbviz: %s: pre-pass %5.1f%%", v->pol->name, 100.0 * sim_progress(s));
}

static int pre_run(struct viz *v, struct sim_err *err)
{
    struct sim_hooks hooks = { .arg = v, .flush = pre_flush, .mark = pre_mark };
    struct viz_pre *p = &v->pre;
    struct sim_totals tot;
    struct sim *s;
    int rc;

    v->jumped = false;
    p->nr_fl = 0;
    p->fl_dropped = 0;
    p->nr_marks = 0;
    p->max_latency = 0;
    if ((rc = open_sim(v, &hooks, &s, err)))
        return rc;
    while ((rc = sim_run(s, sim_now(s) + 20000000, err)) > 0)
        progress(v, s, false);
    progress(v, s, true);
    if (rc == 0) {
        p->end = sim_end_cycles(s);
        sim_totals(s, &tot);
        p->shootdowns = tot.shootdowns;
        pre_summarise(p, sim_latency(s));
    }
    sim_destroy(s);
    return rc;
}

/* ==== the live simulation: hooks ===================================================== */

static void live_tlb_event(void *arg, cycles_t t, u32 cpu, s64 mm, bool idle,
                           enum tlb_flush_reason r, s64 pages)
{
    struct viz *v = arg;
    struct viz_tick *k;

    (void)idle;
    (void)mm;
    if (pages == 0 || r == TLB_REMOTE_SEND_IPI || r == TLB_REMOTE_WRONG_CPU)
        return;
    if (!(k = vec_push(&v->ticks))) {
        v->error = SIM_ENOMEM;
        return;
    }
    *k = (struct viz_tick){ .t = t, .cpu = cpu, .pages = pages, .reason = (u8)r };
}

/* A flush interrupt: its exact span, for the lane and the IPIs it took. */
static void live_irq(void *arg, u32 cpu, cycles_t t0, cycles_t t1, u32 nr)
{
    struct viz *v = arg;
    struct viz_irq *q;

    if (cpu >= v->nr_cpus || t1 < t0)
        return;
    if (!(q = vec_push(&v->irqs))) {
        v->error = SIM_ENOMEM;
        return;
    }
    *q = (struct viz_irq){ .cpu = cpu, .nr = nr, .t0 = t0, .t1 = t1 };
}

/* A flush request as it is sent: the lazy CPUs of the mask it skipped.
 * XXX: the broadcast and lazy-deferred transports reach lazy CPUs and reset
 * r->skipped_lazy, but the engine leaves `lazy` as target selection filled
 * it; the count says whether the mask holds skipped CPUs. */
static void live_flush_start(void *arg, const struct flush_rec *r,
                             const struct cpumask *targets, const struct cpumask *lazy)
{
    struct viz *v = arg;
    u32 cpu;

    (void)targets;
    if (!r->skipped_lazy)
        return;
    for_each_cpu(cpu, lazy, v->nr_cpus) {
        struct viz_skip *sk = vec_push(&v->skips);
        if (!sk) {
            v->error = SIM_ENOMEM;
            return;
        }
        *sk = (struct viz_skip){ .cpu = cpu, .initiator = r->initiator, .t = r->t_request };
    }
}

/* ==== the live simulation: recording ================================================ */

static struct viz_ctx ctx_of(const struct viz *v, u32 i)
{
    const struct cpu *c = sim_cpu(v->s, i);
    enum sim_cpu_state st = sim_cpu_state(v->s, i);
    s64 task = sim_cpu_task_mm(v->s, i);
    s64 borrowed = c->is_lazy && c->loaded_mm ? c->loaded_mm->id : -1;

    switch (st) {
    case SCPU_PREEMPTED: return (struct viz_ctx){ VK_PREEMPTED, task };
    case SCPU_SPIN:      return (struct viz_ctx){ VK_SPIN, task };
    case SCPU_IDLE:      return (struct viz_ctx){ VK_IDLE, borrowed };
    default:             break;
    }
    if (task >= 0)
        return (struct viz_ctx){ st == SCPU_WAIT_INPUT ? VK_USER_WAIT : VK_USER, task };
    if (c->is_lazy)
        return (struct viz_ctx){ VK_LAZY, borrowed };
    return (struct viz_ctx){ st == SCPU_WAIT_INPUT ? VK_NONE : VK_KTHREAD, -1 };
}

static bool is_user(u8 k) { return k == VK_USER || k == VK_USER_WAIT; }

/* How a stretch of idling for `t` looks in a given state. */
static struct viz_ctx wait_ctx(struct viz_ctx c)
{
    if (c.kind == VK_USER)
        c.kind = VK_USER_WAIT;
    return c;
}

/* Whose work the busy rest of a stretch was: a user task's if one ran
 * before or after the event, else the state it ended in. */
static struct viz_ctx busy_ctx(struct viz_ctx before, struct viz_ctx after)
{
    struct viz_ctx c = after;

    if (!is_user(after.kind) && (is_user(before.kind) || after.kind == VK_SPIN ||
                                 after.kind == VK_IDLE || after.kind == VK_PREEMPTED))
        c = before;
    if (c.kind == VK_USER_WAIT)
        c.kind = VK_USER;
    else if (c.kind == VK_NONE || c.kind == VK_SPIN)
        c = (struct viz_ctx){ VK_KTHREAD, -1 };
    return c;
}

/* Append [t, t + d) (d clamped to end) of kind c to the lane; merges with
 * the previous segment when it continues it.  Returns t + d. */
static cycles_t emit(struct viz *v, struct viz_lane *l, cycles_t t, cycles_t end, u64 d,
                     struct viz_ctx c)
{
    struct viz_seg *last;

    if (t >= end)
        return t;
    if (d > end - t)
        d = end - t;
    if (!d)
        return t;
    last = vec_last(&l->segs);
    if (last && last->t1 == t && last->kind == c.kind && last->mm == c.mm) {
        last->t1 = t + d;
        return t + d;
    }
    if (!(last = vec_push(&l->segs))) {
        v->error = SIM_ENOMEM;
        return t + d;
    }
    *last = (struct viz_seg){ .t0 = t, .t1 = t + d, .mm = c.mm, .kind = (u8)c.kind };
    return t + d;
}

/* A cursor over one CPU's stretch [t, end) of this event that lays kinds
 * out around the exact handler spans (v->irqs of that CPU). */
struct layout_cursor {
    struct viz *v;
    struct viz_lane *l;
    u32 cpu;
    cycles_t t, end;                    /* laid out up to t */
    size_t k;                           /* next candidate in v->irqs */
};

static const struct viz_irq *next_irq(struct layout_cursor *y)
{
    const struct viz_vec *q = &y->v->irqs;

    while (y->k < q->n && VEC_AT(q, struct viz_irq, y->k).cpu != y->cpu)
        y->k++;
    return y->k < q->n ? &VEC_AT(q, struct viz_irq, y->k) : NULL;
}

/* Lay d cycles of kind c from the cursor on, flowing around handler spans;
 * a span the cursor has reached is laid first.  d = UINT64_MAX: up to end. */
static void lay(struct layout_cursor *y, u64 d, struct viz_ctx c)
{
    static const struct viz_ctx handler = { VK_HANDLER, -1 };

    while (y->t < y->end) {
        const struct viz_irq *h = next_irq(y);
        if (h && h->t0 <= y->t) {
            y->t = emit(y->v, y->l, y->t, y->end, h->t1 > y->t ? h->t1 - y->t : 0, handler);
            y->k++;
            continue;
        }
        if (!d)
            break;
        cycles_t stop = h && h->t0 < y->end ? h->t0 : y->end;
        u64 n = d < stop - y->t ? d : stop - y->t;
        y->t = emit(y->v, y->l, y->t, stop, n, c);
        d -= n;
    }
}

static u64 sub_sat(u64 a, u64 b) { return a > b ? a - b : 0; }

/* Lay out the stretch the CPU's clock moved over in this event. */
static void lay_stretch(struct viz *v, u32 i, struct viz_ctx before, struct viz_ctx busy)
{
    struct viz_lane *l = &v->lanes[i];
    const struct cpu *c = sim_cpu(v->s, i);
    const struct cpu_stats *a = &l->last, *b = &c->st;
    struct layout_cursor y = { .v = v, .l = l, .cpu = i, .t = l->clock, .end = c->now };
    u64 idle = b->idle_cycles - a->idle_cycles, spin = b->spin_cycles - a->spin_cycles;
    u64 walk = b->walk_cycles - a->walk_cycles;
    u64 own = sub_sat(c->now - l->clock,
                      idle + spin + walk + (b->handler_cycles - a->handler_cycles));
    u64 gap = 0;

    /* The `gap` the CPU was in at the start (busy work before its op, or
     * an idle CPU's time in its C-state before the next op): drawn as the
     * lane's tail showed it. */
    if (l->wait_busy && l->wait_until != CYCLES_NEVER)
        gap = l->wait_until - l->clock < own ? l->wait_until - l->clock : own;
    lay(&y, gap, l->wait);
    lay(&y, idle, wait_ctx(before));
    lay(&y, spin, (struct viz_ctx){ VK_SPIN, before.mm });
    lay(&y, walk, (struct viz_ctx){ VK_WALK, -1 });
    lay(&y, UINT64_MAX, busy);
}

static void record_lane(struct viz *v, u32 i)
{
    struct viz_lane *l = &v->lanes[i];
    const struct cpu *c = sim_cpu(v->s, i);
    struct viz_ctx after = ctx_of(v, i), before = l->ctx, busy;
    bool gap_busy;

    /* A kernel thread that left lazy mode (leave_mm, a flush IPI) is still
     * a kernel thread, not "no task". */
    if (after.kind == VK_NONE && (before.kind == VK_LAZY || before.kind == VK_KTHREAD))
        after.kind = VK_KTHREAD;
    busy = busy_ctx(before, after);
    if (c->now > l->clock) {
        lay_stretch(v, i, before, busy);
        l->last = c->st;
        l->clock = c->now;
    }
    l->ctx = after;
    sim_cpu_waiting(v->s, i, &l->wait_until, &gap_busy);
    l->wait_busy = gap_busy;
    l->wait = gap_busy ? busy_ctx(after, after) : wait_ctx(after);
}

static struct viz_ipi *ipi_at(struct viz *v, u32 logical)
{
    return &VEC_AT(&v->ipis, struct viz_ipi, logical - v->ipis.dropped);
}

static int grow_active(struct viz *v)
{
    u32 cap = v->cap_active ? v->cap_active * 2 : 64;
    u32 *a = realloc(v->active, cap * sizeof(*a));
    bool *s = realloc(v->seen, cap * sizeof(*s));

    if (a)
        v->active = a;
    if (s)
        v->seen = s;
    if (!a || !s)
        return SIM_ENOMEM;
    v->cap_active = cap;
    return SIM_OK;
}

/* When an IPI left the target's queue in this event: at the start of the
 * interrupt that took it (or its arrival, if it came during that
 * interrupt).  The handler drains requests that arrived before it ends. */
static cycles_t handled_at(const struct viz *v, const struct viz_ipi *p)
{
    for (size_t k = v->irqs.head; k < v->irqs.n; k++) {
        const struct viz_irq *q = &VEC_AT(&v->irqs, struct viz_irq, k);
        if (q->cpu == p->to && q->nr && q->t1 >= p->arrival)
            return q->t0 > p->arrival ? q->t0 : p->arrival;
    }
    /* Not seen (cannot happen: only the handler dequeues). */
    return v->lanes[p->to].clock > p->arrival ? v->lanes[p->to].clock : p->arrival;
}

static bool fetch_ipis(struct viz *v, u32 *n)
{
    while ((*n = sim_ipis_in_flight(v->s, v->ipibuf, v->cap_ipibuf)) == v->cap_ipibuf) {
        struct sim_ipi *b = realloc(v->ipibuf, 2 * v->cap_ipibuf * sizeof(*b));
        if (!b) {
            v->error = SIM_ENOMEM;
            return false;
        }
        v->ipibuf = b;
        v->cap_ipibuf *= 2;
    }
    return true;
}

/* Match the engine's queued requests with the ones seen before: new ones
 * are recorded, vanished ones were handled. */
static void record_ipis(struct viz *v)
{
    u32 n, w = 0;

    if (!fetch_ipis(v, &n))
        return;
    for (u32 a = 0; a < v->nr_active; a++)
        v->seen[a] = false;
    for (u32 k = 0; k < n; k++) {
        const struct sim_ipi *q = &v->ipibuf[k];
        u32 a;
        for (a = 0; a < v->nr_active; a++) {
            const struct viz_ipi *p = ipi_at(v, v->active[a]);
            if (p->from == q->from && p->to == q->to && p->sent == q->sent)
                break;
        }
        if (a < v->nr_active) {
            v->seen[a] = true;
            continue;
        }
        struct viz_ipi *p = vec_push(&v->ipis);
        if (!p || (v->nr_active == v->cap_active && grow_active(v))) {
            v->error = SIM_ENOMEM;
            return;
        }
        *p = (struct viz_ipi){ q->from, q->to, q->sent, q->arrival, CYCLES_NEVER };
        v->active[v->nr_active] = (u32)(v->ipis.n - 1 + v->ipis.dropped);
        v->seen[v->nr_active++] = true;
    }
    for (u32 a = 0; a < v->nr_active; a++) {
        if (v->seen[a])
            v->active[w++] = v->active[a];
        else
            ipi_at(v, v->active[a])->done = handled_at(v, ipi_at(v, v->active[a]));
    }
    v->nr_active = w;
}

/* Drop history older than the longest lane chart asked for. */
static void prune(struct viz *v)
{
    cycles_t keep = VIZ_KEEP_SPANS * (v->pre.span > v->keep ? v->pre.span : v->keep);
    cycles_t now = sim_now(v->s), horizon = now > keep ? now - keep : 0;

    if (horizon <= v->hist_from)
        return;
    for (u32 i = 0; i < v->nr_cpus; i++) {
        struct viz_vec *s = &v->lanes[i].segs;
        while (vec_len(s) > 1 && VEC_AT(s, struct viz_seg, s->head).t1 < horizon)
            s->head++;
    }
    while (vec_len(&v->ipis)) {
        const struct viz_ipi *p = &VEC_AT(&v->ipis, struct viz_ipi, v->ipis.head);
        if (p->done == CYCLES_NEVER || p->done >= horizon || p->arrival >= horizon)
            break;
        v->ipis.head++;
    }
    while (vec_len(&v->skips) && VEC_AT(&v->skips, struct viz_skip, v->skips.head).t < horizon)
        v->skips.head++;
    while (vec_len(&v->ticks) && VEC_AT(&v->ticks, struct viz_tick, v->ticks.head).t < horizon)
        v->ticks.head++;
    v->hist_from = horizon;
}

/* One engine event and its history.  Returns like sim_step(). */
static int live_step(struct viz *v, struct sim_err *err)
{
    int rc;

    v->irqs.n = v->irqs.head = 0;       /* the spans of this event only */
    rc = sim_step(v->s, err);
    if (rc < 0)
        return rc;
    v->events++;
    if (rc == 0)
        v->done = true;
    record_ipis(v);                     /* before the lanes: uses clocks before the event */
    for (u32 i = 0; i < v->nr_cpus; i++)
        record_lane(v, i);
    if (v->error)
        return sim_err_set(err, v->error, "out of memory keeping the history");
    if (v->events % PRUNE_EVERY == 0)
        prune(v);
    return rc;
}

static void history_free(struct viz *v)
{
    for (u32 i = 0; v->lanes && i < v->nr_cpus; i++)
        vec_free(&v->lanes[i].segs);
    vec_free(&v->ipis);
    vec_free(&v->skips);
    vec_free(&v->ticks);
    vec_free(&v->irqs);
    v->nr_active = 0;
}

/* Recreate the live simulation at cycle 0 with empty history. */
static int live_restart(struct viz *v, struct sim_err *err)
{
    struct sim_hooks hooks = { .arg = v, .tlb_event = live_tlb_event, .irq = live_irq,
                               .flush_start = live_flush_start };
    int rc;

    sim_destroy(v->s);
    v->s = NULL;
    history_free(v);
    if ((rc = open_sim(v, &hooks, &v->s, err)))
        return rc;
    v->done = false;
    v->t = 0;
    v->events = 0;
    v->hist_from = 0;
    v->error = 0;
    for (u32 i = 0; i < v->nr_cpus; i++) {
        struct viz_lane *l = &v->lanes[i];
        vec_init(&l->segs, sizeof(struct viz_seg));
        l->clock = sim_cpu(v->s, i)->now;
        l->last = sim_cpu(v->s, i)->st;
        l->ctx = l->wait = ctx_of(v, i);
        l->wait_until = CYCLES_NEVER;
        l->wait_busy = false;
    }
    return SIM_OK;
}

/* ==== public API ===================================================================== */

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int viz_alloc(struct viz *v, struct sim_err *err)
{
    v->nr_cpus = v->m.cpus;
    v->lanes = calloc(v->nr_cpus, sizeof(*v->lanes));
    v->pre.fl = malloc(VIZ_MAX_FLUSH_RECS * sizeof(*v->pre.fl));
    v->pre.marks = malloc(VIZ_MAX_MARKS * sizeof(*v->pre.marks));
    v->cap_ipibuf = v->nr_cpus * 4 + 16;
    v->ipibuf = malloc(v->cap_ipibuf * sizeof(*v->ipibuf));
    vec_init(&v->ipis, sizeof(struct viz_ipi));
    vec_init(&v->skips, sizeof(struct viz_skip));
    vec_init(&v->ticks, sizeof(struct viz_tick));
    vec_init(&v->irqs, sizeof(struct viz_irq));
    for (u32 i = 0; v->lanes && i < v->nr_cpus; i++)
        vec_init(&v->lanes[i].segs, sizeof(struct viz_seg));
    if (!v->lanes || !v->pre.fl || !v->pre.marks || !v->ipibuf ||
        grow_active(v))
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    return SIM_OK;
}

int viz_open(const struct viz_opts *o, struct viz **out, struct sim_err *err)
{
    struct viz *v = calloc(1, sizeof(*v));
    struct trace_reader *r;
    int rc;

    *out = NULL;
    if (!v)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    v->o = *o;
    if (o->nr_sets > VIZ_MAX_SETS) {
        rc = sim_err_set(err, SIM_EINVAL, "--set: at most %d overrides", VIZ_MAX_SETS);
        goto fail;
    }
    v->pol = flush_policy_find(o->policy ? o->policy : "linux");
    if (!v->pol) {
        rc = sim_err_set(err, SIM_ENOENT, "--policy: unknown policy '%s' (see `tlbsim policies`)",
                         o->policy);
        goto fail;
    }
    if ((rc = trace_open(o->trace, &r, &v->hdr, err)))
        goto fail;
    trace_close(r);
    snprintf(v->trace_name, sizeof(v->trace_name), "%s",
             v->hdr.name[0] ? v->hdr.name : base_name(o->trace));
    machine_init(&v->m);
    if ((rc = load_machine(o, v->hdr.cpus, &v->m, err)) || (rc = viz_alloc(v, err)) ||
        (rc = pre_run(v, err)) || (rc = live_restart(v, err)))
        goto fail;
    *out = v;
    return SIM_OK;
fail:
    viz_close(v);
    return rc;
}

void viz_close(struct viz *v)
{
    if (!v)
        return;
    sim_destroy(v->s);
    history_free(v);
    free(v->lanes);
    free(v->pre.fl);
    free(v->pre.marks);
    free(v->ipibuf);
    free(v->active);
    free(v->seen);
    free(v);
}

int viz_seek(struct viz *v, cycles_t t, struct sim_err *err)
{
    int rc;

    if (t > v->pre.end)
        t = v->pre.end;
    if (t < v->t && (rc = live_restart(v, err)))
        return rc;
    while (!v->done && sim_now(v->s) < t)
        if ((rc = live_step(v, err)) < 0)
            return rc;
    v->t = t;
    return SIM_OK;
}

int viz_advance(struct viz *v, cycles_t t, u64 max_events, struct sim_err *err)
{
    u64 n = 0;
    int rc;

    if (t > v->pre.end)
        t = v->pre.end;
    if (t < v->t)
        return viz_seek(v, t, err);
    while (!v->done && sim_now(v->s) < t) {
        if (max_events && n++ == max_events) {
            t = sim_now(v->s) > v->t ? sim_now(v->s) : v->t;
            break;
        }
        if ((rc = live_step(v, err)) < 0)
            return rc;
    }
    v->t = t;
    return SIM_OK;
}

int viz_step(struct viz *v, struct sim_err *err)
{
    int rc;

    if (v->done) {
        v->t = v->pre.end;
        return 0;
    }
    if ((rc = live_step(v, err)) < 0)
        return rc;
    if (sim_now(v->s) > v->t)
        v->t = sim_now(v->s) < v->pre.end ? sim_now(v->s) : v->pre.end;
    if (rc == 0)
        v->t = v->pre.end;
    return rc;
}

int viz_set_policy(struct viz *v, const char *name, struct sim_err *err)
{
    const struct flush_policy *pol = flush_policy_find(name);
    cycles_t t = v->t;
    int rc;

    if (!pol)
        return sim_err_set(err, SIM_ENOENT, "unknown policy '%s'", name);
    v->pol = pol;
    if ((rc = pre_run(v, err)) || (rc = live_restart(v, err)))
        return rc;
    return viz_seek(v, t, err);
}

int viz_ensure_history(struct viz *v, cycles_t from, struct sim_err *err)
{
    cycles_t t = v->t;
    int rc;

    if (t > from && t - from > v->keep)
        v->keep = t - from;
    if (from >= v->hist_from)
        return SIM_OK;
    if ((rc = live_restart(v, err)))
        return rc;
    return viz_seek(v, t, err);
}

/* Where a jump to flush f lands: its completion, so the whole shootdown is
 * history, plus a twentieth of the span; but no more than 0.6 spans after
 * the request, which keeps the request on the chart. */
static cycles_t jump_target(const struct viz_flush *f, cycles_t span)
{
    cycles_t after = f->t_done - f->t_request + span / 20, most = (cycles_t)(span * 0.6);

    return f->t_request + (after < most ? after : most);
}

int viz_seek_flush(struct viz *v, cycles_t span, int dir, struct sim_err *err)
{
    /* From the request jumped to last, while the clock has stayed there;
     * otherwise from the current cycle. */
    cycles_t from = v->jumped && v->t == v->jump_at ? v->jump_req : v->t;
    size_t i;
    int rc;

    if (dir > 0) {
        i = viz_flush_lower(v, from + 1);
        if (i >= v->pre.nr_fl)
            return 0;
    } else {
        i = viz_flush_lower(v, from);
        if (i == 0)
            return 0;
        i--;
    }
    if ((rc = viz_seek(v, jump_target(&v->pre.fl[i], span ? span : v->pre.span), err)))
        return rc;
    v->jumped = true;
    v->jump_req = v->pre.fl[i].t_request;
    v->jump_at = v->t;
    return 1;
}

cycles_t viz_time(const struct viz *v) { return v->t; }
cycles_t viz_end(const struct viz *v) { return v->pre.end; }
const char *viz_policy(const struct viz *v) { return v->pol->name; }
u32 viz_nr_cpus(const struct viz *v) { return v->nr_cpus; }
cycles_t viz_default_span(const struct viz *v) { return v->pre.span; }
double viz_default_speed(const struct viz *v) { return v->pre.speed; }
const struct sim *viz_sim(const struct viz *v) { return v->s; }

s64 viz_mm_id(const struct viz *v, u16 idx)
{
    return sim_mm_id(v->s, idx);
}

size_t viz_flush_lower(const struct viz *v, cycles_t t)
{
    size_t lo = 0, hi = v->pre.nr_fl;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->pre.fl[mid].t_request < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const struct viz_flush *viz_flush_lookup(const struct viz *v, u32 initiator, cycles_t t)
{
    for (size_t i = viz_flush_lower(v, t); i < v->pre.nr_fl && v->pre.fl[i].t_request == t; i++)
        if (v->pre.fl[i].initiator == initiator)
            return &v->pre.fl[i];
    return NULL;
}

const struct viz_flush *viz_active_flush(const struct viz *v, u32 cpu)
{
    cycles_t t = v->t;

    for (size_t i = viz_flush_lower(v, t + 1); i-- > 0;) {
        const struct viz_flush *f = &v->pre.fl[i];
        if (f->t_request + v->pre.max_latency < t)
            break;
        if (f->initiator == cpu)
            return f->t_done > t ? f : NULL;
    }
    return NULL;
}

enum viz_kind viz_lane_kind_at(const struct viz *v, u32 cpu, cycles_t t, s64 *mm)
{
    const struct viz_lane *l = &v->lanes[cpu];
    const struct viz_vec *s = &l->segs;

    *mm = -1;
    if (t >= l->clock) {
        struct viz_ctx c = viz_lane_tail(l, t);
        *mm = c.mm;
        return (enum viz_kind)c.kind;
    }
    size_t i = viz_vec_lower(s, offsetof(struct viz_seg, t1), t + 1);
    if (i < s->n) {
        const struct viz_seg *g = &VEC_AT(s, struct viz_seg, i);
        if (g->t0 <= t) {
            *mm = g->mm;
            return (enum viz_kind)g->kind;
        }
    }
    return VK_NONE;
}

u32 viz_ipis_in_flight(const struct viz *v)
{
    u32 n = 0;

    for (size_t i = v->ipis.head; i < v->ipis.n; i++) {
        const struct viz_ipi *p = &VEC_AT(&v->ipis, struct viz_ipi, i);
        if (p->sent <= v->t && p->done > v->t)
            n++;
    }
    return n;
}
