/* workloads/wl_willitscale.c - will-it-scale tlb_flush1/2/3.
 *
 * The loop of antonblanchard/will-it-scale tests/tlb_flush{1,2,3}.c, run by
 * every CPU:
 *
 *     addr = mmap(NULL, SIZE, PROT_READ|PROT_WRITE, flags, ...);
 *     for (i = 0; i < SIZE; i += pgsize) {
 *         addr[i] = 1;                           -> access w  (faults in)
 *         madvise(addr + i, pgsize, MADV_DONTNEED); -> zap one page (flush)
 *         assert(addr[i] == ...);                -> access r  (faults again)
 *         (*iteration)++;
 *     }
 *     munmap(addr, SIZE);                       -> unmap (frees tables)
 *
 * tlb_flush1: MAP_PRIVATE file, 128 MiB; tlb_flush2: MAP_PRIVATE|MAP_ANONYMOUS,
 * 1 MiB; tlb_flush3: MAP_SHARED file, 128 MiB.  The simulator has no page
 * cache, so the three differ here only by their default size.  In threads
 * mode every thread runs the loop on its own mapping in one shared mm (so
 * every madvise flush is a multi-CPU shootdown); in processes mode each CPU
 * runs its own mm and flushes stay local.  One iteration = one page.
 */
#include "wl_impl.h"

void wl_defaults_tlb_flush1(struct wl_params *p) { p->wss = 128ull << 20; }
void wl_defaults_tlb_flush2(struct wl_params *p) { p->wss = 1ull << 20; }
void wl_defaults_tlb_flush3(struct wl_params *p) { p->wss = 128ull << 20; }

int wl_gen_tlb_flush(struct wl_out *o, const struct wl_params *p)
{
    bool threads = p->mode == WL_MODE_THREADS;
    u32 nmm = threads ? 1 : p->cpus;
    u64 psize = wl_page(p), npages = wl_npages(p);
    u64 slot = wl_round_up(p->wss, WL_SLOT_ALIGN);
    u64 base = wl_va_alloc(o, slot * (threads ? p->cpus : 1));

    /* processes map at the same address (same binary, same layout);
     * threads get one slot each in the shared mm */
#define MM_OF(c)  ((s64)(threads ? 1 : (c) + 1))
#define VA_OF(c)  (base + (threads ? (u64)(c) * slot : 0))
    for (u32 m = 0; m < nmm; m++)
        wl_mm_new(o, (s64)m + 1);
    for (u32 c = 0; c < p->cpus; c++)
        wl_switch(o, c, MM_OF(c));

    for (u64 it = 0; it < p->iterations && !o->rc; it++) {
        u64 pg = it % npages;
        for (u32 c = 0; c < p->cpus; c++) {
            u64 va = VA_OF(c), a = va + pg * psize;
            if (pg == 0) {
                if (it)
                    wl_unmap(o, c, MM_OF(c), va, p->wss);
                wl_map(o, (int)c, MM_OF(c), va, p->wss, p->page_shift,
                       PROT_R | PROT_W, false);
            }
            wl_think(o, c);
            wl_access1(o, c, a, 'w');
            wl_think(o, c);
            wl_zap(o, c, MM_OF(c), a, psize);
            wl_access1(o, c, a, 'r');
        }
    }

    for (u32 c = 0; c < p->cpus; c++)
        wl_unmap(o, c, MM_OF(c), VA_OF(c), p->wss);
    wl_teardown(o);
    for (u32 m = 0; m < nmm; m++)
        wl_mm_exit(o, threads ? 0 : m, (s64)m + 1);
#undef MM_OF
#undef VA_OF
    return wl_done(o);
}
