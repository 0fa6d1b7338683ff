/* models/pt.c - x86-64 4-level and 5-level radix page tables.
 *
 * Workload profile: map/unmap/protect/migrate come from the trace and may
 * cover up to the whole 128 TiB user half, so every range operation walks
 * only present entries and skips absent subtrees: its cost is bounded by
 * the tables that exist (512 slots each) plus the leaves it creates, never
 * by the length of the range.  pt_walk() is the brute-force translation the
 * TLB model falls back to on a miss.
 *
 * Every mutating operation is check-then-mutate: a read-only pass over the
 * range finds conflicts and counts what the operation will consume (tables,
 * frames, gather slots); only then are tables touched.  The one failure that
 * can still happen mid-way (the frame allocator running into MAXPHYADDR or
 * malloc failing) is rolled back, so on error the tables are unchanged.
 *
 * Kernel sharing: the kernel pt (kernel == NULL) owns the upper half.  A
 * user pt's root keeps its upper half empty and every walk of a kernel
 * address reads the kernel root's entry instead, which is what Linux gets by
 * copying the kernel PGD entries into each pgd (sync_global_pgds()): a
 * kernel mapping added after the user pt was created is visible to it.  As
 * in Linux, the kernel tables directly below the kernel root are never
 * freed, because every pgd shares them.
 */
#include "pt.h"

#include "arena.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PT_DEBUG_CHECK 0                /* 1: pt_check() prints the first broken invariant */

#define PT_TABLE_FLAGS (PTE_P | PTE_RW | PTE_US | PTE_A)   /* every non-leaf entry */
#define PT_LEAF_FLAGS  (PTE_P | PTE_RW | PTE_US | PTE_NX | PTE_G)  /* pt_map accepts */
#define PT_PROT_FLAGS  (PTE_RW | PTE_US | PTE_NX)          /* pt_protect replaces */
#define PT_KNOWN_BITS  (PTE_ADDR_MASK | PT_LEAF_FLAGS | PTE_AD_MASK | PTE_PS)
#define PT_UNIT_BYTES  (1u << PT_UNIT_SHIFT)
#define PT_SLAB_UNITS  (PT_SLAB_BYTES >> PT_UNIT_SHIFT)
/* A slab's first units hold its struct pt_page array, one per unit. */
#define PT_META_UNITS  ((PT_SLAB_UNITS * sizeof(struct pt_page) + PT_UNIT_BYTES - 1) / PT_UNIT_BYTES)
#define VISIT_STOP     1                /* private: a visitor ends the walk early, no error */

/* A TLB entry finds its table page with pt_page_of(ptep). */
_Static_assert(512 * sizeof(u64) == PT_UNIT_BYTES, "512 entries fill a unit");
_Static_assert(512 * sizeof(struct pt_page *) == PT_UNIT_BYTES, "512 child pointers fill a unit");
_Static_assert(PT_META_UNITS < PT_SLAB_UNITS / 8, "slab bookkeeping too large");

/* Bytes mapped by one entry at `level` (4K, 2M, 1G, 512G, 256T). */
static inline unsigned entry_shift(unsigned level)
{
    return PAGE_SHIFT_4K + 9 * (level - 1);
}

static inline u64 entry_size(unsigned level)
{
    return 1ull << entry_shift(level);
}

/* First address covered by the table at `level` that maps va.  Canonical
 * upper-half addresses keep their high ones, so base | i << shift is again a
 * canonical address. */
static inline u64 table_base(u64 va, unsigned level)
{
    return va & ~(entry_size(level + 1) - 1);
}

static inline bool entry_is_leaf(u64 e, unsigned level)
{
    return level == 1 || (e & PTE_PS);
}

/* The frame of entry e (never its KeyID). */
static inline u64 entry_pfn(const struct pt_ctx *ctx, u64 e)
{
    return pte_pfn(ctx->frames, e);
}

static inline u64 min_u64(u64 a, u64 b) { return a < b ? a : b; }
static inline u64 max_u64(u64 a, u64 b) { return a > b ? a : b; }

/* The table a walk of va starts from: user pts read kernel addresses
 * through the kernel pt's root (shared top-level entries). */
static struct pt_page *walk_root(const struct pt *pt, u64 va)
{
    return (pt->kernel && va_is_kernel(va)) ? pt->kernel->root : pt->root;
}

/* ===== table pages ========================================================= */

/* Table pages are carved from 2 MiB slabs of 4 KiB units.  A unit is the
 * 512 entries of a table or the 512 child pointers of an upper-level table;
 * its struct pt_page (in the slab's first units) is the table's bookkeeping
 * or, for a free unit, the pool link.  Units are zero whenever they are in
 * the pool or freshly handed out, slabs are never freed before the context
 * (a stale TLB pointer into a recycled table stays readable; its gen
 * tells it apart), and nothing is memset that is already zero: an emptied
 * table's entries are zero by the invariant absent == 0. */
static void *unit_mem(const struct pt_page *m)
{
    uintptr_t slab = (uintptr_t)m & ~(uintptr_t)(PT_SLAB_BYTES - 1);
    size_t idx = (size_t)(m - (const struct pt_page *)slab);

    return (void *)(slab + (idx << PT_UNIT_SHIFT));
}

/* A zeroed never-used unit (its bookkeeping struct), or NULL when out of
 * memory. */
