/* tests/fuzz/fuzz_common.c - see fuzz_common.h. */
#include "fuzz_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../models/policy.h"
#include "../../sim/engine/sim.h"

const char *fz_path(char *buf, size_t len, const char *tag)
{
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");

    snprintf(buf, len, "%s/tlbsim-fz-%ld-%s", dir ? dir : "/tmp", (long)getpid(), tag);
    return buf;
}

void fz_write(const char *path, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");

    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) {
        perror(path);
        abort();
    }
}

void fz_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("ORACLE FAILURE: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* ===== round trip ========================================================= */

#define SAME(f) (a->f == b->f)

static void op_compare(const struct trace_op *a, const struct trace_op *b, unsigned long i)
{
    bool same = SAME(type) && SAME(flags) && SAME(cpu) && SAME(mm) && SAME(va) && SAME(len) &&
                SAME(stride) && SAME(count) && SAME(cycles) && SAME(t) && SAME(gap) &&
                SAME(nr_va) && SAME(kind) && SAME(page_shift) && SAME(prot) &&
                SAME(stride_shift) && SAME(cstate) && SAME(keyid);

    if (same && a->type == OP_ACCESS)
        same = a->vas && b->vas && !memcmp(a->vas, b->vas, a->nr_va * sizeof(u64));
    if (same)
        same = (!a->label && !b->label) ||
               (a->label && b->label && !strcmp(a->label, b->label));
    if (!same)
        fz_fail("op %lu (line %llu, %s) differs after the round trip: "
                "flags %#x/%#x cpu %u/%u mm %lld/%lld va %#llx/%#llx len %#llx/%#llx "
                "count %llu/%llu t %llu/%llu gap %llu/%llu nr_va %u/%u", i,
                (unsigned long long)a->line, trace_op_name(a->type), a->flags, b->flags,
                a->cpu, b->cpu, (long long)a->mm, (long long)b->mm,
                (unsigned long long)a->va, (unsigned long long)b->va,
                (unsigned long long)a->len, (unsigned long long)b->len,
                (unsigned long long)a->count, (unsigned long long)b->count,
                (unsigned long long)a->t, (unsigned long long)b->t,
                (unsigned long long)a->gap, (unsigned long long)b->gap, a->nr_va, b->nr_va);
}

static void hdr_compare(const struct trace_header *a, const struct trace_header *b)
{
    if (!SAME(version) || !SAME(cpus) || !SAME(va_bits) || strcmp(a->name, b->name) ||
        strcmp(a->source, b->source))
        fz_fail("header differs after the round trip: cpus %u/%u va_bits %u/%u "
                "name '%s'/'%s'", a->cpus, b->cpus, a->va_bits, b->va_bits, a->name, b->name);
}

#undef SAME

/* Write the valid prefix of `path` to `out`; returns the ops written, or
 * -1 when the round trip does not apply (reader failed at the header, or the
 * JSONL writer legitimately refused a huge access array). */
static long rt_write(const char *path, const char *out, enum trace_fmt to,
                     unsigned long max_ops)
{
    struct trace_reader *r;
    struct trace_writer *w;
    struct trace_header hdr;
    struct trace_op op;
    struct sim_err err = { 0 };
    long n = 0;
    int rc;

    if (trace_open(path, &r, &hdr, &err))
        return -1;
    if ((rc = trace_writer_open(out, &hdr, to, &w, &err)))
        fz_fail("writer refused a header the reader accepted: %s", err.msg);
    while ((unsigned long)n < max_ops && trace_next(r, &op, &err) > 0) {
        rc = trace_write(w, &op, &err);
        if (rc == SIM_ELIMIT && to == TRACE_FMT_JSONL && op.type == OP_ACCESS) {
            trace_close(r);
            trace_writer_close(w, false, NULL);
            return -1;
        }
        if (rc)
            fz_fail("writer refused op %ld (line %llu, %s) the reader accepted: %s", n,
                    (unsigned long long)op.line, trace_op_name(op.type), err.msg);
        n++;
    }
    trace_close(r);
    if (trace_writer_close(w, true, &err))
        fz_fail("writer close failed: %s", err.msg);
    return n;
}

void fz_roundtrip(const char *path, enum trace_fmt to, unsigned long max_ops)
{
    struct trace_reader *r1, *r2;
    struct trace_header h1, h2;
    struct trace_op a, b;
    struct sim_err e1 = { 0 }, e2 = { 0 };
    char out[256];
    long n;
    int rc;

    fz_path(out, sizeof(out), to == TRACE_FMT_JSONL ? "rt.jsonl" : "rt.tlbt");
    if ((n = rt_write(path, out, to, max_ops)) < 0)
        return;
    if (trace_open(path, &r1, &h1, &e1))
        fz_fail("second open failed: %s", e1.msg);
    if (trace_open(out, &r2, &h2, &e2))
        fz_fail("written trace does not open: %s", e2.msg);
    if (trace_format(r2) != to)
        fz_fail("written trace has the wrong format");
    hdr_compare(&h1, &h2);
    for (long i = 0; i < n; i++) {
        if (trace_next(r1, &a, &e1) != 1)
            fz_fail("second read of the input differs at op %ld: %s", i, e1.msg);
        /* b's arrays stay valid until the next trace_next(r2): compare now */
        if ((rc = trace_next(r2, &b, &e2)) != 1)
            fz_fail("written trace fails at op %ld (rc %d): %s", i, rc, e2.msg);
        op_compare(&a, &b, (unsigned long)i);
    }
    if ((rc = trace_next(r2, &b, &e2)) != 0)
        fz_fail("written trace has more than %ld ops (rc %d): %s", n, rc, e2.msg);
    trace_close(r1);
    trace_close(r2);
    unlink(out);
}

/* ===== a small run of the engine ========================================= */

static const char small_trace[] =
    "{\"format\":\"tlbsim-trace\",\"version\":1,\"cpus\":2}\n"
    "{\"op\":\"map\",\"mm\":\"kernel\",\"va\":\"0xffff888000000000\",\"len\":\"0x400000\","
    "\"page\":\"2m\",\"prot\":\"rw\",\"global\":true}\n"
    "{\"op\":\"mm_new\",\"mm\":1}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x40000\",\"page\":\"4k\","
    "\"prot\":\"rwx\"}\n"
    "{\"op\":\"map\",\"mm\":1,\"va\":\"0x7f0000200000\",\"len\":\"0x200000\",\"page\":\"2m\","
    "\"prot\":\"rw\",\"populate\":false}\n"
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":1}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":1}\n"
    "{\"op\":\"access\",\"cpu\":0,\"va\":[\"0x7f0000000000\",\"0x7f0000001000\","
    "\"0xffff888000001000\"],\"kind\":\"w\"}\n"
    "{\"op\":\"access\",\"cpu\":1,\"va\":\"0x7f0000003000\",\"kind\":\"x\",\"gap\":10}\n"
    "{\"op\":\"stream\",\"cpu\":1,\"va\":\"0x7f0000000000\",\"stride\":4096,\"count\":64,"
    "\"kind\":\"r\"}\n"
    "{\"op\":\"stream\",\"cpu\":0,\"va\":\"0x7f0000200000\",\"stride\":65536,\"count\":8,"
    "\"kind\":\"w\"}\n"
    "{\"op\":\"protect\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x2000\","
    "\"prot\":\"r\"}\n"
    "{\"op\":\"zap\",\"cpu\":1,\"mm\":1,\"va\":\"0x7f0000004000\",\"len\":\"0x1000\"}\n"
    "{\"op\":\"migrate\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000008000\",\"len\":\"0x1000\"}\n"
    "{\"op\":\"switch\",\"cpu\":1,\"mm\":null}\n"
    "{\"op\":\"unmap\",\"cpu\":0,\"mm\":1,\"va\":\"0x7f0000000000\",\"len\":\"0x40000\"}\n"
    "{\"op\":\"flush\",\"cpu\":0,\"mm\":1,\"all\":true}\n"
    "{\"op\":\"kflush\",\"cpu\":1,\"va\":\"0xffff888000000000\",\"len\":\"0x2000\"}\n"
    "{\"op\":\"irqs_off\",\"cpu\":1,\"cycles\":500}\n"
    "{\"op\":\"vcpu_preempt\",\"cpu\":1}\n"
    "{\"op\":\"vcpu_run\",\"cpu\":1}\n"
    "{\"op\":\"idle\",\"cpu\":1,\"cstate\":6}\n"
    "{\"op\":\"mark\",\"label\":\"end\"}\n"
    "{\"op\":\"switch\",\"cpu\":0,\"mm\":null}\n"
    "{\"op\":\"mm_exit\",\"cpu\":0,\"mm\":1}\n";

