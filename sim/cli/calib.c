/* sim/cli/calib.c - replay measured cases; fit timing keys (calib.h). */
#include "calib.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../engine/sim.h"

/* The fittable keys, in the order the rank test takes them: when two keys
 * move the cases alike (e.g. every cost on the IPI round trip adds to the
 * latency the same way), the earlier one is fitted and the later one kept. */
const struct calib_key calib_keys[] = {
    { "kernel.zap_call_cycles", "madvise(DONTNEED) per call: entry, VMA lookup, mmu_gather" },
    { "kernel.zap_pte_cycles", "madvise(DONTNEED) per present PTE: zap_pte_range, page freed" },
    { "kernel.unmap_call_cycles", "munmap per call: entry, VMA split/removal, free_pgtables" },
    { "kernel.unmap_pte_cycles", "munmap per present PTE: zap_pte_range, page freed" },
    { "kernel.mprotect_call_cycles", "mprotect per call: entry, VMA split/merge" },
    { "kernel.mprotect_pte_cycles", "mprotect per present PTE: change_pte_range" },
    { "cost.flush_request_cycles", "flush_tlb_mm_range bookkeeping (per flush request)" },
    { "cost.invlpg_cycles", "one INVLPG (per page, up to the flush ceiling)" },
    { "virt.invlpg_sync_cycles", "host work per INVLPG whose page table is still attached "
                                 "(shadow paging)" },
    { "cost.cr3_flush_cycles", "a full flush (CR3 write), past the ceiling" },
    { "virt.hypercall_cycles", "flush or send-IPI hypercall round trip" },
    { "ipi.delivery_cycles", "IPI delivery to a running target (same socket)" },
    { "virt.hv_flush_page_cycles", "host work per page of a hypercall flush" },
    { "virt.vmexit_cycles", "VM exit per trapped ICR write" },
    { "apic.icr_write_cycles", "IPI send: one ICR write" },
    { "ipi.irq_entry_cycles", "interrupt entry on the target" },
    { "ipi.handler_cycles", "flush_tlb_func bookkeeping on the target" },
    { "ipi.irq_exit_cycles", "interrupt exit and EOI on the target" },
    { "ipi.ack_cycles", "acknowledgement seen by the initiator (per target)" },
    { "smp.csd_lock_cycles", "csd_lock and filling one target's csd (per target)" },
    { "smp.llist_add_cycles", "llist_add onto one target's call_single_queue (per target)" },
    { "smp.cond_cycles", "should_flush_tlb (or the PV preempted test) per CPU examined" },
    { "smp.csd_read_cycles", "target drains call_single_queue and reads its csd" },
    { "smp.info_line_cycles", "target reads the shared flush_tlb_info line" },
    { "smp.info_share_cycles", "flush_tlb_info line contention, per reader" },
    { "smp.cross_socket_line_cycles", "extra per cache line moved between sockets" },
    { "ipi.irq_entry_spread_cycles", "mean seeded extra interrupt-entry latency (slowest of N grows)" },
    { "ipi.cross_socket_cycles", "IPI delivery to another socket" },
    { "idle.c1_exit_cycles", "wake-up of an idle (lazy) target" },
};
const size_t calib_nr_keys = ARRAY_SIZE(calib_keys);

_Static_assert(ARRAY_SIZE(calib_keys) <= 64, "calib_result arrays hold 64 keys");

#define JAC_MIN_STEP 50.0               /* cycles: finite-difference step floor */
#define JAC_REL_STEP 0.05               /* and 5% of the value */
#define RANK_TOL     1e-6               /* |column left after projection| / |column| */
#define GN_MAX_ITER  25
#define SPREAD_FLOOR 0.05               /* a case's relative uncertainty, at least */

/* ==== keys =============================================================== */

static const struct machine_key *mkey(size_t k)
{
    return machine_key_find(calib_keys[k].key);
}

double calib_get(const struct machine *m, size_t k)
{
    return (double)*(const u32 *)((const char *)m + mkey(k)->offset);
}

void calib_set(struct machine *m, size_t k, double v)
{
    const struct machine_key *mk = mkey(k);
    double r = floor(v + 0.5);

    if (r < (double)mk->min)
        r = (double)mk->min;
    if (r > (double)mk->max)
        r = (double)mk->max;
    *(u32 *)((char *)m + mk->offset) = (u32)r;
}

/* ==== cases ============================================================== */

static const char *cause_of(enum meas_op op)
{
    return op == MEAS_MADVISE ? "zap" : op == MEAS_MUNMAP ? "unmap" : "protect";
}

