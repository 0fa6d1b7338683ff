/* tests/fuzz/fuzz_sim.c - the engine on hostile but valid traces.
 *
 * Input: a .jsonl trace.  Traces the reader accepts in full, with at most
 * FZ_MAX_OPS ops, FZ_MAX_REFS references and 16 CPUs (so one run stays in
 * milliseconds), run under one policy chosen from the input's bytes, with
 * the invariant checkers after every event and small frame / table limits.
 * An internal error (a broken invariant) or a sanitizer report is a finding;
 * SIM_ELIMIT and friends are legitimate answers.  The timeline hook counts
 * its rows: more than FZ_MAX_ROWS for so small a trace is a finding too
 * (the output would grow without bound).
 */
#include "fuzz_common.h"

#include <string.h>

#include "../../models/policy.h"
#include "../../sim/engine/sim.h"

#define FZ_MAX_OPS  2000
#define FZ_MAX_REFS 20000
/* Time: the largest "t" plus every "gap" and irqs_off "cycles" is at most
 * FZ_MAX_TIME, so with FZ_INTERVAL the timeline has about 2^20 rows at most
 * and FZ_MAX_ROWS leaves a margin of 4.  (Found here: a jump to t ~ 2^64
 * once gave one row per interval and wrapped; the reader now refuses times
 * beyond 2^60 and the engine merges empty stretches.) */
#define FZ_MAX_TIME (1ull << 36)
#define FZ_INTERVAL (1ull << 16)
#define FZ_MAX_ROWS (1ull << 22)

static u64 rows;

static void on_interval(void *arg, cycles_t t0, cycles_t t1, const struct sim_totals *d)
{
    (void)arg; (void)d;
    if (t1 <= t0)
        fz_fail("timeline row [%llu, %llu) is empty or backwards",
                (unsigned long long)t0, (unsigned long long)t1);
    if (++rows > FZ_MAX_ROWS)
        fz_fail("more than %llu timeline rows for a trace of at most %d ops",
                (unsigned long long)FZ_MAX_ROWS, FZ_MAX_OPS);
}

/* Accept the trace for a run only when it is valid and small. */
static bool small_valid(const char *path)
{
    struct trace_reader *r;
    struct trace_header hdr;
    struct trace_op op;
    struct sim_err err = { 0 };
    u64 ops = 0, refs = 0, t_max = 0, waits = 0;
    int rc;

    if (trace_open(path, &r, &hdr, &err))
        return false;
    while ((rc = trace_next(r, &op, &err)) > 0 && ops < FZ_MAX_OPS && refs <= FZ_MAX_REFS) {
        ops++;
        refs += op.type == OP_ACCESS ? op.nr_va : op.type == OP_STREAM ? op.count : 0;
        if (op.t > t_max)
            t_max = op.t;
        if (op.gap > FZ_MAX_TIME || op.cycles > FZ_MAX_TIME)
            waits = FZ_MAX_TIME + 1;    /* (no overflow below) */
        else
            waits += op.gap + op.cycles;
        if (t_max > FZ_MAX_TIME || waits > FZ_MAX_TIME - t_max)
            refs = FZ_MAX_REFS + 1;     /* skip it */
    }
    trace_close(r);
    return rc == 0 && hdr.cpus <= 16 && refs <= FZ_MAX_REFS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[256];
    struct trace_reader *r;
    struct trace_header hdr;
    struct machine m;
    struct sim *s;
    struct sim_err err = { 0 };
    unsigned h = 0;
    int rc;

    if (size >= 4 && !memcmp(data, "TLBT", 4))
        return 0;
    if (!path[0])
        fz_path(path, sizeof(path), "sim.jsonl");
    fz_write(path, data, size);
    if (!small_valid(path))
        return 0;
    for (size_t i = 0; i < size; i++)
        h = h * 31 + data[i];
    if (trace_open(path, &r, &hdr, &err))
        fz_fail("reopen: %s", err.msg);
    machine_init(&m);
    m.cpus = hdr.cpus;
    if (m.sockets > m.cpus)
        m.sockets = m.cpus;
    m.quantum = h & 0x100 ? 0 : 100;
    m.virt = m.ept = (h & 0x200) != 0;  /* two-dimensional walks, ept_map ops */
    m.keyid_bits = h & 0x400 ? 6 : 0;   /* maps with a keyid run (else: exit 2 at the first) */
    m.max_frames = 1 << 16;
    m.max_table_pages = 1 << 12;
    m.max_vmas = 1 << 12;
    if (machine_validate(&m, &err)) {
        trace_close(r);
        return 0;
    }
    struct sim_config cfg = {
        .m = &m, .pol = &flush_policies[h % flush_nr_policies], .src = trace_src(r), .hdr = &hdr,
        .trace_path = path, .interval = FZ_INTERVAL, .check_invariants = true,
        .hooks = { .interval = on_interval },
    };
    rows = 0;
    if ((rc = sim_create(&cfg, &s, &err))) {
        trace_close(r);
        if (rc == SIM_EINTERNAL)
            fz_fail("sim_create: %s", err.msg);
        return 0;
    }
    rc = sim_run(s, CYCLES_NEVER, &err);
    if (rc == SIM_EINTERNAL)
        fz_fail("policy %s: %s", cfg.pol->name, err.msg);
    if (rc < 0 && !err.msg[0])
        fz_fail("sim_run failed (rc %d) without a message", rc);
    sim_destroy(s);
    return 0;
}
