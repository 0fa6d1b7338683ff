/* sim/engine/lockstep.c - one read of a trace for several simulations (see
 * lockstep.h).
 *
 * The tee keeps the blocks read and not yet passed by every branch in a
 * list, oldest first.  A block holds its ops as the reader gave them, and
 * copies of their address arrays and labels (the reader's own buffers are
 * only valid until its next op); a branch hands out a copy of the op with
 * vas and label pointing into the block, valid until the branch's next
 * op, as a reader's would be.  Blocks are recycled: once the first ones
 * are allocated, reading allocates nothing.
 */
#include "lockstep.h"

#include <stdlib.h>
#include <string.h>

#define TEE_LABEL_BYTES 16384u          /* label bytes per block */

struct tee_block {
    struct tee_block *next;
    u32 nr;                             /* ops */
    u32 nr_addrs;                       /* addresses used */
    u32 nr_label;                       /* label bytes used */
    struct trace_op ops[TEE_BLOCK_OPS];
    u32 va_off[TEE_BLOCK_OPS];          /* ops[i]'s addresses: addrs + va_off[i] */
    u32 label_off[TEE_BLOCK_OPS];       /* ops[i]'s label: labels + label_off[i] */
    u64 addrs[TEE_BLOCK_ADDRS + TRACE_MAX_ARRAY];
    char labels[TEE_LABEL_BYTES];
};

struct tee_branch {
    struct src_tee *t;
    struct tee_block *blk;              /* block of the last op handed out (or the first) */
    u32 idx;                            /* next op of blk */
    bool attached;                      /* taken, and still reading */
};

struct src_tee {
    struct trace_src up;
    struct tee_block *head, *tail;      /* blocks kept, oldest first; tail: the last read */
    struct tee_block *free;             /* for reuse */
    u32 refs;                           /* the creator's and every branch's not closed */
    u32 nr;
    u32 block_ops;                      /* ops per block, <= TEE_BLOCK_OPS */
    bool eof;
    int fail;                           /* the source's error, once read */
    struct sim_err err;
    u64 ops_read;
    struct tee_branch br[];
};

static void tee_unref(struct src_tee *t)
{
    struct tee_block *b, *n;

    if (--t->refs)
        return;
    for (b = t->head; b; b = n) {
        n = b->next;
        free(b);
    }
    for (b = t->free; b; b = n) {
        n = b->next;
        free(b);
    }
    if (t->up.close)
        t->up.close(t->up.ctx);
    free(t);
}

int src_tee_create(struct trace_src up, u32 nr, u32 block_ops, struct src_tee **out,
                   struct sim_err *err)
{
    struct src_tee *t = calloc(1, sizeof(*t) + nr * sizeof(t->br[0]));

    *out = NULL;
    if (t)
        t->head = t->tail = calloc(1, sizeof(*t->head));       /* empty: where branches start */
    if (!t || !t->head) {
        free(t);
        if (up.close)
            up.close(up.ctx);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    t->up = up;
    t->nr = nr;
    t->block_ops = block_ops && block_ops < TEE_BLOCK_OPS ? block_ops : TEE_BLOCK_OPS;
    t->refs = 1;
    *out = t;
    return SIM_OK;
}

static int branch_next(void *ctx, struct trace_op *op, struct sim_err *err)
{
    struct tee_branch *b = ctx;
    struct tee_block *blk = b->blk;
    u32 i = b->idx;

    if (i == blk->nr) {
        struct src_tee *t = b->t;

        if (!b->attached)
            return sim_err_set(err, SIM_EINTERNAL, "lockstep: read after detach");
        if (!blk->next) {
            if (t->fail) {
                *err = t->err;
                return t->fail;
            }
            return t->eof ? 0 : TRACE_SRC_WAIT;
        }
        b->blk = blk = blk->next;       /* blocks in the list are never empty */
        i = 0;
    }
    *op = blk->ops[i];
    if (op->vas)
        op->vas = blk->addrs + blk->va_off[i];
    if (op->label)
        op->label = blk->labels + blk->label_off[i];
    b->idx = i + 1;
    return 1;
}

static double branch_progress(const void *ctx)
{
    const struct src_tee *t = ((const struct tee_branch *)ctx)->t;

    return t->up.progress ? t->up.progress(t->up.ctx) : 0.0;
}

static void branch_close(void *ctx)
{
    struct tee_branch *b = ctx;

    b->attached = false;
    tee_unref(b->t);
}

struct trace_src src_tee_branch(struct src_tee *t, u32 i)
{
    struct tee_branch *b = &t->br[i];

