/* sim/io/import_ftrace_infer.c - which tasks share an address space when
 * the recording does not say (no TGID column), and the --pid / --comm /
 * --tgid-map options of the ftrace importer.
 *
 * Without a TGID column, threads that existed before the recording look
 * like processes of their own.  Pass 1 (fi_event) joins them by
 *   - clone(): a sys_exit_clone returning CHILD after a sys_enter_clone with
 *     CLONE_VM by PARENT: CHILD shares PARENT's mm;
 *   - IPI pairing: a "remote shootdown" (reason 1) on CPU B within
 *     IMP_IPI_PAIR_NS of a "remote ipi send" (reason 4) on CPU A: the user
 *     task running on B shares the sender's mm (only a CPU running that mm,
 *     or lazily holding it, gets the IPI; a user task there means it runs it).
 * task_newtask's CLONE_VM is applied in pass 2 (ev_newtask).  Groups are a
 * union-find over pids (share); the root is the lowest pid.  fi_apply()
 * writes them into pid2tgid (where the input gave no TGID), then the
 * --tgid-map lines, and computes the processes the filters keep.
 */
#include "import_ftrace_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define IMP_IPI_PAIR_NS       50000     /* a remote shootdown answers a send this recent */
#define IMP_INFER_DEPTH       64        /* union-find chains followed at most */

static s64 inf_find(const struct ft_infer *in, s64 pid)
{
    u64 p;

    for (int i = 0; i < IMP_INFER_DEPTH && u64map_lookup(&in->share, (u64)pid, &p) && (s64)p != pid; i++)
        pid = (s64)p;
    return pid;
}

/* 1 when a and b were joined, 0 when already together, < 0 on error. */
static int inf_link(struct ft_infer *in, s64 a, s64 b)
{
    s64 ra = inf_find(in, a), rb = inf_find(in, b);

    if (ra == rb)
        return 0;
    if (u64map_put(&in->share, (u64)(ra > rb ? ra : rb), (u64)(ra > rb ? rb : ra)))
        return SIM_ENOMEM;
    return 1;
}

static bool inf_has_tgid(const struct ft_infer *in, s64 pid)
{
    u64 v;
    return u64map_lookup(in->pid2tgid, (u64)pid, &v);
}

static int inf_flush(struct ft_infer *in, const struct fev *e)
{
    int reason = flush_reason(e->body), rc;

    if (reason == 4) {
        in->send_pid = e->pid;
        in->send_cpu = e->cpu;
        in->send_ns = e->ns;
        return SIM_OK;
    }
    if (reason != 1 || in->send_pid <= 0 || in->send_cpu == e->cpu || e->pid <= 0 ||
        e->pid == in->send_pid || e->ns < in->send_ns || e->ns - in->send_ns > IMP_IPI_PAIR_NS ||
        e->pid == KTHREADD_PID || kthread_comm(e->comm) || e->tgid >= 0 ||
        inf_has_tgid(in, e->pid) || inf_has_tgid(in, in->send_pid))
        return SIM_OK;
    if ((rc = inf_link(in, e->pid, in->send_pid)) <= 0)
        return rc;
    if (!in->n_pair++)
        snprintf(in->first_pair, sizeof(in->first_pair),
                 "pid %lld answered pid %lld's IPI on cpu %u at %llu.%06llu",
                 (long long)e->pid, (long long)in->send_pid, e->cpu,
                 (unsigned long long)(e->ns / 1000000000ull),
                 (unsigned long long)(e->ns % 1000000000ull / 1000));
    return SIM_OK;
}

static int inf_clone(struct ft_infer *in, const struct fev *e, bool enter)
{
    u64 args[6], flags, child;
    int rc;

    if (enter)                                  /* bit 63: a clone is in progress */
        return sc_args(e->body, args, 1) == 1 &&
               u64map_put(&in->clone_flags, (u64)e->pid, args[0] | 1ull << 63) ? SIM_ENOMEM : SIM_OK;
    if (!u64map_lookup(&in->clone_flags, (u64)e->pid, &flags) || !(flags >> 63))
        return SIM_OK;
    if (u64map_put(&in->clone_flags, (u64)e->pid, 0))
        return SIM_ENOMEM;
    if (!imp_parse_hex(imp_skip_ws(e->body), &child) || !child || child >= 1ull << 31 ||
        !(flags & CLONE_VM_FLAG) || inf_has_tgid(in, (s64)child))
        return SIM_OK;
    if ((rc = inf_link(in, (s64)child, e->pid)) < 0)
        return rc;
    in->n_clone += (u64)rc;
    return SIM_OK;
}

int fi_event(struct ft_infer *in, const struct fev *e)
{
    const struct import_opts *o = in->im->o;
    const char *n = e->name;

    if (o->comm && e->pid > 0 && !strcmp(e->comm, o->comm) && u64map_put(&in->comm_pids, (u64)e->pid, 1))
        return SIM_ENOMEM;
    in->pid_seen |= o->pid > 0 && (e->pid == o->pid || e->tgid == o->pid);
    if (!strcmp(n, "tlb_flush"))
        return inf_flush(in, e);
    if ((e->raw_sc && !strcmp(n, "sys_clone")) || !strcmp(n, "sys_enter_clone") ||
        !strcmp(n, "sys_exit_clone"))
        return inf_clone(in, e, e->raw_sc ? e->raw_sc == 1 : !strcmp(n, "sys_enter_clone"));
    return SIM_OK;
}

