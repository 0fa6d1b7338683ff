/* sim/cli/jobs.h - the fork/wait job pool of `tlbsim run` and `tlbsim sweep`.
 *
 * jobs_run() runs jobs 0..n-1, each in a child process, up to `max` at once,
 * and records every job's exit status.  One interrupt flag serves both
 * commands: jobs_signals() installs SIGINT/SIGTERM handlers that set
 * jobs_interrupted, call the caller's async-signal-safe hook (run stops its
 * in-process simulation with it) and pass the signal on to the running
 * children.  After an interrupt or a failed fork no job is started; the
 * running ones are sent SIGTERM and waited for, so when jobs_run() returns no
 * child is left that could still write into the caller's directories.
 */
#ifndef TLBSIM_JOBS_H
#define TLBSIM_JOBS_H

#include <signal.h>

#include "../../models/base.h"

#define JOBS_MAX 1024                   /* --jobs limit: children running at once */

/* Set by the handlers of jobs_signals(); never cleared. */
extern volatile sig_atomic_t jobs_interrupted;

/* Install the SIGINT/SIGTERM handlers.  on_signal (may be NULL) runs inside
 * the handler, in the parent and in the children, so it must be
 * async-signal-safe. */
void jobs_signals(void (*on_signal)(void));

/* Runs in the child for job i; its return value is the child's exit status. */
typedef int jobs_child_fn(void *arg, u32 i);

/* Run n jobs, up to max at once.  status[i] gets job i's exit status (a
 * child killed by a signal counts as 128 + the signal), or -1 for a job that
 * never started.  Returns SIM_OK when every job ran (whatever their
 * statuses), SIM_EINTR after an interrupt, SIM_EIO when fork or wait failed
 * (err says which).  stdout is flushed before the first fork. */
int jobs_run(u32 n, u32 max, jobs_child_fn *child, void *arg, int *status,
             void (*progress)(void *arg, u32 done), struct sim_err *err);

#endif
