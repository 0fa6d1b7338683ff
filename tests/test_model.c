/* tests/test_model.c - machine model files, --set, model lookup, key docs.
 *
 * Runs with cwd = tests/, so the shipped models are ../models/NAME.json.
 * Bad-input tests write a small file to /tmp, load it and check the code
 * and that the one-line message names the file, the line and the key.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../sim/io/model_load.h"
#include "harness.h"

static const char *const shipped[] = {
    "skylake-sp", "sapphire-rapids", "zen3", "zen4", "kvm-guest-skylake", "tdx-guest-spr",
};

/* ---- helpers ------------------------------------------------------------ */

static char tmp_path[64];

/* Write TEXT (LEN bytes) to a fresh /tmp file; its name is left in tmp_path. */
static void write_tmp(const char *text, size_t len)
{
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/tlbsim-model-XXXXXX.json");
    int fd = mkstemps(tmp_path, 5);
    cr_assert(fd >= 0, "mkstemps");
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* Load TEXT as a model file; returns the code, message in *err. */
static int load_text(const char *text, struct machine *m, struct sim_err *err)
{
    memset(err, 0, sizeof(*err));
    write_tmp(text, strlen(text));
    int rc = model_load(tmp_path, m, err);
    unlink(tmp_path);
    return rc;
}

/* The message names the temporary file, and KEY when it is not NULL. */
static void expect_msg(const struct sim_err *err, const char *key)
{
    cr_expect(strstr(err->msg, tmp_path) != NULL, "message does not name the file: %s", err->msg);
    if (key)
        cr_expect(strstr(err->msg, key) != NULL, "message does not name '%s': %s", key, err->msg);
}

static void expect_line(const struct sim_err *err, int line)
{
    char want[96];
    snprintf(want, sizeof(want), "%s:%d: ", tmp_path, line);
    cr_expect(strncmp(err->msg, want, strlen(want)) == 0,
              "expected the message to start with '%s': %s", want, err->msg);
}

static void expect_value(const struct machine *m, const char *key, const char *want)
{
    const struct machine_key *k = machine_key_find(key);
    char got[128];

    cr_assert(k != NULL, "no key %s", key);
    machine_get(m, k, got, sizeof(got));
    cr_expect_str_eq(got, want, "%s = %s, expected %s", key, got, want);
}

static void load_shipped(const char *name, struct machine *m, bool *seen)
{
    char path[256];
    struct sim_err err = { 0 };

    snprintf(path, sizeof(path), "../models/%s.json", name);
    int rc = model_load_seen(path, m, seen, &err);
    cr_assert_eq(rc, SIM_OK, "%s: %s", path, err.msg);
}

/* ---- shipped models ----------------------------------------------------- */

Test(model, shipped_models_load_and_validate)
{
    for (size_t i = 0; i < ARRAY_SIZE(shipped); i++) {
        struct machine m;
        struct sim_err err = { 0 };

        load_shipped(shipped[i], &m, NULL);
        cr_expect_str_eq(m.name, shipped[i], "name in %s.json", shipped[i]);
        cr_expect_eq(machine_validate(&m, &err), SIM_OK, "%s: %s", shipped[i], err.msg);
    }
}

/* Every *.json under models/ is a loadable model (catches a new, broken one). */
Test(model, every_file_in_models_dir_loads)
{
    DIR *d = opendir("../models");
    struct dirent *de;
    int n = 0;

    cr_assert(d != NULL);
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json"))
            continue;
        char path[512];
        struct machine m;
        struct sim_err err = { 0 };
        snprintf(path, sizeof(path), "../models/%s", de->d_name);
        cr_expect_eq(model_load(path, &m, &err), SIM_OK, "%s", err.msg);
        n++;
    }
    closedir(d);
    cr_expect(n >= (int)ARRAY_SIZE(shipped));
}

/* Shipped models set every hardware figure themselves (each one sourced in
 * the file) rather than inheriting Skylake defaults silently.  Simulator
 * settings (sim.*, limits.*) and policy parameters may be inherited. */
