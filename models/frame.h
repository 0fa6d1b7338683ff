/* models/frame.h - physical frame allocator with per-frame generations.
 *
 * Frames are handed out from a bump pointer plus a FIFO free list (oldest
 * freed frame reused first), never beyond the model's MAXPHYADDR or the
 * configured frame limit.  Huge pages take a naturally aligned run of
 * 512 (2 MiB) or 512*512 (1 GiB) frames; such a run is one allocation and is
 * identified by its base pfn.
 *
 * Every allocation unit has a generation that frame_free() bumps.  A TLB
 * entry remembers the generation it saw at fill time; a later hit whose
 * generation differs used a frame that had been freed: a stale access.
 * Generations live in a sparse two-level table so memory grows with the
 * frames actually used, not with the physical address space.
 */
#ifndef TLBSIM_FRAME_H
#define TLBSIM_FRAME_H

#include "base.h"

struct frame_free_list;                 /* private */

struct frame_alloc {
    u64 next_pfn;                       /* bump pointer (4 KiB units) */
    u64 max_pfn;                        /* exclusive; from MAXPHYADDR */
    u64 limit_frames;                   /* max 4 KiB frames live at once */
    u64 nr_live;                        /* 4 KiB frames allocated now */
    u64 peak_live;                      /* high-water mark of nr_live */
    u32 **gen_chunks;                   /* sparse generation table */
    u64 nr_gen_chunks;                  /* length of gen_chunks */
    struct frame_free_list *free[3];    /* per order: 4K, 2M, 1G */
};

enum frame_order { FRAME_4K = 0, FRAME_2M = 1, FRAME_1G = 2 };

/* maxphyaddr: 36..52 bits.  limit_frames: 0 means "as MAXPHYADDR allows". */
int  frame_alloc_init(struct frame_alloc *fa, unsigned maxphyaddr,
                      u64 limit_frames, struct sim_err *err);
void frame_alloc_destroy(struct frame_alloc *fa);

/* Allocate one unit of the given order; *pfn is its base (aligned).
 * SIM_ELIMIT (with a message) when MAXPHYADDR or the limit is exhausted:
 * the input asked for too much; SIM_ENOMEM only when malloc fails. */
int  frame_get(struct frame_alloc *fa, enum frame_order order, u64 *pfn,
               struct sim_err *err);
/* Free a unit previously returned by frame_get (same order); bumps its gen. */
void frame_put(struct frame_alloc *fa, enum frame_order order, u64 pfn);
/* Current generation of the unit whose base is pfn (0 if never used). */
u32  frame_gen(const struct frame_alloc *fa, u64 pfn);

#endif
