/* models/ept.c - one VM's extended page tables on pt.c's radix tables.
 *
 * Workload profile: ept_map/ept_unmap/ept_wrprotect come from trace ops
 * (the host's view of guest memory) and ept_fault_in from the first guest
 * reference to an unmapped guest-physical page; none is on the TLB-hit
 * path.  ept_walk() is what the two-dimensional walker reads (models/cpu.c)
 * and what tests compare it with.
 */
#include "ept.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define EPT_RWX (EPT_W | EPT_X)         /* pt_map adds P (= EPT read) */

int ept_init(struct ept *ept, const struct machine *m, struct sim_err *err)
{
    unsigned bits = machine_phys_bits(m);
    int rc;

    memset(ept, 0, sizeof(*ept));
    if (m->ept_levels != 4 && m->ept_levels != 5)
        return sim_err_set(err, SIM_EINVAL, "ept.levels: %u is not 4 or 5", m->ept_levels);
    if ((rc = frame_alloc_init(&ept->host, bits, m->max_frames, err)))
        return rc;
    if ((rc = pt_ctx_init(&ept->ptc, &ept->host, m->max_table_pages))) {
        frame_alloc_destroy(&ept->host);
        return sim_err_set(err, rc, "ept: out of memory");
    }
    if ((rc = pt_init(&ept->upper, &ept->ptc, m->ept_levels, NULL, err)) ||
        (rc = pt_init(&ept->pt, &ept->ptc, m->ept_levels, &ept->upper, err))) {
        ept_destroy(ept);
        return rc;
    }
    ept->levels = m->ept_levels;
    ept->gpa_bits = bits;
    /* The tables' lower half: 2^47 with 4 levels, 2^56 with 5. */
    if (bits > ept->pt.va_bits - 1)
        bits = ept->pt.va_bits - 1;
    ept->gpa_end = 1ull << bits;
    return SIM_OK;
}

void ept_destroy(struct ept *ept)
{
    if (!ept || !ept->ptc.frames)
        return;
    pt_destroy(&ept->pt);
    pt_destroy(&ept->upper);
    pt_ctx_destroy(&ept->ptc);
    frame_alloc_destroy(&ept->host);
    free(ept->zapped);
    memset(ept, 0, sizeof(*ept));
}

bool ept_range_ok(const struct ept *ept, u64 gpa, u64 len)
{
    return len && gpa < ept->gpa_end && len <= ept->gpa_end - gpa;
}

int ept_check_range(const struct ept *ept, u64 gpa, u64 len, unsigned align_shift,
                    struct sim_err *err)
{
    u64 mask = (1ull << align_shift) - 1;

    if (!len)
        return sim_err_set(err, SIM_EINVAL, "len: must not be zero");
    if (gpa & mask)
        return sim_err_set(err, SIM_EINVAL, "gpa: 0x%" PRIx64 " is not aligned to 0x%" PRIx64,
                           gpa, mask + 1);
    if (len & mask)
        return sim_err_set(err, SIM_EINVAL, "len: 0x%" PRIx64 " is not a multiple of 0x%" PRIx64,
                           len, mask + 1);
    if (!ept_range_ok(ept, gpa, len))
        return sim_err_set(err, SIM_EINVAL, "gpa: [0x%" PRIx64 ", 0x%" PRIx64 ") is outside "
                           "the VM's guest-physical memory [0, 0x%" PRIx64 ")",
                           gpa, gpa + len < gpa ? UINT64_MAX : gpa + len, ept->gpa_end);
    return SIM_OK;
}

static int map_range(struct ept *ept, u64 gpa, u64 len, unsigned page_shift,
                     struct sim_err *err)
{
    int rc;

