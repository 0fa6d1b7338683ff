/* sim/io/import_lackey.h - what import_lackey.c (lines, pages, the
 * single-thread form) shares with import_lackey_mt.c (threads and syscalls).
 *
 * A lackey log recorded with --trace-syscalls=yes (and --trace-sched=yes)
 * carries, besides the references, lines naming the running thread:
 *
 *   SYSCALL[PID,TID](NR) sys_munmap ( 0x6230000, 65536 )[sync] --> Success(0x0)
 *   SYSCALL[PID,TID](NR) sys_futex ( 0x10c084, 128, 0, 0x0, 0x10c080 ) --> [async] ...
 *   SYSCALL[PID,TID](NR) ... [async] --> Success(0x0)          (its completion)
 *   --PID--   SCHED[TID]:  acquired lock (VG_(vg_yield))        (TID runs from here)
 *    --> [pre-success] Success(0x4675)                          (a result on its own line)
 *
 * Valgrind writes a SCHED message right after an unfinished SYSCALL line, so
 * one input line may hold both; lk_split() cuts it in two.
 */
#ifndef TLBSIM_IMPORT_LACKEY_H
#define TLBSIM_IMPORT_LACKEY_H

#include "import_priv.h"
#include "u64map.h"

#define LK_X 1u                         /* page flags: executed */
#define LK_W 2u                         /* written */
#define LK_MAPPED 4u                    /* threaded form: mapped in the output right now */
#define LK_DYN 8u                       /* threaded form: some syscall unmaps it */
#define LK_USER_TOP (1ull << 47)
#define LK_MAX_TID 4096                 /* valgrind thread ids above this are skipped */

/* ===== Touched pages ===================================================== */

/* A u64map from page number to LK_* flags; ps_add ORs flags in. */
int ps_add(struct u64map *s, u64 page, u8 flags);

/* ===== Lines ============================================================= */

enum { LK_IGNORE = 0, LK_REF = 1, LK_SYS = 2, LK_SCHED = 3, LK_BAD = -1 };

struct lk_ref {
    char kind;                          /* 'x', 'r' or 'w' */
    u64 va, size;                       /* size >= 1 */
};

/* How a SYSCALL line ends. */
enum lk_sys_state {
    LS_DONE,                            /* the result is on the line */
    LS_ASYNC,                           /* "--> [async] ...": the result comes later */
    LS_ASYNC_DONE,                      /* "... [async] --> RESULT": a completion */
    LS_CONT,                            /* no "-->" yet: the next " --> " line has it */
    LS_CONT_DONE,                       /* " --> RESULT" alone on a line */
};

struct lk_sys {
    u64 pid, tid;                       /* SYSCALL[PID,TID]; 0 for LS_CONT_DONE */
    u64 nr;                             /* the syscall number */
    char name[24];                      /* without "sys_"; "" for completions */
    u64 args[6];                        /* arguments as printed (hex or decimal) */
    u32 nargs;
    u8 state;                           /* enum lk_sys_state */
    bool ok;                            /* Success(...) (LS_DONE, *_DONE) */
    u64 ret;                            /* its value */
};

/* One parsed line: a reference, a syscall line or a thread switch. */
struct lk_line {
    struct lk_ref ref;                  /* LK_REF */
    struct lk_sys sys;                  /* LK_SYS */
    u64 pid, tid;                       /* LK_SCHED: SCHED[TID] acquired the lock */
};

/* Cut a valgrind message glued to the end of a line: returns the message
 * (the line is NUL-terminated before it), or NULL. */
char *lk_split(char *line);
int  lk_parse(const char *s, struct lk_line *l, const char **why);

/* rx (rwx if also written) for executed pages, rw for the others. */
u8   lk_prot(u8 fl);

/* Consecutive references of one kind, one access op (at most LK_BATCH). */
#define LK_BATCH 64
struct lk_batch {
    u64 va[LK_BATCH];                   /* pending addresses */
    u32 n;                              /* how many */
    char kind;                          /* their kind */
    u32 cpu;                            /* the CPU they run on */
    bool has_t;                         /* the op carries t */
    u64 t;                              /* its t */
};
int  lk_add(struct imp *im, struct lk_batch *b, char kind, u64 va);
int  lk_flush(struct imp *im, struct lk_batch *b);     /* write the pending op */

int  lk_map_regions(struct imp *im, struct u64map *ps);
/* One CPU, one mm (lackey without threads, ChampSim): header, mm_new, the
 * maps, switch of CPU 0; then rewinds the input for the second pass. */
int  lk_one_cpu_start(struct imp *im, struct u64map *ps, const char *source);

/* What the first pass learns. */
struct lk_scan {
    u64 refs;                           /* reference lines */
    u64 threaded;                       /* SYSCALL and SCHED lines */
    u32 max_tid;                        /* highest valgrind thread id seen */
    u64 (*rng)[2];                      /* ranges some syscall unmaps: [start, end) */
    size_t nrng, caprng;                /* used, allocated */
    u64 brk;                            /* program break so far */
    bool exec;                          /* an execve succeeded: every page is dynamic */
};

/* The threaded form: thread placement, syscalls as ops, t from the guest
 * instruction count (import_lackey_mt.c).  lk_scan_sys() notes in the first
 * pass which ranges a syscall unmaps (SIM_ENOMEM or SIM_OK). */
int  lk_scan_sys(struct lk_scan *sc, const struct lk_sys *y);
int  lk_mt_import(struct imp *im, struct u64map *ps, struct lk_scan *sc);

#endif
