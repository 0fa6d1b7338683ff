/* sim/cli/report_why.c - the parts of `tlbsim report` that explain why: a
 * policy whose mechanism does not exist on the machine model, where the
 * waits moved against the baseline (early-ack in particular), a trace whose
 * timestamps pin the run time, and the spread and significance of repeated
 * runs (see report.h). */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../models/machine.h"
#include "../../models/policy.h"
#include "../io/model_load.h"
#include "cli.h"
#include "stats.h"

/* ==== loading ======================================================================= */

static u32 distinct_policies(const struct table *t)
{
    int pc = table_col(t, "policy");
    u32 n = 0;

    for (u32 i = 0; i < t->nrows; i++) {
        u32 j = 0;
        while (j < i && strcmp(table_cell(t, i, pc), table_cell(t, j, pc)))
            j++;
        n += j == i;
    }
    return n;
}

/* Repeated runs: r->sum becomes summary_stats.csv with "C_mean" renamed "C",
 * so every S(row, "C") of the report reads a mean; summary.csv stays in r->raw. */
static int load_stats(struct report *r)
{
    char p[4200];
    struct table st;
    u32 np = distinct_policies(&r->sum);
    int rc;

    r->runs = 1;
    if (np == r->sum.nrows)
        return 0;
    snprintf(p, sizeof(p), "%s/summary_stats.csv", r->dir);
    if ((rc = table_load(p, &st)) == SIM_ENOENT) {
        fprintf(stderr, "tlbsim: report: %s/summary.csv has %u rows for %u policies (repeated "
                "runs) but no summary_stats.csv (`tlbsim run --repeat N` writes it)\n", r->dir,
                r->sum.nrows, np);
        return EXIT_BADINPUT;
    }
    if (rc)
        return cli_exit_code(rc);
    if (table_col(&st, "policy") < 0 || table_col(&st, "runs") < 0 || st.nrows != np) {
        fprintf(stderr, "tlbsim: report: %s: not the statistics of %s/summary.csv\n", p, r->dir);
        table_free(&st);
        return EXIT_BADINPUT;
    }
    for (u32 c = 0; c < st.ncols; c++) {
        size_t n = strlen(st.cell[c]);
        if (n > 5 && !strcmp(st.cell[c] + n - 5, "_mean"))
            st.cell[c][n - 5] = 0;
    }
    r->raw = r->sum;
    r->sum = st;
    for (u32 i = 0; i < st.nrows; i++)
        if (table_num(&st, i, "runs") > r->runs)
            r->runs = (u32)table_num(&st, i, "runs");
    return 0;
}

/* virt.enabled and broadcast.hw of the model named in the machine column, as
 * shipped (summary.csv does not record --set overrides); -1 when not found. */
static void load_machine_facts(struct report *r)
{
    const char *name = table_cell(&r->sum, 0, table_col(&r->sum, "machine"));
    struct sim_err err = { 0 };
    struct machine m;
    char path[4096];

    r->virt = r->bcast_hw = -1;
    if (!*name || strchr(name, '/') || model_find(name, path, sizeof(path), &err))
        return;
    machine_init(&m);
    if (model_load(path, &m, &err))
        return;
    r->virt = m.virt;
    r->bcast_hw = m.bcast_hw;
}

/* Every policy ends at the same cycle while their work differs: the trace's
 * `t` timestamps, not the policies, set the end. */
static bool detect_pinned(const struct report *r)
{
    static const char *const work[] = { "handler_cycles", "spin_cycles", "busy_cycles" };
    bool differ = false;

    if (r->sum.nrows < 2)
        return false;
    for (u32 i = 1; i < r->sum.nrows; i++) {
        if (S(i, "cycles") != S(0, "cycles"))
            return false;
        for (size_t k = 0; k < ARRAY_SIZE(work); k++)
            differ |= S(i, work[k]) != S(0, work[k]);
    }
    return differ;
}

int why_load(struct report *r)
{
    int rc = load_stats(r);

    if (rc)
        return rc;
    load_machine_facts(r);
    r->pinned = detect_pinned(r);
    return 0;
}

void why_free(struct report *r)
{
    table_free(&r->raw);
}

/* ==== numbers ======================================================================== */

