/* sim/io/outdir.c - output directories switched as a whole (outdir.h). */
#include "outdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv.h"

static int path_fmt(char *buf, size_t len, const char *a, const char *b, const char *c)
{
    int n = snprintf(buf, len, "%s/%s%s", a, b, c);

    return n < 0 || (size_t)n >= len ? -1 : 0;
}

void outdir_remove_tree(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    char p[OUTDIR_PATH];

    if (lstat(path, &st))
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    if ((d = opendir(path))) {
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
                !path_fmt(p, sizeof(p), path, de->d_name, ""))
                outdir_remove_tree(p);
        closedir(d);
    }
    rmdir(path);
}

/* N if NAME is ".BASE.N" (N decimal, > 0), else 0. */
static unsigned long gen_number(const struct outdir *od, const char *name)
{
    size_t bl = strlen(od->base);
    char *end;

    if (name[0] != '.' || strncmp(name + 1, od->base, bl) || name[bl + 1] != '.')
        return 0;
    name += bl + 2;
    if (*name < '1' || *name > '9')
        return 0;
    unsigned long n = strtoul(name, &end, 10);
    return *end ? 0 : n;
}

static int split_dir(struct outdir *od, const char *dir, struct sim_err *err)
{
    size_t n = strlen(dir);

    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n >= sizeof(od->dir))
        return sim_err_set(err, SIM_EINVAL, "%s: --out: path too long", dir);
    memcpy(od->dir, dir, n);
    od->dir[n] = 0;
    char *slash = strrchr(od->dir, '/');
    const char *b = slash ? slash + 1 : od->dir;
    if (!*b || !strcmp(b, ".") || !strcmp(b, "..") || strlen(b) >= sizeof(od->base))
        return sim_err_set(err, SIM_EINVAL, "%s: --out: needs a directory name (not / . ..)",
                           dir);
    strcpy(od->base, b);
    if (!slash)
        strcpy(od->parent, ".");
    else if (slash == od->dir)
        strcpy(od->parent, "/");
    else {
        memcpy(od->parent, od->dir, (size_t)(slash - od->dir));
        od->parent[slash - od->dir] = 0;
    }
    return SIM_OK;
}

