/* tests/test_workloads.c - workload generators and spec files.
 *
 * Every shipped spec must generate a trace the reader accepts; generation is
 * deterministic per seed; spec mistakes are errors naming file and key; the
 * generators keep their shape under other parameters (page sizes, modes).
 * Runs with cwd = tests/, writes under a scratch directory (h_tmpdir_*).
 */
#include <criterion/criterion.h>

#include "harness.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../sim/io/trace.h"
#include "../sim/io/wl_spec.h"
#include "../workloads/wl.h"

/* ===== Helpers =========================================================== */


struct census {
    u64 ops;
    u64 by_type[OP__COUNT];
    struct trace_header hdr;
};

/* Read a whole trace; returns the reader's status (0 = all of it read). */
static int read_all(const char *path, struct census *c, struct sim_err *err)
{
    struct trace_reader *r;
    struct trace_op op;
    int rc;

    memset(c, 0, sizeof(*c));
    if ((rc = trace_open(path, &r, &c->hdr, err)))
        return rc;
    while ((rc = trace_next(r, &op, err)) == 1) {
        c->ops++;
        c->by_type[op.type]++;
    }
    trace_close(r);
    return rc;
}

static bool same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    int ca, cb;

    while (same) {
        ca = fgetc(fa);
        cb = fgetc(fb);
        if (ca != cb)
            same = false;
        if (ca == EOF || cb == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Generate from parameters and check the result reads back. */
static void gen_ok(const char *workload, const struct wl_params *p, struct census *c)
{
    const struct wl_desc *d = wl_find(workload);
    struct sim_err err = { 0, "" };
    const char *out = h_tmp_path("gen.jsonl");

    cr_assert_not_null(d, "workload %s", workload);
    cr_assert_eq(wl_generate(d, p, out, &err), SIM_OK, "%s: %s", workload, err.msg);
    cr_assert_eq(read_all(out, c, &err), SIM_OK, "%s: %s", workload, err.msg);
    cr_assert_eq(c->hdr.cpus, p->cpus);
    cr_assert_gt(c->ops, 0);
}

TestSuite(workloads, .init = h_tmpdir_setup, .fini = h_tmpdir_teardown, .timeout = 30);

/* ===== Shipped specs ===================================================== */

static const char *const required_specs[] = {
    "tlb_flush1_threads", "tlb_flush1_processes", "tlb_flush2_threads",
    "tlb_flush2_processes", "tlb_flush3_threads", "tlb_flush3_processes",
    "munmap_storm", "server", "fork_exec", "numa_balancing", "jit", "virt_host", "heap_reuse",
    "vm_reclaim", "vm_reclaim_tdx", "vm_migrate",
};

Test(workloads, required_specs_are_shipped)
{
    char path[128];

    for (size_t i = 0; i < ARRAY_SIZE(required_specs); i++) {
        snprintf(path, sizeof(path), "../workloads/%s.json", required_specs[i]);
        cr_expect(exists(path), "missing spec %s", path);
    }
}

Test(workloads, every_spec_generates_a_valid_trace)
{
    glob_t g;
    struct census c;
    struct sim_err err = { 0, "" };

    cr_assert_eq(glob("../workloads/*.json", 0, NULL, &g), 0);
    cr_assert_geq(g.gl_pathc, ARRAY_SIZE(required_specs));
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const struct wl_desc *d;
        struct wl_params p;
        const char *out = h_tmp_path("spec.jsonl");

        cr_assert_eq(wl_spec_load(g.gl_pathv[i], &d, &p, &err), SIM_OK, "%s", err.msg);
        cr_assert_eq(wl_spec_generate(g.gl_pathv[i], out, &err), SIM_OK, "%s", err.msg);
        cr_assert_eq(read_all(out, &c, &err), SIM_OK, "%s: %s", g.gl_pathv[i], err.msg);
        cr_expect_eq(c.hdr.cpus, p.cpus, "%s", g.gl_pathv[i]);
        cr_expect_str_eq(c.hdr.source, "synthetic");
        cr_expect_gt(c.by_type[OP_ACCESS] + c.by_type[OP_STREAM], 0, "%s", g.gl_pathv[i]);
        cr_expect_lt(c.ops, 200000, "%s: keep specs small", g.gl_pathv[i]);
        unlink(out);
    }
    globfree(&g);
}

Test(workloads, same_seed_same_bytes_other_seed_other_bytes)
{
    glob_t g;
    struct sim_err err = { 0, "" };

    cr_assert_eq(glob("../workloads/*.json", 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const struct wl_desc *d;
        struct wl_params p;
        const char *a = h_tmp_path("a.jsonl"), *b = h_tmp_path("b.jsonl"), *c = h_tmp_path("c.jsonl");

        /* shortened runs: the same code, a tenth of the time */
        cr_assert_eq(wl_spec_load(g.gl_pathv[i], &d, &p, &err), SIM_OK, "%s", err.msg);
        p.iterations = p.iterations < 64 ? p.iterations : 64;
        cr_assert_eq(wl_generate(d, &p, a, &err), SIM_OK, "%s", err.msg);
        cr_assert_eq(wl_generate(d, &p, b, &err), SIM_OK, "%s", err.msg);
        cr_expect(same_file(a, b), "%s: same seed, different output", g.gl_pathv[i]);
        p.seed += 1;
        cr_assert_eq(wl_generate(d, &p, c, &err), SIM_OK, "%s", err.msg);
        cr_expect(!same_file(a, c), "%s: the seed changes nothing", g.gl_pathv[i]);
    }
    globfree(&g);
}

/* ===== Shapes ============================================================ */

Test(workloads, tlb_flush2_threads_has_the_will_it_scale_loop)
{
    const struct wl_desc *d = wl_find("tlb_flush2");
    struct wl_params p;
    struct census c;

    wl_params_init(&p, d);
    p.cpus = 4;
    p.iterations = 600;                 /* 1 MiB = 256 pages: 3 passes, 2 remaps */
    gen_ok("tlb_flush2", &p, &c);
    cr_expect_eq(c.by_type[OP_ZAP], 4 * 600);
    cr_expect_eq(c.by_type[OP_ACCESS], 2 * 4 * 600);
    cr_expect_eq(c.by_type[OP_UNMAP], 4 * (2 + 1));
    cr_expect_eq(c.by_type[OP_MAP], 4 * 3);
    cr_expect_eq(c.by_type[OP_MM_NEW], 1);
    cr_expect_eq(c.by_type[OP_MM_EXIT], 1);
}

Test(workloads, processes_mode_gives_one_mm_per_cpu)
{
    const struct wl_desc *d = wl_find("tlb_flush1");
    struct wl_params p;
    struct census c;

    wl_params_init(&p, d);
    p.mode = WL_MODE_PROCESSES;
    p.cpus = 3;
    p.iterations = 10;
    gen_ok("tlb_flush1", &p, &c);
    cr_expect_eq(c.by_type[OP_MM_NEW], 3);
    cr_expect_eq(c.by_type[OP_MM_EXIT], 3);
}

Test(workloads, every_workload_with_other_page_sizes_and_modes)
{
    size_t nr;
    const struct wl_desc *all = wl_list(&nr);
    static const u8 shifts[] = { PAGE_SHIFT_4K, PAGE_SHIFT_2M, PAGE_SHIFT_1G };

    cr_assert_geq(nr, 9);
    for (size_t i = 0; i < nr; i++) {
        for (size_t s = 0; s < ARRAY_SIZE(shifts); s++) {
            for (int m = 0; m < 2; m++) {
                struct wl_params p;
                struct census c;
                if (m && !(all[i].keys & WLK_MODE))
                    continue;
                wl_params_init(&p, &all[i]);
                p.page_shift = shifts[s];
                p.mode = m ? WL_MODE_PROCESSES : WL_MODE_THREADS;
                p.cpus = 3;
                p.iterations = 40;
                p.wss = shifts[s] == PAGE_SHIFT_1G ? 2ull << 30 : p.wss;
                p.batch_pages = 4;
                p.migrate_pages = 2;
                gen_ok(all[i].name, &p, &c);
            }
        }
    }
}

Test(workloads, server_mixes_user_tasks_kernel_threads_and_idle)
{
    const struct wl_desc *d = wl_find("server");
    struct wl_params p;
    struct census c;

    wl_params_init(&p, d);
    p.iterations = 200;
    gen_ok("server", &p, &c);
    cr_expect_gt(c.by_type[OP_IDLE], 0);
    cr_expect_gt(c.by_type[OP_SWITCH], p.iterations * p.cpus / 2);
    cr_expect_gt(c.by_type[OP_UNMAP], 0);
    cr_expect_eq(c.by_type[OP_MM_NEW], p.tasks);
}

Test(workloads, fork_exec_creates_and_tears_down_address_spaces)
{
    const struct wl_desc *d = wl_find("fork_exec");
    struct wl_params p;
    struct census c;

    wl_params_init(&p, d);
    p.cpus = 4;
    p.iterations = 64;
    p.period = 16;                      /* 4 forks, each: child + exec image */
    gen_ok("fork_exec", &p, &c);
    cr_expect_eq(c.by_type[OP_MM_NEW], 1 + 4 * 2);
    cr_expect_eq(c.by_type[OP_MM_EXIT], c.by_type[OP_MM_NEW]);
    cr_expect_gt(c.by_type[OP_MIGRATE], 0);        /* COW breaks */
    cr_expect_geq(c.by_type[OP_PROTECT], 4);
}

Test(workloads, virt_host_preempts_vcpus)
{
    const struct wl_desc *d = wl_find("virt_host");
    struct wl_params p;
    struct census c;

    wl_params_init(&p, d);
    p.iterations = 100;
    p.preempt_pct = 30;
    gen_ok("virt_host", &p, &c);
    cr_expect_gt(c.by_type[OP_VCPU_PREEMPT], 0);
    cr_expect_eq(c.by_type[OP_VCPU_PREEMPT], c.by_type[OP_VCPU_RUN]);
}

Test(workloads, vm_workloads_back_the_guest_and_act_on_it)
{
    struct wl_params p;
    struct census c;

    wl_params_init(&p, wl_find("vm_reclaim"));
    p.iterations = 64;
    gen_ok("vm_reclaim", &p, &c);
    cr_expect_eq(c.by_type[OP_EPT_MAP], 1);
    cr_expect_gt(c.by_type[OP_HOST_ZAP], 0);
    cr_expect_eq(c.by_type[OP_TDX_REMOVE], 0);
    u64 zaps = c.by_type[OP_HOST_ZAP];
    /* the same draws with TDX: one tdx_remove per 4K page of each zap */
    wl_params_init(&p, wl_find("vm_reclaim_tdx"));
    p.iterations = 64;
    gen_ok("vm_reclaim_tdx", &p, &c);
    cr_expect_eq(c.by_type[OP_HOST_ZAP], 0);
    cr_expect_eq(c.by_type[OP_TDX_REMOVE], zaps * p.batch_pages);
    /* 5 steps: rounds of 3, 1 and 1 steps */
    wl_params_init(&p, wl_find("vm_migrate"));
    p.iterations = 5;
    gen_ok("vm_migrate", &p, &c);
    cr_expect_eq(c.by_type[OP_HOST_WRPROTECT], 3);
    cr_expect_gt(c.by_type[OP_ACCESS], 0);
}

Test(workloads, jit_and_numa_flip_and_migrate)
{
    struct wl_params p;
    struct census c;

    wl_params_init(&p, wl_find("jit"));
    p.iterations = 40;
    p.period = 4;
    gen_ok("jit", &p, &c);
    cr_expect_eq(c.by_type[OP_PROTECT], 2 * 10);
    wl_params_init(&p, wl_find("numa_balancing"));
    p.iterations = 32;
    gen_ok("numa_balancing", &p, &c);
    cr_expect_gt(c.by_type[OP_MIGRATE], 0);
    cr_expect_eq(c.by_type[OP_MIGRATE], c.by_type[OP_FLUSH]);
}

/* ===== Spec errors ======================================================= */

static void spec_err(const char *text, int want, const char *needle)
{
    const char *spec = h_tmp_path("bad.json"), *out = h_tmp_path("bad.jsonl");
    struct sim_err err = { 0, "" };

    write_file(spec, text);
    cr_assert_eq(wl_spec_generate(spec, out, &err), want, "%s -> %s", text, err.msg);
    cr_expect(strstr(err.msg, spec) != NULL, "message lacks the file: %s", err.msg);
    cr_expect(strstr(err.msg, needle) != NULL, "message lacks \"%s\": %s", needle, err.msg);
    cr_expect(!exists(out), "an output was left behind");
}

Test(workloads, spec_errors_name_file_and_key)
{
    spec_err("{\"workload\":\"tlb_flush2\",\"cpus\":4,\"itertions\":5}", SIM_EPARSE, "itertions");
    spec_err("{\"workload\":\"tlb_flush2\",\"tasks\":3}", SIM_EPARSE, "tasks");
    spec_err("{\"workload\":\"nope\"}", SIM_EPARSE, "workload");
    spec_err("{\"cpus\":4}", SIM_EPARSE, "workload");
    spec_err("{\"workload\":\"jit\",\"page\":\"8k\"}", SIM_EINVAL, "page");
    spec_err("{\"workload\":\"jit\",\"cpus\":\"many\"}", SIM_EPARSE, "cpus");
    spec_err("{\"workload\":\"jit\",\"cpus\":0}", SIM_EINVAL, "cpus");
    spec_err("{\"workload\":\"jit\",\"cpus\":2000}", SIM_EINVAL, "cpus");
    spec_err("{\"workload\":\"jit\",\"cpus\":2.5}", SIM_EPARSE, "cpus");
    spec_err("{\"workload\":\"jit\",\"cpus\":-1}", SIM_EINVAL, "cpus");
    spec_err("{\"workload\":\"jit\",\"seed\":1,\"seed\":2}", SIM_EPARSE, "seed");
    spec_err("{\"workload\":\"server\",\"idle_pct\":60,\"kthread_pct\":60}", SIM_EINVAL, "idle_pct");
    spec_err("{\"workload\":\"tlb_flush2\",\"mode\":\"fibers\"}", SIM_EINVAL, "mode");
    spec_err("{\"workload\":\"tlb_flush2\",\"wss\":\"12Q\"}", SIM_EPARSE, "wss");
    spec_err("{\"workload\":\"tlb_flush2\",\n\"cpus\":4,,}", SIM_EPARSE, ":2:");
    spec_err("[1,2]", SIM_EPARSE, "object");
}

Test(workloads, spec_values_accept_sizes_and_hex)
{
    const char *spec = h_tmp_path("ok.json");
    const struct wl_desc *d;
    struct wl_params p;
    struct sim_err err = { 0, "" };

    write_file(spec, "{\"workload\":\"munmap_storm\",\"wss\":\"2M\",\"seed\":\"0x10\","
                     "\"page\":\"2M\",\"batch_pages\":\"0x4\",\"name\":\"storm\"}");
    cr_assert_eq(wl_spec_load(spec, &d, &p, &err), SIM_OK, "%s", err.msg);
    cr_expect_eq(p.wss, 2ull << 20);
    cr_expect_eq(p.seed, 16);
    cr_expect_eq(p.page_shift, PAGE_SHIFT_2M);
    cr_expect_eq(p.batch_pages, 4);
    cr_expect_str_eq(p.name, "storm");
}

Test(workloads, missing_spec_is_an_io_error)
{
    struct sim_err err = { 0, "" };

    cr_expect_eq(wl_spec_generate("../workloads/no-such.json", h_tmp_path("x.jsonl"), &err), SIM_EIO);
    cr_expect(strstr(err.msg, "no-such.json") != NULL);
}
