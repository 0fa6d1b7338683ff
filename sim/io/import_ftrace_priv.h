/* sim/io/import_ftrace_priv.h - the ftrace importer's line parser
 * (import_ftrace_parse.c), shared with its event handling
 * (import_ftrace.c). */
#ifndef TLBSIM_IMPORT_FTRACE_PRIV_H
#define TLBSIM_IMPORT_FTRACE_PRIV_H

#include "import_priv.h"

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

#endif
