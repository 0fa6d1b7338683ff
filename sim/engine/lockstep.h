/* sim/engine/lockstep.h - several simulations of one trace, read once.
 *
 * `tlbsim run --policy all` simulates the same trace under every policy.
 * Instead of each simulation reading (and decoding, and checking) the
 * trace on its own, a tee reads it once, a block of ops at a time, and
 * hands every op to each simulation through its own branch, a struct
 * trace_src with its own cursor.  A branch that reaches the end of what
 * has been read answers TRACE_SRC_WAIT, so its simulation returns from
 * sim_run with SIM_NEED_INPUT (nothing lost, sim.h); lockstep_run() runs
 * every simulation up to that point, reads the next block and drops the
 * blocks every branch has passed.  Memory stays bounded: a few blocks
 * (TEE_BLOCK_OPS ops and about TEE_BLOCK_ADDRS addresses each), whatever
 * the trace's length.  Each simulation sees exactly the ops, in the same
 * order and with the same fields (line numbers too), that a reader of its
 * own would give it, and an error of the reader reaches each one at the
 * op it came at, with the reader's message: the results are the same
 * bytes as separate runs.
 */
#ifndef TLBSIM_LOCKSTEP_H
#define TLBSIM_LOCKSTEP_H

#include "sim.h"

#define TEE_BLOCK_OPS   4096u           /* ops per block */
#define TEE_BLOCK_ADDRS (1u << 16)      /* a block ends once it holds this many addresses */

struct src_tee;

/* A tee over `up` (owned by the tee from here on, closed when the tee and
 * every branch are gone, also on failure) with room for nr branches,
 * reading blocks of up to block_ops ops (0: TEE_BLOCK_OPS; tests use
 * small ones to pause the simulations everywhere). */
int  src_tee_create(struct trace_src up, u32 nr, u32 block_ops, struct src_tee **out,
                    struct sim_err *err);
/* Branch i (0 <= i < nr), reading from the first op: a source for
 * sim_config.src.  Take every branch before the first src_tee_fill().
 * Its close (sim_destroy) releases it. */
struct trace_src src_tee_branch(struct src_tee *t, u32 i);
/* Branch i will read no more (its simulation ended): the blocks it holds
 * can go. */
void src_tee_detach(struct src_tee *t, u32 i);
/* Read the next block from the source, first dropping every block no
 * branch still reads.  Returns 1 if there may be more to read, 0 once the
 * source has ended (end of file or an error, which the branches report
 * when they get there). */
int  src_tee_fill(struct src_tee *t);
/* Ops read from the source so far (each exactly once). */
u64  src_tee_ops_read(const struct src_tee *t);
/* Release the caller's hold; the tee goes when its branches are closed too. */
void src_tee_put(struct src_tee *t);

/* Run sims[0..n), whose sources are branches 0..n-1 of t, to their ends,
 * in lockstep: each runs until it needs input, then the next block is
 * read.  sim_run goes `chunk` cycles at a time; after every chunk (and at
 * every pause for input) ran(arg, i) is called, if given (progress).
 * rcs[i] gets each one's last sim_run result: 0 (ended), or a negative
 * SIM_E* code with errs[i] set (a bad trace line, SIM_EINTR after
 * sim_interrupt).  Returns SIM_OK. */
int  lockstep_run(struct src_tee *t, struct sim *const *sims, u32 n, cycles_t chunk,
                  void (*ran)(void *arg, u32 i), void *arg, int *rcs, struct sim_err *errs);

#endif
