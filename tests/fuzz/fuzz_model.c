/* tests/fuzz/fuzz_model.c - the machine model loader (models/NAME.json).
 *
 * Input: the bytes of a model file.  A model that loads (and so passed
 * machine_validate) must then run a small trace under every policy without
 * an internal error: validation is the only gate between a model file and
 * the engine.
 */
#include "fuzz_common.h"

#include "../../sim/io/model_load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[256];
    static bool seen[1024];
    struct machine m;
    struct sim_err err = { 0 };
    int rc;

    if (!path[0])
        fz_path(path, sizeof(path), "model.json");
    fz_write(path, data, size);
    rc = model_load_seen(path, &m, machine_nr_keys <= 1024 ? seen : NULL, &err);
    if (rc) {
        if (!err.msg[0])
            fz_fail("model_load failed (rc %d) without a message", rc);
        return 0;
    }
    fz_run_small(&m);
    return 0;
}
