/* sim/io/wl_spec.h - workload spec files (JSON) -> workloads/ generators.
 *
 * A spec is one JSON object:
 *
 *   {"workload":"tlb_flush2", "mode":"threads", "cpus":4,
 *    "iterations":1000, "seed":1, "wss":"1M", "page":"4k", "gap":500}
 *
 * "workload" is required; every other key is optional and defaults per
 * workload (docs/workloads.md lists them).  Sizes are integers (bytes) or
 * strings with a K/M/G/T suffix ("128M"); "page" is "4k", "2m" or "1g";
 * integers may also be hex strings ("0x10").  An unknown key, a key the
 * workload does not read, a duplicate key or a wrong type is an error.
 */
#ifndef TLBSIM_WL_SPEC_H
#define TLBSIM_WL_SPEC_H

#include "../../models/base.h"
#include "../../workloads/wl.h"

#define WL_SPEC_MAX_BYTES (1u << 20)    /* a spec file is small */

/* Parse spec_path into *d and *p (p gets the workload's defaults first).
 * SIM_EIO (unreadable), SIM_EPARSE (bad JSON, unknown key or workload, wrong
 * type) or SIM_EINVAL (a value out of range), with err->msg naming the file
 * and the key: "SPEC: KEY: what". */
int wl_spec_load(const char *spec_path, const struct wl_desc **d,
                 struct wl_params *p, struct sim_err *err);

/* Check p, then write d's trace to out_path (JSON Lines, temporary file +
 * rename).  SIM_EINVAL for bad parameters ("KEY: what"), SIM_EIO for write
 * errors; out_path is left untouched on any error. */
int wl_generate(const struct wl_desc *d, const struct wl_params *p,
                const char *out_path, struct sim_err *err);

/* wl_spec_load, then wl_generate into out_path (temporary file + rename:
 * out_path is never left half written).  Errors as above, or SIM_EIO for
 * the output. */
int wl_spec_generate(const char *spec_path, const char *out_path,
                     struct sim_err *err);

#endif
