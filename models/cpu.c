/* models/cpu.c - TLB hierarchy, page walker with paging-structure caches,
 * and the slow path of a memory reference. */
#include "cpu.h"
#include "kvm.h"

#include <string.h>

enum { L1_4K = 0, L1_2M = 1, L1_1G = 2 };

static struct tlb *cpu_struct(struct cpu *c, unsigned i);
#define CPU_NR_STRUCTS (3 + 2 + 2 + PT_MAX_LEVELS - 1)  /* TLBs, then PSCs [2..5] */
#define CPU_FIRST_PSC 7

/* rare: the structure is one only some workloads touch (cpu_init_in). */
static int init_one(struct cpu *c, struct tlb *t, struct tlb_geom g, u8 nr, const u8 *shifts,
                    enum tlb_repl repl, u64 seed, const char *what, bool rare,
                    struct sim_err *err)
{
    struct tlb_config cfg = { .entries = g.entries, .ways = g.ways ? g.ways : 1,
                              .nr_sizes = nr };
    struct arena *a = c->arena ? &c->arena[rare ? CPU_ARENA_RARE : 0] : NULL;
    int rc;

    memcpy(cfg.shifts, shifts, nr);
    rc = tlb_init_in(t, &cfg, repl, seed, a, err);
    if (rc)
        sim_err_prefix(err, "%s: ", what);
    return rc;
}

int cpu_init(struct cpu *c, u32 id, const struct machine *m,
             struct frame_alloc *frames, struct mm *init_mm,
             struct sim_err *err)
{
    return cpu_init_in(c, id, m, frames, init_mm, NULL, err);
}

int cpu_init_in(struct cpu *c, u32 id, const struct machine *m,
                struct frame_alloc *frames, struct mm *init_mm,
                struct arena *a, struct sim_err *err)
{
    static const u8 s4k[] = { 12 }, s2m[] = { 21 }, s1g[] = { 30 };
    static const u8 s_stlb[] = { 12, 21, 30 };
    static const u8 s_psc[PT_MAX_LEVELS + 1][1] = { {0}, {0}, {21}, {30}, {39}, {48} };
    const struct tlb_geom *psc[PT_MAX_LEVELS + 1] = {
        NULL, NULL, &m->psc_pd, &m->psc_pdpt, &m->psc_pml4, &m->psc_pml5,
    };
    u64 seed = m->seed * 0x100000001b3ull + id * 64;
    int rc = 0;

    memset(c, 0, sizeof(*c));
    c->id = id;
    c->m = m;
    c->frames = frames;
    c->init_mm = init_mm;
    c->arena = a;
    rc = init_one(c, &c->l1d[L1_4K], m->l1d_4k, 1, s4k, m->replacement, seed + 1,
                  "tlb.l1d.4k", false, err);
    if (!rc) rc = init_one(c, &c->l1d[L1_2M], m->l1d_2m, 1, s2m, m->replacement, seed + 2,
                           "tlb.l1d.2m", true, err);
    if (!rc) rc = init_one(c, &c->l1d[L1_1G], m->l1d_1g, 1, s1g, m->replacement, seed + 3,
                           "tlb.l1d.1g", true, err);
    if (!rc) rc = init_one(c, &c->l1i[L1_4K], m->l1i_4k, 1, s4k, m->replacement, seed + 4,
                           "tlb.l1i.4k", true, err);
    if (!rc) rc = init_one(c, &c->l1i[L1_2M], m->l1i_2m, 1, s2m, m->replacement, seed + 5,
                           "tlb.l1i.2m", true, err);
    if (!rc) rc = init_one(c, &c->stlb, m->stlb, m->stlb_holds_1g ? 3 : 2, s_stlb,
                           m->replacement, seed + 6, "tlb.stlb", false, err);
    if (!rc) rc = init_one(c, &c->stlb1g, m->stlb_holds_1g ? (struct tlb_geom){ 0, 1 } : m->stlb_1g,
                           1, s1g, m->replacement, seed + 7, "tlb.stlb1g", true, err);
    for (unsigned l = 2; !rc && l <= PT_MAX_LEVELS; l++) {
        struct tlb_geom g = *psc[l];

        if (l > m->paging_levels)       /* no PML5E cache with 4 levels */
            g.entries = 0;
        /* PSCs use LRU whatever the TLBs use: sizes are tiny conventions. */
        rc = init_one(c, &c->psc[l], g, 1, s_psc[l], TLB_REPL_LRU, seed + 8 + l, "psc", false,
                      err);
    }
    if (rc) {
        cpu_destroy(c);
        return rc;
    }
    c->loaded_mm = init_mm;
    c->ctx_id = init_mm->ctx_id;
    c->tlb_gen = init_mm->tlb_gen;
    if (m->pcid) {
        /* Boot runs init_mm in ASID 0 (ctxs[0] = init_mm), next_asid 1. */
        c->pcid = true;
        c->next_asid = 1;
        c->ctxs[0] = (struct tlb_context){ init_mm->ctx_id, init_mm->tlb_gen };
        for (unsigned i = 0; i < CPU_NR_STRUCTS; i++)
            tlb_set_pcid_mode(cpu_struct(c, i), true);
        cpu_load_cr3(c, init_mm, 1, false);   /* kern_pcid(0) */
        c->pti = m->pti;
    }
    c->invpcid = m->invpcid;
    c->in_kernel = true;                /* boot runs in the kernel */
    return SIM_OK;
}

