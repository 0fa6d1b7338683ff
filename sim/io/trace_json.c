/* sim/io/trace_json.c - trace reader/writer front end, the JSON Lines form,
 * and the one validator shared by both formats.
 *
 * Workload profile: a recorded or generated trace is mostly `access` lines
 * (often with address arrays), read once, front to back.  Per line the
 * reader does one pass over the bytes (UTF-8 check + exact number scan),
 * one cJSON parse, one walk over the object, one validation.  This file
 * allocates nothing per op (vas, label and the number table are reused);
 * cJSON's own node allocations are the main remaining cost (about 0.5 us per
 * single-access line, 1-2 us per 16-address array on a 2020s x86 core).
 *
 * Why the pre-scan: cJSON reads every number as a double, so it cannot tell
 * 2^53 from 2^53+1 nor reject "1.5e0" exactly; it also accepts control bytes
 * as whitespace and does not check UTF-8.  The pre-scan walks the raw line,
 * validates it, and records the exact value (or the reason it is not a
 * valid id/address: negative, fraction, too big) of every number token in
 * document order.  The op walk visits cJSON number nodes in the same order
 * and takes their values from that table, never from valuedouble.
 */
#include "trace_priv.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ===== op and field tables ============================================== */

enum jfield {
    F_OP, F_CPU, F_MM, F_VA, F_LEN, F_STRIDE, F_COUNT, F_KIND, F_PAGE, F_PROT,
    F_POPULATE, F_GLOBAL, F_ALL, F_FREED_TABLES, F_CSTATE, F_CYCLES, F_LABEL,
    F_T, F_GAP, F__COUNT
};
#define B(f) (1u << (f))

static const char *const field_names[F__COUNT] = {
    "op", "cpu", "mm", "va", "len", "stride", "count", "kind", "page", "prot",
    "populate", "global", "all", "freed_tables", "cstate", "cycles", "label",
    "t", "gap",
};

#define RANGE_FIELDS (B(F_CPU) | B(F_MM) | B(F_VA) | B(F_LEN))

/* JSON fields of each op: required, optional (besides op, t, gap), and the
 * OPF_* flags a struct trace_op of that type may carry. */
static const struct op_desc {
    const char *name;                   /* "mm_new", ... */
    u32 req;                            /* B(F_*) that must be present */
    u32 opt;                            /* B(F_*) that may be present */
    u32 flags;                          /* OPF_* allowed besides OPF_T/OPF_GAP */
} op_desc[OP__COUNT] = {
    [OP_MM_NEW]       = { "mm_new", B(F_MM), 0, 0 },
    [OP_MM_EXIT]      = { "mm_exit", B(F_MM) | B(F_CPU), 0, OPF_CPU },
    [OP_MAP]          = { "map", B(F_MM) | B(F_VA) | B(F_LEN) | B(F_PAGE) | B(F_PROT),
                          B(F_POPULATE) | B(F_GLOBAL) | B(F_CPU),
                          OPF_CPU | OPF_POPULATE | OPF_GLOBAL },
    [OP_UNMAP]        = { "unmap", RANGE_FIELDS, 0, OPF_CPU },
    [OP_PROTECT]      = { "protect", RANGE_FIELDS | B(F_PROT), 0, OPF_CPU },
    [OP_ZAP]          = { "zap", RANGE_FIELDS, 0, OPF_CPU },
    [OP_MIGRATE]      = { "migrate", RANGE_FIELDS, 0, OPF_CPU },
    [OP_ACCESS]       = { "access", B(F_CPU) | B(F_VA) | B(F_KIND), 0,
                          OPF_CPU | OPF_VA_ARRAY },
    [OP_STREAM]       = { "stream", B(F_CPU) | B(F_VA) | B(F_STRIDE) | B(F_COUNT) | B(F_KIND),
                          0, OPF_CPU },
    [OP_SWITCH]       = { "switch", B(F_CPU) | B(F_MM), 0, OPF_CPU },
    [OP_IDLE]         = { "idle", B(F_CPU), B(F_CSTATE), OPF_CPU | OPF_CSTATE },
    [OP_FLUSH]        = { "flush", B(F_CPU) | B(F_MM),
                          B(F_VA) | B(F_LEN) | B(F_ALL) | B(F_FREED_TABLES) | B(F_STRIDE),
                          OPF_CPU | OPF_ALL | OPF_FREED_TABLES | OPF_STRIDE },
    [OP_KFLUSH]       = { "kflush", B(F_CPU) | B(F_VA) | B(F_LEN), 0, OPF_CPU },
    [OP_IRQS_OFF]     = { "irqs_off", B(F_CPU) | B(F_CYCLES), 0, OPF_CPU },
    [OP_VCPU_PREEMPT] = { "vcpu_preempt", B(F_CPU), 0, OPF_CPU },
    [OP_VCPU_RUN]     = { "vcpu_run", B(F_CPU), 0, OPF_CPU },
    [OP_MARK]         = { "mark", B(F_LABEL), 0, 0 },
};
#define COMMON_FIELDS (B(F_OP) | B(F_T) | B(F_GAP))

const char *trace_op_name(enum trace_op_type t)
{
    if ((unsigned)t >= OP__COUNT)
        return "?";
    return op_desc[t].name;
}

/* Inline compare for short names (cheaper than a libc call per key). */
static inline bool streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* Name lookups run for every key of every line: dispatch on the first
 * byte, then compare with the one or two candidates. */
static int op_lookup(const char *s)
{
    static const u8 by_first[26][5] = {
        ['a' - 'a'] = { OP_ACCESS + 1 },
        ['f' - 'a'] = { OP_FLUSH + 1 },
        ['i' - 'a'] = { OP_IDLE + 1, OP_IRQS_OFF + 1 },
        ['k' - 'a'] = { OP_KFLUSH + 1 },
        ['m' - 'a'] = { OP_MAP + 1, OP_MM_NEW + 1, OP_MM_EXIT + 1, OP_MIGRATE + 1, OP_MARK + 1 },
        ['p' - 'a'] = { OP_PROTECT + 1 },
        ['s' - 'a'] = { OP_STREAM + 1, OP_SWITCH + 1 },
        ['u' - 'a'] = { OP_UNMAP + 1 },
        ['v' - 'a'] = { OP_VCPU_PREEMPT + 1, OP_VCPU_RUN + 1 },
        ['z' - 'a'] = { OP_ZAP + 1 },
    };
    if (s[0] < 'a' || s[0] > 'z')
        return -1;
    const u8 *cand = by_first[s[0] - 'a'];
    for (int i = 0; i < 5 && cand[i]; i++)
        if (streq(s, op_desc[cand[i] - 1].name))
            return cand[i] - 1;
    return -1;
}

static int field_lookup(const char *k)
{
    static const u8 by_first[26][4] = {
        ['a' - 'a'] = { F_ALL + 1 },
        ['c' - 'a'] = { F_CPU + 1, F_COUNT + 1, F_CSTATE + 1, F_CYCLES + 1 },
        ['f' - 'a'] = { F_FREED_TABLES + 1 },
        ['g' - 'a'] = { F_GAP + 1, F_GLOBAL + 1 },
        ['k' - 'a'] = { F_KIND + 1 },
        ['l' - 'a'] = { F_LEN + 1, F_LABEL + 1 },
        ['m' - 'a'] = { F_MM + 1 },
        ['o' - 'a'] = { F_OP + 1 },
        ['p' - 'a'] = { F_PAGE + 1, F_PROT + 1, F_POPULATE + 1 },
        ['s' - 'a'] = { F_STRIDE + 1 },
        ['t' - 'a'] = { F_T + 1 },
        ['v' - 'a'] = { F_VA + 1 },
    };
    if (k[0] < 'a' || k[0] > 'z')
        return -1;
    const u8 *cand = by_first[k[0] - 'a'];
    for (int i = 0; i < 4 && cand[i]; i++)
        if (streq(k, field_names[cand[i] - 1]))
            return cand[i] - 1;
    return -1;
}

static const char *page_name(unsigned shift)
{
    switch (shift) {
    case PAGE_SHIFT_4K: return "4k";
    case PAGE_SHIFT_2M: return "2m";
    case PAGE_SHIFT_1G: return "1g";
    }
    return NULL;
}

static const char *prot_name(unsigned prot)
{
    switch (prot) {
    case PROT_R:          return "r";
    case PROT_R | PROT_W: return "rw";
    case PROT_R | PROT_X: return "rx";
    case PROT_R | PROT_W | PROT_X: return "rwx";
    }
    return NULL;
}

static bool kind_valid(unsigned k) { return k == 'r' || k == 'w' || k == 'x'; }

/* A user-supplied string made safe for a one-line message: at most 40
 * bytes, control bytes replaced. */
static const char *msg_str(const char *s, char buf[48])
{
    size_t i;

    for (i = 0; s[i] && i < 40; i++)
        buf[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    if (s[i])
        buf[i++] = '~';
    buf[i] = '\0';
    return buf;
}

/* ===== UTF-8 ============================================================= */

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_seq(const u8 *s, size_t n)
{
    u8 c = s[0];
    u8 lo = 0x80, hi = 0xbf;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

bool trace_utf8_valid(const u8 *s, size_t n, size_t *bad_at)
{
    size_t i = 0, k;

    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if (!(k = utf8_seq(s + i, n - i))) {
            if (bad_at)
                *bad_at = i;
            return false;
        }
        i += k;
    }
    return true;
}

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
        ssize_t n = read(b->fd, b->buf + b->end, b->cap - 1 - b->end);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return sim_err_set(err, SIM_EIO, "read error: %s", strerror(errno));
        }
        if (n == 0)
            b->eof = true;
        b->end += (size_t)n;
        b->total += (u64)n;
    }
    size_t have = b->end - b->start;
    return (long)(have < want ? have : want);
}