static struct pt_page *unit_fresh(struct pt_ctx *ctx)
{
    if (!ctx->nr_slabs || ctx->slab_next == PT_SLAB_UNITS) {
        if (ctx->nr_slabs == ctx->cap_slabs) {
            size_t cap = ctx->cap_slabs ? 2 * ctx->cap_slabs : 8;
            void **n = realloc(ctx->slabs, cap * sizeof(*n));
            if (!n)
                return NULL;
            ctx->slabs = n;
            ctx->cap_slabs = cap;
        }
        /* A fresh mapping is zero (every gen starts at 0, every unit
         * empty), and a page of it costs nothing until used. */
        void *slab = arena_map_aligned(PT_SLAB_BYTES);
        if (!slab)
            return NULL;
        ctx->slabs[ctx->nr_slabs++] = slab;
        ctx->slab_next = PT_META_UNITS;
    }
    return (struct pt_page *)ctx->slabs[ctx->nr_slabs - 1] + ctx->slab_next++;
}

/* A zeroed unit: a free one, else a fresh one.  NULL when out of memory. */
static struct pt_page *unit_get(struct pt_ctx *ctx)
{
    struct pt_page *m = ctx->units;

    if (!m)
        return unit_fresh(ctx);
    ctx->units = m->next_free;
    ctx->nr_units--;
    m->next_free = NULL;
    return m;
}

/* Back to the free units; the caller has zeroed the unit. */
static void unit_put(struct pt_ctx *ctx, struct pt_page *m)
{
    m->next_free = ctx->units;
    ctx->units = m;
    ctx->nr_units++;
}

/* At least n free units, so that table_attach() cannot fail. */
static int units_reserve(struct pt_ctx *ctx, u64 n)
{
    while (ctx->nr_units < n) {
        struct pt_page *m = unit_fresh(ctx);
        if (!m)
            return SIM_ENOMEM;
        unit_put(ctx, m);
    }
    return SIM_OK;
}

/* A zeroed table page with a frame of its own: a recycled page first (so
 * it comes back with its gen), else a fresh unit.  SIM_ELIMIT beyond
 * max_table_pages (0: no limit). */
static int table_alloc(struct pt_ctx *ctx, unsigned level, struct pt_page **out,
                       struct sim_err *err)
{
    struct pt_page *t = ctx->pool;
    int rc;

    if (ctx->max_table_pages && ctx->nr_table_pages >= ctx->max_table_pages)
        return sim_err_set(err, SIM_ELIMIT, "page tables: limit of %" PRIu64
                           " table pages reached", ctx->max_table_pages);
    if (t) {
        ctx->pool = t->next_free;
    } else {
        if (!(t = unit_get(ctx)))
            return sim_err_set(err, SIM_ENOMEM, "page tables: out of memory");
        t->e = unit_mem(t);
        /* Zero already, but a table's first touch must be a write: a walk
         * or map_fill() reading a fresh unit first maps the zero page, and
         * its first entry written faults a second time (a trace of many
         * small address spaces took 1.7 times main's page faults).  A unit
         * that becomes a child array is written first anyway. */
        t->e[0] = 0;
    }
    if ((rc = frame_get(ctx->frames, FRAME_4K, &t->pfn, err))) {
        t->next_free = ctx->pool;       /* still zeroed: back to the pool */
        ctx->pool = t;
        return rc;
    }
    t->level = (u8)level;
    t->next_free = NULL;
    ctx->nr_table_pages++;
    *out = t;
    return SIM_OK;
}

/* Back to the pool: frame freed, gen bumped so a stale pointer into the page
 * (TLB ptep, paging-structure cache) is recognizable after reuse.  Only a
 * table torn down whole (pt_destroy) still has present entries to clear;
 * an emptied table's entries and child pointers are zero already. */
static void table_recycle(struct pt_ctx *ctx, struct pt_page *t)
{
    frame_put(ctx->frames, FRAME_4K, t->pfn);
    if (t->nr_present) {
        memset(t->e, 0, PT_UNIT_BYTES);
        if (t->child)
            memset(t->child, 0, PT_UNIT_BYTES);
    }
    if (t->child)
        unit_put(ctx, pt_page_of((const u64 *)t->child));
    t->child = NULL;
    t->child1 = NULL;
    t->child1_idx = 0;
    t->gen++;
    t->pfn = 0;
    t->nr_present = 0;
    t->level = 0;
    t->next_free = ctx->pool;
    ctx->pool = t;
    assert(ctx->nr_table_pages > 0);
    ctx->nr_table_pages--;
}

/* The second child of a table brings its pointer unit (reserved by the
 * caller: units_reserve()), so this cannot fail. */
static void table_attach(struct pt_ctx *ctx, struct pt_page *parent, unsigned i,
                         struct pt_page *child)
{
    assert(!(parent->e[i] & PTE_P) && child->level + 1 == parent->level);
    parent->e[i] = child->pfn << PAGE_SHIFT_4K | PT_TABLE_FLAGS;
    if (!parent->child && !parent->child1) {
        parent->child1 = child;
        parent->child1_idx = (u16)i;
    } else {
        if (!parent->child) {
            struct pt_page *u = unit_get(ctx);
            assert(u);                  /* reserved */
            parent->child = unit_mem(u);
            parent->child[parent->child1_idx] = parent->child1;
            parent->child1 = NULL;
            parent->child1_idx = 0;
        }
        parent->child[i] = child;
    }
    parent->nr_present++;
}

static struct pt_page *table_detach(struct pt_page *parent, unsigned i)
{
    struct pt_page *child = pt_child(parent, i);

    parent->e[i] = 0;
    if (parent->child) {
        parent->child[i] = NULL;
    } else {
        parent->child1 = NULL;
        parent->child1_idx = 0;
    }
    parent->nr_present--;
    return child;
}

