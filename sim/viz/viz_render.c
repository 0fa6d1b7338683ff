/* sim/viz/viz_render.c - drawing one frame of tlbviz, and what is under the
 * mouse.  Pure software into struct viz_fb; no SDL.
 *
 * Layout (any frame from 640x400 up; 1280x800 by default):
 *
 *   +--------------------------------------------------------------------+
 *   | header: trace, machine, policy, cycle, play state                  |
 *   |          axis (cycles of the lane chart)                           |
 *   | CPU label | lane chart: history .... now | .. future | TLB bars     |
 *   |    ...    |  (IPI arrows across lanes, flush brackets, skips)      |
 *   | timeline strip: the whole run, flush requests, marks, now          |
 *   | counters                               | legend                    |
 *   +--------------------------------------------------------------------+
 *
 * The lane chart shows `span` cycles with "now" at 80% of its width (at
 * the start of the run "now" walks in from the left).  History left of now
 * comes from viz_sim.c; right of now only IPIs in flight are drawn, on
 * their way to arrival.
 */
#include "viz_priv.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "viz_layout.h"

/* ==== colours ======================================================================= */

/* Legend text, a little longer. */
static const char *const legend_names[VK__COUNT] = {
    [VK_USER] = "user task (colour of its mm)", [VK_USER_WAIT] = "user task, waiting",
    [VK_KTHREAD] = "kernel thread (init_mm)", [VK_LAZY] = "lazy TLB: kthread on a user mm",
    [VK_IDLE] = "idle (C-state, lazy)", [VK_HANDLER] = "in flush IPI handler",
    [VK_WALK] = "page walks", [VK_SPIN] = "spinning for acks",
    [VK_PREEMPTED] = "vCPU preempted", [VK_NONE] = "no task",
};

/* Black or white text over a background colour. */
static u32 ink_on(u32 bg)
{
    int r = (int)(bg >> 16 & 0xff), g = (int)(bg >> 8 & 0xff), b = (int)(bg & 0xff);
    return r * 299 + g * 587 + b * 114 > 140000 ? 0x101010 : 0xf4f4f4;
}

/* ==== text helpers ======================================================================= */

/* 1234567 -> "1,234,567" into buf (>= 32 bytes). */
static const char *num(char *buf, u64 n)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof(tmp), "%" PRIu64, n), o = 0;

    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
    return buf;
}

/* Text clipped to a width (cut with '~'). */
static void text_fit(struct viz_fb *fb, int x, int y, const char *s, u32 col, int maxw, int sc)
{
    char b[256];
    int maxc = maxw / (VIZ_FONT_W * sc);
    size_t n = strlen(s);

    if (maxc <= 0)
        return;
    if (n >= sizeof(b))                 /* longer than any line the window can show */
        n = sizeof(b) - 1;
    memcpy(b, s, n);
    b[n] = 0;
    if ((int)n > maxc) {
        b[maxc > 1 ? maxc - 1 : 0] = '~';
        b[maxc] = 0;
    }
    viz_text(fb, x, y, b, col, sc);
}

static void swatch(struct viz_fb *fb, int x, int y, u32 col, int sc)
{
    viz_fill(fb, x, y, 10 * sc, 8 * sc, col);
    viz_box(fb, x - 1, y - 1, 10 * sc + 2, 8 * sc + 2, 0x000000);
}

/* ==== header and axis ========================================================================= */

static void draw_header(struct viz_fb *fb, const struct viz *v, const struct viz_view *view,
                        int sc)
{
    char b[512], s[512], n1[32], n2[32];
    double us = v->m.freq_mhz ? (double)v->t / v->m.freq_mhz : 0.0;
    int x, rx, y2 = 3 + 12 * sc;

    viz_fill(fb, 0, 0, fb->w, HEADER_H(sc) - 2, VIZ_COL_PANEL);
    /* Right: the cycle and the play state; left: what runs, clipped. */
    snprintf(b, sizeof(b), "cycle %s / %s  (%.2f us)", num(n1, v->t), num(n2, v->pre.end), us);
    if (view->status)
        snprintf(s, sizeof(s), "%s", view->status);
    else
        snprintf(s, sizeof(s), "%s  %s cycles/s   h: help", view->playing ? "PLAYING" : "PAUSED",
                 num(n1, (u64)(view->speed > 0 ? view->speed : 0)));
    rx = fb->w - MARGIN - viz_text_width(b, sc);
    viz_text(fb, rx, 3, b, VIZ_COL_TEXT, sc);
    int sx = fb->w - MARGIN - viz_text_width(s, sc);
    viz_text(fb, sx, y2, s, view->status ? VIZ_COL_WALK : view->playing ? 0x7fe08a : VIZ_COL_LAZY,
             sc);
    x = viz_text(fb, MARGIN, 4, "tlbviz", VIZ_COL_TEXT, 2 * sc) + 12;
    snprintf(b, sizeof(b), "%s  |  %s, %u CPUs  |  policy: %s", v->trace_name, v->m.name,
             v->nr_cpus, v->pol->name);
    text_fit(fb, x, 3, b, VIZ_COL_TEXT, rx - 12 - x, sc);
    text_fit(fb, x, y2, v->pol->desc, VIZ_COL_DIM, (sx < rx ? sx : rx) - 12 - x, sc);
}

static cycles_t nice_step(cycles_t span, int px, int min_px)
{
    double raw = (double)span * min_px / (px > 0 ? px : 1), p = 1;

    while (p * 10 <= raw)
        p *= 10;
    for (int m = 1; m <= 10; m = m == 1 ? 2 : m == 2 ? 5 : 10)
        if (p * m >= raw)
            return (cycles_t)(p * m) ? (cycles_t)(p * m) : 1;
    return (cycles_t)(p * 10);
}

static void draw_axis(struct viz_fb *fb, const struct layout *L)
{
    cycles_t step = nice_step(L->span, L->chart.w, 90 * L->s);
    char b[32];

    viz_clip(fb, L->chart.x, L->axis.y, L->chart.w, L->axis.h + L->lanes.h);
    for (cycles_t t = (L->t0 + step - 1) / step * step; t < L->t0 + L->span; t += step) {
        int x = x_of(L, t);
        viz_fill(fb, x, L->axis.y + L->axis.h - 4, 1, 4, VIZ_COL_DIM);
        viz_text(fb, x + 2, L->axis.y, num(b, t), VIZ_COL_DIM, L->s);
        for (int y = L->lanes.y; y < L->lanes.y + L->lanes.h; y += 4)
            viz_fill(fb, x, y, 1, 1, VIZ_COL_GRID);
    }
    viz_noclip(fb);
}

/* ==== lanes: history ======================================================================== */

/* [t0, t1) of a lane beyond its CPU's clock, in state c. */
static void draw_tail(struct viz_fb *fb, const struct layout *L, const struct viz_rect *b,
                      cycles_t t0, cycles_t t1, struct viz_ctx c)
{
    int x0 = x_of(L, t0 > L->t0 ? t0 : L->t0), x1 = x_of(L, t1);
    u32 col = viz_kind_color((enum viz_kind)c.kind, c.mm);

    if (x1 <= x0)
        return;
    viz_fill(fb, x0, b->y, x1 - x0, b->h, col);
    if (c.kind == VK_IDLE && c.mm >= 0)
        viz_fill(fb, x0, b->y + b->h - 3, x1 - x0, 3, VIZ_COL_LAZY);
}

