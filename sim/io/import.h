/* sim/io/import.h - turn recorded traces into tlbsim traces (format v1).
 *
 *   ftrace  text of `trace-cmd report` (with or without its sched_switch
 *           plugin layout), of /sys/kernel/tracing/trace, or of `perf
 *           script`: sched_switch, sched_process_fork/exec/exit,
 *           task_newtask, syscalls enter/exit of mmap, munmap, mprotect and
 *           madvise, tlb_flush, and page_fault_user when present.
 *   lackey  `valgrind --tool=lackey --trace-mem=yes` output: I, L, S and M
 *           lines become access ops of one CPU in one mm; with
 *           --trace-syscalls / --trace-sched lines, threads on CPUs and
 *           syscalls as ops (import_lackey_mt.c).
 *   champsim  ChampSim binary instruction traces (64-byte input_instr
 *           records): fetches, reads and writes of one CPU in one mm.
 *
 * Lines that cannot be parsed, or that contradict what came before (a CPU
 * id beyond --cpus, time going backwards on a CPU, a non-canonical
 * address...), are skipped and counted, with the first few line numbers and
 * reasons kept for the summary; in strict mode the first one is an error
 * "FILE:LINE: reason" instead.  Well-formed lines that carry nothing to
 * import (other events, comments, valgrind's own messages) are "ignored",
 * not skipped.  The output goes through trace_writer_* (temporary file +
 * rename), so a failed import leaves no file.  docs/importers.md has the
 * mapping rules and the record commands.
 */
#ifndef TLBSIM_IMPORT_H
#define TLBSIM_IMPORT_H

#include "../../models/base.h"

#include <stdio.h>

#define IMPORT_MAX_LINE      65536      /* bytes; longer lines are skipped */
#define IMPORT_SKIP_REPORT   8          /* skipped lines remembered */
#define IMPORT_REASON_MAX    96
#define IMPORT_DEFAULT_FREQ  2500       /* MHz, the shipped model's clock */

struct import_tid_cpu {
    u64 tid;                            /* kernel thread id */
    u32 cpu;                            /* the CPU it is placed on (mod the header cpus) */
};

struct import_opts {
    bool strict;                        /* first skipped line is an error */
    u32 freq_mhz;                       /* timestamps -> cycles; 0 = IMPORT_DEFAULT_FREQ */
    u32 cpus;                           /* header cpus; 0 = infer from the input */
    const struct import_tid_cpu *tid_cpu;   /* lackey: kernel thread id -> CPU (tlbsim record) */
    u32 nr_tid_cpu;                     /* entries; threads not listed: (i - 1) mod cpus */
    s64 pid;                            /* ftrace: keep only this process (> 0), 0 = all */
    const char *comm;                   /* ftrace: keep only processes with a task of this name */
    const char *tgid_map;               /* ftrace: file of "PID TGID" lines, or NULL */
};

struct import_skip {
    u64 line;                           /* 1-based input line */
    char reason[IMPORT_REASON_MAX];     /* why it was skipped */
};

struct import_stats {
    u64 lines;                          /* input lines read */
    u64 events;                         /* lines that were understood and used */
    u64 ignored;                        /* well-formed lines with nothing to import */
    u64 skipped;                        /* malformed or inconsistent lines */
    u64 ops;                            /* ops written */
    u32 cpus;                           /* header cpus written */
    u32 nr_first;                       /* entries used in first[] */
    struct import_skip first[IMPORT_SKIP_REPORT];   /* the first skipped lines */
    char note[512];                     /* what the importer inferred (threads, mms), or "" */
};

/* Import `in` (format "ftrace" or "lackey") into the trace `out`.
 * Returns SIM_OK; SIM_EINVAL (unknown format, bad options), SIM_EIO
 * (unreadable input, unwritable output), SIM_EPARSE (strict mode: the first
 * bad line, err->msg = "IN:LINE: reason"; or nothing importable at all).
 * st (may be NULL) is filled in every case. */
int  import_file(const char *format, const char *in, const char *out,
                 const struct import_opts *o, struct import_stats *st,
                 struct sim_err *err);

/* The stderr summary: "IN: N lines, E events, K ops; S lines skipped
 * (first: IN:12: reason, ...)".  Prints the skip part only when S > 0. */
void import_stats_print(const struct import_stats *st, const char *in, FILE *f);

#endif
