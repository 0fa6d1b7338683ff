/* tests/fuzz/fuzz_import_champsim.c - `tlbsim import champsim` (ChampSim's
 * 64-byte input_instr records).  See fuzz_import.h. */
#include "fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fz_import("champsim", data, size);
}