static void draw_segs(struct viz_fb *fb, const struct viz *v, const struct layout *L, u32 cpu)
{
    const struct viz_lane *l = &v->lanes[cpu];
    const struct viz_vec *s = &l->segs;
    struct viz_rect b = band(L, cpu);
    cycles_t lo = L->t0, hi = v->t;

    for (size_t i = viz_vec_lower(s, offsetof(struct viz_seg, t1), lo + 1); i < s->n; i++) {
        const struct viz_seg *g = &VEC_AT(s, struct viz_seg, i);
        if (g->t0 >= hi)
            break;
        int x0 = x_of(L, g->t0 > lo ? g->t0 : lo), x1 = x_of(L, g->t1 < hi ? g->t1 : hi);
        u32 col = viz_kind_color((enum viz_kind)g->kind, g->mm);
        if (x1 <= x0)
            x1 = x0 + 1;                /* keep short handler/walk stretches visible */
        viz_fill(fb, x0, b.y, x1 - x0, b.h, col);
        if (g->kind == VK_IDLE && g->mm >= 0)
            viz_fill(fb, x0, b.y + b.h - 3, x1 - x0, 3, VIZ_COL_LAZY);
    }
    /* After the CPU's own clock: the wait for its next op, then the state
     * it is in now. */
    if (l->clock < hi) {
        cycles_t w = l->wait_until < hi ? l->wait_until : hi;
        if (w > l->clock)
            draw_tail(fb, L, &b, l->clock, w, l->wait);
        draw_tail(fb, L, &b, w > l->clock ? w : l->clock, hi, l->ctx);
    }
}

/* "mm 3" on the wide stretches of a user task or a lazy kthread, where no
 * more important label is (drawn last). */
static void draw_seg_labels(struct viz_fb *fb, const struct viz *v, const struct layout *L,
                            u32 cpu)
{
    const struct viz_vec *s = &v->lanes[cpu].segs;
    struct viz_rect b = band(L, cpu);
    cycles_t lo = L->t0, hi = v->t;
    int ty = b.y + (b.h - VIZ_FONT_H * L->s) / 2 + 1, next = -100000;

    if (b.h < VIZ_FONT_H * L->s + 4)
        return;
    for (size_t i = viz_vec_lower(s, offsetof(struct viz_seg, t1), lo + 1); i < s->n; i++) {
        const struct viz_seg *g = &VEC_AT(s, struct viz_seg, i);
        char t[32];
        if (g->t0 >= hi)
            break;
        if (g->kind != VK_USER && g->kind != VK_LAZY)
            continue;
        int x0 = x_of(L, g->t0 > lo ? g->t0 : lo), x1 = x_of(L, g->t1 < hi ? g->t1 : hi);
        snprintf(t, sizeof(t), g->kind == VK_USER ? "mm %" PRId64 : "lazy mm %" PRId64, g->mm);
        if (viz_text_width(t, L->s) + 8 < x1 - x0 && x0 >= next &&
            viz_label(L->lab, fb, x0 + 4, ty, t,
                      ink_on(viz_kind_color((enum viz_kind)g->kind, g->mm)), VIZ_NO_BG, 1))
            next = x0 + 4 + viz_text_width(t, L->s) + 80 * L->s;   /* sparse: they repeat */
    }
}

/* Local TLB flushes of this CPU: a tick on the band's top edge. */
static void draw_ticks(struct viz_fb *fb, const struct viz *v, const struct layout *L, u32 cpu)
{
    struct viz_rect b = band(L, cpu);
    int h = b.h >= 20 ? 6 : 3;

    for (size_t i = viz_vec_lower(&v->ticks, offsetof(struct viz_tick, t), L->t0);
         i < v->ticks.n; i++) {
        const struct viz_tick *k = &VEC_AT(&v->ticks, struct viz_tick, i);
        if (k->t > v->t)
            break;
        if (k->cpu != cpu)
            continue;
        u32 col = k->reason == TLB_FLUSH_ON_TASK_SWITCH ? 0xc8c8c8
                  : k->pages < 0 ? VIZ_COL_FLUSH_FULL : VIZ_COL_FLUSH_PART;
        viz_fill(fb, x_of(L, k->t), b.y, 2, h, col);
    }
}

/* Flush requests this CPU initiated: a bar over its lane from request to
 * completion (or to now), labelled with cause and size. */
static void draw_brackets(struct viz_fb *fb, const struct viz *v, const struct layout *L, u32 cpu)
{
    cycles_t from = L->t0 > v->pre.max_latency ? L->t0 - v->pre.max_latency : 0;
    int y = lane_y(L, cpu) + 2;
    struct viz_run run;

    if (L->lane_h < LANE_LABELLED(L->s))
        return;
    viz_run_start(&run, y - 1, VIZ_COL_FLUSH_PART, VIZ_NO_BG, 4, "flushes");
    for (size_t i = viz_flush_lower(v, from); i < v->pre.nr_fl; i++) {
        const struct viz_flush *f = &v->pre.fl[i];
        char t[64];
        if (f->t_request > v->t)
            break;
        if (f->initiator != cpu || f->t_done < L->t0)
            continue;
        u32 col = f->full ? VIZ_COL_FLUSH_FULL : VIZ_COL_FLUSH_PART;
        int x0 = x_of(L, f->t_request), x1 = x_of(L, f->t_done < v->t ? f->t_done : v->t);
        viz_fill(fb, x0, y + 2 * L->s, x1 - x0 + 1, 4 * L->s, col);
        viz_fill(fb, x0, y, 2, 8 * L->s, col);
        if (f->t_done <= v->t)
            viz_fill(fb, x1 - 1, y, 2, 8 * L->s, col);
        if (f->full)
            snprintf(t, sizeof(t), "%s: full", f->cause);
        else
            snprintf(t, sizeof(t), "%s: %" PRIu64 "p", f->cause, f->pages);
        viz_run_add(&run, L->lab, fb, x0, x1 + 1, t);
        if (run.n == 1)
            run.col = col;
    }
    viz_run_flush(&run, L->lab, fb);
}

/* A boxed cross, visible on any lane colour. */
static struct viz_rect skip_box(int x, int y, int sc)
{
    int r = 3 + 4 * sc;

    return (struct viz_rect){ x - r, y - r, 2 * r + 1, 2 * r + 1 };
}

static void skip_mark(struct viz_fb *fb, int x, int y, int sc)
{
    struct viz_rect b = skip_box(x, y, sc);

    viz_fill(fb, b.x, b.y, b.w, b.h, 0x101216);
    viz_box(fb, b.x, b.y, b.w, b.h, VIZ_COL_SKIP);
    viz_cross(fb, x, y, 4 * sc, VIZ_COL_SKIP);
}

/* Lazy CPUs a flush did not interrupt: a dashed line from the initiator and
 * a cross on the skipped lane (obstacles for every label), then one label
 * per group of crosses on a lane: "skipped: lazy", "3x skipped: lazy". */