int pt_ctx_init(struct pt_ctx *ctx, struct frame_alloc *fa, u64 max_table_pages)
{
    memset(ctx, 0, sizeof(*ctx));
    if (!fa)
        return SIM_EINVAL;
    ctx->frames = fa;
    ctx->max_table_pages = max_table_pages;
    ctx->keyid_shift = (unsigned)__builtin_ctzll(fa->max_pfn) + PAGE_SHIFT_4K;
    return SIM_OK;
}

/* The KeyID takes the bits right above the frame, as detect_tme() puts
 * mktme_keyid_shift at x86_phys_bits - keyid_bits (before x86_phys_bits
 * is lowered by them). */
int pt_ctx_set_keyid_bits(struct pt_ctx *ctx, unsigned keyid_bits)
{
    if (keyid_bits > 16 || ctx->keyid_shift + keyid_bits > 52)
        return SIM_EINVAL;
    ctx->keyid_mask = ((1ull << keyid_bits) - 1) << ctx->keyid_shift;
    return SIM_OK;
}

void pt_ctx_destroy(struct pt_ctx *ctx)
{
    if (!ctx)
        return;
    for (size_t k = 0; k < ctx->nr_slabs; k++)
        munmap(ctx->slabs[k], PT_SLAB_BYTES);
    free(ctx->slabs);
    memset(ctx, 0, sizeof(*ctx));
}

/* ===== mmu_gather ========================================================== */

void mmu_gather_init(struct mmu_gather *g)
{
    memset(g, 0, sizeof(*g));
    g->stride_shift = PAGE_SHIFT_4K;    /* tlb_get_unmap_shift() when nothing was cleared */
}

/* Room for `more` frames, taken before any table is touched so that
 * recording a freed frame can never fail half-way. */
static int gather_reserve(struct mmu_gather *g, u64 more)
{
    size_t cap = g->cap_frames ? g->cap_frames : 64;
    u64 *f;

    if (more <= g->cap_frames - g->nr_frames)
        return SIM_OK;
    if (more > SIZE_MAX / sizeof(*f) / 2 - g->nr_frames)
        return SIM_ENOMEM;
    while (cap - g->nr_frames < more)
        cap *= 2;
    if (!(f = realloc(g->frames, cap * sizeof(*f))))
        return SIM_ENOMEM;
    g->frames = f;
    g->cap_frames = cap;
    return SIM_OK;
}

static void gather_add_frame(struct mmu_gather *g, u64 pfn, unsigned order)
{
    assert(g->nr_frames < g->cap_frames);
    g->frames[g->nr_frames++] = pfn << 2 | order;
}

/* A leaf of 1 << shift bytes at va changed.  The stride is the smallest
 * leaf size touched, like Linux's tlb_get_unmap_shift(). */
static void gather_add_range(struct mmu_gather *g, u64 va, unsigned shift)
{
    u64 end = va + (1ull << shift);

    if (g->start == g->end) {
        g->start = va;
        g->end = end;
    } else {
        g->start = min_u64(g->start, va);
        g->end = max_u64(g->end, end);
    }
    g->stride_shift = g->nr_ptes ? (shift < g->stride_shift ? shift : g->stride_shift) : shift;
    g->nr_ptes++;
}

static void gather_add_table(struct mmu_gather *g, struct pt_page *t)
{
    t->next_free = g->tables;
    g->tables = t;
    g->nr_tables++;
    g->freed_tables = true;
}

void mmu_gather_finish(struct pt_ctx *ctx, struct mmu_gather *g)
{
    for (size_t k = 0; k < g->nr_frames; k++)
        frame_put(ctx->frames, (enum frame_order)(g->frames[k] & 3), g->frames[k] >> 2);
    while (g->tables) {
        struct pt_page *t = g->tables;

        g->tables = t->next_free;
        table_recycle(ctx, t);
    }
    g->nr_frames = 0;
    g->nr_tables = 0;
    g->start = g->end = 0;
    g->stride_shift = PAGE_SHIFT_4K;
    g->freed_tables = false;
    g->nr_ptes = 0;
}

void mmu_gather_destroy(struct mmu_gather *g)
{
    if (!g)
        return;
    free(g->frames);
    memset(g, 0, sizeof(*g));
}

/* ===== argument checks ===================================================== */

/* [va, va+len) must be aligned, non-empty, canonical, within one half and in
 * the half this pt owns.  The range may not end at 2^64: the gather's
 * exclusive end must not wrap. */
static int check_range(const struct pt *pt, u64 va, u64 len, unsigned align_shift,
                       struct sim_err *err)
{
    u64 mask = (1ull << align_shift) - 1, last = va + len - 1;
    bool kernel = va_is_kernel(va);

    if (!len)
        return sim_err_set(err, SIM_EINVAL, "len: must not be zero");
    if ((va | len) & mask)
        return sim_err_set(err, SIM_EINVAL, "va 0x%" PRIx64 " len 0x%" PRIx64
                           ": not aligned to 0x%" PRIx64, va, len, mask + 1);
    if (va + len <= va)
        return sim_err_set(err, SIM_EINVAL, "va 0x%" PRIx64 " len 0x%" PRIx64
                           ": wraps around the address space", va, len);
    if (!va_canonical(va, pt->va_bits) || !va_canonical(last, pt->va_bits) ||
        kernel != va_is_kernel(last))
        return sim_err_set(err, SIM_EINVAL, "va 0x%" PRIx64 " len 0x%" PRIx64
                           ": not canonical for %u-bit addresses", va, len, pt->va_bits);
    if (kernel != (pt->kernel == NULL))
        return sim_err_set(err, SIM_EINVAL, "va 0x%" PRIx64 ": %s address in a %s page table",
                           va, kernel ? "kernel" : "user", pt->kernel ? "user" : "kernel");
    return SIM_OK;
}