/* "PATH:LINE: rest" from the trace reader -> "MEAS: cases[i].trace[LINE-1]: rest". */
static int trace_error(const struct calib *c, u32 i, int rc, struct sim_err *err)
{
    const char *p = err->msg, *rest;
    size_t plen = strlen(c->cases[i].path);
    unsigned long line = 0;
    char msg[SIM_ERR_MSG];

    if (!strncmp(p, c->cases[i].path, plen) && p[plen] == ':') {
        line = strtoul(p + plen + 1, (char **)&rest, 10);
        if (rest[0] == ':' && rest[1] == ' ')
            p = rest + 2;
    }
    snprintf(msg, sizeof(msg), "%s", p);
    if (line)
        return sim_err_set(err, rc, "%s: cases[%u].trace[%lu]: %s", c->meas_path,
                           c->cases[i].index, line - 1, msg);
    return sim_err_set(err, rc, "%s: case %s: %s", c->meas_path, c->cases[i].mc->name, msg);
}

static int write_trace(const char *path, const struct meas_case *mc, struct sim_err *err)
{
    FILE *f = fopen(path, "w");
    int ok = f != NULL;

    for (u32 j = 0; ok && j < mc->nr_trace; j++)
        ok = fputs(mc->trace[j], f) >= 0 && fputc('\n', f) != EOF;
    if (f)
        ok = (fclose(f) == 0) && ok;
    return ok ? SIM_OK : sim_err_set(err, SIM_EIO, "%s: cannot write: %s", path, strerror(errno));
}

void calib_close(struct calib *c)
{
    for (u32 i = 0; i < c->nr; i++)
        remove(c->cases[i].path);
    if (c->dir[0])
        rmdir(c->dir);
    free(c->cases);
    c->cases = NULL;
    c->nr = 0;
    c->dir[0] = 0;
}

double calib_spread(const struct meas_case *mc)
{
    return (mc->ns_p90 - mc->ns_p10) / mc->ns_median;
}

int calib_open(struct calib *c, const struct meas *m, const char *meas_path,
               const struct machine *base, const struct flush_policy *pol,
               double max_spread, struct sim_err *err)
{
    const char *tmp = getenv("TMPDIR");
    int rc = SIM_OK;

    memset(c, 0, sizeof(*c));
    c->base = *base;
    c->pol = pol;
    c->meas_path = meas_path;
    c->max_spread = max_spread;
    for (size_t k = 0; k < calib_nr_keys; k++)
        if (!mkey(k) || mkey(k)->type != MK_U32)
            return sim_err_set(err, SIM_EINTERNAL, "calib_keys: %s is not a cycle key",
                               calib_keys[k].key);
    snprintf(c->dir, sizeof(c->dir), "%s/tlbsim-calib-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(c->dir)) {
        c->dir[0] = 0;
        return sim_err_set(err, SIM_EIO, "cannot make a temporary directory: %s", strerror(errno));
    }
    if (m->nr_cases && !(c->cases = calloc(m->nr_cases, sizeof(*c->cases))))
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
    for (u32 i = 0; !rc && i < m->nr_cases; i++) {
        struct calib_case *cc = &c->cases[c->nr];
        if (m->cases[i].skipped)
            continue;
        cc->mc = &m->cases[i];
        cc->index = i;
        cc->fit = c->nr % 3 != 0;
        cc->spread = calib_spread(cc->mc);
        cc->excluded = max_spread > 0 && cc->spread > max_spread;
        c->nr_excluded += cc->excluded;
        snprintf(cc->path, sizeof(cc->path), "%s/case-%u.jsonl", c->dir, i);
        c->nr++;
        rc = write_trace(cc->path, cc->mc, err);
    }
    if (rc)
        calib_close(c);
    return rc;
}

struct lat_acc {
    const char *cause;
    double sum;
    u64 n;
};

static void on_flush(void *arg, const struct flush_rec *r)
{
    struct lat_acc *a = arg;

    if (!strcmp(r->cause, a->cause)) {
        a->sum += (double)(r->t_done - r->t_call);
        a->n++;
    }
}

int calib_simulate(const struct calib *c, const struct machine *m, u32 i, double *ns,
                   struct sim_err *err)
{
    const struct calib_case *cc = &c->cases[i];
    struct lat_acc acc = { .cause = cause_of(cc->mc->op) };
    struct machine mm = *m;
    struct trace_reader *r;
    struct trace_header hdr;
    struct sim *s;
    int rc;

