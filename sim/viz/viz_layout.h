/* sim/viz/viz_layout.h - where things are in a tlbviz frame (internal):
 * the layout of a frame of any size and text scale (drawing in
 * viz_render.c, the public layout queries in viz_layout.c), and the
 * conversions between chart x and cycles. */
#ifndef TLBSIM_VIZ_LAYOUT_H
#define TLBSIM_VIZ_LAYOUT_H

#include "viz_priv.h"

#include <math.h>

/* Sizes at text scale s (the values at s = 1: 30, 14, 58, 118). */
#define HEADER_H(s) (8 + 22 * (s))
#define AXIS_H(s) (4 + 10 * (s))
#define STRIP_H(s) (44 + 14 * (s))
#define BOTTOM_H(s) (16 + 102 * (s))
#define MARGIN 8
#define LABEL_W(s) (196 * (s))
#define TLB_W(s) (180 + 120 * (s))
#define MIN_LANE_H(s) (6 + 10 * (s))
#define BRACKET_H(s) (2 + 10 * (s))     /* flush brackets above a lane's band */
#define LINE_H(s) (11 * (s))            /* text line pitch */
#define LANE_LABELLED(s) (20 + 20 * (s))    /* lanes this high get brackets and labels */


struct layout {
    int w, h;
    struct viz_rect axis;               /* tick labels above the chart */
    struct viz_rect lanes;              /* every visible lane, full width */
    struct viz_rect chart;              /* lane chart columns (all lanes) */
    int tlb_x, tlb_w;
    int lane_h;
    u32 first, nvis;
    struct viz_rect strip, counters, legend;
    cycles_t t0, span;                  /* chart window [t0, t0 + span) */
    int s;                              /* text scale */
    struct viz_labels *lab;             /* this frame's labels (viz_render only) */
};

/* The layout of a w x h frame of v seen through view. */
void viz_layout(const struct viz *v, const struct viz_view *view, int w, int h,
                struct layout *L);

static inline int x_of(const struct layout *L, cycles_t t)
{
    double f = ((double)t - (double)L->t0) / (double)L->span;

    if (f < -4.0)
        f = -4.0;
    if (f > 5.0)
        f = 5.0;
    return L->chart.x + (int)floor(f * L->chart.w);
}

static inline cycles_t t_of(const struct layout *L, int x)
{
    double f = (double)(x - L->chart.x) / (double)(L->chart.w ? L->chart.w : 1);
    double t = (double)L->t0 + f * (double)L->span;

    return t < 0 ? 0 : (cycles_t)t;
}

static inline int lane_y(const struct layout *L, u32 cpu)
{
    return L->lanes.y + (int)(cpu - L->first) * L->lane_h;
}

static inline bool lane_shown(const struct layout *L, u32 cpu)
{
    return cpu >= L->first && cpu < L->first + L->nvis;
}

/* The coloured band of a lane (below the flush bracket row). */
static inline struct viz_rect band(const struct layout *L, u32 cpu)
{
    int top = L->lane_h >= LANE_LABELLED(L->s) ? BRACKET_H(L->s) : 1;
    int gap = L->lane_h >= LANE_LABELLED(L->s) ? 6 : 2;

    return (struct viz_rect){ L->chart.x, lane_y(L, cpu) + top, L->chart.w,
                              L->lane_h - top - gap };
}

static inline int band_mid(const struct layout *L, u32 cpu)
{
    struct viz_rect b = band(L, cpu);
    return b.y + b.h / 2;
}

#endif
