/* sim/cli/calibrate.c - `tlbsim calibrate` and `tlbsim validate`: a machine
 * model fitted to `tlbsim probe` measurements, and the measured cases
 * replayed on a model (sim/cli/calib.h does the work).
 */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calib.h"
#include "../io/csv.h"
#include "../io/meas.h"
#include "../io/model_load.h"

#define CAL_MAX_RUNS 16                 /* measurement files pooled by one command */

struct cal_opts {
    const char *meas, *machine, *out, *policy;
    const char *runs[CAL_MAX_RUNS];     /* every MEAS.json; meas is the first */
    u32 nr_runs;
    char meas_desc[160];                /* "m1.json" or "m1.json + 2 more runs pooled" */
    char meas_list[CAL_MAX_RUNS * 256]; /* "m1.json, m2.json, m3.json (pooled)" */
    bool keep_freq;
    double max_spread;                  /* calibrate: the exclusion rule */
};

static int cal_parse(int argc, char **argv, struct cal_opts *o, bool validate)
{
    static const struct option lopts[] = {
        { "machine", required_argument, 0, 'm' }, { "output", required_argument, 0, 'o' },
        { "out", required_argument, 0, 'O' }, { "policy", required_argument, 0, 'p' },
        { "keep-freq", no_argument, 0, 'k' }, { "max-spread", required_argument, 0, 's' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->machine = optarg; break;
        case 'o': if (validate) return -2; o->out = optarg; break;
        case 'O': if (!validate) return -2; o->out = optarg; break;
        case 'p': o->policy = optarg; break;
        case 'k': if (validate) return -2; o->keep_freq = true; break;
        case 's': {
            char *end;
            if (validate)
                return -2;
            o->max_spread = strtod(optarg, &end);
            if (!*optarg || *end || !(o->max_spread >= 0 && o->max_spread <= 100)) {
                fprintf(stderr, "tlbsim: calibrate: --max-spread: '%s' is not a number in "
                        "0..100\n", optarg);
                return -3;
            }
            break;
        }
        case 'h': return -1;
        default:  return -2;
        }
    }
    if (argc - optind < 1 || argc - optind > CAL_MAX_RUNS || !o->machine ||
        (!validate && !o->out))
        return -2;
    o->meas = argv[optind];
    for (int i = optind; i < argc; i++)
        o->runs[o->nr_runs++] = argv[i];
    if (o->nr_runs == 1)
        snprintf(o->meas_desc, sizeof(o->meas_desc), "%.150s", o->meas);
    else
        snprintf(o->meas_desc, sizeof(o->meas_desc), "%.120s + %u more runs pooled", o->meas,
                 o->nr_runs - 1);
    size_t n = 0;
    for (u32 i = 0; i < o->nr_runs; i++)
        n += (size_t)snprintf(o->meas_list + n, sizeof(o->meas_list) - n, "%s%.240s",
                              i ? ", " : "", o->runs[i]);
    if (o->nr_runs > 1)
        snprintf(o->meas_list + n, sizeof(o->meas_list) - n, " (pooled)");
    return 0;
}

/* The measurements: one file as it is, or several runs pooled (meas_pool). */
static int load_runs(const struct cal_opts *o, struct meas *m, struct sim_err *err)
{
    static struct meas runs[CAL_MAX_RUNS];     /* large: environments */
    u32 loaded = 0;
    int rc = SIM_OK;

    if (o->nr_runs == 1)
        return meas_load(o->meas, m, err);
    for (; loaded < o->nr_runs; loaded++)
        if ((rc = meas_load(o->runs[loaded], &runs[loaded], err)))
            break;
    if (!rc)
        rc = meas_pool(runs, o->nr_runs, m, err);
    for (u32 r = 0; r < loaded; r++)
        meas_free(&runs[r]);
    return rc;
}

