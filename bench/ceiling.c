/* bench/ceiling.c - the practical ceiling of a TLB simulator on this machine.
 *
 *   ceiling [REFS]
 *
 * A bare loop that does nothing but a 4-way LRU lookup in a 64-entry TLB
 * for each 8-byte address read from memory (issue 7's yardstick), in two
 * flavours: "hot" (32 pages: every lookup hits) and "random" (random 4K
 * pages over 1 GiB, with a 1536-entry 12-way LRU STLB behind the L1 and a
 * fill of both on a miss; no page walk).  Prints references per CPU
 * second of each, so bench/run.sh can put tlbsim's numbers next to what
 * the hardware allows.
 * No tlbsim code is used: this is the loop every simulator has at its core.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct way { uint64_t tag, stamp; };

struct cache {
    struct way *w;
    unsigned sets, ways;
    uint64_t clock;
};

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int lookup(struct cache *c, uint64_t vpn)
{
    struct way *set = c->w + (vpn & (c->sets - 1)) * c->ways;

    for (unsigned i = 0; i < c->ways; i++)
        if (set[i].tag == vpn) {
            set[i].stamp = ++c->clock;
            return 1;
        }
    return 0;
}

static void fill(struct cache *c, uint64_t vpn)
{
    struct way *set = c->w + (vpn & (c->sets - 1)) * c->ways;
    unsigned v = 0;

    for (unsigned i = 1; i < c->ways; i++)
        if (set[i].stamp < set[v].stamp)
            v = i;
    set[v].tag = vpn;
    set[v].stamp = ++c->clock;
}

static int cache_init(struct cache *c, unsigned entries, unsigned ways)
{
    c->sets = entries / ways;
    c->ways = ways;
    c->clock = 0;
    if (!(c->w = malloc(sizeof(*c->w) * entries)))
        return -1;
    for (unsigned i = 0; i < entries; i++)
        c->w[i] = (struct way){ UINT64_MAX, 0 };
    return 0;
}

/* CPU time of this process, as bench/run.sh measures tlbsim (user +
 * sys): the ratio of the two stays meaningful on a shared machine. */
static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* 64-entry 4-way L1 (16 sets; 12-way STLB has 128 sets: the sets must be a
 * power of two here, so 1536 entries = 128 sets x 12 ways). */
static double run(const uint64_t *va, size_t n, int stlb)
{
    struct cache l1, l2;
    uint64_t hits = 0;

    if (cache_init(&l1, 64, 4) || cache_init(&l2, 1536, 12))
        exit(1);
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        uint64_t vpn = va[i] >> 12;
        if (lookup(&l1, vpn)) {
            hits++;
            continue;
        }
        if (stlb && !lookup(&l2, vpn))
            fill(&l2, vpn);
        fill(&l1, vpn);
    }
    double t = now() - t0;
    if (hits == n + 1)                  /* keep the loop */
        puts("");
    free(l1.w);
    free(l2.w);
    return (double)n / t;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
    uint64_t *va = malloc(n * sizeof(*va)), s = 7;

    if (!va || !n)
        return 1;
    for (size_t i = 0; i < n; i++)
        va[i] = 0x100000000000ull + (rng_next(&s) % (32u << 12) & ~7ull);
    double hot = run(va, n, 0);
    for (size_t i = 0; i < n; i++)
        va[i] = 0x100000000000ull + (rng_next(&s) % (1ull << 30) & ~7ull);
    double rnd = run(va, n, 1);
    printf("ceiling_hot %.0f\nceiling_random %.0f\n", hot, rnd);
    free(va);
    return 0;
}