Test(model, shipped_models_set_every_hardware_key)
{
    bool *seen = calloc(machine_nr_keys, sizeof(*seen));

    cr_assert(seen);
    for (size_t i = 0; i < ARRAY_SIZE(shipped); i++) {
        struct machine m;
        load_shipped(shipped[i], &m, seen);
        for (size_t k = 0; k < machine_nr_keys; k++) {
            const char *key = machine_keys[k].key;
            if (!strncmp(key, "sim.", 4) || !strncmp(key, "limits.", 7) ||
                !strncmp(key, "policy.", 7))
                continue;
            cr_expect(seen[k], "models/%s.json does not set '%s' (every hardware figure "
                      "needs a sourced value in every shipped model)", shipped[i], key);
        }
    }
    free(seen);
}

Test(model, shipped_values)
{
    struct machine m;

    load_shipped("skylake-sp", &m, NULL);
    cr_expect_eq(m.l1d_4k.entries, 64);
    cr_expect_eq(m.l1d_4k.ways, 4);
    cr_expect_eq(m.stlb.entries, 1536);
    cr_expect_eq(m.stlb.ways, 12);
    cr_expect_eq(m.cpus, 8);
    cr_expect_eq(m.sockets, 2);
    cr_expect_not(m.virt);

    load_shipped("zen3", &m, NULL);
    cr_expect_eq(m.l1d_4k.entries, 64);
    cr_expect_eq(m.l1d_4k.ways, 64);    /* fully associative */
    cr_expect_eq(m.l1d_2m.ways, m.l1d_2m.entries);
    cr_expect_eq(m.l1d_1g.ways, m.l1d_1g.entries);

    load_shipped("zen4", &m, NULL);
    cr_expect_eq(m.l1d_4k.entries, 72);
    cr_expect_eq(m.l1d_4k.ways, 72);
    cr_expect_eq(m.stlb.entries, 3072);

    load_shipped("sapphire-rapids", &m, NULL);
    cr_expect_eq(m.l1d_4k.entries, 96);
    cr_expect_eq(m.l1d_4k.ways, 6);
    cr_expect(m.stlb_holds_1g);
    cr_expect_eq(m.stlb_1g.entries, 0);

    load_shipped("kvm-guest-skylake", &m, NULL);
    cr_expect(m.virt);
    cr_expect_eq(m.l1d_4k.entries, 64);
}

/* ---- keys and values ---------------------------------------------------- */

Test(model, empty_object_gives_defaults)
{
    struct machine m, d;
    struct sim_err err;

    cr_assert_eq(load_text("{}", &m, &err), SIM_OK, "%s", err.msg);
    machine_init(&d);
    /* a file without "name" is named after itself */
    char want[sizeof(tmp_path)];
    snprintf(want, sizeof(want), "%s", strrchr(tmp_path, '/') + 1);
    *strrchr(want, '.') = '\0';
    cr_expect_str_eq(m.name, want);
    memcpy(m.name, d.name, sizeof(m.name));
    cr_expect_eq(memcmp(&m, &d, sizeof(m)), 0);
}

