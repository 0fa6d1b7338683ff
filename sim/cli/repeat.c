/* sim/cli/repeat.c - `tlbsim repeatability`: how well several `tlbsim probe`
 * runs of the same machine agree, case by case, and what each run says the
 * remote part of a flush costs (a spin case minus the sleep case of the same
 * op, pages and sibling count).
 *
 * A calibration can only be as good as the measurements repeat: a case whose
 * median moves 20% between runs minutes apart cannot be held to +-15% by any
 * model, and a remote cost that does not repeat is not a cost to fit.
 */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/csv.h"
#include "../io/meas.h"

#define REP_MAX_RUNS 16

struct rep_opts {
    const char *out;
    const char *meas[REP_MAX_RUNS];
    u32 nr;
};

static int rep_usage(FILE *f, int status)
{
    fputs("usage: tlbsim repeatability MEAS.json MEAS.json [MEAS.json...] [--out DIR]\n"
          "Compare two to 16 `tlbsim probe` files of the same machine.  Per case (in the\n"
          "first file's order): each run's median ns per call, the run spread\n"
          "(max - min) / median of the runs' medians, and the largest repeat spread\n"
          "(p90 - p10) / median within one run.  Then, per op, pages and sibling count\n"
          "measured both spinning and sleeping, each run's remote cost: the spin\n"
          "median minus the sleep median (what flushing the running siblings added).\n"
          "Prints both tables and writes DIR/repeatability.csv and DIR/remote.csv\n"
          "(default DIR out; docs/output.md, docs/validation.md).\n", f);
    return status;
}

