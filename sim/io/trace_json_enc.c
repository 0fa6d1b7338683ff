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
    p = j_lit(p, trace_op_desc[op->type].name);
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
        p = j_lit(j_lit(j_lit(p, ",\"stride\":\""), trace_page_name(op->stride_shift)), "\"");
    }
    if (op->type == OP_ACCESS || op->type == OP_STREAM)
        p = j_lit(p, ",\"kind\":\""), *p++ = (char)op->kind, *p++ = '"';
    if (op->type == OP_MAP)
        p = j_lit(j_lit(j_lit(p, ",\"page\":\""), trace_page_name(op->page_shift)), "\"");
    if (op->type == OP_MAP || op->type == OP_PROTECT)
        p = j_lit(j_lit(j_lit(p, ",\"prot\":\""), trace_prot_name(op->prot)), "\"");
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

int trace_json_write_op(struct trace_writer *w, const struct trace_op *op, struct sim_err *err)
{
    size_t need = 512;
    int rc;

    if (op->type == OP_ACCESS)
        need += (size_t)op->nr_va * 22;
    if (op->type == OP_MARK)
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
