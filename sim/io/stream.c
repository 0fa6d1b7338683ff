/* sim/io/stream.c - plain, gzip, xz and zstd byte streams (see stream.h).
 *
 * Reader layering: read(2) or pread(2) fills `in` (STREAM_CHUNK bytes of
 * file data); the codec's decoder turns it into the caller's buffer.  The
 * plain codec serves what detection peeked first and then reads straight
 * into the caller's buffer.  Every decoder step goes through the bomb guard.
 */
#include "stream.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define MAGIC_MAX 6

struct stream {
    int fd;                             /* input, -1 when closed */
    bool own_fd;                        /* close fd at the end */
    bool positional;                    /* the stdin spool: pread at `off` */
    bool seekable;                      /* regular file (or spool): rewind works */
    bool in_eof;                        /* the file is exhausted */
    bool finished;                      /* the codec saw the end of its last member */
    enum stream_codec codec;
    u64 off;                            /* positional: next file offset */
    u64 size;                           /* file bytes, 0 if unknown */
    u64 in_read;                        /* file bytes read into `in` */
    u64 in_used;                        /* file bytes consumed by the decoder */
    u64 out_total;                      /* decompressed bytes produced */
    u8 *in;                             /* STREAM_CHUNK bytes */
    size_t in_pos, in_len;              /* unconsumed file bytes: in[in_pos, in_len) */
    int sticky;                         /* first error, returned again after */
    char errmsg[SIM_ERR_MSG];           /* its message */
    z_stream z;                         /* gzip */
    bool z_init;
    lzma_stream x;                      /* xz */
    bool x_init;
    ZSTD_DStream *zd;                   /* zstd */
    size_t zd_last;                     /* last ZSTD_decompressStream result (0: frame done) */
};

static int spool_fd = -1;               /* stream_spool_stdin() copy */
static u64 spool_size;

/* ===== small helpers ===================================================== */

const char *stream_display_name(const char *path)
{
    return strcmp(path, "-") == 0 ? STREAM_STDIN_NAME : path;
}

const char *stream_codec_name(enum stream_codec c)
{
    static const char *const names[] = { "plain", "gzip", "xz", "zstd" };
    return (unsigned)c < ARRAY_SIZE(names) ? names[c] : "?";
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n > k && !strcmp(s + n - k, suf);
}

enum stream_codec stream_codec_for_name(const char *path)
{
    if (has_suffix(path, ".gz"))
        return STREAM_GZIP;
    if (has_suffix(path, ".xz"))
        return STREAM_XZ;
    if (has_suffix(path, ".zst"))
        return STREAM_ZSTD;
    return STREAM_PLAIN;
}

bool stream_expansion_ok(u64 in, u64 out)
{
    if (out <= STREAM_RATIO_FLOOR)
        return true;
    return in >= (out + STREAM_MAX_RATIO - 1) / STREAM_MAX_RATIO;   /* out <= in * ratio */
}

static int fail(struct stream *s, struct sim_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct stream *s, struct sim_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
    va_end(ap);
    s->sticky = code;
    return sim_err_set(err, code, "%s", s->errmsg);
}

/* ===== file input ======================================================== */

static ssize_t raw_read(struct stream *s, void *buf, size_t n)
{
    for (;;) {
        ssize_t k = s->positional ? pread(s->fd, buf, n, (off_t)s->off) : read(s->fd, buf, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k > 0) {
            s->off += (u64)k;
            s->in_read += (u64)k;
        }
        return k;
    }
}

/* Refill `in` once it is consumed.  0 or SIM_EIO. */
static int refill(struct stream *s, struct sim_err *err)
{
    if (s->in_pos < s->in_len || s->in_eof)
        return SIM_OK;
    ssize_t k = raw_read(s, s->in, STREAM_CHUNK);
    if (k < 0)
        return fail(s, err, SIM_EIO, "read error: %s", strerror(errno));
    s->in_pos = 0;
    s->in_len = (size_t)k;
    s->in_eof = k == 0;
    return SIM_OK;
}