    if ((rc = trace_open(cc->path, &r, &hdr, err)))
        return trace_error(c, i, rc, err);
    mm.cpus = hdr.cpus;
    if (mm.sockets > mm.cpus || mm.cpus % mm.sockets)
        mm.sockets = 1;
    if ((rc = machine_validate(&mm, err))) {
        trace_close(r);
        return rc;
    }
    struct sim_config cfg = {
        .m = &mm, .pol = c->pol, .src = trace_src(r), .hdr = &hdr, .trace_path = cc->path,
        .hooks = { .arg = &acc, .flush = on_flush },
    };
    if ((rc = sim_create(&cfg, &s, err)))
        return trace_error(c, i, rc, err);
    rc = sim_run(s, CYCLES_NEVER, err);
    sim_destroy(s);
    if (rc)
        return trace_error(c, i, rc, err);
    if (!acc.n)
        return sim_err_set(err, SIM_EINVAL, "%s: case %s: its trace made no %s flush request "
                           "under policy %s", c->meas_path, cc->mc->name, acc.cause, c->pol->name);
    *ns = acc.sum / (double)acc.n * 1000.0 / mm.freq_mhz;
    return SIM_OK;
}

/* ==== the fit ============================================================ */

struct fit {
    const struct calib *c;
    u32 *idx;                           /* fit-set case indices */
    u32 n;
    double *J;                          /* [key][case] */
};

/* A case's uncertainty, relative to its median: half its p10-p90 spread
 * over the repeats, at least SPREAD_FLOOR (repeats agree more closely than
 * runs minutes apart do).  A case whose repeats disagree (a host that
 * switched modes during it) weighs less in the fit. */
static double case_sigma(const struct meas_case *mc)
{
    double s = calib_spread(mc) / 2;

    return s > SPREAD_FLOOR ? s : SPREAD_FLOOR;
}

/* Weighted relative residuals of the fit set on m, ((sim - meas) / meas)
 * / case_sigma; *cost = their sum of squares. */
static int residuals(const struct fit *f, const struct machine *m, double *r, double *cost,
                     struct sim_err *err)
{
    double s = 0, ns;
    int rc;

    for (u32 j = 0; j < f->n; j++) {
        const struct calib_case *cc = &f->c->cases[f->idx[j]];
        if ((rc = calib_simulate(f->c, m, f->idx[j], &ns, err)))
            return rc;
        r[j] = (ns - cc->mc->ns_median) / cc->mc->ns_median / case_sigma(cc->mc);
        s += r[j] * r[j];
    }
    *cost = s;
    return SIM_OK;
}

static int jacobian_col(const struct fit *f, const struct machine *m, size_t k,
                        const double *r, double *col, struct sim_err *err)
{
    const struct machine_key *mk = mkey(k);
    struct machine mh = *m;
    double x = calib_get(m, k), h = fmax(JAC_MIN_STEP, floor(x * JAC_REL_STEP)), cost;
    int rc;

    if (x + h > (double)mk->max)
        h = -h;                         /* backward at the upper bound */
    calib_set(&mh, k, x + h);
    h = calib_get(&mh, k) - x;
    if ((rc = residuals(f, &mh, col, &cost, err)))
        return rc;
    for (u32 j = 0; j < f->n; j++)
        col[j] = h ? (col[j] - r[j]) / h : 0;
    return SIM_OK;
}

static double dot(const double *a, const double *b, u32 n)
{
    double s = 0;

    for (u32 j = 0; j < n; j++)
        s += a[j] * b[j];
    return s;
}

/* Which keys the fit set determines: Gram-Schmidt over the columns in
 * table order.  Sets res->state for every key; returns the count. */
static u32 rank_keys(const struct fit *f, struct calib_result *res, bool *active)
{
    u32 n = f->n, na = 0, basis_key[64];
    double *q = malloc(sizeof(double) * n * (calib_nr_keys + 1));

    for (size_t k = 0; k < calib_nr_keys; k++) {
        const double *col = f->J + k * n;
        double *v = q + (size_t)na * n, norm = sqrt(dot(col, col, n)), best = 0;
        active[k] = false;
        if (!q || norm == 0) {
            res->state[k] = CK_INSENSITIVE;
            continue;
        }
        for (u32 j = 0; j < n; j++)
            v[j] = col[j] / norm;
        for (u32 b = 0; b < na; b++) {
            const double *u = q + (size_t)b * n;
            double p = dot(v, u, n);
            if (fabs(p) > best) {
                best = fabs(p);
                res->collinear_with[k] = basis_key[b];
            }
            for (u32 j = 0; j < n; j++)
                v[j] -= p * u[j];
        }
        double left = sqrt(dot(v, v, n));
        if (left < RANK_TOL) {
            res->state[k] = CK_COLLINEAR;
            continue;
        }
        for (u32 j = 0; j < n; j++)
            v[j] /= left;
        basis_key[na++] = (u32)k;
        active[k] = true;
        res->state[k] = CK_FITTED;
    }
    free(q);
    return na;
}