static int rep_parse(int argc, char **argv, struct rep_opts *o)
{
    static const struct option lopts[] = {
        { "out", required_argument, 0, 'O' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    int c;

    *o = (struct rep_opts){ .out = "out" };
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        switch (c) {
        case 'O': o->out = optarg; break;
        case 'h': return rep_usage(stdout, -1);
        default:  return rep_usage(stderr, EXIT_BADINPUT);
        }
    }
    if (argc - optind < 2 || argc - optind > REP_MAX_RUNS) {
        fprintf(stderr, "tlbsim: repeatability: %d measurement file(s) given; it compares "
                "2 to %d (see --help)\n", argc - optind, REP_MAX_RUNS);
        return EXIT_BADINPUT;
    }
    for (int i = optind; i < argc; i++)
        o->meas[o->nr++] = argv[i];
    return EXIT_OK;
}

/* The measured (not skipped) case NAME of m, or NULL. */
static const struct meas_case *find_case(const struct meas *m, const char *name)
{
    for (u32 i = 0; i < m->nr_cases; i++)
        if (!m->cases[i].skipped && !strcmp(m->cases[i].name, name))
            return &m->cases[i];
    return NULL;
}

static double median_of(double *v, u32 n)
{
    meas_sort(v, n);
    return meas_quantile(v, n, 0.5);
}

struct rep_sum {
    u32 cases, wide_runs, wide_repeats;
};

/* One row per case of the first file measured in every run. */
static void case_rows(const struct meas *m, u32 nr, FILE *csv, struct rep_sum *sum)
{
    printf("median us per call in each run; spread across the runs' medians and the\n"
           "largest spread within one run (p10..p90 of its repeats), %% of the median\n");
    printf("%-22s", "case");
    for (u32 r = 0; r < nr; r++)
        printf(" %8s%-2u", "run", r + 1);
    printf(" %7s %7s\n", "across", "within");
    for (u32 i = 0; i < m[0].nr_cases; i++) {
        const char *name = m[0].cases[i].name;
        double med[REP_MAX_RUNS], sorted[REP_MAX_RUNS], rep_spread = 0;
        u32 n = 0;

        for (u32 r = 0; r < nr; r++) {
            const struct meas_case *c = find_case(&m[r], name);
            if (!c)
                break;
            med[n++] = c->ns_median;
            rep_spread = fmax(rep_spread, (c->ns_p90 - c->ns_p10) / c->ns_median);
        }
        if (n < nr)                     /* skipped or missing in some run */
            continue;
        memcpy(sorted, med, sizeof(double) * n);
        double mid = median_of(sorted, n), lo = sorted[0], hi = sorted[n - 1];
        double run_spread = (hi - lo) / mid;
        printf("%-22s", name);
        for (u32 r = 0; r < n; r++)
            printf(" %10.1f", med[r] / 1000);
        printf(" %6.0f%% %6.0f%%\n", 100 * run_spread, 100 * rep_spread);
        fprintf(csv, "%s,%u,%.1f,%.1f,%.1f,%.4f,%.4f\n", name, n, mid, lo, hi, run_spread,
                rep_spread);
        sum->cases++;
        sum->wide_runs += run_spread > 0.15;
        sum->wide_repeats += rep_spread > 0.5;
    }
}

/* Per op, pages and k with both spin{k} and sleep{k} measured in every run. */
static void remote_rows(const struct meas *m, u32 nr, FILE *csv)
{
    printf("\nremote cost: spin median - sleep median, us per call\n%-22s", "op-pages-siblings");
    for (u32 r = 0; r < nr; r++)
        printf(" %8s%-2u", "run", r + 1);
    printf("\n");
    for (u32 i = 0; i < m[0].nr_cases; i++) {
        const struct meas_case *spin = &m[0].cases[i];
        struct meas_case sleep = *spin;
        double d[REP_MAX_RUNS], sorted[REP_MAX_RUNS];
        char label[MEAS_NAME_MAX + 16];
        u32 n = 0;

        if (spin->skipped || spin->sib != MEAS_SIB_SPIN)
            continue;
        sleep.sib = MEAS_SIB_SLEEP;
        meas_case_name(&sleep);
        for (u32 r = 0; r < nr; r++) {
            const struct meas_case *a = find_case(&m[r], spin->name);
            const struct meas_case *b = find_case(&m[r], sleep.name);
            if (!a || !b)
                break;
            d[n++] = a->ns_median - b->ns_median;
        }
        if (n < nr)
            continue;
        snprintf(label, sizeof(label), "%s-%up-%u", meas_op_names[spin->op], spin->pages,
                 spin->threads);
        printf("%-22s", label);
        for (u32 r = 0; r < n; r++)
            printf(" %10.1f", d[r] / 1000);
        printf("\n");
        memcpy(sorted, d, sizeof(double) * n);
        double mid = median_of(sorted, n);
        fprintf(csv, "%s,%u,%u,%u,%.1f,%.1f,%.1f\n", meas_op_names[spin->op], spin->pages,
                spin->threads, n, mid, sorted[0], sorted[n - 1]);
    }
}

static int write_tables(const struct rep_opts *o, const struct meas *m, struct rep_sum *sum,
                        struct sim_err *err)
{
    struct csv_file a = { 0 }, b = { 0 };
    int rc;

    if ((rc = csv_mkdir(o->out, err)) || (rc = csv_open(&a, o->out, "repeatability.csv", err)))
        return rc;
    if ((rc = csv_open(&b, o->out, "remote.csv", err))) {
        csv_abort(&a);
        return rc;
    }
    fputs("case,runs,median_ns,min_ns,max_ns,run_spread,repeat_spread\n", a.f);
    fputs("op,pages,threads,runs,remote_ns,min_ns,max_ns\n", b.f);
    case_rows(m, o->nr, a.f, sum);
    remote_rows(m, o->nr, b.f);
    if ((rc = csv_commit(&a, err))) {
        csv_abort(&b);
        return rc;
    }
    return csv_commit(&b, err);
}

int cmd_repeatability(int argc, char **argv)
{
    struct rep_opts o;
    struct meas m[REP_MAX_RUNS];
    struct rep_sum sum = { 0 };
    struct sim_err err = { 0 };
    u32 loaded = 0;
    int rc = rep_parse(argc, argv, &o);

    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    for (; loaded < o.nr && !rc; loaded++)
        if ((rc = meas_load(o.meas[loaded], &m[loaded], &err)))
            break;
    if (!rc) {
        for (u32 r = 0; r < o.nr; r++) {
            printf("run %u: %s (%s, %s, rounds %u", r + 1, o.meas[r], m[r].date,
                   m[r].env.kind, m[r].rounds);
            if (m[r].env.load_start >= 0)
                printf(", load average %.1f to %.1f", m[r].env.load_start, m[r].env.load_end);
            printf(")\n");
        }
        rc = write_tables(&o, m, &sum, &err);
    }
    for (u32 r = 0; r < loaded; r++)
        meas_free(&m[r]);
    if (rc) {
        cli_error(err.msg);
        return cli_exit_code(rc);
    }
    printf("\n%u cases in all %u runs: run spread above 15%%: %u; a run's repeat spread above "
           "50%%: %u; wrote %s/repeatability.csv and %s/remote.csv\n", sum.cases, o.nr,
           sum.wide_runs, sum.wide_repeats, o.out, o.out);
    return EXIT_OK;
}
