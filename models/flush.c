/* models/flush.c - Linux x86 TLB flush rules (arch/x86/mm/tlb.c).
 *
 * Cycle costs come from the machine model: cost.invlpg_cycles (F-2),
 * cost.cr3_flush_cycles (F-1), cost.global_flush_cycles (F-9),
 * ipi.handler_cycles and cost.switch_mm_cycles (estimates); see
 * ../shared/reference/linux-tlb.md B1 and the model files.
 */
#include "flush.h"

static void trace(struct flush_env *env, u32 cpu, enum tlb_flush_reason r, s64 pages)
{
    if (env->trace)
        env->trace(env->trace_arg, cpu, r, pages);
}

const char *tlb_flush_reason_str(enum tlb_flush_reason r)
{
    static const char *s[] = {
        "flush on task switch", "remote shootdown", "local shootdown",
        "local mm shootdown", "remote ipi send", "remote wrong CPU",
    };
    return (unsigned)r < ARRAY_SIZE(s) ? s[r] : "?";
}

/* ---- context switches (A3) ---------------------------------------------- */

/* invalidate_user_asid() (4.15+): with PTI the user half of asid is
 * flushed at the next return to user space (SWITCH_TO_USER_CR3), not now. */
static void invalidate_user_asid(struct cpu *c, u16 asid)
{
    if (!c->pti)
        return;
    u16 k = kern_pcid(asid);
    c->user_pcid_flush_mask[k / 64] |= 1ull << (k % 64);
}

/* mm_needs_global_asid() (6.15+): the mm has a global ASID that this CPU
 * does not run it under yet. */
static bool mm_needs_global_asid(const struct flush_env *env, const struct mm *mm, u16 asid)
{
    return env->pol->global_asid && mm->global_asid && asid != mm->global_asid;
}

/* clear_asid_other() (4.15+, PTI): every other dynamic ASID flushes on
 * its next use, after a kernel-range flush that could not reach them. */
static void clear_asid_other(struct cpu *c)
{
    for (u16 asid = 0; asid < TLB_NR_DYN_ASIDS; asid++)
        if (asid != c->loaded_mm_asid)
            c->ctxs[asid].ctx_id = 0;
    c->invalidate_other = false;
}

/* choose_new_asid() (4.14+; the global ASID first is 6.15+ with INVLPGB,
 * policy broadcast-asid): an mm with a global ASID runs under it with no
 * flush (INVLPGB keeps it current); else the ASID whose ctxs[] slot still
 * names next, with a flush iff that slot's tlb_gen is behind; else the
 * next slot round robin (next_asid wraps to 0 after TLB_NR_DYN_ASIDS - 1),
 * flushed. */
static u16 choose_new_asid(const struct flush_env *env, struct cpu *c, const struct mm *next,
                           u64 next_tlb_gen, bool *need_flush)
{
    u16 asid;

    if (env->pol->global_asid && next->global_asid) {
        *need_flush = false;
        return next->global_asid;
    }
    if (c->invalidate_other)
        clear_asid_other(c);
    for (asid = 0; asid < TLB_NR_DYN_ASIDS; asid++) {
        if (c->ctxs[asid].ctx_id != next->ctx_id)
            continue;
        *need_flush = c->ctxs[asid].tlb_gen < next_tlb_gen;
        return asid;
    }
    asid = c->next_asid++;
    if (asid >= TLB_NR_DYN_ASIDS) {
        asid = 0;
        c->next_asid = 1;
    }
    *need_flush = true;
    return asid;
}

/* The PCID half of switch_mm_irqs_off() (4.14+ with X86_FEATURE_PCID; the
 * same-mm lazy check is 4.20+, handled by the caller): pick the ASID,
 * record (ctx_id, tlb_gen) in its slot, load_new_mm_cr3() with the
 * NOFLUSH bit when the slot was current (with PTI a flush also marks the
 * user half, invalidate_user_asid()).  Entries of other ASIDs stay; they
 * are caught up by the tlb_gen test when their mm comes back.
 * same_stale: lazy and back to the same mm whose tlb_gen moved (the
 * loaded ASID, flushed); otherwise choose_new_asid() decides, which for
 * prev == next is the 6.15+ move onto the mm's new global ASID. */
static u32 switch_mm_pcid(struct flush_env *env, struct cpu *c, struct mm *prev,
                          struct mm *next, bool same_stale)
{
    u64 next_tlb_gen = next->tlb_gen;
    bool need_flush, recycled = false;
    u16 asid;