void cpu_destroy(struct cpu *c)
{
    for (unsigned i = 0; i < 3; i++)
        tlb_destroy(&c->l1d[i]);
    for (unsigned i = 0; i < 2; i++)
        tlb_destroy(&c->l1i[i]);
    tlb_destroy(&c->stlb);
    tlb_destroy(&c->stlb1g);
    for (unsigned l = 0; l <= PT_MAX_LEVELS; l++) {
        tlb_destroy(&c->psc[l]);
        tlb_destroy(&c->ept_psc[l]);
    }
}

int cpu_set_ept(struct cpu *c, struct ept *ept, struct sim_err *err)
{
    static const u8 s_psc[PT_MAX_LEVELS + 1][1] = { {0}, {0}, {21}, {30}, {39}, {48} };
    const struct machine *m = c->m;
    const struct tlb_geom *geom[PT_MAX_LEVELS + 1] = {
        NULL, NULL, &m->ept_psc_pd, &m->ept_psc_pdpt, &m->ept_psc_pml4, &m->ept_psc_pml5,
    };
    u64 seed = m->seed * 0x100000001b3ull + c->id * 64 + 32;
    int rc = 0;

    c->ept = ept;
    for (unsigned l = 2; !rc && l <= PT_MAX_LEVELS; l++) {
        struct tlb_geom g = *geom[l];

        if (l > ept->levels)            /* no EPT PML5E cache with 4 levels */
            g.entries = 0;
        rc = init_one(c, &c->ept_psc[l], g, 1, s_psc[l], TLB_REPL_LRU, seed + l, "ept.psc", true,
                     err);
    }
    return rc;
}

/* ---- flush primitives ------------------------------------------------- */

/* Every translation structure: l1d[3], l1i[2], stlb, stlb1g, psc[2..5]. */
static struct tlb *cpu_struct(struct cpu *c, unsigned i)
{
    if (i < 3)
        return &c->l1d[i];
    if (i < 5)
        return &c->l1i[i - 3];
    if (i == 5)
        return &c->stlb;
    if (i == 6)
        return &c->stlb1g;
    return &c->psc[i - CPU_FIRST_PSC + 2];
}

/* Non-global entries of pcid everywhere (PSC entries are never global). */
static void flush_pcid_structures(struct cpu *c, u16 pcid)
{
    for (unsigned i = 0; i < CPU_NR_STRUCTS; i++)
        tlb_flush_pcid(cpu_struct(c, i), pcid);
}

static void flush_all_structures(struct cpu *c, bool include_global)
{
    for (unsigned i = 0; i < 3; i++)
        tlb_flush_all(&c->l1d[i], include_global);
    for (unsigned i = 0; i < 2; i++)
        tlb_flush_all(&c->l1i[i], include_global);
    tlb_flush_all(&c->stlb, include_global);
    tlb_flush_all(&c->stlb1g, include_global);
    for (unsigned l = 2; l <= PT_MAX_LEVELS; l++)
        tlb_flush_all(&c->psc[l], true);
}

void cpu_write_cr3(struct cpu *c, struct mm *mm)
{
    if (c->pcid) {
        cpu_load_cr3(c, mm, c->cr3_pcid, false);
        return;
    }
    c->loaded_mm = mm;
    flush_all_structures(c, false);
}

void cpu_load_cr3(struct cpu *c, struct mm *mm, u16 pcid, bool noflush)
{
    if (!c->pcid) {
        cpu_write_cr3(c, mm);
        return;
    }
    pcid &= TLB_PCID_MASK;
    c->loaded_mm = mm;
    c->cr3_pcid = pcid;
    for (unsigned i = 0; i < CPU_NR_STRUCTS; i++)
        tlb_set_pcid(cpu_struct(c, i), pcid);
    if (!noflush)
        flush_pcid_structures(c, pcid);
}

/* Reloading CR3 (native_flush_tlb_local): with PCIDs, the current PCID only. */
void cpu_flush_tlb_local(struct cpu *c)
{
    if (c->pcid)
        flush_pcid_structures(c, c->cr3_pcid);
    else
        flush_all_structures(c, false);
}

void cpu_invpcid(struct cpu *c, enum invpcid_type type, u16 pcid, u64 va)
{
    switch (type) {
    case INVPCID_TYPE_INDIV_ADDR:
        /* The address's non-global TLB entries of pcid, and (as for
         * INVLPG) every PSC entry of pcid. */
        for (unsigned i = 0; i < CPU_NR_STRUCTS; i++) {
            if (i < CPU_FIRST_PSC)
                tlb_flush_va_pcid(cpu_struct(c, i), va, pcid);
            else
                tlb_flush_pcid(cpu_struct(c, i), pcid);
        }
        break;
    case INVPCID_TYPE_SINGLE_CTXT:
        flush_pcid_structures(c, pcid);
        break;
    case INVPCID_TYPE_ALL_INCL_GLOBAL:
        flush_all_structures(c, true);
        break;
    case INVPCID_TYPE_ALL_NON_GLOBAL:
        flush_all_structures(c, false);
        break;
    }
}

void cpu_flush_tlb_global(struct cpu *c)
{
    flush_all_structures(c, true);
}

void cpu_invept(struct cpu *c)
{
    flush_all_structures(c, true);
    for (unsigned l = 2; l <= PT_MAX_LEVELS; l++)
        tlb_flush_all(&c->ept_psc[l], true);
}


/* A page fault invalidates the TLB entries of the faulting address (SDM
 * 4.10.4.1); the PSCs are left alone. */
