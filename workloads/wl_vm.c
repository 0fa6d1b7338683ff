/* workloads/wl_vm.c - the host side of a VM: reclaim and live migration.
 *
 * The trace's CPUs are the vCPUs of one guest; run these on a virtualized
 * model with EPT (kvm-guest-skylake; tdx-guest-spr for vm_reclaim_tdx).
 * A multi-threaded guest process makes references into a populated
 * working set on every vCPU while the host changes the guest-physical
 * memory under it (docs/model.md, "Host side of a VM"):
 *
 *  - vm_reclaim: host memory reclaim or balloon inflation.  The host's
 *    MMU notifier unmaps guest-physical ranges (kvm_mmu_notifier_
 *    invalidate_range_start -> kvm_unmap_gfn_range, virt/kvm/kvm_main.c)
 *    and flushes with kvm_flush_remote_tlbs(): a host_zap of `batch_pages`
 *    pages, one vCPU step in `period`, on that vCPU's physical CPU (kswapd
 *    runs where it runs).  The guest re-touches the range later and takes
 *    EPT violations.
 *  - vm_reclaim_tdx: the same for a TD's private memory, removed with the
 *    TDX module's TLB tracking, one tdx_remove per 4K page as Linux's
 *    tdx_sept_remove_private_spte() does per leaf.
 *  - vm_migrate: dirty logging.  Each round the migration thread
 *    write-protects the whole guest range (kvm_mmu_slot_remove_write_access
 *    for the first round, kvm_clear_dirty_log_protect /
 *    kvm_arch_mmu_enable_log_dirty_pt_masked for the next ones) and the
 *    guest keeps writing; every round is half as long as the one before
 *    (migration converging) until a one-step round, then stop-and-copy.
 *    A guest write to a protected page faults and makes it writable again
 *    (the simulator's dirty fault), so the op over the whole range takes W
 *    from exactly the pages dirtied since the last round, which is what
 *    the clear-dirty-log path re-protects: the generator need not know
 *    them.
 *
 * Guest-physical layout: the guest's frames (its page tables and the
 * working set) come from the simulator's frame allocator from address 0
 * up, so [0, vm_guest_mem()) holds them all; the generator backs that range
 * with ept_map before the first reference and aims the host ops at it.
 */
#include "wl_impl.h"

void wl_defaults_vm_reclaim(struct wl_params *p)
{
    p->cpus = 8;
    p->iterations = 400;
    p->wss = 16ull << 20;
    p->accesses = 16;
    p->period = 16;
    p->batch_pages = 512;               /* one 2M host page (THP) */
}

void wl_defaults_vm_reclaim_tdx(struct wl_params *p)
{
    wl_defaults_vm_reclaim(p);
    p->batch_pages = 4;                 /* each page is a full BLOCK/TRACK/kick/REMOVE */
}

void wl_defaults_vm_migrate(struct wl_params *p)
{
    p->cpus = 8;
    p->iterations = 256;
    p->wss = 8ull << 20;
    p->accesses = 16;
}

/* Guest-physical bytes holding every frame the guest allocates: the working
 * set, rounded up to 2M, after room for the page tables and the data's
 * alignment (a 2M or 1G page starts on its own boundary): wss/256 + 2M is
 * twice the 4K page-table pages a 4K working set needs, plus the upper
 * levels and the kernel's tables. */
static u64 vm_guest_mem(const struct wl_params *p)
{
    u64 lead = wl_round_up(p->wss / 256 + (2ull << 20), wl_page(p));

    return wl_round_up(lead + p->wss, 2ull << 20);
}

/* The guest: one mm, its working set mapped and populated, every vCPU in it. */
static u64 vm_guest_start(struct wl_out *o, const struct wl_params *p, u64 gmem,
                          unsigned host_shift)
{
    u64 ws = wl_va_alloc(o, p->wss);

    wl_ept_map(o, 0, gmem, host_shift);
    wl_mm_new(o, 1);
    wl_map(o, -1, 1, ws, p->wss, p->page_shift, PROT_R | PROT_W, true);
    for (u32 c = 0; c < p->cpus; c++)
        wl_switch(o, c, 1);
    return ws;
}

static void vm_guest_end(struct wl_out *o)
{
    wl_teardown(o);
    wl_mm_exit(o, 0, 1);
}

static int vm_reclaim(struct wl_out *o, const struct wl_params *p, bool tdx)
{
    /* KVM backs with THP (2M EPT leaves); TDX private memory is 4K. */
    unsigned hshift = tdx ? PAGE_SHIFT_4K : PAGE_SHIFT_2M;
    u64 gmem = vm_guest_mem(p);
    u64 zlen = wl_round_up((u64)p->batch_pages << PAGE_SHIFT_4K, 1ull << hshift);
    u64 ws = vm_guest_start(o, p, gmem, hshift);

    if (zlen > gmem)
        zlen = gmem;
    for (u64 it = 0; it < p->iterations && !o->rc; it++) {
        for (u32 c = 0; c < p->cpus; c++) {
            wl_think(o, c);
            wl_random_refs(o, c, ws, p->wss, p->accesses, 30);
            if (wl_below(o, p->period) != 0)
                continue;
            u64 gpa = wl_below(o, ((gmem - zlen) >> hshift) + 1) << hshift;
            if (!tdx) {
                wl_host(o, OP_HOST_ZAP, c, gpa, zlen);
                continue;
            }
            for (u64 off = 0; off < zlen; off += 1ull << PAGE_SHIFT_4K)
                wl_host(o, OP_TDX_REMOVE, c, gpa + off, 1ull << PAGE_SHIFT_4K);
        }
    }
    vm_guest_end(o);
    return wl_done(o);
}

int wl_gen_vm_reclaim(struct wl_out *o, const struct wl_params *p)
{
    return vm_reclaim(o, p, false);
}

int wl_gen_vm_reclaim_tdx(struct wl_out *o, const struct wl_params *p)
{
    return vm_reclaim(o, p, true);
}

int wl_gen_vm_migrate(struct wl_out *o, const struct wl_params *p)
{
    /* 4K EPT leaves: dirty logging splits huge pages first (KVM's eager
     * page split, kvm_mmu_slot_try_split_huge_pages). */
    u64 gmem = vm_guest_mem(p);
    u64 ws = vm_guest_start(o, p, gmem, PAGE_SHIFT_4K);
    u64 left = p->iterations;

    for (u32 round = 0; left && !o->rc; round++) {
        u64 len = (left + 1) / 2;

        wl_host(o, OP_HOST_WRPROTECT, round % p->cpus, 0, gmem);
        for (u64 it = 0; it < len; it++)
            for (u32 c = 0; c < p->cpus; c++) {
                wl_think(o, c);
                wl_random_refs(o, c, ws, p->wss, p->accesses, 50);
            }
        left -= len;
    }
    wl_mark(o, "stop-and-copy");
    vm_guest_end(o);
    return wl_done(o);
}
