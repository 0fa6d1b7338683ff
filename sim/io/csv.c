/* sim/io/csv.c - atomic CSV files. */
#include "csv.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int csv_mkdir(const char *dir, struct sim_err *err)
{
    struct stat st;

    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return sim_err_set(err, SIM_EIO, "%s: --out: not a directory", dir);
        if (access(dir, W_OK | X_OK))
            return sim_err_set(err, SIM_EIO, "%s: --out: directory is not writable", dir);
        return SIM_OK;
    }
    /* mkdir -p: every prefix, then DIR itself; an error names DIR. */
    char path[4096];
    size_t n = strlen(dir);

    if (n >= sizeof(path))
        return sim_err_set(err, SIM_EINVAL, "%s: --out: path too long", dir);
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; ; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(path, 0777) && errno != EEXIST)
            return sim_err_set(err, SIM_EIO, "%s: --out: cannot create directory: %s",
                               dir, strerror(errno));
        *p = c;
        if (!c)
            break;
    }
    if (stat(dir, &st) || !S_ISDIR(st.st_mode))
        return sim_err_set(err, SIM_EIO, "%s: --out: cannot create directory: %s",
                           dir, strerror(ENOTDIR));
    return SIM_OK;
}

int csv_open(struct csv_file *c, const char *dir, const char *name, struct sim_err *err)
{
    int n1 = snprintf(c->final, sizeof(c->final), "%s/%s", dir, name);
    int n2 = snprintf(c->tmp, sizeof(c->tmp), "%s/.%s.tmp.%ld", dir, name, (long)getpid());

    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(c->final) || (size_t)n2 >= sizeof(c->tmp))
        return sim_err_set(err, SIM_EINVAL, "%s: --out: path too long", dir);
    c->f = fopen(c->tmp, "w");
    if (!c->f)
        return sim_err_set(err, SIM_EIO, "%s: cannot create: %s", c->tmp, strerror(errno));
    return SIM_OK;
}

int csv_commit(struct csv_file *c, struct sim_err *err)
{
    int bad = ferror(c->f), e = bad ? EIO : 0;

    if (fflush(c->f) || fsync(fileno(c->f))) {
        bad = 1;
        e = errno;
    }
    if (fclose(c->f) && !e) {
        bad = 1;
        e = errno;
    }
    c->f = NULL;
    if (bad) {
        unlink(c->tmp);
        return sim_err_set(err, SIM_EIO, "%s: write failed: %s", c->final, strerror(e));
    }
    if (rename(c->tmp, c->final)) {
        e = errno;
        unlink(c->tmp);
        return sim_err_set(err, SIM_EIO, "%s: cannot rename into place: %s", c->final, strerror(e));
    }
    return SIM_OK;
}

void csv_abort(struct csv_file *c)
{
    if (c->f) {
        fclose(c->f);
        c->f = NULL;
        unlink(c->tmp);
    }
}

void csv_str(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
