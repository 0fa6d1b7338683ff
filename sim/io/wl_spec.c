/* sim/io/wl_spec.c - parse workload spec files, then run the generator. */
#include "wl_spec.h"
#include "file.h"
#include "trace.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum sk_type {
    SK_NAME,                            /* string into wl_params.name */
    SK_TEXT,                            /* any string, ignored (documentation) */
    SK_U32, SK_U64,                     /* integer */
    SK_SIZE,                            /* integer bytes or "128M" */
    SK_PAGE,                            /* "4k" | "2m" | "1g" -> page_shift */
    SK_MODE,                            /* "threads" | "processes" */
};

struct spec_key {
    const char *name;                   /* JSON key */
    enum sk_type type;
    u32 wlk;                            /* WLK_* bit, 0 = common to every workload */
    size_t off;                         /* into struct wl_params */
};

#define OFF(f) offsetof(struct wl_params, f)
static const struct spec_key spec_keys[] = {
    { "workload",       SK_TEXT, 0, 0 },        /* read first, separately */
    { "name",           SK_NAME, 0, OFF(name) },
    { "description",    SK_TEXT, 0, 0 },
    { "cpus",           SK_U32,  0, OFF(cpus) },
    { "iterations",     SK_U64,  0, OFF(iterations) },
    { "seed",           SK_U64,  0, OFF(seed) },
    { "wss",            SK_SIZE, 0, OFF(wss) },
    { "page",           SK_PAGE, 0, OFF(page_shift) },
    { "gap",            SK_U64,  0, OFF(gap) },
    { "mode",           SK_MODE, WLK_MODE, OFF(mode) },
    { "accesses",       SK_U32,  WLK_ACCESSES, OFF(accesses) },
    { "tasks",          SK_U32,  WLK_TASKS, OFF(tasks) },
    { "kthread_pct",    SK_U32,  WLK_KTHREAD_PCT, OFF(kthread_pct) },
    { "idle_pct",       SK_U32,  WLK_IDLE_PCT, OFF(idle_pct) },
    { "batch_pages",    SK_U32,  WLK_BATCH_PAGES, OFF(batch_pages) },
    { "period",         SK_U32,  WLK_PERIOD, OFF(period) },
    { "migrate_pages",  SK_U32,  WLK_MIGRATE_PAGES, OFF(migrate_pages) },
    { "preempt_pct",    SK_U32,  WLK_PREEMPT_PCT, OFF(preempt_pct) },
    { "preempt_cycles", SK_U64,  WLK_PREEMPT_CYCLES, OFF(preempt_cycles) },
    { "code_pages",     SK_U32,  WLK_CODE_PAGES, OFF(code_pages) },
};
#undef OFF

/* ===== File and value helpers ============================================ */

static unsigned line_of(const char *s, size_t off)
{
    unsigned line = 1;

    for (size_t i = 0; i < off && s[i]; i++)
        line += s[i] == '\n';
    return line;
}

/* Decimal or 0x-hex digits, then optional K/M/G/T (x1024^n) when sized. */
static int parse_uint_str(const char *s, bool sized, u64 *out)
{
    u64 v = 0, mul = 1;
    int base = 10, nd = 0;
    const char *q = s;

    if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) {
        base = 16;
        q += 2;
    }
    for (; *q; q++, nd++) {
        int d;
        if (isdigit((unsigned char)*q))
            d = *q - '0';
        else if (base == 16 && isxdigit((unsigned char)*q))
            d = tolower((unsigned char)*q) - 'a' + 10;
        else
            break;
        if (v > (UINT64_MAX - (u64)d) / (u64)base)
            return SIM_ERANGE;
        v = v * (u64)base + (u64)d;
    }
    if (!nd)
        return SIM_EPARSE;
    if (sized && *q && base == 10) {
        const char *units = "kmgt";
        const char *u = strchr(units, tolower((unsigned char)*q));
        if (!u)
            return SIM_EPARSE;
        mul = 1ull << (10 * (u - units + 1));
        q++;
    }
    if (*q)
        return SIM_EPARSE;
    if (v > UINT64_MAX / mul)
        return SIM_ERANGE;
    *out = v * mul;
    return SIM_OK;
}