/* The policy: --policy, the calibration's, the probe's suggestion, linux. */
static const struct flush_policy *cal_policy(const char *opt, const char *cal,
                                             const struct meas *m, struct sim_err *err)
{
    const char *name = opt ? opt : cal && *cal ? cal : *m->env.policy ? m->env.policy : "linux";
    const struct flush_policy *p = flush_policy_find(name);

    if (!p)
        sim_err_set(err, SIM_EINVAL, "--policy: unknown policy '%s' (see `tlbsim policies`)", name);
    return p;
}

/* The exit status of a command that ended with rc (message in err). */
static int cal_exit(int rc, const struct sim_err *err)
{
    if (!rc)
        return EXIT_OK;
    cli_error(err->msg);
    return cli_exit_code(rc);
}

static int load_machine(const char *name, struct machine *mach, char *path, size_t len,
                        struct sim_err *err)
{
    int rc = model_find(name, path, len, err);

    return rc ? rc : model_load(path, mach, err);
}

/* ==== calibrate ========================================================== */

static const char *state_name(enum calib_state s)
{
    static const char *const n[] = { "fitted", "at its range limit", "undetermined (no case depends on it)",
                                     "undetermined (collinear)" };
    return n[s];
}

static void key_note(struct meas_model_note *n, const struct calib *c, const struct calib_result *r,
                     size_t k, const struct cal_opts *o, const struct meas *m, const char *date)
{
    n->key = calib_keys[k].key;
    switch (r->state[k]) {
    case CK_FITTED:
    case CK_AT_BOUND:
        snprintf(n->text, sizeof(n->text), "fitted by tlbsim calibrate on %s (%s) to the %u fit "
                 "cases of %s (probe run %s, %s; %u cases excluded as too noisy), policy %s; "
                 "relative RMS residual %.1f%% fit, %.1f%% on %u held-out cases; base value "
                 "%.0f%s", date, calib_keys[k].what, r->nr_fit, o->meas_desc, m->date, m->env.kind,
                 c->nr_excluded, c->pol->name, 100 * r->fit_rms, 100 * r->held_rms,
                 r->nr_held, r->base[k],
                 r->state[k] == CK_AT_BOUND ? "; stopped at its range limit" : "");
        break;
    case CK_INSENSITIVE:
        snprintf(n->text, sizeof(n->text), "base value kept: no measured case's simulated cost "
                 "depends on it (%s), so the data cannot determine it", calib_keys[k].what);
        break;
    case CK_COLLINEAR:
        snprintf(n->text, sizeof(n->text), "base value kept: in these cases it moves the cost "
                 "exactly as %s does, so only their sum is determined (fitted into %s)",
                 calib_keys[r->collinear_with[k]].key, calib_keys[r->collinear_with[k]].key);
        break;
    }
}

/* "CASE: p10..p90 spans N% of its median, more than --max-spread M%" */
static void excluded_text(const struct calib *c, u32 i, char *buf, size_t len)
{
    snprintf(buf, len, "%s: p10..p90 over its repeats spans %.0f%% of its median, more than "
             "--max-spread %.0f%%", c->cases[i].mc->name, 100 * c->cases[i].spread,
             100 * c->max_spread);
}

static void print_fit(const struct calib *c, const struct calib_result *r,
                      const struct machine *out)
{
    char text[MEAS_TEXT_MAX + 128];

    printf("%-28s %10s %10s  %s\n", "key", "base", "fitted", "state");
    for (size_t k = 0; k < calib_nr_keys; k++)
        printf("%-28s %10.0f %10.0f  %s\n", calib_keys[k].key, r->base[k], r->value[k],
               state_name(r->state[k]));
    for (u32 i = 0; i < c->nr; i++)
        if (c->cases[i].excluded) {
            excluded_text(c, i, text, sizeof(text));
            printf("excluded %s\n", text);
        }
    printf("fit: %u cases, relative RMS residual %.1f%%; held out: %u cases, %.1f%%; "
           "excluded as too noisy: %u; %u Gauss-Newton steps; freq_mhz %u\n", r->nr_fit,
           100 * r->fit_rms, r->nr_held, 100 * r->held_rms, c->nr_excluded, r->iterations,
           out->freq_mhz);
}