/* ===== semantic checker ================================================== */

static size_t mm_hash(u64 id)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)id;
}

static struct trace_mm_slot *mm_find(const struct trace_check *c, u64 id)
{
    if (!c->cap)
        return NULL;
    size_t mask = c->cap - 1;
    for (size_t i = mm_hash(id) & mask;; i = (i + 1) & mask) {
        struct trace_mm_slot *s = &c->slots[i];
        if (s->state == MMS_EMPTY)
            return NULL;
        if (s->id == id)
            return s;
    }
}

static struct trace_mm_slot *mm_place(struct trace_mm_slot *slots, size_t cap, u64 id)
{
    size_t mask = cap - 1, i = mm_hash(id) & mask;

    while (slots[i].state != MMS_EMPTY)
        i = (i + 1) & mask;
    return &slots[i];
}

/* Rebuild the table with `cap` slots; drop exited ids unless keep_exited. */
static int mm_rehash(struct trace_check *c, size_t cap, bool keep_exited)
{
    struct trace_mm_slot *ns = calloc(cap, sizeof(*ns));

    if (!ns)
        return SIM_ENOMEM;
    c->used = 0;
    for (size_t i = 0; i < c->cap; i++) {
        struct trace_mm_slot *s = &c->slots[i];
        if (s->state == MMS_LIVE || (s->state == MMS_EXITED && keep_exited)) {
            *mm_place(ns, cap, s->id) = *s;
            c->used++;
        }
    }
    if (!keep_exited && c->nr_exited) {
        c->nr_exited = 0;
        c->forgot_exited = true;
    }
    free(c->slots);
    c->slots = ns;
    c->cap = cap;
    return SIM_OK;
}

int trace_check_init(struct trace_check *c, const struct trace_header *hdr)
{
    memset(c, 0, sizeof(*c));
    c->cpus = hdr->cpus;
    c->va_bits = hdr->va_bits ? hdr->va_bits : 48;
    c->cur_mm = malloc(sizeof(*c->cur_mm) * (hdr->cpus ? hdr->cpus : 1));
    if (!c->cur_mm)
        return SIM_ENOMEM;
    for (u32 i = 0; i < hdr->cpus; i++)
        c->cur_mm[i] = MM_NULL;
    return mm_rehash(c, 64, true);
}

void trace_check_free(struct trace_check *c)
{
    free(c->cur_mm);
    free(c->slots);
    memset(c, 0, sizeof(*c));
}

int trace_check_header(const struct trace_header *hdr, struct sim_err *err)
{
    if (hdr->version != 1)
        return sim_err_set(err, SIM_EPARSE, "version: unsupported version %u "
                           "(this build reads version 1)", hdr->version);
    if (hdr->cpus == 0)
        return sim_err_set(err, SIM_EPARSE, "cpus: must be at least 1");
    if (hdr->cpus > TRACE_MAX_CPUS)
        return sim_err_set(err, SIM_ELIMIT, "cpus: %u exceeds the limit of %u",
                           hdr->cpus, TRACE_MAX_CPUS);
    if (hdr->va_bits != 0 && hdr->va_bits != 48 && hdr->va_bits != 57)
        return sim_err_set(err, SIM_EPARSE, "va_bits: must be 48 or 57, not %u",
                           hdr->va_bits);
    const char *s[2] = { hdr->name, hdr->source };
    for (int i = 0; i < 2; i++) {
        const char *end = memchr(s[i], 0, TRACE_MAX_NAME + 1);
        if (!end)
            return sim_err_set(err, SIM_ELIMIT, "%s: longer than %d bytes",
                               i ? "source" : "name", TRACE_MAX_NAME);
        if (!trace_utf8_valid((const u8 *)s[i], (size_t)(end - s[i]), NULL))
            return sim_err_set(err, SIM_EPARSE, "%s: invalid UTF-8", i ? "source" : "name");
    }
    return SIM_OK;
}

/* The live address space `mm`, or the reason there is none. */
static int mm_live(const struct trace_check *c, s64 mm, struct trace_mm_slot **out,
                   struct sim_err *err)
{
    if (mm == MM_KERNEL)
        return sim_err_set(err, SIM_EPARSE, "mm: \"kernel\" is only valid for map");
    if (mm == MM_NULL)
        return sim_err_set(err, SIM_EPARSE, "mm: null is only valid for switch");
    if (mm < 0 || (u64)mm > TRACE_MAX_ID)
        return sim_err_set(err, SIM_EPARSE, "mm: id %" PRId64 " is out of range (0..2^53)", mm);
    struct trace_mm_slot *s = mm_find(c, (u64)mm);
    if (s && s->state == MMS_LIVE) {
        *out = s;
        return SIM_OK;
    }
    if (s)
        return sim_err_set(err, SIM_EPARSE, "mm %" PRId64 ": address space has exited", mm);
    if (c->forgot_exited)
        return sim_err_set(err, SIM_EPARSE, "mm %" PRId64 ": address space was never "
                           "created or has exited", mm);
    return sim_err_set(err, SIM_EPARSE, "mm %" PRId64 ": address space was never created", mm);
}

enum half { HALF_USER, HALF_KERNEL };

/* [va, va + len) aligned to 1 << shift, non-empty, canonical, in one half. */
static int check_range(const struct trace_check *c, u64 va, u64 len, unsigned shift,
                       enum half half, const char *who, struct sim_err *err)
{
    u64 mask = (1ull << shift) - 1, last;

    if (!va_canonical(va, c->va_bits))
        return sim_err_set(err, SIM_EPARSE, "va: address 0x%" PRIx64 " is not canonical", va);
    if (va & mask)
        return sim_err_set(err, SIM_EPARSE, "va: 0x%" PRIx64 " is not %s-aligned",
                           va, page_name(shift));
    if (len == 0)
        return sim_err_set(err, SIM_EPARSE, "len: must be greater than 0");
    if (len & mask)
        return sim_err_set(err, SIM_EPARSE, "len: 0x%" PRIx64 " is not a multiple of %s",
                           len, page_name(shift));
    if (__builtin_add_overflow(va, len - 1, &last) || !va_canonical(last, c->va_bits) ||
        va_is_kernel(last) != va_is_kernel(va))
        return sim_err_set(err, SIM_EPARSE, "len: range 0x%" PRIx64 "+0x%" PRIx64
                           " leaves the canonical half", va, len);
    if (half == HALF_USER && va_is_kernel(va))
        return sim_err_set(err, SIM_EPARSE, "va: 0x%" PRIx64 " is a kernel address; %s "
                           "needs a user (lower-half) address", va, who);
    if (half == HALF_KERNEL && !va_is_kernel(va))
        return sim_err_set(err, SIM_EPARSE, "va: 0x%" PRIx64 " is a user address; %s "
                           "needs a kernel (upper-half) address", va, who);
    return SIM_OK;
}

static int need_user_mm(const struct trace_check *c, const struct trace_op *op, u64 va,
                        struct sim_err *err)
{
    if (c->cur_mm[op->cpu] >= 0)
        return SIM_OK;
    return sim_err_set(err, SIM_EPARSE, "cpu %u runs no user address space: va 0x%" PRIx64
                       " is a user address (switch the cpu to an mm first)", op->cpu, va);
}

/* The CPU leaves its user address space (switch, idle). */
static void cpu_set_mm(struct trace_check *c, u32 cpu, s64 mm)
{
    struct trace_mm_slot *s;

    if (c->cur_mm[cpu] >= 0 && (s = mm_find(c, (u64)c->cur_mm[cpu])))
        s->nr_running--;
    if (mm >= 0 && (s = mm_find(c, (u64)mm)))
        s->nr_running++;
    c->cur_mm[cpu] = mm;
}

static int check_flags(const struct trace_check *c, const struct trace_op *op,
                       struct sim_err *err)
{
    const struct op_desc *d = &op_desc[op->type];

    if (op->flags & ~(d->flags | OPF_T | OPF_GAP))
        return sim_err_set(err, SIM_EPARSE, "flags: 0x%x not valid for %s",
                           op->flags & ~(d->flags | OPF_T | OPF_GAP), d->name);
    if ((op->flags & OPF_T) && (op->flags & OPF_GAP))
        return sim_err_set(err, SIM_EPARSE, "gap: t and gap are exclusive (give one)");
    /* Simulated time stays far from 2^64: clocks add costs to these. */
    if ((op->flags & OPF_T) && op->t > TRACE_MAX_CYCLES)
        return sim_err_set(err, SIM_ERANGE, "t: %" PRIu64 " is beyond 2^60 cycles", op->t);
    if ((op->flags & OPF_GAP) && op->gap > TRACE_MAX_CYCLES)
        return sim_err_set(err, SIM_ERANGE, "gap: %" PRIu64 " is beyond 2^60 cycles", op->gap);
    if (op->type == OP_IRQS_OFF && op->cycles > TRACE_MAX_CYCLES)
        return sim_err_set(err, SIM_ERANGE, "cycles: %" PRIu64 " is beyond 2^60 cycles",
                           op->cycles);
    if ((d->req & B(F_CPU)) && !(op->flags & OPF_CPU))
        return sim_err_set(err, SIM_EPARSE, "cpu: missing (required by %s)", d->name);
    if ((op->flags & OPF_CPU) && op->cpu >= c->cpus)
        return sim_err_set(err, SIM_EPARSE, "cpu: %u is not below the header's cpus (%u)",
                           op->cpu, c->cpus);
    return SIM_OK;
}

