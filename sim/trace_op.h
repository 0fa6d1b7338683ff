/* sim/trace_op.h - the ops of trace format v1: one descriptor table, the op
 * struct, and the pull interface the engine reads them through.  No I/O.
 *
 * Everything that needs to know what an op is reads TRACE_OPS below: the
 * JSON and binary codecs and the semantic checker (sim/io), op_lookup, the
 * engine's barrier/local/transport decisions (sim/engine) and the workload
 * emitter (workloads/).  sim/engine and workloads/ include this header and
 * not sim/io/trace.h, so the dependency runs one way: sim/io -> workloads,
 * sim/io -> (this) <- sim/engine.
 *
 * Adding an op (docs: traces/FORMAT.md, "Adding an op"):
 *   1. a row at the END of TRACE_OPS (the enum value is the binary type
 *      byte, so existing rows never move);
 *   2. its handler in sim/engine/ops.c (op_exec), unless it is TOP_LOCAL;
 *   3. its section in traces/FORMAT.md.
 * The codecs are driven by the row's fields, so an op built from existing
 * fields needs no codec change; a new field needs a row in TRACE_FIELDS
 * and its JSON and binary encodings.
 */
#ifndef TLBSIM_TRACE_OP_H
#define TLBSIM_TRACE_OP_H

#include "../models/base.h"

#define TRACE_MAX_LINE   (1u << 20)     /* bytes per JSON line */
#define TRACE_MAX_DEPTH  64             /* JSON nesting of one line (an op needs 2) */
#define TRACE_MAX_ARRAY  65536          /* addresses in one access array */
#define TRACE_MAX_COUNT  (1ull << 32)   /* references in one stream op */
#define TRACE_MAX_LABEL  128            /* bytes of a mark label */
#define TRACE_MAX_MMS    65535          /* address spaces live at once */
#define TRACE_MAX_CYCLES (1ull << 60)   /* t, gap, irqs_off cycles: clocks stay far from 2^64 */

/* ===== fields ============================================================ */

/* The JSON keys of an op, in the order the encoder writes them (op cpu mm
 * va len stride count kind page prot populate global all freed_tables
 * cstate cycles label t gap gpa keyid).  The binary form writes cpu, t and gap in
 * the record head, the booleans in the flags, and the rest in its own
 * order (sim/io/trace_bin.c: bin_order).
 *
 * X(ENUM, key, flag, absent_with, kind):
 *   FK_VALUE  a value; when the op's row lists it as optional it is present
 *             iff `flag` is set (0: always) and `absent_with` is not;
 *   FK_BOOL   true/false stored as `flag`, default false (written when set);
 *   FK_BOOL1  the same with default true (written as false when clear). */
#define FK_VALUE 0
#define FK_BOOL  1
#define FK_BOOL1 2
#define TRACE_FIELDS(X) \
    X(F_OP, "op", 0, 0, FK_VALUE) \
    X(F_CPU, "cpu", OPF_CPU, 0, FK_VALUE) \
    X(F_MM, "mm", 0, 0, FK_VALUE) \
    X(F_VA, "va", 0, OPF_ALL, FK_VALUE) \
    X(F_LEN, "len", 0, OPF_ALL, FK_VALUE) \
    X(F_STRIDE, "stride", OPF_STRIDE, 0, FK_VALUE) \
    X(F_COUNT, "count", 0, 0, FK_VALUE) \
    X(F_KIND, "kind", 0, 0, FK_VALUE) \
    X(F_PAGE, "page", 0, 0, FK_VALUE) \
    X(F_PROT, "prot", 0, 0, FK_VALUE) \
    X(F_POPULATE, "populate", OPF_POPULATE, 0, FK_BOOL1) \
    X(F_GLOBAL, "global", OPF_GLOBAL, 0, FK_BOOL) \
    X(F_ALL, "all", OPF_ALL, 0, FK_BOOL) \
    X(F_FREED_TABLES, "freed_tables", OPF_FREED_TABLES, 0, FK_BOOL) \
    X(F_CSTATE, "cstate", OPF_CSTATE, 0, FK_VALUE) \
    X(F_CYCLES, "cycles", 0, 0, FK_VALUE) \
    X(F_LABEL, "label", 0, 0, FK_VALUE) \
    X(F_T, "t", OPF_T, 0, FK_VALUE) \
    X(F_GAP, "gap", OPF_GAP, 0, FK_VALUE) \
    X(F_GPA, "gpa", 0, 0, FK_VALUE) \
    X(F_KEYID, "keyid", OPF_KEYID, 0, FK_VALUE)