static bool valid_page_shift(unsigned shift)
{
    return shift == PAGE_SHIFT_4K || shift == PAGE_SHIFT_2M || shift == PAGE_SHIFT_1G;
}

/* ===== range visitor ======================================================= */

/* State of one range operation.  The visitor calls `leaf` for every present
 * leaf overlapping the range and `table_done` after each child table it
 * descended into, so a callback may detach that child. */
struct pt_op {
    int  (*leaf)(struct pt_op *op, struct pt_page *t, unsigned i, u64 va);
    void (*table_done)(struct pt_op *op, struct pt_page *t, unsigned i);
    struct pt *pt;
    u64 start, last;                    /* the operation's range, inclusive */
    struct mmu_gather *g;               /* receives freed frames and tables */
    u64 flags;                          /* protect: new permission bits */
    bool reduced;                       /* protect: some leaf lost a permission */
    u64 nr_leaves;                      /* check pass: present leaves in range */
    u64 nr_frames;                      /* check pass: 4K frames they hold */
    u64 bad_va;                         /* check pass: leaf sticking out of the range */
    u64 nr_done;                        /* migrate: leaves moved; undo: leaves restored */
    size_t undo_base;                   /* migrate undo: g->frames index of the first old frame */
    struct pt_page **fresh;             /* map rollback: tables the map created, sorted */
    u64 nr_fresh;                       /* length of fresh */
    struct sim_err *err;
};

static int visit_range(struct pt_op *op, struct pt_page *t, u64 lo, u64 hi)
{
    unsigned lvl = t->level, sh = entry_shift(lvl), i_end = pt_index(hi, lvl);
    u64 base = table_base(lo, lvl);
    int rc = SIM_OK;
    /* Present entries not reached yet: once they are all visited the rest
     * of the table is absent (callbacks only clear or change entries), so
     * tearing down a small address space does not scan 512 slots a level. */
    unsigned left = t->nr_present;

    for (unsigned i = pt_index(lo, lvl); i <= i_end && left && !rc; i++) {
        u64 va = base | (u64)i << sh, e = t->e[i];

        if (!(e & PTE_P))
            continue;                   /* absent subtree: nothing to visit */
        left--;
        if (entry_is_leaf(e, lvl)) {
            rc = op->leaf(op, t, i, va);
            continue;
        }
        rc = visit_range(op, pt_child(t, i), max_u64(lo, va),
                         min_u64(hi, va + entry_size(lvl) - 1));
        if (!rc && op->table_done)
            op->table_done(op, t, i);
    }
    return rc;
}

static void op_init(struct pt_op *op, struct pt *pt, u64 va, u64 len,
                    struct mmu_gather *g, struct sim_err *err)
{
    memset(op, 0, sizeof(*op));
    op->pt = pt;
    op->start = va;
    op->last = va + len - 1;
    op->g = g;
    op->err = err;
}

static int op_run(struct pt_op *op)
{
    int rc = visit_range(op, op->pt->root, op->start, op->last);

    return rc == VISIT_STOP ? SIM_OK : rc;
}

/* Check pass shared by unmap, zap, protect and migrate: a huge leaf only
 * partly inside the range is an error (we do not split huge pages). */
static int check_leaf(struct pt_op *op, struct pt_page *t, unsigned i, u64 va)
{
    u64 size = entry_size(t->level);

    if (va < op->start || va + size - 1 > op->last) {
        op->bad_va = va;
        return SIM_EINVAL;
    }
    op->nr_leaves++;
    op->nr_frames += size >> PAGE_SHIFT_4K;
    return SIM_OK;
}

static int op_check(struct pt_op *op)
{
    int (*leaf)(struct pt_op *, struct pt_page *, unsigned, u64) = op->leaf;
    void (*done)(struct pt_op *, struct pt_page *, unsigned) = op->table_done;
    int rc;

    op->leaf = check_leaf;
    op->table_done = NULL;
    rc = op_run(op);
    op->leaf = leaf;
    op->table_done = done;
    if (rc)
        return sim_err_set(op->err, rc, "va 0x%" PRIx64 ": huge page only partly inside "
                           "[0x%" PRIx64 ", 0x%" PRIx64 "]", op->bad_va, op->start, op->last);
    return SIM_OK;
}

/* ===== map ================================================================= */

/* State of one pt_map: the check pass counts the tables to create, which
 * are then reserved up front so that building the tree cannot fail. */
struct map_req {
    unsigned leaf_level;                /* 1, 2 or 3 */
    u64 leaf_bits;                      /* P | flags | PS of every new leaf */
    u64 nr_tables;                      /* tables the map needs */
    u64 conflict;                       /* first address that is already mapped */
    bool conflict_table;                /* ... by a table where a huge leaf would go */
    struct pt_page **res;               /* reserved tables, nr_tables of them */
    u64 used;                           /* reserved tables attached so far */
};

/* Tables needed below an absent entry to reach leaf_level over [lo, hi]:
 * at each level k one per table-sized stretch (entry_size(k + 1)). */
static u64 hole_tables(u64 lo, u64 hi, unsigned top, unsigned leaf_level)
{
    u64 n = 0;

    for (unsigned k = leaf_level; k <= top; k++)
        n += (hi >> entry_shift(k + 1)) - (lo >> entry_shift(k + 1)) + 1;
    return n;
}

