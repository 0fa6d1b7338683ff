/* sim/io/import_priv.h - what import_common.c shares with the format importers.
 *
 * An importer reads its input line by line (imp_getline, possibly twice:
 * imp_rewind), reports bad lines through imp_skip() and writes ops through
 * imp_emit().  The writer validates every op (trace_check_op), so an op the
 * importer got wrong is refused there; imp_emit() turns such a refusal into
 * a skip of the current input line (an error in strict mode) rather than a
 * broken output file.
 */
#ifndef TLBSIM_IMPORT_PRIV_H
#define TLBSIM_IMPORT_PRIV_H

#include "import.h"
#include "trace.h"

struct imp {
    const char *in;                     /* input path, for messages */
    FILE *f;                            /* input (stream_fopen: plain or decompressed) */
    struct stream *in_st;               /* f's stream, for read error messages */
    const struct import_opts *o;        /* options (freq_mhz resolved) */
    u32 freq_mhz;                       /* o->freq_mhz or the default */
    struct import_stats *st;            /* counters (never NULL here) */
    struct sim_err *err;
    u64 line;                           /* current input line, 1-based */
    char *buf;                          /* current line, NUL-terminated, no newline */
    size_t len;                         /* its length */
    bool quiet;                         /* this pass counts no lines and records no skips */
    struct trace_writer *w;             /* output, once opened */
    const char *out;                    /* output path */
};

/* Next line into im->buf.  1 = a line, 0 = end of file, < 0 = read error.
 * Over-long lines are consumed and reported as skipped here. */
int  imp_getline(struct imp *im);
/* A read of im->f failed: SIM_EPARSE/SIM_ELIMIT/SIM_EIO with "IN:N: why"
 * (N = the line or record being read; why from the stream: corrupt or
 * truncated compressed data, a decompression bomb, an I/O error). */
int  imp_read_error(struct imp *im);
/* Read the input again from the start.  quiet: the pass does not count
 * lines and imp_skip() records nothing (the other pass does both). */
int  imp_rewind(struct imp *im, bool quiet);
/* Skip the current line: count it, remember the first few, and return
 * SIM_EPARSE in strict mode (err->msg = "IN:LINE: reason"), else SIM_OK. */
int  imp_skip(struct imp *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Open the output with this header (version 1). */
int  imp_open_out(struct imp *im, u32 cpus, const char *name, const char *source);
/* Write one op.  0 when written; 1 when the writer refused it and the line
 * was skipped instead (non-strict); < 0 on an error (strict refusal: the
 * SIM_EPARSE of imp_skip; or the writer's I/O error). */
int  imp_emit(struct imp *im, const struct trace_op *op);
/* imp_emit for ops that cannot be refused (a refusal is SIM_EINTERNAL). */
int  imp_emit_must(struct imp *im, const struct trace_op *op);

/* Helpers for line parsing. */
const char *imp_skip_ws(const char *s);
/* Hex digits with an optional 0x; stops at the first non-hex character.
 * Returns the end pointer, or NULL if there were no digits or it overflowed. */
const char *imp_parse_hex(const char *s, u64 *v);
const char *imp_parse_dec(const char *s, u64 *v);
/* mmap/mprotect PROT_* bits -> trace PROT_*; PROT_NONE becomes r (still a
 * reduction, so still a flush: the trace format has no "none"). */
u8   imp_prot_of(u64 prot);
/* madvise advice that clears PTEs: DONTNEED, FREE, REMOVE, PAGEOUT,
 * DONTNEED_LOCKED (the others leave the page tables alone). */
bool imp_madvise_zaps(u64 advice);
/* The output name: the input's base name without directories. */
const char *imp_basename(const char *path);

int  import_ftrace(struct imp *im);
int  import_lackey(struct imp *im);
int  import_champsim(struct imp *im);   /* binary: reads im->f with fread, not imp_getline */

#endif
