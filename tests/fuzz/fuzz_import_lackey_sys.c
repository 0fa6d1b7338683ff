/* tests/fuzz/fuzz_import_lackey_sys.c - `tlbsim import lackey` on logs with
 * valgrind's --trace-syscalls / --trace-sched lines (SYSCALL[PID,TID](NR),
 * SCHED[TID], async completions, results on their own line): the threaded
 * form of import_lackey_mt.c.  Its own seeds and dictionary keep the
 * fuzzer on those lines.  See fuzz_import.h. */
#include "fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_import("lackey", data, size);
}