static void draw_skips(struct viz_fb *fb, const struct viz *v, const struct layout *L)
{
    size_t first = viz_vec_lower(&v->skips, offsetof(struct viz_skip, t), L->t0);

    for (size_t i = first; i < v->skips.n; i++) {
        const struct viz_skip *k = &VEC_AT(&v->skips, struct viz_skip, i);
        if (k->t > v->t)
            break;
        if (!lane_shown(L, k->cpu))
            continue;
        int x = x_of(L, k->t), y = band_mid(L, k->cpu);
        if (lane_shown(L, k->initiator))
            viz_dash(fb, x, band_mid(L, k->initiator), x, y, VIZ_COL_SKIP, 3, 3);
        struct viz_rect box = skip_box(x, y, L->s);
        skip_mark(fb, x, y, L->s);
        viz_label_block(L->lab, &box);
    }
    if (L->lane_h < LANE_LABELLED(L->s))
        return;
    for (u32 c = L->first; c < L->first + L->nvis; c++) {
        struct viz_run run;
        viz_run_start(&run, band_mid(L, c) - VIZ_FONT_H * L->s / 2 + 1, VIZ_COL_SKIP, 0x101216,
                      5, "skips");
        for (size_t i = first; i < v->skips.n; i++) {
            const struct viz_skip *k = &VEC_AT(&v->skips, struct viz_skip, i);
            if (k->t > v->t)
                break;
            if (k->cpu == c)
                viz_run_add(&run, L->lab, fb, x_of(L, k->t) - 3 - 4 * L->s,
                            x_of(L, k->t) + 3 + 4 * L->s, "skipped: lazy");
        }
        viz_run_flush(&run, L->lab, fb);
    }
}

static void draw_ipis(struct viz_fb *fb, const struct viz *v, const struct layout *L)
{
    cycles_t from = L->t0 > v->pre.max_latency ? L->t0 - v->pre.max_latency : 0;

    for (size_t i = v->ipis.head; i < v->ipis.n; i++) {
        const struct viz_ipi *p = &VEC_AT(&v->ipis, struct viz_ipi, i);
        if (p->sent > v->t || (p->done < from && p->arrival < from))
            continue;
        if (!lane_shown(L, p->from) && !lane_shown(L, p->to))
            continue;
        int xs = x_of(L, p->sent), ys = band_mid(L, p->from);
        int xa = x_of(L, p->arrival), ya = band_mid(L, p->to);
        if (v->t < p->arrival) {
            /* Travelling: the dashed path ahead, the solid part behind. */
            double f = (double)(v->t - p->sent) / (double)(p->arrival - p->sent);
            int xh = xs + (int)lround(f * (xa - xs)), yh = ys + (int)lround(f * (ya - ys));
            viz_dash(fb, xs, ys, xa, ya, VIZ_COL_IPI_DONE, 3, 3);
            viz_arrow(fb, xs, ys, xh, yh, VIZ_COL_IPI, 9);
        } else if (p->done > v->t) {
            /* Arrived, waiting for the handler (interrupts off, busy). */
            viz_arrow(fb, xs, ys, xa, ya, VIZ_COL_IPI, 9);
            viz_box(fb, xa - 4, ya - 4, 9, 9, VIZ_COL_IPI);
        } else {
            viz_arrow(fb, xs, ys, xa, ya, VIZ_COL_IPI_DONE, 6);
        }
    }
}

/* ==== lanes: labels ============================================================================ */

/* Targets of cpu's flush in progress ("CPU 1,3"), or "" if unknown. */
static void targets_text(const struct viz *v, u32 cpu, char *b, size_t len)
{
    const struct viz_flush *f = viz_active_flush(v, cpu);
    size_t off = 0;

    b[0] = 0;
    if (!f)
        return;
    for (size_t i = v->ipis.head; i < v->ipis.n && off + 12 < len; i++) {
        const struct viz_ipi *p = &VEC_AT(&v->ipis, struct viz_ipi, i);
        if (p->from == cpu && p->sent >= f->t_request && p->sent <= v->t)
            off += (size_t)snprintf(b + off, len - off, "%s%u", off ? "," : "CPU ", p->to);
    }
}

static void state_text(const struct viz *v, u32 cpu, char *b, size_t len)
{
    s64 mm;
    enum viz_kind k = viz_lane_kind_at(v, cpu, v->t, &mm);

    switch (k) {
    case VK_USER:      snprintf(b, len, "runs mm %" PRId64, mm); break;
    case VK_USER_WAIT: snprintf(b, len, "mm %" PRId64 ", waiting", mm); break;
    case VK_LAZY:      snprintf(b, len, "LAZY: kthread on mm %" PRId64, mm); break;
    case VK_IDLE:
        if (mm >= 0)
            snprintf(b, len, "idle, lazy on mm %" PRId64, mm);
        else
            snprintf(b, len, "idle");
        break;
    case VK_SPIN: {
        char t[48];
        targets_text(v, cpu, t, sizeof(t));
        snprintf(b, len, "spinning for acks%s%s", t[0] ? ": " : "", t);
        break;
    }
    case VK_HANDLER:   snprintf(b, len, "in flush IPI handler"); break;
    case VK_WALK:      snprintf(b, len, "walking page tables"); break;
    case VK_KTHREAD:   snprintf(b, len, "kernel thread"); break;
    case VK_PREEMPTED: snprintf(b, len, "vCPU preempted"); break;
    default:           snprintf(b, len, "no task"); break;
    }
}

static void draw_label(struct viz_fb *fb, const struct viz *v, const struct layout *L, u32 cpu)
{
    int y = lane_y(L, cpu), x = MARGIN, w = L->chart.x - MARGIN - 6, sc = L->s;
    const struct viz_flush *f = viz_active_flush(v, cpu);
    char b[128], t[64];
    s64 mm;
    enum viz_kind k = viz_lane_kind_at(v, cpu, v->t, &mm);
    struct viz_rect bd = band(L, cpu);

    viz_fill(fb, 0, y, L->chart.x - 4, L->lane_h - 1, VIZ_COL_PANEL);
    viz_fill(fb, 0, bd.y, 4, bd.h, viz_kind_color(k, mm));
    snprintf(b, sizeof(b), "CPU %u", cpu);
    if (L->lane_h < 4 + 20 * sc) {
        state_text(v, cpu, t, sizeof(t));
        snprintf(b, sizeof(b), "CPU %u %s", cpu, t);
        text_fit(fb, x, y + (L->lane_h - 12 * sc) / 2, b, VIZ_COL_TEXT, w, sc);
        return;
    }
    viz_text(fb, x, y + 3, b, VIZ_COL_TEXT, sc);
    state_text(v, cpu, t, sizeof(t));
    text_fit(fb, x, y + 3 + LINE_H(sc), t, k == VK_LAZY ? VIZ_COL_LAZY : VIZ_COL_DIM, w, sc);
    if (!f || L->lane_h < 3 * LINE_H(sc) + 6)
        return;
    u32 col = f->full ? VIZ_COL_FLUSH_FULL : VIZ_COL_FLUSH_PART;
    if (f->mm >= 0)
        snprintf(b, sizeof(b), "%s mm %" PRId64 ": %s", f->cause, f->mm,
                 f->full ? "FULL flush" : "partial");
    else
        snprintf(b, sizeof(b), "%s: %s", f->cause, f->full ? "FULL flush" : "partial");
    text_fit(fb, x, y + 3 + 2 * LINE_H(sc), b, col, w, sc);
    if (L->lane_h < 4 * LINE_H(sc) + 6)
        return;
    if (f->end == UINT64_MAX)
        snprintf(b, sizeof(b), "all addresses");
    else
        snprintf(b, sizeof(b), "%" PRIx64 "-%" PRIx64 " %" PRIu64 "p", f->start, f->end, f->pages);
    text_fit(fb, x, y + 3 + 3 * LINE_H(sc), b, col, w, sc);
}

/* ==== TLB occupancy ============================================================================ */

#define OCC_KEYS 12

struct occ {                            /* entries of one structure by (mm, global) */
    u32 n, cap;
    u32 nr;
    struct { u16 idx; u8 global; u32 count; } k[OCC_KEYS];
    u32 other;                          /* keys beyond OCC_KEYS */
};

