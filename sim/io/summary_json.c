/* sim/io/summary_json.c - summary.json from summary.csv's columns and rows. */
#include "summary_json.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CELLS 256                   /* summary.csv columns (today about 60) */
#define MAX_CELL  4096                  /* bytes of one cell */

/* Split one RFC 4180 line into cells (NUL-terminated copies in buf).
 * Returns the number of cells, or -1 when it does not fit. */
static int csv_split(const char *s, char *buf, size_t cap, const char **cells, int max)
{
    size_t o = 0;
    int n = 0;

    for (;;) {
        if (n == max)
            return -1;
        cells[n++] = buf + o;
        bool quoted = *s == '"';
        s += quoted;
        for (; *s; s++) {
            if (quoted && *s == '"' && s[1] == '"')
                s++;
            else if (quoted && *s == '"') {
                quoted = false;
                continue;
            } else if (!quoted && (*s == ',' || *s == '\n' || *s == '\r'))
                break;
            if (o + 2 > cap)
                return -1;
            buf[o++] = *s;
        }
        buf[o++] = '\0';
        if (*s != ',')
            return n;
        s++;
    }
}

/* A JSON number exactly as the CSV wrote it: -?digits(.digits)? */
static bool is_number(const char *s)
{
    s += *s == '-';
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return false;
    while (*s >= '0' && *s <= '9')
        s++;
    if (*s == '.') {
        if (*++s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return !*s;
}

static cJSON *cell_value(const char *v)
{
    return is_number(v) ? cJSON_CreateRaw(v) : cJSON_CreateString(v);
}

static cJSON *config_object(const struct machine *base, u64 seed)
{
    cJSON *o = cJSON_CreateObject();
    struct machine m = *base;
    char val[256];

    m.seed = seed;
    for (size_t i = 0; o && i < machine_nr_keys; i++) {
        const struct machine_key *k = &machine_keys[i];
        cJSON *v;
        machine_get(&m, k, val, sizeof(val));
        if (k->type == MK_U32 || k->type == MK_U64)
            v = cJSON_CreateRaw(val);
        else if (k->type == MK_BOOL)
            v = cJSON_CreateBool(!strcmp(val, "true"));
        else
            v = cJSON_CreateString(val);
        if (!v || !cJSON_AddItemToObject(o, k->key, v)) {
            cJSON_Delete(v);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

/* One element of "runs": policy, config, counters. */
static int run_object(cJSON *runs, const struct summary_json_info *info, const char *row,
                      u32 idx, struct sim_err *err)
{
    int nr_names = (int)info->nr_cols;
    char buf[MAX_CELLS * 64 + MAX_CELL];
    const char *cells[MAX_CELLS];
    int n = csv_split(row, buf, sizeof(buf), cells, MAX_CELLS);
    cJSON *run = cJSON_CreateObject(), *cnt = cJSON_CreateObject(), *policy = NULL;

    if (!run || !cnt || !cJSON_AddItemToArray(runs, run)) {
        cJSON_Delete(run);
        cJSON_Delete(cnt);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    if (n != nr_names || nr_names > MAX_CELLS) {
        cJSON_Delete(cnt);
        return sim_err_set(err, SIM_EPARSE, "summary row %u has %d cells, the header %d",
                           idx + 1, n, nr_names);
    }
    for (int i = 0; i < n; i++) {
        cJSON *v = cell_value(cells[i]);
        if (!v || !cJSON_AddItemToObject(cnt, info->cols[i].name, v)) {
            cJSON_Delete(v);
            cJSON_Delete(cnt);
            return sim_err_set(err, SIM_ENOMEM, "out of memory");
        }
        if (!strcmp(info->cols[i].name, "policy"))
            policy = v;
    }
    u64 seed = info->m->seed + (info->repeat > 1 ? idx % info->repeat : 0);
    char sbuf[32];
    snprintf(sbuf, sizeof(sbuf), "%llu", (unsigned long long)seed);
    cJSON *cfg = config_object(info->m, seed);
    if (!cfg || !cJSON_AddItemToObject(run, "policy",
                                       cJSON_CreateString(policy ? policy->valuestring : "")) ||
        !cJSON_AddRawToObject(run, "seed", sbuf) || !cJSON_AddItemToObject(run, "config", cfg)) {
        cJSON_Delete(cfg);
        cJSON_Delete(cnt);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    cJSON_AddItemToObject(run, "counters", cnt);
    return SIM_OK;
}

int summary_json_write(FILE *f, const struct summary_json_info *info,
                       const char *const *rows, u32 nr_rows, struct sim_err *err)
{
    char seed[32];
    int rc = SIM_OK;

    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)info->m->seed);
    cJSON *doc = cJSON_CreateObject(), *runs = cJSON_CreateArray();
    if (!doc || !runs || !cJSON_AddStringToObject(doc, "format", "tlbsim-summary") ||
        !cJSON_AddNumberToObject(doc, "version", 1) ||
        !cJSON_AddStringToObject(doc, "tlbsim", info->version) ||
        !cJSON_AddStringToObject(doc, "trace", info->trace) ||
        !cJSON_AddStringToObject(doc, "machine", info->m->name) ||
        !cJSON_AddRawToObject(doc, "seed", seed) || !cJSON_AddItemToObject(doc, "runs", runs)) {
        if (doc && !cJSON_GetObjectItemCaseSensitive(doc, "runs"))
            cJSON_Delete(runs);
        cJSON_Delete(doc);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    for (u32 i = 0; i < nr_rows && !rc; i++)
        rc = run_object(runs, info, rows[i], i, err);
    char *text = rc ? NULL : cJSON_Print(doc);
    if (!rc && !text)
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
    if (text && (fputs(text, f) < 0 || fputc('\n', f) == EOF))
        rc = sim_err_set(err, SIM_EIO, "summary.json: write failed");
    free(text);
    cJSON_Delete(doc);
    return rc;
}