/* --tgid-map FILE: "PID TGID" per line, '#' comments. */
static int inf_read_map(struct ft_infer *in, const char *path)
{
    struct sim_err *err = in->im->err;
    char line[256];
    u64 ln = 0, pid, tgid;
    FILE *f = fopen(path, "r");
    int rc = SIM_OK;

    if (!f)
        return sim_err_set(err, SIM_EIO, "%s: cannot open: %s", path, strerror(errno));
    while (rc == SIM_OK && fgets(line, sizeof(line), f)) {
        const char *p = imp_skip_ws(line);
        ln++;
        if (!*p || *p == '#' || *p == '\n' || *p == '\r')
            continue;
        if (!(p = imp_parse_dec(p, &pid)) || (*p != ' ' && *p != '\t') ||
            !(p = imp_parse_dec(imp_skip_ws(p), &tgid)) || strspn(p, " \t\r\n") != strlen(p) ||
            pid >= 1ull << 31 || tgid >= 1ull << 31)
            rc = sim_err_set(err, SIM_EPARSE, "%s:%llu: tgid-map: expected \"PID TGID\"", path,
                             (unsigned long long)ln);
        else if (u64map_put(in->pid2tgid, pid, tgid))
            rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
        else
            in->n_map++;
    }
    fclose(f);
    return rc;
}

/* After pass 1: inferred groups and the map into pid2tgid, then the kept set. */
int fi_apply(struct ft_infer *in)
{
    const struct import_opts *o = in->im->o;
    struct u64map *p2t = in->pid2tgid;
    u64 v;
    int rc;

    for (size_t i = 0; i < p2t->cap; i++)
        in->n_column += p2t->k[i] && p2t->k[i] - 1 != p2t->v[i];
    for (size_t i = 0; i < in->share.cap; i++) {
        s64 pid = (s64)in->share.k[i] - 1;
        if (in->share.k[i] && !inf_has_tgid(in, pid) &&
            u64map_put(p2t, (u64)pid, (u64)inf_find(in, pid)))
            return sim_err_set(in->im->err, SIM_ENOMEM, "out of memory");
    }
    if (o->tgid_map && (rc = inf_read_map(in, o->tgid_map)))
        return rc;
    in->filter = o->pid > 0 || o->comm;
    if (o->pid > 0) {
        if (!in->pid_seen)
            return sim_err_set(in->im->err, SIM_EINVAL, "--pid %lld: no event of that task in %s",
                               (long long)o->pid, in->im->in);
        if (u64map_put(&in->kept, u64map_lookup(p2t, (u64)o->pid, &v) ? v : (u64)o->pid, 1))
            return sim_err_set(in->im->err, SIM_ENOMEM, "out of memory");
    }
    if (o->comm && !in->comm_pids.n)
        return sim_err_set(in->im->err, SIM_EINVAL, "--comm %.64s: no task of that name in %s",
                           o->comm, in->im->in);
    for (size_t i = 0; i < in->comm_pids.cap; i++) {
        u64 pid = in->comm_pids.k[i] - 1;
        if (in->comm_pids.k[i] && u64map_put(&in->kept, u64map_lookup(p2t, pid, &v) ? v : pid, 1))
            return sim_err_set(in->im->err, SIM_ENOMEM, "out of memory");
    }
    return SIM_OK;
}

void fi_note(const struct ft_infer *in, size_t nmms)
{
    char *note = in->im->st->note;
    size_t cap = sizeof(in->im->st->note);
    int n = snprintf(note, cap,
                     "%zu address space%s; threads joined to a process by the TGID column %llu, "
                     "task_newtask CLONE_VM %llu, clone() %llu, IPI pairing %llu%s%s%s, "
                     "--tgid-map %llu", nmms, nmms == 1 ? "" : "s",
                     (unsigned long long)in->n_column, (unsigned long long)in->n_newtask,
                     (unsigned long long)in->n_clone, (unsigned long long)in->n_pair,
                     in->n_pair ? " (first: " : "", in->first_pair, in->n_pair ? ")" : "",
                     (unsigned long long)in->n_map);
    if (in->filter && n > 0 && (size_t)n < cap)
        snprintf(note + n, cap - (size_t)n,
                 "; --pid/--comm keep %zu process%s, the other tasks share one placeholder mm",
                 in->kept.n, in->kept.n == 1 ? "" : "es");
}

void fi_init(struct ft_infer *in, struct imp *im, struct u64map *pid2tgid)
{
    memset(in, 0, sizeof(*in));
    in->im = im;
    in->pid2tgid = pid2tgid;
    in->send_pid = -1;
}

bool fi_kept(const struct ft_infer *in, s64 tgid)
{
    u64 v;

    return !in->filter || u64map_lookup(&in->kept, (u64)tgid, &v);
}

void fi_free(struct ft_infer *in)
{
    u64map_free(&in->share);
    u64map_free(&in->clone_flags);
    u64map_free(&in->comm_pids);
    u64map_free(&in->kept);
}
