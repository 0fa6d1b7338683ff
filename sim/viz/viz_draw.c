/* sim/viz/viz_draw.c - framebuffer and drawing primitives.
 *
 * Everything draws through put() or fill(), which honour the clip
 * rectangle, so callers may pass coordinates outside the frame.  No
 * anti-aliasing: the tests compare exact colours, and a lane drawn in the
 * lazy colour must read back as exactly that colour.
 */
#include "viz_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VIZ_MAX_DIM 16384

int viz_fb_init(struct viz_fb *fb, int w, int h)
{
    memset(fb, 0, sizeof(*fb));
    if (w <= 0 || h <= 0 || w > VIZ_MAX_DIM || h > VIZ_MAX_DIM)
        return SIM_EINVAL;
    fb->px = calloc((size_t)w * (size_t)h, sizeof(u32));
    if (!fb->px)
        return SIM_ENOMEM;
    fb->w = w;
    fb->h = h;
    viz_noclip(fb);
    return SIM_OK;
}

void viz_fb_free(struct viz_fb *fb)
{
    if (!fb)
        return;
    free(fb->px);
    memset(fb, 0, sizeof(*fb));
}

void viz_noclip(struct viz_fb *fb)
{
    fb->cx0 = fb->cy0 = 0;
    fb->cx1 = fb->w;
    fb->cy1 = fb->h;
}

void viz_clip(struct viz_fb *fb, int x, int y, int w, int h)
{
    fb->cx0 = x < 0 ? 0 : x;
    fb->cy0 = y < 0 ? 0 : y;
    fb->cx1 = x + w > fb->w ? fb->w : x + w;
    fb->cy1 = y + h > fb->h ? fb->h : y + h;
}

static inline void put(struct viz_fb *fb, int x, int y, u32 col)
{
    if (x >= fb->cx0 && x < fb->cx1 && y >= fb->cy0 && y < fb->cy1)
        fb->px[(size_t)y * (size_t)fb->w + (size_t)x] = col;
}

void viz_fill(struct viz_fb *fb, int x, int y, int w, int h, u32 col)
{
    int x0 = x < fb->cx0 ? fb->cx0 : x, y0 = y < fb->cy0 ? fb->cy0 : y;
    int x1 = x + w > fb->cx1 ? fb->cx1 : x + w, y1 = y + h > fb->cy1 ? fb->cy1 : y + h;

    for (int yy = y0; yy < y1; yy++) {
        u32 *row = fb->px + (size_t)yy * (size_t)fb->w;
        for (int xx = x0; xx < x1; xx++)
            row[xx] = col;
    }
}

void viz_box(struct viz_fb *fb, int x, int y, int w, int h, u32 col)
{
    if (w <= 0 || h <= 0)
        return;
    viz_fill(fb, x, y, w, 1, col);
    viz_fill(fb, x, y + h - 1, w, 1, col);
    viz_fill(fb, x, y, 1, h, col);
    viz_fill(fb, x + w - 1, y, 1, h, col);
}

u32 viz_mix(u32 a, u32 b, int alpha)
{
    u32 r = 0;

    for (int sh = 0; sh <= 16; sh += 8) {
        int ca = (int)(a >> sh & 0xff), cb = (int)(b >> sh & 0xff);
        r |= (u32)((ca * (256 - alpha) + cb * alpha) >> 8) << sh;
    }
    return r;
}

void viz_shade(struct viz_fb *fb, int x, int y, int w, int h, u32 col, int alpha)
{
    int x0 = x < fb->cx0 ? fb->cx0 : x, y0 = y < fb->cy0 ? fb->cy0 : y;
    int x1 = x + w > fb->cx1 ? fb->cx1 : x + w, y1 = y + h > fb->cy1 ? fb->cy1 : y + h;

    for (int yy = y0; yy < y1; yy++) {
        u32 *row = fb->px + (size_t)yy * (size_t)fb->w;
        for (int xx = x0; xx < x1; xx++)
            row[xx] = viz_mix(row[xx], col, alpha);
    }
}

