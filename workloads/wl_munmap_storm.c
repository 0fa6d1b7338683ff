/* workloads/wl_munmap_storm.c - an mmap/munmap storm.
 *
 * Every CPU repeats:
 *
 *     buf = mmap(batch_pages pages);   -> map, populate:false
 *     memset(buf, ...);                -> stream w, one fault per page
 *     munmap(buf);                     -> unmap: flush (full above the
 *                                         ceiling), tables freed
 *     work on the working set          -> `accesses` references, 30% writes
 *
 * which is what an allocator handing out chunks above M_MMAP_THRESHOLD
 * (128 KiB = 32 pages: the default batch) does.  threads: one mm, so each
 * munmap shoots down every other CPU; processes: one mm per CPU.
 */
#include "wl_impl.h"

void wl_defaults_munmap_storm(struct wl_params *p)
{
    p->wss = 4ull << 20;
    p->batch_pages = 32;
    p->accesses = 16;
}

int wl_gen_munmap_storm(struct wl_out *o, const struct wl_params *p)
{
    bool threads = p->mode == WL_MODE_THREADS;
    u32 nmm = threads ? 1 : p->cpus;
    u64 psize = wl_page(p), blen = (u64)p->batch_pages * psize;
    u64 ws = wl_va_alloc(o, p->wss);
    u64 bslot = wl_round_up(blen, WL_SLOT_ALIGN);
    u64 bufs = wl_va_alloc(o, bslot * (threads ? p->cpus : 1));

#define MM_OF(c)  ((s64)(threads ? 1 : (c) + 1))
#define BUF_OF(c) (bufs + (threads ? (u64)(c) * bslot : 0))
    for (u32 m = 0; m < nmm; m++) {
        wl_mm_new(o, (s64)m + 1);
        wl_map(o, -1, (s64)m + 1, ws, p->wss, p->page_shift, PROT_R | PROT_W, true);
    }
    for (u32 c = 0; c < p->cpus; c++)
        wl_switch(o, c, MM_OF(c));

    for (u64 it = 0; it < p->iterations && !o->rc; it++) {
        for (u32 c = 0; c < p->cpus; c++) {
            wl_think(o, c);
            wl_map(o, (int)c, MM_OF(c), BUF_OF(c), blen, p->page_shift,
                   PROT_R | PROT_W, false);
            wl_stream(o, c, BUF_OF(c), psize, p->batch_pages, 'w');
            wl_think(o, c);
            wl_unmap(o, c, MM_OF(c), BUF_OF(c), blen);
            wl_think(o, c);
            wl_random_refs(o, c, ws, p->wss, p->accesses, 30);
        }
    }

    wl_teardown(o);
    for (u32 m = 0; m < nmm; m++)
        wl_mm_exit(o, threads ? 0 : m, (s64)m + 1);
#undef MM_OF
#undef BUF_OF
    return wl_done(o);
}