static int check_mm_new(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    struct trace_mm_slot *unused;

    if (op->mm < 0 || (u64)op->mm > TRACE_MAX_ID)       /* kernel, null, out of range */
        return mm_live(c, op->mm, &unused, err);
    struct trace_mm_slot *s = mm_find(c, (u64)op->mm);
    if (s && s->state == MMS_LIVE)
        return sim_err_set(err, SIM_EPARSE, "mm %" PRId64 ": address space already exists",
                           op->mm);
    if (c->nr_live >= TRACE_MAX_MMS)
        return sim_err_set(err, SIM_ELIMIT, "mm: more than %d address spaces live at once",
                           TRACE_MAX_MMS);
    if (!s) {
        if ((c->used + 1) * 2 > c->cap && mm_rehash(c, c->cap * 2, true))
            return sim_err_set(err, SIM_ENOMEM, "out of memory");
        s = mm_place(c->slots, c->cap, (u64)op->mm);
        s->id = (u64)op->mm;
        c->used++;
    } else
        c->nr_exited--;
    s->state = MMS_LIVE;
    s->nr_running = 0;
    c->nr_live++;
    return SIM_OK;
}

static int check_mm_exit(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    struct trace_mm_slot *s;
    int rc = mm_live(c, op->mm, &s, err);

    if (rc)
        return rc;
    if (s->nr_running) {
        u32 cpu = 0;
        while (cpu < c->cpus && c->cur_mm[cpu] != op->mm)
            cpu++;
        return sim_err_set(err, SIM_EPARSE, "mm %" PRId64 ": address space is still running "
                           "on cpu %u (switch that cpu away first)", op->mm, cpu);
    }
    s->state = MMS_EXITED;
    c->nr_live--;
    c->nr_exited++;
    if (c->nr_exited > TRACE_MAX_EXITED && mm_rehash(c, c->cap, false))
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    return SIM_OK;
}

static int check_map(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    struct trace_mm_slot *s;
    int rc;

    if (op->mm != MM_KERNEL && (rc = mm_live(c, op->mm, &s, err)))
        return rc;
    if (!page_name(op->page_shift))
        return sim_err_set(err, SIM_EPARSE, "page: invalid page shift %u", op->page_shift);
    if (!prot_name(op->prot))
        return sim_err_set(err, SIM_EPARSE, "prot: invalid protection 0x%x", op->prot);
    if (op->mm == MM_KERNEL)
        return check_range(c, op->va, op->len, op->page_shift, HALF_KERNEL,
                           "a kernel map", err);
    return check_range(c, op->va, op->len, op->page_shift, HALF_USER, "a user map", err);
}

/* unmap, protect, zap, migrate, and flush with a range. */
static int check_mm_range(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    struct trace_mm_slot *s;
    int rc = mm_live(c, op->mm, &s, err);

    if (rc)
        return rc;
    if (op->type == OP_PROTECT && !prot_name(op->prot))
        return sim_err_set(err, SIM_EPARSE, "prot: invalid protection 0x%x", op->prot);
    if (op->type == OP_FLUSH && (op->flags & OPF_STRIDE) && !page_name(op->stride_shift))
        return sim_err_set(err, SIM_EPARSE, "stride: invalid stride shift %u", op->stride_shift);
    if (op->type == OP_FLUSH && (op->flags & OPF_ALL))
        return SIM_OK;
    return check_range(c, op->va, op->len, PAGE_SHIFT_4K, HALF_USER, op_desc[op->type].name, err);
}

static int check_access(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    const u64 *vas = op->vas ? op->vas : &op->va;
    bool user = false;
    u64 uva = 0;

    if (!kind_valid(op->kind))
        return sim_err_set(err, SIM_EPARSE, "kind: must be \"r\", \"w\" or \"x\"");
    if (op->nr_va == 0)
        return sim_err_set(err, SIM_EPARSE, "va: an access needs at least one address");
    if (op->nr_va > TRACE_MAX_ARRAY)
        return sim_err_set(err, SIM_ELIMIT, "va: array of %u addresses exceeds the limit of %d",
                           op->nr_va, TRACE_MAX_ARRAY);
    if (op->nr_va > 1 && !(op->flags & OPF_VA_ARRAY))
        return sim_err_set(err, SIM_EPARSE, "va: %u addresses without OPF_VA_ARRAY", op->nr_va);
    if (!op->vas && op->nr_va > 1)
        return sim_err_set(err, SIM_EINVAL, "va: vas is NULL");
    for (u32 i = 0; i < op->nr_va; i++) {
        if (unlikely(!va_canonical(vas[i], c->va_bits))) {
            if (op->flags & OPF_VA_ARRAY)
                return sim_err_set(err, SIM_EPARSE, "va[%u]: address 0x%" PRIx64
                                   " is not canonical", i, vas[i]);
            return sim_err_set(err, SIM_EPARSE, "va: address 0x%" PRIx64 " is not canonical",
                               vas[i]);
        }
        if (!va_is_kernel(vas[i]) && !user) {
            user = true;
            uva = vas[i];
        }
    }
    return user ? need_user_mm(c, op, uva, err) : SIM_OK;
}

static int check_stream(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    u64 span, last;

    if (!kind_valid(op->kind))
        return sim_err_set(err, SIM_EPARSE, "kind: must be \"r\", \"w\" or \"x\"");
    if (op->stride == 0)
        return sim_err_set(err, SIM_EPARSE, "stride: must be at least 1 byte");
    if (op->count == 0)
        return sim_err_set(err, SIM_EPARSE, "count: must be at least 1");
    if (op->count > TRACE_MAX_COUNT)
        return sim_err_set(err, SIM_ELIMIT, "count: %" PRIu64 " exceeds the limit of %llu",
                           op->count, (unsigned long long)TRACE_MAX_COUNT);
    if (!va_canonical(op->va, c->va_bits))
        return sim_err_set(err, SIM_EPARSE, "va: address 0x%" PRIx64 " is not canonical", op->va);
    if (__builtin_mul_overflow(op->stride, op->count - 1, &span) ||
        __builtin_add_overflow(op->va, span, &last))
        return sim_err_set(err, SIM_EPARSE, "count: the stream runs past the end of the "
                           "address space");
    /* Both ends canonical and in one half: every address between is too. */
    if (!va_canonical(last, c->va_bits) || va_is_kernel(last) != va_is_kernel(op->va))
        return sim_err_set(err, SIM_EPARSE, "count: the stream leaves the canonical range "
                           "(last address 0x%" PRIx64 ")", last);
    return va_is_kernel(op->va) ? SIM_OK : need_user_mm(c, op, op->va, err);
}

static int check_switch(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    struct trace_mm_slot *s;
    int rc;

    if (op->mm != MM_NULL && (rc = mm_live(c, op->mm, &s, err)))
        return rc;
    cpu_set_mm(c, op->cpu, op->mm);
    return SIM_OK;
}

static int check_misc(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    switch (op->type) {
    case OP_IDLE:
        if ((op->flags & OPF_CSTATE) && op->cstate != 1 && op->cstate != 6)
            return sim_err_set(err, SIM_EPARSE, "cstate: must be 1 or 6, not %u", op->cstate);
        cpu_set_mm(c, op->cpu, MM_NULL);        /* idle is a kernel thread: lazy TLB */
        return SIM_OK;
    case OP_KFLUSH:
        return check_range(c, op->va, op->len, PAGE_SHIFT_4K, HALF_KERNEL, "kflush", err);
    case OP_IRQS_OFF:
        if (op->cycles == 0)
            return sim_err_set(err, SIM_EPARSE, "cycles: must be greater than 0");
        return SIM_OK;
    case OP_MARK: {
        if (!op->label)
            return sim_err_set(err, SIM_EPARSE, "label: missing");
        size_t n = strnlen(op->label, TRACE_MAX_LABEL + 1);
        if (n > TRACE_MAX_LABEL)
            return sim_err_set(err, SIM_ELIMIT, "label: longer than %d bytes", TRACE_MAX_LABEL);
        if (!trace_utf8_valid((const u8 *)op->label, n, NULL))
            return sim_err_set(err, SIM_EPARSE, "label: invalid UTF-8");
        return SIM_OK;
    }
    default:                                    /* vcpu_preempt, vcpu_run */
        return SIM_OK;
    }
}

int trace_check_op(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    int rc;

    if ((unsigned)op->type >= OP__COUNT)
        return sim_err_set(err, SIM_EPARSE, "op: unknown op type %u", (unsigned)op->type);
    if ((rc = check_flags(c, op, err)))
        return rc;
    switch (op->type) {
    case OP_ACCESS:  return check_access(c, op, err);
    case OP_STREAM:  return check_stream(c, op, err);
    case OP_MM_NEW:  return check_mm_new(c, op, err);
    case OP_MM_EXIT: return check_mm_exit(c, op, err);
    case OP_MAP:     return check_map(c, op, err);
    case OP_UNMAP: case OP_PROTECT: case OP_ZAP: case OP_MIGRATE: case OP_FLUSH:
        return check_mm_range(c, op, err);
    case OP_SWITCH:  return check_switch(c, op, err);
    default:         return check_misc(c, op, err);
    }
}

/* ===== JSON line pre-scan: UTF-8, control bytes, exact numbers ========== */

