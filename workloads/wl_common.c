/* workloads/wl_common.c - workload table, parameter checks and the emitter. */
#include "wl_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ===== The workload table ================================================ */


static const struct wl_desc wl_table[] = {
    { "tlb_flush1", "will-it-scale tlb_flush1: private file mapping (128M), touch + madvise(DONTNEED) one page",
      WLK_MODE, wl_gen_tlb_flush, wl_defaults_tlb_flush1 },
    { "tlb_flush2", "will-it-scale tlb_flush2: private anonymous mapping (1M), touch + madvise(DONTNEED) one page",
      WLK_MODE, wl_gen_tlb_flush, wl_defaults_tlb_flush2 },
    { "tlb_flush3", "will-it-scale tlb_flush3: shared file mapping (128M), touch + madvise(DONTNEED) one page",
      WLK_MODE, wl_gen_tlb_flush, wl_defaults_tlb_flush3 },
    { "munmap_storm", "every CPU mmaps, touches and munmaps a buffer in a loop, between working-set references",
      WLK_MODE | WLK_ACCESSES | WLK_BATCH_PAGES, wl_gen_munmap_storm, wl_defaults_munmap_storm },
    { "server", "multi-threaded server tasks, kernel threads and idle interleaved on every CPU (lazy TLB)",
      WLK_ACCESSES | WLK_TASKS | WLK_KTHREAD_PCT | WLK_IDLE_PCT | WLK_PERIOD | WLK_BATCH_PAGES,
      wl_gen_server, wl_defaults_server },
    { "fork_exec", "a shell forking children (COW write-protect, COW breaks) that exec and exit",
      WLK_MODE | WLK_ACCESSES | WLK_PERIOD, wl_gen_fork_exec, wl_defaults_fork_exec },
    { "numa_balancing", "threads with node-local working sets; the NUMA scanner flushes and migrates pages",
      WLK_ACCESSES | WLK_PERIOD | WLK_MIGRATE_PAGES, wl_gen_numa, wl_defaults_numa },
    { "jit", "a JIT thread flipping code pages rw <-> rx (W^X) while other threads execute",
      WLK_ACCESSES | WLK_PERIOD | WLK_CODE_PAGES, wl_gen_jit, wl_defaults_jit },
    { "heap_reuse", "threads allocating from a shared heap whose free chunks the allocator trims (MADV_DONTNEED) and reuses",
      WLK_ACCESSES | WLK_PERIOD | WLK_BATCH_PAGES, wl_gen_heap_reuse, wl_defaults_heap_reuse },
    { "virt_host", "a guest on an overcommitted host: vCPUs preempted and resumed while the guest flushes",
      WLK_ACCESSES | WLK_PERIOD | WLK_PREEMPT_PCT | WLK_PREEMPT_CYCLES,
      wl_gen_virt, wl_defaults_virt },
    { "vm_reclaim", "a VM under host memory reclaim: vCPUs touch a working set while the host zaps guest-physical ranges",
      WLK_ACCESSES | WLK_PERIOD | WLK_BATCH_PAGES, wl_gen_vm_reclaim, wl_defaults_vm_reclaim },
    { "vm_reclaim_tdx", "vm_reclaim for a TDX guest: the host removes private pages with TLB tracking (tdx_remove)",
      WLK_ACCESSES | WLK_PERIOD | WLK_BATCH_PAGES, wl_gen_vm_reclaim_tdx, wl_defaults_vm_reclaim_tdx },
    { "vm_migrate", "a VM during live migration: dirty logging write-protects guest memory in shrinking rounds",
      WLK_ACCESSES, wl_gen_vm_migrate, wl_defaults_vm_migrate },
};

const struct wl_desc *wl_list(size_t *nr)
{
    *nr = ARRAY_SIZE(wl_table);
    return wl_table;
}

const struct wl_desc *wl_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(wl_table); i++)
        if (strcmp(wl_table[i].name, name) == 0)
            return &wl_table[i];
    return NULL;
}

const char *wl_key_name(u32 bit)
{
    switch (bit) {
    case WLK_MODE:           return "mode";
    case WLK_ACCESSES:       return "accesses";
    case WLK_TASKS:          return "tasks";
    case WLK_KTHREAD_PCT:    return "kthread_pct";
    case WLK_IDLE_PCT:       return "idle_pct";
    case WLK_BATCH_PAGES:    return "batch_pages";
    case WLK_PERIOD:         return "period";
    case WLK_MIGRATE_PAGES:  return "migrate_pages";
    case WLK_PREEMPT_PCT:    return "preempt_pct";
    case WLK_PREEMPT_CYCLES: return "preempt_cycles";
    case WLK_CODE_PAGES:     return "code_pages";
    }
    return "?";
}

