/* sim/io/stream.h - byte streams under every trace reader and writer:
 * plain files, "-" (stdin / stdout), gzip, xz and zstd.
 *
 * Reading detects the compression BY CONTENT (the magic bytes, whatever the
 * name): 1f 8b is gzip (concatenated members allowed), fd 37 7a 58 5a 00 xz
 * (concatenated streams allowed), 28 b5 2f fd zstd (concatenated frames
 * allowed); anything else is read as is.  Detection peeks into the stream's
 * own buffer, so stdin and pipes work (no seek).  Writing compresses by the
 * suffix of the final name (.gz, .xz, .zst); "-" is stdout, uncompressed.
 *
 * Errors are SIM_E* codes with err->msg WITHOUT the file name (the caller
 * knows the name and, for traces, the line): "corrupt gzip data: invalid
 * distance too far back", "truncated xz stream: unexpected end of file".
 * They are sticky: once a read failed, later reads fail the same way.
 *
 * Decompression bombs: once a stream has produced STREAM_RATIO_FLOOR bytes,
 * it may not expand more than STREAM_MAX_RATIO times the compressed bytes
 * consumed so far (SIM_ELIMIT).  xz and zstd streams whose window would need
 * more than STREAM_MAX_WINDOW bytes of memory are refused too.
 *
 * Memory per reader: STREAM_CHUNK bytes of input plus the decoder's state
 * (zlib 7 KiB + 32 KiB window; xz up to STREAM_MAX_WINDOW; zstd its window).
 * Nothing here is thread-safe; separate streams are independent.
 */
#ifndef TLBSIM_STREAM_H
#define TLBSIM_STREAM_H

#include <stdio.h>

#include "../../models/base.h"

#define STREAM_CHUNK        (64u << 10)         /* compressed bytes per read(2) */
#define STREAM_MAX_RATIO    1024ull             /* decompressed / compressed bytes */
#define STREAM_RATIO_FLOOR  (32ull << 20)       /* the ratio applies past this output */
#define STREAM_MAX_WINDOW_LOG 27                /* zstd window and xz memory: 2^27 bytes */
#define STREAM_MAX_WINDOW   (1ull << STREAM_MAX_WINDOW_LOG)     /* 128 MiB */
#define STREAM_STDIN_NAME   "<stdin>"           /* "-" in messages */

enum stream_codec { STREAM_PLAIN = 0, STREAM_GZIP, STREAM_XZ, STREAM_ZSTD };

struct stream;

/* Open PATH for reading ("-": stdin, or the spool of stream_spool_stdin()).
 * SIM_EIO "PATH: cannot open: ..." / "PATH: is a directory, not a WHAT"
 * (WHAT: "trace file", "recording"...), with the name (this one call has no
 * caller to add it).  *out is NULL on error. */
int  stream_open(const char *path, const char *what, struct stream **out, struct sim_err *err);
/* Up to n decompressed bytes into buf: > 0 bytes, 0 at the end, or a
 * negative SIM_E* code (sticky; message without the file name). */
long stream_read(struct stream *s, void *buf, size_t n, struct sim_err *err);
/* Start again from the first byte: regular files and the stdin spool only
 * (SIM_EIO "cannot read twice: not a regular file" otherwise). */
int  stream_rewind(struct stream *s, struct sim_err *err);
enum stream_codec stream_codec(const struct stream *s);
u64  stream_size(const struct stream *s);       /* file bytes (compressed), 0 if unknown */
u64  stream_consumed(const struct stream *s);   /* file bytes consumed so far (for progress) */
const char *stream_last_error(const struct stream *s);  /* "" when none */
void stream_close(struct stream *s);            /* NULL-safe */

/* The same stream as a read-only FILE (fopencookie), for line readers.
 * fseek(f, 0, SEEK_SET) is stream_rewind(); other seeks fail.  *sp (may be
 * NULL) receives the stream, owned by the FILE (fclose frees it); after a
 * read error, stream_last_error(*sp) says why.  NULL with err set on error. */
FILE *stream_fopen(const char *path, const char *what, struct stream **sp,
                   struct sim_err *err);

/* Copy all of stdin into an unlinked temporary file in DIR (NULL: $TMPDIR
 * or /tmp), once per process; later stream_open("-") calls (also in forked
 * children) each read that copy from its start.  For commands that read
 * their input more than once.  SIM_EIO "DIR: cannot spool stdin: ..." */
int  stream_spool_stdin(const char *dir, struct sim_err *err);

/* "<stdin>" for "-", else path. */
const char *stream_display_name(const char *path);
const char *stream_codec_name(enum stream_codec c);     /* "plain", "gzip", ... */
/* The codec a file name asks for by its suffix. */
enum stream_codec stream_codec_for_name(const char *path);
/* The bomb guard: false when `out` decompressed bytes from `in` compressed
 * bytes are past the limits above. */
bool stream_expansion_ok(u64 in, u64 out);

/* ===== writer ============================================================ */

struct stream_w;

/* Compress with codec c into fd (not closed by the stream).  Levels: gzip 6,
 * xz preset 6 (CRC-64), zstd 3 with the frame checksum (as the zstd tool
 * writes it; without it damage can go unnoticed); single-threaded, so the
 * bytes are deterministic. */
int  stream_w_open(int fd, enum stream_codec c, struct stream_w **out, struct sim_err *err);
/* SIM_EIO "write error: ..." (no name) on a failed write(2). */
int  stream_w_write(struct stream_w *w, const void *p, size_t n, struct sim_err *err);
/* Flush the compressor and write its trailer. */
int  stream_w_finish(struct stream_w *w, struct sim_err *err);
void stream_w_free(struct stream_w *w);         /* NULL-safe; does not close fd */

#endif
