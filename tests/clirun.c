/* tests/clirun.c - see clirun.h. */
#include "clirun.h"
#include "harness.h"

#include <dirent.h>
#include <errno.h>

#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Under `make asan` LeakSanitizer checks the test runner too, and
 * Criterion's runner leaks one 48-byte block of its own at exit, which
 * would fail every run.  The suppression names only Criterion's library;
 * leaks in our code (the tests run in worker processes, tlbsim in its own)
 * are still reported. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libcriterion.so\n";
}

const char *cli_bin(void)
{
    static char path[PATH_MAX];
    const char *t = getenv("TLBSIM");

    if (!path[0] && !realpath(t ? t : "../build/tlbsim", path))
        cr_assert_fail("TLBSIM=%s: not found (run from tests/ after `make`)",
                 t ? t : "../build/tlbsim");
    if (access(path, X_OK))
        cr_assert_fail("%s: not executable", path);
    return path;
}

const char *cli_repo(const char *rel, char *buf, size_t len)
{
    char tmp[PATH_MAX + 8];

    snprintf(tmp, sizeof(tmp), "../%s", rel);
    if (!realpath(tmp, buf) || strlen(buf) >= len)
        cr_assert_fail("%s: not found (tests run with cwd = tests/)", tmp);
    return buf;
}

void cli_ws_init(struct cli_ws *ws)
{
    h_tmpdir_setup();
    snprintf(ws->root, sizeof(ws->root), "%s", h_tmp_dir());
    snprintf(ws->dir, sizeof(ws->dir), "%s/w", ws->root);
    if (mkdir(ws->dir, 0755))
        cr_assert_fail("mkdir %s failed", ws->dir);
}

void cli_ws_done(struct cli_ws *ws)
{
    if (ws->root[0])
        h_tmpdir_teardown();
    ws->root[0] = 0;
}

const char *cli_path(const struct cli_ws *ws, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", ws->dir, name);
    return buf;
}

void cli_write(const struct cli_ws *ws, const char *name, const void *data, size_t n)
{
    char p[PATH_MAX];
    FILE *f = fopen(cli_path(ws, name, p, sizeof(p)), "wb");

    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f))
        cr_assert_fail("cannot write %s", p);
}

void cli_write_str(const struct cli_ws *ws, const char *name, const char *text)
{
    cli_write(ws, name, text, strlen(text));
}

char *cli_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, len = 0, k;

    if (!f)
        return NULL;
    do {
        if (len + 65536 + 1 > cap) {
            cap = (len + 65536 + 1) * 2;
            buf = realloc(buf, cap);
            if (!buf)
                cr_assert_fail("out of memory");
        }
        k = fread(buf + len, 1, 65536, f);
        len += k;
    } while (k > 0);
    fclose(f);
    buf[len] = 0;
    if (n)
        *n = len;
    return buf;
}

