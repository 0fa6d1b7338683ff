/* sim/cli/report.c - `tlbsim report OUTDIR`: a Markdown report of one
 * comparison run (`tlbsim run TRACE --policy a,b,c --out OUTDIR`).
 *
 * Reads OUTDIR/summary.csv (required), flushes.csv and timeline.csv (when
 * present) and the figures of plots/make-plots.sh, and writes
 * OUTDIR/report.md: a table of the key counters per policy, one paragraph per
 * policy explaining by its counters how it differs from the baseline
 * (`linux` when present), the mechanism counters behind those differences,
 * and links to the figures.  The sentences are generated from the numbers
 * only, so the report is as deterministic as the CSVs it reads.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../models/policy.h"
#include "../io/csv.h"

#define REPORT_MAX_BYTES (1ull << 31)   /* a CSV larger than this is not a report input */
#define REPORT_PATH      4096

/* ==== reading CSV ================================================================ */

/* A whole RFC 4180 file; cells are NUL-terminated strings inside text. */
struct table {
    char *text;                         /* the file, unquoted in place */
    char **cell;                        /* (nrows + 1) * ncols: the header row first */
    u32 ncols;                          /* header fields */
    u32 nrows;                          /* data rows */
};

static void table_free(struct table *t)
{
    free(t->text);
    free(t->cell);
    memset(t, 0, sizeof(*t));
}

