/* tests/fuzz/fuzz_import.h - one importer harness, shared by the formats.
 *
 * Input: the bytes of a recording.  Imports it (strict mode when the input
 * length is odd, so both the skip and the error paths are fuzzed); when the
 * import succeeds, the output must read back without error and survive the
 * JSONL -> binary round trip.
 */
#include "fuzz_common.h"

#include <unistd.h>

#include "../../sim/io/import.h"

static int fz_import(const char *format, const uint8_t *data, size_t size)
{
    static char in[256], out[256];
    struct import_opts o = { .strict = size & 1 };
    struct import_stats st;
    struct sim_err err = { 0 };
    struct trace_reader *r;
    struct trace_op op;
    int rc;

    if (!in[0]) {
        fz_path(in, sizeof(in), "in.txt");
        fz_path(out, sizeof(out), "out.jsonl");
    }
    fz_write(in, data, size);
    unlink(out);
    rc = import_file(format, in, out, &o, &st, &err);
    if (rc) {
        if (!err.msg[0])
            fz_fail("import failed (rc %d) without a message", rc);
        if (access(out, F_OK) == 0)
            fz_fail("a failed import left its output behind");
        return 0;
    }
    if (st.skipped != 0 && o.strict)
        fz_fail("strict import skipped %llu lines", (unsigned long long)st.skipped);
    if (trace_open(out, &r, NULL, &err))
        fz_fail("imported trace does not open: %s", err.msg);
    while ((rc = trace_next(r, &op, &err)) > 0)
        ;
    if (rc < 0)
        fz_fail("imported trace does not read back: %s", err.msg);
    trace_close(r);
    fz_roundtrip(out, TRACE_FMT_BINARY, 100000);
    return 0;
}