/* Least squares min |B d + rr| for the m x n matrix B (column-major,
 * destroyed) by Householder QR: the normal equations would square B's
 * condition number, and the per-call, per-page and flush keys are close to
 * collinear (they differ only in the cases past the flush ceiling).  A
 * column with nothing left after the earlier ones gets 0. */
static void lsq_qr(double *B, double *rr, u32 m, u32 n, double *d)
{
    double diag[64] = { 0 };

    for (u32 k = 0; k < n; k++) {
        double *a = B + (size_t)k * m, norm = sqrt(dot(a + k, a + k, m - k));
        if (norm == 0)
            continue;
        double alpha = a[k] > 0 ? -norm : norm;
        a[k] -= alpha;                  /* v = a - alpha e_k, kept in a[k..] */
        double vv = dot(a + k, a + k, m - k);
        for (u32 c = k + 1; c < n && vv > 0; c++) {
            double *b = B + (size_t)c * m, f = 2 * dot(a + k, b + k, m - k) / vv;
            for (u32 j = k; j < m; j++)
                b[j] -= f * a[j];
        }
        if (vv > 0) {
            double f = 2 * dot(a + k, rr + k, m - k) / vv;
            for (u32 j = k; j < m; j++)
                rr[j] -= f * a[j];
        }
        diag[k] = alpha;
    }
    for (u32 k = n; k-- > 0;) {
        double s = -rr[k];
        for (u32 c = k + 1; c < n; c++)
            s -= B[(size_t)c * m + k] * d[c];
        d[k] = fabs(diag[k]) < 1e-12 ? 0 : s / diag[k];
    }
}

/* One Gauss-Newton step for the free keys (columns scaled to unit norm);
 * keys that would leave their range are clamped and the rest re-solved. */
static void gn_step(const struct fit *f, const bool *active, const double *x,
                    const double *r, double *xn)
{
    u32 n = f->n, free_k[64], nf;
    bool fixed[64] = { false };
    /* Zeroed: valgrind memcheck reports the -O2 build reading unset parts of
     * these arrays (the -O0 build is clean); zeroing them once is cheap. */
    double d[64] = { 0 }, sc[64] = { 0 };
    double *rr = malloc(sizeof(double) * (n ? n : 1));
    double *B = malloc(sizeof(double) * (n ? n : 1) * calib_nr_keys);

    memcpy(xn, x, sizeof(double) * calib_nr_keys);
    if (!rr || !B) {
        free(rr);
        free(B);
        return;
    }
    for (int pass = 0; pass < 64; pass++) {
        memcpy(rr, r, sizeof(double) * n);
        nf = 0;
        for (size_t k = 0; k < calib_nr_keys; k++) {
            if (!active[k])
                continue;
            if (fixed[k]) {             /* its clamped move is part of the residual */
                for (u32 j = 0; j < n; j++)
                    rr[j] += f->J[k * n + j] * (xn[k] - x[k]);
            } else {
                free_k[nf++] = (u32)k;
            }
        }
        for (u32 a = 0; a < nf; a++) {
            const double *ca = f->J + (size_t)free_k[a] * n;
            sc[a] = 1.0 / sqrt(dot(ca, ca, n));
            for (u32 j = 0; j < n; j++)
                B[(size_t)a * n + j] = ca[j] * sc[a];
        }
        memset(d, 0, sizeof(d));
        if (nf <= n)
            lsq_qr(B, rr, n, nf, d);
        bool clamped = false;
        for (u32 a = 0; a < nf; a++) {
            const struct machine_key *mk = mkey(free_k[a]);
            double v = x[free_k[a]] + d[a] * sc[a];
            xn[free_k[a]] = v;
            if (v < (double)mk->min || v > (double)mk->max) {
                xn[free_k[a]] = v < (double)mk->min ? (double)mk->min : (double)mk->max;
                fixed[free_k[a]] = clamped = true;
            }
        }
        if (!clamped)
            break;
    }
    free(rr);
    free(B);
}

static void apply(struct machine *m, const double *x, const bool *active)
{
    for (size_t k = 0; k < calib_nr_keys; k++)
        if (active[k])
            calib_set(m, k, x[k]);
}