static void occ_count(const struct tlb *t, struct occ *o)
{
    memset(o, 0, sizeof(*o));
    o->cap = t->sets * t->ways;
    for (u32 i = 0; i < o->cap; i++) {
        const struct tlb_entry *e;
        u32 j;
        if (t->tags[i] == TLB_TAG_INVALID)
            continue;                   /* (a sparse STLB's unfilled sets have no entries) */
        e = tlb_entry_at(t, i / t->ways, i % t->ways);
        o->n++;
        for (j = 0; j < o->nr; j++)
            if (o->k[j].idx == e->mm && o->k[j].global == e->global)
                break;
        if (j == o->nr) {
            if (o->nr == OCC_KEYS) {
                o->other++;
                continue;
            }
            o->k[o->nr].idx = e->mm;
            o->k[o->nr].global = e->global;
            o->k[o->nr++].count = 0;
        }
        o->k[j].count++;
    }
}

/* Add o's counts into all (same keys merge). */
static void occ_merge(struct occ *all, const struct occ *o)
{
    all->cap += o->cap;
    all->n += o->n;
    all->other += o->other;
    for (u32 j = 0; j < o->nr; j++) {
        u32 k;
        for (k = 0; k < all->nr; k++)
            if (all->k[k].idx == o->k[j].idx && all->k[k].global == o->k[j].global)
                break;
        if (k == all->nr) {
            if (all->nr == OCC_KEYS) {
                all->other += o->k[j].count;
                continue;
            }
            all->k[all->nr].idx = o->k[j].idx;
            all->k[all->nr].global = o->k[j].global;
            all->k[all->nr++].count = 0;
        }
        all->k[k].count += o->k[j].count;
    }
}

struct tlb_row { const struct tlb *t; const char *name; };

static u32 tlb_rows_all(const struct cpu *c, struct tlb_row *rows, bool essential)
{
    const struct tlb_row all[] = {
        { &c->l1d[0], "L1D 4K" }, { &c->l1d[1], "L1D 2M" }, { &c->l1d[2], "L1D 1G" },
        { &c->l1i[0], "L1I 4K" }, { &c->l1i[1], "L1I 2M" }, { &c->stlb, "STLB" },
        { &c->stlb1g, "STLB 1G" },
    };
    const bool keep[] = { true, true, false, true, false, true, false };
    u32 n = 0;

    for (size_t i = 0; i < ARRAY_SIZE(all); i++)
        if (tlb_present(all[i].t) && (!essential || keep[i]))
            rows[n++] = all[i];
    return n;
}

/* The structures a lane of height lane_h shows, one labelled bar each of
 * *bh pixels: all of them, else the main four, else (*bh < 3) one bar. */
static u32 tlb_rows(const struct cpu *c, int lane_h, int sc, struct tlb_row *rows, int *bh)
{
    int avail = lane_h - 6;
    u32 n = tlb_rows_all(c, rows, false);

    *bh = n ? avail / (int)n - 2 : 0;
    if (*bh < 8 * sc) {
        n = tlb_rows_all(c, rows, true);
        *bh = n ? avail / (int)n - 2 : 0;
    }
    if (*bh > 10 * sc)
        *bh = 10 * sc;
    return n;
}

/* One bar: segments by mm in index order, global entries hatched. */
static void draw_occ_bar(struct viz_fb *fb, const struct viz *v, const struct occ *o,
                         int x, int y, int w, int h)
{
    u64 cum = 0;

    viz_fill(fb, x, y, w, h, VIZ_COL_TRACK);
    for (u32 j = 0; j <= o->nr && o->cap; j++) {
        u32 cnt = j < o->nr ? o->k[j].count : o->other;
        if (!cnt)
            continue;
        int x0 = x + (int)(cum * (u64)w / o->cap);
        cum += cnt;
        int x1 = x + (int)(cum * (u64)w / o->cap);
        if (x1 <= x0)
            x1 = x0 + 1;
        s64 id = j < o->nr ? viz_mm_id(v, o->k[j].idx) : -3;
        u32 col = j == o->nr ? VIZ_COL_DIM : o->k[j].idx == MM_INIT_IDX ? VIZ_COL_KERNEL_MM
                  : viz_mm_color(id >= 0 ? id : 0);
        viz_fill(fb, x0, y, x1 - x0, h, col);
        if (j < o->nr && o->k[j].global)
            viz_hatch(fb, x0, y, x1 - x0, h, VIZ_COL_GLOBAL, 4);
    }
    viz_box(fb, x - 1, y - 1, w + 2, h + 2, VIZ_COL_GRID);
}

static void draw_tlb(struct viz_fb *fb, const struct viz *v, const struct layout *L, u32 cpu)
{
    const struct cpu *c = sim_cpu(v->s, cpu);
    struct tlb_row rows[8];
    int bh, y = lane_y(L, cpu) + 2, x = L->tlb_x, sc = L->s, lw = 16 + 36 * sc, nw = 18 + 60 * sc;
    u32 nr = tlb_rows(c, L->lane_h, sc, rows, &bh);
    struct occ o;
    char b[64];

    viz_fill(fb, L->tlb_x - 4, lane_y(L, cpu), L->tlb_w + 4, L->lane_h - 1, VIZ_COL_PANEL);
    if (bh < 3) {
        /* Too thin for one bar per structure: every structure in one bar. */
        struct occ all = { 0 };
        nr = tlb_rows_all(c, rows, false);
        for (u32 r = 0; r < nr; r++) {
            occ_count(rows[r].t, &o);
            occ_merge(&all, &o);
        }
        snprintf(b, sizeof(b), "TLB %u/%u", all.n, all.cap);
        viz_text(fb, x, y + (L->lane_h - 4 - 10 * sc) / 2, b, VIZ_COL_DIM, sc);
        draw_occ_bar(fb, v, &all, x + 2 + 90 * sc, y + 1, L->tlb_w - 6 - 90 * sc, L->lane_h - 8);
        return;
    }
    for (u32 r = 0; r < nr; r++, y += bh + 2) {
        occ_count(rows[r].t, &o);
        if (bh >= 8 * sc) {
            viz_text(fb, x, y + bh / 2 - 5 * sc, rows[r].name, VIZ_COL_DIM, sc);
            snprintf(b, sizeof(b), "%u/%u", o.n, o.cap);
            viz_text(fb, L->tlb_x + L->tlb_w - viz_text_width(b, sc), y + bh / 2 - 5 * sc, b,
                     VIZ_COL_DIM, sc);
            draw_occ_bar(fb, v, &o, x + lw, y, L->tlb_w - lw - nw + 16, bh);
        } else {
            draw_occ_bar(fb, v, &o, x, y, L->tlb_w, bh);
        }
    }
}

/* ==== timeline strip ============================================================================= */

static int strip_x(const struct viz_rect *r, const struct viz *v, cycles_t t)
{
    double end = (double)(v->pre.end ? v->pre.end : 1);
    return r->x + (int)((double)t / end * (r->w - 1));
}

