/* workloads/wl_server.c - a server: user tasks, kernel threads and idle.
 *
 * `tasks` multi-threaded server processes share `cpus` CPUs.  Each CPU runs
 * `iterations` scheduler slices; a slice is, at random:
 *
 *   idle_pct     idle (C1, or C6 one time in four) for ~20 gaps: lazy TLB
 *   kthread_pct  a kernel thread (kworker, ksoftirqd): switch to mm null,
 *                references into the kernel region (global entries): lazy
 *   otherwise    a thread of a random task: switch to its mm, `accesses`
 *                references into the task's working set, and one slice in
 *                `period` releases the thread's request buffer (`batch_pages`
 *                pages: madvise(DONTNEED), or one time in four munmap + mmap)
 *                and touches it again
 *
 * So a task's mm_cpumask spans several CPUs, most of them lazy at any time,
 * and switching back to the task a CPU ran before the kernel thread costs no
 * flush unless the task's tlb_gen moved meanwhile - the case the lazy-TLB
 * series (4.20) optimised (memcache: ~300,000 switches/s, ~19,000 flushes/s).
 * Each (task, CPU) pair has its own buffer, like glibc's per-thread arenas,
 * so no CPU ever touches a range another CPU unmaps.
 */
#include "wl_impl.h"

void wl_defaults_server(struct wl_params *p)
{
    p->cpus = 8;
    p->wss = 4ull << 20;
    p->accesses = 16;
    p->tasks = 4;
    p->kthread_pct = 25;
    p->idle_pct = 10;
    p->period = 8;
    p->batch_pages = 32;
}

struct server {
    const struct wl_params *p;          /* parameters */
    u64 ws;                             /* working set of every task (same va) */
    u64 bufs;                           /* first buffer slot; CPU c's is bufs + c * bslot */
    u64 bslot, blen;                    /* slot stride, buffer bytes */
};

/* The thread frees its request buffer: usually the allocator purges it with
 * madvise(MADV_DONTNEED) (tables kept: lazy CPUs are skipped), one time in
 * four it gives it back with munmap and maps a new one (tables freed: every
 * CPU in mm_cpumask gets the IPI).  Then the next request touches it again. */
static void server_buffer(struct wl_out *o, const struct server *s, u32 c, s64 mm)
{
    const struct wl_params *p = s->p;
    u64 buf = s->bufs + (u64)c * s->bslot;

    wl_think(o, c);
    if (wl_below(o, 4)) {
        wl_zap(o, c, mm, buf, s->blen);
    } else {
        wl_unmap(o, c, mm, buf, s->blen);
        wl_think(o, c);
        wl_map(o, (int)c, mm, buf, s->blen, p->page_shift, PROT_R | PROT_W, false);
    }
    wl_stream(o, c, buf, wl_page(p), p->batch_pages, 'w');
}

static void server_slice(struct wl_out *o, const struct server *s, u32 c)
{
    const struct wl_params *p = s->p;
    u32 r = (u32)wl_below(o, 100);

    wl_think(o, c);
    if (r < p->idle_pct) {
        wl_idle(o, c, wl_below(o, 4) == 0 ? 6 : 1);
        wl_work(o, c, 20 * p->gap);     /* the idle time itself */
    } else if (r < p->idle_pct + p->kthread_pct) {
        wl_switch(o, c, MM_NULL);
        wl_kernel_refs(o, c, p->accesses / 2 + 1);
    } else {
        s64 mm = (s64)wl_below(o, p->tasks) + 1;
        wl_switch(o, c, mm);
        wl_random_refs(o, c, s->ws, p->wss, p->accesses, 30);
        if (wl_below(o, p->period) == 0)
            server_buffer(o, s, c, mm);
    }
}

int wl_gen_server(struct wl_out *o, const struct wl_params *p)
{
    struct server s = { .p = p };

    s.blen = (u64)p->batch_pages * wl_page(p);
    s.bslot = wl_round_up(s.blen, WL_SLOT_ALIGN);
    s.ws = wl_va_alloc(o, p->wss);
    s.bufs = wl_va_alloc(o, s.bslot * p->cpus);

    wl_map_kernel(o);
    for (u32 k = 1; k <= p->tasks; k++) {
        wl_mm_new(o, k);
        wl_map(o, -1, k, s.ws, p->wss, p->page_shift, PROT_R | PROT_W, true);
        for (u32 c = 0; c < p->cpus; c++)
            wl_map(o, -1, k, s.bufs + (u64)c * s.bslot, s.blen, p->page_shift,
                   PROT_R | PROT_W, true);
    }
    for (u64 it = 0; it < p->iterations && !o->rc; it++)
        for (u32 c = 0; c < p->cpus; c++)
            server_slice(o, &s, c);

    wl_teardown(o);
    for (u32 k = 1; k <= p->tasks; k++)
        wl_mm_exit(o, 0, k);
    return wl_done(o);
}