static int write_calibrated(const struct cal_opts *o, const struct calib *c,
                            const struct calib_result *r, const struct machine *out,
                            const struct meas *m, struct sim_err *err)
{
    const char **fit = calloc(c->nr + 1, sizeof(*fit)), **held = calloc(c->nr + 1, sizeof(*held));
    const char **excl = calloc(c->nr + 1, sizeof(*excl));
    char (*excl_text)[MEAS_TEXT_MAX + 128] = calloc(c->nr + 1, sizeof(*excl_text));
    const char *undet[64];
    struct meas_model_note notes[65];
    struct meas_calib_info ci = { .base = o->machine, .policy = c->pol->name,
                                  .meas_path = o->meas_list, .fit_rms = r->fit_rms,
                                  .held_rms = r->held_rms, .notes = notes };
    char date[32];
    time_t now = time(NULL);
    int rc;

    if (!fit || !held || !excl || !excl_text) {
        free(fit);
        free(held);
        free(excl);
        free(excl_text);
        return sim_err_set(err, SIM_ENOMEM, "out of memory");
    }
    strftime(date, sizeof(date), "%Y-%m-%d", gmtime(&now));
    ci.date = date;
    for (u32 i = 0; i < c->nr; i++) {
        if (c->cases[i].excluded) {
            excluded_text(c, i, excl_text[ci.nr_excluded], sizeof(excl_text[0]));
            excl[ci.nr_excluded] = excl_text[ci.nr_excluded];
            ci.nr_excluded++;
        } else if (c->cases[i].fit) {
            fit[ci.nr_fit++] = c->cases[i].mc->name;
        } else {
            held[ci.nr_held++] = c->cases[i].mc->name;
        }
    }
    ci.fit = fit;
    ci.held = held;
    ci.excluded = excl;
    ci.undetermined = undet;
    for (size_t k = 0; k < calib_nr_keys; k++) {
        key_note(&notes[ci.nr_notes++], c, r, k, o, m, date);
        if (r->state[k] == CK_INSENSITIVE || r->state[k] == CK_COLLINEAR)
            undet[ci.nr_undetermined++] = calib_keys[k].key;
    }
    if (out->freq_mhz != c->base.freq_mhz || !o->keep_freq) {
        notes[ci.nr_notes].key = "freq_mhz";
        snprintf(notes[ci.nr_notes++].text, sizeof(notes[0].text), "%s",
                 o->keep_freq || m->env.cpu_mhz <= 0 ? "the base model's" :
                 "the probed machine's clock (/proc/cpuinfo cpu MHz, rounded)");
    }
    rc = meas_write_model(o->out, out, &ci, err);
    free(excl);
    free(excl_text);
    free(fit);
    free(held);
    return rc;
}

static int calibrate_usage(FILE *f, int status)
{
    fputs("usage: tlbsim calibrate MEAS.json [MEAS.json...] --machine BASE -o MINE.json\n"
          "                        [--policy P] [--keep-freq] [--max-spread F]\n"
          "Fit the timing keys of machine model BASE (a shipped name or a file) to the\n"
          "measurements of `tlbsim probe` by least squares on relative error, each case\n"
          "weighted by its own spread (sigma = (p90 - p10) / (2 median), at least 5%):\n"
          "every measured case is replayed through the simulator; two thirds of them\n"
          "are fitted, every third one (the 1st, 4th, ...) is held out.  Keys the data cannot\n"
          "determine keep BASE's value and are listed.  MINE.json is a model file whose\n"
          "source lines say what each key was fitted on.  Several MEAS.json files (up to\n"
          "16 probe runs of the same machine) are pooled: each case's repeats are those\n"
          "of every run, so a case whose runs disagree has a wide spread.\n"
          "  --policy P     flush policy to replay under (default: the one the probe\n"
          "                 suggested for the environment it found)\n"
          "  --keep-freq    keep BASE's freq_mhz (default: the probed clock)\n"
          "  --max-spread F exclude from the fit and the RMS every case whose repeats'\n"
          "                 p10..p90 spans more than F times its median (default 0.5,\n"
          "                 the width of the +-25% held-out band; 0: exclude none);\n"
          "                 the excluded cases are printed and listed in MINE.json\n"
          "Fittable keys and the method: docs/validation.md.\n", f);
    return status;
}