static int map_check(struct map_req *m, const struct pt_page *t, u64 lo, u64 hi)
{
    unsigned lvl = t->level, sh = entry_shift(lvl), i_end = pt_index(hi, lvl);
    u64 base = table_base(lo, lvl);

    for (unsigned i = pt_index(lo, lvl); i <= i_end; i++) {
        u64 va = base | (u64)i << sh, e = t->e[i];
        u64 clo = max_u64(lo, va), chi = min_u64(hi, va + entry_size(lvl) - 1);
        int rc;

        if (!(e & PTE_P)) {
            if (lvl > m->leaf_level)
                m->nr_tables += hole_tables(clo, chi, lvl - 1, m->leaf_level);
            continue;
        }
        /* A leaf in the way, or a table (even an empty one, left by a zap)
         * where the new huge leaf would go. */
        if (lvl == m->leaf_level || entry_is_leaf(e, lvl)) {
            m->conflict = clo;
            m->conflict_table = !entry_is_leaf(e, lvl);
            return SIM_EEXIST;
        }
        if ((rc = map_check(m, pt_child(t, i), clo, chi)))
            return rc;
    }
    return SIM_OK;
}

static int map_limits(const struct pt *pt, const struct map_req *m, u64 len,
                      struct sim_err *err)
{
    const struct pt_ctx *ctx = pt->ctx;
    const struct frame_alloc *fa = ctx->frames;
    u64 need = (len >> PAGE_SHIFT_4K) + m->nr_tables;
    u64 left = fa->limit_frames > fa->nr_live ? fa->limit_frames - fa->nr_live : 0;

    if (ctx->max_table_pages && (m->nr_tables > ctx->max_table_pages ||
        ctx->nr_table_pages > ctx->max_table_pages - m->nr_tables))
        return sim_err_set(err, SIM_ELIMIT, "page tables: mapping needs %" PRIu64
                           " more table pages, limit %" PRIu64, m->nr_tables,
                           ctx->max_table_pages);
    if (need > left)
        return sim_err_set(err, SIM_ELIMIT, "frames: mapping needs %" PRIu64
                           " 4K frames, %" PRIu64 " left under limits.max_frames", need, left);
    return SIM_OK;
}

static int ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(struct pt_page *const *)a;
    uintptr_t y = (uintptr_t)*(struct pt_page *const *)b;

    return (x > y) - (x < y);
}

/* Give back reserved tables that were never attached (or were detached by
 * a rollback).  They were never visible to a walker: recycle at once. */
static void map_release(struct pt_ctx *ctx, struct map_req *m, u64 from)
{
    for (u64 k = from; k < m->nr_tables; k++)
        table_recycle(ctx, m->res[k]);
    free(m->res);
    m->res = NULL;
}

static int map_reserve(struct pt_ctx *ctx, struct map_req *m, struct sim_err *err)
{
    int rc = SIM_OK;
    u64 k;

    if (!m->nr_tables)
        return SIM_OK;
    if (m->nr_tables > SIZE_MAX / sizeof(*m->res) ||
        !(m->res = malloc(m->nr_tables * sizeof(*m->res))))
        return sim_err_set(err, SIM_ENOMEM, "page tables: out of memory");
    for (k = 0; k < m->nr_tables && !rc; k++)
        rc = table_alloc(ctx, 0, &m->res[k], err);
    if (rc) {
        m->nr_tables = k - 1;           /* the last one failed */
        map_release(ctx, m, 0);
        return rc;
    }
    /* Each new table may give its parent a second child (table_attach). */
    if (units_reserve(ctx, m->nr_tables)) {
        map_release(ctx, m, 0);
        return sim_err_set(err, SIM_ENOMEM, "page tables: out of memory");
    }
    return SIM_OK;
}

static int map_leaf(struct pt *pt, struct map_req *m, struct pt_page *t, unsigned i,
                    struct sim_err *err)
{
    u64 pfn;
    int rc = frame_get(pt->ctx->frames, (enum frame_order)(m->leaf_level - 1), &pfn, err);

    if (rc)
        return rc;
    t->e[i] = pfn << PAGE_SHIFT_4K | m->leaf_bits;
    t->nr_present++;
    return SIM_OK;
}

/* Build [lo, hi]: attach reserved tables where entries are absent, then
 * allocate a frame per leaf.  Only frame_get can fail here. */
static int map_fill(struct pt *pt, struct map_req *m, struct pt_page *t, u64 lo, u64 hi,
                    struct sim_err *err)
{
    unsigned lvl = t->level, sh = entry_shift(lvl), i_end = pt_index(hi, lvl);
    u64 base = table_base(lo, lvl);
    int rc = SIM_OK;

    for (unsigned i = pt_index(lo, lvl); i <= i_end && !rc; i++) {
        u64 va = base | (u64)i << sh;

        if (lvl == m->leaf_level) {
            rc = map_leaf(pt, m, t, i, err);
            continue;
        }
        if (!(t->e[i] & PTE_P)) {
            assert(m->used < m->nr_tables);     /* counted by map_check */
            m->res[m->used]->level = (u8)(lvl - 1);
            table_attach(pt->ctx, t, i, m->res[m->used++]);
        }
        rc = map_fill(pt, m, pt_child(t, i), max_u64(lo, va),
                      min_u64(hi, va + entry_size(lvl) - 1), err);
    }
    return rc;
}

