/* sim/io/summary_json.h - summary.json: a run's configuration and counters.
 *
 * One JSON document per `tlbsim run --out DIR`, beside summary.csv:
 *
 *   { "format": "tlbsim-summary", "version": 1, "tlbsim": VERSION,
 *     "trace": PATH, "machine": NAME, "seed": N,
 *     "runs": [ { "policy": P, "seed": S,
 *                 "config": { every machine_keys[] key: its value },
 *                 "counters": { every summary.csv column: its cell } } ] }
 *
 * One run per summary.csv row (policy x --repeat).  The counters are not a
 * second list: they are summary.csv's column table (columns.h) and each
 * run's row, cell by cell (numeric cells as JSON numbers, written exactly as
 * in the CSV; text cells as strings), so the two files cannot disagree.
 * docs/output.md describes the fields.
 */
#ifndef TLBSIM_SUMMARY_JSON_H
#define TLBSIM_SUMMARY_JSON_H

#include <stdio.h>

#include "../../models/machine.h"
#include "columns.h"

struct summary_json_info {
    const char *version;                /* tlbsim version string */
    const char *trace;                  /* trace path as given ("-": stdin) */
    const struct machine *m;            /* the machine every policy ran on (repeat 0's seed) */
    u32 repeat;                         /* runs per policy: run i has sim.seed + i % repeat */
    const struct col *cols;             /* summary.csv's columns (summary_cols) */
    size_t nr_cols;
};

/* Write the document to f; rows[i] is run i's summary.csv row (RFC 4180, no
 * header; a trailing newline is ignored).  SIM_EPARSE when a row does not
 * have one cell per column, SIM_ENOMEM, or SIM_EIO for f. */
int summary_json_write(FILE *f, const struct summary_json_info *info,
                       const char *const *rows, u32 nr_rows, struct sim_err *err);

#endif
