/* workloads/wl_fork_exec.c - a shell forking children that exec and exit.
 *
 * The parent ("shell") has text (1 MiB rx), a private heap (wss rw) and a
 * MAP_SHARED region (64 KiB rw per CPU).  Every `period` steps it forks:
 *
 *   parent CPU   protect heap -> r        fork write-protects private
 *                                         writable PTEs and flushes the
 *                                         parent's TLBs: with threads
 *                                         running elsewhere, a shootdown
 *   child CPU    mm_new child; map text, heap (r, shared frames), shared
 *                region and a stack; switch; a few references
 *                exec: mm_new image; map its text/data (populate:false);
 *                switch; mm_exit child; run (every page faults in)
 *                exit: switch null; mm_exit image; back to the parent
 *
 * After a fork, the parent's first write to each heap page is a COW break:
 * wp_page_copy() gives the page a new frame and clears the old PTE with a
 * flush (-> migrate, one page) and maps it writable (-> protect rw, no flush
 * needed).  Only the forking thread writes the heap; the other threads read
 * it and write the shared region, which fork leaves alone.
 *
 * threads: one parent mm on every CPU, forks from CPU 0, children placed on
 * the CPUs round-robin.  processes: one single-threaded shell per CPU, its
 * children on the same CPU.
 */
#include "wl_impl.h"

#include <stdlib.h>
#include <string.h>

#define FE_TEXT_LEN   (1ull << 20)
#define FE_SHARED_CPU (64ull << 10)
#define FE_STACK_LEN  (64ull << 10)
#define FE_IMAGE_LEN  (256ull << 10)

void wl_defaults_fork_exec(struct wl_params *p)
{
    p->wss = 4ull << 20;
    p->accesses = 16;
    p->period = 16;
}

struct fe {
    const struct wl_params *p;          /* parameters */
    bool threads;                       /* one parent mm on every CPU */
    u64 text, heap, shared, stack, itext, idata;   /* region addresses */
    u64 shared_len;                     /* FE_SHARED_CPU per CPU */
    u8 *wp;                             /* per shell x heap page: write-protected by a fork */
    u64 npages;                         /* heap pages */
    u64 forks;                          /* forks so far (places the children) */
};

static s64 shell_mm(const struct fe *f, u32 c) { return f->threads ? 1 : (s64)c + 1; }
static u32 shell_of(const struct fe *f, u32 c) { return f->threads ? 0 : c; }

/* The child's whole life, in the program order of CPU ck. */
static void fe_child(struct wl_out *o, const struct fe *f, u32 ck, s64 parent)
{
    const struct wl_params *p = f->p;
    s64 child = wl_mm_alloc(o), image = wl_mm_alloc(o);

    wl_mm_new(o, child);
    wl_map(o, (int)ck, child, f->text, FE_TEXT_LEN, PAGE_SHIFT_4K, PROT_R | PROT_X, true);
    wl_map(o, (int)ck, child, f->heap, p->wss, p->page_shift, PROT_R, true);
    wl_map(o, (int)ck, child, f->shared, f->shared_len, PAGE_SHIFT_4K, PROT_R | PROT_W, true);
    wl_map(o, (int)ck, child, f->stack, FE_STACK_LEN, PAGE_SHIFT_4K, PROT_R | PROT_W, true);
    wl_think(o, ck);
    wl_switch(o, ck, child);
    wl_fetch(o, ck, f->text, FE_TEXT_LEN, p->accesses / 4 + 1);
    wl_random_refs(o, ck, f->stack, FE_STACK_LEN, p->accesses / 2 + 1, 50);
    wl_random_refs(o, ck, f->heap, p->wss, p->accesses / 2 + 1, 0);

    wl_mm_new(o, image);                /* execve() */
    wl_map(o, (int)ck, image, f->itext, FE_IMAGE_LEN, PAGE_SHIFT_4K, PROT_R | PROT_X, false);
    wl_map(o, (int)ck, image, f->idata, FE_IMAGE_LEN, PAGE_SHIFT_4K, PROT_R | PROT_W, false);
    wl_think(o, ck);
    wl_switch(o, ck, image);
    wl_mm_exit(o, ck, child);
    wl_stream(o, ck, f->itext, 4096, FE_IMAGE_LEN / 4096, 'x');
    wl_random_refs(o, ck, f->idata, FE_IMAGE_LEN, p->accesses, 50);
    wl_think(o, ck);
    wl_switch(o, ck, MM_NULL);          /* exit_mm(): lazy on the dying mm */
    wl_mm_exit(o, ck, image);
    wl_switch(o, ck, parent);
}