/* Number table values above TRACE_MAX_ID: why a number is not an id. */
#define NUM_NEG  (UINT64_MAX - 0)       /* negative */
#define NUM_FRAC (UINT64_MAX - 1)       /* not an integer */
#define NUM_BIG  (UINT64_MAX - 2)       /* above 2^53 */
#define NUM_BAD  (UINT64_MAX - 3)       /* not JSON number syntax ("01", "1.") */

static bool is_digit(u8 c) { return c >= '0' && c <= '9'; }

/* Exact value of a JSON number token, or a NUM_* class.  Value = the
 * significant digits D times 10^scale, computed without floating point. */
static u64 num_exact(const u8 *s, size_t n)
{
    size_t i = 0, is, ie, fs, fe;
    bool neg = false;
    long long exp = 0;

    if (s[0] == '-')
        neg = true, i++;
    if (i >= n || !is_digit(s[i]) || (s[i] == '0' && i + 1 < n && is_digit(s[i + 1])))
        return NUM_BAD;
    for (is = i; i < n && is_digit(s[i]); i++)
        ;
    ie = fs = fe = i;
    if (i < n && s[i] == '.') {
        for (fs = ++i; i < n && is_digit(s[i]); i++)
            ;
        if ((fe = i) == fs)
            return NUM_BAD;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        if (i >= n || !is_digit(s[i]))
            return NUM_BAD;
        for (; i < n && is_digit(s[i]); i++)
            if (exp < 1000000)
                exp = exp * 10 + (s[i] - '0');
        if (eneg)
            exp = -exp;
    }
    if (i != n)
        return NUM_BAD;

    /* digit k of int+frac has weight 10^(intlen - 1 - k + exp) */
    size_t intlen = ie - is, total = intlen + (fe - fs), first = total, last = 0;
#define DIGIT(k) ((k) < intlen ? s[is + (k)] : s[fs + (k) - intlen])
    for (size_t k = 0; k < total; k++)
        if (DIGIT(k) != '0') {
            if (first == total)
                first = k;
            last = k;
        }
    if (first == total)
        return 0;                                       /* 0, -0, 0.0e5 */
    if (neg)
        return NUM_NEG;
    long long scale = (long long)intlen - 1 - (long long)last + exp;
    if (scale < 0)
        return NUM_FRAC;
    if ((long long)(last - first + 1) + scale > 16)     /* 2^53 has 16 digits */
        return NUM_BIG;
    u64 v = 0;
    for (size_t k = first; k <= last; k++)
        v = v * 10 + (u64)(DIGIT(k) - '0');
#undef DIGIT
    while (scale-- > 0)
        v *= 10;
    return v > TRACE_MAX_ID ? NUM_BIG : v;
}

static int nums_push(struct trace_numtab *nt, u64 v, size_t off, size_t len)
{
    if (nt->n == nt->cap) {
        size_t nc = nt->cap ? nt->cap * 2 : 256;
        u64 *nv = realloc(nt->v, nc * sizeof(*nv));
        if (!nv)
            return SIM_ENOMEM;
        nt->v = nv;
        u32 *np = realloc(nt->pos, nc * sizeof(*np));
        if (!np)
            return SIM_ENOMEM;
        nt->pos = np;
        nt->cap = nc;
    }
    nt->pos[nt->n] = (u32)(off << 8 | (len < 255 ? len : 255));   /* off < 2^24: a line */
    nt->v[nt->n++] = v;
    return SIM_OK;
}