int outdir_lock(struct outdir *od, const char *dir, struct sim_err *err)
{
    int rc, fd;

    memset(od, 0, sizeof(*od));
    if ((rc = split_dir(od, dir, err)))
        return rc;
    if (csv_mkdir(od->parent, err)) {
        /* name DIR, as a mkdir -p DIR would */
        const char *why = strstr(err->msg, "directory: ");
        return sim_err_set(err, SIM_EIO, "%s: --out: cannot create directory: %s", od->dir,
                           why ? why + 11 : strerror(ENOTDIR));
    }
    struct stat st;
    if (stat(od->dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return sim_err_set(err, SIM_EIO, "%s: --out: not a directory", od->dir);
    if (stat(od->dir, &st) == 0 && access(od->dir, W_OK | X_OK))
        return sim_err_set(err, SIM_EIO, "%s: --out: directory is not writable", od->dir);
    snprintf(od->lock, sizeof(od->lock), "%s/.%s.lock", od->parent, od->base);
    for (int tries = 0; tries < 100; tries++) {
        struct stat a, b;

        if ((fd = open(od->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
            return sim_err_set(err, SIM_EIO, "%s: cannot create lock file: %s", od->lock,
                               strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB)) {
            char buf[32] = "";
            ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
            long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
            close(fd);
            return sim_err_set(err, SIM_EIO,
                               "%s: --out: in use by another tlbsim (pid %ld, lock %s); "
                               "try again when it has finished", od->dir, pid, od->lock);
        }
        /* The holder we raced with may have removed the file meanwhile. */
        if (fstat(fd, &a) == 0 && stat(od->lock, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev) {
            char buf[32];
            int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) || pwrite(fd, buf, (size_t)n, 0) != n) {
                close(fd);
                return sim_err_set(err, SIM_EIO, "%s: cannot write lock file: %s", od->lock,
                                   strerror(errno));
            }
            od->locked = true;
            /* held for the life of the process (and of forked workers) */
            return SIM_OK;
        }
        close(fd);
    }
    return sim_err_set(err, SIM_EIO, "%s: cannot take lock", od->lock);
}

void outdir_unlock(struct outdir *od)
{
    /* The descriptor stays open (closed at exit): unlinking first means a
     * new writer never locks a file that is about to go away unseen. */
    if (od->locked)
        unlink(od->lock);
    od->locked = false;
}

/* The generation DIR links to now (0: DIR absent or a real directory). */
static unsigned long current_gen(const struct outdir *od)
{
    char t[512];
    ssize_t n = readlink(od->dir, t, sizeof(t) - 1);

    if (n <= 0)
        return 0;
    t[n] = 0;
    return gen_number(od, t);
}

/* Move the directories of an unfinished generation STALE that DIR lacks
 * back into DIR (they were carried over before a kill). */
static void move_back(const struct outdir *od, const char *stale)
{
    DIR *d = opendir(stale);
    struct dirent *de;
    struct stat st;
    char from[OUTDIR_PATH], to[OUTDIR_PATH];

    if (!d)
        return;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || path_fmt(from, sizeof(from), stale, de->d_name, "") ||
            path_fmt(to, sizeof(to), od->dir, de->d_name, ""))
            continue;
        if (lstat(from, &st) == 0 && S_ISDIR(st.st_mode) && lstat(to, &st) && errno == ENOENT)
            rename(from, to);
    }
    closedir(d);
}

int outdir_begin(struct outdir *od, struct sim_err *err)
{
    DIR *d = opendir(od->parent);
    struct dirent *de;
    unsigned long max;
    char p[OUTDIR_PATH];
    struct stat st;
    bool have_dir = stat(od->dir, &st) == 0 && S_ISDIR(st.st_mode);

    if (!d)
        return sim_err_set(err, SIM_EIO, "%s: cannot read: %s", od->parent, strerror(errno));
    od->cur = current_gen(od);
    max = od->cur;
    while ((de = readdir(d))) {
        unsigned long g = gen_number(od, de->d_name);
        if (!g || g == od->cur || path_fmt(p, sizeof(p), od->parent, de->d_name, ""))
            continue;
        if (g > max)
            max = g;
        if (g > od->cur && have_dir)
            move_back(od, p);
        outdir_remove_tree(p);
    }
    closedir(d);
    od->next = max + 1;
    snprintf(od->gen, sizeof(od->gen), "%s/.%s.%lu", od->parent, od->base, od->next);
    if (mkdir(od->gen, 0777))
        return sim_err_set(err, SIM_EIO, "%s: cannot create: %s", od->gen, strerror(errno));
    od->begun = true;
    return SIM_OK;
}

static int copy_file(const char *from, const char *to)
{
    char buf[65536];
    ssize_t n = 0;
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;

    if (in >= 0 && (out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666)) >= 0) {
        while ((n = read(in, buf, sizeof(buf))) > 0)
            if (write(out, buf, (size_t)n) != n)
                break;
        rc = n == 0 ? 0 : -1;
    }
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out))
        rc = -1;
    return rc;
}

static bool dropped(const char *name, const char *const *drop, unsigned ndrop)
{
    for (unsigned i = 0; i < ndrop; i++)
        if (!strcmp(name, drop[i]))
            return true;
    /* scratch names of tlbsim itself */
    return !strncmp(name, ".tlbsim-", 8) || (name[0] == '.' && strstr(name, ".tmp."));
}