static void fe_fork(struct wl_out *o, struct fe *f, u32 c)
{
    u32 s = shell_of(f, c);
    s64 parent = shell_mm(f, c);
    u32 ck = f->threads ? (u32)(f->forks % f->p->cpus) : c;

    wl_think(o, c);
    wl_protect(o, c, parent, f->heap, f->p->wss, PROT_R);
    memset(f->wp + (u64)s * f->npages, 1, f->npages);
    f->forks++;
    fe_child(o, f, ck, parent);
}

/* A heap write by the shell's forking CPU, breaking COW first if needed. */
static void fe_heap_write(struct wl_out *o, struct fe *f, u32 c)
{
    const struct wl_params *p = f->p;
    u64 pg = wl_below(o, f->npages);
    u64 va = f->heap + (pg << p->page_shift);
    u8 *wp = f->wp + (u64)shell_of(f, c) * f->npages + pg;

    if (*wp) {
        wl_migrate(o, c, shell_mm(f, c), va, wl_page(p));
        wl_protect(o, c, shell_mm(f, c), va, wl_page(p), PROT_R | PROT_W);
        *wp = 0;
    }
    wl_access1(o, c, va + (wl_below(o, wl_page(p)) & ~63ull), 'w');
}

static void fe_step(struct wl_out *o, struct fe *f, u32 c, u64 it)
{
    const struct wl_params *p = f->p;
    bool forker = !f->threads || c == 0;

    wl_think(o, c);
    wl_fetch(o, c, f->text, FE_TEXT_LEN, p->accesses / 4 + 1);
    wl_random_refs(o, c, f->heap, p->wss, p->accesses / 2 + 1, 0);
    if (forker)
        fe_heap_write(o, f, c);
    else
        wl_random_refs(o, c, f->shared + (u64)c * FE_SHARED_CPU, FE_SHARED_CPU,
                       p->accesses / 4 + 1, 100);
    if (forker && it % p->period == p->period - 1)
        fe_fork(o, f, c);
}

int wl_gen_fork_exec(struct wl_out *o, const struct wl_params *p)
{
    struct fe f = { .p = p, .threads = p->mode == WL_MODE_THREADS };
    u32 nshells = f.threads ? 1 : p->cpus;

    f.npages = wl_npages(p);
    f.shared_len = FE_SHARED_CPU * p->cpus;
    f.text = wl_va_alloc(o, FE_TEXT_LEN);
    f.heap = wl_va_alloc(o, p->wss);
    f.shared = wl_va_alloc(o, f.shared_len);
    f.stack = wl_va_alloc(o, FE_STACK_LEN);
    f.itext = wl_va_alloc(o, FE_IMAGE_LEN);
    f.idata = wl_va_alloc(o, FE_IMAGE_LEN);
    f.wp = calloc(nshells, f.npages);
    if (!f.wp)
        return sim_err_set(o->err, SIM_ENOMEM, "wss: out of memory");
    o->next_mm = (s64)nshells + 1;

    for (u32 s = 0; s < nshells; s++) {
        s64 mm = (s64)s + 1;
        wl_mm_new(o, mm);
        wl_map(o, -1, mm, f.text, FE_TEXT_LEN, PAGE_SHIFT_4K, PROT_R | PROT_X, true);
        wl_map(o, -1, mm, f.heap, p->wss, p->page_shift, PROT_R | PROT_W, true);
        wl_map(o, -1, mm, f.shared, f.shared_len, PAGE_SHIFT_4K, PROT_R | PROT_W, true);
    }
    for (u32 c = 0; c < p->cpus; c++)
        wl_switch(o, c, shell_mm(&f, c));
    for (u64 it = 0; it < p->iterations && !o->rc; it++)
        for (u32 c = 0; c < p->cpus; c++)
            fe_step(o, &f, c, it);

    wl_teardown(o);
    for (u32 s = 0; s < nshells; s++)
        wl_mm_exit(o, s, (s64)s + 1);
    free(f.wp);
    return wl_done(o);
}