static void drop_va(struct cpu *c, u64 va)
{
    for (unsigned i = 0; i < 3; i++)
        tlb_flush_va(&c->l1d[i], va);
    for (unsigned i = 0; i < 2; i++)
        tlb_flush_va(&c->l1i[i], va);
    tlb_flush_va(&c->stlb, va);
    tlb_flush_va(&c->stlb1g, va);
}

void cpu_invlpg(struct cpu *c, u64 va)
{
    drop_va(c, va);
    /* SDM 4.10.4.1: INVLPG also invalidates all paging-structure-cache
     * entries of the current PCID, whatever their linear address. */
    for (unsigned l = 2; l <= PT_MAX_LEVELS; l++) {
        if (c->pcid)
            tlb_flush_pcid(&c->psc[l], c->cr3_pcid);
        else
            tlb_flush_all(&c->psc[l], true);
    }
}

/* ---- page walk -------------------------------------------------------- */

struct walk {
    u64 *ptep;                          /* leaf entry, NULL when not present */
    struct pt_page *table;              /* table holding the leaf */
    unsigned level;                     /* leaf level (1..3) or failing level */
    u32 cycles;                         /* entry reads, both dimensions */
    u32 extra;                          /* virt.ept: EPT-violation cycles */
    u8 shift;                           /* leaf: combined page shift (guest's without EPT) */
    bool unbacked;                      /* virt.ept: a gpa the VM cannot back */
    bool host_w;                        /* leaf: the EPT leaf of gpa allows writes (true without EPT) */
    u64 gpa;                            /* leaf, virt.ept: the guest-physical address of va */
};

static struct pt *walk_pt(struct cpu *c)
{
    return &c->loaded_mm->pt;
}

/* Start of the walk: the deepest PSC hit, else the root.  A PSC entry whose
 * cached upper-level entry changed or whose table was recycled is counted
 * (real hardware would walk a freed table: the reason Linux IPIs lazy CPUs
 * when page tables are freed) and ignored. */
static struct pt_page *walk_start(struct cpu *c, const struct pt *pt, u64 va,
                                  unsigned *level)
{
    for (unsigned l = 2; l <= pt->levels; l++) {
        struct tlb_entry *e = tlb_lookup(&c->psc[l], va);

        if (!e)
            continue;
        if (!cpu_entry_current(c, e)) {
            /* The mm changed: is this upper-level entry still the same
             * entry of a live (not recycled) table? */
            if ((*e->ptep & ~PTE_AD_MASK) != e->pte || pt_page_of(e->ptep)->gen != e->ptgen) {
                c->st.psc_stale++;
                continue;
            }
            e->epoch = c->loaded_mm->pte_epoch;
        }
        c->st.psc_hits[l]++;
        *level = l - 1;
        return pt_child(pt_page_of(e->ptep), pt_index(va, l));
    }
    *level = pt->levels;
    return va_is_kernel(va) && pt->kernel ? pt->kernel->root : pt->root;
}

/* ---- two-dimensional walk (virt.ept) ------------------------------------
 *
 * Every guest paging-structure entry sits at a guest-physical address
 * (its table's frame number is a guest-physical frame number) which the
 * EPT translates before the entry can be read; so does the final
 * guest-physical address (SDM vol. 3C 28.2.2; AMD APM vol. 2 15.25.5).
 * Cold, with g guest and e EPT levels, a walk reads
 *     g * (e + 1) + e = (g + 1)(e + 1) - 1
 * entries: 24 for 4 on 4, 29 for 4 on 5 or 5 on 4, 35 for 5 on 5.
 * Caches shorten it:
 *  - a guest PSC hit (psc[l]) starts the guest walk below level l, and the
 *    table it names needs no EPT translation: the entry is combined, it
 *    holds that table's host-physical address (SDM 28.3.1, "combined
 *    paging-structure-cache entries");
 *  - an EPT PSC hit (ept_psc[l], indexed by guest-physical address) starts
 *    an EPT translation below EPT level l.
 * Each EPT entry read costs ept.*_cycles, each guest entry walk.*_cycles.
 * A not-present EPT entry is an EPT violation: the host maps the 4K page
 * on demand (ept_fault_in, KVM's fault path) for ept.violation_cycles and
 * the EPT translation is walked again from its root.  XXX: hardware
 * restarts the whole guest instruction; the guest levels already read are
 * not charged a second time. */

/* Start of an EPT translation: the deepest EPT PSC hit, else the root.
 * The EPT keeps its tables on a zap (models/ept.h), so a cached upper
 * entry goes stale only if its value changed: checked when the EPT's
 * epoch moved. */
static struct pt_page *ept_walk_start(struct cpu *c, u64 gpa, unsigned *level)
{
    const struct ept *ept = c->ept;

    for (unsigned l = 2; l <= ept->levels; l++) {
        struct tlb_entry *e = tlb_lookup(&c->ept_psc[l], gpa);

        if (!e)
            continue;
        if (e->epoch != ept->epoch) {
            if ((*e->ptep & ~PTE_AD_MASK) != e->pte || pt_page_of(e->ptep)->gen != e->ptgen) {
                c->st.psc_stale++;
                continue;
            }
            e->epoch = ept->epoch;
        }
        c->st.ept_psc_hits++;
        *level = l - 1;
        return pt_child(pt_page_of(e->ptep), pt_index(gpa, l));
    }
    *level = ept->levels;
    return ept->pt.root;
}

/* One pass of the EPT walk of gpa; returns the leaf's page shift, or 0
 * when an entry is not present.  *writable: the leaf's W. */