    /* The live copy of the loaded slot goes back to ctxs[] (global ASIDs
     * have no slot). */
    if (is_dyn_asid(c->loaded_mm_asid))
        c->ctxs[c->loaded_mm_asid] = (struct tlb_context){ c->ctx_id, c->tlb_gen };
    if (same_stale) {
        asid = c->loaded_mm_asid;
        need_flush = true;
    } else {
        asid = choose_new_asid(env, c, next, next_tlb_gen, &need_flush);
        /* The slot named another mm (a never-used slot has ctx_id 0). */
        recycled = is_dyn_asid(asid) && c->ctxs[asid].ctx_id != next->ctx_id &&
                   c->ctxs[asid].ctx_id != 0;
    }
    c->loaded_mm_asid = asid;
    c->ctx_id = next->ctx_id;
    c->tlb_gen = next_tlb_gen;
    if (is_dyn_asid(asid))
        c->ctxs[asid] = (struct tlb_context){ next->ctx_id, next_tlb_gen };
    if (need_flush)
        invalidate_user_asid(c, asid);
    cpu_load_cr3(c, next, kern_pcid(asid), !need_flush);
    if (!need_flush) {
        if (prev != next)
            c->st.task_switch_noflush++;
        trace(env, c->id, TLB_FLUSH_ON_TASK_SWITCH, 0);
        return 0;
    }
    if (recycled)
        c->st.asid_recycle_flushes++;
    c->st.task_switch_flushes++;
    trace(env, c->id, TLB_FLUSH_ON_TASK_SWITCH, -1);
    return env->m->cr3_flush_cycles;
}

u32 switch_mm_irqs_off(struct flush_env *env, struct cpu *c, struct mm *next)
{
    const struct flush_policy *pol = env->pol;
    struct mm *prev = c->loaded_mm;
    bool was_lazy = c->is_lazy;
    u32 cost = env->m->switch_mm_cycles;

    c->is_lazy = false;
    if (prev == next) {
        /* 6.15+: move onto the mm's new global ASID; once on it, INVLPGB
         * keeps it current. */
        if (c->pcid && mm_needs_global_asid(env, next, c->loaded_mm_asid))
            return cost + switch_mm_pcid(env, c, prev, next, false);
        if (c->pcid && !is_dyn_asid(c->loaded_mm_asid))
            return cost;
        /* 4.14 returns here: lazy CPUs were kept current by IPIs. */
        if (!pol->lazy_gen_check || !was_lazy)
            return cost;
        /* Lazy and back to the same mm: flush only if it changed. */
        if (c->tlb_gen == next->tlb_gen)
            return cost;
    } else {
        /* <= 6.12 stops remote flushes for prev here; 6.13+ leaves the
         * bit set until a flush IPI finds us running something else. */
        if (!pol->lazy_cpumask && prev != env->init_mm)
            cpumask_clear_cpu(c->id, &prev->cpumask);
        if (next != env->init_mm)
            cpumask_set_cpu(c->id, &next->cpumask);
    }
    if (c->pcid)
        return cost + switch_mm_pcid(env, c, prev, next, prev == next);
    /* No PCID: choose_new_asid() always answers (0, need_flush). */
    c->ctx_id = next->ctx_id;
    c->tlb_gen = next->tlb_gen;
    cpu_write_cr3(c, next);
    c->st.task_switch_flushes++;
    trace(env, c->id, TLB_FLUSH_ON_TASK_SWITCH, -1);
    return cost + env->m->cr3_flush_cycles;
}

/* "Please ignore the name of this function.  It should be called
 * switch_to_kernel_thread()." (tlb.c) */
void enter_lazy_tlb(struct flush_env *env, struct cpu *c)
{
    if (c->loaded_mm == env->init_mm)
        return;
    c->is_lazy = true;
}

u32 leave_mm(struct flush_env *env, struct cpu *c)
{
    if (c->loaded_mm == env->init_mm)
        return 0;
    return switch_mm_irqs_off(env, c, env->init_mm);
}

/* ---- flush requests (A4, A8) ---------------------------------------------- */

u64 flush_jiffies(const struct flush_env *env)
{
    u64 per_jiffy = (u64)env->m->freq_mhz * 1000000 / env->m->hz;

    return per_jiffy ? env->now / per_jiffy : 0;
}