static void exec_tlbsim(const struct cli_ws *ws, const char *const *argv, unsigned timeout_s)
{
    char out[PATH_MAX], err[PATH_MAX];
    const char *args[1024] = { cli_bin() };
    size_t i;
    int fd;

    for (i = 0; argv[i] && i < 1022; i++)
        args[i + 1] = argv[i];
    args[i + 1] = NULL;
    snprintf(out, sizeof(out), "%s/stdout", ws->root);
    snprintf(err, sizeof(err), "%s/stderr", ws->root);
    if (chdir(ws->dir))
        _exit(126);
    if ((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 || dup2(fd, 1) < 0)
        _exit(126);
    close(fd);
    if ((fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 || dup2(fd, 2) < 0)
        _exit(126);
    close(fd);
    if (timeout_s)
        alarm(timeout_s);               /* survives exec: a hang is killed by SIGALRM */
    execv(args[0], (char *const *)args);
    _exit(127);
}

pid_t cli_spawn(const struct cli_ws *ws, const char *const *argv)
{
    pid_t pid = fork();

    if (pid < 0)
        cr_assert_fail("fork failed");
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        exec_tlbsim(ws, argv, 600);
    }
    setpgid(pid, pid);
    return pid;
}

static void read_capture(const struct cli_ws *ws, const char *name, char *buf, size_t len)
{
    char p[PATH_MAX];
    char *s;

    snprintf(p, sizeof(p), "%s/%s", ws->root, name);
    s = cli_slurp(p, NULL);
    snprintf(buf, len, "%s", s ? s : "");
    free(s);
}

void cli_wait(const struct cli_ws *ws, pid_t pid, struct cli_res *r)
{
    int st;

    while (waitpid(pid, &st, 0) < 0)
        ;
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    read_capture(ws, "stdout", r->out, sizeof(r->out));
    read_capture(ws, "stderr", r->err, sizeof(r->err));
}

void cli_run(const struct cli_ws *ws, const char *const *argv, unsigned timeout_s,
             struct cli_res *r)
{
    pid_t pid = fork();

    if (pid < 0)
        cr_assert_fail("fork failed");
    if (pid == 0)
        exec_tlbsim(ws, argv, timeout_s);
    cli_wait(ws, pid, r);
}

void cli_run_stdin(const struct cli_ws *ws, const char *const *argv, const char *in_name,
                   unsigned timeout_s, struct cli_res *r)
{
    char in[PATH_MAX];
    int fds[2];
    pid_t feeder, pid;

    cli_path(ws, in_name, in, sizeof(in));
    if (pipe(fds))
        cr_assert_fail("pipe failed");
    if ((feeder = fork()) < 0)
        cr_assert_fail("fork failed");
    if (feeder == 0) {                  /* cat IN >pipe */
        char buf[65536];
        ssize_t n;
        int fd = open(in, O_RDONLY);
        close(fds[0]);
        signal(SIGPIPE, SIG_DFL);
        if (fd < 0)
            _exit(126);
        while ((n = read(fd, buf, sizeof(buf))) > 0)
            if (write(fds[1], buf, (size_t)n) != n)
                _exit(1);
        _exit(0);
    }
    if ((pid = fork()) < 0)
        cr_assert_fail("fork failed");
    if (pid == 0) {
        close(fds[1]);
        if (dup2(fds[0], 0) < 0)
            _exit(126);
        close(fds[0]);
        exec_tlbsim(ws, argv, timeout_s);
    }
    close(fds[0]);
    close(fds[1]);
    cli_wait(ws, pid, r);
    while (waitpid(feeder, NULL, 0) < 0 && errno == EINTR)
        ;
}

int cli_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        if (*s == '\n' || !s[1])
            n++;
    return n;
}

void cli_list_dir(const char *dir, char *buf, size_t len)
{
    struct dirent **de;
    int n = scandir(dir, &de, NULL, alphasort);

    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(de[i]->d_name, ".") && strcmp(de[i]->d_name, ".."))
            snprintf(buf + strlen(buf), len - strlen(buf), "%s\n", de[i]->d_name);
        free(de[i]);
    }
    free(de);
}

void cli_write_default_head(const struct cli_ws *ws, const char *name, unsigned lines)
{
    char p[PATH_MAX];
    size_t n, k = 0;
    char *s = cli_slurp(cli_repo("traces/default.jsonl", p, sizeof(p)), &n);

    cr_assert(s, "cannot read traces/default.jsonl");
    for (unsigned i = 0; i < lines && k < n; k++)
        i += s[k] == '\n';
    cli_write(ws, name, s, k);
    free(s);
}

int cli_split_args(char *s, const char **argv, int max)
{
    int n = 0;

    for (char *tok = strtok(s, " "); tok && n < max - 1; tok = strtok(NULL, " "))
        argv[n++] = tok;
    argv[n] = NULL;
    return n;
}

const char *cli_last_line(const char *s, char *buf, size_t len)
{
    const char *end = s + strlen(s), *b;

    while (end > s && end[-1] == '\n')
        end--;
    for (b = end; b > s && b[-1] != '\n'; b--)
        ;
    snprintf(buf, len, "%.*s", (int)(end - b), b);
    return buf;
}