static int read_all(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 16, n = 0, k;
    char *buf = NULL, *nb;

    if (!f)
        return errno == ENOENT ? SIM_ENOENT : SIM_EIO;
    for (;;) {
        if (!(nb = realloc(buf, cap + 1)))
            break;
        buf = nb;
        k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (n < cap || cap >= REPORT_MAX_BYTES)
            break;
        cap *= 2;
    }
    fclose(f);
    if (!nb || n >= REPORT_MAX_BYTES) {
        free(buf);
        return nb ? SIM_ELIMIT : SIM_ENOMEM;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return SIM_OK;
}

/* Unquote one field starting at *pp in place; returns the terminator seen
 * (',', '\n' or 0) and advances *pp past it.  -1 on a malformed quote. */
static int next_field(char **pp, char **start)
{
    char *p = *pp, *w = p;

    *start = p;
    if (*p == '"') {
        for (p++;; p++) {
            if (!*p)
                return -1;
            if (*p == '"' && p[1] == '"')
                *w++ = *p++;
            else if (*p == '"')
                break;
            else
                *w++ = *p;
        }
        p++;
        if (*p == '\r')
            p++;
        if (*p && *p != ',' && *p != '\n')
            return -1;
    } else {
        while (*p && *p != ',' && *p != '\n')
            *w++ = *p++;
        if (w > *start && w[-1] == '\r')
            w--;
    }
    int term = *p;
    *w = 0;                             /* may overwrite the terminator: term keeps it */
    *pp = term ? p + 1 : p;
    return term;
}

static int grow_cells(struct table *t, size_t need, size_t *cap)
{
    char **nc;

    if (need <= *cap)
        return 0;
    *cap = *cap ? *cap * 2 : 256;
    if (*cap < need)
        *cap = need;
    if (!(nc = realloc(t->cell, *cap * sizeof(*nc))))
        return -1;
    t->cell = nc;
    return 0;
}

/* Load path.  SIM_ENOENT when absent; other errors print a one-line message. */
static int table_load(const char *path, struct table *t)
{
    size_t len, cap = 0, n = 0;
    u32 line = 1, col = 0;
    char *p, *f;
    int rc, term;

    memset(t, 0, sizeof(*t));
    if ((rc = read_all(path, &t->text, &len)))
        goto fail;
    for (p = t->text; *p;) {
        if ((term = next_field(&p, &f)) < 0) {
            fprintf(stderr, "tlbsim: report: %s:%u: unbalanced quote\n", path, line);
            rc = SIM_EPARSE;
            goto fail;
        }
        if (grow_cells(t, n + 1, &cap)) {
            rc = SIM_ENOMEM;
            goto fail;
        }
        t->cell[n++] = f;
        col++;
        if (term == ',')
            continue;
        if (line == 1)
            t->ncols = col;
        else if (col != t->ncols) {
            fprintf(stderr, "tlbsim: report: %s:%u: %u fields, the header has %u\n", path,
                    line, col, t->ncols);
            rc = SIM_EPARSE;
            goto fail;
        }
        col = 0;
        line++;
    }
    if (!t->ncols || col) {
        fprintf(stderr, "tlbsim: report: %s: %s\n", path, t->ncols ? "truncated last line"
                                                                   : "empty file");
        rc = SIM_EPARSE;
        goto fail;
    }
    t->nrows = (u32)(n / t->ncols) - 1;
    return SIM_OK;
fail:
    if (rc == SIM_EIO || rc == SIM_ELIMIT || rc == SIM_ENOMEM)
        fprintf(stderr, "tlbsim: report: %s: cannot read%s\n", path,
                rc == SIM_ELIMIT ? " (too large)" : "");
    table_free(t);
    return rc;
}

static int tcol(const struct table *t, const char *name)
{
    for (u32 c = 0; c < t->ncols; c++)
        if (!strcmp(t->cell[c], name))
            return (int)c;
    return -1;
}

static const char *tcell(const struct table *t, u32 row, int col)
{
    return col < 0 ? "" : t->cell[(size_t)(row + 1) * t->ncols + (u32)col];
}

/* The cell as a number; NAN when the column is absent or the cell is not one. */
static double tnum(const struct table *t, u32 row, const char *name)
{
    const char *s = tcell(t, row, tcol(t, name));
    char *end;
    double v;

    if (!*s)
        return NAN;
    v = strtod(s, &end);
    return *end ? NAN : v;
}

/* ==== numbers as text ============================================================ */

/* 1234567 -> "1,234,567"; NAN -> "n/a".  Returns buf. */
static const char *fmt_int(double v, char *buf, size_t len)
{
    char tmp[48];
    size_t n, o = 0;

    if (isnan(v))
        return snprintf(buf, len, "n/a"), buf;
    snprintf(tmp, sizeof(tmp), "%.0f", fabs(v));
    n = strlen(tmp);
    if (v < 0 && o + 1 < len)
        buf[o++] = '-';
    for (size_t i = 0; i < n && o + 2 < len; i++) {
        buf[o++] = tmp[i];
        if ((n - i - 1) % 3 == 0 && i + 1 < n)
            buf[o++] = ',';
    }
    buf[o] = 0;
    return buf;
}

/* Relative change: ", -3.5%" inside parentheses (in_paren) or " (+12%)";
 * "" when equal or undefined. */
static const char *fmt_change(double v, double base, bool in_paren, char *buf, size_t len)
{
    double pct;

    buf[0] = 0;
    if (isnan(v) || isnan(base) || base == 0 || v == base)
        return buf;
    pct = 100.0 * (v - base) / base;
    if (in_paren)
        snprintf(buf, len, fabs(pct) < 10 ? ", %+.1f%%" : ", %+.0f%%", pct);
    else
        snprintf(buf, len, fabs(pct) < 10 ? " (%+.1f%%)" : " (%+.0f%%)", pct);
    return buf;
}

/* ==== the report ================================================================== */

struct report {
    const char *dir;                    /* OUTDIR */
    const char *title;                  /* --title, or NULL */
    const char *plots;                  /* --plots DIR (default OUTDIR/plots) */
    const char *output;                 /* --output FILE (default OUTDIR/report.md) */
    const char *baseline;               /* --baseline, or NULL: linux, else row 0 */
    struct table sum;                   /* summary.csv */
    struct table fl;                    /* flushes.csv (ncols 0 when absent) */
    struct table tl;                    /* timeline.csv (ncols 0 when absent) */
    u32 base;                           /* baseline row of sum */
    FILE *f;                            /* the report being written */
};

#define S(row, name) tnum(&r->sum, (row), (name))

static const char *policy_of(const struct report *r, u32 row)
{
    return tcell(&r->sum, row, tcol(&r->sum, "policy"));
}

/* (handler_cycles + spin_cycles) / cpus. */
static double lost_per_cpu(const struct report *r, u32 row)
{
    double cpus = S(row, "cpus");
    return cpus > 0 ? (S(row, "handler_cycles") + S(row, "spin_cycles")) / cpus : NAN;
}

static double l1d_miss_pct(const struct report *r, u32 row)
{
    double m = S(row, "l1d_misses"), h = S(row, "l1d_hits");
    return m + h > 0 ? 100.0 * m / (m + h) : NAN;
}

/* Initiators blocked in a synchronous hypercall or TLBSYNC, per CPU: not in
 * spin_cycles, so estimated as shootdowns x mean latency / cpus (0 otherwise). */
static double blocked_per_cpu(const struct report *r, u32 row)
{
    double cpus = S(row, "cpus");

    if (cpus <= 0 || S(row, "spin_cycles") > 0 ||
        !(S(row, "hypercalls") > 0 || S(row, "broadcasts") > 0))
        return 0;
    return S(row, "shootdowns") * S(row, "shootdown_cycles_mean") / cpus;
}

static void title(struct report *r)
{
    const char *trace = tcell(&r->sum, 0, tcol(&r->sum, "trace"));
    const char *mach = tcell(&r->sum, 0, tcol(&r->sum, "machine"));
    char cpus[32], mhz[32], seed[32];

    if (r->title)
        fprintf(r->f, "# %s\n\n", r->title);
    else
        fprintf(r->f, "# TLB flush policies on `%s`\n\n", *trace ? trace : "?");
    fprintf(r->f, "Trace `%s` on the `%s` machine model (%s CPUs at %s MHz, seed %s), "
            "%u polic%s, baseline `%s`.  Generated by `tlbsim report` from `%s/summary.csv`%s.  "
            "Times are core cycles of the model",
            trace, mach, fmt_int(S(0, "cpus"), cpus, sizeof(cpus)),
            fmt_int(S(0, "freq_mhz"), mhz, sizeof(mhz)), fmt_int(S(0, "seed"), seed, sizeof(seed)),
            r->sum.nrows, r->sum.nrows == 1 ? "y" : "ies", policy_of(r, r->base), r->dir,
            r->fl.ncols ? " and `flushes.csv`" : "");
    if (S(0, "freq_mhz") > 0)
        fprintf(r->f, " (1 µs = %s cycles)", fmt_int(S(0, "freq_mhz"), mhz, sizeof(mhz)));
    fputs(".\n\n", r->f);
}

static void key_table(struct report *r)
{
    char a[9][48];

    fputs("## Key counters\n\n"
          "| policy | run time (Mcycles) | IPIs sent | lazy CPUs skipped | shootdowns "
          "| shootdown p50 (cycles) | shootdown p99 (cycles) | cycles lost per CPU "
          "| L1 DTLB miss rate | page walks | stale accesses |\n"
          "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n", r->f);
    for (u32 i = 0; i < r->sum.nrows; i++) {
        fprintf(r->f, "| `%s` | %.2f | %s | %s | %s | %s | %s | %s | %.2f%% | %s | %s |\n",
                policy_of(r, i), S(i, "cycles") / 1e6,
                fmt_int(S(i, "ipis_sent"), a[0], 48), fmt_int(S(i, "ipis_skipped_lazy"), a[1], 48),
                fmt_int(S(i, "shootdowns"), a[2], 48),
                fmt_int(S(i, "shootdown_cycles_p50"), a[3], 48),
                fmt_int(S(i, "shootdown_cycles_p99"), a[4], 48),
                fmt_int(lost_per_cpu(r, i), a[5], 48), l1d_miss_pct(r, i),
                fmt_int(S(i, "walks"), a[6], 48), fmt_int(S(i, "stale_accesses"), a[7], 48));
    }
    fputs("\n*Cycles lost per CPU* = (`handler_cycles` + `spin_cycles`) / `cpus`: time in "
          "flush IPI handlers plus initiators' time waiting for acknowledgements, averaged "
          "over CPUs.  Shootdown latency is measured at the initiator from the request until "
          "every target has acknowledged, over requests that sent work to another CPU.  "
          "Column meanings: `docs/output.md`.", r->f);
    u32 n = 0;
    for (u32 i = 0; i < r->sum.nrows; i++)
        if (blocked_per_cpu(r, i) > 0)
            fprintf(r->f, "%s`%s`", n++ ? ", " : "  Not counted there: the time initiators of ",
                    policy_of(r, i));
    if (n)
        fputs(" spend blocked in a flush hypercall or TLBSYNC (estimated in their "
              "paragraphs below).", r->f);
    fputs("\n\n", r->f);
}

static const char *const mech_cols[] = {
    "icr_writes", "hypercalls", "broadcasts", "deferred_invalidations", "batched_pages",
    "pv_skipped_preempted", "ipis_skipped_other", "local_flush_full", "local_flush_pages",
    "task_switch_flushes", "handler_cycles", "spin_cycles", "racy_accesses",
};

static void mech_table(struct report *r)
{
    char a[48];

    fputs("## Mechanism counters\n\nThe counters that explain the differences above "
          "(all from `summary.csv`).\n\n| policy |", r->f);
    for (size_t c = 0; c < ARRAY_SIZE(mech_cols); c++)
        fprintf(r->f, " `%s` |", mech_cols[c]);
    fputs("\n|---|", r->f);
    for (size_t c = 0; c < ARRAY_SIZE(mech_cols); c++)
        fputs("--:|", r->f);
    fputc('\n', r->f);
    for (u32 i = 0; i < r->sum.nrows; i++) {
        fprintf(r->f, "| `%s` |", policy_of(r, i));
        for (size_t c = 0; c < ARRAY_SIZE(mech_cols); c++)
            fprintf(r->f, " %s |", fmt_int(S(i, mech_cols[c]), a, sizeof(a)));
        fputc('\n', r->f);
    }
    fputc('\n', r->f);
}

/* ==== one paragraph per policy ==================================================== */

/* Counters compared to decide that two runs behaved identically. */
static const char *const same_cols[] = {
    "cycles", "ipis_sent", "ipis_skipped_lazy", "shootdowns", "shootdown_cycles_p50",
    "shootdown_cycles_p99", "local_flush_full", "local_flush_pages", "walks",
    "stale_accesses", "handler_cycles", "spin_cycles",
};

static bool same_run(const struct report *r, u32 a, u32 b)
{
    for (size_t c = 0; c < ARRAY_SIZE(same_cols); c++)
        if (S(a, same_cols[c]) != S(b, same_cols[c]))
            return false;
    return true;
}

/* Flush requests of the baseline run whose cause is `cause` (NAN: no flushes.csv). */
static double flushes_with_cause(const struct report *r, const char *cause)
{
    int pc = tcol(&r->fl, "policy"), cc = tcol(&r->fl, "cause");
    const char *base = policy_of(r, r->base);
    double n = 0;

    if (!r->fl.ncols || pc < 0 || cc < 0)
        return NAN;
    for (u32 i = 0; i < r->fl.nrows; i++)
        if (!strcmp(tcell(&r->fl, i, pc), base) && !strcmp(tcell(&r->fl, i, cc), cause))
            n++;
    return n;
}

/* Why a policy may behave exactly like the baseline on this trace. */
static void why_identical(struct report *r, u32 i)
{
    const struct flush_policy *p = flush_policy_find(policy_of(r, i));
    double mig = flushes_with_cause(r, "migrate");
    char a[48];

    if (p && p->batch)
        fprintf(r->f, "  Batching applies to page migrations, and `batched_pages` is 0: the "
                "trace has %s `migrate` flush requests.", isnan(mig) ? "no" : fmt_int(mig, a, 48));
    else if (p && p->transport == XPORT_PV_KVM)
        fputs("  It differs only when a target vCPU is preempted, and `pv_skipped_preempted` "
              "is 0 (the trace has no `vcpu_preempt`).", r->f);
    else if (p && p->free_after == FREE_AT_ONCE)
        fputs("  It frees pages before remote CPUs invalidate, but no CPU touched a freed "
              "page in that window on this trace (`stale_accesses` 0).", r->f);
}

/* How the policy's target choice differs from the baseline's, by the kernel rules
 * of models/policy.h.  Returns false when the rules are the same. */
static bool mask_rules(struct report *r, const struct flush_policy *p, const struct flush_policy *bp)
{
    bool said = false;

    if (!p || !bp)
        return false;
    if (!p->lazy_skip && bp->lazy_skip) {
        fputs("; it sends IPIs to lazy CPUs too (no `should_flush_tlb` lazy skip)", r->f);
        said = true;
    }
    if (!p->lazy_cpumask && bp->lazy_cpumask) {
        fputs("; CPUs leave `mm_cpumask` when they switch away (and lazy CPUs when an IPI "
              "sends them to `init_mm`), so its masks hold fewer CPUs", r->f);
        said = true;
    }
    if (p->lazy_cpumask && !bp->lazy_cpumask) {
        fputs("; CPUs stay in `mm_cpumask` after switching away until a trim IPI", r->f);
        said = true;
    }
    return said;
}

/* "4 `mm_exit`, 2 `unmap`": causes of policy's requests that used IPIs
 * (flushes.csv rows with icr_writes > 0); "" without flushes.csv. */
static void ipi_causes(const struct report *r, u32 row, char *buf, size_t len)
{
    int pc = tcol(&r->fl, "policy"), cc = tcol(&r->fl, "cause"), ic = tcol(&r->fl, "icr_writes");
    const char *pol = policy_of(r, row), *causes[16];
    double count[16];
    size_t used = 0;
    u32 nc = 0, k;

    buf[0] = 0;
    if (!r->fl.ncols || pc < 0 || cc < 0 || ic < 0)
        return;
    for (u32 i = 0; i < r->fl.nrows; i++) {
        const char *c = tcell(&r->fl, i, cc);
        if (strcmp(tcell(&r->fl, i, pc), pol) || !strcmp(tcell(&r->fl, i, ic), "0"))
            continue;
        for (k = 0; k < nc && strcmp(causes[k], c); k++)
            ;
        if (k == nc && nc < ARRAY_SIZE(causes)) {
            causes[nc] = c;
            count[nc++] = 0;
        }
        if (k < nc)
            count[k]++;
    }
    for (k = 0; k < nc && used < len; k++) {
        char a[48];
        int n = snprintf(buf + used, len - used, "%s%s `%s`", k ? ", " : "",
                         fmt_int(count[k], a, sizeof(a)), causes[k]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* What carries the flushes instead of IPIs; false when nothing does. */
static bool say_mechanism(struct report *r, u32 i)
{
    double ipis = S(i, "ipis_sent");
    char a[48], causes[256];

    if (S(i, "broadcasts") > 0)
        fprintf(r->f, ": remote TLBs are invalidated by %s hardware broadcasts "
                "(INVLPGB + TLBSYNC)", fmt_int(S(i, "broadcasts"), a, 48));
    else if (S(i, "hypercalls") > 0 && ipis > 0) {
        /* pv-kvm: the IPIs still go, by KVM_HC_SEND_IPI, minus preempted vCPUs. */
        fprintf(r->f, ": its IPIs go by %s PV send-IPI hypercalls instead of ICR writes, "
                "and %s preempted vCPUs were left out (they flush when they next run)",
                fmt_int(S(i, "hypercalls"), a, 48),
                fmt_int(S(i, "pv_skipped_preempted"), causes, sizeof(causes)));
        return true;
    }
    else if (S(i, "hypercalls") > 0) {
        fprintf(r->f, ": the hypervisor flushes the other vCPUs, on %s flush hypercalls",
                fmt_int(S(i, "hypercalls"), a, 48));
        if (S(i, "hypercalls") != S(i, "shootdowns"))
            fprintf(r->f, " (for %s requests with remote targets)",
                    fmt_int(S(i, "shootdowns"), a, 48));
    }
    else if (S(i, "deferred_invalidations") > 0)
        fprintf(r->f, ": remote CPUs invalidate on their own at their next tick or switch "
                "(%s deferred invalidations)", fmt_int(S(i, "deferred_invalidations"), a, 48));
    else
        return false;
    ipi_causes(r, i, causes, sizeof(causes));
    if (ipis > 0 && causes[0])
        fprintf(r->f, "; its %s IPIs serve the requests that cannot wait (%s)",
                fmt_int(ipis, a, 48), causes);
    return true;
}

static void say_ipis(struct report *r, u32 i)
{
    u32 b = r->base;
    const char *bn = policy_of(r, b);
    double ipis = S(i, "ipis_sent"), bi = S(b, "ipis_sent");
    double lazy = S(i, "ipis_skipped_lazy"), bl = S(b, "ipis_skipped_lazy");
    double oth = S(i, "ipis_skipped_other"), bo = S(b, "ipis_skipped_other");
    char a[4][48];

    if (ipis == bi)
        fprintf(r->f, "It sends the same %s IPIs", fmt_int(ipis, a[0], 48));
    else
        fprintf(r->f, "It sends %s IPIs (%s: %s%s)", fmt_int(ipis, a[0], 48), bn,
                fmt_int(bi, a[1], 48), fmt_change(ipis, bi, true, a[2], 48));
    if (!say_mechanism(r, i) && ipis != bi && (lazy != bl || oth != bo)) {
        fprintf(r->f, "; it leaves out %s lazy CPUs and %s CPUs running another mm "
                "(%s: %s and %s)", fmt_int(lazy, a[0], 48), fmt_int(oth, a[1], 48), bn,
                fmt_int(bl, a[2], 48), fmt_int(bo, a[3], 48));
        if (!mask_rules(r, flush_policy_find(policy_of(r, i)), flush_policy_find(bn)))
            fprintf(r->f, "; its target rules are %s's, so this comes from timing: requests "
                    "find other CPUs lazy, idle or running another mm", bn);
    }
    if (S(i, "pv_skipped_preempted") > 0)
        fprintf(r->f, "; %s preempted vCPUs were skipped and flush on VM entry",
                fmt_int(S(i, "pv_skipped_preempted"), a[0], 48));
    if (S(i, "batched_pages") > 0)
        fprintf(r->f, "; %s pages were flushed in batches",
                fmt_int(S(i, "batched_pages"), a[0], 48));
    fputs(". ", r->f);
}

/* Why the latency moved, from counters and the policy's rules. */
static void latency_reason(struct report *r, u32 i)
{
    const struct flush_policy *p = flush_policy_find(policy_of(r, i));
    const struct flush_policy *bp = flush_policy_find(policy_of(r, r->base));
    double p50 = S(i, "shootdown_cycles_p50"), p99 = S(i, "shootdown_cycles_p99");
    double sd = S(i, "shootdowns"), bsd = S(r->base, "shootdowns");
    double tg = sd > 0 ? S(i, "ipis_sent") / sd : 0, btg = bsd > 0 ? S(r->base, "ipis_sent") / bsd : 0;

    if (p50 == p99 && S(i, "shootdown_cycles_max") == p99) {
        fputs(": every shootdown costs the same, whatever the number of targets", r->f);
        return;
    }
    if (S(i, "deferred_invalidations") > 0) {
        fputs(": a request completes only when the last remote CPU has invalidated at its "
              "tick (`policy.deferred.tick_cycles`); the initiator does not wait for it", r->f);
        return;
    }
    if (tg > 0 && btg > 0 && fabs(tg - btg) / btg > 0.05)
        fprintf(r->f, "; a shootdown reaches %.2f CPUs on average (%s: %.2f)", tg,
                policy_of(r, r->base), btg);
    if (p && bp && !p->concurrent_local && bp->concurrent_local)
        fputs("; the initiator flushes its own TLB before sending the IPIs, not while they "
              "are in flight", r->f);
    if (p && p->early_ack)
        fputs("; targets acknowledge on entry to the handler, before flushing", r->f);
}

static void say_latency(struct report *r, u32 i)
{
    u32 b = r->base;
    double p50 = S(i, "shootdown_cycles_p50"), p99 = S(i, "shootdown_cycles_p99");
    double bp50 = S(b, "shootdown_cycles_p50"), bp99 = S(b, "shootdown_cycles_p99");
    char a[4][48];

    if (S(i, "shootdowns") == 0) {
        fputs("No flush sent work to another CPU, so there is no shootdown latency. ", r->f);
        return;
    }
    if (p50 == bp50 && p99 == bp99) {
        fprintf(r->f, "Shootdown latency is unchanged (p50 %s, p99 %s cycles). ",
                fmt_int(p50, a[0], 48), fmt_int(p99, a[1], 48));
        return;
    }
    fprintf(r->f, "Shootdown p50 %s from %s to %s cycles and p99 %s from %s to %s",
            p50 < bp50 ? "falls" : p50 > bp50 ? "rises" : "stays", fmt_int(bp50, a[0], 48),
            fmt_int(p50, a[1], 48), p99 < bp99 ? "falls" : p99 > bp99 ? "rises" : "stays",
            fmt_int(bp99, a[2], 48), fmt_int(p99, a[3], 48));
    latency_reason(r, i);
    fputs(". ", r->f);
}

static void say_cost(struct report *r, u32 i)
{
    u32 b = r->base;
    const char *bn = policy_of(r, b);
    double lost = lost_per_cpu(r, i), bl = lost_per_cpu(r, b), blk = blocked_per_cpu(r, i);
    double cyc = S(i, "cycles"), bc = S(b, "cycles");
    double walks = S(i, "walks"), bw = S(b, "walks");
    char a[5][48];

    fprintf(r->f, "Cycles lost per CPU to flush handlers and waiting: %s (%s: %s%s), of which "
            "%s in handlers", fmt_int(lost, a[0], 48), bn, fmt_int(bl, a[1], 48),
            fmt_change(lost, bl, true, a[2], 48),
            fmt_int(S(i, "cpus") > 0 ? S(i, "handler_cycles") / S(i, "cpus") : NAN, a[3], 48));
    if (blk > 0)
        fprintf(r->f, "; but its initiators wait %s instead, about %s cycles per CPU "
                "(shootdowns x mean latency / CPUs), which `spin_cycles` does not count",
                S(i, "hypercalls") > 0 ? "inside the flush hypercall" : "for TLBSYNC",
                fmt_int(blk, a[0], 48));
    fprintf(r->f, ". Run time %.2f Mcycles%s. ", cyc / 1e6, fmt_change(cyc, bc, false, a[4], 48));
    if (!isnan(bw) && bw > 0 && fabs(walks - bw) / bw > 0.005)
        fprintf(r->f, "It makes %s page walks (%s: %s) after %s full flushes (%s: %s). ",
                fmt_int(walks, a[0], 48), bn, fmt_int(bw, a[1], 48),
                fmt_int(S(i, "local_flush_full"), a[2], 48), bn,
                fmt_int(S(b, "local_flush_full"), a[3], 48));
}

static void say_safety(struct report *r, u32 i)
{
    char a[48];

    if (S(i, "stale_accesses") > 0)
        fprintf(r->f, "**Unsafe:** %s references hit a TLB entry whose translation had "
                "already been freed or flushed everywhere else (`stale_accesses`). ",
                fmt_int(S(i, "stale_accesses"), a, 48));
    if (S(i, "racy_accesses") > S(r->base, "racy_accesses"))
        fprintf(r->f, "%s references used a changed translation while its flush was in "
                "flight (`racy_accesses`; legal while the frame is not yet freed). ",
                fmt_int(S(i, "racy_accesses"), a, 48));
}

static void explain_body(struct report *r, u32 i)
{
    const struct flush_policy *p = flush_policy_find(policy_of(r, i));

    fprintf(r->f, "- **`%s`**", policy_of(r, i));
    if (p)
        fprintf(r->f, " (%s)", p->desc);
    fputs(".  ", r->f);
    if (i == r->base) {
        fputs("The baseline.\n", r->f);
        return;
    }
    for (u32 j = 0; j < i; j++)
        if (same_run(r, i, j)) {
            fprintf(r->f, "Every key counter equals `%s`'s on this trace.", policy_of(r, j));
            why_identical(r, i);
            fputc('\n', r->f);
            return;
        }
    say_ipis(r, i);
    say_latency(r, i);
    say_cost(r, i);
    say_safety(r, i);
    fputc('\n', r->f);
}

/* One bullet per policy; the say_* pieces end in a space, trimmed here. */
static void explain(struct report *r, u32 i)
{
    FILE *out = r->f;
    char *buf = NULL;
    size_t len = 0;

    if (!(r->f = open_memstream(&buf, &len))) {
        r->f = out;
        explain_body(r, i);
        return;
    }
    explain_body(r, i);
    fclose(r->f);
    r->f = out;
    while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\n'))
        len--;
    fwrite(buf, 1, len, out);
    fputc('\n', out);
    free(buf);
}

/* ==== flush requests, marks, figures ============================================== */

static void flush_section(struct report *r)
{
    int pc = tcol(&r->fl, "policy"), cc = tcol(&r->fl, "cause");
    int tc = tcol(&r->fl, "freed_tables"), fc = tcol(&r->fl, "full");
    const char *base = policy_of(r, r->base), *causes[16];
    double count[16], n = 0, freed = 0, full = 0;
    u32 nc = 0;
    char a[48];

    if (!r->fl.ncols || pc < 0 || cc < 0)
        return;
    for (u32 i = 0; i < r->fl.nrows; i++) {
        const char *c = tcell(&r->fl, i, cc);
        u32 k;
        if (strcmp(tcell(&r->fl, i, pc), base))
            continue;
        n++;
        freed += !strcmp(tcell(&r->fl, i, tc), "1");
        full += !strcmp(tcell(&r->fl, i, fc), "1");
        for (k = 0; k < nc && strcmp(causes[k], c); k++)
            ;
        if (k == nc && nc < ARRAY_SIZE(causes)) {
            causes[nc] = c;
            count[nc++] = 0;
        }
        if (k < nc)
            count[k]++;
    }
    fprintf(r->f, "## Flush requests\n\nIn the `%s` run the trace makes %s flush requests (",
            base, fmt_int(n, a, sizeof(a)));
    for (u32 k = 0; k < nc; k++)
        fprintf(r->f, "%s%s `%s`", k ? ", " : "", fmt_int(count[k], a, sizeof(a)), causes[k]);
    fprintf(r->f, "); %s freed page tables (so lazy CPUs cannot be skipped) and ",
            fmt_int(freed, a, sizeof(a)));
    fprintf(r->f, "%s were flushed whole.  Every policy sees the same requests; they differ "
            "in who is told, how, and when the work is done.\n\n", fmt_int(full, a, sizeof(a)));
}

static void marks_section(struct report *r)
{
    int pc = tcol(&r->tl, "policy"), kc = tcol(&r->tl, "kind"), lc = tcol(&r->tl, "label");
    int tc = tcol(&r->tl, "t_start");
    double mhz = S(r->base, "freq_mhz");
    bool any = false;
    char a[48];

    if (!r->tl.ncols || pc < 0 || kc < 0 || lc < 0 || tc < 0)
        return;
    for (u32 i = 0; i < r->tl.nrows; i++) {
        if (strcmp(tcell(&r->tl, i, kc), "mark") || strcmp(tcell(&r->tl, i, pc),
                                                           policy_of(r, r->base)))
            continue;
        if (!any)
            fprintf(r->f, "## Trace marks\n\nMarks of the `%s` run (`timeline.csv`; each "
                    "policy reaches them at its own time):\n\n", policy_of(r, r->base));
        any = true;
        double t = tnum(&r->tl, i, "t_start");
        fprintf(r->f, "- `%s` at cycle %s", tcell(&r->tl, i, lc), fmt_int(t, a, sizeof(a)));
        if (mhz > 0)
            fprintf(r->f, " (%.3f ms)", t / mhz / 1000.0);
        fputc('\n', r->f);
    }
    if (any)
        fputc('\n', r->f);
}

/* The path of `to` relative to directory `from` (both absolute, canonical). */
static void rel_path(const char *from, const char *to, char *buf, size_t len)
{
    size_t i = 0, common = 0, used = 0;

    for (; from[i] && from[i] == to[i]; i++)
        if (from[i] == '/')
            common = i;
    if (!from[i] && (to[i] == '/' || !to[i]))
        common = i;                     /* from is a prefix directory of to */
    buf[0] = 0;
    for (const char *p = from + common; *p; p++)
        if (*p == '/' && used + 4 < len) {
            memcpy(buf + used, "../", 4);
            used += 3;
        }
    snprintf(buf + used, len - used, "%s", to[common] == '/' ? to + common + 1 : to + common);
    if (!buf[0])
        snprintf(buf, len, ".");
}

static const struct { const char *file, *caption; } figures[] = {
    { "policies_ipis", "TLB-flush IPIs sent per policy, and the lazy CPUs they skipped" },
    { "policies_latency", "Shootdown latency p50 and p99 per policy (cycles, log scale)" },
    { "policies_cycles_lost", "Cycles lost per CPU: flush IPI handlers and initiator spinning" },
    { "latency_cdf", "Shootdown latency CDF per policy (flushes with remote targets)" },
    { "timeline_miss_rate", "L1 TLB miss rate over time, with the trace's marks" },
};

static void figures_section(struct report *r, const char *out_dir_abs)
{
    char plots_abs[REPORT_PATH], rel[REPORT_PATH], p[REPORT_PATH + 64];
    struct stat st;
    bool any = false;

    if (!realpath(r->plots, plots_abs)) {
        fprintf(r->f, "## Figures\n\nNo figures in `%s`: run `make plots PLOT_IN=%s "
                "PLOT_OUT=%s` (needs gnuplot), then `tlbsim report` again.\n\n", r->plots,
                r->dir, r->plots);
        return;
    }
    rel_path(out_dir_abs, plots_abs, rel, sizeof(rel));
    for (size_t i = 0; i < ARRAY_SIZE(figures); i++) {
        snprintf(p, sizeof(p), "%s/%s.png", plots_abs, figures[i].file);
        if (stat(p, &st))
            continue;
        if (!any)
            fputs("## Figures\n\n", r->f);
        any = true;
        fprintf(r->f, "![%s](%s/%s.png)\n\n*%s.*", figures[i].caption, rel, figures[i].file,
                figures[i].caption);
        snprintf(p, sizeof(p), "%s/%s.svg", plots_abs, figures[i].file);
        if (!stat(p, &st))
            fprintf(r->f, " [SVG](%s/%s.svg)", rel, figures[i].file);
        fputs("\n\n", r->f);
    }
    if (!any)
        fprintf(r->f, "## Figures\n\nNo figures in `%s`: run `make plots PLOT_IN=%s "
                "PLOT_OUT=%s` (needs gnuplot).\n\n", r->plots, r->dir, r->plots);
}

static void write_body(struct report *r, const char *out_dir_abs)
{
    title(r);
    key_table(r);
    fprintf(r->f, "## How each policy differs from `%s`\n\n", policy_of(r, r->base));
    for (u32 i = 0; i < r->sum.nrows; i++)
        explain(r, i);
    fputc('\n', r->f);
    mech_table(r);
    flush_section(r);
    figures_section(r, out_dir_abs);
    marks_section(r);
}

/* ==== command line ================================================================ */

static void usage(FILE *f)
{
    fputs("usage: tlbsim report OUTDIR [--title T] [--plots DIR] [--output FILE]\n"
          "                     [--baseline POLICY]\n"
          "\n"
          "Write a Markdown report of one comparison run (`tlbsim run TRACE --policy all\n"
          "--out OUTDIR`): key counters per policy, a paragraph per policy explaining\n"
          "by its counters how it differs from the baseline, the mechanism counters,\n"
          "the flush requests, and the figures of `make plots`.\n"
          "\n"
          "  -t, --title T         report title (default: from the trace name)\n"
          "  -p, --plots DIR       figures to link (default: OUTDIR/plots)\n"
          "  -o, --output FILE     the report (default: OUTDIR/report.md)\n"
          "  -b, --baseline POLICY the policy others are compared to (default: linux\n"
          "                        when present, else the first row)\n"
          "  -h, --help            this text\n"
          "\n"
          "Reads OUTDIR/summary.csv (required), flushes.csv and timeline.csv.\n"
          "Workflow: docs/compare.md.\n", f);
}

static int parse_args(struct report *r, int argc, char **argv)
{
    static const struct option lopts[] = {
        { "title", required_argument, 0, 't' }, { "plots", required_argument, 0, 'p' },
        { "output", required_argument, 0, 'o' }, { "baseline", required_argument, 0, 'b' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    int c;

    optind = 1;
    opterr = 0;                         /* our own one-line messages */
    while ((c = getopt_long(argc, argv, "t:p:o:b:h", lopts, NULL)) != -1) {
        switch (c) {
        case 't': r->title = optarg; break;
        case 'p': r->plots = optarg; break;
        case 'o': r->output = optarg; break;
        case 'b': r->baseline = optarg; break;
        case 'h': usage(stdout); return -1;
        default:
            fprintf(stderr, "tlbsim: report: bad option '%s' (see `tlbsim report --help`)\n",
                    argv[optind - 1]);
            return EXIT_BADINPUT;
        }
    }
    if (optind != argc - 1) {
        cli_error(optind >= argc ? "report: missing OUTDIR (see `tlbsim report --help`)"
                                 : "report: exactly one OUTDIR expected");
        return EXIT_BADINPUT;
    }
    r->dir = argv[optind];
    return 0;
}

static int load_inputs(struct report *r)
{
    char p[REPORT_PATH];
    int rc;

    snprintf(p, sizeof(p), "%s/summary.csv", r->dir);
    if ((rc = table_load(p, &r->sum)) == SIM_ENOENT) {
        fprintf(stderr, "tlbsim: report: %s: not found (run `tlbsim run TRACE --policy all "
                "--out %s` first)\n", p, r->dir);
        return EXIT_BADINPUT;
    }
    if (rc)
        return cli_exit_code(rc);
    if (tcol(&r->sum, "policy") < 0 || tcol(&r->sum, "cpus") < 0 || !r->sum.nrows) {
        fprintf(stderr, "tlbsim: report: %s: not a tlbsim summary.csv (no policy rows)\n", p);
        return EXIT_BADINPUT;
    }
    snprintf(p, sizeof(p), "%s/flushes.csv", r->dir);
    if ((rc = table_load(p, &r->fl)) && rc != SIM_ENOENT)
        return cli_exit_code(rc);
    snprintf(p, sizeof(p), "%s/timeline.csv", r->dir);
    if ((rc = table_load(p, &r->tl)) && rc != SIM_ENOENT)
        return cli_exit_code(rc);
    return 0;
}

static int pick_baseline(struct report *r)
{
    const char *want = r->baseline ? r->baseline : "linux";

    for (u32 i = 0; i < r->sum.nrows; i++)
        if (!strcmp(policy_of(r, i), want)) {
            r->base = i;
            return 0;
        }
    if (r->baseline) {
        fprintf(stderr, "tlbsim: report: --baseline: no policy '%s' in %s/summary.csv\n",
                r->baseline, r->dir);
        return EXIT_BADINPUT;
    }
    r->base = 0;
    return 0;
}

/* Write the report atomically (csv_open's temporary name + rename). */
static int write_report(struct report *r)
{
    char dir[REPORT_PATH], dir_abs[REPORT_PATH], *slash;
    const char *name = "report.md";
    struct csv_file cf;
    struct sim_err err = { 0 };
    int rc;

    if (r->output) {
        snprintf(dir, sizeof(dir), "%s", r->output);
        if ((slash = strrchr(dir, '/'))) {
            *slash = 0;
            name = r->output + (slash - dir) + 1;
            if (!dir[0])
                snprintf(dir, sizeof(dir), "/");
        } else {
            snprintf(dir, sizeof(dir), ".");
            name = r->output;
        }
    } else {
        snprintf(dir, sizeof(dir), "%s", r->dir);
    }
    if (!*name || !realpath(dir, dir_abs)) {
        fprintf(stderr, "tlbsim: report: %s: cannot write there\n", r->output ? r->output : dir);
        return EXIT_BADINPUT;
    }
    if ((rc = csv_open(&cf, dir, name, &err))) {
        cli_error(err.msg);
        return EXIT_BADINPUT;
    }
    r->f = cf.f;
    write_body(r, dir_abs);
    if ((rc = csv_commit(&cf, &err))) {
        cli_error(err.msg);
        return cli_exit_code(rc);
    }
    printf("wrote %s/%s\n", dir, name);
    return 0;
}

int cmd_report(int argc, char **argv)
{
    struct report r = { 0 };
    char plots[REPORT_PATH];
    int rc;

    if ((rc = parse_args(&r, argc, argv)))
        return rc < 0 ? EXIT_OK : rc;
    if (!r.plots) {
        snprintf(plots, sizeof(plots), "%s/plots", r.dir);
        r.plots = plots;
    }
    if (!(rc = load_inputs(&r)) && !(rc = pick_baseline(&r)))
        rc = write_report(&r);
    table_free(&r.sum);
    table_free(&r.fl);
    table_free(&r.tl);
    return rc;
}
