/* sim/cli/calib.h - replay measured cases and fit timing keys to them.
 *
 * A case (sim/io/meas.h) is one timed system call; its trace repeats the
 * call a few times.  Its simulated cost is the mean, over the trace's flush
 * requests caused by that call (zap, unmap or protect), of call-to-done
 * time (flush_rec.t_call to t_done), in ns at the machine's freq_mhz: the
 * kernel's work in the call (kernel.* keys: per call and per present PTE,
 * by system call), the local flush, and every target's acknowledgement or
 * the hypercall.
 *
 * The simulator is piecewise linear in the cost keys, so the fit is
 * Gauss-Newton on relative residuals (sim - meas) / meas with a forward-
 * difference Jacobian, bounds from the key table (machine_keys), and
 * rank detection: columns are taken in calib_keys[] order and a key whose
 * column is zero, or a combination of earlier keys' columns, is
 * undetermined and keeps the base value.  Deterministic: no randomness,
 * cases in file order.
 */
#ifndef TLBSIM_CALIB_H
#define TLBSIM_CALIB_H

#include "../../models/machine.h"
#include "../../models/policy.h"
#include "../io/meas.h"
#include "../io/trace.h"

/* The fittable keys, in priority order (ONE table: sim/cli/calib.c). */
struct calib_key {
    const char *key;                    /* machine key (machine_keys) */
    const char *what;                   /* what it stands for */
};
extern const struct calib_key calib_keys[];
extern const size_t calib_nr_keys;

enum calib_state {
    CK_FITTED,                          /* moved by the fit */
    CK_AT_BOUND,                        /* the fit pushed it to its range limit */
    CK_INSENSITIVE,                     /* no case depends on it */
    CK_COLLINEAR,                       /* moves the cases as earlier keys do */
};

struct calib_result {
    enum calib_state state[64];         /* per calib_keys[] entry */
    u32 collinear_with[64];             /* earlier calib_keys[] index, for CK_COLLINEAR */
    double base[64], value[64];         /* key values before and after */
    double fit_rms, held_rms;           /* relative RMS residual per set */
    u32 nr_fit, nr_held;                /* in each RMS (excluded cases are not) */
    u32 iterations;                     /* Gauss-Newton steps taken */
};

struct calib_case {
    const struct meas_case *mc;
    u32 index;                          /* in the measurement file's cases[] */
    char path[512];                     /* the case's trace, written once */
    bool fit;                           /* in the fit set (else held out) */
    bool excluded;                      /* too noisy: in neither set's fit or RMS */
    double spread;                      /* (p90 - p10) / median over its repeats */
};

struct calib {
    struct machine base;
    const struct flush_policy *pol;
    struct calib_case *cases;           /* the measured (not skipped) cases */
    u32 nr;
    u32 nr_excluded;
    double max_spread;                  /* exclusion rule: spread above this */
    char dir[256];                      /* temporary directory of the traces */
    const char *meas_path;              /* for messages */
};

/* The default exclusion rule: a case whose repeats' p10..p90 spans more
 * than half its median (wider than the +-25% band held-out cases are held
 * to) cannot be held to any target and stays out of the fit and the RMS. */
#define CALIB_MAX_SPREAD 0.5

/* Write every measured case's trace into a fresh temporary directory and
 * split the cases: the k-th measured case is held out when k % 3 == 0
 * (at least a third); a case whose spread is above max_spread (<= 0: no
 * exclusion) is excluded from either set's fit and RMS, whichever set it
 * is in.  Errors name the case and its trace line. */
int  calib_open(struct calib *c, const struct meas *m, const char *meas_path,
                const struct machine *base, const struct flush_policy *pol,
                double max_spread, struct sim_err *err);
/* (p90 - p10) / median of a measured case. */
double calib_spread(const struct meas_case *mc);
void calib_close(struct calib *c);      /* removes the directory */

/* Simulated ns per call of case i on machine m (cpus taken from the case). */
int  calib_simulate(const struct calib *c, const struct machine *m, u32 i, double *ns,
                    struct sim_err *err);

/* Fit the keys on the fit set, starting from c->base; *out gets the fitted
 * machine.  SIM_EINVAL when there is nothing to fit on. */
int  calib_fit(const struct calib *c, struct machine *out, struct calib_result *res,
               struct sim_err *err);

/* The machine with value v for calib_keys[k] (rounded, clamped to range). */
void calib_set(struct machine *m, size_t k, double v);
double calib_get(const struct machine *m, size_t k);

#endif
