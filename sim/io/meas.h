/* sim/io/meas.h - measurement files (`tlbsim probe` output) and calibrated
 * machine files (`tlbsim calibrate` output).
 *
 * A measurement file is one JSON object (docs/validation.md shows one):
 *
 *   { "format": "tlbsim-measurements", "version": 1, "date": "...",
 *     "environment": { "kind": "kvm", ... },
 *     "cases": [ { "name": "madvise-1p-spin1", "op": "madvise", "pages": 1,
 *                  "siblings": "spin", "threads": 1, "status": "ok",
 *                  "ns_per_call": { "median": 812.5, "p10": 790, "p90": 840,
 *                                   "per_repeat": [ 790, 812.5, 845 ] },
 *                  "trace": [ "{\"format\":\"tlbsim-trace\",...}", ... ] },
 *                { "name": "...", "status": "skipped", "reason": "..." } ] }
 *
 * Each case measured one system call (madvise(MADV_DONTNEED), munmap or
 * mprotect of `pages` 4K pages) on CPU 0 with `threads` sibling threads of
 * the same process on CPUs 1..threads, spinning (mm loaded) or sleeping
 * (lazy TLB); "trace" is the equivalent tlbsim trace, one JSON Lines line
 * per element, that `tlbsim validate` replays.
 *
 * The loader checks every member it uses and rejects unknown members of a
 * case (a typo must not silently drop data): errors are SIM_E* codes with
 * err->msg = "FILE: FIELD: what is wrong" (FIELD like cases[3].pages).
 * This file and meas_json.c are the only measurement code that sees cJSON.
 */
#ifndef TLBSIM_MEAS_H
#define TLBSIM_MEAS_H

#include "../../models/base.h"
#include "../../models/machine.h"

#define MEAS_FORMAT        "tlbsim-measurements"
#define MEAS_MAX_BYTES     (64u << 20)  /* a measurement file is at most 64 MiB */
#define MEAS_MAX_CASES     4096
#define MEAS_MAX_LINES     4096         /* trace lines per case */
#define MEAS_MAX_PAGES     4096         /* pages per call */
#define MEAS_MAX_THREADS   (MACHINE_MAX_CPUS - 1)       /* siblings */
#define MEAS_NAME_MAX      64
#define MEAS_TEXT_MAX      256

enum meas_op { MEAS_MADVISE, MEAS_MUNMAP, MEAS_MPROTECT, MEAS_NR_OPS };
enum meas_sib { MEAS_SIB_NONE, MEAS_SIB_SPIN, MEAS_SIB_SLEEP, MEAS_NR_SIBS };

/* tlb:tlb_flush reasons, in the kernel's enum order (TLB_FLUSH_ON_TASK_SWITCH...). */
#define MEAS_NR_REASONS 5
extern const char *const meas_reason_names[MEAS_NR_REASONS];
extern const char *const meas_op_names[MEAS_NR_OPS];    /* "madvise", "munmap", "mprotect" */
extern const char *const meas_sib_names[MEAS_NR_SIBS];  /* "none", "spin", "sleep" */

/* What the probe found about the machine.  Strings are "" when unknown. */
struct meas_env {
    char kind[32];                      /* bare-metal | kvm | hyper-v | other-hypervisor | unknown */
    char hv_signature[16];              /* CPUID 0x40000000 vendor string */
    char hv_kernel[64];                 /* "Hypervisor detected: X" from the kernel log */
    bool kvm_pv_tlb_flush;              /* KVM_FEATURE_PV_TLB_FLUSH (bit 9) */
    bool kvm_pv_send_ipi;               /* KVM_FEATURE_PV_SEND_IPI (bit 11) */
    bool hv_remote_flush;               /* Hyper-V: HvFlushVirtualAddressSpace recommended */
    bool pcid, invpcid, invlpgb;        /* CPUID */
    char cpu_model[MEAS_TEXT_MAX];      /* /proc/cpuinfo "model name" */
    double cpu_mhz;                     /* /proc/cpuinfo "cpu MHz"; 0 when unknown */
    char kernel[MEAS_TEXT_MAX];         /* uname -r */
    u32 cpus_online;
    u32 cpus_allowed;                   /* in the probe's affinity mask */
    bool interrupts;                    /* /proc/interrupts has TLB and CAL rows */
    bool tracefs;                       /* tlb:tlb_flush events could be recorded */
    bool flush_without_ipis;            /* spinning siblings, yet the TLB row stayed 0 */
    char tracefs_reason[MEAS_TEXT_MAX]; /* why not, when !tracefs */
    double timer_ns;                    /* cost of one clock_gettime pair, included in ns */
    double load_start, load_end;        /* 1-minute load average before and after; -1 unknown */
    char policy[32];                    /* flush policy that fits the environment */
};