/* +1.29M, -160k, +35: a signed change of a cycle count. */
static const char *fmt_delta(double v, char *buf, size_t len)
{
    if (isnan(v))
        snprintf(buf, len, "n/a");
    else if (fabs(v) >= 1e6)
        snprintf(buf, len, "%+.2fM", v / 1e6);
    else if (fabs(v) >= 1e4)
        snprintf(buf, len, "%+.0fk", v / 1e3);
    else
        snprintf(buf, len, "%+.0f", v);
    return buf;
}

static double per(double a, double b)
{
    return b > 0 ? a / b : NAN;
}

/* ==== pinned time ===================================================================== */

void why_pinned_intro(struct report *r)
{
    char a[48];

    if (!r->pinned)
        return;
    fprintf(r->f, "**Run time is pinned by the trace.**  Every policy ends at cycle %s: the "
            "trace is timestamped (a recording), each op starts no earlier than its `t`, and "
            "the last timestamps set `cycles` whatever the policy does.  A policy's cost "
            "shows instead in the cycles its CPUs spend in flush IPI handlers "
            "(`handler_cycles`), waiting for acknowledgements (`spin_cycles`) and working "
            "(`busy_cycles`); the tables below lead with those.\n\n",
            fmt_int(S(0, "cycles"), a, sizeof(a)));
}

/* ==== mechanisms the machine does not have ============================================ */

void why_not_applicable(struct report *r, u32 i)
{
    const struct flush_policy *p = flush_policy_find(policy_of(r, i));
    const char *mach = table_cell(&r->sum, 0, table_col(&r->sum, "machine"));
    char a[48];

    if (!p)
        return;
    if (p->transport == XPORT_PV_KVM && r->virt == 0)
        fprintf(r->f, "**Comparison void on this machine:** `%s` models a KVM guest, but `%s` "
                "is a bare-metal model (`virt.enabled` false as shipped).  Its one rule that "
                "differs from `linux`, leaving preempted vCPUs out, cannot fire here "
                "(`pv_skipped_preempted` %s), and its hypercalls stand for VM exits this "
                "machine does not have; run it on a guest model (`--machine "
                "kvm-guest-skylake`).  ", policy_of(r, i), mach,
                fmt_int(S(i, "pv_skipped_preempted"), a, sizeof(a)));
    else if (p->transport == XPORT_HYPERV && r->virt == 0)
        fprintf(r->f, "**Comparison void on this machine:** `%s` models a Hyper-V guest whose "
                "hypervisor flushes the other vCPUs, but `%s` is a bare-metal model "
                "(`virt.enabled` false as shipped): there is no hypervisor to do that work, "
                "and its flush hypercalls are priced with `virt.*` costs bare metal never "
                "pays; compare it on a guest model (`--machine kvm-guest-skylake`).  ",
                policy_of(r, i), mach);
    else if ((p->transport == XPORT_BROADCAST || p->global_asid) && r->bcast_hw == 0)
        fprintf(r->f, "**Not available on this machine:** `%s` has no broadcast invalidation "
                "(`broadcast.hw` false: neither INVLPGB/TLBSYNC nor RAR), so these numbers "
                "are a what-if priced with the estimated `broadcast.*` costs; compare on "
                "`zen3`, `zen4` or `sapphire-rapids`.  ", mach);
}

/* ==== where the waits moved =========================================================== */

