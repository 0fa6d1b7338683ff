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
};
const size_t flush_nr_policies = ARRAY_SIZE(flush_policies);

const struct flush_policy *flush_policy_find(const char *name)
{
    for (size_t i = 0; i < flush_nr_policies; i++)
        if (!strcmp(flush_policies[i].name, name))
            return &flush_policies[i];
    return NULL;
}
