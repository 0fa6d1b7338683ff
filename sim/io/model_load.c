/* sim/io/model_load.c - machine model files, --set overrides, model lookup.
 *
 * Loading is three passes over a file of at most MODEL_MAX_BYTES: cJSON
 * parses it, a recursive walk turns each leaf into a dotted key and hands it
 * to machine_set(), and only when something is wrong does member_line()
 * re-scan the text to find the line of the offending member.  That works
 * because cJSON keeps members in text order: the n-th member met by a
 * pre-order walk is the n-th JSON string followed by ':' in the text.
 * Model files are small and read once, so none of this is performance
 * sensitive; what matters is that no input can crash us or slip through.
 */
#include "model_load.h"
#include "file.h"
#include "trace_priv.h"          /* trace_utf8_valid */

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NO_MEMBER SIZE_MAX              /* "this key was not set by the file" */
#define JSON_MAX_EXACT 9007199254740992.0   /* 2^53: larger doubles are not exact */

struct loader {
    const char *path;                   /* file name, for messages */
    const char *text;                   /* file contents (BOM skipped) */
    size_t len;                         /* bytes in text */
    struct machine *m;                  /* model being filled */
    size_t *key_member;                 /* per machine_keys[i]: member index that set it */
    size_t member;                      /* pre-order index of the next member */
    struct sim_err *err;
};

/* ====================================================================== */
/* Positions: line of the n-th member, line of a byte offset               */
/* ====================================================================== */

static int offset_line(const char *s, size_t off)
{
    int line = 1;

    for (size_t i = 0; i < off; i++)
        line += s[i] == '\n';
    return line;
}

/* Line of the idx-th member name (0-based, text order), 0 if not found.
 * The text is valid JSON (cJSON accepted it), so every '"' outside a string
 * opens one, and a string followed by ':' is a member name. */
static int member_line(const char *s, size_t len, size_t idx)
{
    size_t count = 0;
    int line = 1;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n') {
            line++;
            continue;
        }
        if (s[i] != '"')
            continue;
        int start = line;
        for (i++; i < len && s[i] != '"'; i++) {
            if (s[i] == '\\' && i + 1 < len)
                i++;
            line += s[i] == '\n';
        }
        size_t j = i + 1;
        while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n'))
            j++;
        if (j < len && s[j] == ':' && count++ == idx)
            return start;
    }
    return 0;
}

/* The text ends inside a string or with brackets still open: the usual
 * shape of a file cut short (cJSON reports such errors at the last byte). */
static bool looks_truncated(const char *s, size_t len)
{
    long depth = 0;
    bool in_str = false;

    for (size_t i = 0; i < len; i++) {
        if (in_str) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_str = false;
        } else if (s[i] == '"') {
            in_str = true;
        } else if (s[i] == '{' || s[i] == '[') {
            depth++;
        } else if (s[i] == '}' || s[i] == ']') {
            depth--;
        }
    }
    return in_str || depth > 0;
}

/* Record "FILE:LINE: KEY: what" for member idx (NO_MEMBER: no line). */
static int ld_fail(struct loader *ld, size_t idx, const char *key, int code,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int ld_fail(struct loader *ld, size_t idx, const char *key, int code,
                   const char *fmt, ...)
{
    char what[SIM_ERR_MSG];
    va_list ap;
    int line = idx == NO_MEMBER ? 0 : member_line(ld->text, ld->len, idx);

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (line)
        return sim_err_set(ld->err, code, "%s:%d: %s: %s", ld->path, line, key, what);
    return sim_err_set(ld->err, code, "%s: %s: %s", ld->path, key, what);
}

/* ====================================================================== */
/* Reading the file                                                        */
/* ====================================================================== */

/* ====================================================================== */
/* The walk                                                                */
/* ====================================================================== */

static bool is_doc_member(const char *name)
{
    return name[0] == '_' || !strcmp(name, "source") || !strcmp(name, "note");
}

/* Some key lives under "PATH." (so PATH names an object). */
static bool is_group(const char *path)
{
    size_t n = strlen(path);

    for (size_t i = 0; i < machine_nr_keys; i++)
        if (!strncmp(machine_keys[i].key, path, n) && machine_keys[i].key[n] == '.')
            return true;
    return false;
}

static const char *json_type_name(const cJSON *v)
{
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsBool(v))   return "a boolean";
    if (cJSON_IsNull(v))   return "null";
    if (cJSON_IsArray(v))  return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "an invalid value";
}

