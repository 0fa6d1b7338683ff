/* tests/harness.c - see harness.h. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../sim/io/model_load.h"

const char *h_tmpfile(const char *text, const char *suffix)
{
    static char path[256];
    int fd;
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/tlbsim-test-XXXXXX%s", suffix);
    fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0)
        return NULL;
    f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void on_flush(void *arg, const struct flush_rec *r)
{
    struct h_run *h = arg;

    if (h->nr_fl < H_MAX_FLUSH)
        h->fl[h->nr_fl++] = *r;
}

static void on_mark(void *arg, cycles_t t, const char *label)
{
    struct h_run *h = arg;

    (void)t;
    if (h->nr_marks < 8)
        snprintf(h->marks[h->nr_marks++], 64, "%s", label);
}

int h_run(struct h_run *h, const char *text, const struct flush_policy *pol,
          const char *const *sets)
{
    return h_run_machine(h, text, pol, NULL, sets);
}

int h_open(struct h_run *h, const char *text, const struct flush_policy *pol,
           const char *machine, const char *const *sets)
{
    struct trace_reader *r;
    struct trace_header hdr;
    const char *p;

    memset(h, 0, sizeof(*h));
    machine_init(&h->m);
    if (machine && (h->rc = model_load(machine, &h->m, &h->err)))
        return h->rc;
    h->m.quantum = 0;
    p = h_tmpfile(text, ".jsonl");
    if (!p)
        return h->rc = SIM_EIO;
    snprintf(h->path, sizeof(h->path), "%s", p);
    if ((h->rc = trace_open(h->path, &r, &hdr, &h->err)))
        return h->rc;
    h->m.cpus = hdr.cpus;
    for (; sets && *sets; sets++) {
        char key[128];
        const char *eq = strchr(*sets, '=');
        const struct machine_key *k;

        snprintf(key, sizeof(key), "%.*s", (int)(eq - *sets), *sets);
        k = machine_key_find(key);
        if (!k || (h->rc = machine_set(&h->m, k, eq + 1, &h->err))) {
            trace_close(r);
            return h->rc ? h->rc : (h->rc = SIM_EINVAL);
        }
    }
    struct sim_config cfg = {
        .m = &h->m, .pol = pol, .src = trace_src(r), .hdr = &hdr, .trace_path = h->path,
        .hooks = { .arg = h, .flush = on_flush, .mark = on_mark },
        .check_invariants = true,
    };
    if ((h->rc = sim_create(&cfg, &h->s, &h->err)))
        trace_close(r);
    return h->rc;
}

int h_run_machine(struct h_run *h, const char *text, const struct flush_policy *pol,
                  const char *machine, const char *const *sets)
{
    if (h_open(h, text, pol, machine, sets))
        return h->rc;
    h->rc = sim_run(h->s, CYCLES_NEVER, &h->err);
    sim_totals(h->s, &h->t);
    return h->rc;
}

void h_done(struct h_run *h)
{
    sim_destroy(h->s);
    h->s = NULL;
    unlink(h->path);
}

static char tmpdir[256];

void h_tmpdir_setup(void)
{
    const char *t = getenv("TMPDIR");

    cr_assert(!tmpdir[0], "h_tmpdir_setup: %s is still in use (one scratch directory per test)",
              tmpdir);
    snprintf(tmpdir, sizeof(tmpdir), "%s/tlbsim-test-XXXXXX", t && *t ? t : "/tmp");
    cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp %s failed", tmpdir);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)f;
    chmod(p, 0700);                     /* a test may have made it read-only */
    return flag == FTW_DP ? rmdir(p) : unlink(p);
}

void h_tmpdir_teardown(void)
{
    if (tmpdir[0])
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    tmpdir[0] = '\0';
}

const char *h_tmp_dir(void)
{
    return tmpdir;
}

const char *h_tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;

    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, name);
    return buf[k];
}
