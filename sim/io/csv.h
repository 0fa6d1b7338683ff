/* sim/io/csv.h - RFC 4180 output files written whole or not at all.
 *
 * csv_open() creates DIR/NAME.tmp.PID; csv_commit() flushes, closes and
 * renames it to DIR/NAME; csv_abort() removes it.  A reader therefore
 * never sees half a file, and an interrupted run leaves the previous
 * outputs as they were.
 */
#ifndef TLBSIM_CSV_H
#define TLBSIM_CSV_H

#include <stdio.h>

#include "../../models/base.h"

struct csv_file {
    FILE *f;
    char tmp[4096];
    char final[4096];
};

int  csv_open(struct csv_file *c, const char *dir, const char *name, struct sim_err *err);
int  csv_commit(struct csv_file *c, struct sim_err *err);
void csv_abort(struct csv_file *c);
/* Write a text cell, quoted only when it holds a comma, quote or newline. */
void csv_str(FILE *f, const char *s);
/* mkdir -p DIR; SIM_EIO with a message. */
int  csv_mkdir(const char *dir, struct sim_err *err);

#endif