static bool is_numch(u8 c)
{
    return is_digit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* Scan a string body from s[i] (after the opening quote); returns the index
 * after the closing quote, n if unterminated, or SIZE_MAX with err set. */
static size_t scan_string(const u8 *s, size_t n, size_t i, struct sim_err *err)
{
    while (i < n) {
        u8 c = s[i];
        if (likely(c >= 0x20 && c < 0x80 && c != '"' && c != '\\')) {
            i++;
            continue;
        }
        if (c == '"')
            return i + 1;
        if (c == '\\') {
            if (i + 5 < n && s[i + 1] == 'u' && !memcmp(s + i + 2, "0000", 4)) {
                sim_err_set(err, SIM_EPARSE, "\\u0000 is not allowed in strings (column %zu)",
                            i + 1);
                return SIZE_MAX;
            }
            i += 2;
        } else if (c < 0x20) {
            sim_err_set(err, SIM_EPARSE, "control character 0x%02x in a string (column %zu)",
                        c, i + 1);
            return SIZE_MAX;
        } else if (c >= 0x80) {
            size_t k = utf8_seq(s + i, n - i);
            if (!k) {
                sim_err_set(err, SIM_EPARSE, "invalid UTF-8 (column %zu)", i + 1);
                return SIZE_MAX;
            }
            i += k;
        } else
            i++;
    }
    return n;
}

/* A valid op nests two levels (the object, a va array); anything much deeper
 * is garbage, refused here before cJSON recurses into it. */
#define TRACE_MAX_DEPTH 64

static int json_prescan(struct trace_numtab *nt, const u8 *s, size_t n, struct sim_err *err)
{
    size_t i = 0, depth = 0;

    _Static_assert(TRACE_MAX_LINE < (1u << 24), "numtab positions hold 24-bit offsets");
    nt->n = nt->next = 0;
    nt->line = (const char *)s;
    while (i < n) {
        u8 c = s[i];
        if (c == '"') {
            if ((i = scan_string(s, n, i + 1, err)) == SIZE_MAX)
                return SIM_EPARSE;
        } else if (c == '-' || is_digit(c)) {
            size_t j = i + 1;
            while (j < n && is_numch(s[j]))
                j++;
            if (nums_push(nt, num_exact(s + i, j - i), i, j - i))
                return sim_err_set(err, SIM_ENOMEM, "out of memory");
            i = j;
        } else if (c == '[' || c == '{') {
            if (++depth > TRACE_MAX_DEPTH)
                return sim_err_set(err, SIM_EPARSE, "JSON nested deeper than %d levels "
                                   "(column %zu)", TRACE_MAX_DEPTH, i + 1);
            i++;
        } else if (c == ']' || c == '}') {
            depth -= depth > 0;
            i++;
        } else if (c >= 0x80) {
            return sim_err_set(err, SIM_EPARSE, "invalid UTF-8 or stray byte (column %zu)",
                               i + 1);
        } else if (c < 0x20 && c != '\t' && c != '\r') {
            return sim_err_set(err, SIM_EPARSE, "control character 0x%02x (column %zu)",
                               c, i + 1);
        } else
            i++;
    }
    return SIM_OK;
}

/* ===== JSON values ======================================================= */

struct jctx {
    struct trace_reader *r;             /* owner of vas/label/nums */
    struct trace_numtab *nt;            /* exact numbers of this line */
};

static const char *json_type(const cJSON *it)
{
    if (cJSON_IsNull(it))   return "null";
    if (cJSON_IsBool(it))   return "a boolean";
    if (cJSON_IsNumber(it)) return "a number";
    if (cJSON_IsString(it)) return "a string";
    if (cJSON_IsArray(it))  return "an array";
    return "an object";
}

/* "va" or "va[3]" */
static const char *fname(const char *fld, long idx, char buf[32])
{
    if (idx < 0)
        return fld;
    snprintf(buf, 32, "%s[%ld]", fld, idx);
    return buf;
}

/* A JSON integer 0..2^53, exactly (the node must be a number).  Messages
 * quote the number as written, not as a double. */
static int json_int(struct jctx *j, const char *fld, long idx, u64 *out,
                    struct sim_err *err)
{
    const struct trace_numtab *nt = j->nt;
    char b[32];

    if (nt->next >= nt->n)
        return sim_err_set(err, SIM_EINTERNAL, "%s: number table out of step",
                           fname(fld, idx, b));
    size_t k = j->nt->next++;
    u64 v = nt->v[k];
    if (likely(v <= TRACE_MAX_ID)) {
        *out = v;
        return SIM_OK;
    }
    int len = (int)(nt->pos[k] & 255) > 40 ? 40 : (int)(nt->pos[k] & 255);
    const char *tok = nt->line + (nt->pos[k] >> 8);
    const char *why = v == NUM_NEG ? "is negative" : v == NUM_FRAC ? "is not an integer" :
                      v == NUM_BIG ? "is above 2^53 (write large values as hex strings)" :
                      "is not a valid JSON number";
    return sim_err_set(err, SIM_EPARSE, "%s: %.*s%s %s", fname(fld, idx, b), len, tok,
                       len < (int)(nt->pos[k] & 255) ? "~" : "", why);
}

static int json_hex(const char *s, const char *fld, long idx, u64 *out, struct sim_err *err)
{
    const u8 *p = (const u8 *)s + 2;
    char b[32], q[48];
    u64 v = 0;
    size_t n;

    if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        goto bad;
    for (n = 0;; n++) {                         /* hot: every address string */
        u32 d = (u32)p[n] - '0';
        if (d > 9) {
            d = (u32)(p[n] | 0x20) - 'a';
            if (d > 5)
                break;
            d += 10;
        }
        v = v << 4 | d;
    }
    if (unlikely(p[n] != '\0' || n == 0))
        goto bad;
    if (unlikely(n > 16))
        return sim_err_set(err, SIM_EPARSE, "%s: \"%s\" has more than 16 hex digits",
                           fname(fld, idx, b), msg_str(s, q));
    *out = v;
    return SIM_OK;
bad:
    return sim_err_set(err, SIM_EPARSE, "%s: \"%s\" is not a hex string (\"0x...\")",
                       fname(fld, idx, b), msg_str(s, q));
}

/* An address, length or count: hex string or JSON integer. */
static int json_u64(struct jctx *j, const cJSON *it, const char *fld, long idx, u64 *out,
                    struct sim_err *err)
{
    char b[32];

    if (cJSON_IsString(it))
        return json_hex(it->valuestring, fld, idx, out, err);
    if (cJSON_IsNumber(it))
        return json_int(j, fld, idx, out, err);
    return sim_err_set(err, SIM_EPARSE, "%s: expected a hex string or an integer, got %s",
                       fname(fld, idx, b), json_type(it));
}

/* A JSON integer only (cpu, mm id, version, ...). */
static int json_uint(struct jctx *j, const cJSON *it, const char *fld, u64 *out,
                     struct sim_err *err)
{
    if (!cJSON_IsNumber(it))
        return sim_err_set(err, SIM_EPARSE, "%s: expected an integer, got %s", fld,
                           json_type(it));
    return json_int(j, fld, -1, out, err);
}

static int json_bool(const cJSON *it, const char *fld, bool *out, struct sim_err *err)
{
    if (!cJSON_IsBool(it))
        return sim_err_set(err, SIM_EPARSE, "%s: expected true or false, got %s", fld,
                           json_type(it));
    *out = cJSON_IsTrue(it);
    return SIM_OK;
}

/* A string field that must be one of `names` (NULL-terminated); *out = index. */
static int json_enum(const cJSON *it, const char *fld, const char *const *names,
                     const char *expect, int *out, struct sim_err *err)
{
    char q[48];

    if (!cJSON_IsString(it))
        return sim_err_set(err, SIM_EPARSE, "%s: expected %s, got %s", fld, expect,
                           json_type(it));
    for (int i = 0; names[i]; i++)
        if (strcmp(it->valuestring, names[i]) == 0) {
            *out = i;
            return SIM_OK;
        }
    return sim_err_set(err, SIM_EPARSE, "%s: \"%s\" is not %s", fld,
                       msg_str(it->valuestring, q), expect);
}

static const char *const page_names[] = { "4k", "2m", "1g", NULL };
static const u8 page_shifts[] = { PAGE_SHIFT_4K, PAGE_SHIFT_2M, PAGE_SHIFT_1G };
static const char *const prot_names[] = { "r", "rw", "rx", "rwx", NULL };
static const u8 prot_bits[] = { PROT_R, PROT_R | PROT_W, PROT_R | PROT_X,
                                PROT_R | PROT_W | PROT_X };
static const char *const kind_names[] = { "r", "w", "x", NULL };

/* ===== JSON op fields ==================================================== */

static int json_va(struct jctx *j, const cJSON *it, struct trace_op *op, struct sim_err *err)
{
    struct trace_reader *r = j->r;
    int rc;

    if (op->type != OP_ACCESS || !cJSON_IsArray(it)) {
        if ((rc = json_u64(j, it, "va", -1, &op->va, err)))
            return rc;
        if (op->type == OP_ACCESS) {
            if ((rc = trace_reader_vas(r, 1)))
                return sim_err_set(err, rc, "out of memory");
            r->vas[0] = op->va;
            op->vas = r->vas;
            op->nr_va = 1;
        }
        return SIM_OK;
    }
    u32 n = 0;
    for (const cJSON *e = it->child; e; e = e->next)
        if (++n > TRACE_MAX_ARRAY)
            return sim_err_set(err, SIM_ELIMIT, "va: array of more than %d addresses exceeds "
                               "the limit", TRACE_MAX_ARRAY);
    if (n == 0)
        return sim_err_set(err, SIM_EPARSE, "va: empty array (an access needs an address)");
    if ((rc = trace_reader_vas(r, n)))
        return sim_err_set(err, rc, "out of memory");
    u32 i = 0;
    for (const cJSON *e = it->child; e; e = e->next, i++)
        if ((rc = json_u64(j, e, "va", (long)i, &r->vas[i], err)))
            return rc;
    op->flags |= OPF_VA_ARRAY;
    op->vas = r->vas;
    op->nr_va = n;
    op->va = r->vas[0];
    return SIM_OK;
}

static int json_mm(struct jctx *j, const cJSON *it, struct trace_op *op, struct sim_err *err)
{
    u64 v;
    int rc;

    if (cJSON_IsNull(it)) {
        op->mm = MM_NULL;
        return SIM_OK;
    }
    if (cJSON_IsString(it) && strcmp(it->valuestring, "kernel") == 0) {
        op->mm = MM_KERNEL;
        return SIM_OK;
    }
    if (!cJSON_IsNumber(it))
        return sim_err_set(err, SIM_EPARSE, "mm: expected an integer id%s, got %s",
                           op->type == OP_MAP ? " or \"kernel\"" :
                           op->type == OP_SWITCH ? " or null" : "", json_type(it));
    if ((rc = json_int(j, "mm", -1, &v, err)))
        return rc;
    op->mm = (s64)v;
    return SIM_OK;
}

static int json_flush_stride(struct jctx *j, const cJSON *it, struct trace_op *op,
                             struct sim_err *err)
{
    u64 v = 0;
    int k, rc;

    op->flags |= OPF_STRIDE;
    if (cJSON_IsString(it)) {
        if (json_enum(it, "stride", page_names, "", &k, NULL) == SIM_OK) {
            op->stride_shift = page_shifts[k];
            return SIM_OK;
        }
        json_hex(it->valuestring, "stride", -1, &v, NULL);
    } else if (cJSON_IsNumber(it) && (rc = json_int(j, "stride", -1, &v, err)))
        return rc;
    for (k = 0; k < 3; k++)
        if (v == 1ull << page_shifts[k]) {
            op->stride_shift = page_shifts[k];
            return SIM_OK;
        }
    return sim_err_set(err, SIM_EPARSE, "stride: must be 4096, 2097152 or 1073741824 (or "
                       "\"4k\", \"2m\", \"1g\")");
}

static int json_cstate(struct jctx *j, const cJSON *it, struct trace_op *op, struct sim_err *err)
{
    static const char *const names[] = { "C1", "C6", NULL };
    u64 v = 0;
    int k, rc;

    op->flags |= OPF_CSTATE;
    if (cJSON_IsString(it)) {
        if ((rc = json_enum(it, "cstate", names, "1, 6, \"C1\" or \"C6\"", &k, err)))
            return rc;
        op->cstate = k ? 6 : 1;
        return SIM_OK;
    }
    if ((rc = json_uint(j, it, "cstate", &v, err)))
        return rc;
    if (v != 1 && v != 6)
        return sim_err_set(err, SIM_EPARSE, "cstate: must be 1 or 6 (or \"C1\", \"C6\"), "
                           "not %" PRIu64, v);
    op->cstate = (u8)v;
    return SIM_OK;
}

static int json_label(struct jctx *j, const cJSON *it, struct trace_op *op, struct sim_err *err)
{
    if (!cJSON_IsString(it))
        return sim_err_set(err, SIM_EPARSE, "label: expected a string, got %s", json_type(it));
    size_t n = strlen(it->valuestring);
    if (n > TRACE_MAX_LABEL)
        return sim_err_set(err, SIM_ELIMIT, "label: %zu bytes exceeds the limit of %d",
                           n, TRACE_MAX_LABEL);
    memcpy(j->r->label, it->valuestring, n + 1);
    op->label = j->r->label;
    return SIM_OK;
}

static int json_flag(const cJSON *it, int f, u32 flag, struct trace_op *op, struct sim_err *err)
{
    bool b = false;
    int rc = json_bool(it, field_names[f], &b, err);

    if (rc)
        return rc;
    op->flags = b ? (op->flags | flag) : (op->flags & ~flag);
    return SIM_OK;
}

static int json_field(struct jctx *j, int f, const cJSON *it, struct trace_op *op,
                      struct sim_err *err)
{
    u64 v;
    int k, rc;

    switch (f) {
    case F_OP:
        return SIM_OK;
    case F_CPU:
        if ((rc = json_uint(j, it, "cpu", &v, err)))
            return rc;
        if (v >= j->r->hdr.cpus)
            return sim_err_set(err, SIM_EPARSE, "cpu: %" PRIu64 " is not below the header's "
                               "cpus (%u)", v, j->r->hdr.cpus);
        op->cpu = (u32)v;
        op->flags |= OPF_CPU;
        return SIM_OK;
    case F_MM:     return json_mm(j, it, op, err);
    case F_VA:     return json_va(j, it, op, err);
    case F_LEN:    return json_u64(j, it, "len", -1, &op->len, err);
    case F_COUNT:  return json_u64(j, it, "count", -1, &op->count, err);
    case F_CYCLES: return json_u64(j, it, "cycles", -1, &op->cycles, err);
    case F_T:
        op->flags |= OPF_T;
        return json_u64(j, it, "t", -1, &op->t, err);
    case F_GAP:
        op->flags |= OPF_GAP;
        return json_u64(j, it, "gap", -1, &op->gap, err);
    case F_STRIDE:
        if (op->type == OP_FLUSH)
            return json_flush_stride(j, it, op, err);
        return json_u64(j, it, "stride", -1, &op->stride, err);
    case F_KIND:
        rc = json_enum(it, "kind", kind_names, "\"r\", \"w\" or \"x\"", &k, err);
        op->kind = rc ? 0 : (u8)kind_names[k][0];
        return rc;
    case F_PAGE:
        rc = json_enum(it, "page", page_names, "\"4k\", \"2m\" or \"1g\"", &k, err);
        op->page_shift = rc ? 0 : page_shifts[k];
        return rc;
    case F_PROT:
        rc = json_enum(it, "prot", prot_names, "\"r\", \"rw\", \"rx\" or \"rwx\"", &k, err);
        op->prot = rc ? 0 : prot_bits[k];
        return rc;
    case F_POPULATE:     return json_flag(it, f, OPF_POPULATE, op, err);
    case F_GLOBAL:       return json_flag(it, f, OPF_GLOBAL, op, err);
    case F_ALL:          return json_flag(it, f, OPF_ALL, op, err);
    case F_FREED_TABLES: return json_flag(it, f, OPF_FREED_TABLES, op, err);
    case F_CSTATE:       return json_cstate(j, it, op, err);
    case F_LABEL:        return json_label(j, it, op, err);
    }
    return sim_err_set(err, SIM_EINTERNAL, "internal: field %d", f);
}

/* The "op" member: found first, since it decides which fields are valid. */
static int json_find_op(const cJSON *root, int *type, struct sim_err *err)
{
    const cJSON *op = NULL, *it;
    char q[48];

    for (it = root->child; it; it = it->next)
        if (it->string[0] == 'o' && it->string[1] == 'p' && !it->string[2]) {
            if (op)
                return sim_err_set(err, SIM_EPARSE, "op: duplicate key");
            op = it;
        }
    if (!op) {
        for (it = root->child; it; it = it->next)
            if (strcmp(it->string, "format") == 0)
                return sim_err_set(err, SIM_EPARSE, "format: a second header line "
                                   "(the header must be the first line only)");
        return sim_err_set(err, SIM_EPARSE, "op: missing");
    }
    if (!cJSON_IsString(op))
        return sim_err_set(err, SIM_EPARSE, "op: expected a string, got %s", json_type(op));
    if ((*type = op_lookup(op->valuestring)) < 0)
        return sim_err_set(err, SIM_EPARSE, "op: unknown op \"%s\"",
                           msg_str(op->valuestring, q));
    return SIM_OK;
}

static int json_op_presence(const struct trace_op *op, u32 seen, struct sim_err *err)
{
    const struct op_desc *d = &op_desc[op->type];
    u32 missing = d->req & ~seen;

    if (missing) {
        int f = __builtin_ctz(missing);
        return sim_err_set(err, SIM_EPARSE, "%s: missing (required by %s)",
                           field_names[f], d->name);
    }
    if ((seen & B(F_T)) && (seen & B(F_GAP)))
        return sim_err_set(err, SIM_EPARSE, "gap: t and gap are exclusive (give one)");
    if (op->type != OP_FLUSH)
        return SIM_OK;
    if (op->flags & OPF_ALL) {
        if (seen & (B(F_VA) | B(F_LEN)))
            return sim_err_set(err, SIM_EPARSE, "all: \"all\":true excludes va and len");
        return SIM_OK;
    }
    if (!(seen & (B(F_VA) | B(F_LEN))))
        return sim_err_set(err, SIM_EPARSE, "va: flush needs va and len, or \"all\":true");
    if (!(seen & B(F_VA)))
        return sim_err_set(err, SIM_EPARSE, "va: missing (flush with len)");
    if (!(seen & B(F_LEN)))
        return sim_err_set(err, SIM_EPARSE, "len: missing (flush with va)");
    return SIM_OK;
}

static int json_parse_op(struct trace_reader *r, const cJSON *root, struct trace_op *op,
                         struct sim_err *err)
{
    struct jctx j = { r, &r->nums };
    char q[48];
    u32 seen = 0;
    int type = 0, rc;

    if ((rc = json_find_op(root, &type, err)))
        return rc;
    memset(op, 0, sizeof(*op));
    op->type = (enum trace_op_type)type;
    if (type == OP_MAP)
        op->flags |= OPF_POPULATE;
    if (type == OP_FLUSH)
        op->stride_shift = PAGE_SHIFT_4K;
    const struct op_desc *d = &op_desc[type];
    u32 allowed = d->req | d->opt | COMMON_FIELDS;
    for (const cJSON *it = root->child; it; it = it->next) {
        int f = field_lookup(it->string);
        if (f < 0 || !(allowed & B(f)))
            return sim_err_set(err, SIM_EPARSE, "%s: unknown field for %s",
                               msg_str(it->string, q), d->name);
        if (seen & B(f))
            return sim_err_set(err, SIM_EPARSE, "%s: duplicate key", field_names[f]);
        seen |= B(f);
        if ((rc = json_field(&j, f, it, op, err)))
            return rc;
    }
    return json_op_presence(op, seen, err);
}

/* ===== JSON header ======================================================= */

static int json_hdr_string(const cJSON *it, const char *fld, char *dst, struct sim_err *err)
{
    if (!cJSON_IsString(it))
        return sim_err_set(err, SIM_EPARSE, "%s: expected a string, got %s", fld, json_type(it));
    size_t n = strlen(it->valuestring);
    if (n > TRACE_MAX_NAME)
        return sim_err_set(err, SIM_ELIMIT, "%s: %zu bytes exceeds the limit of %d",
                           fld, n, TRACE_MAX_NAME);
    memcpy(dst, it->valuestring, n + 1);
    return SIM_OK;
}

static int json_hdr_field(struct jctx *j, const cJSON *it, struct trace_header *h,
                          u32 *seen, struct sim_err *err)
{
    static const char *const keys[] = { "format", "version", "cpus", "name", "source",
                                        "va_bits", NULL };
    char q[48];
    u64 v = 0;
    int k, rc;

    for (k = 0; keys[k] && strcmp(keys[k], it->string); k++)
        ;
    if (!keys[k])
        return sim_err_set(err, SIM_EPARSE, "%s: unknown header field",
                           msg_str(it->string, q));
    if (*seen & B(k))
        return sim_err_set(err, SIM_EPARSE, "%s: duplicate key", keys[k]);
    *seen |= B(k);
    switch (k) {
    case 0:
        if (!cJSON_IsString(it) || strcmp(it->valuestring, "tlbsim-trace"))
            return sim_err_set(err, SIM_EPARSE, "format: expected \"tlbsim-trace\"");
        return SIM_OK;
    case 3: return json_hdr_string(it, "name", h->name, err);
    case 4: return json_hdr_string(it, "source", h->source, err);
    }
    if ((rc = json_uint(j, it, keys[k], &v, err)))
        return rc;
    v = v > UINT32_MAX ? UINT32_MAX : v;
    if (k == 1)
        h->version = (u32)v;
    else if (k == 2)
        h->cpus = (u32)v;
    else if (v != 48 && v != 57)
        return sim_err_set(err, SIM_EPARSE, "va_bits: must be 48 or 57");
    else
        h->va_bits = (u32)v;
    return SIM_OK;
}

static int json_parse_header(struct trace_reader *r, const cJSON *root, struct sim_err *err)
{
    struct jctx j = { r, &r->nums };
    struct trace_header *h = &r->hdr;
    u32 seen = 0;
    int rc;

    if (!cJSON_GetObjectItemCaseSensitive(root, "format"))
        return sim_err_set(err, SIM_EPARSE, "header: missing (the first line must be "
                           "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":N})");
    memset(h, 0, sizeof(*h));
    h->va_bits = 48;
    for (const cJSON *it = root->child; it; it = it->next)
        if ((rc = json_hdr_field(&j, it, h, &seen, err)))
            return rc;
    if (!(seen & B(1)))
        return sim_err_set(err, SIM_EPARSE, "version: missing from the header");
    if (!(seen & B(2)))
        return sim_err_set(err, SIM_EPARSE, "cpus: missing from the header");
    return trace_check_header(h, err);
}

