/* sim/io/import_ftrace_priv.h - the ftrace importer's line parser
 * (import_ftrace_parse.c), shared with its event handling
 * (import_ftrace.c). */
#ifndef TLBSIM_IMPORT_FTRACE_PRIV_H
#define TLBSIM_IMPORT_FTRACE_PRIV_H

#include "import_priv.h"
#include "u64map.h"

#define CLONE_VM_FLAG      0x100ull
#define KTHREADD_PID       2
#define IMP_OTHERS_TGID    (-3)         /* the placeholder process of filtered tasks */

struct fev {
    u32 cpu;                            /* the [CPU] column */
    s64 pid;                            /* current task */
    s64 tgid;                           /* -1 unknown */
    u64 ns;                             /* timestamp */
    char comm[64];                      /* current task's comm */
    char name[64];                      /* event name without subsystem */
    int raw_sc;                         /* 1: "sys_x(args)", 2: "sys_x -> ret", 0: neither */
    const char *body;                   /* fields */
};

/* One line -> *e: 1 an event, 0 a line to ignore (headers, comments),
 * -1 not an event line (*why says why); *style: 0 trace-cmd, 1 raw
 * ftrace, 2 perf. */
int  fl_parse(const char *s, struct fev *e, int *style, const char **why);
/* Field values of an event body: "key=" decimal or hex. */
bool kv_dec(const char *body, const char *key, s64 *out);
bool kv_hex(const char *body, const char *key, u64 *out);
/* Up to max syscall arguments "name: value, ..." (values hex); the count. */
int  sc_args(const char *body, u64 *args, int max);
/* sched_switch, kernel or plugin layout: the next task. */
bool parse_switch(const char *b, s64 *next_pid, char *next_comm, size_t cap);

/* import_ftrace.c: kernel threads by name; tlb_flush reason (-1 unknown). */
bool kthread_comm(const char *comm);
int  flush_reason(const char *body);

/* Which tasks share an mm when the input has no TGID column (pass 1), and
 * which processes --pid / --comm keep (pass 2). */
struct ft_infer {
    struct imp *im;                     /* options, errors, the note */
    struct u64map *pid2tgid;            /* the importer's pid -> tgid map */
    struct u64map share;                /* pid -> pid it shares an mm with (union-find) */
    struct u64map clone_flags;          /* pid -> flags of its clone() in progress */
    struct u64map comm_pids;            /* pids seen with --comm's name */
    struct u64map kept;                 /* tgid -> 1: the processes --pid/--comm keep */
    bool filter;                        /* --pid or --comm given */
    bool pid_seen;                      /* --pid's task appears in the input */
    s64 send_pid;                       /* last "remote ipi send": its task, -1 none */
    u32 send_cpu;                       /* its CPU */
    u64 send_ns;                        /* its time */
    u64 n_column, n_newtask, n_clone, n_pair, n_map;    /* links by source */
    char first_pair[128];               /* the first pairing, for the note */
};

void fi_init(struct ft_infer *in, struct imp *im, struct u64map *pid2tgid);
/* Pass 1, every event: SIM_OK or SIM_ENOMEM. */
int  fi_event(struct ft_infer *in, const struct fev *e);
/* After pass 1: the joined tasks and --tgid-map into pid2tgid, the kept
 * processes.  SIM_OK, SIM_EINVAL (--pid/--comm match nothing), SIM_EPARSE
 * (a bad --tgid-map line), SIM_EIO, SIM_ENOMEM; err->msg set. */
int  fi_apply(struct ft_infer *in);
/* Whether process tgid is kept (always true without --pid/--comm). */
bool fi_kept(const struct ft_infer *in, s64 tgid);
/* The summary note: address spaces made, links by source, the filter. */
void fi_note(const struct ft_infer *in, size_t nmms);
void fi_free(struct ft_infer *in);

#endif