void flush_tlb_info_init(struct flush_env *env, struct flush_tlb_info *f,
                         struct mm *mm, u64 start, u64 end, u8 stride_shift,
                         bool freed_tables, u32 cpu)
{
    const struct flush_policy *pol = env->pol;
    u64 ceiling = env->m->flush_ceiling;

    *f = (struct flush_tlb_info){ .mm = mm, .initiating_cpu = cpu,
                                  .stride_shift = stride_shift,
                                  .freed_tables = freed_tables };
    f->new_tlb_gen = inc_mm_tlb_gen(mm);
    if (pol->stride) {
        /* 6.x: "> ceiling" in stride units is a full flush (34 of 34). */
        if (end == TLB_FLUSH_ALL || ((end - start) >> stride_shift) > ceiling)
            start = 0, end = TLB_FLUSH_ALL;
    } else {
        /* 4.14: huge pages (VM_HUGETLB) always flush all; <= 33 pages partial. */
        if (end == TLB_FLUSH_ALL || stride_shift != PAGE_SHIFT_4K ||
            ((end - start) >> PAGE_SHIFT_4K) > ceiling)
            start = 0, end = TLB_FLUSH_ALL;
        f->stride_shift = PAGE_SHIFT_4K;
    }
    f->start = start;
    f->end = end;
    if (pol->lazy_cpumask) {
        u64 j = flush_jiffies(env);

        /* should_trim_cpumask(): at most once a second (HZ jiffies) per mm. */
        if (j > mm->next_trim_cpumask) {
            mm->next_trim_cpumask = j + env->m->hz;
            f->trim_cpumask = true;
        }
    }
}

void flush_tlb_kernel_info_init(struct flush_env *env, struct flush_tlb_info *f,
                                u64 start, u64 end, u32 cpu)
{
    *f = (struct flush_tlb_info){ .mm = NULL, .initiating_cpu = cpu,
                                  .stride_shift = PAGE_SHIFT_4K, .kernel = true,
                                  .new_tlb_gen = TLB_GENERATION_INVALID };
    if (end == TLB_FLUSH_ALL ||
        ((end - start) >> PAGE_SHIFT_4K) > env->m->flush_ceiling)
        start = 0, end = TLB_FLUSH_ALL;
    f->start = start;
    f->end = end;
}

/* ---- target choice (A5) -------------------------------------------------- */

bool should_flush_tlb(const struct flush_env *env, u32 cpu,
                      const struct flush_tlb_info *f)
{
    const struct cpu *c = env->cpus[cpu];

    if (!env->pol->lazy_skip)
        return true;                    /* 4.14-4.19: everyone in the mask */
    /* Lazy TLB will get flushed at the next context switch. */
    if (c->is_lazy)
        return false;
    if (!env->pol->lazy_cpumask)
        return true;                    /* 4.20-6.12: just !is_lazy */
    if (!f->mm)
        return true;
    if (c->loaded_mm == f->mm)
        return true;
    /* A stale CPU in the mask: IPI it so it clears itself (<= once a second). */
    return f->trim_cpumask;
}

static void targets_clear(struct flush_targets *t)
{
    cpumask_clear(&t->mask);
    cpumask_clear(&t->lazy);
    cpumask_clear(&t->preempted);
    t->nr = t->skipped_lazy = t->skipped_other = t->skipped_preempted = t->examined = 0;
    t->local = false;
}

enum flush_transport flush_transport_for(const struct flush_policy *pol,
                                         enum flush_cause cause)
{
    switch (pol->transport) {
    case XPORT_DEFERRED:
        /* LATR defers frees and migrations, not permission changes,
         * explicit or kernel flushes, or exits. */
        return cause == FLUSH_CAUSE_FREE ? XPORT_DEFERRED : XPORT_IPI;
    case XPORT_PV_KVM:
    case XPORT_HYPERV:
        /* flush_tlb_kernel_range() -> on_each_cpu(): the PV TLB hooks
         * (pv_ops.mmu.flush_tlb_multi) are not on that path. */
        return cause == FLUSH_CAUSE_KERNEL ? XPORT_IPI : pol->transport;
    default:
        return pol->transport;
    }
}

void flush_choose_targets(const struct flush_env *env,
                          const struct flush_tlb_info *f,
                          const struct cpumask *cpumask,
                          struct flush_targets *t)
{
    u32 self = f->initiating_cpu, cpu;
    /* on_each_cpu_cond_mask(should_flush_tlb) evaluates the condition per
     * CPU; on_each_cpu_mask (freed_tables, or 6.15+ an mm in transition
     * to a global ASID) and 4.14's smp_call_function_many do not. */
    bool all = f->freed_tables || (f->mm && f->mm->asid_transition);
    bool cond = env->pol->lazy_skip && !all;

