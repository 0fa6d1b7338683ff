/* sim/viz/viz.h - tlbviz, the visualizer: its library side.
 *
 * tlbviz drives the very simulation tlbsim runs (sim/engine/sim.h, the same
 * machine loader and policies); nothing here models hardware or the kernel.
 * It watches the engine between events and keeps just enough history to
 * draw the last stretch of time:
 *
 *   viz_open()    loads trace, machine and policy like `tlbsim run`, runs the
 *                 whole trace once (the "pre-pass": end time, every flush
 *                 request and mark, for the timeline strip), then starts a
 *                 second, live simulation at cycle 0;
 *   viz_seek()    moves the live simulation to a cycle: forward by stepping
 *                 the engine, backward by recreating it and running forward
 *                 (the engine is deterministic, so the picture is the same);
 *   viz_step()    fires exactly one engine event;
 *   viz_render()  draws the frame at the current cycle into a framebuffer.
 *
 * Rendering is pure software into struct viz_fb (0x00RRGGBB pixels), so
 * tests and --screenshot need no display and no SDL at all; the window
 * (viz_main.c) uploads the framebuffer into an SDL texture.
 *
 * Not thread-safe.  Errors are SIM_E* codes with a one-line err->msg.
 */
#ifndef TLBSIM_VIZ_H
#define TLBSIM_VIZ_H

#include "../../models/base.h"

/* ==== framebuffer =========================================================== */

struct viz_fb {
    u32 *px;                            /* w * h pixels, 0x00RRGGBB, row-major */
    int w, h;
    int cx0, cy0, cx1, cy1;             /* clip rectangle [cx0, cx1) x [cy0, cy1) */
};

int  viz_fb_init(struct viz_fb *fb, int w, int h);     /* SIM_OK, SIM_EINVAL, SIM_ENOMEM */
void viz_fb_free(struct viz_fb *fb);                    /* NULL-safe; zeroes fb */

/* Pixel at (x, y), or 0 outside the frame. */
static inline u32 viz_fb_get(const struct viz_fb *fb, int x, int y)
{
    if (x < 0 || y < 0 || x >= fb->w || y >= fb->h)
        return 0;
    return fb->px[(size_t)y * (size_t)fb->w + (size_t)x];
}

/* Write fb as PNG (8-bit RGB; deflate with fixed Huffman codes, or stored
 * blocks when that is not smaller): PATH.tmp, then rename.  SIM_EIO with a
 * message naming the path. */
int  viz_png_write(const char *path, const struct viz_fb *fb, struct sim_err *err);
/* The PNG bytes in a malloc'ed buffer the caller frees.  SIM_ENOMEM. */
int  viz_png_encode(const struct viz_fb *fb, u8 **out, size_t *len);

/* ==== what a lane shows ========================================================= */

/* One kind per colour of a CPU lane (legend order). */
enum viz_kind {
    VK_USER,                            /* running a user task (colour of its mm) */
    VK_USER_WAIT,                       /* user task, nothing to do (darker mm colour) */
    VK_KTHREAD,                         /* kernel thread on init_mm (not lazy) */
    VK_LAZY,                            /* kernel thread borrowing a user mm: lazy TLB */
    VK_IDLE,                            /* idle op, in a C-state (lazy too) */
    VK_HANDLER,                         /* in the flush IPI handler */
    VK_WALK,                            /* page walks (share of the stretch) */
    VK_SPIN,                            /* initiator spinning for acknowledgements */
    VK_PREEMPTED,                       /* vCPU descheduled by the host */
    VK_NONE,                            /* no task yet, or the trace is over for it */
    VK__COUNT
};

