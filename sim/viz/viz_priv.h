/* sim/viz/viz_priv.h - tlbviz internals shared by viz_sim.c (driving the
 * engine, keeping history) and viz_render.c (drawing it).
 *
 * History is what the engine does not keep: for each CPU a list of
 * stretches of time with what the lane showed (struct viz_seg), the IPIs
 * seen in flight, the lazy CPUs a flush skipped, and the local TLB flushes.
 * The engine's hooks give the exact parts (interrupt spans, the lazy CPUs a
 * flush skipped); after every engine event each CPU's clock and counters,
 * compared with their values before it, give the rest (see viz_sim.c:
 * record_lane()).  History is pruned VIZ_KEEP_SPANS lane widths behind the
 * current cycle.
 */
#ifndef TLBSIM_VIZ_PRIV_H
#define TLBSIM_VIZ_PRIV_H

#include <assert.h>

#include "../../models/cpu.h"
#include "../../models/machine.h"
#include "../../models/policy.h"
#include "../engine/sim.h"
#include "../io/trace.h"
#include "viz.h"

#define VIZ_MAX_FLUSH_RECS (1u << 19)   /* pre-pass flush records kept (~40 MiB) */
#define VIZ_MAX_MARKS 4096              /* pre-pass marks kept */
#define VIZ_STRIP_BUCKETS 2048          /* timeline strip resolution */
#define VIZ_KEEP_SPANS 4                /* history kept behind "now", in spans */
#define VIZ_MAX_HIST (1u << 20)         /* entries of one history list before pruning */
#define VIZ_NOW_FRAC 0.8                /* "now" at this fraction of the lane chart */
#define VIZ_FIT_COVER 0.75              /* fitted history holds a request this often */
#define VIZ_FIT_PLAY_S 60.0             /* fitted speed plays the run in this many seconds */
#define VIZ_FIT_CROSS_S 2.0             /* fitted span lasts at least this long at that speed */

/* ==== history ================================================================ */

/* What a lane showed over [t0, t1). */
struct viz_seg {
    cycles_t t0, t1;
    s64 mm;                             /* trace mm id (user/lazy kinds) or -1 */
    u8 kind;                            /* enum viz_kind */
};

/* A growable array pruned from the front: items [head, n) are live. */
struct viz_vec {
    void *a;
    size_t n, cap, head;
    size_t size;                        /* bytes per item */
    size_t dropped;                     /* items moved out by compaction: logical = physical + dropped */
};

#define VEC_AT(v, T, i) (((T *)(v)->a)[(i)])

struct viz_ctx {                        /* a CPU's task state between events */
    u8 kind;                            /* enum viz_kind */
    s64 mm;
};

struct viz_lane {
    struct viz_vec segs;                /* struct viz_seg, by time */
    cycles_t clock;                     /* CPU clock after the last event */
    struct cpu_stats last;              /* counters after the last event */
    struct viz_ctx ctx;                 /* task state after the last event */
    cycles_t wait_until;                /* next op starts here (sim_cpu_waiting); CYCLES_NEVER: no wait */
    bool wait_busy;                     /* that wait is `gap` work, not idling for `t` */
    struct viz_ctx wait;                /* what [clock, wait_until) shows */
};

/* What lane l shows at t >= l->clock, beyond the CPU's own clock: the wait
 * for its next op, then the state it is in. */
static inline struct viz_ctx viz_lane_tail(const struct viz_lane *l, cycles_t t)
{
    return t < l->wait_until ? l->wait : l->ctx;
}

struct viz_ipi {                        /* one flush IPI seen queued on a target */
    u32 from, to;
    cycles_t sent, arrival;
    cycles_t done;                      /* left the queue (handled); CYCLES_NEVER while queued */
};

struct viz_skip {                       /* a lazy CPU that a flush did not interrupt */
    u32 cpu, initiator;
    cycles_t t;                         /* the request (flush_rec.t_request) */
};

struct viz_irq {                        /* a flush interrupt in the current event (irq hook) */
    u32 cpu;
    u32 nr;                             /* requests handled; 0: a tick running deferred work */
    cycles_t t0, t1;                    /* exact span [t0, t1) */
};

struct viz_tick {                       /* a local TLB flush (tlb:tlb_flush) */
    cycles_t t;
    u32 cpu;
    s64 pages;                          /* -1: full */
    u8 reason;                          /* enum tlb_flush_reason */
};

/* ==== pre-pass results ========================================================= */

struct viz_flush {                      /* compact copy of a struct flush_rec */
    cycles_t t_request, t_done;
    u64 start, end, pages;
    s64 mm;
    const char *cause;                  /* static string from trace_op_name() */
    u32 initiator, targets, skipped_lazy, skipped_other;
    bool full, freed_tables;
};

struct viz_mark {
    cycles_t t;
    char label[TRACE_MAX_LABEL + 1];
};

struct viz_pre {
    cycles_t end;                       /* sim_end_cycles() of the whole run */
    struct viz_flush *fl;               /* sorted by (t_request, initiator) */
    size_t nr_fl;
    u64 fl_dropped;                     /* beyond VIZ_MAX_FLUSH_RECS */
    cycles_t max_latency;
    struct viz_mark *marks;
    size_t nr_marks;
    u32 strip_full[VIZ_STRIP_BUCKETS];  /* flush requests per bucket of the run */
    u32 strip_part[VIZ_STRIP_BUCKETS];
    u32 strip_max;
    cycles_t span;                      /* fitted lane chart width (fit_view) */
    double speed;                       /* fitted playing speed, cycles per second */
    u64 shootdowns;
};

/* ==== the visualizer ============================================================= */