    targets_clear(t);
    if (f->kernel) {
        /* on_each_cpu(): every online CPU, idle and lazy ones included. */
        for (cpu = 0; cpu < env->nr_cpus; cpu++)
            if (cpu != self)
                cpumask_set_cpu(cpu, &t->mask);
        t->nr = env->nr_cpus - 1;
        t->local = true;
        return;
    }
    /* should_flush_tlb() with its per-request tests worked out once: a
     * lazy CPU is skipped; with the 6.13+ cpumask rule, so is one running
     * another mm unless the mask is being trimmed. */
    bool mm_test = env->pol->lazy_cpumask && f->mm && !f->trim_cpumask;

    /* A word of the mask at a time: the target and lazy words are built in
     * registers and counted once (tests/test_pertarget.c checks this loop
     * against should_flush_tlb() per CPU). */
    for (u32 w = 0; w < (env->nr_cpus + 63) / 64; w++) {
        u64 in = cpumask_word_below(cpumask, w, env->nr_cpus), go_w = 0, lazy_w = 0;

        for (u64 b = in; b; b &= b - 1) {
            cpu = w * 64 + (u32)__builtin_ctzll(b);
            const struct cpu *c = env->cpus[cpu];
            bool go = !cond || (!c->is_lazy && (!mm_test || c->loaded_mm == f->mm));

            if (go)
                go_w |= b & -b;
            else if (c->is_lazy)
                lazy_w |= b & -b;
        }
        if (self / 64 == w) {           /* the initiator: local, not a target */
            u64 me = 1ull << (self % 64);

            t->local = (go_w & me) != 0;
            in &= ~me;
            go_w &= ~me;
            lazy_w &= ~me;
        }
        t->mask.bits[w] = go_w;
        t->lazy.bits[w] = lazy_w;
        t->nr += (u32)__builtin_popcountll(go_w);
        t->skipped_lazy += (u32)__builtin_popcountll(lazy_w);
        t->skipped_other += (u32)(__builtin_popcountll(in) - __builtin_popcountll(go_w) -
                                  __builtin_popcountll(lazy_w));
        t->examined += cond ? (u32)__builtin_popcountll(in) : 0;
    }
    /* Not in the mask but running it (cannot happen) or initiator running
     * it outside the mask: Linux flushes locally when mm is loaded here. */
    if (!cpumask_test_cpu(self, cpumask) && f->mm &&
        env->cpus[self]->loaded_mm == f->mm)
        t->local = true;
}

void flush_choose_targets_pv_kvm(const struct flush_env *env,
                                 const struct flush_tlb_info *f,
                                 const struct cpumask *cpumask,
                                 const struct cpumask *preempted,
                                 struct flush_targets *t)
{
    struct cpumask flushmask = *cpumask, skip;
    u32 cpu, n = 0, scanned = 0;

    /* The steal_time test runs on every CPU of the mask, before (and
     * whatever) should_flush_tlb would say. */
    cpumask_clear(&skip);
    for_each_cpu(cpu, cpumask, env->nr_cpus) {
        if (cpu == f->initiating_cpu)
            continue;                   /* the running vCPU is never preempted */
        scanned++;
        if (cpumask_test_cpu(cpu, preempted)) {
            cpumask_clear_cpu(cpu, &flushmask);
            cpumask_set_cpu(cpu, &skip);
            n++;
        }
    }
    flush_choose_targets(env, f, &flushmask, t);
    t->preempted = skip;
    t->skipped_preempted = n;
    t->examined += scanned;
}

void flush_keep_holders(const struct flush_env *env, const struct flush_tlb_info *f,
                        struct flush_targets *t)
{
    u32 cpu;

    if (f->kernel || !f->mm)
        return;
    for_each_cpu(cpu, &t->mask, env->nr_cpus)
        if (env->cpus[cpu]->loaded_mm != f->mm) {
            cpumask_clear_cpu(cpu, &t->mask);
            t->nr--;
        }
}

void flush_target_all(const struct flush_env *env, u32 self, const struct cpumask *mask,
                      const struct mm *holders_of, struct flush_targets *t)
{
    targets_clear(t);
    for (u32 cpu = 0; cpu < env->nr_cpus; cpu++) {
        bool in = holders_of ? env->cpus[cpu]->loaded_mm == holders_of
                             : cpumask_test_cpu(cpu, mask);
        if (cpu != self && in) {
            cpumask_set_cpu(cpu, &t->mask);
            t->nr++;
        }
    }
}

