/* sim/io/import_ftrace_parse.c - the ftrace importer's text layer: one line
 * of trace-cmd report, raw ftrace or perf script into a struct fev, and the
 * field helpers the event handlers use (layouts: import_ftrace.c). */
#include "import_ftrace_priv.h"

#include <stdlib.h>
#include <string.h>

/* ===== Line parsing ====================================================== */

static bool is_digits(const char *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* "SEC[.FRAC]:" -> ns; returns the end (after ':') or NULL. */
static const char *parse_ts(const char *s, u64 *ns)
{
    u64 sec, frac = 0;
    const char *p = imp_parse_dec(s, &sec);
    int nd = 0;

    if (!p || sec > 10000000000ull)                /* ns must fit in a u64 */
        return NULL;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 9)
                frac = frac * 10 + (u64)(*p - '0');
        if (!nd)
            return NULL;
        for (int i = nd < 9 ? nd : 9; i < 9; i++)
            frac *= 10;
    }
    if (*p != ':')
        return NULL;
    *ns = sec * 1000000000ull + frac;
    return p + 1;
}

static bool flags_like(const char *s, size_t n)
{
    if (!n || n > 8)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr(".dDnNhHsSbBpPzZXt0123456789", s[i]))
            return false;
    return true;
}

static void copy_trim(char *dst, size_t cap, const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* The part left of "[CPU]": COMM-PID [(TGID)] or COMM PID[/TID]. */
static bool parse_task_col(const char *s, size_t n, struct fev *e, int *style)
{
    u64 v, w;
    size_t tok;

    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    e->tgid = -1;
    if (n && s[n - 1] == ')') {                 /* ftrace record-tgid column */
        size_t o = n - 1;
        while (o && s[o] != '(')
            o--;
        if (s[o] != '(')
            return false;
        const char *q = imp_skip_ws(s + o + 1);
        if (imp_parse_dec(q, &v))
            e->tgid = (s64)v;
        n = o;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        *style = 1;
    }
    for (tok = n; tok && s[tok - 1] != ' ' && s[tok - 1] != '\t'; tok--)
        ;
    const char *slash = memchr(s + tok, '/', n - tok);
    if (is_digits(s + tok, n - tok) ||
        (slash && is_digits(s + tok, (size_t)(slash - (s + tok))) &&
         is_digits(slash + 1, (size_t)(s + n - slash - 1)))) {
        imp_parse_dec(s + tok, &v);             /* perf: PID or PID/TID */
        if (slash) {
            imp_parse_dec(slash + 1, &w);
            e->tgid = (s64)v;
            v = w;
        }
        e->pid = (s64)v;
        copy_trim(e->comm, sizeof(e->comm), s, tok);
        *style = 2;
        return true;
    }
    size_t dash = n;                            /* ftrace: COMM-PID */
    while (dash && s[dash - 1] != '-')
        dash--;
    if (!dash || !is_digits(s + dash, n - dash))
        return false;
    imp_parse_dec(s + dash, &v);
    e->pid = (s64)v;
    copy_trim(e->comm, sizeof(e->comm), s, dash - 1);
    return true;
}

/* Everything right of "[CPU]".  Returns false if it is not an event. */
static bool parse_event_col(const char *p, struct fev *e, int *style)
{
    const char *q = imp_skip_ws(p), *t;
    size_t n;

    t = parse_ts(q, &e->ns);
    if (!t) {                                   /* latency flags first */
        for (n = 0; q[n] && q[n] != ' ' && q[n] != '\t'; n++)
            ;
        if (!flags_like(q, n) || !(t = parse_ts(imp_skip_ws(q + n), &e->ns)))
            return false;
        *style = *style ? *style : 1;
    }
    q = imp_skip_ws(t);
    for (n = 0; q[n] >= '0' && q[n] <= '9'; n++)  /* perf's period column */
        ;
    if (n && (q[n] == ' ' || q[n] == '\t'))
        q = imp_skip_ws(q + n);
    for (n = 0; q[n] && q[n] != ' ' && q[n] != '(' && !(q[n] == ':' && (q[n + 1] == ' ' || !q[n + 1])); n++)
        ;
    if (!n)
        return false;
    e->raw_sc = 0;
    if (q[n] == '(' && !strncmp(q, "sys_", 4)) {
        e->raw_sc = 1;
        e->body = q + n + 1;
        *style = 1;
    } else if (!strncmp(q + n, " -> ", 4) && !strncmp(q, "sys_", 4)) {
        e->raw_sc = 2;
        e->body = q + n + 4;
        *style = 1;
    } else if (q[n] == ':') {
        e->body = imp_skip_ws(q + n + 1);
    } else {
        return false;
    }
    const char *colon = memchr(q, ':', n);     /* perf: "sched:sched_switch" */
    while (colon && memchr(colon + 1, ':', (size_t)(q + n - colon - 1)))
        colon = memchr(colon + 1, ':', (size_t)(q + n - colon - 1));
    if (colon) {
        n -= (size_t)(colon + 1 - q);
        q = colon + 1;
    }
    copy_trim(e->name, sizeof(e->name), q, n);
    return e->name[0] != '\0';
}

static bool noise_line(const char *s)
{
    const char *p = imp_skip_ws(s);

    return !*p || *p == '#' || !strncmp(p, "cpus=", 5) || !strncmp(p, "version", 7) ||
           !strncmp(p, "CPU", 3) || !strncmp(p, "buffer", 6) || !strncmp(p, "=>", 2) ||
           !strncmp(p, "<stack trace>", 13) || !strncmp(p, "<user stack trace>", 18) ||
           (strstr(p, "LOST") && strstr(p, "EVENTS"));
}

/* 1: an event in *e; 0: a header/comment line; -1: malformed (*why). */
int fl_parse(const char *s, struct fev *e, int *style, const char **why)
{
    for (const char *b = strchr(s, '['); b; b = strchr(b + 1, '[')) {
        size_t n = 0;
        u64 cpu;
        int st = 0;

        while (b[1 + n] >= '0' && b[1 + n] <= '9')
            n++;
        if (!n || n > 4 || b[1 + n] != ']' || b == s)
            continue;
        if (!parse_task_col(s, (size_t)(b - s), e, &st) || !parse_event_col(b + n + 2, e, &st))
            continue;
        imp_parse_dec(b + 1, &cpu);
        e->cpu = (u32)cpu;
        *style = st;
        return 1;
    }
    if (noise_line(s))
        return 0;
    *why = "not an event line (expected COMM-PID [CPU] TIMESTAMP: EVENT: FIELDS)";
    return -1;
}

/* ===== Field helpers ===================================================== */

/* The value of "key" (given with its '='), the key at a word start. */
static const char *kv(const char *body, const char *key)
{
    size_t kl = strlen(key);

    for (const char *p = strstr(body, key); p; p = strstr(p + 1, key))
        if (p == body || p[-1] == ' ')
            return p + kl;
    return NULL;
}

bool kv_dec(const char *body, const char *key, s64 *out)
{
    const char *p = kv(body, key);
    u64 v;
    bool neg = p && *p == '-';

    if (!p || !imp_parse_dec(p + neg, &v))
        return false;
    *out = neg ? -(s64)v : (s64)v;
    return true;
}

bool kv_hex(const char *body, const char *key, u64 *out)
{
    const char *p = kv(body, key);
    return p && imp_parse_hex(p, out);
}

/* Text between key and the next " endkey" (comms may contain spaces). */
static void kv_text(const char *body, const char *key, const char *endkey, char *dst, size_t cap)
{
    const char *p = kv(body, key), *q;

    dst[0] = '\0';
    if (!p)
        return;
    q = endkey ? strstr(p, endkey) : NULL;
    copy_trim(dst, cap, p, q ? (size_t)(q - p) : strcspn(p, " "));
}

/* Syscall arguments "name: value, name: value, ..." (values hex). */
int sc_args(const char *body, u64 *args, int max)
{
    int n = 0;

    for (const char *p = body; n < max; n++) {
        const char *c = strstr(p, ": ");
        if (!c || !(p = imp_parse_hex(c + 2, &args[n])))
            break;
    }
    return n;
}

/* "comm:pid" ending at or before end (plugin layout). */
static bool plugin_task(const char *s, size_t n, s64 *pid, char *comm, size_t cap)
{
    for (size_t i = n; i-- > 0;) {
        if (s[i] != ':')
            continue;
        size_t d = i + 1;
        while (d < n && s[d] >= '0' && s[d] <= '9')
            d++;
        if (d == i + 1 || (d < n && s[d] != ' '))
            continue;
        u64 v;
        imp_parse_dec(s + i + 1, &v);
        *pid = (s64)v;
        copy_trim(comm, cap, s, i);
        return true;
    }
    return false;
}

bool parse_switch(const char *b, s64 *next_pid, char *next_comm, size_t cap)
{
    const char *arrow = strstr(b, " ==> ");

    if (!arrow)
        return false;
    if (kv(b, "next_pid=")) {
        kv_text(b, "next_comm=", " next_pid=", next_comm, cap);
        return kv_dec(b, "next_pid=", next_pid);
    }
    const char *r = arrow + 5;
    const char *br = strstr(r, " [");
    return plugin_task(r, br ? (size_t)(br - r) : strlen(r), next_pid, next_comm, cap);
}
