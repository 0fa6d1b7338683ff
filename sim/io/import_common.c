/* sim/io/import_common.c - import_file(): options, line reading, skips, output. */
#include "import_priv.h"
#include "stream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ===== Lines ============================================================= */

/* "IN:LINE: corrupt gzip data: ..." (the line being read). */
int imp_read_error(struct imp *im)
{
    const char *why = im->in_st ? stream_last_error(im->in_st) : "";
    int code = SIM_EIO;

    if (!strncmp(why, "corrupt", 7) || !strncmp(why, "truncated", 9))
        code = SIM_EPARSE;
    else if (strstr(why, "bomb"))
        code = SIM_ELIMIT;
    return sim_err_set(im->err, code, "%s:%llu: %s", im->in, (unsigned long long)im->line + 1,
                       why[0] ? why : "read error");
}

int imp_getline(struct imp *im)
{
    for (;;) {
        int c = 0;
        size_t n = 0;

        if (!fgets(im->buf, IMPORT_MAX_LINE + 2, im->f))
            return ferror(im->f) ? imp_read_error(im) : 0;
        im->line++;
        im->st->lines += !im->quiet;
        n = strlen(im->buf);
        if (n && im->buf[n - 1] == '\n') {
            im->buf[--n] = '\0';
        } else if (n > IMPORT_MAX_LINE) {
            while ((c = fgetc(im->f)) != EOF && c != '\n')
                ;
            int rc = imp_skip(im, "line longer than %u bytes", IMPORT_MAX_LINE);
            if (rc)
                return rc;
            continue;
        }
        if (n && im->buf[n - 1] == '\r')
            im->buf[--n] = '\0';
        im->len = n;
        return 1;
    }
}

int imp_rewind(struct imp *im, bool quiet)
{
    if (fseek(im->f, 0, SEEK_SET) != 0) {
        const char *why = im->in_st ? stream_last_error(im->in_st) : "";
        return sim_err_set(im->err, SIM_EIO, "%s: cannot read twice%s%s", im->in,
                           why[0] ? ": " : " (not a regular file?)", why);
    }
    im->line = 0;
    im->quiet = quiet;
    return SIM_OK;
}

int imp_skip(struct imp *im, const char *fmt, ...)
{
    char reason[IMPORT_REASON_MAX];
    struct import_stats *st = im->st;
    va_list ap;

    if (im->quiet)
        return SIM_OK;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    st->skipped++;
    if (st->nr_first < IMPORT_SKIP_REPORT) {
        st->first[st->nr_first].line = im->line;
        memcpy(st->first[st->nr_first].reason, reason, sizeof(reason));
        st->nr_first++;
    }
    if (im->o->strict)
        return sim_err_set(im->err, SIM_EPARSE, "%s:%llu: %s", im->in,
                           (unsigned long long)im->line, reason);
    return SIM_OK;
}

/* ===== Output ============================================================ */

int imp_open_out(struct imp *im, u32 cpus, const char *name, const char *source)
{
    struct trace_header hdr;

    memset(&hdr, 0, sizeof(hdr));
    hdr.version = 1;
    hdr.cpus = cpus;
    snprintf(hdr.name, sizeof(hdr.name), "%s", name);
    snprintf(hdr.source, sizeof(hdr.source), "%s", source);
    im->st->cpus = cpus;
    return trace_writer_open(im->out, &hdr, TRACE_FMT_JSONL, &im->w, im->err);
}

int imp_emit(struct imp *im, const struct trace_op *op)
{
    struct sim_err werr = { 0, "" };
    int rc = trace_write(im->w, op, &werr);

    if (rc == SIM_OK) {
        im->st->ops++;
        return 0;
    }
    if (rc == SIM_EPARSE || rc == SIM_ELIMIT || rc == SIM_EINVAL || rc == SIM_ERANGE) {
        rc = imp_skip(im, "%s op refused: %.60s", trace_op_name(op->type), werr.msg);
        return rc ? rc : 1;
    }
    if (im->err) {
        im->err->code = rc;
        memcpy(im->err->msg, werr.msg, sizeof(werr.msg));
    }
    return rc;
}

int imp_emit_must(struct imp *im, const struct trace_op *op)
{
    int rc = imp_emit(im, op);

    if (rc == 1)
        return sim_err_set(im->err, SIM_EINTERNAL, "%s:%llu: %s op refused by the writer",
                           im->in, (unsigned long long)im->line, trace_op_name(op->type));
    return rc;
}

/* ===== Parsing helpers =================================================== */

const char *imp_skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