enum trace_field {
#define TRACE_X_ENUM(e, name, flag, absent, kind) e,
    TRACE_FIELDS(TRACE_X_ENUM)
#undef TRACE_X_ENUM
    F__COUNT
};
#define B(f) (1u << (f))
#define COMMON_FIELDS (B(F_OP) | B(F_T) | B(F_GAP))     /* valid for every op */
#define RANGE_FIELDS  (B(F_CPU) | B(F_MM) | B(F_VA) | B(F_LEN))

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
#define OPF_ALL          (1u << 5)      /* flush: all:true (no va, len) */
#define OPF_FREED_TABLES (1u << 6)      /* flush: freed_tables:true */
#define OPF_STRIDE       (1u << 7)      /* flush: stride given (a page size) */
#define OPF_CSTATE       (1u << 8)      /* idle: cstate given */
#define OPF_VA_ARRAY     (1u << 9)      /* access: va was an array (even of one) */
#define OPF_KEYID        (1u << 10)     /* map: keyid given (readers set it only for a KeyID > 0) */

/* The largest KeyID a trace may name: paging.keyid_bits is at most 16.
 * Whether the machine has that many KeyID bits is the engine's check. */
#define TRACE_MAX_KEYID  65535u

/* ===== ops =============================================================== */

/* What the engine and the transports need to know of an op. */
#define TOP_BARRIER   (1u << 0)         /* runs after every earlier op (also: any op without cpu) */
#define TOP_LOCAL     (1u << 1)         /* memory references or irqs_off: no shared state */
#define TOP_RANGE     (1u << 2)         /* carries [va, va + len) (flush: unless all) */
#define TOP_FREES     (1u << 3)         /* frees memory: LATR may defer its flush */
#define TOP_SYNC_BATCH (1u << 4)        /* flush_tlb_batched_pending() runs before it */
#define TOP_HOST      (1u << 5)         /* host work on the vCPU's physical CPU: a preempted vCPU stays out */

/* X(ENUM, name, required fields, optional fields (besides op, t, gap),
 *   OPF_* flags allowed (besides OPF_T, OPF_GAP), TOP_* class, checker)
 * The checker is a function of sim/io/trace_check.c (check_none: the field
 * checks are all).  Rows are in enum order; append only. */