static unsigned ept_walk_once(struct cpu *c, u64 gpa, u32 *cycles, bool *writable)
{
    unsigned level;
    struct pt_page *t = ept_walk_start(c, gpa, &level);

    for (; t && level >= 1; level--) {
        unsigned idx = pt_index(gpa, level);
        u64 ent = t->e[idx];
        u32 cost = c->m->ept_walk_cycles[level];

        *cycles += cost;
        c->st.ept_walk_cycles += cost;
        c->st.ept_walk_refs++;
        if (!(ent & PTE_P))
            return 0;
        if (level == 1 || (ent & PTE_PS)) {
            *writable = (ent & EPT_W) != 0;
            return PAGE_SHIFT_4K + 9 * (level - 1);
        }
        if (tlb_present(&c->ept_psc[level])) {
            struct tlb_entry src = {
                .ptep = &t->e[idx], .pte = ent & ~PTE_AD_MASK, .ptgen = t->gen,
                .epoch = c->ept->epoch,
            };
            tlb_fill(&c->ept_psc[level], gpa, PAGE_SHIFT_4K + 9 * (level - 1), &src, NULL);
        }
        t = pt_child(t, idx);
    }
    return 0;
}

/* EPT translation of gpa for the walker: the EPT leaf's page shift, or
 * 0 (w->unbacked) when the VM cannot back gpa (outside its memory, host
 * frames exhausted); w->host_w gets the leaf's W. */
static unsigned ept_translate_walk(struct cpu *c, u64 gpa, struct walk *w)
{
    unsigned shift;

    if (gpa >= c->ept->gpa_end) {
        w->unbacked = true;
        return 0;
    }
    /* ept.prefault: backed before the trace began, as if mapped all
     * along (so no partial walk is charged either) -- unless the host
     * zapped it since, when the touch is a real EPT violation below. */
    if (c->m->ept_prefault && !ept_walk(c->ept, gpa, NULL, NULL) &&
        ept_prefault_allowed(c->ept, gpa) && ept_prefault(c->ept, gpa, NULL)) {
        w->unbacked = true;
        return 0;
    }
    if ((shift = ept_walk_once(c, gpa, &w->cycles, &w->host_w)))
        return shift;
    /* EPT violation: exit, KVM maps the 4K page, re-entry. */
    c->st.ept_violations++;
    w->extra += c->m->ept_violation_cycles;
    if (ept_fault_in(c->ept, gpa, NULL) ||
        !(shift = ept_walk_once(c, gpa, &w->cycles, &w->host_w)))
        w->unbacked = true;
    return shift;
}

/* Guest-physical address of a guest leaf's translation of va (its frame,
 * without the KeyID bits above it). */
static inline u64 leaf_gpa(const struct cpu *c, u64 pte, unsigned shift, u64 va)
{
    return ((pte & pte_frame_mask(c->frames)) & ~((1ull << shift) - 1)) |
           (va & ((1ull << shift) - 1));
}

static void walk(struct cpu *c, u64 va, struct walk *w)
{
    const struct pt *pt = walk_pt(c);
    const struct machine *m = c->m;
    unsigned level;
    struct pt_page *table = walk_start(c, pt, va, &level);
    /* A guest PSC hit hands over the next table's host address. */
    bool host_known = level < pt->levels;

    w->ptep = NULL;
    w->cycles = 0;
    w->extra = 0;
    w->unbacked = false;
    w->host_w = true;
    c->st.walks++;
    for (; table && level >= 1; level--) {
        unsigned idx = pt_index(va, level);
        u64 ent;

        if (c->ept && !host_known &&
            !ept_translate_walk(c, (table->pfn << PAGE_SHIFT_4K) | (idx * 8u), w))
            break;
        host_known = false;
        ent = table->e[idx];
        w->cycles += m->walk_level_cycles[level];
        c->st.walk_refs++;
        w->level = level;
        if (!(ent & PTE_P))
            break;
        table->e[idx] = ent | PTE_A;
        if (level == 1 || (ent & PTE_PS)) {
            unsigned gshift = PAGE_SHIFT_4K + 9 * (level - 1), hshift = gshift;

            w->gpa = leaf_gpa(c, ent, gshift, va);
            if (c->ept && !(hshift = ept_translate_walk(c, w->gpa, w)))
                break;
            /* The combined translation: the smaller of the two pages. */
            w->shift = (u8)(hshift < gshift ? hshift : gshift);
            w->ptep = &table->e[idx];
            w->table = table;
            break;
        }
        if (level >= 2 && tlb_present(&c->psc[level])) {
            struct tlb_entry src = {
                .ptep = &table->e[idx], .pte = ent & ~PTE_AD_MASK,
                .ptgen = table->gen, .mm = c->loaded_mm->idx,
                .epoch = c->loaded_mm->pte_epoch,
            };
            tlb_fill(&c->psc[level], va, 12 + 9 * (level - 1), &src, NULL);
        }
        table = pt_child(table, idx);
    }
    c->st.walk_cycles += w->cycles;
}

/* ---- prefetch ----------------------------------------------------------- */

/* Every cache line of [p, p + n). */
static void prefetch_range(const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)63, end = (uintptr_t)p + n;

    for (; a < end; a += 64)
        __builtin_prefetch((const void *)a);
}

/* The leaf entry that a walk of va will read, following present upper
 * levels (reads only), or NULL when the walk would stop early. */
