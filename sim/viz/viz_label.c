/* sim/viz/viz_label.c - text labels in the lane chart that never overlap.
 *
 * Every label of a frame goes through one registry (struct viz_labels):
 * a label is drawn only where its box meets no box placed before it, so
 * the order of placement is the order of importance.  Marks that labels
 * must not cover (the skip crosses) are placed as obstacles.
 *
 * Labels of a row of events (the skips on one lane, the flush bars of one
 * initiator) are collapsed: walking the events left to right, an event
 * whose anchor (its mark or bar) starts before the end of the label of the
 * events so far joins them, and the one label, right of the last anchor,
 * counts them: "3x skipped: lazy", or "3 flushes" when their texts differ.
 * So a label never lies on an anchor of its own row, and the next group's
 * first anchor starts after it.  A row with a right edge puts a label that
 * would cross it left of its group instead (if that place is free).
 */
#include "viz_priv.h"

#include <stdio.h>
#include <string.h>

static bool meets(const struct viz_rect *a, const struct viz_rect *b)
{
    return a->x < b->x + b->w && b->x < a->x + a->w && a->y < b->y + b->h && b->y < a->y + a->h;
}

void viz_labels_init(struct viz_labels *ls, struct viz_label_log *log, int scale)
{
    ls->n = 0;
    ls->scale = scale;
    ls->log = log;
    if (log)
        log->n = 0;
}

bool viz_label_free(const struct viz_labels *ls, const struct viz_rect *r)
{
    for (u32 i = 0; i < ls->n; i++)
        if (meets(&ls->box[i], r))
            return false;
    return ls->n < VIZ_MAX_LABELS;
}

bool viz_label_block(struct viz_labels *ls, const struct viz_rect *r)
{
    if (ls->n == VIZ_MAX_LABELS)
        return false;
    ls->box[ls->n++] = *r;
    return true;
}

/* The box of text drawn at (x, y): one pixel around the glyph cells. */
static struct viz_rect text_box(const struct viz_labels *ls, int x, int y, const char *text)
{
    return (struct viz_rect){ x - 2, y - 1, viz_text_width(text, ls->scale) + 4,
                              VIZ_FONT_H * ls->scale + 1 };
}

bool viz_label(struct viz_labels *ls, struct viz_fb *fb, int x, int y, const char *text,
               u32 col, u32 bg, u32 count)
{
    struct viz_rect b = text_box(ls, x, y, text);

    if (!viz_label_free(ls, &b) || !viz_label_block(ls, &b))
        return false;
    if (bg != VIZ_NO_BG)
        viz_fill(fb, b.x, b.y, b.w, b.h, bg);
    viz_text(fb, x, y, text, col, ls->scale);
    if (ls->log && ls->log->n < ls->log->cap) {
        struct viz_label *l = &ls->log->a[ls->log->n++];
        l->box = b;
        l->count = count;
        snprintf(l->text, sizeof(l->text), "%s", text);
    }
    return true;
}

/* ---- a row of events, collapsed ---- */

static void run_text(const struct viz_run *r, char *b, size_t len)
{
    if (r->n == 1)
        snprintf(b, len, "%s", r->text);
    else if (r->mixed)
        snprintf(b, len, "%u %s", r->n, r->many);
    else
        snprintf(b, len, "%ux %s", r->n, r->text);
}

/* Right end of the run's label if it were drawn now. */
static int run_end(const struct viz_run *r, const struct viz_labels *ls)
{
    char b[sizeof(r->text) + 16];

    run_text(r, b, sizeof(b));
    return r->x1 + r->pad + viz_text_width(b, ls->scale) + 2;
}

void viz_run_start(struct viz_run *r, int y, u32 col, u32 bg, int pad, const char *many)
{
    memset(r, 0, sizeof(*r));
    r->y = y;
    r->col = col;
    r->bg = bg;
    r->pad = pad;
    r->many = many;
}

void viz_run_flush(struct viz_run *r, struct viz_labels *ls, struct viz_fb *fb)
{
    char b[sizeof(r->text) + 16];
    int x;

    if (!r->n)
        return;
    run_text(r, b, sizeof(b));
    x = r->x1 + r->pad;
    if (r->right && x + viz_text_width(b, ls->scale) + 2 > r->right)
        x = r->x0 - r->pad - viz_text_width(b, ls->scale);     /* left of the group */
    viz_label(ls, fb, x, r->y, b, r->col, r->bg, r->n);
    r->n = 0;
    r->mixed = false;
}

void viz_run_add(struct viz_run *r, struct viz_labels *ls, struct viz_fb *fb, int x0, int x1,
                 const char *text)
{
    if (r->n && x0 > run_end(r, ls))
        viz_run_flush(r, ls, fb);
    if (!r->n) {
        snprintf(r->text, sizeof(r->text), "%s", text);
        r->x0 = x0;
        r->x1 = x1;
    } else if (strcmp(r->text, text)) {
        r->mixed = true;
    }
    if (x1 > r->x1)
        r->x1 = x1;
    r->n++;
}