/* Read up to MAGIC_MAX bytes (fewer only at EOF) and pick the codec. */
static int detect(struct stream *s, struct sim_err *err)
{
    static const u8 gz[] = { 0x1f, 0x8b }, xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0 },
                    zst[] = { 0x28, 0xb5, 0x2f, 0xfd };

    while (s->in_len < MAGIC_MAX) {
        ssize_t k = raw_read(s, s->in + s->in_len, MAGIC_MAX - s->in_len);
        if (k < 0)
            return fail(s, err, SIM_EIO, "read error: %s", strerror(errno));
        if (k == 0) {
            s->in_eof = true;
            break;
        }
        s->in_len += (size_t)k;
    }
    if (s->in_len >= sizeof(gz) && !memcmp(s->in, gz, sizeof(gz)))
        s->codec = STREAM_GZIP;
    else if (s->in_len >= sizeof(xz) && !memcmp(s->in, xz, sizeof(xz)))
        s->codec = STREAM_XZ;
    else if (s->in_len >= sizeof(zst) && !memcmp(s->in, zst, sizeof(zst)))
        s->codec = STREAM_ZSTD;
    else
        s->codec = STREAM_PLAIN;
    return SIM_OK;
}

/* ===== decoders ========================================================== */

/* The codec's state for a (re)start at the first byte. */
static int decoder_start(struct stream *s, struct sim_err *err)
{
    switch (s->codec) {
    case STREAM_GZIP:
        if (s->z_init)
            return inflateReset(&s->z) == Z_OK ? SIM_OK
                   : fail(s, err, SIM_EINTERNAL, "inflateReset failed");
        if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
            return fail(s, err, SIM_ENOMEM, "out of memory (zlib)");
        s->z_init = true;
        return SIM_OK;
    case STREAM_XZ:
        if (s->x_init)
            lzma_end(&s->x);
        s->x = (lzma_stream)LZMA_STREAM_INIT;
        if (lzma_stream_decoder(&s->x, STREAM_MAX_WINDOW, LZMA_CONCATENATED) != LZMA_OK)
            return fail(s, err, SIM_ENOMEM, "out of memory (liblzma)");
        s->x_init = true;
        return SIM_OK;
    case STREAM_ZSTD:
        if (!s->zd && !(s->zd = ZSTD_createDStream()))
            return fail(s, err, SIM_ENOMEM, "out of memory (libzstd)");
        ZSTD_DCtx_reset(s->zd, ZSTD_reset_session_only);
        if (ZSTD_isError(ZSTD_DCtx_setParameter(s->zd, ZSTD_d_windowLogMax, STREAM_MAX_WINDOW_LOG)))
            return fail(s, err, SIM_EINTERNAL, "libzstd: cannot set the window limit");
        s->zd_last = 1;
        return SIM_OK;
    case STREAM_PLAIN:
        break;
    }
    return SIM_OK;
}

/* One decoder step on in[in_pos, in_len) into buf[0, n).  Sets *used and
 * *made; returns SIM_OK, or an error for corrupt data.  At EOF with no
 * progress possible, the caller decides between the end and truncation. */
static int gz_step(struct stream *s, u8 *buf, size_t n, size_t *used, size_t *made,
                   struct sim_err *err)
{
    size_t avail = s->in_len - s->in_pos;

    if (s->finished) {                  /* a member ended: more input is another member */
        if (!avail)
            return SIM_OK;
        if (inflateReset(&s->z) != Z_OK)
            return fail(s, err, SIM_EINTERNAL, "inflateReset failed");
        s->finished = false;
    }
    s->z.next_in = s->in + s->in_pos;
    s->z.avail_in = (uInt)avail;
    s->z.next_out = buf;
    s->z.avail_out = (uInt)(n > (1u << 30) ? 1u << 30 : n);
    uInt out0 = s->z.avail_out;
    int ret = inflate(&s->z, Z_NO_FLUSH);
    *used = avail - s->z.avail_in;
    *made = out0 - s->z.avail_out;
    if (ret == Z_STREAM_END)
        s->finished = true;
    else if (ret == Z_NEED_DICT || ret == Z_DATA_ERROR)
        return fail(s, err, SIM_EPARSE, "corrupt gzip data: %s",
                    s->z.msg ? s->z.msg : "invalid data");
    else if (ret == Z_MEM_ERROR)
        return fail(s, err, SIM_ENOMEM, "out of memory (zlib)");
    return SIM_OK;                      /* Z_OK, Z_BUF_ERROR: no progress without input */
}

