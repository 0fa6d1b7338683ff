/* tests/progs/munmap_threads.c - the program `tlbsim record` is tested on
 * (tests/test_record.c builds it with cc).
 *
 * Four threads share one address space.  The main thread maps a 16-page
 * buffer, all threads write to it, and the main thread zaps one page
 * (madvise DONTNEED) and unmaps it while the three workers stay runnable:
 * under Linux every unmap must shoot down the workers' CPUs.  Worker 3 also
 * sleeps in nanosleep each round, so its CPU is idle (lazy) at times.
 * Threads meet at a spinning barrier (sched_yield, no futex sleep).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define NTHREADS 4
#define ROUNDS   8
#define PAGES    16

static char *volatile shared;
static atomic_int arrived;
static atomic_int generation;

static void spin_barrier(void)
{
    int gen = atomic_load(&generation);

    if (atomic_fetch_add(&arrived, 1) == NTHREADS - 1) {
        atomic_store(&arrived, 0);
        atomic_fetch_add(&generation, 1);
        return;
    }
    while (atomic_load(&generation) == gen)
        sched_yield();
}

static void *worker(void *arg)
{
    long id = (long)arg;
    struct timespec nap = { 0, 1000000 };

    for (int r = 0; r < ROUNDS; r++) {
        spin_barrier();                 /* the buffer exists */
        for (int i = 0; i < PAGES / NTHREADS; i++)
            shared[(id * (PAGES / NTHREADS) + i) * 4096] = (char)r;
        spin_barrier();                 /* everybody wrote */
        if (id == 3)
            nanosleep(&nap, NULL);
        spin_barrier();                 /* the buffer is gone */
    }
    return NULL;
}

int main(void)
{
    pthread_t t[NTHREADS];

    for (long i = 1; i < NTHREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i))
            return 1;
    for (int r = 0; r < ROUNDS; r++) {
        shared = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (shared == MAP_FAILED)
            return 1;
        spin_barrier();
        for (int i = 0; i < PAGES / NTHREADS; i++)
            shared[i * 4096] = (char)r;
        spin_barrier();
        madvise(shared, 4096, MADV_DONTNEED);
        munmap(shared, PAGES * 4096);
        spin_barrier();
    }
    for (long i = 1; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    return 0;
}