/* ---- invalidating ranges ------------------------------------------------- */

u64 flush_invlpg_range(struct cpu *c, u64 start, u64 end, unsigned shift)
{
    u64 nr = 0;

    for (u64 a = start; a < end; a += 1ull << shift, nr++)
        cpu_invlpg(c, a);
    c->st.flush_pages += nr;
    return nr;
}

void flush_remote_invalidate(struct cpu *c, const struct flush_tlb_info *f)
{
    if (!f->kernel && f->mm && c->loaded_mm != f->mm)
        return;                         /* PCID-less: no entries of it here */
    if (f->end == TLB_FLUSH_ALL) {
        if (f->kernel)
            cpu_flush_tlb_global(c);
        else
            cpu_flush_tlb_local(c);
        c->st.flush_full++;
        return;
    }
    flush_invlpg_range(c, f->start, f->end, f->kernel ? PAGE_SHIFT_4K : f->stride_shift);
}

u64 flush_deferred_invalidate(const struct flush_env *env, struct cpu *c,
                              const struct flush_tlb_info *f, const struct mm *mm)
{
    if (c->loaded_mm != mm)
        return 0;
    if (f->end == TLB_FLUSH_ALL) {
        cpu_flush_tlb_local(c);
        c->st.flush_full++;
        return env->m->cr3_flush_cycles;
    }
    return flush_invlpg_range(c, f->start, f->end, f->stride_shift) * env->m->invlpg_cycles;
}

/* ---- the receiver (A7) ----------------------------------------------------- */

/* The PTI half of native_flush_tlb_one_user() (4.15+) for every page of
 * [start, end): INVPCID type 0 on the user PCID when the CPU has INVPCID
 * (each costed as one INVLPG: an estimate, no separate figure), else
 * invalidate_user_asid(), the whole user PCID at the return to user
 * space.  Returns cycles. */
static u64 pti_flush_user_range(const struct flush_env *env, struct cpu *c, u64 start,
                                u64 end, unsigned shift)
{
    u64 nr = 0;

    if (!c->pti)
        return 0;
    if (!c->invpcid) {
        invalidate_user_asid(c, c->loaded_mm_asid);
        return 0;
    }
    for (u64 a = start; a < end; a += 1ull << shift, nr++)
        cpu_invpcid(c, INVPCID_TYPE_INDIV_ADDR, user_pcid(c->loaded_mm_asid), a);
    return nr * env->m->invlpg_cycles;
}

/* native_flush_tlb_local(): the user half deferred, then a CR3 reload. */
static void flush_tlb_local(struct cpu *c)
{
    invalidate_user_asid(c, c->loaded_mm_asid);
    cpu_flush_tlb_local(c);
}

static u32 kernel_range_flush(struct flush_env *env, struct cpu *c,
                              const struct flush_tlb_info *f)
{
    if (f->end == TLB_FLUSH_ALL) {
        /* do_flush_tlb_all -> native_flush_tlb_global(): INVPCID type 2
         * with cpu.invpcid, else the CR4.PGE toggle; both drop every
         * entry, and the model costs both as cost.global_flush_cycles. */
        if (c->pcid && c->invpcid)
            cpu_invpcid(c, INVPCID_TYPE_ALL_INCL_GLOBAL, 0, 0);
        else
            cpu_flush_tlb_global(c);
        c->st.flush_full++;
        return env->m->global_flush_cycles;
    }
    /* flush_tlb_one_kernel: INVLPG drops global entries too. */
    u64 nr = flush_invlpg_range(c, f->start, f->end, PAGE_SHIFT_4K);
    u64 cost = nr * env->m->invlpg_cycles;

    if (c->pti) {
        /* With PTI, flush_tlb_one_user() for the current ASID's user half,
         * and every other ASID flushes at its next use. */
        cost += pti_flush_user_range(env, c, f->start, f->end, PAGE_SHIFT_4K);
        c->invalidate_other = true;
    }
    return (u32)cost;
}

/* Under shadow paging an INVLPG exits and the host re-syncs its shadow
 * entry for the page; when the page's table was already detached (munmap
 * frees empty tables before the flush: free_pgtables() runs before
 * tlb_finish_mmu()), there is nothing left to sync.  virt.invlpg_sync_cycles
 * per page of the range whose leaf table is still attached; 0 with EPT/NPT. */
