/* sim/io/trace.h - trace format v1: ops, streaming reader, writer.
 *
 * The reader turns a trace file (JSON Lines, or the binary form, detected by
 * content) into struct trace_op values one at a time, in file order, with
 * every field checked: syntax, types, unknown ops and fields, canonical and
 * aligned addresses, CPU ids, address-space lifetimes and which address space
 * each CPU runs (so `tlbsim check` and `tlbsim run` reject the same files).
 * Errors come back as SIM_E* codes with err->msg = "FILE:LINE: FIELD: what".
 * Memory stays bounded: one line at a time (lines over TRACE_MAX_LINE bytes
 * and arrays over TRACE_MAX_ARRAY elements are errors).
 *
 * This layer is the only one that includes cJSON.
 */
#ifndef TLBSIM_TRACE_H
#define TLBSIM_TRACE_H

#include "../../models/base.h"
#include "../trace_op.h"                /* ops, fields, limits, struct trace_op/header */

enum trace_fmt { TRACE_FMT_JSONL = 0, TRACE_FMT_BINARY = 1 };

struct trace_reader;

/* Open a trace (format detected by content) and read its header.
 * SIM_EIO for an unreadable path or a directory; SIM_EPARSE for a bad
 * header.  *out is NULL on error.  hdr may be NULL.  Path "-" reads stdin. */
int  trace_open(const char *path, struct trace_reader **out,
                struct trace_header *hdr, struct sim_err *err);
/* Next op in file order.  Returns 1 with *op filled, 0 at end of file, or a
 * negative SIM_E* code with err->msg naming file, line and field.  Errors
 * are sticky: later calls return the same code and message.  Both formats
 * fill *op the same way: fields the op does not use are 0 (vas NULL, label
 * NULL), except map without "populate" (OPF_POPULATE set) and flush without
 * "stride" (stride_shift 12); an access always has vas/nr_va (vas[0] == va). */
int  trace_next(struct trace_reader *r, struct trace_op *op, struct sim_err *err);
enum trace_fmt trace_format(const struct trace_reader *r);
u64  trace_bytes_read(const struct trace_reader *r);    /* for progress */
u64  trace_size(const struct trace_reader *r);          /* file size, 0 if unknown */
void trace_close(struct trace_reader *r);               /* NULL-safe */

/* Writer: writes to PATH.tmp and renames at close(commit=true), so a
 * reader never sees half a file.  The JSON form is one canonical line per
 * op (addresses as hex strings), the binary form is documented in
 * traces/FORMAT.md.
 * trace_write() runs the reader's checks (same messages, "PATH:LINE:" of the
 * output), so a written trace always reads back; a rejected op is not
 * written and the writer stays usable.  An access may have vas NULL when
 * nr_va == 1 (op->va is used).  The JSONL writer refuses (SIM_ELIMIT) an
 * access array whose line would exceed TRACE_MAX_LINE (about 50,000
 * addresses); the binary form takes up to TRACE_MAX_ARRAY.
 * trace_writer_open() takes version 0 as 1 and va_bits 0 as 48. */
struct trace_writer;
int  trace_writer_open(const char *path, const struct trace_header *hdr,
                       enum trace_fmt fmt, struct trace_writer **out,
                       struct sim_err *err);
int  trace_write(struct trace_writer *w, const struct trace_op *op,
                 struct sim_err *err);
/* commit=false discards the temporary file. */
int  trace_writer_close(struct trace_writer *w, bool commit, struct sim_err *err);
/* Binary reader: number the ops from `line` instead of 1 (op->line only),
 * so a binary copy of a JSON Lines trace whose op lines are consecutive
 * reports the JSON line numbers (run --policy with several policies). */
void trace_set_first_line(struct trace_reader *r, u64 line);

/* The reader as an op source for the engine (struct trace_src, owned by
 * whoever holds it: its close is trace_close). */
struct trace_src trace_src(struct trace_reader *r);

#endif
