/* sim/io/trace.c - trace reader and writer front ends: open, format
 * detection, the bounded input buffer, the output buffer, sticky errors,
 * and the write-to-PATH.tmp-then-rename commit.
 *
 * The formats themselves live in trace_json.c (JSON Lines reader),
 * trace_json_enc.c (JSON Lines encoder) and trace_bin.c (binary form); the
 * semantic checker both share is trace_check.c.
 */
#include "trace_priv.h"
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ===== bounded input buffer ============================================= */

long trace_rd_need(struct trace_rdbuf *b, size_t want, struct sim_err *err)
{
    while (b->end - b->start < want && !b->eof) {
        if (want + 1 > b->max_cap)
            return sim_err_set(err, SIM_ELIMIT, "input record of %zu bytes exceeds "
                               "the reader's limit", want);
        if (b->start > 0) {                     /* keep only unread bytes */
            memmove(b->buf, b->buf + b->start, b->end - b->start);
            b->end -= b->start;
            b->start = 0;
        }
        if (b->cap - 1 - b->end < TRACE_READ_CHUNK / 2 && b->cap < b->max_cap) {
            size_t nc = b->cap * 2;
            if (nc > b->max_cap)
                nc = b->max_cap;
            u8 *nb = realloc(b->buf, nc);
            if (!nb)
                return sim_err_set(err, SIM_ENOMEM, "out of memory");
            b->buf = nb;
            b->cap = nc;
        }
        if (b->cap - 1 == b->end)               /* cannot happen with want < max_cap */
            return sim_err_set(err, SIM_ELIMIT, "input buffer full");
        long n = stream_read(b->st, b->buf + b->end, b->cap - 1 - b->end, err);
        if (n < 0)
            return n;
        if (n == 0)
            b->eof = true;
        b->end += (size_t)n;
        b->total += (u64)n;
    }
    size_t have = b->end - b->start;
    return (long)(have < want ? have : want);
}

/* ===== reader front end ================================================== */

int trace_reader_op_done(struct trace_reader *r, struct trace_op *op, int rc,
                         struct sim_err *err)
{
    if (!rc) {
        op->line = r->line + r->line_base;
        rc = trace_check_op(&r->chk, op, err);
    }
    if (rc) {
        sim_err_prefix(err, "%s:%" PRIu64 ": ", r->path, r->line);
        return rc;
    }
    return 1;
}

int trace_reader_vas(struct trace_reader *r, u32 n)
{
    if (n <= r->vas_cap)
        return SIM_OK;
    u32 nc = r->vas_cap ? r->vas_cap : 64;
    while (nc < n)
        nc *= 2;
    u64 *nv = realloc(r->vas, (size_t)nc * sizeof(*nv));
    if (!nv)
        return SIM_ENOMEM;
    r->vas = nv;
    r->vas_cap = nc;
    return SIM_OK;
}

static int reader_open_fd(struct trace_reader *r, const char *path, struct sim_err *err)
{
    int rc = stream_open(path, "trace file", &r->in.st, err);

    if (rc)
        return rc;
    r->in.cap = TRACE_READ_CHUNK + 1;
    r->in.max_cap = (TRACE_MAX_LINE > TRACE_BIN_MAX_BLOCK ? TRACE_MAX_LINE : TRACE_BIN_MAX_BLOCK)
                    + 64 + TRACE_READ_CHUNK;
    if (!(r->in.buf = malloc(r->in.cap)))
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    return SIM_OK;
}

int trace_open(const char *path, struct trace_reader **out, struct trace_header *hdr,
               struct sim_err *err)
{
    struct sim_err local;
    struct trace_reader *r;
    int rc;

