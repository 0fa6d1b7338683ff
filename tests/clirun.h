/* tests/clirun.h - run the real build/tlbsim from the tests.
 *
 * The end-to-end tests (test_regress.c, test_cli.c) run with cwd = tests/
 * and TLBSIM = ../build/tlbsim (as `make test` does).  Each test gets a
 * private workspace: ROOT/w is the command's working directory, so error
 * messages name short relative paths ("t.jsonl:3: ..."), and the command's
 * stdout and stderr are captured in ROOT/stdout and ROOT/stderr, outside w.
 */
#ifndef TLBSIM_TEST_CLIRUN_H
#define TLBSIM_TEST_CLIRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cli_ws {
    char root[256];                     /* h_tmp_dir() (tests/harness.h) */
    char dir[300];                      /* ROOT/w: the command's cwd */
};

struct cli_res {
    int status;                         /* exit status; 128+N when killed by signal N */
    char out[65536];                    /* stdout (truncated, NUL-terminated) */
    char err[8192];                     /* stderr (truncated, NUL-terminated) */
};

/* Absolute path of $TLBSIM (default ../build/tlbsim); aborts the test when
 * it is not executable. */
const char *cli_bin(void);
/* Absolute path of a file of the repository, given relative to tests/. */
const char *cli_repo(const char *rel, char *buf, size_t len);

void cli_ws_init(struct cli_ws *ws);
void cli_ws_done(struct cli_ws *ws);    /* rm -rf ROOT */
/* ws->dir/name; buf has room for it. */
const char *cli_path(const struct cli_ws *ws, const char *name, char *buf, size_t len);
void cli_write(const struct cli_ws *ws, const char *name, const void *data, size_t n);
void cli_write_str(const struct cli_ws *ws, const char *name, const char *text);
/* Whole file into a malloc'd, NUL-terminated buffer (NULL if unreadable). */
char *cli_slurp(const char *path, size_t *n);
/* The first `lines` lines of traces/default.jsonl (each a whole op, so a
 * valid trace) into ws/NAME. */
void cli_write_default_head(const struct cli_ws *ws, const char *name, unsigned lines);

/* Run tlbsim with argv (argv[0] is the subcommand, NULL-terminated) in
 * ws->dir and wait for it (killed after timeout_s seconds: status 128+14,
 * SIGALRM; 0 = no limit). */
void cli_run(const struct cli_ws *ws, const char *const *argv, unsigned timeout_s,
             struct cli_res *r);
/* cli_run with stdin a pipe fed with the file ws->dir/in_name by another
 * process (so the command cannot seek or stat its input). */
void cli_run_stdin(const struct cli_ws *ws, const char *const *argv, const char *in_name,
                   unsigned timeout_s, struct cli_res *r);
/* Start tlbsim without waiting (own process group); cli_wait collects it. */
pid_t cli_spawn(const struct cli_ws *ws, const char *const *argv);
void cli_wait(const struct cli_ws *ws, pid_t pid, struct cli_res *r);

/* Number of lines of s (a final line without '\n' counts). */
int cli_lines(const char *s);

/* Split s in place at spaces into argv (NULL-terminated, at most max - 1
 * words); returns the number of words. */
int cli_split_args(char *s, const char **argv, int max);
/* The last non-empty line of s (without its newline) into buf. */
const char *cli_last_line(const char *s, char *buf, size_t len);

/* Names in dir, sorted, one per line (skipping . and ..). */
void cli_list_dir(const char *dir, char *buf, size_t len);

#endif
