/* sim/io/trace_priv.h - internals shared by the files of the trace module.
 *
 * Layering inside the trace module:
 *
 *   trace_open / trace_next          (trace.c: format dispatch, input buffer)
 *     |-- JSON Lines: line reader -> cJSON -> struct trace_op (trace_json.c)
 *     |-- binary:     block reader -> varint decode -> struct trace_op
 *     |                                                      (trace_bin.c)
 *     `-- trace_check_op()           one validator for both formats, so
 *                                    `check` and `run` reject the same files
 *                                    (trace_check.c)
 *   trace_writer_*                   (trace.c: dispatch, output buffer)
 *     |-- trace_json_write_*         (trace_json_enc.c: JSON encoder)
 *     `-- trace_bin_write_*          (trace_bin.c: binary encoder)
 *
 * Both readers share one bounded input buffer (struct trace_rdbuf): a JSON
 * line or a binary block must fit in it, so memory never depends on the
 * file size.  Nothing here is thread-safe; separate readers are independent.
 */
#ifndef TLBSIM_TRACE_PRIV_H
#define TLBSIM_TRACE_PRIV_H

#include "trace.h"
#include "u64map.h"

#define TRACE_MAX_NAME      127         /* bytes of header name/source (+ NUL = 128) */
#define TRACE_MAX_ID        (1ull << 53)        /* largest mm id and JSON integer */
#define TRACE_MAX_EXITED    65536       /* exited mm ids remembered for messages */

#define TRACE_BIN_MAGIC     "TLBT"
#define TRACE_BIN_VERSION   1
#define TRACE_BIN_HDR_MAX   1024        /* bytes of the header payload */
#define TRACE_BIN_BLOCK_TARGET (64u << 10)      /* writer closes a block past this */
#define TRACE_BIN_MAX_BLOCK (4u << 20)  /* reader rejects larger block payloads */
#define TRACE_BIN_TAG_BLOCK 'B'
#define TRACE_BIN_TAG_END   'E'

#define TRACE_READ_CHUNK    (256u << 10)        /* bytes per read(2) */

/* ===== names (trace_check.c) =========================================== */

/* "4k", "2m", "1g" for a page shift, "r", "rw", "rx", "rwx" for PROT_*
 * bits; NULL for anything else. */
const char *trace_page_name(unsigned shift);
const char *trace_prot_name(unsigned prot);

/* ===== semantic checker (trace_check.c) ================================= */

/* The checker remembers every address space id in a u64map: live ones,
 * and exited ones (so messages can say "has exited") until more than
 * TRACE_MAX_EXITED pile up, then those are forgotten. */
enum { MMS_LIVE = 1, MMS_EXITED = 2 };

struct trace_check {
    u32 cpus;                           /* header cpus */
    unsigned va_bits;                   /* 48 or 57 */
    s64 *cur_mm;                        /* [cpus]: running user mm id, or MM_NULL */
    struct u64map mms;                  /* mm id -> MMS_* | CPUs running it << 2 */
    size_t nr_live;                     /* MMS_LIVE ids */
    size_t nr_exited;                   /* MMS_EXITED ids */
    bool forgot_exited;                 /* some exited ids were purged */
};

int  trace_check_init(struct trace_check *c, const struct trace_header *hdr);
void trace_check_free(struct trace_check *c);
/* Validate one op against the header and the state so far, then apply its
 * effect on the state (only when valid).  Returns SIM_OK, SIM_EPARSE or
 * SIM_ELIMIT with err->msg = "FIELD: what" (the caller adds "PATH:LINE: ").
 * For access, op->vas may be NULL when nr_va == 1: op->va is used. */
int  trace_check_op(struct trace_check *c, const struct trace_op *op,
                    struct sim_err *err);
/* Header fields that do not depend on the syntax: version, cpus, va_bits. */
int  trace_check_header(const struct trace_header *hdr, struct sim_err *err);
/* A map's keyid as read (JSON or binary): 0..TRACE_MAX_KEYID, else
 * SIM_EPARSE "keyid: ..."; OPF_KEYID set iff it is not 0, so keyid 0 reads
 * as absent and the canonical form leaves it out. */
int  trace_keyid_set(struct trace_op *op, u64 v, struct sim_err *err);
bool trace_utf8_valid(const u8 *s, size_t n, size_t *bad_at);
/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
size_t trace_utf8_seq(const u8 *s, size_t n);

/* ===== shared input buffer (trace.c) ==================================== */

struct stream;                          /* stream.h */

struct trace_rdbuf {
    struct stream *st;                  /* input (plain or decompressed), NULL when closed */
    bool eof;                           /* read(2) returned 0 */
    u8 *buf;                            /* cap bytes; unread data in [start, end) */
    size_t cap;                         /* grows up to max_cap */
    size_t max_cap;                     /* bound: a line or a block must fit */
    size_t start;                       /* first unread byte */
    size_t end;                         /* one past the last byte read */
    u64 total;                          /* bytes read from st so far */
};

/* Offset of the first unread byte in the (decompressed) input. */
static inline u64 trace_rd_offset(const struct trace_rdbuf *b)
{
    return b->total - (b->end - b->start);
}