/* Fixed colours (0xRRGGBB). */
#define VIZ_COL_BG          0x12151bu   /* window background */
#define VIZ_COL_PANEL       0x1b1f27u   /* panel background */
#define VIZ_COL_TRACK       0x191d24u   /* empty lane */
#define VIZ_COL_FUTURE      0x15181eu   /* lane right of "now" */
#define VIZ_COL_GRID        0x2c323du
#define VIZ_COL_TEXT        0xdde3ecu
#define VIZ_COL_DIM         0x8b95a6u
#define VIZ_COL_NOW         0xffffffu   /* current-time line */
#define VIZ_COL_KTHREAD     0x76808fu
#define VIZ_COL_LAZY        0xf0a030u   /* amber */
#define VIZ_COL_IDLE        0x3b414cu
#define VIZ_COL_HANDLER     0xe5413cu   /* red */
#define VIZ_COL_WALK        0xf4dc4au   /* yellow */
#define VIZ_COL_SPIN        0xd04ee0u   /* magenta */
#define VIZ_COL_PREEMPTED   0x6e3a32u
#define VIZ_COL_NONE        0x23272fu
#define VIZ_COL_IPI         0x5cf2ffu   /* IPI in flight */
#define VIZ_COL_IPI_DONE    0x2f7a86u   /* IPI delivered and handled */
#define VIZ_COL_SKIP        0xf0a030u   /* lazy CPU skipped (lazy colour) */
#define VIZ_COL_FLUSH_FULL  0xff6f4fu   /* full flush */
#define VIZ_COL_FLUSH_PART  0x7cc6ffu   /* partial (ranged) flush */
#define VIZ_COL_MARK        0xf5f5a0u   /* trace marks */
#define VIZ_COL_GLOBAL      0xffffffu   /* hatch over global TLB entries */
#define VIZ_COL_KERNEL_MM   0x9aa4b2u   /* TLB entries of init_mm (kernel) */

/* Colour of a lane kind; mm (a trace id) matters for VK_USER, VK_USER_WAIT. */
u32  viz_kind_color(enum viz_kind k, s64 mm);
/* Colour of an address space's TLB entries (mm < 0: kernel). */
u32  viz_mm_color(s64 mm);
const char *viz_kind_name(enum viz_kind k);            /* legend text */

/* ==== the visualizer state =============================================== */

#define VIZ_MAX_SETS 64

struct viz_opts {
    const char *trace;                  /* path (JSON Lines or binary) */
    const char *machine;                /* model path or shipped name; NULL: default */
    const char *policy;                 /* NULL: "linux" */
    const char *sets[VIZ_MAX_SETS];     /* --set KEY=VALUE, applied in order */
    u32 nr_sets;
    bool quiet;                         /* no progress on stderr */
};

struct viz;

/* Load and pre-run.  SIM_EINVAL/EPARSE/EIO... for bad input (message names
 * file, line and field, like tlbsim), SIM_ENOMEM.  *out NULL on error. */
int  viz_open(const struct viz_opts *o, struct viz **out, struct sim_err *err);
void viz_close(struct viz *v);                          /* NULL-safe */

/* Move to cycle t (clamped to [0, end]).  SIM_OK or an engine error. */
int  viz_seek(struct viz *v, cycles_t t, struct sim_err *err);
/* As viz_seek forward, but fire at most max_events engine events (0: no
 * limit); the clock stops where the engine got to.  For smooth playing. */
int  viz_advance(struct viz *v, cycles_t t, u64 max_events, struct sim_err *err);
/* Fire one engine event and move the clock to the engine's time.
 * Returns 1 if events remain, 0 at the end, or a negative SIM_E* code. */
int  viz_step(struct viz *v, struct sim_err *err);
/* Switch to another policy: both simulations restart from cycle 0 and the
 * live one runs back to the current cycle (clamped to the new end).
 * SIM_ENOENT for an unknown name. */
int  viz_set_policy(struct viz *v, const char *name, struct sim_err *err);
/* Jump to the next (dir > 0) or previous (dir < 0) flush request: the
 * clock moves span / 20 past the request's completion, but at most
 * 0.6 * span past the request (span 0: the fitted one).  "Next" counts from the request jumped
 * to last while the clock has not moved since, else from the current
 * cycle.  Returns 1 after a jump, 0 when there is no such request, or a
 * negative SIM_E* code. */
int  viz_seek_flush(struct viz *v, cycles_t span, int dir, struct sim_err *err);
/* Make sure the history reaches back to `from` (re-running if pruned). */
int  viz_ensure_history(struct viz *v, cycles_t from, struct sim_err *err);

cycles_t    viz_time(const struct viz *v);             /* the current cycle */
cycles_t    viz_end(const struct viz *v);              /* last cycle of the run */
const char *viz_policy(const struct viz *v);
u32         viz_nr_cpus(const struct viz *v);
cycles_t    viz_default_span(const struct viz *v);     /* fitted lane chart width */
double      viz_default_speed(const struct viz *v);    /* fitted speed, cycles per second */
struct sim;
const struct sim *viz_sim(const struct viz *v);        /* the live simulation (owned by v) */

/* What the lane of `cpu` shows at cycle t (history up to the current cycle,
 * the live state after it).  *mm gets the mm id for user/lazy kinds, else -1. */
