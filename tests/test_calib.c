/* tests/test_calib.c - measurement files, the fitter, and the probe,
 * calibrate and validate commands.
 *
 *   recovers_known_keys   measurements the simulator itself produced with
 *                         known keys: the fit finds them within 2%, marks
 *                         the keys it cannot see, holds out a third
 *   roundtrip             meas_write -> meas_load keeps every field used
 *   bad_files             every class of bad measurement file: one line
 *                         "tlbsim: FILE: FIELD: message", exit 2
 *   probe_quick_*         `tlbsim probe --quick` on this machine writes a
 *                         file the parser accepts; on one CPU the sibling
 *                         cases are skipped with a reason; calibrate and
 *                         validate run on it end to end
 *   probe_rounds          --rounds: per-repeat medians from every round
 *   spread_*              the fit weighs a case by its spread and excludes
 *                         one wider than --max-spread; validate flags a
 *                         case whose spread is wider than its band
 *   repeatability_*       the across-run table and the remote cost
 */
#include <criterion/criterion.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../sim/cli/calib.h"
#include "../sim/io/meas.h"
#include "clirun.h"

/* ---- synthetic measurements --------------------------------------------- */

static void add_case(struct meas *m, enum meas_op op, u32 pages, enum meas_sib sib, u32 k)
{
    struct meas_case c = { .op = op, .pages = pages, .sib = sib, .threads = k,
                           .repeats = 1, .iterations = 1, .ns_median = 1 };
    struct sim_err err = { 0 };

    meas_case_name(&c);
    cr_assert_eq(meas_case_trace(&c, 4, &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(meas_case_add(m, &c, &err), SIM_OK, "%s", err.msg);
}

static void synthetic_cases(struct meas *m)
{
    static const u32 pages[] = { 1, 2, 8, 32, 33, 34, 64 };

    memset(m, 0, sizeof(*m));
    snprintf(m->env.kind, sizeof(m->env.kind), "bare-metal");
    for (int op = 0; op < MEAS_NR_OPS; op++)
        for (size_t p = 0; p < sizeof(pages) / sizeof(pages[0]); p++) {
            add_case(m, (enum meas_op)op, pages[p], MEAS_SIB_NONE, 0);
            add_case(m, (enum meas_op)op, pages[p], MEAS_SIB_SPIN, 1);
            add_case(m, (enum meas_op)op, pages[p], MEAS_SIB_SPIN, 3);
            add_case(m, (enum meas_op)op, pages[p], MEAS_SIB_SLEEP, 1);
        }
}

static size_t key_index(const char *key)
{
    for (size_t k = 0; k < calib_nr_keys; k++)
        if (!strcmp(calib_keys[k].key, key))
            return k;
    cr_assert_fail("%s is not in calib_keys", key);
    return 0;
}

/* "Measure" every case on the truth machine with the simulator itself. */
static void measure_with(struct meas *m, const struct machine *truth,
                         const struct flush_policy *pol)
{
    struct calib c;
    struct sim_err err = { 0 };

    cr_assert_eq(calib_open(&c, m, "synthetic", truth, pol, 0, &err), SIM_OK, "%s", err.msg);
    for (u32 i = 0; i < c.nr; i++) {
        double ns;
        cr_assert_eq(calib_simulate(&c, truth, i, &ns, &err), SIM_OK, "%s", err.msg);
        ((struct meas_case *)c.cases[i].mc)->ns_median = ns;
    }
    calib_close(&c);
}

struct known_key { const char *key; double truth; };

/* Measure m's cases on BASE with the known keys set to their truth, fit
 * them from BASE, and check that each known key is fitted within 2%. */
static void fit_known(const struct known_key *known, size_t n, struct meas *m,
                      const struct flush_policy *pol, struct calib *c,
                      struct calib_result *res)
{
    struct machine base, truth, fitted;
    struct sim_err err = { 0 };

    machine_init(&base);
    truth = base;
    for (size_t i = 0; i < n; i++)
        calib_set(&truth, key_index(known[i].key), known[i].truth);
    measure_with(m, &truth, pol);
    cr_assert_eq(calib_open(c, m, "synthetic", &base, pol, 0, &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(calib_fit(c, &fitted, res, &err), SIM_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++) {
        size_t k = key_index(known[i].key);
        cr_expect_eq(res->state[k], CK_FITTED, "%s not fitted (state %d)", known[i].key,
                     res->state[k]);
        cr_expect(fabs(res->value[k] - known[i].truth) <= 0.02 * known[i].truth,
                  "%s: fitted %.0f, truth %.0f", known[i].key, res->value[k], known[i].truth);
    }
}

Test(calib, recovers_known_keys, .timeout = 300)
{
    static const struct known_key known[] = {
        { "kernel.zap_call_cycles", 3000 }, { "kernel.unmap_call_cycles", 3000 },
        { "kernel.mprotect_call_cycles", 3000 }, { "cost.invlpg_cycles", 700 },
        { "cost.cr3_flush_cycles", 1900 }, { "ipi.delivery_cycles", 4200 },
    };
    const struct flush_policy *pol = flush_policy_find("linux");
    struct meas m;
    struct calib c;
    struct calib_result res;

    synthetic_cases(&m);
    fit_known(known, sizeof(known) / sizeof(known[0]), &m, pol, &c, &res);
    /* The request's bookkeeping adds to every call as the per-call kernel
     * keys together do: only their sum is seen, the earlier keys carry it. */
    cr_expect_eq(res.state[key_index("cost.flush_request_cycles")], CK_COLLINEAR);
    /* Keys nothing depends on are reported, not invented. */
    cr_expect_eq(res.state[key_index("virt.hypercall_cycles")], CK_INSENSITIVE);
    cr_expect_eq(res.value[key_index("virt.hypercall_cycles")],
                 res.base[key_index("virt.hypercall_cycles")]);
    cr_expect(res.fit_rms < 0.01 && res.held_rms < 0.01, "rms %g / %g", res.fit_rms, res.held_rms);
    cr_expect(res.nr_held * 3 >= c.nr, "%u of %u held out", res.nr_held, c.nr);
    cr_expect_eq(res.nr_fit + res.nr_held, c.nr);
    calib_close(&c);
    meas_free(&m);
}

/* Without an IPI in any case the IPI keys are undetermined, and the base
 * value stays. */
Test(calib, no_ipis_no_ipi_keys, .timeout = 120)
{
    const struct flush_policy *pol = flush_policy_find("linux");
    struct machine base, fitted;
    struct meas m = { 0 };
    struct calib c;
    struct calib_result res;
    struct sim_err err = { 0 };

    machine_init(&base);
    for (u32 p = 1; p <= 64; p *= 2)
        add_case(&m, MEAS_MADVISE, p, MEAS_SIB_NONE, 0);
    measure_with(&m, &base, pol);
    for (u32 i = 0; i < m.nr_cases; i++)
        m.cases[i].ns_median *= 1.5;
    cr_assert_eq(calib_open(&c, &m, "synthetic", &base, pol, 0, &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(calib_fit(&c, &fitted, &res, &err), SIM_OK, "%s", err.msg);
    size_t d = key_index("ipi.delivery_cycles");
    cr_expect_eq(res.state[d], CK_INSENSITIVE);
    cr_expect_eq(fitted.ipi_delivery_cycles, base.ipi_delivery_cycles);
    cr_expect_eq(res.state[key_index("kernel.zap_call_cycles")], CK_FITTED);
    cr_expect_eq(res.state[key_index("kernel.unmap_call_cycles")], CK_INSENSITIVE);
    calib_close(&c);
    meas_free(&m);
}

/* The kernel's work per system call and per PTE, and the shadow-paging
 * INVLPG cost (only where the page table survives the call: madvise and
 * mprotect, not munmap, whose emptied table is freed before the flush),
 * from one-CPU cases: every key within 2%, the request's bookkeeping
 * collinear with the per-call keys. */
Test(calib, recovers_kernel_keys, .timeout = 120)
{
    static const struct known_key known[] = {
        { "kernel.zap_call_cycles", 3000 }, { "kernel.zap_pte_cycles", 600 },
        { "kernel.unmap_call_cycles", 5200 }, { "kernel.unmap_pte_cycles", 900 },
        { "kernel.mprotect_call_cycles", 2400 }, { "kernel.mprotect_pte_cycles", 400 },
        { "cost.invlpg_cycles", 700 }, { "virt.invlpg_sync_cycles", 2000 },
        { "cost.cr3_flush_cycles", 1900 },
    };
    static const u32 pages[] = { 1, 2, 8, 16, 32, 33, 34, 64 };
    const struct flush_policy *pol = flush_policy_find("linux");
    struct meas m = { 0 };
    struct calib c;
    struct calib_result res;

    for (int op = 0; op < MEAS_NR_OPS; op++)
        for (size_t p = 0; p < sizeof(pages) / sizeof(pages[0]); p++)
            add_case(&m, (enum meas_op)op, pages[p], MEAS_SIB_NONE, 0);
    fit_known(known, sizeof(known) / sizeof(known[0]), &m, pol, &c, &res);
    cr_expect_eq(res.state[key_index("cost.flush_request_cycles")], CK_COLLINEAR);
    cr_expect_eq(res.state[key_index("ipi.delivery_cycles")], CK_INSENSITIVE);
    cr_expect(res.fit_rms < 0.01 && res.held_rms < 0.01, "rms %g / %g", res.fit_rms, res.held_rms);
    calib_close(&c);
    meas_free(&m);
}

/* The spread rules.  One-CPU madvise cases measured on a known machine;
 * then one fit-set case is made three times too slow.  Given a narrow
 * spread it pulls the fit off the truth; given a wide one (sigma 4.5x
 * larger, still under the exclusion limit) it pulls less; wider than
 * --max-spread it is excluded (listed, in neither set's fit or RMS) and
 * the fit finds the truth again. */
struct spread_run {
    double off;                         /* sum of |fitted - truth| / truth */
    double fit_rms;
    u32 nr_excluded;
    bool bad_excluded;
};

static void spread_fit(double spread, double max_spread, struct spread_run *out)
{
    static const struct known_key known[] = {
        { "kernel.zap_call_cycles", 3000 }, { "kernel.zap_pte_cycles", 600 },
        { "cost.invlpg_cycles", 700 }, { "cost.cr3_flush_cycles", 1900 },
    };
    static const u32 pages[] = { 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 33, 34, 40, 48, 64 };
    const struct flush_policy *pol = flush_policy_find("linux");
    const u32 bad = 4;                  /* the 5th case: in the fit set (4 % 3 != 0) */
    struct machine base, truth, fitted;
    struct meas m = { 0 };
    struct calib c;
    struct calib_result res;
    struct sim_err err = { 0 };

    machine_init(&base);
    truth = base;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        calib_set(&truth, key_index(known[i].key), known[i].truth);
    for (size_t p = 0; p < sizeof(pages) / sizeof(pages[0]); p++)
        add_case(&m, MEAS_MADVISE, pages[p], MEAS_SIB_NONE, 0);
    measure_with(&m, &truth, pol);
    for (u32 i = 0; i < m.nr_cases; i++)
        m.cases[i].ns_p10 = m.cases[i].ns_p90 = m.cases[i].ns_median;
    m.cases[bad].ns_median *= 3;
    m.cases[bad].ns_p10 = m.cases[bad].ns_median * (1 - spread / 2);
    m.cases[bad].ns_p90 = m.cases[bad].ns_median * (1 + spread / 2);
    cr_assert_eq(calib_open(&c, &m, "synthetic", &base, pol, max_spread, &err), SIM_OK, "%s",
                 err.msg);
    cr_assert(c.cases[bad].fit);
    cr_assert_eq(calib_fit(&c, &fitted, &res, &err), SIM_OK, "%s", err.msg);
    out->off = 0;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        out->off += fabs(res.value[key_index(known[i].key)] - known[i].truth) / known[i].truth;
    out->fit_rms = res.fit_rms;
    out->nr_excluded = c.nr_excluded;
    out->bad_excluded = c.cases[bad].excluded;
    calib_close(&c);
    meas_free(&m);
}

Test(calib, spread_weights_and_excludes, .timeout = 300)
{
    struct spread_run narrow, wide, excluded;

    spread_fit(0, CALIB_MAX_SPREAD, &narrow);
    spread_fit(0.45, CALIB_MAX_SPREAD, &wide);
    spread_fit(0.8, CALIB_MAX_SPREAD, &excluded);
    cr_expect(narrow.off > 0.1, "the bad case pulls the fit: %g", narrow.off);
    cr_expect(!narrow.bad_excluded && !wide.bad_excluded && narrow.nr_excluded == 0);
    cr_expect(wide.off < narrow.off / 2, "wide spread weighs less: %g vs %g", wide.off,
              narrow.off);
    cr_expect(excluded.bad_excluded && excluded.nr_excluded == 1);
    cr_expect(excluded.off < 0.02 * 4, "excluded: keys back at the truth (%g)", excluded.off);
    cr_expect(excluded.fit_rms < 0.01, "the excluded case is not in the RMS (%g)",
              excluded.fit_rms);
    cr_expect(calib_spread(&(struct meas_case){ .ns_median = 200, .ns_p10 = 150,
                                                .ns_p90 = 250 }) == 0.5);
}

/* ---- the file format ------------------------------------------------------ */

Test(calib, roundtrip)
{
    struct meas m, back;
    struct sim_err err = { 0 };
    char path[] = "/tmp/tlbsim-meas-XXXXXX";
    int fd = mkstemp(path);

    cr_assert(fd >= 0);
    close(fd);
    synthetic_cases(&m);
    m.cases[1].skipped = true;
    snprintf(m.cases[1].reason, sizeof(m.cases[1].reason), "needs 2 CPUs");
    m.cases[2].have_irqs = true;
    m.cases[2].cal_per_call = 1.25;
    m.cases[3].have_events = true;
    m.cases[3].events_per_call[1] = 2;
    m.rounds = 3;
    m.env.load_start = 1.25;
    m.env.load_end = 3.5;
    m.cases[4].repeats = m.cases[4].nr_rep = 3;
    m.cases[4].rep_ns = calloc(3, sizeof(double));
    cr_assert(m.cases[4].rep_ns);
    m.cases[4].rep_ns[0] = 7.5;
    m.cases[4].rep_ns[2] = 1e6;
    snprintf(m.env.policy, sizeof(m.env.policy), "pv-kvm");
    cr_assert_eq(meas_write(path, &m, &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(meas_load(path, &back, &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(back.nr_cases, m.nr_cases);
    for (u32 i = 0; i < m.nr_cases; i++) {
        cr_expect_str_eq(back.cases[i].name, m.cases[i].name);
        cr_expect_eq(back.cases[i].op, m.cases[i].op);
        cr_expect_eq(back.cases[i].pages, m.cases[i].pages);
        cr_expect_eq(back.cases[i].threads, m.cases[i].threads);
        cr_expect_eq(back.cases[i].skipped, m.cases[i].skipped);
        cr_expect_eq(back.cases[i].nr_trace, m.cases[i].nr_trace);
        for (u32 j = 0; j < m.cases[i].nr_trace; j++)
            cr_expect_str_eq(back.cases[i].trace[j], m.cases[i].trace[j]);
    }
    cr_expect_str_eq(back.cases[1].reason, "needs 2 CPUs");
    cr_expect(back.cases[2].have_irqs && back.cases[2].cal_per_call == 1.25);
    cr_expect(back.cases[3].have_events && back.cases[3].events_per_call[1] == 2);
    cr_expect_str_eq(back.env.policy, "pv-kvm");
    cr_expect_eq(back.rounds, 3);
    cr_expect(back.env.load_start == 1.25 && back.env.load_end == 3.5);
    cr_expect_eq(back.cases[4].nr_rep, 3);
    cr_expect(back.cases[4].rep_ns && back.cases[4].rep_ns[0] == 7.5 &&
              back.cases[4].rep_ns[1] == 0 && back.cases[4].rep_ns[2] == 1e6);
    cr_expect_eq(back.cases[5].nr_rep, 0);
    meas_free(&m);
    meas_free(&back);
    remove(path);
}

#define OKCASE "{\"name\":\"a\",\"op\":\"madvise\",\"pages\":1,\"siblings\":\"none\",\"threads\":0," \
               "\"status\":\"ok\",\"repeats\":1,\"iterations\":1,\"ns_per_call\":{\"median\":100}," \
               "\"trace\":[\"{\\\"format\\\":\\\"tlbsim-trace\\\",\\\"version\\\":1,\\\"cpus\\\":1}\"," \
               "\"{\\\"op\\\":\\\"mm_new\\\",\\\"mm\\\":1}\"%s]}"
#define HEAD "{\"format\":\"tlbsim-measurements\",\"version\":1,\"environment\":{\"kind\":\"kvm\"},"

static const struct { const char *name, *text, *want; } bad_files[] = {
    { "not JSON", "{\"format\":", "m.json: not valid JSON" },
    { "not an object", "[1]", "m.json: not a JSON object" },
    { "wrong format", "{\"format\":\"x\",\"version\":1}", "m.json: format: must be \"tlbsim-measurements\"" },
    { "bad version", "{\"format\":\"tlbsim-measurements\",\"version\":2}",
      "m.json: version: 2 is out of range [1, 1]" },
    { "unknown member", HEAD "\"cases\":[],\"x\":1}", "m.json: x: unknown member" },
    { "no environment", "{\"format\":\"tlbsim-measurements\",\"version\":1,\"cases\":[]}",
      "m.json: environment: missing" },
    { "cases not array", HEAD "\"cases\":{}}", "m.json: cases: must be an array" },
    { "case unknown member", HEAD "\"cases\":[{\"name\":\"a\",\"pagez\":1}]}",
      "m.json: cases[0].pagez: unknown member" },
    { "bad op", HEAD "\"cases\":[{\"name\":\"a\",\"op\":\"mmap\"}]}",
      "m.json: cases[0].op: unknown value \"mmap\"" },
    { "pages zero", HEAD "\"cases\":[{\"name\":\"a\",\"op\":\"munmap\",\"pages\":0}]}",
      "m.json: cases[0].pages: 0 is out of range [1, 4096]" },
    { "threads vs none", HEAD "\"cases\":[{\"name\":\"a\",\"op\":\"munmap\",\"pages\":1,"
      "\"siblings\":\"none\",\"threads\":2,\"status\":\"ok\"}]}",
      "m.json: cases[0].threads: must be 0 exactly when siblings is \"none\"" },
    { "skipped without reason", HEAD "\"cases\":[{\"name\":\"a\",\"op\":\"munmap\",\"pages\":1,"
      "\"siblings\":\"spin\",\"threads\":1,\"status\":\"skipped\"}]}",
      "m.json: cases[0].reason: missing" },
    { "negative median", HEAD "\"cases\":[{\"name\":\"a\",\"op\":\"munmap\",\"pages\":1,"
      "\"siblings\":\"none\",\"threads\":0,\"status\":\"ok\",\"repeats\":1,\"iterations\":1,"
      "\"ns_per_call\":{\"median\":-5}}]}",
      "m.json: cases[0].ns_per_call.median: -5 is out of range [0.001, 1e+12]" },
    { "per_repeat count", HEAD "\"cases\":[{\"name\":\"a\",\"op\":\"munmap\",\"pages\":1,"
      "\"siblings\":\"none\",\"threads\":0,\"status\":\"ok\",\"repeats\":1,\"iterations\":1,"
      "\"ns_per_call\":{\"median\":5,\"per_repeat\":[5,6]}}]}",
      "m.json: cases[0].ns_per_call.per_repeat: holds 2 numbers, repeats is 1" },
    { "per_repeat element", HEAD "\"cases\":[{\"name\":\"a\",\"op\":\"munmap\",\"pages\":1,"
      "\"siblings\":\"none\",\"threads\":0,\"status\":\"ok\",\"repeats\":2,\"iterations\":1,"
      "\"ns_per_call\":{\"median\":5,\"per_repeat\":[5,\"x\"]}}]}",
      "m.json: cases[0].ns_per_call.per_repeat: element 1 must be a number in [0, 1e12]" },
    { "bad rounds", "{\"format\":\"tlbsim-measurements\",\"version\":1,\"rounds\":0}",
      "m.json: rounds: 0 is out of range [1, 1e+06]" },
    { "trace not strings", HEAD "\"cases\":[{\"name\":\"a\",\"op\":\"munmap\",\"pages\":1,"
      "\"siblings\":\"none\",\"threads\":0,\"status\":\"ok\",\"repeats\":1,\"iterations\":1,"
      "\"ns_per_call\":{\"median\":5},\"trace\":[1,2]}]}",
      "m.json: cases[0].trace: line 1 must be a string" },
};

static void expect_one_line(const struct cli_res *r, const char *want)
{
    cr_expect_eq(r->status, 2, "exit %d for %s", r->status, want);
    cr_expect_eq(cli_lines(r->err), 1, "stderr: %s", r->err);
    cr_expect(strstr(r->err, want) != NULL, "want '%s' in: %s", want, r->err);
}

Test(calib, bad_files, .timeout = 120)
{
    struct cli_ws ws;
    struct cli_res r;
    const char *const argv[] = { "validate", "m.json", "--machine", "skylake-sp", "--out", "o", NULL };

    cli_ws_init(&ws);
    for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
        cli_write_str(&ws, "m.json", bad_files[i].text);
        cli_run(&ws, argv, 60, &r);
        expect_one_line(&r, bad_files[i].want);
    }
    /* A trace line the trace reader rejects names the case and the line. */
    char text[2048], c[1024];
    snprintf(c, sizeof(c), OKCASE, ",\"{\\\"op\\\":\\\"zap\\\",\\\"cpu\\\":0,\\\"mm\\\":1,"
             "\\\"va\\\":\\\"0x1001\\\",\\\"len\\\":4096}\"");
    snprintf(text, sizeof(text), HEAD "\"cases\":[%s]}", c);
    cli_write_str(&ws, "m.json", text);
    cli_run(&ws, argv, 60, &r);
    expect_one_line(&r, "m.json: cases[0].trace[2]: ");
    /* calibrate: the same parser, and usage errors exit 2 too */
    const char *const cal[] = { "calibrate", "m.json", "--machine", "skylake-sp", "-o", "x.json", NULL };
    cli_write_str(&ws, "m.json", "{}");
    cli_run(&ws, cal, 60, &r);
    expect_one_line(&r, "m.json: format: missing");
    const char *const nomachine[] = { "calibrate", "m.json", "-o", "x.json", NULL };
    cli_run(&ws, nomachine, 60, &r);
    cr_expect_eq(r.status, 2);
    cli_ws_done(&ws);
}

/* ---- the probe on this machine --------------------------------------------- */

/* Run `tlbsim ARGV` in ws, expect exit 0, and return ws/FILE (malloc'd). */
static char *run_slurp(const struct cli_ws *ws, const char *const *argv, unsigned timeout_s,
                       struct cli_res *r, const char *file)
{
    char path[512], *text;

    cli_run(ws, argv, timeout_s, r);
    cr_assert_eq(r->status, 0, "%s: %s", argv[0], r->err);
    text = cli_slurp(cli_path(ws, file, path, sizeof(path)), NULL);
    cr_assert(text, "%s: no %s", argv[0], file);
    return text;
}

/* Run `tlbsim probe ARGV` (writing meas.json) in ws and load its file. */
static void probe_and_load(const struct cli_ws *ws, const char *const *argv, unsigned timeout_s,
                           struct cli_res *r, struct meas *m)
{
    struct sim_err err = { 0 };
    char path[512];

    cli_run(ws, argv, timeout_s, r);
    cr_assert_eq(r->status, 0, "probe: %s", r->err);
    cr_assert_eq(meas_load(cli_path(ws, "meas.json", path, sizeof(path)), m, &err), SIM_OK,
                 "%s", err.msg);
}

Test(calib, probe_quick_end_to_end, .timeout = 600)
{
    struct cli_ws ws;
    struct cli_res r;
    struct meas m;
    const char *const probe[] = { "probe", "--quick", "-o", "meas.json", NULL };
    const char *const cal[] = { "calibrate", "meas.json", "--machine", "kvm-guest-skylake",
                                "-o", "mine.json", NULL };
    const char *const val[] = { "validate", "meas.json", "--machine", "mine.json", "--out", "v",
                                NULL };

    cli_ws_init(&ws);
    probe_and_load(&ws, probe, 300, &r, &m);
    cr_expect(m.quick);
    cr_expect(m.env.kind[0] && m.env.cpus_online >= 1);
    cr_expect(m.env.load_start >= 0 && m.env.load_end >= 0, "load average %g, %g",
              m.env.load_start, m.env.load_end);
    cr_expect_eq(m.nr_cases % 9, 0, "%u cases: 3 ops x 3 page counts x modes", m.nr_cases);
    u32 ok = 0;
    for (u32 i = 0; i < m.nr_cases; i++) {
        const struct meas_case *c = &m.cases[i];
        cr_expect(c->skipped ? c->reason[0] != 0 : c->ns_median > 0, "%s", c->name);
        cr_expect(c->nr_trace > 2, "%s has no trace", c->name);
        cr_expect(c->have_events || c->skipped || c->events_reason[0], "%s: events neither "
                  "counted nor explained", c->name);
        ok += !c->skipped;
    }
    cr_expect(ok >= 9, "the no-sibling cases always run");
    meas_free(&m);
    cli_run(&ws, cal, 300, &r);
    cr_assert_eq(r.status, 0, "calibrate: %s", r.err);
    char *csv = run_slurp(&ws, val, 300, &r, "v/validation.csv");
    cr_expect(!strncmp(csv, "case,measured_ns,simulated_ns,ratio,used_in_fit,spread,band,"
                       "spread_exceeds_band\n", 80));
    cr_expect_eq(cli_lines(csv), (int)ok + 1);
    u32 fit = 0, rows = 0;
    for (char *p = strchr(csv, '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
        const char *f = p + 1;
        for (int col = 0; col < 4 && f; col++)      /* to used_in_fit, the 5th column */
            f = strchr(f, ',') ? strchr(f, ',') + 1 : NULL;
        cr_assert(f, "short row after %u rows", rows);
        rows++;
        fit += *f == '1';
    }
    cr_expect(rows - fit >= (rows + 2) / 3, "%u of %u held out", rows - fit, rows);
    free(csv);
    cli_ws_done(&ws);
}

/* On one CPU every case with a sibling is skipped, with the reason. */
Test(calib, probe_one_cpu_skips, .timeout = 300)
{
    struct cli_ws ws;
    struct cli_res r;
    struct meas m;
    cpu_set_t one;
    const char *const probe[] = { "probe", "--quick", "--repeats", "1", "--iterations", "2",
                                  "-o", "meas.json", NULL };

    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);  /* inherited by tlbsim */
    cli_ws_init(&ws);
    probe_and_load(&ws, probe, 200, &r, &m);
    cr_expect_eq(m.env.cpus_allowed, 1);
    for (u32 i = 0; i < m.nr_cases; i++) {
        const struct meas_case *c = &m.cases[i];
        if (c->threads)
            cr_expect(c->skipped && strstr(c->reason, "needs 2 CPUs"), "%s: %s", c->name, c->reason);
        else
            cr_expect(!c->skipped, "%s: %s", c->name, c->reason);
    }
    meas_free(&m);
    cli_ws_done(&ws);
}

/* --rounds: every case's repeats, recorded one by one, come from every
 * round; more rounds than repeats is a usage error. */
Test(calib, probe_rounds, .timeout = 300)
{
    struct cli_ws ws;
    struct cli_res r;
    struct meas m;
    char path[512];
    const char *const probe[] = { "probe", "--quick", "--rounds", "3", "--repeats", "4",
                                  "--iterations", "3", "-o", "meas.json", NULL };
    const char *const bad[] = { "probe", "--quick", "--rounds", "4", "--repeats", "3",
                                "-o", "bad.json", NULL };

    cli_ws_init(&ws);
    probe_and_load(&ws, probe, 200, &r, &m);
    cr_expect(strstr(r.err, "probe: round 3 of 3"), "%s", r.err);
    cr_expect_eq(m.rounds, 3);
    for (u32 i = 0; i < m.nr_cases; i++) {
        const struct meas_case *c = &m.cases[i];
        if (c->skipped)
            continue;
        cr_expect_eq(c->repeats, 4, "%s", c->name);
        cr_assert_eq(c->nr_rep, 4, "%s", c->name);
        double v[4], lo = c->rep_ns[0], hi = c->rep_ns[0];
        memcpy(v, c->rep_ns, sizeof(v));
        for (int j = 1; j < 4; j++) {
            lo = fmin(lo, v[j]);
            hi = fmax(hi, v[j]);
        }
        cr_expect(c->ns_p10 >= lo && c->ns_p90 <= hi && c->ns_median >= c->ns_p10 &&
                  c->ns_median <= c->ns_p90, "%s: median and p10/p90 from per_repeat", c->name);
    }
    meas_free(&m);
    cli_run(&ws, bad, 60, &r);
    expect_one_line(&r, "--rounds 4: more rounds than repeats (3)");
    cr_expect(access(cli_path(&ws, "bad.json", path, sizeof(path)), F_OK) != 0);
    cli_ws_done(&ws);
}

/* validate flags a case whose own p10..p90 is wider than its band, and
 * calibrate lists the cases its --max-spread rule excluded. */
Test(calib, spread_in_validate_and_calibrate, .timeout = 300)
{
    static const u32 pages[] = { 1, 2, 8, 16, 33, 34, 48, 64 };
    static const double spread[] = { 0.6, 0.4, 0, 0, 0, 0.7, 0, 0 };
    struct cli_ws ws;
    struct cli_res r;
    struct meas m = { 0 };
    struct sim_err err = { 0 };
    char path[512];
    const char *const val[] = { "validate", "meas.json", "--machine", "skylake-sp", "--out", "v",
                                NULL };
    const char *const cal[] = { "calibrate", "meas.json", "--machine", "skylake-sp",
                                "-o", "mine.json", NULL };
    const char *const badopt[] = { "calibrate", "meas.json", "--machine", "skylake-sp",
                                   "-o", "mine.json", "--max-spread", "x", NULL };

    cli_ws_init(&ws);
    snprintf(m.env.kind, sizeof(m.env.kind), "bare-metal");
    for (size_t p = 0; p < sizeof(pages) / sizeof(pages[0]); p++) {
        add_case(&m, MEAS_MADVISE, pages[p], MEAS_SIB_NONE, 0);
        struct meas_case *c = &m.cases[m.nr_cases - 1];
        c->ns_median = 2000.0 + 300.0 * pages[p];
        c->ns_p10 = c->ns_median * (1 - spread[p] / 2);
        c->ns_p90 = c->ns_median * (1 + spread[p] / 2);
    }
    cr_assert_eq(meas_write(cli_path(&ws, "meas.json", path, sizeof(path)), &m, &err), SIM_OK,
                 "%s", err.msg);
    meas_free(&m);

    char *csv = run_slurp(&ws, val, 120, &r, "v/validation.csv");
    /* not calibrated: every case is held to +-25%, so "wider" means > 50% */
    cr_expect(strstr(csv, "\nmadvise-1p-none,") && strstr(strstr(csv, "\nmadvise-1p-none,"),
              ",0,0.6000,0.25,1\n"), "%s", csv);
    cr_expect(strstr(strstr(csv, "\nmadvise-2p-none,"), ",0,0.4000,0.25,0\n"), "%s", csv);
    cr_expect(strstr(strstr(csv, "\nmadvise-8p-none,"), ",0,0.0000,0.25,0\n"), "%s", csv);
    cr_expect(strstr(strstr(csv, "\nmadvise-34p-none,"), ",0,0.7000,0.25,1\n"), "%s", csv);
    cr_expect(strstr(r.out, "wider than their band: 2 ("), "%s", r.out);
    free(csv);

    cli_run(&ws, cal, 300, &r);
    cr_assert_eq(r.status, 0, "calibrate: %s", r.err);
    cr_expect(strstr(r.out, "excluded madvise-1p-none: p10..p90 over its repeats spans 60% of "
                     "its median, more than --max-spread 50%"), "%s", r.out);
    cr_expect(strstr(r.out, "excluded madvise-34p-none: "), "%s", r.out);
    cr_expect(!strstr(r.out, "excluded madvise-2p-none"), "%s", r.out);
    cr_expect(strstr(r.out, "excluded as too noisy: 2;"), "%s", r.out);
    char *mine = cli_slurp(cli_path(&ws, "mine.json", path, sizeof(path)), NULL);
    cr_assert(mine);
    cr_expect(strstr(mine, "\"excluded: madvise-1p-none: p10..p90"), "%s", mine);
    cr_expect(!strstr(mine, "\"fit: madvise-34p-none\""), "an excluded case is not fitted");
    cr_expect(!strstr(mine, "\"held_out: madvise-1p-none\""), "nor held out");
    free(mine);
    /* validate on the calibrated model: the excluded fit-set case is not used_in_fit */
    const char *const val2[] = { "validate", "meas.json", "--machine", "mine.json", "--out", "w",
                                 NULL };
    csv = run_slurp(&ws, val2, 120, &r, "w/validation.csv");
    cr_expect(strstr(strstr(csv, "\nmadvise-34p-none,"), ",0,0.7000,0.25,1\n"), "%s", csv);
    cr_expect(strstr(strstr(csv, "\nmadvise-2p-none,"), ",1,0.4000,0.15,1\n"),
              "a fitted case is held to +-15%%: 40%% is wider: %s", csv);
    free(csv);

    cli_run(&ws, badopt, 60, &r);
    expect_one_line(&r, "--max-spread: 'x' is not a number");
    cli_ws_done(&ws);
}

/* repeatability: two runs of the same cases, the second 20% slower in one
 * case and with a spin/sleep pair whose difference differs: the run
 * spread, the repeat spread and the remote cost are those numbers. */
Test(calib, repeatability_of_two_runs, .timeout = 120)
{
    struct cli_ws ws;
    struct cli_res r;
    struct sim_err err = { 0 };
    char path[512];
    const char *const rep[] = { "repeatability", "a.json", "b.json", "--out", "o", NULL };
    const char *const one[] = { "repeatability", "a.json", NULL };
    const char *const badf[] = { "repeatability", "a.json", "bad.json", NULL };

    cli_ws_init(&ws);
    for (int run = 0; run < 2; run++) {
        struct meas m = { 0 };
        snprintf(m.env.kind, sizeof(m.env.kind), "bare-metal");
        add_case(&m, MEAS_MADVISE, 8, MEAS_SIB_NONE, 0);
        add_case(&m, MEAS_MADVISE, 8, MEAS_SIB_SPIN, 1);
        add_case(&m, MEAS_MADVISE, 8, MEAS_SIB_SLEEP, 1);
        add_case(&m, MEAS_MUNMAP, 1, MEAS_SIB_SPIN, 1);      /* no sleep pair: no remote row */
        m.cases[0].ns_median = run ? 12000 : 10000;           /* 20% apart */
        m.cases[0].ns_p10 = 9000;
        m.cases[0].ns_p90 = 13000;                            /* within run 0: 40% */
        m.cases[1].ns_median = run ? 50000 : 40000;
        m.cases[2].ns_median = 30000;
        m.cases[3].ns_median = 5000;
        for (u32 i = 1; i < m.nr_cases; i++)
            m.cases[i].ns_p10 = m.cases[i].ns_p90 = m.cases[i].ns_median;
        cr_assert_eq(meas_write(cli_path(&ws, run ? "b.json" : "a.json", path, sizeof(path)), &m,
                                &err), SIM_OK, "%s", err.msg);
        meas_free(&m);
    }
    char *csv = run_slurp(&ws, rep, 60, &r, "o/repeatability.csv");
    /* median of 10000 and 12000 is 11000; (12000 - 10000) / 11000 */
    cr_expect(strstr(csv, "\nmadvise-8p-none,2,11000.0,10000.0,12000.0,0.1818,0.4000\n"), "%s", csv);
    cr_expect(strstr(csv, "\nmadvise-8p-spin1,2,45000.0,40000.0,50000.0,0.2222,0.0000\n"), "%s", csv);
    free(csv);
    csv = cli_slurp(cli_path(&ws, "o/remote.csv", path, sizeof(path)), NULL);
    cr_assert(csv);
    cr_expect_str_eq(csv, "op,pages,threads,runs,remote_ns,min_ns,max_ns\n"
                          "madvise,8,1,2,15000.0,10000.0,20000.0\n");
    free(csv);
    cr_expect(strstr(r.out, "4 cases in all 2 runs: run spread above 15%: 2;"), "%s", r.out);
    cli_run(&ws, one, 60, &r);
    expect_one_line(&r, "repeatability: 1 measurement file(s) given; it compares 2 to 16");
    cli_write_str(&ws, "bad.json", "{\"format\":\"x\"}");
    cli_run(&ws, badf, 60, &r);
    expect_one_line(&r, "bad.json: format: must be \"tlbsim-measurements\"");
    cli_ws_done(&ws);
}

/* Pooling runs: each case's repeats are every run's (per_repeat, or p10,
 * median and p90 of a run without it); a case not measured in every run
 * is skipped with the reason; calibrate and validate take several files. */
Test(calib, pooled_runs, .timeout = 300)
{
    struct meas runs[2], pool;
    struct sim_err err = { 0 };
    struct cli_ws ws;
    struct cli_res r;
    char path[512];

    memset(runs, 0, sizeof(runs));
    for (int k = 0; k < 2; k++) {
        snprintf(runs[k].env.kind, sizeof(runs[k].env.kind), "bare-metal");
        add_case(&runs[k], MEAS_MADVISE, 1, MEAS_SIB_NONE, 0);
        add_case(&runs[k], MEAS_MADVISE, 2, MEAS_SIB_NONE, 0);
        add_case(&runs[k], MEAS_MADVISE, 8, MEAS_SIB_NONE, 0);
        add_case(&runs[k], MEAS_MADVISE, 16, MEAS_SIB_NONE, 0);
    }
    /* run 0 with per_repeat {100, 110, 120}; run 1 without: p10 200, median 210, p90 220 */
    for (u32 i = 0; i < 4; i++) {
        struct meas_case *a = &runs[0].cases[i], *b = &runs[1].cases[i];
        a->repeats = a->nr_rep = 3;
        a->rep_ns = calloc(3, sizeof(double));
        cr_assert(a->rep_ns);
        a->rep_ns[0] = 1000 * (i + 1) + 100;
        a->rep_ns[1] = 1000 * (i + 1) + 120;
        a->rep_ns[2] = 1000 * (i + 1) + 110;
        a->ns_median = 1000 * (i + 1) + 110;
        a->ns_p10 = 1000 * (i + 1) + 102;
        a->ns_p90 = 1000 * (i + 1) + 118;
        b->ns_median = 1000 * (i + 1) + 210;
        b->ns_p10 = 1000 * (i + 1) + 200;
        b->ns_p90 = 1000 * (i + 1) + 220;
    }
    runs[1].cases[3].skipped = true;
    snprintf(runs[1].cases[3].reason, sizeof(runs[1].cases[3].reason), "no CPU");
    cr_assert_eq(meas_pool(runs, 2, &pool, &err), SIM_OK, "%s", err.msg);
    cr_assert_eq(pool.nr_cases, 4);
    /* values 100 110 120 200 210 220 (+1000): median 160, p10 105, p90 215 */
    cr_expect_eq(pool.cases[0].repeats, 6);
    cr_expect_eq(pool.cases[0].nr_rep, 6);
    cr_expect(fabs(pool.cases[0].ns_median - 1160) < 1e-9, "%g", pool.cases[0].ns_median);
    cr_expect(fabs(pool.cases[0].ns_p10 - 1105) < 1e-9, "%g", pool.cases[0].ns_p10);
    cr_expect(fabs(pool.cases[0].ns_p90 - 1215) < 1e-9, "%g", pool.cases[0].ns_p90);
    cr_expect_eq(pool.cases[0].nr_trace, runs[0].cases[0].nr_trace);
    cr_expect_str_eq(pool.cases[0].trace[1], runs[0].cases[0].trace[1]);
    cr_expect(pool.cases[3].skipped && strstr(pool.cases[3].reason, "not measured in every run"),
              "%s", pool.cases[3].reason);
    meas_free(&pool);

    cli_ws_init(&ws);
    for (int k = 0; k < 2; k++)
        cr_assert_eq(meas_write(cli_path(&ws, k ? "b.json" : "a.json", path, sizeof(path)),
                                &runs[k], &err), SIM_OK, "%s", err.msg);
    const char *const cal[] = { "calibrate", "a.json", "b.json", "--machine", "skylake-sp",
                                "-o", "mine.json", "--max-spread", "0", NULL };
    const char *const val[] = { "validate", "a.json", "b.json", "--machine", "mine.json",
                                "--out", "v", NULL };
    char *mine = run_slurp(&ws, cal, 300, &r, "mine.json");
    cr_expect(strstr(mine, "\"measurements: a.json, b.json (pooled)\""), "%s", mine);
    cr_expect(strstr(mine, "cases of a.json + 1 more runs pooled"), "%s", mine);
    free(mine);
    char *csv = run_slurp(&ws, val, 120, &r, "v/validation.csv");
    cr_expect(strstr(csv, "\nmadvise-1p-none,1160.0,"), "the pooled median: %s", csv);
    cr_expect(!strstr(csv, "madvise-16p-none"), "a case not in every run has no row: %s", csv);
    free(csv);
    cr_expect(strstr(r.out, "madvise-16p-none         skipped: not measured in every run (run 2)"),
              "%s", r.out);
    meas_free(&runs[0]);
    meas_free(&runs[1]);
    cli_ws_done(&ws);
}
