/* sim/io/trace_json.c - the JSON Lines reader: line reader, pre-scan, cJSON
 * walk into struct trace_op, the canonical-line fast path.
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
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ===== name lookups ===================================================== */

/* Inline compare for short names (cheaper than a libc call per key). */
static inline bool streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* Name lookups run for every key of every line: compare the first byte
 * before calling streq (17 ops and 19 fields, straight from the tables). */
static int op_lookup(const char *s)
{
    for (int t = 0; t < OP__COUNT; t++) {
        const char *n = trace_op_desc((enum trace_op_type)t)->name;
        if (n[0] == s[0] && streq(s, n))
            return t;
    }
    return -1;
}

static int field_lookup(const char *k)
{
    for (int f = 0; f < F__COUNT; f++) {
        const char *n = trace_field_name((enum trace_field)f);
        if (n[0] == k[0] && streq(k, n))
            return f;
    }
    return -1;
}

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
            size_t k = trace_utf8_seq(s + i, n - i);
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

/* A valid op nests two levels (the object, a va array); anything deeper
 * than TRACE_MAX_DEPTH is garbage, refused here before cJSON recurses. */
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
    bool many = trace_op_desc(op->type)->flags & OPF_VA_ARRAY;     /* access */
    int rc;

    if (!many || !cJSON_IsArray(it)) {
        if ((rc = json_u64(j, it, "va", -1, &op->va, err)))
            return rc;
        if (many) {
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
    int rc = json_bool(it, trace_field_name(f), &b, err);

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
    case F_GPA:    return json_u64(j, it, "gpa", -1, &op->gpa, err);
    case F_T:
        op->flags |= OPF_T;
        return json_u64(j, it, "t", -1, &op->t, err);
    case F_GAP:
        op->flags |= OPF_GAP;
        return json_u64(j, it, "gap", -1, &op->gap, err);
    case F_STRIDE:
        if (trace_op_desc(op->type)->flags & OPF_STRIDE)      /* flush: a page size */
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
    case F_KEYID:
        if ((rc = json_uint(j, it, "keyid", &v, err)))
            return rc;
        return trace_keyid_set(op, v, err);
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
    const struct trace_op_desc *d = trace_op_desc(op->type);
    u32 missing = d->req & ~seen;

    if (missing) {
        int f = __builtin_ctz(missing);
        return sim_err_set(err, SIM_EPARSE, "%s: missing (required by %s)",
                           trace_field_name(f), d->name);
    }
    if ((seen & B(F_T)) && (seen & B(F_GAP)))
        return sim_err_set(err, SIM_EPARSE, "gap: t and gap are exclusive (give one)");
    if (!(d->flags & OPF_ALL))                  /* flush: va and len, or all */
        return SIM_OK;
    if (op->flags & OPF_ALL) {
        if (seen & (B(F_VA) | B(F_LEN)))
            return sim_err_set(err, SIM_EPARSE, "all: \"all\":true excludes va and len");
        return SIM_OK;
    }
    if (!(seen & (B(F_VA) | B(F_LEN))))
        return sim_err_set(err, SIM_EPARSE, "va: %s needs va and len, or \"all\":true",
                           d->name);
    if (!(seen & B(F_VA)))
        return sim_err_set(err, SIM_EPARSE, "va: missing (%s with len)", d->name);
    if (!(seen & B(F_LEN)))
        return sim_err_set(err, SIM_EPARSE, "len: missing (%s with va)", d->name);
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
    const struct trace_op_desc *d = trace_op_desc(type);
    if (d->flags & OPF_POPULATE)                /* map: "populate" defaults to true */
        op->flags |= OPF_POPULATE;
    if (d->flags & OPF_STRIDE)                  /* flush: "stride" defaults to 4k */
        op->stride_shift = PAGE_SHIFT_4K;
    u32 allowed = d->req | d->opt | COMMON_FIELDS;
    for (const cJSON *it = root->child; it; it = it->next) {
        int f = field_lookup(it->string);
        if (f < 0 || !(allowed & B(f)))
            return sim_err_set(err, SIM_EPARSE, "%s: unknown field for %s",
                               msg_str(it->string, q), d->name);
        if (seen & B(f))
            return sim_err_set(err, SIM_EPARSE, "%s: duplicate key", trace_field_name(f));
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

int trace_json_read_header(struct trace_reader *r, struct sim_err *err)
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
 * node (two allocations) per address.  An access line is simple enough to
 * parse directly:
 *
 *   {"op":"access","cpu":N,"va":"0x..."|["0x...",...],"kind":"r"[,"t":N|,"gap":N]}
 *
 * is the writer's canonical form, and json_fast_access() takes these keys
 * in any order, each at most once, with spaces around the tokens, plain
 * decimal integers of at most 15 digits (all below 2^53) and 1 to 16 hex
 * digits, and fills *op as the general path would.  Anything else (another
 * key, a repeated key, tabs or escapes, hex counts, out-of-range values,
 * anything malformed) returns false and takes the general path, which also
 * produces every error message, so the two paths cannot disagree on what a
 * file means.  TRACE_JSON_FAST 0 turns it off (tests compare the two). */
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

static const char *fast_ws(const char *p)
{
    while (*p == ' ')
        p++;
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

/* Inline in every build: a call per address cost the -O2 build 5% (it
 * kept this out of line). */
static inline __attribute__((always_inline)) const char *fast_hex(const char *p, u64 *out)
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

/* "va": one hex string or an array of them, into r->vas. */
static const char *fast_vas(struct trace_reader *r, const char *p, u32 *n, u32 *flags)
{
    *n = 0;
    if (*p != '[') {
        if (trace_reader_vas(r, 1) || !(p = fast_hex(p, &r->vas[0])))
            return NULL;
        *n = 1;
        return p;
    }
    *flags |= OPF_VA_ARRAY;
    do {
        if (*n == TRACE_MAX_ARRAY || (*n >= r->vas_cap && trace_reader_vas(r, *n + 1)) ||
            !(p = fast_hex(fast_ws(p + 1), &r->vas[*n])))
            return NULL;
        ++*n;
        p = fast_ws(p);
    } while (*p == ',');
    return *p == ']' ? p + 1 : NULL;
}

enum { FK_OP, FK_CPU, FK_VA, FK_KIND, FK_T, FK_GAP };

/* The key at p (a quoted name and a colon), or -1. */
static int fast_key(const char **pp)
{
    static const char *const names[] = { "\"op\"", "\"cpu\"", "\"va\"", "\"kind\"",
                                         "\"t\"", "\"gap\"" };
    const char *q;

    for (int k = 0; k < (int)ARRAY_SIZE(names); k++)
        if ((q = fast_lit(*pp, names[k])) && *(q = fast_ws(q)) == ':') {
            *pp = fast_ws(q + 1);
            return k;
        }
    return -1;
}

static bool json_fast_access(struct trace_reader *r, const char *line, size_t len,
                             struct trace_op *op)
{
    const char *p = fast_ws(line);
    u64 cpu = 0, t = 0, gap = 0;
    u32 n = 0, flags = OPF_CPU, seen = 0;
    u8 kind = 0;

    if (*p != '{')
        return false;
    do {
        p = fast_ws(p + 1);
        int k = fast_key(&p);
        if (k < 0 || (seen & 1u << k))
            return false;
        seen |= 1u << k;
        switch (k) {
        case FK_OP:
            p = fast_lit(p, "\"access\"");
            break;
        case FK_CPU:
            p = fast_dec(p, &cpu);
            break;
        case FK_VA:
            p = fast_vas(r, p, &n, &flags);
            break;
        case FK_KIND:
            if (p[0] != '"' || (p[1] != 'r' && p[1] != 'w' && p[1] != 'x') || p[2] != '"')
                return false;
            kind = (u8)p[1];
            p += 3;
            break;
        case FK_T:
            p = fast_dec(p, &t);
            flags |= OPF_T;
            break;
        case FK_GAP:
            p = fast_dec(p, &gap);
            flags |= OPF_GAP;
            break;
        }
        if (!p)
            return false;
        p = fast_ws(p);
    } while (*p == ',');
    if (*p != '}' || fast_ws(p + 1) != line + len ||
        (seen & 15u) != 15u || (flags & OPF_T && flags & OPF_GAP) || cpu >= r->hdr.cpus)
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

int trace_json_next(struct trace_reader *r, struct trace_op *op, struct sim_err *err)
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
    return trace_reader_op_done(r, op, rc, err);
}
