/* sim/io/trace_check.c - the op and field tables of trace format v1 and the
 * one semantic checker shared by the JSON Lines and the binary form.
 *
 * Both readers and both writers turn their bytes into a struct trace_op and
 * hand it to trace_check_op(), so `tlbsim check`, `tlbsim run` and every
 * writer accept and reject exactly the same ops with the same messages.
 * The checker keeps the address-space state of the trace (which ids are
 * live, which CPU runs which mm) in a small open-addressing table; it
 * allocates only when that table grows.
 */
#include "trace_priv.h"
#include "../../models/machine.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ===== names ============================================================= */

const char *trace_page_name(unsigned shift)
{
    switch (shift) {
    case PAGE_SHIFT_4K: return "4k";
    case PAGE_SHIFT_2M: return "2m";
    case PAGE_SHIFT_1G: return "1g";
    }
    return NULL;
}

const char *trace_prot_name(unsigned prot)
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

static int keyid_too_large(u64 v, struct sim_err *err)
{
    return sim_err_set(err, SIM_EPARSE, "keyid: %" PRIu64 " is above %u, the largest KeyID "
                       "(paging.keyid_bits is at most 16)", v, TRACE_MAX_KEYID);
}

int trace_keyid_set(struct trace_op *op, u64 v, struct sim_err *err)
{
    if (v > TRACE_MAX_KEYID)
        return keyid_too_large(v, err);
    op->keyid = (u32)v;
    op->flags = v ? (op->flags | OPF_KEYID) : (op->flags & ~OPF_KEYID);
    return SIM_OK;
}

/* ===== UTF-8 ============================================================= */

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
size_t trace_utf8_seq(const u8 *s, size_t n)
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
        if (!(k = trace_utf8_seq(s + i, n - i))) {
            if (bad_at)
                *bad_at = i;
            return false;
        }
        i += k;
    }
    return true;
}

/* ===== semantic checker ================================================== */

/* Values of c->mms: the state in the low two bits, the number of CPUs
 * whose current mm it is above them. */
#define MMV_STATE(v)  ((unsigned)((v) & 3))
#define MMV_RUNNING(v) ((v) >> 2)
#define MMV_ONE_CPU   4u

/* Drop the exited ids (more than TRACE_MAX_EXITED piled up); messages then
 * say "never created or has exited". */
static int mm_forget_exited(struct trace_check *c)
{
    struct u64map live = { 0 };

    for (size_t i = 0; i < c->mms.cap; i++)
        if (c->mms.k[i] && MMV_STATE(c->mms.v[i]) == MMS_LIVE &&
            u64map_put(&live, c->mms.k[i] - 1, c->mms.v[i])) {
            u64map_free(&live);
            return SIM_ENOMEM;
        }
    u64map_free(&c->mms);
    c->mms = live;
    c->nr_exited = 0;
    c->forgot_exited = true;
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
    return SIM_OK;
}

void trace_check_free(struct trace_check *c)
{
    free(c->cur_mm);
    u64map_free(&c->mms);
    memset(c, 0, sizeof(*c));
}

