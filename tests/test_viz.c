/* tests/test_viz.c - tlbviz: frames rendered headlessly through the library
 * (sim/viz/viz.h), checked by their pixels; the PNG writer checked by
 * decoding what it wrote; the command line checked by running it.
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
#include "../sim/viz/viz.h"

#define W 1280
#define H 800

static char dir[64];

static void mkdir_tmp(void)
{
    snprintf(dir, sizeof(dir), "/tmp/tlbviz-test.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rm_tmp(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static const char *write_file(const char *name, const char *text)
{
    static char path[4][128];
    static int k;
    char *p = path[k++ % 4];
    FILE *f;

    snprintf(p, 128, "%s/%s", dir, name);
    f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Two CPUs run mm 1; CPU 1 then switches to a kernel thread (lazy) and
 * CPU 0 unmaps: the flush skips the lazy CPU. */
static const char lazy_trace[] =
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
static const char ipi_trace[] =
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

static struct viz *open_trace(const char *text, const char *policy)
{
    struct viz_opts o = { .trace = write_file("t.jsonl", text), .policy = policy, .quiet = true };
    struct sim_err err = { 0 };
    struct viz *v = NULL;

    cr_assert_eq(viz_open(&o, &v, &err), SIM_OK, "viz_open: %s", err.msg);
    return v;
}

static void render(struct viz *v, const struct viz_view *view, struct viz_fb *fb)
{
    cr_assert_eq(viz_fb_init(fb, W, H), SIM_OK);
    viz_render(v, view, fb);
}

/* Pixels of colour col inside r. */
static u32 count_col(const struct viz_fb *fb, const struct viz_rect *r, u32 col)
{
    u32 n = 0;

    for (int y = r->y; y < r->y + r->h; y++)
        for (int x = r->x; x < r->x + r->w; x++)
            n += viz_fb_get(fb, x, y) == col;
    return n;
}

/* Play forward in small steps until an IPI is in flight at the shown
 * cycle; false if the run ends first. */
static bool step_to_ipi(struct viz *v)
{
    struct sim_err err = { 0 };

    while (!viz_ipis_in_flight(v)) {
        if (viz_time(v) >= viz_end(v))
            return false;
        cr_assert_eq(viz_seek(v, viz_time(v) + 20, &err), SIM_OK, "viz_seek: %s", err.msg);
    }
    return true;
}

TestSuite(viz, .init = mkdir_tmp, .fini = rm_tmp);

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

/* ==== text and PNG ================================================================ */

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

static u32 be32(const u8 *p) { return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3]; }