/* Carry one entry NAME of DIR over into the new generation. */
static int carry(const struct outdir *od, const char *name, struct sim_err *err)
{
    char from[OUTDIR_PATH], to[OUTDIR_PATH], t[OUTDIR_PATH];
    struct stat st;
    ssize_t n;

    if (path_fmt(from, sizeof(from), od->dir, name, "") ||
        path_fmt(to, sizeof(to), od->gen, name, ""))
        return sim_err_set(err, SIM_EINVAL, "%s/%s: path too long", od->dir, name);
    if (lstat(to, &st) == 0 || lstat(from, &st))
        return SIM_OK;                  /* written anew, or gone meanwhile */
    if (S_ISDIR(st.st_mode)) {
        if (rename(from, to))
            return sim_err_set(err, SIM_EIO, "%s: cannot move into %s: %s", from, od->gen,
                               strerror(errno));
    } else if (S_ISREG(st.st_mode)) {
        if (link(from, to) && copy_file(from, to))
            return sim_err_set(err, SIM_EIO, "%s: cannot carry over into %s: %s", from,
                               od->gen, strerror(errno));
    } else if (S_ISLNK(st.st_mode)) {
        if ((n = readlink(from, t, sizeof(t) - 1)) < 0 || (t[n] = 0, symlink(t, to)))
            return sim_err_set(err, SIM_EIO, "%s: cannot carry over into %s: %s", from,
                               od->gen, strerror(errno));
    }
    return SIM_OK;
}

int outdir_commit(struct outdir *od, const char *const *drop, unsigned ndrop,
                  struct sim_err *err)
{
    char lnk[OUTDIR_PATH], target[512], old[OUTDIR_PATH];
    struct stat st;
    DIR *d;
    struct dirent *de;
    int rc = SIM_OK;

    if ((d = opendir(od->dir))) {
        while ((de = readdir(d)) && !rc)
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
                !dropped(de->d_name, drop, ndrop))
                rc = carry(od, de->d_name, err);
        closedir(d);
    }
    if (rc)
        return rc;
    snprintf(target, sizeof(target), ".%s.%lu", od->base, od->next);
    snprintf(lnk, sizeof(lnk), "%s/.%s.lnk", od->parent, od->base);
    unlink(lnk);
    if (symlink(target, lnk))
        return sim_err_set(err, SIM_EIO, "%s: cannot create: %s", lnk, strerror(errno));
    if (lstat(od->dir, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* a real directory: exchange it with the link in one step */
        if (renameat2(AT_FDCWD, lnk, AT_FDCWD, od->dir, RENAME_EXCHANGE) == 0) {
            outdir_remove_tree(lnk);    /* the old directory, now under lnk */
            od->begun = false;
            return SIM_OK;
        }
        snprintf(old, sizeof(old), "%s/.%s.old", od->parent, od->base);
        outdir_remove_tree(old);
        if (rename(od->dir, old)) {
            unlink(lnk);
            return sim_err_set(err, SIM_EIO, "%s: cannot move aside: %s", od->dir,
                               strerror(errno));
        }
        if (rename(lnk, od->dir)) {
            int e = errno;
            rename(old, od->dir);
            unlink(lnk);
            return sim_err_set(err, SIM_EIO, "%s: cannot switch: %s", od->dir, strerror(e));
        }
        outdir_remove_tree(old);
        od->begun = false;
        return SIM_OK;
    }
    if (rename(lnk, od->dir)) {
        int e = errno;
        unlink(lnk);
        return sim_err_set(err, SIM_EIO, "%s: cannot switch: %s", od->dir, strerror(e));
    }
    od->begun = false;
    if (od->cur) {
        snprintf(old, sizeof(old), "%s/.%s.%lu", od->parent, od->base, od->cur);
        outdir_remove_tree(old);
    }
    return SIM_OK;
}

void outdir_abort(struct outdir *od)
{
    struct stat st;

    if (od->begun && stat(od->dir, &st) == 0 && S_ISDIR(st.st_mode))
        move_back(od, od->gen);
    if (od->begun)
        outdir_remove_tree(od->gen);
    od->begun = false;
}
