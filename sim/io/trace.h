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

#define TRACE_MAX_LINE   (1u << 20)     /* bytes per JSON line */
#define TRACE_MAX_ARRAY  65536          /* addresses in one access array */
#define TRACE_MAX_COUNT  (1ull << 32)   /* references in one stream op */
#define TRACE_MAX_LABEL  128            /* bytes of a mark label */
#define TRACE_MAX_MMS    65535          /* address spaces live at once */
#define TRACE_MAX_CYCLES (1ull << 60)   /* t, gap, irqs_off cycles: clocks stay far from 2^64 */

enum trace_op_type {
    OP_MM_NEW, OP_MM_EXIT, OP_MAP, OP_UNMAP, OP_PROTECT, OP_ZAP, OP_MIGRATE,
    OP_ACCESS, OP_STREAM, OP_SWITCH, OP_IDLE, OP_FLUSH, OP_KFLUSH,
    OP_IRQS_OFF, OP_VCPU_PREEMPT, OP_VCPU_RUN, OP_MARK,
    OP__COUNT
};

/* mm field values besides ids >= 0 */
#define MM_KERNEL (-1)                  /* "mm":"kernel" (map only) */
#define MM_NULL   (-2)                  /* "mm":null (switch to a kernel thread) */

/* prot bits */
#define PROT_R 1u
#define PROT_W 2u
#define PROT_X 4u

/* op flags */
#define OPF_CPU          (1u << 0)      /* cpu present */
#define OPF_T            (1u << 1)      /* t present */
#define OPF_GAP          (1u << 2)      /* gap present */
#define OPF_POPULATE     (1u << 3)      /* map: populate (default true) */
#define OPF_GLOBAL       (1u << 4)      /* map: global:true */
#define OPF_ALL          (1u << 5)      /* flush: all:true */
#define OPF_FREED_TABLES (1u << 6)      /* flush: freed_tables:true */
#define OPF_STRIDE       (1u << 7)      /* flush: stride given */
#define OPF_CSTATE       (1u << 8)      /* idle: cstate given */
#define OPF_VA_ARRAY     (1u << 9)      /* access: va was an array (even of one) */

struct trace_op {
    enum trace_op_type type;
    u32 flags;                          /* OPF_* */
    u32 cpu;                            /* < header cpus when OPF_CPU */
    s64 mm;                             /* id >= 0, MM_KERNEL or MM_NULL */
    u64 va;                             /* first (or only) address */
    u64 len;                            /* bytes (map/unmap/protect/zap/migrate/flush/kflush) */
    u64 stride;                         /* stream: bytes between references */
    u64 count;                          /* stream: references */
    u64 cycles;                         /* irqs_off */
    u64 t;                              /* earliest start cycle when OPF_T */
    u64 gap;                            /* cycles of non-memory work before it when OPF_GAP */
    u64 line;                           /* source line (1-based; binary: record index + 1) */
    const u64 *vas;                     /* access: nr_va addresses (reader-owned, valid until the next trace_next) */
    u32 nr_va;                          /* access: number of addresses (>= 1) */
    u8  kind;                           /* access/stream: 'r', 'w' or 'x' */
    u8  page_shift;                     /* map: 12, 21 or 30 */
    u8  prot;                           /* map/protect: PROT_* */
    u8  stride_shift;                   /* flush: 12, 21 or 30 (default 12) */
    u8  cstate;                         /* idle: 0 (none given), 1 (C1) or 6 (C6) */
    const char *label;                  /* mark (reader-owned, like vas) */
};

struct trace_header {
    u32 version;                        /* 1 */
    u32 cpus;                           /* 1..MACHINE_MAX_CPUS */
    char name[128];                     /* may be empty */
    char source[128];                   /* may be empty */
    u32 va_bits;                        /* extension: 48 (default; 0 = 48 for writers) or 57 */
};

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

const char *trace_op_name(enum trace_op_type t);        /* "mm_new", ... */

#endif
