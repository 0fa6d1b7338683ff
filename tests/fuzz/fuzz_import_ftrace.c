/* tests/fuzz/fuzz_import_ftrace.c - `tlbsim import ftrace` (trace-cmd report,
 * raw tracefs text, perf script).  See fuzz_import.h. */
#include "fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_import("ftrace", data, size);
}