#define TRACE_OPS(X) \
    X(OP_MM_NEW, "mm_new", B(F_MM), 0, 0, TOP_BARRIER, check_mm_new) \
    X(OP_MM_EXIT, "mm_exit", B(F_MM) | B(F_CPU), 0, OPF_CPU, TOP_BARRIER, check_mm_exit) \
    X(OP_MAP, "map", B(F_MM) | B(F_VA) | B(F_LEN) | B(F_PAGE) | B(F_PROT), \
      B(F_POPULATE) | B(F_GLOBAL) | B(F_CPU) | B(F_KEYID), \
      OPF_CPU | OPF_POPULATE | OPF_GLOBAL | OPF_KEYID, TOP_RANGE, check_map) \
    X(OP_UNMAP, "unmap", RANGE_FIELDS, 0, OPF_CPU, \
      TOP_RANGE | TOP_FREES | TOP_SYNC_BATCH, check_mm_range) \
    X(OP_PROTECT, "protect", RANGE_FIELDS | B(F_PROT), 0, OPF_CPU, \
      TOP_RANGE | TOP_SYNC_BATCH, check_mm_range) \
    X(OP_ZAP, "zap", RANGE_FIELDS, 0, OPF_CPU, \
      TOP_RANGE | TOP_FREES | TOP_SYNC_BATCH, check_mm_range) \
    X(OP_MIGRATE, "migrate", RANGE_FIELDS, 0, OPF_CPU, TOP_RANGE | TOP_FREES, check_mm_range) \
    X(OP_ACCESS, "access", B(F_CPU) | B(F_VA) | B(F_KIND), 0, OPF_CPU | OPF_VA_ARRAY, \
      TOP_LOCAL, check_access) \
    X(OP_STREAM, "stream", B(F_CPU) | B(F_VA) | B(F_STRIDE) | B(F_COUNT) | B(F_KIND), 0, \
      OPF_CPU, TOP_LOCAL, check_stream) \
    X(OP_SWITCH, "switch", B(F_CPU) | B(F_MM), 0, OPF_CPU, 0, check_switch) \
    X(OP_IDLE, "idle", B(F_CPU), B(F_CSTATE), OPF_CPU | OPF_CSTATE, 0, check_idle) \
    X(OP_FLUSH, "flush", B(F_CPU) | B(F_MM), \
      B(F_VA) | B(F_LEN) | B(F_ALL) | B(F_FREED_TABLES) | B(F_STRIDE), \
      OPF_CPU | OPF_ALL | OPF_FREED_TABLES | OPF_STRIDE, TOP_RANGE | TOP_SYNC_BATCH, \
      check_mm_range) \
    X(OP_KFLUSH, "kflush", B(F_CPU) | B(F_VA) | B(F_LEN), 0, OPF_CPU, \
      TOP_RANGE | TOP_SYNC_BATCH, check_kflush) \
    X(OP_IRQS_OFF, "irqs_off", B(F_CPU) | B(F_CYCLES), 0, OPF_CPU, TOP_LOCAL, check_irqs_off) \
    X(OP_VCPU_PREEMPT, "vcpu_preempt", B(F_CPU), 0, OPF_CPU, 0, check_none) \
    X(OP_VCPU_RUN, "vcpu_run", B(F_CPU), 0, OPF_CPU, 0, check_none) \
    X(OP_MARK, "mark", B(F_LABEL), 0, 0, TOP_BARRIER, check_mark) \
    X(OP_EPT_MAP, "ept_map", B(F_GPA) | B(F_LEN) | B(F_PAGE), 0, 0, TOP_BARRIER, check_ept_map) \
    X(OP_HOST_ZAP, "host_zap", B(F_CPU) | B(F_GPA) | B(F_LEN), 0, OPF_CPU, TOP_HOST, \
      check_gpa_range) \
    X(OP_HOST_WRPROTECT, "host_wrprotect", B(F_CPU) | B(F_GPA) | B(F_LEN), 0, OPF_CPU, \
      TOP_HOST, check_gpa_range) \
    X(OP_VCPU_MIGRATE, "vcpu_migrate", B(F_CPU), 0, OPF_CPU, TOP_HOST, check_none) \
    X(OP_TDX_REMOVE, "tdx_remove", B(F_CPU) | B(F_GPA) | B(F_LEN), 0, OPF_CPU, TOP_HOST, \
      check_gpa_range)

enum trace_op_type {
#define TRACE_X_ENUM(e, name, req, opt, flags, cls, check) e,
    TRACE_OPS(TRACE_X_ENUM)
#undef TRACE_X_ENUM
    OP__COUNT
};

struct trace_op_desc {
    const char *name;                   /* "mm_new", ... */
    u32 req;                            /* B(F_*) that must be present */
    u32 opt;                            /* B(F_*) that may be present */
    u32 flags;                          /* OPF_* allowed besides OPF_T/OPF_GAP */
    u32 cls;                            /* TOP_* */
};

/* The descriptor of op type t (t < OP__COUNT). */
static inline const struct trace_op_desc *trace_op_desc(enum trace_op_type t)
{
    static const struct trace_op_desc desc[OP__COUNT] = {
#define TRACE_X_DESC(e, name, req, opt, flags, cls, check) [e] = { name, req, opt, flags, cls },
        TRACE_OPS(TRACE_X_DESC)
#undef TRACE_X_DESC
    };
    return &desc[t];
}

/* "mm_new", ...; "?" for a value out of range. */
static inline const char *trace_op_name(enum trace_op_type t)
{
    return (unsigned)t < OP__COUNT ? trace_op_desc(t)->name : "?";
}

struct trace_field_desc {
    const char *name;                   /* JSON key */
    u32 flag;                           /* OPF_* (see TRACE_FIELDS) */
    u32 absent;                         /* OPF_* that leaves an optional value out */
    u32 kind;                           /* FK_* */
};

/* The descriptor of field f (f < F__COUNT). */
static inline const struct trace_field_desc *trace_field_desc(enum trace_field f)
{
    static const struct trace_field_desc desc[F__COUNT] = {
#define TRACE_X_FDESC(e, name, flag, absent, kind) [e] = { name, flag, absent, kind },
        TRACE_FIELDS(TRACE_X_FDESC)
#undef TRACE_X_FDESC
    };
    return &desc[f];
}

