/* demo.c - a tiny workload for recording importer samples: two threads
 * mmap, touch, madvise(DONTNEED), mprotect and munmap; the main thread
 * forks a child that execs this program again (one more work() pass). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGES 8

static void *work(void *arg)
{
    (void)arg;
    for (int it = 0; it < 2; it++) {
        char *p = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        for (int i = 0; i < PAGES; i++)
            p[i * 4096] = 1;
        madvise(p, 4096, MADV_DONTNEED);
        mprotect(p, 2 * 4096, PROT_READ);
        munmap(p, PAGES * 4096);
        usleep(1000);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t t;
    pid_t c;

    if (argc > 1) {                     /* the exec'd child */
        work(NULL);
        return 0;
    }
    pthread_create(&t, NULL, work, NULL);
    work(NULL);
    pthread_join(t, NULL);
    c = fork();
    if (c == 0) {
        execl("/proc/self/exe", "demo", "child", (char *)NULL);
        _exit(127);
    }
    waitpid(c, NULL, 0);
    return 0;
}