static void draw_strip(struct viz_fb *fb, const struct viz *v, const struct layout *L)
{
    const struct viz_rect *r = &L->strip;
    int sc = L->s, by = r->y + 4 + 10 * sc, bh = r->h - 6 - 10 * sc;
    char b[64], n[32];
    struct viz_run run;

    viz_fill(fb, r->x, r->y, r->w, r->h, VIZ_COL_PANEL);
    snprintf(b, sizeof(b), "%s cycles", num(n, v->pre.end));
    viz_text(fb, r->x + r->w - viz_text_width(b, sc) - 4, r->y + 2, b, VIZ_COL_DIM, sc);
    text_fit(fb, r->x + 4, r->y + 2, "timeline: flush requests (red full, blue partial), marks;"
             " click or drag to seek", VIZ_COL_DIM, r->w - viz_text_width(b, sc) - 16, sc);
    viz_fill(fb, r->x, by, r->w, bh, VIZ_COL_TRACK);
    /* The lane chart's window. */
    int wx0 = strip_x(r, v, L->t0), wx1 = strip_x(r, v, L->t0 + L->span);
    viz_shade(fb, wx0, by, (wx1 > r->x + r->w ? r->x + r->w : wx1) - wx0 + 1, bh, 0x4a5568, 90);
    /* Flush density per pixel column (square root scale). */
    for (int px = 0; px < r->w && v->pre.strip_max; px++) {
        int b0 = (int)((long)px * VIZ_STRIP_BUCKETS / r->w);
        int b1 = (int)((long)(px + 1) * VIZ_STRIP_BUCKETS / r->w);
        u32 full = 0, part = 0;
        for (int k = b0; k < (b1 > b0 ? b1 : b0 + 1) && k < VIZ_STRIP_BUCKETS; k++) {
            full += v->pre.strip_full[k];
            part += v->pre.strip_part[k];
        }
        if (!full && !part)
            continue;
        int h = (int)lround(sqrt((double)(full + part) / v->pre.strip_max) * (bh - 2));
        int hf = full + part ? h * (int)full / (int)(full + part) : 0;
        if (h < 3)
            h = 3;
        viz_fill(fb, r->x + px, by + bh - h, 1, h - hf, VIZ_COL_FLUSH_PART);
        viz_fill(fb, r->x + px, by + bh - hf, 1, hf, VIZ_COL_FLUSH_FULL);
    }
    /* Marks: a line each; close ones share a label ("3 marks"). */
    viz_clip(fb, r->x, by, r->w, bh);
    viz_run_start(&run, by + 1, VIZ_COL_MARK, VIZ_NO_BG, 3, "marks");
    run.right = r->x + r->w;
    for (size_t i = 0; i < v->pre.nr_marks; i++) {
        int x = strip_x(r, v, v->pre.marks[i].t);
        viz_fill(fb, x, by, 1, bh, VIZ_COL_MARK);
        viz_fill(fb, x - 2, by, 5, 3, VIZ_COL_MARK);
        viz_run_add(&run, L->lab, fb, x - 2, x + 2, v->pre.marks[i].label);
    }
    viz_run_flush(&run, L->lab, fb);
    viz_noclip(fb);
    int nx = strip_x(r, v, v->t);
    viz_fill(fb, nx - 1, by - 3, 3, bh + 3, VIZ_COL_NOW);
    viz_box(fb, r->x, by, r->w, bh, VIZ_COL_GRID);
}

/* ==== counters and legend =========================================================================== */

static void draw_counters(struct viz_fb *fb, const struct viz *v, const struct layout *L)
{
    const struct viz_rect *r = &L->counters;
    struct sim_totals t;
    const struct hist *h = sim_latency(v->s);
    const struct cpu_stats *c = &t.cpu;
    char l[256], a[32], b[32], d[32], e[32];
    int x = r->x + 6, y = r->y + 4, sc = L->s;

    sim_totals(v->s, &t);
    viz_fill(fb, r->x, r->y, r->w, r->h, VIZ_COL_PANEL);
    viz_clip(fb, r->x, r->y, r->w - 4, r->h);
    viz_text(fb, x, y, "counters (live)", VIZ_COL_TEXT, sc);
    snprintf(l, sizeof(l), "engine events %s   trace ops %s", num(a, v->events), num(b, t.ops));
    viz_text(fb, x + 120 * sc, y, l, VIZ_COL_DIM, sc);
    y += LINE_H(sc) + 3;
    snprintf(l, sizeof(l), "flush requests %s   shootdowns %s   IPIs sent %s   in flight %u",
             num(a, t.flush_requests), num(b, t.shootdowns), num(d, t.ipis_sent),
             viz_ipis_in_flight(v));
    viz_text(fb, x, y, l, VIZ_COL_TEXT, sc);
    y += LINE_H(sc);
    snprintf(l, sizeof(l), "lazy CPUs skipped %s   other-mm skipped %s   ICR writes %s",
             num(a, t.ipis_skipped_lazy), num(b, t.ipis_skipped_other), num(d, t.icr_writes));
    viz_text(fb, x, y, l, VIZ_COL_LAZY, sc);
    y += LINE_H(sc);
    snprintf(l, sizeof(l), "shootdown latency (cycles): mean %s  p50 %s  p99 %s  max %s",
             num(a, h->n ? h->sum / h->n : 0), num(b, hist_quantile(h, 0.5)),
             num(d, hist_quantile(h, 0.99)), num(e, h->max));
    viz_text(fb, x, y, l, VIZ_COL_SPIN, sc);
    y += LINE_H(sc);
    snprintf(l, sizeof(l), "references %s   L1 misses %s   STLB misses %s   walks %s",
             num(a, c->accesses), num(b, c->l1d_misses + c->l1i_misses), num(d, c->stlb_misses),
             num(e, c->walks));
    viz_text(fb, x, y, l, VIZ_COL_TEXT, sc);
    y += LINE_H(sc);
    snprintf(l, sizeof(l), "local flushes: full %s  pages %s   task-switch flushes %s",
             num(a, c->flush_full), num(b, c->flush_pages), num(d, c->task_switch_flushes));
    viz_text(fb, x, y, l, VIZ_COL_DIM, sc);
    y += LINE_H(sc);
    snprintf(l, sizeof(l), "page faults %s   stale accesses %s   racy %s",
             num(a, c->page_faults), num(b, c->stale_accesses), num(d, c->racy_accesses));
    viz_text(fb, x, y, l, c->stale_accesses ? VIZ_COL_HANDLER : VIZ_COL_DIM, sc);
    y += LINE_H(sc);
    snprintf(l, sizeof(l), "busy %s  idle %s  handler %s  spin %s cycles", num(a, c->busy_cycles),
             num(b, c->idle_cycles), num(d, c->handler_cycles), num(e, c->spin_cycles));
    viz_text(fb, x, y, l, VIZ_COL_DIM, sc);
    viz_noclip(fb);
}

static const enum viz_kind legend_order[] = {
    VK_USER, VK_USER_WAIT, VK_LAZY, VK_IDLE, VK_KTHREAD, VK_HANDLER, VK_WALK, VK_SPIN,
    VK_PREEMPTED, VK_NONE,
};

static const char *const legend_why[VK__COUNT] = {
    [VK_USER] = "a user task runs: the lane takes its mm's colour\n(the same colour marks that mm's TLB entries)",
    [VK_USER_WAIT] = "a user task idling until its next op's `t`\n(`gap` work before an op is in the task's colour)",
    [VK_KTHREAD] = "a kernel thread on init_mm: no user entries to flush",
    [VK_LAZY] = "lazy TLB mode: a kernel thread keeps the last user mm\nloaded; since 4.20 flushes of that mm skip the CPU\n(unless page tables were freed) and it catches up on\nits next switch",
    [VK_IDLE] = "idle in a C-state, which is lazy TLB mode too; a bottom\nstripe in the lazy colour while it still holds a user mm",
    [VK_HANDLER] = "a flush interrupt, over exactly the cycles the engine ran\nit: the IPI handler (flush_tlb_func), or a tick running\ndeferred invalidations; a wake-up from a C-state included",
    [VK_WALK] = "page walks after TLB misses (their share of the time)",
    [VK_SPIN] = "the initiator waits for every target's acknowledgement",
    [VK_PREEMPTED] = "the host descheduled this vCPU",
    [VK_NONE] = "no task: before its first op or after its last",
};