/* ===== JSON line reader ================================================== */

static int rd_fail(struct trace_reader *r, struct sim_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int rd_fail(struct trace_reader *r, struct sim_err *err, int code, const char *fmt, ...)
{
    char msg[SIM_ERR_MSG];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sim_err_set(err, code, "%s:%" PRIu64 ": %s", r->path, r->line, msg);
}

/* Next raw line (without '\n', NUL-terminated in place): 1, 0 at EOF, < 0. */
static int json_next_line(struct trace_reader *r, char **line, size_t *len, struct sim_err *err)
{
    struct trace_rdbuf *b = &r->in;
    size_t scanned = 0;

    for (;;) {
        u8 *s = b->buf + b->start, *nl = memchr(s + scanned, '\n', b->end - b->start - scanned);
        size_t have = b->end - b->start;
        if (nl || (b->eof && have)) {
            size_t n = nl ? (size_t)(nl - s) : have;
            if (n > TRACE_MAX_LINE)
                break;
            s[n] = '\0';                        /* cap keeps a spare byte */
            b->start += nl ? n + 1 : n;
            if (n && s[n - 1] == '\r')
                s[--n] = '\0';
            *line = (char *)s;
            *len = n;
            return 1;
        }
        if (b->eof)
            return 0;
        if (have > TRACE_MAX_LINE)
            break;
        scanned = have;
        long got = trace_rd_need(b, have + 1, err);
        if (got < 0) {
            r->line++;
            sim_err_prefix(err, "%s:%" PRIu64 ": ", r->path, r->line);
            return (int)got;
        }
    }
    r->line++;
    return rd_fail(r, err, SIM_ELIMIT, "line longer than %u bytes", TRACE_MAX_LINE);
}

static bool line_is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '#')
            return true;
        if (s[i] != ' ' && s[i] != '\t')
            return false;
    }
    return true;
}

