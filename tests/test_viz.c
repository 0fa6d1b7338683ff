/* tests/test_viz.c - tlbviz: frames rendered headlessly through the library
 * (sim/viz/viz.h), checked by their pixels.  The PNG writer and the
 * command line are checked in test_viz_png.c, with the helpers and traces
 * of this file (test_viz.h).
 *
 * The exact parts of a frame (handler spans, skipped lazy CPUs) are checked
 * against an oracle: the same trace run through the engine alone, keeping
 * what its hooks report (oracle_run()).
 *
 * The traces are written into a temporary directory; machine models come
 * from ../models (the suite runs in tests/).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../models/policy.h"
#include "../sim/engine/sim.h"
#include "../sim/io/model_load.h"
#include "harness.h"
#include "../sim/io/trace.h"
#include "../sim/viz/viz.h"
#include "../sim/viz/viz_priv.h"         /* the label registry */
#include "test_viz.h"

const char *write_file(const char *name, const char *text)
{
    const char *p = h_tmp_path(name);
    FILE *f;

    f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Two CPUs run mm 1; CPU 1 then switches to a kernel thread (lazy) and
 * CPU 0 unmaps: the flush skips the lazy CPU. */
const char lazy_trace[] =
    "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2,\"name\":\"lazy\"}\n"
    "{\"op\":\"mm_new\",\"mm\":1}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x40000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":32,\"kind\":\"r\"}\n"
    "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":32,\"kind\":\"r\"}\n"
    "{\"op\":\"mark\",\"label\":\"cpu1 goes lazy\"}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":null}\n"
    "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x4000\",\"gap\":2000}\n"
    "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x7f0000010000\",\"stride\":4096,\"count\":16,\"kind\":\"w\"}\n";

/* Three CPUs: 0 and 1 run mm 1, 2 goes lazy; kernel text is global.  CPU 0
 * unmaps while CPU 1 keeps running: one IPI to CPU 1, CPU 2 skipped. */
const char ipi_trace[] =
    "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":3,\"name\":\"ipi\"}\n"
    "{\"op\":\"mm_new\",\"mm\":1}\n"
    "{\"op\":\"map\",\"mm\":\"kernel\",\"va\":\"0xffffffff81000000\",\"len\":\"0x400000\",\"page\":\"2m\",\"prot\":\"rx\",\"global\":true}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x100000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":2,\"mm\":1}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":[\"0xffffffff81000000\"],\"kind\":\"x\"}\n"
    "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":20,\"kind\":\"r\"}\n"
    "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":20,\"kind\":\"r\"}\n"
    "{\"op\":\"stream\",\"cpu\":2,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":20,\"kind\":\"r\"}\n"
    "{\"op\":\"mark\",\"label\":\"go\"}\n"
    "{\"op\":\"switch\",\"cpu\":2,\"mm\":null}\n"
    "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":200,\"kind\":\"r\",\"gap\":100}\n"
    "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x4000\",\"gap\":1500}\n"
    "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x7f0000010000\",\"stride\":4096,\"count\":30,\"kind\":\"w\"}\n";

/* Six CPUs: 0 and 1 run mm 1, 2 and 3 go lazy on mm 1, 4 goes lazy on
 * mm 2 (not in mm 1's cpumask), 5 runs mm 2.  CPU 0's unmap of mm 1 sends
 * CPU 1 an IPI and skips exactly the lazy CPUs 2 and 3. */
static const char lazy6_trace[] =
    "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":6,\"name\":\"lazy6\"}\n"
    "{\"op\":\"mm_new\",\"mm\":1}\n"
    "{\"op\":\"mm_new\",\"mm\":2}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x100000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
    "{\"op\":\"map\",\"mm\":2,\"va\":\"0x7f0000000000\",\"len\":\"0x100000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":2,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":3,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":4,\"mm\":2}\n"
    "{\"op\":\"switch\",\"cpu\":5,\"mm\":2}\n"
    "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":8,\"kind\":\"r\"}\n"
    "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":8,\"kind\":\"r\"}\n"
    "{\"op\":\"stream\",\"cpu\":2,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":8,\"kind\":\"r\"}\n"
    "{\"op\":\"stream\",\"cpu\":3,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":8,\"kind\":\"r\"}\n"
    "{\"op\":\"stream\",\"cpu\":4,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":8,\"kind\":\"r\"}\n"
    "{\"op\":\"stream\",\"cpu\":5,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":8,\"kind\":\"r\"}\n"
    "{\"op\":\"mark\",\"label\":\"go lazy\"}\n"
    "{\"op\":\"switch\",\"cpu\":2,\"mm\":null}\n"
    "{\"op\":\"switch\",\"cpu\":3,\"mm\":null}\n"
    "{\"op\":\"switch\",\"cpu\":4,\"mm\":null}\n"
    "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":200,\"kind\":\"r\",\"gap\":100}\n"
    "{\"op\":\"stream\",\"cpu\":5,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":200,\"kind\":\"r\",\"gap\":100}\n"
    "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x4000\",\"gap\":1500}\n"
    "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x7f0000010000\",\"stride\":4096,\"count\":30,\"kind\":\"w\"}\n";

/* CPU 1 runs mm 1, then waits idle for `t` (60000), then does `gap` work
 * (40000) before its next op, then idles in C1 for a `gap` of 30000.  CPU
 * 0 keeps the engine busy meanwhile: it runs ahead of CPU 1 on its own
 * clock, so at a cycle inside a wait CPU 1's clock is still behind it. */
static const char wait_head[] =
    "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2,\"name\":\"wait\"}\n"
    "{\"op\":\"mm_new\",\"mm\":1}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x40000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":16,\"kind\":\"r\"}\n"
    "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":16,\"kind\":\"r\",\"t\":60000}\n"
    "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":16,\"kind\":\"r\",\"gap\":40000}\n"
    "{\"op\":\"idle\",\"cpu\":1,\"cstate\":1}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1,\"gap\":30000}\n";

static const char *wait_trace(void)
{
    static char text[8192];
    size_t n = (size_t)snprintf(text, sizeof(text), "%s", wait_head);

    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x7f0000000000\","
                              "\"stride\":4096,\"count\":16,\"kind\":\"r\",\"gap\":5000}\n");
    return text;
}

/* What the engine's hooks report for a trace, run without tlbviz. */
struct oracle {
    struct { u32 cpu, nr; cycles_t t0, t1; } irq[256];
    u32 nr_irq;
    struct { u32 initiator, skipped_lazy; cycles_t t; struct cpumask lazy; } req[32];
    u32 nr_req;
};