/* Rollback visitors: every present leaf in the range is one this map made
 * (the check pass found none), and a table the map attached is empty once
 * its leaves are gone. */
static int rollback_leaf(struct pt_op *op, struct pt_page *t, unsigned i, u64 va)
{
    frame_put(op->pt->ctx->frames, (enum frame_order)(t->level - 1),
              entry_pfn(op->pt->ctx, t->e[i]));
    t->e[i] = 0;
    t->nr_present--;
    return SIM_OK;
}

static void rollback_table(struct pt_op *op, struct pt_page *t, unsigned i)
{
    struct pt_page *child = pt_child(t, i);

    if (op->nr_fresh &&
        bsearch(&child, op->fresh, op->nr_fresh, sizeof(*op->fresh), ptr_cmp)) {
        assert(child->nr_present == 0);
        table_detach(t, i);
    }
}

static void map_rollback(struct pt *pt, struct map_req *m, u64 va, u64 len)
{
    struct pt_op op;

    op_init(&op, pt, va, len, NULL, NULL);
    op.leaf = rollback_leaf;
    op.table_done = rollback_table;
    op.fresh = m->res;
    op.nr_fresh = m->used;
    if (m->used)
        qsort(m->res, m->used, sizeof(*m->res), ptr_cmp);
    op_run(&op);
    m->used = 0;                        /* all reserved tables are free again */
}

static int map_range(struct pt *pt, u64 va, u64 len, unsigned page_shift, u64 flags,
                     bool populate, struct sim_err *err)
{
    struct map_req m = { .leaf_level = (page_shift - PAGE_SHIFT_4K) / 9 + 1 };
    int rc;

    m.leaf_bits = flags | PTE_P | (page_shift > PAGE_SHIFT_4K ? PTE_PS : 0);
    if ((rc = map_check(&m, pt->root, va, va + len - 1)))
        return sim_err_set(err, rc, "va 0x%" PRIx64 ": %s", m.conflict, m.conflict_table ?
                           "a page table is in the way of the huge page" : "already mapped");
    if (!populate)
        return SIM_OK;                  /* the VMA records it; the first access faults */
    if ((rc = map_limits(pt, &m, len, err)) || (rc = map_reserve(pt->ctx, &m, err)))
        return rc;
    if ((rc = map_fill(pt, &m, pt->root, va, va + len - 1, err)))
        map_rollback(pt, &m, va, len);
    map_release(pt->ctx, &m, m.used);
    return rc;
}

int pt_map(struct pt *pt, u64 va, u64 len, unsigned page_shift, u64 flags,
           bool populate, struct sim_err *err)
{
    int rc;

    if (!valid_page_shift(page_shift))
        return sim_err_set(err, SIM_EINVAL, "page_shift: %u is not 12, 21 or 30", page_shift);
    if (flags & ~(PT_LEAF_FLAGS | pt->ctx->keyid_mask))
        return sim_err_set(err, SIM_EINVAL, "flags 0x%" PRIx64 ": only RW, US, NX, G and "
                           "a KeyID within the KeyID bits may be given", flags);
    if ((rc = check_range(pt, va, len, page_shift, err)))
        return rc;
    return map_range(pt, va, len, page_shift, flags, populate, err);
}

int pt_populate(struct pt *pt, u64 va, unsigned page_shift, u64 flags,
                struct sim_err *err)
{
    if (!valid_page_shift(page_shift))
        return sim_err_set(err, SIM_EINVAL, "page_shift: %u is not 12, 21 or 30", page_shift);
    va &= ~((1ull << page_shift) - 1);
    return pt_map(pt, va, 1ull << page_shift, page_shift, flags, true, err);
}

/* ===== unmap, zap ========================================================== */

static int unmap_leaf(struct pt_op *op, struct pt_page *t, unsigned i, u64 va)
{
    gather_add_frame(op->g, entry_pfn(op->pt->ctx, t->e[i]), t->level - 1u);
    gather_add_range(op->g, va, entry_shift(t->level));
    t->e[i] = 0;
    t->nr_present--;
    return SIM_OK;
}

/* Detach a child table that is empty after the unmap touched it.  The root
 * stays, and so do the kernel tables right below the kernel root: every
 * user pt shares them. */
static void unmap_table_done(struct pt_op *op, struct pt_page *t, unsigned i)
{
    if (pt_child(t, i)->nr_present)
        return;
    if (!op->pt->kernel && t == op->pt->root)
        return;
    gather_add_table(op->g, table_detach(t, i));
}

static int unmap_common(struct pt *pt, u64 va, u64 len, struct mmu_gather *g,
                        bool free_tables, struct sim_err *err)
{
    struct pt_op op;
    int rc;

    assert(g);
    if ((rc = check_range(pt, va, len, PAGE_SHIFT_4K, err)))
        return rc;
    op_init(&op, pt, va, len, g, err);
    if ((rc = op_check(&op)))
        return rc;
    if (gather_reserve(g, op.nr_leaves))
        return sim_err_set(err, SIM_ENOMEM, "mmu_gather: out of memory");
    op.leaf = unmap_leaf;
    op.table_done = free_tables ? unmap_table_done : NULL;
    return op_run(&op);                 /* cannot fail: checked and reserved */
}

int pt_unmap(struct pt *pt, u64 va, u64 len, struct mmu_gather *g, struct sim_err *err)
{
    return unmap_common(pt, va, len, g, true, err);
}

int pt_zap(struct pt *pt, u64 va, u64 len, struct mmu_gather *g, struct sim_err *err)
{
    return unmap_common(pt, va, len, g, false, err);
}

/* ===== protect ============================================================= */