int trace_check_header(const struct trace_header *hdr, struct sim_err *err)
{
    if (hdr->version != 1)
        return sim_err_set(err, SIM_EPARSE, "version: unsupported version %u "
                           "(this build reads version 1)", hdr->version);
    if (hdr->cpus == 0)
        return sim_err_set(err, SIM_EPARSE, "cpus: must be at least 1");
    if (hdr->cpus > MACHINE_MAX_CPUS)
        return sim_err_set(err, SIM_ELIMIT, "cpus: %u exceeds the limit of %u",
                           hdr->cpus, MACHINE_MAX_CPUS);
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
static int mm_live(const struct trace_check *c, s64 mm, u64 **out,
                   struct sim_err *err)
{
    if (mm == MM_KERNEL)
        return sim_err_set(err, SIM_EPARSE, "mm: \"kernel\" is only valid for map");
    if (mm == MM_NULL)
        return sim_err_set(err, SIM_EPARSE, "mm: null is only valid for switch");
    if (mm < 0 || (u64)mm > TRACE_MAX_ID)
        return sim_err_set(err, SIM_EPARSE, "mm: id %" PRId64 " is out of range (0..2^53)", mm);
    u64 *s = u64map_get(&c->mms, (u64)mm);
    if (s && MMV_STATE(*s) == MMS_LIVE) {
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
                           va, trace_page_name(shift));
    if (len == 0)
        return sim_err_set(err, SIM_EPARSE, "len: must be greater than 0");
    if (len & mask)
        return sim_err_set(err, SIM_EPARSE, "len: 0x%" PRIx64 " is not a multiple of %s",
                           len, trace_page_name(shift));
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
    u64 *s;

    if (c->cur_mm[cpu] >= 0 && (s = u64map_get(&c->mms, (u64)c->cur_mm[cpu])))
        *s -= MMV_ONE_CPU;
    if (mm >= 0 && (s = u64map_get(&c->mms, (u64)mm)))
        *s += MMV_ONE_CPU;
    c->cur_mm[cpu] = mm;
}

static int check_flags(const struct trace_check *c, const struct trace_op *op,
                       struct sim_err *err)
{
    const struct trace_op_desc *d = trace_op_desc(op->type);

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
    if ((d->req & B(F_CYCLES)) && op->cycles > TRACE_MAX_CYCLES)
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
    u64 *unused;

    if (op->mm < 0 || (u64)op->mm > TRACE_MAX_ID)       /* kernel, null, out of range */
        return mm_live(c, op->mm, &unused, err);
    u64 *s = u64map_get(&c->mms, (u64)op->mm);
    if (s && MMV_STATE(*s) == MMS_LIVE)
        return sim_err_set(err, SIM_EPARSE, "mm %" PRId64 ": address space already exists",
                           op->mm);
    if (c->nr_live >= TRACE_MAX_MMS)
        return sim_err_set(err, SIM_ELIMIT, "mm: more than %d address spaces live at once",
                           TRACE_MAX_MMS);
    if (s)
        c->nr_exited--;
    else if (!(s = u64map_slot(&c->mms, (u64)op->mm)))
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    *s = MMS_LIVE;                              /* no CPU runs it yet */
    c->nr_live++;
    return SIM_OK;
}

static int check_mm_exit(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    u64 *s = NULL;                              /* set by mm_live() when it succeeds */
    int rc = mm_live(c, op->mm, &s, err);

    if (rc)
        return rc;
    if (MMV_RUNNING(*s)) {
        u32 cpu = 0;
        while (cpu < c->cpus && c->cur_mm[cpu] != op->mm)
            cpu++;
        return sim_err_set(err, SIM_EPARSE, "mm %" PRId64 ": address space is still running "
                           "on cpu %u (switch that cpu away first)", op->mm, cpu);
    }
    *s = MMS_EXITED;
    c->nr_live--;
    c->nr_exited++;
    if (c->nr_exited > TRACE_MAX_EXITED && mm_forget_exited(c))
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    return SIM_OK;
}

static int check_map(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    u64 *s;
    int rc;

    if (op->mm != MM_KERNEL && (rc = mm_live(c, op->mm, &s, err)))
        return rc;
    if (!trace_page_name(op->page_shift))
        return sim_err_set(err, SIM_EPARSE, "page: invalid page shift %u", op->page_shift);
    if (!trace_prot_name(op->prot))
        return sim_err_set(err, SIM_EPARSE, "prot: invalid protection 0x%x", op->prot);
    if (op->keyid > TRACE_MAX_KEYID)
        return keyid_too_large(op->keyid, err);
    if (op->keyid && !(op->flags & OPF_KEYID))
        return sim_err_set(err, SIM_EINVAL, "keyid: %u without OPF_KEYID", op->keyid);
    if (op->mm == MM_KERNEL)
        return check_range(c, op->va, op->len, op->page_shift, HALF_KERNEL,
                           "a kernel map", err);
    return check_range(c, op->va, op->len, op->page_shift, HALF_USER, "a user map", err);
}

/* unmap, protect, zap, migrate, and flush with a range. */
static int check_mm_range(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    u64 *s;
    int rc = mm_live(c, op->mm, &s, err);

    if (rc)
        return rc;
    if ((trace_op_desc(op->type)->req & B(F_PROT)) && !trace_prot_name(op->prot))
        return sim_err_set(err, SIM_EPARSE, "prot: invalid protection 0x%x", op->prot);
    if ((op->flags & OPF_STRIDE) && !trace_page_name(op->stride_shift))
        return sim_err_set(err, SIM_EPARSE, "stride: invalid stride shift %u", op->stride_shift);
    if ((op->flags & OPF_ALL))
        return SIM_OK;
    return check_range(c, op->va, op->len, PAGE_SHIFT_4K, HALF_USER,
                       trace_op_desc(op->type)->name, err);
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
    u64 *s;
    int rc;

    if (op->mm != MM_NULL && (rc = mm_live(c, op->mm, &s, err)))
        return rc;
    cpu_set_mm(c, op->cpu, op->mm);
    return SIM_OK;
}

static int check_idle(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    if ((op->flags & OPF_CSTATE) && op->cstate != 1 && op->cstate != 6)
        return sim_err_set(err, SIM_EPARSE, "cstate: must be 1 or 6, not %u", op->cstate);
    cpu_set_mm(c, op->cpu, MM_NULL);            /* idle is a kernel thread: lazy TLB */
    return SIM_OK;
}

static int check_kflush(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    return check_range(c, op->va, op->len, PAGE_SHIFT_4K, HALF_KERNEL, "kflush", err);
}

static int check_irqs_off(struct trace_check *c, const struct trace_op *op,
                          struct sim_err *err)
{
    if (op->cycles == 0)
        return sim_err_set(err, SIM_EPARSE, "cycles: must be greater than 0");
    return SIM_OK;
}

static int check_mark(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    if (!op->label)
        return sim_err_set(err, SIM_EPARSE, "label: missing");
    size_t n = strnlen(op->label, TRACE_MAX_LABEL + 1);
    if (n > TRACE_MAX_LABEL)
        return sim_err_set(err, SIM_ELIMIT, "label: longer than %d bytes", TRACE_MAX_LABEL);
    if (!trace_utf8_valid((const u8 *)op->label, n, NULL))
        return sim_err_set(err, SIM_EPARSE, "label: invalid UTF-8");
    return SIM_OK;
}

/* ept_map: a page size, gpa and len aligned to it, no wrap, below 2^52
 * (the widest MAXPHYADDR).  Whether the machine has EPT and the range is
 * inside the VM's memory is the engine's check (it knows the machine). */
static int check_ept_map(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    u64 mask;

    (void)c;
    if (!trace_page_name(op->page_shift))
        return sim_err_set(err, SIM_EPARSE, "page: invalid page shift %u", op->page_shift);
    mask = (1ull << op->page_shift) - 1;
    if (op->len == 0)
        return sim_err_set(err, SIM_EPARSE, "len: must not be zero");
    if (op->gpa & mask)
        return sim_err_set(err, SIM_EPARSE, "gpa: 0x%" PRIx64 " is not aligned to the %s page",
                           op->gpa, trace_page_name(op->page_shift));
    if (op->len & mask)
        return sim_err_set(err, SIM_EPARSE, "len: 0x%" PRIx64 " is not a multiple of the %s page",
                           op->len, trace_page_name(op->page_shift));
    if (op->gpa >= (1ull << 52) || op->len > (1ull << 52) - op->gpa)
        return sim_err_set(err, SIM_EPARSE, "gpa: [0x%" PRIx64 ", +0x%" PRIx64 ") goes beyond "
                           "2^52, the widest physical address space", op->gpa, op->len);
    return SIM_OK;
}

/* host_zap, host_wrprotect, tdx_remove: a non-empty, 4K-aligned
 * guest-physical range below 2^52 (the architectural MAXPHYADDR limit; the
 * engine checks it against the VM's own size). */
static int check_gpa_range(struct trace_check *c, const struct trace_op *op,
                           struct sim_err *err)
{
    const u64 lim = 1ull << 52, page = 1ull << PAGE_SHIFT_4K;

    if (op->len == 0)
        return sim_err_set(err, SIM_EPARSE, "len: must be greater than 0");
    if (op->gpa & (page - 1))
        return sim_err_set(err, SIM_EPARSE, "gpa: 0x%" PRIx64 " is not 4K-aligned", op->gpa);
    if (op->len & (page - 1))
        return sim_err_set(err, SIM_EPARSE, "len: 0x%" PRIx64 " is not a multiple of 4K",
                           op->len);
    if (op->gpa >= lim || op->len > lim - op->gpa)
        return sim_err_set(err, SIM_ERANGE, "gpa: range 0x%" PRIx64 "+0x%" PRIx64
                           " goes beyond 2^52", op->gpa, op->len);
    return SIM_OK;
}

/* Ops whose fields say everything (vcpu_preempt, vcpu_run, vcpu_migrate). */
static int check_none(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    return SIM_OK;
}

typedef int check_fn(struct trace_check *c, const struct trace_op *op, struct sim_err *err);

/* The checker column of TRACE_OPS (sim/trace_op.h). */
static check_fn *const op_check[OP__COUNT] = {
#define X(e, name, req, opt, flags, cls, check) [e] = check,
    TRACE_OPS(X)
#undef X
};

int trace_check_op(struct trace_check *c, const struct trace_op *op, struct sim_err *err)
{
    int rc;

    if ((unsigned)op->type >= OP__COUNT)
        return sim_err_set(err, SIM_EPARSE, "op: unknown op type %u", (unsigned)op->type);
    if ((rc = check_flags(c, op, err)))
        return rc;
    return op_check[op->type](c, op, err);
}