static void oracle_irq(void *arg, u32 cpu, cycles_t t0, cycles_t t1, u32 nr)
{
    struct oracle *o = arg;

    cr_assert_lt(o->nr_irq, 256);
    o->irq[o->nr_irq].cpu = cpu;
    o->irq[o->nr_irq].nr = nr;
    o->irq[o->nr_irq].t0 = t0;
    o->irq[o->nr_irq++].t1 = t1;
}

static void oracle_flush_start(void *arg, const struct flush_rec *r,
                               const struct cpumask *targets, const struct cpumask *lazy)
{
    struct oracle *o = arg;

    (void)targets;
    cr_assert_lt(o->nr_req, 32);
    o->req[o->nr_req].initiator = r->initiator;
    o->req[o->nr_req].skipped_lazy = r->skipped_lazy;
    o->req[o->nr_req].t = r->t_request;
    o->req[o->nr_req++].lazy = *lazy;
}

/* The trace at path on the default machine, as tlbviz sets it up. */
static void oracle_run(const char *path, const char *policy, struct oracle *o)
{
    struct trace_reader *r;
    struct trace_header hdr;
    struct machine m;
    struct sim_err err = { 0 };
    struct sim *s;

    memset(o, 0, sizeof(*o));
    cr_assert_eq(trace_open(path, &r, &hdr, &err), SIM_OK, "%s", err.msg);
    machine_init(&m);
    cr_assert_eq(model_load_for_run(NULL, NULL, 0, hdr.cpus, &m, &err), SIM_OK, "%s", err.msg);
    struct sim_config cfg = {
        .m = &m, .pol = flush_policy_find(policy ? policy : "linux"), .src = trace_src(r),
        .hdr = &hdr, .trace_path = path,
        .hooks = { .arg = o, .irq = oracle_irq, .flush_start = oracle_flush_start },
    };
    cr_assert_eq(sim_create(&cfg, &s, &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(sim_run(s, CYCLES_NEVER, &err), 0, "%s", err.msg);
    sim_destroy(s);
}

/* 1234567 -> "1,234,567", as the tooltips print cycles. */
static const char *commas(char *buf, u64 n)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)n), o = 0;

    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
    return buf;
}

struct viz *open_trace(const char *text, const char *policy)
{
    struct viz_opts o = { .trace = write_file("t.jsonl", text), .policy = policy, .quiet = true };
    struct sim_err err = { 0 };
    struct viz *v = NULL;

    cr_assert_eq(viz_open(&o, &v, &err), SIM_OK, "viz_open: %s", err.msg);
    return v;
}

void render(struct viz *v, const struct viz_view *view, struct viz_fb *fb)
{
    cr_assert_eq(viz_fb_init(fb, W, H), SIM_OK);
    viz_render(v, view, fb);
}

/* Pixels of colour col inside r. */
u32 count_col(const struct viz_fb *fb, const struct viz_rect *r, u32 col)
{
    u32 n = 0;

    for (int y = r->y; y < r->y + r->h; y++)
        for (int x = r->x; x < r->x + r->w; x++)
            n += viz_fb_get(fb, x, y) == col;
    return n;
}

/* Play forward in small steps until an IPI is in flight at the shown
 * cycle; false if the run ends first. */
bool step_to_ipi(struct viz *v)
{
    struct sim_err err = { 0 };

    while (!viz_ipis_in_flight(v)) {
        if (viz_time(v) >= viz_end(v))
            return false;
        cr_assert_eq(viz_seek(v, viz_time(v) + 20, &err), SIM_OK, "viz_seek: %s", err.msg);
    }
    return true;
}

TestSuite(viz, .init = h_tmpdir_setup, .fini = h_tmpdir_teardown);

/* ==== the lanes ============================================================ */