static u64 shadow_sync_cycles(const struct flush_env *env, const struct flush_tlb_info *f)
{
    unsigned level = f->stride_shift >= PAGE_SHIFT_1G ? 3 : f->stride_shift >= PAGE_SHIFT_2M ? 2 : 1;
    u64 step = 1ull << f->stride_shift, n = 0;

    if (!env->m->invlpg_sync_cycles || !f->mm)
        return 0;
    for (u64 va = f->start; va < f->end; va += step)
        n += pt_table_at(&f->mm->pt, va, level) != NULL;
    return n * env->m->invlpg_sync_cycles;
}

static u32 flush_partial(struct flush_env *env, struct cpu *c,
                         const struct flush_tlb_info *f, bool local,
                         enum tlb_flush_reason reason)
{
    u64 nr = flush_invlpg_range(c, f->start, f->end, f->stride_shift);  /* flush_tlb_one_user */
    u64 cost = nr * env->m->invlpg_cycles;

    cost += pti_flush_user_range(env, c, f->start, f->end, f->stride_shift);
    if (local)
        c->st.nr_tlb_local_flush_one += nr;
    trace(env, c->id, reason, (s64)nr);
    return (u32)(cost + shadow_sync_cycles(env, f));
}

u32 flush_tlb_func_slow(struct flush_env *env, struct cpu *c,
                        const struct flush_tlb_info *f, bool local)
{
    const struct flush_policy *pol = env->pol;
    struct mm *loaded = c->loaded_mm;
    enum tlb_flush_reason reason = !local ? TLB_REMOTE_SHOOTDOWN :
                                   f->mm ? TLB_LOCAL_MM_SHOOTDOWN : TLB_LOCAL_SHOOTDOWN;
    u32 cost = env->m->handler_cycles;
    u64 local_gen, mm_gen;

    if (f->kernel)
        return cost + kernel_range_flush(env, c, f);
    if (!local && pol->lazy_cpumask)
        c->st.nr_tlb_remote_flush_received++;   /* 6.x counts before the mm test */
    if (f->mm && f->mm != loaded) {
        if (pol->lazy_cpumask) {
            /* 6.13+: we switched away; leave the mask now. */
            cpumask_clear_cpu(c->id, &f->mm->cpumask);
            trace(env, c->id, TLB_REMOTE_WRONG_CPU, 0);
        }
        return cost;
    }
    if (!local && !pol->lazy_cpumask)
        c->st.nr_tlb_remote_flush_received++;   /* 4.14: after it */
    if (loaded == env->init_mm)
        return cost;
    /* 6.15+: reload the ASID when the mm moved to a global one (which
     * switches a lazy CPU out of lazy mode, as the kernel does); CPUs on
     * the global ASID are kept current by INVLPGB. */
    if (c->pcid && mm_needs_global_asid(env, loaded, c->loaded_mm_asid))
        cost += switch_mm_irqs_off(env, c, loaded);
    if (c->pcid && !is_dyn_asid(c->loaded_mm_asid))
        return cost;
    if (c->is_lazy) {
        /* Reached only when freed_tables forced the IPI (or 4.14): the
         * paging-structure caches may point at freed tables, so switch to
         * init_mm, which is barely slower than a minimal flush. */
        return cost + switch_mm_irqs_off(env, c, env->init_mm);
    }
    local_gen = c->tlb_gen;
    if (pol->gen_early_exit && f->new_tlb_gen != TLB_GENERATION_INVALID &&
        f->new_tlb_gen <= local_gen)
        return cost;                    /* already current, no trace */
    mm_gen = loaded->tlb_gen;
    if (local_gen == mm_gen) {
        /* A concurrent flush already caught us up. */
        trace(env, c->id, reason, 0);
        return cost;
    }
    /* Partial only when this request is exactly the one missing
     * generation and also the newest; anything else is a full flush that
     * catches up several generations at once. */
    if (f->end != TLB_FLUSH_ALL && f->new_tlb_gen == local_gen + 1 &&
        f->new_tlb_gen == mm_gen) {
        cost += flush_partial(env, c, f, local, reason);
    } else {
        flush_tlb_local(c);
        c->st.flush_full++;
        if (local)
            c->st.nr_tlb_local_flush_all++;
        trace(env, c->id, reason, -1);
        cost += env->m->cr3_flush_cycles;
    }
    c->tlb_gen = mm_gen;
    return cost;
}