/* ===== Parameters ======================================================== */

void wl_params_init(struct wl_params *p, const struct wl_desc *d)
{
    memset(p, 0, sizeof(*p));
    p->mode = WL_MODE_THREADS;
    p->cpus = 4;
    p->iterations = 1000;
    p->seed = 1;
    p->wss = 4ull << 20;
    p->page_shift = PAGE_SHIFT_4K;
    p->gap = 500;
    p->accesses = 8;
    p->tasks = 4;
    p->kthread_pct = 20;
    p->idle_pct = 10;
    p->batch_pages = 32;
    p->period = 8;
    p->migrate_pages = 16;
    p->preempt_pct = 10;
    p->preempt_cycles = 2500000;        /* 1 ms at 2.5 GHz: a host time slice */
    p->code_pages = 256;
    if (d && d->defaults)
        d->defaults(p);
}

static int check_range(const char *key, u64 v, u64 lo, u64 hi, struct sim_err *err)
{
    if (v < lo || v > hi)
        return sim_err_set(err, SIM_EINVAL, "%s: %llu is out of range [%llu, %llu]",
                           key, (unsigned long long)v, (unsigned long long)lo,
                           (unsigned long long)hi);
    return SIM_OK;
}

int wl_params_check(const struct wl_params *p, const struct wl_desc *d,
                    struct sim_err *err)
{
    u32 k = d->keys;
    int rc;

    if (p->page_shift != PAGE_SHIFT_4K && p->page_shift != PAGE_SHIFT_2M &&
        p->page_shift != PAGE_SHIFT_1G)
        return sim_err_set(err, SIM_EINVAL, "page: must be 4k, 2m or 1g");
    if ((rc = check_range("cpus", p->cpus, 1, WL_MAX_CPUS, err)) ||
        (rc = check_range("iterations", p->iterations, 1, WL_MAX_ITERATIONS, err)) ||
        (rc = check_range("wss", p->wss, 1, WL_MAX_WSS, err)) ||
        (rc = check_range("gap", p->gap, 0, WL_MAX_GAP, err)))
        return rc;
    if (p->mode != WL_MODE_THREADS && p->mode != WL_MODE_PROCESSES)
        return sim_err_set(err, SIM_EINVAL, "mode: must be threads or processes");
    if ((k & WLK_ACCESSES) && (rc = check_range("accesses", p->accesses, 1, 4096, err)))
        return rc;
    if ((k & WLK_TASKS) && (rc = check_range("tasks", p->tasks, 1, WL_MAX_TASKS, err)))
        return rc;
    if ((k & WLK_KTHREAD_PCT) && (rc = check_range("kthread_pct", p->kthread_pct, 0, 100, err)))
        return rc;
    if ((k & WLK_IDLE_PCT) && (rc = check_range("idle_pct", p->idle_pct, 0, 100, err)))
        return rc;
    if ((k & WLK_IDLE_PCT) && p->idle_pct + p->kthread_pct > 100)
        return sim_err_set(err, SIM_EINVAL, "idle_pct: idle_pct + kthread_pct exceed 100");
    if ((k & WLK_BATCH_PAGES) && (rc = check_range("batch_pages", p->batch_pages, 1, 1u << 20, err)))
        return rc;
    if ((k & WLK_PERIOD) && (rc = check_range("period", p->period, 1, 1u << 30, err)))
        return rc;
    if ((k & WLK_MIGRATE_PAGES) && (rc = check_range("migrate_pages", p->migrate_pages, 1, 1u << 20, err)))
        return rc;
    if ((k & WLK_PREEMPT_PCT) && (rc = check_range("preempt_pct", p->preempt_pct, 0, 100, err)))
        return rc;
    if ((k & WLK_PREEMPT_CYCLES) && (rc = check_range("preempt_cycles", p->preempt_cycles, 0, WL_MAX_GAP, err)))
        return rc;
    if ((k & WLK_CODE_PAGES) && (rc = check_range("code_pages", p->code_pages, 4, 1u << 16, err)))
        return rc;
    return SIM_OK;
}

/* ===== Generation ======================================================== */

int wl_prepare(const struct wl_desc *d, const struct wl_params *p, struct wl_params *out,
               struct sim_err *err)
{
    int rc;

    if ((rc = wl_params_check(p, d, err)))
        return rc;
    *out = *p;
    out->wss = wl_round_up(out->wss, wl_page(out));
    if (!out->name[0])
        snprintf(out->name, sizeof(out->name), "%s", d->name);
    return SIM_OK;
}

int wl_run(const struct wl_desc *d, const struct wl_params *p, wl_emit_fn *emit, void *ctx,
           struct sim_err *err)
{
    struct wl_out o;