enum viz_kind viz_lane_kind_at(const struct viz *v, u32 cpu, cycles_t t, s64 *mm);
/* IPIs in flight at the current cycle (sent, not yet handled). */
u32  viz_ipis_in_flight(const struct viz *v);

/* ==== drawing ================================================================= */

struct viz_rect { int x, y, w, h; };

/* A label the last frame drew (for tests: see viz_view.labels). */
struct viz_label {
    struct viz_rect box;                /* its box, background included */
    u32 count;                          /* events it stands for; > 1: collapsed */
    char text[64];
};

struct viz_label_log {
    struct viz_label *a;                /* caller's array of cap entries */
    u32 cap, n;                         /* n: labels drawn (at most cap kept) */
};

struct viz_view {
    cycles_t span;                      /* lane chart width in cycles (0: default) */
    int hover_x, hover_y;               /* mouse position; -1: none */
    bool help;                          /* keyboard help overlay */
    bool playing;                       /* header shows PLAY or PAUSE */
    double speed;                       /* cycles per second (header) */
    u32 first_lane;                     /* first CPU shown (scrolling) */
    const char *status;                 /* transient message in the header, or NULL */
    int scale;                          /* text scale 1..VIZ_MAX_SCALE (0: 1) */
    struct viz_label_log *labels;       /* optional: gets the lane chart's labels */
};

void viz_view_default(const struct viz *v, struct viz_view *view);
/* The text scale a w x h frame uses for a requested one: at most
 * VIZ_MAX_SCALE and what fits, 640x400 pixels per step; at least 1. */
int  viz_fit_scale(int scale, int w, int h);
/* Draw the whole frame (fb->w x fb->h; any size from 640x400 up). */
void viz_render(const struct viz *v, const struct viz_view *view, struct viz_fb *fb);

/* Layout queries (clicks in the window, pixel checks in the tests).  All
 * take the frame size from fb. */
/* Lane chart area of cpu's lane; false if the lane is scrolled away. */
bool viz_lane_rect(const struct viz *v, const struct viz_view *view,
                   const struct viz_fb *fb, u32 cpu, struct viz_rect *r);
/* x of cycle t in the lane chart (may lie outside the chart). */
int  viz_lane_x(const struct viz *v, const struct viz_view *view,
                const struct viz_fb *fb, cycles_t t);
/* TLB occupancy box of cpu (right of its lane). */
bool viz_tlb_rect(const struct viz *v, const struct viz_view *view,
                  const struct viz_fb *fb, u32 cpu, struct viz_rect *r);
/* The timeline strip, and the cycle under x in it. */
void viz_timeline_rect(const struct viz *v, const struct viz_view *view,
                       const struct viz_fb *fb, struct viz_rect *r);
cycles_t viz_timeline_time(const struct viz *v, const struct viz_view *view,
                           const struct viz_fb *fb, int x);
void viz_legend_rect(const struct viz *v, const struct viz_view *view,
                     const struct viz_fb *fb, struct viz_rect *r);
/* Lanes that fit in the frame. */
u32  viz_visible_lanes(const struct viz *v, const struct viz_view *view,
                       const struct viz_fb *fb);

/* Tooltip text for a point (what hovering shows): up to `len` bytes,
 * lines separated by '\n'.  Returns false when nothing is there. */
bool viz_describe(const struct viz *v, const struct viz_view *view,
                  const struct viz_fb *fb, int x, int y, char *buf, size_t len);

/* Open, seek to `at`, render into fb (allocated here at w x h; the caller
 * frees it with viz_fb_free), close.  view may be NULL (defaults). */
int  viz_render_at(const struct viz_opts *o, cycles_t at, const struct viz_view *view,
                   int w, int h, struct viz_fb *fb, struct sim_err *err);

/* ==== text (built-in 5x7 bitmap font in a 6x10 cell) ============================== */

#define VIZ_MAX_SCALE 4
#define VIZ_FONT_W 6
#define VIZ_FONT_H 10

/* Draw s at (x, y) (top-left of the first cell), scale 1..4; returns the
 * x after the last character.  Characters outside 32..126 draw as '?'. */
int  viz_text(struct viz_fb *fb, int x, int y, const char *s, u32 col, int scale);
int  viz_text_width(const char *s, int scale);
/* Bit rows of a glyph: 9 rows, bit 4 = leftmost column. */
const u8 *viz_font_glyph(int c);

#endif