    *b = (struct tee_branch){ .t = t, .blk = t->head, .attached = true };
    t->refs++;
    return (struct trace_src){ .ctx = b, .next = branch_next, .progress = branch_progress,
                               .close = branch_close };
}

void src_tee_detach(struct src_tee *t, u32 i)
{
    t->br[i].attached = false;
}

/* Move the blocks before the first one a branch still reads to the free
 * list (the last block read stays: new ones are linked after it). */
static void tee_release(struct src_tee *t)
{
    while (t->head != t->tail) {
        for (u32 i = 0; i < t->nr; i++)
            if (t->br[i].attached && t->br[i].blk == t->head)
                return;
        struct tee_block *b = t->head;
        t->head = b->next;
        b->next = t->free;
        t->free = b;
    }
}

int src_tee_fill(struct src_tee *t)
{
    struct tee_block *blk;

    if (t->eof || t->fail)
        return 0;
    tee_release(t);
    if ((blk = t->free))
        t->free = blk->next;
    else if (!(blk = malloc(sizeof(*blk)))) {
        t->fail = sim_err_set(&t->err, SIM_ENOMEM, "out of memory (reading the trace ahead)");
        return 0;
    }
    blk->next = NULL;
    blk->nr = blk->nr_addrs = blk->nr_label = 0;
    while (blk->nr < t->block_ops && blk->nr_addrs < TEE_BLOCK_ADDRS &&
           blk->nr_label + TRACE_MAX_LABEL + 1 <= TEE_LABEL_BYTES) {
        struct trace_op *op = &blk->ops[blk->nr];
        int rc = t->up.next(t->up.ctx, op, &t->err);

        if (rc != 1) {
            if (rc == 0)
                t->eof = true;
            else
                t->fail = rc < 0 ? rc : sim_err_set(&t->err, SIM_EINTERNAL,
                                                    "lockstep: the source cannot wait");
            break;
        }
        if (op->vas) {                  /* nr_va <= TRACE_MAX_ARRAY: room after the check */
            memcpy(blk->addrs + blk->nr_addrs, op->vas, op->nr_va * sizeof(u64));
            blk->va_off[blk->nr] = blk->nr_addrs;
            blk->nr_addrs += op->nr_va;
        }
        if (op->label) {                /* at most TRACE_MAX_LABEL bytes: room after the check */
            size_t len = strnlen(op->label, TRACE_MAX_LABEL);

            memcpy(blk->labels + blk->nr_label, op->label, len);
            blk->labels[blk->nr_label + len] = 0;
            blk->label_off[blk->nr] = blk->nr_label;
            blk->nr_label += (u32)len + 1;
        }
        blk->nr++;
    }
    t->ops_read += blk->nr;
    if (blk->nr) {
        t->tail->next = blk;
        t->tail = blk;
    } else {
        blk->next = t->free;
        t->free = blk;
    }
    return !(t->eof || t->fail);
}

u64 src_tee_ops_read(const struct src_tee *t) { return t->ops_read; }

void src_tee_put(struct src_tee *t)
{
    if (t)
        tee_unref(t);
}

int lockstep_run(struct src_tee *t, struct sim *const *sims, u32 n, cycles_t chunk,
                 void (*ran)(void *arg, u32 i), void *arg, int *rcs, struct sim_err *errs)
{
    for (u32 i = 0; i < n; i++)
        rcs[i] = SIM_NEED_INPUT;
    for (;;) {
        u32 waiting = 0;

        for (u32 i = 0; i < n; i++) {
            int rc;

            if (rcs[i] != SIM_NEED_INPUT)
                continue;
            do {
                cycles_t now = sim_now(sims[i]);

                rc = sim_run(sims[i], chunk < CYCLES_NEVER - now ? now + chunk : CYCLES_NEVER,
                             &errs[i]);
                if (rc > 0 && ran)
                    ran(arg, i);
            } while (rc == 1);
            rcs[i] = rc;
            if (rc == SIM_NEED_INPUT)
                waiting++;
            else
                src_tee_detach(t, i);
        }
        if (!waiting)
            return SIM_OK;
        /* At the source's end the waiting branches get its end (or error)
         * on their next read: they do not wait again. */
        src_tee_fill(t);
    }
}
