/* tests/fuzz/fuzz_trace_jsonl.c - the JSON Lines trace reader.
 *
 * Input: the bytes of a .jsonl file.  Three oracles against a silent
 * mis-parse, besides the sanitizers:
 *   - the reader and a second copy built with the canonical-line fast path
 *     off (slow_*, compiled by run.sh with TRACE_JSON_FAST=0) must return
 *     the same ops and the same error, message included, on every input;
 *   - errors are sticky;
 *   - the valid prefix survives a round trip through the binary writer and
 *     reader unchanged.
 */
#include "fuzz_common.h"

#include <string.h>

/* sim/io/trace.c and trace_json.c built again with TRACE_JSON_FAST=0 (see run.sh) */
int  slow_trace_open(const char *path, struct trace_reader **out,
                     struct trace_header *hdr, struct sim_err *err);
int  slow_trace_next(struct trace_reader *r, struct trace_op *op, struct sim_err *err);
void slow_trace_close(struct trace_reader *r);

static void same_op(const struct trace_op *a, const struct trace_op *b)
{
    if (a->type != b->type || a->flags != b->flags || a->cpu != b->cpu || a->mm != b->mm ||
        a->va != b->va || a->len != b->len || a->stride != b->stride ||
        a->count != b->count || a->cycles != b->cycles || a->t != b->t || a->gap != b->gap ||
        a->line != b->line || a->nr_va != b->nr_va || a->kind != b->kind ||
        a->page_shift != b->page_shift || a->prot != b->prot ||
        a->stride_shift != b->stride_shift || a->cstate != b->cstate ||
        (a->type == OP_ACCESS && memcmp(a->vas, b->vas, a->nr_va * sizeof(u64))) ||
        (!a->label != !b->label) || (a->label && strcmp(a->label, b->label)))
        fz_fail("line %llu: the fast and the general JSONL paths read different ops (%s)",
                (unsigned long long)a->line, trace_op_name(a->type));
}

/* Both readers over the file, in lockstep. */
static void compare_paths(const char *path)
{
    struct trace_reader *f, *s;
    struct trace_header hf, hs;
    struct trace_op a, b;
    struct sim_err ef = { 0 }, es = { 0 };
    int rf = trace_open(path, &f, &hf, &ef), rs = slow_trace_open(path, &s, &hs, &es);

    if (rf != rs || strcmp(ef.msg, es.msg))
        fz_fail("open differs: %d '%s' / %d '%s'", rf, ef.msg, rs, es.msg);
    if (rf)
        return;
    do {
        rf = trace_next(f, &a, &ef);
        rs = slow_trace_next(s, &b, &es);
        if (rf != rs || (rf < 0 && strcmp(ef.msg, es.msg)))
            fz_fail("fast path: %d '%s'; general path: %d '%s'", rf, rf < 0 ? ef.msg : "",
                    rs, rs < 0 ? es.msg : "");
        if (rf > 0)
            same_op(&a, &b);
    } while (rf > 0);
    trace_close(f);
    slow_trace_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[256];
    struct trace_reader *r;
    struct trace_header hdr;
    struct trace_op op;
    struct sim_err err = { 0 };
    int rc;

    if (size >= 4 && !memcmp(data, "TLBT", 4))
        return 0;                       /* the binary reader has its own target */
    if (!path[0])
        fz_path(path, sizeof(path), "in.jsonl");
    fz_write(path, data, size);
    compare_paths(path);
    if (trace_open(path, &r, &hdr, &err) == SIM_OK) {
        while ((rc = trace_next(r, &op, &err)) > 0)
            ;
        /* errors are sticky: the next call repeats the same one */
        if (rc < 0 && trace_next(r, &op, &err) != rc)
            fz_fail("error not sticky");
        trace_close(r);
        fz_roundtrip(path, TRACE_FMT_BINARY, 100000);
    } else if (!err.msg[0]) {
        fz_fail("trace_open failed without a message");
    }
    return 0;
}
