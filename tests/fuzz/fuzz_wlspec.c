/* tests/fuzz/fuzz_wlspec.c - workload spec files (`tlbsim gen SPEC.json`).
 *
 * Input: the bytes of a spec.  Only the parser runs (wl_spec_load): the
 * generator's output size is the spec's to choose.
 */
#include "fuzz_common.h"

#include "../../sim/io/wl_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[256];
    const struct wl_desc *d;
    struct wl_params p;
    struct sim_err err = { 0 };

    if (!path[0])
        fz_path(path, sizeof(path), "spec.json");
    fz_write(path, data, size);
    if (wl_spec_load(path, &d, &p, &err) && !err.msg[0])
        fz_fail("wl_spec_load failed without a message");
    return 0;
}
