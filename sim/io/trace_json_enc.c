/* sim/io/trace_json_enc.c - the JSON Lines encoder: one canonical line per
 * op (fixed key order, addresses as hex strings), written straight into the
 * writer's output buffer without cJSON.  The reader's fast path
 * (trace_json.c: json_fast_access) parses exactly the access lines this
 * file writes.
 */
#include "trace_priv.h"

#include <inttypes.h>
#include <string.h>

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
    if (mm == MM_KERNEL)
        return j_lit(p, "\"kernel\"");
    if (mm == MM_NULL)
        return j_lit(p, "null");
    return j_dec(p, (u64)mm);
}

static char *j_va(char *p, const struct trace_op *op)
{
    bool many = trace_op_desc(op->type)->flags & OPF_VA_ARRAY;     /* access */
    const u64 *vas = many && op->vas ? op->vas : &op->va;

    if (!(op->flags & OPF_VA_ARRAY))
        return j_hex(p, vas[0]);
    *p++ = '[';
    for (u32 i = 0; i < op->nr_va; i++) {
        if (i)
            *p++ = ',';
        p = j_hex(p, vas[i]);
    }
    *p++ = ']';
    return p;
}

static char *j_name(char *p, const char *name)
{
    *p++ = '"';
    p = j_lit(p, name);
    *p++ = '"';
    return p;
}

/* The value of field f (a value field the op carries). */
static char *j_value(char *p, const struct trace_op *op, enum trace_field f)
{
    switch (f) {
    case F_CPU:    return j_dec(p, op->cpu);
    case F_MM:     return j_mm(p, op->mm);
    case F_VA:     return j_va(p, op);
    case F_LEN:    return j_hex(p, op->len);
    case F_STRIDE:                              /* flush: a page size */
        if (trace_op_desc(op->type)->flags & OPF_STRIDE)
            return j_name(p, trace_page_name(op->stride_shift));
        return j_num(p, op->stride);
    case F_COUNT:  return j_num(p, op->count);
    case F_KIND:   *p++ = '"', *p++ = (char)op->kind, *p++ = '"'; return p;
    case F_PAGE:   return j_name(p, trace_page_name(op->page_shift));
    case F_PROT:   return j_name(p, trace_prot_name(op->prot));
    case F_CSTATE: return j_dec(p, op->cstate);
    case F_CYCLES: return j_num(p, op->cycles);
    case F_GPA:    return j_hex(p, op->gpa);
    case F_KEYID:  return j_dec(p, op->keyid);
    case F_LABEL:  return j_str(p, op->label);
    case F_T:      return j_num(p, op->t);
    case F_GAP:    return j_num(p, op->gap);
    default:       return p;                    /* F_OP and the booleans: not values */
    }
}

/* Keys in TRACE_FIELDS order (op cpu mm va len stride count kind page prot
 * populate global all freed_tables cstate cycles label t gap gpa keyid), each one the
 * op carries (trace_op_has). */
static char *json_encode_op(char *p, const struct trace_op *op)
{
    p = j_lit(p, "{\"op\":\"");
    p = j_lit(p, trace_op_desc(op->type)->name);
    *p++ = '"';
    for (int f = F_OP + 1; f < F__COUNT; f++) {
        if (!trace_op_has(op, (enum trace_field)f))
            continue;
        const struct trace_field_desc *fd = trace_field_desc((enum trace_field)f);
        *p++ = ',', *p++ = '"';
        p = j_lit(p, fd->name);
        *p++ = '"', *p++ = ':';
        if (fd->kind == FK_VALUE)
            p = j_value(p, op, (enum trace_field)f);
        else
            p = j_lit(p, fd->kind == FK_BOOL1 ? "false" : "true");
    }
    return j_lit(p, "}\n");
}

int trace_json_write_op(struct trace_writer *w, const struct trace_op *op, struct sim_err *err)
{
    size_t need = 512;
    int rc;

    if (op->flags & OPF_VA_ARRAY)
        need += (size_t)op->nr_va * 22;
    if (trace_op_has(op, F_LABEL))
        need += 6 * strlen(op->label);
    if ((rc = trace_w_reserve(w, need, err)))
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

int trace_json_write_header(struct trace_writer *w, struct sim_err *err)
{
    const struct trace_header *h = &w->hdr;
    int rc = trace_w_reserve(w, 256 + 12 * (TRACE_MAX_NAME + 1), err);

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