bool flush_check_cpumasks(const struct flush_env *env)
{
    for (u32 i = 0; i < env->nr_cpus; i++) {
        const struct cpu *c = env->cpus[i];

        if (c->loaded_mm != env->init_mm &&
            !cpumask_test_cpu(i, &c->loaded_mm->cpumask))
            return false;
        if (c->loaded_mm == env->init_mm && c->is_lazy)
            return false;
        if (c->ctx_id == c->loaded_mm->ctx_id && c->tlb_gen > c->loaded_mm->tlb_gen)
            return false;               /* tlb_gen never runs ahead of the mm */
    }
    return true;
}

/* ---- PTI: the user/kernel CR3 switches (4.15+) ----------------------------
 * arch/x86/entry/calling.h: SWITCH_TO_KERNEL_CR3 sets the NOFLUSH bit and
 * clears the user bits; SWITCH_TO_USER_CR3 tests the ASID's bit in
 * user_pcid_flush_mask, clears it and writes CR3 without NOFLUSH (flushing
 * the user PCID) when it was set, with NOFLUSH otherwise.  Each is one
 * MOV CR3, costed as cost.cr3_flush_cycles (linux-tlb.md F-1: the direct
 * cost of a CR3 write; an estimate for a NOFLUSH write, which has no
 * separate figure). */

u32 pti_enter_kernel(struct flush_env *env, struct cpu *c, bool *from_user)
{
    *from_user = false;
    if (!c->pti || c->in_kernel)
        return 0;
    *from_user = true;
    c->in_kernel = true;
    cpu_load_cr3(c, c->loaded_mm, kern_pcid(c->loaded_mm_asid), true);
    return env->m->cr3_flush_cycles;
}

u32 pti_return_to_user(struct flush_env *env, struct cpu *c)
{
    u16 k = kern_pcid(c->loaded_mm_asid);
    u64 bit = 1ull << (k % 64);
    bool flush;

    if (!c->pti || !c->in_kernel || c->loaded_mm == env->init_mm || c->is_lazy)
        return 0;
    c->in_kernel = false;
    flush = c->user_pcid_flush_mask[k / 64] & bit;
    c->user_pcid_flush_mask[k / 64] &= ~bit;
    cpu_load_cr3(c, c->loaded_mm, user_pcid(c->loaded_mm_asid), !flush);
    if (flush)
        c->st.user_asid_deferred_flushes++;
    return env->m->cr3_flush_cycles;
}

/* ---- global ASIDs (6.15+) ---------------------------------------------- */

static bool gas_test(const u64 *map, u32 bit) { return map[bit / 64] >> (bit % 64) & 1; }
static void gas_set(u64 *map, u32 bit) { map[bit / 64] |= 1ull << (bit % 64); }

void global_asid_space_init(struct global_asid_space *g, bool pti)
{
    *g = (struct global_asid_space){ .max = (u16)MAX_ASID_AVAILABLE(pti) };
    g->last = g->max;                   /* the first allocation resets */
    g->available = g->max - TLB_NR_DYN_ASIDS - 1;
}

/* reset_global_asid_space(): invlpgb_flush_all_nonglobals() (every
 * non-global entry of every PCID on every CPU), then the freed ASIDs are
 * reusable and the search restarts at TLB_NR_DYN_ASIDS. */
static void reset_global_asid_space(struct flush_env *env)
{
    struct global_asid_space *g = &env->gas;

    for (u32 i = 0; i < env->nr_cpus; i++)
        cpu_invpcid(env->cpus[i], INVPCID_TYPE_ALL_NON_GLOBAL, 0, 0);
    for (u32 w = 0; w < GLOBAL_ASID_WORDS; w++) {
        g->used[w] &= ~g->freed[w];
        g->freed[w] = 0;
    }
    g->last = TLB_NR_DYN_ASIDS;
}

/* allocate_global_asid(): the next unused ASID from last_global_asid on,
 * after a reset when the previous one reached the end.  0: none (the
 * kernel warns "should never happen"; freed ASIDs not yet reset count as
 * available but cannot be found). */
static u16 allocate_global_asid(struct flush_env *env, u64 *invlpgbs)
{
    struct global_asid_space *g = &env->gas;
    u32 asid;

    if (g->last >= g->max - 1) {
        reset_global_asid_space(env);
        (*invlpgbs)++;
    }
    for (asid = g->last; asid < g->max && gas_test(g->used, asid); asid++)
        ;
    if (asid >= g->max)
        return 0;
    gas_set(g->used, asid);
    g->last = (u16)asid;
    g->available--;
    return (u16)asid;
}