const char *imp_parse_hex(const char *s, u64 *v)
{
    u64 x = 0;
    int nd = 0;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    for (;; s++, nd++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (*s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else if (*s >= 'A' && *s <= 'F')
            d = (unsigned)(*s - 'A' + 10);
        else
            break;
        if (x >> 60)
            return NULL;
        x = x << 4 | d;
    }
    if (!nd)
        return NULL;
    *v = x;
    return s;
}

const char *imp_parse_dec(const char *s, u64 *v)
{
    u64 x = 0;
    int nd = 0;

    for (; *s >= '0' && *s <= '9'; s++, nd++) {
        u64 d = (u64)(*s - '0');
        if (x > (UINT64_MAX - d) / 10)
            return NULL;
        x = x * 10 + d;
    }
    if (!nd)
        return NULL;
    *v = x;
    return s;
}

u8 imp_prot_of(u64 p)
{
    bool w = p & 2, x = p & 4;

    if (x)
        return (u8)(PROT_R | PROT_X | (w ? PROT_W : 0));
    return (u8)(PROT_R | (w ? PROT_W : 0));
}

bool imp_madvise_zaps(u64 adv)
{
    return adv == 4 || adv == 8 || adv == 9 || adv == 21 || adv == 24;
}

const char *imp_basename(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* ===== Entry points ====================================================== */

int import_file(const char *format, const char *in, const char *out,
                const struct import_opts *o, struct import_stats *st,
                struct sim_err *err)
{
    static const struct import_opts defaults = { .strict = false };
    struct import_stats local;
    struct imp im;
    int (*fn)(struct imp *);
    int rc;

    if (!st)
        st = &local;
    memset(st, 0, sizeof(*st));
    if (!o)
        o = &defaults;
    if (!strcmp(format, "ftrace"))
        fn = import_ftrace;
    else if (!strcmp(format, "lackey"))
        fn = import_lackey;
    else if (!strcmp(format, "champsim"))
        fn = import_champsim;
    else
        return sim_err_set(err, SIM_EINVAL, "import: unknown format \"%.32s\" (ftrace, lackey, champsim)",
                           format);
    if (fn != import_ftrace && (o->pid || o->comm || o->tgid_map))
        return sim_err_set(err, SIM_EINVAL, "--pid, --comm and --tgid-map are for ftrace recordings");
    if (o->freq_mhz > 100000)
        return sim_err_set(err, SIM_EINVAL, "--freq-mhz: %u is out of range [1, 100000]", o->freq_mhz);
    if (o->cpus > 1024)
        return sim_err_set(err, SIM_EINVAL, "--cpus: %u is out of range [1, 1024]", o->cpus);

    memset(&im, 0, sizeof(im));
    im.in = stream_display_name(in);
    im.out = out;
    im.o = o;
    im.freq_mhz = o->freq_mhz ? o->freq_mhz : IMPORT_DEFAULT_FREQ;
    im.st = st;
    im.err = err;
    /* The importers read their input twice (imp_rewind): a pipe is copied first. */
    if (!strcmp(in, "-") && (rc = stream_spool_stdin(NULL, err)))
        return rc;
    if (!(im.f = stream_fopen(in, "recording", &im.in_st, err)))
        return err ? err->code : SIM_EIO;
    im.buf = malloc(IMPORT_MAX_LINE + 2);
    if (!im.buf) {
        fclose(im.f);
        return sim_err_set(err, SIM_ENOMEM, "%s: out of memory", in);
    }
    rc = fn(&im);
    if (im.w) {
        int rc2 = trace_writer_close(im.w, rc == SIM_OK, rc == SIM_OK ? err : NULL);
        if (rc == SIM_OK)
            rc = rc2;
    }
    free(im.buf);
    fclose(im.f);
    return rc;
}

void import_stats_print(const struct import_stats *st, const char *in, FILE *f)
{
    fprintf(f, "%s: %llu lines, %llu events, %llu ignored, %llu ops written",
            in, (unsigned long long)st->lines, (unsigned long long)st->events,
            (unsigned long long)st->ignored, (unsigned long long)st->ops);
    if (st->skipped) {
        fprintf(f, "; %llu lines skipped (first:", (unsigned long long)st->skipped);
        for (u32 i = 0; i < st->nr_first; i++)
            fprintf(f, "%s %s:%llu: %s", i ? ";" : "", in,
                    (unsigned long long)st->first[i].line, st->first[i].reason);
        fputc(')', f);
    }
    fputc('\n', f);
    if (st->note[0])
        fprintf(f, "%s: %s\n", in, st->note);
}