static const char *const legend_extra[] = {
    "IPI in flight: from the initiator at the send time to the\ntarget at the arrival time; a box when it waits for the handler",
    "a cross: a lazy CPU in the mm's cpumask that the flush skipped;\nbars over a lane: flush requests (red full, blue partial)",
    "TLB bars: entries per structure, coloured by mm; hatched entries\nare global (kernel, survive CR3 writes); marks come from the trace",
};

static void draw_legend(struct viz_fb *fb, const struct layout *L)
{
    const enum viz_kind *order = legend_order;
    const size_t nr_order = VK__COUNT;
    const struct viz_rect *r = &L->legend;
    int colw = (r->w - 12) / 2, x, y, sc = L->s, top = r->y + 4 + 14 * sc;

    viz_fill(fb, r->x, r->y, r->w, r->h, VIZ_COL_PANEL);
    viz_clip(fb, r->x, r->y, r->w, r->h);
    viz_text(fb, r->x + 6, r->y + 4, "legend", VIZ_COL_TEXT, sc);
    for (size_t i = 0; i < nr_order; i++) {
        x = r->x + 6 + (int)(i % 2) * colw;
        y = top + (int)(i / 2) * LINE_H(sc);
        if (order[i] == VK_USER) {
            for (int m = 0; m < 4; m++)
                viz_fill(fb, x + m * 3 * sc, y, 3 * sc, 8 * sc, viz_mm_color(m + 1));
            viz_box(fb, x - 1, y - 1, 12 * sc + 2, 8 * sc + 2, 0x000000);
        } else {
            swatch(fb, x, y, viz_kind_color(order[i], 1), sc);
        }
        text_fit(fb, x + 16 * sc, y - 1, legend_names[order[i]], VIZ_COL_DIM, colw - 20 * sc, sc);
    }
    y = top + 5 * LINE_H(sc) + 2;
    x = r->x + 6;
    viz_arrow(fb, x, y + 4 * sc, x + 22 * sc, y + 4 * sc, VIZ_COL_IPI, 7 * sc);
    text_fit(fb, x + 28 * sc, y - 1, "IPI in flight", VIZ_COL_DIM, colw - 30 * sc, sc);
    viz_arrow(fb, x + colw, y + 4 * sc, x + colw + 20 * sc, y + 4 * sc, VIZ_COL_IPI_DONE, 6 * sc);
    text_fit(fb, x + colw + 28 * sc, y - 1, "IPI handled", VIZ_COL_DIM, colw - 30 * sc, sc);
    y += LINE_H(sc);
    viz_fill(fb, x + 1, y - 1, 11 * sc, 11 * sc, 0x101216);
    viz_box(fb, x + 1, y - 1, 11 * sc, 11 * sc, VIZ_COL_SKIP);
    viz_cross(fb, x + 1 + 11 * sc / 2, y - 1 + 11 * sc / 2, 3 * sc, VIZ_COL_SKIP);
    text_fit(fb, x + 28 * sc, y - 1, "lazy CPU skipped", VIZ_COL_DIM, colw - 30 * sc, sc);
    viz_fill(fb, x + colw, y + 2 * sc, 9 * sc, 4 * sc, VIZ_COL_FLUSH_FULL);
    viz_fill(fb, x + colw + 11 * sc, y + 2 * sc, 9 * sc, 4 * sc, VIZ_COL_FLUSH_PART);
    text_fit(fb, x + colw + 28 * sc, y - 1, "flush: full / partial", VIZ_COL_DIM, colw - 30 * sc, sc);
    y += LINE_H(sc);
    viz_fill(fb, x, y, 22 * sc, 8 * sc, VIZ_COL_KERNEL_MM);
    viz_hatch(fb, x, y, 22 * sc, 8 * sc, VIZ_COL_GLOBAL, 4);
    text_fit(fb, x + 28 * sc, y - 1, "TLB: global entries (hatched)", VIZ_COL_DIM, colw - 30 * sc, sc);
    viz_fill(fb, x + colw + 4 * sc, y - 1, sc, 10 * sc, VIZ_COL_MARK);
    text_fit(fb, x + colw + 28 * sc, y - 1, "trace mark", VIZ_COL_DIM, colw - 30 * sc, sc);
    viz_noclip(fb);
}

/* ==== overlays ===================================================================================== */

static const char *const help_lines[] = {
    "tlbviz keys",
    "",
    "space        play / pause",
    "s or .       single step: exactly one engine event",
    "+  -         speed x2 / x0.5 (cycles per second)",
    "f  F         next / previous flush request (pauses there)",
    "z  Z  [  ]   lane chart narrower / wider (zoom in / out)",
    "0            back to the fitted span and speed",
    "t  T         text larger / smaller (also ctrl + / ctrl -)",
    "right left   seek forward / back a quarter of the lane chart",
    "home  end    go to the start / the end of the run",
    "click, drag  on the timeline strip: seek there",
    "p  P         next / previous flush policy (re-simulates)",
    "wheel, up/dn scroll the CPU lanes when they do not all fit",
    "mouse        hover lanes, IPIs, TLB bars, flushes for details",
    "F12          save tlbviz-CYCLE.png in the current directory",
    "h            this help            q, Esc   quit",
};

static void draw_help(struct viz_fb *fb, int sc)
{
    int w = 500 * sc, h = (int)ARRAY_SIZE(help_lines) * 13 * sc + 20;
    int x = (fb->w - w) / 2, y = (fb->h - h) / 2;

    viz_shade(fb, 0, 0, fb->w, fb->h, 0x000000, 120);
    viz_fill(fb, x, y, w, h, 0x232833);
    viz_box(fb, x, y, w, h, VIZ_COL_DIM);
    for (size_t i = 0; i < ARRAY_SIZE(help_lines); i++)
        viz_text(fb, x + 14, y + 10 + (int)i * 13 * sc, help_lines[i],
                 i == 0 ? VIZ_COL_TEXT : 0xc8d0dc, sc);
}

static void draw_tooltip(struct viz_fb *fb, int mx, int my, const char *text, int sc)
{
    char lines[16][96];
    int n = 0, maxw = 0;

    for (const char *p = text; *p && n < 16;) {
        size_t len = strcspn(p, "\n");
        snprintf(lines[n], sizeof(lines[n]), "%.*s", (int)(len < 95 ? len : 95), p);
        if (viz_text_width(lines[n], sc) > maxw)
            maxw = viz_text_width(lines[n], sc);
        n++;
        p += len;
        if (*p)
            p++;
    }
    int w = maxw + 12, h = n * LINE_H(sc) + 8, x = mx + 14, y = my + 16;
    if (x + w > fb->w)
        x = mx - w - 6;
    if (y + h > fb->h)
        y = fb->h - h - 2;
    if (x < 0)
        x = 0;
    viz_fill(fb, x, y, w, h, 0x2a303c);
    viz_box(fb, x, y, w, h, VIZ_COL_TEXT);
    for (int i = 0; i < n; i++)
        viz_text(fb, x + 6, y + 4 + i * LINE_H(sc) - 1, lines[i], VIZ_COL_TEXT, sc);
}

/* ==== the frame ======================================================================================= */

void viz_view_default(const struct viz *v, struct viz_view *view)
{
    memset(view, 0, sizeof(*view));
    view->span = v->pre.span;
    view->hover_x = view->hover_y = -1;
    view->speed = v->pre.speed >= 1 ? v->pre.speed : 1;
}

