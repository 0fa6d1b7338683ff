/* tests/fuzz/fuzz_common.h - helpers shared by the libFuzzer harnesses.
 *
 * Every harness is one LLVMFuzzerTestOneInput() over one input parser.  The
 * parsers take paths, so an input is written to a per-process file under
 * /dev/shm (tmpfs: no disk traffic) first.  Besides "no crash, no leak, no
 * UB" (the sanitizers), the harnesses check oracles that catch a *silent*
 * mis-parse: whatever the reader accepted must survive a write in the other
 * format and read back identical, an importer's output must read back, and a
 * model that validates must run a small trace.  An oracle failure prints
 * what differed and abort()s, which libFuzzer reports as a crash.
 */
#ifndef TLBSIM_FUZZ_COMMON_H
#define TLBSIM_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "../../models/machine.h"
#include "../../sim/io/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "/dev/shm/tlbsim-fz-PID-TAG" (or $TMPDIR when /dev/shm is missing) into
 * buf; the file is rewritten on every call of fz_write. */
const char *fz_path(char *buf, size_t len, const char *tag);
/* Write data to path (abort on an I/O error: the environment is broken). */
void fz_write(const char *path, const uint8_t *data, size_t n);

/* Report an oracle failure on stderr and abort(). */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Read every op of path; write the ops accepted before the first error (at
 * most max_ops) to a trace of format `to`; read that back and compare op by
 * op and the header.  Aborts on a writer refusal (other than the JSONL
 * writer's documented SIM_ELIMIT for a huge access array) or a difference. */
void fz_roundtrip(const char *path, enum trace_fmt to, unsigned long max_ops);

/* Run a fixed two-CPU trace (map, switch, access, stream, unmap, protect,
 * flush, kflush, mm_exit) on m under every policy with the invariant
 * checkers on.  m must have passed machine_validate().  Aborts when the
 * engine reports an internal error (an invariant broke). */
void fz_run_small(const struct machine *m);

#endif
