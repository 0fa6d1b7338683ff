/* models/mm.c - address spaces. */
#include "mm.h"

#include <string.h>

int mm_init(struct mm *mm, s64 id, u16 idx, u64 ctx_id, struct pt_ctx *ptc,
            const struct machine *m, const struct mm *kernel,
            struct sim_err *err)
{
    int rc;

    memset(mm, 0, sizeof(*mm));
    mm->id = id;
    mm->idx = idx;
    mm->ctx_id = ctx_id;
    vma_set_init(&mm->vmas, m->max_vmas);
    rc = pt_init(&mm->pt, ptc, m->paging_levels, kernel ? &kernel->pt : NULL, err);
    if (rc)
        vma_set_destroy(&mm->vmas);
    return rc;
}

void mm_destroy(struct mm *mm)
{
    if (!mm)
        return;
    pt_destroy(&mm->pt);
    vma_set_destroy(&mm->vmas);
}

u64 mm_prot_flags(unsigned prot, bool user, bool global)
{
    u64 f = 0;

    if (prot & 2u)
        f |= PTE_RW;
    if (!(prot & 4u))
        f |= PTE_NX;
    if (user)
        f |= PTE_US;
    if (global)
        f |= PTE_G;
    return f;
}

int mm_map(struct mm *mm, u64 va, u64 len, unsigned page_shift, unsigned prot,
           bool populate, bool global, struct sim_err *err)
{
    return mm_map_keyid(mm, va, len, page_shift, prot, populate, global, 0, err);
}

/* The KeyID goes into the area's flags as well, as the TME-MK series kept
 * it in vma->vm_page_prot: a page faulted in later (populate:false) gets
 * the same KeyID, and mprotect keeps it (vma_protect, pt_protect). */
int mm_map_keyid(struct mm *mm, u64 va, u64 len, unsigned page_shift, unsigned prot,
                 bool populate, bool global, u32 keyid, struct sim_err *err)
{
    const struct pt_ctx *ctx = mm->pt.ctx;
    bool user = !va_is_kernel(va);
    u64 flags = mm_prot_flags(prot, user, global && !user) | pt_keyid_bits(ctx, keyid);
    int rc;

    if (pt_keyid(ctx, flags) != keyid)
        return sim_err_set(err, SIM_EINVAL, "keyid: %u does not fit in the %d KeyID bits",
                           keyid, __builtin_popcountll(ctx->keyid_mask));

    rc = vma_insert(&mm->vmas, va, va + len, flags, page_shift, err);
    if (rc)
        return rc;
    rc = pt_map(&mm->pt, va, len, page_shift, flags, populate, err);
    if (rc)
        vma_remove(&mm->vmas, va, va + len, NULL);
    return rc;
}
