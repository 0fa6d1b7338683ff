/* sim/io/model_load.h - machine model files (models/NAME.json) and --set.
 *
 * A model file is one JSON object whose nesting spells the dotted keys of
 * machine_keys[] (models/machine.h):
 *
 *     { "name": "skylake-sp", "cpus": 8,
 *       "tlb": { "l1d": { "4k": { "entries": 64, "ways": 4,
 *                                 "source": "Intel 248966-045 Table 2-15" } } } }
 *
 * sets "name", "cpus", "tlb.l1d.4k.entries" and "tlb.l1d.4k.ways".  A member
 * name may itself contain dots ("tlb": {"l1d.4k.entries": 64}); the path is
 * the same.  Loading starts from machine_init() defaults, so a file names only
 * what it changes, and ends with machine_validate().  A file without "name"
 * is named after itself ("models/zen3.json" -> "zen3").
 *
 * Values: numeric keys take JSON integers (0 .. 2^53, no fraction, no sign)
 * or a hex string "0x..."; boolean keys take true/false; "name",
 * "tlb.replacement" and "apic.mode" take strings.  Anything else is an error.
 *
 * Documentation members, skipped at every level: "source", "note", and any
 * name starting with '_'.  Their value must be a string or an array of
 * strings.  Every other unknown member is an error, as are duplicate members
 * and a key set twice through two spellings.
 *
 * Errors: SIM_E* codes; err->msg is one line "FILE:LINE: KEY: what is wrong"
 * (LINE is exact: it is recovered by re-scanning the text for the n-th member
 * name, which cJSON does not record).
 */
#ifndef TLBSIM_MODEL_LOAD_H
#define TLBSIM_MODEL_LOAD_H

#include <stdio.h>

#include "../../models/machine.h"

#define MODEL_MAX_BYTES   (1u << 20)    /* a model file is at most 1 MiB */
#define MODEL_MAX_DEPTH   8             /* JSON nesting: objects and arrays ("tlb.l1d.4k" is 3) */
#define MODEL_MAX_MEMBERS 1024          /* members of one object */
#define MODEL_MAX_PATH    256           /* bytes of a dotted key, with its NUL */
#define MODEL_DEFAULT     "skylake-sp"  /* models/skylake-sp.json */
#define MODEL_ENV         "TLBSIM_MODELS"   /* directory holding the models */

/* Read PATH into *m: machine_init(m), apply every key, machine_validate().
 * On error *m holds a partial model and must not be used.
 * Returns SIM_OK, or SIM_EIO (cannot read, directory, too big),
 * SIM_EPARSE (not JSON, not an object, too deep, duplicate member),
 * SIM_ELIMIT (more than MODEL_MAX_MEMBERS members in one object),
 * SIM_EINVAL (unknown key, wrong type, bad value, failed validation),
 * SIM_ERANGE (value out of range) or SIM_ENOMEM. */
int model_load(const char *path, struct machine *m, struct sim_err *err);

/* As model_load; seen[] (machine_nr_keys flags, may be NULL) is cleared and
 * then marks the keys the file sets (used by the tests to check that shipped
 * models source every hardware figure). */
int model_load_seen(const char *path, struct machine *m, bool *seen,
                    struct sim_err *err);

/* Apply one "--set KEY=VALUE" (VALUE as machine_set() reads it: "32",
 * "0x20", "true", "lru", "x2apic-phys").  Does not validate, because one
 * --set may break an invariant the next one restores (entries, then ways):
 * call machine_validate() after the last override.
 * SIM_EINVAL for a missing '=', an empty or unknown key, or a bad value. */
int model_set_override(struct machine *m, const char *kv, struct sim_err *err);

/* Locate a model file.  NAME is either a path that exists (copied as is) or
 * a bare model name ("zen3" or "zen3.json") looked up in, in order:
 *   1. $TLBSIM_MODELS (a directory)
 *   2. DIR/../models and DIR/models, DIR = the executable's directory
 *      (/proc/self/exe), so build/tlbsim finds the repository's models/
 *   3. DIR/../share/tlbsim/models (an installed layout)
 *   4. ./models and ../models (repository root, or tests/ as cwd)
 *   5. TLBSIM_MODELS_DIR, if compiled in (-DTLBSIM_MODELS_DIR='"/abs/models"')
 * Writes the path into buf (len bytes).  SIM_ENOENT naming NAME when no
 * candidate is a regular file (also when buf is too small for a candidate);
 * SIM_ERANGE when NAME is an existing path of len bytes or more. */
int model_find(const char *name, char *buf, size_t len, struct sim_err *err);

/* model_find(MODEL_DEFAULT, ...): the model --machine defaults to. */
int model_find_default(char *buf, size_t len, struct sim_err *err);

/* For --help-keys: one line per key, "KEY  VALUE  DOC [range]", with m's
 * current values (pass a machine_init()ed model for the defaults). */
void model_print_keys(FILE *f, const struct machine *m);

/* The machine of a run: model NAME or path (NULL: the default), then the
 * --set overrides in order, then machine_validate().  Unless one of the
 * overrides sets `cpus`, the machine gets trace_cpus CPUs (sockets capped
 * to match): a trace replays on as many CPUs as it was made for. */
int model_load_for_run(const char *machine, const char *const *sets, u32 nr_sets,
                       u32 trace_cpus, struct machine *m, struct sim_err *err);

#endif
