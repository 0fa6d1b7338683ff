/* sim/engine/ops.c - what each trace op does on its CPU: page-table
 * changes and the flushes they need, context switches, idle, vCPU
 * scheduling, and the memory-reference loop.
 */
#include "sim_priv.h"

#include <stdio.h>
#include <string.h>

/* ==== ops ================================================================= */

/* The kernel's own work in the system call behind an unmap, zap or protect
 * op, on the calling CPU before its flush request: the call (entry and
 * exit, mmap_lock, the VMA work, the mmu_gather) and each present PTE it
 * changes -- zap_pte_range() for munmap (unmap_vmas) and madvise(DONTNEED)
 * (zap_page_range_single), freeing the page included (the mmu_gather frees
 * it after the flush; charged here), change_pte_range() for mprotect.
 * migrate (reclaim, NUMA balancing) is not a system call: 0. */
cycles_t op_kernel_work(const struct machine *m, enum trace_op_type type, u64 nr_ptes)
{
    switch (type) {
    case OP_ZAP:
        return m->zap_call_cycles + nr_ptes * m->zap_pte_cycles;
    case OP_UNMAP:
        return m->unmap_call_cycles + nr_ptes * m->unmap_pte_cycles;
    case OP_PROTECT:
        return m->mprotect_call_cycles + nr_ptes * m->mprotect_pte_cycles;
    default:
        return 0;
    }
}

static int op_change(struct sim *s, struct sim_cpu *sc, const struct trace_op *op)
{
    struct mm *mm = sim_mm_lookup(s, op->mm);
    struct shootdown *sd;
    struct mmu_gather *g;
    struct sim_err e = { 0 };
    bool reduced = false, flush;
    int rc;

    if (!mm)
        return sim_fail(s, SIM_ENOENT, op->line, "mm", "address space does not exist");
    if (!(sd = sd_get(s)))
        return sim_fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
    g = &sd->gather;
    switch (op->type) {
    case OP_UNMAP:
        rc = pt_unmap(&mm->pt, op->va, op->len, g, &e);
        if (!rc)
            rc = vma_remove(&mm->vmas, op->va, op->va + op->len, &e);
        flush = g->nr_ptes > 0;
        break;
    case OP_ZAP:
        rc = pt_zap(&mm->pt, op->va, op->len, g, &e);
        flush = g->nr_ptes > 0;
        break;
    case OP_MIGRATE:
        rc = pt_migrate(&mm->pt, op->va, op->len, g, &e);
        flush = g->nr_ptes > 0;
        break;
    default: {
        u64 f = mm_prot_flags(op->prot, !va_is_kernel(op->va), false);
        rc = pt_protect(&mm->pt, op->va, op->len, f, &reduced, g, &e);
        if (!rc)
            rc = vma_protect(&mm->vmas, op->va, op->va + op->len, f, mm->pt.ctx->keyid_mask,
                             &e);
        /* Upgrades need no flush: x86 re-walks on the spurious fault. */
        flush = reduced;
        break;
    }
    }
    if (!rc && g->nr_ptes)
        mm_pte_changed(mm);
    if (!rc) {
        /* Not interruptible here: an IPI that arrives meanwhile is taken
         * after it, as during the request's own cost (docs/model.md). */
        cycles_t k = op_kernel_work(&s->m, op->type, g->nr_ptes);
        sc->hw.now += k;
        sc->hw.st.busy_cycles += k;
    }
    if (rc || !flush) {
        mmu_gather_finish(&s->ptc, g);
        sd_put(s, sd);
        return rc ? sim_fail_err(s, op->line, "va", &e) : SIM_OK;
    }
    if (s->pol->batch && op->type == OP_MIGRATE) {
        rc = sd_batch_add(s, sc, mm, g, op);
        sd_put(s, sd);
        return rc;
    }
    return sd_flush_request(s, sc, sd, mm, g->start, g->end, (u8)g->stride_shift,
                         g->freed_tables, op, NULL);
}
static int op_flush(struct sim *s, struct sim_cpu *sc, const struct trace_op *op)
{
    struct mm *mm = sim_mm_lookup(s, op->mm);
    bool all = op->flags & OPF_ALL;
    struct shootdown *sd;

    if (!mm)
        return sim_fail(s, SIM_ENOENT, op->line, "mm", "address space does not exist");
    if (!(sd = sd_get(s)))
        return sim_fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
    return sd_flush_request(s, sc, sd, mm, all ? 0 : op->va,
                         all ? TLB_FLUSH_ALL : op->va + op->len,
                         op->stride_shift ? op->stride_shift : PAGE_SHIFT_4K,
                         op->flags & OPF_FREED_TABLES, op, NULL);
}

