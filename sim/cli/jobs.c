/* sim/cli/jobs.c - the fork/wait job pool (see jobs.h). */
#include "jobs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

volatile sig_atomic_t jobs_interrupted;

static void (*signal_hook)(void);
static pid_t running_pid[JOBS_MAX];     /* children alive (0: free slot) */

static void on_signal(int sig)
{
    jobs_interrupted = 1;
    if (signal_hook)
        signal_hook();
    for (u32 i = 0; i < JOBS_MAX; i++)
        if (running_pid[i] > 0)
            kill(running_pid[i], sig);  /* async-signal-safe */
}

void jobs_signals(void (*hook)(void))
{
    signal_hook = hook;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
}

static int exit_status(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
}

/* Fork job i into slot.  Returns the pid, or -1 (errno set). */
static pid_t start(u32 i, u32 slot, jobs_child_fn *child, void *arg)
{
    pid_t parent = getpid(), pid = fork();

    if (pid == 0) {
        /* A worker whose parent is killed outright (SIGKILL) goes too, so it
         * neither keeps computing nor holds the --out lock (outdir.h). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        memset(running_pid, 0, sizeof(running_pid));    /* the child's own children: none */
        int rc = child(arg, i);
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    if (pid > 0)
        running_pid[slot] = pid;
    return pid;
}

/* Wait for one child; record its status.  Returns false when wait failed
 * for another reason than a signal (errno set). */
static bool reap(const u32 *job_of_slot, u32 max, int *status, u32 *running)
{
    int st;
    pid_t w = wait(&st);

    if (w < 0)
        return errno == EINTR;
    for (u32 s = 0; s < max; s++)
        if (running_pid[s] == w) {
            running_pid[s] = 0;
            status[job_of_slot[s]] = exit_status(st);
            (*running)--;
            break;
        }
    return true;
}

/* Stop the running children and wait for every one. */
static void stop_all(const u32 *job_of_slot, u32 max, int *status, u32 *running)
{
    for (u32 s = 0; s < max; s++)
        if (running_pid[s] > 0)
            kill(running_pid[s], SIGTERM);
    while (*running)
        if (!reap(job_of_slot, max, status, running))
            break;
}

int jobs_run(u32 n, u32 max, jobs_child_fn *child, void *arg, int *status,
             void (*progress)(void *arg, u32 done), struct sim_err *err)
{
    u32 job_of_slot[JOBS_MAX];
    u32 next = 0, running = 0, done = 0;
    int rc = SIM_OK;

    if (max > JOBS_MAX)
        max = JOBS_MAX;
    if (max == 0)
        max = 1;
    for (u32 i = 0; i < n; i++)
        status[i] = -1;
    fflush(stdout);
    while (next < n || running) {
        if (jobs_interrupted) {
            stop_all(job_of_slot, max, status, &running);
            return sim_err_set(err, SIM_EINTR, "interrupted");
        }
        if (next < n && running < max) {
            u32 slot = 0;
            while (running_pid[slot] > 0)
                slot++;                 /* running < max: a free slot exists */
            job_of_slot[slot] = next;
            if (start(next, slot, child, arg) < 0) {
                rc = sim_err_set(err, SIM_EIO, "fork: %s", strerror(errno));
                break;
            }
            next++;
            running++;
            continue;
        }
        if (!reap(job_of_slot, max, status, &running)) {
            rc = sim_err_set(err, SIM_EIO, "wait: %s", strerror(errno));
            break;
        }
        if (progress && next - running != done)
            progress(arg, done = next - running);
    }
    if (rc)
        stop_all(job_of_slot, max, status, &running);
    if (jobs_interrupted)
        return sim_err_set(err, SIM_EINTR, "interrupted");
    return rc;
}