/* Make at least `want` unread bytes available, fewer only at end of file.
 * Returns the number available (<= want is possible at EOF) or SIM_EIO /
 * SIM_ELIMIT (want beyond max_cap); err->msg has no prefix then. */
long trace_rd_need(struct trace_rdbuf *b, size_t want, struct sim_err *err);

/* ===== reader =========================================================== */

/* Exact values of the JSON numbers of one line, in document order: the
 * line pre-scan fills it, the op parser consumes one per cJSON number
 * node.  Values above TRACE_MAX_ID are the NUM_* error classes. */
struct trace_numtab {
    u64 *v;                             /* values or NUM_* */
    u32 *pos;                           /* [n]: token offset << 8 | min(length, 255) */
    const char *line;                   /* the line scanned (for messages) */
    size_t n;                           /* numbers on the line */
    size_t cap;                         /* allocated */
    size_t next;                        /* next to consume */
};

struct trace_bin_rd;                    /* trace_bin.c */

struct trace_reader {
    enum trace_fmt fmt;                 /* detected from the first bytes */
    char *path;                         /* for messages */
    struct trace_rdbuf in;              /* bounded input buffer */
    u64 size;                           /* file size, 0 if unknown */
    u64 line;                           /* JSON: current line; binary: records read */
    u64 line_base;                      /* binary: added to op->line (trace_set_first_line) */
    int sticky;                         /* first error, returned again after */
    struct sim_err sticky_err;          /* its message */
    struct trace_header hdr;            /* as read */
    struct trace_check chk;             /* semantic state */
    u64 *vas;                           /* access addresses (reader-owned) */
    u32 vas_cap;                        /* allocated entries */
    char label[TRACE_MAX_LABEL + 1];    /* mark label (reader-owned) */
    struct trace_numtab nums;           /* JSON only */
    struct trace_bin_rd *bin;           /* binary only */
};

/* The end of trace_next for both formats: rc is the decoder's result; a
 * decoded op gets its line and goes through trace_check_op.  Returns 1, or
 * the error with "PATH:LINE: " in front of the message. */
int trace_reader_op_done(struct trace_reader *r, struct trace_op *op, int rc,
                         struct sim_err *err);
/* Room for n addresses in r->vas (n <= TRACE_MAX_ARRAY). */
int trace_reader_vas(struct trace_reader *r, u32 n);

/* trace_json.c: the JSON Lines reader.  read_header is called with the
 * first bytes in r->in; it parses the header line into r->hdr.  next
 * returns 1 with *op filled, 0 at end of file, < 0 with the message. */
int  trace_json_read_header(struct trace_reader *r, struct sim_err *err);
int  trace_json_next(struct trace_reader *r, struct trace_op *op, struct sim_err *err);

/* trace_bin.c: the binary reader.  open is called with the magic already
 * seen in r->in; it parses the header into r->hdr. */
int  trace_bin_open(struct trace_reader *r, struct sim_err *err);
int  trace_bin_next(struct trace_reader *r, struct trace_op *op, struct sim_err *err);
void trace_bin_free(struct trace_reader *r);
/* trace_src()'s next for a binary reader: trace_next() with the access
 * fast path taken first (no call through the format dispatch). */
int  trace_bin_src_next(void *ctx, struct trace_op *op, struct sim_err *err);
/* The binary reader's access fast path (true; tests turn it off to compare
 * it with the general decoder and checker, which must agree on every file). */
extern bool trace_bin_fast;

/* ===== writer =========================================================== */

struct trace_bin_wr;                    /* trace_bin.c */
struct stream_w;                        /* stream.h */

struct trace_writer {
    enum trace_fmt fmt;                 /* JSONL or binary */
    int fd;                             /* the temporary file, or stdout for "-" */
    struct stream_w *sw;                /* compressor over fd (by the final name's suffix) */
    char *path;                         /* final name */
    char *tmp;                          /* PATH.tmp; NULL when writing stdout */
    u8 *out;                            /* output buffer */
    size_t out_len;                     /* bytes pending */
    size_t out_cap;                     /* allocated */
    int failed;                         /* sticky I/O error: commit refused */
    struct trace_header hdr;            /* as written */
    struct trace_check chk;             /* the writer validates what it writes */
    u64 nr_ops;                         /* ops written */
    struct trace_bin_wr *bin;           /* binary only */
};

/* Append bytes to the output buffer (flushing as needed). */
int  trace_w_append(struct trace_writer *w, const void *p, size_t n, struct sim_err *err);
int  trace_w_flush(struct trace_writer *w, struct sim_err *err);
/* Make room for n more bytes at w->out + w->out_len (trace.c). */
int  trace_w_reserve(struct trace_writer *w, size_t n, struct sim_err *err);

/* trace_json_enc.c: the JSON Lines encoder, one canonical line each. */
int  trace_json_write_header(struct trace_writer *w, struct sim_err *err);
int  trace_json_write_op(struct trace_writer *w, const struct trace_op *op, struct sim_err *err);

int  trace_bin_write_header(struct trace_writer *w, struct sim_err *err);
int  trace_bin_write_op(struct trace_writer *w, const struct trace_op *op, struct sim_err *err);
int  trace_bin_write_end(struct trace_writer *w, struct sim_err *err);
void trace_bin_writer_free(struct trace_writer *w);

#endif
