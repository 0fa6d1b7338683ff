/* tests/test_jobs.c - the fork/wait job pool of `tlbsim run` and `tlbsim
 * sweep` (sim/cli/jobs.c): statuses, the limit on running children, and an
 * interrupt that stops and reaps the running ones before returning. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

#include "../sim/cli/jobs.h"

static int exit_with_index(void *arg, u32 i)
{
    (void)arg;
    return (int)i;
}

Test(jobs, every_status_recorded)
{
    int st[7];
    struct sim_err err = { 0 };

    cr_assert_eq(jobs_run(7, 3, exit_with_index, NULL, st, NULL, &err), SIM_OK);
    for (int i = 0; i < 7; i++)
        cr_assert_eq(st[i], i, "job %d: status %d", i, st[i]);
}

/* Each child holds a slot file while it runs and counts the files: never
 * more than max at once. */
static int hold_slot(void *arg, u32 i)
{
    const char *dir = arg;
    char p[256], cmd[600];
    FILE *f;
    int ok;

    snprintf(p, sizeof(p), "%s/run.%u", dir, i);
    if (!(f = fopen(p, "w")))
        return 100;
    fclose(f);
    snprintf(cmd, sizeof(cmd), "test $(ls %s | grep -c '^run\\.') -le 2", dir);
    ok = system(cmd) == 0;
    usleep(50000);
    unlink(p);
    return ok ? 0 : 101;
}

Test(jobs, at_most_max_children)
{
    char dir[] = "/tmp/tlbsim-jobs-XXXXXX";
    int st[6];
    struct sim_err err = { 0 };

    cr_assert(mkdtemp(dir));
    cr_assert_eq(jobs_run(6, 2, hold_slot, dir, st, NULL, &err), SIM_OK);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(st[i], 0, "job %d: status %d (more than 2 ran at once?)", i, st[i]);
    rmdir(dir);
}

static int sleep_unless_first(void *arg, u32 i)
{
    (void)arg;
    if (i)
        sleep(30);
    return 0;
}

static void interrupt_on_first(void *arg, u32 done)
{
    (void)arg;
    if (done)
        jobs_interrupted = 1;
}

/* An interrupt (here raised when the first job has finished) starts no more
 * jobs, sends SIGTERM to the running ones and reaps them before returning:
 * the caller may then remove what they were writing into. */
Test(jobs, interrupt_stops_and_reaps_the_running)
{
    int st[4];
    struct sim_err err = { 0 };
    struct timeval t0, t1;

    gettimeofday(&t0, NULL);
    cr_assert_eq(jobs_run(4, 2, sleep_unless_first, NULL, st, interrupt_on_first, &err),
                 SIM_EINTR);
    gettimeofday(&t1, NULL);
    cr_assert_lt(t1.tv_sec - t0.tv_sec, 10, "the running child was not stopped");
    cr_assert_eq(st[0], 0);
    cr_assert_eq(st[1], 128 + 15, "job 1: status %d, not killed by SIGTERM", st[1]);
    cr_assert_eq(st[2], -1, "job 2 started after the interrupt");
    cr_assert_eq(st[3], -1, "job 3 started after the interrupt");
    jobs_interrupted = 0;
}
