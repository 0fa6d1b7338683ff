/* tests/fuzz/fuzz_stream.c - the compressed readers (sim/io/stream.c).
 *
 * Input: the bytes of a file, usually gzip, xz or zstd data (the seeds), so
 * the mutations reach the codec detection, multi-member/stream/frame
 * handling, truncation and corruption paths and the bomb guard.  Checks:
 *   1. stream_read() in chunk sizes chosen by the input ends in 0 or an
 *      error with a message, never both data and a silent stop;
 *   2. two reads with different chunk sizes give the same result and the
 *      same bytes (on an error, one a prefix of the other);
 *   3. through the FILE wrapper, a second pass after fseek(f, 0, SEEK_SET)
 *      gives the bytes of the first (the rewind the importers use);
 *   4. what decoded without error, re-compressed with the detected codec,
 *      decodes to the same bytes (gzip and zstd: the xz encoder's 94 MiB
 *      of state per call would make each run take most of a second);
 *   5. the trace reader over the same file (every op to the end or an error
 *      with a message).
 * Output is read up to FZ_MAX_OUT bytes per pass.
 */
#include "fuzz_common.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../sim/io/stream.h"

#define FZ_MAX_OUT (1u << 20)

/* Read path with chunks of `chunk` bytes into a malloc'd buffer: returns
 * the stream's last result (0 or a SIM_E* code), and the bytes in *out
 * (*n of them). */
static long read_all(const char *path, size_t chunk, u8 **out, size_t *n)
{
    struct sim_err err = { 0 };
    struct stream *s;
    u8 *buf = malloc(FZ_MAX_OUT + 1);
    size_t len = 0;
    long k = 0;

    *out = buf;
    *n = 0;
    if (!buf)
        abort();
    if (stream_open(path, "file", &s, &err)) {
        if (!err.msg[0])
            fz_fail("stream_open failed without a message");
        return err.code ? err.code : -1;
    }
    while (len < FZ_MAX_OUT) {
        size_t want = chunk < FZ_MAX_OUT - len ? chunk : FZ_MAX_OUT - len;
        k = stream_read(s, buf + len, want, &err);
        if (k <= 0)
            break;
        if ((size_t)k > want)
            fz_fail("stream_read returned %ld bytes for a %zu-byte buffer", k, want);
        len += (size_t)k;
    }
    if (k < 0 && !err.msg[0])
        fz_fail("stream_read failed without a message");
    if (k < 0 && stream_read(s, buf, 1, NULL) != k)
        fz_fail("stream error is not sticky");
    stream_close(s);
    *n = len;
    return k < 0 ? k : 0;
}

/* Two passes through the FILE wrapper must agree. */
static void file_passes(const char *path)
{
    struct sim_err err = { 0 };
    static char a[FZ_MAX_OUT / 4], b[FZ_MAX_OUT / 4];
    FILE *f = stream_fopen(path, "file", NULL, &err);
    size_t na, nb;

    if (!f)
        return;
    na = fread(a, 1, sizeof(a), f);
    bool bad_a = ferror(f);
    if (fseek(f, 0, SEEK_SET) != 0)
        fz_fail("rewind of a regular file failed");
    nb = fread(b, 1, sizeof(b), f);
    bool bad_b = ferror(f);
    fclose(f);
    if (bad_a != bad_b || na != nb || memcmp(a, b, na))
        fz_fail("second pass after rewind differs (%zu/%d vs %zu/%d bytes/error)", na, bad_a,
                nb, bad_b);
}

static void recompress(const char *path, enum stream_codec c, const u8 *data, size_t n)
{
    struct sim_err err = { 0 };
    struct stream_w *w;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    u8 *back;
    size_t nb;

    if (fd < 0 || stream_w_open(fd, c, &w, &err) || stream_w_write(w, data, n, &err) ||
        stream_w_finish(w, &err))
        fz_fail("re-compressing %zu bytes as %s failed: %s", n, stream_codec_name(c), err.msg);
    stream_w_free(w);
    close(fd);
    if (read_all(path, 65536, &back, &nb) || nb != n || memcmp(back, data, n))
        fz_fail("%s round trip of %zu bytes gave %zu bytes", stream_codec_name(c), n, nb);
    free(back);
}

static void trace_all(const char *path)
{
    struct trace_reader *r;
    struct trace_op op;
    struct sim_err err = { 0 };
    int rc;
    unsigned long ops = 0;

    if (trace_open(path, &r, NULL, &err)) {
        if (!err.msg[0])
            fz_fail("trace_open failed without a message");
        return;
    }
    while ((rc = trace_next(r, &op, &err)) > 0 && ++ops < 200000)
        ;
    if (rc < 0 && !err.msg[0])
        fz_fail("trace_next failed without a message");
    trace_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[256], again[256];
    u8 *a, *b;
    size_t na, nb;

    if (!path[0]) {
        fz_path(path, sizeof(path), "in.bin");
        fz_path(again, sizeof(again), "again.bin");
    }
    fz_write(path, data, size);
    size_t chunk = size ? 1 + data[size - 1] % 97 : 1;        /* small, odd sizes */
    long ra = read_all(path, chunk, &a, &na);
    long rb = read_all(path, 65536, &b, &nb);
    /* Same result; on success the same bytes; on an error the bytes before
     * it may differ in length only (a decoder step that hits the error may
     * have produced output that is then dropped). */
    size_t common = na < nb ? na : nb;
    if (ra != rb || (ra == 0 && na != nb) || memcmp(a, b, common))
        fz_fail("chunk %zu: %zu bytes (rc %ld), chunk 65536: %zu bytes (rc %ld)", chunk, na, ra,
                nb, rb);
    if (ra == 0 && na < FZ_MAX_OUT && size >= 6) {
        struct stream *s;
        if (stream_open(path, "file", &s, NULL) == 0) {
            enum stream_codec c = stream_codec(s);
            stream_close(s);
            if (c == STREAM_GZIP || c == STREAM_ZSTD)
                recompress(again, c, a, na);
        }
    }
    free(a);
    free(b);
    file_passes(path);
    trace_all(path);
    return 0;
}