    memset(&o, 0, sizeof(o));
    o.emit = emit;
    o.emit_ctx = ctx;
    o.err = err;
    o.rng = p->seed;
    o.cpus = p->cpus;
    o.gap_mean = p->gap;
    o.next_mm = 1;
    o.pend_gap = calloc(p->cpus, sizeof(*o.pend_gap));
    if (!o.pend_gap)
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    o.rc = d->gen(&o, p);
    free(o.pend_gap);
    return o.rc;
}

/* ===== The emitter ======================================================= */

u64 wl_va_alloc(struct wl_out *o, u64 len)
{
    u64 va = WL_USER_BASE + o->next_slot;

    o->next_slot += wl_round_up(len ? len : 1, WL_SLOT_ALIGN);
    if (WL_USER_BASE + o->next_slot > (1ull << 47) && o->rc == SIM_OK)
        o->rc = sim_err_set(o->err, SIM_EINVAL,
                            "wss: the regions do not fit in the user address space");
    return va;
}

s64 wl_mm_alloc(struct wl_out *o)
{
    return o->next_mm++;
}

void wl_work(struct wl_out *o, u32 cpu, u64 cycles)
{
    o->pend_gap[cpu] += cycles;
}

void wl_teardown(struct wl_out *o)
{
    wl_mark(o, "teardown");
    for (u32 c = 0; c < o->cpus; c++)
        wl_switch(o, c, MM_NULL);
}

void wl_think(struct wl_out *o, u32 cpu)
{
    u64 g = o->gap_mean;

    if (g)
        o->pend_gap[cpu] += g / 2 + wl_below(o, g + 1);
}

static void emit(struct wl_out *o, struct trace_op *op)
{
    if (o->rc)
        return;
    if (op->flags & OPF_CPU) {
        if (op->cpu >= o->cpus) {
            o->rc = sim_err_set(o->err, SIM_EINTERNAL, "generator used cpu %u", op->cpu);
            return;
        }
        if (o->pend_gap[op->cpu]) {
            op->flags |= OPF_GAP;
            op->gap = o->pend_gap[op->cpu];
            o->pend_gap[op->cpu] = 0;
        }
    }
    o->rc = o->emit(o->emit_ctx, op, o->err);
    o->ops++;
}

static struct trace_op op_init(enum trace_op_type type, int cpu, s64 mm)
{
    struct trace_op op;

    memset(&op, 0, sizeof(op));
    op.type = type;
    op.mm = mm;
    if (cpu >= 0) {
        op.flags |= OPF_CPU;
        op.cpu = (u32)cpu;
    }
    return op;
}

void wl_mm_new(struct wl_out *o, s64 mm)
{
    struct trace_op op = op_init(OP_MM_NEW, -1, mm);
    emit(o, &op);
}

void wl_mm_exit(struct wl_out *o, u32 cpu, s64 mm)
{
    struct trace_op op = op_init(OP_MM_EXIT, (int)cpu, mm);
    emit(o, &op);
}

void wl_map(struct wl_out *o, int cpu, s64 mm, u64 va, u64 len, unsigned shift,
            unsigned prot, bool populate)
{
    struct trace_op op = op_init(OP_MAP, cpu, mm);

    op.va = va;
    op.len = len;
    op.page_shift = (u8)shift;
    op.prot = (u8)prot;
    if (populate)
        op.flags |= OPF_POPULATE;
    emit(o, &op);
}

void wl_map_kernel(struct wl_out *o)
{
    struct trace_op op = op_init(OP_MAP, -1, MM_KERNEL);

    op.va = WL_KERNEL_BASE;
    op.len = WL_KERNEL_LEN;
    op.page_shift = PAGE_SHIFT_2M;
    op.prot = PROT_R | PROT_W;
    op.flags |= OPF_POPULATE | OPF_GLOBAL;
    emit(o, &op);
}

static void range_op(struct wl_out *o, enum trace_op_type t, u32 cpu, s64 mm,
                     u64 va, u64 len, unsigned prot)
{
    struct trace_op op = op_init(t, (int)cpu, mm);

    op.va = va;
    op.len = len;
    op.prot = (u8)prot;
    emit(o, &op);
}

void wl_unmap(struct wl_out *o, u32 cpu, s64 mm, u64 va, u64 len)
{
    range_op(o, OP_UNMAP, cpu, mm, va, len, 0);
}

void wl_protect(struct wl_out *o, u32 cpu, s64 mm, u64 va, u64 len, unsigned prot)
{
    range_op(o, OP_PROTECT, cpu, mm, va, len, prot);
}

void wl_zap(struct wl_out *o, u32 cpu, s64 mm, u64 va, u64 len)
{
    range_op(o, OP_ZAP, cpu, mm, va, len, 0);
}