static u32 crc32_ref(const u8 *p, size_t n)
{
    u32 c = 0xffffffffu;

    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

/* Decode our own PNG (stored blocks only) and compare with the frame. */
Test(viz, png_round_trip)
{
    struct viz_fb fb;
    u8 *png, *raw;
    size_t len, off = 8, nraw = 0;

    cr_assert_eq(viz_fb_init(&fb, 300, 250), SIM_OK);
    for (int y = 0; y < fb.h; y++)
        for (int x = 0; x < fb.w; x++)
            fb.px[y * fb.w + x] = (u32)(x * 7 ^ y * 13) * 2654435761u & 0xffffff;
    cr_assert_eq(viz_png_encode(&fb, &png, &len), SIM_OK);
    cr_assert_eq(memcmp(png, "\x89PNG\r\n\x1a\n", 8), 0);
    raw = malloc((size_t)fb.h * (1 + 3 * fb.w));
    bool idat = false, iend = false;
    while (off + 12 <= len) {
        u32 n = be32(png + off);
        const u8 *type = png + off + 4, *data = png + off + 8;
        cr_assert_eq(be32(png + off + 8 + n), crc32_ref(type, n + 4), "chunk CRC");
        if (!memcmp(type, "IHDR", 4)) {
            cr_assert_eq(be32(data), 300);
            cr_assert_eq(be32(data + 4), 250);
            cr_assert_eq(data[8], 8);
            cr_assert_eq(data[9], 2);
        } else if (!memcmp(type, "IDAT", 4)) {
            size_t p = 2;
            u32 a = 1, b = 0;
            idat = true;
            cr_assert_eq((data[0] * 256 + data[1]) % 31, 0, "zlib header check");
            for (;;) {
                u8 final = data[p];
                u32 bl = data[p + 1] | data[p + 2] << 8, nl = data[p + 3] | data[p + 4] << 8;
                cr_assert_eq(final & 6, 0, "stored block");
                cr_assert_eq(bl ^ 0xffff, nl);
                memcpy(raw + nraw, data + p + 5, bl);
                nraw += bl;
                p += 5 + bl;
                if (final & 1)
                    break;
            }
            for (size_t i = 0; i < nraw; i++) {
                a = (a + raw[i]) % 65521;
                b = (b + a) % 65521;
            }
            cr_assert_eq(be32(data + p), b << 16 | a, "Adler-32");
        } else if (!memcmp(type, "IEND", 4)) {
            iend = true;
        }
        off += 12 + n;
    }
    cr_assert(idat && iend);
    cr_assert_eq(nraw, (size_t)fb.h * (1 + 3 * fb.w));
    for (int y = 0; y < fb.h; y++) {
        const u8 *row = raw + (size_t)y * (1 + 3 * fb.w);
        cr_assert_eq(row[0], 0, "filter none");
        for (int x = 0; x < fb.w; x++) {
            u32 px = (u32)row[1 + 3 * x] << 16 | (u32)row[2 + 3 * x] << 8 | row[3 + 3 * x];
            cr_assert_eq(px, fb.px[y * fb.w + x]);
        }
    }
    free(raw);
    free(png);
    viz_fb_free(&fb);
}

/* ==== the command line ================================================================ */

/* build/tlbviz: $TLBVIZ, else $TLBSIM with the name changed, else ../build. */
static const char *tlbviz_path(void)
{
    static char p[4096];
    const char *e = getenv("TLBVIZ"), *s = getenv("TLBSIM");

    if (e)
        return e;
    snprintf(p, sizeof(p), "%s", s ? s : "../build/tlbsim");
    char *slash = strrchr(p, '/');
    snprintf(slash ? slash + 1 : p, sizeof(p) - (size_t)(slash ? slash + 1 - p : 0), "tlbviz");
    return p;
}

static int run(const char *args)
{
    char cmd[8192];
    int st;

    snprintf(cmd, sizeof(cmd), "%s %s >%s/out.txt 2>%s/err.txt", tlbviz_path(), args, dir, dir);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void need_tlbviz(void)
{
    if (access(tlbviz_path(), X_OK))
        cr_skip_test("%s not built", tlbviz_path());
}

Test(viz, cli_screenshot_png_and_bmp)
{
    char args[1024], path[256];
    struct stat st;
    u8 head[24];
    FILE *f;

    need_tlbviz();
    const char *t = write_file("t.jsonl", ipi_trace);
    snprintf(path, sizeof(path), "%s/shot.png", dir);
    snprintf(args, sizeof(args), "'%s' --screenshot '%s' --at 50%% --size 800x500", t, path);
    cr_assert_eq(run(args), 0);
    f = fopen(path, "rb");
    cr_assert_not_null(f);
    cr_assert_eq(fread(head, 1, sizeof(head), f), sizeof(head));
    fclose(f);
    cr_assert_eq(memcmp(head, "\x89PNG\r\n\x1a\n", 8), 0);
    cr_assert_eq(be32(head + 16), 800);
    cr_assert_eq(be32(head + 20), 500);
    snprintf(path, sizeof(path), "%s/shot.bmp", dir);
    snprintf(args, sizeof(args), "'%s' --screenshot '%s' --at end -q", t, path);
    cr_assert_eq(run(args), 0);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_gt(st.st_size, 1280 * 800 * 3);
}

Test(viz, cli_errors_exit_2)
{
    char args[1024];

    need_tlbviz();
    const char *t = write_file("t.jsonl", lazy_trace);
    cr_assert_eq(run("--help"), 0);
    cr_assert_eq(run(""), 2, "missing TRACE");
    snprintf(args, sizeof(args), "'%s' --policy nope --screenshot x.png", t);
    cr_assert_eq(run(args), 2);
    snprintf(args, sizeof(args), "'%s' --at soon --screenshot x.png", t);
    cr_assert_eq(run(args), 2);
    snprintf(args, sizeof(args), "'%s' --set nope=1 --screenshot x.png", t);
    cr_assert_eq(run(args), 2);
    snprintf(args, sizeof(args), "'%s' --bogus", t);
    cr_assert_eq(run(args), 2);
    snprintf(args, sizeof(args), "'%s/none.jsonl' --screenshot x.png", dir);
    cr_assert_eq(run(args), 2);
    const char *bad = write_file("bad.jsonl", "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":1}\n"
                                              "{\"op\":\"access\",\"cpu\":5,\"va\":\"0x1000\",\"kind\":\"r\"}\n");
    snprintf(args, sizeof(args), "'%s' --screenshot '%s/x.png'", bad, dir);
    cr_assert_eq(run(args), 2);
}