static int fit_loop(struct fit *f, struct machine *m, const bool *active, double *r,
                    struct calib_result *res, struct sim_err *err)
{
    double x[64], xn[64], cost, cost_n, *rn = malloc(sizeof(double) * f->n);
    int rc = rn ? residuals(f, m, r, &cost, err) : SIM_ENOMEM;

    for (size_t k = 0; k < calib_nr_keys; k++)
        x[k] = calib_get(m, k);
    for (u32 it = 0; !rc && it < GN_MAX_ITER; it++) {
        for (size_t k = 0; !rc && k < calib_nr_keys; k++)
            if (active[k] && it > 0)
                rc = jacobian_col(f, m, k, r, f->J + k * f->n, err);
        if (rc)
            break;
        gn_step(f, active, x, r, xn);
        /* Halve the step until the cost drops (the model is only piecewise linear). */
        bool better = false, moved = false;
        for (int half = 0; half < 8 && !better && !rc; half++) {
            struct machine mt = *m;
            apply(&mt, xn, active);
            moved = memcmp(&mt, m, sizeof(mt)) != 0;
            if (!moved)
                break;
            if ((rc = residuals(f, &mt, rn, &cost_n, err)))
                break;
            if (cost_n < cost) {
                better = true;
                *m = mt;
                cost = cost_n;
                memcpy(r, rn, sizeof(double) * f->n);
                for (size_t k = 0; k < calib_nr_keys; k++)
                    x[k] = calib_get(m, k);
            } else {
                for (size_t k = 0; k < calib_nr_keys; k++)
                    xn[k] = (x[k] + xn[k]) / 2;
            }
        }
        res->iterations = it + 1;
        if (!better)
            break;
    }
    free(rn);
    return rc ? rc : SIM_OK;
}

static double rms_of(const struct calib *c, const struct machine *m, bool fit, u32 *n,
                     int *rc, struct sim_err *err)
{
    double s = 0, ns;

    *n = 0;
    for (u32 i = 0; i < c->nr && !*rc; i++) {
        if (c->cases[i].fit != fit || c->cases[i].excluded)
            continue;
        if ((*rc = calib_simulate(c, m, i, &ns, err)))
            break;
        double e = (ns - c->cases[i].mc->ns_median) / c->cases[i].mc->ns_median;
        s += e * e;
        (*n)++;
    }
    return *n ? sqrt(s / *n) : 0;
}

int calib_fit(const struct calib *c, struct machine *out, struct calib_result *res,
              struct sim_err *err)
{
    struct fit f = { .c = c };
    bool active[64];
    double *r;
    int rc = SIM_OK;

    memset(res, 0, sizeof(*res));
    *out = c->base;
    for (size_t k = 0; k < calib_nr_keys; k++)
        res->base[k] = res->value[k] = calib_get(&c->base, k);
    f.idx = malloc(sizeof(u32) * (c->nr ? c->nr : 1));
    f.J = malloc(sizeof(double) * calib_nr_keys * (c->nr ? c->nr : 1));
    r = malloc(sizeof(double) * (c->nr ? c->nr : 1));
    if (!f.idx || !f.J || !r)
        rc = sim_err_set(err, SIM_ENOMEM, "out of memory");
    for (u32 i = 0; !rc && i < c->nr; i++)
        if (c->cases[i].fit && !c->cases[i].excluded)
            f.idx[f.n++] = i;
    if (!rc && f.n == 0)
        rc = sim_err_set(err, SIM_EINVAL, "%s: no measured case to fit on (all skipped%s?)",
                         c->meas_path, c->nr_excluded ? " or excluded as too noisy" : "");
    double cost;
    if (!rc)
        rc = residuals(&f, out, r, &cost, err);
    for (size_t k = 0; !rc && k < calib_nr_keys; k++)
        rc = jacobian_col(&f, out, k, r, f.J + k * f.n, err);
    if (!rc && rank_keys(&f, res, active))
        rc = fit_loop(&f, out, active, r, res, err);
    for (size_t k = 0; !rc && k < calib_nr_keys; k++) {
        const struct machine_key *mk = mkey(k);
        res->value[k] = calib_get(out, k);
        if (active[k] && (res->value[k] <= (double)mk->min || res->value[k] >= (double)mk->max))
            res->state[k] = CK_AT_BOUND;
    }
    if (!rc)
        res->fit_rms = rms_of(c, out, true, &res->nr_fit, &rc, err);
    if (!rc)
        res->held_rms = rms_of(c, out, false, &res->nr_held, &rc, err);
    free(f.idx);
    free(f.J);
    free(r);
    return rc;
}