    if (!err)
        err = &local;
    *out = NULL;
    if (!(r = calloc(1, sizeof(*r))) || !(r->path = strdup(stream_display_name(path)))) {
        free(r);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    if ((rc = reader_open_fd(r, path, err)))
        goto fail;
    long n = trace_rd_need(&r->in, 4, err);
    if (n < 0) {
        rc = (int)n;
        sim_err_prefix(err, "%s: ", r->path);
        goto fail;
    }
    if (n == 4 && !memcmp(r->in.buf + r->in.start, TRACE_BIN_MAGIC, 4)) {
        r->fmt = TRACE_FMT_BINARY;
        rc = trace_bin_open(r, err);
    } else {
        r->fmt = TRACE_FMT_JSONL;
        rc = trace_json_read_header(r, err);
    }
    if (rc)
        goto fail;
    if ((rc = trace_check_init(&r->chk, &r->hdr))) {
        sim_err_set(err, rc, "out of memory");
        goto fail;
    }
    if (hdr)
        *hdr = r->hdr;
    *out = r;
    return SIM_OK;
fail:
    trace_close(r);
    return rc;
}

int trace_next(struct trace_reader *r, struct trace_op *op, struct sim_err *err)
{
    int rc;

    if (unlikely(r->sticky)) {
        if (err)
            *err = r->sticky_err;
        return r->sticky;
    }
    if (r->fmt == TRACE_FMT_BINARY)
        rc = trace_bin_next(r, op, &r->sticky_err);
    else
        rc = trace_json_next(r, op, &r->sticky_err);
    if (unlikely(rc < 0)) {
        r->sticky = rc;
        r->sticky_err.code = rc;
        if (err)
            *err = r->sticky_err;
    }
    return rc;
}

enum trace_fmt trace_format(const struct trace_reader *r) { return r->fmt; }
u64 trace_size(const struct trace_reader *r)
{
    return r->in.st ? stream_size(r->in.st) : r->size;
}

u64 trace_bytes_read(const struct trace_reader *r)
{
    if (r->in.st && stream_codec(r->in.st) != STREAM_PLAIN)
        return stream_consumed(r->in.st);       /* compressed bytes, like trace_size */
    return trace_rd_offset(&r->in);
}

static int src_next(void *ctx, struct trace_op *op, struct sim_err *err)
{
    return trace_next(ctx, op, err);
}

static double src_progress(const void *ctx)
{
    const struct trace_reader *r = ctx;

    return r->size ? (double)trace_bytes_read(r) / (double)r->size : 0.0;
}

static void src_close(void *ctx) { trace_close(ctx); }

struct trace_src trace_src(struct trace_reader *r)
{
    return (struct trace_src){ .ctx = r,
                               .next = r->fmt == TRACE_FMT_BINARY ? trace_bin_src_next : src_next,
                               .progress = src_progress, .close = src_close };
}

void trace_close(struct trace_reader *r)
{
    if (!r)
        return;
    if (r->bin)
        trace_bin_free(r);
    stream_close(r->in.st);
    trace_check_free(&r->chk);
    free(r->in.buf);
    free(r->nums.v);
    free(r->nums.pos);
    free(r->vas);
    free(r->path);
    free(r);
}

/* ===== writer: output buffer ============================================= */

int trace_w_flush(struct trace_writer *w, struct sim_err *err)
{
    if (w->failed)
        return w->failed;
    int rc = stream_w_write(w->sw, w->out, w->out_len, err);

    if (rc) {
        w->failed = rc;
        sim_err_prefix(err, "%s: ", w->tmp ? w->tmp : w->path);
        return rc;
    }
    w->out_len = 0;
    return SIM_OK;
}

/* Make room for n more bytes at w->out + w->out_len. */
int trace_w_reserve(struct trace_writer *w, size_t n, struct sim_err *err)
{
    int rc;

    if (w->out_len + n <= w->out_cap)
        return SIM_OK;
    if ((rc = trace_w_flush(w, err)))
        return rc;
    if (n > w->out_cap) {
        u8 *nb = realloc(w->out, n);
        if (!nb)
            return sim_err_set(err, SIM_ENOMEM, "out of memory");
        w->out = nb;
        w->out_cap = n;
    }
    return SIM_OK;
}

int trace_w_append(struct trace_writer *w, const void *p, size_t n, struct sim_err *err)
{
    int rc = trace_w_reserve(w, n, err);

    if (rc)
        return rc;
    memcpy(w->out + w->out_len, p, n);
    w->out_len += n;
    return SIM_OK;
}

/* ===== writer front end ================================================== */

static void writer_free(struct trace_writer *w)
{
    stream_w_free(w->sw);
    if (w->bin)
        trace_bin_writer_free(w);
    trace_check_free(&w->chk);
    free(w->out);
    free(w->path);
    free(w->tmp);
    free(w);
}

int trace_writer_open(const char *path, const struct trace_header *hdr, enum trace_fmt fmt,
                      struct trace_writer **out, struct sim_err *err)
{
    struct trace_writer *w;
    int rc;