static int xz_step(struct stream *s, u8 *buf, size_t n, size_t *used, size_t *made,
                   struct sim_err *err)
{
    size_t avail = s->in_len - s->in_pos;

    if (s->finished)
        return avail ? fail(s, err, SIM_EPARSE, "corrupt xz data: bytes after the end")
                     : SIM_OK;
    s->x.next_in = s->in + s->in_pos;
    s->x.avail_in = avail;
    s->x.next_out = buf;
    s->x.avail_out = n;
    lzma_ret ret = lzma_code(&s->x, s->in_eof ? LZMA_FINISH : LZMA_RUN);
    *used = avail - s->x.avail_in;
    *made = n - s->x.avail_out;
    switch (ret) {
    case LZMA_OK:
        return SIM_OK;
    case LZMA_STREAM_END:
        s->finished = true;
        return SIM_OK;
    case LZMA_BUF_ERROR:                /* LZMA_FINISH without progress: cut short */
        return s->in_eof && !*made && !*used
               ? fail(s, err, SIM_EPARSE, "truncated xz stream: unexpected end of file")
               : SIM_OK;
    case LZMA_MEM_ERROR:
        return fail(s, err, SIM_ENOMEM, "out of memory (liblzma)");
    case LZMA_MEMLIMIT_ERROR:
        return fail(s, err, SIM_ELIMIT, "xz stream needs more than %llu MiB to decode",
                    (unsigned long long)(STREAM_MAX_WINDOW >> 20));
    case LZMA_FORMAT_ERROR:
        return fail(s, err, SIM_EPARSE, "corrupt xz data: not an xz stream");
    case LZMA_OPTIONS_ERROR:
        return fail(s, err, SIM_EPARSE, "corrupt xz data: unsupported options");
    default:                            /* LZMA_DATA_ERROR, LZMA_GET_CHECK... */
        return fail(s, err, SIM_EPARSE, "corrupt xz data: %s",
                    ret == LZMA_DATA_ERROR ? "compressed data is corrupt" : "integrity check failed");
    }
}

static int zst_step(struct stream *s, u8 *buf, size_t n, size_t *used, size_t *made,
                    struct sim_err *err)
{
    ZSTD_inBuffer ib = { s->in + s->in_pos, s->in_len - s->in_pos, 0 };
    ZSTD_outBuffer ob = { buf, n, 0 };
    size_t ret = ZSTD_decompressStream(s->zd, &ob, &ib);

    *used = ib.pos;
    *made = ob.pos;
    if (ZSTD_isError(ret)) {
        if (ZSTD_getErrorCode(ret) == ZSTD_error_frameParameter_windowTooLarge)
            return fail(s, err, SIM_ELIMIT, "zstd frame needs a window over %llu MiB",
                        (unsigned long long)(STREAM_MAX_WINDOW >> 20));
        return fail(s, err, SIM_EPARSE, "corrupt zstd data: %s", ZSTD_getErrorName(ret));
    }
    if (ib.pos || ob.pos)                /* an idle call at a frame boundary asks for */
        s->zd_last = ret;                /* the next frame's header: not a truncation */
    return SIM_OK;
}

/* Decode into buf until some output, the end, or an error. */
static long decode(struct stream *s, u8 *buf, size_t n, struct sim_err *err)
{
    for (int idle = 0;;) {
        size_t used = 0, made = 0;
        int rc = refill(s, err);

        if (rc)
            return rc;
        if (s->codec == STREAM_GZIP)
            rc = gz_step(s, buf, n, &used, &made, err);
        else if (s->codec == STREAM_XZ)
            rc = xz_step(s, buf, n, &used, &made, err);
        else
            rc = zst_step(s, buf, n, &used, &made, err);
        if (rc)                         /* output of a failing step is not trusted */
            return rc;
        s->in_pos += used;
        s->in_used += used;
        s->out_total += made;
        if (!stream_expansion_ok(s->in_used, s->out_total))
            return fail(s, err, SIM_ELIMIT, "%s data expands more than %llu times "
                        "(decompression bomb?); decompress it yourself if it is genuine",
                        stream_codec_name(s->codec), STREAM_MAX_RATIO);
        if (made)
            return (long)made;
        if (used) {
            idle = 0;
            continue;
        }
        /* No progress: more input, or the end. */
        if (s->in_pos < s->in_len && ++idle > 2)
            return fail(s, err, SIM_EINTERNAL, "%s decoder made no progress",
                        stream_codec_name(s->codec));
        if (!s->in_eof)
            continue;
        bool done = s->codec == STREAM_GZIP ? s->finished
                  : s->codec == STREAM_XZ ? s->finished : s->zd_last == 0;
        if (done)
            return 0;
        if (s->codec == STREAM_XZ && ++idle <= 2)
            continue;                   /* liblzma reports BUF_ERROR on the second call */
        return fail(s, err, SIM_EPARSE, "truncated %s stream: unexpected end of file",
                    stream_codec_name(s->codec));
    }
}