static const u64 *prefetch_leaf(const struct cpu *c, u64 va)
{
    const struct pt *pt = &c->loaded_mm->pt;
    const struct pt_page *t = va_is_kernel(va) && pt->kernel ? pt->kernel->root : pt->root;

    for (unsigned l = pt->levels; t && l >= 2; l--) {
        unsigned idx = pt_index(va, l);
        u64 ent = t->e[idx];

        if (!(ent & PTE_P))
            return NULL;
        if (ent & PTE_PS)
            return &t->e[idx];
        t = pt_child(t, idx);
    }
    return t ? &t->e[pt_index(va, 1)] : NULL;
}

/* The walk of a random page misses the host caches at least three times:
 * on the leaf entry (the page tables of a 1 GiB working set hold 2 MiB of
 * entries), on the STLB set (tags and LRU stamps) and on the frame's
 * generation (1 MiB of them).  The first two are prefetched: with the
 * engine asking 8 references ahead, a random-page run takes a third less
 * time.  Upper levels are few and stay cached, so following them costs a
 * few loads.  XXX: the generation cannot be prefetched without frame.c's
 * layout, and touching it with frame_gen() a few references ahead
 * measured no gain. */
void cpu_prefetch(const struct cpu *c, u64 va)
{
    const struct tlb *stlb = &c->stlb;
    const u64 *leaf = prefetch_leaf(c, va);

    if (leaf)
        __builtin_prefetch(leaf);
    if (stlb->nr_valid_size[0]) {
        u32 si = tlb_set_of(stlb, va >> stlb->shifts[0]);
        size_t base = (size_t)si * stlb->ways;
        const struct tlb_entry *blk = stlb->set_e[si];

        prefetch_range(&stlb->tags[base], stlb->ways * sizeof(*stlb->tags));
        if (blk)                        /* LRU stamps; a set never filled has none */
            prefetch_range(blk, stlb->ways * sizeof(*blk));
    }
}

/* ---- the slow path ----------------------------------------------------- */

static bool perm_ok(u64 pte, u8 kind)
{
    if (kind == 'w' && !(pte & PTE_RW))
        return false;
    if (kind == 'x' && (pte & PTE_NX))
        return false;
    return true;
}

static struct mm *mm_of_entry(struct cpu *c, const struct tlb_entry *e)
{
    return e->global ? c->init_mm : c->loaded_mm;
}

static void log_stale(struct cpu *c, u64 va, u8 kind, u16 mm, bool freed)
{
    if (c->nr_stale_log < CPU_STALE_LOG)
        c->stale_log[c->nr_stale_log++] =
            (struct stale_rec){ va, c->now, mm, kind, freed };
}

enum hit_verdict { HIT_USE, HIT_DROP };

/* ---- virt.ept: the EPT's half of a combined entry ------------------------ */

/* A combined entry's permissions are the guest's AND the EPT leaf's (SDM
 * vol. 3C 28.3.1): RW only when both allow writes.  (EPT R and X are
 * always set by this model's host.) */
static inline u64 combined_pte(u64 gpte, bool host_w)
{
    return host_w ? gpte : gpte & ~PTE_RW;
}

/* Guest-physical address of va through a TLB entry: the guest page's
 * size comes from the level of the table holding its leaf. */
static u64 entry_gpa(const struct cpu *c, const struct tlb_entry *e, u64 va)
{
    return leaf_gpa(c, e->pte, PAGE_SHIFT_4K + 9 * (pt_page_of(e->ptep)->level - 1u), va);
}

/* A write through a translation whose EPT leaf lacks W: an EPT violation
 * (SDM vol. 3C, "EPT Violations").  KVM's fast_page_fault() gives W back
 * and logs the page dirty, or finds it writable already (spurious: this
 * CPU cached the read-only translation before another vCPU's fault fixed
 * it); a huge leaf goes the slow way (ept_write_fault).  Cost: the exit
 * (priced as a kick's), ept.dirty_fault_cycles, the entry; the huge-leaf
 * slow path ept.violation_cycles as any fault that maps.  The write then
 * retries.  XXX: as for not-present violations, the retry's walk is not
 * charged when the fault came from a walk, and without VPID the exit and
 * entry do not flush here. */
static u32 ept_write_violation(struct cpu *c, u64 gpa)
{
    const struct machine *m = c->m;

    switch (ept_write_fault(c->ept, gpa)) {
    case EPT_WP_NONE:                   /* gone since: the retry's walk faults it in */
        return 0;
    case EPT_WP_HUGE:
        c->st.ept_dirty_faults++;
        return m->ept_violation_cycles;
    case EPT_WP_FAST:
        c->st.ept_dirty_faults++;
        break;
    case EPT_WP_SPURIOUS:
        c->st.ept_spurious_faults++;
        break;
    }
    return kvm_exit_cycles(m) + m->ept_dirty_fault_cycles + kvm_entry_cycles(m);
}

/* The page shift of a TLB entry filled now from the guest leaf pte at
 * level: the guest's, or under EPT the smaller of it and the EPT leaf's
 * (0 when the EPT no longer maps the page); *host_w: the EPT leaf's W
 * (true without EPT). */
static unsigned entry_shift_now(const struct cpu *c, u64 pte, unsigned level, u64 va,
                                bool *host_w)
{
    unsigned g = PAGE_SHIFT_4K + 9 * (level - 1), h;

    *host_w = true;
    if (!c->ept)
        return g;
    if (!ept_leaf_perm(c->ept, leaf_gpa(c, pte, g, va), host_w, &h))
        return 0;
    return h < g ? h : g;
}

/* A hit whose leaf entry changed since the fill (or whose VM's EPT did).
 * Refresh it when the translation is still the same (A/D update,
 * permission upgrade); otherwise the reference used a removed translation:
 * count it and let it proceed, as the hardware would. */