    *out = NULL;
    if (fmt != TRACE_FMT_JSONL && fmt != TRACE_FMT_BINARY)
        return sim_err_set(err, SIM_EINVAL, "%s: unknown trace format %d", path, (int)fmt);
    if (!(w = calloc(1, sizeof(*w))))
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    w->fd = -1;
    w->fmt = fmt;
    w->hdr = *hdr;
    if (!w->hdr.version)
        w->hdr.version = 1;
    if (!w->hdr.va_bits)
        w->hdr.va_bits = 48;
    if ((rc = trace_check_header(&w->hdr, err))) {
        sim_err_prefix(err, "%s: header: ", path);
        goto fail;
    }
    bool to_stdout = !strcmp(path, "-");
    w->path = strdup(to_stdout ? "<stdout>" : path);
    w->tmp = to_stdout ? NULL : malloc(strlen(path) + 5);
    w->out_cap = 256u << 10;
    w->out = malloc(w->out_cap);
    if (!w->path || (!to_stdout && !w->tmp) || !w->out || trace_check_init(&w->chk, &w->hdr)) {
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
        goto fail;
    }
    if (to_stdout) {
        w->fd = STDOUT_FILENO;
    } else {
        sprintf(w->tmp, "%s.tmp", path);
        if ((w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
            rc = sim_err_set(err, SIM_EIO, "%s: cannot create: %s", w->tmp, strerror(errno));
            goto fail;
        }
    }
    if ((rc = stream_w_open(w->fd, to_stdout ? STREAM_PLAIN : stream_codec_for_name(path),
                            &w->sw, err)))
        goto fail;
    rc = fmt == TRACE_FMT_BINARY ? trace_bin_write_header(w, err) : trace_json_write_header(w, err);
    if (rc)
        goto fail;
    *out = w;
    return SIM_OK;
fail:
    if (w->fd >= 0 && w->tmp) {
        close(w->fd);
        unlink(w->tmp);
    }
    writer_free(w);
    return rc;
}

int trace_write(struct trace_writer *w, const struct trace_op *op, struct sim_err *err)
{
    int rc;

    if (w->failed)
        return sim_err_set(err, w->failed, "%s: an earlier write failed", w->tmp);
    if ((rc = trace_check_op(&w->chk, op, err))) {
        u64 line = w->nr_ops + (w->fmt == TRACE_FMT_JSONL ? 2 : 1);
        sim_err_prefix(err, "%s:%" PRIu64 ": ", w->path, line);
        return rc;
    }
    rc = w->fmt == TRACE_FMT_BINARY ? trace_bin_write_op(w, op, err) : trace_json_write_op(w, op, err);
    if (rc)
        return rc;
    w->nr_ops++;
    return SIM_OK;
}

int trace_writer_close(struct trace_writer *w, bool commit, struct sim_err *err)
{
    int rc = SIM_OK;

    if (!w)
        return SIM_OK;
    if (commit && !w->failed) {
        if (w->fmt == TRACE_FMT_BINARY)
            rc = trace_bin_write_end(w, err);
        if (!rc)
            rc = trace_w_flush(w, err);
        if (!rc && (rc = stream_w_finish(w->sw, err)))
            sim_err_prefix(err, "%s: ", w->tmp ? w->tmp : w->path);
        if (!w->tmp) {                  /* stdout: nothing to rename */
            writer_free(w);
            return rc;
        }
        if (close(w->fd) < 0 && !rc)
            rc = sim_err_set(err, SIM_EIO, "%s: close: %s", w->tmp, strerror(errno));
        w->fd = -1;
        if (!rc && rename(w->tmp, w->path) < 0)
            rc = sim_err_set(err, SIM_EIO, "%s: cannot rename to %s: %s", w->tmp, w->path,
                             strerror(errno));
        if (rc)
            unlink(w->tmp);
    } else {
        if (commit)
            rc = sim_err_set(err, w->failed, "%s: not written: an earlier write failed",
                             w->path);
        if (w->tmp) {                   /* stdout: what was written stays written */
            close(w->fd);
            unlink(w->tmp);
        }
    }
    writer_free(w);
    return rc;
}

void trace_set_first_line(struct trace_reader *r, u64 line)
{
    r->line_base = line ? line - 1 : 0;
}