struct viz {
    struct viz_opts o;
    char trace_name[128];               /* header name, else the file's base name */
    struct machine m;                   /* loaded, overrides applied */
    const struct flush_policy *pol;
    struct trace_header hdr;

    struct viz_pre pre;                 /* of the current policy */

    struct sim *s;                      /* the live simulation */
    bool done;                          /* the live engine has no events left */
    cycles_t t;                         /* the cycle shown */
    u64 events;                         /* engine events fired in the live run */
    cycles_t hist_from;                 /* history complete from this cycle on */
    bool jumped;                        /* viz_seek_flush() went to jump_req ... */
    cycles_t jump_req, jump_at;         /* ... by moving the clock to jump_at */

    u32 nr_cpus;
    struct viz_lane *lanes;
    struct viz_vec ipis;                /* struct viz_ipi, by sent */
    struct viz_vec skips;               /* struct viz_skip, by t */
    struct viz_vec ticks;               /* struct viz_tick, by t */
    u32 *active;                        /* indices (absolute) of queued IPIs */
    u32 nr_active, cap_active;
    struct sim_ipi *ipibuf;             /* sim_ipis_in_flight scratch */
    u32 cap_ipibuf;
    bool *seen;                         /* scratch: active[i] still queued */
    struct viz_vec irqs;                /* struct viz_irq of the current event, by time */
    cycles_t keep;                      /* longest history a view asked for */
    int error;                          /* sticky allocation failure in a hook */
};

/* viz_sim.c helpers for the renderer */
const struct viz_flush *viz_flush_lookup(const struct viz *v, u32 initiator, cycles_t t);
/* First flush record with t_request >= t. */
size_t viz_flush_lower(const struct viz *v, cycles_t t);
/* First index i in [head, n) of a time-ordered vector whose key >= t, where
 * the key of an item is the cycles_t at byte offset `off`. */
size_t viz_vec_lower(const struct viz_vec *vec, size_t off, cycles_t t);
/* The flush request in progress on cpu at the current cycle, or NULL. */
const struct viz_flush *viz_active_flush(const struct viz *v, u32 cpu);
/* Trace id of TLB-entry mm index idx (sim_mm_id): -1 init_mm, -2 none. */
s64 viz_mm_id(const struct viz *v, u16 idx);

/* ==== labels that never overlap (viz_label.c) ================================ */

#define VIZ_MAX_LABELS 1024             /* label and obstacle boxes of one frame */
#define VIZ_NO_BG 0xff000000u           /* viz_label(): no background box */

struct viz_labels {                     /* the boxes placed in this frame */
    struct viz_rect box[VIZ_MAX_LABELS];
    u32 n;
    int scale;                          /* text scale */
    struct viz_label_log *log;          /* optional: what was drawn */
};

/* A row of events whose labels collapse into one per group. */
struct viz_run {
    u32 n;                              /* events in the current group */
    int x0, x1;                         /* left end of its first anchor, right end of all */
    int right;                          /* labels end before this x (0: no limit) */
    int y, pad;                         /* label row; gap after the last anchor */
    u32 col, bg;
    bool mixed;                         /* texts differ: "N <many>" */
    const char *many;
    char text[TRACE_MAX_LABEL + 1];     /* the first event's text */
};

void viz_labels_init(struct viz_labels *ls, struct viz_label_log *log, int scale);
/* r meets no placed box (and there is room for one more). */
bool viz_label_free(const struct viz_labels *ls, const struct viz_rect *r);
/* Place an obstacle: no label goes over r.  False when full. */
bool viz_label_block(struct viz_labels *ls, const struct viz_rect *r);
/* Draw text at (x, y) if its box is free (over a bg box unless VIZ_NO_BG);
 * count is the number of events it stands for.  False if not drawn. */
bool viz_label(struct viz_labels *ls, struct viz_fb *fb, int x, int y, const char *text,
               u32 col, u32 bg, u32 count);
void viz_run_start(struct viz_run *r, int y, u32 col, u32 bg, int pad, const char *many);
/* The next event of the row, left to right: its anchor [x0, x1] and text. */
void viz_run_add(struct viz_run *r, struct viz_labels *ls, struct viz_fb *fb, int x0, int x1,
                 const char *text);
void viz_run_flush(struct viz_run *r, struct viz_labels *ls, struct viz_fb *fb);

/* ==== drawing primitives (viz_draw.c), all clipped ======================== */

void viz_clip(struct viz_fb *fb, int x, int y, int w, int h);  /* intersect with the frame */
void viz_noclip(struct viz_fb *fb);
void viz_fill(struct viz_fb *fb, int x, int y, int w, int h, u32 col);
void viz_box(struct viz_fb *fb, int x, int y, int w, int h, u32 col);   /* outline */
/* Blend col over the rectangle with alpha/256. */
void viz_shade(struct viz_fb *fb, int x, int y, int w, int h, u32 col, int alpha);
void viz_line(struct viz_fb *fb, int x0, int y0, int x1, int y1, u32 col);
/* Dashed line: `on` pixels drawn, `off` skipped. */
void viz_dash(struct viz_fb *fb, int x0, int y0, int x1, int y1, u32 col, int on, int off);
void viz_thick_line(struct viz_fb *fb, int x0, int y0, int x1, int y1, u32 col);  /* 2 px */
/* Line with a filled head of `head` pixels at (x1, y1). */
void viz_arrow(struct viz_fb *fb, int x0, int y0, int x1, int y1, u32 col, int head);
/* Diagonal hatch lines every `step` pixels. */
void viz_hatch(struct viz_fb *fb, int x, int y, int w, int h, u32 col, int step);
void viz_cross(struct viz_fb *fb, int cx, int cy, int r, u32 col);
u32  viz_mix(u32 a, u32 b, int alpha);  /* a*(256-alpha) + b*alpha */

#endif