static enum hit_verdict hit_changed(struct cpu *c, struct tlb_entry *e, u64 va,
                                    u8 kind, u32 *cost)
{
    unsigned level;
    struct pt_page *table;
    u64 *cur = pt_walk(walk_pt(c), va, &level, &table);
    u64 old = e->pte;
    bool old_w = (old & PTE_RW) || e->ept_wp;       /* the guest's W at fill */
    bool host_w = true;
    /* Frame and KeyID both: an entry re-keyed to another KeyID is a new
     * translation (the old entry would read the page with the old key). */
    bool guest_same = cur && !((*cur ^ old) & PTE_ADDR_MASK) &&
        frame_gen(c->frames, pte_pfn(c->frames, old)) == e->fgen &&
        !((*cur & PTE_NX) && !(old & PTE_NX)) &&
        !(!(*cur & PTE_RW) && (old & PTE_RW));
    /* The EPT still maps the page at that size and does not refuse a
     * write the entry allows. */
    bool host_same = guest_same && entry_shift_now(c, *cur, level, va, &host_w) == e->shift &&
        !(!host_w && (old & PTE_RW));

    if (host_same) {
        /* Same frame, no permission lost: refresh.  Only a permission the
         * page tables now grant is an upgrade (a spurious fault); a write
         * to a page that is still read-only faults once, in check_hit().
         * A read-only combined entry stays read-only until dropped, even
         * when the EPT leaf got W back meanwhile (a write through it is a
         * spurious violation). */
        bool upgrade = (kind == 'w' && !old_w && (*cur & PTE_RW)) ||
                       (kind == 'x' && (old & PTE_NX) && !(*cur & PTE_NX));
        bool wp = (*cur & PTE_RW) && (e->ept_wp || !host_w);
        e->ptep = cur;
        e->pte = combined_pte(*cur & ~PTE_AD_MASK, !wp);
        e->ept_wp = wp;
        e->ptgen = table->gen;
        e->dirty = (*cur & PTE_D) != 0;
        e->epoch = mm_of_entry(c, e)->pte_epoch;
        if (upgrade) {
            c->st.spurious_faults++;    /* the old entry faulted; handler re-walks */
            *cost += c->m->fault_cycles;
        }
        return HIT_USE;
    }
    if (!perm_ok(old, kind))
        return HIT_DROP;                /* it faults; the handler walks afresh */
    if (guest_same) {
        /* Only the EPT side changed: the host's flush covers it. */
        if (c->host_flush_pending) {
            c->st.racy_accesses++;
        } else {
            c->st.stale_accesses++;
            log_stale(c, va, kind, e->mm, false);
        }
    } else if (frame_gen(c->frames, pte_pfn(c->frames, old)) != e->fgen) {
        c->st.stale_accesses++;
        log_stale(c, va, kind, e->mm, true);
    } else if (mm_of_entry(c, e)->flush_inflight) {
        c->st.racy_accesses++;
    } else {
        c->st.stale_accesses++;
        log_stale(c, va, kind, e->mm, false);
    }
    return HIT_USE;
}

/* Checks of any hit (L1 or STLB): staleness, permissions, dirty assist. */
static enum hit_verdict check_hit(struct cpu *c, struct tlb_entry *e, u64 va,
                                  u8 kind, u32 *cost)
{
    if (!cpu_entry_current(c, e) && hit_changed(c, e, va, kind, cost) == HIT_DROP)
        return HIT_DROP;
    if (!perm_ok(e->pte, kind)) {
        if (kind == 'w' && e->ept_wp) {
            /* The EPT half refuses: an EPT violation, which drops the
             * linear address's combined mappings (SDM vol. 3C 28.3.3.1);
             * the retried write walks afresh. */
            *cost += ept_write_violation(c, entry_gpa(c, e, va));
            return HIT_DROP;
        }
        c->st.bad_accesses++;           /* protection fault: SIGSEGV */
        *cost += c->m->fault_cycles;
        return HIT_USE;
    }
    if (kind == 'w' && !e->dirty) {
        /* First write through a clean entry: the walker sets D. */
        c->st.setad_assists++;
        *cost += c->m->walk_setad_cycles;
        if (cpu_entry_current(c, e))
            *(u64 *)e->ptep |= PTE_D | PTE_A;
        e->dirty = 1;
    }
    return HIT_USE;
}

static struct tlb *l1_for(struct cpu *c, u8 kind, unsigned level)
{
    if (kind == 'x')
        return level <= 2 ? &c->l1i[level - 1] : NULL;
    return &c->l1d[level - 1];
}

static struct tlb *stlb_for(struct cpu *c, unsigned level)
{
    return level == 3 && !c->m->stlb_holds_1g ? &c->stlb1g : &c->stlb;
}

static void fill_from(struct cpu *c, u8 kind, u64 va, const struct tlb_entry *src,
                      bool fill_stlb)
{
    unsigned level = (src->shift - 12) / 9 + 1;
    struct tlb *l1 = l1_for(c, kind, level);

    if (fill_stlb)
        tlb_fill(stlb_for(c, level), va, src->shift, src, NULL);
    if (l1)
        tlb_fill(l1, va, src->shift, src, NULL);
}

/* Page fault on a non-present entry: populate if an area covers va. */
static bool handle_fault(struct cpu *c, u64 va, u8 kind, u32 *cost)
{
    struct mm *mm = va_is_kernel(va) ? c->init_mm : c->loaded_mm;
    const struct vma *v = vma_find(&mm->vmas, va);

    *cost += c->m->fault_cycles;
    if (!v || !perm_ok(v->flags, kind) ||
        pt_populate(&mm->pt, va, v->page_shift, v->flags, NULL)) {
        c->st.bad_accesses++;
        return false;
    }
    c->st.page_faults++;
    return true;
}

