/* tests/test_pertarget.c - the per-target loops of a flush request give
 * what their one-target definitions give: for_each_cpu_word against
 * for_each_cpu, struct smp_costs against smp_line() and apic_delivery(),
 * and flush_choose_targets() against should_flush_tlb() for every policy
 * flag, CPU state and request kind. */
#include <criterion/criterion.h>

#include "../models/flush.h"
#include "../models/smp.h"

#include <string.h>

static u64 rnd(u64 *s)
{
    u64 z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

Test(pertarget, word_walk_visits_what_for_each_cpu_visits)
{
    static const u32 limits[] = { 0, 1, 63, 64, 65, 200, 1000, MACHINE_MAX_CPUS };
    u64 seed = 7;

    for (u32 l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
        for (u32 round = 0; round < 20; round++) {
            struct cpumask m;
            u32 want[MACHINE_MAX_CPUS], n = 0, k = 0, cpu;

            for (u32 w = 0; w < CPUMASK_WORDS; w++)   /* sparse, dense, full words */
                m.bits[w] = round % 3 == 0 ? rnd(&seed) & rnd(&seed)
                          : round % 3 == 1 ? rnd(&seed) : ~0ull;
            for_each_cpu(cpu, &m, limits[l])
                want[n++] = cpu;
            for_each_cpu_word(cpu, &m, limits[l]) {
                cr_assert_lt(k, n);
                cr_assert_eq(cpu, want[k], "limit %u: %u-th cpu", limits[l], k);
                k++;
            }
            cr_assert_eq(k, n, "limit %u", limits[l]);
        }
    }
}

Test(pertarget, request_costs_match_the_per_target_functions)
{
    static const u32 shapes[][2] = { { 1, 1 }, { 8, 2 }, { 6, 4 }, { 7, 3 }, { 256, 2 },
                                     { 1024, 8 }, { 1000, 3 }, { 5, 5 } };
    struct machine m;

    machine_init(&m);
    m.smp_cross_socket_line_cycles = 200;
    m.ipi_cross_socket_cycles = m.ipi_delivery_cycles + 1234;
    for (u32 i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        m.cpus = shapes[i][0];
        m.sockets = shapes[i][1];
        for (u32 self = 0; self < m.cpus; self += 1 + m.cpus / 37) {
            struct smp_costs k;

            smp_costs_init(&m, self, &k);
            for (u32 cpu = 0; cpu < m.cpus; cpu++) {
                u32 far = smp_far(&k, cpu);

                cr_assert_eq(far, machine_socket_of(&m, self) != machine_socket_of(&m, cpu),
                             "%u CPUs on %u sockets: %u and %u", m.cpus, m.sockets, self, cpu);
                cr_assert_eq(k.queue[far], smp_queue_cycles(&m, self, cpu));
                cr_assert_eq(k.wait[far], smp_wait_cycles(&m, self, cpu));
                cr_assert_eq(k.read[far], smp_line(&m, self, cpu, m.smp_csd_read_cycles));
                cr_assert_eq(k.info[far], smp_line(&m, self, cpu, m.smp_info_line_cycles));
            }
        }
    }
}

/* Eight CPUs: lazy or not, running mm A, mm B or nothing; CPU 0 asks. */
Test(pertarget, target_choice_is_should_flush_tlb_per_cpu)
{
    static struct cpu cpus[8];
    static struct mm a, b, init;
    struct cpu *ptr[8];
    struct machine mach;
    struct cpumask all = { { 0xff } };

    machine_init(&mach);
    for (u32 i = 0; i < 8; i++) {
        cpus[i].id = i;
        cpus[i].is_lazy = i & 1;
        cpus[i].loaded_mm = (i >> 1) % 3 == 0 ? &a : (i >> 1) % 3 == 1 ? &b : &init;
        ptr[i] = &cpus[i];
    }
    for (u32 bits = 0; bits < 64; bits++) {
        struct flush_policy pol = { .name = "t", .lazy_skip = bits & 1,
                                    .lazy_cpumask = bits >> 1 & 1 };
        struct flush_env env = { .cpus = ptr, .nr_cpus = 8, .init_mm = &init, .m = &mach,
                                 .pol = &pol };
        struct flush_tlb_info f = { .mm = bits >> 2 & 1 ? &a : NULL, .initiating_cpu = 0,
                                    .trim_cpumask = bits >> 3 & 1,
                                    .freed_tables = bits >> 4 & 1 };
        struct flush_targets t;

        a.asid_transition = bits >> 5 & 1;
        flush_choose_targets(&env, &f, &all, &t);
        bool every = f.freed_tables || (f.mm && f.mm->asid_transition);
        u32 nr = 0;

        for (u32 cpu = 0; cpu < 8; cpu++) {
            bool go = every || should_flush_tlb(&env, cpu, &f);

            if (cpu == 0) {
                cr_assert_eq(t.local, go, "case %u", bits);
                continue;
            }
            nr += go;
            cr_assert_eq(cpumask_test_cpu(cpu, &t.mask), go, "case %u cpu %u", bits, cpu);
            cr_assert_eq(cpumask_test_cpu(cpu, &t.lazy), !go && cpus[cpu].is_lazy,
                         "case %u cpu %u", bits, cpu);
        }
        cr_assert_eq(t.nr, nr, "case %u", bits);
    }
}

/* The same over several mask words: 200 CPUs in random states, random
 * masks, the initiator at word edges, in the mask or not. */
Test(pertarget, target_choice_word_by_word_is_should_flush_tlb_per_cpu)
{
    static struct cpu cpus[200];
    static struct mm a, b, init;
    static const u32 selves[] = { 0, 1, 63, 64, 127, 128, 150, 199 };
    struct cpu *ptr[200];
    struct machine mach;
    u64 seed = 11;
    u32 cases = 0;

    machine_init(&mach);
    for (u32 i = 0; i < 200; i++) {
        cpus[i].id = i;
        ptr[i] = &cpus[i];
    }
    for (u32 round = 0; round < 400; round++) {
        struct flush_policy pol = { .name = "t", .lazy_skip = round & 1,
                                    .lazy_cpumask = round >> 1 & 1 };
        struct flush_env env = { .cpus = ptr, .nr_cpus = 130 + (u32)(rnd(&seed) % 71),
                                 .init_mm = &init, .m = &mach, .pol = &pol };
        u32 self = selves[round % 8] % env.nr_cpus;
        struct flush_tlb_info f = { .mm = round >> 2 & 1 ? &a : NULL, .initiating_cpu = self,
                                    .trim_cpumask = round >> 3 & 1,
                                    .freed_tables = rnd(&seed) % 5 == 0 };
        struct cpumask mask;
        struct flush_targets t;
        u32 nr = 0, lazy = 0, other = 0, examined = 0;

        a.asid_transition = rnd(&seed) % 7 == 0;
        for (u32 w = 0; w < CPUMASK_WORDS; w++)
            mask.bits[w] = round % 3 ? rnd(&seed) | rnd(&seed) : ~0ull;
        if (round & 16)
            cpumask_clear_cpu(self, &mask);
        for (u32 i = 0; i < 200; i++) {
            u64 r = rnd(&seed);
            cpus[i].is_lazy = r & 1;
            cpus[i].loaded_mm = (r >> 1) % 3 == 0 ? &a : (r >> 1) % 3 == 1 ? &b : &init;
        }
        flush_choose_targets(&env, &f, &mask, &t);
        bool every = f.freed_tables || (f.mm && f.mm->asid_transition);
        bool cond = pol.lazy_skip && !every;

        for (u32 cpu = 0; cpu < env.nr_cpus; cpu++) {
            bool go = every || should_flush_tlb(&env, cpu, &f);

            if (!cpumask_test_cpu(cpu, &mask) || cpu == self) {
                cr_assert(!cpumask_test_cpu(cpu, &t.mask), "round %u cpu %u", round, cpu);
                cr_assert(!cpumask_test_cpu(cpu, &t.lazy), "round %u cpu %u", round, cpu);
                continue;
            }
            examined += cond;
            nr += go;
            lazy += !go && cpus[cpu].is_lazy;
            other += !go && !cpus[cpu].is_lazy;
            cr_assert_eq(cpumask_test_cpu(cpu, &t.mask), go, "round %u cpu %u", round, cpu);
            cr_assert_eq(cpumask_test_cpu(cpu, &t.lazy), !go && cpus[cpu].is_lazy,
                         "round %u cpu %u", round, cpu);
        }
        for (u32 cpu = env.nr_cpus; cpu < MACHINE_MAX_CPUS; cpu++)
            cr_assert(!cpumask_test_cpu(cpu, &t.mask) && !cpumask_test_cpu(cpu, &t.lazy));
        if (cpumask_test_cpu(self, &mask))
            cr_assert_eq(t.local, every || should_flush_tlb(&env, self, &f), "round %u", round);
        else
            cr_assert_eq(t.local, f.mm && cpus[self].loaded_mm == f.mm, "round %u", round);
        cr_assert_eq(t.nr, nr, "round %u", round);
        cr_assert_eq(t.skipped_lazy, lazy, "round %u", round);
        cr_assert_eq(t.skipped_other, other, "round %u", round);
        cr_assert_eq(t.examined, examined, "round %u", round);
        cases += nr > 0 && lazy > 0 && other > 0;
    }
    cr_assert_gt(cases, 15, "targets, lazy and other CPUs in one request");
}

/* flush_tlb_func()'s inline early return against flush_tlb_func_slow(),
 * the whole rule, on two CPUs put in the same state: every combination of
 * request (kernel, mm, generation, local), CPU (loaded mm, lazy, tlb_gen,
 * PCID and its ASID) and policy flags gives the same cycles and leaves
 * both CPUs alike. */
Test(pertarget, flush_tlb_func_early_return_is_the_slow_rules)
{
    static struct cpu cx, cy;
    struct machine m;
    struct frame_alloc fa;
    struct pt_ctx ptc;
    struct mm init, a, b;
    struct sim_err err;
    struct cpu *ptr[2] = { &cx, &cy };
    u32 checked = 0, early = 0;

    machine_init(&m);
    cr_assert_eq(frame_alloc_init(&fa, 46, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(pt_ctx_init(&ptc, &fa, 0), 0);
    cr_assert_eq(mm_init(&init, -1, 0, 1, &ptc, &m, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(mm_init(&a, 1, 1, 2, &ptc, &m, &init, &err), 0, "%s", err.msg);
    cr_assert_eq(mm_init(&b, 2, 2, 3, &ptc, &m, &init, &err), 0, "%s", err.msg);
    cr_assert_eq(cpu_init(&cx, 0, &m, &fa, &init, &err), 0, "%s", err.msg);
    cr_assert_eq(cpu_init(&cy, 1, &m, &fa, &init, &err), 0, "%s", err.msg);
    a.tlb_gen = 2;
    for (u32 bits = 0; bits < 1u << 13; bits++) {
        struct flush_policy pol = { .name = "t", .gen_early_exit = bits & 1,
                                    .global_asid = bits >> 1 & 1 };
        struct mm *loaded = (bits >> 2) % 3 == 0 ? &a : (bits >> 2) % 3 == 1 ? &b : &init;
        struct flush_tlb_info f = { .mm = bits >> 4 & 1 ? &a : NULL, .start = 0x1000,
                                    .end = 0x2000, .stride_shift = 12,
                                    .kernel = (bits >> 5 & 3) == 3,
                                    .new_tlb_gen = bits >> 5 & 3 };
        bool local = bits >> 7 & 1, pcid = bits >> 8 & 1, lazy = bits >> 9 & 1;
        bool on_global = pcid && loaded == &a && bits >> 12 & 1;
        u64 gen = bits >> 10 & 3;
        u32 rx = 0, ry = 0;

        if ((bits >> 2) % 4 == 3)
            continue;                   /* no such mm */
        a.global_asid = pcid && (bits & 2 || on_global) ? TLB_NR_DYN_ASIDS + 3 : 0;
        for (u32 i = 0; i < 2; i++) {
            struct flush_env env = { .cpus = ptr, .nr_cpus = 2, .init_mm = &init, .m = &m,
                                     .pol = &pol };
            struct cpu *c = ptr[i];

            cpu_write_cr3(c, loaded);
            c->loaded_mm = loaded;
            c->is_lazy = lazy;
            c->tlb_gen = gen;
            c->ctx_id = loaded->ctx_id;
            c->pcid = pcid;
            c->loaded_mm_asid = on_global ? a.global_asid : 0;
            memset(&c->st, 0, sizeof(c->st));
            if (i == 0)
                rx = flush_tlb_func(&env, c, &f, local);
            else
                ry = flush_tlb_func_slow(&env, c, &f, local);
        }
        cr_assert_eq(rx, ry, "case %#x", bits);
        cr_assert_eq(cx.tlb_gen, cy.tlb_gen, "case %#x", bits);
        cr_assert_eq(cx.loaded_mm, cy.loaded_mm, "case %#x", bits);
        cr_assert_eq(cx.is_lazy, cy.is_lazy, "case %#x", bits);
        cr_assert_eq(memcmp(&cx.st, &cy.st, sizeof(cx.st)), 0, "case %#x", bits);
        checked++;
        early += rx == m.handler_cycles && cx.tlb_gen == gen;
    }
    cr_assert_gt(checked, 1000);
    cr_assert_gt(early, 50, "the early return is exercised");
    cpu_destroy(&cx);
    cpu_destroy(&cy);
    mm_destroy(&a);
    mm_destroy(&b);
    mm_destroy(&init);
    pt_ctx_destroy(&ptc);
    frame_alloc_destroy(&fa);
}
