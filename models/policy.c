/* models/policy.c - the policy table.  Kernel rule versions follow
 * ../shared/reference/linux-tlb.md A0 (version timeline) and the kernel's
 * arch/x86/mm/tlb.c at the cited commits. */
#include "policy.h"

#include <string.h>

const struct flush_policy flush_policies[] = {
    {
        .name = "linux",
        .desc = "Linux 6.x today: lazy skip, tlb_gen catch-up, concurrent local flush, lazy mm_cpumask with trim",
        .source = "arch/x86/mm/tlb.c (6.15+, CachyOS/linux@0ebd1b80); linux-tlb.md A3-A7",
        .lazy_skip = true, .lazy_gen_check = true, .concurrent_local = true,
        .lazy_cpumask = true, .gen_early_exit = true, .stride = true,
        .transport = XPORT_IPI, .free_after = FREE_AFTER_FLUSH,
    },
    {
        .name = "linux-4.14",
        .desc = "Linux 4.14: IPIs to all of mm_cpumask (lazy CPUs too, which then leave the mm), local flush first",
        .source = "arch/x86/mm/tlb.c at torvalds/linux@a501686b; linux-tlb.md A0, A4",
        .lazy_skip = false, .lazy_gen_check = false, .concurrent_local = false,
        .lazy_cpumask = false, .gen_early_exit = false, .stride = false,
        .transport = XPORT_IPI, .free_after = FREE_AFTER_FLUSH,
    },
    {
        .name = "pv-kvm",
        .desc = "KVM guest: kvm_flush_tlb_multi skips preempted vCPUs (flush on entry), PV send-IPI hypercall",
        .source = "arch/x86/kernel/kvm.c kvm_flush_tlb_multi; KVM_HC_SEND_IPI; linux-tlb.md A11, B3 IPI-4, B4 S-14",
        .lazy_skip = true, .lazy_gen_check = true, .concurrent_local = true,
        .lazy_cpumask = true, .gen_early_exit = true, .stride = true,
        .transport = XPORT_PV_KVM, .free_after = FREE_AFTER_FLUSH,
    },
    {
        .name = "pv-hyperv",
        .desc = "Hyper-V guest: HvFlushVirtualAddressSpace/List hypercall, the hypervisor flushes, no guest IPIs",
        .source = "arch/x86/hyperv/mmu.c hyperv_flush_tlb_multi; linux-tlb.md A11",
        .lazy_skip = true, .lazy_gen_check = true, .concurrent_local = true,
        .lazy_cpumask = true, .gen_early_exit = true, .stride = true,
        .transport = XPORT_HYPERV, .free_after = FREE_AFTER_FLUSH,
    },
    {
        .name = "batched",
        .desc = "Linux with arch_tlbbatch for migration: one full flush per CPU per batch of pages",
        .source = "mm/rmap.c try_to_unmap_flush, arch/x86/mm/tlb.c arch_tlbbatch_flush; linux-tlb.md A9, B4 S-1",
        .lazy_skip = true, .lazy_gen_check = true, .concurrent_local = true,
        .lazy_cpumask = true, .gen_early_exit = true, .stride = true,
        .transport = XPORT_IPI, .batch = true, .free_after = FREE_AFTER_FLUSH,
    },
    {
        .name = "lazy-deferred",
        .desc = "LATR-style: no IPIs for unmaps; remote CPUs invalidate at their next tick or switch; frees wait",
        .source = "Kumar et al., LATR: Lazy Translation Coherence, ASPLOS'18 (linux-tlb.md B4 S-16)",
        .lazy_skip = true, .lazy_gen_check = true, .concurrent_local = true,
        .lazy_cpumask = true, .gen_early_exit = true, .stride = true,
        .transport = XPORT_DEFERRED, .free_after = FREE_AFTER_ALL_INVALIDATED,
    },
    {
        .name = "lazy-deferred-unsafe",
        .desc = "lazy-deferred that frees pages at once: the hazard LATR avoids (shows as stale_accesses)",
        .source = "as lazy-deferred, with FREE_AT_ONCE",
        .lazy_skip = true, .lazy_gen_check = true, .concurrent_local = true,
        .lazy_cpumask = true, .gen_early_exit = true, .stride = true,
        .transport = XPORT_DEFERRED, .free_after = FREE_AT_ONCE,
    },
    {
        .name = "broadcast",
        .desc = "hardware broadcast invalidation (AMD INVLPGB + TLBSYNC, Intel RAR): no IPIs",
        .source = "arch/x86/mm/tlb.c broadcast_tlb_flush (6.15+); linux-tlb.md A10, B4 S-12/S-13",
        .lazy_skip = true, .lazy_gen_check = true, .concurrent_local = true,
        .lazy_cpumask = true, .gen_early_exit = true, .stride = true,
        .transport = XPORT_BROADCAST, .free_after = FREE_AFTER_FLUSH,
    },
    {
        .name = "linux-pcid",
        .desc = "linux with cpu.pcid on: 6 dynamic ASIDs per CPU, choose_new_asid, NOFLUSH switches back",
        .source = "arch/x86/mm/tlb.c choose_new_asid, switch_mm_irqs_off (4.14+; 6.15+ at "
                  "CachyOS/linux@0ebd1b80 without global ASIDs); asm/tlbflush.h TLB_NR_DYN_ASIDS",
        .lazy_skip = true, .lazy_gen_check = true, .concurrent_local = true,
        .lazy_cpumask = true, .gen_early_exit = true, .stride = true,
        .transport = XPORT_IPI, .free_after = FREE_AFTER_FLUSH, .pcid = true,
    },
    {
        .name = "linux-pcid-pti",
        .desc = "linux-pcid with page-table isolation: user/kernel PCID pairs, user flushes deferred to the return to user space",
        .source = "arch/x86/mm/tlb.c invalidate_user_asid, native_flush_tlb_one_user, native_flush_tlb_local "
                  "(4.15+; CachyOS/linux@0ebd1b80); arch/x86/entry/calling.h SWITCH_TO_USER_CR3",
        .lazy_skip = true, .lazy_gen_check = true, .concurrent_local = true,
        .lazy_cpumask = true, .gen_early_exit = true, .stride = true,
        .transport = XPORT_IPI, .free_after = FREE_AFTER_FLUSH, .pcid = true, .pti = true,
    },
    {
        .name = "broadcast-asid",
        .desc = "Linux 6.15+ INVLPGB: an mm seen running on more than 3 CPUs gets a global ASID, then INVLPGB flushes it with no IPIs",
        .source = "arch/x86/mm/tlb.c consider_global_asid, use_global_asid, allocate_global_asid, "
                  "finish_asid_transition, broadcast_tlb_flush (6.15+, CachyOS/linux@0ebd1b80)",
        .lazy_skip = true, .lazy_gen_check = true, .concurrent_local = true,
        .lazy_cpumask = true, .gen_early_exit = true, .stride = true,
        .transport = XPORT_IPI, .free_after = FREE_AFTER_FLUSH, .pcid = true, .global_asid = true,
    },
    {
        .name = "early-ack",
        .desc = "linux, but targets acknowledge before flushing (Amit et al., EuroSys'20)",
        .source = "Amit, Tai, Wei: Don't shoot down TLB shootdowns!, EuroSys'20 (linux-tlb.md B4 S-19)",
        .lazy_skip = true, .lazy_gen_check = true, .concurrent_local = true,
        .lazy_cpumask = true, .gen_early_exit = true, .stride = true,
        .transport = XPORT_IPI, .early_ack = true, .free_after = FREE_AFTER_FLUSH,
    },
};
const size_t flush_nr_policies = ARRAY_SIZE(flush_policies);

const struct flush_policy *flush_policy_find(const char *name)
{
    for (size_t i = 0; i < flush_nr_policies; i++)
        if (!strcmp(flush_policies[i].name, name))
            return &flush_policies[i];
    return NULL;
}