static int get_uint(const cJSON *it, bool sized, u64 *out)
{
    if (cJSON_IsNumber(it)) {
        double d = it->valuedouble;
        if (d < 0 || d > 9007199254740992.0 || d != (double)(u64)d)
            return d < 0 || d > 9007199254740992.0 ? SIM_ERANGE : SIM_EPARSE;
        *out = (u64)d;
        return SIM_OK;
    }
    if (cJSON_IsString(it))
        return parse_uint_str(it->valuestring, sized, out);
    return SIM_EPARSE;
}

static int set_value(const struct spec_key *k, const cJSON *it, struct wl_params *p,
                     struct sim_err *err)
{
    char *field = (char *)p + k->off;
    u64 v = 0;
    int rc;

    switch (k->type) {
    case SK_TEXT:
        if (!cJSON_IsString(it))
            return sim_err_set(err, SIM_EPARSE, "%s: must be a string", k->name);
        return SIM_OK;
    case SK_NAME:
        if (!cJSON_IsString(it))
            return sim_err_set(err, SIM_EPARSE, "%s: must be a string", k->name);
        if (strlen(it->valuestring) >= WL_NAME_MAX)
            return sim_err_set(err, SIM_EINVAL, "%s: longer than %d bytes", k->name, WL_NAME_MAX - 1);
        snprintf(p->name, sizeof(p->name), "%s", it->valuestring);
        return SIM_OK;
    case SK_PAGE:
        if (!cJSON_IsString(it))
            return sim_err_set(err, SIM_EPARSE, "%s: must be \"4k\", \"2m\" or \"1g\"", k->name);
        if (!strcasecmp(it->valuestring, "4k"))
            p->page_shift = PAGE_SHIFT_4K;
        else if (!strcasecmp(it->valuestring, "2m"))
            p->page_shift = PAGE_SHIFT_2M;
        else if (!strcasecmp(it->valuestring, "1g"))
            p->page_shift = PAGE_SHIFT_1G;
        else
            return sim_err_set(err, SIM_EINVAL, "%s: \"%s\" is not 4k, 2m or 1g", k->name, it->valuestring);
        return SIM_OK;
    case SK_MODE:
        if (cJSON_IsString(it) && !strcmp(it->valuestring, "threads"))
            p->mode = WL_MODE_THREADS;
        else if (cJSON_IsString(it) && !strcmp(it->valuestring, "processes"))
            p->mode = WL_MODE_PROCESSES;
        else
            return sim_err_set(err, SIM_EINVAL, "%s: must be \"threads\" or \"processes\"", k->name);
        return SIM_OK;
    case SK_U32:
    case SK_U64:
    case SK_SIZE:
        rc = get_uint(it, k->type == SK_SIZE, &v);
        if (rc == SIM_ERANGE || (rc == SIM_OK && k->type == SK_U32 && v > UINT32_MAX))
            return sim_err_set(err, SIM_EINVAL, "%s: out of range", k->name);
        if (rc)
            return sim_err_set(err, SIM_EPARSE, "%s: must be a non-negative integer%s",
                               k->name, k->type == SK_SIZE ? " or a size like \"4M\"" : "");
        if (k->type == SK_U32)
            memcpy(field, &(u32){ (u32)v }, sizeof(u32));
        else
            memcpy(field, &v, sizeof(u64));
        return SIM_OK;
    }
    return sim_err_set(err, SIM_EINTERNAL, "%s: bad key type", k->name);
}

static const struct spec_key *find_key(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(spec_keys); i++)
        if (!strcmp(spec_keys[i].name, name))
            return &spec_keys[i];
    return NULL;
}

/* ===== Spec ============================================================== */