static int check_doc(struct loader *ld, const cJSON *v, size_t idx, const char *key)
{
    const cJSON *e;

    if (cJSON_IsString(v))
        return SIM_OK;
    if (cJSON_IsArray(v)) {
        cJSON_ArrayForEach(e, v)
            if (!cJSON_IsString(e))
                goto bad;
        return SIM_OK;
    }
bad:
    return ld_fail(ld, idx, key, SIM_EINVAL,
                   "documentation must be a string or an array of strings, got %s",
                   json_type_name(v));
}

/* Render a JSON leaf as the text machine_set() reads, or fail on its type. */
static int leaf_text(struct loader *ld, const struct machine_key *k, const cJSON *v,
                     size_t idx, char *buf, size_t len)
{
    switch (k->type) {
    case MK_U32:
    case MK_U64:
        if (cJSON_IsString(v) && (!strncmp(v->valuestring, "0x", 2) ||
                                  !strncmp(v->valuestring, "0X", 2))) {
            if (strlen(v->valuestring) >= len)
                return ld_fail(ld, idx, k->key, SIM_ERANGE, "hex string too long");
            snprintf(buf, len, "%s", v->valuestring);
            return SIM_OK;
        }
        if (!cJSON_IsNumber(v))
            return ld_fail(ld, idx, k->key, SIM_EINVAL,
                           "expected a non-negative integer, got %s", json_type_name(v));
        double d = v->valuedouble;
        if (!isfinite(d) || d > JSON_MAX_EXACT)
            return ld_fail(ld, idx, k->key, SIM_ERANGE,
                           "%.17g is too large (at most 2^53; use a \"0x...\" string)", d);
        if (signbit(d) || d != floor(d))
            return ld_fail(ld, idx, k->key, SIM_EINVAL,
                           "expected a non-negative integer, got %.17g", d);
        snprintf(buf, len, "%" PRIu64, (u64)d);
        return SIM_OK;
    case MK_BOOL:
        if (!cJSON_IsBool(v))
            return ld_fail(ld, idx, k->key, SIM_EINVAL,
                           "expected true or false, got %s", json_type_name(v));
        snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "true" : "false");
        return SIM_OK;
    case MK_REPL:
    case MK_APIC:
    case MK_HFLUSH:
    case MK_STR:
        if (!cJSON_IsString(v))
            return ld_fail(ld, idx, k->key, SIM_EINVAL,
                           "expected a string, got %s", json_type_name(v));
        if (strlen(v->valuestring) >= len)
            return ld_fail(ld, idx, k->key, SIM_ERANGE, "string longer than %zu bytes",
                           len - 1);
        snprintf(buf, len, "%s", v->valuestring);
        return SIM_OK;
    }
    return ld_fail(ld, idx, k->key, SIM_EINTERNAL, "unknown key type");
}

static int apply_leaf(struct loader *ld, const char *path, const cJSON *v, size_t idx)
{
    const struct machine_key *k = machine_key_find(path);
    char text[MACHINE_NAME_MAX + 16];
    int rc;

    if (!k) {
        if (is_group(path))
            return ld_fail(ld, idx, path, SIM_EINVAL, "expected an object, got %s",
                           json_type_name(v));
        return ld_fail(ld, idx, path, SIM_EINVAL,
                       "unknown key (see `tlbsim run --help-keys` or docs/models.md)");
    }
    size_t ki = (size_t)(k - machine_keys);
    if (ld->key_member[ki] != NO_MEMBER)
        return ld_fail(ld, idx, path, SIM_EPARSE, "set twice (first on line %d)",
                       member_line(ld->text, ld->len, ld->key_member[ki]));
    if ((rc = leaf_text(ld, k, v, idx, text, sizeof(text))))
        return rc;
    if ((rc = machine_set(ld->m, k, text, ld->err))) {
        int line = member_line(ld->text, ld->len, idx);
        sim_err_prefix(ld->err, "%s:%d: ", ld->path, line);
        return rc;
    }
    ld->key_member[ki] = idx;
    return SIM_OK;
}

static int walk_object(struct loader *ld, const cJSON *obj, char *path, size_t plen,
                       int depth);

/* One member of an object: documentation, a nested group, or a leaf. */
static int walk_member(struct loader *ld, const cJSON *it, char *path, size_t plen,
                       int depth, size_t idx)
{
    size_t nlen = strlen(it->string);

    if (plen + (plen > 0) + nlen >= MODEL_MAX_PATH)
        return ld_fail(ld, idx, plen ? path : "(top level)", SIM_ELIMIT,
                       "key of %zu bytes is longer than %d", plen + (plen > 0) + nlen,
                       MODEL_MAX_PATH - 1);
    if (plen)
        path[plen++] = '.';
    memcpy(path + plen, it->string, nlen + 1);
    if (is_doc_member(it->string))
        return check_doc(ld, it, idx, path);
    if (!cJSON_IsObject(it))
        return apply_leaf(ld, path, it, idx);
    if (machine_key_find(path))
        return ld_fail(ld, idx, path, SIM_EINVAL, "expected a value, got an object");
    if (!is_group(path))
        return ld_fail(ld, idx, path, SIM_EINVAL,
                       "unknown key (see `tlbsim run --help-keys` or docs/models.md)");
    return walk_object(ld, it, path, plen + nlen, depth + 1);
}