static int op_kflush(struct sim *s, struct sim_cpu *sc, const struct trace_op *op)
{
    struct shootdown *sd = sd_get(s);

    if (!sd)
        return sim_fail(s, SIM_ENOMEM, op->line, "op", "out of memory");
    return sd_flush_request(s, sc, sd, NULL, op->va, op->va + op->len, PAGE_SHIFT_4K,
                         false, op, NULL);
}

/* A context switch is also where LATR runs its deferred invalidations. */
void op_switch_point(struct sim *s, struct sim_cpu *sc)
{
    if (sc->deferred) {
        cycles_t cost = sd_run_deferred(s, sc);
        sc->hw.now += cost;
        sc->hw.st.busy_cycles += cost;
    }
}

static int op_switch(struct sim *s, struct sim_cpu *sc, const struct trace_op *op)
{
    struct cpu *c = &sc->hw;
    bool from_user;
    u32 cost;

    op_switch_point(s, sc);
    /* schedule() runs in the kernel: with PTI, entered from user space
     * unless the CPU was in a kernel thread or idle. */
    cost = pti_enter_kernel(&s->env, c, &from_user);
    if (op->mm == MM_NULL) {
        sc->task_mm = NULL;
        enter_lazy_tlb(&s->env, c);
        c->now += cost;
        c->st.busy_cycles += cost;
        return SIM_OK;
    }
    sc->task_mm = sim_mm_lookup(s, op->mm);
    if (!sc->task_mm)
        return sim_fail(s, SIM_ENOENT, op->line, "mm", "address space does not exist");
    s->env.now = c->now;
    cost += switch_mm_irqs_off(&s->env, c, sc->task_mm);
    cost += pti_return_to_user(&s->env, c);     /* the next task runs in user space */
    c->now += cost;
    c->st.busy_cycles += cost;
    return SIM_OK;
}

static void op_idle(struct sim *s, struct sim_cpu *sc, const struct trace_op *op)
{
    struct cpu *c = &sc->hw;
    bool from_user;
    u32 entry;

    op_switch_point(s, sc);
    entry = pti_enter_kernel(&s->env, c, &from_user);  /* the idle task is the kernel's */
    c->now += entry;
    c->st.busy_cycles += entry;
    sc->task_mm = NULL;
    enter_lazy_tlb(&s->env, c);
    sc->idle = true;
    sc->cstate = op->cstate ? op->cstate : 1;
    if (sc->cstate >= 6 && s->m.c6_leave_mm) {
        /* cpuidle_enter_state(): CPUIDLE_FLAG_TLB_FLUSHED states leave_mm(). */
        u32 cost = leave_mm(&s->env, c);
        c->now += cost;
        c->st.busy_cycles += cost;
    }
}

void op_vcpu_run(struct sim *s, struct sim_cpu *sc)
{
    struct cpu *c = &sc->hw;

    sc->preempted = false;
    cpumask_clear_cpu(c->id, &s->preempted);
    host_vcpu_in(s, sc);
    if (sc->pv_flush_pending) {
        /* record_steal_time(): KVM_VCPU_FLUSH_TLB set while preempted;
         * kvm_vcpu_flush_tlb_guest() drops the whole guest context,
         * global (kernel) entries included. */
        sc->pv_flush_pending = false;
        cpu_flush_tlb_global(c);
        c->st.flush_full++;
        c->now += s->m.vcpu_resume_flush_cycles;
        c->st.busy_cycles += s->m.vcpu_resume_flush_cycles;
    }
    if (sd_irq_time(sc) != CYCLES_NEVER)
        sim_wake_at(s, sc, sd_irq_time(sc));
}