static struct tlb_entry *lookup_l1_rest(struct cpu *c, u64 va, u8 kind)
{
    struct tlb_entry *e;

    if (kind == 'x')
        return tlb_lookup(&c->l1i[L1_2M], va);
    if ((e = tlb_lookup(&c->l1d[L1_2M], va)))
        return e;
    return tlb_lookup(&c->l1d[L1_1G], va);
}

static u32 miss_path(struct cpu *c, u64 va, u8 kind, u32 cost)
{
    struct tlb_entry *e = tlb_lookup(&c->stlb, va);
    struct walk w;

    if (!e)
        e = tlb_lookup(&c->stlb1g, va);
    cost += c->m->stlb_hit_cycles;
    if (e && check_hit(c, e, va, kind, &cost) == HIT_USE) {
        c->st.stlb_hits++;
        fill_from(c, kind, va, e, false);
        return cost;
    }
    if (e)
        drop_va(c, va);
    c->st.stlb_misses++;
    walk(c, va, &w);
    cost += w.cycles + w.extra;
    if (!w.ptep && !w.unbacked) {
        if (!handle_fault(c, va, kind, &cost))
            return cost;
        walk(c, va, &w);
        cost += w.cycles + w.extra;
    }
    if (!w.ptep) {
        if (w.unbacked)
            c->st.bad_accesses++;       /* no guest-physical memory behind it */
        return cost;
    }
    if (!perm_ok(*w.ptep, kind)) {
        c->st.bad_accesses++;
        return cost + c->m->fault_cycles;
    }
    if (kind == 'w' && !w.host_w) {
        /* The guest allows the write, the EPT leaf does not. */
        cost += ept_write_violation(c, w.gpa);
        w.host_w = true;
    }
    if (kind == 'w')
        *w.ptep |= PTE_D;
    struct tlb_entry src = {
        .ptep = w.ptep, .pte = combined_pte(*w.ptep & ~PTE_AD_MASK, w.host_w),
        .ptgen = w.table->gen,
        .fgen = frame_gen(c->frames, pte_pfn(c->frames, *w.ptep)),
        .global = (*w.ptep & PTE_G) != 0, .dirty = (*w.ptep & PTE_D) != 0,
        .ept_wp = (*w.ptep & PTE_RW) && !w.host_w,
        .shift = w.shift,
    };
    src.mm = src.global ? c->init_mm->idx : c->loaded_mm->idx;
    src.epoch = (src.global ? c->init_mm : c->loaded_mm)->pte_epoch;
    fill_from(c, kind, va, &src, true);
    return cost;
}

u32 cpu_access_slow(struct cpu *c, u64 va, u8 kind, struct tlb_entry *hit)
{
    u32 cost = c->m->access_cycles;

    if (!hit)
        hit = lookup_l1_rest(c, va, kind);
    if (hit && check_hit(c, hit, va, kind, &cost) == HIT_USE) {
        if (kind == 'x')
            c->st.l1i_hits++;
        else
            c->st.l1d_hits++;
        return cost;
    }
    if (hit)                            /* dropped: the #PF invalidated it */
        drop_va(c, va);
    if (kind == 'x')
        c->st.l1i_misses++;
    else
        c->st.l1d_misses++;
    return miss_path(c, va, kind, cost);
}

/* ---- runs of references ----------------------------------------------- */

#define PREFETCH_AHEAD 8                /* references ahead for cpu_prefetch */

/* The L1 hits of cpu_access() for va[i..end): the probe of the 4K
 * structure t in the current tag space (a hit stamps the entry, LRU, or
 * touches its PLRU bits) and the epoch and permission checks, with t's
 * fields and the two address spaces' epochs in locals.  Returns the index
 * of the first reference that is not such a hit (end if none): a miss in
 * the current tag space (*slow NULL: the probe changed nothing) or a hit
 * that fails a check (*slow the entry, already touched as cpu_access()
 * touches it).  The caller counts the hits and hands that reference to
 * cpu_access() or cpu_access_slow().  kind and lru4 are constants where
 * this is inlined; lru4 is t->lru4_4k (4-way LRU, a power-of-two set
 * count: the common L1), so the probe needs no loop and no policy test.
 * LRU stamps are the use counter's next values in order, so reference j
 * stamps stamp0 + j and the counter is stored once at the end. */