long stream_read(struct stream *s, void *buf, size_t n, struct sim_err *err)
{
    if (s->sticky)
        return sim_err_set(err, s->sticky, "%s", s->errmsg);
    if (!n)
        return 0;
    if (s->codec != STREAM_PLAIN) {
        long k = decode(s, buf, n, err);
        return k;
    }
    if (s->in_pos < s->in_len) {        /* the peeked bytes first */
        size_t k = s->in_len - s->in_pos;
        if (k > n)
            k = n;
        memcpy(buf, s->in + s->in_pos, k);
        s->in_pos += k;
        s->in_used += k;
        s->out_total += k;
        return (long)k;
    }
    if (s->in_eof)
        return 0;
    ssize_t k = raw_read(s, buf, n);
    if (k < 0)
        return fail(s, err, SIM_EIO, "read error: %s", strerror(errno));
    s->in_eof = k == 0;
    s->in_used += (u64)k;
    s->out_total += (u64)k;
    return (long)k;
}

/* ===== open, rewind, close =============================================== */

static int open_fd(struct stream *s, const char *path, const char *what, struct sim_err *err)
{
    struct stat st;
    const char *name = stream_display_name(path);

    if (!strcmp(path, "-") && spool_fd >= 0) {
        s->fd = spool_fd;
        s->positional = s->seekable = true;
        s->size = spool_size;
        return SIM_OK;
    }
    if (!strcmp(path, "-"))
        s->fd = STDIN_FILENO;
    else if ((s->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return sim_err_set(err, SIM_EIO, "%s: cannot open: %s", name, strerror(errno));
    else
        s->own_fd = true;
    if (fstat(s->fd, &st) < 0)
        return sim_err_set(err, SIM_EIO, "%s: cannot stat: %s", name, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return sim_err_set(err, SIM_EIO, "%s: is a directory, not a %s", name, what);
    if (S_ISREG(st.st_mode)) {
        s->size = (u64)st.st_size;
        s->seekable = lseek(s->fd, 0, SEEK_CUR) == 0;
    }
    return SIM_OK;
}

int stream_open(const char *path, const char *what, struct stream **out, struct sim_err *err)
{
    struct stream *s = calloc(1, sizeof(*s));
    int rc;

    *out = NULL;
    if (!s || !(s->in = malloc(STREAM_CHUNK))) {
        free(s);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    s->fd = -1;
    if ((rc = open_fd(s, path, what, err)))
        goto fail;
    if ((rc = detect(s, err)) || (rc = decoder_start(s, err))) {
        sim_err_prefix(err, "%s: ", stream_display_name(path));
        goto fail;
    }
    *out = s;
    return SIM_OK;
fail:
    stream_close(s);
    return rc;
}

int stream_rewind(struct stream *s, struct sim_err *err)
{
    if (!s->seekable)
        return sim_err_set(err, SIM_EIO, "cannot read twice: not a regular file");
    if (!s->positional && lseek(s->fd, 0, SEEK_SET) != 0)
        return sim_err_set(err, SIM_EIO, "cannot rewind: %s", strerror(errno));
    s->off = s->in_read = s->in_used = s->out_total = 0;
    s->in_pos = s->in_len = 0;
    s->in_eof = s->finished = false;
    s->sticky = 0;
    s->errmsg[0] = 0;
    int rc = detect(s, err);
    return rc ? rc : decoder_start(s, err);
}

enum stream_codec stream_codec(const struct stream *s) { return s->codec; }
u64 stream_size(const struct stream *s) { return s->size; }
u64 stream_consumed(const struct stream *s) { return s->in_used; }
const char *stream_last_error(const struct stream *s) { return s->errmsg; }

void stream_close(struct stream *s)
{
    if (!s)
        return;
    if (s->own_fd && s->fd >= 0)
        close(s->fd);
    if (s->z_init)
        inflateEnd(&s->z);
    if (s->x_init)
        lzma_end(&s->x);
    ZSTD_freeDStream(s->zd);
    free(s->in);
    free(s);
}

/* ===== FILE wrapper ====================================================== */

static ssize_t cookie_read(void *c, char *buf, size_t n)
{
    long k = stream_read(c, buf, n, NULL);

    if (k < 0) {
        errno = EIO;
        return -1;
    }
    return k;
}

static int cookie_seek(void *c, off64_t *pos, int whence)
{
    if (whence != SEEK_SET || *pos != 0 || stream_rewind(c, NULL)) {
        errno = ESPIPE;
        return -1;
    }
    return 0;
}

static int cookie_close(void *c)
{
    stream_close(c);
    return 0;
}

FILE *stream_fopen(const char *path, const char *what, struct stream **sp,
                   struct sim_err *err)
{
    static const cookie_io_functions_t io = {
        .read = cookie_read, .seek = cookie_seek, .close = cookie_close,
    };
    struct stream *s;
    FILE *f;

    if (stream_open(path, what, &s, err))
        return NULL;
    if (!(f = fopencookie(s, "rb", io))) {
        stream_close(s);
        sim_err_set(err, SIM_ENOMEM, "out of memory");
        return NULL;
    }
    if (sp)
        *sp = s;
    return f;
}

/* ===== stdin spool ======================================================= */

int stream_spool_stdin(const char *dir, struct sim_err *err)
{
    char path[4096];
    u8 *buf;
    int fd;

    if (spool_fd >= 0)
        return SIM_OK;
    if (!dir && !(dir = getenv("TMPDIR")))
        dir = "/tmp";
    if (snprintf(path, sizeof(path), "%s/.tlbsim-stdin.XXXXXX", dir) >= (int)sizeof(path))
        return sim_err_set(err, SIM_EINVAL, "%s: cannot spool stdin: path too long", dir);
    if ((fd = mkstemp(path)) < 0)
        return sim_err_set(err, SIM_EIO, "%s: cannot spool stdin: %s", dir, strerror(errno));
    unlink(path);                       /* gone when the last reader closes */
    if (!(buf = malloc(STREAM_CHUNK))) {
        close(fd);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    u64 total = 0;
    for (;;) {
        ssize_t k = read(STDIN_FILENO, buf, STREAM_CHUNK);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            sim_err_set(err, SIM_EIO, "%s: read error: %s", STREAM_STDIN_NAME, strerror(errno));
            goto fail;
        }
        if (k == 0)
            break;
        for (ssize_t off = 0; off < k; ) {
            ssize_t w = write(fd, buf + off, (size_t)(k - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                sim_err_set(err, SIM_EIO, "%s: cannot spool stdin: %s", dir,
                            w < 0 ? strerror(errno) : "short write");
                goto fail;
            }
            off += w;
        }
        total += (u64)k;
    }
    free(buf);
    spool_fd = fd;
    spool_size = total;
    return SIM_OK;
fail:
    free(buf);
    close(fd);
    return err ? err->code : SIM_EIO;
}

/* ===== writer ============================================================ */

struct stream_w {
    int fd;                             /* output (not owned) */
    enum stream_codec codec;
    u8 *out;                            /* STREAM_CHUNK bytes of compressed output */
    z_stream z;
    bool z_init;
    lzma_stream x;
    bool x_init;
    ZSTD_CStream *zc;
};

static int w_raw(struct stream_w *w, const u8 *p, size_t n, struct sim_err *err)
{
    while (n) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return sim_err_set(err, SIM_EIO, "write error: %s",
                               k < 0 ? strerror(errno) : "short write");
        p += k;
        n -= (size_t)k;
    }
    return SIM_OK;
}

int stream_w_open(int fd, enum stream_codec c, struct stream_w **out, struct sim_err *err)
{
    struct stream_w *w = calloc(1, sizeof(*w));

    *out = NULL;
    if (!w || (c != STREAM_PLAIN && !(w->out = malloc(STREAM_CHUNK))))
        goto nomem;
    w->fd = fd;
    w->codec = c;
    if (c == STREAM_GZIP) {
        if (deflateInit2(&w->z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            goto nomem;
        w->z_init = true;
    } else if (c == STREAM_XZ) {
        w->x = (lzma_stream)LZMA_STREAM_INIT;
        if (lzma_easy_encoder(&w->x, 6, LZMA_CHECK_CRC64) != LZMA_OK)
            goto nomem;
        w->x_init = true;
    } else if (c == STREAM_ZSTD) {
        if (!(w->zc = ZSTD_createCStream()) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, 3)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag, 1)))
            goto nomem;
    }
    *out = w;
    return SIM_OK;
nomem:
    stream_w_free(w);
    return sim_err_set(err, SIM_ENOMEM, "out of memory (compressor)");
}

/* Feed p[0, n) to the compressor (finish: and end the stream), writing
 * every full output buffer. */
static int w_code(struct stream_w *w, const u8 *p, size_t n, bool finish, struct sim_err *err)
{
    for (;;) {
        size_t made, used;
        bool more;
        int rc;

        if (w->codec == STREAM_GZIP) {
            w->z.next_in = (u8 *)p;
            w->z.avail_in = (uInt)n;
            w->z.next_out = w->out;
            w->z.avail_out = STREAM_CHUNK;
            int ret = deflate(&w->z, finish ? Z_FINISH : Z_NO_FLUSH);
            if (ret == Z_STREAM_ERROR)
                return sim_err_set(err, SIM_EINTERNAL, "zlib: deflate failed");
            used = n - w->z.avail_in;
            made = STREAM_CHUNK - w->z.avail_out;
            more = finish ? ret != Z_STREAM_END : w->z.avail_out == 0;
        } else if (w->codec == STREAM_XZ) {
            w->x.next_in = p;
            w->x.avail_in = n;
            w->x.next_out = w->out;
            w->x.avail_out = STREAM_CHUNK;
            lzma_ret ret = lzma_code(&w->x, finish ? LZMA_FINISH : LZMA_RUN);
            if (ret != LZMA_OK && ret != LZMA_STREAM_END)
                return sim_err_set(err, ret == LZMA_MEM_ERROR ? SIM_ENOMEM : SIM_EINTERNAL,
                                   "liblzma: encoder error %d", (int)ret);
            used = n - w->x.avail_in;
            made = STREAM_CHUNK - w->x.avail_out;
            more = finish ? ret != LZMA_STREAM_END : w->x.avail_out == 0;
        } else {
            ZSTD_inBuffer ib = { p, n, 0 };
            ZSTD_outBuffer ob = { w->out, STREAM_CHUNK, 0 };
            size_t ret = ZSTD_compressStream2(w->zc, &ob, &ib, finish ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(ret))
                return sim_err_set(err, SIM_EINTERNAL, "libzstd: %s", ZSTD_getErrorName(ret));
            used = ib.pos;
            made = ob.pos;
            more = finish ? ret != 0 : ob.pos == ob.size;
        }
        if (made && (rc = w_raw(w, w->out, made, err)))
            return rc;
        if (used) {                     /* p is NULL when finishing */
            p += used;
            n -= used;
        }
        if (!n && !more)
            return SIM_OK;
    }
}

int stream_w_write(struct stream_w *w, const void *p, size_t n, struct sim_err *err)
{
    if (w->codec == STREAM_PLAIN)
        return w_raw(w, p, n, err);
    return n ? w_code(w, p, n, false, err) : SIM_OK;
}

int stream_w_finish(struct stream_w *w, struct sim_err *err)
{
    return w->codec == STREAM_PLAIN ? SIM_OK : w_code(w, NULL, 0, true, err);
}

void stream_w_free(struct stream_w *w)
{
    if (!w)
        return;
    if (w->z_init)
        deflateEnd(&w->z);
    if (w->x_init)
        lzma_end(&w->x);
    ZSTD_freeCStream(w->zc);
    free(w->out);
    free(w);
}
