/* tests/harness.h - run a trace given as text through the real engine. */
#ifndef TLBSIM_TEST_HARNESS_H
#define TLBSIM_TEST_HARNESS_H

#include "../models/machine.h"
#include "../models/policy.h"
#include "../sim/engine/sim.h"
#include "../sim/io/trace.h"

#define H_MAX_FLUSH 256

struct h_run {
    struct sim *s;
    struct machine m;
    struct sim_totals t;
    struct flush_rec fl[H_MAX_FLUSH];   /* first flush records */
    u32 nr_fl;
    char marks[8][64];
    u32 nr_marks;
    int rc;                             /* last sim_run result (0 = finished) */
    struct sim_err err;
    char path[256];
};

/* Machine defaults (machine_init) plus "key=value" overrides (NULL-ended),
 * quantum 0 unless overridden.  Writes text to a temp file, runs it to the
 * end under `pol` and keeps the sim for inspection.  Returns the run's rc. */
int  h_run(struct h_run *h, const char *text, const struct flush_policy *pol,
           const char *const *sets);
/* As h_run, starting from the model file `machine` (NULL: machine_init). */
int  h_run_machine(struct h_run *h, const char *text, const struct flush_policy *pol,
                   const char *machine, const char *const *sets);
/* As h_run_machine, but only creates the sim: the test drives h->s with
 * sim_run() (and may change it between steps), then calls sim_totals(). */
int  h_open(struct h_run *h, const char *text, const struct flush_policy *pol,
            const char *machine, const char *const *sets);
void h_done(struct h_run *h);
/* Write text into a fresh temp file; returns its path (static buffer). */
const char *h_tmpfile(const char *text, const char *suffix);

/* The one scratch directory helper of the suite: setup makes a fresh
 * directory under $TMPDIR (default /tmp), teardown removes it with
 * everything in it, h_tmp_dir() is its path and h_tmp_path(NAME) names a
 * file in it (4 rotating buffers).  Use as a suite's .init/.fini, or call
 * both inside one test. */
void h_tmpdir_setup(void);
void h_tmpdir_teardown(void);
const char *h_tmp_dir(void);
const char *h_tmp_path(const char *name);

#endif