static sim_always_inline u32 l1_hits(struct cpu *c, struct tlb *t, const u64 *va, u32 i,
                                     u32 end, struct tlb_entry **slow, const u8 kind,
                                     const bool lru4)
{
    const u64 *tags = t->tags;
    struct tlb_entry *ents = t->e;      /* lru4: flat (tlb.h) */
    const u32 ways = lru4 ? 4 : t->ways, set_mask = t->set_mask;
    const u64 space = t->asid_tag, stamp0 = t->clock + 1 - i;
    const u32 ep_user = c->loaded_mm->pte_epoch, ep_kern = c->init_mm->pte_epoch;
    struct tlb_entry *e = NULL;

    for (; i < end; i++) {
        u64 vpn = va[i] >> PAGE_SHIFT_4K;
        u32 si = lru4 ? (u32)(vpn & set_mask) : tlb_set_of(t, vpn);
        size_t base = (size_t)si * ways;
        int w;
        if (lru4) {
            /* The way by a mask and a bit scan: which way of a set a
             * reference hits is as unpredictable as the references, and
             * GCC turns the four compares of tlb_find_way() into
             * branches on them. */
            u32 m = tlb_match_mask(tags + base, 4, (vpn << 3) ^ space);
            if (!m)
                break;                          /* a miss: nothing changed */
            w = __builtin_ctz(m);
        } else if ((w = tlb_find_way(tags + base, ways, (vpn << 3) ^ space)) < 0) {
            break;                              /* a miss: nothing changed */
        }
        e = lru4 ? ents + base + (u32)w : t->set_e[si] + (u32)w;
        if (lru4 || t->repl == TLB_REPL_LRU)
            e->stamp = stamp0 + i;
        else if (t->repl == TLB_REPL_PLRU)
            tlb_touch_way(t, si, (u32)w);
        if (unlikely(e->epoch != (e->global ? ep_kern : ep_user) ||
                     (kind == 'w' && !((e->pte & PTE_RW) && e->dirty)) ||
                     (kind == 'x' && (e->pte & PTE_NX))))
            break;                              /* touched, for cpu_access_slow() */
        e = NULL;
    }
    if (lru4 || t->repl == TLB_REPL_LRU)
        t->clock = stamp0 + i - (e ? 0 : 1);
    *slow = e;
    return i;
}

/* l1_hits() with its constants. */
static u32 l1_hits_any(struct cpu *c, struct tlb *t, const u64 *va, u32 i, u32 end,
                       struct tlb_entry **slow, u8 kind, bool lru4)
{
    if (lru4) {
        switch (kind) {
        case 'r': return l1_hits(c, t, va, i, end, slow, 'r', true);
        case 'w': return l1_hits(c, t, va, i, end, slow, 'w', true);
        default:  return l1_hits(c, t, va, i, end, slow, 'x', true);
        }
    }
    switch (kind) {
    case 'r': return l1_hits(c, t, va, i, end, slow, 'r', false);
    case 'w': return l1_hits(c, t, va, i, end, slow, 'w', false);
    default:  return l1_hits(c, t, va, i, end, slow, 'x', false);
    }
}

u32 cpu_access_run(struct cpu *c, const u64 *va, u32 n, cycles_t stop, u8 kind)
{
    struct tlb *t = kind == 'x' ? &c->l1i[L1_4K] : &c->l1d[L1_4K];
    u64 *hit_ctr = kind == 'x' ? &c->st.l1i_hits : &c->st.l1d_hits;
    /* l1_hits() probes the one 4K size; an absent L1 (nr_sizes 0) leaves
     * every reference to cpu_access().  While references miss (a run of
     * hits ended at once), they go one by one through cpu_access(), whose
     * inline probe costs less than setting up a run; the first hit among
     * them starts runs again. */
    const bool probe = t->nr_sizes == 1 && t->shifts[0] == PAGE_SHIFT_4K;
    const bool lru4 = t->lru4_4k;
    bool runs = probe;
    const u32 ac = c->m->access_cycles;
    cycles_t now = c->now;
    u32 i = 0;

    while (i < n && now < stop) {
        struct tlb_entry *e = NULL;
        u32 cost;

        if (runs) {
            /* Hits cost ac each: the clock reaches stop after k of them. */
            u32 end = n;
            if ((u64)(n - i) * ac >= stop - now)       /* (no division when all fit) */
                end = i + (u32)((stop - now - 1) / ac + 1);
            u32 j = l1_hits_any(c, t, va, i, end, &e, kind, lru4);
            c->st.accesses += j - i;
            *hit_ctr += j - i;
            now += (u64)(j - i) * ac;
            runs = j > i;
            i = j;
            if (i == end)
                continue;
            c->now = now;
            if (e || !t->global_tag) {
                /* A hit that failed a check, or a miss with no global
                 * tag space left to probe: where cpu_access() goes next. */
                c->st.accesses++;
                cost = cpu_access_slow(c, va[i], kind, e);
            } else {
                cost = cpu_access(c, va[i], kind);
            }
        } else {
            c->now = now;
            cost = cpu_access(c, va[i], kind);
            runs = probe && cost == ac;
        }
        /* After a miss, warm the host caches for a reference a few ahead
         * (no effect on results; see cpu_prefetch). */
        if (cost != ac && i + PREFETCH_AHEAD < n)
            cpu_prefetch(c, va[i + PREFETCH_AHEAD]);
        now += cost;
        i++;
    }
    c->now = now;
    return i;
}

u32 cpu_tlb_entries_for(const struct cpu *c, u16 mm_idx)
{
    const struct tlb *all[] = { &c->l1d[0], &c->l1d[1], &c->l1d[2], &c->l1i[0],
                                &c->l1i[1], &c->stlb, &c->stlb1g };
    u32 n = 0;

    for (size_t i = 0; i < ARRAY_SIZE(all); i++)
        n += tlb_count_mm(all[i], mm_idx);
    return n;
}

bool cpu_check(const struct cpu *c)
{
    const struct tlb *all[] = { &c->l1d[0], &c->l1d[1], &c->l1d[2], &c->l1i[0],
                                &c->l1i[1], &c->stlb, &c->stlb1g, &c->psc[2],
                                &c->psc[3], &c->psc[4], &c->psc[5], &c->ept_psc[2],
                                &c->ept_psc[3], &c->ept_psc[4], &c->ept_psc[5] };

    for (size_t i = 0; i < ARRAY_SIZE(all); i++)
        if (!tlb_check(all[i]))
            return false;
    return c->loaded_mm != NULL;
}
