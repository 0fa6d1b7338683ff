/* tests/fuzz/fuzz_import_lackey.c - `tlbsim import lackey` (valgrind
 * --tool=lackey --trace-mem=yes output).  See fuzz_import.h. */
#include "fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_import("lackey", data, size);
}