int cmd_calibrate(int argc, char **argv)
{
    struct cal_opts o = { .max_spread = CALIB_MAX_SPREAD };
    struct meas m;
    struct machine base, out;
    struct calib c;
    struct calib_result res;
    struct sim_err err = { 0 };
    char path[4096];
    const struct flush_policy *pol;
    int rc = cal_parse(argc, argv, &o, false);

    if (rc == -3)
        return EXIT_BADINPUT;
    if (rc)
        return calibrate_usage(rc == -1 ? stdout : stderr, rc == -1 ? EXIT_OK : EXIT_BADINPUT);
    if ((rc = load_runs(&o, &m, &err)))
        return cal_exit(rc, &err);
    if ((rc = load_machine(o.machine, &base, path, sizeof(path), &err)) ||
        !(pol = cal_policy(o.policy, NULL, &m, &err))) {
        meas_free(&m);
        return cal_exit(rc ? rc : SIM_EINVAL, &err);
    }
    if (!o.keep_freq && m.env.cpu_mhz >= 1 && m.env.cpu_mhz <= 100000)
        base.freq_mhz = (u32)lround(m.env.cpu_mhz);
    char bname[MACHINE_NAME_MAX];
    snprintf(bname, sizeof(bname), "%s", base.name);
    snprintf(base.name, sizeof(base.name), "%.40s-calibrated", bname);
    if (!(rc = calib_open(&c, &m, o.meas, &base, pol, o.max_spread, &err))) {
        if (!(rc = calib_fit(&c, &out, &res, &err))) {
            print_fit(&c, &res, &out);
            rc = write_calibrated(&o, &c, &res, &out, &m, &err);
        }
        calib_close(&c);
    }
    meas_free(&m);
    return cal_exit(rc, &err);
}

/* ==== validate =========================================================== */