struct meas_case {
    char name[MEAS_NAME_MAX];           /* op-Np-SIBk, unique in the file */
    enum meas_op op;
    u32 pages;                          /* 4K pages per call */
    enum meas_sib sib;
    u32 threads;                        /* sibling threads (0 with MEAS_SIB_NONE) */
    bool skipped;
    char reason[MEAS_TEXT_MAX];         /* why skipped */
    u32 repeats, iterations;            /* calls = repeats * iterations */
    double ns_median, ns_p10, ns_p90;   /* ns per call over the repeats */
    double *rep_ns;                     /* each repeat's median call, in the order
                                           measured (owned); NULL when not recorded */
    u32 nr_rep;                         /* repeats, or 0 */
    bool have_irqs;
    double tlb_per_call, cal_per_call;  /* /proc/interrupts deltas, all CPUs */
    bool have_events;                   /* tlb:tlb_flush counted */
    bool events_complete;               /* no events lost (ring buffer overrun) */
    double events_per_call[MEAS_NR_REASONS];
    char events_reason[MEAS_TEXT_MAX];  /* why not counted */
    char **trace;                       /* nr_trace JSON Lines lines (owned) */
    u32 nr_trace;
};

struct meas {
    char date[32];                      /* ISO 8601 UTC */
    bool quick;
    u32 rounds;                         /* passes over the case list (1: one case at a time) */
    struct meas_env env;
    struct meas_case *cases;            /* owned */
    u32 nr_cases;
};

/* Read PATH.  SIM_EIO (unreadable, too big), SIM_EPARSE (not JSON, wrong
 * format name or type, unknown member), SIM_EINVAL/SIM_ERANGE (bad value),
 * SIM_ELIMIT (too many cases or lines), SIM_ENOMEM.  On error *m is empty. */
int  meas_load(const char *path, struct meas *m, struct sim_err *err);
/* Write PATH whole or not at all (PATH.tmp, then rename). */
int  meas_write(const char *path, const struct meas *m, struct sim_err *err);
void meas_free(struct meas *m);         /* frees cases and traces; keeps *m reusable */

/* The trace that reproduces case c's pattern: `iterations` calls on CPU 0
 * of a fresh mm with c->threads siblings on CPUs 1.., as JSON Lines lines
 * into c->trace (replacing what was there).  SIM_ENOMEM or SIM_EINVAL. */
int  meas_case_trace(struct meas_case *c, u32 iterations, struct sim_err *err);
/* Fill name from op, pages, sib and threads. */
void meas_case_name(struct meas_case *c);
int  meas_case_add(struct meas *m, const struct meas_case *c, struct sim_err *err);
void meas_case_free(struct meas_case *c);       /* its trace and rep_ns; c stays reusable */

/* Sort n values ascending; the q-quantile (0..1) of n >= 1 sorted values,
 * interpolated linearly between the order statistics (how the probe's
 * median, p10 and p90 are defined). */
void   meas_sort(double *v, u32 n);
double meas_quantile(const double *sorted, u32 n, double q);

/* Pool n runs of the probe on the same machine into *out: the cases of
 * runs[0] measured (not skipped) in every run, each with the values of all
 * runs as its repeats -- a run's per_repeat values, or its p10, median and
 * p90 when it has none -- and median, p10 and p90 over those, so that a
 * case whose runs disagree shows it in its spread.  Environment, date and
 * traces from runs[0]; a case skipped or missing in some run is skipped,
 * with the reason.  SIM_ENOMEM. */
int  meas_pool(const struct meas *runs, u32 n, struct meas *out, struct sim_err *err);

/* ---- calibrated machine files ------------------------------------------ */

/* One line of a written model's "source" array per key it names. */
struct meas_model_note {
    const char *key;                    /* machine key */
    char text[600];
};

/* Write machine m as a model file that model_load reads back: every key of
 * machine_keys as a flat dotted member, "source" lines (one per note), and
 * "_calibration", an array of "KEY: value" strings: base, policy,
 * measurements, date, fit_rms, held_out_rms, then one "undetermined: KEY",
 * "fit: CASE", "held_out: CASE" or "excluded: CASE: why" line each.  Whole
 * or not at all. */
struct meas_calib_info {
    const char *base;                   /* base model name or path */
    const char *policy;                 /* flush policy the fit ran under */
    const char *meas_path;
    const char *date;
    const char *const *fit;             /* case names used in the fit */
    u32 nr_fit;
    const char *const *held;            /* held-out case names */
    u32 nr_held;
    const char *const *excluded;        /* "CASE: why", cases left out as too noisy */
    u32 nr_excluded;
    const char *const *undetermined;    /* keys kept at the base value */
    u32 nr_undetermined;
    const struct meas_model_note *notes;
    u32 nr_notes;
    double fit_rms, held_rms;           /* relative RMS residuals */
};
int meas_write_model(const char *path, const struct machine *m,
                     const struct meas_calib_info *ci, struct sim_err *err);
/* The "fit: CASE" names of model file PATH's "_calibration" into *names
 * (malloc'd array of malloc'd strings; free with meas_names_free), and its
 * "policy: P" into policy ("" when absent).  *nr = 0 when the file
 * has no "_calibration".  Errors as meas_load. */
int  meas_model_calibration(const char *path, char ***names, u32 *nr, char *policy,
                            size_t policy_len, struct sim_err *err);
void meas_names_free(char **names, u32 nr);

#endif
