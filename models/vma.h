/* models/vma.h - the virtual memory areas of one address space.
 *
 * A sorted array of non-overlapping [start, end) areas with the page size
 * and protection the trace asked for.  The page-fault path asks it whether a
 * non-present address lies in a mapping (populate:false) or nowhere.  Only
 * map/unmap/protect touch it, never the memory-reference hot path.
 */
#ifndef TLBSIM_VMA_H
#define TLBSIM_VMA_H

#include "base.h"

struct vma {
    u64 start, end;                     /* [start, end), page aligned */
    u64 flags;                          /* leaf PTE flags (PTE_RW/US/NX/G, KeyID) */
    u8  page_shift;                     /* 12, 21 or 30 */
};

struct vma_set {
    struct vma *v;                      /* sorted by start */
    size_t nr, cap;
    size_t max;                         /* limit on nr (SIM_ELIMIT) */
};

void vma_set_init(struct vma_set *s, size_t max);
void vma_set_destroy(struct vma_set *s);
/* Insert a new area; SIM_EEXIST if it overlaps one. */
int  vma_insert(struct vma_set *s, u64 start, u64 end, u64 flags,
                unsigned page_shift, struct sim_err *err);
/* Remove [start, end) from every area it touches, splitting as needed. */
int  vma_remove(struct vma_set *s, u64 start, u64 end, struct sim_err *err);
/* Set flags on [start, end), splitting areas at the edges; each area keeps
 * its own bits in `keep` (the KeyID: mprotect changes permissions only). */
int  vma_protect(struct vma_set *s, u64 start, u64 end, u64 flags, u64 keep,
                 struct sim_err *err);
/* The area containing va, or NULL. O(log n). */
const struct vma *vma_find(const struct vma_set *s, u64 va);

#endif
