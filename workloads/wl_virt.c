/* workloads/wl_virt.c - a guest on an overcommitted host (vCPU preemption).
 *
 * The trace's CPUs are the vCPUs of one guest (run it on a machine model
 * with virtualization on).  A multi-threaded guest process, ebizzy-like,
 * runs on every vCPU: references into a shared working set, and one step in
 * `period` frees and reallocates a 128 KiB chunk (munmap + mmap + touch),
 * each munmap a shootdown of the other vCPUs.  In `preempt_pct` of the
 * steps the host deschedules the vCPU (vcpu_preempt) for about
 * `preempt_cycles` (jittered +-50%) before resuming it (vcpu_run).
 *
 * A native IPI to a preempted vCPU waits for the host to run it again; KVM's
 * PV TLB flush (KVM_VCPU_PREEMPTED / KVM_VCPU_FLUSH_TLB) skips it and has it
 * flush on entry instead: Wanpeng Li's ebizzy numbers grow from +4% (1 VM)
 * to +132% (3 VMs) with that (reference B4 S-14).
 */
#include "wl_impl.h"

#define VIRT_CHUNK_PAGES 32u

void wl_defaults_virt(struct wl_params *p)
{
    p->cpus = 8;
    p->wss = 8ull << 20;
    p->accesses = 16;
    p->period = 4;
    p->preempt_pct = 10;
    p->preempt_cycles = 2500000;
}

int wl_gen_virt(struct wl_out *o, const struct wl_params *p)
{
    u64 psize = wl_page(p), clen = VIRT_CHUNK_PAGES * psize;
    u64 cslot = wl_round_up(clen, WL_SLOT_ALIGN);
    u64 ws = wl_va_alloc(o, p->wss), chunks = wl_va_alloc(o, cslot * p->cpus);

    wl_mm_new(o, 1);
    wl_map(o, -1, 1, ws, p->wss, p->page_shift, PROT_R | PROT_W, true);
    for (u32 c = 0; c < p->cpus; c++) {
        wl_map(o, -1, 1, chunks + c * cslot, clen, p->page_shift, PROT_R | PROT_W, true);
        wl_switch(o, c, 1);
    }

    for (u64 it = 0; it < p->iterations && !o->rc; it++) {
        for (u32 c = 0; c < p->cpus; c++) {
            u64 chunk = chunks + c * cslot;
            if (wl_pct(o, p->preempt_pct)) {
                wl_vcpu(o, c, false);
                wl_work(o, c, p->preempt_cycles / 2 + wl_below(o, p->preempt_cycles + 1));
                wl_vcpu(o, c, true);
                continue;
            }
            wl_think(o, c);
            wl_random_refs(o, c, ws, p->wss, p->accesses, 30);
            if (wl_below(o, p->period) == 0) {
                wl_think(o, c);
                wl_unmap(o, c, 1, chunk, clen);
                wl_map(o, (int)c, 1, chunk, clen, p->page_shift, PROT_R | PROT_W, false);
                wl_stream(o, c, chunk, psize, VIRT_CHUNK_PAGES, 'w');
            }
        }
    }

    wl_teardown(o);
    wl_mm_exit(o, 0, 1);
    return wl_done(o);
}
