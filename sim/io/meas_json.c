/* sim/io/meas_json.c - measurement files and calibrated models as JSON.
 *
 * The loader validates what it reads the way the other parsers do: a wrong
 * type, a value out of range, an unknown or duplicate member is one line
 * "FILE: FIELD: what" and SIM_E*, never a crash or a huge allocation (the
 * file, the case count and the trace lines are bounded, meas.h).
 */
#include "meas.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* ==== writing ============================================================ */

static int write_json(const char *path, cJSON *root, struct sim_err *err)
{
    char tmp[4096];
    char *text;
    FILE *f;
    int ok;

    if (!root || !(text = cJSON_Print(root)))
        return sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
        free(text);
        return sim_err_set(err, SIM_EINVAL, "%s: path too long", path);
    }
    if (!(f = fopen(tmp, "w"))) {
        free(text);
        return sim_err_set(err, SIM_EIO, "%s: cannot write: %s", path, strerror(errno));
    }
    ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = (fclose(f) == 0) && ok;
    free(text);
    if (!ok || rename(tmp, path)) {
        int e = errno;
        remove(tmp);
        return sim_err_set(err, SIM_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    return SIM_OK;
}

static void add_env(cJSON *o, const struct meas_env *e)
{
    cJSON_AddStringToObject(o, "kind", e->kind);
    cJSON_AddStringToObject(o, "hypervisor_signature", e->hv_signature);
    cJSON_AddStringToObject(o, "hypervisor_kernel", e->hv_kernel);
    cJSON_AddBoolToObject(o, "kvm_pv_tlb_flush", e->kvm_pv_tlb_flush);
    cJSON_AddBoolToObject(o, "kvm_pv_send_ipi", e->kvm_pv_send_ipi);
    cJSON_AddBoolToObject(o, "hyperv_remote_flush", e->hv_remote_flush);
    cJSON_AddBoolToObject(o, "pcid", e->pcid);
    cJSON_AddBoolToObject(o, "invpcid", e->invpcid);
    cJSON_AddBoolToObject(o, "invlpgb", e->invlpgb);
    cJSON_AddStringToObject(o, "cpu_model", e->cpu_model);
    cJSON_AddNumberToObject(o, "cpu_mhz", e->cpu_mhz);
    cJSON_AddStringToObject(o, "kernel", e->kernel);
    cJSON_AddNumberToObject(o, "cpus_online", e->cpus_online);
    cJSON_AddNumberToObject(o, "cpus_allowed", e->cpus_allowed);
    cJSON_AddBoolToObject(o, "interrupts", e->interrupts);
    cJSON_AddBoolToObject(o, "tracefs", e->tracefs);
    cJSON_AddStringToObject(o, "tracefs_reason", e->tracefs_reason);
    cJSON_AddBoolToObject(o, "flush_without_ipis", e->flush_without_ipis);
    cJSON_AddNumberToObject(o, "timer_ns", e->timer_ns);
    if (e->load_start >= 0 && e->load_end >= 0) {
        cJSON_AddNumberToObject(o, "loadavg_start", e->load_start);
        cJSON_AddNumberToObject(o, "loadavg_end", e->load_end);
    }
    cJSON_AddStringToObject(o, "policy", e->policy);
}

static cJSON *case_json(const struct meas_case *c)
{
    cJSON *o = cJSON_CreateObject(), *a;

    cJSON_AddStringToObject(o, "name", c->name);
    cJSON_AddStringToObject(o, "op", meas_op_names[c->op]);
    cJSON_AddNumberToObject(o, "pages", c->pages);
    cJSON_AddStringToObject(o, "siblings", meas_sib_names[c->sib]);
    cJSON_AddNumberToObject(o, "threads", c->threads);
    cJSON_AddStringToObject(o, "status", c->skipped ? "skipped" : "ok");
    if (c->skipped) {
        cJSON_AddStringToObject(o, "reason", c->reason);
    } else {
        cJSON_AddNumberToObject(o, "repeats", c->repeats);
        cJSON_AddNumberToObject(o, "iterations", c->iterations);
        a = cJSON_AddObjectToObject(o, "ns_per_call");
        cJSON_AddNumberToObject(a, "median", c->ns_median);
        cJSON_AddNumberToObject(a, "p10", c->ns_p10);
        cJSON_AddNumberToObject(a, "p90", c->ns_p90);
        if (c->nr_rep) {
            cJSON *rep = cJSON_AddArrayToObject(a, "per_repeat");
            for (u32 i = 0; i < c->nr_rep; i++)
                cJSON_AddItemToArray(rep, cJSON_CreateNumber(c->rep_ns[i]));
        }
        if (c->have_irqs) {
            a = cJSON_AddObjectToObject(o, "interrupts_per_call");
            cJSON_AddNumberToObject(a, "TLB", c->tlb_per_call);
            cJSON_AddNumberToObject(a, "CAL", c->cal_per_call);
        }
        a = cJSON_AddObjectToObject(o, "tlb_flush_per_call");
        if (c->have_events) {
            cJSON_AddBoolToObject(a, "complete", c->events_complete);
            for (int r = 0; r < MEAS_NR_REASONS; r++)
                cJSON_AddNumberToObject(a, meas_reason_names[r], c->events_per_call[r]);
        } else {
            cJSON_AddStringToObject(a, "skipped", c->events_reason);
        }
    }
    a = c->nr_trace ? cJSON_AddArrayToObject(o, "trace") : NULL;
    for (u32 i = 0; i < c->nr_trace; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(c->trace[i]));
    return o;
}

int meas_write(const char *path, const struct meas *m, struct sim_err *err)
{
    cJSON *root = cJSON_CreateObject(), *cases;
    int rc;

    cJSON_AddStringToObject(root, "format", MEAS_FORMAT);
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON_AddStringToObject(root, "date", m->date);
    cJSON_AddBoolToObject(root, "quick", m->quick);
    cJSON_AddNumberToObject(root, "rounds", m->rounds ? m->rounds : 1);
    add_env(cJSON_AddObjectToObject(root, "environment"), &m->env);
    cases = cJSON_AddArrayToObject(root, "cases");
    for (u32 i = 0; i < m->nr_cases; i++)
        cJSON_AddItemToArray(cases, case_json(&m->cases[i]));
    rc = write_json(path, root, err);
    cJSON_Delete(root);
    return rc;
}

/* ==== reading ============================================================ */

struct rd {
    const char *path;
    struct sim_err *err;
    char field[160];                    /* "cases[3]" or "environment" */
};

static int bad(struct rd *r, int code, const char *member, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(struct rd *r, int code, const char *member, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return sim_err_set(r->err, code, "%s: %s%s%s: %s", r->path, r->field,
                       r->field[0] && member[0] ? "." : "", member, what);
}

/* Unknown or duplicate members of o; names starting with '_' are comments. */
static int check_members(struct rd *r, const cJSON *o, const char *const *known)
{
    for (const cJSON *it = o->child; it; it = it->next) {
        bool ok = it->string[0] == '_';
        for (const char *const *k = known; *k && !ok; k++)
            ok = !strcmp(*k, it->string);
        if (!ok)
            return bad(r, SIM_EPARSE, it->string, "unknown member");
        for (const cJSON *j = o->child; j != it; j = j->next)
            if (!strcmp(j->string, it->string))
                return bad(r, SIM_EPARSE, it->string, "duplicate member");
    }
    return SIM_OK;
}

static int get_str(struct rd *r, const cJSON *o, const char *name, char *buf, size_t len,
                   bool required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    if (!v)
        return required ? bad(r, SIM_EPARSE, name, "missing") : SIM_OK;
    if (!cJSON_IsString(v))
        return bad(r, SIM_EPARSE, name, "must be a string");
    if (strlen(v->valuestring) >= len)
        return bad(r, SIM_ERANGE, name, "longer than %zu bytes", len - 1);
    strcpy(buf, v->valuestring);
    return SIM_OK;
}

static int get_num(struct rd *r, const cJSON *o, const char *name, double lo, double hi,
                   double *out, bool required)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    if (!v)
        return required ? bad(r, SIM_EPARSE, name, "missing") : SIM_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return bad(r, SIM_EPARSE, name, "must be a number");
    if (v->valuedouble < lo || v->valuedouble > hi)
        return bad(r, SIM_ERANGE, name, "%g is out of range [%g, %g]", v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return SIM_OK;
}

static int get_u32(struct rd *r, const cJSON *o, const char *name, u32 lo, u32 hi,
                   u32 *out, bool required)
{
    double d = 0;
    int rc = get_num(r, o, name, lo, hi, &d, required);

    if (!rc && d != floor(d))
        return bad(r, SIM_EINVAL, name, "must be an integer");
    if (!rc && cJSON_GetObjectItemCaseSensitive(o, name))
        *out = (u32)d;
    return rc;
}

static int get_bool(struct rd *r, const cJSON *o, const char *name, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    if (!v)
        return SIM_OK;
    if (!cJSON_IsBool(v))
        return bad(r, SIM_EPARSE, name, "must be true or false");
    *out = cJSON_IsTrue(v);
    return SIM_OK;
}

static int get_enum(struct rd *r, const cJSON *o, const char *name,
                    const char *const *names, int n, int *out)
{
    char buf[32];
    int rc = get_str(r, o, name, buf, sizeof(buf), true);

    if (rc)
        return rc;
    for (int i = 0; i < n; i++)
        if (!strcmp(buf, names[i])) {
            *out = i;
            return SIM_OK;
        }
    return bad(r, SIM_EINVAL, name, "unknown value \"%s\"", buf);
}

static int read_env(struct rd *r, const cJSON *o, struct meas_env *e)
{
    static const char *const known[] = {
        "kind", "hypervisor_signature", "hypervisor_kernel", "kvm_pv_tlb_flush",
        "kvm_pv_send_ipi", "hyperv_remote_flush", "pcid", "invpcid", "invlpgb", "cpu_model",
        "cpu_mhz", "kernel", "cpus_online", "cpus_allowed", "interrupts", "tracefs",
        "tracefs_reason", "flush_without_ipis", "timer_ns", "loadavg_start", "loadavg_end",
        "policy", "notes", NULL,
    };
    int rc;

    snprintf(r->field, sizeof(r->field), "environment");
    e->load_start = e->load_end = -1;
    if (!cJSON_IsObject(o))
        return bad(r, SIM_EPARSE, "", "must be an object");
    if ((rc = check_members(r, o, known)) ||
        (rc = get_str(r, o, "kind", e->kind, sizeof(e->kind), true)) ||
        (rc = get_str(r, o, "hypervisor_signature", e->hv_signature, sizeof(e->hv_signature), false)) ||
        (rc = get_str(r, o, "hypervisor_kernel", e->hv_kernel, sizeof(e->hv_kernel), false)) ||
        (rc = get_bool(r, o, "kvm_pv_tlb_flush", &e->kvm_pv_tlb_flush)) ||
        (rc = get_bool(r, o, "kvm_pv_send_ipi", &e->kvm_pv_send_ipi)) ||
        (rc = get_bool(r, o, "hyperv_remote_flush", &e->hv_remote_flush)) ||
        (rc = get_bool(r, o, "pcid", &e->pcid)) ||
        (rc = get_bool(r, o, "invpcid", &e->invpcid)) ||
        (rc = get_bool(r, o, "invlpgb", &e->invlpgb)) ||
        (rc = get_str(r, o, "cpu_model", e->cpu_model, sizeof(e->cpu_model), false)) ||
        (rc = get_num(r, o, "cpu_mhz", 0, 100000, &e->cpu_mhz, false)) ||
        (rc = get_str(r, o, "kernel", e->kernel, sizeof(e->kernel), false)) ||
        (rc = get_u32(r, o, "cpus_online", 0, MACHINE_MAX_CPUS * 64u, &e->cpus_online, false)) ||
        (rc = get_u32(r, o, "cpus_allowed", 0, MACHINE_MAX_CPUS * 64u, &e->cpus_allowed, false)) ||
        (rc = get_bool(r, o, "interrupts", &e->interrupts)) ||
        (rc = get_bool(r, o, "tracefs", &e->tracefs)) ||
        (rc = get_str(r, o, "tracefs_reason", e->tracefs_reason, sizeof(e->tracefs_reason), false)) ||
        (rc = get_bool(r, o, "flush_without_ipis", &e->flush_without_ipis)) ||
        (rc = get_num(r, o, "timer_ns", 0, 1e9, &e->timer_ns, false)) ||
        (rc = get_num(r, o, "loadavg_start", 0, 1e6, &e->load_start, false)) ||
        (rc = get_num(r, o, "loadavg_end", 0, 1e6, &e->load_end, false)) ||
        (rc = get_str(r, o, "policy", e->policy, sizeof(e->policy), false)))
        return rc;
    return SIM_OK;
}

static int read_trace(struct rd *r, const cJSON *a, struct meas_case *c)
{
    u32 n = 0;

    if (!cJSON_IsArray(a))
        return bad(r, SIM_EPARSE, "trace", "must be an array of strings");
    for (const cJSON *it = a->child; it; it = it->next)
        if (++n > MEAS_MAX_LINES)
            return bad(r, SIM_ELIMIT, "trace", "more than %u lines", MEAS_MAX_LINES);
    if (n < 2)
        return bad(r, SIM_EINVAL, "trace", "needs a header line and at least one op");
    if (!(c->trace = calloc(n, sizeof(*c->trace))))
        return bad(r, SIM_ENOMEM, "trace", "out of memory");
    for (const cJSON *it = a->child; it; it = it->next) {
        if (!cJSON_IsString(it))
            return bad(r, SIM_EPARSE, "trace", "line %u must be a string", c->nr_trace + 1);
        if (strchr(it->valuestring, '\n'))
            return bad(r, SIM_EINVAL, "trace", "line %u holds a newline", c->nr_trace + 1);
        if (!(c->trace[c->nr_trace] = strdup(it->valuestring)))
            return bad(r, SIM_ENOMEM, "trace", "out of memory");
        c->nr_trace++;
    }
    return SIM_OK;
}

/* ns_per_call.per_repeat: one number per repeat, in the order measured. */
static int read_per_repeat(struct rd *r, const cJSON *a, struct meas_case *c)
{
    u32 n;

    if (!a)
        return SIM_OK;
    if (!cJSON_IsArray(a))
        return bad(r, SIM_EPARSE, "per_repeat", "must be an array of numbers");
    if ((n = (u32)cJSON_GetArraySize(a)) != c->repeats)
        return bad(r, SIM_EINVAL, "per_repeat", "holds %u numbers, repeats is %u", n, c->repeats);
    if (!(c->rep_ns = calloc(n, sizeof(*c->rep_ns))))
        return bad(r, SIM_ENOMEM, "per_repeat", "out of memory");
    for (const cJSON *it = a->child; it; it = it->next) {
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < 0 ||
            it->valuedouble > 1e12)
            return bad(r, SIM_EINVAL, "per_repeat", "element %u must be a number in [0, 1e12]",
                       c->nr_rep);
        c->rep_ns[c->nr_rep++] = it->valuedouble;
    }
    return SIM_OK;
}

static int read_timing(struct rd *r, const cJSON *o, struct meas_case *c)
{
    static const char *const known_ns[] = { "median", "p10", "p90", "per_repeat", NULL };
    static const char *const known_irq[] = { "TLB", "CAL", NULL };
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(o, "ns_per_call");
    const cJSON *irq = cJSON_GetObjectItemCaseSensitive(o, "interrupts_per_call");
    size_t base = strlen(r->field);
    int rc;

    if ((rc = get_u32(r, o, "repeats", 1, 1000000, &c->repeats, true)) ||
        (rc = get_u32(r, o, "iterations", 1, 100000000, &c->iterations, true)))
        return rc;
    if (!ns)
        return bad(r, SIM_EPARSE, "ns_per_call", "missing (status ok)");
    if (!cJSON_IsObject(ns))
        return bad(r, SIM_EPARSE, "ns_per_call", "must be an object");
    snprintf(r->field + base, sizeof(r->field) - base, ".ns_per_call");
    if ((rc = check_members(r, ns, known_ns)) ||
        (rc = get_num(r, ns, "median", 1e-3, 1e12, &c->ns_median, true)) ||
        (rc = get_num(r, ns, "p10", 0, 1e12, &c->ns_p10, false)) ||
        (rc = get_num(r, ns, "p90", 0, 1e12, &c->ns_p90, false)) ||
        (rc = read_per_repeat(r, cJSON_GetObjectItemCaseSensitive(ns, "per_repeat"), c)))
        return rc;
    r->field[base] = 0;
    if (irq) {
        if (!cJSON_IsObject(irq))
            return bad(r, SIM_EPARSE, "interrupts_per_call", "must be an object");
        snprintf(r->field + base, sizeof(r->field) - base, ".interrupts_per_call");
        if ((rc = check_members(r, irq, known_irq)) ||
            (rc = get_num(r, irq, "TLB", 0, 1e9, &c->tlb_per_call, true)) ||
            (rc = get_num(r, irq, "CAL", 0, 1e9, &c->cal_per_call, true)))
            return rc;
        r->field[base] = 0;
        c->have_irqs = true;
    }
    return SIM_OK;
}

static int read_events(struct rd *r, const cJSON *o, struct meas_case *c)
{
    size_t base = strlen(r->field);
    int rc;

    if (!o)
        return SIM_OK;
    if (!cJSON_IsObject(o))
        return bad(r, SIM_EPARSE, "tlb_flush_per_call", "must be an object");
    snprintf(r->field + base, sizeof(r->field) - base, ".tlb_flush_per_call");
    if (cJSON_GetObjectItemCaseSensitive(o, "skipped")) {
        static const char *const known[] = { "skipped", NULL };
        if ((rc = check_members(r, o, known)) ||
            (rc = get_str(r, o, "skipped", c->events_reason, sizeof(c->events_reason), true)))
            return rc;
    } else {
        const char *known[MEAS_NR_REASONS + 2] = { "complete" };
        for (int i = 0; i < MEAS_NR_REASONS; i++)
            known[i + 1] = meas_reason_names[i];
        if ((rc = check_members(r, o, known)) ||
            (rc = get_bool(r, o, "complete", &c->events_complete)))
            return rc;
        for (int i = 0; i < MEAS_NR_REASONS; i++)
            if ((rc = get_num(r, o, meas_reason_names[i], 0, 1e9, &c->events_per_call[i], true)))
                return rc;
        c->have_events = true;
    }
    r->field[base] = 0;
    return SIM_OK;
}

static int read_case(struct rd *r, const cJSON *o, struct meas_case *c)
{
    static const char *const known[] = {
        "name", "op", "pages", "siblings", "threads", "status", "reason", "repeats",
        "iterations", "ns_per_call", "interrupts_per_call", "tlb_flush_per_call", "trace",
        "notes", NULL,
    };
    char status[16];
    int op = 0, sib = 0, rc;

    if (!cJSON_IsObject(o))
        return bad(r, SIM_EPARSE, "", "must be an object");
    if ((rc = check_members(r, o, known)) ||
        (rc = get_str(r, o, "name", c->name, sizeof(c->name), true)) ||
        (rc = get_enum(r, o, "op", meas_op_names, MEAS_NR_OPS, &op)) ||
        (rc = get_u32(r, o, "pages", 1, MEAS_MAX_PAGES, &c->pages, true)) ||
        (rc = get_enum(r, o, "siblings", meas_sib_names, MEAS_NR_SIBS, &sib)) ||
        (rc = get_u32(r, o, "threads", 0, MEAS_MAX_THREADS, &c->threads, true)) ||
        (rc = get_str(r, o, "status", status, sizeof(status), true)))
        return rc;
    c->op = (enum meas_op)op;
    c->sib = (enum meas_sib)sib;
    if (!c->name[0])
        return bad(r, SIM_EINVAL, "name", "empty");
    if ((c->sib == MEAS_SIB_NONE) != (c->threads == 0))
        return bad(r, SIM_EINVAL, "threads", "must be 0 exactly when siblings is \"none\"");
    if (!strcmp(status, "skipped")) {
        c->skipped = true;
        if ((rc = get_str(r, o, "reason", c->reason, sizeof(c->reason), true)))
            return rc;
        if (!c->reason[0])
            return bad(r, SIM_EINVAL, "reason", "a skipped case needs a reason");
    } else if (strcmp(status, "ok")) {
        return bad(r, SIM_EINVAL, "status", "must be \"ok\" or \"skipped\"");
    } else if ((rc = read_timing(r, o, c)) ||
               (rc = read_events(r, cJSON_GetObjectItemCaseSensitive(o, "tlb_flush_per_call"), c))) {
        return rc;
    }
    if (cJSON_GetObjectItemCaseSensitive(o, "trace"))
        return read_trace(r, cJSON_GetObjectItemCaseSensitive(o, "trace"), c);
    if (!c->skipped)
        return bad(r, SIM_EPARSE, "trace", "missing (status ok)");
    return SIM_OK;
}

static int read_cases(struct rd *r, const cJSON *a, struct meas *m)
{
    u32 n = 0;
    int rc;

    if (!cJSON_IsArray(a))
        return bad(r, SIM_EPARSE, "cases", "must be an array");
    for (const cJSON *it = a->child; it; it = it->next)
        if (++n > MEAS_MAX_CASES)
            return bad(r, SIM_ELIMIT, "cases", "more than %u cases", MEAS_MAX_CASES);
    if (n && !(m->cases = calloc(n, sizeof(*m->cases))))
        return bad(r, SIM_ENOMEM, "cases", "out of memory");
    for (const cJSON *it = a->child; it; it = it->next) {
        struct meas_case *c = &m->cases[m->nr_cases++];
        snprintf(r->field, sizeof(r->field), "cases[%u]", m->nr_cases - 1);
        if ((rc = read_case(r, it, c)))
            return rc;
        for (u32 j = 0; j + 1 < m->nr_cases; j++)
            if (!strcmp(m->cases[j].name, c->name))
                return bad(r, SIM_EINVAL, "name", "\"%s\" repeats cases[%u]", c->name, j);
    }
    return SIM_OK;
}

static int read_root(struct rd *r, const cJSON *root, struct meas *m)
{
    static const char *const known[] = {
        "format", "version", "date", "quick", "rounds", "environment", "cases", "notes", NULL,
    };
    char fmt[32];
    u32 version = 0;
    int rc;

    if (!cJSON_IsObject(root))
        return sim_err_set(r->err, SIM_EPARSE, "%s: not a JSON object", r->path);
    if ((rc = check_members(r, root, known)) ||
        (rc = get_str(r, root, "format", fmt, sizeof(fmt), true)))
        return rc;
    if (strcmp(fmt, MEAS_FORMAT))
        return bad(r, SIM_EPARSE, "format", "must be \"%s\"", MEAS_FORMAT);
    if ((rc = get_u32(r, root, "version", 1, 1, &version, true)) ||
        (rc = get_str(r, root, "date", m->date, sizeof(m->date), false)) ||
        (rc = get_bool(r, root, "quick", &m->quick)))
        return rc;
    m->rounds = 1;
    if ((rc = get_u32(r, root, "rounds", 1, 1000000, &m->rounds, false)))
        return rc;
    if (!cJSON_GetObjectItemCaseSensitive(root, "environment"))
        return bad(r, SIM_EPARSE, "environment", "missing");
    if ((rc = read_env(r, cJSON_GetObjectItemCaseSensitive(root, "environment"), &m->env)))
        return rc;
    r->field[0] = 0;
    if (!cJSON_GetObjectItemCaseSensitive(root, "cases"))
        return bad(r, SIM_EPARSE, "cases", "missing");
    return read_cases(r, cJSON_GetObjectItemCaseSensitive(root, "cases"), m);
}

/* The whole file, bounded; *text is NUL-terminated and malloc'd. */
static int slurp(const char *path, size_t max, char **text, size_t *len, struct sim_err *err)
{
    struct stat st;
    FILE *f = fopen(path, "rb");
    size_t n;

    if (!f)
        return sim_err_set(err, SIM_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || (u64)st.st_size > max) {
        fclose(f);
        return sim_err_set(err, SIM_EIO, "%s: not a regular file of at most %zu bytes", path, max);
    }
    if (!(*text = malloc((size_t)st.st_size + 1))) {
        fclose(f);
        return sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
    }
    n = fread(*text, 1, (size_t)st.st_size, f);
    fclose(f);
    (*text)[n] = 0;
    *len = n;
    return SIM_OK;
}

static int parse_file(const char *path, size_t max, cJSON **root, struct sim_err *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = slurp(path, max, &text, &len, err);

    if (rc)
        return rc;
    if (memchr(text, 0, len))
        rc = sim_err_set(err, SIM_EPARSE, "%s: holds a NUL byte; not JSON", path);
    else if (!(*root = cJSON_ParseWithLength(text, len)))
        rc = sim_err_set(err, SIM_EPARSE, "%s: not valid JSON", path);
    free(text);
    return rc;
}

int meas_load(const char *path, struct meas *m, struct sim_err *err)
{
    struct rd r = { .path = path, .err = err };
    cJSON *root = NULL;
    int rc;

    memset(m, 0, sizeof(*m));
    if ((rc = parse_file(path, MEAS_MAX_BYTES, &root, err)))
        return rc;
    rc = read_root(&r, root, m);
    cJSON_Delete(root);
    if (rc)
        meas_free(m);
    return rc;
}

/* ==== calibrated models ================================================== */

static void add_key(cJSON *o, const struct machine *m, const struct machine_key *k)
{
    char buf[128];

    machine_get(m, k, buf, sizeof(buf));
    switch (k->type) {
    case MK_U32:
        cJSON_AddNumberToObject(o, k->key, (double)*(const u32 *)((const char *)m + k->offset));
        break;
    case MK_U64:                        /* may exceed 2^53: hex text */
        snprintf(buf, sizeof(buf), "0x%" PRIx64, *(const u64 *)((const char *)m + k->offset));
        cJSON_AddStringToObject(o, k->key, buf);
        break;
    case MK_BOOL:
        cJSON_AddBoolToObject(o, k->key, *(const bool *)((const char *)m + k->offset));
        break;
    default:
        cJSON_AddStringToObject(o, k->key, buf);
        break;
    }
}

/* "_calibration" is documentation to the model loader, so an array of
 * strings: "KEY: value", one "fit: NAME" / "held_out: NAME" per case. */
static void cal_line(cJSON *a, const char *key, const char *value)
{
    char line[900];

    snprintf(line, sizeof(line), "%s: %s", key, value);
    cJSON_AddItemToArray(a, cJSON_CreateString(line));
}

static void cal_lines(cJSON *a, const char *key, const char *const *v, u32 n)
{
    for (u32 i = 0; i < n; i++)
        cal_line(a, key, v[i]);
}

int meas_write_model(const char *path, const struct machine *m,
                     const struct meas_calib_info *ci, struct sim_err *err)
{
    cJSON *root = cJSON_CreateObject(), *src, *cal;
    char line[800];
    int rc;

    cJSON_AddStringToObject(root, "_format", "tlbsim machine model written by `tlbsim calibrate`; "
                            "keys and units in docs/models.md, the method in docs/validation.md");
    src = cJSON_AddArrayToObject(root, "source");
    snprintf(line, sizeof(line), "Every key not listed below has the value of the base model %s, "
             "whose file gives its source.", ci->base);
    cJSON_AddItemToArray(src, cJSON_CreateString(line));
    for (u32 i = 0; i < ci->nr_notes; i++) {
        snprintf(line, sizeof(line), "%s: %s", ci->notes[i].key, ci->notes[i].text);
        cJSON_AddItemToArray(src, cJSON_CreateString(line));
    }
    cal = cJSON_AddArrayToObject(root, "_calibration");
    cal_line(cal, "base", ci->base);
    cal_line(cal, "policy", ci->policy);
    cal_line(cal, "measurements", ci->meas_path);
    cal_line(cal, "date", ci->date);
    snprintf(line, sizeof(line), "%.4f", ci->fit_rms);
    cal_line(cal, "fit_rms", line);
    snprintf(line, sizeof(line), "%.4f", ci->held_rms);
    cal_line(cal, "held_out_rms", line);
    cal_lines(cal, "undetermined", ci->undetermined, ci->nr_undetermined);
    cal_lines(cal, "fit", ci->fit, ci->nr_fit);
    cal_lines(cal, "held_out", ci->held, ci->nr_held);
    cal_lines(cal, "excluded", ci->excluded, ci->nr_excluded);
    for (size_t i = 0; i < machine_nr_keys; i++)
        add_key(root, m, &machine_keys[i]);
    rc = write_json(path, root, err);
    cJSON_Delete(root);
    return rc;
}

int meas_model_calibration(const char *path, char ***names, u32 *nr, char *policy,
                           size_t policy_len, struct sim_err *err)
{
    cJSON *root = NULL;
    const cJSON *cal;
    u32 n = 0;
    int rc;

    *names = NULL;
    *nr = 0;
    policy[0] = 0;
    if ((rc = parse_file(path, MEAS_MAX_BYTES, &root, err)))
        return rc;
    cal = cJSON_GetObjectItemCaseSensitive(root, "_calibration");
    if (cal && !cJSON_IsArray(cal))
        rc = sim_err_set(err, SIM_EPARSE, "%s: _calibration: must be an array of strings", path);
    for (const cJSON *it = cal ? cal->child : NULL; !rc && it; it = it->next) {
        if (!cJSON_IsString(it))
            rc = sim_err_set(err, SIM_EPARSE, "%s: _calibration: must hold strings", path);
        else if (!strncmp(it->valuestring, "fit: ", 5) && ++n > MEAS_MAX_CASES)
            rc = sim_err_set(err, SIM_ELIMIT, "%s: _calibration: too many fit cases", path);
        else if (!strncmp(it->valuestring, "policy: ", 8))
            snprintf(policy, policy_len, "%s", it->valuestring + 8);
    }
    if (!rc && n && !(*names = calloc(n, sizeof(**names))))
        rc = sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
    for (const cJSON *it = cal ? cal->child : NULL; !rc && n && it; it = it->next)
        if (!strncmp(it->valuestring, "fit: ", 5) &&
            !((*names)[(*nr)++] = strdup(it->valuestring + 5)))
            rc = sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
    cJSON_Delete(root);
    if (rc) {
        meas_names_free(*names, *nr);
        *names = NULL;
        *nr = 0;
    }
    return rc;
}