void wl_migrate(struct wl_out *o, u32 cpu, s64 mm, u64 va, u64 len)
{
    range_op(o, OP_MIGRATE, cpu, mm, va, len, 0);
}

void wl_flush(struct wl_out *o, u32 cpu, s64 mm, u64 va, u64 len,
              unsigned stride_shift)
{
    struct trace_op op = op_init(OP_FLUSH, (int)cpu, mm);

    op.va = va;
    op.len = len;
    op.stride_shift = (u8)stride_shift;
    if (stride_shift != PAGE_SHIFT_4K)
        op.flags |= OPF_STRIDE;
    emit(o, &op);
}

void wl_access(struct wl_out *o, u32 cpu, const u64 *vas, u32 n, char kind)
{
    struct trace_op op = op_init(OP_ACCESS, (int)cpu, 0);

    op.va = vas[0];
    op.vas = vas;
    op.nr_va = n;
    op.kind = (u8)kind;
    if (n > 1)
        op.flags |= OPF_VA_ARRAY;
    emit(o, &op);
}

void wl_access1(struct wl_out *o, u32 cpu, u64 va, char kind)
{
    wl_access(o, cpu, &va, 1, kind);
}

void wl_stream(struct wl_out *o, u32 cpu, u64 va, u64 stride, u64 count, char kind)
{
    struct trace_op op = op_init(OP_STREAM, (int)cpu, 0);

    op.va = va;
    op.stride = stride;
    op.count = count;
    op.kind = (u8)kind;
    emit(o, &op);
}

void wl_switch(struct wl_out *o, u32 cpu, s64 mm)
{
    struct trace_op op = op_init(OP_SWITCH, (int)cpu, mm);
    emit(o, &op);
}

void wl_idle(struct wl_out *o, u32 cpu, u8 cstate)
{
    struct trace_op op = op_init(OP_IDLE, (int)cpu, 0);

    if (cstate) {
        op.flags |= OPF_CSTATE;
        op.cstate = cstate;
    }
    emit(o, &op);
}

void wl_vcpu(struct wl_out *o, u32 cpu, bool run)
{
    struct trace_op op = op_init(run ? OP_VCPU_RUN : OP_VCPU_PREEMPT, (int)cpu, 0);
    emit(o, &op);
}

void wl_ept_map(struct wl_out *o, u64 gpa, u64 len, unsigned shift)
{
    struct trace_op op = op_init(OP_EPT_MAP, -1, 0);

    op.gpa = gpa;
    op.len = len;
    op.page_shift = (u8)shift;
    emit(o, &op);
}

void wl_host(struct wl_out *o, enum trace_op_type t, u32 cpu, u64 gpa, u64 len)
{
    struct trace_op op = op_init(t, (int)cpu, 0);

    op.gpa = gpa;
    op.len = len;
    emit(o, &op);
}

void wl_mark(struct wl_out *o, const char *label)
{
    struct trace_op op = op_init(OP_MARK, -1, 0);

    op.label = label;
    emit(o, &op);
}

/* Cache-line aligned offsets: references land anywhere in a page. */
void wl_random_refs(struct wl_out *o, u32 cpu, u64 va, u64 len, u32 n,
                    u32 write_pct)
{
    u64 rd[WL_MAX_VA_BATCH], wr[WL_MAX_VA_BATCH];
    u32 nr = 0, nw = 0;

    for (u32 i = 0; i < n; i++) {
        u64 a = va + (wl_below(o, len) & ~63ull);
        if (wl_pct(o, write_pct))
            wr[nw++] = a;
        else
            rd[nr++] = a;
        if (nr == WL_MAX_VA_BATCH) {
            wl_access(o, cpu, rd, nr, 'r');
            nr = 0;
        }
        if (nw == WL_MAX_VA_BATCH) {
            wl_access(o, cpu, wr, nw, 'w');
            nw = 0;
        }
    }
    if (nr)
        wl_access(o, cpu, rd, nr, 'r');
    if (nw)
        wl_access(o, cpu, wr, nw, 'w');
}

void wl_fetch(struct wl_out *o, u32 cpu, u64 va, u64 len, u32 n)
{
    u64 x[WL_MAX_VA_BATCH];
    u32 k = 0;

    for (u32 i = 0; i < n; i++) {
        x[k++] = va + (wl_below(o, len) & ~63ull);
        if (k == WL_MAX_VA_BATCH || i + 1 == n) {
            wl_access(o, cpu, x, k, 'x');
            k = 0;
        }
    }
}

void wl_kernel_refs(struct wl_out *o, u32 cpu, u32 n)
{
    wl_random_refs(o, cpu, WL_KERNEL_BASE, WL_KERNEL_LEN, n, 30);
}