static int spec_workload(const cJSON *root, const struct wl_desc **d, struct sim_err *err)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(root, "workload");
    char known[512] = "";
    size_t nr, len = 0;
    const struct wl_desc *all = wl_list(&nr);

    if (!w)
        return sim_err_set(err, SIM_EPARSE, "workload: missing");
    if (!cJSON_IsString(w))
        return sim_err_set(err, SIM_EPARSE, "workload: must be a string");
    if ((*d = wl_find(w->valuestring)))
        return SIM_OK;
    for (size_t i = 0; i < nr && len < sizeof(known); i++)
        len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "", all[i].name);
    return sim_err_set(err, SIM_EPARSE, "workload: unknown workload \"%.64s\" (known: %s)",
                       w->valuestring, known);
}

static int spec_fill(const cJSON *root, const struct wl_desc *d, struct wl_params *p,
                     struct sim_err *err)
{
    for (const cJSON *it = root->child; it; it = it->next) {
        const struct spec_key *k = find_key(it->string);
        int rc;

        for (const cJSON *prev = root->child; prev != it; prev = prev->next)
            if (!strcmp(prev->string, it->string))
                return sim_err_set(err, SIM_EPARSE, "%.64s: duplicate key", it->string);
        if (!k)
            return sim_err_set(err, SIM_EPARSE, "%.64s: unknown key", it->string);
        if (k->wlk && !(d->keys & k->wlk))
            return sim_err_set(err, SIM_EPARSE, "%s: not used by workload %s", k->name, d->name);
        if ((rc = set_value(k, it, p, err)))
            return rc;
    }
    return SIM_OK;
}

int wl_spec_load(const char *spec_path, const struct wl_desc **d,
                 struct wl_params *p, struct sim_err *err)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *root;
    int rc;

    if ((rc = file_read_all(spec_path, WL_SPEC_MAX_BYTES, "a workload spec", SIM_EPARSE,
                            &text, &len, err)))
        return rc;
    root = cJSON_ParseWithLength(text, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= text && at <= text + len ? (size_t)(at - text) : 0;
        rc = sim_err_set(err, SIM_EPARSE, "%s:%u: not valid JSON", spec_path, line_of(text, off));
        free(text);
        return rc;
    }
    if (!cJSON_IsObject(root))
        rc = sim_err_set(err, SIM_EPARSE, "spec: must be a JSON object");
    else if ((rc = spec_workload(root, d, err)) == SIM_OK) {
        wl_params_init(p, *d);
        if ((rc = spec_fill(root, *d, p, err)) == SIM_OK)
            rc = wl_params_check(p, *d, err);
    }
    if (rc)
        sim_err_prefix(err, "%s: ", spec_path);
    cJSON_Delete(root);
    free(text);
    return rc;
}

static int emit_write(void *ctx, const struct trace_op *op, struct sim_err *err)
{
    return trace_write(ctx, op, err);
}

int wl_generate(const struct wl_desc *d, const struct wl_params *p_in, const char *out_path,
                struct sim_err *err)
{
    struct trace_header hdr;
    struct trace_writer *w;
    struct wl_params p;
    int rc, rc2;

    if ((rc = wl_prepare(d, p_in, &p, err)))
        return rc;
    memset(&hdr, 0, sizeof(hdr));
    hdr.version = 1;
    hdr.cpus = p.cpus;
    snprintf(hdr.name, sizeof(hdr.name), "%s", p.name);
    snprintf(hdr.source, sizeof(hdr.source), "synthetic");
    if ((rc = trace_writer_open(out_path, &hdr, TRACE_FMT_JSONL, &w, err)))
        return rc;
    rc = wl_run(d, &p, emit_write, w, err);
    rc2 = trace_writer_close(w, rc == SIM_OK, rc ? NULL : err);
    return rc ? rc : rc2;
}

int wl_spec_generate(const char *spec_path, const char *out_path, struct sim_err *err)
{
    const struct wl_desc *d;
    struct wl_params p;
    int rc;

    if ((rc = wl_spec_load(spec_path, &d, &p, err)))
        return rc;
    rc = wl_generate(d, &p, out_path, err);
    if (rc == SIM_EINVAL)
        sim_err_prefix(err, "%s: ", spec_path);
    return rc;
}