/* JSON key of field f ("op", "cpu", ...). */
static inline const char *trace_field_name(enum trace_field f)
{
    return trace_field_desc(f)->name;
}

struct trace_op {
    enum trace_op_type type;
    u32 flags;                          /* OPF_* */
    u32 cpu;                            /* < header cpus when OPF_CPU */
    s64 mm;                             /* id >= 0, MM_KERNEL or MM_NULL */
    u64 va;                             /* first (or only) address */
    u64 len;                            /* bytes (map/unmap/protect/zap/migrate/flush/kflush/ept_map, host ops) */
    u64 gpa;                            /* ept_map, host_zap, host_wrprotect, tdx_remove: first guest-physical address */
    u64 stride;                         /* stream: bytes between references */
    u64 count;                          /* stream: references */
    u64 cycles;                         /* irqs_off */
    u64 t;                              /* earliest start cycle when OPF_T */
    u64 gap;                            /* cycles of non-memory work before it when OPF_GAP */
    u64 line;                           /* source line (1-based; binary: record index + 1) */
    const u64 *vas;                     /* access: nr_va addresses (reader-owned, valid until the next trace_next) */
    u32 nr_va;                          /* access: number of addresses (>= 1) */
    u32 keyid;                          /* map: TME-MK/TDX KeyID (0 unless OPF_KEYID) */
    u8  kind;                           /* access/stream: 'r', 'w' or 'x' */
    u8  page_shift;                     /* map, ept_map: 12, 21 or 30 */
    u8  prot;                           /* map/protect: PROT_* */
    u8  stride_shift;                   /* flush: 12, 21 or 30 (default 12) */
    u8  cstate;                         /* idle: 0 (none given), 1 (C1) or 6 (C6) */
    const char *label;                  /* mark (reader-owned, like vas) */
};

/* Whether op carries field f: a value field required by its row, or
 * optional and given (see TRACE_FIELDS); a boolean field whose value is
 * not its default. */
static inline bool trace_op_has(const struct trace_op *op, enum trace_field f)
{
    const struct trace_op_desc *d = trace_op_desc(op->type);
    const struct trace_field_desc *fd = trace_field_desc(f);

    if (fd->kind != FK_VALUE)
        return (d->opt & B(f)) && !(op->flags & fd->flag) == (fd->kind == FK_BOOL1);
    if (d->req & B(f))
        return true;
    if (!((d->opt | COMMON_FIELDS) & B(f)))
        return false;
    return (!fd->flag || (op->flags & fd->flag)) && !(op->flags & fd->absent);
}

/* Whether op waits for every earlier op and holds back every later one:
 * the TOP_BARRIER ops, and any op without a cpu (map of a kernel range). */
static inline bool trace_op_is_barrier(const struct trace_op *op)
{
    return (trace_op_desc(op->type)->cls & TOP_BARRIER) || !(op->flags & OPF_CPU);
}

static inline bool trace_op_is(const struct trace_op *op, u32 top)
{
    return (trace_op_desc(op->type)->cls & top) != 0;
}

struct trace_header {
    u32 version;                        /* 1 */
    u32 cpus;                           /* 1..MACHINE_MAX_CPUS */
    char name[128];                     /* may be empty */
    char source[128];                   /* may be empty */
    u32 va_bits;                        /* extension: 48 (default; 0 = 48 for writers) or 57 */
};

/* ===== op source ========================================================= */

/* A stream of checked ops, pulled in file order (sim/io/trace.h makes one
 * from an open reader: trace_src()).  next returns 1 with *op filled, 0 at
 * the end, or a negative SIM_E* code with err->msg = "FILE:LINE: FIELD:
 * what" (sticky).  A shared source (sim/engine/lockstep.h) may also return
 * TRACE_SRC_WAIT: no op yet, ask again once it has read more.  progress is
 * the fraction read (0 if unknown); close releases it (the engine calls it
 * once, at sim_destroy). */
#define TRACE_SRC_WAIT 2
struct trace_src {
    void *ctx;                          /* the reader */
    int (*next)(void *ctx, struct trace_op *op, struct sim_err *err);
    double (*progress)(const void *ctx);
    void (*close)(void *ctx);
};

#endif
