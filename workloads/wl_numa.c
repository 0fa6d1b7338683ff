/* workloads/wl_numa.c - NUMA balancing: scan flushes and page migration.
 *
 * One multi-threaded mm runs on every CPU.  Its working set is cut into one
 * slice per CPU; a thread makes 90% of its references to its own slice and
 * the rest anywhere (shared data).  Every `period` steps a thread runs the
 * NUMA scanner (task_numa_work() on return to user space) over its slice:
 *
 *   flush    change_prot_numa() turns the scanned PTEs into PROT_NONE hinting
 *            entries and flushes the range (flush_tlb_range).  The trace has
 *            no PROT_NONE, so this is an explicit flush op: the cost and the
 *            shootdown are there, the hinting faults are not.  XXX
 *   migrate  the hinting faults found `migrate_pages` pages on the wrong node:
 *            migrate_misplaced_folio() moves them (new frames, PTEs rewritten,
 *            flush), one contiguous run per scan.
 *
 * Scans are staggered (CPU c scans when step % period == c % period), so
 * flush requests from different CPUs overlap as they do on a real machine.
 */
#include "wl_impl.h"

void wl_defaults_numa(struct wl_params *p)
{
    p->wss = 16ull << 20;
    p->accesses = 16;
    p->period = 16;
    p->migrate_pages = 16;
}

int wl_gen_numa(struct wl_out *o, const struct wl_params *p)
{
    u64 npages = wl_npages(p), psize = wl_page(p);
    u64 slice = npages / p->cpus ? npages / p->cpus : 1;
    u64 ws = wl_va_alloc(o, p->wss);

    wl_mm_new(o, 1);
    wl_map(o, -1, 1, ws, p->wss, p->page_shift, PROT_R | PROT_W, true);
    for (u32 c = 0; c < p->cpus; c++)
        wl_switch(o, c, 1);

    for (u64 it = 0; it < p->iterations && !o->rc; it++) {
        for (u32 c = 0; c < p->cpus; c++) {
            u64 first = ((u64)c * slice) % npages;
            u64 n = first + slice <= npages ? slice : npages - first;
            u64 va = ws + first * psize;
            u32 local = p->accesses - p->accesses / 10;

            wl_think(o, c);
            wl_random_refs(o, c, va, n * psize, local, 30);
            if (p->accesses > local)
                wl_random_refs(o, c, ws, p->wss, p->accesses - local, 10);
            if (it % p->period == c % p->period) {
                u64 m = p->migrate_pages < n ? p->migrate_pages : n;
                u64 at = first + wl_below(o, n - m + 1);
                wl_think(o, c);
                wl_flush(o, c, 1, va, n * psize, p->page_shift);
                wl_think(o, c);
                wl_migrate(o, c, 1, ws + at * psize, m * psize);
            }
        }
    }

    wl_teardown(o);
    wl_mm_exit(o, 0, 1);
    return wl_done(o);
}