    if (page_shift != PAGE_SHIFT_4K && page_shift != PAGE_SHIFT_2M &&
        page_shift != PAGE_SHIFT_1G)
        return sim_err_set(err, SIM_EINVAL, "page: shift %u is not 12, 21 or 30", page_shift);
    if ((rc = ept_check_range(ept, gpa, len, page_shift, err)))
        return rc;
    if ((rc = pt_map(&ept->pt, gpa, len, page_shift, EPT_RWX, true, err))) {
        if (rc == SIM_EEXIST)
            return sim_err_set(err, rc, "gpa: [0x%" PRIx64 ", 0x%" PRIx64 ") overlaps a "
                               "present EPT mapping (map it before the guest touches it, "
                               "or unmap it first)", gpa, gpa + len);
        return rc;
    }
    return SIM_OK;
}

int ept_map(struct ept *ept, u64 gpa, u64 len, unsigned page_shift, struct sim_err *err)
{
    int rc = map_range(ept, gpa, len, page_shift, err);

    if (!rc)
        ept->st.maps++;
    return rc;
}

/* Index of the first zapped range ending after gpa (nr_zapped if none). */
static u32 zapped_find(const struct ept *ept, u64 gpa)
{
    u32 lo = 0, hi = ept->nr_zapped;

    while (lo < hi) {
        u32 mid = lo + (hi - lo) / 2;
        if (ept->zapped[mid].end <= gpa)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Record [start, end) as zapped, merging it with the ranges it overlaps or
 * touches.  Reserves room first, so that a failure changes nothing. */
static int zapped_add(struct ept *ept, u64 start, u64 end, struct sim_err *err)
{
    u32 i, j;

    if (ept->nr_zapped == ept->cap_zapped) {
        u32 cap = ept->cap_zapped ? ept->cap_zapped * 2 : 16;
        struct ept_range *r = realloc(ept->zapped, (size_t)cap * sizeof(*r));
        if (!r)
            return sim_err_set(err, SIM_ENOMEM, "gpa: out of memory recording a host zap");
        ept->zapped = r;
        ept->cap_zapped = cap;
    }
    i = start ? zapped_find(ept, start - 1) : 0;     /* first range ending at or after start */
    for (j = i; j < ept->nr_zapped && ept->zapped[j].start <= end; j++) {
        if (ept->zapped[j].start < start)
            start = ept->zapped[j].start;
        if (ept->zapped[j].end > end)
            end = ept->zapped[j].end;
    }
    /* ranges [i, j) merge into one at i */
    if (j == i)
        memmove(&ept->zapped[i + 1], &ept->zapped[i], (ept->nr_zapped - i) * sizeof(*ept->zapped));
    else if (j > i + 1)
        memmove(&ept->zapped[i + 1], &ept->zapped[j], (ept->nr_zapped - j) * sizeof(*ept->zapped));
    ept->nr_zapped = ept->nr_zapped + 1 - (j - i);
    ept->zapped[i] = (struct ept_range){ start, end };
    return SIM_OK;
}

bool ept_prefault_allowed(const struct ept *ept, u64 gpa)
{
    u32 i = zapped_find(ept, gpa);

    return i == ept->nr_zapped || ept->zapped[i].start > gpa;
}

int ept_unmap(struct ept *ept, u64 gpa, u64 len, struct mmu_gather *g, struct sim_err *err)
{
    int rc;

    if ((rc = ept_check_range(ept, gpa, len, PAGE_SHIFT_4K, err)))
        return rc;
    if ((rc = zapped_add(ept, gpa, gpa + len, err)))
        return rc;
    if ((rc = pt_zap(&ept->pt, gpa, len, g, err)))
        return rc;
    ept->st.unmaps++;
    if (g->nr_ptes)
        ept->epoch++;
    return SIM_OK;
}

int ept_wrprotect(struct ept *ept, u64 gpa, u64 len, bool *reduced, struct mmu_gather *g,
                  struct sim_err *err)
{
    u64 before = g->nr_ptes;
    int rc;

    if (reduced)
        *reduced = false;
    if ((rc = ept_check_range(ept, gpa, len, PAGE_SHIFT_4K, err)))
        return rc;
    /* pt_protect() replaces W/X(U/S)/NX: keep X, drop W. */
    if ((rc = pt_protect(&ept->pt, gpa, len, EPT_X, reduced, g, err)))
        return rc;
    ept->st.wrprotects++;
    ept->st.wrprotected += g->nr_ptes - before;
    if (g->nr_ptes != before || (reduced && *reduced))
        ept->epoch++;
    return SIM_OK;
}

bool ept_leaf_perm(const struct ept *ept, u64 gpa, bool *writable, unsigned *page_shift)
{
    unsigned level;
    u64 *e = ept_walk(ept, gpa, &level, NULL);

    if (!e)
        return false;
    if (writable)
        *writable = (*e & EPT_W) != 0;
    if (page_shift)
        *page_shift = PAGE_SHIFT_4K + 9 * (level - 1);
    return true;
}

enum ept_wp_fault ept_write_fault(struct ept *ept, u64 gpa)
{
    unsigned level;
    u64 *e = ept_walk(ept, gpa, &level, NULL);

    if (!e)
        return EPT_WP_NONE;
    if (*e & EPT_W)
        return EPT_WP_SPURIOUS;
    *e |= EPT_W;                        /* the cmpxchg of fast_pf_fix_direct_spte */
    ept->st.dirty_faults++;
    return level == 1 ? EPT_WP_FAST : EPT_WP_HUGE;
}

void ept_gather_finish(struct ept *ept, struct mmu_gather *g)
{
    mmu_gather_finish(&ept->ptc, g);
}

int ept_fault_in(struct ept *ept, u64 gpa, struct sim_err *err)
{
    int rc;

    gpa &= ~((1ull << PAGE_SHIFT_4K) - 1);
    if ((rc = map_range(ept, gpa, 1ull << PAGE_SHIFT_4K, PAGE_SHIFT_4K, err)))
        return rc;
    ept->st.violations++;
    return SIM_OK;
}

int ept_prefault(struct ept *ept, u64 gpa, struct sim_err *err)
{
    u64 base = gpa & ~((1ull << PAGE_SHIFT_2M) - 1);
    int rc;

    if (ept_range_ok(ept, base, 1ull << PAGE_SHIFT_2M) &&
        !map_range(ept, base, 1ull << PAGE_SHIFT_2M, PAGE_SHIFT_2M, NULL)) {
        ept->st.prefaults++;
        return SIM_OK;
    }
    if ((rc = map_range(ept, gpa & ~((1ull << PAGE_SHIFT_4K) - 1), 1ull << PAGE_SHIFT_4K,
                        PAGE_SHIFT_4K, err)))
        return rc;
    ept->st.prefaults++;
    return SIM_OK;
}

u64 *ept_walk(const struct ept *ept, u64 gpa, unsigned *level, struct pt_page **table)
{
    if (gpa >= ept->gpa_end)
        return NULL;
    return pt_walk(&ept->pt, gpa, level, table);
}

bool ept_translate(const struct ept *ept, u64 gpa, u64 *hpa, unsigned *page_shift)
{
    unsigned level;
    u64 *e = ept_walk(ept, gpa, &level, NULL);
    unsigned shift;

    if (!e)
        return false;
    shift = PAGE_SHIFT_4K + 9 * (level - 1);
    if (hpa)
        *hpa = (*e & pte_frame_mask(&ept->host) & ~((1ull << shift) - 1)) |
               (gpa & ((1ull << shift) - 1));
    if (page_shift)
        *page_shift = shift;
    return true;
}

bool ept_check(const struct ept *ept)
{
    return pt_check(&ept->pt) && pt_check(&ept->upper) &&
           (ept->levels == 4 || ept->levels == 5) && ept->pt.levels == ept->levels &&
           ept->gpa_end > 0;
}
