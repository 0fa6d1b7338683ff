/* tests/fuzz/fuzz_meas.c - measurement files (`tlbsim calibrate|validate
 * MEAS.json`).
 *
 * Input: the bytes of a measurement file.  Oracle: a file meas_load accepts
 * is written back with meas_write and must load again with the same cases,
 * names, timings, per-repeat values, rounds and traces (what the writer
 * emits the reader must take).
 */
#include "fuzz_common.h"

#include <string.h>

#include "../../sim/io/meas.h"

static void same(const struct meas *a, const struct meas *b)
{
    if (a->nr_cases != b->nr_cases)
        fz_fail("roundtrip: %u cases became %u", a->nr_cases, b->nr_cases);
    if (a->rounds != b->rounds)
        fz_fail("roundtrip: rounds %u became %u", a->rounds, b->rounds);
    for (u32 i = 0; i < a->nr_cases; i++) {
        const struct meas_case *x = &a->cases[i], *y = &b->cases[i];
        if (strcmp(x->name, y->name) || x->op != y->op || x->pages != y->pages ||
            x->sib != y->sib || x->threads != y->threads || x->skipped != y->skipped ||
            x->nr_trace != y->nr_trace || (!x->skipped && x->ns_median != y->ns_median))
            fz_fail("roundtrip: case %u (%s) changed", i, x->name);
        for (u32 j = 0; j < x->nr_trace; j++)
            if (strcmp(x->trace[j], y->trace[j]))
                fz_fail("roundtrip: case %u trace line %u changed", i, j);
        if (x->nr_rep != y->nr_rep)
            fz_fail("roundtrip: case %u per_repeat %u values became %u", i, x->nr_rep, y->nr_rep);
        for (u32 j = 0; j < x->nr_rep; j++)
            if (x->rep_ns[j] != y->rep_ns[j])
                fz_fail("roundtrip: case %u per_repeat[%u] changed", i, j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[256], back[256];
    struct meas m, m2;
    struct sim_err err = { 0 };

    if (!path[0]) {
        fz_path(path, sizeof(path), "meas.json");
        fz_path(back, sizeof(back), "meas-back.json");
    }
    fz_write(path, data, size);
    if (meas_load(path, &m, &err)) {
        if (!err.msg[0])
            fz_fail("meas_load failed without a message");
        return 0;
    }
    if (meas_write(back, &m, &err))
        fz_fail("meas_write of an accepted file failed: %s", err.msg);
    if (meas_load(back, &m2, &err))
        fz_fail("written file does not load: %s", err.msg);
    same(&m, &m2);
    meas_free(&m);
    meas_free(&m2);
    return 0;
}