static int walk_object(struct loader *ld, const cJSON *obj, char *path, size_t plen,
                       int depth)
{
    size_t n = 0;
    int rc;

    if (depth > MODEL_MAX_DEPTH)
        return ld_fail(ld, ld->member - 1, path, SIM_EPARSE,
                       "objects nested deeper than %d", MODEL_MAX_DEPTH);
    for (const cJSON *it = obj->child; it; it = it->next) {
        size_t idx = ld->member++;

        path[plen] = '\0';
        if (++n > MODEL_MAX_MEMBERS)
            return ld_fail(ld, idx, plen ? path : "(top level)", SIM_ELIMIT,
                           "more than %d members in one object", MODEL_MAX_MEMBERS);
        for (const cJSON *p = obj->child; p != it; p = p->next)
            if (!strcmp(p->string, it->string)) {
                char full[MODEL_MAX_PATH];
                snprintf(full, sizeof(full), "%s%s%s", path, plen ? "." : "", it->string);
                return ld_fail(ld, idx, full, SIM_EPARSE, "duplicate member");
            }
        if ((rc = walk_member(ld, it, path, plen, depth, idx)))
            return rc;
    }
    path[plen] = '\0';
    return SIM_OK;
}

/* Prefix a machine_validate() message with the file and, when the message
 * starts with a key or group the file set, that member's line. */
static void prefix_validate(struct loader *ld)
{
    const char *msg = ld->err ? ld->err->msg : "";
    size_t n = strcspn(msg, ":");
    int line = 0;

    for (size_t i = 0; i < machine_nr_keys && !line && msg[n] == ':'; i++) {
        const char *key = machine_keys[i].key;
        if (ld->key_member[i] != NO_MEMBER && !strncmp(key, msg, n) &&
            (key[n] == '\0' || key[n] == '.'))
            line = member_line(ld->text, ld->len, ld->key_member[i]);
    }
    if (line)
        sim_err_prefix(ld->err, "%s:%d: ", ld->path, line);
    else
        sim_err_prefix(ld->err, "%s: ", ld->path);
}

/* Offset of the first '[' or '{' nested deeper than MODEL_MAX_DEPTH, or
 * SIZE_MAX: refused before cJSON recurses into it.  The text is valid UTF-8
 * without NUL; a string ends at the first '"' not escaped. */
static size_t too_deep(const char *s, size_t len)
{
    size_t depth = 0;
    bool in_str = false;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > MODEL_MAX_DEPTH)
                return i;
        } else if ((c == ']' || c == '}') && depth) {
            depth--;
        }
    }
    return SIZE_MAX;
}

static int parse_and_apply(struct loader *ld)
{
    const char *end = NULL;
    char path[MODEL_MAX_PATH] = "";
    cJSON *root;
    int rc;

    const char *nul = memchr(ld->text, '\0', ld->len);
    if (nul)
        return sim_err_set(ld->err, SIM_EPARSE, "%s:%d: NUL byte in a model file", ld->path,
                           offset_line(ld->text, (size_t)(nul - ld->text)));
    size_t bad;
    if (!trace_utf8_valid((const u8 *)ld->text, ld->len, &bad))
        return sim_err_set(ld->err, SIM_EPARSE, "%s:%d: invalid UTF-8 (byte offset %zu)",
                           ld->path, offset_line(ld->text, bad), bad);
    if ((bad = too_deep(ld->text, ld->len)) != SIZE_MAX)
        return sim_err_set(ld->err, SIM_EPARSE, "%s:%d: JSON nested deeper than %d levels "
                           "(byte offset %zu)", ld->path, offset_line(ld->text, bad),
                           MODEL_MAX_DEPTH, bad);
    root = cJSON_ParseWithLengthOpts(ld->text, ld->len, &end, false);
    if (!root) {
        size_t off = end && end >= ld->text ? (size_t)(end - ld->text) : ld->len;
        if (off > ld->len || looks_truncated(ld->text, ld->len))
            off = ld->len;
        return sim_err_set(ld->err, SIM_EPARSE, "%s:%d: %s", ld->path,
                           offset_line(ld->text, off),
                           off == ld->len ? "invalid JSON: unexpected end of file (truncated?)"
                                          : "invalid JSON");
    }
    size_t off = (size_t)(end - ld->text);
    while (off < ld->len && isspace((unsigned char)ld->text[off]))
        off++;
    if (off < ld->len)
        rc = sim_err_set(ld->err, SIM_EPARSE, "%s:%d: text after the JSON object",
                         ld->path, offset_line(ld->text, off));
    else if (!cJSON_IsObject(root))
        rc = sim_err_set(ld->err, SIM_EPARSE, "%s:1: a model file is one JSON object, got %s",
                         ld->path, json_type_name(root));
    else
        rc = walk_object(ld, root, path, 0, 1);
    cJSON_Delete(root);
    return rc;
}