/* Early acknowledgement: which waits moved where. */
static void early_ack(struct report *r, u32 i)
{
    u32 b = r->base;
    const char *bn = policy_of(r, b);
    double hpi = per(S(i, "handler_cycles"), S(i, "ipis_received"));
    double bhpi = per(S(b, "handler_cycles"), S(b, "ipis_received"));
    double fpi = per(S(i, "local_flush_pages"), S(i, "ipis_received"));
    double bfpi = per(S(b, "local_flush_pages"), S(b, "ipis_received"));
    double ds = S(i, "spin_cycles") - S(b, "spin_cycles");
    double dh = S(i, "handler_cycles") - S(b, "handler_cycles");
    double di = S(i, "idle_cycles") - S(b, "idle_cycles");
    char a[4][48];

    fputs("Early acknowledgement moves each target's ack from the end of its handler to "
          "the start, after the interrupt entry and, for a target that was idle, its C-state "
          "exit (`docs/model.md`, IPI timing): an initiator stops waiting before the flush "
          "work, not before the wake-up, and the targets still do all the work", r->f);
    if (isnan(hpi) || isnan(bhpi)) {
        fputs(". ", r->f);
        return;
    }
    fprintf(r->f, ".  Handler time per IPI received: %s cycles (%s: %s%s)",
            fmt_int(hpi, a[0], 48), bn, fmt_int(bhpi, a[1], 48),
            fmt_change(hpi, bhpi, true, a[2], 48));
    if (hpi > bhpi * 1.03 && !isnan(fpi) && bfpi > 0 && fabs(fpi / bfpi - 1) < 0.05)
        fprintf(r->f, ", with the same flush work (`local_flush_pages` per IPI received: "
                "%.1f, %s: %.1f): the extra is in the other parts of a handler, interrupt "
                "entry and wake-up, so more IPIs found their target idle (`idle_cycles` %s)",
                fpi, bn, bfpi, fmt_delta(di, a[3], 48));
    fmt_delta(fabs(ds), a[0], 48);
    fmt_delta(fabs(dh), a[1], 48);
    fprintf(r->f, ".  In all, the initiators waited %s cycles %s (`spin_cycles`) and the "
            "targets spent %s cycles %s in handlers", a[0] + 1, ds <= 0 ? "less" : "more",
            a[1] + 1, dh >= 0 ? "more" : "less");
    if (S(i, "cycles") > S(b, "cycles") && !r->pinned)
        fputs(ds <= 0 ? ", so the run ends later: the time added on the targets outweighs the "
                        "waiting saved"
                      : ", so the run ends later: acknowledging early saved no waiting in all "
                        "(an ack still comes after the target's wake-up)", r->f);
    if (hpi > bhpi * 1.03)
        fputs(".  To see the wake-ups' share, run both with `--set idle.c1_exit_cycles=0 "
              "--set idle.c6_exit_cycles=0`", r->f);
    fputs(". ", r->f);
}

void why_waits(struct report *r, u32 i)
{
    static const struct { const char *col, *what; } moved[] = {
        { "handler_cycles", "flush handlers" }, { "spin_cycles", "waiting for acks" },
        { "idle_cycles", "idle or waiting for input" },
        { "busy_cycles", "busy (handlers included)" },
    };
    const struct flush_policy *p = flush_policy_find(policy_of(r, i));
    const struct flush_policy *bp = flush_policy_find(policy_of(r, r->base));
    char a[48];

    fprintf(r->f, "Where the time moved (all CPUs, against `%s`):", policy_of(r, r->base));
    for (size_t k = 0; k < ARRAY_SIZE(moved); k++)
        fprintf(r->f, "%s %s %s", k ? "," : "", moved[k].what,
                fmt_delta(S(i, moved[k].col) - S(r->base, moved[k].col), a, sizeof(a)));
    if (!r->pinned)
        fprintf(r->f, "; run time %s",
                fmt_delta(S(i, "cycles") - S(r->base, "cycles"), a, sizeof(a)));
    fputs(". ", r->f);
    if (p && p->early_ack && !(bp && bp->early_ack))
        early_ack(r, i);
}

/* ==== repeated runs: spread and significance =========================================== */

static const struct { const char *col, *label, *name; double scale; } sig_cols[] = {
    { "cycles", "run time (Mcycles)", "run time", 1e-6 },
    { "ipis_sent", "IPIs sent", "IPIs sent", 1 },
    { "shootdown_cycles_p50", "shootdown p50", "shootdown p50", 1 },
    { "shootdown_cycles_p99", "shootdown p99", "shootdown p99", 1 },
    { "handler_cycles", "`handler_cycles` (M)", "handler cycles", 1e-6 },
    { "spin_cycles", "`spin_cycles` (M)", "spin cycles", 1e-6 },
    { "walks", "page walks", "page walks", 1 },
};

static void sum_of(const struct report *r, u32 i, const char *col, struct stats_sum *s)
{
    char sd[128];

    snprintf(sd, sizeof(sd), "%s_sd", col);
    s->n = (u32)S(i, "runs");
    s->mean = S(i, col);
    s->sd = S(i, sd);
    if (s->n < 2 || isnan(s->sd))
        s->n = 1;
}

/* -1 fewer than 2 runs, 0 not significant, 1 significant, 2 identical in every run. */
static int compare(const struct report *r, u32 i, const char *col)
{
    struct stats_sum a, b;
    int w;

    sum_of(r, i, col, &a);
    sum_of(r, r->base, col, &b);
    w = stats_welch(&a, &b, NULL, NULL);
    if (w == 0 && a.sd == 0 && b.sd == 0)
        return 2;
    return w;
}

