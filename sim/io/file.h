/* sim/io/file.h - whole small input files (model files, workload specs). */
#ifndef TLBSIM_FILE_H
#define TLBSIM_FILE_H

#include <stddef.h>

#include "../../models/base.h"

/* Read PATH whole into a NUL-terminated malloc'd buffer (*out, *len; the
 * caller frees it).  `what` names the kind of file for messages ("a model
 * file").  SIM_EIO: cannot open, a directory, read error; big_code (with
 * "larger than MAX bytes; not WHAT"): more than max bytes; SIM_ENOMEM. */
int file_read_all(const char *path, size_t max, const char *what, int big_code,
                  char **out, size_t *len, struct sim_err *err);

#endif
