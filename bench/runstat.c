/* bench/runstat.c - run a command and report what it cost.
 *
 *   runstat COMMAND [ARG...]
 *
 * Runs COMMAND (stdout and stderr untouched), waits for it and prints one
 * line to stderr:
 *
 *   runstat: wall=SECONDS user=SECONDS sys=SECONDS maxrss_kb=KB status=N
 *
 * wall is CLOCK_MONOTONIC around fork and wait; user, sys and maxrss come
 * from getrusage(RUSAGE_CHILDREN), so they cover the child only (peak
 * resident set in KiB, as Linux reports ru_maxrss).  Exit status: the
 * child's (128 + signal if it was killed), 127 if it could not be run.
 * A stand-in for /usr/bin/time -v, which a fresh Debian does not have.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double secs(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
    struct rusage ru;
    int status, rc;
    pid_t pid;
    double t0;

    if (argc < 2) {
        fprintf(stderr, "usage: runstat COMMAND [ARG...]\n");
        return 127;
    }
    t0 = now();
    if ((pid = fork()) < 0) {
        perror("runstat: fork");
        return 127;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        perror("runstat: exec");
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0) {
        perror("runstat: waitpid");
        return 127;
    }
    double wall = now() - t0;
    if (getrusage(RUSAGE_CHILDREN, &ru)) {
        perror("runstat: getrusage");
        return 127;
    }
    rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    fprintf(stderr, "runstat: wall=%.3f user=%.3f sys=%.3f maxrss_kb=%ld status=%d\n",
            wall, secs(ru.ru_utime), secs(ru.ru_stime), ru.ru_maxrss, rc);
    return rc;
}