static int protect_leaf(struct pt_op *op, struct pt_page *t, unsigned i, u64 va)
{
    u64 old = t->e[i], new = (old & ~PT_PROT_FLAGS) | op->flags;
    u64 lost = (old & (PTE_RW | PTE_US)) & ~new;

    if (new == old)
        return SIM_OK;
    if (lost || ((new & PTE_NX) && !(old & PTE_NX)))
        op->reduced = true;             /* a cached translation now allows too much */
    t->e[i] = new;
    gather_add_range(op->g, va, entry_shift(t->level));
    return SIM_OK;
}

int pt_protect(struct pt *pt, u64 va, u64 len, u64 flags, bool *reduced,
               struct mmu_gather *g, struct sim_err *err)
{
    struct pt_op op;
    int rc;

    assert(g);
    if (reduced)
        *reduced = false;
    if ((rc = check_range(pt, va, len, PAGE_SHIFT_4K, err)))
        return rc;
    op_init(&op, pt, va, len, g, err);
    if ((rc = op_check(&op)))
        return rc;
    op.leaf = protect_leaf;
    op.flags = flags & PT_PROT_FLAGS;
    rc = op_run(&op);
    if (reduced)
        *reduced = op.reduced;
    return rc;
}

/* ===== migrate ============================================================= */

static int migrate_leaf(struct pt_op *op, struct pt_page *t, unsigned i, u64 va)
{
    unsigned order = t->level - 1u;
    u64 pfn;
    int rc = frame_get(op->pt->ctx->frames, (enum frame_order)order, &pfn, op->err);

    if (rc)
        return rc;
    gather_add_frame(op->g, entry_pfn(op->pt->ctx, t->e[i]), order);
    t->e[i] = (t->e[i] & ~pte_frame_mask(op->pt->ctx->frames)) | pfn << PAGE_SHIFT_4K;
    gather_add_range(op->g, va, entry_shift(t->level));
    op->nr_done++;
    return SIM_OK;
}

/* Undo visits the leaves in the same order as migrate_leaf did, so the k-th
 * leaf gets back the k-th old frame recorded in the gather. */
static int migrate_undo_leaf(struct pt_op *op, struct pt_page *t, unsigned i, u64 va)
{
    unsigned order = t->level - 1u;
    u64 old;

    if (op->nr_done == 0)
        return VISIT_STOP;
    old = op->g->frames[op->undo_base++] >> 2;
    frame_put(op->pt->ctx->frames, (enum frame_order)order, entry_pfn(op->pt->ctx, t->e[i]));
    t->e[i] = (t->e[i] & ~pte_frame_mask(op->pt->ctx->frames)) | old << PAGE_SHIFT_4K;
    op->nr_done--;
    return SIM_OK;
}

static int migrate_limits(const struct pt *pt, const struct pt_op *op, struct sim_err *err)
{
    const struct frame_alloc *fa = pt->ctx->frames;
    u64 left = fa->limit_frames > fa->nr_live ? fa->limit_frames - fa->nr_live : 0;

    if (op->nr_frames > left)
        return sim_err_set(err, SIM_ELIMIT, "frames: migration needs %" PRIu64
                           " 4K frames, %" PRIu64 " left under limits.max_frames",
                           op->nr_frames, left);
    return SIM_OK;
}

int pt_migrate(struct pt *pt, u64 va, u64 len, struct mmu_gather *g, struct sim_err *err)
{
    struct mmu_gather saved;
    struct pt_op op;
    int rc;

    assert(g);
    if ((rc = check_range(pt, va, len, PAGE_SHIFT_4K, err)))
        return rc;
    op_init(&op, pt, va, len, g, err);
    if ((rc = op_check(&op)) || (rc = migrate_limits(pt, &op, err)))
        return rc;
    if (gather_reserve(g, op.nr_leaves))
        return sim_err_set(err, SIM_ENOMEM, "mmu_gather: out of memory");
    saved = *g;
    op.leaf = migrate_leaf;
    if (!(rc = op_run(&op)))
        return SIM_OK;
    op.leaf = migrate_undo_leaf;        /* MAXPHYADDR ran out half-way */
    op.undo_base = saved.nr_frames;
    op_run(&op);
    *g = saved;                         /* same arrays: reserved before the copy */
    return rc;
}

/* ===== teardown ============================================================ */

static int destroy_leaf(struct pt_op *op, struct pt_page *t, unsigned i, u64 va)
{
    frame_put(op->pt->ctx->frames, (enum frame_order)(t->level - 1),
              entry_pfn(op->pt->ctx, t->e[i]));
    return SIM_OK;
}

static void destroy_table(struct pt_op *op, struct pt_page *t, unsigned i)
{
    table_recycle(op->pt->ctx, table_detach(t, i));
}

int pt_init(struct pt *pt, struct pt_ctx *ctx, unsigned levels,
            const struct pt *kernel, struct sim_err *err)
{
    int rc;

    memset(pt, 0, sizeof(*pt));
    if (levels != 4 && levels != 5)
        return sim_err_set(err, SIM_EINVAL, "levels: %u is not 4 or 5", levels);
    if (kernel && (kernel->kernel || kernel->levels != levels || kernel->ctx != ctx))
        return sim_err_set(err, SIM_EINVAL, "kernel: not a %u-level kernel page table "
                           "of this context", levels);
    if ((rc = table_alloc(ctx, levels, &pt->root, err)))
        return rc;
    pt->ctx = ctx;
    pt->kernel = kernel;
    pt->levels = levels;
    pt->va_bits = PAGE_SHIFT_4K + 9 * levels;
    return SIM_OK;
}