void fz_run_small(const struct machine *m)
{
    static char path[256];
    struct machine mm = *m;
    struct sim_err err = { 0 };

    if (!path[0]) {
        fz_path(path, sizeof(path), "small.jsonl");
        fz_write(path, (const uint8_t *)small_trace, sizeof(small_trace) - 1);
    }
    /* As `tlbsim run` without --set cpus: the machine takes the trace's CPUs. */
    if (mm.cpus < 2 || mm.cpus > 64) {
        mm.cpus = 2;
        if (mm.sockets > mm.cpus)
            mm.sockets = mm.cpus;
        if (machine_validate(&mm, &err))
            return;
    }
    for (size_t i = 0; i < flush_nr_policies; i++) {
        struct trace_reader *r;
        struct trace_header hdr;
        struct sim *s;
        int rc;

        if (trace_open(path, &r, &hdr, &err))
            fz_fail("small trace: %s", err.msg);
        struct sim_config cfg = {
            .m = &mm, .pol = &flush_policies[i], .src = trace_src(r), .hdr = &hdr,
            .trace_path = path, .interval = 1000, .check_invariants = true,
        };
        if ((rc = sim_create(&cfg, &s, &err))) {
            trace_close(r);
            if (rc == SIM_EINTERNAL)
                fz_fail("sim_create: %s", err.msg);
            continue;
        }
        rc = sim_run(s, CYCLES_NEVER, &err);
        if (rc == SIM_EINTERNAL)
            fz_fail("policy %s: %s", flush_policies[i].name, err.msg);
        sim_destroy(s);
    }
}
