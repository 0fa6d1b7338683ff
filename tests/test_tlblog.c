/* tests/test_tlblog.c - `tlbsim run --tlb-log` writes the tlb:tlb_flush
 * events the kernel would emit, in trace-cmd report's layout and time
 * order, and `tlbsim import ftrace` reads them back. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const char two_cpu_unmap[] =
    "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
    "{\"op\":\"mm_new\",\"mm\":1}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x10000\",\"page\":\"4k\",\"prot\":\"rw\"}\n"
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x400000\",\"len\":\"0x2000\",\"t\":10000}\n";

static const char *tlbsim(void)
{
    const char *p = getenv("TLBSIM");
    return p ? p : "../build/tlbsim";
}

Test(tlblog, kernel_events_in_trace_cmd_layout)
{
    char cmd[2048], line[512];
    const char *trace = h_tmpfile(two_cpu_unmap, ".jsonl");
    double last = -1;
    int n = 0, switches = 0, send = 0, local = 0, remote = 0;
    FILE *f;

    h_tmpdir_setup();
    const char *dir = h_tmp_dir();
    cr_assert(trace);
    snprintf(cmd, sizeof(cmd), "%s run %s --tlb-log -q --out %s", tlbsim(), trace, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s/tlb_flush.txt", dir);
    f = fopen(cmd, "r");
    cr_assert(f);
    while (fgets(line, sizeof(line), f)) {
        char comm[64];
        unsigned cpu;
        double ts;
        long pages;

        cr_assert_eq(sscanf(line, " %63s [%u] %lf: tlb_flush: pages:%ld", comm, &cpu, &ts, &pages),
                     4, "line: %s", line);
        cr_expect_geq(ts, last, "time order");
        last = ts;
        n++;
        switches += strstr(line, "reason:flush on task switch (0)") != NULL;
        if (strstr(line, "reason:remote ipi send (4)")) {
            send++;
            cr_expect_eq(pages, 2);
            cr_expect_eq(cpu, 0);
        }
        if (strstr(line, "reason:local mm shootdown (3)")) {
            local++;
            cr_expect_eq(pages, 2);
        }
        if (strstr(line, "reason:remote shootdown (1)")) {
            remote++;
            cr_expect_eq(cpu, 1);
        }
    }
    fclose(f);
    cr_expect_eq(switches, 2);
    cr_expect_eq(send, 1);
    cr_expect_eq(local, 1);
    cr_expect_eq(remote, 1);
    cr_expect_eq(n, 5);
    snprintf(cmd, sizeof(cmd), "%s import ftrace %s/tlb_flush.txt -o %s/re.jsonl 2>/dev/null && "
             "%s check %s/re.jsonl >/dev/null", tlbsim(), dir, dir, tlbsim(), dir);
    cr_expect_eq(system(cmd), 0, "the log imports as a recording");
    h_tmpdir_teardown();
    unlink(trace);
}
