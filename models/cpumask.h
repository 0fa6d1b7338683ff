/* models/cpumask.h - fixed-size CPU bitmaps (struct cpumask), as in Linux. */
#ifndef TLBSIM_CPUMASK_H
#define TLBSIM_CPUMASK_H

#include "base.h"
#include "machine.h"

#define CPUMASK_WORDS (MACHINE_MAX_CPUS / 64)

struct cpumask { u64 bits[CPUMASK_WORDS]; };

static inline void cpumask_clear(struct cpumask *m)
{
    for (unsigned i = 0; i < CPUMASK_WORDS; i++)
        m->bits[i] = 0;
}
static inline void cpumask_set_cpu(u32 cpu, struct cpumask *m)
{
    m->bits[cpu / 64] |= 1ull << (cpu % 64);
}
static inline void cpumask_clear_cpu(u32 cpu, struct cpumask *m)
{
    m->bits[cpu / 64] &= ~(1ull << (cpu % 64));
}
static inline bool cpumask_test_cpu(u32 cpu, const struct cpumask *m)
{
    return (m->bits[cpu / 64] >> (cpu % 64)) & 1;
}
static inline u32 cpumask_weight(const struct cpumask *m)
{
    u32 n = 0;
    for (unsigned i = 0; i < CPUMASK_WORDS; i++)
        n += (u32)__builtin_popcountll(m->bits[i]);
    return n;
}
/* First set CPU >= from, or `limit` when none below limit. */
static inline u32 cpumask_next(const struct cpumask *m, u32 from, u32 limit)
{
    for (u32 c = from; c < limit; c++) {
        u64 w = m->bits[c / 64] >> (c % 64);
        if (!w) {
            c = (c | 63);
            continue;
        }
        c += (u32)__builtin_ctzll(w);
        return c < limit ? c : limit;
    }
    return limit;
}
#define for_each_cpu(c, mask, limit) \
    for ((c) = cpumask_next((mask), 0, (limit)); (c) < (limit); \
         (c) = cpumask_next((mask), (c) + 1, (limit)))

/* Word w of m with the CPUs from limit on cleared. */
static inline u64 cpumask_word_below(const struct cpumask *m, u32 w, u32 limit)
{
    u64 b = m->bits[w];

    return (w + 1) * 64 <= limit ? b : b & ((1ull << (limit % 64)) - 1);
}

/* for_each_cpu() for a loop whose body changes neither the mask nor
 * limit, a word at a time (a few instructions per CPU: the hot loops of
 * a flush to many CPUs).  The body must not `break` (that leaves only the
 * word) and c is not defined after the loop. */
#define for_each_cpu_word(c, mask, limit) \
    for (u32 w_ = 0; w_ < ((limit) + 63) / 64; w_++) \
        for (u64 b_ = cpumask_word_below((mask), w_, (limit)); \
             b_ && ((c) = w_ * 64 + (u32)__builtin_ctzll(b_), 1); b_ &= b_ - 1)

#endif
