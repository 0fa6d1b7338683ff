/* workloads/wl_heap_reuse.c - a threaded allocator trimming and reusing
 * heap chunks (glibc malloc's arenas with MADV_DONTNEED trimming).
 *
 * One mm with a heap of `wss` bytes in chunks of `batch_pages` pages.  Every
 * step a thread takes a random chunk and writes it (an allocation); every
 * `period` steps it frees a random chunk and the allocator trims it:
 * MADV_DONTNEED, a zap.  Any thread may take a trimmed chunk next, and the
 * threads that used it before still cache its translations.  Under Linux the
 * zap's shootdown removes those entries before the frames are freed; a
 * policy that frees first and invalidates later (lazy-deferred-unsafe)
 * lets a thread write through a stale entry into a freed, reused frame:
 * the LATR hazard, counted in stale_accesses.
 */
#include "wl_impl.h"

void wl_defaults_heap_reuse(struct wl_params *p)
{
    p->wss = 2ull << 20;
    p->batch_pages = 4;
    p->period = 4;
    p->accesses = 8;
}

int wl_gen_heap_reuse(struct wl_out *o, const struct wl_params *p)
{
    u64 chunk = (u64)p->batch_pages * wl_page(p);
    u64 nchunks = p->wss / chunk ? p->wss / chunk : 1;
    u64 heap = wl_va_alloc(o, nchunks * chunk);

    wl_mm_new(o, 1);
    wl_map(o, -1, 1, heap, nchunks * chunk, p->page_shift, PROT_R | PROT_W, true);
    for (u32 c = 0; c < p->cpus; c++)
        wl_switch(o, c, 1);

    for (u64 it = 0; it < p->iterations && !o->rc; it++) {
        for (u32 c = 0; c < p->cpus; c++) {
            u64 use = heap + wl_below(o, nchunks) * chunk;

            wl_think(o, c);
            wl_stream(o, c, use, wl_page(p), p->batch_pages, 'w');
            wl_random_refs(o, c, use, chunk, p->accesses, 50);
            if (it % p->period == c % p->period)
                wl_zap(o, c, 1, heap + wl_below(o, nchunks) * chunk, chunk);
        }
    }

    wl_teardown(o);
    wl_mm_exit(o, 0, 1);
    return wl_done(o);
}