static bool named(char **names, u32 n, const char *name)
{
    for (u32 i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return true;
    return false;
}

struct val_sum {
    u32 n[2], ok[2];                    /* [held out, fitted] */
    u32 noisy, noisy_ok;                /* cases whose own spread is wider than their band */
};

static int validate_rows(const struct calib *c, const struct machine *mach, char **fit, u32 nr_fit,
                         FILE *csv, struct val_sum *vs, struct sim_err *err)
{
    printf("%-24s %14s %14s %7s  %-8s %7s\n", "case", "measured_ns", "simulated_ns", "ratio",
           "fit", "spread");
    for (u32 i = 0; i < c->nr; i++) {
        const struct meas_case *mc = c->cases[i].mc;
        bool used = named(fit, nr_fit, mc->name);
        double ns, ratio, band = used ? 0.15 : 0.25, spread = c->cases[i].spread;
        bool ok, noisy = spread > 2 * band;    /* p10..p90 wider than the band */
        int rc = calib_simulate(c, mach, i, &ns, err);

        if (rc)
            return rc;
        ratio = ns / mc->ns_median;
        ok = fabs(ratio - 1) <= band;
        vs->n[used]++;
        vs->ok[used] += ok;
        vs->noisy += noisy;
        vs->noisy_ok += noisy && ok;
        fprintf(csv, "%s,%.1f,%.1f,%.4f,%d,%.4f,%.2f,%d\n", mc->name, mc->ns_median, ns, ratio,
                used, spread, band, noisy);
        printf("%-24s %14.1f %14.1f %7.3f  %-8s %6.0f%%%s\n", mc->name, mc->ns_median, ns, ratio,
               used ? "fit" : "held-out", 100 * spread, noisy ? "  wider than the band" : "");
    }
    return SIM_OK;
}

static int validate_usage(FILE *f, int status)
{
    fputs("usage: tlbsim validate MEAS.json [MEAS.json...] --machine MINE.json [--out DIR]\n"
          "                       [--policy P]\n"
          "Replay every measured case of MEAS.json (from `tlbsim probe`; several files\n"
          "are pooled as calibrate pools them) on the machine\n"
          "model and compare: prints a table and writes DIR/validation.csv (default\n"
          "DIR out) with case,measured_ns,simulated_ns,ratio,used_in_fit,spread,band,\n"
          "spread_exceeds_band (docs/output.md).  used_in_fit is 1 for the cases a\n"
          "`tlbsim calibrate` model was fitted on; band is the target (0.15 for those,\n"
          "0.25 for the others); spread is the case's (p90 - p10) / median over its\n"
          "repeats, and spread_exceeds_band is 1 when that is wider than the band\n"
          "(2 x band): the target cannot be judged on such a case.\n"
          "  --policy P   flush policy (default: the calibration's, else the probe's)\n", f);
    return status;
}

int cmd_validate(int argc, char **argv)
{
    struct cal_opts o = { .out = "out" };
    struct meas m;
    struct machine mach;
    struct calib c;
    struct csv_file csv = { 0 };
    struct val_sum vs = { { 0 }, { 0 }, 0, 0 };
    struct sim_err err = { 0 };
    char path[4096], cal_policy_name[64], **fit = NULL;
    const struct flush_policy *pol = NULL;
    u32 nr_fit = 0;
    int rc = cal_parse(argc, argv, &o, true);

    if (rc)
        return validate_usage(rc == -1 ? stdout : stderr, rc == -1 ? EXIT_OK : EXIT_BADINPUT);
    if ((rc = load_runs(&o, &m, &err)))
        return cal_exit(rc, &err);
    if (!(rc = load_machine(o.machine, &mach, path, sizeof(path), &err)) &&
        !(rc = meas_model_calibration(path, &fit, &nr_fit, cal_policy_name,
                                      sizeof(cal_policy_name), &err)) &&
        !(pol = cal_policy(o.policy, cal_policy_name, &m, &err)))
        rc = SIM_EINVAL;
    if (!rc && !(rc = calib_open(&c, &m, o.meas, &mach, pol, 0, &err))) {
        if (!(rc = csv_mkdir(o.out, &err)) && !(rc = csv_open(&csv, o.out, "validation.csv", &err))) {
            fputs("case,measured_ns,simulated_ns,ratio,used_in_fit,spread,band,"
                  "spread_exceeds_band\n", csv.f);
            rc = validate_rows(&c, &mach, fit, nr_fit, csv.f, &vs, &err);
            if (rc)
                csv_abort(&csv);
            else
                rc = csv_commit(&csv, &err);
        }
        calib_close(&c);
    }
    for (u32 i = 0; !rc && i < m.nr_cases; i++)
        if (m.cases[i].skipped)
            printf("%-24s skipped: %s\n", m.cases[i].name, m.cases[i].reason);
    if (!rc)
        printf("policy %s on %s: fitted cases within 15%%: %u of %u; other cases within 25%%: "
               "%u of %u; cases whose own p10..p90 is wider than their band: %u (%u of them "
               "within it); wrote %s/validation.csv\n", pol->name, mach.name, vs.ok[1],
               vs.n[1], vs.ok[0], vs.n[0], vs.noisy, vs.noisy_ok, o.out);
    meas_names_free(fit, nr_fit);
    meas_free(&m);
    return cal_exit(rc, &err);
}