/* Pre-scan and parse one line into a cJSON object. */
static int json_parse_line(struct trace_reader *r, char *line, size_t len, cJSON **out,
                           struct sim_err *err)
{
    const char *end = NULL;
    int rc;

    if ((rc = json_prescan(&r->nums, (const u8 *)line, len, err))) {
        sim_err_prefix(err, "%s:%" PRIu64 ": ", r->path, r->line);
        return rc;
    }
    cJSON *root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!root) {
        size_t col = end && end >= line && end <= line + len ? (size_t)(end - line) + 1 : 1;
        return rd_fail(r, err, SIM_EPARSE, "truncated or malformed JSON (column %zu)", col);
    }
    while (end < line + len && (*end == ' ' || *end == '\t' || *end == '\r'))
        end++;
    if (end != line + len) {
        cJSON_Delete(root);
        return rd_fail(r, err, SIM_EPARSE, "malformed JSON: trailing characters (column %zu)",
                       (size_t)(end - line) + 1);
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return rd_fail(r, err, SIM_EPARSE, "the line is not a JSON object");
    }
    *out = root;
    return SIM_OK;
}

static int json_read_header(struct trace_reader *r, struct sim_err *err)
{
    char *line;
    size_t len;
    cJSON *root = NULL;
    int rc;

    do {
        if ((rc = json_next_line(r, &line, &len, err)) < 0)
            return rc;
        if (rc == 0)
            return sim_err_set(err, SIM_EPARSE, "%s: header: missing (no header line; the "
                               "file is empty)", r->path);
        r->line++;
        if (r->line == 1 && len >= 3 && !memcmp(line, "\xef\xbb\xbf", 3))
            line += 3, len -= 3;                /* UTF-8 byte order mark */
    } while (line_is_blank(line, len));
    if ((rc = json_parse_line(r, line, len, &root, err)))
        return rc;
    rc = json_parse_header(r, root, err);
    cJSON_Delete(root);
    if (rc)
        sim_err_prefix(err, "%s:%" PRIu64 ": ", r->path, r->line);
    return rc;
}

/* ===== JSON fast path: canonical access lines ========================== */

/* Access lines are the bulk of a trace, and the general path costs a cJSON
 * node (two allocations) per address.  The writer's canonical form of an
 * access line is simple enough to parse directly:
 *
 *   {"op":"access","cpu":N,"va":"0x..."|["0x...",...],"kind":"r"[,"t":N|,"gap":N]}
 *
 * json_fast_access() accepts exactly that, with plain decimal integers of
 * at most 15 digits (all below 2^53) and 1 to 16 hex digits, and fills *op
 * as the general path would.  Anything else (other spacing or key order,
 * escapes, hex counts, out-of-range values, anything malformed) returns
 * false and takes the general path, which also produces every error
 * message, so the two paths cannot disagree on what a file means.
 * TRACE_JSON_FAST 0 turns it off (tests compare the two). */
#ifndef TRACE_JSON_FAST
#define TRACE_JSON_FAST 1
#endif

/* The line is NUL-terminated: a mismatch with the terminator stops every
 * scan below without a length check. */
static const char *fast_lit(const char *p, const char *lit)
{
    while (*lit)
        if (*p++ != *lit++)
            return NULL;
    return p;
}

/* A JSON integer of 1 to 15 digits (no sign, fraction, exponent or
 * leading zero). */
static const char *fast_dec(const char *p, u64 *out)
{
    u64 v = 0;
    int n = 0;

    while (p[n] >= '0' && p[n] <= '9' && n < 16)
        v = v * 10 + (u64)(p[n++] - '0');
    if (n == 0 || n > 15 || (p[0] == '0' && n > 1) ||
        p[n] == '.' || p[n] == 'e' || p[n] == 'E')
        return NULL;
    *out = v;
    return p + n;
}

static const char *fast_hex(const char *p, u64 *out)
{
    u64 v = 0;
    int n = 0;

    if (p[0] != '"' || p[1] != '0' || (p[2] != 'x' && p[2] != 'X'))
        return NULL;
    for (p += 3;; n++) {
        u32 d = (u32)(u8)p[n] - '0';
        if (d > 9) {
            d = ((u32)(u8)p[n] | 0x20) - 'a';
            if (d > 5)
                break;
            d += 10;
        }
        v = v << 4 | d;
    }
    if (n == 0 || n > 16 || p[n] != '"')
        return NULL;
    *out = v;
    return p + n + 1;
}

static bool json_fast_access(struct trace_reader *r, const char *line, size_t len,
                             struct trace_op *op)
{
    const char *p = fast_lit(line, "{\"op\":\"access\",\"cpu\":"), *q;
    u64 cpu, t = 0, gap = 0;
    u32 n = 0, flags = OPF_CPU;
    u8 kind;

    if (!p || !(p = fast_dec(p, &cpu)) || cpu >= r->hdr.cpus ||
        !(p = fast_lit(p, ",\"va\":")))
        return false;
    if (*p == '[') {
        flags |= OPF_VA_ARRAY;
        do {
            if (n == TRACE_MAX_ARRAY || trace_reader_vas(r, n + 1) ||
                !(p = fast_hex(p + 1, &r->vas[n])))
                return false;
            n++;
        } while (*p == ',');
        if (*p++ != ']')
            return false;
    } else {
        if (trace_reader_vas(r, 1) || !(p = fast_hex(p, &r->vas[0])))
            return false;
        n = 1;
    }
    if (!(p = fast_lit(p, ",\"kind\":\"")) || (*p != 'r' && *p != 'w' && *p != 'x') ||
        p[1] != '"')
        return false;
    kind = (u8)*p;
    p += 2;
    if (*p == ',') {
        if ((q = fast_lit(p, ",\"t\":")) && (q = fast_dec(q, &t)))
            flags |= OPF_T;
        else if ((q = fast_lit(p, ",\"gap\":")) && (q = fast_dec(q, &gap)))
            flags |= OPF_GAP;
        else
            return false;
        p = q;
    }
    if (p[0] != '}' || p + 1 != line + len)
        return false;
    memset(op, 0, sizeof(*op));
    op->type = OP_ACCESS;
    op->flags = flags;
    op->cpu = (u32)cpu;
    op->vas = r->vas;
    op->nr_va = n;
    op->va = r->vas[0];
    op->kind = kind;
    op->t = t;
    op->gap = gap;
    return true;
}

static int json_next(struct trace_reader *r, struct trace_op *op, struct sim_err *err)
{
    char *line;
    size_t len;
    cJSON *root;
    int rc;

    do {
        if ((rc = json_next_line(r, &line, &len, err)) <= 0)
            return rc;
        r->line++;
    } while (line_is_blank(line, len));
    if (TRACE_JSON_FAST && json_fast_access(r, line, len, op)) {
        rc = SIM_OK;
    } else {
        if ((rc = json_parse_line(r, line, len, &root, err)))
            return rc;
        rc = json_parse_op(r, root, op, err);
        cJSON_Delete(root);
    }
    if (!rc) {
        op->line = r->line;
        rc = trace_check_op(&r->chk, op, err);
    }
    if (rc) {
        sim_err_prefix(err, "%s:%" PRIu64 ": ", r->path, r->line);
        return rc;
    }
    return 1;
}