static void draw_lanes(struct viz_fb *fb, const struct viz *v, const struct layout *L)
{
    int xnow = x_of(L, v->t);

    for (u32 i = L->first; i < L->first + L->nvis; i++) {
        struct viz_rect b = band(L, i);
        viz_fill(fb, L->chart.x, lane_y(L, i), L->chart.w, L->lane_h - 1, VIZ_COL_BG);
        viz_fill(fb, b.x, b.y, b.w, b.h, VIZ_COL_TRACK);
        if (xnow < b.x + b.w)
            viz_fill(fb, xnow, b.y, b.x + b.w - xnow, b.h, VIZ_COL_FUTURE);
    }
    viz_clip(fb, L->chart.x, L->lanes.y, L->chart.w, L->lanes.h);
    for (u32 i = L->first; i < L->first + L->nvis; i++) {
        draw_segs(fb, v, L, i);
        draw_ticks(fb, v, L, i);
    }
    viz_fill(fb, xnow, L->lanes.y, 1, L->lanes.h, VIZ_COL_NOW);
    /* Labels by importance: skips, flushes, then the mm of a stretch. */
    draw_skips(fb, v, L);
    for (u32 i = L->first; i < L->first + L->nvis; i++)
        draw_brackets(fb, v, L, i);
    for (u32 i = L->first; i < L->first + L->nvis; i++)
        draw_seg_labels(fb, v, L, i);
    draw_ipis(fb, v, L);
    viz_noclip(fb);
    for (u32 i = L->first; i < L->first + L->nvis; i++) {
        draw_label(fb, v, L, i);
        draw_tlb(fb, v, L, i);
    }
    if (L->nvis < v->nr_cpus) {
        char b[64];
        snprintf(b, sizeof(b), "CPUs %u-%u of %u (wheel)", L->first, L->first + L->nvis - 1,
                 v->nr_cpus);
        text_fit(fb, MARGIN, HEADER_H(L->s) + 1, b, VIZ_COL_DIM, L->chart.x - MARGIN, L->s);
    } else {
        viz_text(fb, MARGIN, HEADER_H(L->s) + 1, "CPU  state", VIZ_COL_DIM, L->s);
    }
    text_fit(fb, L->tlb_x, HEADER_H(L->s) + 1, "TLB occupancy (entries by mm)", VIZ_COL_DIM,
             L->tlb_w, L->s);
}

int viz_fit_scale(int scale, int w, int h)
{
    int most = w / 640 < h / 400 ? w / 640 : h / 400;

    if (scale > most)
        scale = most;
    if (scale > VIZ_MAX_SCALE)
        scale = VIZ_MAX_SCALE;
    return scale < 1 ? 1 : scale;
}

void viz_render(const struct viz *v, const struct viz_view *view, struct viz_fb *fb)
{
    struct viz_labels lab;              /* 16 KiB */
    struct layout L;
    char tip[1024];

    viz_layout(v, view, fb->w, fb->h, &L);
    viz_labels_init(&lab, view->labels, L.s);
    L.lab = &lab;
    viz_noclip(fb);
    viz_fill(fb, 0, 0, fb->w, fb->h, VIZ_COL_BG);
    draw_header(fb, v, view, L.s);
    draw_axis(fb, &L);
    draw_lanes(fb, v, &L);
    draw_strip(fb, v, &L);
    draw_counters(fb, v, &L);
    draw_legend(fb, &L);
    if (view->help)
        draw_help(fb, L.s);
    else if (view->hover_x >= 0 &&
             viz_describe(v, view, fb, view->hover_x, view->hover_y, tip, sizeof(tip)))
        draw_tooltip(fb, view->hover_x, view->hover_y, tip, L.s);
}

/* ==== what is under the mouse ============================================================================ */

static bool in(const struct viz_rect *r, int x, int y)
{
    return x >= r->x && y >= r->y && x < r->x + r->w && y < r->y + r->h;
}

/* Distance from (px, py) to the segment (ax, ay)-(bx, by), squared. */
static double dist2(int px, int py, int ax, int ay, int bx, int by)
{
    double dx = bx - ax, dy = by - ay, l = dx * dx + dy * dy, t;

    t = l > 0 ? ((px - ax) * dx + (py - ay) * dy) / l : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    dx = ax + t * dx - px;
    dy = ay + t * dy - py;
    return dx * dx + dy * dy;
}

static bool describe_ipi(const struct viz *v, const struct layout *L, int x, int y,
                         char *b, size_t len)
{
    for (size_t i = v->ipis.n; i-- > v->ipis.head;) {
        const struct viz_ipi *p = &VEC_AT(&v->ipis, struct viz_ipi, i);
        if (p->sent > v->t || !lane_shown(L, p->from) || !lane_shown(L, p->to))
            continue;
        if (dist2(x, y, x_of(L, p->sent), band_mid(L, p->from), x_of(L, p->arrival),
                  band_mid(L, p->to)) > 16.0)
            continue;
        char s[32], a[32], d[32];
        snprintf(b, len, "flush IPI CPU %u -> CPU %u\nsent at cycle %s\narrives at %s "
                 "(%" PRIu64 " cycles)\n%s%s", p->from, p->to, num(s, p->sent), num(a, p->arrival),
                 p->arrival - p->sent, p->done > v->t ? "not handled yet" : "handled at ",
                 p->done > v->t ? "" : num(d, p->done));
        return true;
    }
    return false;
}

static bool describe_skip(const struct viz *v, const struct layout *L, int x, int y,
                          char *b, size_t len)
{
    for (size_t i = v->skips.head; i < v->skips.n; i++) {
        const struct viz_skip *k = &VEC_AT(&v->skips, struct viz_skip, i);
        if (k->t > v->t || !lane_shown(L, k->cpu))
            continue;
        if (dist2(x, y, x_of(L, k->t), band_mid(L, k->cpu), x_of(L, k->t), band_mid(L, k->cpu)) >
            81 * L->s * L->s)
            continue;
        char n[32];
        snprintf(b, len, "CPU %u was lazy: CPU %u's flush at cycle %s\nsent it no IPI "
                 "(should_flush_tlb() false);\nit flushes when it next switches mm",
                 k->cpu, k->initiator, num(n, k->t));
        return true;
    }
    return false;
}

static void describe_flush(const struct viz_flush *f, char *b, size_t len)
{
    char r[32], d[32], n[32];

    snprintf(b, len, "%s on CPU %u, mm %" PRId64 "\nrequest %s, done %s (%s cycles)\n"
             "%s%" PRIx64 "-%" PRIx64 ", %" PRIu64 " pages -> %s flush%s\n"
             "IPIs to %u CPUs; skipped %u lazy, %u other-mm",
             f->cause, f->initiator, f->mm, num(r, f->t_request), num(d, f->t_done),
             num(n, f->t_done - f->t_request), f->end == UINT64_MAX ? "(all) " : "range ",
             f->end == UINT64_MAX ? 0 : f->start, f->end == UINT64_MAX ? 0 : f->end, f->pages,
             f->full ? "full" : "partial", f->freed_tables ? ", tables freed" : "",
             f->targets, f->skipped_lazy, f->skipped_other);
}

static bool describe_bracket(const struct viz *v, const struct layout *L, u32 cpu, int x,
                             char *b, size_t len)
{
    cycles_t from = L->t0 > v->pre.max_latency ? L->t0 - v->pre.max_latency : 0;

    for (size_t i = viz_flush_lower(v, from); i < v->pre.nr_fl; i++) {
        const struct viz_flush *f = &v->pre.fl[i];
        if (f->t_request > v->t)
            break;
        if (f->initiator != cpu)
            continue;
        int x0 = x_of(L, f->t_request), x1 = x_of(L, f->t_done < v->t ? f->t_done : v->t);
        if (x >= x0 - 2 && x <= x1 + 2) {
            describe_flush(f, b, len);
            return true;
        }
    }
    return false;
}