Test(viz, lazy_cpu_lane_in_lazy_colour)
{
    struct viz *v = open_trace(lazy_trace, NULL);
    struct viz_view view;
    struct viz_fb fb;
    struct viz_rect r0, r1;
    struct sim_err err = { 0 };
    cycles_t t = viz_end(v);
    s64 mm;

    cr_assert_eq(viz_seek(v, t, &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(viz_lane_kind_at(v, 1, t, &mm), VK_LAZY);
    cr_assert_eq(mm, 1, "the lazy CPU still borrows mm 1");
    viz_view_default(v, &view);
    render(v, &view, &fb);
    cr_assert(viz_lane_rect(v, &view, &fb, 1, &r1));
    cr_assert(viz_lane_rect(v, &view, &fb, 0, &r0));
    int x = viz_lane_x(v, &view, &fb, t) - 3;
    cr_assert(x > r1.x && x < r1.x + r1.w);
    /* Top rows of the band: clear of the text drawn in its middle. */
    cr_assert_eq(viz_fb_get(&fb, x, r1.y + 2), VIZ_COL_LAZY,
                 "CPU 1's lane at the current cycle: %06x", viz_fb_get(&fb, x, r1.y + 2));
    cr_assert_neq(viz_fb_get(&fb, x, r0.y + 2), VIZ_COL_LAZY, "CPU 0 is not lazy");
    cr_assert_neq(viz_lane_kind_at(v, 0, t, &mm), VK_LAZY);
    viz_fb_free(&fb);
    viz_close(v);
}

Test(viz, lane_before_lazy_is_user_colour)
{
    struct viz *v = open_trace(lazy_trace, NULL);
    struct viz_view view;
    struct viz_fb fb;
    struct viz_rect r1;
    struct sim_err err = { 0 };
    s64 mm;

    cr_assert_eq(viz_seek(v, viz_end(v), &err), SIM_OK);
    viz_view_default(v, &view);
    view.span = viz_end(v) + 100;       /* the whole run in the chart */
    render(v, &view, &fb);
    cr_assert(viz_lane_rect(v, &view, &fb, 1, &r1));
    /* Early on CPU 1 ran mm 1 (its walks are yellow, the rest mm 1's colour). */
    u32 user = count_col(&fb, &r1, viz_mm_color(1)), lazy = count_col(&fb, &r1, VIZ_COL_LAZY);
    cr_assert_gt(user, 50);
    cr_assert_gt(lazy, 50);
    cr_assert_eq(viz_lane_kind_at(v, 1, 1, &mm) == VK_USER || viz_lane_kind_at(v, 1, 1, &mm) == VK_WALK,
                 true);
    viz_fb_free(&fb);
    viz_close(v);
}

Test(viz, ipi_arrow_while_in_flight)
{
    struct viz *v = open_trace(ipi_trace, NULL);
    struct viz_view view;
    struct viz_fb fb;
    struct viz_rect chart, r0, r2;
    struct sim_err err = { 0 };

    cr_assert(step_to_ipi(v), "the unmap sends an IPI to CPU 1");
    viz_view_default(v, &view);
    render(v, &view, &fb);
    cr_assert(viz_lane_rect(v, &view, &fb, 0, &r0));
    cr_assert(viz_lane_rect(v, &view, &fb, 2, &r2));
    chart = (struct viz_rect){ r0.x, r0.y, r0.w, r2.y + r2.h - r0.y };
    cr_assert_gt(count_col(&fb, &chart, VIZ_COL_IPI), 10, "an IPI arrow is drawn");
    viz_fb_free(&fb);

    /* At the end nothing is in flight: no bright arrow in the lanes. */
    cr_assert_eq(viz_seek(v, viz_end(v), &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(viz_ipis_in_flight(v), 0);
    render(v, &view, &fb);
    cr_assert_eq(count_col(&fb, &chart, VIZ_COL_IPI), 0);
    viz_fb_free(&fb);
    viz_close(v);
}

Test(viz, spinning_initiator_and_skipped_lazy_cpu)
{
    struct viz *v = open_trace(ipi_trace, NULL);
    struct viz_view view;
    struct viz_fb fb;
    struct viz_rect r0, r2;
    struct sim_err err = { 0 };
    char tip[512];
    s64 mm;

    cr_assert(step_to_ipi(v));
    cycles_t sent = viz_time(v);
    /* Run on until the initiator spins, i.e. its own flush is done. */
    while (viz_lane_kind_at(v, 0, viz_time(v), &mm) != VK_SPIN && viz_ipis_in_flight(v))
        cr_assert_geq(viz_seek(v, viz_time(v) + 10, &err), 0);
    /* A little into the spin, so the last pixel column is all spin (the
     * acknowledgements take thousands of cycles: csd_lock_wait). */
    cr_assert_geq(viz_seek(v, viz_time(v) + 300, &err), 0);
    cr_assert_eq(viz_lane_kind_at(v, 0, viz_time(v), &mm), VK_SPIN);
    viz_view_default(v, &view);
    render(v, &view, &fb);
    cr_assert(viz_lane_rect(v, &view, &fb, 0, &r0));
    cr_assert(viz_lane_rect(v, &view, &fb, 2, &r2));
    int x = viz_lane_x(v, &view, &fb, viz_time(v)) - 1;
    cr_assert_eq(viz_fb_get(&fb, x, r0.y + 2), VIZ_COL_SPIN);
    /* The skipped lazy CPU is marked near the request; hovering explains it. */
    bool found = false;
    for (int dx = -60; dx <= 0 && !found; dx++) {
        int sx = viz_lane_x(v, &view, &fb, sent) + dx;
        found = viz_describe(v, &view, &fb, sx, r2.y + r2.h / 2, tip, sizeof(tip)) &&
                strstr(tip, "was lazy");
    }
    cr_assert(found, "a skip mark on CPU 2's lane");
    viz_fb_free(&fb);
    viz_close(v);
}

/* A flush interrupt's span [t0, t1) from the engine's irq hook is drawn
 * in the handler colour over exactly the columns of [t0, t1), on the lane
 * of the CPU that took it; every handler-coloured column of any lane lies
 * in a span the engine reported for that CPU.  The IPI it took is
 * "handled at" the span's start. */
Test(viz, handler_span_drawn_exactly)
{
    static struct oracle o;
    const char *path = write_file("t.jsonl", ipi_trace);
    struct viz_view view;
    struct viz_fb fb;
    struct viz_rect r;
    struct sim_err err = { 0 };
    char tip[512], want[64], n[32];
    u32 h = UINT32_MAX;
    s64 mm;

    oracle_run(path, NULL, &o);
    for (u32 i = 0; i < o.nr_irq && h == UINT32_MAX; i++)
        if (o.irq[i].cpu == 1 && o.irq[i].nr == 1)
            h = i;
    cr_assert_neq(h, UINT32_MAX, "CPU 1 takes the flush IPI");
    cycles_t t0 = o.irq[h].t0, t1 = o.irq[h].t1, len = t1 - t0;
    cr_assert_gt(len, 100);

    struct viz *v = open_trace(ipi_trace, NULL);
    cr_assert_eq(viz_seek(v, t1 + len, &err), SIM_OK, "%s", err.msg);
    viz_view_default(v, &view);
    view.span = 8 * len;
    render(v, &view, &fb);
    cr_assert_eq(viz_lane_kind_at(v, 1, t0, &mm), VK_HANDLER);
    cr_assert_eq(viz_lane_kind_at(v, 1, t1 - 1, &mm), VK_HANDLER);
    cr_assert_neq(viz_lane_kind_at(v, 1, t0 - 1, &mm), VK_HANDLER);
    cr_assert_neq(viz_lane_kind_at(v, 1, t1, &mm), VK_HANDLER);

    /* The bottom row of the band: clear of ticks, labels and arrows. */
    cr_assert(viz_lane_rect(v, &view, &fb, 1, &r));
    int y = r.y + r.h - 2, x0 = viz_lane_x(v, &view, &fb, t0), x1 = viz_lane_x(v, &view, &fb, t1);
    cr_assert_gt(x1 - x0, 40, "the span is wide enough to check");
    for (int x = x0; x < x1; x++)
        cr_assert_eq(viz_fb_get(&fb, x, y), VIZ_COL_HANDLER, "column %d of [%d, %d)", x, x0, x1);
    cr_assert_neq(viz_fb_get(&fb, x0 - 1, y), VIZ_COL_HANDLER);
    cr_assert_neq(viz_fb_get(&fb, x1, y), VIZ_COL_HANDLER);

    /* No handler colour anywhere the engine reported no interrupt. */
    for (u32 c = 0; c < viz_nr_cpus(v); c++) {
        cr_assert(viz_lane_rect(v, &view, &fb, c, &r));
        for (int x = r.x; x < r.x + r.w; x++) {
            if (viz_fb_get(&fb, x, r.y + r.h - 2) != VIZ_COL_HANDLER)
                continue;
            bool covered = false;
            for (u32 i = 0; i < o.nr_irq && !covered; i++) {
                int a = viz_lane_x(v, &view, &fb, o.irq[i].t0);
                int b = viz_lane_x(v, &view, &fb, o.irq[i].t1);
                covered = o.irq[i].cpu == c && x >= a && x < (b > a ? b : a + 1);
            }
            cr_assert(covered, "CPU %u column %d: handler colour without an interrupt", c, x);
        }
    }

    /* The IPI CPU 0 sent: handled when the interrupt started. */
    snprintf(want, sizeof(want), "handled at %s", commas(n, t0));
    struct viz_rect r0;
    cr_assert(viz_lane_rect(v, &view, &fb, 0, &r0));
    bool found = false;
    for (int x = x0; x > x0 - 300 && !found; x--)
        found = viz_describe(v, &view, &fb, x, (r0.y + r0.h / 2 + r.y) / 2 + 40, tip, sizeof(tip)) &&
                strstr(tip, "flush IPI CPU 0 -> CPU 1");
    (void)r;
    cr_assert(found, "the IPI arrow from CPU 0 to CPU 1");
    cr_assert(strstr(tip, want), "want '%s' in: %s", want, tip);
    viz_fb_free(&fb);
    viz_close(v);
}

/* Skip marks sit exactly on the CPUs of the lazy mask the engine's
 * flush_start hook reported, at the request's cycle, and nowhere else: not
 * on CPU 4, lazy on another mm, nor on the CPUs running either mm. */
Test(viz, skip_marks_exactly_on_the_lazy_mask)
{
    static struct oracle o;
    const char *path = write_file("t.jsonl", lazy6_trace);
    struct viz_view view;
    struct viz_fb fb;
    struct viz_rect r;
    struct sim_err err = { 0 };
    char tip[512];
    u32 q = UINT32_MAX;

    oracle_run(path, NULL, &o);
    for (u32 i = 0; i < o.nr_req; i++)
        if (o.req[i].skipped_lazy) {
            cr_assert_eq(q, UINT32_MAX, "one request skips lazy CPUs");
            q = i;
        }
    cr_assert_neq(q, UINT32_MAX);
    cr_assert_eq(o.req[q].initiator, 0);
    cr_assert_eq(cpumask_weight(&o.req[q].lazy), 2);
    cr_assert(cpumask_test_cpu(2, &o.req[q].lazy) && cpumask_test_cpu(3, &o.req[q].lazy));

    struct viz *v = open_trace(lazy6_trace, NULL);
    cr_assert_eq(viz_seek(v, viz_end(v), &err), SIM_OK, "%s", err.msg);
    viz_view_default(v, &view);
    view.span = viz_end(v) + 100;
    render(v, &view, &fb);
    int x = viz_lane_x(v, &view, &fb, o.req[q].t);
    for (u32 c = 0; c < 6; c++) {
        cr_assert(viz_lane_rect(v, &view, &fb, c, &r));
        int y = r.y + r.h / 2;
        struct viz_rect box = { x - 6, y - 6, 13, 13 };
        bool lazy = cpumask_test_cpu(c, &o.req[q].lazy);
        u32 dark = count_col(&fb, &box, 0x101216);
        if (lazy)
            cr_assert_gt(dark, 100, "CPU %u: the boxed cross (%u dark pixels)", c, dark);
        else
            cr_assert_eq(dark, 0, "CPU %u: no mark", c);
        bool said = viz_describe(v, &view, &fb, x, y, tip, sizeof(tip)) && strstr(tip, "was lazy");
        cr_assert_eq(said, lazy, "CPU %u: %s", c, tip);
    }
    viz_fb_free(&fb);
    viz_close(v);
}

/* Beyond a CPU's own clock the lane shows what sim_cpu_waiting() says:
 * idling for `t` in the darker mm colour, `gap` work in the mm colour, and
 * an idle CPU's `gap` as idle.  Once the engine gets there, the history
 * of those cycles shows the same. */
Test(viz, waiting_for_t_gap_work_and_idle)
{
    const char *text = wait_trace();
    struct viz *v = open_trace(text, NULL);
    struct viz_view view;
    struct viz_fb fb;
    struct viz_rect r;
    struct sim_err err = { 0 };
    const struct { cycles_t at, probe; enum viz_kind k; } cases[] = {
        { 3000, 2000, VK_USER_WAIT },   /* before the t: 60000 op */
        { 61000, 60500, VK_USER },      /* in the gap: 40000 before the next */
        { 101000, 100500, VK_IDLE },    /* idle in C1, gap: 30000 */
    };
    s64 mm;

    viz_view_default(v, &view);
    view.span = 20000;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(viz_seek(v, cases[i].at, &err), SIM_OK, "%s", err.msg);
        cycles_t until;
        bool busy;
        sim_cpu_waiting(viz_sim(v), 1, &until, &busy);
        cr_assert_gt(until, cases[i].at, "case %zu: CPU 1 is still waiting", i);
        cr_assert_lt(sim_cpu(viz_sim(v), 1)->now, cases[i].probe, "case %zu: behind its wait", i);
        cr_assert_eq(busy, cases[i].k == VK_USER, "case %zu: a gap after idle is idle", i);
        cr_assert_eq(viz_lane_kind_at(v, 1, cases[i].probe, &mm), cases[i].k, "case %zu", i);
        render(v, &view, &fb);
        cr_assert(viz_lane_rect(v, &view, &fb, 1, &r));
        int x = viz_lane_x(v, &view, &fb, cases[i].probe);
        u32 want = viz_kind_color(cases[i].k, 1);
        cr_assert_eq(viz_fb_get(&fb, x, r.y + 2), want, "case %zu: %06x, want %06x", i,
                     viz_fb_get(&fb, x, r.y + 2), want);
        viz_fb_free(&fb);
    }
    cr_assert_eq(viz_seek(v, viz_end(v), &err), SIM_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(viz_lane_kind_at(v, 1, cases[i].probe, &mm), cases[i].k,
                     "history of case %zu", i);
    viz_close(v);
}

Test(viz, legend_shows_the_lane_colours)
{
    struct viz *v = open_trace(lazy_trace, NULL);
    struct viz_view view;
    struct viz_fb fb;
    struct viz_rect r;
    const u32 cols[] = { VIZ_COL_LAZY, VIZ_COL_HANDLER, VIZ_COL_SPIN, VIZ_COL_WALK,
                         VIZ_COL_IDLE, VIZ_COL_KTHREAD, VIZ_COL_IPI, VIZ_COL_FLUSH_FULL };

    viz_view_default(v, &view);
    render(v, &view, &fb);
    viz_legend_rect(v, &view, &fb, &r);
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        cr_assert_gt(count_col(&fb, &r, cols[i]), 20, "legend colour %06x", cols[i]);
    cr_assert_gt(count_col(&fb, &r, VIZ_COL_TEXT), 50, "legend title");
    cr_assert_gt(count_col(&fb, &r, VIZ_COL_DIM), 500, "legend text");
    viz_fb_free(&fb);
    viz_close(v);
}

Test(viz, tlb_bars_mark_global_entries)
{
    struct viz *v = open_trace(ipi_trace, NULL);
    struct viz_view view;
    struct viz_fb fb;
    struct viz_rect r;
    struct sim_err err = { 0 };
    char tip[512];

    cr_assert_eq(viz_seek(v, viz_end(v), &err), SIM_OK);
    viz_view_default(v, &view);
    render(v, &view, &fb);
    cr_assert(viz_tlb_rect(v, &view, &fb, 0, &r));
    cr_assert_gt(count_col(&fb, &r, VIZ_COL_GLOBAL), 3, "kernel text: hatched global entries");
    cr_assert_gt(count_col(&fb, &r, viz_mm_color(1)), 20, "mm 1's entries");
    cr_assert(viz_describe(v, &view, &fb, r.x + 100, r.y + 6, tip, sizeof(tip)));
    cr_assert(strstr(tip, "L1D 4K"), "tooltip: %s", tip);
    cr_assert(strstr(tip, "mm 1:"), "tooltip: %s", tip);
    cr_assert_null(strstr(tip, "mm -"), "every entry's mm is known (sim_mm_id): %s", tip);
    viz_fb_free(&fb);
    viz_close(v);
}

Test(viz, timeline_strip_and_hover)
{
    struct viz *v = open_trace(lazy_trace, NULL);
    struct viz_view view;
    struct viz_fb fb;
    struct viz_rect r;
    char tip[512];

    viz_view_default(v, &view);
    render(v, &view, &fb);
    viz_timeline_rect(v, &view, &fb, &r);
    cr_assert_gt(count_col(&fb, &r, VIZ_COL_MARK), 10, "the trace's mark");
    cr_assert_eq(viz_timeline_time(v, &view, &fb, r.x), 0);
    cr_assert_eq(viz_timeline_time(v, &view, &fb, r.x + r.w - 1), viz_end(v));
    cr_assert(viz_describe(v, &view, &fb, r.x + r.w / 2, r.y + r.h / 2, tip, sizeof(tip)));
    /* A hover tooltip is drawn in the frame. */
    viz_fb_free(&fb);
    view.hover_x = r.x + r.w / 2;
    view.hover_y = r.y + 20;
    cr_assert_eq(viz_fb_init(&fb, W, H), SIM_OK);
    viz_render(v, &view, &fb);
    struct viz_rect around = { view.hover_x, view.hover_y, 300, 60 };
    cr_assert_gt(count_col(&fb, &around, 0x2a303c), 100, "tooltip box");
    viz_fb_free(&fb);
    viz_close(v);
}

Test(viz, help_overlay)
{
    struct viz *v = open_trace(lazy_trace, NULL);
    struct viz_view view;
    struct viz_fb fb;
    struct viz_rect mid = { W / 2 - 100, H / 2 - 40, 200, 80 };

    viz_view_default(v, &view);
    view.help = true;
    render(v, &view, &fb);
    cr_assert_gt(count_col(&fb, &mid, 0x232833), 1000, "help box");
    cr_assert_gt(count_col(&fb, &mid, 0xc8d0dc), 50, "help text");
    viz_fb_free(&fb);
    viz_close(v);
}

/* ==== fitting the view, jumping, labels, scale ==================================== */

#define SPARSE_GAP 1000000000ull        /* cycles between the sparse trace's flushes */
#define SPARSE_N 5

/* Two CPUs on mm 1; CPU 0 unmaps one page at cycles 1e9, 2e9, ... 5e9 and
 * nothing else happens in between: a recorded trace of a mostly idle
 * machine looks like this. */
static const char *sparse_trace(void)
{
    static char text[4096];
    size_t n = (size_t)snprintf(text, sizeof(text),
        "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2,\"name\":\"sparse\"}\n"
        "{\"op\":\"mm_new\",\"mm\":1}\n"
        "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x100000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
        "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
        "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
        "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":16,\"kind\":\"r\"}\n"
        "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":16,\"kind\":\"r\"}\n");
    for (int k = 1; k <= SPARSE_N; k++)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f00000%02x000\","
                              "\"len\":\"0x1000\",\"t\":%llu}\n", k, k * SPARSE_GAP);
    return text;
}

/* Pixels of flush-bar colour in the row above cpu's band (flush bars and
 * their labels). */
static u32 bracket_pixels(struct viz *v, const struct viz_view *view, const struct viz_fb *fb,
                          u32 cpu)
{
    struct viz_rect r;

    cr_assert(viz_lane_rect(v, view, fb, cpu, &r));
    struct viz_rect row = { r.x, r.y - 12, r.w, 12 };
    return count_col(fb, &row, VIZ_COL_FLUSH_PART) + count_col(fb, &row, VIZ_COL_FLUSH_FULL);
}

/* The fitted span shows a flush at any moment of a sparse trace, even
 * halfway between two flushes 1e9 cycles apart, where a span of a few
 * shootdowns shows nothing; the fitted speed plays it in about a minute.
 * Expected by hand: the history h with 3/4 of the cycles from the first
 * request on covered is 3/4 of a gap (4 gaps of 1e9, and a short tail),
 * the span h / 0.8 = 0.9375e9, the speed a span per 10 s. */
Test(viz, fitted_span_shows_a_sparse_trace)
{
    struct viz *v = open_trace(sparse_trace(), NULL);
    struct viz_view view, narrow;
    struct viz_fb fb;
    struct sim_err err = { 0 };

    cr_assert_geq(viz_end(v), SPARSE_N * SPARSE_GAP);
    cr_assert_lt(viz_end(v), SPARSE_N * SPARSE_GAP + 10000000);
    cr_assert(viz_default_span(v) > 930000000 && viz_default_span(v) < 940000000,
              "span %llu", (unsigned long long)viz_default_span(v));
    cr_assert_float_eq(viz_default_speed(v), (double)viz_default_span(v) / 10, 1.0);
    cr_assert_leq((double)viz_end(v) / viz_default_speed(v), 60.0, "plays within a minute");
    viz_view_default(v, &view);
    cr_assert_eq(view.span, viz_default_span(v));
    narrow = view;
    narrow.span = 100000;
    for (int k = 1; k < SPARSE_N; k++) {
        cycles_t mid = k * SPARSE_GAP + SPARSE_GAP / 2;
        cr_assert_eq(viz_seek(v, mid, &err), SIM_OK, "%s", err.msg);
        render(v, &view, &fb);
        cr_assert_gt(bracket_pixels(v, &view, &fb, 0), 20, "flush %d seen from cycle %llu", k,
                     (unsigned long long)mid);
        viz_fb_free(&fb);
        render(v, &narrow, &fb);
        cr_assert_eq(bracket_pixels(v, &narrow, &fb, 0), 0, "a narrow span shows nothing");
        viz_fb_free(&fb);
    }
    viz_close(v);
}

/* f / F: every flush request in turn, the request on the chart and its
 * completion in the history; then back again. */
Test(viz, seek_flush_visits_every_request)
{
    struct viz *v = open_trace(sparse_trace(), NULL);
    struct viz_view view;
    struct viz_fb fb;
    struct sim_err err = { 0 };
    cycles_t at[SPARSE_N];
    int k;

    viz_view_default(v, &view);
    for (k = 0; k < SPARSE_N; k++) {
        cr_assert_eq(viz_seek_flush(v, view.span, 1, &err), 1, "jump %d: %s", k, err.msg);
        at[k] = viz_time(v);
        cr_assert_gt(at[k], (k + 1) * SPARSE_GAP, "after request %d", k + 1);
        cr_assert_lt(at[k], (k + 1) * SPARSE_GAP + (cycles_t)(0.6 * view.span) + 1);
        render(v, &view, &fb);
        int x = viz_lane_x(v, &view, &fb, (k + 1) * SPARSE_GAP);
        struct viz_rect r;
        cr_assert(viz_lane_rect(v, &view, &fb, 0, &r));
        cr_assert(x > r.x + r.w / 10 && x <= r.x + r.w * 8 / 10 + 1,
                  "the request is on the chart: x %d in [%d, %d), at %llu", x, r.x, r.x + r.w,
                  (unsigned long long)at[k]);
        cr_assert_gt(bracket_pixels(v, &view, &fb, 0), 20);
        viz_fb_free(&fb);
    }
    cr_assert_eq(viz_seek_flush(v, view.span, 1, &err), 0, "no request after the last");
    for (k = SPARSE_N - 2; k >= 0; k--) {
        cr_assert_eq(viz_seek_flush(v, view.span, -1, &err), 1, "%s", err.msg);
        cr_assert_eq(viz_time(v), at[k], "back to request %d", k + 1);
    }
    cr_assert_eq(viz_seek_flush(v, view.span, -1, &err), 0, "none before the first");
    /* Moved by hand: "next" counts from the current cycle. */
    cr_assert_eq(viz_seek(v, 3 * SPARSE_GAP + 5, &err), SIM_OK);
    cr_assert_eq(viz_seek_flush(v, view.span, 1, &err), 1);
    cr_assert_eq(viz_time(v), at[3]);
    viz_close(v);
}

/* CPU 1 goes lazy on mm 1 while CPU 0 unmaps mm 1 eight times, 1,500
 * cycles apart: eight skip marks close together on CPU 1's lane. */
const char *skips_trace(void)
{
    static char text[4096];
    size_t n = (size_t)snprintf(text, sizeof(text),
        "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":3,\"name\":\"skips\"}\n"
        "{\"op\":\"mm_new\",\"mm\":1}\n"
        "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x100000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
        "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
        "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
        "{\"op\":\"switch\",\"cpu\":2,\"mm\":1}\n"
        "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":8,\"kind\":\"r\"}\n"
        "{\"op\":\"switch\",\"cpu\":1,\"mm\":null}\n"
        "{\"op\":\"stream\",\"cpu\":2,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":400,\"kind\":\"r\",\"gap\":100}\n");
    for (int k = 0; k < 8; k++)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f00000%02x000\","
                              "\"len\":\"0x%x000\",\"gap\":1500}\n", k + 0x10, k < 4 ? 1 : 2);
    return text;
}

static bool boxes_meet(const struct viz_rect *a, const struct viz_rect *b)
{
    return a->x < b->x + b->w && b->x < a->x + a->w && a->y < b->y + b->h && b->y < a->y + a->h;
}

/* No two labels of the lane chart overlap, nor a label and a skip mark;
 * the skips on CPU 1 collapse into counted labels ("3x skipped: lazy")
 * whose counts add up to the engine's skips; flush labels of different
 * sizes collapse into "N flushes". */
Test(viz, labels_collapse_and_never_overlap)
{
    struct viz *v = open_trace(skips_trace(), NULL);
    struct viz_label lab[256];
    struct viz_label_log log = { lab, 256, 0 };
    struct viz_view view;
    struct viz_fb fb;
    struct viz_rect r1;
    struct sim_err err = { 0 };
    struct sim_totals t;
    u32 skips = 0, counted = 0, collapsed = 0, flushes = 0;
    char want[64];

    /* Just after the last flush, all of them on the chart. */
    cr_assert_eq(viz_seek(v, 60000, &err), SIM_OK, "%s", err.msg);
    sim_totals(viz_sim(v), &t);
    cr_assert_eq(t.ipis_skipped_lazy, 8, "the lazy CPU is skipped by every flush");
    viz_view_default(v, &view);
    view.span = 75000;
    view.labels = &log;
    render(v, &view, &fb);
    cr_assert_gt(log.n, 0);
    cr_assert_leq(log.n, log.cap);
    cr_assert(viz_lane_rect(v, &view, &fb, 1, &r1));
    for (u32 i = 0; i < log.n; i++) {
        for (u32 j = 0; j < i; j++)
            cr_assert_not(boxes_meet(&lab[i].box, &lab[j].box), "'%s' meets '%s'", lab[i].text,
                          lab[j].text);
        if (strstr(lab[i].text, "skipped: lazy")) {
            cr_assert(lab[i].box.y >= r1.y && lab[i].box.y < r1.y + r1.h, "on CPU 1's lane");
            counted += lab[i].count;
            if (lab[i].count > 1) {
                snprintf(want, sizeof(want), "%ux skipped: lazy", lab[i].count);
                cr_assert_str_eq(lab[i].text, want);
                cr_assert_gt(count_col(&fb, &lab[i].box, VIZ_COL_SKIP), 60, "the count is drawn");
                cr_assert_gt(count_col(&fb, &lab[i].box, 0x101216), 200, "on its box");
                collapsed++;
            }
            skips++;
        }
        if (strstr(lab[i].text, "flushes"))
            flushes++;
    }
    cr_assert_gt(collapsed, 0, "some skips collapse into a count");
    cr_assert_eq(counted, t.ipis_skipped_lazy, "every skip is counted once");
    cr_assert_lt(skips, t.ipis_skipped_lazy);
    cr_assert_gt(flushes, 0, "flush labels of different sizes collapse");
    /* No label over a skip mark. */
    static struct oracle o;
    oracle_run(write_file("t.jsonl", skips_trace()), NULL, &o);
    for (u32 q = 0; q < o.nr_req; q++) {
        if (!o.req[q].skipped_lazy)
            continue;
        int x = viz_lane_x(v, &view, &fb, o.req[q].t);
        struct viz_rect mark = { x - 7, r1.y + r1.h / 2 - 7, 15, 15 };
        for (u32 i = 0; i < log.n; i++)
            cr_assert_not(boxes_meet(&mark, &lab[i].box), "'%s' covers a skip mark", lab[i].text);
    }
    viz_fb_free(&fb);
    viz_close(v);
}

/* The registry under every label: a box that meets a placed label or
 * obstacle is refused, whatever kind of label placed it; a row of events
 * collapses while their anchors reach into the group's label. */
Test(viz, label_registry)
{
    static struct viz_labels ls;
    struct viz_label lab[16];
    struct viz_label_log log = { lab, 16, 0 };
    struct viz_fb fb;
    struct viz_run run;

    cr_assert_eq(viz_fb_init(&fb, 400, 100), SIM_OK);
    viz_labels_init(&ls, &log, 1);
    cr_assert(viz_label(&ls, &fb, 10, 10, "first", VIZ_COL_TEXT, VIZ_NO_BG, 1));
    cr_assert_not(viz_label(&ls, &fb, 30, 15, "second", VIZ_COL_TEXT, 0x101216, 1), "overlaps");
    cr_assert(viz_label(&ls, &fb, 10, 30, "second", VIZ_COL_TEXT, 0x101216, 1), "a row below");
    cr_assert(viz_label_block(&ls, &(struct viz_rect){ 200, 10, 15, 15 }));
    cr_assert_not(viz_label(&ls, &fb, 196, 12, "x", VIZ_COL_TEXT, VIZ_NO_BG, 1), "on a mark");
    cr_assert_eq(log.n, 2);
    /* Anchors 20 px apart collapse; one 200 px on starts a new group. */
    viz_run_start(&run, 60, VIZ_COL_SKIP, 0x101216, 5, "things");
    viz_run_add(&run, &ls, &fb, 0, 10, "same");
    viz_run_add(&run, &ls, &fb, 20, 30, "same");
    viz_run_add(&run, &ls, &fb, 40, 50, "same");
    viz_run_add(&run, &ls, &fb, 240, 250, "same");
    viz_run_add(&run, &ls, &fb, 260, 270, "other");
    viz_run_flush(&run, &ls, &fb);
    cr_assert_eq(log.n, 4);
    cr_assert_str_eq(lab[2].text, "3x same");
    cr_assert_eq(lab[2].count, 3);
    cr_assert_eq(lab[2].box.x, 50 + 5 - 2, "right of the last anchor");
    cr_assert_str_eq(lab[3].text, "2 things", "different texts");
    cr_assert_gt(count_col(&fb, &lab[2].box, VIZ_COL_SKIP), 30);
    viz_fb_free(&fb);
}

/* Six marks a few cycles apart share one label in the timeline strip. */
Test(viz, marks_collapse_in_the_strip)
{
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof(text), "%s", lazy_trace);
    struct viz_label lab[64];
    struct viz_label_log log = { lab, 64, 0 };
    struct viz_view view;
    struct viz_fb fb;
    struct viz_rect strip;
    u32 found = 0;

    for (int k = 0; k < 6; k++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "{\"op\":\"mark\",\"label\":\"m%d\"}\n", k);
    struct viz *v = open_trace(text, NULL);
    viz_view_default(v, &view);
    view.labels = &log;
    render(v, &view, &fb);
    viz_timeline_rect(v, &view, &fb, &strip);
    for (u32 i = 0; i < log.n; i++) {
        if (lab[i].box.y < strip.y || lab[i].box.y >= strip.y + strip.h ||
            !strcmp(lab[i].text, "cpu1 goes lazy"))
            continue;
        cr_assert_str_eq(lab[i].text, "6 marks");
        cr_assert_eq(lab[i].count, 6);
        cr_assert_gt(count_col(&fb, &lab[i].box, VIZ_COL_MARK), 40, "drawn");
        found++;
    }
    cr_assert_eq(found, 1, "one label for the six marks (the lazy trace's own mark is apart)");
    viz_fb_free(&fb);
    viz_close(v);
}

/* Text scale 2: every glyph pixel becomes 2x2, the lane chart's labels
 * are twice as high, and a frame too small for it falls back. */
Test(viz, text_scale)
{
    struct viz *v = open_trace(skips_trace(), NULL);
    struct viz_label lab[256];
    struct viz_label_log log = { lab, 256, 0 };
    struct viz_view view;
    struct viz_fb a, b;
    struct sim_err err = { 0 };

    cr_assert_eq(viz_fit_scale(2, 1280, 800), 2);
    cr_assert_eq(viz_fit_scale(3, 1280, 800), 2, "3 needs 1920x1200");
    cr_assert_eq(viz_fit_scale(3, 1920, 1200), 3);
    cr_assert_eq(viz_fit_scale(2, 1000, 700), 1);
    cr_assert_eq(viz_fit_scale(9, 8000, 8000), VIZ_MAX_SCALE);
    cr_assert_eq(viz_fit_scale(0, 1280, 800), 1);
    cr_assert_eq(viz_seek(v, viz_end(v), &err), SIM_OK, "%s", err.msg);
    viz_view_default(v, &view);
    view.span = viz_end(v) + 100;
    render(v, &view, &a);
    view.scale = 2;
    view.labels = &log;
    render(v, &view, &b);
    /* The title "tlbviz" at (8, 4) is drawn at scale 2 * scale. */
    struct viz_rect t1 = { 8, 4, 6 * 6 * 2, 10 * 2 }, t2 = { 8, 4, 6 * 6 * 4, 10 * 4 };
    u32 n1 = count_col(&a, &t1, VIZ_COL_TEXT), n2 = count_col(&b, &t2, VIZ_COL_TEXT);
    cr_assert_gt(n1, 100);
    cr_assert_eq(n2, 4 * n1, "title pixels %u at scale 2, %u at scale 1", n2, n1);
    cr_assert_gt(log.n, 0);
    for (u32 i = 0; i < log.n; i++)
        cr_assert_eq(lab[i].box.h, 2 * VIZ_FONT_H + 1, "'%s' at scale 2", lab[i].text);
    viz_fb_free(&a);
    viz_fb_free(&b);
    viz_close(v);
}

/* ==== time: seeking, stepping, policies ========================================= */

Test(viz, seek_back_is_deterministic)
{
    struct viz *v = open_trace(ipi_trace, NULL);
    struct viz_view view;
    struct viz_fb a, b;
    struct sim_err err = { 0 };
    cycles_t t = viz_end(v) / 2;

    viz_view_default(v, &view);
    cr_assert_eq(viz_seek(v, t, &err), SIM_OK);
    render(v, &view, &a);
    cr_assert_eq(viz_seek(v, viz_end(v), &err), SIM_OK);
    cr_assert_eq(viz_seek(v, t, &err), SIM_OK);
    cr_assert_eq(viz_time(v), t);
    render(v, &view, &b);
    cr_assert_eq(memcmp(a.px, b.px, (size_t)W * H * 4), 0, "same frame after a seek back");
    viz_fb_free(&a);
    viz_fb_free(&b);
    viz_close(v);
}

Test(viz, step_fires_one_event)
{
    struct viz *v = open_trace(lazy_trace, NULL);
    struct sim_err err = { 0 };
    struct sim_totals t0, t1;
    cycles_t last = 0;
    int rc, n = 0;

    while ((rc = viz_step(v, &err)) > 0) {
        cr_assert_geq(viz_time(v), last, "time never goes back");
        last = viz_time(v);
        n++;
    }
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_gt(n, 5);
    cr_assert_eq(viz_time(v), viz_end(v));
    /* The same totals as the engine run to its end by tlbsim. */
    sim_totals(viz_sim(v), &t0);
    cr_assert_eq(t0.flush_requests, 1);
    cr_assert_eq(t0.ipis_skipped_lazy, 1);
    cr_assert_eq(viz_seek(v, 0, &err), SIM_OK);
    sim_totals(viz_sim(v), &t1);
    cr_assert_eq(t1.flush_requests, 0, "seeking to 0 restarts the simulation");
    viz_close(v);
}

Test(viz, policy_switch_restarts)
{
    struct viz *v = open_trace(ipi_trace, "linux");
    struct sim_err err = { 0 };
    struct sim_totals t;
    const char *old = NULL;

    for (size_t i = 0; i < flush_nr_policies; i++)
        if (!flush_policies[i].lazy_skip && flush_policies[i].transport == XPORT_IPI)
            old = flush_policies[i].name;
    cr_assert_not_null(old, "a policy that IPIs lazy CPUs");
    cr_assert_eq(viz_seek(v, viz_end(v), &err), SIM_OK);
    sim_totals(viz_sim(v), &t);
    cr_assert_eq(t.ipis_skipped_lazy, 1);
    cr_assert_eq(viz_set_policy(v, old, &err), SIM_OK, "%s", err.msg);
    cr_assert_str_eq(viz_policy(v), old);
    cr_assert_eq(viz_seek(v, viz_end(v), &err), SIM_OK);
    sim_totals(viz_sim(v), &t);
    cr_assert_eq(t.ipis_skipped_lazy, 0, "%s interrupts the lazy CPU", old);
    cr_assert_geq(t.ipis_sent, 2);
    cr_assert_neq(viz_set_policy(v, "no-such-policy", &err), SIM_OK);
    viz_close(v);
}

Test(viz, render_at_and_sets)
{
    struct viz_opts o = { .trace = write_file("t.jsonl", lazy_trace), .quiet = true,
                          .sets = { "cpus=4" }, .nr_sets = 1 };
    struct sim_err err = { 0 };
    struct viz_fb fb;
    struct viz *v;

    cr_assert_eq(viz_render_at(&o, 1000, NULL, 800, 500, &fb, &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(fb.w, 800);
    cr_assert_eq(fb.h, 500);
    viz_fb_free(&fb);
    cr_assert_eq(viz_open(&o, &v, &err), SIM_OK);
    cr_assert_eq(viz_nr_cpus(v), 4, "--set cpus=4 wins over the trace header");
    viz_close(v);
    o.sets[0] = "tlb.no.such.key=1";
    cr_assert_neq(viz_open(&o, &v, &err), SIM_OK);
    cr_assert_null(v);
    cr_assert(strstr(err.msg, "no.such.key"), "%s", err.msg);
}

Test(viz, bad_input_is_an_error)
{
    struct viz_opts o = { .quiet = true };
    struct sim_err err = { 0 };
    struct viz *v;

    o.trace = write_file("bad.jsonl", "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":1}\n"
                                      "{\"op\":\"mm_new\",\"mm\":1}\n{\"op\":\"bogus\"}\n");
    cr_assert_neq(viz_open(&o, &v, &err), SIM_OK);
    cr_assert(strstr(err.msg, ":3:"), "names the line: %s", err.msg);
    o.trace = "/nonexistent/trace.jsonl";
    cr_assert_neq(viz_open(&o, &v, &err), SIM_OK);
    o.trace = write_file("t.jsonl", lazy_trace);
    o.policy = "nope";
    cr_assert_neq(viz_open(&o, &v, &err), SIM_OK);
    cr_assert(strstr(err.msg, "nope"));
}

Test(viz, many_cpus_fit_or_scroll)
{
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof(text),
        "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":64}\n{\"op\":\"mm_new\",\"mm\":1}\n"
        "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x40000\",\"page\":\"4k\",\"prot\":\"rw\"}\n");
    for (int c = 0; c < 64; c++)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "{\"op\":\"switch\",\"cpu\":%d,\"mm\":1}\n", c);
    snprintf(text + n, sizeof(text) - n,
             "{\"op\":\"flush\",\"cpu\":0,\"mm\":1,\"all\":true}\n");
    struct viz *v = open_trace(text, NULL);
    struct viz_view view;
    struct viz_fb fb;
    struct viz_rect r;
    struct sim_err err = { 0 };

    cr_assert_eq(viz_seek(v, viz_end(v), &err), SIM_OK);
    viz_view_default(v, &view);
    render(v, &view, &fb);
    u32 vis = viz_visible_lanes(v, &view, &fb);
    cr_assert_gt(vis, 8);
    cr_assert(viz_lane_rect(v, &view, &fb, vis - 1, &r));
    cr_assert_lt(r.y + r.h, H);
    if (vis < 64) {
        cr_assert_not(viz_lane_rect(v, &view, &fb, 63, &r));
        view.first_lane = 64 - vis;
        cr_assert(viz_lane_rect(v, &view, &fb, 63, &r));
    }
    viz_fb_free(&fb);
    viz_close(v);
}

/* ==== text ====================================================================== */

Test(viz, font_glyphs)
{
    const u8 *sp = viz_font_glyph(' '), *a = viz_font_glyph('A'), *q = viz_font_glyph(1);
    int ink = 0;

    for (int r = 0; r < 9; r++) {
        cr_assert_eq(sp[r], 0);
        ink += a[r] != 0;
    }
    cr_assert_eq(ink, 7, "'A' has 7 rows of ink");
    cr_assert_eq(q, viz_font_glyph('?'), "unknown characters draw as '?'");
    for (int c = 33; c < 127; c++) {
        const u8 *g = viz_font_glyph(c);
        int any = 0;
        for (int r = 0; r < 9; r++) {
            cr_assert_lt(g[r], 32, "5 columns");
            any |= g[r];
        }
        cr_assert(any, "glyph %d has ink", c);
    }
    cr_assert_eq(viz_text_width("abc", 2), 3 * VIZ_FONT_W * 2);
}