/* ===== reader front end ================================================== */

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
    struct stat st;

    if (strcmp(path, "-") == 0)
        r->in.fd = STDIN_FILENO;
    else if ((r->in.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return sim_err_set(err, SIM_EIO, "%s: cannot open: %s", path, strerror(errno));
    else
        r->in.own_fd = true;
    if (fstat(r->in.fd, &st) < 0)
        return sim_err_set(err, SIM_EIO, "%s: cannot stat: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return sim_err_set(err, SIM_EIO, "%s: is a directory, not a trace file", path);
    if (S_ISREG(st.st_mode))
        r->size = (u64)st.st_size;
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
    if (!(r = calloc(1, sizeof(*r))) || !(r->path = strdup(path))) {
        free(r);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    r->in.fd = -1;
    if ((rc = reader_open_fd(r, path, err)))
        goto fail;
    long n = trace_rd_need(&r->in, 4, err);
    if (n < 0) {
        rc = (int)n;
        sim_err_prefix(err, "%s: ", path);
        goto fail;
    }
    if (n == 4 && !memcmp(r->in.buf + r->in.start, TRACE_BIN_MAGIC, 4)) {
        r->fmt = TRACE_FMT_BINARY;
        rc = trace_bin_open(r, err);
    } else {
        r->fmt = TRACE_FMT_JSONL;
        rc = json_read_header(r, err);
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
        rc = json_next(r, op, &r->sticky_err);
    if (unlikely(rc < 0)) {
        r->sticky = rc;
        r->sticky_err.code = rc;
        if (err)
            *err = r->sticky_err;
    }
    return rc;
}

enum trace_fmt trace_format(const struct trace_reader *r) { return r->fmt; }
u64 trace_size(const struct trace_reader *r) { return r->size; }

u64 trace_bytes_read(const struct trace_reader *r)
{
    return r->in.total - (r->in.end - r->in.start);
}

void trace_close(struct trace_reader *r)
{
    if (!r)
        return;
    if (r->bin)
        trace_bin_free(r);
    if (r->in.own_fd && r->in.fd >= 0)
        close(r->in.fd);
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
    size_t off = 0;

    if (w->failed)
        return w->failed;
    while (off < w->out_len) {
        ssize_t n = write(w->fd, w->out + off, w->out_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            w->failed = SIM_EIO;
            return sim_err_set(err, SIM_EIO, "%s: write error: %s", w->tmp,
                               n < 0 ? strerror(errno) : "short write");
        }
        off += (size_t)n;
    }
    w->out_len = 0;
    return SIM_OK;
}

/* Make room for n more bytes at w->out + w->out_len. */
static int w_reserve(struct trace_writer *w, size_t n, struct sim_err *err)
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
    int rc = w_reserve(w, n, err);

    if (rc)
        return rc;
    memcpy(w->out + w->out_len, p, n);
    w->out_len += n;
    return SIM_OK;
}

/* ===== writer: JSON encoding ============================================= */

static char *j_lit(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static char *j_dec(char *p, u64 v)
{
    char tmp[24];
    int n = 0;

    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10));
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *j_hex(char *p, u64 v)
{
    static const char digits[] = "0123456789abcdef";
    int sh = 60;

    *p++ = '"', *p++ = '0', *p++ = 'x';
    while (sh > 0 && !(v >> sh))
        sh -= 4;
    for (; sh >= 0; sh -= 4)
        *p++ = digits[(v >> sh) & 15];
    *p++ = '"';
    return p;
}

/* A count or cycle value: integer when exact in JSON, else hex string. */
static char *j_num(char *p, u64 v) { return v <= TRACE_MAX_ID ? j_dec(p, v) : j_hex(p, v); }

/* Escaped string; needs up to 6 * strlen + 2 bytes. */
static char *j_str(char *p, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    *p++ = '"';
    for (; *s; s++) {
        u8 c = (u8)*s;
        if (c == '"' || c == '\\')
            *p++ = '\\', *p++ = (char)c;
        else if (c == '\n')
            *p++ = '\\', *p++ = 'n';
        else if (c == '\t')
            *p++ = '\\', *p++ = 't';
        else if (c == '\r')
            *p++ = '\\', *p++ = 'r';
        else if (c < 0x20)
            p = j_lit(p, "\\u00"), *p++ = hex[c >> 4], *p++ = hex[c & 15];
        else
            *p++ = (char)c;
    }
    *p++ = '"';
    return p;
}

static char *j_mm(char *p, s64 mm)
{
    p = j_lit(p, ",\"mm\":");
    if (mm == MM_KERNEL)
        return j_lit(p, "\"kernel\"");
    if (mm == MM_NULL)
        return j_lit(p, "null");
    return j_dec(p, (u64)mm);
}

static bool op_has_mm(enum trace_op_type t)
{
    return t == OP_MM_NEW || t == OP_MM_EXIT || t == OP_MAP || t == OP_UNMAP ||
           t == OP_PROTECT || t == OP_ZAP || t == OP_MIGRATE || t == OP_SWITCH ||
           t == OP_FLUSH;
}

static bool op_has_range(const struct trace_op *op)
{
    switch (op->type) {
    case OP_MAP: case OP_UNMAP: case OP_PROTECT: case OP_ZAP: case OP_MIGRATE: case OP_KFLUSH:
        return true;
    case OP_FLUSH:
        return !(op->flags & OPF_ALL);
    default:
        return false;
    }
}

static char *j_va(char *p, const struct trace_op *op)
{
    const u64 *vas = op->type == OP_ACCESS && op->vas ? op->vas : &op->va;

    if (op->type != OP_ACCESS || !(op->flags & OPF_VA_ARRAY))
        return j_hex(j_lit(p, ",\"va\":"), vas[0]);
    p = j_lit(p, ",\"va\":[");
    for (u32 i = 0; i < op->nr_va; i++) {
        if (i)
            *p++ = ',';
        p = j_hex(p, vas[i]);
    }
    *p++ = ']';
    return p;
}

/* Keys in the fixed order: op cpu mm va len stride count kind page prot
 * populate global all freed_tables cstate cycles label t gap. */
static char *json_encode_op(char *p, const struct trace_op *op)
{
    p = j_lit(p, "{\"op\":\"");
    p = j_lit(p, op_desc[op->type].name);
    *p++ = '"';
    if (op->flags & OPF_CPU)
        p = j_dec(j_lit(p, ",\"cpu\":"), op->cpu);
    if (op_has_mm(op->type))
        p = j_mm(p, op->mm);
    if (op->type == OP_ACCESS || op->type == OP_STREAM || op_has_range(op))
        p = j_va(p, op);
    if (op_has_range(op))
        p = j_hex(j_lit(p, ",\"len\":"), op->len);
    if (op->type == OP_STREAM) {
        p = j_num(j_lit(p, ",\"stride\":"), op->stride);
        p = j_num(j_lit(p, ",\"count\":"), op->count);
    } else if (op->type == OP_FLUSH && (op->flags & OPF_STRIDE)) {
        p = j_lit(j_lit(j_lit(p, ",\"stride\":\""), page_name(op->stride_shift)), "\"");
    }
    if (op->type == OP_ACCESS || op->type == OP_STREAM)
        p = j_lit(p, ",\"kind\":\""), *p++ = (char)op->kind, *p++ = '"';
    if (op->type == OP_MAP)
        p = j_lit(j_lit(j_lit(p, ",\"page\":\""), page_name(op->page_shift)), "\"");
    if (op->type == OP_MAP || op->type == OP_PROTECT)
        p = j_lit(j_lit(j_lit(p, ",\"prot\":\""), prot_name(op->prot)), "\"");
    if (op->type == OP_MAP && !(op->flags & OPF_POPULATE))
        p = j_lit(p, ",\"populate\":false");
    if (op->flags & OPF_GLOBAL)
        p = j_lit(p, ",\"global\":true");
    if (op->flags & OPF_ALL)
        p = j_lit(p, ",\"all\":true");
    if (op->flags & OPF_FREED_TABLES)
        p = j_lit(p, ",\"freed_tables\":true");
    if (op->flags & OPF_CSTATE)
        p = j_dec(j_lit(p, ",\"cstate\":"), op->cstate);
    if (op->type == OP_IRQS_OFF)
        p = j_num(j_lit(p, ",\"cycles\":"), op->cycles);
    if (op->type == OP_MARK)
        p = j_str(j_lit(p, ",\"label\":"), op->label);
    if (op->flags & OPF_T)
        p = j_num(j_lit(p, ",\"t\":"), op->t);
    if (op->flags & OPF_GAP)
        p = j_num(j_lit(p, ",\"gap\":"), op->gap);
    return j_lit(p, "}\n");
}

static int json_write_op(struct trace_writer *w, const struct trace_op *op, struct sim_err *err)
{
    size_t need = 512;
    int rc;

    if (op->type == OP_ACCESS)
        need += (size_t)op->nr_va * 22;
    if (op->type == OP_MARK)
        need += 6 * strlen(op->label);
    if ((rc = w_reserve(w, need, err)))
        return rc;
    char *start = (char *)w->out + w->out_len;
    size_t len = (size_t)(json_encode_op(start, op) - start);
    if (unlikely(len - 1 > TRACE_MAX_LINE))     /* only a long access array can be */
        return sim_err_set(err, SIM_ELIMIT, "%s:%" PRIu64 ": va: %u addresses make a JSON line "
                           "of %zu bytes, over the %u-byte limit (split the access, or use "
                           "the binary form)", w->path, w->nr_ops + 2, op->nr_va, len - 1,
                           TRACE_MAX_LINE);
    w->out_len += len;
    return SIM_OK;
}

static int json_write_header(struct trace_writer *w, struct sim_err *err)
{
    const struct trace_header *h = &w->hdr;
    int rc = w_reserve(w, 256 + 12 * (TRACE_MAX_NAME + 1), err);

    if (rc)
        return rc;
    char *p = (char *)w->out + w->out_len, *start = p;
    p = j_lit(p, "{\"format\":\"tlbsim-trace\",\"version\":");
    p = j_dec(p, h->version);
    p = j_dec(j_lit(p, ",\"cpus\":"), h->cpus);
    if (h->name[0])
        p = j_str(j_lit(p, ",\"name\":"), h->name);
    if (h->source[0])
        p = j_str(j_lit(p, ",\"source\":"), h->source);
    if (h->va_bits != 48)
        p = j_dec(j_lit(p, ",\"va_bits\":"), h->va_bits);
    p = j_lit(p, "}\n");
    w->out_len += (size_t)(p - start);
    return SIM_OK;
}

/* ===== writer front end ================================================== */

static void writer_free(struct trace_writer *w)
{
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
    w->path = strdup(path);
    w->tmp = malloc(strlen(path) + 5);
    w->out_cap = 256u << 10;
    w->out = malloc(w->out_cap);
    if (!w->path || !w->tmp || !w->out || trace_check_init(&w->chk, &w->hdr)) {
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
        goto fail;
    }
    sprintf(w->tmp, "%s.tmp", path);
    if ((w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        rc = sim_err_set(err, SIM_EIO, "%s: cannot create: %s", w->tmp, strerror(errno));
        goto fail;
    }
    rc = fmt == TRACE_FMT_BINARY ? trace_bin_write_header(w, err) : json_write_header(w, err);
    if (rc)
        goto fail;
    *out = w;
    return SIM_OK;
fail:
    if (w->fd >= 0) {
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
    rc = w->fmt == TRACE_FMT_BINARY ? trace_bin_write_op(w, op, err) : json_write_op(w, op, err);
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
        close(w->fd);
        unlink(w->tmp);
    }
    writer_free(w);
    return rc;
}