/* mm_active_cpus_exceeds(): more than threshold CPUs of mm_cpumask have
 * mm loaded and are not lazy. */
static bool mm_active_cpus_exceeds(const struct flush_env *env, const struct mm *mm,
                                   u32 threshold)
{
    u32 cpu, count = 0;

    if (cpumask_weight(&mm->cpumask) <= threshold)
        return false;
    for_each_cpu(cpu, &mm->cpumask, env->nr_cpus) {
        const struct cpu *c = env->cpus[cpu];
        if (c->loaded_mm == mm && !c->is_lazy && ++count > threshold)
            return true;
    }
    return false;
}

u32 consider_global_asid(struct flush_env *env, struct mm *mm, struct cpu *c, u64 *invlpgbs)
{
    u64 before = *invlpgbs;
    u16 asid;

    if (!env->pol->global_asid || !c->pcid || mm->global_asid)
        return 0;
    /* "Check every once in a while": (current->pid & 0x1f) == (jiffies &
     * 0x1f).  The trace has no pids; the mm's trace id stands in. */
    if (((u64)mm->id & 0x1f) != (flush_jiffies(env) & 0x1f))
        return 0;
    if (!mm_active_cpus_exceeds(env, mm, GLOBAL_ASID_CPU_THRESHOLD))
        return 0;
    /* use_global_asid() */
    if (!env->gas.available || !(asid = allocate_global_asid(env, invlpgbs)))
        return 0;
    mm->asid_transition = true;         /* mm_assign_global_asid() */
    mm->global_asid = asid;
    c->st.global_asids_assigned++;
    return (u32)((*invlpgbs - before) * (env->m->invlpgb_cycles + env->m->tlbsync_cycles));
}

void mm_free_global_asid(struct flush_env *env, struct mm *mm)
{
    if (!mm->global_asid)
        return;
    /* Reusable only after the flush at the next wrap-around. */
    gas_set(env->gas.freed, mm->global_asid);
    mm->global_asid = 0;
    env->gas.available++;
}

/* One INVLPGB's worth for one PCID on c: the range's pages (INVPCID type 0
 * has the same effect: the PCID's entries of the page, its PSC entries) or
 * the whole PCID. */
static void invlpgb_pcid(struct cpu *c, const struct flush_tlb_info *f, u16 pcid)
{
    if (f->end == TLB_FLUSH_ALL) {
        cpu_invpcid(c, INVPCID_TYPE_SINGLE_CTXT, pcid, 0);
        return;
    }
    for (u64 a = f->start; a < f->end; a += 1ull << f->stride_shift)
        cpu_invpcid(c, INVPCID_TYPE_INDIV_ADDR, pcid, a);
}

u64 flush_global_asid_invalidate(struct flush_env *env, const struct flush_tlb_info *f)
{
    u16 asid = f->mm->global_asid;
    u64 units = f->end == TLB_FLUSH_ALL ? 0 : (f->end - f->start) >> f->stride_shift;
    u64 n, max = env->m->invlpgb_count_max;
    bool pti = false;

    for (u32 i = 0; i < env->nr_cpus; i++) {
        struct cpu *c = env->cpus[i];

        invlpgb_pcid(c, f, kern_pcid(asid));
        if (c->pti)
            invlpgb_pcid(c, f, user_pcid(asid));
        pti |= c->pti;
    }
    /* broadcast_tlb_flush(): one for a full flush, else chunks of
     * invlpgb_count_max pages (one per page for strides above 2M); twice
     * with PTI (the user PCID too). */
    if (f->end == TLB_FLUSH_ALL)
        n = 1;
    else if (f->stride_shift > PAGE_SHIFT_2M)
        n = units;
    else
        n = (units + max - 1) / max;
    return pti ? 2 * n : n;
}

bool finish_asid_transition(struct flush_env *env, struct mm *mm)
{
    u32 cpu;

    if (!mm->asid_transition)
        return false;
    for_each_cpu(cpu, &mm->cpumask, env->nr_cpus) {
        const struct cpu *c = env->cpus[cpu];
        if (c->loaded_mm == mm && c->loaded_mm_asid != mm->global_asid)
            return true;
    }
    mm->asid_transition = false;
    return false;
}