/* Bresenham, with a pattern: pixel i drawn when (i % (on+off)) < on. */
static void line_pat(struct viz_fb *fb, int x0, int y0, int x1, int y1, u32 col,
                     int on, int off)
{
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int e = dx + dy, i = 0, period = on + off;

    /* Clamp absurd lengths (a time far outside the chart) to the frame. */
    if (dx > 4 * VIZ_MAX_DIM || -dy > 4 * VIZ_MAX_DIM)
        return;
    for (;; i++) {
        if (!off || i % period < on)
            put(fb, x0, y0, col);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

void viz_line(struct viz_fb *fb, int x0, int y0, int x1, int y1, u32 col)
{
    line_pat(fb, x0, y0, x1, y1, col, 1, 0);
}

void viz_dash(struct viz_fb *fb, int x0, int y0, int x1, int y1, u32 col, int on, int off)
{
    line_pat(fb, x0, y0, x1, y1, col, on < 1 ? 1 : on, off < 0 ? 0 : off);
}

void viz_thick_line(struct viz_fb *fb, int x0, int y0, int x1, int y1, u32 col)
{
    bool steep = abs(y1 - y0) > abs(x1 - x0);

    viz_line(fb, x0, y0, x1, y1, col);
    if (steep)
        viz_line(fb, x0 + 1, y0, x1 + 1, y1, col);
    else
        viz_line(fb, x0, y0 + 1, x1, y1 + 1, col);
}

/* Filled triangle by scanlines (small: arrow heads). */
static void triangle(struct viz_fb *fb, const int xs[3], const int ys[3], u32 col)
{
    int ymin = ys[0], ymax = ys[0];

    for (int i = 1; i < 3; i++) {
        ymin = ys[i] < ymin ? ys[i] : ymin;
        ymax = ys[i] > ymax ? ys[i] : ymax;
    }
    for (int y = ymin; y <= ymax; y++) {
        int lo = VIZ_MAX_DIM * 4, hi = -VIZ_MAX_DIM * 4;
        for (int i = 0; i < 3; i++) {
            int j = (i + 1) % 3, ya = ys[i], yb = ys[j];
            if ((y < ya && y < yb) || (y > ya && y > yb))
                continue;
            if (ya == yb) {
                lo = xs[i] < lo ? xs[i] : lo;
                hi = xs[i] > hi ? xs[i] : hi;
                lo = xs[j] < lo ? xs[j] : lo;
                hi = xs[j] > hi ? xs[j] : hi;
                continue;
            }
            int x = xs[i] + (xs[j] - xs[i]) * (y - ya) / (yb - ya);
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
        }
        if (lo <= hi)
            viz_fill(fb, lo, y, hi - lo + 1, 1, col);
    }
}

void viz_arrow(struct viz_fb *fb, int x0, int y0, int x1, int y1, u32 col, int head)
{
    double dx = x1 - x0, dy = y1 - y0, len = dx * dx + dy * dy;
    int xs[3], ys[3];

    viz_thick_line(fb, x0, y0, x1, y1, col);
    if (len < 1.0 || head <= 0)
        return;
    len = sqrt(len);
    dx /= len;
    dy /= len;
    /* Head: tip at (x1, y1), base `head` back, half-width head/2. */
    double bx = x1 - dx * head, by = y1 - dy * head, hw = head * 0.5;
    xs[0] = x1;
    ys[0] = y1;
    xs[1] = (int)(bx - dy * hw);
    ys[1] = (int)(by + dx * hw);
    xs[2] = (int)(bx + dy * hw);
    ys[2] = (int)(by - dx * hw);
    triangle(fb, xs, ys, col);
}

void viz_hatch(struct viz_fb *fb, int x, int y, int w, int h, u32 col, int step)
{
    int sx0 = fb->cx0, sy0 = fb->cy0, sx1 = fb->cx1, sy1 = fb->cy1;

    if (w <= 0 || h <= 0 || step < 2)
        return;
    /* Intersect the clip with the rectangle, draw "/" lines across it. */
    fb->cx0 = x > sx0 ? x : sx0;
    fb->cy0 = y > sy0 ? y : sy0;
    fb->cx1 = x + w < sx1 ? x + w : sx1;
    fb->cy1 = y + h < sy1 ? y + h : sy1;
    for (int k = -h; k < w; k += step)
        viz_line(fb, x + k, y + h - 1, x + k + h - 1, y, col);
    fb->cx0 = sx0;
    fb->cy0 = sy0;
    fb->cx1 = sx1;
    fb->cy1 = sy1;
}

void viz_cross(struct viz_fb *fb, int cx, int cy, int r, u32 col)
{
    viz_thick_line(fb, cx - r, cy - r, cx + r, cy + r, col);
    viz_thick_line(fb, cx - r, cy + r, cx + r, cy - r, col);
}