/* A file without "name" is named after itself: "models/zen3.json" -> "zen3". */
static void name_from_path(struct machine *m, const char *path)
{
    const char *base = strrchr(path, '/');
    size_t n;

    base = base ? base + 1 : path;
    n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".json"))
        n -= 5;
    if (n >= sizeof(m->name))
        n = sizeof(m->name) - 1;
    memcpy(m->name, base, n);
    m->name[n] = '\0';
}

int model_load_seen(const char *path, struct machine *m, bool *seen, struct sim_err *err)
{
    struct loader ld = { .path = path, .m = m, .err = err };
    char *buf = NULL;
    int rc;

    machine_init(m);
    if (seen)
        memset(seen, 0, machine_nr_keys * sizeof(*seen));
    if ((rc = file_read_all(path, MODEL_MAX_BYTES, "a model file", SIM_EIO, &buf, &ld.len,
                            err)))
        return rc;
    ld.text = buf;
    if (ld.len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) {  /* UTF-8 BOM */
        ld.text += 3;
        ld.len -= 3;
    }
    if (!(ld.key_member = malloc(machine_nr_keys * sizeof(*ld.key_member)))) {
        rc = sim_err_set(err, SIM_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    for (size_t i = 0; i < machine_nr_keys; i++)
        ld.key_member[i] = NO_MEMBER;
    if ((rc = parse_and_apply(&ld)))
        goto out;
    const struct machine_key *kname = machine_key_find("name");
    if (kname && ld.key_member[kname - machine_keys] == NO_MEMBER)
        name_from_path(m, path);
    if ((rc = machine_validate(m, err))) {
        prefix_validate(&ld);
        goto out;
    }
    if (seen)
        for (size_t i = 0; i < machine_nr_keys; i++)
            seen[i] = ld.key_member[i] != NO_MEMBER;
out:
    free(ld.key_member);
    free(buf);
    return rc;
}

int model_load(const char *path, struct machine *m, struct sim_err *err)
{
    return model_load_seen(path, m, NULL, err);
}

/* ====================================================================== */
/* --set KEY=VALUE                                                         */
/* ====================================================================== */

int model_set_override(struct machine *m, const char *kv, struct sim_err *err)
{
    const char *eq = strchr(kv, '=');
    char key[MODEL_MAX_PATH];
    const struct machine_key *k;
    int rc;

    if (!eq)
        return sim_err_set(err, SIM_EINVAL, "--set: expected KEY=VALUE, got '%s'", kv);
    size_t n = (size_t)(eq - kv);
    if (n == 0)
        return sim_err_set(err, SIM_EINVAL, "--set: empty key in '%s'", kv);
    if (n >= sizeof(key))
        return sim_err_set(err, SIM_EINVAL, "--set: key longer than %zu bytes", sizeof(key) - 1);
    memcpy(key, kv, n);
    key[n] = '\0';
    if (!(k = machine_key_find(key)))
        return sim_err_set(err, SIM_EINVAL,
                           "--set: unknown key '%s' (see `tlbsim run --help-keys`)", key);
    if (k->type == MK_STR && !trace_utf8_valid((const u8 *)eq + 1, strlen(eq + 1), NULL))
        return sim_err_set(err, SIM_EINVAL, "--set: %s: invalid UTF-8", key);
    if ((rc = machine_set(m, k, eq + 1, err)))
        sim_err_prefix(err, "--set: ");
    return rc;
}

/* ====================================================================== */
/* Finding model files                                                     */
/* ====================================================================== */

static bool is_regular(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* buf = DIR "/" FILE when that is a regular file. */
static bool try_dir(const char *dir, const char *file, char *buf, size_t len)
{
    int n;

    if (!dir || !*dir)
        return false;
    n = snprintf(buf, len, "%s/%s", dir, file);
    return n > 0 && (size_t)n < len && is_regular(buf);
}

/* Directory of the running executable, or "" (Linux /proc only). */
static void exe_dir(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    char *slash;

    if (n <= 0 || (size_t)n >= len - 1) {
        buf[0] = '\0';
        return;
    }
    buf[n] = '\0';
    slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    else
        buf[0] = '\0';
}

static bool search_dirs(const char *file, char *buf, size_t len)
{
    char exe[PATH_MAX], dir[PATH_MAX + 32];

    if (try_dir(getenv(MODEL_ENV), file, buf, len))
        return true;
    exe_dir(exe, sizeof(exe));
    if (exe[0]) {
        static const char *const rel[] = { "../models", "models", "../share/tlbsim/models" };
        for (size_t i = 0; i < ARRAY_SIZE(rel); i++) {
            snprintf(dir, sizeof(dir), "%s/%s", exe, rel[i]);
            if (try_dir(dir, file, buf, len))
                return true;
        }
    }
    if (try_dir("models", file, buf, len) || try_dir("../models", file, buf, len))
        return true;
#ifdef TLBSIM_MODELS_DIR
    if (try_dir(TLBSIM_MODELS_DIR, file, buf, len))
        return true;
#endif
    return false;
}

int model_find(const char *name, char *buf, size_t len, struct sim_err *err)
{
    char file[MODEL_MAX_PATH];
    size_t n = strlen(name);

    if (is_regular(name)) {
        if (n >= len)
            return sim_err_set(err, SIM_ERANGE, "%s: path too long", name);
        memcpy(buf, name, n + 1);
        return SIM_OK;
    }
    if (!n || strchr(name, '/')) {
        struct stat st;
        if (n && stat(name, &st) == 0 && S_ISDIR(st.st_mode))
            return sim_err_set(err, SIM_EIO, "%s: is a directory, not a model file", name);
        return sim_err_set(err, SIM_ENOENT, "%s: no such model file", name);
    }
    bool has_ext = n > 5 && !strcmp(name + n - 5, ".json");
    if (snprintf(file, sizeof(file), "%s%s", name, has_ext ? "" : ".json") >= (int)sizeof(file))
        return sim_err_set(err, SIM_ERANGE, "%s: model name too long", name);
    if (search_dirs(file, buf, len))
        return SIM_OK;
    return sim_err_set(err, SIM_ENOENT,
                       "model '%s' not found (looked in $%s, <exe>/../models, ./models, "
                       "../models); pass --machine FILE or set %s", name, MODEL_ENV, MODEL_ENV);
}

int model_find_default(char *buf, size_t len, struct sim_err *err)
{
    return model_find(MODEL_DEFAULT, buf, len, err);
}

/* ====================================================================== */
/* --help-keys                                                             */
/* ====================================================================== */

void model_print_keys(FILE *f, const struct machine *m)
{
    int w = 3;
    char val[MACHINE_NAME_MAX + 32];

    for (size_t i = 0; i < machine_nr_keys; i++)
        if ((int)strlen(machine_keys[i].key) > w)
            w = (int)strlen(machine_keys[i].key);
    fprintf(f, "%-*s  %-18s  %s\n", w, "KEY", "VALUE", "DESCRIPTION");
    for (size_t i = 0; i < machine_nr_keys; i++) {
        const struct machine_key *k = &machine_keys[i];
        machine_get(m, k, val, sizeof(val));
        fprintf(f, "%-*s  %-18s  %s", w, k->key, val, k->doc);
        if (k->type == MK_U32 || k->type == MK_U64)
            fprintf(f, " [%" PRIu64 "..%" PRIu64 "]", k->min, k->max);
        fputc('\n', f);
    }
}

int model_load_for_run(const char *machine, const char *const *sets, u32 nr_sets,
                       u32 trace_cpus, struct machine *m, struct sim_err *err)
{
    char path[4096];
    bool sets_cpus = false;
    int rc;

    if (machine)
        rc = model_find(machine, path, sizeof(path), err);
    else
        rc = model_find_default(path, sizeof(path), err);
    if (rc || (rc = model_load(path, m, err)))
        return rc;
    for (u32 i = 0; i < nr_sets; i++)
        sets_cpus |= !strncmp(sets[i], "cpus=", 5);
    if (!sets_cpus) {
        m->cpus = trace_cpus;
        if (m->sockets > m->cpus)
            m->sockets = m->cpus;
    }
    for (u32 i = 0; i < nr_sets; i++)
        if ((rc = model_set_override(m, sets[i], err)))
            return rc;
    return machine_validate(m, err);
}
