/* workloads/wl_jit.c - a JIT flipping code pages between rw and rx (W^X).
 *
 * One multi-threaded mm.  The code cache has `code_pages` 4K pages, rx: the
 * first half holds stable compiled code that every thread executes; the
 * second half is a ring the JIT thread (CPU 0) compiles into.  Every
 * `period` steps it emits one page of code:
 *
 *   mprotect(page, rw)    x removed: a permission reduction, so a flush of
 *                         every CPU in mm_cpumask, although no other thread
 *                         ever touches the page
 *   write the code        64 stores, one per cache line
 *   mprotect(page, rx)    w removed: a second flush
 *   jump to it            an x reference
 *
 * Other threads execute the stable half and work on the data working set
 * (wss, 30% writes), so they pay for the two shootdowns per compiled page.
 * The code cache always uses 4K pages (JITs mprotect at that granularity);
 * "page" sets the data's page size.
 */
#include "wl_impl.h"

#define JIT_PAGE 4096ull

void wl_defaults_jit(struct wl_params *p)
{
    p->wss = 8ull << 20;
    p->accesses = 16;
    p->period = 4;
    p->code_pages = 256;
}

int wl_gen_jit(struct wl_out *o, const struct wl_params *p)
{
    u64 code_len = (u64)p->code_pages * JIT_PAGE;
    u64 stable_len = code_len / 2;
    u64 ring_pages = p->code_pages - p->code_pages / 2;
    u64 code = wl_va_alloc(o, code_len), data = wl_va_alloc(o, p->wss);
    u64 compiled = 0;

    wl_mm_new(o, 1);
    wl_map(o, -1, 1, code, code_len, PAGE_SHIFT_4K, PROT_R | PROT_X, true);
    wl_map(o, -1, 1, data, p->wss, p->page_shift, PROT_R | PROT_W, true);
    for (u32 c = 0; c < p->cpus; c++)
        wl_switch(o, c, 1);

    for (u64 it = 0; it < p->iterations && !o->rc; it++) {
        for (u32 c = 0; c < p->cpus; c++) {
            wl_think(o, c);
            wl_random_refs(o, c, data, p->wss, p->accesses, 30);
            if (c == 0 && it % p->period == 0) {
                u64 pg = code + stable_len + (compiled++ % ring_pages) * JIT_PAGE;
                wl_think(o, c);
                wl_protect(o, c, 1, pg, JIT_PAGE, PROT_R | PROT_W);
                wl_stream(o, c, pg, 64, JIT_PAGE / 64, 'w');
                wl_protect(o, c, 1, pg, JIT_PAGE, PROT_R | PROT_X);
                wl_access1(o, c, pg, 'x');
            }
            wl_fetch(o, c, code, stable_len, p->accesses / 2 + 1);
        }
    }

    wl_teardown(o);
    wl_mm_exit(o, 0, 1);
    return wl_done(o);
}
