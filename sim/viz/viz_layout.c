/* sim/viz/viz_layout.c - the layout of a tlbviz frame and the public
 * queries on it (lane, TLB, timeline and legend rectangles; chart x <->
 * cycles), used by the window's mouse handling and the tests. */
#include "viz_layout.h"

#include <string.h>

/* ==== layout ========================================================================== */

void viz_layout(const struct viz *v, const struct viz_view *view, int w, int h,
                struct layout *L)
{
    int s = viz_fit_scale(view->scale, w, h);
    int lanes_y = HEADER_H(s) + AXIS_H(s), lanes_h;
    cycles_t span = view->span ? view->span : v->pre.span, t = v->t;
    int tlb_w = w >= 1000 ? TLB_W(s) : w * 3 / 10, label_w = w >= 1000 ? LABEL_W(s) : w / 5;

    memset(L, 0, sizeof(*L));
    L->w = w;
    L->h = h;
    L->s = s;
    if (label_w > w / 4)
        label_w = w / 4;
    if (tlb_w > w * 3 / 10)
        tlb_w = w * 3 / 10;
    lanes_h = h - lanes_y - (STRIP_H(s) + MARGIN) - (BOTTOM_H(s) + MARGIN);
    if (lanes_h < MIN_LANE_H(s))
        lanes_h = MIN_LANE_H(s);
    L->nvis = (u32)(lanes_h / MIN_LANE_H(s));
    if (L->nvis > v->nr_cpus)
        L->nvis = v->nr_cpus;
    L->first = view->first_lane;
    if (L->first + L->nvis > v->nr_cpus)
        L->first = v->nr_cpus - L->nvis;
    L->lane_h = lanes_h / (int)(L->nvis ? L->nvis : 1);
    if (L->lane_h > 160 * s)
        L->lane_h = 160 * s;
    L->lanes = (struct viz_rect){ 0, lanes_y, w, L->lane_h * (int)L->nvis };
    L->tlb_w = tlb_w;
    L->tlb_x = w - tlb_w - MARGIN;
    L->chart = (struct viz_rect){ label_w, lanes_y, L->tlb_x - MARGIN - label_w, L->lanes.h };
    L->axis = (struct viz_rect){ label_w, HEADER_H(s), L->chart.w, AXIS_H(s) };
    L->strip = (struct viz_rect){ MARGIN, h - BOTTOM_H(s) - MARGIN - STRIP_H(s), w - 2 * MARGIN,
                                  STRIP_H(s) };
    L->counters = (struct viz_rect){ MARGIN, h - BOTTOM_H(s) - 2, w / 2 - MARGIN, BOTTOM_H(s) - 4 };
    L->legend = (struct viz_rect){ w / 2 + 4, h - BOTTOM_H(s) - 2, w / 2 - MARGIN - 4,
                                   BOTTOM_H(s) - 4 };
    if (span < 16)
        span = 16;
    L->span = span;
    L->t0 = t > (cycles_t)(span * VIZ_NOW_FRAC) ? t - (cycles_t)(span * VIZ_NOW_FRAC) : 0;
}

/* ==== layout queries ====================================================================================== */

static void layout_for(const struct viz *v, const struct viz_view *view, const struct viz_fb *fb,
                       struct layout *L)
{
    struct viz_view def;

    if (!view) {
        viz_view_default(v, &def);
        view = &def;
    }
    viz_layout(v, view, fb ? fb->w : 1280, fb ? fb->h : 800, L);
}

bool viz_lane_rect(const struct viz *v, const struct viz_view *view, const struct viz_fb *fb,
                   u32 cpu, struct viz_rect *r)
{
    struct layout L;

    layout_for(v, view, fb, &L);
    if (!lane_shown(&L, cpu))
        return false;
    *r = band(&L, cpu);
    return true;
}

int viz_lane_x(const struct viz *v, const struct viz_view *view, const struct viz_fb *fb,
               cycles_t t)
{
    struct layout L;

    layout_for(v, view, fb, &L);
    return x_of(&L, t);
}

bool viz_tlb_rect(const struct viz *v, const struct viz_view *view, const struct viz_fb *fb,
                  u32 cpu, struct viz_rect *r)
{
    struct layout L;

    layout_for(v, view, fb, &L);
    if (!lane_shown(&L, cpu))
        return false;
    *r = (struct viz_rect){ L.tlb_x, lane_y(&L, cpu), L.tlb_w, L.lane_h };
    return true;
}

void viz_timeline_rect(const struct viz *v, const struct viz_view *view, const struct viz_fb *fb,
                       struct viz_rect *r)
{
    struct layout L;

    layout_for(v, view, fb, &L);
    *r = L.strip;
}

cycles_t viz_timeline_time(const struct viz *v, const struct viz_view *view,
                           const struct viz_fb *fb, int x)
{
    struct layout L;
    double f;

    layout_for(v, view, fb, &L);
    f = (double)(x - L.strip.x) / (L.strip.w > 1 ? L.strip.w - 1 : 1);
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    return (cycles_t)(f * (double)v->pre.end);
}

void viz_legend_rect(const struct viz *v, const struct viz_view *view, const struct viz_fb *fb,
                     struct viz_rect *r)
{
    struct layout L;

    layout_for(v, view, fb, &L);
    *r = L.legend;
}

u32 viz_visible_lanes(const struct viz *v, const struct viz_view *view, const struct viz_fb *fb)
{
    struct layout L;

    layout_for(v, view, fb, &L);
    return L.nvis;
}