void pt_destroy(struct pt *pt)
{
    struct pt_op op;
    u64 half;

    if (!pt || !pt->root)
        return;
    /* Only this pt's own half: a user root never holds kernel entries.
     * The kernel half ends at 2^64 - 1 (op_init's last wraps to it). */
    half = 1ull << (pt->va_bits - 1);
    op_init(&op, pt, pt->kernel ? 0 : (u64)0 - half, half, NULL, NULL);
    op.leaf = destroy_leaf;
    op.table_done = destroy_table;
    op_run(&op);
    table_recycle(pt->ctx, pt->root);
    pt->root = NULL;
}

/* ===== walks =============================================================== */

u64 *pt_walk(const struct pt *pt, u64 va, unsigned *level, struct pt_page **table)
{
    struct pt_page *t = walk_root(pt, va);

    if (!va_canonical(va, pt->va_bits))
        return NULL;
    for (unsigned lvl = pt->levels; ; lvl--) {
        unsigned i = pt_index(va, lvl);
        u64 e = t->e[i];

        if (!(e & PTE_P))
            return NULL;
        if (entry_is_leaf(e, lvl)) {
            if (level)
                *level = lvl;
            if (table)
                *table = t;
            return &t->e[i];
        }
        t = pt_child(t, i);
    }
}

struct pt_page *pt_table_at(const struct pt *pt, u64 va, unsigned level)
{
    struct pt_page *t = walk_root(pt, va);

    if (level < 1 || level > pt->levels || !va_canonical(va, pt->va_bits))
        return NULL;
    if (level == pt->levels)
        return pt->root;                /* what CR3 points to, kernel va or not */
    for (unsigned lvl = pt->levels; lvl > level; lvl--) {
        u64 e = t->e[pt_index(va, lvl)];

        if (!(e & PTE_P) || entry_is_leaf(e, lvl))
            return NULL;
        t = pt_child(t, pt_index(va, lvl));
    }
    return t;
}

/* ===== invariant checker =================================================== */

#define CHECK(cond, ...) do {                                               \
        if (!(cond)) {                                                      \
            if (PT_DEBUG_CHECK)                                             \
                fprintf(stderr, "pt_check: " __VA_ARGS__);                  \
            return false;                                                   \
        }                                                                   \
    } while (0)

static bool check_leaf_entry(const struct pt *pt, u64 e, unsigned lvl, unsigned i)
{
    const struct pt_ctx *ctx = pt->ctx;
    u64 pfn = entry_pfn(ctx, e);

    CHECK(!(e & PTE_PS) || lvl == 2 || lvl == 3, "PS at level %u [%u]\n", lvl, i);
    CHECK(!(e & ~PT_KNOWN_BITS), "unknown bits 0x%" PRIx64 "\n", e);
    CHECK((pfn & ((1ull << (9 * (lvl - 1))) - 1)) == 0, "unaligned huge pfn\n");
    /* Above the frame only the KeyID field; the bits above it up to 51
     * are reserved (beyond MAXPHYADDR). */
    CHECK(!(e & PTE_ADDR_MASK & ~(pte_frame_mask(ctx->frames) | ctx->keyid_mask)),
          "address bits beyond MAXPHYADDR or the KeyID field\n");
    return true;
}

static bool check_table(const struct pt *pt, const struct pt_page *t, unsigned lvl)
{
    unsigned n = 0;

    CHECK(t->level == lvl, "table level %u, expected %u\n", t->level, lvl);
    CHECK(t->e == unit_mem(t) && pt_page_of(t->e) == t, "table not in its slab unit\n");
    CHECK(!t->child || !t->child1, "child pointers twice at level %u\n", lvl);
    CHECK(!t->child1 || t->child1_idx < 512, "child1 index at level %u\n", lvl);
    for (unsigned i = 0; i < 512; i++) {
        u64 e = t->e[i];
        const struct pt_page *c = pt_child(t, i);

        if (!(e & PTE_P)) {
            CHECK(!e && !c, "absent entry %u not clear at level %u\n", i, lvl);
            continue;
        }
        n++;
        if (entry_is_leaf(e, lvl)) {
            CHECK(!c, "leaf %u at level %u has a child\n", i, lvl);
            if (!check_leaf_entry(pt, e, lvl, i))
                return false;
            continue;
        }
        CHECK(c && e == (c->pfn << PAGE_SHIFT_4K | PT_TABLE_FLAGS),
              "entry %u at level %u does not point at its child\n", i, lvl);
        if (!check_table(pt, c, lvl - 1))
            return false;
    }
    CHECK(n == t->nr_present, "nr_present %u, counted %u at level %u\n",
          t->nr_present, n, lvl);
    return true;
}

bool pt_check(const struct pt *pt)
{
    const struct pt_page *r = pt->root;

    CHECK(r && (pt->levels == 4 || pt->levels == 5), "no root or bad levels\n");
    CHECK(pt->va_bits == PAGE_SHIFT_4K + 9 * pt->levels, "va_bits\n");
    CHECK(!pt->kernel || (pt->kernel->levels == pt->levels && !pt->kernel->kernel),
          "kernel pt mismatch\n");
    /* Each root holds only its own half: user pts borrow the kernel's. */
    for (unsigned i = 0; i < 512; i++)
        CHECK(!(r->e[i] & PTE_P) || (i >= 256) == (pt->kernel == NULL),
              "root entry %u in the wrong half\n", i);
    return check_table(pt, r, pt->levels);
}