int op_map(struct sim *s, const struct trace_op *op)
{
    struct mm *mm = sim_mm_lookup(s, op->mm);
    struct sim_err e = { 0 };

    if (!mm)
        return sim_fail(s, SIM_ENOENT, op->line, "mm", "address space does not exist");
    if (op->keyid >> s->m.keyid_bits) {
        char msg[160];
        unsigned need = 32u - (unsigned)__builtin_clz(op->keyid);

        if (!s->m.keyid_bits)
            snprintf(msg, sizeof(msg), "KeyID %u needs %u KeyID bits; the machine has none "
                     "(try --set paging.keyid_bits=%u)", op->keyid, need, need);
        else
            snprintf(msg, sizeof(msg), "KeyID %u needs %u KeyID bits; the machine's "
                     "paging.keyid_bits %u allow KeyIDs 0..%u", op->keyid, need,
                     s->m.keyid_bits, (1u << s->m.keyid_bits) - 1);
        return sim_fail(s, SIM_EINVAL, op->line, "keyid", msg);
    }
    if (mm_map_keyid(mm, op->va, op->len, op->page_shift, op->prot, op->flags & OPF_POPULATE,
                     op->flags & OPF_GLOBAL, op->keyid, &e))
        return sim_fail_err(s, op->line, "va", &e);
    return SIM_OK;
}

/* A model error "FIELD: what" reported under its own field. */
static int fail_field(struct sim *s, u64 line, const struct sim_err *e)
{
    const char *colon = strstr(e->msg, ": ");
    char field[24];
    size_t n = colon ? (size_t)(colon - e->msg) : 0;

    if (!n || n >= sizeof(field) || strcspn(e->msg, " ") < n)
        return sim_fail_err(s, line, "op", e);
    memcpy(field, e->msg, n);
    field[n] = '\0';
    return sim_fail(s, e->code ? e->code : SIM_EINVAL, line, field, colon + 2);
}

/* ept_map: the host backs [gpa, gpa + len) (KVM's memslot, THP or 4K
 * backing), before the guest touches it. */
int op_ept_map(struct sim *s, const struct trace_op *op)
{
    struct sim_err e = { 0 };

    if (!s->m.ept)
        return sim_fail(s, SIM_EINVAL, op->line, "op", "ept_map needs a machine with "
                        "virt.ept true (try --set virt.ept=true)");
    if (ept_map(&s->ept, op->gpa, op->len, op->page_shift, &e))
        return fail_field(s, op->line, &e);
    return SIM_OK;
}

int op_exec_global(struct sim *s, struct sim_cpu *sc, const struct trace_op *op)
{
    switch (op->type) {
    case OP_SWITCH:
        return op_switch(s, sc, op);
    case OP_IDLE:
        op_idle(s, sc, op);
        return SIM_OK;
    case OP_MAP:
        return op_map(s, op);
    case OP_UNMAP:
    case OP_PROTECT:
    case OP_ZAP:
    case OP_MIGRATE:
        return op_change(s, sc, op);
    case OP_FLUSH:
        return op_flush(s, sc, op);
    case OP_KFLUSH:
        return op_kflush(s, sc, op);
    case OP_VCPU_PREEMPT:
        sc->preempted = true;
        cpumask_set_cpu(sc->hw.id, &s->preempted);
        host_vcpu_out(s, sc);
        return SIM_OK;
    case OP_HOST_ZAP:
    case OP_HOST_WRPROTECT:
    case OP_TDX_REMOVE:
    case OP_VCPU_MIGRATE:
        return host_op(s, sc, op);
    case OP_VCPU_RUN:
        op_vcpu_run(s, sc);
        return SIM_OK;
    default:
        return sim_fail(s, SIM_EINTERNAL, op->line, "op", "not a CPU op");
    }
}

/* A pending batch must be flushed before this op (its window expired, or
 * the op flushes too: flush_tlb_batched_pending()). */
bool op_batch_flush_first(const struct sim *s, const struct sim_cpu *sc,
                              const struct trace_op *op)
{
    if (!sc->batch.sd)
        return false;
    return sd_batch_due(s, sc) || trace_op_is(op, TOP_SYNC_BATCH);
}