Test(model, nested_and_dotted_members)
{
    struct machine m;
    struct sim_err err;

    cr_assert_eq(load_text("{\"tlb\": {\"l1d\": {\"4k\": {\"entries\": 32, \"ways\": 8}},\n"
                           " \"stlb.entries\": 0, \"replacement\": \"plru\"},\n"
                           " \"sim\": {\"seed\": \"0xffffffffffffffff\"},\n"
                           " \"virt\": {\"enabled\": true}, \"apic.mode\": \"x2apic-phys\",\n"
                           " \"cpus\": 1e1, \"sockets\": 2, \"name\": \"x\"}",
                           &m, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(m.l1d_4k.entries, 32);
    cr_expect_eq(m.l1d_4k.ways, 8);
    cr_expect_eq(m.stlb.entries, 0);
    cr_expect_eq(m.replacement, TLB_REPL_PLRU);
    cr_expect_eq(m.seed, UINT64_MAX);
    cr_expect(m.virt);
    cr_expect_eq(m.apic_mode, APIC_X2APIC_PHYS);
    cr_expect_eq(m.cpus, 10);
    cr_expect_str_eq(m.name, "x");
}

Test(model, documentation_members_are_skipped)
{
    struct machine m;
    struct sim_err err;

    cr_assert_eq(load_text("{\"source\": \"top\", \"note\": [\"a\", \"b\"], \"_x\": \"y\",\n"
                           " \"tlb\": {\"_why\": [], \"l1d\": {\"4k\": {\"entries\": 64,\n"
                           "  \"source\": \"manual\", \"note\": \"n\"}}}}",
                           &m, &err), SIM_OK, "%s", err.msg);
}

Test(model, documentation_must_be_text)
{
    static const char *const bad[] = {
        "{\"source\": 5}",
        "{\"tlb\": {\"note\": [\"a\", 3]}}",
        "{\"_x\": {\"cpus\": 4}}",
        "{\"source\": null}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct machine m;
        struct sim_err err;
        cr_expect_eq(load_text(bad[i], &m, &err), SIM_EINVAL, "%s", bad[i]);
        expect_msg(&err, "documentation");
    }
}

Test(model, unknown_key_names_file_line_and_key)
{
    struct machine m;
    struct sim_err err;

    cr_assert_eq(load_text("{\n  \"cpus\": 4,\n  \"tlb\": {\n    \"l1d\": {\n"
                           "      \"4k\": { \"entries\": 64, \"entriez\": 4 }\n    }\n  }\n}\n",
                           &m, &err), SIM_EINVAL);
    expect_msg(&err, "tlb.l1d.4k.entriez");
    expect_line(&err, 5);
    cr_expect(strstr(err.msg, "unknown key") != NULL, "%s", err.msg);

    cr_assert_eq(load_text("{\"cpus\": 4,\n\"bogus\": {\"a\": 1}}", &m, &err), SIM_EINVAL);
    expect_msg(&err, "bogus");
    expect_line(&err, 2);

    cr_assert_eq(load_text("{\"tlb\": {\"l3\": 1}}", &m, &err), SIM_EINVAL);
    expect_msg(&err, "tlb.l3");
}

Test(model, line_numbers_skip_strings_that_look_like_keys)
{
    struct machine m;
    struct sim_err err;

    /* "a\": x" inside a string must not be counted as a member name. */
    cr_assert_eq(load_text("{\"note\": \"a\\\": \\\"b\\\": c\",\n"
                           "\"_y\": [\"k\", \"l\"],\n\n"
                           "\"cpuz\": 3}", &m, &err), SIM_EINVAL);
    expect_msg(&err, "cpuz");
    expect_line(&err, 4);
}

Test(model, wrong_types)
{
    static const struct { const char *json, *key; int code; } cases[] = {
        { "{\"cpus\": \"8\"}",                     "cpus", SIM_EINVAL },
        { "{\"cpus\": 1.5}",                       "cpus", SIM_EINVAL },
        { "{\"cpus\": -1}",                        "cpus", SIM_EINVAL },
        { "{\"cpus\": -0}",                        "cpus", SIM_EINVAL },
        { "{\"cpus\": 1e300}",                     "cpus", SIM_ERANGE },
        { "{\"sim\": {\"seed\": 18446744073709551615}}", "sim.seed", SIM_ERANGE },
        { "{\"cpus\": null}",                      "cpus", SIM_EINVAL },
        { "{\"cpus\": true}",                      "cpus", SIM_EINVAL },
        { "{\"cpus\": [8]}",                       "cpus", SIM_EINVAL },
        { "{\"cpus\": {}}",                        "cpus", SIM_EINVAL },
        { "{\"tlb\": 5}",                          "tlb", SIM_EINVAL },
        { "{\"tlb\": {\"l1d\": {\"4k\": \"64\"}}}", "tlb.l1d.4k", SIM_EINVAL },
        { "{\"tlb\": {\"replacement\": 1}}",       "tlb.replacement", SIM_EINVAL },
        { "{\"tlb\": {\"replacement\": \"fifo\"}}", "tlb.replacement", SIM_EINVAL },
        { "{\"virt\": {\"enabled\": 1}}",          "virt.enabled", SIM_EINVAL },
        { "{\"virt\": {\"enabled\": \"true\"}}",   "virt.enabled", SIM_EINVAL },
        { "{\"apic\": {\"mode\": \"x2apic\"}}",    "apic.mode", SIM_EINVAL },
        { "{\"name\": 5}",                         "name", SIM_EINVAL },
        { "{\"name\": \"" "0123456789012345678901234567890123456789012345678901234567890123456789" "\"}",
                                                   "name", SIM_ERANGE },
        { "{\"cpus\": 0}",                         "cpus", SIM_ERANGE },
        { "{\"cpus\": 100000}",                    "cpus", SIM_ERANGE },
        { "{\"cpus\": \"0xzz\"}",                  "cpus", SIM_EINVAL },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct machine m;
        struct sim_err err;
        int rc = load_text(cases[i].json, &m, &err);
        cr_expect_eq(rc, cases[i].code, "%s: rc %d (%s)", cases[i].json, rc, err.msg);
        expect_msg(&err, cases[i].key);
        expect_line(&err, 1);
    }
}

Test(model, entries_zero_accepted)
{
    struct machine m;
    struct sim_err err;

    cr_assert_eq(load_text("{\"tlb\": {\"stlb\": {\"entries\": 0},\n"
                           " \"l1d\": {\"1g\": {\"entries\": 0, \"ways\": 4}}}}",
                           &m, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(m.stlb.entries, 0);
    cr_expect_eq(m.l1d_1g.entries, 0);
}

Test(model, bad_geometry_rejected)
{
    struct machine m;
    struct sim_err err;

    cr_assert_eq(load_text("{\"cpus\": 4,\n\"tlb\": {\"l1d\": {\"4k\": {\"entries\": 10, \"ways\": 4}}}}",
                           &m, &err), SIM_EINVAL);
    expect_msg(&err, "tlb.l1d.4k");
    expect_line(&err, 2);

    cr_assert_eq(load_text("{\"tlb\": {\"stlb\": {\"entries\": 8, \"ways\": 16}}}", &m, &err),
                 SIM_EINVAL);
    expect_msg(&err, "tlb.stlb");

    cr_assert_eq(load_text("{\"cpus\": 2, \"sockets\": 4}", &m, &err), SIM_EINVAL);
    expect_msg(&err, "sockets");
}

Test(model, duplicate_members)
{
    struct machine m;
    struct sim_err err;

    cr_assert_eq(load_text("{\"cpus\": 4,\n\"cpus\": 8}", &m, &err), SIM_EPARSE);
    expect_msg(&err, "cpus");
    expect_line(&err, 2);
    cr_expect(strstr(err.msg, "duplicate") != NULL, "%s", err.msg);

    cr_assert_eq(load_text("{\"tlb\": {\"l1d\": {\"4k\": {\"entries\": 64}},\n"
                           "\"l1d\": {\"2m\": {\"entries\": 32}}}}", &m, &err), SIM_EPARSE);
    expect_msg(&err, "tlb.l1d");
    expect_line(&err, 2);

    /* the same key spelled two ways */
    cr_assert_eq(load_text("{\"tlb\": {\"stlb\": {\"entries\": 64}},\n"
                           "\"tlb.stlb.entries\": 32}", &m, &err), SIM_EPARSE);
    expect_msg(&err, "tlb.stlb.entries");
    expect_line(&err, 2);

    /* documentation members may not repeat either */
    cr_assert_eq(load_text("{\"source\": \"a\", \"source\": \"b\"}", &m, &err), SIM_EPARSE);
    expect_msg(&err, "source");
}

/* ---- broken files ------------------------------------------------------- */

Test(model, directory_is_an_error)
{
    struct machine m;
    struct sim_err err = { 0 };

    cr_assert_eq(model_load("../models", &m, &err), SIM_EIO);
    cr_expect(strstr(err.msg, "../models") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "directory") != NULL, "%s", err.msg);
}

Test(model, missing_file_is_an_error)
{
    struct machine m;
    struct sim_err err = { 0 };

    cr_assert_eq(model_load("../models/no-such-model.json", &m, &err), SIM_EIO);
    cr_expect(strstr(err.msg, "no-such-model.json") != NULL, "%s", err.msg);
}

Test(model, truncated_json)
{
    FILE *f = fopen("../models/skylake-sp.json", "rb");
    char buf[8192];
    struct machine m;
    struct sim_err err = { 0 };

    cr_assert(f);
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    cr_assert(n > 2000);
    for (size_t cut = 0; cut < 2000; cut += 97) {
        write_tmp(buf, cut);
        int rc = model_load(tmp_path, &m, &err);
        unlink(tmp_path);
        cr_expect_eq(rc, SIM_EPARSE, "cut at %zu: rc %d %s", cut, rc, err.msg);
        expect_msg(&err, "end of file");
    }
}

Test(model, not_json_or_not_an_object)
{
    static const char *const bad[] = {
        "", "   \n", "[1, 2]", "42", "\"skylake\"", "{\"cpus\": 4} x", "{\"cpus\": 4}{}",
        "{\"cpus\": 4,}", "{cpus: 4}", "{\"cpus\": 4 /* c */}", "nul\0l",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct machine m;
        struct sim_err err;
        cr_expect_eq(load_text(bad[i], &m, &err), SIM_EPARSE, "'%s': %s", bad[i], err.msg);
        expect_msg(&err, NULL);
    }
}

Test(model, nul_byte_rejected)
{
    static const char text[] = "{\"name\": \"a\0b\"}";
    struct machine m;
    struct sim_err err = { 0 };

    write_tmp(text, sizeof(text) - 1);
    cr_expect_eq(model_load(tmp_path, &m, &err), SIM_EPARSE);
    unlink(tmp_path);
    expect_msg(&err, "NUL");
}

Test(model, utf8_bom_accepted)
{
    struct machine m;
    struct sim_err err;

    cr_expect_eq(load_text("\xEF\xBB\xBF{\"cpus\": 2}", &m, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(m.cpus, 2);
}

Test(model, deep_nesting_does_not_crash)
{
    size_t depth = 5000;
    char *s = malloc(2 * depth + 16);
    struct machine m;
    struct sim_err err;

    cr_assert(s);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    cr_expect_eq(load_text(s, &m, &err), SIM_EPARSE, "%s", err.msg);

    /* deep objects under a documentation member */
    char *o = malloc(8 * depth + 64);
    cr_assert(o);
    strcpy(o, "{\"_x\": ");
    for (size_t i = 0; i < 20; i++)
        strcat(o, "{\"a\": ");
    strcat(o, "1");
    for (size_t i = 0; i < 21; i++)
        strcat(o, "}");
    cr_expect_eq(load_text(o, &m, &err), SIM_EPARSE, "%s", err.msg);
    cr_expect(strstr(err.msg, "JSON nested deeper than 8 levels"), "%s", err.msg);
    free(o);
    free(s);
}

Test(model, too_large_file)
{
    size_t n = MODEL_MAX_BYTES + 10;
    char *s = malloc(n);
    struct machine m;
    struct sim_err err = { 0 };

    cr_assert(s);
    memset(s, ' ', n);
    s[0] = '{';
    s[n - 1] = '}';
    write_tmp(s, n);
    cr_expect_eq(model_load(tmp_path, &m, &err), SIM_EIO);
    unlink(tmp_path);
    expect_msg(&err, NULL);
    free(s);
}

Test(model, too_many_members)
{
    size_t n = MODEL_MAX_MEMBERS + 1;
    char *s = malloc(n * 16 + 16);
    struct machine m;
    struct sim_err err;

    cr_assert(s);
    strcpy(s, "{");
    for (size_t i = 0; i < n; i++)
        sprintf(s + strlen(s), "%s\"_%zu\": \"\"", i ? "," : "", i);
    strcat(s, "}");
    cr_expect_eq(load_text(s, &m, &err), SIM_ELIMIT, "%s", err.msg);
    free(s);
}

/* ---- --set ------------------------------------------------------------- */

Test(model, set_every_contract_key)
{
    static const struct { const char *key, *value; } sets[] = {
        { "cpus", "16" },                  { "freq_mhz", "3000" },
        { "tlb.l1d.4k.entries", "32" },    { "tlb.l1d.4k.ways", "8" },
        { "tlb.l1d.2m.entries", "16" },    { "tlb.l1d.2m.ways", "2" },
        { "tlb.l1d.1g.entries", "8" },     { "tlb.l1d.1g.ways", "8" },
        { "tlb.l1i.4k.entries", "64" },    { "tlb.l1i.4k.ways", "4" },
        { "tlb.stlb.entries", "1024" },    { "tlb.stlb.ways", "8" },
        { "tlb.replacement", "plru" },     { "tlb.replacement", "random" },
        { "tlb.replacement", "lru" },
    };
    struct machine m;
    struct sim_err err = { 0 };

    load_shipped("skylake-sp", &m, NULL);
    for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
        char kv[128];
        snprintf(kv, sizeof(kv), "%s=%s", sets[i].key, sets[i].value);
        cr_assert_eq(model_set_override(&m, kv, &err), SIM_OK, "%s: %s", kv, err.msg);
        expect_value(&m, sets[i].key, sets[i].value);
    }
    cr_expect_eq(machine_validate(&m, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(m.replacement, TLB_REPL_LRU);
}

Test(model, set_entries_zero_removes_structure)
{
    struct machine m;
    struct sim_err err = { 0 };

    load_shipped("skylake-sp", &m, NULL);
    cr_assert_eq(model_set_override(&m, "tlb.stlb.entries=0", &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(machine_validate(&m, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(m.stlb.entries, 0);
}

Test(model, set_bad_geometry_fails_validation)
{
    struct machine m;
    struct sim_err err = { 0 };

    load_shipped("skylake-sp", &m, NULL);
    cr_assert_eq(model_set_override(&m, "tlb.l1d.4k.entries=10", &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(machine_validate(&m, &err), SIM_EINVAL);
    cr_expect(strstr(err.msg, "tlb.l1d.4k") != NULL, "%s", err.msg);
}

Test(model, set_unknown_key)
{
    struct machine m;
    struct sim_err err = { 0 };

    machine_init(&m);
    cr_assert_eq(model_set_override(&m, "x=1", &err), SIM_EINVAL);
    cr_expect_str_eq(err.msg, "--set: unknown key 'x' (see `tlbsim run --help-keys`)");
    cr_assert_eq(model_set_override(&m, "tlb.l1d.4k=1", &err), SIM_EINVAL);
    cr_expect(strstr(err.msg, "'tlb.l1d.4k'") != NULL, "%s", err.msg);
}

Test(model, set_malformed)
{
    static const char *const bad[] = {
        "cpus", "", "=4", "cpus=", "cpus=abc", "cpus=-1", "cpus=0", "cpus=4x",
        "tlb.replacement=LRU", "virt.enabled=yes", "cpus= 4",
    };
    struct machine m;

    machine_init(&m);
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct sim_err err = { 0 };
        int rc = model_set_override(&m, bad[i], &err);
        cr_expect(rc == SIM_EINVAL || rc == SIM_ERANGE, "'%s' accepted", bad[i]);
        cr_expect(!strncmp(err.msg, "--set: ", 7), "'%s': %s", bad[i], err.msg);
    }
    cr_expect_eq(m.cpus, 4);            /* unchanged by the failures */
}

Test(model, set_value_with_equals_sign)
{
    struct machine m;
    struct sim_err err = { 0 };

    machine_init(&m);
    cr_assert_eq(model_set_override(&m, "name=a=b", &err), SIM_OK, "%s", err.msg);
    cr_expect_str_eq(m.name, "a=b");
}

/* ---- finding models ----------------------------------------------------- */

Test(model, find_default_and_by_name)
{
    char path[1024];
    struct sim_err err = { 0 };
    struct machine m;

    unsetenv(MODEL_ENV);
    cr_assert_eq(model_find_default(path, sizeof(path), &err), SIM_OK, "%s", err.msg);
    cr_expect(strstr(path, "skylake-sp.json") != NULL, "%s", path);
    cr_expect_eq(model_load(path, &m, &err), SIM_OK, "%s", err.msg);

    cr_assert_eq(model_find("zen3", path, sizeof(path), &err), SIM_OK, "%s", err.msg);
    cr_expect(strstr(path, "zen3.json") != NULL, "%s", path);
    cr_assert_eq(model_find("zen4.json", path, sizeof(path), &err), SIM_OK, "%s", err.msg);
    cr_expect(strstr(path, "zen4.json") != NULL, "%s", path);
    cr_assert_eq(model_find("../models/zen3.json", path, sizeof(path), &err), SIM_OK);
    cr_expect_str_eq(path, "../models/zen3.json");

    cr_expect_eq(model_find("no-such-machine", path, sizeof(path), &err), SIM_ENOENT);
    cr_expect(strstr(err.msg, "no-such-machine") != NULL, "%s", err.msg);
    cr_expect_eq(model_find("/nonexistent/x.json", path, sizeof(path), &err), SIM_ENOENT);
    cr_expect_eq(model_find("zen3", path, 4, &err), SIM_ENOENT);   /* buffer too small */
}

Test(model, find_honours_env)
{
    char file[600], path[1024];
    struct sim_err err = { 0 };

    h_tmpdir_setup();
    const char *dir = h_tmp_dir();
    snprintf(file, sizeof(file), "%s/skylake-sp.json", dir);
    FILE *f = fopen(file, "w");
    cr_assert(f);
    fputs("{\"name\": \"from-env\"}\n", f);
    fclose(f);
    setenv(MODEL_ENV, dir, 1);
    int rc = model_find_default(path, sizeof(path), &err);
    unsetenv(MODEL_ENV);
    h_tmpdir_teardown();
    cr_assert_eq(rc, SIM_OK, "%s", err.msg);
    cr_expect_str_eq(path, file);
}

/* ---- --help-keys and docs ------------------------------------------------ */

Test(model, print_keys_lists_every_key_with_value)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct machine m;

    cr_assert(f);
    load_shipped("zen4", &m, NULL);
    model_print_keys(f, &m);
    fclose(f);
    for (size_t i = 0; i < machine_nr_keys; i++)
        cr_expect(strstr(buf, machine_keys[i].key) != NULL, "missing %s", machine_keys[i].key);
    char *line = strstr(buf, "\ntlb.l1d.4k.entries ");
    cr_assert(line != NULL);
    cr_expect(strstr(line, " 72 ") != NULL && strstr(line, " 72 ") < strchr(line + 1, '\n'),
              "value not shown on the key's line");
    free(buf);
}

/* docs/models.md documents every key (regenerate the table when adding one). */
Test(model, docs_list_every_key)
{
    FILE *f = fopen("../docs/models.md", "rb");
    static char doc[1 << 17];

    cr_assert(f, "../docs/models.md missing");
    size_t n = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[n] = '\0';
    for (size_t i = 0; i < machine_nr_keys; i++) {
        char want[160];
        snprintf(want, sizeof(want), "`%s`", machine_keys[i].key);
        cr_expect(strstr(doc, want) != NULL, "docs/models.md does not document %s", want);
    }
}