static void sig_cell(struct report *r, u32 i, size_t k)
{
    char ci[128], a[48];
    double m = S(i, sig_cols[k].col), base = S(r->base, sig_cols[k].col);
    int w;

    snprintf(ci, sizeof(ci), "%s_ci95", sig_cols[k].col);
    if (sig_cols[k].scale != 1)
        fprintf(r->f, " %.2f ± %.2f", m * sig_cols[k].scale, S(i, ci) * sig_cols[k].scale);
    else
        fprintf(r->f, " %s ± %.0f", fmt_int(m, a, sizeof(a)), S(i, ci));
    if (i == r->base) {
        fputs(" |", r->f);
        return;
    }
    w = compare(r, i, sig_cols[k].col);
    fmt_change(m, base, false, a, sizeof(a));
    if (w == 2)
        fputs(" (=) |", r->f);
    else if (w == 1)
        fprintf(r->f, " **%s** |", a[0] ? a + 1 : "(differs)");
    else
        fprintf(r->f, " %s |", a[0] ? a + 1 : "");
}

/* "- `p`: significant: run time (+3.2%), ...; not significant: ..." */
static void sig_line(struct report *r, u32 i)
{
    for (int want = 1; want >= 0; want--) {
        u32 n = 0;
        for (size_t k = 0; k < ARRAY_SIZE(sig_cols); k++) {
            char a[48];
            if (compare(r, i, sig_cols[k].col) != want)
                continue;
            fmt_change(S(i, sig_cols[k].col), S(r->base, sig_cols[k].col), false, a, sizeof(a));
            fprintf(r->f, "%s%s%s", n++ ? ", " : want ? "significant: " : "; not significant: ",
                    sig_cols[k].name, a);
        }
        if (!n && want)
            fputs("no significant difference", r->f);
    }
    fputs("\n", r->f);
}

void why_significance(struct report *r)
{
    bool spread = false;
    double s0 = NAN, s1 = NAN;
    int sc = table_col(&r->raw, "seed");

    if (r->runs < 2)
        return;
    for (u32 i = 0; i < r->raw.nrows && sc >= 0; i++) {
        double v = table_num_at(&r->raw, i, sc);
        if (isnan(s0) || v < s0)
            s0 = v;
        if (isnan(s1) || v > s1)
            s1 = v;
    }
    fprintf(r->f, "## Repeated runs: spread and significance\n\nEach policy ran %u times, "
            "with `sim.seed` %.0f to %.0f (`tlbsim run --repeat`: run r uses the model's seed "
            "+ r).  Cells: mean ± half-width of its 95%% confidence interval (Student t, n - 1 "
            "degrees of freedom), then the change from `%s`.  A **bold** change is "
            "significant at the 5%% level by Welch's t-test (two-sided; the critical t at the "
            "Welch-Satterthwaite degrees of freedom, rounded down); `(=)`: identical in every "
            "run; plain: not significant.\n\n| policy |", r->runs, s0, s1, policy_of(r, r->base));
    for (size_t k = 0; k < ARRAY_SIZE(sig_cols); k++)
        fprintf(r->f, " %s |", sig_cols[k].label);
    fputs("\n|---|", r->f);
    for (size_t k = 0; k < ARRAY_SIZE(sig_cols); k++)
        fputs("--:|", r->f);
    fputc('\n', r->f);
    for (u32 i = 0; i < r->sum.nrows; i++) {
        fprintf(r->f, "| `%s` |", policy_of(r, i));
        for (size_t k = 0; k < ARRAY_SIZE(sig_cols); k++) {
            char sd[128];
            snprintf(sd, sizeof(sd), "%s_sd", sig_cols[k].col);
            spread |= S(i, sd) > 0;
            sig_cell(r, i, k);
        }
        fputc('\n', r->f);
    }
    fputc('\n', r->f);
    for (u32 i = 0; i < r->sum.nrows; i++) {
        if (i == r->base)
            continue;
        fprintf(r->f, "- `%s`: ", policy_of(r, i));
        sig_line(r, i);
    }
    if (!spread)
        fputs("\nEvery run of a policy gave the same numbers: on a fixed trace the seed only "
              "drives random TLB replacement (`tlb.replacement=random`) and the interrupt-entry "
              "spread (`ipi.irq_entry_spread_cycles`).  For run-to-run "
              "spread of the workload itself, sweep a workload spec over seeds (`tlbsim sweep "
              "SPEC.json --repeat N`).\n", r->f);
    fputc('\n', r->f);
}