static void describe_lane(const struct viz *v, const struct layout *L, u32 cpu, int x,
                          char *b, size_t len)
{
    cycles_t t = t_of(L, x);
    char n[32], st[64];
    s64 mm;
    enum viz_kind k;

    if (t > v->t) {
        snprintf(b, len, "CPU %u at cycle %s: the future\n(play or step to get there)", cpu,
                 num(n, t));
        return;
    }
    k = viz_lane_kind_at(v, cpu, t, &mm);
    if (k == VK_USER || k == VK_USER_WAIT || k == VK_LAZY || (k == VK_IDLE && mm >= 0))
        snprintf(st, sizeof(st), "%s, mm %" PRId64, viz_kind_name(k), mm);
    else
        snprintf(st, sizeof(st), "%s", viz_kind_name(k));
    snprintf(b, len, "CPU %u at cycle %s\n%s", cpu, num(n, t), st);
}

static void describe_label(const struct viz *v, u32 cpu, char *b, size_t len)
{
    const struct cpu *c = sim_cpu(v->s, cpu);
    const struct cpu_stats *s = &c->st;
    char a[32], d[32], e[32], w[32];

    snprintf(b, len, "CPU %u (clock %s)\nloaded_mm %" PRId64 "%s, tlb_gen %" PRIu64
             "\nreferences %s, L1 misses %s, walks %s\nIPIs received %" PRIu64
             ", handler %" PRIu64 " cycles\nspin %" PRIu64 " cycles, stale accesses %" PRIu64,
             cpu, num(a, c->now), c->loaded_mm ? c->loaded_mm->id : -1,
             c->is_lazy ? " (lazy)" : "", c->tlb_gen, num(d, s->accesses),
             num(e, s->l1d_misses + s->l1i_misses), num(w, s->walks), s->ipis_received,
             s->handler_cycles, s->spin_cycles, s->stale_accesses);
}

static bool describe_tlb(const struct viz *v, const struct layout *L, u32 cpu, int y,
                         char *b, size_t len)
{
    const struct cpu *c = sim_cpu(v->s, cpu);
    struct tlb_row rows[8];
    int bh, r;
    u32 nr = tlb_rows(c, L->lane_h, L->s, rows, &bh);
    struct occ o;
    size_t off;

    if (bh < 3 || !nr)
        return false;
    r = (y - lane_y(L, cpu) - 2) / (bh + 2);
    if (r < 0 || r >= (int)nr)
        return false;
    occ_count(rows[r].t, &o);
    off = (size_t)snprintf(b, len, "CPU %u %s: %u of %u entries (%u sets x %u ways)", cpu,
                           rows[r].name, o.n, o.cap, rows[r].t->sets, rows[r].t->ways);
    for (u32 j = 0; j < o.nr && off < len; j++) {
        s64 id = viz_mm_id(v, o.k[j].idx);
        if (o.k[j].idx == MM_INIT_IDX)
            off += (size_t)snprintf(b + off, len - off, "\nkernel: %u%s", o.k[j].count,
                                    o.k[j].global ? " global" : "");
        else
            off += (size_t)snprintf(b + off, len - off, "\nmm %" PRId64 ": %u%s", id,
                                    o.k[j].count, o.k[j].global ? " global" : "");
    }
    if (o.other && off < len)
        snprintf(b + off, len - off, "\nothers: %u", o.other);
    return true;
}

static bool describe_strip(const struct viz *v, const struct layout *L, int x, char *b, size_t len)
{
    const struct viz_rect *r = &L->strip;
    cycles_t t, best = CYCLES_NEVER;
    double per_px = (double)(v->pre.end ? v->pre.end : 1) / (r->w > 1 ? r->w - 1 : 1);
    char n[32];

    t = (cycles_t)((x - r->x) * per_px);
    for (size_t i = 0; i < v->pre.nr_marks; i++) {
        cycles_t d = v->pre.marks[i].t > t ? v->pre.marks[i].t - t : t - v->pre.marks[i].t;
        if (d <= 3 * per_px && d < best) {
            best = d;
            snprintf(b, len, "mark \"%s\" at cycle %s", v->pre.marks[i].label,
                     num(n, v->pre.marks[i].t));
        }
    }
    if (best != CYCLES_NEVER)
        return true;
    size_t i = viz_flush_lower(v, t > 3 * per_px ? t - (cycles_t)(3 * per_px) : 0);
    if (i < v->pre.nr_fl && v->pre.fl[i].t_request <= t + 3 * per_px) {
        describe_flush(&v->pre.fl[i], b, len);
        return true;
    }
    snprintf(b, len, "cycle %s: click to seek here", num(n, t));
    return true;
}

static bool describe_legend(const struct layout *L, int x, int y, char *b, size_t len)
{
    const struct viz_rect *r = &L->legend;
    int colw = (r->w - 12) / 2, row = (y - r->y - 3 - 14 * L->s) / LINE_H(L->s);
    int col = (x - r->x - 6) / colw;

    if (row < 0 || col < 0 || col > 1)
        return false;
    if (row < 5) {
        enum viz_kind k = legend_order[row * 2 + col];
        snprintf(b, len, "%s", legend_why[k]);
        return true;
    }
    if (row - 5 >= (int)ARRAY_SIZE(legend_extra))
        return false;
    snprintf(b, len, "%s", legend_extra[row - 5]);
    return true;
}

bool viz_describe(const struct viz *v, const struct viz_view *view, const struct viz_fb *fb,
                  int x, int y, char *b, size_t len)
{
    struct layout L;

    viz_layout(v, view, fb->w, fb->h, &L);
    if (in(&L.strip, x, y))
        return describe_strip(v, &L, x, b, len);
    if (in(&L.legend, x, y))
        return describe_legend(&L, x, y, b, len);
    if (!in(&L.lanes, x, y))
        return false;
    u32 cpu = L.first + (u32)((y - L.lanes.y) / L.lane_h);
    if (cpu >= L.first + L.nvis)
        return false;
    if (x < L.chart.x) {
        describe_label(v, cpu, b, len);
        return true;
    }
    if (x >= L.tlb_x)
        return describe_tlb(v, &L, cpu, y, b, len);
    if (x >= L.chart.x + L.chart.w)
        return false;
    if (describe_ipi(v, &L, x, y, b, len) || describe_skip(v, &L, x, y, b, len))
        return true;
    if (L.lane_h >= LANE_LABELLED(L.s) && y < band(&L, cpu).y &&
        describe_bracket(v, &L, cpu, x, b, len))
        return true;
    describe_lane(v, &L, cpu, x, b, len);
    return true;
}

int viz_render_at(const struct viz_opts *o, cycles_t at, const struct viz_view *view,
                  int w, int h, struct viz_fb *fb, struct sim_err *err)
{
    struct viz *v;
    struct viz_view def;
    int rc;

    memset(fb, 0, sizeof(*fb));
    if ((rc = viz_open(o, &v, err)))
        return rc;
    if ((rc = viz_seek(v, at, err)))
        goto out;
    if ((rc = viz_fb_init(fb, w, h))) {
        sim_err_set(err, rc, "frame %dx%d: %s", w, h, rc == SIM_EINVAL ? "bad size" : "out of memory");
        goto out;
    }
    if (!view) {
        viz_view_default(v, &def);
        view = &def;
    }
    viz_render(v, view, fb);
out:
    viz_close(v);
    return rc;
}
